//! scikit-learn's `LinearDiscriminantAnalysis` from per-class statistics (count, mean,
//! co-moment), so that one mergeable pass is enough. The formulas follow
//! `_solve_svd` and `_solve_eigen` in sklearn/discriminant_analysis.py; where scikit-learn
//! takes an SVD of the n × p within-class-centred data, the same singular values and right
//! vectors come from the eigen-decomposition of its p × p Gram matrix, which is the sum of
//! the classes' co-moments.

use faer::{Mat, MatRef, Side};

use super::params::{LdaSolver, Shrinkage, ShrinkageName};
use crate::error::{Error, Result};

/// One class's statistics.
#[derive(Debug, Clone)]
pub struct ClassStats {
    pub n: u64,
    pub mean: Vec<f64>,
    /// Σ (x − mean)(x − mean)ᵀ over the class's rows.
    pub comoment: Mat<f64>,
    /// With `shrinkage: auto`: Σ dᵢ² dⱼ and Σ dᵢ² dⱼ² (d = x − mean), which Ledoit–Wolf's
    /// shrinkage needs beyond the co-moment and which merge as it does.
    pub higher: Option<Higher>,
}

/// Third and fourth order co-moments about the mean.
#[derive(Debug, Clone)]
pub struct Higher {
    /// (i, j): Σ dᵢ² dⱼ.
    pub third: Mat<f64>,
    /// (i, j): Σ dᵢ² dⱼ².
    pub fourth: Mat<f64>,
}

impl ClassStats {
    pub fn empty(p: usize, higher: bool) -> ClassStats {
        ClassStats {
            n: 0,
            mean: vec![0.0; p],
            comoment: Mat::zeros(p, p),
            higher: higher.then(|| Higher {
                third: Mat::zeros(p, p),
                fourth: Mat::zeros(p, p),
            }),
        }
    }

    /// The statistics of the rows of `x` (`higher` with the third and fourth co-moments).
    pub fn of(x: faer::MatRef<'_, f64>, higher: bool) -> ClassStats {
        let (n, p) = (x.nrows(), x.ncols());
        let mean: Vec<f64> = (0..p)
            .map(|j| (0..n).map(|i| x[(i, j)]).sum::<f64>() / n as f64)
            .collect();
        let d = Mat::from_fn(n, p, |i, j| x[(i, j)] - mean[j]);
        let comoment = d.transpose() * &d;
        let higher = higher.then(|| {
            let d2 = Mat::from_fn(n, p, |i, j| d[(i, j)] * d[(i, j)]);
            Higher {
                third: d2.transpose() * &d,
                fourth: d2.transpose() * &d2,
            }
        });
        ClassStats {
            n: n as u64,
            mean,
            comoment,
            higher,
        }
    }

    /// Adds `b`'s rows (Chan et al.'s update, extended to the higher co-moments: each
    /// side's moments moved to the merged mean, then summed).
    pub fn merge(&mut self, b: &ClassStats) {
        if b.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = b.clone();
            return;
        }
        let (na, nb) = (self.n as f64, b.n as f64);
        let n = na + nb;
        let p = self.mean.len();
        let delta: Vec<f64> = (0..p).map(|j| b.mean[j] - self.mean[j]).collect();
        if let (Some(ha), Some(hb)) = (&self.higher, &b.higher) {
            // each side's deviations from the merged mean are d − shift
            let sa: Vec<f64> = delta.iter().map(|d| d * nb / n).collect();
            let sb: Vec<f64> = delta.iter().map(|d| -d * na / n).collect();
            let moved = |c: &Mat<f64>, h: &Higher, s: &[f64], m: f64| {
                let third = Mat::from_fn(p, p, |i, j| {
                    h.third[(i, j)]
                        - s[j] * c[(i, i)]
                        - 2.0 * s[i] * c[(i, j)]
                        - m * s[i] * s[i] * s[j]
                });
                let fourth = Mat::from_fn(p, p, |i, j| {
                    h.fourth[(i, j)] - 2.0 * s[j] * h.third[(i, j)] - 2.0 * s[i] * h.third[(j, i)]
                        + s[j] * s[j] * c[(i, i)]
                        + s[i] * s[i] * c[(j, j)]
                        + 4.0 * s[i] * s[j] * c[(i, j)]
                        + m * s[i] * s[i] * s[j] * s[j]
                });
                (third, fourth)
            };
            let (ta, fa) = moved(&self.comoment, ha, &sa, na);
            let (tb, fb) = moved(&b.comoment, hb, &sb, nb);
            self.higher = Some(Higher {
                third: ta + tb,
                fourth: fa + fb,
            });
        }
        let w = na * nb / n;
        for i in 0..p {
            for j in 0..p {
                self.comoment[(i, j)] += b.comoment[(i, j)] + w * delta[i] * delta[j];
            }
        }
        for (m, d) in self.mean.iter_mut().zip(&delta) {
            *m += d * nb / n;
        }
        self.n += b.n;
    }

    /// The covariance scikit-learn's `_cov` estimates from these rows: empirical (divided
    /// by the rows), shrunk by a fixed fraction towards trace/p · I, or by Ledoit–Wolf's
    /// fraction computed on the standardised rows and scaled back.
    fn covariance(&self, shrinkage: Option<Shrinkage>) -> Mat<f64> {
        let p = self.mean.len();
        let n = self.n as f64;
        let mut cov = Mat::from_fn(p, p, |a, b| self.comoment[(a, b)] / n);
        match shrinkage {
            None => {}
            Some(Shrinkage::Fixed(alpha)) => {
                let mu = (0..p).map(|j| cov[(j, j)]).sum::<f64>() / p as f64;
                cov *= faer::Scale(1.0 - alpha);
                for j in 0..p {
                    cov[(j, j)] += alpha * mu;
                }
            }
            Some(Shrinkage::Named(ShrinkageName::Auto)) => {
                let fourth = &self.higher.as_ref().expect("gathered with auto").fourth;
                // StandardScaler's scale_: the population standard deviation, 1 for a
                // feature constant up to rounding (its `_is_constant_feature` and
                // `_handle_zeros_in_scale`, as the scale step): a class's constant pixel
                // after a standard scaling holds rounding noise, not spread
                let eps = f64::EPSILON;
                let s: Vec<f64> = (0..p)
                    .map(|j| {
                        let var = cov[(j, j)].max(0.0);
                        let bound = n * eps * var + (n * self.mean[j] * eps).powi(2);
                        let v = var.sqrt();
                        if var <= bound || v < 10.0 * eps {
                            1.0
                        } else {
                            v
                        }
                    })
                    .collect();
                let lambda = ledoit_wolf_shrinkage(
                    n,
                    p,
                    |i, j| self.comoment[(i, j)] / (s[i] * s[j]),
                    |i, j| fourth[(i, j)] / (s[i] * s[i] * s[j] * s[j]),
                );
                let mu = (0..p).map(|j| cov[(j, j)] / (s[j] * s[j])).sum::<f64>() / p as f64;
                cov *= faer::Scale(1.0 - lambda);
                for j in 0..p {
                    cov[(j, j)] += lambda * mu * s[j] * s[j];
                }
            }
        }
        cov
    }
}

