//! `dimred scan`: a streaming profile of a data file or folder — rows, and per column
//! count, missing, min, max, mean, std — with warnings for constant columns. It reads
//! through the same chunk readers as `run`, so it is also the read-only floor that a
//! fit's time is compared against.

use std::time::Instant;

use serde::Serialize;

use crate::engine::column_pass;
use crate::error::Result;
use crate::source::{ColumnKind, Dataset, MissingMode, ReadSpec};

#[derive(Debug, Clone, Serialize)]
pub struct ColumnProfile {
    pub name: String,
    /// "numeric", "text" (CSV cells that are not numbers) or the Parquet type.
    pub kind: String,
    pub count: u64,
    pub missing: u64,
    pub non_numeric: u64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub constant: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    pub path: String,
    pub format: String,
    pub files: usize,
    pub rows: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub columns: Vec<ColumnProfile>,
}

pub fn scan(path: &str, batch_rows: usize, quiet: bool) -> Result<ScanReport> {
    let started = Instant::now();
    let dataset = Dataset::open(path)?;
    let readable: Vec<usize> = (0..dataset.columns.len())
        .filter(|&c| !matches!(dataset.columns[c].kind, ColumnKind::Other(_)))
        .collect();
    let spec = ReadSpec {
        features: readable.clone(),
        passthrough: Vec::new(),
        batch_rows,
        missing: MissingMode::Lenient,
        shuffle: None,
        decoder: None,
        stages: Vec::new(),
        shard: None,
        reads: Vec::new(),
    };
    let (stats, pass) = column_pass(&dataset, &spec, "scan", quiet)?;
    let rows = pass.rows_read;
    let mut columns = Vec::with_capacity(dataset.columns.len());
    for (c, info) in dataset.columns.iter().enumerate() {
        let profile = match readable.iter().position(|&r| r == c) {
            Some(j) => {
                let s = &stats[j];
                let some = |v: f64| if s.count > 0 { Some(v) } else { None };
                ColumnProfile {
                    name: info.name.clone(),
                    kind: if s.non_numeric > 0 {
                        "text".into()
                    } else {
                        "numeric".into()
                    },
                    count: s.count,
                    missing: s.missing,
                    non_numeric: s.non_numeric,
                    min: some(s.min),
                    max: some(s.max),
                    mean: some(s.mean),
                    std: some(s.std()),
                    constant: s.count > 0 && s.min == s.max,
                }
            }
            None => ColumnProfile {
                name: info.name.clone(),
                kind: match &info.kind {
                    ColumnKind::Other(t) => t.clone(),
                    _ => "unknown".into(),
                },
                count: rows,
                missing: 0,
                non_numeric: rows,
                min: None,
                max: None,
                mean: None,
                std: None,
                constant: false,
            },
        };
        columns.push(profile);
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(ScanReport {
        path: path.to_string(),
        format: dataset.format.name().into(),
        files: dataset.files.len(),
        rows,
        seconds,
        rows_per_second: rows as f64 / seconds.max(1e-9),
        columns,
    })
}

/// Width of `text` on a terminal: wide (CJK) characters take two columns, combining marks
/// none, so a table of Unicode headers lines up.
fn display_width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

/// `text` padded to `width` terminal columns, on the left (`right`) or on the right.
fn pad(text: &str, width: usize, right: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(display_width(text)));
    if right {
        format!("{fill}{text}")
    } else {
        format!("{text}{fill}")
    }
}

pub fn render(report: &ScanReport) -> String {
    // One fixed-width scientific form, so 1e300 and 1e-300 fit their column.
    // A statistic that overflowed double precision says so rather than print inf or NaN.
    let fmt = |v: Option<f64>| match v {
        Some(x) if x.is_finite() => format!("{x:.6e}"),
        Some(_) => "overflow".into(),
        None => "-".into(),
    };
    let name_width = report
        .columns
        .iter()
        .map(|c| display_width(&c.name))
        .chain([6])
        .max()
        .unwrap_or(6);
    let kind_width = report
        .columns
        .iter()
        .map(|c| display_width(&c.kind))
        .chain([7])
        .max()
        .unwrap_or(7);
    let mut out = format!(
        "{}: {} rows, {} columns, {} file(s) ({}), read in {:.2} s\n",
        report.path,
        report.rows,
        report.columns.len(),
        report.files,
        report.format,
        report.seconds
    );
    let row = |cells: [&str; 8]| {
        let mut line = pad(cells[0], name_width, false);
        line.push_str("  ");
        line.push_str(&pad(cells[1], kind_width, false));
        for (cell, width) in cells[2..].iter().zip([10, 8, 14, 14, 14, 14]) {
            line.push_str("  ");
            line.push_str(&pad(cell, width, true));
        }
        line.push('\n');
        line
    };
    out.push_str(&row([
        "column", "kind", "count", "missing", "min", "max", "mean", "std",
    ]));
    for c in &report.columns {
        out.push_str(&row([
            &c.name,
            &c.kind,
            &c.count.to_string(),
            &c.missing.to_string(),
            &fmt(c.min),
            &fmt(c.max),
            &fmt(c.mean),
            &fmt(c.std),
        ]));
    }
    for c in &report.columns {
        if c.constant {
            out.push_str(&format!(
                "warning: column '{}' is constant ({}): it carries no variance\n",
                c.name,
                fmt(c.min)
            ));
        }
        if c.non_numeric > 0 && c.min.is_some() {
            out.push_str(&format!(
                "warning: column '{}' has {} non-numeric value(s): it cannot be a feature\n",
                c.name, c.non_numeric
            ));
        } else if c.kind != "numeric" {
            out.push_str(&format!(
                "warning: column '{}' is {}, not numeric: it cannot be a feature\n",
                c.name, c.kind
            ));
        }
    }
    out
}
