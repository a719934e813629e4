//! Per-column statistics (count, missing, mean, spread, range) over a stream, for
//! `dimred scan`, the scalers and mean imputation: one pass, no co-moment.

use faer::MatRef;

use super::saved::SavedColumn;
use crate::blocks::Blocks;

/// Per-column statistics over a stream, rows cut into fixed blocks (as for the moments),
/// so the result does not depend on the chunk size, bit for bit.
pub struct ColumnsAccumulator {
    blocks: Blocks,
    columns: Vec<ColumnStats>,
}

impl ColumnsAccumulator {
    pub fn new(p: usize) -> ColumnsAccumulator {
        ColumnsAccumulator {
            blocks: Blocks::new(crate::blocks::block_rows(p), p),
            columns: vec![ColumnStats::new(); p],
        }
    }

    pub fn push(&mut self, x: MatRef<'_, f64>) {
        let columns = &mut self.columns;
        self.blocks.push(x, |block| absorb(columns, block));
    }

    /// The statistics of every row pushed so far, without ending the accumulation.
    pub fn snapshot(&self) -> Vec<ColumnStats> {
        let mut columns = self.columns.clone();
        absorb(&mut columns, self.blocks.rest());
        columns
    }

    /// Adds another shard's statistics.
    pub fn merge(&mut self, other: &[ColumnStats]) {
        for (c, o) in self.columns.iter_mut().zip(other) {
            c.merge(o);
        }
    }

    pub fn finish(mut self) -> Vec<ColumnStats> {
        absorb(&mut self.columns, self.blocks.take_rest());
        self.columns
    }

    pub fn size_bytes(&self) -> usize {
        self.blocks.size_bytes() + self.columns.len() * std::mem::size_of::<ColumnStats>()
    }
}

/// Lanes of the sums below: independent accumulators the compiler keeps in one vector
/// register, instead of one sum whose every addition waits for the previous one.
const LANES: usize = 8;

/// A block column's statistics when every value is finite (the usual case), summed in
/// lanes; None when a value is missing, NaN or infinite, which the caller then counts.
fn finite_stats(values: &[f64]) -> Option<ColumnStats> {
    if values.is_empty() {
        return None;
    }
    let (mut sum, mut lo, mut hi) = (
        [0.0; LANES],
        [f64::INFINITY; LANES],
        [f64::NEG_INFINITY; LANES],
    );
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            sum[k] += c[k];
            lo[k] = lo[k].min(c[k]);
            hi[k] = hi[k].max(c[k]);
        }
    }
    for (k, &v) in rest.iter().enumerate() {
        sum[k] += v;
        lo[k] = lo[k].min(v);
        hi[k] = hi[k].max(v);
    }
    let total: f64 = sum.iter().sum();
    let (lo, hi) = (
        lo.iter().copied().fold(f64::INFINITY, f64::min),
        hi.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    // a NaN makes the sum NaN (min and max skip it); an infinity shows in min or max
    if !(total.is_finite() && lo.is_finite() && hi.is_finite()) {
        return None;
    }
    let mean = total / values.len() as f64;
    let mut m2 = [0.0; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            m2[k] += (c[k] - mean) * (c[k] - mean);
        }
    }
    for (k, &v) in rest.iter().enumerate() {
        m2[k] += (v - mean) * (v - mean);
    }
    Some(ColumnStats {
        count: values.len() as u64,
        missing: 0,
        non_numeric: 0,
        mean,
        m2: m2.iter().sum(),
        min: lo,
        max: hi,
    })
}

fn absorb(columns: &mut [ColumnStats], block: MatRef<'_, f64>) {
    for (j, c) in columns.iter_mut().enumerate() {
        c.update(
            block
                .col(j)
                .try_as_col_major()
                .expect("block columns are contiguous")
                .as_slice(),
        );
    }
}

/// Per-column summary for `dimred scan` and the mean-imputation pass: NaN cells are
/// counted as missing and left out of the moments.
#[derive(Debug, Clone, Default)]
pub struct ColumnStats {
    pub count: u64,
    pub missing: u64,
    pub non_numeric: u64,
    pub mean: f64,
    /// Σ (x - mean)²
    pub m2: f64,
    pub min: f64,
    pub max: f64,
}

impl ColumnStats {
    pub fn new() -> ColumnStats {
        ColumnStats {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            ..Default::default()
        }
    }

    pub fn update(&mut self, values: &[f64]) {
        if let Some(other) = finite_stats(values) {
            self.merge(&other);
            return;
        }
        let (mut n, mut sum, mut lo, mut hi) = (0u64, 0.0, f64::INFINITY, f64::NEG_INFINITY);
        for &v in values {
            if v.is_finite() {
                n += 1;
                sum += v;
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        self.missing += values.len() as u64 - n;
        if n == 0 {
            return;
        }
        let mean = sum / n as f64;
        let m2: f64 = values
            .iter()
            .filter(|v| v.is_finite())
            .map(|v| (v - mean) * (v - mean))
            .sum();
        let other = ColumnStats {
            count: n,
            missing: 0,
            non_numeric: 0,
            mean,
            m2,
            min: lo,
            max: hi,
        };
        self.merge(&other);
    }

    pub fn merge(&mut self, other: &ColumnStats) {
        self.missing += other.missing;
        self.non_numeric += other.non_numeric;
        if other.count == 0 {
            return;
        }
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        let delta = other.mean - self.mean;
        self.mean += delta * nb / n;
        self.m2 += other.m2 + delta * delta * na * nb / n;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The state as saved in a partial state (an empty column's ±∞ bounds as null).
    pub fn save(&self) -> SavedColumn {
        let finite = |v: f64| v.is_finite().then_some(v);
        SavedColumn {
            count: self.count,
            missing: self.missing,
            non_numeric: self.non_numeric,
            mean: self.mean,
            m2: self.m2,
            min: finite(self.min),
            max: finite(self.max),
        }
    }

    pub fn load(saved: &SavedColumn) -> ColumnStats {
        ColumnStats {
            count: saved.count,
            missing: saved.missing,
            non_numeric: saved.non_numeric,
            mean: saved.mean,
            m2: saved.m2,
            min: saved.min.unwrap_or(f64::INFINITY),
            max: saved.max.unwrap_or(f64::NEG_INFINITY),
        }
    }

    /// Sample standard deviation (n − 1), as pandas' describe().
    pub fn std(&self) -> f64 {
        if self.count < 2 {
            0.0
        } else {
            (self.m2 / (self.count - 1) as f64).sqrt()
        }
    }
}
