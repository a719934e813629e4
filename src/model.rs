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
use crate::steps::autoencoder::{Network, SavedNetwork};
use crate::steps::chain::Chain;
use crate::steps::pca::Pca;

pub const FORMAT: &str = "dimred-model/1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    pub format: String,
    pub dimred_version: String,
    pub pipeline: String,
    pub scaler: ScaleMethod,
    pub missing: MissingPolicy,
    pub passthrough: Vec<String>,
    pub output_columns: Vec<String>,
    pub feature_names_in_: Vec<String>,
    pub n_features_in_: usize,
    pub n_samples_seen_: u64,
    /// The raw feature means (PCA centres on them; missing values are imputed with them).
    pub mean_: Vec<f64>,
    pub scale_: Option<Vec<f64>>,
    /// Minimum per feature, when minmax scaling feeds an autoencoder directly:
    /// its input is `(X - data_min_) / scale_`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_min_: Option<Vec<f64>>,
    #[serde(flatten)]
    pub pca: Option<PcaModel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoencoder: Option<AutoencoderModel>,
}

/// The PCA step, under scikit-learn's attribute names at the top level of model.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PcaModel {
    pub solver: String,
    pub n_components_: usize,
    pub components_: Vec<Vec<f64>>,
    pub explained_variance_: Vec<f64>,
    pub explained_variance_ratio_: Vec<f64>,
    pub singular_values_: Vec<f64>,
    pub noise_variance_: f64,
    pub whiten: bool,
}

/// The autoencoder step: its input is the PCA scores when a pca step precedes it, else
/// the scaled features. Each layer computes `act(a @ weights + bias)`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AutoencoderModel {
    pub latent: usize,
    /// Input, hidden, code and output widths.
    pub widths: Vec<usize>,
    #[serde(flatten)]
    pub network: SavedNetwork,
}

impl Model {
    pub fn pca(&self) -> Option<Pca> {
        let m = self.pca.as_ref()?;
        let k = m.n_components_;
        let p = self.n_features_in_;
        Some(Pca {
            components: Mat::from_fn(k, p, |r, c| m.components_[r][c]),
            explained_variance: m.explained_variance_.clone(),
            explained_variance_ratio: m.explained_variance_ratio_.clone(),
            singular_values: m.singular_values_.clone(),
            noise_variance: m.noise_variance_,
            total_variance: f64::NAN,
            n_samples: self.n_samples_seen_,
            whiten: m.whiten,
        })
    }

    /// The fitted steps, ready to apply to chunks.
    pub fn chain(&self) -> Chain {
        let shift = match (&self.pca, &self.data_min_) {
            (None, Some(min)) => min.clone(),
            (None, None) if self.scaler == ScaleMethod::None => vec![0.0; self.n_features_in_],
            _ => self.mean_.clone(),
        };
        Chain {
            shift,
            scale: self.scale_.clone(),
            pca: self.pca(),
            autoencoder: self
                .autoencoder
                .as_ref()
                .map(|a| Network::from_saved(&a.network)),
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
        let p = model.n_features_in_;
        let mut shapes_ok = model.feature_names_in_.len() == p
            && model.mean_.len() == p
            && model.scale_.as_ref().is_none_or(|s| s.len() == p)
            && model.data_min_.as_ref().is_none_or(|s| s.len() == p)
            && (model.pca.is_some() || model.autoencoder.is_some());
        let mut width = p;
        if let Some(m) = &model.pca {
            let k = m.n_components_;
            shapes_ok &= m.components_.len() == k
                && m.components_.iter().all(|r| r.len() == p)
                && m.explained_variance_.len() == k;
            width = k;
        }
        if let Some(a) = &model.autoencoder {
            shapes_ok &= a.network.is_consistent()
                && a.network.layers[0].inputs == width
                && a.network.layers[a.network.code_layer].outputs == a.latent;
        }
        if !shapes_ok {
            return Err(Error::config(format!(
                "{}: model arrays do not match n_features_in_ = {p} and the steps' widths",
                path.display()
            )));
        }
        Ok(model)
    }
}
