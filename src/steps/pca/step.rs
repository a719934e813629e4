//! The `pca` step's lifecycle: the solver resolved and checked at plan time, each
//! solver's passes as a fit state, and the fitted PCA with its model.json and report.json
//! sections (scikit-learn's attribute names). A `scale` step before it is absorbed: the
//! scaler comes out of the solver's own first pass.

use faer::{Mat, MatRef};
use serde_json::{Map, Value, json};

use super::incremental::IncrementalPca;
use super::params::{NComponents, PcaParams, PcaSolver};
use super::randomized::{self, GramProduct};
use super::tsqr::{SavedTsqr, State as TsqrState, Tsqr, TsqrSummary};
use super::{Pca, exact, inverse, project_with};
use crate::engine::PassStats;
use crate::error::{Error, Result};
use crate::stats::{
    ColumnStats, ColumnsAccumulator, Moments, MomentsAccumulator, SavedColumn, SavedMoments,
};
use crate::steps::scale::ScaleMethod;
use crate::steps::scale::{Scaler, shift_scale_into};
use crate::steps::state::SavedMat;
use crate::steps::{
    Affine, Fit, FitStep, FittedStep, MergeFit, PartialState, PlannedStep, RunFacts, StepInput,
    check_rows, field, rows_json, rows_mat,
};

/// Widest data the exact solver takes under `auto`: its p × p co-moment is 128 MiB here.
pub const AUTO_EXACT_MAX_FEATURES: usize = 4096;

/// `solver: auto`: exact while the p × p co-moment is small; beyond, randomized for a
/// small integer k (k < p / 10), else incremental (memory O((k + batch) × p)).
pub fn resolve_solver(solver: PcaSolver, n_components: NComponents, p: usize) -> PcaSolver {
    match solver {
        PcaSolver::Auto if p <= AUTO_EXACT_MAX_FEATURES => PcaSolver::Exact,
        PcaSolver::Auto => match n_components {
            NComponents::Count(k) if k * 10 < p => PcaSolver::Randomized,
            _ => PcaSolver::Incremental,
        },
        other => other,
    }
}

fn solver_name(solver: PcaSolver) -> &'static str {
    match solver {
        PcaSolver::Auto | PcaSolver::Exact => "exact",
        PcaSolver::Incremental => "incremental",
        PcaSolver::Randomized => "randomized",
        PcaSolver::Tsqr => "tsqr",
    }
}

#[derive(Debug, Clone)]
pub struct PlannedPca {
    params: PcaParams,
    /// The scale step absorbed (`None` when there was none: PCA still centres).
    scale: ScaleMethod,
}

impl PlannedPca {
    pub fn new(params: PcaParams) -> PlannedPca {
        PlannedPca {
            params,
            scale: ScaleMethod::None,
        }
    }

