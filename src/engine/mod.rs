//! Passes, threads and bounded channels, knowing no step, report or model. Every pass
//! runs the reader on its own thread, connected to the consumer by a bounded crossbeam
//! channel (decode overlaps compute; memory stays O(batch_rows × features) whatever the
//! input size); the output pass adds a writer thread behind a second bounded channel.
//! Errors travel through the channels as values and the first one ends the pass; a
//! panicked thread or a channel closed too early is an internal error, never blamed on
//! the data.

pub mod budget;
pub mod limits;
pub mod spill;

use std::time::Instant;

use arrow_array::RecordBatch;
use crossbeam_channel::bounded;
use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::chunk::Chunk;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::sink::parquet::ParquetSink;
use crate::source::{CHANNEL_CHUNKS, ChunkPool, Dataset, ReadSpec};
use crate::stats::{ColumnStats, ColumnsAccumulator};

/// Refuses a size a user set when what it needs (`bytes`, from the data's shape) exceeds
/// the memory the job may use (`limits::job_memory`: its cgroup's, Slurm's or the
/// machine's available memory): a clear error naming the key, before anything is allocated.
pub fn check_memory(
    key: &str,
    value: impl std::fmt::Display,
    bytes: f64,
    problems: &mut Vec<String>,
) {
    let Some(job) = limits::job_memory() else {
        return;
    };
    if bytes > job.bytes as f64 {
        let gib = |b: f64| b / (1u64 << 30) as f64;
        problems.push(format!(
            "{key} = {value} would need {:.1} GiB of memory, more than the {:.1} GiB this job may use ({}); lower it",
            gib(bytes),
            gib(job.bytes as f64),
            job.describe()
        ));
    }
}

/// What one pass over the data saw.
#[derive(Debug, Clone, Default)]
pub struct PassStats {
    pub rows_read: u64,
    pub rows_kept: u64,
    pub seconds: f64,
    /// Each `filter` step's rows in and out in this pass, when the fit recorded them (its
    /// first pass).
    pub filtered: Vec<(u64, u64)>,
}

/// One pass as report.json lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PassReport {
    pub name: String,
    pub rows: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
}

impl PassStats {
    pub fn report(&self, name: &str) -> PassReport {
        PassReport {
            name: name.to_string(),
            rows: self.rows_read,
            seconds: self.seconds,
            rows_per_second: self.rows_read as f64 / self.seconds.max(1e-9),
        }
    }
}

/// Streams the dataset through `consume`, reader on its own thread.
pub fn stream(
    dataset: &Dataset,
    spec: &ReadSpec,
    label: &str,
    quiet: bool,
    consume: impl FnMut(&Chunk) -> Result<()>,
) -> Result<PassStats> {
    stream_recycling(dataset, spec, label, quiet, &ChunkPool::new(), consume)
}

/// `stream`, with the chunk matrices taken from and returned to `pool`.
pub fn stream_recycling(
    dataset: &Dataset,
    spec: &ReadSpec,
    label: &str,
    quiet: bool,
    pool: &ChunkPool,
    mut consume: impl FnMut(&Chunk) -> Result<()>,
) -> Result<PassStats> {
    let started = Instant::now();
    let progress = Progress::new(label, dataset.progress_total(), quiet);
    let (tx, rx) = bounded::<Result<Chunk>>(CHANNEL_CHUNKS);
    let recycle_tx = pool.clone();
    let mut stats = PassStats::default();
    let result = std::thread::scope(|s| {
        let progress = &progress;
        let reader = s.spawn(move || {
            let outcome = dataset.read(spec, progress, Some(pool.clone()), &mut |chunk| {
                tx.send(Ok(chunk)).is_ok()
            });
            if let Err(e) = outcome {
                let _ = tx.send(Err(e));
            }
        });
        drain(rx, reader, "reader", |chunk| {
            stats.rows_read += chunk.rows_read as u64;
            stats.rows_kept += chunk.nrows() as u64;
            consume(&chunk)?;
            recycle_tx.give_back(chunk);
            Ok(())
        })
    });
    progress.finish();
    stats.seconds = started.elapsed().as_secs_f64();
    result.map(|()| stats)
}

