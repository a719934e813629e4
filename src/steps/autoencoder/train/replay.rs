//! Epochs from memory. Reading an epoch (decoding Parquet or CSV, laying the rows out)
//! runs on the cores training uses, one epoch ahead: on the benchmark it cost each epoch
//! but the last about a fifth of its speed. When the shuffle buffer is large enough to
//! hold every row of the input and the memory limit leaves room for a second copy, the
//! training rows of the first epoch read are kept, as the network's f32 input with their
//! row indices, and the later epochs are fed from them.
//!
//! A kept epoch is fed in the order a read of that epoch would give
//! (`Dataset::read_order`: its seeded row-group order, a group's rows in ascending index
//! order), and rows dropped for missing values, filtered out or held out for validation
//! are absent from both. So the shuffle buffer sees the same rows in the same order, and
//! training is bit for bit what it is when every epoch reads the input.

use std::ops::Range;

use crate::engine::PassStats;
use crate::engine::budget::Budget;

/// Bytes a kept row costs beside its values: its row index and position.
const INDEX_BYTES: u64 = 16;

/// Storage for the training rows of an epoch's read, or None when every epoch reads the
/// input: the input has more `rows` than the shuffle buffer holds (a CSV input, whose
/// rows are not known before reading, is kept until it has more), or the copy does not
/// fit under the memory limit beside what training holds with its chunks of `chunk_rows`.
pub(super) fn kept_for(
    rows: Option<u64>,
    shuffle_buffer: usize,
    width: usize,
    chunk_rows: usize,
    memory: Option<&Budget>,
) -> Option<Kept> {
    let known = rows.is_some();
    let rows = match rows {
        Some(n) if n > shuffle_buffer as u64 => return None,
        Some(n) => n as usize,
        None => shuffle_buffer,
    };
    let copy = (rows as u64).saturating_mul(width as u64 * 4 + INDEX_BYTES);
    if let Some(budget) = memory
        && training_bytes(budget, chunk_rows).saturating_add(copy) > budget.limit_bytes
    {
        return None;
    }
    let mut kept = Kept {
        width,
        limit: rows,
        values: Vec::new(),
        index: Vec::new(),
        stats: PassStats::default(),
        validation_rows: 0,
    };
    if known {
        // the size is known: one allocation (a CSV input's grows as it is read); none at
        // all is no error, only a reason to read every epoch
        let values = rows.checked_mul(width)?;
        kept.values.try_reserve_exact(values).ok()?;
        kept.index.try_reserve_exact(rows).ok()?;
    }
    Some(kept)
}

/// What the memory model counts while training reads: the estimate at training's
/// chunks of `chunk_rows`, not at the run's, which its other passes use and which a
/// written `memory_limit` sizes to fill the limit.
fn training_bytes(budget: &Budget, chunk_rows: usize) -> u64 {
    let row_bytes = budget.chunk_bytes / budget.batch_rows.max(1) as u64;
    let rows = budget.batch_rows.min(chunk_rows) as u64;
    budget
        .process_bytes
        .saturating_add(budget.reader_bytes)
        .saturating_add(budget.state_bytes)
        .saturating_add(budget.chunks.saturating_mul(rows).saturating_mul(row_bytes))
}

/// The training rows of one epoch's read, for the epochs after it.
pub(super) struct Kept {
    width: usize,
    limit: usize,
    /// The rows as they were read, row after row.
    values: Vec<f32>,
    /// Each row's index in the dataset and its position in `values`; sorted by index
    /// once the epoch is read.
    index: Vec<(u64, usize)>,
    /// The read's statistics and held-out rows, which a replayed epoch reports as its own.
    pub stats: PassStats,
    pub validation_rows: u64,
}

impl Kept {
    /// Keeps row `row` of the dataset; false when it is one more than the limit (the
    /// caller then drops the kept rows and reads every epoch).
    pub fn keep(&mut self, row: u64, values: &[f32]) -> bool {
        if self.index.len() == self.limit {
            return false;
        }
        self.index.push((row, self.index.len()));
        self.values.extend_from_slice(values);
        true
    }

    /// Called once the epoch has been read: orders the rows by their index.
    pub fn seal(&mut self, stats: PassStats, validation_rows: u64) {
        self.index.sort_unstable_by_key(|&(row, _)| row);
        self.stats = stats;
        self.validation_rows = validation_rows;
    }

    /// The kept rows whose index lies in `range`, in ascending index order.
    pub fn rows_in(&self, range: Range<u64>) -> impl Iterator<Item = &[f32]> {
        let from = self.index.partition_point(|&(row, _)| row < range.start);
        let to = self.index.partition_point(|&(row, _)| row < range.end);
        let w = self.width;
        self.index[from..to]
            .iter()
            .map(move |&(_, at)| &self.values[at * w..(at + 1) * w])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(width: usize, limit: usize) -> Kept {
        Kept {
            width,
            limit,
            values: Vec::new(),
            index: Vec::new(),
            stats: PassStats::default(),
            validation_rows: 0,
        }
    }

    #[test]
    fn kept_rows_come_back_by_range_in_ascending_order() {
        let mut kept = kept(2, 5);
        // read in the order of shuffled groups [4, 6), [0, 3) with row 1 dropped
        for row in [4u64, 5, 0, 2] {
            assert!(kept.keep(row, &[row as f32, -(row as f32)]));
        }
        kept.seal(PassStats::default(), 0);
        let rows = |r: Range<u64>| kept.rows_in(r).map(|v| v[0]).collect::<Vec<_>>();
        assert_eq!(rows(4..6), vec![4.0, 5.0]);
        assert_eq!(rows(0..3), vec![0.0, 2.0]);
        assert_eq!(rows(0..u64::MAX), vec![0.0, 2.0, 4.0, 5.0]);
        assert_eq!(kept.rows_in(2..3).next(), Some(&[2.0f32, -2.0][..]));
    }

    #[test]
    fn a_row_past_the_limit_is_refused() {
        let mut kept = kept(1, 2);
        assert!(kept.keep(0, &[0.0]));
        assert!(kept.keep(1, &[1.0]));
        assert!(!kept.keep(2, &[2.0]));
    }
}
