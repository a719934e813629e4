//! The two solvers' fits (`steps::FitStep`) and the mathematics that turns what they
//! read into scikit-learn's attributes (`Decomposition`).

use faer::{Mat, MatRef, Side};

use super::fitted::{Decomposition, FittedTruncatedSvd};
use super::{Solver, TruncatedSvdParams};
use crate::engine::PassStats;
use crate::error::{Error, Result};
use crate::stats::{ColumnStats, ColumnsAccumulator, Moments, MomentsAccumulator, SavedMoments};
use crate::steps::pca::flip_signs;
use crate::steps::pca::params::PowerNormalizer;
use crate::steps::pca::randomized::{GramProduct, normalize, start_basis};
use crate::steps::{FitStep, FittedStep, MergeFit, PartialState, StepInput, check_rows};
use crate::steps::{MomentsPass, Pass, PassName};

const KIND: &str = <super::Kind as crate::steps::Named>::NAME;

fn pass_over() -> Error {
    Error::internal("truncated_svd: a state arrived after its pass ended")
}

/// The exact solver's attributes from the moments of the rows: XᵀX = M + n·μμᵀ (M the
/// centred co-moment), its k leading eigenpairs (σ² and the right singular vectors, the
/// SVD of X that arpack computes), and the variance of each projection Xv, which is
/// vᵀ(M/n)v exactly (np.var, ddof 0), taken from M so that no raw Σx² cancels.
pub(super) fn exact(moments: &Moments, k: usize) -> Result<Decomposition> {
    let p = moments.nfeatures();
    let n = moments.n as f64;
    let co = |i: usize, j: usize| {
        let (a, b) = if i >= j { (i, j) } else { (j, i) };
        moments.co_moment[(a, b)]
    };
    let mean = &moments.mean;
    let gram = Mat::from_fn(p, p, |i, j| co(i, j) + n * mean[i] * mean[j]);
    let evd = gram.self_adjoint_eigen(Side::Lower).map_err(|e| {
        Error::Numeric(format!(
            "truncated_svd: eigen-decomposition did not converge: {e:?}"
        ))
    })?;
    let values = evd.S().column_vector();
    let vectors = evd.U();
    // faer's eigenvalues increase; rounding can make a zero one slightly negative
    let mut components = Mat::from_fn(k, p, |r, c| vectors[(c, p - 1 - r)]);
    let singular_values = (0..k).map(|r| values[p - 1 - r].max(0.0).sqrt()).collect();
    flip_signs(&mut components);
    let covariance = Mat::from_fn(p, p, |i, j| co(i, j) / n);
    let explained_variance = (0..k)
        .map(|r| {
            let v = components.row(r).transpose();
            (v.transpose() * (&covariance * v)).max(0.0)
        })
        .collect();
    let total_variance = (0..p).map(|j| co(j, j)).sum::<f64>() / n;
    Ok(Decomposition::new(
        components,
        singular_values,
        explained_variance,
        total_variance,
        moments.n,
        Solver::Exact,
    ))
}

/// scikit-learn's `randomized_svd` from its last basis W (p × l, the power iterations'
/// G^q·Ω, any normalisation) and the product Y = G·W, G = XᵀX. scikit-learn takes
/// Q = orth(X·W) and the SVD of B = QᵀX; with Wᵀ G W = E Λ Eᵀ, Q = X W E Λ^(-1/2) is
/// such a basis, so B Bᵀ = Λ^(-1/2) Eᵀ (YᵀY) E Λ^(-1/2) = U Σ² Uᵀ and the right singular
/// vectors are Bᵀu/σ = Y E Λ^(-1/2) u / σ. Directions of W that XᵀX does not see
/// (Λ at rounding level) are dropped, as the QR of a rank-deficient X·W would.
pub(super) fn randomized(
    basis: &Mat<f64>,
    product: &Mat<f64>,
    k: usize,
) -> Result<(Mat<f64>, Vec<f64>)> {
    let failed = |e| {
        Error::Numeric(format!(
            "truncated_svd: randomized eigen-decomposition failed: {e:?}"
        ))
    };
    let (p, l) = (basis.nrows(), basis.ncols());
    let symmetric =
        |m: Mat<f64>| Mat::from_fn(m.nrows(), m.ncols(), |i, j| 0.5 * (m[(i, j)] + m[(j, i)]));
    let inner = symmetric(basis.transpose() * product);
    let evd = inner.self_adjoint_eigen(Side::Lower).map_err(failed)?;
    let (lambda, e) = (evd.S().column_vector(), evd.U());
    let largest = (0..l).map(|i| lambda[i]).fold(0.0, f64::max);
    let kept: Vec<usize> = (0..l)
        .filter(|&i| lambda[i] > largest * l as f64 * f64::EPSILON)
        .collect();
    if kept.len() < k {
        return Err(Error::data(format!(
            "truncated_svd: the data has rank {} as the randomized solver sees it, below \
             n_components = {k}; lower n_components",
            kept.len()
        )));
    }
    let s = Mat::from_fn(l, kept.len(), |i, j| {
        e[(i, kept[j])] / lambda[kept[j]].sqrt()
    });
    let ys = product * &s;
    let bbt = symmetric(ys.transpose() * &ys);
    let evd = bbt.self_adjoint_eigen(Side::Lower).map_err(failed)?;
    let (sigma2, u) = (evd.S().column_vector(), evd.U());
    let r = kept.len();
    let mut components = Mat::<f64>::zeros(k, p);
    let mut singular_values = Vec::with_capacity(k);
    for c in 0..k {
        let v = &ys * u.col(r - 1 - c);
        let norm = v.norm_l2();
        for j in 0..p {
            components[(c, j)] = if norm > 0.0 { v[j] / norm } else { 0.0 };
        }
        singular_values.push(sigma2[r - 1 - c].max(0.0).sqrt());
    }
    flip_signs(&mut components);
    Ok((components, singular_values))
}

