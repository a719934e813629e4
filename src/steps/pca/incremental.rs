//! The incremental solver: scikit-learn's `IncrementalPCA.partial_fit` (the incremental
//! SVD with mean correction of Ross, Lim, Lin & Yang, 2008), fed by the chunk stream.
//!
//! Rows are cut into batches of `batch_size` whatever the chunk size; as in scikit-learn's
//! `gen_batches(..., min_batch_size=n_components)`, a last batch smaller than the number
//! of components kept is folded into the previous one, so one full batch is held back
//! until the next arrives. Memory is O(batch_size × p + p²).

use faer::{Mat, MatRef, Side};

use super::fitted::{Common, finished};
use super::params::NComponents;
use super::{Pca, choose_k, finish};
use crate::engine::PassStats;
use crate::error::{Error, Result};
use crate::stats::{ColumnsAccumulator, Moments};
use crate::steps::Pass;
use crate::steps::scale::{Scaler, shift_scale_into};
use crate::steps::{FitStep, FittedStep, check_rows};

pub struct IncrementalPca {
    /// Components carried through the stream (k, or more when k is a fraction).
    keep: usize,
    batch_size: usize,
    p: usize,
    n: u64,
    mean: Vec<f64>,
    /// Population variance per feature (for the explained variance ratio).
    var: Vec<f64>,
    components: Mat<f64>,
    singular_values: Vec<f64>,
    /// All singular values of the last update, for the noise variance.
    last_spectrum: Vec<f64>,
    batch: Mat<f64>,
    filled: usize,
    held: Option<Mat<f64>>,
    /// The centered batch (reused).
    scratch: Mat<f64>,
    /// Whether each batch's co-moment multiplies in f32 (`Arithmetic`, float32 data), and
    /// its f32 rows and product (reused).
    float32: bool,
    narrow: Mat<f32>,
    product: Mat<f32>,
}

impl IncrementalPca {
    pub fn new(p: usize, keep: usize, batch_size: usize, float32: bool) -> IncrementalPca {
        IncrementalPca {
            keep,
            batch_size,
            p,
            n: 0,
            mean: vec![0.0; p],
            var: vec![0.0; p],
            components: Mat::zeros(0, p),
            singular_values: Vec::new(),
            last_spectrum: Vec::new(),
            batch: Mat::zeros(batch_size, p),
            filled: 0,
            held: None,
            scratch: Mat::zeros(0, 0),
            float32,
            narrow: Mat::zeros(0, 0),
            product: Mat::zeros(0, 0),
        }
    }

    pub fn push(&mut self, x: MatRef<'_, f64>) -> Result<()> {
        let mut start = 0;
        while start < x.nrows() {
            let take = (self.batch_size - self.filled).min(x.nrows() - start);
            self.batch
                .as_mut()
                .subrows_mut(self.filled, take)
                .copy_from(x.subrows(start, take));
            self.filled += take;
            start += take;
            if self.filled == self.batch_size {
                let full = std::mem::replace(&mut self.batch, Mat::zeros(self.batch_size, self.p));
                self.filled = 0;
                if let Some(previous) = self.held.replace(full) {
                    self.partial_fit(previous.as_ref())?;
                }
            }
        }
        Ok(())
    }