    /// Resolves `solver: auto` for `p` features and checks the keys against the solver
    /// that will run.
    fn check_solver(&mut self, p: usize, problems: &mut Vec<String>) {
        let wrote_auto = self.params.solver == PcaSolver::Auto;
        let pca = &mut self.params;
        pca.solver = resolve_solver(pca.solver, pca.n_components, p);
        let chose = |solver: &str| {
            if wrote_auto {
                format!(" (solver: auto chose {solver} for {p} features)")
            } else {
                String::new()
            }
        };
        match (pca.solver, pca.batch_size) {
            (PcaSolver::Incremental, Some(0)) => {
                problems.push("steps: pca.batch_size must be at least 1".into())
            }
            (PcaSolver::Incremental, Some(b)) => {
                if let NComponents::Count(k) = pca.n_components
                    && k > b
                {
                    problems.push(format!(
                        "steps: pca.n_components = {k} is more than pca.batch_size = {b}: every batch of the \
                         incremental solver must hold at least n_components rows (only a short last batch \
                         is folded into the one before)"
                    ));
                }
            }
            (PcaSolver::Incremental, None) => {
                if let NComponents::Count(k) = pca.n_components
                    && k > 5 * p
                    && p > 0
                {
                    problems.push(format!(
                        "steps: pca.n_components = {k} is more than the default pca.batch_size = {}",
                        5 * p
                    ));
                }
            }
            (other, Some(_)) => problems.push(format!(
                "steps: pca.batch_size applies to solver: incremental only{}",
                chose(solver_name(other))
            )),
            _ => {}
        }
        let randomized_keys =
            pca.oversamples.is_some() || pca.power_iterations.is_some() || pca.seed.is_some();
        if pca.solver != PcaSolver::Randomized && randomized_keys {
            problems.push(format!(
                "steps: pca.oversamples, power_iterations and seed apply to solver: randomized only{}",
                chose(solver_name(pca.solver))
            ));
        }
        if pca.solver == PcaSolver::Randomized
            && matches!(pca.n_components, NComponents::Fraction(_))
        {
            problems.push(
                "steps: solver: randomized needs an integer n_components (as scikit-learn); \
                 use the exact or incremental solver to keep a fraction of variance"
                    .into(),
            );
        }
    }

    /// n_components against the features and the rows.
    fn check_counts(&self, p: usize, rows: Option<u64>, problems: &mut Vec<String>) {
        let NComponents::Count(k) = self.params.n_components else {
            return;
        };
        if k > p {
            problems.push(format!(
                "steps: pca.n_components = {k} is more than the {p} features"
            ));
        }
        if let Some(rows) = rows
            && rows > 0
            && k as u64 > rows
        {
            problems.push(format!(
                "steps: pca.n_components = {k} is more than the {rows} rows of the input"
            ));
        }
    }
}

impl PlannedStep for PlannedPca {
    fn kind(&self) -> &'static str {
        "pca"
    }

    fn check(&mut self, width: Option<usize>, rows: Option<u64>, problems: &mut Vec<String>) {
        if let Some(p) = width {
            self.check_solver(p, problems);
            self.check_counts(p, rows, problems);
        }
    }

    fn absorb_scale(&mut self, method: ScaleMethod) -> bool {
        self.scale = method;
        true
    }

    fn output_width(&self, _input: usize) -> Option<usize> {
        match self.params.n_components {
            NComponents::Count(k) => Some(k),
            NComponents::Fraction(_) => None,
        }
    }

    fn start(&self, input: &StepInput) -> Result<Fit> {
        let p = input.width();
        let common = Common {
            params: self.params.clone(),
            scale: self.scale,
            input: input.clone(),
        };
        Ok(match self.params.solver {
            PcaSolver::Auto | PcaSolver::Exact => Fit::Merge(Box::new(ExactFit {
                common,
                acc: Some(MomentsAccumulator::new(p)),
                moments: None,
            })),
            PcaSolver::Tsqr => Fit::Merge(Box::new(TsqrFit {
                common,
                acc: Some(Tsqr::new(p)),
                summary: None,
            })),
            PcaSolver::Randomized => Fit::Merge(Box::new(RandomizedFit::new(common))),
            PcaSolver::Incremental => Fit::Sequential(Box::new(IncrementalFit::new(common))),
        })
    }
}

/// What every solver's fit carries.
struct Common {
    params: PcaParams,
    scale: ScaleMethod,
    input: StepInput,
}

impl Common {
    fn fitted(
        &self,
        pca: Pca,
        mean: Vec<f64>,
        scaler: Scaler,
        solver: &str,
        tracked: Option<usize>,
    ) -> Box<dyn FittedStep> {
        Box::new(FittedPca {
            method: self.scale,
            shift: mean,
            scale: scaler.scale,
            pca,
            solver: solver.into(),
            tracked,
        })
    }

    /// The scaler when it needs no statistics (none, center); else None.
    fn stateless_scaler(&self) -> Option<Scaler> {
        matches!(self.scale, ScaleMethod::None | ScaleMethod::Center).then_some(Scaler {
            method: self.scale,
            scale: None,
        })
    }
}

