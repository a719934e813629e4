//! The randomized solver's algebra: the random starting basis, the normalisers between
//! passes, the Gram product G·P accumulated block by block over one pass (formed from the
//! centered rows, or from the raw rows corrected afterwards), and the Rayleigh–Ritz answer
//! from the last basis and its product. The pass sequencing that drives them is in
//! `mod.rs`.

use faer::{Accum, Mat, MatRef, Par, Side};

use super::float32::Narrow;
use crate::blocks::{Blocks, block_rows};
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::steps::pca::fitted::Reached;
use crate::steps::pca::params::{NComponents, PowerNormalizer};
use crate::steps::pca::{Pca, choose_k, finish};

/// A random orthonormal p × l starting basis from `seed`.
pub fn start_basis(p: usize, l: usize, seed: u64) -> Mat<f64> {
    let mut rng = Rng::new(seed);
    let mut omega = Mat::<f64>::zeros(p, l);
    for j in 0..l {
        let col = omega
            .col_mut(j)
            .try_as_col_major_mut()
            .expect("owned column is contiguous");
        rng.fill_normal(col.as_slice_mut());
    }
    omega.qr().compute_thin_Q()
}

pub fn orthonormalize(y: &Mat<f64>) -> Mat<f64> {
    y.qr().compute_thin_Q()
}

/// The next power iteration's basis from a product, as scikit-learn's normalizers: QR's
/// Q, LU's permuted lower factor, or the product itself.
pub fn normalize(normalizer: PowerNormalizer, y: &Mat<f64>) -> Mat<f64> {
    match normalizer {
        PowerNormalizer::Auto | PowerNormalizer::Qr => orthonormalize(y),
        PowerNormalizer::Lu => lu_permuted_lower(y),
        PowerNormalizer::None => y.clone(),
    }
}

/// scipy's `lu(y, permute_l=True)[0]` for a tall p × l matrix: partial pivoting (the
/// first row of largest magnitude, as LAPACK's getrf), the unit lower trapezoidal factor
/// L with its rows put back in y's order (P L). Its columns span y's, cheaper than QR and
/// stable enough between power iterations (Halko et al. 2011, §4.5; Li et al. 2017).
pub fn lu_permuted_lower(y: &Mat<f64>) -> Mat<f64> {
    let (p, l) = (y.nrows(), y.ncols());
    let mut a = y.clone();
    // perm[i]: the row of y that is row i of the pivoted matrix
    let mut perm: Vec<usize> = (0..p).collect();
    for j in 0..l.min(p) {
        let mut pivot = j;
        for i in j + 1..p {
            if a[(perm[i], j)].abs() > a[(perm[pivot], j)].abs() {
                pivot = i;
            }
        }
        perm.swap(j, pivot);
        let top = perm[j];
        let d = a[(top, j)];
        if d == 0.0 {
            continue;
        }
        for &r in &perm[j + 1..] {
            let f = a[(r, j)] / d;
            a[(r, j)] = f;
            for c in j + 1..l {
                a[(r, c)] -= f * a[(top, c)];
            }
        }
    }
    let mut position = vec![0; p];
    for (i, &r) in perm.iter().enumerate() {
        position[r] = i;
    }
    Mat::from_fn(p, l, |r, c| match position[r].cmp(&c) {
        std::cmp::Ordering::Equal => 1.0,
        std::cmp::Ordering::Greater => a[(r, c)],
        std::cmp::Ordering::Less => 0.0,
    })
}

/// One pass's accumulator of G·P for the rows A = (x − shift) / scale; the basis, shift
/// and scale are the caller's, given with every push (the same within a pass).
///
/// By default A is formed block by block (`shift_scale_into`), as scikit-learn centers its
/// copy. `by_algebra` instead multiplies the raw rows and corrects afterwards:
/// A·P = X·(D⁻¹P) − 1·cᵀ with c = (D⁻¹P)ᵀ·shift, and Aᵀ·Y = D⁻¹(Xᵀ·Y − shift·(1ᵀY)). That
/// saves writing a centered copy of every value on every pass (a third of a pass at
/// 10,000 features), and loses about eps × |mean| / std to cancellation, so the fit uses
/// it only where the means are within `ALGEBRA_OFFSET` standard deviations of zero.
pub struct GramProduct {
    /// Finished products: other shards' (`merge`) and, formed explicitly, this one's.
    product: Mat<f64>,
    blocks: Blocks,
    scaled: Mat<f64>,
    projected: Mat<f64>,
    algebra: Option<Algebra>,
    /// On float32 data: the rows blocked and multiplied in f32 (`float32.rs`).
    narrow: Option<Narrow>,
    /// Threads for the products (`FitStep::set_threads`); 1 until told.
    pub threads: usize,
}

