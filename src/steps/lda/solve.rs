//! scikit-learn's `LinearDiscriminantAnalysis` from per-class statistics (count, mean,
//! co-moment), so that one mergeable pass is enough. The formulas follow
//! `_solve_svd` and `_solve_eigen` in sklearn/discriminant_analysis.py; where scikit-learn
//! takes an SVD of the n × p within-class-centred data, the same singular values and right
//! vectors come from the eigen-decomposition of its p × p Gram matrix, which is the sum of
//! the classes' co-moments.

use faer::{Mat, Side};

use super::params::LdaSolver;
use crate::error::{Error, Result};

/// One class's statistics.
#[derive(Debug, Clone)]
pub struct ClassStats {
    pub n: u64,
    pub mean: Vec<f64>,
    /// Σ (x − mean)(x − mean)ᵀ over the class's rows.
    pub comoment: Mat<f64>,
}

/// The fitted discriminant: scikit-learn's attributes.
#[derive(Debug, Clone)]
pub struct Lda {
    pub priors: Vec<f64>,
    /// classes × p.
    pub means: Mat<f64>,
    pub xbar: Vec<f64>,
    /// p × k: the transform's matrix, already cut to the components kept.
    pub scalings: Mat<f64>,
    pub explained_variance_ratio: Vec<f64>,
}

/// Solves for at most `max_components` discriminants (already checked ≤ classes − 1, p).
pub fn solve(
    classes: &[ClassStats],
    solver: LdaSolver,
    shrinkage: Option<f64>,
    tol: f64,
    max_components: usize,
) -> Result<Lda> {
    let p = classes[0].mean.len();
    let c = classes.len();
    let n: f64 = classes.iter().map(|s| s.n as f64).sum();
    let priors: Vec<f64> = classes.iter().map(|s| s.n as f64 / n).collect();
    let means = Mat::from_fn(c, p, |i, j| classes[i].mean[j]);
    let xbar: Vec<f64> = (0..p)
        .map(|j| (0..c).map(|i| priors[i] * means[(i, j)]).sum())
        .collect();
    let within = classes
        .iter()
        .fold(Mat::<f64>::zeros(p, p), |acc, s| acc + &s.comoment);
    let (scalings, ratio) = match solver {
        LdaSolver::Svd => solve_svd(&within, &means, &xbar, &priors, n, tol)?,
        LdaSolver::Eigen => solve_eigen(classes, &within, &means, &xbar, n, shrinkage)?,
    };
    let k = max_components.min(scalings.ncols());
    // Each column's largest-magnitude entry positive, as PCA's components: scikit-learn's
    // LDA leaves the signs to LAPACK; fixing them keeps results platform-independent.
    let mut columns = scalings.subcols(0, k).transpose().to_owned();
    crate::steps::pca::flip_signs(&mut columns);
    let scalings = columns.transpose().to_owned();
    Ok(Lda {
        priors,
        means,
        xbar,
        scalings,
        explained_variance_ratio: ratio.into_iter().take(max_components).collect(),
    })
}

fn numeric(what: &str) -> impl Fn(faer::linalg::evd::EvdError) -> Error + '_ {
    move |e| Error::Numeric(format!("lda: {what} did not converge: {e:?}"))
}