/// `sklearn.covariance.ledoit_wolf_shrinkage` of n centred rows Z given ZᵀZ (`gram`) and
/// (Z∘Z)ᵀ(Z∘Z) (`squares`), the sums it takes over the rows.
fn ledoit_wolf_shrinkage(
    n: f64,
    p: usize,
    gram: impl Fn(usize, usize) -> f64,
    squares: impl Fn(usize, usize) -> f64,
) -> f64 {
    if p == 1 {
        return 0.0;
    }
    let pf = p as f64;
    let trace: Vec<f64> = (0..p).map(|j| gram(j, j) / n).collect();
    let mu = trace.iter().sum::<f64>() / pf;
    let mut beta_ = 0.0;
    let mut delta_ = 0.0;
    for i in 0..p {
        for j in 0..p {
            beta_ += squares(i, j);
            delta_ += gram(i, j) * gram(i, j);
        }
    }
    delta_ /= n * n;
    let beta = 1.0 / (pf * n) * (beta_ / n - delta_);
    let delta = (delta_ - 2.0 * mu * trace.iter().sum::<f64>() + pf * mu * mu) / pf;
    let beta = beta.min(delta);
    if beta == 0.0 { 0.0 } else { beta / delta }
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
    /// The classifier's `coef_` (classes × p; one row, class 1 against class 0, for two
    /// classes, as scikit-learn) and `intercept_`.
    pub coef: Mat<f64>,
    pub intercept: Vec<f64>,
}

impl Lda {
    /// scikit-learn's `predict_proba` of the rows of `x` (rows × classes): the softmax of
    /// the decision function, or its logistic for two classes.
    pub fn proba(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let decision = x * self.coef.transpose();
        let n = x.nrows();
        if self.coef.nrows() == 1 {
            return Mat::from_fn(n, 2, |i, c| {
                let d = decision[(i, 0)] + self.intercept[0];
                let p1 = 1.0 / (1.0 + (-d).exp());
                if c == 1 { p1 } else { 1.0 - p1 }
            });
        }
        let classes = self.coef.nrows();
        let mut out = Mat::zeros(n, classes);
        for i in 0..n {
            let scores: Vec<f64> = (0..classes)
                .map(|c| decision[(i, c)] + self.intercept[c])
                .collect();
            let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = scores.iter().map(|s| (s - top).exp()).collect();
            let sum: f64 = e.iter().sum();
            for c in 0..classes {
                out[(i, c)] = e[c] / sum;
            }
        }
        out
    }
}

/// scikit-learn's `predict` from `predict_proba`'s rows: the most probable class (the
/// first of equals), as its arg-max of the decision function.
pub fn predicted(proba: MatRef<'_, f64>) -> Vec<usize> {
    (0..proba.nrows())
        .map(|i| {
            (0..proba.ncols()).fold(0, |best, c| {
                if proba[(i, c)] > proba[(i, best)] {
                    c
                } else {
                    best
                }
            })
        })
        .collect()
}