/// The raw sums of the `by_algebra` product.
struct Algebra {
    /// Σ Xᵀ·Y and Σ 1ᵀ·Y over the rows pushed.
    raw: Mat<f64>,
    sums: Vec<f64>,
    /// D⁻¹P and c, made at the first push of the pass.
    scaled_basis: Option<(Mat<f64>, Vec<f64>)>,
}

/// The largest |mean| / std of a column for which the fit multiplies raw rows.
pub const ALGEBRA_OFFSET: f64 = 1e3;

impl GramProduct {
    pub fn new(p: usize, l: usize) -> GramProduct {
        GramProduct {
            product: Mat::zeros(p, l),
            blocks: Blocks::new(block_rows(p), p),
            scaled: Mat::zeros(0, 0),
            projected: Mat::zeros(0, 0),
            algebra: None,
            narrow: None,
            threads: 1,
        }
    }

    /// The product of float32 data, multiplied in f32 (`float32.rs`), of raw rows
    /// corrected afterwards when `raw` (the means within `ALGEBRA_OFFSET32` standard
    /// deviations of zero), else of rows centred before they are rounded.
    pub fn in_float32(mut self, raw: bool) -> GramProduct {
        let (p, l) = (self.product.nrows(), self.product.ncols());
        self.algebra = None;
        // the f64 blocks go unused
        self.blocks = Blocks::new(1, 0);
        self.narrow = Some(Narrow::new(p, l, raw));
        self
    }

    /// `push` for rows stored as f32.
    pub fn push32(
        &mut self,
        x: MatRef<'_, f32>,
        basis: &Mat<f64>,
        shift: &[f64],
        scale: Option<&[f64]>,
    ) {
        let par = par(self.threads);
        match &mut self.narrow {
            Some(n) => n.push(x, basis, shift, scale, &mut self.product, par),
            None => {
                let wide = Mat::from_fn(x.nrows(), x.ncols(), |i, j| f64::from(x[(i, j)]));
                self.push(wide.as_ref(), basis, shift, scale);
            }
        }
    }

    /// The product of raw rows, corrected for the shift and scale afterwards.
    pub fn by_algebra(mut self) -> GramProduct {
        let (p, l) = (self.product.nrows(), self.product.ncols());
        self.algebra = Some(Algebra {
            raw: Mat::zeros(p, l),
            sums: vec![0.0; l],
            scaled_basis: None,
        });
        self
    }

    pub fn push(
        &mut self,
        x: MatRef<'_, f64>,
        basis: &Mat<f64>,
        shift: &[f64],
        scale: Option<&[f64]>,
    ) {
        let GramProduct {
            product,
            blocks,
            scaled,
            projected,
            algebra,
            narrow,
            threads,
        } = self;
        let par = par(*threads);
        if let Some(n) = narrow {
            n.push_wide(x, basis, shift, scale, product, par);
            return;
        }
        match algebra {
            Some(a) => blocks.push(x, |block| {
                a.accumulate(basis, shift, scale, block, projected, par)
            }),
            None => blocks.push(x, |block| {
                accumulate(basis, shift, scale, block, scaled, projected, product, par)
            }),
        }
    }

    /// The product over every row pushed so far, without ending the pass.
    pub fn snapshot(&self, basis: &Mat<f64>, shift: &[f64], scale: Option<&[f64]>) -> Mat<f64> {
        let mut product = self.product.clone();
        if let Some(n) = &self.narrow {
            n.add_rest(basis, shift, scale, &mut product);
            return product;
        }
        let rest = self.blocks.rest();
        let (mut scaled, mut projected) = (Mat::zeros(0, 0), Mat::zeros(0, 0));
        match &self.algebra {
            Some(a) => {
                let mut a = a.clone_sums();
                if rest.nrows() > 0 {
                    a.accumulate(basis, shift, scale, rest, &mut projected, Par::Seq);
                }
                a.add_to(&mut product, shift, scale);
            }
            None if rest.nrows() > 0 => accumulate(
                basis,
                shift,
                scale,
                rest,
                &mut scaled,
                &mut projected,
                &mut product,
                Par::Seq,
            ),
            None => {}
        }
        product
    }

