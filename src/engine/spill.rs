//! A fit that reads its data more than once (the randomized solver's power iterations)
//! pays for decoding the input on every pass: at 10,000 float32 columns that is most of
//! a pass. The first pass can instead keep each chunk it fitted in a local file, and the
//! later passes read that file, which the kernel serves from its page cache at memory
//! speed when it fits there and from disk when it does not. The process holds only the
//! chunks in flight either way, so memory stays bounded by the chunk size.
//!
//! Each chunk is a record: a 16-byte header (rows, columns, bytes per value, rows read)
//! and the values column by column, as f32 when every value of the chunk is exactly an
//! f32 (float32 input columns, the usual wide case) and as f64 otherwise, so the later
//! passes see the first pass's numbers bit for bit. The file is native-endian and lives
//! only as long as the fit, under a temporary name that an interruption removes.
//!
//! Keeping the file is an optimisation, never a requirement: when it cannot be created
//! or written (a full disk), the fit goes on and its later passes decode the input again.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, bounded};
use faer::MatRef;

use super::PassStats;
use crate::chunk::Rows;
use crate::error::{Error, Result};
use crate::progress::{Progress, Total};
use crate::sink::{register, unregister};

const HEADER: usize = 16;
/// Chunks read ahead of the fitter.
const AHEAD: usize = 2;

/// The file being written by a fit's first pass. The fitter only lays each chunk out as a
/// record; a thread of its own writes the records, so a disk slower than the decoder holds
/// up the pass by what it cannot absorb, not by every write (three records alive at most,
/// their buffers travelling back to be filled again).
pub struct SpillWriter {
    file: SpillFile,
    records: Option<Sender<Record>>,
    back: Receiver<Record>,
    writer: Option<JoinHandle<std::io::Result<u64>>>,
    rows: u64,
    rows_read: u64,
}

/// One chunk laid out for the file: f32 values when all are exact, else f64.
#[derive(Default)]
struct Record {
    rows: usize,
    cols: usize,
    exact: bool,
    narrow: Vec<f32>,
    wide: Vec<f64>,
}

/// A complete spill file; dropping it removes the file.
pub struct Spill {
    file: SpillFile,
    /// Rows in the file, and the input rows read to make them (with dropped rows).
    pub rows: u64,
    pub rows_read: u64,
    pub bytes: u64,
}

struct SpillFile(PathBuf);

impl Drop for SpillFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        unregister(&self.0);
    }
}

impl SpillWriter {
    /// A new spill file in `dir`, or why not.
    pub fn create(dir: &Path) -> std::result::Result<SpillWriter, String> {
        let path = dir.join(format!(".dimred-spill.tmp-{}", std::process::id()));
        register(&path);
        let file = SpillFile(path);
        let out = File::create(&file.0).map_err(|e| format!("{}: {e}", file.0.display()))?;
        // records alive: the one being laid out, one queued, the one being written
        // (`budget::SPILL_CHUNKS`)
        let (records, inbox) = bounded::<Record>(1);
        let (give_back, back) = bounded::<Record>(2);
        let writer = std::thread::Builder::new()
            .name("dimred-spill".into())
            .spawn(move || {
                write_records(BufWriter::with_capacity(1 << 20, out), &inbox, &give_back)
            })
            .map_err(|e| format!("spill writer thread: {e}"))?;
        Ok(SpillWriter {
            file,
            records: Some(records),
            back,
            writer: Some(writer),
            rows: 0,
            rows_read: 0,
        })
    }

    /// Appends a chunk of the fit's input; `rows_read` is the input rows it came from.
    /// A failed write ends the spill (see `finish`), not the fit.
    pub fn push(&mut self, x: MatRef<'_, f64>, rows_read: usize) {
        let Some(records) = &self.records else {
            return;
        };
        let mut record = self.back.try_recv().unwrap_or_default();
        record.fill(x);
        if records.send(record).is_err() {
            // the writer stopped on an error, which `finish` reports; free the disk at once
            self.records = None;
            let _ = std::fs::remove_file(&self.file.0);
            return;
        }
        self.rows += x.nrows() as u64;
        self.rows_read += rows_read as u64;
    }

    /// The complete file, or why there is none.
    pub fn finish(mut self) -> std::result::Result<Spill, String> {
        drop(self.records.take());
        let written = self
            .writer
            .take()
            .map(|w| w.join())
            .ok_or("no writer")?
            .map_err(|_| "the spill writer thread panicked".to_string())?
            .map_err(|e| format!("{}: {e}", self.file.0.display()))?;
        Ok(Spill {
            file: std::mem::replace(&mut self.file, SpillFile(PathBuf::new())),
            rows: self.rows,
            rows_read: self.rows_read,
            bytes: written,
        })
    }
}