fn finished<T>(slot: Option<T>) -> Result<T> {
    slot.ok_or_else(|| Error::internal("a PCA fit finished before its passes"))
}

fn pass_over() -> Error {
    Error::config("that pass is over: nothing to merge into")
}

/// Exact solver: one pass of mergeable moments gives the scaler and the covariance.
struct ExactFit {
    common: Common,
    acc: Option<MomentsAccumulator>,
    moments: Option<Moments>,
}

impl FitStep for ExactFit {
    fn next_pass(&self) -> Option<String> {
        self.acc.is_some().then(|| "fit".into())
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
        let params = &self.common.params;
        let scaler = Scaler::fit(self.common.scale, &moments);
        let pca = exact::fit(
            scaler.scaled_covariance(&moments),
            moments.n,
            params.n_components,
            params.whiten,
        )?;
        Ok(self.common.fitted(pca, moments.mean, scaler, "exact", None))
    }
}

impl MergeFit for ExactFit {
    fn save(&self) -> PartialState {
        let saved = self.acc.as_ref().map(|a| a.snapshot().save());
        PartialState::new("pca", "fit", &self.common.input.fingerprint, json!(saved))
    }

    fn merge(&mut self, other: &PartialState) -> Result<()> {
        let saved: SavedMoments = other.expect("pca", "fit", &self.common.input.fingerprint)?;
        let acc = self.acc.as_mut().ok_or_else(pass_over)?;
        let moments = Moments::load(&saved)
            .filter(|m| m.nfeatures() == self.common.input.width())
            .ok_or_else(|| Error::config("malformed pca state: its width differs"))?;
        acc.merge(&moments);
        Ok(())
    }
}

/// TSQR solver: one pass of block QR factors merged pairwise, then the SVD of R.
struct TsqrFit {
    common: Common,
    acc: Option<Tsqr>,
    summary: Option<TsqrSummary>,
}

impl FitStep for TsqrFit {
    fn next_pass(&self) -> Option<String> {
        self.acc.is_some().then(|| "fit".into())
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
        Ok(self.common.fitted(pca, summary.mean, scaler, "tsqr", None))
    }
}

impl MergeFit for TsqrFit {
    fn save(&self) -> PartialState {
        let saved = self.acc.as_ref().map(|a| a.snapshot().save());
        PartialState::new("pca", "fit", &self.common.input.fingerprint, json!(saved))
    }

    fn merge(&mut self, other: &PartialState) -> Result<()> {
        let saved: SavedTsqr = other.expect("pca", "fit", &self.common.input.fingerprint)?;
        let acc = self.acc.as_mut().ok_or_else(pass_over)?;
        let state = TsqrState::load(&saved)?;
        if saved.mean.len() != self.common.input.width() {
            return Err(Error::config("malformed pca state: its width differs"));
        }
        acc.merge(&state);
        Ok(())
    }
}

/// Randomized solver: a column pass (means, scales, total variance), then one pass per
/// product with the Gram matrix: the sketch and each power iteration.
struct RandomizedFit {
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
    fn new(common: Common) -> RandomizedFit {
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
                basis: randomized::start_basis(p, l, params.seed.unwrap_or(0)),
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
            s.basis = randomized::orthonormalize(&product);
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
        let pca = randomized::finish_fit(
            &s.basis,
            &s.last,
            s.k,
            s.n,
            s.total_variance,
            self.common.params.whiten,
        )?;
        let tracked = s.basis.ncols();
        Ok(self
            .common
            .fitted(pca, s.mean, s.scaler, "randomized", Some(tracked)))
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
                other.expect("pca", "scale", &self.common.input.fingerprint)?;
            if saved.len() != self.common.input.width() {
                return Err(Error::config("malformed pca state: its width differs"));
            }
            columns.merge(&saved.iter().map(ColumnStats::load).collect::<Vec<_>>());
            return Ok(());
        }
        let s = self.scaled.as_mut().ok_or_else(pass_over)?;
        let saved: SavedMat =
            other.expect("pca", &Self::label(s.pass), &self.common.input.fingerprint)?;
        let product = s.product.as_mut().ok_or_else(pass_over)?;
        let m = saved.to_mat()?;
        if m.nrows() != s.basis.nrows() || m.ncols() != s.basis.ncols() {
            return Err(Error::config("malformed pca state: its shape differs"));
        }
        product.merge(m.as_ref());
        Ok(())
    }
}