    /// Adds another shard's product of the same pass.
    pub fn merge(&mut self, other: MatRef<'_, f64>) {
        self.product += other;
    }

    pub fn size_bytes(&self) -> usize {
        let pl = self.product.nrows() * self.product.ncols() * 8;
        self.blocks.size_bytes()
            + pl * if self.algebra.is_some() { 3 } else { 1 }
            + self.narrow.as_ref().map_or(0, Narrow::size_bytes)
    }

    pub fn finish(mut self, basis: &Mat<f64>, shift: &[f64], scale: Option<&[f64]>) -> Mat<f64> {
        let GramProduct {
            product,
            blocks,
            scaled,
            projected,
            algebra,
            narrow,
            threads,
        } = &mut self;
        let par = par(*threads);
        if let Some(n) = narrow {
            n.finish(basis, shift, scale, product, par);
            return self.product;
        }
        let rest = blocks.take_rest();
        match algebra {
            Some(a) => {
                if rest.nrows() > 0 {
                    a.accumulate(basis, shift, scale, rest, projected, par);
                }
                a.add_to(product, shift, scale);
            }
            None if rest.nrows() > 0 => {
                accumulate(basis, shift, scale, rest, scaled, projected, product, par)
            }
            None => {}
        }
        self.product
    }
}

impl Algebra {
    fn clone_sums(&self) -> Algebra {
        Algebra {
            raw: self.raw.clone(),
            sums: self.sums.clone(),
            scaled_basis: self.scaled_basis.clone(),
        }
    }

    /// raw += Xᵀ·Y and sums += 1ᵀ·Y for Y = X·(D⁻¹P) − 1·cᵀ, the block's A·P.
    fn accumulate(
        &mut self,
        basis: &Mat<f64>,
        shift: &[f64],
        scale: Option<&[f64]>,
        block: MatRef<'_, f64>,
        projected: &mut Mat<f64>,
        par: Par,
    ) {
        let (n, l) = (block.nrows(), basis.ncols());
        let (scaled_basis, c) = self.scaled_basis.get_or_insert_with(|| {
            let b = Mat::from_fn(basis.nrows(), l, |i, j| {
                basis[(i, j)] / scale.map_or(1.0, |s| s[i])
            });
            let c = (0..l)
                .map(|j| (0..b.nrows()).map(|i| b[(i, j)] * shift[i]).sum())
                .collect();
            (b, c)
        });
        if projected.nrows() != n || projected.ncols() != l {
            *projected = Mat::zeros(n, l);
        }
        faer::linalg::matmul::matmul(
            projected.as_mut(),
            Accum::Replace,
            block,
            scaled_basis.as_ref(),
            1.0,
            par,
        );
        for (j, &cj) in c.iter().enumerate() {
            let mut sum = 0.0;
            for v in projected.col_mut(j).iter_mut() {
                *v -= cj;
                sum += *v;
            }
            self.sums[j] += sum;
        }
        faer::linalg::matmul::matmul(
            self.raw.as_mut(),
            Accum::Add,
            block.transpose(),
            projected.as_ref(),
            1.0,
            par,
        );
    }

    /// product += D⁻¹(raw − shift·sumsᵀ): the centered, scaled rows' product.
    fn add_to(&self, product: &mut Mat<f64>, shift: &[f64], scale: Option<&[f64]>) {
        for j in 0..product.ncols() {
            for i in 0..product.nrows() {
                let v = self.raw[(i, j)] - shift[i] * self.sums[j];
                product[(i, j)] += v / scale.map_or(1.0, |s| s[i]);
            }
        }
    }
}

/// The products' parallelism for `threads` threads (`FitStep::set_threads`).
fn par(threads: usize) -> Par {
    if threads > 1 {
        Par::rayon(threads)
    } else {
        Par::Seq
    }
}

