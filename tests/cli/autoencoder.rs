//! The autoencoder step end to end: the linear autoencoder against PCA's subspace, the
//! learning on digits, determinism across runs and chunk sizes, resuming a killed
//! training, transform and inverse with the saved network, and its bad input.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use faer::Mat;
use serde_json::Value;

use super::common::*;

const DIGITS_AE: &str = "pipelines/digits_autoencoder.yaml";

/// `run` arguments for the digits example into `out`, without its classifier check (which
/// has its own test), with `--set` for each of `sets` (and `--resume` when asked).
fn digits_args(out: &Path, sets: &[&str], resume: bool) -> Vec<String> {
    let mut args: Vec<String> = vec!["run".into(), DIGITS_AE.into(), "-q".into()];
    if resume {
        args.push("--resume".into());
    }
    args.push("--set".into());
    args.push("report.evaluate=null".into());
    args.push("--set".into());
    args.push(format!("output.dir={}", out.display()));
    for s in sets {
        args.push("--set".into());
        args.push(s.to_string());
    }
    args
}

/// Runs the digits example (see `digits_args`).
fn run_digits(out: &Path, sets: &[&str]) -> (Value, Value) {
    let mut cmd = dimred();
    cmd.args(digits_args(out, sets, false));
    cmd.assert().success();
    (
        json(&out.join("report.json")),
        json(&out.join("model.json")),
    )
}

fn weights(model: &Value) -> &Value {
    &model["autoencoder"]["layers"]
}

/// Orthonormal basis (columns) of the row space of `rows` (k × p), by QR.
fn orthonormal(rows: &[Vec<f64>]) -> Mat<f64> {
    let (k, p) = (rows.len(), rows[0].len());
    let a = Mat::from_fn(p, k, |i, j| rows[j][i]);
    a.qr().compute_thin_Q()
}

#[test]
fn a_linear_autoencoder_spans_the_pca_subspace() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("lin.parquet");
    dimred()
        .args([
            "generate", "--rows", "4000", "--cols", "12", "--rank", "3", "--seed", "5", "--decay",
            "0.7", "--noise", "0.2", "-q", "--output",
        ])
        .arg(&data)
        .assert()
        .success();
    let input = format!("input:\n  path: {}\n", data.display());
    let pca_dir = tmp.path().join("pca");
    let ae_dir = tmp.path().join("ae");
    let pca_yaml = pipeline(
        tmp.path(),
        &format!(
            "name: pca\n{input}steps:\n  - scale: {{ method: center }}\n  - pca: {{ n_components: 3 }}\noutput:\n  dir: {}\n  reconstruction_error: true\n",
            pca_dir.display()
        ),
    );
    dimred()
        .args(["run", "-q"])
        .arg(&pca_yaml)
        .assert()
        .success();
    let ae_yaml = pipeline(
        tmp.path(),
        &format!(
            "name: linear-ae\n{input}steps:\n  - scale: {{ method: center }}\n  - autoencoder:\n      encoder: []\n      latent: 3\n      activation: linear\n      output_activation: linear\n      optimizer: {{ kind: adam, learning_rate: 0.0005 }}\n      batch_size: 32\n      epochs: 150\n      validation_fraction: 0.0\n      seed: 1\noutput:\n  dir: {}\n",
            ae_dir.display()
        ),
    );
    dimred()
        .args(["run", "-q"])
        .arg(&ae_yaml)
        .assert()
        .success();

    let pca = json(&pca_dir.join("model.json"));
    let ae = json(&ae_dir.join("model.json"));
    // The decoder's rows span the reconstruction subspace.
    let decoder = matrix(&weights(&ae)[1]["weights"]);
    let (q_ae, q_pca) = (
        orthonormal(&decoder),
        orthonormal(&matrix(&pca["components_"])),
    );
    let cosines = (q_ae.transpose() * &q_pca).singular_values().unwrap();
    for c in &cosines {
        let angle = c.clamp(-1.0, 1.0).acos();
        assert!(
            angle < 1e-2,
            "principal angle {angle} rad ≥ 1e-2 ({cosines:?})"
        );
    }
    let ae_error = json(&ae_dir.join("report.json"))["autoencoder"]["reconstruction_error"]
        .as_f64()
        .unwrap();
    let pca_error = json(&pca_dir.join("report.json"))["reconstruction_error"]["mean"]
        .as_f64()
        .unwrap();
    assert!(
        ae_error >= pca_error * (1.0 - 1e-9) && ae_error <= pca_error * 1.01,
        "autoencoder error {ae_error} vs PCA's {pca_error}: PCA is optimal, the AE must come within 1 %"
    );
}

