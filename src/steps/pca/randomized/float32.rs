//! The Gram product G·P of a pass on float32 data (`GramProduct::in_float32`). The data
//! holds 24 bits per value, so a pass need not widen it: each fixed block of rows is
//! multiplied in f32 by the basis rounded to f32 (A·P, then Aᵀ·(A·P), each an f32 GEMM),
//! and the block's p × l result is added into an f64 sum, so rounding does not grow with
//! the number of rows. The normalisers and the eigenproblems after the pass stay f64. A
//! pass moves half the bytes of the f64 path, and its products run twice the lanes.
//!
//! The rows are centred (and scaled) one of two ways, as on the f64 path. Centred in f64
//! and rounded to f32 (relative error 2⁻²⁴ a value, the mean taken off before rounding),
//! at the cost of writing a copy of every block. Or, where every column's mean lies within
//! `ALGEBRA_OFFSET32` standard deviations of zero, raw: Y = X·(D⁻¹P) − 1·cᵀ and
//! Aᵀ·Y = D⁻¹(Xᵀ·Y − shift·(1ᵀY)), which loses about eps32 × |mean| / std to cancellation,
//! so only where that is below the f32 rounding of the values themselves.
//!
//! Rows that come as f64 (a decoding pass, a spill record that was not all f32) are
//! rounded to f32 before they are blocked: for float32 columns that is exact, so a pass
//! gives the same numbers whichever way its rows came, and whatever the chunk size.

use faer::{Accum, Mat, MatRef, Par};

use crate::blocks::{Blocks, block_rows};

/// The largest |mean| / std of a column for which f32 products multiply raw rows.
pub const ALGEBRA_OFFSET32: f64 = 1.0;

/// A pass's f32 side: the row blocks, the raw sums and the products' scratch.
pub(super) struct Narrow {
    blocks: Blocks<f32>,
    /// What multiplies the blocks, made at the pass's first block: the basis rounded to
    /// f32 (centred rows), or D⁻¹P rounded to f32 and c = (D⁻¹P)ᵀ·shift (raw rows).
    multiplier: Option<(Mat<f32>, Vec<f64>)>,
    /// Raw rows: Σ Xᵀ·Y and Σ 1ᵀ·Y, corrected when the pass ends (`correct`).
    raw: Option<(Mat<f64>, Vec<f64>)>,
    scratch: Scratch,
    /// f64 rows rounded to f32 before they are blocked.
    rounded: Vec<f32>,
}

struct Scratch {
    /// The block centred, scaled and rounded (column-major, rows × p).
    scaled: Vec<f32>,
    projected: Mat<f32>,
    /// One block's Aᵀ(A·P), before it is added into the f64 sum.
    part: Mat<f32>,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            scaled: Vec::new(),
            projected: Mat::zeros(0, 0),
            part: Mat::zeros(0, 0),
        }
    }
}

impl Narrow {
    /// `raw`: multiply raw rows (the means near zero, `ALGEBRA_OFFSET32`).
    pub(super) fn new(p: usize, l: usize, raw: bool) -> Narrow {
        Narrow {
            blocks: Blocks::new(block_rows(p), p),
            multiplier: None,
            raw: raw.then(|| (Mat::zeros(p, l), vec![0.0; l])),
            scratch: Scratch::new(),
            rounded: Vec::new(),
        }
    }

    /// product += Aᵀ(A·P) over every full block of `x`'s rows.
    pub(super) fn push(
        &mut self,
        x: MatRef<'_, f32>,
        basis: &Mat<f64>,
        shift: &[f64],
        scale: Option<&[f64]>,
        product: &mut Mat<f64>,
        par: Par,
    ) {
        let Narrow {
            blocks,
            multiplier,
            raw,
            scratch,
            ..
        } = self;
        let m = multiplier.get_or_insert_with(|| multiplier_of(raw.is_some(), basis, shift, scale));
        blocks.push(x, |block| {
            accumulate(block, m, shift, scale, raw.as_mut(), product, scratch, par)
        });
    }

    /// `push` for rows that came as f64, rounded a block's worth at a time (so the f32
    /// side holds three blocks, less than the two f64 blocks the memory model counts).
    pub(super) fn push_wide(
        &mut self,
        x: MatRef<'_, f64>,
        basis: &Mat<f64>,
        shift: &[f64],
        scale: Option<&[f64]>,
        product: &mut Mat<f64>,
        par: Par,
    ) {
        let mut rounded = std::mem::take(&mut self.rounded);
        let step = block_rows(x.ncols());
        let mut start = 0;
        while start < x.nrows() {
            let piece = x.subrows(start, step.min(x.nrows() - start));
            rounded.clear();
            for j in 0..piece.ncols() {
                let col = piece.col(j);
                match col.try_as_col_major() {
                    Some(c) => rounded.extend(c.as_slice().iter().map(|&v| v as f32)),
                    None => rounded.extend((0..piece.nrows()).map(|i| piece[(i, j)] as f32)),
                }
            }
            let narrow = MatRef::from_column_major_slice(&rounded, piece.nrows(), piece.ncols());
            self.push(narrow, basis, shift, scale, product, par);
            start += piece.nrows();
        }
        self.rounded = rounded;
    }

