//! The `scale` step: the mean, the population standard deviation (scikit-learn's
//! StandardScaler) and the range (MinMaxScaler) from one pass of mergeable column
//! statistics. Before a PCA, the PCA absorbs it (`PlannedStep::absorb_scale`) and learns
//! the scaler from its own first pass: every method is an affine map
//! `(x - offset) / scale` followed by PCA's own centering, so scaling and PCA collapse
//! into one `(x - mean_) / scale_` with `mean_` the raw mean.

pub mod params;

use faer::{Mat, MatRef};
use serde_json::{Map, Value, json};

use super::{
    Affine, Describe, Export, Fit, FitStep, FittedStep, Inverse, MergeFit, PartialState,
    PlannedStep, RunFacts, StepInput, Transform, check_rows, field,
};
use crate::engine::PassStats;
use crate::error::{Error, Result};
use crate::npz::Array;
use crate::onnx::Graph;
use crate::stats::{ColumnStats, ColumnsAccumulator, Moments, SavedColumn};
use crate::steps::Named;
use crate::steps::{Pass, PassName};
pub use params::{ScaleMethod, ScaleParams};

/// The step kind's registration (`steps::registry!`).
pub struct Kind;

impl crate::steps::StepKind for Kind {
    type Params = params::ScaleParams;
    fn plan(params: &Self::Params) -> Box<dyn crate::steps::PlannedStep> {
        Box::new(PlannedScale::new(params.method))
    }
    fn load(
        model: &serde_json::Map<String, serde_json::Value>,
        input: usize,
    ) -> crate::error::Result<Box<dyn crate::steps::FittedStep>> {
        FittedScale::from_model(model, input).map(|s| Box::new(s) as _)
    }
}

#[derive(Debug, Clone)]
pub struct Scaler {
    pub method: ScaleMethod,
    /// Divisor per feature; `None` when the data is only centered. A zero spread becomes
    /// 1, as in scikit-learn, so a constant feature stays 0 instead of NaN.
    pub scale: Option<Vec<f64>>,
}

impl Scaler {
    pub fn fit(method: ScaleMethod, moments: &Moments) -> Scaler {
        let var = moments.variance(0);
        Scaler::from_parts(
            method,
            moments.n,
            &moments.mean,
            &var,
            &moments.min,
            &moments.max,
        )
    }

    /// The same scaler from per-column statistics (`stats::ColumnStats`), for solvers that
    /// never form the p × p co-moment.
    pub fn from_columns(method: ScaleMethod, columns: &[ColumnStats]) -> Scaler {
        let n = columns.first().map_or(0, |c| c.count);
        let mean: Vec<f64> = columns.iter().map(|c| c.mean).collect();
        let var: Vec<f64> = columns
            .iter()
            .map(|c| c.m2 / c.count.max(1) as f64)
            .collect();
        let min: Vec<f64> = columns.iter().map(|c| c.min).collect();
        let max: Vec<f64> = columns.iter().map(|c| c.max).collect();
        Scaler::from_parts(method, n, &mean, &var, &min, &max)
    }

    /// `var` is the population variance (ddof 0), as StandardScaler uses.
    pub fn from_parts(
        method: ScaleMethod,
        n: u64,
        mean: &[f64],
        var: &[f64],
        min: &[f64],
        max: &[f64],
    ) -> Scaler {
        // scikit-learn's `_handle_zeros_in_scale`: a spread below 10·eps counts as zero.
        let guard = |s: f64| {
            if s.is_finite() && s >= 10.0 * f64::EPSILON {
                s
            } else {
                1.0
            }
        };
        let n = n as f64;
        let eps = f64::EPSILON;
        let scale = match method {
            ScaleMethod::None | ScaleMethod::Center => None,
            ScaleMethod::Standard => Some(
                var.iter()
                    .zip(mean)
                    .map(|(&var, &mean)| {
                        // scikit-learn's `_is_constant_feature`: a variance at the rounding
                        // level of the mean is zero.
                        let bound = n * eps * var + (n * mean * eps).powi(2);
                        if var <= bound { 1.0 } else { guard(var.sqrt()) }
                    })
                    .collect(),
            ),
            ScaleMethod::Minmax => {
                Some(min.iter().zip(max).map(|(lo, hi)| guard(hi - lo)).collect())
            }
        };
        Scaler { method, scale }
    }

    /// The covariance of the scaled features, from the raw co-moment (n − 1).
    pub fn scaled_covariance(&self, moments: &Moments) -> faer::Mat<f64> {
        let mut c = moments.covariance();
        if let Some(s) = &self.scale {
            let p = s.len();
            for j in 0..p {
                for i in 0..p {
                    c[(i, j)] /= s[i] * s[j];
                }
            }
        }
        c
    }
}