impl Drop for SpillWriter {
    fn drop(&mut self) {
        // an abandoned spill (the pass failed): stop the writer before the file goes
        drop(self.records.take());
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl Record {
    fn fill(&mut self, x: MatRef<'_, f64>) {
        let (n, p) = (x.nrows(), x.ncols());
        (self.rows, self.cols) = (n, p);
        self.narrow.clear();
        self.narrow.reserve(n * p);
        let mut exact = true;
        for j in 0..p {
            column(x, j, |v| {
                let f = v as f32;
                exact &= f as f64 == v;
                self.narrow.push(f);
            });
            if !exact {
                break;
            }
        }
        self.exact = exact;
        self.wide.clear();
        if !exact {
            self.wide.reserve(n * p);
            for j in 0..p {
                column(x, j, |v| self.wide.push(v));
            }
        }
    }
}

/// The writer thread: each record as a header and its values; the bytes written.
fn write_records(
    mut out: BufWriter<File>,
    inbox: &Receiver<Record>,
    give_back: &Sender<Record>,
) -> std::io::Result<u64> {
    let mut bytes = 0u64;
    for record in inbox.iter() {
        let width: u32 = if record.exact { 4 } else { 8 };
        let mut header = [0u8; HEADER];
        header[0..4].copy_from_slice(&(record.rows as u32).to_ne_bytes());
        header[4..8].copy_from_slice(&(record.cols as u32).to_ne_bytes());
        header[8..12].copy_from_slice(&width.to_ne_bytes());
        out.write_all(&header)?;
        if record.exact {
            out.write_all(as_bytes(&record.narrow))?;
        } else {
            out.write_all(as_bytes(&record.wide))?;
        }
        bytes += (HEADER + record.rows * record.cols * width as usize) as u64;
        let _ = give_back.try_send(record);
    }
    out.flush()?;
    Ok(bytes)
}

/// Each value of column `j`, top to bottom (a slice walk when the column is contiguous,
/// as the readers' chunks are).
fn column(x: MatRef<'_, f64>, j: usize, mut each: impl FnMut(f64)) {
    match x.col(j).try_as_col_major() {
        Some(col) => col.as_slice().iter().for_each(|&v| each(v)),
        None => (0..x.nrows()).for_each(|i| each(x[(i, j)])),
    }
}

fn as_bytes<T: Copy>(values: &[T]) -> &[u8] {
    // SAFETY: f32 and f64 have no padding and every byte pattern of them is a valid u8.
    unsafe {
        std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
    }
}

fn as_bytes_mut<T: Copy>(values: &mut [T]) -> &mut [u8] {
    // SAFETY: as above, and every byte pattern is a valid f32 or f64.
    unsafe {
        std::slice::from_raw_parts_mut(
            values.as_mut_ptr().cast::<u8>(),
            std::mem::size_of_val(values),
        )
    }
}

/// One chunk read back: column-major values, rows × columns, in `values` or (an f32
/// record handed on as it is) in `narrow`.
#[derive(Default)]
struct Block {
    values: Vec<f64>,
    narrow: Vec<f32>,
    is_narrow: bool,
    rows: usize,
    cols: usize,
}

/// A pass over the spill file: a reader thread fills blocks ahead of `consume` through a
/// bounded channel, and the blocks travel back to be filled again. With `narrow`, f32
/// records come as f32 rows (`Rows::F32`) instead of widened to f64: half the bytes for a
/// consumer that multiplies in f32 anyway.
pub fn stream(
    spill: &Spill,
    label: &str,
    quiet: bool,
    narrow: bool,
    mut consume: impl FnMut(Rows<'_>) -> Result<()>,
) -> Result<PassStats> {
    let started = Instant::now();
    let progress = Progress::new(label, Total::Rows(spill.rows), quiet);
    let (tx, rx) = bounded::<Result<Block>>(AHEAD);
    let (back_tx, back_rx) = bounded::<Block>(AHEAD + 2);
    let path = &spill.file.0;
    let result = std::thread::scope(|s| {
        let progress = &progress;
        let reader = s.spawn(move || {
            if let Err(e) = read_blocks(path, progress, narrow, &back_rx, &tx) {
                let _ = tx.send(Err(e));
            }
        });
        super::drain(rx, reader, "spill reader", |block| {
            consume(if block.is_narrow {
                Rows::F32(MatRef::from_column_major_slice(
                    &block.narrow,
                    block.rows,
                    block.cols,
                ))
            } else {
                Rows::F64(MatRef::from_column_major_slice(
                    &block.values,
                    block.rows,
                    block.cols,
                ))
            })?;
            let _ = back_tx.try_send(block);
            Ok(())
        })
    });
    progress.finish();
    result?;
    Ok(PassStats {
        rows_read: spill.rows_read,
        rows_kept: spill.rows,
        seconds: started.elapsed().as_secs_f64(),
        filtered: Vec::new(),
    })
}

fn read_blocks(
    path: &Path,
    progress: &Progress,
    narrow_wanted: bool,
    back: &crossbeam_channel::Receiver<Block>,
    tx: &crossbeam_channel::Sender<Result<Block>>,
) -> Result<()> {
    let lost = |e: std::io::Error| Error::io("read the fit's local copy", path, e);
    let mut input = BufReader::with_capacity(1 << 20, File::open(path).map_err(lost)?);
    let mut narrow: Vec<f32> = Vec::new();
    loop {
        let mut header = [0u8; HEADER];
        match input.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(lost(e)),
        }
        let word = |k: usize| u32::from_ne_bytes(header[k..k + 4].try_into().unwrap()) as usize;
        let (rows, cols, width) = (word(0), word(4), word(8));
        let mut block = back.try_recv().unwrap_or_default();
        (block.rows, block.cols) = (rows, cols);
        block.is_narrow = width == 4 && narrow_wanted;
        if block.is_narrow {
            // the f32 values as they are: the f64 buffer of a recycled block is freed
            block.values = Vec::new();
            block.narrow.resize(rows * cols, 0.0);
            input
                .read_exact(as_bytes_mut(&mut block.narrow))
                .map_err(lost)?;
        } else if width == 4 {
            block.values.resize(rows * cols, 0.0);
            narrow.resize(rows * cols, 0.0);
            input.read_exact(as_bytes_mut(&mut narrow)).map_err(lost)?;
            for (w, &v) in block.values.iter_mut().zip(&narrow) {
                *w = v as f64;
            }
        } else {
            block.values.resize(rows * cols, 0.0);
            input
                .read_exact(as_bytes_mut(&mut block.values))
                .map_err(lost)?;
        }
        progress.advance(rows as u64, 0);
        if tx.send(Ok(block)).is_err() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    #[test]
    fn chunks_come_back_bit_for_bit_in_order() {
        let dir = std::env::temp_dir().join(format!("dimred-spill-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // f32-exact, then not, then f32-exact again: both record kinds in one file
        let chunks = [
            Mat::<f64>::from_fn(5, 3, |i, j| (i * 3 + j) as f64 * 0.25),
            Mat::<f64>::from_fn(4, 3, |i, j| 0.1 * (i + j) as f64 + 1e-12),
            Mat::<f64>::from_fn(1, 3, |_, j| j as f32 as f64 / 3.0f32 as f64),
        ];
        let mut w = SpillWriter::create(&dir).unwrap();
        for (k, c) in chunks.iter().enumerate() {
            w.push(c.as_ref(), c.nrows() + k);
        }
        let spill = w.finish().unwrap();
        assert_eq!((spill.rows, spill.rows_read), (10, 13));
        let path = spill.file.0.clone();
        // twice widened, then with the f32 records as they are
        for narrow in [false, false, true] {
            let mut seen = Vec::new();
            let stats = stream(&spill, "test", true, narrow, |x| {
                seen.push(match x {
                    Rows::F64(x) => (false, x.to_owned()),
                    Rows::F32(x) => (
                        true,
                        Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] as f64),
                    ),
                });
                Ok(())
            })
            .unwrap();
            assert_eq!((stats.rows_read, stats.rows_kept), (13, 10));
            assert_eq!(seen.len(), 3);
            for (k, ((was_narrow, a), b)) in seen.iter().zip(&chunks).enumerate() {
                assert_eq!(a, b);
                let exact = b
                    .col_iter()
                    .all(|c| c.iter().all(|&v| f64::from(v as f32) == v));
                assert_eq!(*was_narrow, narrow && exact, "chunk {k}");
            }
        }
        drop(spill);
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unwritable_folder_is_no_spill_not_an_error() {
        let missing = std::env::temp_dir().join("dimred-no-such-folder/below");
        assert!(SpillWriter::create(&missing).is_err());
    }
}
