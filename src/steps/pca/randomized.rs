//! The randomized solver: the randomized range finder of Halko, Martinsson & Tropp
//! (2011, Algorithms 4.3/4.4 with Rayleigh–Ritz, §5.5) run as passes over the data. Each
//! pass multiplies an orthonormal p × l basis P by the Gram matrix of the centered,
//! scaled rows, G·P = Σ A_bᵀ (A_b P), accumulated block by block; the next basis is the
//! QR of the product. After the last pass, the l × l matrix Pᵀ G P gives the Ritz values
//! (eigenvalues of G) and vectors. Memory is O(p × l + block × p) — never p².
//!
//! Rows are cut into fixed blocks (sized from p alone), so the result does not depend on
//! the chunk size.

use faer::{Accum, Mat, MatRef, Par, Side};

use super::{Pca, finish};
use crate::blocks::{Blocks, block_rows};
use crate::error::{Error, Result};
use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fitted::{Common, finished, pass_over};
use super::params::{NComponents, PowerNormalizer};
use crate::engine::PassStats;
use crate::stats::{ColumnStats, ColumnsAccumulator, SavedColumn};
use crate::steps::scale::{ScaleMethod, Scaler};
use crate::steps::state::{Floats, SavedMat};
use crate::steps::{FitStep, FittedStep, MergeFit, PartialState, check_rows};

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
            threads: 1,
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
            threads,
        } = self;
        let par = par(*threads);
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
        self.blocks.size_bytes() + pl * if self.algebra.is_some() { 3 } else { 1 }
    }

    pub fn finish(mut self, basis: &Mat<f64>, shift: &[f64], scale: Option<&[f64]>) -> Mat<f64> {
        let GramProduct {
            product,
            blocks,
            scaled,
            projected,
            algebra,
            threads,
        } = &mut self;
        let par = par(*threads);
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

/// Rayleigh–Ritz on the last basis P and its product Y = G·P: the k leading components
/// and scikit-learn's attributes. `total_variance` is the trace of the covariance (from the
/// column pass), as scikit-learn's randomized PCA uses for the ratio and noise variance.
pub fn finish_fit(
    basis: &Mat<f64>,
    product: &Mat<f64>,
    k: usize,
    n_samples: u64,
    total_variance: f64,
    whiten: bool,
) -> Result<Pca> {
    let (p, l) = (basis.nrows(), basis.ncols());
    let b = basis.transpose() * product;
    let b = Mat::from_fn(l, l, |i, j| 0.5 * (b[(i, j)] + b[(j, i)]));
    let evd = b.self_adjoint_eigen(Side::Lower).map_err(|e| {
        Error::Numeric(format!("randomized PCA: eigen-decomposition failed: {e:?}"))
    })?;
    let values = evd.S().column_vector();
    let vectors = basis * evd.U();
    let dof = n_samples.saturating_sub(1).max(1) as f64;
    let order: Vec<usize> = (0..l).rev().collect();
    let spectrum: Vec<f64> = order.iter().map(|&i| values[i].max(0.0) / dof).collect();
    let components = Mat::from_fn(k, p, |r, c| vectors[(c, order[r])]);
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
    Ok(pca)
}

/// The k largest Ritz values of the basis P and its product G·P (the eigenvalues of
/// Pᵀ G P, descending): what the fit would report if it stopped here.
fn leading_ritz(basis: &Mat<f64>, product: &Mat<f64>, k: usize) -> Result<Vec<f64>> {
    let b = basis.transpose() * product;
    let l = b.nrows();
    let b = Mat::from_fn(l, l, |i, j| 0.5 * (b[(i, j)] + b[(j, i)]));
    let values = b
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(|e| Error::Numeric(format!("randomized PCA: eigenvalues failed: {e:?}")))?;
    Ok(values.iter().rev().take(k).copied().collect())
}

/// Whether no leading value moved by more than `tol` of itself between two passes.
fn settled(before: &[f64], now: &[f64], tol: f64) -> bool {
    before
        .iter()
        .zip(now)
        .all(|(&a, &b)| (b - a).abs() <= tol * b.abs().max(f64::MIN_POSITIVE))
}

// The fit lifecycle of this solver (see `steps::FitStep`).

/// Randomized solver: a column pass (means, scales, total variance), then one pass per
/// product with the Gram matrix: the sketch and each power iteration.
pub(super) struct RandomizedFit {
    common: Common,
    columns: Option<ColumnsAccumulator>,
    /// Set by the column pass.
    scaled: Option<Sketch>,
    threads: usize,
}

/// What the column pass fixes, and the passes of products.
struct Sketch {
    n: u64,
    mean: Vec<f64>,
    scaler: Scaler,
    total_variance: f64,
    k: usize,
    power: usize,
    /// The product pass under way (0 the sketch), and its accumulator.
    pass: usize,
    basis: Mat<f64>,
    product: Option<GramProduct>,
    last: Mat<f64>,
    /// With `tol`: the leading Ritz values of the last pass, to see them settle.
    ritz: Option<Vec<f64>>,
    /// Whether the products multiply raw rows (`GramProduct::by_algebra`).
    algebra: bool,
}

impl Sketch {
    fn product(&self, threads: usize) -> GramProduct {
        let mut g = GramProduct::new(self.basis.nrows(), self.basis.ncols());
        g.threads = threads;
        if self.algebra { g.by_algebra() } else { g }
    }
}

impl RandomizedFit {
    pub(super) fn new(common: Common) -> RandomizedFit {
        RandomizedFit {
            columns: Some(ColumnsAccumulator::new(common.input.width())),
            common,
            scaled: None,
            threads: 1,
        }
    }

    fn label(pass: usize) -> String {
        if pass == 0 {
            "sketch".to_string()
        } else {
            format!("power {pass}")
        }
    }
}

impl FitStep for RandomizedFit {
    fn next_pass(&self) -> Option<String> {
        if self.columns.is_some() {
            return Some("scale".into());
        }
        let s = self.scaled.as_ref()?;
        (s.pass <= s.power).then(|| Self::label(s.pass))
    }

    fn update(&mut self, x: MatRef<'_, f64>) -> Result<()> {
        if let Some(columns) = &mut self.columns {
            columns.push(x);
        } else if let Some(s) = &mut self.scaled
            && let Some(product) = &mut s.product
        {
            product.push(x, &s.basis, &s.mean, s.scaler.scale.as_deref());
        }
        Ok(())
    }

    fn end_pass(&mut self, stats: &PassStats) -> Result<()> {
        let p = self.common.input.width();
        if let Some(acc) = self.columns.take() {
            let columns = acc.finish();
            let n = columns.first().map_or(0, |c| c.count);
            check_rows(&self.common.input, "PCA", stats, n)?;
            let var: Vec<f64> = columns
                .iter()
                .map(|c| c.m2 / c.count.max(1) as f64)
                .collect();
            let min: Vec<f64> = columns.iter().map(|c| c.min).collect();
            let max: Vec<f64> = columns.iter().map(|c| c.max).collect();
            self.common.check_range(&var, &min, &max)?;
            let params = &self.common.params;
            let scaler = self
                .common
                .stateless_scaler()
                .unwrap_or_else(|| Scaler::from_columns(self.common.scale, &columns));
            let scale = scaler.scale.as_deref();
            let total_variance: f64 = columns
                .iter()
                .enumerate()
                .map(|(j, c)| c.m2 / (n - 1) as f64 / scale.map_or(1.0, |s| s[j] * s[j]))
                .sum();
            let NComponents::Count(k) = params.n_components else {
                return Err(Error::config(
                    "the randomized solver needs an integer n_components",
                ));
            };
            let limit = (n as usize).min(p);
            if k > limit {
                return Err(Error::config(format!(
                    "pca.n_components = {k} is more than the {n} samples read"
                )));
            }
            let l = (k + params.oversamples.unwrap_or(10)).min(limit);
            let power = params
                .power_iterations
                .unwrap_or(if (k as f64) < 0.1 * limit as f64 {
                    7
                } else {
                    4
                });
            // raw rows are multiplied only where the means sit near zero in std units
            let algebra = columns.iter().all(|c| {
                let std = (c.m2 / c.count.max(1) as f64).sqrt();
                c.mean.abs() <= ALGEBRA_OFFSET * std || c.mean == 0.0
            });
            let mut sketch = Sketch {
                n,
                mean: columns.iter().map(|c| c.mean).collect(),
                scaler,
                total_variance,
                k,
                power,
                pass: 0,
                basis: start_basis(p, l, params.seed.unwrap_or(0)),
                product: None,
                last: Mat::zeros(0, 0),
                ritz: None,
                algebra,
            };
            sketch.product = Some(sketch.product(self.threads));
            self.scaled = Some(sketch);
            return Ok(());
        }
        let s = self
            .scaled
            .as_mut()
            .ok_or_else(|| Error::internal("a randomized pass ended before its column pass"))?;
        let product =
            finished(s.product.take())?.finish(&s.basis, &s.mean, s.scaler.scale.as_deref());
        if let Some(tol) = self.common.params.tol
            && s.pass < s.power
        {
            let now = leading_ritz(&s.basis, &product, s.k)?;
            if s.ritz
                .as_ref()
                .is_some_and(|before| settled(before, &now, tol))
            {
                // this pass's basis and product are the result: no further pass
                s.power = s.pass;
            }
            s.ritz = Some(now);
        }
        if s.pass < s.power {
            // The basis of the last pass (every pass's, with `tol`, as any may be the last)
            // is orthonormal for Rayleigh–Ritz, as scikit-learn's final QR.
            let params = &self.common.params;
            s.basis = if s.pass + 1 == s.power || params.tol.is_some() {
                orthonormalize(&product)
            } else {
                normalize(
                    params.power_iteration_normalizer.unwrap_or_default(),
                    &product,
                )
            };
            s.product = Some(s.product(self.threads));
        }
        s.last = product;
        s.pass += 1;
        Ok(())
    }

    fn rereads(&self) -> bool {
        true
    }

    fn set_threads(&mut self, threads: usize) {
        self.threads = threads;
        if let Some(product) = self.scaled.as_mut().and_then(|s| s.product.as_mut()) {
            product.threads = threads;
        }
    }

    fn size_bytes(&self) -> usize {
        self.columns
            .as_ref()
            .map_or(0, ColumnsAccumulator::size_bytes)
            + self.scaled.as_ref().map_or(0, |s| {
                s.basis.nrows() * s.basis.ncols() * 8
                    + s.product.as_ref().map_or(0, GramProduct::size_bytes)
            })
    }

    fn finish(self: Box<Self>) -> Result<Box<dyn FittedStep>> {
        let s = finished(self.scaled)?;
        let pca = finish_fit(
            &s.basis,
            &s.last,
            s.k,
            s.n,
            s.total_variance,
            self.common.params.whiten,
        )?;
        let tracked = s.basis.ncols();
        self.common
            .fitted(pca, s.mean, s.scaler, "randomized", Some(tracked))
    }
}

/// What the passes after the column pass start from (`MergeFit::between`): the `Sketch`
/// without its accumulator, bit for bit.
#[derive(Serialize, Deserialize)]
struct SavedSketch {
    n: u64,
    mean: Floats,
    method: ScaleMethod,
    scale: Option<Floats>,
    total_variance: f64,
    k: usize,
    power: usize,
    pass: usize,
    basis: SavedMat,
    ritz: Option<Vec<f64>>,
    algebra: bool,
}

/// The pass label of a state between passes.
const BETWEEN: &str = "between";

impl MergeFit for RandomizedFit {
    fn between(&self) -> Option<PartialState> {
        let s = self.scaled.as_ref()?;
        let saved = SavedSketch {
            n: s.n,
            mean: Floats(s.mean.clone()),
            method: s.scaler.method,
            scale: s.scaler.scale.clone().map(Floats),
            total_variance: s.total_variance,
            k: s.k,
            power: s.power,
            pass: s.pass,
            basis: SavedMat::of(s.basis.as_ref()),
            ritz: s.ritz.clone(),
            algebra: s.algebra,
        };
        Some(PartialState::new(
            "pca",
            BETWEEN,
            &self.common.input.fingerprint,
            &saved,
        ))
    }

    fn resume(&mut self, state: &PartialState) -> Result<()> {
        let saved: SavedSketch = state.state_of("pca", BETWEEN, &self.common.input.fingerprint)?;
        let p = self.common.input.width();
        let basis = saved.basis.to_mat()?;
        let l = basis.ncols();
        if basis.nrows() != p
            || saved.mean.len() != p
            || saved.scale.as_ref().is_some_and(|s| s.len() != p)
            || l == 0
            || saved.k > l
            || saved.pass > saved.power
        {
            return Err(Error::config("malformed pca state: its shapes differ"));
        }
        let mut sketch = Sketch {
            n: saved.n,
            mean: saved.mean.0,
            scaler: Scaler {
                method: saved.method,
                scale: saved.scale.map(|s| s.0),
            },
            total_variance: saved.total_variance,
            k: saved.k,
            power: saved.power,
            pass: saved.pass,
            basis,
            product: None,
            last: Mat::zeros(0, 0),
            ritz: saved.ritz,
            algebra: saved.algebra,
        };
        sketch.product = Some(sketch.product(self.threads));
        self.columns = None;
        self.scaled = Some(sketch);
        Ok(())
    }

    fn save(&self) -> PartialState {
        match (&self.columns, &self.scaled) {
            (Some(columns), _) => {
                let saved: Vec<SavedColumn> =
                    columns.snapshot().iter().map(ColumnStats::save).collect();
                PartialState::new("pca", "scale", &self.common.input.fingerprint, &saved)
            }
            (None, Some(s)) => {
                let product = s.product.as_ref().map(|g| {
                    SavedMat::of(
                        g.snapshot(&s.basis, &s.mean, s.scaler.scale.as_deref())
                            .as_ref(),
                    )
                });
                PartialState::new(
                    "pca",
                    &Self::label(s.pass),
                    &self.common.input.fingerprint,
                    &product,
                )
            }
            (None, None) => {
                PartialState::new("pca", "done", &self.common.input.fingerprint, &Value::Null)
            }
        }
    }

    fn merge(&mut self, other: &PartialState) -> Result<()> {
        if let Some(columns) = &mut self.columns {
            let saved: Vec<SavedColumn> =
                other.state_of("pca", "scale", &self.common.input.fingerprint)?;
            if saved.len() != self.common.input.width() {
                return Err(Error::config("malformed pca state: its width differs"));
            }
            columns.merge(&saved.iter().map(ColumnStats::load).collect::<Vec<_>>());
            return Ok(());
        }
        let s = self.scaled.as_mut().ok_or_else(pass_over)?;
        let saved: SavedMat =
            other.state_of("pca", &Self::label(s.pass), &self.common.input.fingerprint)?;
        let product = s.product.as_mut().ok_or_else(pass_over)?;
        let m = saved.to_mat()?;
        if m.nrows() != s.basis.nrows() || m.ncols() != s.basis.ncols() {
            return Err(Error::config("malformed pca state: its shape differs"));
        }
        product.merge(m.as_ref());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