#[test]
fn training_on_digits_lowers_the_loss_and_is_deterministic_across_chunk_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let sets = ["steps.1.autoencoder.epochs=6"];
    let (report, model) = run_digits(&tmp.path().join("a"), &sets);
    let ae = &report["autoencoder"];
    let epochs = ae["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 6);
    let loss = |e: &Value, k: &str| e[k].as_f64().unwrap();
    assert!(loss(&epochs[5], "train_loss") < 0.9 * loss(&epochs[0], "train_loss"));
    assert!(loss(&epochs[5], "validation_loss") < loss(&epochs[0], "validation_loss"));
    assert_eq!(ae["widths"], serde_json::json!([64, 32, 16, 2, 16, 32, 64]));
    assert_eq!(
        ae["train_rows"].as_u64().unwrap() + ae["validation_rows"].as_u64().unwrap(),
        1797
    );
    let reduced = tmp.path().join("a/reduced.parquet");
    assert_eq!(
        parquet_column_names(&reduced),
        vec!["label", "z1", "z2"],
        "passthrough then the code"
    );

    // Same seed, other chunk sizes (CSV input too): the same weights, bit for bit.
    let (again, model2) = run_digits(&tmp.path().join("b"), &[sets[0], "input.batch_rows=97"]);
    assert_eq!(weights(&model), weights(&model2));
    assert_eq!(
        report["autoencoder"]["epochs"][5]["train_loss"],
        again["autoencoder"]["epochs"][5]["train_loss"]
    );
    assert_eq!(
        parquet_columns(&reduced),
        parquet_columns(&tmp.path().join("b/reduced.parquet"))
    );
    // Another seed gives other weights.
    let (_, model3) = run_digits(
        &tmp.path().join("c"),
        &[sets[0], "steps.1.autoencoder.seed=7"],
    );
    assert_ne!(weights(&model), weights(&model3));
}

/// Every weight of the model, in order.
fn flat_weights(model: &Value) -> Vec<f64> {
    fn walk(v: &Value, out: &mut Vec<f64>) {
        match v {
            Value::Number(n) => out.push(n.as_f64().unwrap()),
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            Value::Object(o) => o.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(weights(model), &mut out);
    out
}

/// A network wide enough that each step is shared out to a team of threads
/// (`train::Team`: batch 128 × width 256): the same weights for every chunk size, and the
/// one-thread weights up to rounding (the products are cut by columns, so only the order
/// of float operations inside a product differs).
#[test]
fn a_step_shared_between_threads_is_deterministic_and_agrees_with_one_thread() {
    let tmp = tempfile::tempdir().unwrap();
    let wide = [
        "steps.1.autoencoder.encoder=[256]",
        "steps.1.autoencoder.batch_size=128",
        "steps.1.autoencoder.epochs=3",
        "steps.1.autoencoder.shuffle_buffer=512",
    ];
    let run = |dir: &str, threads: &str, extra: &[&str]| {
        let out = tmp.path().join(dir);
        let sets: Vec<&str> = wide.iter().chain(extra).copied().collect();
        let mut cmd = dimred();
        cmd.env("RAYON_NUM_THREADS", threads)
            .args(digits_args(&out, &sets, false));
        cmd.assert().success();
        json(&out.join("model.json"))
    };
    let two = run("two", "2", &[]);
    let rechunked = run("rechunked", "2", &["input.batch_rows=97"]);
    assert_eq!(weights(&two), weights(&rechunked));
    let one = run("one", "1", &[]);
    let (a, b) = (flat_weights(&two), flat_weights(&one));
    assert_eq!(a.len(), b.len());
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-5, "largest difference from one thread: {worst}");
}

#[test]
fn resuming_continues_to_the_same_weights_as_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, model) = run_digits(&tmp.path().join("whole"), &["steps.1.autoencoder.epochs=5"]);
    let split = tmp.path().join("split");
    run_digits(&split, &["steps.1.autoencoder.epochs=2"]);
    let mut cmd = dimred();
    cmd.args(digits_args(&split, &["steps.1.autoencoder.epochs=5"], true));
    cmd.assert().success();
    let resumed = json(&split.join("report.json"));
    assert_eq!(weights(&model), weights(&json(&split.join("model.json"))));
    assert_eq!(whole["autoencoder"]["epochs"].as_array().unwrap().len(), 5);
    for (a, b) in whole["autoencoder"]["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(resumed["autoencoder"]["epochs"].as_array().unwrap())
    {
        assert_eq!(a["train_loss"], b["train_loss"]);
        assert_eq!(a["validation_loss"], b["validation_loss"]);
    }
}

