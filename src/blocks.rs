//! Fixed row blocks over a stream of chunks. Fitters accumulate per block of a fixed
//! number of rows, whatever chunk size the reader used, so their results are bit-for-bit
//! the same for every `batch_rows`.

use faer::traits::ComplexField;
use faer::{Mat, MatRef};

/// Rows of f64, or of f32 for a fit that multiplies float32 data in f32.
pub struct Blocks<T: ComplexField = f64> {
    block: Mat<T>,
    filled: usize,
}

impl<T: ComplexField + Copy> Blocks<T> {
    pub fn new(rows: usize, p: usize) -> Blocks<T> {
        Blocks {
            block: Mat::zeros(rows.max(1), p),
            filled: 0,
        }
    }

    /// Feeds rows; `full` sees every completed block, in order. A block lying whole
    /// inside `x` is passed as a view of `x`, without a copy: same rows, same result.
    pub fn push(&mut self, x: MatRef<'_, T>, mut full: impl FnMut(MatRef<'_, T>)) {
        let rows = self.block.nrows();
        let mut start = 0;
        while start < x.nrows() {
            if self.filled == 0 && x.nrows() - start >= rows {
                full(x.subrows(start, rows));
                start += rows;
                continue;
            }
            let take = (rows - self.filled).min(x.nrows() - start);
            self.block
                .as_mut()
                .subrows_mut(self.filled, take)
                .copy_from(x.subrows(start, take));
            self.filled += take;
            start += take;
            if self.filled == rows {
                full(self.block.as_ref());
                self.filled = 0;
            }
        }
    }

    pub fn size_bytes(&self) -> usize {
        self.block.nrows() * self.block.ncols() * std::mem::size_of::<T>()
    }

    /// The rows of the partial block so far, left in place.
    pub fn rest(&self) -> MatRef<'_, T> {
        self.block.as_ref().subrows(0, self.filled)
    }

    /// The rows of the last, partial block (none if the stream ended on a boundary);
    /// the buffer is empty afterwards.
    pub fn take_rest(&mut self) -> MatRef<'_, T> {
        let n = self.filled;
        self.filled = 0;
        self.block.as_ref().subrows(0, n)
    }
}

/// Rows per accumulation block for p features: about 4 M values, at most 4096 rows. Fixed
/// by p alone, so what is accumulated block by block does not depend on the chunk size.
pub fn block_rows(p: usize) -> usize {
    ((1usize << 22) / p.max(1)).clamp(1, 4096)
}