/// Incremental solver: a per-column pass for the scaler (when it needs statistics), then
/// scikit-learn's IncrementalPCA over the scaled rows. Memory O((k + batch_size) × p).
struct IncrementalFit {
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
    fn new(common: Common) -> IncrementalFit {
        let p = common.input.width();
        let scaler = common.stateless_scaler();
        let batch_size = common.params.batch_size.unwrap_or(5 * p);
        let keep = match common.params.n_components {
            NComponents::Count(k) => k,
            NComponents::Fraction(_) => p.min(batch_size),
        };
        IncrementalFit {
            columns: scaler.is_none().then(|| ColumnsAccumulator::new(p)),
            ipca: scaler
                .as_ref()
                .map(|_| IncrementalPca::new(p, keep, batch_size)),
            shift: vec![0.0; p],
            scaler,
            common,
            scaled: Mat::zeros(0, 0),
            keep,
            done: false,
        }
    }
}

impl FitStep for IncrementalFit {
    fn next_pass(&self) -> Option<String> {
        if self.columns.is_some() {
            Some("scale".into())
        } else if !self.done {
            Some("incremental".into())
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
            self.ipca = Some(IncrementalPca::new(p, self.keep, batch_size));
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
            + (3 * batch + self.keep) * p * 8
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
        Ok(this
            .common
            .fitted(pca, mean, scaler, "incremental", Some(this.keep)))
    }
}

/// A fitted PCA: `((x − shift) / scale) · componentsᵀ` (whitened when asked), with the
/// scaler it absorbed.
pub struct FittedPca {
    method: ScaleMethod,
    /// The raw feature means (PCA centres on them).
    shift: Vec<f64>,
    scale: Option<Vec<f64>>,
    pca: Pca,
    solver: String,
    /// See report.json's `components_tracked`.
    tracked: Option<usize>,
}

impl FittedPca {
    pub fn pca(&self) -> &Pca {
        &self.pca
    }

    pub fn from_model(model: &Map<String, Value>, input: usize) -> Result<FittedPca> {
        let k: usize = field(model, "n_components_")?;
        let rows: Vec<Vec<f64>> = field(model, "components_")?;
        let explained_variance: Vec<f64> = field(model, "explained_variance_")?;
        let shift: Vec<f64> = field(model, "mean_")?;
        let scale: Option<Vec<f64>> = field(model, "scale_")?;
        let components = rows_mat(&rows, input)
            .filter(|c| c.nrows() == k && explained_variance.len() == k && shift.len() == input)
            .ok_or_else(|| {
                Error::config("the pca arrays do not match n_components_ and the features")
            })?;
        Ok(FittedPca {
            method: field(model, "scaler")?,
            shift,
            scale,
            pca: Pca {
                components,
                explained_variance,
                explained_variance_ratio: field(model, "explained_variance_ratio_")?,
                singular_values: field(model, "singular_values_")?,
                noise_variance: field(model, "noise_variance_")?,
                total_variance: f64::NAN,
                n_samples: field(model, "n_samples_seen_")?,
                whiten: field(model, "whiten")?,
            },
            solver: field(model, "solver")?,
            tracked: None,
        })
    }
}

impl FittedStep for FittedPca {
    fn kind(&self) -> &'static str {
        "pca"
    }