/// product += Aᵀ (A P) for the block's rows A = (x − shift) / scale.
#[allow(clippy::too_many_arguments)]
fn accumulate(
    basis: &Mat<f64>,
    shift: &[f64],
    scale: Option<&[f64]>,
    block: MatRef<'_, f64>,
    scaled: &mut Mat<f64>,
    projected: &mut Mat<f64>,
    product: &mut Mat<f64>,
    par: Par,
) {
    let (n, l) = (block.nrows(), basis.ncols());
    crate::steps::scale::shift_scale_into(block, shift, scale, scaled);
    if projected.nrows() != n || projected.ncols() != l {
        *projected = Mat::zeros(n, l);
    }
    faer::linalg::matmul::matmul(
        projected.as_mut(),
        Accum::Replace,
        scaled.as_ref(),
        basis.as_ref(),
        1.0,
        par,
    );
    faer::linalg::matmul::matmul(
        product.as_mut(),
        Accum::Add,
        scaled.transpose(),
        projected.as_ref(),
        1.0,
        par,
    );
}

/// Ritz values of G below this fraction of the largest are left out of the half step of
/// `ritz`: dividing by their square roots would lift rounding above what they carry.
const RITZ_FLOOR: f64 = 1e-12;

/// The Ritz pairs of G from a basis P (p × m, orthonormal columns) and its product
/// Y = G·P, as scikit-learn's randomized SVD finishes: the SVD of B = Qᵀ A, Q an orthonormal
/// basis of A P. With C = Pᵀ Y = Pᵀ AᵀA P = U Λ Uᵀ, Bᵀ = Y U Λ^(-1/2) up to an orthogonal
/// factor, and B's singular pairs are Rayleigh–Ritz over span(G^(1/2) P): half a power
/// iteration more than the eigenvalues of Pᵀ G P, from the same passes over the data. That half step is why scikit-learn's
/// randomized PCA is several times closer to the exact variances than Rayleigh–Ritz on P at
/// the same `n_iter` (docs/benchmarks.md). Directions with a Ritz value under `RITZ_FLOOR`
/// (a rank below m) keep their plain Rayleigh–Ritz pair, after the others.
///
/// Returns the values (eigenvalues of G, not divided by n − 1) in decreasing order and
/// their p × m vectors.
pub fn ritz(basis: MatRef<'_, f64>, product: MatRef<'_, f64>) -> Result<(Vec<f64>, Mat<f64>)> {
    let (p, m) = (basis.nrows(), basis.ncols());
    let c = basis.transpose() * product;
    let c = Mat::from_fn(m, m, |i, j| 0.5 * (c[(i, j)] + c[(j, i)]));
    let evd = c.self_adjoint_eigen(Side::Lower).map_err(|e| {
        Error::Numeric(format!("randomized PCA: eigen-decomposition failed: {e:?}"))
    })?;
    let lambda = evd.S().column_vector();
    let u = evd.U();
    let top = (0..m).map(|i| lambda[i]).fold(0.0, f64::max);
    let kept: Vec<usize> = (0..m)
        .filter(|&i| top > 0.0 && lambda[i] > RITZ_FLOOR * top)
        .collect();
    let mut values = Vec::with_capacity(m);
    let mut vectors = Mat::<f64>::zeros(p, m);
    if !kept.is_empty() {
        let weights = Mat::from_fn(m, kept.len(), |i, j| {
            u[(i, kept[j])] / lambda[kept[j]].sqrt()
        });
        let bt = product * &weights;
        let svd = bt
            .thin_svd()
            .map_err(|e| Error::Numeric(format!("randomized PCA: SVD did not converge: {e:?}")))?;
        let s = svd.S().column_vector();
        let mut order: Vec<usize> = (0..kept.len()).collect();
        order.sort_by(|&a, &b| s[b].total_cmp(&s[a]));
        for &i in &order {
            vectors.col_mut(values.len()).copy_from(svd.U().col(i));
            values.push(s[i] * s[i]);
        }
    }
    // the rest, largest first: plain Ritz vectors made orthogonal to those before
    for i in (0..m).rev().filter(|i| !kept.contains(i)) {
        let mut z: Vec<f64> = (0..p)
            .map(|r| (0..m).map(|c| basis[(r, c)] * u[(c, i)]).sum())
            .collect();
        for _ in 0..2 {
            for j in 0..values.len() {
                let d: f64 = (0..p).map(|r| vectors[(r, j)] * z[r]).sum();
                for (r, v) in z.iter_mut().enumerate() {
                    *v -= d * vectors[(r, j)];
                }
            }
        }
        let norm = z.iter().map(|v| v * v).sum::<f64>().sqrt();
        let at = values.len();
        for (r, v) in z.iter().enumerate() {
            vectors[(r, at)] = if norm > 0.0 { v / norm } else { 0.0 };
        }
        values.push(lambda[i].max(0.0));
    }
    Ok((values, vectors))
}

