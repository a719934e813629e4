//! What a run tells people: `report.json` (machine-readable, field names are a contract)
//! and the summary table printed at the end. Each format is a pure function of the
//! `Report`; `pipeline::run` decides where the bytes go.

pub mod collect;
pub mod embedding;
pub mod escape;
pub mod html;
pub mod plots;
pub mod sample;
pub mod table;

use serde::{Deserialize, Serialize};

pub use crate::engine::PassReport;
pub use crate::steps::autoencoder::history::{AutoencoderReport, EpochReport};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputReport {
    pub path: String,
    pub format: String,
    pub files: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub dimred_version: String,
    /// The pipeline as run, after `--set` overrides.
    pub pipeline: serde_json::Value,
    pub input: InputReport,
    pub scaler: String,
    pub n_samples: u64,
    pub n_features: usize,
    pub feature_names: Vec<String>,
    /// The reduced columns the run writes (pc1…, z1…, rp1…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_columns: Vec<String>,
    /// The PCA step's results, at the top level of report.json (absent without a pca step).
    #[serde(flatten)]
    pub pca: Option<PcaReport>,
    /// The autoencoder step's training history (absent without an autoencoder step).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub autoencoder: Option<AutoencoderReport>,
    /// The other steps' sections (`random_projection`, …), as each step wrote it.
    #[serde(flatten)]
    pub sections: serde_json::Map<String, serde_json::Value>,
    pub rows_read: u64,
    /// Rows dropped for missing values (`input.missing: skip_row`).
    pub rows_skipped: u64,
    /// Each `filter` step's rows in and out over the fit's first pass (absent without
    /// filters).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<FilterReport>,
    pub rows_written: u64,
    pub passes: Vec<PassReport>,
    pub seconds_total: f64,
    /// Peak resident memory of the process (Linux VmHWM), for the memory promise.
    pub peak_rss_bytes: Option<u64>,
    /// Per-row squared reconstruction error, when `output.reconstruction_error` is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconstruction_error: Option<ErrorSummary>,
    /// The downstream-classifier check, with `report.evaluate`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub evaluation: Option<crate::evaluate::EvaluationReport>,
    pub outputs: Vec<String>,
}

/// One `filter` step in report.json.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FilterReport {
    /// Its index in `steps`.
    pub step: usize,
    pub filter: String,
    pub rows_in: u64,
    pub rows_out: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PcaReport {
    pub solver: String,
    /// What the products over the rows multiplied: `float32` (the randomized solver on
    /// float32 data) or `float64`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub arithmetic: Option<String>,
    /// Components carried through the stream: the incremental solver keeps min(p,
    /// batch_size) when n_components is a fraction and chooses k at the end; the randomized
    /// solver's basis has k + oversamples vectors. Absent for the exact solvers.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub components_tracked: Option<usize>,
    pub n_components: usize,
    pub explained_variance: Vec<f64>,
    pub explained_variance_ratio: Vec<f64>,
    pub cumulative_variance_ratio: Vec<f64>,
    pub singular_values: Vec<f64>,
    pub noise_variance: f64,
    pub total_variance: f64,
}

/// Distribution of the per-row reconstruction error. Mean, min and max are exact; the
/// quantiles come from a uniform reservoir sample of up to `RESERVOIR` rows (exact when
/// the data has no more rows than that).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorSummary {
    pub rows: u64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    /// Rows the quantiles were computed from.
    pub sampled: usize,
}

pub const RESERVOIR: usize = 100_000;

/// Streaming accumulator for `ErrorSummary` (Vitter's algorithm R, fixed seed).
pub struct ErrorStats {
    rows: u64,
    sum: f64,
    min: f64,
    max: f64,
    sample: Vec<f64>,
    rng: crate::rng::Rng,
}

impl ErrorStats {
    pub fn new() -> ErrorStats {
        ErrorStats {
            rows: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sample: Vec::new(),
            rng: crate::rng::Rng::new(0x5eed),
        }
    }

    pub fn push(&mut self, values: impl Iterator<Item = f64>) {
        for v in values {
            self.rows += 1;
            self.sum += v;
            self.min = self.min.min(v);
            self.max = self.max.max(v);
            if self.sample.len() < RESERVOIR {
                self.sample.push(v);
            } else {
                let j = self.rng.next_u64() % self.rows;
                if (j as usize) < RESERVOIR {
                    self.sample[j as usize] = v;
                }
            }
        }
    }

    /// The mean error, without the quantiles' sort.
    pub fn mean(&self) -> f64 {
        if self.rows > 0 {
            self.sum / self.rows as f64
        } else {
            0.0
        }
    }

    pub fn summary(&self) -> ErrorSummary {
        let mut sorted = self.sample.clone();
        sorted.sort_by(f64::total_cmp);
        // the nearest-rank quantile of the sample (linear interpolation as numpy's default)
        let q = |f: f64| -> f64 {
            if sorted.is_empty() {
                return 0.0;
            }
            let pos = f * (sorted.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
        };
        ErrorSummary {
            rows: self.rows,
            mean: self.mean(),
            min: if self.rows > 0 { self.min } else { 0.0 },
            max: if self.rows > 0 { self.max } else { 0.0 },
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            sampled: sorted.len(),
        }
    }
}

impl Default for ErrorStats {
    fn default() -> Self {
        ErrorStats::new()
    }
}

/// The scaling in words for a sentence: "standard scaling", "no scaling".
pub fn scaling_words(scaler: &str) -> String {
    match scaler {
        "none" | "" => "no scaling".into(),
        other => format!("{other} scaling"),
    }
}

impl Report {
    /// The report from its JSON document: the run's fields and every step's section.
    pub fn from_document(doc: serde_json::Map<String, serde_json::Value>) -> crate::Result<Report> {
        serde_json::from_value(serde_json::Value::Object(doc))
            .map_err(|e| crate::Error::internal(format!("the report does not assemble: {e}")))
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("report serialises");
        bytes.push(b'\n');
        bytes
    }
}

/// Peak resident set size of this process, from /proc (None elsewhere).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