    fn output_names(&self) -> Vec<String> {
        (1..=self.pca.n_components())
            .map(|i| format!("pc{i}"))
            .collect()
    }

    fn forward(&self, x: MatRef<'_, f64>, scratch: &mut Mat<f64>) -> Mat<f64> {
        project_with(
            x,
            &self.shift,
            self.scale.as_deref(),
            &self.pca,
            false,
            scratch,
        )
    }

    fn forward_with_error(&self, x: MatRef<'_, f64>, scratch: &mut Mat<f64>) -> Option<Mat<f64>> {
        Some(project_with(
            x,
            &self.shift,
            self.scale.as_deref(),
            &self.pca,
            true,
            scratch,
        ))
    }

    fn inverse(&self, z: MatRef<'_, f64>) -> Mat<f64> {
        inverse(z, &self.shift, self.scale.as_deref(), &self.pca)
    }

    fn affine(&self) -> Option<Affine<'_>> {
        Some(Affine {
            shift: &self.shift,
            scale: self.scale.as_deref(),
        })
    }

    fn loadings(&self) -> Option<MatRef<'_, f64>> {
        Some(self.pca.components.as_ref())
    }

    fn n_samples(&self) -> Option<u64> {
        Some(self.pca.n_samples)
    }

    fn raw_mean(&self) -> Option<&[f64]> {
        Some(&self.shift)
    }

    fn write_model(&self, model: &mut Map<String, Value>) {
        let pca = &self.pca;
        model.insert("scaler".into(), json!(self.method));
        model.insert("scale_".into(), json!(self.scale));
        model.insert("solver".into(), json!(self.solver));
        model.insert("n_components_".into(), json!(pca.n_components()));
        model.insert("components_".into(), rows_json(pca.components.as_ref()));
        model.insert("explained_variance_".into(), json!(pca.explained_variance));
        model.insert(
            "explained_variance_ratio_".into(),
            json!(pca.explained_variance_ratio),
        );
        model.insert("singular_values_".into(), json!(pca.singular_values));
        model.insert("noise_variance_".into(), json!(pca.noise_variance));
        model.insert("whiten".into(), json!(pca.whiten));
    }

    fn write_report(&self, report: &mut Map<String, Value>, _facts: &RunFacts) {
        let pca = &self.pca;
        report.insert("solver".into(), json!(self.solver));
        if let Some(t) = self.tracked {
            report.insert("components_tracked".into(), json!(t));
        }
        report.insert("n_components".into(), json!(pca.n_components()));
        report.insert("explained_variance".into(), json!(pca.explained_variance));
        report.insert(
            "explained_variance_ratio".into(),
            json!(pca.explained_variance_ratio),
        );
        report.insert(
            "cumulative_variance_ratio".into(),
            json!(pca.cumulative_variance_ratio()),
        );
        report.insert("singular_values".into(), json!(pca.singular_values));
        report.insert("noise_variance".into(), json!(pca.noise_variance));
        report.insert("total_variance".into(), json!(pca.total_variance));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_chooses_by_width_and_k() {
        use NComponents::{Count, Fraction};
        assert_eq!(
            resolve_solver(PcaSolver::Auto, Count(10), 4096),
            PcaSolver::Exact
        );
        assert_eq!(
            resolve_solver(PcaSolver::Auto, Fraction(0.9), 30),
            PcaSolver::Exact
        );
        assert_eq!(
            resolve_solver(PcaSolver::Auto, Count(10), 4097),
            PcaSolver::Randomized
        );
        assert_eq!(
            resolve_solver(PcaSolver::Auto, Count(1000), 5000),
            PcaSolver::Incremental
        );
        assert_eq!(
            resolve_solver(PcaSolver::Auto, Fraction(0.9), 5000),
            PcaSolver::Incremental
        );
        assert_eq!(
            resolve_solver(PcaSolver::Exact, Count(10), 100_000),
            PcaSolver::Exact
        );
    }
}
