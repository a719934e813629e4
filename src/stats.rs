//! Mergeable moments: the heart of streaming and sharding. A block of rows becomes
//! (n, mean, centered co-moment); two such summaries merge exactly with the pairwise
//! update of Chan, Golub & LeVeque (1979), so a fit never sums raw x² (stable with a mean
//! of 1e9 and a std of 1) and a shard's statistics combine with another's.
//!
//! `MomentsAccumulator` cuts the incoming rows into fixed blocks whatever the chunk size
//! the reader used, so the result is bit-for-bit the same for any `batch_rows`.

use faer::linalg::matmul::triangular::{BlockStructure, matmul as tri_matmul};
use faer::{Accum, Mat, MatRef, Par};

use crate::blocks::Blocks;
use std::cell::RefCell;

use serde::{Deserialize, Serialize};

/// Rows per block in the co-moment accumulation: large enough for an efficient
/// matrix product, small enough that the block costs little memory (BLOCK × p × 8 bytes).
pub const BLOCK_ROWS: usize = 4096;

#[derive(Debug, Clone)]
pub struct Moments {
    pub n: u64,
    pub mean: Vec<f64>,
    /// Σ (x - mean)(x - mean)ᵀ. Only the lower triangle is kept up to date;
    /// `covariance()` returns the full symmetric matrix.
    pub co_moment: Mat<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
}

impl Moments {
    pub fn empty(p: usize) -> Moments {
        Moments {
            n: 0,
            mean: vec![0.0; p],
            co_moment: Mat::zeros(p, p),
            min: vec![f64::INFINITY; p],
            max: vec![f64::NEG_INFINITY; p],
        }
    }

    pub fn nfeatures(&self) -> usize {
        self.mean.len()
    }

    /// Moments of one block, centered at the block's own mean (two-pass mean for
    /// accuracy with large offsets).
    pub fn of_block(x: MatRef<'_, f64>) -> Moments {
        let mut scratch = Mat::zeros(0, 0);
        Moments::of_block_with(x, &mut scratch)
    }

    /// As `of_block`, centering into `scratch` (resized as needed) so a stream of blocks
    /// allocates nothing.
    pub fn of_block_with(x: MatRef<'_, f64>, scratch: &mut Mat<f64>) -> Moments {
        let (n, p) = (x.nrows(), x.ncols());
        let mut m = Moments::empty(p);
        if n == 0 {
            return m;
        }
        m.n = n as u64;
        if scratch.nrows() != n || scratch.ncols() != p {
            *scratch = Mat::zeros(n, p);
        }
        for j in 0..p {
            let col = x.col(j);
            let col = col.try_as_col_major().map(|c| c.as_slice());
            let owned: Vec<f64>;
            let col: &[f64] = match col {
                Some(c) => c,
                None => {
                    owned = x.col(j).iter().copied().collect();
                    &owned
                }
            };
            let (mut lo, mut hi, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
            for &v in col {
                sum += v;
                lo = if v < lo { v } else { lo };
                hi = if v > hi { v } else { hi };
            }
            let rough = sum / n as f64;
            let out = scratch
                .col_mut(j)
                .try_as_col_major_mut()
                .expect("owned column is contiguous")
                .as_slice_mut();
            let mut correction = 0.0;
            for (o, &v) in out.iter_mut().zip(col) {
                *o = v - rough;
                correction += *o;
            }
            let correction = correction / n as f64;
            for o in out.iter_mut() {
                *o -= correction;
            }
            m.mean[j] = rough + correction;
            m.min[j] = lo;
            m.max[j] = hi;
        }
        tri_matmul(
            m.co_moment.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            scratch.transpose(),
            BlockStructure::Rectangular,
            scratch.as_ref(),
            BlockStructure::Rectangular,
            1.0,
            co_moment_par(n, p),
        );
        m
    }

    /// Chan et al.'s pairwise merge: exact in exact arithmetic, and order only changes
    /// rounding.
    pub fn merge(&mut self, other: &Moments) {
        assert_eq!(
            self.nfeatures(),
            other.nfeatures(),
            "merging moments of different widths"
        );
        if other.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = other.clone();
            return;
        }
        let p = self.nfeatures();
        let (na, nb) = (self.n as f64, other.n as f64);
        let n = na + nb;
        let delta: Vec<f64> = (0..p).map(|j| other.mean[j] - self.mean[j]).collect();
        let f = na * nb / n;
        for j in 0..p {
            let fdj = f * delta[j];
            let mut dst = self.co_moment.col_mut(j);
            let src = other.co_moment.col(j);
            for i in j..p {
                dst[i] = dst[i] + src[i] + delta[i] * fdj;
            }
        }
        for (j, d) in delta.iter().enumerate() {
            self.mean[j] += d * nb / n;
            self.min[j] = self.min[j].min(other.min[j]);
            self.max[j] = self.max[j].max(other.max[j]);
        }
        self.n += other.n;
    }

