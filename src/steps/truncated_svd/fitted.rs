//! The fitted truncated SVD: sv = x · componentsᵀ, back x̂ = sv · components (scikit-learn's
//! `transform` and `inverse_transform`; no mean, as nothing was centred), its model.json
//! section, model.npz arrays, ONNX nodes and report section.

use faer::{Mat, MatRef};
use serde_json::{Map, Value, json};

use super::{Kind, Solver, TruncatedSvdParams};
use crate::error::{Error, Result};
use crate::npz::Array;
use crate::onnx::Graph;
use crate::steps::{
    Describe, Export, FittedStep, Inverse, Named, RunFacts, Transform, field, rows_json, rows_mat,
};

/// scikit-learn's fitted attributes.
#[derive(Debug, Clone)]
pub struct Decomposition {
    /// k × p, each row with its largest |entry| positive (svd_flip on V).
    pub components: Mat<f64>,
    pub singular_values: Vec<f64>,
    /// The variance (ddof 0) of each column of X·componentsᵀ.
    pub explained_variance: Vec<f64>,
    /// That over the sum of the features' variances.
    pub explained_variance_ratio: Vec<f64>,
    pub total_variance: f64,
    pub n_samples: u64,
    pub solver: Solver,
}

impl Decomposition {
    pub fn new(
        components: Mat<f64>,
        singular_values: Vec<f64>,
        explained_variance: Vec<f64>,
        total_variance: f64,
        n_samples: u64,
        solver: Solver,
    ) -> Decomposition {
        let explained_variance_ratio = explained_variance
            .iter()
            .map(|v| {
                if total_variance > 0.0 {
                    v / total_variance
                } else {
                    0.0
                }
            })
            .collect();
        Decomposition {
            components,
            singular_values,
            explained_variance,
            explained_variance_ratio,
            total_variance,
            n_samples,
            solver,
        }
    }
}

pub struct FittedTruncatedSvd {
    fit: Decomposition,
    /// The keys as written, when fitted in this process (for report.json).
    params: Option<TruncatedSvdParams>,
    /// The raw features' means its fit read, for model.json's `mean_` when it is the
    /// first step (nothing is subtracted).
    mean: Option<Vec<f64>>,
}

impl FittedTruncatedSvd {
    pub fn new(fit: Decomposition, params: Option<TruncatedSvdParams>) -> FittedTruncatedSvd {
        FittedTruncatedSvd {
            fit,
            params,
            mean: None,
        }
    }

    pub fn with_mean(mut self, mean: Vec<f64>) -> FittedTruncatedSvd {
        self.mean = Some(mean);
        self
    }

    pub fn decomposition(&self) -> &Decomposition {
        &self.fit
    }

    pub fn from_model(model: &Map<String, Value>, input: usize) -> Result<FittedTruncatedSvd> {
        let section: Map<String, Value> = field(model, Kind::NAME)?;
        let rows: Vec<Vec<f64>> = field(&section, "components_")?;
        let k: usize = field(&section, "n_components_")?;
        let components = rows_mat(&rows, input)
            .filter(|c| c.nrows() == k)
            .ok_or_else(|| {
                Error::config(
                    "the truncated SVD's components_ do not match n_components_ and the features",
                )
            })?;
        let vector = |key: &str| -> Result<Vec<f64>> {
            let v: Vec<f64> = field(&section, key)?;
            if v.len() == k {
                Ok(v)
            } else {
                Err(Error::config(format!(
                    "model field '{key}' has {} entries; n_components_ is {k}",
                    v.len()
                )))
            }
        };
        let explained_variance = vector("explained_variance_")?;
        let explained_variance_ratio = vector("explained_variance_ratio_")?;
        Ok(FittedTruncatedSvd {
            fit: Decomposition {
                components,
                singular_values: vector("singular_values_")?,
                explained_variance,
                explained_variance_ratio,
                total_variance: field(&section, "total_variance")?,
                n_samples: field(&section, "n_samples_seen_")?,
                solver: field(&section, "solver")?,
            },
            params: None,
            mean: None,
        })
    }
}

impl FittedStep for FittedTruncatedSvd {
    fn kind(&self) -> &'static str {
        Kind::NAME
    }

    fn inverter(&self) -> Option<&dyn Inverse> {
        Some(self)
    }
}

