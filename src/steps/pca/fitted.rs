//! The fitted PCA, with its model.json and report.json sections (scikit-learn's attribute
//! names), and `Common`: what every solver's fit state carries into it.

use std::sync::OnceLock;

use faer::{Mat, MatRef};
use serde_json::{Map, Value, json};

use super::likelihood::{self, Likelihood};
use super::params::PcaParams;
use super::{Pca, inverse, project_with};
use crate::error::{Error, Result};
use crate::npz::Array;
use crate::onnx::Graph;
use crate::steps::Named;
use crate::steps::scale::{ScaleMethod, Scaler, onnx_shift_scale, onnx_unshift_scale};
use crate::steps::{
    Affine, Describe, Export, FittedStep, Inverse, RowScore, RunFacts, StepInput, Transform, field,
    rows_json, rows_mat,
};

/// What every solver's fit carries.
pub(super) struct Common {
    pub params: PcaParams,
    pub scale: ScaleMethod,
    pub input: StepInput,
}

/// A variance fraction kept by a solver that sees only the leading part of the spectrum
/// (the randomized sketch): the fraction asked for, the fraction the kept components
/// explain, and whether the sketch ran out before reaching it (then every component it
/// tracks beyond the oversamples is kept).
#[derive(Debug, Clone, Copy)]
pub struct Reached {
    pub requested: f64,
    pub reached: f64,
    pub sketch_too_narrow: bool,
}

impl Common {
    /// Whether the products over the rows multiply in f32: the data is float32 and the
    /// user did not ask for f64 (`Arithmetic`). Fixed by the plan, so every shard and
    /// round of a fit makes the same choice.
    pub(super) fn products_in_f32(&self) -> bool {
        self.input.float32 && self.params.arithmetic != Some(super::params::Arithmetic::Float64)
    }

    pub(super) fn fitted(
        &self,
        pca: Pca,
        mean: Vec<f64>,
        scaler: Scaler,
        solver: &str,
        tracked: Option<usize>,
    ) -> Result<Box<dyn FittedStep>> {
        self.fitted_reaching(pca, mean, scaler, solver, tracked, None, "float64")
    }

    /// As `fitted`, with what a variance fraction reached and the arithmetic of the
    /// products (the randomized solver).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fitted_reaching(
        &self,
        pca: Pca,
        mean: Vec<f64>,
        scaler: Scaler,
        solver: &str,
        tracked: Option<usize>,
        reached: Option<Reached>,
        arithmetic: &'static str,
    ) -> Result<Box<dyn FittedStep>> {
        // Whatever the solver, nothing infinite or NaN reaches model.json or the report.
        let finite = pca.total_variance.is_finite()
            && pca.explained_variance.iter().all(|v| v.is_finite())
            && pca
                .components
                .col_iter()
                .all(|c| c.iter().all(|v| v.is_finite()));
        if !finite {
            return Err(Error::Numeric(
                "the PCA's variances are not finite: the values are too large (or too small) for \
                 double precision; scale the columns by a power of ten before the PCA"
                    .into(),
            ));
        }
        Ok(Box::new(FittedPca {
            method: self.scale,
            shift: mean,
            scale: scaler.scale,
            pca,
            solver: solver.into(),
            tracked,
            reached,
            arithmetic: Some(arithmetic),
            likelihood: OnceLock::new(),
        }))
    }

    /// The numbers' range: a variance that overflows (values near 1e300), one that
    /// underflows to 0 while the values differ (near 1e-300), or no variance at all would
    /// give a PCA of zeros, infinities or NaN. A clear error instead, naming the columns
    /// and what to do. `var` is each column's variance, `min` and `max` its range.
    pub(super) fn check_range(&self, var: &[f64], min: &[f64], max: &[f64]) -> Result<()> {
        let names = &self.input.names;
        let list = |cols: &[usize]| {
            let mut shown: Vec<String> = cols
                .iter()
                .take(3)
                .map(|&j| format!("'{}'", names[j]))
                .collect();
            if cols.len() > 3 {
                shown.push(format!("and {} more", cols.len() - 3));
            }
            shown.join(", ")
        };
        let overflow: Vec<usize> = (0..var.len()).filter(|&j| !var[j].is_finite()).collect();
        if !overflow.is_empty() {
            return Err(Error::Numeric(format!(
                "the variance of column(s) {} overflows: the values are too large for double precision \
                 (around 1e154 or more); divide them by a power of ten before the PCA",
                list(&overflow)
            )));
        }
        let underflow: Vec<usize> = (0..var.len())
            .filter(|&j| var[j] == 0.0 && max[j] > min[j])
            .collect();
        if !underflow.is_empty() {
            return Err(Error::Numeric(format!(
                "the variance of column(s) {} underflows to 0 although the values differ \
                 (by around 1e-154 or less); multiply them by a power of ten before the PCA",
                list(&underflow)
            )));
        }
        if !var.is_empty() && var.iter().all(|v| *v == 0.0) {
            return Err(Error::Numeric(
                "every feature is constant: there is no variance for a PCA to explain".into(),
            ));
        }
        Ok(())
    }

    /// The scaler when it needs no statistics (none, center); else None.
    pub(super) fn stateless_scaler(&self) -> Option<Scaler> {
        matches!(self.scale, ScaleMethod::None | ScaleMethod::Center).then_some(Scaler {
            method: self.scale,
            scale: None,
        })
    }
}

