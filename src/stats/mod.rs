//! Mergeable moments: the heart of streaming and sharding. A block of rows becomes
//! (n, mean, centered co-moment); two such summaries merge exactly with the pairwise
//! update of Chan, Golub & LeVeque (1979), so a fit never sums raw x² (stable with a mean
//! of 1e9 and a std of 1) and a shard's statistics combine with another's.
//!
//! `MomentsAccumulator` cuts the incoming rows into fixed blocks whatever the chunk size
//! the reader used, so the result is bit-for-bit the same for any `batch_rows`.
//! Per-column statistics are in `columns`, the statistics as saved states hold them in
//! `saved`.

use faer::linalg::matmul::triangular::{BlockStructure, matmul as tri_matmul};
use faer::{Accum, Mat, MatRef, Par};

use crate::blocks::Blocks;

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
        let mut m = Moments::centered(x, scratch);
        if m.n > 0 {
            tri_matmul(
                m.co_moment.as_mut(),
                BlockStructure::TriangularLower,
                Accum::Replace,
                scratch.transpose(),
                BlockStructure::Rectangular,
                scratch.as_ref(),
                BlockStructure::Rectangular,
                1.0,
                co_moment_par(x.nrows(), x.ncols()),
            );
        }
        m
    }

    /// As `of_block_with` for float32 data (the incremental solver's `arithmetic`): the
    /// rows are centred in f64 as there, then rounded to f32 (`narrow`) and their co-moment
    /// is formed by f32 products (`product`, p × p) added into the f64 summary: half the
    /// bytes and twice the SIMD lanes of the f64 product. The centred values carry f32's
    /// 6e-8 relative rounding, as the data did (tests/cli/float32.rs holds the result to the
    /// f64 path's within 1e-5).
    pub fn of_block_in_f32(
        x: MatRef<'_, f64>,
        scratch: &mut Mat<f64>,
        narrow: &mut Mat<f32>,
        product: &mut Mat<f32>,
    ) -> Moments {
        let (n, p) = (x.nrows(), x.ncols());
        let mut m = Moments::centered(x, scratch);
        if n == 0 {
            return m;
        }
        if product.nrows() != p {
            *product = Mat::zeros(p, p);
        }
        // f32 sums over at most BLOCK_ROWS rows, then f64 across them: a batch of 65,536
        // rows summed in f32 alone would lose about sqrt(n) × 6e-8 = 1.5e-5 of each entry.
        let mut start = 0;
        while start < n {
            let rows = BLOCK_ROWS.min(n - start);
            if narrow.nrows() != rows || narrow.ncols() != p {
                *narrow = Mat::zeros(rows, p);
            }
            for j in 0..p {
                let wide = scratch.col(j);
                let to = narrow
                    .col_mut(j)
                    .try_as_col_major_mut()
                    .expect("owned column is contiguous")
                    .as_slice_mut();
                for (i, v) in to.iter_mut().enumerate() {
                    *v = wide[start + i] as f32;
                }
            }
            tri_matmul(
                product.as_mut(),
                BlockStructure::TriangularLower,
                Accum::Replace,
                narrow.transpose(),
                BlockStructure::Rectangular,
                narrow.as_ref(),
                BlockStructure::Rectangular,
                1.0f32,
                co_moment_par(rows, p),
            );
            for j in 0..p {
                for i in j..p {
                    m.co_moment[(i, j)] += f64::from(product[(i, j)]);
                }
            }
            start += rows;
        }
        m
    }

    /// The block's count, mean, minimum and maximum, and its rows centred into `scratch`
    /// (resized as needed), for the co-moment the caller forms.
    fn centered(x: MatRef<'_, f64>, scratch: &mut Mat<f64>) -> Moments {
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

mod columns;
mod saved;

pub use columns::{ColumnStats, ColumnsAccumulator};
pub use saved::{Floats, SavedColumn, SavedMoments, with_table};

#[cfg(test)]
mod tests;
