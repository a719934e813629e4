//! The exact solver: the eigen-decomposition of the covariance matrix of the (scaled)
//! features, accumulated in one streaming pass (the PCA theorem: components are the
//! eigenvectors of the covariance). Memory is O(p²), time per row O(p²).

use faer::{Mat, Side};

use super::params::NComponents;
use super::{Pca, choose_k, finish};
use crate::error::{Error, Result};

/// Fits from a covariance matrix (n − 1 normalised) of `n_samples` rows.
pub fn fit(
    covariance: Mat<f64>,
    n_samples: u64,
    n_components: NComponents,
    whiten: bool,
) -> Result<Pca> {
    let p = covariance.nrows();
    let evd = covariance
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| Error::Numeric(format!("eigen-decomposition did not converge: {e:?}")))?;
    let values = evd.S().column_vector();
    let vectors = evd.U();
    // faer returns increasing eigenvalues; PCA wants them decreasing. Rounding can make
    // the smallest slightly negative: they are zero variance.
    let order: Vec<usize> = (0..p).rev().collect();
    let rank_limit = (n_samples as usize).min(p);
    let spectrum: Vec<f64> = order
        .iter()
        .take(rank_limit)
        .map(|&i| values[i].max(0.0))
        .collect();
    let total: f64 = (0..p).map(|i| covariance[(i, i)]).sum();
    let k = choose_k(n_components, &spectrum, total, p, n_samples)?;
    let components = Mat::from_fn(k, p, |r, c| vectors[(c, order[r])]);
    finish(&spectrum, components, total, n_samples, whiten)
}