/// Exact solver: one pass of mergeable moments (`MomentsAccumulator`, blocks of fixed
/// rows, so chunking does not change a bit).
pub(super) struct ExactFit {
    params: TruncatedSvdParams,
    input: StepInput,
    acc: Option<MomentsAccumulator>,
    moments: Option<Moments>,
}

impl ExactFit {
    pub(super) fn new(params: TruncatedSvdParams, input: StepInput) -> ExactFit {
        let p = input.width();
        ExactFit {
            params,
            input,
            acc: Some(MomentsAccumulator::new(p)),
            moments: None,
        }
    }
}

/// The randomized solver's passes: the sketch, the power iterations, then the
/// projections' variance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SvdPass {
    Sketch,
    Power(usize),
    Variance,
}

impl PassName for SvdPass {
    fn label(self) -> std::borrow::Cow<'static, str> {
        match self {
            SvdPass::Sketch => "sketch".into(),
            SvdPass::Power(i) => format!("power {i}").into(),
            SvdPass::Variance => "variance".into(),
        }
    }
}

impl FitStep for ExactFit {
    fn next_pass(&self) -> Option<Pass> {
        self.acc.is_some().then(|| MomentsPass::Fit.into())
    }

    fn update(&mut self, x: MatRef<'_, f64>) -> Result<()> {
        self.acc.as_mut().ok_or_else(pass_over)?.push(x);
        Ok(())
    }

    fn end_pass(&mut self, stats: &PassStats) -> Result<()> {
        let moments = self.acc.take().ok_or_else(pass_over)?.finish();
        check_rows(&self.input, "truncated SVD", stats, moments.n)?;
        self.moments = Some(moments);
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.acc.as_ref().map_or(0, MomentsAccumulator::size_bytes)
    }

    fn finish(self: Box<Self>) -> Result<Box<dyn FittedStep>> {
        let moments = self
            .moments
            .ok_or_else(|| Error::internal("truncated_svd finished before its pass"))?;
        let fit = exact(&moments, self.params.n_components)?;
        Ok(Box::new(
            FittedTruncatedSvd::new(fit, Some(self.params)).with_mean(moments.mean),
        ))
    }
}

impl MergeFit for ExactFit {
    fn save(&self) -> PartialState {
        let saved = self.acc.as_ref().map(|a| a.snapshot().save());
        PartialState::new(KIND, MomentsPass::Fit, &self.input.fingerprint, &saved)
    }

    fn merge(&mut self, other: &PartialState) -> Result<()> {
        let saved: SavedMoments =
            other.state_of(KIND, MomentsPass::Fit, &self.input.fingerprint)?;
        let acc = self.acc.as_mut().ok_or_else(pass_over)?;
        let moments = Moments::load(&saved)
            .filter(|m| m.nfeatures() == self.input.width())
            .ok_or_else(|| Error::config("malformed truncated_svd state: its width differs"))?;
        acc.merge(&moments);
        Ok(())
    }
}