    /// One `partial_fit` step on a batch of rows. scikit-learn takes the SVD of the
    /// stacked matrix [diag(s)·V; X − x̄_batch; √(n₀m/n)·(x̄₀ − x̄_batch)]; its V and s are the
    /// eigenvectors and the square roots of the eigenvalues of that matrix's Gram matrix,
    /// diag(s)·V's Gram + the batch's co-moment + the mean correction's outer product. The
    /// co-moment is the exact solver's product (half of a Householder QR's work, at the
    /// matrix product's speed), and the eigenproblem is p × p whatever the batch.
    fn partial_fit(&mut self, x: MatRef<'_, f64>) -> Result<()> {
        let (m, p) = (x.nrows(), self.p);
        if self.n == 0 && m < self.keep {
            return Err(Error::config(format!(
                "pca: the first batch has {m} rows, fewer than the {} components kept; \
                 lower n_components or raise pca.batch_size",
                self.keep
            )));
        }
        let block = if self.float32 {
            Moments::of_block_in_f32(x, &mut self.scratch, &mut self.narrow, &mut self.product)
        } else {
            Moments::of_block_with(x, &mut self.scratch)
        };
        // _incremental_mean_and_var
        let n0 = self.n as f64;
        let total = n0 + m as f64;
        let mut new_mean = vec![0.0; p];
        let mut new_var = vec![0.0; p];
        for j in 0..p {
            let bm = block.mean[j];
            let m2 = block.co_moment[(j, j)];
            let delta = bm - self.mean[j];
            new_mean[j] = self.mean[j] + delta * m as f64 / total;
            let old_m2 = self.var[j] * n0;
            new_var[j] = (old_m2 + m2 + delta * delta * n0 * m as f64 / total) / total;
        }
        let mut gram = block.co_moment;
        let k_prev = self.components.nrows();
        let rows = if self.n == 0 { m } else { k_prev + m + 1 };
        if self.n > 0 {
            let c2 = n0 * m as f64 / total;
            let d: Vec<f64> = (0..p).map(|j| self.mean[j] - block.mean[j]).collect();
            let weighted = Mat::from_fn(k_prev, p, |r, c| {
                self.singular_values[r] * self.components[(r, c)]
            });
            for j in 0..p {
                for i in j..p {
                    let mut add = c2 * d[i] * d[j];
                    for r in 0..k_prev {
                        add += weighted[(r, i)] * weighted[(r, j)];
                    }
                    gram[(i, j)] += add;
                }
            }
        }
        let evd = gram.self_adjoint_eigen(Side::Lower).map_err(|e| {
            Error::Numeric(format!(
                "incremental PCA: eigen-decomposition did not converge: {e:?}"
            ))
        })?;
        let values = evd.S().column_vector();
        let vectors = evd.U();
        // descending; the stacked matrix has min(rows, p) singular values
        let order: Vec<usize> = (0..p).rev().take(rows.min(p)).collect();
        let keep = self.keep.min(order.len());
        self.components = Mat::from_fn(keep, p, |r, c| vectors[(c, order[r])]);
        super::flip_signs(&mut self.components);
        let singular = |i: usize| values[i].max(0.0).sqrt();
        self.singular_values = order[..keep].iter().map(|&i| singular(i)).collect();
        self.last_spectrum = order.iter().map(|&i| singular(i)).collect();
        self.n += m as u64;
        self.mean = new_mean;
        self.var = new_var;
        Ok(())
    }

    /// Processes what is left (folding a short last batch into the held one) and returns
    /// the fit with scikit-learn's attributes.
    pub fn finish(mut self, n_components: NComponents, whiten: bool) -> Result<(Pca, Vec<f64>)> {
        let rest = self.batch.as_ref().subrows(0, self.filled).to_owned();
        match self.held.take() {
            Some(held) if self.filled > 0 && self.filled < self.keep => {
                let mut both = Mat::<f64>::zeros(held.nrows() + self.filled, self.p);
                both.as_mut()
                    .subrows_mut(0, held.nrows())
                    .copy_from(held.as_ref());
                both.as_mut()
                    .subrows_mut(held.nrows(), self.filled)
                    .copy_from(rest.as_ref());
                self.partial_fit(both.as_ref())?;
            }
            Some(held) => {
                self.partial_fit(held.as_ref())?;
                if self.filled > 0 {
                    self.partial_fit(rest.as_ref())?;
                }
            }
            None if self.filled > 0 => self.partial_fit(rest.as_ref())?,
            None => {}
        }
        if self.n < 2 {
            return Err(Error::data("PCA needs at least 2 rows"));
        }
        let dof = (self.n - 1) as f64;
        let spectrum: Vec<f64> = self.last_spectrum.iter().map(|s| s * s / dof).collect();
        // scikit-learn's ratio denominator: the total variance Σ var·n / (n − 1).
        let total: f64 = self.var.iter().sum::<f64>() * self.n as f64 / dof;
        let k = choose_k(n_components, &spectrum, total, self.p, self.n)?;
        let k = k.min(self.components.nrows());
        let components = self.components.as_ref().subrows(0, k).to_owned();
        // scikit-learn: noise variance is 0 when k equals the batch rows or the features.
        let mut pca = finish(&spectrum, components, total, self.n, whiten)?;
        if k == self.p {
            pca.noise_variance = 0.0;
        }
        Ok((pca, self.mean))
    }
}

// The fit lifecycle of this solver (see `steps::FitStep`).

