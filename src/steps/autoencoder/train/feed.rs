//! The reading side of training: each epoch's rows decoded (or laid out by the reader),
//! checked, split off for validation, passed through the bounded shuffle buffer and sent to
//! the trainer in blocks, in storage that travels back to be filled again.

use crossbeam_channel::{Receiver, Sender};
use faer::{Mat, MatRef};

use super::super::net::activation::vectorized;
use super::super::params::{AutoencoderParams, Loss};
use super::layout::RowLayout;
use super::replay::{Kept, kept_for};
use super::{TrainContext, is_validation, rng};
use crate::chunk::Chunk;
use crate::engine::{PassStats, stream_recycling};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::source::{ChunkPool, ReadSpec};

/// At most this many rows per chunk when training reads (an `input.batch_rows` above it is
/// lowered; results do not depend on the chunk size). A chunk this small stays in the
/// core's cache from decoding to the row layout, and the chunks in flight take 3 MB each
/// at 784 features rather than 50 MB: on the benchmark this halved the reader's page
/// clearing (new memory is zeroed by the kernel) and raised training from 36.5k to 41k
/// samples/s.
const TRAIN_READ_ROWS: usize = 512;

/// The read settings for a pass of training or validation: without a PCA before the
/// autoencoder, the reader lays the rows out itself (see `RowLayout`).
pub(super) fn train_spec(ctx: &TrainContext<'_>, loss: Loss) -> ReadSpec {
    let mut spec = ctx.spec.clone();
    spec.batch_rows = spec.batch_rows.min(TRAIN_READ_ROWS);
    if let Some((shift, scale)) = &ctx.affine {
        spec.decoder = Some(std::sync::Arc::new(RowLayout {
            shift: shift.clone(),
            scale: scale.clone(),
            unit: loss == Loss::Bce,
        }));
    }
    spec
}

/// The chunk's rows as the autoencoder's input, row after row: laid out by the reader,
/// else here from the chunk's features.
pub(super) fn input_rows<'b>(
    ctx: &TrainContext<'_>,
    loss: Loss,
    chunk: &'b Chunk,
    buffers: &'b mut Buffers,
) -> Result<&'b [f32]> {
    match &chunk.rows32 {
        Some(rows) => Ok(rows),
        None => {
            prepare_checked(ctx, loss, chunk, buffers)?;
            Ok(&buffers.rows)
        }
    }
}

/// Rows per message from the reader's side to the trainer.
const FEED_ROWS: usize = 1024;

/// One row of autoencoder input, in storage that travels: filled by the reader, held in
/// the shuffle buffer, trained on, then handed back to be filled again.
pub(super) type Row = Box<[f32]>;

/// What the reading side of training hands the trainer, in training order.
pub(super) enum Feed {
    /// Rows to train on: evicted from the full shuffle buffer, or at the epoch's end the
    /// buffer's rows in random order.
    Rows(Vec<Row>),
    /// The epoch's rows have all been sent.
    End {
        stats: PassStats,
        validation_rows: u64,
        /// They came from the rows kept in memory (`replay`), not from reading the input.
        from_memory: bool,
    },
}

/// The reading side: epochs `first..=epochs` of rows in training order, each read from
/// the input, or after the first from the rows it kept (`replay`). Stops at the first
/// error (sent on), or when the trainer has gone.
pub(super) fn read_epochs(
    ctx: &TrainContext<'_>,
    params: &AutoencoderParams,
    width: usize,
    first: usize,
    feed: Sender<Result<Feed>>,
    rows_back: Receiver<Vec<Row>>,
) {
    if let Err(e) = feed_epochs(ctx, params, width, first, &feed, rows_back) {
        // (fails only when the trainer has gone, and with it the need to know)
        let _ = feed.send(Err(e));
    }
}

