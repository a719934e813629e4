//! The randomized solver: the randomized range finder of Halko, Martinsson & Tropp
//! (2011, Algorithms 4.3/4.4 with Rayleigh–Ritz, §5.5) run as passes over the data. Each
//! pass multiplies an orthonormal p × l basis P by the Gram matrix of the centered,
//! scaled rows, G·P = Σ A_bᵀ (A_b P), accumulated block by block; the next basis is the
//! QR of the product. After the last pass, the basis and its product give scikit-learn's
//! last step, the SVD of QᵀA (`products::ritz`), half a power iteration beyond Rayleigh–Ritz
//! on P. Memory is O(p × l + block × p) — never p². With `method: krylov` every pass's
//! block is kept and the answer is taken over their span (`krylov.rs`).
//!
//! Rows are cut into fixed blocks (sized from p alone), so the result does not depend on
//! the chunk size.
//!
//! The products' algebra is in `products.rs`; this file sequences the passes.

mod float32;
mod krylov;
mod products;

use float32::ALGEBRA_OFFSET32;
use krylov::Kept;
pub use products::{
    ALGEBRA_OFFSET, GramProduct, finish_fit, lu_permuted_lower, normalize, orthonormalize, ritz,
    start_basis,
};
use products::{leading_ritz, settled};

use faer::{Mat, MatRef};

use crate::error::{Error, Result};
use crate::steps::{Named, Pass, PassName};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fitted::{Common, finished, pass_over};
use super::params::{NComponents, RandomizedMethod};
use crate::engine::PassStats;
use crate::stats::{ColumnStats, ColumnsAccumulator, SavedColumn};
use crate::steps::scale::{ScaleMethod, Scaler};
use crate::steps::state::{Floats, SavedMat};
use crate::steps::{FitStep, FittedStep, MergeFit, PartialState, check_rows};

/// With a fraction of variance for `n_components`, the most components the sketch tracks
/// (beside the oversamples): the fraction is read from its leading Ritz values and the
/// column pass's total variance, so they must reach it (report.json says when not).
pub const FRACTION_SKETCH: usize = 100;

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
    /// Whether the products multiply raw rows (`GramProduct::by_algebra`, or in f32
    /// `in_float32(true)`).
    algebra: bool,
    /// Whether the products multiply in f32 (`GramProduct::in_float32`): every feature is
    /// float32 and `arithmetic` is not `float64`. Fixed by the plan, so every shard and
    /// every round agrees.
    float32: bool,
    /// `method: krylov`: every finished pass's block and product, the basis of the answer.
    kept: Option<Kept>,
}

impl Sketch {
    /// The basis the answer is read from and its product: the last block's, or with
    /// `method: krylov` every kept block's.
    fn answer(&self) -> (Mat<f64>, Mat<f64>) {
        match &self.kept {
            Some(kept) => kept.basis_and_product(),
            None => (self.basis.clone(), self.last.clone()),
        }
    }

