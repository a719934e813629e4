//! The exact solver: the eigen-decomposition of the covariance matrix of the (scaled)
//! features, accumulated in one streaming pass (the PCA theorem: components are the
//! eigenvectors of the covariance). Memory is O(p²), time per row O(p²).

use faer::{Mat, Side};

use super::params::NComponents;
use super::{Pca, choose_k, finish};
use crate::error::{Error, Result};
use crate::steps::{MomentsPass, Named, Pass};
use faer::MatRef;

use super::fitted::{Common, finished, pass_over};
use crate::engine::PassStats;
use crate::stats::{Moments, MomentsAccumulator, SavedMoments};
use crate::steps::scale::Scaler;
use crate::steps::{FitStep, FittedStep, MergeFit, PartialState, check_rows};

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

// The fit lifecycle of this solver (see `steps::FitStep`).

/// Exact solver: one pass of mergeable moments gives the scaler and the covariance.
pub(super) struct ExactFit {
    common: Common,
    acc: Option<MomentsAccumulator>,
    moments: Option<Moments>,
}

impl FitStep for ExactFit {
    fn next_pass(&self) -> Option<Pass> {
        self.acc.is_some().then(|| MomentsPass::Fit.into())
    }

    fn update(&mut self, x: MatRef<'_, f64>) -> Result<()> {
        if let Some(acc) = &mut self.acc {
            acc.push(x);
        }
        Ok(())
    }

    fn end_pass(&mut self, stats: &PassStats) -> Result<()> {
        let moments = finished(self.acc.take())?.finish();
        check_rows(&self.common.input, "PCA", stats, moments.n)?;
        self.moments = Some(moments);
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.acc.as_ref().map_or(0, MomentsAccumulator::size_bytes)
    }

    fn finish(self: Box<Self>) -> Result<Box<dyn FittedStep>> {
        let moments = finished(self.moments)?;
        self.common
            .check_range(&moments.variance(0), &moments.min, &moments.max)?;
        let params = &self.common.params;
        let scaler = Scaler::fit(self.common.scale, &moments);
        let pca = fit(
            scaler.scaled_covariance(&moments),
            moments.n,
            params.n_components,
            params.whiten,
        )?;
        self.common.fitted(pca, moments.mean, scaler, "exact", None)
    }
}

impl MergeFit for ExactFit {
    fn save(&self) -> PartialState {
        let saved = self.acc.as_ref().map(|a| a.snapshot().save());
        PartialState::new(
            super::Kind::NAME,
            MomentsPass::Fit,
            &self.common.input.fingerprint,
            &saved,
        )
    }

    fn merge(&mut self, other: &PartialState) -> Result<()> {
        let saved: SavedMoments = other.state_of(
            super::Kind::NAME,
            MomentsPass::Fit,
            &self.common.input.fingerprint,
        )?;
        let acc = self.acc.as_mut().ok_or_else(pass_over)?;
        let moments = Moments::load(&saved)
            .filter(|m| m.nfeatures() == self.common.input.width())
            .ok_or_else(|| Error::config("malformed pca state: its width differs"))?;
        acc.merge(&moments);
        Ok(())
    }
}

impl ExactFit {
    pub(super) fn new(common: Common, p: usize) -> ExactFit {
        ExactFit {
            common,
            acc: Some(MomentsAccumulator::new(p)),
            moments: None,
        }
    }
}