/// `(x − shift) / scale` column by column into `out` (reallocated only when the shape
/// changes, so a stream of equal chunks allocates once); `None` only shifts. The one place
/// that applies a fitted scaler to a chunk.
pub fn shift_scale_into(
    x: MatRef<'_, f64>,
    shift: &[f64],
    scale: Option<&[f64]>,
    out: &mut Mat<f64>,
) {
    let (n, p) = (x.nrows(), x.ncols());
    if out.nrows() != n || out.ncols() != p {
        *out = Mat::zeros(n, p);
    }
    for j in 0..p {
        let m = shift[j];
        let dst = out.col_mut(j);
        match scale {
            Some(s) => {
                let s = s[j];
                for (d, v) in dst.iter_mut().zip(x.col(j).iter()) {
                    *d = (v - m) / s;
                }
            }
            None => {
                for (d, v) in dst.iter_mut().zip(x.col(j).iter()) {
                    *d = v - m;
                }
            }
        }
    }
}

/// `shift_scale_into` as ONNX nodes: `Sub` then `Div`, as skl2onnx writes a scaler
/// (either left out when it would do nothing).
pub fn onnx_shift_scale(g: &mut Graph, x: &str, shift: &[f64], scale: Option<&[f64]>) -> String {
    let mut y = x.to_string();
    if shift.iter().any(|&m| m != 0.0) {
        let c = g.constant("shift", &[shift.len()], shift);
        y = g.node("Sub", &[&y, &c]);
    }
    if let Some(s) = scale {
        let c = g.constant("scale", &[s.len()], s);
        y = g.node("Div", &[&y, &c]);
    }
    y
}

/// The inverse of `onnx_shift_scale`: `Mul` then `Add`.
pub fn onnx_unshift_scale(g: &mut Graph, z: &str, shift: &[f64], scale: Option<&[f64]>) -> String {
    let mut y = z.to_string();
    if let Some(s) = scale {
        let c = g.constant("scale", &[s.len()], s);
        y = g.node("Mul", &[&y, &c]);
    }
    if shift.iter().any(|&m| m != 0.0) {
        let c = g.constant("shift", &[shift.len()], shift);
        y = g.node("Add", &[&y, &c]);
    }
    y
}

#[derive(Debug, Clone)]
pub struct PlannedScale {
    method: ScaleMethod,
}

impl PlannedScale {
    pub fn new(method: ScaleMethod) -> PlannedScale {
        PlannedScale { method }
    }
}

impl PlannedStep for PlannedScale {
    fn kind(&self) -> &'static str {
        Kind::NAME
    }

    fn output_width(&self, input: usize) -> Option<usize> {
        Some(input)
    }

    fn start(&self, input: &StepInput) -> Result<Fit> {
        Ok(Fit::Merge(Box::new(ScaleFit {
            method: self.method,
            input: input.clone(),
            acc: Some(ColumnsAccumulator::new(input.width())),
            columns: None,
        })))
    }
}

/// One pass of column statistics.
struct ScaleFit {
    method: ScaleMethod,
    input: StepInput,
    acc: Option<ColumnsAccumulator>,
    columns: Option<Vec<ColumnStats>>,
}

/// The scaler's one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ScalePass;

impl PassName for ScalePass {
    fn label(self) -> std::borrow::Cow<'static, str> {
        "scale".into()
    }
}

const PASS: ScalePass = ScalePass;

impl FitStep for ScaleFit {
    fn next_pass(&self) -> Option<Pass> {
        self.acc.is_some().then(|| PASS.into())
    }

    fn update(&mut self, x: MatRef<'_, f64>) -> Result<()> {
        if let Some(acc) = &mut self.acc {
            acc.push(x);
        }
        Ok(())
    }

    fn end_pass(&mut self, stats: &PassStats) -> Result<()> {
        let columns = self
            .acc
            .take()
            .map(ColumnsAccumulator::finish)
            .unwrap_or_default();
        check_rows(
            &self.input,
            "scaling",
            stats,
            columns.first().map_or(0, |c| c.count),
        )?;
        self.columns = Some(columns);
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.acc.as_ref().map_or(0, ColumnsAccumulator::size_bytes)
    }

    fn finish(self: Box<Self>) -> Result<Box<dyn FittedStep>> {
        let columns = self
            .columns
            .ok_or_else(|| Error::internal("the scale step finished before its pass"))?;
        let scaler = Scaler::from_columns(self.method, &columns);
        let mean: Vec<f64> = columns.iter().map(|c| c.mean).collect();
        let shift = match self.method {
            ScaleMethod::None => vec![0.0; columns.len()],
            ScaleMethod::Minmax => columns.iter().map(|c| c.min).collect(),
            ScaleMethod::Center | ScaleMethod::Standard => mean.clone(),
        };
        Ok(Box::new(FittedScale {
            method: self.method,
            shift,
            scale: scaler.scale,
            mean,
            n_samples: columns.first().map_or(0, |c| c.count),
        }))
    }
}