fn binary() -> PathBuf {
    assert_cmd::cargo::cargo_bin("dimred")
}

#[test]
fn a_killed_training_resumes_from_its_last_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    // A wider network and more epochs, so the run is still going when it is killed.
    let sets = [
        "steps.1.autoencoder.encoder=[64, 32]",
        "steps.1.autoencoder.epochs=30",
        "steps.1.autoencoder.early_stopping=null",
    ];
    let (_, model) = run_digits(&tmp.path().join("whole"), &sets);

    let killed = tmp.path().join("killed");
    let mut cmd = std::process::Command::new(binary());
    cmd.current_dir(root())
        .args(digits_args(&killed, &sets, false));
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let checkpoint = killed.join("checkpoint.json");
    let started = Instant::now();
    while !checkpoint.exists() && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done = json(&checkpoint)["epochs_done"].as_u64().unwrap();
    assert!(done < 30, "the run finished before it could be killed");
    assert!(
        !killed.join("model.json").exists(),
        "no model from a killed run"
    );

    let mut cmd = dimred();
    cmd.args(digits_args(&killed, &sets, true));
    cmd.assert().success();
    assert_eq!(weights(&model), weights(&json(&killed.join("model.json"))));
}

#[test]
fn transform_encodes_and_inverse_decodes_with_the_saved_network() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ae");
    run_digits(
        &out,
        &[
            "steps.1.autoencoder.epochs=3",
            "output.reconstruction_error=true",
        ],
    );
    let reduced = out.join("reduced.parquet");
    let codes = tmp.path().join("codes.parquet");
    dimred()
        .args(["transform", "-q", "--model"])
        .arg(out.join("model.json"))
        .args(["--input", "sample-data/digits.csv", "--output"])
        .arg(&codes)
        .assert()
        .success();
    let from_run = parquet_columns(&reduced);
    let from_transform = parquet_columns(&codes);
    assert_eq!(from_transform[0], from_run[0], "z1");
    assert_eq!(from_transform[1], from_run[1], "z2");

    // Decode the codes; the error of the decoded rows is the run's error column.
    let decoded = tmp.path().join("decoded.parquet");
    dimred()
        .args(["transform", "-q", "--inverse", "--model"])
        .arg(out.join("model.json"))
        .arg("--input")
        .arg(&reduced)
        .arg("--output")
        .arg(&decoded)
        .assert()
        .success();
    let pixels = parquet_columns(&decoded);
    assert_eq!(pixels.len(), 64);
    let original = parquet_columns(&root().join("sample-data/digits.parquet"));
    let model = json(&out.join("model.json"));
    let range = floats(&model["scale_"]);
    let errors = &from_run
        .iter()
        .find(|(n, _)| n == "reconstruction_error")
        .unwrap()
        .1;
    for row in [0, 1, 500, 1796] {
        let mut e = 0.0;
        for (j, (name, values)) in pixels.iter().enumerate() {
            let x = original.iter().find(|(n, _)| n == name).unwrap().1[row];
            let d = (x - values[row]) / range[j];
            e += d * d;
        }
        assert!(
            (e - errors[row]).abs() <= 1e-9 * errors[row].max(1.0),
            "row {row}: {e} vs {}",
            errors[row]
        );
    }
}