/// The leading components and scikit-learn's attributes from the Ritz pairs of a basis
/// and its product (`ritz`): `most` of them for a count, and for a fraction of variance
/// as many as reach it (scikit-learn's rule, `choose_k`) among the first `most`, with
/// what they reached. `total_variance` is the trace of the covariance (from the column
/// pass), as scikit-learn's randomized PCA uses for the ratio and noise variance.
pub fn finish_fit(
    basis: MatRef<'_, f64>,
    product: MatRef<'_, f64>,
    n_components: NComponents,
    most: usize,
    n_samples: u64,
    total_variance: f64,
    whiten: bool,
) -> Result<(Pca, Option<Reached>)> {
    let p = basis.nrows();
    let (values, vectors) = ritz(basis, product)?;
    let dof = n_samples.saturating_sub(1).max(1) as f64;
    let spectrum: Vec<f64> = values.iter().map(|v| v / dof).collect();
    let most = most.min(spectrum.len());
    let (k, reached) = match n_components {
        NComponents::Fraction(requested) => {
            let k = choose_k(
                n_components,
                &spectrum[..most],
                total_variance,
                p,
                n_samples,
            )?;
            let reached = if total_variance > 0.0 {
                spectrum[..k].iter().sum::<f64>() / total_variance
            } else {
                1.0
            };
            let reached = Reached {
                requested,
                reached,
                sketch_too_narrow: total_variance > 0.0 && reached <= requested,
            };
            (k, Some(reached))
        }
        _ => (most, None),
    };
    let components = Mat::from_fn(k, p, |r, c| vectors[(c, r)]);
    let mut pca = finish(
        &spectrum[..k],
        components,
        total_variance,
        n_samples,
        whiten,
    )?;
    // scikit-learn: the variance not explained, spread over the remaining dimensions.
    let rest = (n_samples as usize).min(p).saturating_sub(k);
    pca.noise_variance = if rest > 0 {
        ((total_variance - pca.explained_variance.iter().sum::<f64>()) / rest as f64).max(0.0)
    } else {
        0.0
    };
    Ok((pca, reached))
}

/// The k largest Ritz values (`ritz`, descending): what the fit would report if it
/// stopped here.
pub(super) fn leading_ritz(
    basis: MatRef<'_, f64>,
    product: MatRef<'_, f64>,
    k: usize,
) -> Result<Vec<f64>> {
    let (values, _) = ritz(basis, product)?;
    Ok(values.into_iter().take(k).collect())
}

/// Whether no leading value moved by more than `tol` of itself between two passes.
pub(super) fn settled(before: &[f64], now: &[f64], tol: f64) -> bool {
    before
        .iter()
        .zip(now)
        .all(|(&a, &b)| (b - a).abs() <= tol * b.abs().max(f64::MIN_POSITIVE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn lu_normalizer_is_scipys_permuted_lower_factor() {
        let path = format!(
            "{}/tests/reference/pca_lu_normalizer.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let want: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let rows = |v: &Value| -> Vec<Vec<f64>> { serde_json::from_value(v.clone()).unwrap() };
        let (y, expected) = (rows(&want["y"]), rows(&want["permuted_lower"]));
        let y = Mat::from_fn(y.len(), y[0].len(), |i, j| y[i][j]);
        let got = lu_permuted_lower(&y);
        for (i, row) in expected.iter().enumerate() {
            for (j, e) in row.iter().enumerate() {
                let g = got[(i, j)];
                assert!((g - e).abs() <= 1e-14, "({i}, {j}): {g} against {e}");
            }
        }
    }
}
