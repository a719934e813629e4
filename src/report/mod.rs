//! What a run tells people: `report.json` (machine-readable, field names are a contract)
//! and the summary table printed at the end. Each format is a pure function of the
//! `Report`; the runner decides where the bytes go.

pub mod table;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PassReport {
    pub name: String,
    pub rows: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
}

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
    pub solver: String,
    pub scaler: String,
    pub n_samples: u64,
    pub n_features: usize,
    pub feature_names: Vec<String>,
    pub n_components: usize,
    pub explained_variance: Vec<f64>,
    pub explained_variance_ratio: Vec<f64>,
    pub cumulative_variance_ratio: Vec<f64>,
    pub singular_values: Vec<f64>,
    pub noise_variance: f64,
    pub total_variance: f64,
    pub rows_read: u64,
    pub rows_skipped: u64,
    pub rows_written: u64,
    pub passes: Vec<PassReport>,
    pub seconds_total: f64,
    /// Peak resident memory of the process (Linux VmHWM), for the memory promise.
    pub peak_rss_bytes: Option<u64>,
    pub outputs: Vec<String>,
}

impl Report {
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
