//! Mini-batch training streamed from disk. Every epoch reads the data again through the
//! runner's bounded channel (Parquet row groups in a new seeded order each epoch), passes
//! rows through a bounded shuffle buffer into batches, and takes one optimizer step per
//! batch: memory is O(shuffle_buffer × width + parameters), never O(rows).
//!
//! Everything random in epoch e (row-group order, shuffle draws, noise) comes from a
//! stream seeded by (seed, e), and the weights, optimizer state and early-stopping state
//! are checkpointed after each epoch, so a run resumed from epoch e's checkpoint takes
//! exactly the steps the uninterrupted run would have taken.

use std::path::Path;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use faer::{Mat, MatRef, Par};
use serde::{Deserialize, Serialize};

use super::history::{EpochReport, StopReason};
use super::infer::{EVAL_ROWS, parallelism};
use super::layer::vectorized;
use super::optim::Optimizer;
use super::params::{AutoencoderParams, Loss};
use super::{Network, SavedNetwork, Workspace};
use crate::chunk::Chunk;
use crate::engine::{PassReport, PassStats, stream, stream_recycling};
use crate::error::{Error, Result};
use crate::progress::{Progress, Total};
use crate::rng::Rng;
use crate::sink::write_atomic;
use crate::source::{ChunkPool, Dataset, ReadSpec, RowLayout};
use crate::steps::FittedPipeline;

pub const CHECKPOINT_FORMAT: &str = "dimred-checkpoint/2";

/// Where training reads from and how a chunk becomes autoencoder input.
pub struct TrainContext<'a> {
    pub dataset: &'a Dataset,
    pub spec: ReadSpec,
    pub quiet: bool,
    /// The steps before the autoencoder: chunk features → its input (scaled features, or
    /// PCA scores).
    pub prefix: &'a FittedPipeline,
    /// `prefix` as one per-column map `(x − shift) / scale`, when it is one: the reader
    /// then lays the rows out itself (see `RowLayout`).
    pub affine: Option<(Vec<f64>, Option<Vec<f64>>)>,
    /// Names of the input's columns, for messages.
    pub input_names: Vec<String>,
    pub checkpoint: &'a Path,
    /// Identifies the pipeline a checkpoint belongs to.
    pub fingerprint: String,
}

/// Training state after an epoch: what a checkpoint holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format: String,
    pub fingerprint: String,
    pub epochs_done: usize,
    #[serde(with = "super::packed::network")]
    pub network: SavedNetwork,
    pub optimizer: Optimizer,
    #[serde(with = "super::packed::network")]
    pub best: SavedNetwork,
    pub best_epoch: usize,
    pub best_loss: f64,
    pub bad_epochs: usize,
    /// Why training ended, once it has.
    pub stopped: Option<StopReason>,
    pub history: Vec<EpochReport>,
    pub train_rows: u64,
    pub validation_rows: u64,
    pub train_seconds: f64,
}

impl Checkpoint {
    pub fn load(path: &Path, fingerprint: &str) -> Result<Option<Checkpoint>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read checkpoint", path, e)),
        };
        let cp: Checkpoint = serde_json::from_str(&text).map_err(|e| {
            Error::config(format!(
                "{}: not a dimred checkpoint ({e}); delete it to start over",
                path.display()
            ))
        })?;
        if cp.format != CHECKPOINT_FORMAT || !cp.network.is_consistent() {
            return Err(Error::config(format!(
                "{}: not a {CHECKPOINT_FORMAT} checkpoint; delete it to start over",
                path.display()
            )));
        }
        if cp.fingerprint != fingerprint {
            return Err(Error::config(format!(
                "{}: the checkpoint was written by a different pipeline (only `epochs` may change between runs); delete it or run without --resume",
                path.display()
            )));
        }
        Ok(Some(cp))
    }
}

/// What training produced.
pub struct Trained {
    /// The kept weights (the best epoch's).
    pub network: Network<f32>,
    pub checkpoint: Checkpoint,
    pub passes: Vec<PassReport>,
    pub samples_per_second: f64,
}

/// Independent streams per (seed, epoch, purpose).
fn rng(seed: u64, epoch: usize, purpose: u64) -> Rng {
    Rng::new(
        seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ purpose.wrapping_mul(0xD1B5_4A32_D192_ED03),
    )
}