pub(super) fn finished<T>(slot: Option<T>) -> Result<T> {
    slot.ok_or_else(|| Error::internal("a PCA fit finished before its passes"))
}

pub(super) fn pass_over() -> Error {
    Error::config("that pass is over: nothing to merge into")
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
    /// See report.json's `variance_fraction`.
    reached: Option<Reached>,
    /// report.json's `arithmetic`: `float32` or `float64`, what the products over the rows
    /// multiplied (unknown for a model loaded from model.json).
    arithmetic: Option<&'static str>,
    /// The precision and its constant, made on the first scored chunk (p × p: only when
    /// asked for).
    likelihood: OnceLock<Likelihood>,
}

impl FittedPca {
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
        if let Some(scale) = &scale {
            if scale.len() != input {
                return Err(Error::config(format!(
                    "model field 'scale_' must have {input} entries (the features)"
                )));
            }
            super::super::check_positive("scale_", scale)?;
        }
        let whiten: bool = field(model, "whiten")?;
        if whiten {
            // whitening divides each component by the square root of its variance
            super::super::check_positive("explained_variance_", &explained_variance)?;
        }
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
                whiten,
            },
            solver: field(model, "solver")?,
            tracked: None,
            reached: None,
            arithmetic: None,
            likelihood: OnceLock::new(),
        })
    }
}

impl FittedStep for FittedPca {
    fn kind(&self) -> &'static str {
        super::Kind::NAME
    }

    fn score(&self) -> Option<&dyn RowScore> {
        Some(self)
    }

    fn inverter(&self) -> Option<&dyn Inverse> {
        Some(self)
    }
}

impl Transform for FittedPca {
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

    fn affine(&self) -> Option<Affine<'_>> {
        Some(Affine {
            shift: &self.shift,
            scale: self.scale.as_deref(),
        })
    }
}

impl Inverse for FittedPca {
    fn inverse(&self, z: MatRef<'_, f64>) -> Mat<f64> {
        inverse(z, &self.shift, self.scale.as_deref(), &self.pca)
    }

    fn onnx_inverse(&self, g: &mut Graph, z: &str) -> Result<String> {
        let pca = &self.pca;
        let mut y = z.to_string();
        if pca.whiten {
            let root: Vec<f64> = pca.explained_variance.iter().map(|v| v.sqrt()).collect();
            let c = g.constant("sqrt_explained_variance_", &[root.len()], &root);
            y = g.node("Mul", &[&y, &c]);
        }
        let c = &pca.components;
        let v = g.matrix("components_", c.nrows(), c.ncols(), |i, j| c[(i, j)]);
        let x = g.node("MatMul", &[&y, &v]);
        Ok(onnx_unshift_scale(
            g,
            &x,
            &self.shift,
            self.scale.as_deref(),
        ))
    }
}

