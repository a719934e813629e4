//! The chunk storage recycled between the reader and the consumer, and what a read
//! carries from one file to the next.

use crossbeam_channel::{Receiver, Sender};
use faer::Mat;

use crate::chunk::Chunk;

/// Chunks in flight between two threads. Two keeps both sides busy; more only costs memory.
pub const CHANNEL_CHUNKS: usize = 2;

/// Chunk storage the pool keeps (see `ChunkPool::new`).
const POOL_CHUNKS: usize = CHANNEL_CHUNKS + 12;

/// Chunk storage handed back by the consumer for the reader to fill again (both ends
/// of one channel; clones share it). One pool kept across passes (the autoencoder's
/// epochs) means steady-state reading allocates, and the kernel zeroes, no new chunk
/// memory at all.
#[derive(Debug, Clone)]
pub struct ChunkPool {
    tx: Sender<Mat<f64>>,
    rx: Receiver<Mat<f64>>,
    rows_tx: Sender<Vec<f32>>,
    rows_rx: Receiver<Vec<f32>>,
}

impl ChunkPool {
    pub fn new() -> ChunkPool {
        // Room for every chunk in flight: those in the reader's channel, the one being
        // consumed, and per decoding thread (two when shuffled) those in its channel and
        // the one being read, with spares of a second shape.
        let (tx, rx) = crossbeam_channel::bounded(POOL_CHUNKS);
        let (rows_tx, rows_rx) = crossbeam_channel::bounded(POOL_CHUNKS);
        ChunkPool {
            tx,
            rx,
            rows_tx,
            rows_rx,
        }
    }

    /// A chunk the consumer is done with: its storage goes back (dropped when the pool is
    /// full).
    pub fn give_back(&self, chunk: Chunk) {
        self.give_back_mat(chunk.features);
        if let Some(rows) = chunk.rows32 {
            let _ = self.rows_tx.try_send(rows);
        }
    }

    fn give_back_mat(&self, m: Mat<f64>) {
        let _ = self.tx.try_send(m);
    }
}

impl Default for ChunkPool {
    fn default() -> Self {
        ChunkPool::new()
    }
}

/// What carries over from one file to the next while reading a file set.
#[derive(Debug, Default)]
pub(crate) struct ReadState {
    /// Rows read so far in the whole dataset.
    pub rows: u64,
    /// Bytes of earlier files, for CSV progress.
    pub bytes_done: u64,
    /// The passthrough schema, fixed by the first chunk so every chunk agrees.
    pub passthrough_schema: Option<arrow_schema::SchemaRef>,
    pub recycle: Option<ChunkPool>,
    /// Recycled matrices not of the shape last asked for.
    pub spare: Vec<Mat<f64>>,
}

impl Drop for ReadState {
    /// Unused matrices go back for the next pass.
    fn drop(&mut self) {
        if let Some(pool) = &self.recycle {
            for m in self.spare.drain(..) {
                pool.give_back_mat(m);
            }
        }
    }
}

impl ReadState {
    /// An n × p matrix for a new chunk: a recycled one when its shape fits (its old
    /// values are all overwritten by the reader), else a fresh one.
    /// Matrices of another shape (a short last row group) wait in `spare` for their turn
    /// rather than being freed, so chunks of two sizes both reuse memory.
    pub fn take_mat(&mut self, n: usize, p: usize) -> Mat<f64> {
        if let Some(pool) = &self.recycle {
            self.spare.extend(pool.rx.try_iter());
            if let Some(i) = self
                .spare
                .iter()
                .position(|m| m.nrows() == n && m.ncols() == p)
            {
                return self.spare.swap_remove(i);
            }
            // Keep a few; older ones of an unused shape go.
            while self.spare.len() > 4 {
                self.spare.remove(0);
            }
        }
        Mat::zeros(n, p)
    }

    /// Storage for a chunk's `rows32`: a recycled one when there is one.
    pub fn take_rows(&mut self) -> Vec<f32> {
        self.recycle
            .as_ref()
            .and_then(|pool| pool.rows_rx.try_recv().ok())
            .unwrap_or_default()
    }
}