/// Randomized solver: passes `sketch` (G·Ω and the columns' variances), `power i`
/// (G·W for each power iteration), then `variance` (each row's projections, whose
/// variance scikit-learn reports: np.var(X·componentsᵀ)). Sequential: each pass starts
/// from the one before, and it keeps no merge of its own.
pub(super) struct RandomizedFit {
    params: TruncatedSvdParams,
    input: StepInput,
    normalizer: PowerNormalizer,
    zeros: Vec<f64>,
    basis: Mat<f64>,
    product: Option<GramProduct>,
    /// Products with G done so far; n_iter + 1 in all.
    products: usize,
    columns: Option<ColumnsAccumulator>,
    column_stats: Vec<ColumnStats>,
    /// The components and singular values once the products are done.
    solved: Option<(Mat<f64>, Vec<f64>)>,
    projections: Option<ColumnsAccumulator>,
    variance: Option<Vec<ColumnStats>>,
    threads: usize,
}

impl RandomizedFit {
    pub(super) fn new(params: TruncatedSvdParams, input: StepInput) -> RandomizedFit {
        let p = input.width();
        let l = params.sketch(p);
        RandomizedFit {
            normalizer: params.normalizer(),
            basis: start_basis(p, l, params.seed),
            product: Some(GramProduct::new(p, l)),
            columns: Some(ColumnsAccumulator::new(p)),
            zeros: vec![0.0; p],
            products: 0,
            column_stats: Vec::new(),
            solved: None,
            projections: None,
            variance: None,
            threads: 1,
            params,
            input,
        }
    }

    fn products_needed(&self) -> usize {
        self.params.n_iter + 1
    }
}

impl FitStep for RandomizedFit {
    fn next_pass(&self) -> Option<Pass> {
        match self.products {
            0 => Some(SvdPass::Sketch.into()),
            i if i < self.products_needed() => Some(SvdPass::Power(i).into()),
            _ => self.variance.is_none().then(|| SvdPass::Variance.into()),
        }
    }

    fn update(&mut self, x: MatRef<'_, f64>) -> Result<()> {
        if let Some((components, _)) = &self.solved {
            let z = x * components.transpose();
            self.projections
                .as_mut()
                .ok_or_else(pass_over)?
                .push(z.as_ref());
            return Ok(());
        }
        if let Some(columns) = &mut self.columns {
            columns.push(x);
        }
        let product = self.product.as_mut().ok_or_else(pass_over)?;
        product.threads = self.threads;
        product.push(x, &self.basis, &self.zeros, None);
        Ok(())
    }

    fn end_pass(&mut self, stats: &PassStats) -> Result<()> {
        if self.solved.is_some() {
            self.variance = Some(self.projections.take().ok_or_else(pass_over)?.finish());
            return Ok(());
        }
        if let Some(columns) = self.columns.take() {
            self.column_stats = columns.finish();
            let n = self.column_stats.first().map_or(0, |c| c.count);
            check_rows(&self.input, "truncated SVD", stats, n)?;
        }
        let product = self.product.take().ok_or_else(pass_over)?;
        let y = product.finish(&self.basis, &self.zeros, None);
        self.products += 1;
        if self.products < self.products_needed() {
            self.basis = normalize(self.normalizer, &y);
            self.product = Some(GramProduct::new(self.basis.nrows(), self.basis.ncols()));
        } else {
            let k = self.params.n_components;
            self.solved = Some(randomized(&self.basis, &y, k)?);
            self.projections = Some(ColumnsAccumulator::new(k));
        }
        Ok(())
    }

    fn rereads(&self) -> bool {
        true
    }

    fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    fn size_bytes(&self) -> usize {
        let basis = self.basis.nrows() * self.basis.ncols() * 8;
        basis
            + self.product.as_ref().map_or(0, GramProduct::size_bytes)
            + self
                .columns
                .as_ref()
                .map_or(0, ColumnsAccumulator::size_bytes)
            + self
                .projections
                .as_ref()
                .map_or(0, ColumnsAccumulator::size_bytes)
    }

    fn finish(self: Box<Self>) -> Result<Box<dyn FittedStep>> {
        let (Some((components, singular_values)), Some(variance)) = (self.solved, self.variance)
        else {
            return Err(Error::internal("truncated_svd finished before its passes"));
        };
        let n = self.column_stats.first().map_or(0, |c| c.count);
        let population = |c: &ColumnStats| c.m2 / c.count.max(1) as f64;
        let total_variance = self.column_stats.iter().map(population).sum();
        let explained_variance = variance.iter().map(population).collect();
        let fit = Decomposition::new(
            components,
            singular_values,
            explained_variance,
            total_variance,
            n,
            Solver::Randomized,
        );
        let mean = self.column_stats.iter().map(|c| c.mean).collect();
        Ok(Box::new(
            FittedTruncatedSvd::new(fit, Some(self.params)).with_mean(mean),
        ))
    }
}
