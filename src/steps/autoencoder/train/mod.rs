//! Mini-batch training streamed from disk. Every epoch reads the data again through the
//! engine's bounded channel (Parquet row groups in a new seeded order each epoch), or,
//! when the shuffle buffer holds every row and the memory limit allows a copy, replays
//! the first epoch's rows from memory in the order a read would give; rows pass through
//! a bounded shuffle buffer into batches, with one optimizer step per batch: memory is
//! O(shuffle_buffer × width + parameters), never O(rows).
//!
//! Everything random in epoch e (row-group order, shuffle draws, noise) comes from a
//! stream seeded by (seed, e), and the weights, optimizer state and early-stopping state
//! are checkpointed after each epoch, so a run resumed from epoch e's checkpoint takes
//! exactly the steps the uninterrupted run would have taken.
//!
//! By concern: `feed` is the reading side (layout, validation split, shuffle buffer),
//! `replay` the rows it keeps for the epochs after the first, `batches` one epoch's
//! batches and optimizer steps, `checkpoint` the saved state; this file is the loop
//! between them (epochs, validation, early stopping). Inference with the trained network
//! is `super::infer`.

mod batches;
mod checkpoint;
mod feed;
mod layout;
mod replay;

use std::path::Path;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use faer::{Mat, Par};

use super::Network;
use super::history::{EpochReport, Replay, StopReason};
use super::infer::{EVAL_ROWS, parallelism};
use super::net::plan;
use super::optim::Optimizer;
use super::params::AutoencoderParams;
use super::schedule::{Plateau, ScheduleKind};
use crate::engine::budget::Budget;
use crate::engine::{PassReport, PassStats, stream};
use crate::error::{Error, Result};
use crate::progress::{Progress, Total};
use crate::rng::Rng;
use crate::sink::write_atomic;
use crate::source::{Dataset, ReadSpec};
use crate::steps::FittedPipeline;

use batches::Epoch;
pub use checkpoint::{CHECKPOINT_FORMAT, Checkpoint};
use feed::{Buffers, Feed, Row, input_rows, read_epochs, train_spec};

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
    /// The run's memory model and limit, when one is known: the epochs after the first
    /// are replayed from memory only when a copy of the rows fits under it.
    pub memory: Option<&'a Budget>,
}

/// What training produced.
pub struct Trained {
    /// The kept weights (the best epoch's).
    pub network: Network<f32>,
    pub checkpoint: Checkpoint,
    pub passes: Vec<PassReport>,
    pub samples_per_second: f64,
    /// Where this run's epochs after its first came from.
    pub replay: Replay,
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
    let arch = plan(params, inputs).map_err(Error::config)?;
    let mut state = match resume {
        Some(cp) => cp,
        None => {
            let network = Network::<f32>::new(&arch, params.loss, params.seed);
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
                plateau: Plateau::default(),
            }
        }
    };
    let epochs = params.epochs.0;
    if state.stopped == Some(StopReason::Epochs) && state.epochs_done < epochs {
        // Resumed with more epochs than the finished run had: go on training.
        state.stopped = None;
    }
    let network = Network::<f32>::from_saved(&state.network, inputs).map_err(|e| {
        Error::config(format!(
            "{}: the checkpoint's network does not fit the data ({e}); delete it to start over",
            ctx.checkpoint.display()
        ))
    })?;
    let mut outcome = Outcome {
        network,
        passes: Vec::new(),
        rows: 0,
        seconds: 0.0,
        replay: Replay::File,
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
    let best = Network::from_saved(&state.best, inputs)
        .map_err(|e| Error::internal(format!("the kept weights do not load: {e}")))?;
    Ok(Trained {
        network: best,
        checkpoint: state,
        passes: outcome.passes,
        samples_per_second,
        replay: outcome.replay,
    })
}

/// What this run's epochs add up to.
struct Outcome {
    network: Network<f32>,
    passes: Vec<PassReport>,
    /// Rows trained on and seconds spent training in this run (not a resumed one's).
    rows: u64,
    seconds: f64,
    /// Memory once an epoch came from the rows kept in memory.
    replay: Replay,
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
        if let Some(rate) = params
            .schedule
            .as_ref()
            .and_then(|s| s.rate(params.optimizer.learning_rate(), epoch, epochs))
        {
            state.optimizer.learning_rate = rate;
        }
        let learning_rate = state.optimizer.learning_rate;
        let started = Instant::now();
        let label = format!("epoch {epoch}/{epochs}");
        let progress = Progress::new(&label, Total::Rows(expected_rows.unwrap_or(0)), ctx.quiet);
        let mut run = Epoch::new(
            params,
            network,
            epoch,
            team.as_ref().map_or(1, |t| t.threads),
            ctx.dataset.total_rows,
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
                    from_memory,
                } => {
                    run.finish(network, optimizer)?;
                    return Ok((stats, validation_rows, from_memory));
                }
            }
        };
        let (stats, validation_rows, from_memory) = match &team {
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
        if from_memory {
            outcome.replay = Replay::Memory;
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
            learning_rate: Some(learning_rate),
            samples_per_second: Some(run.rows as f64 / train_seconds.max(1e-9)),
        });
        state.train_rows = run.rows;
        state.validation_rows = validation_rows;
        state.train_seconds += train_seconds;

        // The monitored loss: validation when rows are held out, else training.
        let monitored = validation_loss.unwrap_or(train_loss);
        if let Some(s) = params
            .schedule
            .as_ref()
            .filter(|s| s.kind == ScheduleKind::Plateau)
        {
            let lr = state.optimizer.learning_rate;
            state.optimizer.learning_rate = state.plateau.observe(s, monitored, lr);
        }
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
