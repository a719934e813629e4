//! The fitted pipeline on disk, with scikit-learn's attribute names, so a Python user can
//! apply it with numpy alone:
//! `Z = ((X - mean_) / scale_) @ components_.T` (and `/ sqrt(explained_variance_)` when
//! `whiten`). `mean_` is the raw feature mean: scaling and PCA's centering fold into one
//! affine map because the scaled data's mean is zero.
//!
//! The header (names, widths, the missing-value policy) is written here; each fitted step
//! writes its own fields (`FittedStep::write_model`), and `steps` lists the kinds in order
//! so `transform` rebuilds the same pipeline. Files without `steps` (written before it
//! existed) are read as a scale or a PCA, then an autoencoder when there is one.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::config::{MissingPolicy, OnnxDtype};
use crate::error::{Error, Result};
use crate::steps::{FittedPipeline, Named, autoencoder, load_step, pca, scale};

pub const FORMAT: &str = "dimred-model/1";

/// The fields every model.json has, whatever its steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub dimred_version: String,
    pub pipeline: String,
    pub missing: MissingPolicy,
    /// The pipeline's `filter` and `derive` steps as written: `transform` runs them on new
    /// data before the fitted steps, so `feature_names_in_` may name derived columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub row_steps: Vec<crate::steps::RawStep>,
    pub passthrough: Vec<String>,
    pub output_columns: Vec<String>,
    pub feature_names_in_: Vec<String>,
    pub n_features_in_: usize,
    pub n_samples_seen_: u64,
    /// The raw feature means (PCA centres on them; missing values are imputed with them).
    pub mean_: Vec<f64>,
    /// The reduced columns' type the run wrote (`output.dtype`), which `transform` writes
    /// too unless told otherwise; absent means float64.
    #[serde(default, skip_serializing_if = "OnnxDtype::is_float64")]
    pub output_dtype: OnnxDtype,
}

/// A model.json: its header and the whole document, where the steps' fields are.
pub struct Model {
    pub header: Header,
    doc: Map<String, Value>,
}

impl Model {
    /// The document for a fitted pipeline: the header, `steps`, then each step's fields.
    pub fn document(header: &Header, fitted: &FittedPipeline) -> Vec<u8> {
        let mut doc = match json!(header) {
            Value::Object(map) => map,
            _ => unreachable!("a struct serialises to an object"),
        };
        // Defaults a step overwrites: a pipeline without a scaler has none.
        doc.insert("scaler".into(), json!("none"));
        doc.insert("scale_".into(), Value::Null);
        doc.insert(
            "steps".into(),
            json!(fitted.steps.iter().map(|s| s.kind()).collect::<Vec<_>>()),
        );
        for step in &fitted.steps {
            step.write_model(&mut doc);
        }
        let mut bytes = serde_json::to_vec_pretty(&doc).expect("model serialises");
        bytes.push(b'\n');
        bytes
    }

    pub fn load(path: &Path) -> Result<Model> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("read model", path, e))?;
        Model::parse(&bytes, path)
    }

    /// A model from the bytes of its file (`path` names it in errors): `transform` hashes
    /// the very bytes it applies.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Model> {
        let text = std::str::from_utf8(bytes).map_err(|_| {
            let invalid = std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            );
            Error::io("read model", path, invalid)
        })?;
        let doc: Map<String, Value> = serde_json::from_str(text)
            .map_err(|e| Error::config(format!("{}: not a dimred model: {e}", path.display())))?;
        let header: Header = serde_json::from_value(Value::Object(doc.clone()))
            .map_err(|e| Error::config(format!("{}: not a dimred model: {e}", path.display())))?;
        if header.format != FORMAT {
            return Err(Error::config(format!(
                "{}: model format '{}' is not '{FORMAT}'",
                path.display(),
                header.format
            )));
        }
        let p = header.n_features_in_;
        if header.feature_names_in_.len() != p || header.mean_.len() != p {
            return Err(Error::config(format!(
                "{}: model arrays do not match n_features_in_ = {p}",
                path.display()
            )));
        }
        Ok(Model { header, doc })
    }

    /// The step kinds in order: `steps`, or for older files the sections present.
    fn kinds(&self) -> Result<Vec<String>> {
        if let Some(steps) = self.doc.get("steps") {
            return serde_json::from_value(steps.clone())
                .map_err(|e| Error::config(format!("model field 'steps': {e}")));
        }
        let mut kinds = vec![if self.doc.contains_key("components_") {
            pca::Kind::NAME.to_string()
        } else {
            scale::Kind::NAME.to_string()
        }];
        if self.doc.contains_key("autoencoder") {
            kinds.push(autoencoder::Kind::NAME.into());
        }
        Ok(kinds)
    }

    /// The fitted steps, ready to apply to chunks. `path` names the file in errors.
    pub fn pipeline(&self, path: &Path) -> Result<FittedPipeline> {
        let at = |e: Error| match e {
            Error::Config(m) => Error::config(format!("{}: {m}", path.display())),
            other => other,
        };
        let mut fitted = FittedPipeline::default();
        let mut width = self.header.n_features_in_;
        for kind in self.kinds().map_err(at)? {
            let step = load_step(&kind, &self.doc, width).map_err(at)?;
            let names = step.output_names();
            if !names.is_empty() {
                width = names.len();
            }
            fitted.push(step);
        }
        if fitted.output_names(false) != self.header.output_columns {
            return Err(Error::config(format!(
                "{}: the steps' outputs do not match output_columns",
                path.display()
            )));
        }
        Ok(fitted)
    }
}
