//! The fitted pipeline on disk, with scikit-learn's attribute names, so a Python user can
//! apply it with numpy alone:
//! `Z = ((X - mean_) / scale_) @ components_.T` (and `/ sqrt(explained_variance_)` when
//! `whiten`). `mean_` is the raw feature mean: scaling and PCA's centering fold into one
//! affine map because the scaled data's mean is zero.

use std::path::Path;

use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::config::{MissingPolicy, ScaleMethod};
use crate::error::{Error, Result};
use crate::steps::pca::Pca;

pub const FORMAT: &str = "dimred-model/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    pub format: String,
    pub dimred_version: String,
    pub pipeline: String,
    pub scaler: ScaleMethod,
    pub solver: String,
    pub missing: MissingPolicy,
    pub passthrough: Vec<String>,
    pub output_columns: Vec<String>,
    pub feature_names_in_: Vec<String>,
    pub n_features_in_: usize,
    pub n_samples_seen_: u64,
    pub mean_: Vec<f64>,
    pub scale_: Option<Vec<f64>>,
    pub n_components_: usize,
    pub components_: Vec<Vec<f64>>,
    pub explained_variance_: Vec<f64>,
    pub explained_variance_ratio_: Vec<f64>,
    pub singular_values_: Vec<f64>,
    pub noise_variance_: f64,
    pub whiten: bool,
}

impl Model {
    pub fn pca(&self) -> Pca {
        let k = self.n_components_;
        let p = self.n_features_in_;
        Pca {
            components: Mat::from_fn(k, p, |r, c| self.components_[r][c]),
            explained_variance: self.explained_variance_.clone(),
            explained_variance_ratio: self.explained_variance_ratio_.clone(),
            singular_values: self.singular_values_.clone(),
            noise_variance: self.noise_variance_,
            total_variance: f64::NAN,
            n_samples: self.n_samples_seen_,
            whiten: self.whiten,
        }
    }

    pub fn load(path: &Path) -> Result<Model> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read model", path, e))?;
        let model: Model = serde_json::from_str(&text)
            .map_err(|e| Error::config(format!("{}: not a dimred model: {e}", path.display())))?;
        if model.format != FORMAT {
            return Err(Error::config(format!(
                "{}: model format '{}' is not '{FORMAT}'",
                path.display(),
                model.format
            )));
        }
        let (k, p) = (model.n_components_, model.n_features_in_);
        let shapes_ok = model.feature_names_in_.len() == p
            && model.mean_.len() == p
            && model.scale_.as_ref().is_none_or(|s| s.len() == p)
            && model.components_.len() == k
            && model.components_.iter().all(|r| r.len() == p)
            && model.explained_variance_.len() == k;
        if !shapes_ok {
            return Err(Error::config(format!(
                "{}: model arrays do not match n_features_in_ = {p} and n_components_ = {k}",
                path.display()
            )));
        }
        Ok(model)
    }
}