fn feed_epochs(
    ctx: &TrainContext<'_>,
    params: &AutoencoderParams,
    width: usize,
    first: usize,
    feed: &Sender<Result<Feed>>,
    rows_back: Receiver<Vec<Row>>,
) -> Result<()> {
    let capacity = ctx.dataset.total_rows.map_or(params.shuffle_buffer.0, |n| {
        (n as usize).min(params.shuffle_buffer.0)
    });
    let mut rows = RowPool::new(width, capacity, rows_back);
    let mut buffers = Buffers::default();
    let pool = ChunkPool::new();
    // Kept for the epochs after this run's first, when it has any.
    let mut keeping = (first < params.epochs.0)
        .then(|| {
            let chunk_rows = train_spec(ctx, params.loss).batch_rows;
            let rows = ctx.dataset.total_rows;
            kept_for(rows, params.shuffle_buffer.0, width, chunk_rows, ctx.memory)
        })
        .flatten();
    let mut kept: Option<Kept> = None;
    for epoch in first..=params.epochs.0 {
        let shuffler = Shuffler::new(capacity, rng(params.seed, epoch, 1));
        let mut to_trainer = ToTrainer::new(&mut rows, shuffler, feed);
        let mut spec = train_spec(ctx, params.loss);
        spec.shuffle = Some(rng(params.seed, epoch, 0).next_u64());
        let end = if let Some(kept) = &kept {
            for range in ctx.dataset.read_order(&spec)? {
                for values in kept.rows_in(range) {
                    to_trainer.push(values)?;
                }
            }
            Feed::End {
                stats: kept.stats.clone(),
                validation_rows: kept.validation_rows,
                from_memory: true,
            }
        } else {
            let fraction = params.validation_fraction;
            let mut validation_rows = 0u64;
            let label = format!("read {epoch}");
            let stats = stream_recycling(ctx.dataset, &spec, &label, true, &pool, |chunk| {
                let input = input_rows(ctx, params.loss, chunk, &mut buffers)?;
                for (i, values) in input.chunks_exact(width).enumerate() {
                    let row = chunk.row_index(i);
                    if is_validation(row, fraction) {
                        validation_rows += 1;
                        continue;
                    }
                    if keeping.as_mut().is_some_and(|k| !k.keep(row, values)) {
                        // more rows than were foreseen: every epoch reads the input
                        keeping = None;
                    }
                    to_trainer.push(values)?;
                }
                Ok(())
            })?;
            if let Some(mut k) = keeping.take() {
                k.seal(stats.clone(), validation_rows);
                kept = Some(k);
            }
            Feed::End {
                stats,
                validation_rows,
                from_memory: false,
            }
        };
        to_trainer.finish()?;
        send(feed, end)?;
    }
    Ok(())
}

/// One epoch's way to the trainer: each row copied into storage that travels, through
/// the shuffle buffer, in blocks of `FEED_ROWS`.
struct ToTrainer<'a> {
    rows: &'a mut RowPool,
    shuffler: Shuffler,
    out: Vec<Row>,
    feed: &'a Sender<Result<Feed>>,
}

impl<'a> ToTrainer<'a> {
    fn new(rows: &'a mut RowPool, shuffler: Shuffler, feed: &'a Sender<Result<Feed>>) -> Self {
        let out = rows.block();
        ToTrainer {
            rows,
            shuffler,
            out,
            feed,
        }
    }

    fn push(&mut self, values: &[f32]) -> Result<()> {
        let mut row = self.rows.take().ok_or_else(gone)?;
        row.copy_from_slice(values);
        if let Some(evicted) = self.shuffler.push(row) {
            self.out.push(evicted);
            if self.out.len() == FEED_ROWS {
                let full = std::mem::replace(&mut self.out, self.rows.block());
                send(self.feed, Feed::Rows(full))?;
            }
        }
        Ok(())
    }

    /// The rest of the buffer, in random order, after the rows evicted before it.
    fn finish(self) -> Result<()> {
        let ToTrainer {
            rows,
            shuffler,
            mut out,
            feed,
        } = self;
        let mut rest = shuffler.drain().into_iter();
        loop {
            out.extend(rest.by_ref().take(FEED_ROWS - out.len()));
            if out.is_empty() {
                return Ok(());
            }
            let full = std::mem::replace(&mut out, rows.block());
            send(feed, Feed::Rows(full))?;
        }
    }
}

fn gone() -> Error {
    Error::internal("training ended")
}

/// Rows for the reader to fill: those the trainer has handed back, else new ones up to a
/// limit, else it waits for the trainer. The limit is the shuffle buffer plus the rows
/// that can be on their way (a block being filled, two in the channel, one training, and
/// one spare), so training holds one buffer's worth of rows however many epochs it reads
/// ahead: while epoch e's rows train, epoch e + 1 is read into the rows they free.
struct RowPool {
    width: usize,
    free: Vec<Row>,
    /// Emptied blocks, reused for the next messages.
    blocks: Vec<Vec<Row>>,
    back: Receiver<Vec<Row>>,
    made: usize,
    limit: usize,
}

impl RowPool {
    fn new(width: usize, capacity: usize, back: Receiver<Vec<Row>>) -> RowPool {
        RowPool {
            width,
            free: Vec::new(),
            blocks: Vec::new(),
            back,
            made: 0,
            limit: capacity + 5 * FEED_ROWS,
        }
    }

    fn reclaim(&mut self, mut block: Vec<Row>) {
        self.free.append(&mut block);
        self.blocks.push(block);
    }

    /// A row to fill; None when the trainer has gone.
    fn take(&mut self) -> Option<Row> {
        if self.free.is_empty() {
            while let Ok(block) = self.back.try_recv() {
                self.reclaim(block);
            }
        }
        if self.free.is_empty() {
            if self.made < self.limit {
                self.made += 1;
                return Some(vec![0.0; self.width].into_boxed_slice());
            }
            let block = self.back.recv().ok()?;
            self.reclaim(block);
        }
        self.free.pop()
    }

    /// An empty block for the next message.
    fn block(&mut self) -> Vec<Row> {
        self.blocks
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(FEED_ROWS))
    }
}

/// Sends to the trainer; an error (which stops the read) once it has gone.
fn send(feed: &Sender<Result<Feed>>, message: Feed) -> Result<()> {
    feed.send(Ok(message)).map_err(|_| gone())
}