/// Solves for at most `max_components` discriminants (already checked ≤ classes − 1, p),
/// with the given priors (in the classes' order) or the classes' frequencies.
pub fn solve(
    classes: &[ClassStats],
    solver: LdaSolver,
    shrinkage: Option<Shrinkage>,
    tol: f64,
    max_components: usize,
    priors: Option<Vec<f64>>,
) -> Result<Lda> {
    let p = classes[0].mean.len();
    let c = classes.len();
    let n: f64 = classes.iter().map(|s| s.n as f64).sum();
    let priors: Vec<f64> =
        priors.unwrap_or_else(|| classes.iter().map(|s| s.n as f64 / n).collect());
    let means = Mat::from_fn(c, p, |i, j| classes[i].mean[j]);
    let xbar: Vec<f64> = (0..p)
        .map(|j| (0..c).map(|i| priors[i] * means[(i, j)]).sum())
        .collect();
    let within = classes
        .iter()
        .fold(Mat::<f64>::zeros(p, p), |acc, s| acc + &s.comoment);
    let (full, ratio, coef) = match solver {
        LdaSolver::Svd => {
            let (scalings, ratio) = solve_svd(&within, &means, &xbar, &priors, n, tol)?;
            // scikit-learn's coef_ from every kept direction, not only the components
            let centred = Mat::from_fn(c, p, |i, j| means[(i, j)] - xbar[j]);
            let projected = &centred * &scalings;
            let coef = &projected * scalings.transpose();
            let mut intercept: Vec<f64> = (0..c)
                .map(|i| {
                    -0.5 * (0..projected.ncols())
                        .map(|q| projected[(i, q)] * projected[(i, q)])
                        .sum::<f64>()
                        + priors[i].ln()
                })
                .collect();
            for (i, b) in intercept.iter_mut().enumerate() {
                *b -= (0..p).map(|j| xbar[j] * coef[(i, j)]).sum::<f64>();
            }
            (scalings, ratio, (coef, intercept))
        }
        LdaSolver::Eigen => {
            let (evecs, ratio) = solve_eigen(classes, &within, &means, &priors, n, shrinkage)?;
            let coef = &means * &evecs * evecs.transpose();
            let intercept: Vec<f64> = (0..c)
                .map(|i| {
                    -0.5 * (0..p).map(|j| means[(i, j)] * coef[(i, j)]).sum::<f64>()
                        + priors[i].ln()
                })
                .collect();
            (evecs, ratio, (coef, intercept))
        }
    };
    let (coef, intercept) = if c == 2 {
        (
            Mat::from_fn(1, p, |_, j| coef.0[(1, j)] - coef.0[(0, j)]),
            vec![coef.1[1] - coef.1[0]],
        )
    } else {
        coef
    };
    let k = max_components.min(full.ncols());
    // Each column's largest-magnitude entry positive, as PCA's components: scikit-learn's
    // LDA leaves the signs to LAPACK; fixing them keeps results platform-independent.
    let mut columns = full.subcols(0, k).transpose().to_owned();
    crate::steps::pca::flip_signs(&mut columns);
    let scalings = columns.transpose().to_owned();
    Ok(Lda {
        priors,
        means,
        xbar,
        scalings,
        explained_variance_ratio: ratio.into_iter().take(max_components).collect(),
        coef,
        intercept,
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
/// covariances (`_cov`: divided by the rows, optionally shrunk; Sw weighs the classes'
/// by the priors, St is the whole data's). All p eigenvectors, sorted by decreasing
/// eigenvalue and scaled so that vᵀ Sw v = 1, as `scipy.linalg.eigh(Sb, Sw)`.
fn solve_eigen(
    classes: &[ClassStats],
    within: &Mat<f64>,
    means: &Mat<f64>,
    priors: &[f64],
    n: f64,
    shrinkage: Option<Shrinkage>,
) -> Result<(Mat<f64>, Vec<f64>)> {
    let p = means.ncols();
    let mut sw = Mat::<f64>::zeros(p, p);
    for (s, prior) in classes.iter().zip(priors) {
        sw += faer::Scale(*prior) * &s.covariance(shrinkage);
    }
    let st = if matches!(shrinkage, Some(Shrinkage::Named(_))) {
        let mut all = ClassStats::empty(p, true);
        for s in classes {
            all.merge(s);
        }
        all.covariance(shrinkage)
    } else {
        // the whole data's co-moment: within plus between, about the rows' mean
        let mean: Vec<f64> = (0..p)
            .map(|j| classes.iter().map(|s| s.n as f64 * s.mean[j]).sum::<f64>() / n)
            .collect();
        let mut total = within.clone();
        for (i, s) in classes.iter().enumerate() {
            for a in 0..p {
                let da = means[(i, a)] - mean[a];
                for b in 0..p {
                    total[(a, b)] += s.n as f64 * da * (means[(i, b)] - mean[b]);
                }
            }
        }
        ClassStats {
            n: n as u64,
            mean,
            comoment: total,
            higher: None,
        }
        .covariance(shrinkage)
    };
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