impl MergeFit for ScaleFit {
    fn save(&self) -> PartialState {
        let columns: Vec<SavedColumn> = self
            .acc
            .as_ref()
            .map(|a| a.snapshot().iter().map(ColumnStats::save).collect())
            .unwrap_or_default();
        PartialState::new(Kind::NAME, PASS, &self.input.fingerprint, &columns)
    }

    fn merge(&mut self, other: &PartialState) -> Result<()> {
        let saved: Vec<SavedColumn> = other.state_of(Kind::NAME, PASS, &self.input.fingerprint)?;
        let acc = self
            .acc
            .as_mut()
            .ok_or_else(|| Error::config("the scale pass is over: nothing to merge into"))?;
        if saved.len() != self.input.width() {
            return Err(Error::config(
                "cannot merge scale states of different widths",
            ));
        }
        acc.merge(&saved.iter().map(ColumnStats::load).collect::<Vec<_>>());
        Ok(())
    }
}

/// `(x − shift) / scale`: shift is the mean (center, standard), the minimum (minmax) or
/// zero (none).
pub struct FittedScale {
    method: ScaleMethod,
    shift: Vec<f64>,
    scale: Option<Vec<f64>>,
    /// Raw feature means.
    mean: Vec<f64>,
    n_samples: u64,
}

impl FittedScale {
    pub fn from_model(model: &Map<String, Value>, input: usize) -> Result<FittedScale> {
        let method: ScaleMethod = field(model, "scaler")?;
        let mean: Vec<f64> = field(model, "mean_")?;
        let scale: Option<Vec<f64>> = field(model, "scale_")?;
        let data_min: Option<Vec<f64>> = field(model, "data_min_")?;
        if let Some(scale) = &scale {
            super::check_positive("scale_", scale)?;
            if scale.len() != input || mean.len() != input {
                return Err(Error::config(format!(
                    "model fields 'scale_' and 'mean_' must have {input} entries (the features)"
                )));
            }
        }
        let shift = match (data_min, method) {
            (Some(min), _) => min,
            (None, ScaleMethod::None) => vec![0.0; input],
            (None, _) => mean.clone(),
        };
        Ok(FittedScale {
            method,
            shift,
            scale,
            mean,
            n_samples: field(model, "n_samples_seen_")?,
        })
    }
}

impl FittedStep for FittedScale {
    fn kind(&self) -> &'static str {
        Kind::NAME
    }

    fn inverter(&self) -> Option<&dyn Inverse> {
        Some(self)
    }
}

impl Transform for FittedScale {
    fn output_names(&self) -> Vec<String> {
        Vec::new()
    }

    fn forward(&self, x: MatRef<'_, f64>, _scratch: &mut Mat<f64>) -> Mat<f64> {
        let mut out = Mat::zeros(0, 0);
        shift_scale_into(x, &self.shift, self.scale.as_deref(), &mut out);
        out
    }

    fn affine(&self) -> Option<Affine<'_>> {
        Some(Affine {
            shift: &self.shift,
            scale: self.scale.as_deref(),
        })
    }

    fn is_affine(&self) -> bool {
        true
    }
}

impl Inverse for FittedScale {
    fn inverse(&self, z: MatRef<'_, f64>) -> Mat<f64> {
        Mat::from_fn(z.nrows(), z.ncols(), |i, j| {
            z[(i, j)] * self.scale.as_ref().map_or(1.0, |s| s[j]) + self.shift[j]
        })
    }

    fn onnx_inverse(&self, g: &mut Graph, z: &str) -> Result<String> {
        Ok(onnx_unshift_scale(g, z, &self.shift, self.scale.as_deref()))
    }
}

impl Export for FittedScale {
    fn write_model(&self, model: &mut Map<String, Value>) {
        model.insert("scaler".into(), json!(self.method));
        model.insert("scale_".into(), json!(self.scale));
        if self.method == ScaleMethod::Minmax {
            model.insert("data_min_".into(), json!(self.shift));
        }
    }

    fn arrays(&self, out: &mut Vec<(String, Array)>) {
        if let Some(scale) = &self.scale {
            out.push(("scale_".into(), Array::vector(scale.clone())));
        }
        if self.method == ScaleMethod::Minmax {
            out.push(("data_min_".into(), Array::vector(self.shift.clone())));
        }
    }

    fn onnx(&self, g: &mut Graph, x: &str) -> Result<String> {
        Ok(onnx_shift_scale(g, x, &self.shift, self.scale.as_deref()))
    }
}

impl Describe for FittedScale {
    fn n_samples(&self) -> Option<u64> {
        Some(self.n_samples)
    }

    fn raw_mean(&self) -> Option<&[f64]> {
        Some(&self.mean)
    }

    fn write_report(&self, _report: &mut Map<String, Value>, _facts: &RunFacts) {}
}