impl Export for FittedPca {
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
        if pca.components.ncols() <= likelihood::MAX_FEATURES_JSON {
            let cov = likelihood::covariance(pca);
            model.insert("covariance".into(), rows_json(cov.as_ref()));
            let precision = likelihood::precision(pca);
            model.insert("precision".into(), rows_json(precision.as_ref()));
        }
    }

    fn arrays(&self, out: &mut Vec<(String, Array)>) {
        let pca = &self.pca;
        let c = &pca.components;
        if let Some(scale) = &self.scale {
            out.push(("scale_".into(), Array::vector(scale.clone())));
        }
        out.extend([
            (
                "components_".into(),
                Array::matrix(c.nrows(), c.ncols(), |i, j| c[(i, j)]),
            ),
            (
                "explained_variance_".into(),
                Array::vector(pca.explained_variance.clone()),
            ),
            (
                "explained_variance_ratio_".into(),
                Array::vector(pca.explained_variance_ratio.clone()),
            ),
            (
                "singular_values_".into(),
                Array::vector(pca.singular_values.clone()),
            ),
            ("noise_variance_".into(), Array::scalar(pca.noise_variance)),
            ("whiten".into(), Array::flag(pca.whiten)),
        ]);
        let p = c.ncols();
        if p <= likelihood::MAX_FEATURES {
            let cov = likelihood::covariance(pca);
            let precision = likelihood::precision(pca);
            out.extend([
                ("covariance".into(), Array::matrix(p, p, |i, j| cov[(i, j)])),
                (
                    "precision".into(),
                    Array::matrix(p, p, |i, j| precision[(i, j)]),
                ),
            ]);
        }
    }

    fn onnx(&self, g: &mut Graph, x: &str) -> Result<String> {
        let centered = onnx_shift_scale(g, x, &self.shift, self.scale.as_deref());
        let z = self.onnx_project(g, &centered);
        Ok(self.onnx_whiten(g, &z))
    }

    fn onnx_with_error(&self, g: &mut Graph, x: &str) -> Option<(String, String)> {
        let centered = onnx_shift_scale(g, x, &self.shift, self.scale.as_deref());
        let z = self.onnx_project(g, &centered);
        // the residual centered − z·V, summed in squares along each row
        let c = &self.pca.components;
        let v = g.matrix("components_", c.nrows(), c.ncols(), |i, j| c[(i, j)]);
        let rebuilt = g.node("MatMul", &[&z, &v]);
        let residual = g.node("Sub", &[&centered, &rebuilt]);
        let error = g.row_sum_of_squares(&residual);
        Some((self.onnx_whiten(g, &z), error))
    }
}

impl Describe for FittedPca {
    fn loadings(&self) -> Option<MatRef<'_, f64>> {
        Some(self.pca.components.as_ref())
    }

    fn n_samples(&self) -> Option<u64> {
        Some(self.pca.n_samples)
    }

    fn raw_mean(&self) -> Option<&[f64]> {
        Some(&self.shift)
    }

    fn write_report(&self, report: &mut Map<String, Value>, _facts: &RunFacts) {
        let pca = &self.pca;
        report.insert("solver".into(), json!(self.solver));
        if let Some(a) = self.arithmetic {
            report.insert("arithmetic".into(), json!(a));
        }
        if let Some(t) = self.tracked {
            report.insert("components_tracked".into(), json!(t));
        }
        if let Some(r) = &self.reached {
            report.insert(
                "variance_fraction".into(),
                json!({
                    "requested": r.requested,
                    "reached": r.reached,
                    "sketch_too_narrow": r.sketch_too_narrow,
                }),
            );
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

impl RowScore for FittedPca {
    fn log_likelihood(&self, x: MatRef<'_, f64>, scratch: &mut Mat<f64>) -> Vec<f64> {
        let model = self.likelihood.get_or_init(|| Likelihood::new(&self.pca));
        crate::steps::scale::shift_scale_into(x, &self.shift, self.scale.as_deref(), scratch);
        model.rows(scratch.as_ref())
    }
}

impl FittedPca {
    /// `MatMul` by the components' transpose.
    fn onnx_project(&self, g: &mut Graph, centered: &str) -> String {
        let c = &self.pca.components;
        let vt = g.matrix("components_T", c.ncols(), c.nrows(), |i, j| c[(j, i)]);
        g.node("MatMul", &[centered, &vt])
    }

    /// `Div` by √explained_variance_ when whitening.
    fn onnx_whiten(&self, g: &mut Graph, z: &str) -> String {
        if !self.pca.whiten {
            return z.to_string();
        }
        let root: Vec<f64> = self
            .pca
            .explained_variance
            .iter()
            .map(|v| v.sqrt())
            .collect();
        let c = g.constant("sqrt_explained_variance_", &[root.len()], &root);
        g.node("Div", &[z, &c])
    }
}
