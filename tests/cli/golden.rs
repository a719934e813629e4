//! Golden outputs: what every example pipeline writes (model.json, report.json and
//! reduced.parquet, less the version, the timings and the paths of this run) is compared
//! with files committed under tests/golden/, so a change of structure that changes a
//! number or a field is caught. Numbers match to rounding (relative 1e-9). A field the
//! golden file lacks is allowed: the formats may be extended, never changed.
//!
//! `DIMRED_BLESS=1 cargo test golden` rewrites the files: only for a change in what users
//! read that was meant, reviewed in the diff.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Map, Value, json};

use super::common::*;

/// Fields that differ between two runs of the same pipeline.
const VOLATILE: [&str; 8] = [
    "added",
    "dimred_version",
    "seconds",
    "seconds_total",
    "rows_per_second",
    "samples_per_second",
    "peak_rss_bytes",
    "outputs",
];

/// Reduced files with more rows than this are kept as their first rows and per-column sums.
const FULL_ROWS: usize = 2000;
const HEAD_ROWS: usize = 50;

pub fn golden_dir() -> PathBuf {
    root().join("tests/golden")
}

/// Compares (or with DIMRED_BLESS=1 writes) the golden file of the outputs in `out`.
/// `temp` is the run's temporary folder: paths under it are written as `<tmp>`.
pub fn check(stem: &str, out: &Path, temp: &Path) {
    let actual = json!({
        "model": normalise(json(&out.join("model.json")), temp),
        "report": normalise(json(&out.join("report.json")), temp),
        "reduced": reduced_digest(&out.join("reduced.parquet")),
    });
    compare_or_bless(&golden_dir().join(format!("{stem}.json")), &actual);
}

/// As `check`, for one Parquet file (`dimred transform`'s output).
pub fn check_parquet(name: &str, file: &Path) {
    let actual = json!({ "reduced": reduced_digest(file) });
    compare_or_bless(&golden_dir().join(format!("{name}.json")), &actual);
}

fn compare_or_bless(path: &Path, actual: &Value) {
    if std::env::var_os("DIMRED_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut text = serde_json::to_string_pretty(actual).unwrap();
        text.push('\n');
        std::fs::write(path, text).unwrap();
        return;
    }
    let expected = json(path);
    let mut differences = Vec::new();
    diff("", &expected, actual, &mut differences);
    assert!(
        differences.is_empty(),
        "{} differs from this build's output in {} place(s):\n{}",
        path.display(),
        differences.len(),
        differences
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn normalise(value: Value, temp: &Path) -> Value {
    let prefix = temp.display().to_string();
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| !VOLATILE.contains(&k.as_str()))
                .map(|(k, v)| (k, normalise(v, temp)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| normalise(v, temp)).collect())
        }
        Value::String(s) => Value::String(s.replace(&prefix, "<tmp>")),
        other => other,
    }
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) + 1e-12
}

fn diff(at: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => diff(&format!("{at}/{k}"), ev, av, out),
                    None => out.push(format!("{at}/{k}: missing")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                out.push(format!("{at}: {} items, golden {}", a.len(), e.len()));
                return;
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                diff(&format!("{at}/{i}"), ev, av, out);
            }
        }
        (Value::Number(e), Value::Number(a)) => {
            let (e, a) = (e.as_f64().unwrap(), a.as_f64().unwrap());
            if !close(e, a) {
                out.push(format!("{at}: {a:e}, golden {e:e}"));
            }
        }
        (e, a) if e != a => out.push(format!("{at}: {a}, golden {e}")),
        _ => {}
    }
}

/// Every column of a Parquet file as numbers (floats and integers) or strings.
fn reduced_digest(path: &Path) -> Value {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut columns: Vec<(String, String, Vec<Value>)> = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        for (i, field) in batch.schema().fields().iter().enumerate() {
            let column = batch.column(i);
            let values: Vec<Value> = (0..column.len())
                .map(|r| {
                    if column.is_null(r) {
                        return Value::Null;
                    }
                    match field.data_type() {
                        arrow_schema::DataType::Float64 => {
                            json!(column.as_primitive::<Float64Type>().value(r))
                        }
                        arrow_schema::DataType::Float32 => {
                            json!(column.as_primitive::<Float32Type>().value(r))
                        }
                        arrow_schema::DataType::Int64 => {
                            json!(column.as_primitive::<Int64Type>().value(r))
                        }
                        arrow_schema::DataType::Int32 => {
                            json!(column.as_primitive::<Int32Type>().value(r))
                        }
                        arrow_schema::DataType::Utf8 => json!(column.as_string::<i32>().value(r)),
                        other => json!(format!("{other}")),
                    }
                })
                .collect();
            match columns.iter_mut().find(|(n, _, _)| n == field.name()) {
                Some((_, _, v)) => v.extend(values),
                None => columns.push((field.name().clone(), field.data_type().to_string(), values)),
            }
        }
    }
    let rows = columns.first().map_or(0, |c| c.2.len());
    let mut out = Map::new();
    out.insert("rows".into(), json!(rows));
    for (name, ty, values) in columns {
        let digest = if rows <= FULL_ROWS {
            json!({ "type": ty, "values": values })
        } else {
            let numbers: Vec<f64> = values.iter().filter_map(Value::as_f64).collect();
            json!({
                "type": ty,
                "head": values[..HEAD_ROWS],
                "sum_of_abs": numbers.iter().map(|v| v.abs()).sum::<f64>(),
                "sum_of_squares": numbers.iter().map(|v| v * v).sum::<f64>(),
                "min": numbers.iter().copied().fold(f64::INFINITY, f64::min),
                "max": numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            })
        };
        out.insert(name, digest);
    }
    Value::Object(out)
}

/// model.json files written by earlier builds, with the data they apply to: `transform`
/// must keep reading them and give the same rows.
const OLD_MODELS: [(&str, &str); 3] = [
    ("breast_cancer_pca", "sample-data/breast_cancer.csv"),
    ("digits_incremental_pca", "sample-data/digits.parquet"),
    ("digits_autoencoder", "sample-data/digits.parquet"),
];

#[test]
fn transform_reads_models_written_by_earlier_builds() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, input) in OLD_MODELS {
        let model = golden_dir()
            .join("models")
            .join(format!("{name}.model.json"));
        let output = tmp.path().join(format!("{name}.parquet"));
        dimred()
            .args(["transform", "--quiet", "--model"])
            .arg(&model)
            .args(["--input", input, "--output"])
            .arg(&output)
            .assert()
            .success();
        check_parquet(&format!("transform_{name}"), &output);
    }
}