fn fails_with(sets: &[&str], code: i32, needles: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = dimred();
    cmd.args(digits_args(&tmp.path().join("o"), sets, false));
    let out = cmd.assert().code(code).get_output().clone();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} missing from: {err}");
    }
    assert!(
        !tmp.path().join("o/model.json").exists() && !tmp.path().join("o/reduced.parquet").exists(),
        "no outputs after a failure"
    );
    err
}

#[test]
fn widths_below_one_are_refused_where_written() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join(DIGITS_AE))
        .unwrap()
        .replace("encoder: [32, 16]", "encoder: [32, 0]");
    let line = text
        .lines()
        .position(|l| l.contains("encoder: [32, 0]"))
        .unwrap()
        + 1;
    let path = pipeline(tmp.path(), &text);
    let out = dimred()
        .args(["validate"])
        .arg(&path)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("pipeline.yaml:{line}:")), "{err}");
    assert!(err.contains("at least 1"), "{err}");
    fails_with(&["steps.1.autoencoder.latent=-2"], 2, &["at least 1"]);
}

#[test]
fn a_latent_wider_than_the_input_is_refused() {
    fails_with(
        &["steps.1.autoencoder.latent=65"],
        2,
        &["autoencoder.latent = 65", "input width 64"],
    );
}

#[test]
fn cross_entropy_needs_targets_in_the_unit_interval() {
    fails_with(
        &["steps.0.scale.method=standard"],
        3,
        &["bce", "[0, 1]", "minmax", "row", "pixel_"],
    );
}

#[test]
fn a_learning_rate_of_zero_or_less_is_refused() {
    fails_with(
        &["steps.1.autoencoder.optimizer.learning_rate=0"],
        2,
        &["learning_rate must be greater than 0"],
    );
    fails_with(
        &["steps.1.autoencoder.optimizer.learning_rate=-0.1"],
        2,
        &["learning_rate"],
    );
}

#[test]
fn a_diverging_loss_stops_with_the_epoch_and_batch() {
    let err = fails_with(
        &[
            "steps.0.scale.method=none",
            "steps.1.autoencoder.loss=mse",
            "steps.1.autoencoder.output_activation=linear",
            "steps.1.autoencoder.activation=linear",
            "steps.1.autoencoder.optimizer={kind: sgd, learning_rate: 1000}",
        ],
        5,
        &["training diverged", "epoch 1, batch", "learning_rate"],
    );
    assert!(err.contains("no checkpoint"), "{err}");
}

/// The lecture's recognition experiment: 1-nearest-neighbour on the autoencoder's 2-D codes
/// of a training split, scored on held-out digits, beside raw pixels and PCA codes of the
/// same width.
#[test]
fn autoencoder_codes_recognise_digits_better_than_pca_codes_of_the_same_width() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ae");
    dimred()
        .args(["run", DIGITS_AE, "-q", "--set"])
        .arg(format!("output.dir={}", out.display()))
        .assert()
        .success();
    let report = json(&out.join("report.json"));
    let ev = &report["evaluation"];
    assert_eq!(ev["k_neighbors"], 1);
    let knn = |features: &str| -> (u64, f64) {
        let s = ev["scores"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["features"] == features && s["model"] == "knn")
            .unwrap_or_else(|| panic!("no 1-NN score on {features}: {ev}"));
        (
            s["dimensions"].as_u64().unwrap(),
            s["test_accuracy"].as_f64().unwrap(),
        )
    };
    let (raw, codes, pca) = (knn("scaled"), knn("reduced"), knn("pca"));
    assert_eq!((raw.0, codes.0, pca.0), (64, 2, 2));
    assert!(raw.1 > 0.95, "raw pixels: {}", raw.1);
    assert!(codes.1 > 0.6, "2-D codes: {}", codes.1);
    assert!(
        codes.1 > pca.1 + 0.05,
        "autoencoder codes {} vs PCA codes {}",
        codes.1,
        pca.1
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("PCA codes (2)"),
        "the bars name the PCA codes"
    );
    assert!(
        html.contains("train loss") || html.contains("loss"),
        "loss curve"
    );
}