    fn product(&self, threads: usize) -> GramProduct {
        let mut g = GramProduct::new(self.basis.nrows(), self.basis.ncols());
        g.threads = threads;
        match (self.float32, self.algebra) {
            (true, raw) => g.in_float32(raw),
            (false, true) => g.by_algebra(),
            (false, false) => g,
        }
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

    /// The pass the sketch is in.
    fn pass(s: &Sketch) -> RandomizedPass {
        match (s.pass, &s.kept) {
            (0, _) => RandomizedPass::Sketch,
            (pass, None) => RandomizedPass::Power(pass),
            (pass, Some(_)) => RandomizedPass::Krylov(pass),
        }
    }
}

impl FitStep for RandomizedFit {
    fn next_pass(&self) -> Option<Pass> {
        if self.columns.is_some() {
            return Some(RandomizedPass::Scale.into());
        }
        let s = self.scaled.as_ref()?;
        (s.pass <= s.power).then(|| Self::pass(s).into())
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
            let limit = (n as usize).min(p);
            let oversamples = params.oversamples.unwrap_or(10);
            // k: the components kept, or with a fraction the most that may be kept
            let (k, l) = match params.n_components {
                NComponents::Count(k) if k > limit => {
                    return Err(Error::config(format!(
                        "pca.n_components = {k} is more than the {n} samples read"
                    )));
                }
                NComponents::Count(k) => (k, (k + oversamples).min(limit)),
                NComponents::Fraction(_) => {
                    let l = (FRACTION_SKETCH + oversamples).min(limit);
                    // a sketch of the whole space is exact in every direction
                    (if l == limit { l } else { FRACTION_SKETCH }, l)
                }
                NComponents::Mle => {
                    return Err(Error::config(
                        "the randomized solver needs a count or a fraction for n_components",
                    ));
                }
            };
            let power = params
                .power_iterations
                .unwrap_or(if (k as f64) < 0.1 * limit as f64 {
                    7
                } else {
                    4
                });
            // raw rows are multiplied only where the means sit near zero in std units:
            // closer in f32, whose rounding is 2⁻²⁴ rather than 2⁻⁵³
            let float32 = self.common.products_in_f32();
            let offset = if float32 {
                ALGEBRA_OFFSET32
            } else {
                ALGEBRA_OFFSET
            };
            let algebra = columns.iter().all(|c| {
                let std = (c.m2 / c.count.max(1) as f64).sqrt();
                c.mean.abs() <= offset * std || c.mean == 0.0
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
                float32,
                kept: (params.method == Some(RandomizedMethod::Krylov)).then(Kept::default),
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
        s.last = product;
        if let Some(kept) = &mut s.kept {
            kept.push(s.basis.clone(), s.last.clone());
        }
        if let Some(tol) = self.common.params.tol
            && s.pass < s.power
        {
            let (basis, product) = s.answer();
            let now = leading_ritz(basis.as_ref(), product.as_ref(), s.k)?;
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
            let next = match &s.kept {
                // the span holds min(n, p) dimensions at most
                Some(kept) => {
                    let room = (s.n as usize).min(p).saturating_sub(kept.width());
                    kept.next_block(room.min(s.basis.ncols()))
                }
                None if s.pass + 1 == s.power || params.tol.is_some() => {
                    Some(orthonormalize(&s.last))
                }
                None => Some(normalize(
                    params.power_iteration_normalizer.unwrap_or_default(),
                    &s.last,
                )),
            };
            match next {
                Some(basis) => {
                    s.basis = basis;
                    s.product = Some(s.product(self.threads));
                }
                // the kept blocks span the whole space: the answer is exact
                None => s.power = s.pass,
            }
        }
        s.pass += 1;
        Ok(())
    }

    fn rereads(&self) -> bool {
        true
    }

    fn takes_float32(&self) -> bool {
        self.columns.is_none() && self.scaled.as_ref().is_some_and(|s| s.float32)
    }

    fn update32(&mut self, x: MatRef<'_, f32>) -> Result<()> {
        match &mut self.scaled {
            Some(s) if self.columns.is_none() => {
                if let Some(product) = &mut s.product {
                    product.push32(x, &s.basis, &s.mean, s.scaler.scale.as_deref());
                }
                Ok(())
            }
            _ => {
                let wide = Mat::from_fn(x.nrows(), x.ncols(), |i, j| f64::from(x[(i, j)]));
                self.update(wide.as_ref())
            }
        }
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
                    + s.kept.as_ref().map_or(0, Kept::size_bytes)
            })
    }

