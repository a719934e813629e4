//! The pipeline file. Parsing happens in two stages, as ripgrep does with its flags:
//! `RawPipeline` is close to what the user wrote (serde types, unknown keys refused, YAML
//! line:column in every error), and `Plan` (in `plan.rs`) is the validated pipeline
//! resolved against the input's schema. `--set KEY=VALUE` overrides are applied between
//! the two.

mod overrides;
pub mod plan;
pub mod report;
pub mod size;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use crate::steps::RawStep;
pub use crate::steps::autoencoder::params::{
    Activation, Activations, AutoencoderParams, EarlyStopping, Loss, Noise, OptimizerKind,
    OptimizerParams, OutputActivation, Positive,
};
pub use crate::steps::kernel_pca::KernelPcaParams;
pub use crate::steps::lda::params::{LdaParams, LdaSolver};
pub use crate::steps::pca::params::{NComponents, PcaParams, PcaSolver};
pub use crate::steps::scale::params::{ScaleMethod, ScaleParams};

pub use crate::source::ColumnType;
pub use overrides::apply_overrides;
pub use plan::Plan;
pub use report::{
    Baseline, BaselineKernel, EmbedMethod, EmbedSpace, RawEmbedding, RawEvaluate, RawReport,
};
pub use size::ByteSize;

pub const DEFAULT_BATCH_ROWS: usize = 8192;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    pub name: String,
    /// The memory the run may use (`2GiB`): chunks are sized to it and a configuration
    /// that cannot fit is refused before reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<ByteSize>,
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
    /// Rows per chunk; absent: derived from `memory_limit`, else `DEFAULT_BATCH_ROWS`
    /// (the plan fills it in, so the pipeline echoed in report.json says what ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_rows: Option<usize>,
    #[serde(default)]
    pub missing: MissingPolicy,
    /// A fit that reads the data several times (the randomized solver) keeps the chunks
    /// of its first pass in a temporary file in the output folder and reads that on
    /// later passes instead of decoding the input again; `false` decodes every pass.
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub spill: bool,
    /// CSV columns' types as declared (`integer`, `float`, `text`), instead of the type
    /// the first file's first 1,000 rows suggest.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "declared_columns"
    )]
    pub columns: Vec<(String, ColumnType)>,
}

/// `input.columns` as a YAML mapping `{ name: type }`, kept in the order written.
mod declared_columns {
    use serde::de::{MapAccess, Visitor};
    use serde::ser::SerializeMap;
    use serde::{Deserializer, Serializer};

    use super::ColumnType;

    pub fn serialize<S: Serializer>(
        columns: &[(String, ColumnType)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(columns.len()))?;
        for (name, ty) in columns {
            map.serialize_entry(name, ty)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(String, ColumnType)>, D::Error> {
        struct Columns;
        impl<'de> Visitor<'de> for Columns {
            type Value = Vec<(String, ColumnType)>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mapping of column names to integer, float or text")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, ColumnType>()? {
                    out.push(entry);
                }
                Ok(out)
            }
        }
        d.deserialize_map(Columns)
    }
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
    /// Add a `log_likelihood` column (each row's log-likelihood under the probabilistic
    /// PCA, scikit-learn's `score_samples`) to reduced.parquet, and its mean (`score`) to
    /// report.json.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub score: bool,
    /// Write model.onnx beside model.json (as `dimred export --onnx` does).
    #[serde(default)]
    pub onnx: bool,
    /// The ONNX graph's element type.
    #[serde(default)]
    pub onnx_dtype: OnnxDtype,
    /// The reduced columns' type in reduced.parquet (and, through model.json, in
    /// `dimred transform`'s output): float32 halves the file for consumers that compute
    /// in float32; the fit and the map stay in float64.
    #[serde(default, skip_serializing_if = "OnnxDtype::is_float64")]
    pub dtype: OnnxDtype,
}

/// `output.onnx_dtype`: the element type of model.onnx's input, outputs and constants;
/// `output.dtype`: the reduced columns' type.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnnxDtype {
    Float32,
    #[default]
    Float64,
}

impl OnnxDtype {
    pub fn is_float64(&self) -> bool {
        *self == OnnxDtype::Float64
    }
}

impl From<OnnxDtype> for crate::onnx::DType {
    fn from(d: OnnxDtype) -> crate::onnx::DType {
        match d {
            OnnxDtype::Float32 => crate::onnx::DType::Float32,
            OnnxDtype::Float64 => crate::onnx::DType::Float64,
        }
    }
}

fn is_yes(value: &bool) -> bool {
    *value
}

fn yes() -> bool {
    true
}

impl RawPipeline {
    /// Parses pipeline text; `origin` names the file in error messages.
    pub fn from_yaml(text: &str, origin: &str) -> Result<RawPipeline> {
        let mut raw = serde_saphyr::from_str::<RawPipeline>(text)
            .map_err(|e| yaml_error(&e, origin, text))?;
        // Row steps' expressions are checked later, against the input: their messages
        // name the file, line and column they were written at.
        for step in &mut raw.steps {
            match step {
                RawStep::Filter(e) => e.locate(origin),
                RawStep::Derive(d) => d.0.iter_mut().for_each(|(_, e)| e.locate(origin)),
                _ => {}
            }
        }
        Ok(raw)
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
/// The parser's words are made plain: a duplicate key says so without the parser's
/// option name, and a number it cannot take names its key (from the text at the error's
/// line).
pub(crate) fn yaml_error(error: &serde_saphyr::Error, origin: &str, text: &str) -> Error {
    let bare = error.without_snippet();
    let mut message = first_line(&bare.to_string());
    if let Some(i) = message.find(", set DuplicateKeyPolicy") {
        message = format!("{}: each key may be given once", &message[..i]);
    }
    // The text of the error's line before its column: its last `key:` is the key.
    let before = bare.location().filter(|l| l.line() > 0).and_then(|l| {
        let line = text.lines().nth(l.line() as usize - 1)?;
        let at = line
            .char_indices()
            .nth((l.column() as usize).saturating_sub(1))
            .map_or(line.len(), |(i, _)| i);
        Some(&line[..at])
    });
    // `name:` with nothing after it: the key of the error's line (or of the line
    // before, where the parser points past it)
    if message.contains("deserialize null") || message.contains("invalid type: null") {
        let key_in = |t: &str| {
            regex::Regex::new(r"([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(\}|,|$)")
                .expect("a valid pattern")
                .captures_iter(t)
                .last()
                .map(|c| c[1].to_string())
        };
        let line = bare
            .location()
            .filter(|l| l.line() > 0)
            .map(|l| l.line() as usize - 1);
        let key = before.and_then(key_in).or_else(|| {
            let at = line?;
            key_in(text.lines().nth(at)?).or_else(|| key_in(text.lines().nth(at.checked_sub(1)?)?))
        });
        message = match key {
            Some(key) => format!("{key}: the value is empty; give one"),
            None => "a value is empty; give one".into(),
        };
    }
    if let Some(ty) = message.strip_prefix("invalid ") {
        let what = match ty {
            "u64" | "usize" | "u32" => {
                "a whole number of at least 0 (and at most 18446744073709551615)"
            }
            "i64" | "i32" => "a whole number",
            "f64" | "f32" => "a number",
            _ => "a value of another type",
        };
        let key = before.and_then(|b| {
            regex::Regex::new(r"([A-Za-z_][A-Za-z0-9_]*)\s*:\s*$")
                .expect("a valid pattern")
                .captures(b)
                .map(|c| c[1].to_string())
        });
        message = match key {
            Some(key) => format!("{key}: expected {what}"),
            None => format!("expected {what}"),
        };
    }
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
