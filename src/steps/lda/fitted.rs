//! The fitted discriminant: its projection, its classifier (`predict`,
//! `predict_proba`), its way back, and its sections of the model files and the report.

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::params::LdaSolver;
use super::solve::Lda;
use crate::error::{Error, Result};
use crate::npz::Array;
use crate::onnx::Graph;
use crate::steps::Named;
use crate::steps::{
    Classify, Describe, Export, FittedStep, Inverse, RunFacts, Transform, field, pseudo_inverse,
    rows_json, rows_mat,
};

/// The fitted discriminant.
pub struct FittedLda {
    classes: Vec<String>,
    solver: LdaSolver,
    label: String,
    lda: Lda,
    /// Rows per class, when fitted in this process (report.json).
    counts: Option<Vec<u64>>,
    /// k × p: maps outputs back to the nearest feature rows (least squares).
    inverse: Mat<f64>,
    /// Whether its outputs end with the classifier's columns.
    predict: bool,
}

/// model.json's `lda` section.
#[derive(Serialize, Deserialize)]
struct LdaModel {
    label: String,
    solver: LdaSolver,
    classes_: Vec<Value>,
    n_components_: usize,
    priors_: Vec<f64>,
    means_: Vec<Vec<f64>>,
    xbar_: Vec<f64>,
    scalings_: Vec<Vec<f64>>,
    explained_variance_ratio_: Vec<f64>,
    /// With `predict`: the classifier's weights, as scikit-learn's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    predict: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    coef_: Option<Vec<Vec<f64>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    intercept_: Option<Vec<f64>>,
}

/// A class name as JSON: a number when it reads as one (scikit-learn's `classes_` of a
/// numeric label), else text.
fn class_json(c: &str) -> Value {
    if let Ok(i) = c.parse::<i64>() {
        return json!(i);
    }
    match c.parse::<f64>() {
        Ok(f) if f.is_finite() => json!(f),
        _ => json!(c),
    }
}

impl FittedLda {
    pub(super) fn new(
        classes: Vec<String>,
        solver: LdaSolver,
        label: String,
        lda: Lda,
        counts: Option<Vec<u64>>,
        predict: bool,
    ) -> FittedLda {
        let inverse = pseudo_inverse(lda.scalings.transpose())
            .transpose()
            .to_owned();
        FittedLda {
            classes,
            solver,
            label,
            lda,
            counts,
            inverse,
            predict,
        }
    }

    pub fn from_model(model: &Map<String, Value>, input: usize) -> Result<FittedLda> {
        let m: LdaModel = field(model, "lda")?;
        let c = m.classes_.len();
        let k = m.n_components_;
        let scalings = rows_mat(&m.scalings_, k).filter(|s| s.nrows() == input);
        let means = rows_mat(&m.means_, input).filter(|s| s.nrows() == c);
        let (Some(scalings), Some(means)) = (scalings, means) else {
            return Err(Error::config(
                "the lda arrays do not match n_components_, the classes and the features",
            ));
        };
        if m.priors_.len() != c || m.xbar_.len() != input {
            return Err(Error::config(
                "the lda arrays do not match the classes and the features",
            ));
        }
        let classes = m
            .classes_
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        // two classes: one row, class 1 against class 0 (scikit-learn's shape)
        let rows = if c == 2 { 1 } else { c };
        let (coef, intercept) = match (m.predict, m.coef_, m.intercept_) {
            (false, _, _) => (Mat::zeros(0, input), Vec::new()),
            (true, Some(coef), Some(intercept)) => {
                match rows_mat(&coef, input).filter(|m| m.nrows() == rows) {
                    Some(coef) if intercept.len() == rows => (coef, intercept),
                    _ => {
                        return Err(Error::config(
                            "the lda coef_ and intercept_ do not match the classes and the features",
                        ));
                    }
                }
            }
            (true, _, _) => {
                return Err(Error::config(
                    "the lda section has predict but no coef_ and intercept_",
                ));
            }
        };
        let lda = Lda {
            priors: m.priors_,
            means,
            xbar: m.xbar_,
            scalings,
            explained_variance_ratio: m.explained_variance_ratio_,
            coef,
            intercept,
        };
        Ok(FittedLda::new(
            classes, m.solver, m.label, lda, None, m.predict,
        ))
    }

    /// The rows the transform multiplies: centred on `xbar_` for svd, as they are for eigen.
    fn centred(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        match self.solver {
            LdaSolver::Svd => {
                Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] - self.lda.xbar[j])
            }
            LdaSolver::Eigen => x.to_owned(),
        }
    }
}

impl FittedStep for FittedLda {
    fn kind(&self) -> &'static str {
        super::Kind::NAME
    }

    fn inverter(&self) -> Option<&dyn Inverse> {
        Some(self)
    }

    fn classifier(&self) -> Option<&dyn Classify> {
        self.predict.then_some(self as &dyn Classify)
    }
}

impl Transform for FittedLda {
    fn output_names(&self) -> Vec<String> {
        (1..=self.lda.scalings.ncols())
            .map(|i| format!("ld{i}"))
            .collect()
    }

