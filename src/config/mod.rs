//! The pipeline file. Parsing happens in two stages, as ripgrep does with its flags:
//! `RawPipeline` is close to what the user wrote (serde types, unknown keys refused, YAML
//! line:column in every error), and `Plan` (in `plan.rs`) is the validated pipeline
//! resolved against the input's schema. `--set KEY=VALUE` overrides are applied between
//! the two.

mod autoencoder;
mod overrides;
pub mod plan;
pub mod report;

use std::fmt;
use std::path::Path;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
pub use crate::steps::random_projection::RandomProjectionParams;

pub use autoencoder::{
    Activation, Activations, AutoencoderParams, EarlyStopping, Loss, Noise, OptimizerKind,
    OptimizerParams, OutputActivation, Positive,
};
pub use overrides::apply_overrides;
pub use plan::Plan;
pub use report::{RawEvaluate, RawReport};

pub const DEFAULT_BATCH_ROWS: usize = 8192;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    pub name: String,
    pub input: RawInput,
    pub steps: Vec<RawStep>,
    pub output: RawOutput,
    /// What report.html shows beyond the variance plots (optional).
    #[serde(default, skip_serializing_if = "RawReport::is_default")]
    pub report: RawReport,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    /// A file, a folder or a glob pattern.
    pub path: String,
    #[serde(default)]
    pub features: FeatureSelector,
    #[serde(default)]
    pub passthrough: Vec<String>,
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
    #[serde(default)]
    pub missing: MissingPolicy,
}

fn default_batch_rows() -> usize {
    DEFAULT_BATCH_ROWS
}

/// Which columns are features. Passthrough columns are never features.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FeatureSelector {
    Include(Vec<String>),
    Exclude(Vec<String>),
    Regex(String),
}

