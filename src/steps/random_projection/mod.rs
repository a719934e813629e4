//! The random projection step: rows are multiplied by a fixed random k × p matrix, as in
//! scikit-learn's `GaussianRandomProjection` and `SparseRandomProjection`. Nothing is learnt
//! from the data except its width p (and, for `n_components: auto`, its row count, which
//! sets k through the Johnson–Lindenstrauss bound); the matrix comes from the seed alone,
//! so the fit reads nothing and merges trivially. It is the cheapest reducer for very wide
//! data: the output pass is one product of each chunk with the matrix.
//! `matrix` holds the mathematics: the bound, the `auto` density and the two matrices.

pub mod matrix;

use std::fmt;
use std::sync::OnceLock;

use faer::{Accum, Mat, MatRef, Par};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use super::{
    Describe, Export, Fit, FitStep, FittedStep, Inverse, MergeFit, PartialState, PlannedStep,
    RunFacts, StepInput, Transform, field, rows_json, rows_mat,
};
use crate::engine::PassStats;
use crate::error::{Error, Result};
use crate::npz::Array;
use crate::onnx::Graph;
use crate::steps::Named;
use crate::steps::{Pass, PassName};

/// The step kind's registration (`steps::registry!`).
pub struct Kind;

impl crate::steps::StepKind for Kind {
    type Params = RandomProjectionParams;
    fn plan(params: &Self::Params) -> Box<dyn crate::steps::PlannedStep> {
        Box::new(PlannedRandomProjection::new(params.clone()))
    }
    fn load(
        model: &serde_json::Map<String, serde_json::Value>,
        input: usize,
    ) -> crate::error::Result<Box<dyn crate::steps::FittedStep>> {
        FittedRandomProjection::from_model(model, input).map(|s| Box::new(s) as _)
    }
}

/// The step's keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RandomProjectionParams {
    /// A count, or `auto`: the Johnson–Lindenstrauss bound for the rows and `eps`.
    pub n_components: Components,
    /// Distortion allowed by `n_components: auto` (scikit-learn's default 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eps: Option<f64>,
    #[serde(default)]
    pub kind: MatrixKind,
    /// Sparse kind only: the fraction of nonzero entries, or `auto` (1/√p).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub density: Option<Density>,
    #[serde(default)]
    pub seed: u64,
}

/// scikit-learn's default distortion.
const DEFAULT_EPS: f64 = 0.1;

impl RandomProjectionParams {
    fn eps(&self) -> f64 {
        self.eps.unwrap_or(DEFAULT_EPS)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum MatrixKind {
    /// Entries N(0, 1/k).
    #[default]
    Gaussian,
    /// Entries 0 or ±√(1/(density·k)) (Achlioptas; Li, Hastie & Church).
    Sparse,
}

/// `n_components`: a count, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Components {
    Count(usize),
    Auto,
}

/// `density`: a fraction in (0, 1], or `auto`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Density {
    Fraction(f64),
    Auto,
}

impl Serialize for Components {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Components::Count(k) => s.serialize_u64(*k as u64),
            Components::Auto => s.serialize_str("auto"),
        }
    }
}

impl Serialize for Density {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Density::Fraction(d) => s.serialize_f64(*d),
            Density::Auto => s.serialize_str("auto"),
        }
    }
}

/// Numbers or the word `auto`, refused where written (the error carries line:column).
struct AutoOr<T>(std::marker::PhantomData<T>);

impl<T> AutoOr<T> {
    fn auto<E: de::Error>(v: &str, what: &str) -> std::result::Result<(), E> {
        if v == "auto" {
            Ok(())
        } else {
            Err(E::custom(format!(
                "{what}: expected a number or auto, got '{v}'"
            )))
        }
    }
}