    /// Sample covariance (divides by n − 1, as scikit-learn's PCA), full symmetric.
    pub fn covariance(&self) -> Mat<f64> {
        let p = self.nfeatures();
        let denom = (self.n.max(2) - 1) as f64;
        Mat::from_fn(p, p, |i, j| {
            let (a, b) = if i >= j { (i, j) } else { (j, i) };
            self.co_moment[(a, b)] / denom
        })
    }

    /// Per-feature variance with `ddof` (0 = population, as StandardScaler).
    pub fn variance(&self, ddof: u64) -> Vec<f64> {
        let denom = self.n.saturating_sub(ddof).max(1) as f64;
        (0..self.nfeatures())
            .map(|j| self.co_moment[(j, j)] / denom)
            .collect()
    }
}

/// The co-moment product's threads: all of the pool's once a block's product is large
/// enough to pay for them (a 4,096-row block of 2,000 columns is 8 G multiply-adds, the
/// whole of a kernel PCA's fit pass), one below that. faer splits the output among the
/// threads, never a sum, so the bits do not depend on the thread count.
fn co_moment_par(n: usize, p: usize) -> Par {
    if (n as u64) * (p as u64) * (p as u64) >= 1 << 27 {
        Par::rayon(0)
    } else {
        Par::Seq
    }
}

/// Re-blocks a stream of chunks into `BLOCK_ROWS`-row blocks and merges their moments in
/// order, so the result does not depend on how the reader chunked the rows.
pub struct MomentsAccumulator {
    blocks: Blocks,
    scratch: Mat<f64>,
    total: Moments,
}

impl MomentsAccumulator {
    pub fn new(p: usize) -> MomentsAccumulator {
        MomentsAccumulator {
            blocks: Blocks::new(BLOCK_ROWS, p),
            scratch: Mat::zeros(BLOCK_ROWS, p),
            total: Moments::empty(p),
        }
    }

    pub fn push(&mut self, x: MatRef<'_, f64>) {
        let (scratch, total) = (&mut self.scratch, &mut self.total);
        self.blocks.push(x, |block| {
            total.merge(&Moments::of_block_with(block, scratch))
        });
    }

    /// The moments of every row pushed so far, the partial block included, without
    /// ending the accumulation (a shard's state to save).
    pub fn snapshot(&self) -> Moments {
        let mut total = self.total.clone();
        let rest = self.blocks.rest();
        if rest.nrows() > 0 {
            total.merge(&Moments::of_block(rest));
        }
        total
    }

    /// Adds another shard's moments.
    pub fn merge(&mut self, other: &Moments) {
        self.total.merge(other);
    }

    pub fn size_bytes(&self) -> usize {
        let p = self.total.nfeatures();
        self.blocks.size_bytes() + (self.scratch.nrows() * p + p * p + 3 * p) * 8
    }