/// `_solve_svd`: whiten the within-class scatter, then take the between-class directions
/// in that space.
fn solve_svd(
    within: &Mat<f64>,
    means: &Mat<f64>,
    xbar: &[f64],
    priors: &[f64],
    n: f64,
    tol: f64,
) -> Result<(Mat<f64>, Vec<f64>)> {
    let (c, p) = (means.nrows(), means.ncols());
    // Xc.std(axis=0): the within-class-centred columns have mean zero
    let std: Vec<f64> = (0..p)
        .map(|j| {
            let s = (within[(j, j)] / n).max(0.0).sqrt();
            if s == 0.0 { 1.0 } else { s }
        })
        .collect();
    // scikit-learn ≥ 1.2 scales by 1/n (it was 1/(n − classes))
    let fac = 1.0 / n;
    let gram = Mat::from_fn(p, p, |i, j| fac * within[(i, j)] / (std[i] * std[j]));
    let evd = gram
        .self_adjoint_eigen(Side::Lower)
        .map_err(numeric("the within-class eigen-decomposition"))?;
    let values = evd.S().column_vector();
    let vectors = evd.U();
    // decreasing singular values, those above tol
    let kept: Vec<(usize, f64)> = (0..p)
        .rev()
        .map(|i| (i, values[i].max(0.0).sqrt()))
        .filter(|&(_, s)| s > tol)
        .collect();
    let rank = kept.len();
    let first = Mat::from_fn(p, rank, |j, r| vectors[(j, kept[r].0)] / std[j] / kept[r].1);
    let between_fac = if c > 1 { 1.0 / (c as f64 - 1.0) } else { 1.0 };
    let weighted = Mat::from_fn(c, p, |i, j| {
        (n * priors[i] * between_fac).sqrt() * (means[(i, j)] - xbar[j])
    });
    let x = &weighted * &first;
    let svd = x.thin_svd().map_err(|e| {
        Error::Numeric(format!(
            "lda: the between-class SVD did not converge: {e:?}"
        ))
    })?;
    let s = svd.S().column_vector();
    let v = svd.V();
    let mut order: Vec<usize> = (0..s.nrows()).collect();
    order.sort_by(|&a, &b| s[b].total_cmp(&s[a]));
    let total: f64 = order.iter().map(|&i| s[i] * s[i]).sum();
    let ratio: Vec<f64> = order.iter().map(|&i| s[i] * s[i] / total).collect();
    let largest = order.first().map_or(0.0, |&i| s[i]);
    let rank2 = order.iter().filter(|&&i| s[i] > tol * largest).count();
    let second = Mat::from_fn(rank, rank2, |r, q| v[(r, order[q])]);
    Ok((&first * &second, ratio))
}

/// `_solve_eigen`: the generalised eigenproblem Sb v = λ Sw v, with scikit-learn's
/// covariances (divided by the rows, classes weighted by their priors) and optional
/// shrinkage towards trace/p · I.
fn solve_eigen(
    classes: &[ClassStats],
    within: &Mat<f64>,
    means: &Mat<f64>,
    xbar: &[f64],
    n: f64,
    shrinkage: Option<f64>,
) -> Result<(Mat<f64>, Vec<f64>)> {
    let p = means.ncols();
    let shrink = |mut cov: Mat<f64>| {
        if let Some(alpha) = shrinkage {
            let mu = (0..p).map(|j| cov[(j, j)]).sum::<f64>() / p as f64;
            cov *= faer::Scale(1.0 - alpha);
            for j in 0..p {
                cov[(j, j)] += alpha * mu;
            }
        }
        cov
    };
    let mut sw = Mat::<f64>::zeros(p, p);
    for s in classes {
        let prior = s.n as f64 / n;
        let cov = shrink(Mat::from_fn(p, p, |a, b| s.comoment[(a, b)] / s.n as f64));
        sw += faer::Scale(prior) * &cov;
    }
    let mut total = within.clone();
    for (i, s) in classes.iter().enumerate() {
        for a in 0..p {
            let da = means[(i, a)] - xbar[a];
            for b in 0..p {
                total[(a, b)] += s.n as f64 * da * (means[(i, b)] - xbar[b]);
            }
        }
    }
    let st = shrink(Mat::from_fn(p, p, |a, b| total[(a, b)] / n));
    let sb = &st - &sw;
    let llt = sw.llt(Side::Lower).map_err(|_| {
        Error::Numeric(
            "lda: the within-class covariance is singular (a feature constant within every \
             class, or fewer rows than features); use solver: svd, or eigen with shrinkage"
                .into(),
        )
    })?;
    let l = llt.L();
    // C = L⁻¹ Sb L⁻ᵀ, symmetric; its eigenvectors w give v = L⁻ᵀ w with vᵀ Sw v = 1
    let mut m = sb.clone();
    faer::linalg::triangular_solve::solve_lower_triangular_in_place(l, m.as_mut(), faer::Par::Seq);
    let mut c = m.transpose().to_owned();
    faer::linalg::triangular_solve::solve_lower_triangular_in_place(l, c.as_mut(), faer::Par::Seq);
    let c = Mat::from_fn(p, p, |a, b| 0.5 * (c[(a, b)] + c[(b, a)]));
    let evd = c
        .self_adjoint_eigen(Side::Lower)
        .map_err(numeric("the generalised eigen-decomposition"))?;
    let values = evd.S().column_vector();
    let mut w = evd.U().to_owned();
    faer::linalg::triangular_solve::solve_upper_triangular_in_place(
        l.transpose(),
        w.as_mut(),
        faer::Par::Seq,
    );
    let mut order: Vec<usize> = (0..p).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let sum: f64 = (0..p).map(|i| values[i]).sum();
    let ratio = order.iter().map(|&i| values[i] / sum).collect();
    Ok((Mat::from_fn(p, p, |a, q| w[(a, order[q])]), ratio))
}