impl Visitor<'_> for AutoOr<Components> {
    type Value = Components;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a count of components (an integer >= 1) or auto")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Components, E> {
        if v == 0 {
            Err(E::custom("n_components must be at least 1 (or auto)"))
        } else {
            Ok(Components::Count(v as usize))
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Components, E> {
        if v <= 0 {
            Err(E::custom(format!(
                "n_components must be at least 1 (or auto), got {v}"
            )))
        } else {
            self.visit_u64(v as u64)
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Components, E> {
        Self::auto(v, "n_components").map(|()| Components::Auto)
    }
}

impl Visitor<'_> for AutoOr<Density> {
    type Value = Density;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a fraction of nonzero entries in (0, 1], or auto")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Density, E> {
        if v > 0.0 && v <= 1.0 {
            Ok(Density::Fraction(v))
        } else {
            Err(E::custom(format!("density must lie in (0, 1], got {v}")))
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Density, E> {
        self.visit_f64(v as f64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Density, E> {
        self.visit_f64(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Density, E> {
        Self::auto(v, "density").map(|()| Density::Auto)
    }
}

impl<'de> Deserialize<'de> for Components {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(AutoOr::<Components>(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for Density {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(AutoOr::<Density>(std::marker::PhantomData))
    }
}

#[derive(Debug, Clone)]
pub struct PlannedRandomProjection {
    params: RandomProjectionParams,
}

impl PlannedRandomProjection {
    pub fn new(params: RandomProjectionParams) -> Self {
        PlannedRandomProjection { params }
    }

    /// k for `rows` rows of `p` features, or why there is none.
    fn components(&self, p: usize, rows: Option<u64>) -> std::result::Result<usize, String> {
        let at = "steps: random_projection";
        match self.params.n_components {
            Components::Count(k) => Ok(k),
            Components::Auto => {
                let n = rows.ok_or_else(|| {
                    format!("{at}.n_components: auto needs the row count, which is not known yet")
                })?;
                let k = matrix::johnson_lindenstrauss_min_dim(n.max(1), self.params.eps());
                if k > p {
                    return Err(format!(
                        "{at}.n_components: auto with eps = {} and {n} rows gives {k} components, \
                         more than the {p} features; raise eps or give n_components",
                        self.params.eps()
                    ));
                }
                Ok(k)
            }
        }
    }
}

impl PlannedStep for PlannedRandomProjection {
    fn kind(&self) -> &'static str {
        Kind::NAME
    }

    /// The keys, and `auto` against the features when the metadata gives the rows.
    fn check(&mut self, width: Option<usize>, rows: Option<u64>, problems: &mut Vec<String>) {
        let at = "steps: random_projection";
        let params = &self.params;
        let eps = params.eps();
        let eps_ok = eps > 0.0 && eps < 1.0;
        if params.n_components == Components::Auto && !eps_ok {
            problems.push(format!("{at}.eps must lie in (0, 1), got {eps}"));
        }
        if params.n_components != Components::Auto && params.eps.is_some() {
            problems.push(format!("{at}.eps applies to n_components: auto only"));
        }
        if params.kind == MatrixKind::Gaussian && params.density.is_some() {
            problems.push(format!("{at}.density applies to kind: sparse only"));
        }
        if params.n_components == Components::Auto
            && eps_ok
            && let (Some(p), Some(_)) = (width, rows)
            && let Err(e) = self.components(p, rows)
        {
            problems.push(e);
        }
    }

    fn output_width(&self, _input: usize) -> Option<usize> {
        match self.params.n_components {
            Components::Count(k) => Some(k),
            Components::Auto => None,
        }
    }

    /// The projection matrix, dense at worst (k × p).
    fn memory_bytes(&self, width: usize, _rows: Option<u64>) -> u64 {
        self.output_width(width).unwrap_or(width) as u64 * width as u64 * 8
    }

    fn start(&self, input: &StepInput) -> Result<Fit> {
        let p = input.width();
        let k = self
            .components(p, input.total_rows)
            .map_err(Error::config)?;
        let density = match (self.params.kind, self.params.density) {
            (MatrixKind::Gaussian, _) => None,
            (MatrixKind::Sparse, None | Some(Density::Auto)) => Some(matrix::auto_density(p)),
            (MatrixKind::Sparse, Some(Density::Fraction(d))) => Some(d),
        };
        Ok(Fit::Merge(Box::new(RandomProjectionFit {
            params: self.params.clone(),
            fingerprint: input.fingerprint.clone(),
            p,
            k,
            density,
        })))
    }
}

/// Nothing to read: the matrix depends on (k, p, density, seed) only.
struct RandomProjectionFit {
    params: RandomProjectionParams,
    fingerprint: String,
    p: usize,
    k: usize,
    density: Option<f64>,
}

/// A random projection reads no pass; its (empty) merged state is labelled so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NoPass;

impl PassName for NoPass {
    fn label(self) -> std::borrow::Cow<'static, str> {
        "none".into()
    }
}

impl FitStep for RandomProjectionFit {
    fn next_pass(&self) -> Option<Pass> {
        None
    }

    fn update(&mut self, _x: MatRef<'_, f64>) -> Result<()> {
        Ok(())
    }

    fn end_pass(&mut self, _stats: &PassStats) -> Result<()> {
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        0
    }

    fn finish(self: Box<Self>) -> Result<Box<dyn FittedStep>> {
        let components = match self.density {
            None => matrix::gaussian(self.k, self.p, self.params.seed),
            Some(d) => matrix::sparse(self.k, self.p, d, self.params.seed),
        };
        Ok(Box::new(FittedRandomProjection {
            kind: self.params.kind,
            density: self.density,
            components,
            params: Some(self.params),
            inverse: OnceLock::new(),
        }))
    }
}

impl MergeFit for RandomProjectionFit {
    fn save(&self) -> PartialState {
        PartialState::new(Kind::NAME, NoPass, &self.fingerprint, &Value::Null)
    }

    fn merge(&mut self, other: &PartialState) -> Result<()> {
        other
            .state_of::<Value>(Kind::NAME, NoPass, &self.fingerprint)
            .map(|_| ())
    }
}

/// `x · componentsᵀ`; back through the pseudo-inverse of the components, as scikit-learn's
/// `inverse_transform`.
pub struct FittedRandomProjection {
    kind: MatrixKind,
    density: Option<f64>,
    /// k × p.
    components: Mat<f64>,
    /// The keys as written, when fitted in this process (for report.json).
    params: Option<RandomProjectionParams>,
    /// p × k, computed when first needed (an SVD of the components).
    inverse: OnceLock<Mat<f64>>,
}

impl FittedRandomProjection {
    pub fn from_model(model: &Map<String, Value>, input: usize) -> Result<FittedRandomProjection> {
        let section: Map<String, Value> = field(model, "random_projection")?;
        let rows: Vec<Vec<f64>> = field(&section, "components_")?;
        let k: usize = field(&section, "n_components_")?;
        let components = rows_mat(&rows, input)
            .filter(|c| c.nrows() == k)
            .ok_or_else(|| Error::config("the random projection's components_ do not match n_components_ and the features"))?;
        Ok(FittedRandomProjection {
            kind: field(&section, "kind")?,
            density: field(&section, "density_")?,
            components,
            params: None,
            inverse: OnceLock::new(),
        })
    }

    /// The pseudo-inverse of the components (p × k), made once.
    fn pseudo_inverse(&self) -> &Mat<f64> {
        self.inverse
            .get_or_init(|| super::pseudo_inverse(self.components.as_ref()))
    }
}

impl FittedStep for FittedRandomProjection {
    fn kind(&self) -> &'static str {
        Kind::NAME
    }

    fn inverter(&self) -> Option<&dyn Inverse> {
        Some(self)
    }
}

impl Transform for FittedRandomProjection {
    fn output_names(&self) -> Vec<String> {
        (1..=self.components.nrows())
            .map(|i| format!("rp{i}"))
            .collect()
    }

    fn forward(&self, x: MatRef<'_, f64>, _scratch: &mut Mat<f64>) -> Mat<f64> {
        let mut z = Mat::zeros(x.nrows(), self.components.nrows());
        faer::linalg::matmul::matmul(
            z.as_mut(),
            Accum::Replace,
            x,
            self.components.transpose(),
            1.0,
            Par::Seq,
        );
        z
    }
}

impl Inverse for FittedRandomProjection {
    fn inverse(&self, z: MatRef<'_, f64>) -> Mat<f64> {
        z * self.pseudo_inverse().transpose()
    }

    fn onnx_inverse(&self, g: &mut Graph, z: &str) -> Result<String> {
        let pinv = self.pseudo_inverse();
        let pt = g.matrix("rp_pinv_T", pinv.ncols(), pinv.nrows(), |i, j| pinv[(j, i)]);
        Ok(g.node("MatMul", &[z, &pt]))
    }
}

impl Export for FittedRandomProjection {
    fn write_model(&self, model: &mut Map<String, Value>) {
        let mut section = Map::new();
        section.insert("kind".into(), json!(self.kind));
        section.insert("n_components_".into(), json!(self.components.nrows()));
        section.insert("density_".into(), json!(self.density));
        section.insert("components_".into(), rows_json(self.components.as_ref()));
        model.insert("random_projection".into(), Value::Object(section));
    }

    fn arrays(&self, out: &mut Vec<(String, Array)>) {
        let c = &self.components;
        out.push((
            "random_projection.components_".into(),
            Array::matrix(c.nrows(), c.ncols(), |i, j| c[(i, j)]),
        ));
    }

    fn onnx(&self, g: &mut Graph, x: &str) -> Result<String> {
        let c = &self.components;
        let ct = g.matrix("rp_components_T", c.ncols(), c.nrows(), |i, j| c[(j, i)]);
        Ok(g.node("MatMul", &[x, &ct]))
    }
}

impl Describe for FittedRandomProjection {
    fn write_report(&self, report: &mut Map<String, Value>, _facts: &RunFacts) {
        let Some(params) = &self.params else {
            return;
        };
        let mut section = Map::new();
        section.insert("kind".into(), json!(self.kind));
        section.insert("n_components".into(), json!(self.components.nrows()));
        if params.n_components == Components::Auto {
            section.insert("eps".into(), json!(params.eps()));
        }
        section.insert("density".into(), json!(self.density));
        section.insert("seed".into(), json!(params.seed));
        report.insert("random_projection".into(), Value::Object(section));
    }
}