    pub fn finish(mut self) -> Moments {
        let rest = self.blocks.take_rest();
        if rest.nrows() > 0 {
            let m = Moments::of_block_with(rest, &mut self.scratch);
            self.total.merge(&m);
        }
        self.total
    }
}

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

// Large arrays in saved states (`steps::state` writes them as binary).

thread_local! {
    /// While a state is saved: the arrays lifted so far. While one is loaded: the arrays
    /// its references point at. A side table rather than a field of `Floats` because
    /// the states are plain serde types built and read by each step kind.
    static LIFTED: RefCell<Option<Vec<Vec<f64>>>> = const { RefCell::new(None) };
}

/// Runs `f` with `table` as the lifted arrays (`steps::state`: a state saved or loaded);
/// returns what `f` gave and the table after.
pub fn with_table<T>(table: Vec<Vec<f64>>, f: impl FnOnce() -> T) -> (T, Vec<Vec<f64>>) {
    let before = LIFTED.with(|t| t.replace(Some(table)));
    let out = f();
    let table = LIFTED.with(|t| t.replace(before)).unwrap_or_default();
    (out, table)
}

/// A large array of a state, written as binary (see the module's note).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Floats(pub Vec<f64>);

impl std::ops::Deref for Floats {
    type Target = Vec<f64>;
    fn deref(&self) -> &Vec<f64> {
        &self.0
    }
}

impl From<Vec<f64>> for Floats {
    fn from(v: Vec<f64>) -> Floats {
        Floats(v)
    }
}

