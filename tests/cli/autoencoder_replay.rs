//! The autoencoder's epochs replayed from memory: when the shuffle buffer holds every row
//! and the memory limit has room for a copy, the epochs after the first are fed from the
//! rows the first one read, in the order a read would give, so training is bit for bit
//! the same as when every epoch reads the file; report.json's `autoencoder.replay` says
//! which happened.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Float64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use serde_json::Value;

use super::common::*;

const ROWS: usize = 1500;
const COLS: usize = 10;

/// Row i, column j; missing in every 97th row's column 3 (from row 5 on).
fn value(i: usize, j: usize) -> Option<f64> {
    if j == 3 && i % 97 == 5 {
        return None;
    }
    let t = i as f64 * 0.37 + j as f64;
    Some(t.sin() * (1.0 + j as f64 * 0.1) + ((i * 7 + j * 3) % 11) as f64 * 0.05)
}

/// The data as Parquet in row groups of 100 rows (15 of them).
fn parquet_data(dir: &Path) -> PathBuf {
    let fields: Vec<Field> = (0..COLS)
        .map(|j| Field::new(format!("x{j}"), DataType::Float64, true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let columns = (0..COLS)
        .map(|j| {
            Arc::new(Float64Array::from_iter((0..ROWS).map(|i| value(i, j))))
                as arrow_array::ArrayRef
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let path = dir.join("rows.parquet");
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(100))
        .build();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    path
}

/// The same rows as CSV (a missing value is an empty cell).
fn csv_data(dir: &Path) -> PathBuf {
    let mut text: Vec<String> = vec![
        (0..COLS)
            .map(|j| format!("x{j}"))
            .collect::<Vec<_>>()
            .join(","),
    ];
    for i in 0..ROWS {
        let cells: Vec<String> = (0..COLS)
            .map(|j| value(i, j).map_or(String::new(), |v| format!("{v}")))
            .collect();
        text.push(cells.join(","));
    }
    let path = dir.join("rows.csv");
    std::fs::write(&path, text.join("\n") + "\n").unwrap();
    path
}

/// Trains on `data` into `dir` under `memory_limit`; returns report.json and model.json.
fn train(data: &Path, dir: &Path, memory_limit: &str) -> (Value, Value) {
    std::fs::create_dir_all(dir).unwrap();
    let out = dir.join("out");
    let yaml = pipeline(
        dir,
        &format!(
            "name: replay\ninput:\n  path: {}\n  batch_rows: 512\n  missing: skip_row\nsteps:\n  - scale: {{ method: standard }}\n  - autoencoder:\n      encoder: [8]\n      latent: 3\n      batch_size: 32\n      epochs: 4\n      shuffle_buffer: 2048\n      validation_fraction: 0.2\n      seed: 3\noutput:\n  dir: {}\n  reduced: false\n",
            data.display(),
            out.display()
        ),
    );
    dimred()
        .args(["run", "-q", "--memory-limit", memory_limit])
        .arg(&yaml)
        .assert()
        .success();
    (
        json(&out.join("report.json")),
        json(&out.join("model.json")),
    )
}

/// Trains from memory, then under a limit one byte short of the copy (training's own
/// estimate: the chunks are 512 rows, as training reads them), which reads every epoch;
/// both must be the same bit for bit.
fn replayed_and_reread(data: &Path, dir: &Path) -> [(Value, Value); 2] {
    let memory = train(data, &dir.join("memory"), "8GiB");
    let estimate = memory.0["memory"]["estimate_bytes"].as_u64().unwrap();
    let file = train(data, &dir.join("file"), &estimate.to_string());
    [memory, file]
}

fn assert_same_training(memory: &(Value, Value), file: &(Value, Value)) {
    let (a, b) = (&memory.0["autoencoder"], &file.0["autoencoder"]);
    assert_eq!(a["replay"], "memory");
    assert_eq!(b["replay"], "file");
    assert_eq!(
        memory.1["autoencoder"]["layers"], file.1["autoencoder"]["layers"],
        "the weights, bit for bit"
    );
    let epochs = |r: &Value| r["epochs"].as_array().unwrap().clone();
    assert_eq!(epochs(a).len(), 4);
    for (x, y) in epochs(a).iter().zip(&epochs(b)) {
        assert_eq!(x["train_loss"], y["train_loss"]);
        assert_eq!(x["validation_loss"], y["validation_loss"]);
        assert!(x["validation_loss"].is_f64());
    }
    for key in [
        "train_rows",
        "validation_rows",
        "best_epoch",
        "reconstruction_error",
    ] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert!(a["validation_rows"].as_u64().unwrap() > 0);
    // The rows skipped for a missing value are skipped by a replayed epoch too.
    let skipped = memory.0["rows_skipped"].as_u64().unwrap();
    assert!(skipped > 0);
    assert_eq!(
        a["train_rows"].as_u64().unwrap() + a["validation_rows"].as_u64().unwrap(),
        ROWS as u64 - skipped
    );
    // Each epoch's pass reports the rows it read, from the file or from memory.
    let passes = |r: &Value| -> Vec<(String, u64)> {
        r["passes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["rows"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(passes(&memory.0), passes(&file.0));
}

#[test]
fn autoencoder_epochs_replayed_from_memory_train_as_reading_the_parquet_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = parquet_data(tmp.path());
    let [memory, file] = replayed_and_reread(&data, tmp.path());
    assert_same_training(&memory, &file);
}

#[test]
fn autoencoder_epochs_replayed_from_memory_train_as_reading_the_csv_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = csv_data(tmp.path());
    let [memory, file] = replayed_and_reread(&data, tmp.path());
    assert_same_training(&memory, &file);
}

/// A shuffle buffer smaller than the input, or a single epoch: every epoch reads the file.
#[test]
fn autoencoder_reads_every_epoch_when_the_buffer_cannot_hold_the_input() {
    let tmp = tempfile::tempdir().unwrap();
    let data = parquet_data(tmp.path());
    let run = |name: &str, sets: &[&str]| {
        let out = tmp.path().join(name);
        let yaml = pipeline(
            tmp.path(),
            &format!(
                "name: replay\ninput:\n  path: {}\nsteps:\n  - autoencoder: {{ encoder: [8], latent: 3, epochs: 2, shuffle_buffer: 2048, seed: 3 }}\noutput:\n  dir: {}\n  reduced: false\n",
                data.display(),
                out.display()
            ),
        );
        let mut cmd = dimred();
        cmd.args(["run", "-q", "--memory-limit", "8GiB"]).arg(&yaml);
        for s in sets {
            cmd.args(["--set", s]);
        }
        cmd.arg("--set").arg("input.missing=skip_row");
        cmd.assert().success();
        json(&out.join("report.json"))["autoencoder"]["replay"].clone()
    };
    assert_eq!(run("kept", &[]), "memory");
    assert_eq!(
        run("small", &["steps.0.autoencoder.shuffle_buffer=1000"]),
        "file"
    );
    assert_eq!(run("one", &["steps.0.autoencoder.epochs=1"]), "file");
}