/// A bounded shuffle buffer: rows enter until it is full; then each new row evicts a
/// uniformly chosen one into training; at the epoch's end the rest leave in random order.
struct Shuffler {
    capacity: usize,
    slots: Vec<Row>,
    rng: Rng,
}

impl Shuffler {
    fn new(capacity: usize, rng: Rng) -> Shuffler {
        Shuffler {
            capacity,
            slots: Vec::with_capacity(capacity.min(FEED_ROWS)),
            rng,
        }
    }

    /// Takes a row; returns the row it evicts once the buffer is full.
    fn push(&mut self, row: Row) -> Option<Row> {
        if self.slots.len() < self.capacity {
            self.slots.push(row);
            return None;
        }
        let k = (self.rng.next_u64() % self.capacity as u64) as usize;
        Some(std::mem::replace(&mut self.slots[k], row))
    }

    /// The buffer's rows in random order (Fisher–Yates).
    fn drain(mut self) -> Vec<Row> {
        for i in (1..self.slots.len()).rev() {
            let j = (self.rng.next_u64() % (i as u64 + 1)) as usize;
            self.slots.swap(i, j);
        }
        self.slots
    }
}

/// Per-chunk buffers, reused across the chunks of a pass.
pub(super) struct Buffers {
    /// The autoencoder's input for the chunk (rows × width).
    u: Mat<f64>,
    scratch: Mat<f64>,
    /// The same rows as f32, row after row.
    rows: Vec<f32>,
}

impl Default for Buffers {
    fn default() -> Self {
        Buffers {
            u: Mat::zeros(0, 0),
            scratch: Mat::zeros(0, 0),
            rows: Vec::new(),
        }
    }
}

/// Applies the steps before the autoencoder, checks the values the network will see,
/// and lays the rows out as f32 row after row for the shuffle buffer and batches. Without
/// a PCA (the steps before it are one per-column map) the shift and scale are applied in
/// the same pass as the check and the layout.
fn prepare_checked(
    ctx: &TrainContext<'_>,
    loss: Loss,
    chunk: &Chunk,
    buffers: &mut Buffers,
) -> Result<()> {
    let (x, shift, scale) = match &ctx.affine {
        Some((shift, scale)) => (
            chunk.features.as_ref(),
            Some(shift.as_slice()),
            scale.as_deref(),
        ),
        None => {
            buffers.u = ctx
                .prefix
                .forward(chunk.features.as_ref(), &mut buffers.scratch);
            (buffers.u.as_ref(), None, None)
        }
    };
    let (n, w) = (x.nrows(), x.ncols());
    buffers.rows.clear();
    buffers.rows.resize(n * w, 0.0);
    let bce = loss == Loss::Bce;
    let rows = &mut buffers.rows;
    // Blocks of rows, so the rows being written stay in cache while each column's values
    // are read.
    const BLOCK: usize = 32;
    let any_bad = vectorized(
        #[inline(always)]
        || {
            let mut any_bad = false;
            for i0 in (0..n).step_by(BLOCK) {
                let i1 = (i0 + BLOCK).min(n);
                for j in 0..w {
                    let col = &x
                        .col(j)
                        .try_as_col_major()
                        .expect("owned columns are contiguous")
                        .as_slice()[i0..i1];
                    let m = shift.map_or(0.0, |s| s[j]);
                    let d = scale.map_or(1.0, |s| s[j]);
                    for (i, &v) in col.iter().enumerate() {
                        let (v, bad) = RowLayout::value(v, m, d, bce);
                        any_bad |= bad;
                        rows[(i0 + i) * w + j] = v as f32;
                    }
                }
            }
            any_bad
        },
    );
    if any_bad {
        return Err(first_bad_value(ctx, bce, chunk, x, shift, scale));
    }
    Ok(())
}

/// The error for the first column (then row) holding a value the network cannot take.
fn first_bad_value(
    ctx: &TrainContext<'_>,
    bce: bool,
    chunk: &Chunk,
    x: MatRef<'_, f64>,
    shift: Option<&[f64]>,
    scale: Option<&[f64]>,
) -> Error {
    for j in 0..x.ncols() {
        let m = shift.map_or(0.0, |s| s[j]);
        let d = scale.map_or(1.0, |s| s[j]);
        let col = x.col(j);
        if let Some(i) = (0..x.nrows()).find(|&i| RowLayout::value(col[i], m, d, bce).1) {
            let v = RowLayout::value(col[i], m, d, bce).0;
            let message = if v.is_finite() {
                format!(
                    "loss: bce needs inputs in [0, 1], found {v}; put `- scale: {{ method: minmax }}` before the autoencoder, or use loss: mse"
                )
            } else {
                format!("the autoencoder's input is not finite ({v})")
            };
            return Error::data(message)
                .at_row(chunk.row_index(i) + 1)
                .at_column(&ctx.input_names[j]);
        }
    }
    // Not reached: the pass that flagged the chunk computes the same values.
    Error::data("the autoencoder's input holds a value it cannot take")
}
