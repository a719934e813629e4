//! The geometry a kernel slides over and the two moves between a batch and its im2col
//! matrix: `gather` (im2col: one column per output position of every sample, one row per
//! kernel offset and channel) and `scatter` (col2im: each column's values added back where
//! they were taken), and the cutting of a batch into whole samples for threads.

use super::activation::Real;

/// Where a kernel slides: over `big` (h, w, c) at the `small` side's positions, position
/// (py, px) reading big's (py·s + ky − pad, px·s + kx − pad) for each kernel offset.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    pub big: (usize, usize, usize),
    pub small: (usize, usize),
    pub k: (usize, usize),
    pub s: (usize, usize),
    pub pad: (usize, usize),
}

impl Geometry {
    /// Rows of the im2col matrix: one per kernel offset and channel.
    pub fn patch(&self) -> usize {
        self.k.0 * self.k.1 * self.big.2
    }

    pub fn positions(&self) -> usize {
        self.small.0 * self.small.1
    }

    pub fn big_size(&self) -> usize {
        self.big.0 * self.big.1 * self.big.2
    }

    /// For each small position and kernel offset, the big position's first value (or
    /// None where it falls in the padding), calling `f(column, row, Some(offset))`.
    #[inline(always)]
    fn each(&self, mut f: impl FnMut(usize, usize, Option<usize>)) {
        let (h, w, c) = self.big;
        for py in 0..self.small.0 {
            for px in 0..self.small.1 {
                let column = py * self.small.1 + px;
                for ky in 0..self.k.0 {
                    let y = (py * self.s.0 + ky) as isize - self.pad.0 as isize;
                    for kx in 0..self.k.1 {
                        let x = (px * self.s.1 + kx) as isize - self.pad.1 as isize;
                        let row = (ky * self.k.1 + kx) * c;
                        let inside = y >= 0 && x >= 0 && (y as usize) < h && (x as usize) < w;
                        let at = inside.then(|| (y as usize * w + x as usize) * c);
                        f(column, row, at);
                    }
                }
            }
        }
    }

    /// im2col of the samples in `big` (each `big_size` values) into `cols` (`patch` ×
    /// positions per sample, column-major).
    pub fn gather<T: Real>(&self, big: &[T], cols: &mut [T]) {
        let (c, patch, positions) = (self.big.2, self.patch(), self.positions());
        for (sample, out) in big
            .chunks_exact(self.big_size())
            .zip(cols.chunks_exact_mut(patch * positions))
        {
            self.each(|column, row, at| {
                let dst = &mut out[column * patch + row..][..c];
                match at {
                    Some(at) => dst.copy_from_slice(&sample[at..at + c]),
                    None => dst.fill(T::zero()),
                }
            });
        }
    }

    /// col2im: each column's values added back where `gather` took them; `big` is
    /// overwritten.
    pub fn scatter<T: Real>(&self, cols: &[T], big: &mut [T]) {
        let (c, patch, positions) = (self.big.2, self.patch(), self.positions());
        big.fill(T::zero());
        for (sample, src) in big
            .chunks_exact_mut(self.big_size())
            .zip(cols.chunks_exact(patch * positions))
        {
            self.each(|column, row, at| {
                if let Some(at) = at {
                    let from = &src[column * patch + row..][..c];
                    for (d, &v) in sample[at..at + c].iter_mut().zip(from) {
                        *d += v;
                    }
                }
            });
        }
    }
}

/// Contiguous sample ranges for up to `parts` threads.
pub fn sample_split(n: usize, parts: usize) -> Vec<(usize, usize)> {
    let parts = parts.clamp(1, n.max(1));
    (0..parts)
        .map(|i| (i * n / parts, (i + 1) * n / parts - i * n / parts))
        .collect()
}

/// Cuts `v` into the pieces of `split` (sample ranges), `per` values a sample.
pub fn slice_samples<'a, T>(
    mut v: &'a mut [T],
    split: &[(usize, usize)],
    per: usize,
) -> Vec<&'a mut [T]> {
    let mut out = Vec::with_capacity(split.len());
    for &(_, len) in split {
        let (piece, rest) = v.split_at_mut(len * per);
        out.push(piece);
        v = rest;
    }
    out
}