    /// product += every row pushed so far, the partial block left in place (a snapshot).
    pub(super) fn add_rest(
        &self,
        basis: &Mat<f64>,
        shift: &[f64],
        scale: Option<&[f64]>,
        product: &mut Mat<f64>,
    ) {
        let mut raw = self.raw.clone();
        let rest = self.blocks.rest();
        if rest.nrows() > 0 {
            let m = self
                .multiplier
                .clone()
                .unwrap_or_else(|| multiplier_of(raw.is_some(), basis, shift, scale));
            let mut scratch = Scratch::new();
            accumulate(
                rest,
                &m,
                shift,
                scale,
                raw.as_mut(),
                product,
                &mut scratch,
                Par::Seq,
            );
        }
        if let Some(raw) = &raw {
            correct(raw, shift, scale, product);
        }
    }

    /// product += the rows of the last, partial block and the corrected raw sums: the
    /// pass is over.
    pub(super) fn finish(
        &mut self,
        basis: &Mat<f64>,
        shift: &[f64],
        scale: Option<&[f64]>,
        product: &mut Mat<f64>,
        par: Par,
    ) {
        let Narrow {
            blocks,
            multiplier,
            raw,
            scratch,
            ..
        } = self;
        let rest = blocks.take_rest();
        if rest.nrows() > 0 {
            let m =
                multiplier.get_or_insert_with(|| multiplier_of(raw.is_some(), basis, shift, scale));
            accumulate(rest, m, shift, scale, raw.as_mut(), product, scratch, par);
        }
        if let Some(raw) = raw {
            correct(raw, shift, scale, product);
        }
    }

    pub(super) fn size_bytes(&self) -> usize {
        let f32s = self.scratch.scaled.capacity()
            + self.rounded.capacity()
            + self
                .multiplier
                .as_ref()
                .map_or(0, |(b, _)| b.nrows() * b.ncols())
            + self.scratch.projected.nrows() * self.scratch.projected.ncols()
            + self.scratch.part.nrows() * self.scratch.part.ncols();
        let f64s = self
            .raw
            .as_ref()
            .map_or(0, |(r, s)| r.nrows() * r.ncols() + s.len());
        self.blocks.size_bytes() + 4 * f32s + 8 * f64s
    }
}

/// The basis rounded to f32 (centred rows), or D⁻¹P rounded and c = (D⁻¹P)ᵀ·shift in f64
/// from the rounded values (raw rows).
fn multiplier_of(
    raw: bool,
    basis: &Mat<f64>,
    shift: &[f64],
    scale: Option<&[f64]>,
) -> (Mat<f32>, Vec<f64>) {
    if !raw {
        let b = Mat::from_fn(basis.nrows(), basis.ncols(), |i, j| basis[(i, j)] as f32);
        return (b, Vec::new());
    }
    let b = Mat::from_fn(basis.nrows(), basis.ncols(), |i, j| {
        (basis[(i, j)] / scale.map_or(1.0, |s| s[i])) as f32
    });
    let c = (0..b.ncols())
        .map(|j| {
            (0..b.nrows())
                .map(|i| f64::from(b[(i, j)]) * shift[i])
                .sum()
        })
        .collect();
    (b, c)
}

/// product += D⁻¹(raw − shift·sumsᵀ): the centred, scaled rows' product.
fn correct(
    raw: &(Mat<f64>, Vec<f64>),
    shift: &[f64],
    scale: Option<&[f64]>,
    product: &mut Mat<f64>,
) {
    let (raw, sums) = raw;
    for j in 0..product.ncols() {
        for i in 0..product.nrows() {
            let v = raw[(i, j)] - shift[i] * sums[j];
            product[(i, j)] += v / scale.map_or(1.0, |s| s[i]);
        }
    }
}