/// Incremental solver: a per-column pass for the scaler (when it needs statistics), then
/// scikit-learn's IncrementalPCA over the scaled rows. Memory O(batch_size × p + p²).
pub(super) struct IncrementalFit {
    common: Common,
    columns: Option<ColumnsAccumulator>,
    shift: Vec<f64>,
    scaler: Option<Scaler>,
    ipca: Option<IncrementalPca>,
    scaled: Mat<f64>,
    keep: usize,
    done: bool,
}

impl IncrementalFit {
    pub(super) fn new(common: Common) -> IncrementalFit {
        let p = common.input.width();
        let scaler = common.stateless_scaler();
        let batch_size = common.params.batch_size.unwrap_or(5 * p);
        let keep = match common.params.n_components {
            NComponents::Count(k) => k,
            NComponents::Fraction(_) | NComponents::Mle => p.min(batch_size),
        };
        let float32 = common.products_in_f32();
        IncrementalFit {
            columns: scaler.is_none().then(|| ColumnsAccumulator::new(p)),
            ipca: scaler
                .as_ref()
                .map(|_| IncrementalPca::new(p, keep, batch_size, float32)),
            shift: vec![0.0; p],
            scaler,
            common,
            scaled: Mat::zeros(0, 0),
            keep,
            done: false,
        }
    }
}

/// The incremental solver's passes: the column statistics when it scales, then the
/// batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IncrementalPass {
    Scale,
    Incremental,
}

impl crate::steps::PassName for IncrementalPass {
    fn label(self) -> std::borrow::Cow<'static, str> {
        match self {
            IncrementalPass::Scale => "scale".into(),
            IncrementalPass::Incremental => "incremental".into(),
        }
    }
}

impl FitStep for IncrementalFit {
    fn next_pass(&self) -> Option<Pass> {
        if self.columns.is_some() {
            Some(IncrementalPass::Scale.into())
        } else if !self.done {
            Some(IncrementalPass::Incremental.into())
        } else {
            None
        }
    }

    fn update(&mut self, x: MatRef<'_, f64>) -> Result<()> {
        if let Some(columns) = &mut self.columns {
            columns.push(x);
            return Ok(());
        }
        let (Some(ipca), Some(scaler)) = (&mut self.ipca, &self.scaler) else {
            return Ok(());
        };
        shift_scale_into(x, &self.shift, scaler.scale.as_deref(), &mut self.scaled);
        ipca.push(self.scaled.as_ref())
    }

    fn end_pass(&mut self, stats: &PassStats) -> Result<()> {
        let p = self.common.input.width();
        if let Some(acc) = self.columns.take() {
            let columns = acc.finish();
            check_rows(
                &self.common.input,
                "PCA",
                stats,
                columns.first().map_or(0, |c| c.count),
            )?;
            self.shift = columns.iter().map(|c| c.mean).collect();
            self.scaler = Some(Scaler::from_columns(self.common.scale, &columns));
            let batch_size = self.common.params.batch_size.unwrap_or(5 * p);
            let float32 = self.common.products_in_f32();
            self.ipca = Some(IncrementalPca::new(p, self.keep, batch_size, float32));
            return Ok(());
        }
        check_rows(&self.common.input, "PCA", stats, stats.rows_kept)?;
        self.done = true;
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        let p = self.common.input.width();
        let batch = self.common.params.batch_size.unwrap_or(5 * p);
        self.columns
            .as_ref()
            .map_or(0, ColumnsAccumulator::size_bytes)
            + (3 * batch + self.keep + 3 * p) * p * 8
            // the f32 rows of a block and their f32 product
            + if self.common.products_in_f32() {
                (crate::stats::BLOCK_ROWS.min(batch) + p) * p * 4
            } else {
                0
            }
    }

    fn finish(self: Box<Self>) -> Result<Box<dyn FittedStep>> {
        let this = *self;
        let params = &this.common.params;
        let (ipca, scaler) = (finished(this.ipca)?, finished(this.scaler)?);
        let (pca, scaled_mean) = ipca.finish(params.n_components, params.whiten)?;
        let p = this.common.input.width();
        let mean = (0..p)
            .map(|j| {
                this.shift[j]
                    + scaler
                        .scale
                        .as_ref()
                        .map_or(scaled_mean[j], |s| s[j] * scaled_mean[j])
            })
            .collect();
        let arithmetic = if this.common.products_in_f32() {
            "float32"
        } else {
            "float64"
        };
        this.common.fitted_reaching(
            pca,
            mean,
            scaler,
            "incremental",
            Some(this.keep),
            None,
            arithmetic,
        )
    }
}
