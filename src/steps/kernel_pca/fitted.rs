//! The fitted `kernel_pca` step: the Nyström map and the PCA composed into one projection
//! from the kernel against the landmarks, and, when fitted with `fit_inverse_transform`,
//! the pre-image map back (`preimage`); its model.json section, npz arrays and ONNX nodes.

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::blocks;
use super::kernel::{Kernel, KernelKind};
use super::preimage::PreImage;
use crate::error::{Error, Result};
use crate::npz::Array;
use crate::onnx::Graph;
use crate::steps::{
    Describe, Export, FittedStep, Inverse, Named, RunFacts, Transform, check_positive, field,
    rows_json, rows_mat,
};

/// The fitted step: the landmarks and the composed projection.
pub struct FittedKernelPca {
    pub(super) kernel: Kernel,
    pub(super) landmarks: Mat<f64>,
    pub(super) projection: Mat<f64>,
    pub(super) offset: Vec<f64>,
    pub(super) eigenvalues: Vec<f64>,
    pub(super) approximation_error: f64,
    /// The way back, when fitted with `fit_inverse_transform` (a model written without
    /// one loads as a step that cannot invert).
    pub(super) preimage: Option<PreImage>,
    /// Rows fitted and the seed, when fitted in this process (report.json).
    pub(super) fitted: Option<(u64, u64)>,
}

/// model.json's `kernel_pca` section.
#[derive(Serialize, Deserialize)]
struct KernelPcaModel {
    #[serde(flatten)]
    kernel: Kernel,
    n_components_: usize,
    eigenvalues_: Vec<f64>,
    /// The landmarks (scikit-learn's name for the rows the kernel is taken against).
    #[serde(rename = "X_fit_")]
    x_fit: Vec<Vec<f64>>,
    projection_: Vec<Vec<f64>>,
    offset_: Vec<f64>,
    approximation_error: f64,
    /// The pre-image map's ridge, with `fit_inverse_transform` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alpha: Option<f64>,
    #[serde(
        rename = "X_transformed_fit_",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    x_transformed_fit: Option<Vec<Vec<f64>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dual_coef_: Option<Vec<Vec<f64>>>,
}

impl FittedKernelPca {
    pub fn from_model(model: &Map<String, Value>, input: usize) -> Result<FittedKernelPca> {
        let m: KernelPcaModel = field(model, "kernel_pca")?;
        if matches!(
            m.kernel.kernel,
            KernelKind::Rbf | KernelKind::Poly | KernelKind::Sigmoid
        ) {
            check_positive("kernel_pca.gamma", &[m.kernel.gamma])?;
        }
        let k = m.n_components_;
        let landmarks = rows_mat(&m.x_fit, input);
        let projection = rows_mat(&m.projection_, k);
        let preimage = preimage_from_model(&m, m.kernel, input)?;
        match (landmarks, projection) {
            (Some(l), Some(a)) if a.nrows() == l.nrows() && m.offset_.len() == k => {
                Ok(FittedKernelPca {
                    kernel: m.kernel,
                    landmarks: l,
                    projection: a,
                    offset: m.offset_,
                    eigenvalues: m.eigenvalues_,
                    approximation_error: m.approximation_error,
                    preimage,
                    fitted: None,
                })
            }
            _ => Err(Error::config(
                "the kernel_pca arrays do not match n_components_ and the features",
            )),
        }
    }
}

/// The pre-image map of a model section: none when it has no `dual_coef_` (fitted without
/// `fit_inverse_transform`); all three fields, matching in shape, when it has.
fn preimage_from_model(
    m: &KernelPcaModel,
    kernel: Kernel,
    input: usize,
) -> Result<Option<PreImage>> {
    let (alpha, z_fit, dual) = match (m.alpha, &m.x_transformed_fit, &m.dual_coef_) {
        (None, None, None) => return Ok(None),
        (Some(a), Some(z), Some(d)) => (a, z, d),
        _ => {
            return Err(Error::config(
                "model field 'kernel_pca': alpha, X_transformed_fit_ and dual_coef_ go together \
                 (the pre-image map of fit_inverse_transform)",
            ));
        }
    };
    check_positive("kernel_pca.alpha", &[alpha])?;
    match (rows_mat(z_fit, m.n_components_), rows_mat(dual, input)) {
        (Some(z), Some(d)) if z.nrows() == d.nrows() && z.nrows() == m.x_fit.len() => {
            Ok(Some(PreImage {
                kernel,
                alpha,
                z_fit: z,
                dual_coef: d,
            }))
        }
        _ => Err(Error::config(
            "the kernel_pca arrays X_transformed_fit_ and dual_coef_ do not match the landmarks, \
             n_components_ and the features",
        )),
    }
}