/// The validation split: a fixed hash of the row's index in the dataset, so the same rows
/// are held out in every epoch, for every seed, chunk size and shuffle.
pub fn is_validation(row: u64, fraction: f64) -> bool {
    if fraction <= 0.0 {
        return false;
    }
    let z = crate::rng::splitmix64(row ^ 0x7A11_DA7E_5EED_0001);
    ((z >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < fraction
}

/// At most this many rows per chunk when training reads (an `input.batch_rows` above it is
/// lowered; results do not depend on the chunk size). A chunk this small stays in the
/// core's cache from decoding to the row layout, and the chunks in flight take 3 MB each
/// at 784 features rather than 50 MB: on the benchmark this halved the reader's page
/// clearing (new memory is zeroed by the kernel) and raised training from 36.5k to 41k
/// samples/s.
const TRAIN_READ_ROWS: usize = 512;

/// The read settings for a pass of training or validation: without a PCA before the
/// autoencoder, the reader lays the rows out itself (see `RowLayout`).
fn train_spec(ctx: &TrainContext<'_>, loss: Loss) -> ReadSpec {
    let mut spec = ctx.spec.clone();
    spec.batch_rows = spec.batch_rows.min(TRAIN_READ_ROWS);
    if let Some((shift, scale)) = &ctx.affine {
        spec.rows32 = Some(std::sync::Arc::new(RowLayout {
            shift: shift.clone(),
            scale: scale.clone(),
            unit: loss == Loss::Bce,
        }));
    }
    spec
}

/// The chunk's rows as the autoencoder's input, row after row: laid out by the reader,
/// else here from the chunk's features.
fn input_rows<'b>(
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
type Row = Box<[f32]>;

/// What the reading side of training hands the trainer, in training order.
enum Feed {
    /// Rows to train on: evicted from the full shuffle buffer, or at the epoch's end the
    /// buffer's rows in random order.
    Rows(Vec<Row>),
    /// The epoch's rows have all been sent.
    End {
        stats: PassStats,
        validation_rows: u64,
    },
}

/// Trains (or resumes) the network; returns the best epoch's weights.
///
/// Two sides: a reading thread streams each epoch's rows (decode, prepare, validation
/// split, shuffle buffer) and sends them in training order; this thread assembles batches
/// and steps the optimizer, each step on rayon's threads. The reading side runs an epoch
/// ahead, so the next epoch is read while this one trains.
pub fn train(
    ctx: &TrainContext<'_>,
    params: &AutoencoderParams,
    inputs: usize,
    resume: Option<Checkpoint>,
) -> Result<Trained> {
    let mut state = match resume {
        Some(cp) => cp,
        None => {
            let network = Network::<f32>::new(params, inputs, params.seed);
            let optimizer = Optimizer::new(&params.optimizer, &network);
            Checkpoint {
                format: CHECKPOINT_FORMAT.into(),
                fingerprint: ctx.fingerprint.clone(),
                epochs_done: 0,
                best: network.to_saved(),
                network: network.to_saved(),
                optimizer,
                best_epoch: 0,
                best_loss: f64::INFINITY,
                bad_epochs: 0,
                stopped: None,
                history: Vec::new(),
                train_rows: 0,
                validation_rows: 0,
                train_seconds: 0.0,
            }
        }
    };
    let epochs = params.epochs.0;
    if state.stopped == Some(StopReason::Epochs) && state.epochs_done < epochs {
        // Resumed with more epochs than the finished run had: go on training.
        state.stopped = None;
    }
    let network = Network::<f32>::from_saved(&state.network);
    if network.inputs() != inputs {
        return Err(Error::config(format!(
            "{}: the checkpoint's network takes {} inputs, the data gives {inputs}; delete it to start over",
            ctx.checkpoint.display(),
            network.inputs()
        )));
    }
    let mut outcome = Outcome {
        network,
        passes: Vec::new(),
        rows: 0,
        seconds: 0.0,
    };
    if state.stopped.is_none() && state.epochs_done < epochs {
        let (feed_tx, feed_rx) = bounded::<Result<Feed>>(2);
        // Unbounded, so no row is ever dropped on its way back: the reader counts on
        // every row it made returning (their number is bounded, see `RowPool`).
        let (rows_tx, rows_rx) = unbounded::<Vec<Row>>();
        let first = state.epochs_done + 1;
        let result = std::thread::scope(|s| {
            let reader = s.spawn(move || read_epochs(ctx, params, inputs, first, feed_tx, rows_rx));
            // Checkpoints are written on their own thread while the next epoch trains
            // (one at a time, in order, each atomically).
            let (cp_tx, cp_rx) = bounded::<Checkpoint>(1);
            let writer = s.spawn(move || -> Result<()> {
                for cp in cp_rx {
                    let bytes = serde_json::to_vec(&cp).expect("checkpoint serialises");
                    write_atomic(ctx.checkpoint, &bytes)?;
                }
                Ok(())
            });
            let channels = Channels {
                feed: feed_rx,
                rows_back: rows_tx,
                checkpoints: cp_tx,
            };
            let result = train_epochs(ctx, params, &mut state, &mut outcome, channels);
            // The trainer has dropped its ends of the channels, so a reader an epoch
            // ahead stops at its next send, and the writer after the last checkpoint.
            let written = writer.join();
            if reader.join().is_err() || written.is_err() {
                return Err(Error::internal("a training thread panicked"));
            }
            written.expect("checked above").and(result)
        });
        result?;
    }
    if state.stopped.is_none() {
        // Resumed with fewer epochs than already run.
        state.stopped = Some(StopReason::Epochs);
    }
    let samples_per_second = if outcome.seconds > 0.0 {
        outcome.rows as f64 / outcome.seconds
    } else {
        (state.train_rows * state.epochs_done as u64) as f64 / state.train_seconds.max(1e-9)
    };
    Ok(Trained {
        network: Network::from_saved(&state.best),
        checkpoint: state,
        passes: outcome.passes,
        samples_per_second,
    })
}

/// What this run's epochs add up to.
struct Outcome {
    network: Network<f32>,
    passes: Vec<PassReport>,
    /// Rows trained on and seconds spent training in this run (not a resumed one's).
    rows: u64,
    seconds: f64,
}

/// The trainer's ends of the channels to the reading side and the checkpoint writer.
struct Channels {
    feed: Receiver<Result<Feed>>,
    /// Rows back to the reader once trained on.
    rows_back: Sender<Vec<Row>>,
    checkpoints: Sender<Checkpoint>,
}

/// The trainer's side: batches and optimizer steps from the fed rows, then per epoch the
/// validation loss, early stopping and the checkpoint.
fn train_epochs(
    ctx: &TrainContext<'_>,
    params: &AutoencoderParams,
    state: &mut Checkpoint,
    outcome: &mut Outcome,
    channels: Channels,
) -> Result<()> {
    let Channels {
        feed,
        rows_back,
        checkpoints,
    } = channels;
    let epochs = params.epochs.0;
    let network = &mut outcome.network;
    let mut expected_rows = ctx.dataset.total_rows;
    let team = Team::for_network(params, network)?;
    while state.stopped.is_none() && state.epochs_done < epochs {
        let epoch = state.epochs_done + 1;
        let started = Instant::now();
        let label = format!("epoch {epoch}/{epochs}");
        let progress = Progress::new(&label, Total::Rows(expected_rows.unwrap_or(0)), ctx.quiet);
        let mut run = Epoch::new(
            params,
            network,
            epoch,
            team.as_ref().map_or(1, |t| t.threads),
        );
        let optimizer = &mut state.optimizer;
        let mut batches = || loop {
            let message = match feed.try_recv() {
                Ok(message) => message,
                Err(_) => {
                    // Nothing to train on yet: the team's threads stop spinning so the
                    // reading side has the cores.
                    spindle::relieve_workers();
                    feed.recv().map_err(|_| {
                        Error::internal("the training reader stopped before the epoch's end")
                    })?
                }
            };
            match message? {
                Feed::Rows(rows) => {
                    for row in &rows {
                        run.add_to_batch(row, network, optimizer)?;
                    }
                    progress.advance(rows.len() as u64, 0);
                    // The reader may have stopped (an error, or it has read every epoch).
                    let _ = rows_back.send(rows);
                }
                Feed::End {
                    stats,
                    validation_rows,
                } => {
                    run.finish(network, optimizer)?;
                    return Ok((stats, validation_rows));
                }
            }
        };
        let (stats, validation_rows) = match &team {
            Some(team) => team.run(batches)?,
            None => batches()?,
        };
        progress.advance(validation_rows, 0);
        progress.finish();
        expected_rows = Some(run.rows + validation_rows);
        // The pass includes the time spent waiting for rows not yet read.
        let train_seconds = started.elapsed().as_secs_f64();
        outcome.passes.push(
            PassStats {
                seconds: train_seconds,
                ..stats
            }
            .report(&label),
        );
        if run.rows == 0 {
            return Err(Error::data(format!(
                "input {} has no rows to train on{}",
                ctx.dataset.path,
                if validation_rows > 0 {
                    " (every row fell in the validation split; lower validation_fraction)"
                } else {
                    ""
                }
            )));
        }
        outcome.rows += run.rows;
        outcome.seconds += train_seconds;
        let train_loss = run.loss_sum / run.rows as f64;

        let fraction = params.validation_fraction;
        let validation_loss = if validation_rows > 0 {
            let vlabel = format!("validate {epoch}");
            let (loss, stats) = evaluate_split(ctx, network, fraction, &vlabel)?;
            outcome.passes.push(stats.report(&vlabel));
            Some(loss)
        } else {
            None
        };
        state.history.push(EpochReport {
            epoch,
            train_loss,
            validation_loss,
            seconds: started.elapsed().as_secs_f64(),
        });
        state.train_rows = run.rows;
        state.validation_rows = validation_rows;
        state.train_seconds += train_seconds;

        // The monitored loss: validation when rows are held out, else training.
        let monitored = validation_loss.unwrap_or(train_loss);
        let min_delta = params.early_stopping.as_ref().map_or(0.0, |e| e.min_delta);
        if monitored < state.best_loss - min_delta {
            state.best_loss = monitored;
            state.best_epoch = epoch;
            state.best = network.to_saved();
            state.bad_epochs = 0;
        } else {
            state.bad_epochs += 1;
        }
        state.epochs_done = epoch;
        if let Some(es) = &params.early_stopping
            && state.bad_epochs > es.patience
        {
            state.stopped = Some(StopReason::EarlyStopping);
        } else if epoch == epochs {
            state.stopped = Some(StopReason::Epochs);
        }
        state.network = network.to_saved();
        if checkpoints.send(state.clone()).is_err() {
            // The writer failed; its error is returned in place of this one.
            return Err(Error::internal("the checkpoint writer stopped"));
        }
    }
    Ok(())
}

/// The threads one step's products and optimizer update are shared out to. Between the
/// pieces of a step they spin rather than sleep: a step has a dozen parallel pieces
/// within about two milliseconds, and waking a sleeping thread for each (rayon's pool
/// does) cost as much as the second core gained. They run in a pool of their own so
/// their spinning never holds threads that other work (reading, PCA) waits on.
struct Team {
    pool: rayon::ThreadPool,
    threads: usize,
}

impl Team {
    /// A team when the network's products are large enough to share (see
    /// `parallelism`); None when one thread does better.
    fn for_network(params: &AutoencoderParams, net: &Network<f32>) -> Result<Option<Team>> {
        if matches!(parallelism(params.batch_size.0, net.widest()), Par::Seq) {
            return Ok(None);
        }
        let threads = rayon::current_num_threads();
        if threads < 2 {
            return Ok(None);
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("dimred-train-{i}"))
            .build()
            .map_err(|e| Error::internal(format!("cannot start the training threads: {e}")))?;
        Ok(Some(Team { pool, threads }))
    }

    /// Runs `f` (the caller's loop of steps) with the team spinning for its pieces.
    fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(|| spindle::with_lock(self.threads, f))
    }
}

/// The reading side: epochs `first..=epochs` of rows in training order. Stops at the
/// first error (sent on), or when the trainer has gone.
fn read_epochs(
    ctx: &TrainContext<'_>,
    params: &AutoencoderParams,
    width: usize,
    first: usize,
    feed: Sender<Result<Feed>>,
    rows_back: Receiver<Vec<Row>>,
) {
    let capacity = ctx.dataset.total_rows.map_or(params.shuffle_buffer.0, |n| {
        (n as usize).min(params.shuffle_buffer.0)
    });
    let mut rows = RowPool::new(width, capacity, rows_back);
    let mut buffers = Buffers::default();
    let pool = ChunkPool::new();
    for epoch in first..=params.epochs.0 {
        let mut shuffler = Shuffler::new(capacity, rng(params.seed, epoch, 1));
        let mut out = rows.block();
        let mut spec = train_spec(ctx, params.loss);
        spec.shuffle = Some(rng(params.seed, epoch, 0).next_u64());
        let fraction = params.validation_fraction;
        let mut validation_rows = 0u64;
        let label = format!("read {epoch}");
        let streamed = stream_recycling(ctx.dataset, &spec, &label, true, &pool, |chunk| {
            let input = input_rows(ctx, params.loss, chunk, &mut buffers)?;
            for (i, values) in input.chunks_exact(width).enumerate() {
                if is_validation(chunk.row_index(i), fraction) {
                    validation_rows += 1;
                    continue;
                }
                let mut row = rows.take().ok_or_else(gone)?;
                row.copy_from_slice(values);
                if let Some(evicted) = shuffler.push(row) {
                    out.push(evicted);
                    if out.len() == FEED_ROWS {
                        let full = std::mem::replace(&mut out, rows.block());
                        send(&feed, Feed::Rows(full))?;
                    }
                }
            }
            Ok(())
        });
        let stats = match streamed {
            Ok(stats) => stats,
            Err(e) => {
                let _ = feed.send(Err(e));
                return;
            }
        };
        // The rest of the buffer, in random order, after the rows evicted before it.
        let mut rest = shuffler.drain().into_iter();
        loop {
            out.extend(rest.by_ref().take(FEED_ROWS - out.len()));
            if out.is_empty() {
                break;
            }
            let full = std::mem::replace(&mut out, rows.block());
            if send(&feed, Feed::Rows(full)).is_err() {
                return;
            }
        }
        let end = Feed::End {
            stats,
            validation_rows,
        };
        if send(&feed, end).is_err() {
            return;
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
            slots: Vec::with_capacity(capacity),
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
struct Buffers {
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

/// One epoch's batch and optimizer steps.
struct Epoch {
    batch_size: usize,
    batch: Mat<f32>,
    /// Rows of the batch being filled, row after row.
    staged: Vec<f32>,
    filled: usize,
    noisy: Mat<f32>,
    noise_rng: Rng,
    gaussian_std: f32,
    dropout: f32,
    ws: Workspace<f32>,
    grads: Vec<super::layer::Grad<f32>>,
    /// Threads each batch's products are split over.
    threads: usize,
    epoch: usize,
    batches: u64,
    rows: u64,
    loss_sum: f64,
}

impl Epoch {
    fn new(params: &AutoencoderParams, net: &Network<f32>, epoch: usize, threads: usize) -> Epoch {
        let width = net.inputs();
        let batch_size = params.batch_size.0;
        let noise = params.noise.as_ref();
        Epoch {
            batch_size,
            batch: Mat::zeros(batch_size, width),
            staged: Vec::with_capacity(batch_size * width),
            filled: 0,
            noisy: Mat::zeros(0, 0),
            noise_rng: rng(params.seed, epoch, 2),
            gaussian_std: noise.and_then(|n| n.gaussian_std).unwrap_or(0.0) as f32,
            dropout: noise.and_then(|n| n.dropout).unwrap_or(0.0) as f32,
            ws: Workspace::default(),
            grads: net.zero_grads(),
            threads,
            epoch,
            batches: 0,
            rows: 0,
            loss_sum: 0.0,
        }
    }

    /// Trains on the last, possibly short, batch (as PyTorch's DataLoader without
    /// drop_last).
    fn finish(&mut self, net: &mut Network<f32>, opt: &mut Optimizer) -> Result<()> {
        if self.filled > 0 {
            let n = self.filled;
            self.transpose_staged();
            let rows = self.batch.as_ref().subrows(0, n).to_owned();
            self.step(rows.as_ref(), net, opt)?;
            self.filled = 0;
        }
        Ok(())
    }

    /// The staged rows (row after row) into the batch's columns, sixteen rows at a time,
    /// so each write fills a cache line (row by row into a column-major batch, every value
    /// lands on a different line).
    fn transpose_staged(&mut self) {
        let w = self.batch.ncols();
        let n = self.staged.len() / w;
        for i0 in (0..n).step_by(16) {
            let i1 = (i0 + 16).min(n);
            for j in 0..w {
                let col = self
                    .batch
                    .col_mut(j)
                    .try_as_col_major_mut()
                    .expect("owned columns are contiguous")
                    .as_slice_mut();
                for (i, c) in col[i0..i1].iter_mut().enumerate() {
                    *c = self.staged[(i0 + i) * w + j];
                }
            }
        }
        self.staged.clear();
    }

    fn add_to_batch(
        &mut self,
        row: &[f32],
        net: &mut Network<f32>,
        opt: &mut Optimizer,
    ) -> Result<()> {
        self.staged.extend_from_slice(row);
        self.filled += 1;
        if self.filled == self.batch_size {
            self.transpose_staged();
            let batch = std::mem::replace(&mut self.batch, Mat::zeros(0, 0));
            let result = self.step(batch.as_ref(), net, opt);
            self.batch = batch;
            self.filled = 0;
            result?;
        }
        Ok(())
    }

    fn step(
        &mut self,
        target: MatRef<'_, f32>,
        net: &mut Network<f32>,
        opt: &mut Optimizer,
    ) -> Result<()> {
        let n = target.nrows();
        let input = if self.gaussian_std > 0.0 || self.dropout > 0.0 {
            self.corrupt(target);
            self.noisy.as_ref()
        } else {
            target
        };
        let loss = net.gradients(input, target, &mut self.ws, &mut self.grads, self.threads);
        if loss.is_finite() {
            opt.step(net, &self.grads, self.threads);
        }
        self.batches += 1;
        if !loss.is_finite() {
            let kept = if self.epoch > 1 {
                format!("the checkpoint keeps epoch {}", self.epoch - 1)
            } else {
                "no epoch had completed, so there is no checkpoint".to_string()
            };
            return Err(Error::Numeric(format!(
                "training diverged: the loss became {loss} at epoch {}, batch {}; {kept}; lower optimizer.learning_rate",
                self.epoch, self.batches
            )));
        }
        self.rows += n as u64;
        self.loss_sum += loss * n as f64;
        Ok(())
    }

    /// The denoising input: Gaussian noise added, or inverted dropout (survivors scaled by
    /// 1 / (1 − p), as Keras and PyTorch).
    fn corrupt(&mut self, clean: MatRef<'_, f32>) {
        let (n, w) = (clean.nrows(), clean.ncols());
        if self.noisy.nrows() != n || self.noisy.ncols() != w {
            self.noisy = Mat::zeros(n, w);
        }
        if self.gaussian_std > 0.0 {
            let mut normals = vec![0.0f64; n * w];
            self.noise_rng.fill_normal(&mut normals);
            let s = self.gaussian_std as f64;
            for j in 0..w {
                for i in 0..n {
                    self.noisy[(i, j)] = clean[(i, j)] + (s * normals[j * n + i]) as f32;
                }
            }
        } else {
            let p = self.dropout as f64;
            let keep = (1.0 / (1.0 - p)) as f32;
            for j in 0..w {
                for i in 0..n {
                    let drop = self.noise_rng.uniform() <= p;
                    self.noisy[(i, j)] = if drop { 0.0 } else { clean[(i, j)] * keep };
                }
            }
        }
    }
}

/// Mean loss over the validation rows, with the current weights, in file order.
fn evaluate_split(
    ctx: &TrainContext<'_>,
    net: &Network<f32>,
    fraction: f64,
    label: &str,
) -> Result<(f64, PassStats)> {
    let w = net.inputs();
    let par = parallelism(EVAL_ROWS, net.widest());
    let mut pending: Vec<f32> = Vec::new();
    let (mut sum, mut rows) = (0.0f64, 0u64);
    let mut flush = |pending: &mut Vec<f32>| {
        let n = pending.len() / w;
        if n == 0 {
            return;
        }
        let x = Mat::from_fn(n, w, |i, j| pending[i * w + j]);
        let y = net.run(x.as_ref(), 0..net.layers.len(), par);
        sum += net.loss_of(y.as_ref(), x.as_ref()) * n as f64;
        rows += n as u64;
        pending.clear();
    };
    let mut buffers = Buffers::default();
    let stats = stream(
        ctx.dataset,
        &train_spec(ctx, net.loss),
        label,
        ctx.quiet,
        |chunk| {
            let input = input_rows(ctx, net.loss, chunk, &mut buffers)?;
            for (i, row) in input.chunks_exact(w).enumerate() {
                if is_validation(chunk.row_index(i), fraction) {
                    pending.extend_from_slice(row);
                    if pending.len() / w == EVAL_ROWS {
                        flush(&mut pending);
                    }
                }
            }
            Ok(())
        },
    )?;
    flush(&mut pending);
    Ok((sum / rows.max(1) as f64, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_split_holds_out_about_the_fraction() {
        let held = (0..100_000u64).filter(|&r| is_validation(r, 0.1)).count();
        assert!((9_500..10_500).contains(&held), "{held}");
        assert_eq!((0..1000u64).filter(|&r| is_validation(r, 0.0)).count(), 0);
    }
}