impl Transform for FittedTruncatedSvd {
    fn output_names(&self) -> Vec<String> {
        (1..=self.fit.components.nrows())
            .map(|i| format!("sv{i}"))
            .collect()
    }

    fn forward(&self, x: MatRef<'_, f64>, _scratch: &mut Mat<f64>) -> Mat<f64> {
        x * self.fit.components.transpose()
    }
}

impl Inverse for FittedTruncatedSvd {
    fn inverse(&self, z: MatRef<'_, f64>) -> Mat<f64> {
        z * &self.fit.components
    }

    fn onnx_inverse(&self, g: &mut Graph, z: &str) -> Result<String> {
        let c = &self.fit.components;
        let m = g.matrix("tsvd_components", c.nrows(), c.ncols(), |i, j| c[(i, j)]);
        Ok(g.node("MatMul", &[z, &m]))
    }
}

impl Export for FittedTruncatedSvd {
    fn write_model(&self, model: &mut Map<String, Value>) {
        let fit = &self.fit;
        let mut section = Map::new();
        section.insert("solver".into(), json!(fit.solver));
        section.insert("n_components_".into(), json!(fit.components.nrows()));
        section.insert("n_samples_seen_".into(), json!(fit.n_samples));
        section.insert("components_".into(), rows_json(fit.components.as_ref()));
        section.insert("singular_values_".into(), json!(fit.singular_values));
        section.insert("explained_variance_".into(), json!(fit.explained_variance));
        section.insert(
            "explained_variance_ratio_".into(),
            json!(fit.explained_variance_ratio),
        );
        section.insert("total_variance".into(), json!(fit.total_variance));
        model.insert(Kind::NAME.into(), Value::Object(section));
    }

    fn arrays(&self, out: &mut Vec<(String, Array)>) {
        let fit = &self.fit;
        let c = &fit.components;
        let name = |key: &str| format!("{}.{key}", Kind::NAME);
        out.push((
            name("components_"),
            Array::matrix(c.nrows(), c.ncols(), |i, j| c[(i, j)]),
        ));
        for (key, values) in [
            ("singular_values_", &fit.singular_values),
            ("explained_variance_", &fit.explained_variance),
            ("explained_variance_ratio_", &fit.explained_variance_ratio),
        ] {
            out.push((name(key), Array::vector(values.clone())));
        }
    }

    fn onnx(&self, g: &mut Graph, x: &str) -> Result<String> {
        let c = &self.fit.components;
        let ct = g.matrix("tsvd_components_T", c.ncols(), c.nrows(), |i, j| c[(j, i)]);
        Ok(g.node("MatMul", &[x, &ct]))
    }
}

impl Describe for FittedTruncatedSvd {
    fn write_report(&self, report: &mut Map<String, Value>, facts: &RunFacts) {
        let Some(params) = &self.params else {
            return;
        };
        let fit = &self.fit;
        let mut section = Map::new();
        section.insert("solver".into(), json!(fit.solver));
        section.insert("n_components".into(), json!(fit.components.nrows()));
        if fit.solver == Solver::Randomized {
            section.insert("n_iter".into(), json!(params.n_iter));
            section.insert("n_oversamples".into(), json!(params.n_oversamples));
            section.insert(
                "power_iteration_normalizer".into(),
                json!(params.normalizer()),
            );
            section.insert("seed".into(), json!(params.seed));
        }
        section.insert("singular_values".into(), json!(fit.singular_values));
        section.insert("explained_variance".into(), json!(fit.explained_variance));
        section.insert(
            "explained_variance_ratio".into(),
            json!(fit.explained_variance_ratio),
        );
        section.insert(
            "total_explained_variance_ratio".into(),
            json!(fit.explained_variance_ratio.iter().sum::<f64>()),
        );
        if let Some(e) = facts.reconstruction_error {
            section.insert("reconstruction_error".into(), json!(e));
        }
        report.insert(Kind::NAME.into(), Value::Object(section));
    }

    fn loadings(&self) -> Option<MatRef<'_, f64>> {
        Some(self.fit.components.as_ref())
    }

    fn n_samples(&self) -> Option<u64> {
        Some(self.fit.n_samples)
    }

    fn raw_mean(&self) -> Option<&[f64]> {
        self.mean.as_deref()
    }

    fn reports_error(&self) -> bool {
        true
    }
}
