//! The TSQR solver: the exact SVD of the centered data by tall-skinny QR, for data too
//! ill-conditioned for the covariance route (which squares the condition number).
//!
//! Each fixed block of rows is centered at its own mean and reduced to its p × p R factor;
//! two summaries (n, mean, R) merge like Chan's moments, with the mean shift as one extra
//! row: R = qr([R_a; R_b; √(n_a n_b / n) (m_a − m_b)ᵀ]).R, so RᵀR is the centered
//! co-moment without ever forming it (Demmel, Grigori, Hoemmen & Langou, 2012, for TSQR).
//! The right singular vectors and singular values of the final R are those of the centered
//! data. Memory O(block × p + p²).

use faer::{Mat, MatRef};

use super::params::NComponents;
use super::{Pca, choose_k, finish};
use crate::blocks::Blocks;
use crate::error::{Error, Result};
use crate::steps::state::SavedMat;
use crate::steps::{MomentsPass, Named, Pass};
use serde::{Deserialize, Serialize};

use super::fitted::{Common, finished, pass_over};
use crate::engine::PassStats;
use crate::steps::scale::Scaler;
use crate::steps::{FitStep, FittedStep, MergeFit, PartialState, check_rows};

pub struct Tsqr {
    blocks: Blocks,
    state: State,
}

/// The merged summary so far: n, mean, R, min and max.
#[derive(Debug, Clone)]
pub struct State {
    p: usize,
    n: u64,
    mean: Vec<f64>,
    r: Mat<f64>,
    min: Vec<f64>,
    max: Vec<f64>,
}

/// The p × p upper-triangular R of a QR factorisation (Q is never formed).
pub fn upper_r(x: MatRef<'_, f64>) -> Mat<f64> {
    let p = x.ncols();
    let qr = x.qr();
    let r = qr.R();
    // thin R: min(rows, p) × p, padded to p × p
    Mat::from_fn(p, p, |i, j| {
        if i < r.nrows() && i <= j {
            r[(i, j)]
        } else {
            0.0
        }
    })
}

impl Tsqr {
    pub fn new(p: usize) -> Tsqr {
        Tsqr {
            blocks: Blocks::new(crate::blocks::block_rows(p).max(p + 1), p),
            state: State {
                p,
                n: 0,
                mean: vec![0.0; p],
                r: Mat::zeros(p, p),
                min: vec![f64::INFINITY; p],
                max: vec![f64::NEG_INFINITY; p],
            },
        }
    }

    pub fn push(&mut self, x: MatRef<'_, f64>) -> Result<()> {
        let state = &mut self.state;
        self.blocks.push(x, |block| state.absorb(block));
        Ok(())
    }

    /// The summary of every row pushed so far, without ending the pass.
    pub fn snapshot(&self) -> State {
        let mut state = self.state.clone();
        state.absorb(self.blocks.rest());
        state
    }

    /// Adds another shard's summary.
    pub fn merge(&mut self, other: &State) {
        self.state.merge(other);
    }

    pub fn size_bytes(&self) -> usize {
        self.blocks.size_bytes() + (self.state.p * self.state.p + 3 * self.state.p) * 8
    }

    /// Ends the pass: n, the mean, the min/max, the population variances (for scaling)
    /// and the R factor.
    pub fn finish(mut self) -> TsqrSummary {
        let rest = self.blocks.take_rest();
        self.state.absorb(rest);
        let s = self.state;
        let var = (0..s.p)
            .map(|j| s.r.col(j).iter().map(|v| v * v).sum::<f64>() / s.n.max(1) as f64)
            .collect();
        TsqrSummary {
            n: s.n,
            mean: s.mean,
            var,
            min: s.min,
            max: s.max,
            r: s.r,
        }
    }
}

impl State {
    fn absorb(&mut self, x: MatRef<'_, f64>) {
        let m = x.nrows();
        if m == 0 {
            return;
        }
        let p = self.p;
        let mut centered = Mat::<f64>::zeros(m, p);
        let mut block_mean = vec![0.0; p];
        for j in 0..p {
            let col = x.col(j);
            let rough = col.iter().sum::<f64>() / m as f64;
            let correction = col.iter().map(|v| v - rough).sum::<f64>() / m as f64;
            let mean = rough + correction;
            block_mean[j] = mean;
            for i in 0..m {
                let v = col[i];
                centered[(i, j)] = v - mean;
                self.min[j] = self.min[j].min(v);
                self.max[j] = self.max[j].max(v);
            }
        }
        let r_b = upper_r(centered.as_ref());
        let (min, max) = (self.min.clone(), self.max.clone());
        self.merge(&State {
            p,
            n: m as u64,
            mean: block_mean,
            r: r_b,
            min,
            max,
        });
    }

    /// Merges another summary: R = qr([R_a; R_b; √(n_a n_b / n) (m_a − m_b)ᵀ]).R.
    pub fn merge(&mut self, other: &State) {
        if other.n == 0 {
            return;
        }
        let p = self.p;
        if self.n == 0 {
            self.r = other.r.clone();
            self.mean = other.mean.clone();
        } else {
            let (na, nb) = (self.n as f64, other.n as f64);
            let n = na + nb;
            let f = (na * nb / n).sqrt();
            let stacked = Mat::from_fn(2 * p + 1, p, |i, j| {
                if i < p {
                    self.r[(i, j)]
                } else if i < 2 * p {
                    other.r[(i - p, j)]
                } else {
                    f * (self.mean[j] - other.mean[j])
                }
            });
            self.r = upper_r(stacked.as_ref());
            for (m, b) in self.mean.iter_mut().zip(&other.mean) {
                *m += (b - *m) * nb / n;
            }
        }
        for j in 0..p {
            self.min[j] = self.min[j].min(other.min[j]);
            self.max[j] = self.max[j].max(other.max[j]);
        }
        self.n += other.n;
    }