    fn forward(&self, x: MatRef<'_, f64>, _scratch: &mut Mat<f64>) -> Mat<f64> {
        self.centred(x) * &self.lda.scalings
    }
}

impl Inverse for FittedLda {
    fn inverse(&self, z: MatRef<'_, f64>) -> Mat<f64> {
        let mut x = z.subcols(0, self.inverse.nrows()) * &self.inverse;
        if self.solver == LdaSolver::Svd {
            for (j, m) in self.lda.xbar.iter().enumerate() {
                for v in x.col_mut(j).iter_mut() {
                    *v += m;
                }
            }
        }
        x
    }

    fn onnx_inverse(&self, g: &mut Graph, z: &str) -> Result<String> {
        let inv = &self.inverse;
        let c = g.matrix("scalings_pinv", inv.nrows(), inv.ncols(), |i, j| {
            inv[(i, j)]
        });
        let x = g.node("MatMul", &[z, &c]);
        Ok(match self.solver {
            LdaSolver::Svd => crate::steps::scale::onnx_unshift_scale(g, &x, &self.lda.xbar, None),
            LdaSolver::Eigen => x,
        })
    }
}

impl Export for FittedLda {
    fn write_model(&self, model: &mut Map<String, Value>) {
        let lda = &self.lda;
        let section = LdaModel {
            label: self.label.clone(),
            solver: self.solver,
            classes_: self.classes.iter().map(|c| class_json(c)).collect(),
            n_components_: lda.scalings.ncols(),
            priors_: lda.priors.clone(),
            means_: serde_json::from_value(rows_json(lda.means.as_ref())).unwrap_or_default(),
            xbar_: lda.xbar.clone(),
            scalings_: serde_json::from_value(rows_json(lda.scalings.as_ref())).unwrap_or_default(),
            explained_variance_ratio_: lda.explained_variance_ratio.clone(),
            predict: self.predict,
            coef_: self
                .predict
                .then(|| serde_json::from_value(rows_json(lda.coef.as_ref())).unwrap_or_default()),
            intercept_: self.predict.then(|| lda.intercept.clone()),
        };
        model.insert("lda".into(), json!(section));
    }

    fn arrays(&self, out: &mut Vec<(String, Array)>) {
        let lda = &self.lda;
        let m = &lda.means;
        let s = &lda.scalings;
        out.extend([
            ("lda.classes_".into(), Array::strings(self.classes.clone())),
            ("lda.priors_".into(), Array::vector(lda.priors.clone())),
            (
                "lda.means_".into(),
                Array::matrix(m.nrows(), m.ncols(), |i, j| m[(i, j)]),
            ),
            ("lda.xbar_".into(), Array::vector(lda.xbar.clone())),
            (
                "lda.scalings_".into(),
                Array::matrix(s.nrows(), s.ncols(), |i, j| s[(i, j)]),
            ),
            (
                "lda.explained_variance_ratio_".into(),
                Array::vector(lda.explained_variance_ratio.clone()),
            ),
        ]);
        if self.predict {
            let c = &lda.coef;
            out.extend([
                (
                    "lda.coef_".into(),
                    Array::matrix(c.nrows(), c.ncols(), |i, j| c[(i, j)]),
                ),
                (
                    "lda.intercept_".into(),
                    Array::vector(lda.intercept.clone()),
                ),
            ]);
        }
    }

    fn onnx(&self, g: &mut Graph, x: &str) -> Result<String> {
        let mut y = x.to_string();
        if self.solver == LdaSolver::Svd {
            y = crate::steps::scale::onnx_shift_scale(g, &y, &self.lda.xbar, None);
        }
        let s = &self.lda.scalings;
        let c = g.matrix("scalings_", s.nrows(), s.ncols(), |i, j| s[(i, j)]);
        Ok(g.node("MatMul", &[&y, &c]))
    }
}

impl Describe for FittedLda {
    fn write_report(&self, report: &mut Map<String, Value>, _facts: &RunFacts) {
        let Some(counts) = &self.counts else {
            return;
        };
        let mut section = Map::new();
        section.insert("label".into(), json!(self.label));
        section.insert("solver".into(), json!(self.solver));
        section.insert("n_components".into(), json!(self.lda.scalings.ncols()));
        section.insert("classes".into(), json!(self.classes));
        section.insert("class_counts".into(), json!(counts));
        section.insert("priors".into(), json!(self.lda.priors));
        section.insert(
            "explained_variance_ratio".into(),
            json!(self.lda.explained_variance_ratio),
        );
        report.insert("lda".into(), Value::Object(section));
    }
}

impl Classify for FittedLda {
    fn prediction_names(&self) -> Vec<String> {
        let mut names = vec![format!("predicted_{}", self.label)];
        names.extend(self.classes.iter().map(|c| format!("proba_{c}")));
        names
    }

    fn predict(&self, x: MatRef<'_, f64>) -> Mat<f64> {
        let proba = self.lda.proba(x);
        let class = super::solve::predicted(proba.as_ref());
        Mat::from_fn(x.nrows(), proba.ncols() + 1, |i, j| {
            if j == 0 {
                class[i] as f64
            } else {
                proba[(i, j - 1)]
            }
        })
    }

    fn classes(&self) -> &[String] {
        &self.classes
    }
}
