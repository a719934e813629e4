//! Probabilistic PCA (Tipping & Bishop, 1999; Bishop, "Pattern Recognition and Machine
//! Learning", 12.2.1): the fitted PCA read as a Gaussian whose covariance is the kept
//! components' variance plus isotropic noise, `noise_variance_`, in every other direction.
//! Its covariance and precision (scikit-learn's `get_covariance` / `get_precision`, term
//! by term, whitening's quirk included) go to model.json and model.npz, and each row's
//! log-likelihood under it (`score_samples`) is the `log_likelihood` column: an outlier
//! score in the space the PCA sees (after its scaler), beside the reconstruction error.

use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, MatRef, Side};

use super::Pca;

/// Widest PCA whose p × p covariance and precision go into model.npz (two matrices of
/// 128 MiB in float64 at this width).
pub const MAX_FEATURES: usize = 4096;

/// Widest PCA whose covariance and precision go into model.json too: as text a number
/// takes about 22 bytes, so at p = 2,000 the two made a 226 MB model.json (1.36 GB peak
/// RSS to write it, where the randomized fit itself needed 0.48 GB); at 512 they are
/// about 12 MB. model.npz holds them up to `MAX_FEATURES`.
pub const MAX_FEATURES_JSON: usize = 512;

/// The components as `get_covariance` uses them: scaled by √explained_variance when
/// whitening (as scikit-learn, so that its numbers come out), and the variance each
/// carries beyond the noise (never below 0).
fn weighted(pca: &Pca) -> (Mat<f64>, Vec<f64>) {
    let ev = &pca.explained_variance;
    let c = &pca.components;
    let comps = Mat::from_fn(c.nrows(), c.ncols(), |i, j| {
        if pca.whiten {
            c[(i, j)] * ev[i].sqrt()
        } else {
            c[(i, j)]
        }
    });
    let diff = ev
        .iter()
        .map(|v| {
            if *v > pca.noise_variance {
                v - pca.noise_variance
            } else {
                0.0
            }
        })
        .collect();
    (comps, diff)
}

/// `cov = Vᵀ diag(λ − σ²) V + σ² I` (scikit-learn's `get_covariance`).
pub fn covariance(pca: &Pca) -> Mat<f64> {
    let (v, diff) = weighted(pca);
    let (k, p) = (v.nrows(), v.ncols());
    let scaled = Mat::from_fn(p, k, |j, i| v[(i, j)] * diff[i]);
    let mut cov = scaled * &v;
    for j in 0..p {
        cov[(j, j)] += pca.noise_variance;
    }
    cov
}

/// The covariance's inverse by the matrix inversion lemma, a k × k inverse instead of a
/// p × p one (scikit-learn's `get_precision`); with no noise left (k = min(n, p)) the
/// covariance itself is inverted, as scikit-learn.
pub fn precision(pca: &Pca) -> Mat<f64> {
    let p = pca.components.ncols();
    let s2 = pca.noise_variance;
    if pca.n_components() == 0 {
        return Mat::from_fn(p, p, |i, j| if i == j { 1.0 / s2 } else { 0.0 });
    }
    if s2 == 0.0 {
        return covariance(pca).partial_piv_lu().inverse();
    }
    let (v, diff) = weighted(pca);
    let k = v.nrows();
    let mut inner = (&v * v.transpose()) / s2;
    for i in 0..k {
        inner[(i, i)] += 1.0 / diff[i];
    }
    let inner = inner.partial_piv_lu().inverse();
    let mut precision = v.transpose() * inner * &v;
    precision /= -(s2 * s2);
    for j in 0..p {
        precision[(j, j)] += 1.0 / s2;
    }
    precision
}

/// Each row's log-likelihood under the model: the precision and the normalising constant
/// computed once, the rows streamed through.
pub struct Likelihood {
    precision: Mat<f64>,
    /// −½ (p ln 2π − ln det precision)
    constant: f64,
}

impl Likelihood {
    pub fn new(pca: &Pca) -> Likelihood {
        let precision = precision(pca);
        let p = precision.nrows();
        // scikit-learn's fast_logdet: −∞ unless the determinant is positive; a precision
        // is symmetric positive definite when it is one at all, so Cholesky decides
        let logdet = match precision.llt(Side::Lower) {
            Ok(llt) => {
                let l = llt.L();
                2.0 * (0..p).map(|i| l[(i, i)].ln()).sum::<f64>()
            }
            Err(_) => f64::NEG_INFINITY,
        };
        let constant = -0.5 * (p as f64 * (2.0 * std::f64::consts::PI).ln() - logdet);
        Likelihood {
            precision,
            constant,
        }
    }

    /// `centered` holds rows already centred (and scaled) as the PCA sees them:
    /// −½ xᵀ P x + constant per row.
    pub fn rows(&self, centered: MatRef<'_, f64>) -> Vec<f64> {
        let xp = centered * &self.precision;
        (0..centered.nrows())
            .map(|i| {
                let q: f64 = (0..centered.ncols())
                    .map(|j| centered[(i, j)] * xp[(i, j)])
                    .sum();
                -0.5 * q + self.constant
            })
            .collect()
    }
}