    pub fn save(&self) -> SavedTsqr {
        let finite = |v: &f64| v.is_finite().then_some(*v);
        SavedTsqr {
            n: self.n,
            mean: self.mean.clone(),
            r: SavedMat::of(self.r.as_ref()),
            min: self.min.iter().map(finite).collect(),
            max: self.max.iter().map(finite).collect(),
        }
    }

    pub fn load(saved: &SavedTsqr) -> Result<State> {
        let p = saved.mean.len();
        let r = saved.r.to_mat()?;
        if r.nrows() != p || r.ncols() != p || saved.min.len() != p || saved.max.len() != p {
            return Err(Error::config("malformed tsqr state: shapes do not agree"));
        }
        Ok(State {
            p,
            n: saved.n,
            mean: saved.mean.clone(),
            r,
            min: saved
                .min
                .iter()
                .map(|v| v.unwrap_or(f64::INFINITY))
                .collect(),
            max: saved
                .max
                .iter()
                .map(|v| v.unwrap_or(f64::NEG_INFINITY))
                .collect(),
        })
    }
}

/// A TSQR summary in a partial state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedTsqr {
    pub n: u64,
    pub mean: Vec<f64>,
    pub r: SavedMat,
    pub min: Vec<Option<f64>>,
    pub max: Vec<Option<f64>>,
}

pub struct TsqrSummary {
    pub n: u64,
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
    pub r: Mat<f64>,
}

impl TsqrSummary {
    /// PCA from the SVD of R·D⁻¹ (D the per-feature scale): scaling a column of the data
    /// scales that column of R.
    pub fn fit(
        &self,
        scale: Option<&[f64]>,
        n_components: NComponents,
        whiten: bool,
    ) -> Result<Pca> {
        let p = self.r.ncols();
        let r = Mat::from_fn(p, p, |i, j| self.r[(i, j)] / scale.map_or(1.0, |s| s[j]));
        let svd = r
            .thin_svd()
            .map_err(|e| Error::Numeric(format!("tsqr: SVD did not converge: {e:?}")))?;
        let s = svd.S().column_vector();
        let v = svd.V();
        let mut order: Vec<usize> = (0..p).collect();
        order.sort_by(|&a, &b| s[b].total_cmp(&s[a]));
        let dof = self.n.saturating_sub(1).max(1) as f64;
        let limit = (self.n as usize).min(p);
        let spectrum: Vec<f64> = order
            .iter()
            .take(limit)
            .map(|&i| s[i] * s[i] / dof)
            .collect();
        let total: f64 = (0..p)
            .map(|j| r.col(j).iter().map(|x| x * x).sum::<f64>())
            .sum::<f64>()
            / dof;
        let k = choose_k(n_components, &spectrum, total, p, self.n)?;
        let components = Mat::from_fn(k, p, |row, c| v[(c, order[row])]);
        finish(&spectrum, components, total, self.n, whiten)
    }
}

// The fit lifecycle of this solver (see `steps::FitStep`).

/// TSQR solver: one pass of block QR factors merged pairwise, then the SVD of R.
pub(super) struct TsqrFit {
    common: Common,
    acc: Option<Tsqr>,
    summary: Option<TsqrSummary>,
}

impl FitStep for TsqrFit {
    fn next_pass(&self) -> Option<Pass> {
        self.acc.is_some().then(|| MomentsPass::Fit.into())
    }

    fn update(&mut self, x: MatRef<'_, f64>) -> Result<()> {
        match &mut self.acc {
            Some(acc) => acc.push(x),
            None => Ok(()),
        }
    }

    fn end_pass(&mut self, stats: &PassStats) -> Result<()> {
        let summary = finished(self.acc.take())?.finish();
        check_rows(&self.common.input, "PCA", stats, summary.n)?;
        self.summary = Some(summary);
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.acc.as_ref().map_or(0, Tsqr::size_bytes)
    }

    fn finish(self: Box<Self>) -> Result<Box<dyn FittedStep>> {
        let summary = finished(self.summary)?;
        self.common
            .check_range(&summary.var, &summary.min, &summary.max)?;
        let params = &self.common.params;
        let scaler = Scaler::from_parts(
            self.common.scale,
            summary.n,
            &summary.mean,
            &summary.var,
            &summary.min,
            &summary.max,
        );
        let pca = summary.fit(scaler.scale.as_deref(), params.n_components, params.whiten)?;
        self.common.fitted(pca, summary.mean, scaler, "tsqr", None)
    }
}

impl MergeFit for TsqrFit {
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
        let saved: SavedTsqr = other.state_of(
            super::Kind::NAME,
            MomentsPass::Fit,
            &self.common.input.fingerprint,
        )?;
        let acc = self.acc.as_mut().ok_or_else(pass_over)?;
        let state = State::load(&saved)?;
        if saved.mean.len() != self.common.input.width() {
            return Err(Error::config("malformed pca state: its width differs"));
        }
        acc.merge(&state);
        Ok(())
    }
}

impl TsqrFit {
    pub(super) fn new(common: Common, p: usize) -> TsqrFit {
        TsqrFit {
            common,
            acc: Some(Tsqr::new(p)),
            summary: None,
        }
    }
}