impl FittedStep for FittedKernelPca {
    fn kind(&self) -> &'static str {
        super::Kind::NAME
    }

    fn inverter(&self) -> Option<&dyn Inverse> {
        self.preimage.as_ref().map(|map| map as &dyn Inverse)
    }
}

impl Transform for FittedKernelPca {
    fn output_names(&self) -> Vec<String> {
        (1..=self.offset.len()).map(|i| format!("kpc{i}")).collect()
    }

    fn forward(&self, x: MatRef<'_, f64>, _scratch: &mut Mat<f64>) -> Mat<f64> {
        let mut z = blocks(x, self.offset.len(), |b| {
            self.kernel.matrix(b, self.landmarks.as_ref()) * &self.projection
        });
        for (c, o) in self.offset.iter().enumerate() {
            for v in z.col_mut(c).iter_mut() {
                *v -= o;
            }
        }
        z
    }
}

impl Export for FittedKernelPca {
    fn write_model(&self, model: &mut Map<String, Value>) {
        let section = KernelPcaModel {
            kernel: self.kernel,
            n_components_: self.offset.len(),
            eigenvalues_: self.eigenvalues.clone(),
            x_fit: serde_json::from_value(rows_json(self.landmarks.as_ref())).unwrap_or_default(),
            projection_: serde_json::from_value(rows_json(self.projection.as_ref()))
                .unwrap_or_default(),
            offset_: self.offset.clone(),
            approximation_error: self.approximation_error,
            alpha: self.preimage.as_ref().map(|p| p.alpha),
            x_transformed_fit: self
                .preimage
                .as_ref()
                .map(|p| matrix_rows(p.z_fit.as_ref())),
            dual_coef_: self
                .preimage
                .as_ref()
                .map(|p| matrix_rows(p.dual_coef.as_ref())),
        };
        model.insert("kernel_pca".into(), json!(section));
    }

    fn onnx(&self, g: &mut Graph, x: &str) -> Result<String> {
        let kernel = self.kernel.onnx(g, x, self.landmarks.as_ref(), "X_fit");
        let a = &self.projection;
        let projection = g.matrix("projection_", a.nrows(), a.ncols(), |i, j| a[(i, j)]);
        let z = g.node("MatMul", &[&kernel, &projection]);
        let offset = g.constant("offset_", &[self.offset.len()], &self.offset);
        Ok(g.node("Sub", &[&z, &offset]))
    }

    fn arrays(&self, out: &mut Vec<(String, Array)>) {
        let (l, a) = (&self.landmarks, &self.projection);
        out.extend([
            (
                "kernel_pca.X_fit_".into(),
                Array::matrix(l.nrows(), l.ncols(), |i, j| l[(i, j)]),
            ),
            (
                "kernel_pca.projection_".into(),
                Array::matrix(a.nrows(), a.ncols(), |i, j| a[(i, j)]),
            ),
            (
                "kernel_pca.offset_".into(),
                Array::vector(self.offset.clone()),
            ),
            (
                "kernel_pca.eigenvalues_".into(),
                Array::vector(self.eigenvalues.clone()),
            ),
        ]);
        if let Some(map) = &self.preimage {
            let (z, d) = (&map.z_fit, &map.dual_coef);
            out.extend([
                (
                    "kernel_pca.X_transformed_fit_".into(),
                    Array::matrix(z.nrows(), z.ncols(), |i, j| z[(i, j)]),
                ),
                (
                    "kernel_pca.dual_coef_".into(),
                    Array::matrix(d.nrows(), d.ncols(), |i, j| d[(i, j)]),
                ),
                ("kernel_pca.alpha".into(), Array::scalar(map.alpha)),
            ]);
        }
    }
}

impl Describe for FittedKernelPca {
    fn write_report(&self, report: &mut Map<String, Value>, _facts: &RunFacts) {
        let Some((n, seed)) = self.fitted else {
            return;
        };
        let mut section = Map::new();
        section.insert("kernel".into(), json!(self.kernel.kernel.name()));
        section.insert("gamma".into(), json!(self.kernel.gamma));
        section.insert("n_components".into(), json!(self.offset.len()));
        section.insert("landmarks".into(), json!(self.landmarks.nrows()));
        section.insert("rows".into(), json!(n));
        section.insert("seed".into(), json!(seed));
        section.insert("eigenvalues".into(), json!(self.eigenvalues));
        section.insert(
            "approximation_error".into(),
            json!(self.approximation_error),
        );
        if let Some(map) = &self.preimage {
            section.insert("alpha".into(), json!(map.alpha));
        }
        report.insert("kernel_pca".into(), Value::Object(section));
    }
}

/// Rows of a matrix as model.json's arrays of arrays.
fn matrix_rows(m: MatRef<'_, f64>) -> Vec<Vec<f64>> {
    (0..m.nrows())
        .map(|i| (0..m.ncols()).map(|j| m[(i, j)]).collect())
        .collect()
}