/// Set by `interrupt`: every pass ends at its next chunk with `Error::Interrupted`.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Stops the passes under way (and any started later, until `clear_interrupt`): an
/// embedding process (the Python module on Ctrl-C) cannot end itself as the CLI's signal
/// handler does, so the work ends as if it had failed, its temporary files removed.
pub fn interrupt() {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Passes run again (after the interrupted work has returned).
pub fn clear_interrupt() {
    INTERRUPTED.store(false, std::sync::atomic::Ordering::SeqCst);
}

fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The consuming side of a pass: each item the reader thread sends goes to `each` until
/// the channel closes or an error (the reader's or `each`'s) ends the pass; dropping the
/// receiver then stops the reader at its next send, and the reader is joined.
fn drain<T>(
    rx: crossbeam_channel::Receiver<Result<T>>,
    reader: std::thread::ScopedJoinHandle<'_, ()>,
    name: &str,
    mut each: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    let mut result = Ok(());
    for item in rx.iter() {
        if interrupted() {
            result = Err(Error::Interrupted);
            break;
        }
        if let Err(e) = item.and_then(&mut each) {
            result = Err(e);
            break;
        }
    }
    drop(rx);
    if reader.join().is_err() {
        return Err(Error::internal(format!("the {name} thread panicked")));
    }
    result
}

/// The output pass: reader → `map` (this thread) → writer thread. `map` turns a chunk into
/// the output columns (the `sink`'s names); the first `written` passthrough columns go to the file
/// beside them (columns after them are read for the report only). The file is renamed
/// into place only when every stage succeeded. Returns the pass and the rows written.
pub fn write_chunks(
    dataset: &Dataset,
    spec: &ReadSpec,
    sink: ParquetSink,
    quiet: bool,
    written: usize,
    mut map: impl FnMut(&Chunk) -> Result<Mat<f64>>,
) -> Result<(PassStats, u64)> {
    let (tx, rx) = bounded::<(Option<RecordBatch>, Mat<f64>)>(CHANNEL_CHUNKS);
    std::thread::scope(|s| {
        let writer = s.spawn(move || -> Result<ParquetSink> {
            let mut sink = sink;
            for (passthrough, reduced) in rx.iter() {
                sink.write(passthrough.as_ref(), reduced.as_ref())?;
            }
            Ok(sink)
        });
        let pass = stream(dataset, spec, "transform", quiet, |chunk| {
            let out = map(chunk)?;
            tx.send((chunk.passthrough_prefix(written), out))
                .map_err(|_| Error::internal("the output writer stopped"))
        });
        drop(tx);
        let sink = match writer.join() {
            Ok(result) => result?,
            Err(_) => return Err(Error::internal("the writer thread panicked")),
        };
        let pass = pass?;
        let rows = sink.finish()?;
        Ok((pass, rows))
    })
}

/// One pass of per-column statistics over the features (missing cells skipped and
/// counted): the mean-imputation pass, the incremental solver's scaling pass, `scan`.
pub fn column_pass(
    dataset: &Dataset,
    spec: &ReadSpec,
    label: &str,
    quiet: bool,
) -> Result<(Vec<ColumnStats>, PassStats)> {
    let p = spec.features.len();
    let mut acc = ColumnsAccumulator::new(p);
    let mut non_numeric = vec![0u64; p];
    let stats = stream(dataset, spec, label, quiet, |chunk| {
        for (j, bad) in chunk.non_numeric.iter().enumerate() {
            non_numeric[j] += bad;
        }
        acc.push(chunk.features.as_ref());
        Ok(())
    })?;
    let mut columns = acc.finish();
    // Non-numeric cells were read as NaN: count them apart from the missing ones.
    for (c, bad) in columns.iter_mut().zip(non_numeric) {
        c.non_numeric = bad;
        c.missing -= bad;
    }
    Ok((columns, stats))
}
