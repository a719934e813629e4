//! The pipeline's optional `report:` section: what report.html shows beyond the variance
//! plots (label colours, image grids, the downstream-classifier check). `RawReport` is what
//! the user wrote; `ReportPlan` is it checked against the input's columns, with every
//! problem naming its key.

use serde::{Deserialize, Serialize};

use crate::source::{ColumnKind, Dataset};
pub use crate::steps::kernel_pca::BaselineKernel;

pub const DEFAULT_SAMPLE_ROWS: usize = 5000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawReport {
    /// A label column that colours the 2-D scatter of the sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_by: Option<String>,
    /// `[rows, cols]` of image-like rows: report.html shows originals beside their
    /// reconstructions. rows × cols must equal the number of features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_shape: Option<Vec<usize>>,
    /// Rows in the uniform reservoir sample behind the scatter and the evaluation.
    #[serde(default = "default_sample_rows")]
    pub sample_rows: usize,
    /// Draw the scree plot on a logarithmic axis.
    #[serde(default)]
    pub log_scale: bool,
    /// The downstream-classifier check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluate: Option<RawEvaluate>,
    /// A 2-D picture (t-SNE, MDS, Isomap) of the sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<RawEmbedding>,
}

/// `report.embedding`: a picture of a sample of the rows, for looking, not for modelling.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawEmbedding {
    pub method: EmbedMethod,
    /// Rows pictured: a uniform sample (the report's reservoir grows to hold them).
    #[serde(default = "default_embedding_sample")]
    pub sample: usize,
    /// `reduced` (the output columns) or `scaled` (the reducer's input).
    #[serde(default)]
    pub space: EmbedSpace,
    /// t-SNE: scikit-learn's `perplexity`.
    #[serde(default = "default_perplexity")]
    pub perplexity: f64,
    /// Isomap: scikit-learn's `n_neighbors`.
    #[serde(default = "default_neighbors")]
    pub n_neighbors: usize,
    #[serde(default)]
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EmbedMethod {
    Tsne,
    Mds,
    Isomap,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum EmbedSpace {
    #[default]
    Reduced,
    Scaled,
}

fn default_embedding_sample() -> usize {
    DEFAULT_SAMPLE_ROWS
}

fn default_perplexity() -> f64 {
    30.0
}

fn default_neighbors() -> usize {
    5
}

impl Default for RawReport {
    fn default() -> Self {
        RawReport {
            color_by: None,
            image_shape: None,
            sample_rows: DEFAULT_SAMPLE_ROWS,
            log_scale: false,
            evaluate: None,
            embedding: None,
        }
    }
}

impl RawReport {
    pub fn is_default(&self) -> bool {
        *self == RawReport::default()
    }
}

fn default_sample_rows() -> usize {
    DEFAULT_SAMPLE_ROWS
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawEvaluate {
    /// The class column.
    pub label: String,
    /// Fraction of the sample held out for testing, in (0, 1).
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    /// Seed of the train/test split.
    #[serde(default)]
    pub seed: u64,
    /// Neighbours of the k-nearest-neighbours classifier (scikit-learn's default 5).
    #[serde(default = "default_k")]
    pub k: usize,
    /// Reducers fitted on the training rows' scaled features and scored beside the
    /// pipeline's own output, each at the output's width. Absent: `[pca]` when the last
    /// step is not a PCA, else none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<Vec<Baseline>>,
    /// The kernel of the `kernel_pca` baseline. Absent: the pipeline's `kernel_pca` step's
    /// kernel, else rbf with gamma 1 / features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<BaselineKernel>,
}

/// A reducer the classifier check can fit on the training rows for comparison: a step
/// kind of the registry's `compared_kinds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Baseline(pub &'static str);

impl Baseline {
    pub fn name(self) -> &'static str {
        self.0
    }
}

impl Serialize for Baseline {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Baseline {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        let kinds = crate::steps::compared_kinds();
        kinds
            .iter()
            .find(|k| **k == name)
            .map(|k| Baseline(k))
            .ok_or_else(|| serde::de::Error::unknown_variant(&name, kinds))
    }
}

fn default_test_fraction() -> f64 {
    0.25
}

fn default_k() -> usize {
    5
}

/// The report section resolved against the input: dataset column indices of the label
/// columns, and which of them must be read beside the passthrough columns.
#[derive(Debug, Clone, Default)]
pub struct ReportPlan {
    pub raw: RawReport,
    /// Column of `color_by`.
    pub color: Option<usize>,
    /// Column of `evaluate.label`.
    pub label: Option<usize>,
    /// Label columns that are not passthrough columns: read in the output pass after
    /// the passthrough columns, never written to reduced.parquet.
    pub extra: Vec<usize>,
}

impl ReportPlan {
    /// Checks the section; `features` and `passthrough` are dataset column indices.
    /// (Without the output pass there is no sample: the evaluation then says so.)
    pub fn resolve(
        raw: &RawReport,
        dataset: &Dataset,
        features: &[usize],
        passthrough: &[usize],
        problems: &mut Vec<String>,
    ) -> ReportPlan {
        let mut plan = ReportPlan {
            raw: raw.clone(),
            ..ReportPlan::default()
        };
        let mut column = |key: &str, name: &str, problems: &mut Vec<String>| -> Option<usize> {
            match dataset.column_index(name) {
                None => {
                    problems.push(format!(
                        "{key}: column '{name}' does not exist in {}",
                        dataset.path
                    ));
                    None
                }
                Some(c) if features.contains(&c) => {
                    problems.push(format!(
                        "{key}: column '{name}' is a feature; a label must not be one (exclude it from input.features)"
                    ));
                    None
                }
                Some(c) => {
                    if let ColumnKind::Other(ty) = &dataset.columns[c].kind
                        && !label_type_ok(ty)
                    {
                        problems.push(format!(
                            "{key}: column '{name}' is {ty}; a label must be a number, boolean or text"
                        ));
                    }
                    if !passthrough.contains(&c) && !plan.extra.contains(&c) {
                        plan.extra.push(c);
                    }
                    Some(c)
                }
            }
        };
        if let Some(name) = &raw.color_by {
            plan.color = column("report.color_by", name, problems);
        }
        if let Some(ev) = &raw.evaluate {
            plan.label = column("report.evaluate.label", &ev.label, problems);
            if !(ev.test_fraction > 0.0 && ev.test_fraction < 1.0) {
                problems.push(format!(
                    "report.evaluate.test_fraction: must lie in (0, 1), got {}",
                    ev.test_fraction
                ));
            }
            if ev.k == 0 {
                problems.push("report.evaluate.k: must be at least 1".into());
            }
            if let Some(list) = &ev.compare {
                for (i, b) in list.iter().enumerate() {
                    if list[..i].contains(b) {
                        problems.push(format!(
                            "report.evaluate.compare: '{}' is listed twice",
                            b.name()
                        ));
                    }
                }
            }
            if let Some(k) = &ev.kernel {
                if k.gamma.is_some_and(|g| !(g > 0.0 && g.is_finite())) {
                    problems.push(format!(
                        "report.evaluate.kernel.gamma: must be a positive number, got {}",
                        k.gamma.unwrap_or_default()
                    ));
                }
                if !(k.degree.is_finite() && k.coef0.is_finite()) {
                    problems.push(
                        "report.evaluate.kernel: degree and coef0 must be finite numbers".into(),
                    );
                }
            }
        }
        if let Some(e) = &raw.embedding {
            if e.sample < 3 {
                problems.push(format!(
                    "report.embedding.sample: must be at least 3, got {}",
                    e.sample
                ));
            }
            if !(e.perplexity > 0.0 && e.perplexity.is_finite()) {
                problems.push(format!(
                    "report.embedding.perplexity: must be a positive number, got {}",
                    e.perplexity
                ));
            }
            if e.n_neighbors == 0 {
                problems.push("report.embedding.n_neighbors: must be at least 1".into());
            }
            // The picture has at most `sample` rows, and at most the input's rows when the
            // metadata says how many: what those cannot satisfy is refused now, not after
            // the fit (a filter or skipped rows can only make the sample smaller).
            let (most, why) = match dataset.total_rows {
                Some(n) if n < e.sample as u64 => (n, format!("the input has {n} rows")),
                _ => (
                    e.sample as u64,
                    format!("report.embedding.sample is {}", e.sample),
                ),
            };
            if most >= 3 {
                match e.method {
                    EmbedMethod::Tsne if e.perplexity >= (most - 1) as f64 => {
                        problems.push(format!(
                            "report.embedding.perplexity: {} must be less than {} (the pictured rows minus one; {why}); lower it",
                            e.perplexity,
                            most - 1
                        ));
                    }
                    EmbedMethod::Isomap if e.n_neighbors as u64 >= most => {
                        problems.push(format!(
                            "report.embedding.n_neighbors: {} must be less than {most} (the pictured rows; {why}); lower it",
                            e.n_neighbors
                        ));
                    }
                    _ => {}
                }
            } else if e.sample >= 3 {
                problems.push(format!(
                    "report.embedding: {why}; a picture needs at least 3 rows"
                ));
            }
        }
        if raw.sample_rows < 2 {
            problems.push(format!(
                "report.sample_rows: must be at least 2, got {}",
                raw.sample_rows
            ));
        }
        // The sample holds up to sample_rows rows (each its scaled features and its
        // coordinates): more than the data has are harmless, beyond memory are refused.
        let kept = dataset
            .total_rows
            .map_or(raw.sample_rows, |n| raw.sample_rows.min(n as usize))
            .max(raw.embedding.as_ref().map_or(0, |e| e.sample));
        crate::engine::check_memory(
            "report.sample_rows",
            raw.sample_rows,
            kept as f64 * (features.len() as f64 * 2.0 + 64.0) * 8.0,
            problems,
        );
        if let Some(shape) = &raw.image_shape {
            let p = features.len();
            let pixels = match shape.as_slice() {
                [r, c] if *r > 0 && *c > 0 => r.checked_mul(*c),
                _ => None,
            };
            match pixels {
                None => problems.push(format!(
                    "report.image_shape: must be [rows, cols] of positive integers (whose product is the number of features), got {}",
                    shape.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" × ")
                )),
                Some(n) if n != p && p > 0 => problems.push(format!(
                    "report.image_shape: {} × {} = {n} pixels, but there are {p} features",
                    shape[0], shape[1]
                )),
                Some(_) => {}
            }
        }
        plan
    }

    /// Rows the report's reservoir holds: the sample, or the embedding's when larger.
    pub fn reservoir_rows(&self) -> usize {
        self.raw
            .sample_rows
            .max(self.raw.embedding.as_ref().map_or(0, |e| e.sample))
    }

    /// Label columns to read in the output pass, after the passthrough columns.
    pub fn read_columns(&self) -> &[usize] {
        &self.extra
    }
}

/// Non-numeric Parquet types a label may have (numbers always may; CSV columns are typed
/// when read).
pub(super) fn label_type_ok(ty: &str) -> bool {
    // plain words (see `source::numeric::plain_type`): text, boolean, or a dictionary of
    // them (a pandas categorical)
    matches!(
        ty,
        "text" | "boolean" | "dictionary of text" | "dictionary of boolean"
    )
}