    fn finish(self: Box<Self>) -> Result<Box<dyn FittedStep>> {
        let s = finished(self.scaled)?;
        let (basis, product) = s.answer();
        let (pca, reached) = finish_fit(
            basis.as_ref(),
            product.as_ref(),
            self.common.params.n_components,
            s.k,
            s.n,
            s.total_variance,
            self.common.params.whiten,
        )?;
        let tracked = basis.ncols();
        let arithmetic = if s.float32 { "float32" } else { "float64" };
        self.common.fitted_reaching(
            pca,
            s.mean,
            s.scaler,
            "randomized",
            Some(tracked),
            reached,
            arithmetic,
        )
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
    /// `method: krylov`: the kept blocks and their products (absent for `power`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kept: Option<(Vec<SavedMat>, Vec<SavedMat>)>,
}

/// The randomized solver's passes, and the states it saves beside them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RandomizedPass {
    /// The column statistics: mean, scale, total variance.
    Scale,
    /// The first product, with the random basis.
    Sketch,
    Power(usize),
    Krylov(usize),
    /// A state between two passes (`MergeFit::between`), where a round ends.
    Between,
    /// The state of a fit with nothing left to read.
    Done,
}

impl PassName for RandomizedPass {
    fn label(self) -> std::borrow::Cow<'static, str> {
        match self {
            RandomizedPass::Scale => "scale".into(),
            RandomizedPass::Sketch => "sketch".into(),
            RandomizedPass::Power(i) => format!("power {i}").into(),
            RandomizedPass::Krylov(i) => format!("krylov {i}").into(),
            RandomizedPass::Between => "between".into(),
            RandomizedPass::Done => "done".into(),
        }
    }
}

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
            kept: s.kept.as_ref().map(Kept::save),
        };
        Some(PartialState::new(
            super::Kind::NAME,
            RandomizedPass::Between,
            &self.common.input.fingerprint,
            &saved,
        ))
    }

    fn resume(&mut self, state: &PartialState) -> Result<()> {
        let saved: SavedSketch = state.state_of(
            super::Kind::NAME,
            RandomizedPass::Between,
            &self.common.input.fingerprint,
        )?;
        let p = self.common.input.width();
        let basis = saved.basis.to_mat()?;
        let l = basis.ncols();
        let kept = match &saved.kept {
            Some((blocks, products)) => Some(
                Kept::load(blocks, products, p)?
                    .ok_or_else(|| Error::config("malformed pca state: its shapes differ"))?,
            ),
            None => None,
        };
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
            float32: self.common.products_in_f32(),
            kept,
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
                PartialState::new(
                    super::Kind::NAME,
                    RandomizedPass::Scale,
                    &self.common.input.fingerprint,
                    &saved,
                )
            }
            (None, Some(s)) => {
                let product = s.product.as_ref().map(|g| {
                    SavedMat::of(
                        g.snapshot(&s.basis, &s.mean, s.scaler.scale.as_deref())
                            .as_ref(),
                    )
                });
                PartialState::new(
                    super::Kind::NAME,
                    Self::pass(s),
                    &self.common.input.fingerprint,
                    &product,
                )
            }
            (None, None) => PartialState::new(
                super::Kind::NAME,
                RandomizedPass::Done,
                &self.common.input.fingerprint,
                &Value::Null,
            ),
        }
    }

    fn merge(&mut self, other: &PartialState) -> Result<()> {
        if let Some(columns) = &mut self.columns {
            let saved: Vec<SavedColumn> = other.state_of(
                super::Kind::NAME,
                RandomizedPass::Scale,
                &self.common.input.fingerprint,
            )?;
            if saved.len() != self.common.input.width() {
                return Err(Error::config("malformed pca state: its width differs"));
            }
            columns.merge(&saved.iter().map(ColumnStats::load).collect::<Vec<_>>());
            return Ok(());
        }
        let s = self.scaled.as_mut().ok_or_else(pass_over)?;
        let saved: SavedMat = other.state_of(
            super::Kind::NAME,
            Self::pass(s),
            &self.common.input.fingerprint,
        )?;
        let product = s.product.as_mut().ok_or_else(pass_over)?;
        let m = saved.to_mat()?;
        if m.nrows() != s.basis.nrows() || m.ncols() != s.basis.ncols() {
            return Err(Error::config("malformed pca state: its shape differs"));
        }
        product.merge(m.as_ref());
        Ok(())
    }
}