/// One block in f32: product += Aᵀ(A·P) for the centred rows A = (x − shift) / scale, or
/// for raw rows raw += Xᵀ·Y and sums += 1ᵀ·Y with Y = X·(D⁻¹P) − 1·cᵀ.
#[allow(clippy::too_many_arguments)]
fn accumulate(
    block: MatRef<'_, f32>,
    (b, c): &(Mat<f32>, Vec<f64>),
    shift: &[f64],
    scale: Option<&[f64]>,
    raw: Option<&mut (Mat<f64>, Vec<f64>)>,
    product: &mut Mat<f64>,
    scratch: &mut Scratch,
    par: Par,
) {
    let (n, p, l) = (block.nrows(), block.ncols(), b.ncols());
    let Scratch {
        scaled,
        projected,
        part,
    } = scratch;
    let a = match raw {
        Some(_) => block,
        None => {
            scaled.clear();
            scaled.reserve(n * p);
            for j in 0..p {
                // a constant column keeps scale 1, so the reciprocal is finite
                let (m, r) = (shift[j], scale.map_or(1.0, |s| 1.0 / s[j]));
                let col = block.col(j);
                match col.try_as_col_major() {
                    Some(x) => scaled.extend(
                        x.as_slice()
                            .iter()
                            .map(|&v| ((f64::from(v) - m) * r) as f32),
                    ),
                    None => {
                        scaled.extend((0..n).map(|i| ((f64::from(block[(i, j)]) - m) * r) as f32))
                    }
                }
            }
            MatRef::from_column_major_slice(scaled.as_slice(), n, p)
        }
    };
    if projected.nrows() != n || projected.ncols() != l {
        *projected = Mat::zeros(n, l);
    }
    if part.nrows() != p || part.ncols() != l {
        *part = Mat::zeros(p, l);
    }
    faer::linalg::matmul::matmul(
        projected.as_mut(),
        Accum::Replace,
        a,
        b.as_ref(),
        1.0f32,
        par,
    );
    let target = match raw {
        Some((raw, sums)) => {
            for (j, &cj) in c.iter().enumerate() {
                let mut sum = 0.0;
                for v in projected.col_mut(j).iter_mut() {
                    let y = (f64::from(*v) - cj) as f32;
                    *v = y;
                    sum += f64::from(y);
                }
                sums[j] += sum;
            }
            raw
        }
        None => product,
    };
    faer::linalg::matmul::matmul(
        part.as_mut(),
        Accum::Replace,
        a.transpose(),
        projected.as_ref(),
        1.0f32,
        par,
    );
    for j in 0..l {
        for (d, &v) in target.col_mut(j).iter_mut().zip(part.col(j).iter()) {
            *d += f64::from(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::products::{GramProduct, start_basis};
    use crate::rng::Rng;
    use faer::Mat;

    /// The f32 product's error relative to the f64 one, rows centred and raw, on float32
    /// rows whose columns sit `offset` standard deviations from zero, with a scale; pushed
    /// as f32 and as f64 in uneven pieces, with a snapshot: the same numbers each way.
    fn errors(offset: f64) -> (f64, f64) {
        let (n, p, l) = (1500, 40, 6);
        let mut rng = Rng::new(3);
        let mut noise = vec![0.0; n * p];
        rng.fill_normal(&mut noise);
        let x = Mat::from_fn(n, p, |i, j| {
            let std = 1.0 + j as f64;
            f64::from((std * (offset + noise[j * n + i])) as f32)
        });
        let narrow = Mat::from_fn(n, p, |i, j| x[(i, j)] as f32);
        let shift: Vec<f64> = (0..p)
            .map(|j| (0..n).map(|i| x[(i, j)]).sum::<f64>() / n as f64)
            .collect();
        let scale: Vec<f64> = (0..p).map(|j| 1.0 + j as f64).collect();
        let s = Some(scale.as_slice());
        let basis = start_basis(p, l, 1);
        let mut wide = GramProduct::new(p, l);
        wide.push(x.as_ref(), &basis, &shift, s);
        let want = wide.finish(&basis, &shift, s);
        let f32_product = |raw: bool| {
            let mut from32 = GramProduct::new(p, l).in_float32(raw);
            let mut from64 = GramProduct::new(p, l).in_float32(raw);
            for (start, rows) in [(0, 700), (700, 13), (713, 787)] {
                from32.push32(narrow.as_ref().subrows(start, rows), &basis, &shift, s);
                from64.push(x.as_ref().subrows(start, rows), &basis, &shift, s);
            }
            let snapshot = from32.snapshot(&basis, &shift, s);
            let got = from32.finish(&basis, &shift, s);
            assert_eq!(got, from64.finish(&basis, &shift, s));
            assert_eq!(got, snapshot);
            (&got - &want).norm_max() / want.norm_max()
        };
        (f32_product(false), f32_product(true))
    }

    #[test]
    fn the_f32_product_is_the_f64_product_to_f32_rounding() {
        // means within ALGEBRA_OFFSET32 standard deviations: both ways are close
        let (centred, raw) = errors(0.5);
        assert!(centred <= 1e-6 && raw <= 1e-6, "{centred:e}, {raw:e}");
        // 1,000 standard deviations away, raw f32 rows cancel: the fit centres them
        let (centred, raw) = errors(1000.0);
        assert!(centred <= 1e-6, "{centred:e}");
        assert!(raw > 100.0 * centred, "raw: {raw:e}, centred: {centred:e}");
    }
}
