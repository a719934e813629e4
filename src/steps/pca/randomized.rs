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
use serde_json::{Value, json};

use super::fitted::{Common, finished, pass_over};
use super::params::NComponents;
use crate::engine::PassStats;
use crate::stats::{ColumnStats, ColumnsAccumulator, SavedColumn};
use crate::steps::scale::Scaler;
use crate::steps::state::SavedMat;
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

/// One pass's accumulator of G·P for the rows `(x − shift) / scale`; the basis, shift and
/// scale are the caller's, given with every push.
pub struct GramProduct {
    product: Mat<f64>,
    blocks: Blocks,
    scaled: Mat<f64>,
    projected: Mat<f64>,
}

impl GramProduct {
    pub fn new(p: usize, l: usize) -> GramProduct {
        GramProduct {
            product: Mat::zeros(p, l),
            blocks: Blocks::new(block_rows(p), p),
            scaled: Mat::zeros(0, 0),
            projected: Mat::zeros(0, 0),
        }
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
        } = self;
        blocks.push(x, |block| {
            accumulate(basis, shift, scale, block, scaled, projected, product)
        });
    }

    /// The product over every row pushed so far, without ending the pass.
    pub fn snapshot(&self, basis: &Mat<f64>, shift: &[f64], scale: Option<&[f64]>) -> Mat<f64> {
        let mut product = self.product.clone();
        let rest = self.blocks.rest();
        if rest.nrows() > 0 {
            let (mut scaled, mut projected) = (Mat::zeros(0, 0), Mat::zeros(0, 0));
            accumulate(
                basis,
                shift,
                scale,
                rest,
                &mut scaled,
                &mut projected,
                &mut product,
            );
        }
        product
    }

    /// Adds another shard's product of the same pass.
    pub fn merge(&mut self, other: MatRef<'_, f64>) {
        self.product += other;
    }

    pub fn size_bytes(&self) -> usize {
        self.blocks.size_bytes() + self.product.nrows() * self.product.ncols() * 8
    }

    pub fn finish(mut self, basis: &Mat<f64>, shift: &[f64], scale: Option<&[f64]>) -> Mat<f64> {
        let GramProduct {
            product,
            blocks,
            scaled,
            projected,
        } = &mut self;
        let rest = blocks.take_rest();
        if rest.nrows() > 0 {
            accumulate(basis, shift, scale, rest, scaled, projected, product);
        }
        self.product
    }
}

/// product += Aᵀ (A P) for the block's rows A = (x − shift) / scale.
fn accumulate(
    basis: &Mat<f64>,
    shift: &[f64],
    scale: Option<&[f64]>,
    block: MatRef<'_, f64>,
    scaled: &mut Mat<f64>,
    projected: &mut Mat<f64>,
    product: &mut Mat<f64>,
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
        Par::Seq,
    );
    faer::linalg::matmul::matmul(
        product.as_mut(),
        Accum::Add,
        scaled.transpose(),
        projected.as_ref(),
        1.0,
        Par::Seq,
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

// The fit lifecycle of this solver (see `steps::FitStep`).

/// Randomized solver: a column pass (means, scales, total variance), then one pass per
/// product with the Gram matrix: the sketch and each power iteration.
pub(super) struct RandomizedFit {
    common: Common,
    columns: Option<ColumnsAccumulator>,
    /// Set by the column pass.
    scaled: Option<Sketch>,
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
}

impl RandomizedFit {
    pub(super) fn new(common: Common) -> RandomizedFit {
        RandomizedFit {
            columns: Some(ColumnsAccumulator::new(common.input.width())),
            common,
            scaled: None,
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
            self.scaled = Some(Sketch {
                n,
                mean: columns.iter().map(|c| c.mean).collect(),
                scaler,
                total_variance,
                k,
                power,
                pass: 0,
                basis: start_basis(p, l, params.seed.unwrap_or(0)),
                product: Some(GramProduct::new(p, l)),
                last: Mat::zeros(0, 0),
            });
            return Ok(());
        }
        let s = self
            .scaled
            .as_mut()
            .ok_or_else(|| Error::internal("a randomized pass ended before its column pass"))?;
        let product =
            finished(s.product.take())?.finish(&s.basis, &s.mean, s.scaler.scale.as_deref());
        if s.pass < s.power {
            s.basis = orthonormalize(&product);
            s.product = Some(GramProduct::new(p, s.basis.ncols()));
        }
        s.last = product;
        s.pass += 1;
        Ok(())
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

impl MergeFit for RandomizedFit {
    fn save(&self) -> PartialState {
        match (&self.columns, &self.scaled) {
            (Some(columns), _) => {
                let saved: Vec<SavedColumn> =
                    columns.snapshot().iter().map(ColumnStats::save).collect();
                PartialState::new("pca", "scale", &self.common.input.fingerprint, json!(saved))
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
                    json!(product),
                )
            }
            (None, None) => {
                PartialState::new("pca", "done", &self.common.input.fingerprint, Value::Null)
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