impl Default for FeatureSelector {
    fn default() -> Self {
        FeatureSelector::Exclude(Vec::new())
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum MissingPolicy {
    /// A missing, NaN or infinite feature value stops the run, naming the place.
    #[default]
    Error,
    /// Rows with any missing feature value are dropped (and counted).
    SkipRow,
    /// Missing values are replaced by the column's mean over the present values
    /// (this costs one extra pass to learn the means).
    ImputeMean,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawStep {
    Scale(ScaleParams),
    Pca(PcaParams),
    Autoencoder(AutoencoderParams),
    RandomProjection(RandomProjectionParams),
}

impl RawStep {
    pub fn kind(&self) -> &'static str {
        match self {
            RawStep::Scale(_) => "scale",
            RawStep::Pca(_) => "pca",
            RawStep::Autoencoder(_) => "autoencoder",
            RawStep::RandomProjection(_) => "random_projection",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ScaleParams {
    #[serde(default)]
    pub method: ScaleMethod,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScaleMethod {
    None,
    Center,
    /// Zero mean, unit variance (population std, as scikit-learn's StandardScaler).
    #[default]
    Standard,
    /// Maps each feature's observed range onto [0, 1] (scikit-learn's MinMaxScaler).
    Minmax,
}

impl ScaleMethod {
    pub fn name(self) -> &'static str {
        match self {
            ScaleMethod::None => "none",
            ScaleMethod::Center => "center",
            ScaleMethod::Standard => "standard",
            ScaleMethod::Minmax => "minmax",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PcaParams {
    #[serde(default)]
    pub solver: PcaSolver,
    pub n_components: NComponents,
    #[serde(default)]
    pub whiten: bool,
    /// Rows per `partial_fit` batch of the incremental solver (default 5 × features, as
    /// scikit-learn). Independent of `input.batch_rows`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// Randomized solver: extra basis vectors beyond n_components (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oversamples: Option<usize>,
    /// Randomized solver: power iterations (default as scikit-learn's "auto": 7 when
    /// n_components < 0.1 × min(n, p), else 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_iterations: Option<usize>,
    /// Randomized solver: seed of the random starting basis (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum PcaSolver {
    /// Chooses from the data's shape: exact for p ≤ 4096, else randomized (small integer
    /// k) or incremental.
    #[default]
    Auto,
    /// One pass of mergeable moments, then an eigen-decomposition of the covariance.
    Exact,
    /// scikit-learn's IncrementalPCA: incremental SVD over batches of `batch_size` rows.
    Incremental,
    /// Halko et al.'s randomized range finder as passes over the data; memory O(p × k).
    Randomized,
    /// Exact SVD of the centered data by tall-skinny QR: for ill-conditioned data.
    Tsqr,
}

/// `n_components`: a count of components, or the fraction of variance to keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NComponents {
    Count(usize),
    Fraction(f64),
}

impl fmt::Display for NComponents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NComponents::Count(k) => write!(f, "{k}"),
            NComponents::Fraction(x) => write!(f, "{x}"),
        }
    }
}

impl Serialize for NComponents {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            NComponents::Count(k) => serializer.serialize_u64(*k as u64),
            NComponents::Fraction(x) => serializer.serialize_f64(*x),
        }
    }
}

impl<'de> Deserialize<'de> for NComponents {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct NVisitor;
        impl Visitor<'_> for NVisitor {
            type Value = NComponents;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a count of components (an integer >= 1) or a fraction of variance in (0, 1)",
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<NComponents, E> {
                if v == 0 {
                    Err(E::custom(
                        "n_components must be at least 1 (or a fraction in (0, 1))",
                    ))
                } else {
                    Ok(NComponents::Count(v as usize))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<NComponents, E> {
                if v <= 0 {
                    Err(E::custom(format!(
                        "n_components must be at least 1 (or a fraction in (0, 1)), got {v}"
                    )))
                } else {
                    self.visit_u64(v as u64)
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<NComponents, E> {
                if v > 0.0 && v < 1.0 {
                    Ok(NComponents::Fraction(v))
                } else {
                    Err(E::custom(format!(
                        "n_components as a fraction of variance must lie in (0, 1), got {v}; \
                         write an integer for a count of components"
                    )))
                }
            }
        }
        deserializer.deserialize_any(NVisitor)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawOutput {
    pub dir: String,
    /// Write reduced.parquet (the output pass). `false` fits and writes only the model and
    /// report — for fitting on a large set and transforming later with `dimred transform`.
    #[serde(default = "yes")]
    pub reduced: bool,
    /// Add a `reconstruction_error` column (per-row ‖x − x̂‖² in the scaled space) to
    /// reduced.parquet, and its distribution to report.json.
    #[serde(default)]
    pub reconstruction_error: bool,
}

fn yes() -> bool {
    true
}

impl RawPipeline {
    /// Parses pipeline text; `origin` names the file in error messages.
    pub fn from_yaml(text: &str, origin: &str) -> Result<RawPipeline> {
        serde_saphyr::from_str::<RawPipeline>(text).map_err(|e| yaml_error(&e, origin))
    }

    pub fn load(path: &Path) -> Result<RawPipeline> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::config(format!("pipeline file {} does not exist", path.display()))
            } else {
                Error::io("read pipeline file", path, e)
            }
        })?;
        RawPipeline::from_yaml(&text, &path.display().to_string())
    }
}

/// One line: `file:line:column: message`, without the multi-line snippet.
pub(crate) fn yaml_error(error: &serde_saphyr::Error, origin: &str) -> Error {
    let bare = error.without_snippet();
    let message = first_line(&bare.to_string());
    match bare.location() {
        Some(loc) if loc.line() > 0 => Error::config(format!(
            "{origin}:{}:{}: {message}",
            loc.line(),
            loc.column()
        )),
        _ => Error::config(format!("{origin}: {message}")),
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    // saphyr appends its own " at line X column Y"; we print the position in front.
    match line.find(" at line ") {
        Some(i) => line[..i].trim_end().to_string(),
        None => line.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "name: breast-cancer-pca
input:
  path: sample-data/breast_cancer.csv
  features: { exclude: [target] }
  passthrough: [target]
  batch_rows: 8192
  missing: error
steps:
  - scale: { method: standard }
  - pca: { solver: exact, n_components: 0.95 }
output:
  dir: out/breast-cancer-pca
";

    #[test]
    fn parses_the_documented_example() {
        let p = RawPipeline::from_yaml(EXAMPLE, "x.yaml").unwrap();
        assert_eq!(
            p.input.features,
            FeatureSelector::Exclude(vec!["target".into()])
        );
        assert_eq!(p.steps.len(), 2);
        match &p.steps[1] {
            RawStep::Pca(pca) => assert_eq!(pca.n_components, NComponents::Fraction(0.95)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let text = EXAMPLE.replace("  missing: error", "  mising: error");
        let err = RawPipeline::from_yaml(&text, "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.yaml:7:3: "), "{err}");
        assert!(err.contains("mising"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn wrong_type_names_line_and_column() {
        let text = EXAMPLE.replace("batch_rows: 8192", "batch_rows: many");
        let err = RawPipeline::from_yaml(&text, "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.yaml:6:"), "{err}");
    }

    #[test]
    fn bad_n_components_is_refused_where_written() {
        for bad in ["0", "-3", "1.0", "1.5", "0.0"] {
            let text = EXAMPLE.replace("n_components: 0.95", &format!("n_components: {bad}"));
            let err = RawPipeline::from_yaml(&text, "x.yaml")
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("x.yaml:10:"), "{bad}: {err}");
            assert!(err.contains("n_components"), "{bad}: {err}");
        }
    }
}
