//! Shared helpers: run the binary, read its outputs, compare numbers.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type};
use assert_cmd::Command;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary, run from the repository root (relative paths in pipelines are from there).
pub fn dimred() -> Command {
    let mut cmd = Command::cargo_bin("dimred").expect("binary built");
    cmd.current_dir(root());
    cmd
}

pub fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

pub fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().expect("array").iter().map(floats).collect()
}

/// Every float64 column of a Parquet file, by name, in file order.
pub fn parquet_columns(path: &Path) -> Vec<(String, Vec<f64>)> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut out: Vec<(String, Vec<f64>)> = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        for (i, field) in batch.schema().fields().iter().enumerate() {
            if field.data_type() != &arrow_schema::DataType::Float64 {
                continue;
            }
            let values = batch
                .column(i)
                .as_primitive::<Float64Type>()
                .values()
                .to_vec();
            match out.iter_mut().find(|(n, _)| n == field.name()) {
                Some((_, v)) => v.extend(values),
                None => out.push((field.name().clone(), values)),
            }
        }
    }
    out
}

/// Every Float32 column of a Parquet file, by name, in file order, each value widened to f64.
pub fn parquet_f32_columns(path: &Path) -> Vec<(String, Vec<f64>)> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut out: Vec<(String, Vec<f64>)> = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        for (i, field) in batch.schema().fields().iter().enumerate() {
            if field.data_type() != &arrow_schema::DataType::Float32 {
                continue;
            }
            let values = batch.column(i).as_primitive::<Float32Type>().values();
            let values = values.iter().map(|&v| f64::from(v));
            match out.iter_mut().find(|(n, _)| n == field.name()) {
                Some((_, v)) => v.extend(values),
                None => out.push((field.name().clone(), values.collect())),
            }
        }
    }
    out
}

pub fn parquet_column_names(path: &Path) -> Vec<String> {
    let file = File::open(path).unwrap();
    let b = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    b.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// Element-wise relative comparison: |a − e| ≤ rtol·|e|.
pub fn assert_rel(actual: &[f64], expected: &[f64], rtol: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= rtol * e.abs(),
            "{what}[{i}]: {a} vs {e} (rtol {rtol})"
        );
    }
}

/// Norm-wise relative comparison of a vector: max|a − e| ≤ rtol·max|e|. Used for unit
/// components and projected columns, whose near-zero entries carry no relative meaning.
pub fn assert_vec_close(actual: &[f64], expected: &[f64], rtol: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    let scale = expected.iter().fold(0.0f64, |m, e| m.max(e.abs()));
    let worst = actual
        .iter()
        .zip(expected)
        .map(|(a, e)| (a - e).abs())
        .fold(0.0f64, f64::max);
    assert!(
        worst <= rtol * scale,
        "{what}: max difference {worst} > {rtol} × {scale}"
    );
}

/// Writes a pipeline file into `dir` and returns its path.
pub fn pipeline(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("pipeline.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Lists every file under `dir` (for "nothing partial left behind" checks).
pub fn files_in(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            let mut v: Vec<String> = entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }
        Err(_) => Vec::new(),
    }
}

/// Writes one record batch as a Parquet file.
pub fn write_parquet(path: &Path, batch: &arrow_array::RecordBatch) {
    let file = File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

/// Rust's and serde's spellings that must never reach a user's message.
pub const RUST_WORDS: [&str; 9] = [
    "Option<",
    "Some(",
    "Err(",
    "Ok(",
    "expected u64",
    "expected usize",
    "expected i64",
    "expected f64",
    "panicked",
];

/// What is wrong with an error message a user reads, if anything: more than one line,
/// no `error: ` in front, a Rust spelling (`RUST_WORDS`), or one of `secrets` shown.
pub fn message_problem(err: &str, secrets: &[&str]) -> Option<String> {
    if err.trim_end().lines().count() != 1 {
        return Some(format!("not one line: {err}"));
    }
    if !err.starts_with("error: ") {
        return Some(format!("no 'error: ' in front: {err}"));
    }
    if let Some(word) = RUST_WORDS.iter().find(|w| err.contains(*w)) {
        return Some(format!("'{word}' in: {err}"));
    }
    if let Some(secret) = secrets.iter().find(|s| err.contains(*s)) {
        return Some(format!("the secret '{secret}' shown in: {err}"));
    }
    None
}

/// A pipeline no small limit holds: an exact PCA of 20,000 features (its covariance alone
/// is 3.2 GB) on two CSV rows; returns it and its output folder.
pub fn wide_exact_pca(dir: &Path) -> (PathBuf, PathBuf) {
    let p = 20_000;
    let header: Vec<String> = (0..p).map(|j| format!("f{j}")).collect();
    let row: Vec<String> = (0..p).map(|j| (j % 7).to_string()).collect();
    let data = dir.join("wide.csv");
    std::fs::write(
        &data,
        format!(
            "{}\n{}\n{}\n",
            header.join(","),
            row.join(","),
            row.join(",")
        ),
    )
    .unwrap();
    let out = dir.join("out");
    let pipeline = pipeline(
        dir,
        &format!(
            "name: wide\ninput:\n  path: {}\nsteps:\n  - pca: {{ solver: exact, n_components: 4 }}\noutput:\n  dir: {}\n",
            data.display(),
            out.display()
        ),
    );
    (pipeline, out)
}

/// `dimred transform --model MODEL --input INPUT --output OUTPUT` (with `--inverse`),
/// which must succeed.
pub fn transform(model: &Path, input: impl AsRef<Path>, output: impl AsRef<Path>, inverse: bool) {
    let mut cmd = dimred();
    cmd.args(["transform", "-q"]);
    if inverse {
        cmd.arg("--inverse");
    }
    cmd.arg("--model")
        .arg(model)
        .arg("--input")
        .arg(input.as_ref())
        .arg("--output")
        .arg(output.as_ref())
        .assert()
        .success();
}