impl Serialize for Floats {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let lifted = LIFTED.with(|t| {
            t.borrow_mut().as_mut().map(|table| {
                table.push(self.0.clone());
                table.len() - 1
            })
        });
        match lifted {
            Some(i) => {
                use serde::ser::SerializeMap;
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("npz", &format!("a{i}"))?;
                map.end()
            }
            None => self.0.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Floats {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Floats, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Floats;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of numbers or a reference {\"npz\": \"aI\"}")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Floats, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(x) = seq.next_element::<f64>()? {
                    v.push(x);
                }
                Ok(Floats(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Floats, A::Error> {
                use serde::de::Error as _;
                let (key, name): (String, String) = map
                    .next_entry()?
                    .ok_or_else(|| A::Error::custom("an empty reference"))?;
                let index = (key == "npz")
                    .then(|| name.strip_prefix('a')?.parse::<usize>().ok())
                    .flatten()
                    .ok_or_else(|| {
                        A::Error::custom(format!("a bad array reference {key}: {name}"))
                    })?;
                LIFTED
                    .with(|t| {
                        t.borrow_mut()
                            .as_mut()
                            .and_then(|table| table.get_mut(index).map(std::mem::take))
                    })
                    .map(Floats)
                    .ok_or_else(|| A::Error::custom(format!("array {name} is not in the file")))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// `ColumnStats` in a partial state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedColumn {
    pub count: u64,
    pub missing: u64,
    pub non_numeric: u64,
    pub mean: f64,
    pub m2: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// `Moments` in a partial state: the lower triangle of the co-moment, row after row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedMoments {
    pub n: u64,
    pub mean: Floats,
    pub co_moment_lower: Floats,
    pub min: Vec<Option<f64>>,
    pub max: Vec<Option<f64>>,
}

impl Moments {
    pub fn save(&self) -> SavedMoments {
        let p = self.nfeatures();
        let finite = |v: &f64| v.is_finite().then_some(*v);
        SavedMoments {
            n: self.n,
            mean: Floats(self.mean.clone()),
            co_moment_lower: Floats(
                (0..p)
                    .flat_map(|i| (0..=i).map(move |j| (i, j)))
                    .map(|(i, j)| self.co_moment[(i, j)])
                    .collect(),
            ),
            min: self.min.iter().map(finite).collect(),
            max: self.max.iter().map(finite).collect(),
        }
    }

    pub fn load(saved: &SavedMoments) -> Option<Moments> {
        let p = saved.mean.len();
        if saved.co_moment_lower.len() != p * (p + 1) / 2
            || saved.min.len() != p
            || saved.max.len() != p
        {
            return None;
        }
        let mut m = Moments::empty(p);
        m.n = saved.n;
        m.mean = saved.mean.0.clone();
        let mut values = saved.co_moment_lower.iter();
        for i in 0..p {
            for j in 0..=i {
                m.co_moment[(i, j)] = *values.next()?;
            }
        }
        m.min = saved
            .min
            .iter()
            .map(|v| v.unwrap_or(f64::INFINITY))
            .collect();
        m.max = saved
            .max
            .iter()
            .map(|v| v.unwrap_or(f64::NEG_INFINITY))
            .collect();
        Some(m)
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_large_block_s_co_moment_has_the_same_bits_on_any_number_of_threads() {
        let (n, p) = (4096, 200);
        assert!(matches!(co_moment_par(n, p), Par::Rayon(_)));
        let x = Mat::from_fn(n, p, |i, j| {
            ((i * 7919 + j * 104_729) % 1_000) as f64 / 37.0
        });
        let parallel = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap()
            .install(|| Moments::of_block(x.as_ref()));
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| Moments::of_block(x.as_ref()));
        for j in 0..p {
            for i in j..p {
                assert_eq!(
                    parallel.co_moment[(i, j)].to_bits(),
                    one.co_moment[(i, j)].to_bits(),
                    "({i}, {j})"
                );
            }
        }
    }

    fn naive_cov(rows: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
        let n = rows.len() as f64;
        let p = rows[0].len();
        let mean: Vec<f64> = (0..p)
            .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n)
            .collect();
        let cov = (0..p)
            .map(|a| {
                (0..p)
                    .map(|b| {
                        rows.iter()
                            .map(|r| (r[a] - mean[a]) * (r[b] - mean[b]))
                            .sum::<f64>()
                            / (n - 1.0)
                    })
                    .collect()
            })
            .collect();
        (mean, cov)
    }

    fn to_mat(rows: &[Vec<f64>]) -> Mat<f64> {
        Mat::from_fn(rows.len(), rows[0].len(), |i, j| rows[i][j])
    }

    #[test]
    fn matches_the_two_pass_formula() {
        let rows: Vec<Vec<f64>> = (0..50)
            .map(|i| {
                let t = i as f64;
                vec![
                    t.sin(),
                    (t * 0.3).cos() * 2.0 + t * 0.01,
                    (t * 1.7).sin() - 0.5 * t.sin(),
                ]
            })
            .collect();
        let (mean, cov) = naive_cov(&rows);
        let mut acc = MomentsAccumulator::new(3);
        for part in rows.chunks(7) {
            acc.push(to_mat(part).as_ref());
        }
        let m = acc.finish();
        let c = m.covariance();
        for a in 0..3 {
            assert!((m.mean[a] - mean[a]).abs() < 1e-14);
            for b in 0..3 {
                assert!((c[(a, b)] - cov[a][b]).abs() < 1e-14, "{a},{b}");
            }
        }
    }

    #[test]
    fn stable_with_a_huge_offset() {
        // x = 1e9 + small signal; the variance of the signal must survive.
        let signal: Vec<f64> = (0..10_000)
            .map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5)
            .collect();
        let var_true = {
            let m = signal.iter().sum::<f64>() / signal.len() as f64;
            signal.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (signal.len() - 1) as f64
        };
        let x = Mat::from_fn(signal.len(), 1, |i, _| 1e9 + signal[i]);
        let mut acc = MomentsAccumulator::new(1);
        acc.push(x.as_ref());
        let m = acc.finish();
        let var = m.covariance()[(0, 0)];
        assert!(
            ((var - var_true) / var_true).abs() < 1e-6,
            "{var} vs {var_true}"
        );
    }

    proptest! {
        #[test]
        fn chunking_does_not_change_a_bit(chunk in 1usize..5000, seed in 0u64..1000) {
            let n = 9000;
            let x = Mat::from_fn(n, 3, |i, j| (((i as u64 * 31 + j as u64 * 17 + seed) % 97) as f64) * 0.37 + j as f64);
            let whole = {
                let mut a = MomentsAccumulator::new(3);
                a.push(x.as_ref());
                a.finish()
            };
            let mut a = MomentsAccumulator::new(3);
            let mut s = 0;
            while s < n {
                let t = chunk.min(n - s);
                a.push(x.as_ref().subrows(s, t));
                s += t;
            }
            let parts = a.finish();
            prop_assert_eq!(parts.n, whole.n);
            prop_assert_eq!(&parts.mean, &whole.mean);
            for i in 0..3 { for j in 0..=i {
                prop_assert_eq!(parts.co_moment[(i, j)], whole.co_moment[(i, j)]);
            }}
        }

        #[test]
        fn merge_equals_fit_on_the_union(split in 1usize..299) {
            let x = Mat::from_fn(300, 2, |i, j| ((i * (j + 3)) % 11) as f64 + 0.5 * j as f64);
            let a = Moments::of_block(x.as_ref().subrows(0, split));
            let b = Moments::of_block(x.as_ref().subrows(split, 300 - split));
            let mut ab = a.clone();
            ab.merge(&b);
            let mut ba = b.clone();
            ba.merge(&a);
            let whole = Moments::of_block(x.as_ref());
            for i in 0..2 {
                prop_assert!((ab.mean[i] - whole.mean[i]).abs() < 1e-12);
                prop_assert!((ba.mean[i] - whole.mean[i]).abs() < 1e-12);
                for j in 0..=i {
                    let w = whole.co_moment[(i, j)];
                    prop_assert!((ab.co_moment[(i, j)] - w).abs() < 1e-9 * w.abs().max(1.0));
                    prop_assert!((ba.co_moment[(i, j)] - w).abs() < 1e-9 * w.abs().max(1.0));
                }
            }
        }
    }

    proptest! {
        /// The lane sums against a plain two-pass computation, with and without a bad value.
        #[test]
        fn column_stats_in_lanes_match_the_plain_formula(
            values in proptest::collection::vec(-1e6f64..1e6, 1..200), bad in 0usize..200
        ) {
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let m2: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
            let mut s = ColumnStats::new();
            s.update(&values);
            prop_assert_eq!(s.count, values.len() as u64);
            prop_assert!((s.mean - mean).abs() <= 1e-12 * mean.abs().max(1.0));
            prop_assert!((s.m2 - m2).abs() <= 1e-10 * m2.max(1.0));
            prop_assert_eq!(s.min, values.iter().copied().fold(f64::INFINITY, f64::min));
            prop_assert_eq!(s.max, values.iter().copied().fold(f64::NEG_INFINITY, f64::max));
            for poison in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let mut with = values.clone();
                with.insert(bad.min(values.len()), poison);
                let mut t = ColumnStats::new();
                t.update(&with);
                prop_assert_eq!((t.count, t.missing), (values.len() as u64, 1));
                prop_assert!((t.mean - mean).abs() <= 1e-12 * mean.abs().max(1.0));
            }
        }
    }

    #[test]
    fn column_stats_skip_missing() {
        let mut s = ColumnStats::new();
        s.update(&[1.0, f64::NAN, 3.0]);
        s.update(&[5.0, f64::INFINITY]);
        assert_eq!(s.count, 3);
        assert_eq!(s.missing, 2);
        assert_eq!(s.mean, 3.0);
        assert_eq!(s.std(), 2.0);
        assert_eq!((s.min, s.max), (1.0, 5.0));
    }
}
