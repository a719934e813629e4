//! Autoencoders as a list of layers, end to end: the convolutional example trains,
//! transforms, inverts and exports (its ONNX graph run by tract gives reduced.parquet's
//! codes); networks that do not fit together are refused at `validate` in one line naming
//! the layer and both shapes; denoising trains on corrupted inputs only; early stopping
//! keeps the best epoch's weights; the learning-rate schedules and weight decay do what
//! their keys say.

use std::path::Path;

use serde_json::Value;

use super::common::*;
use super::onnx::{assert_graph_matches, export, run_graph};

const CONV: &str = "pipelines/digits_conv_autoencoder.yaml";

fn conv_args(out: &Path, sets: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["run".into(), CONV.into(), "-q".into()];
    for s in [
        "report.evaluate=null".to_string(),
        format!("output.dir={}", out.display()),
    ]
    .into_iter()
    .chain(sets.iter().map(|s| s.to_string()))
    {
        args.push("--set".into());
        args.push(s);
    }
    args
}

/// `transform` of the digits with the run's model gives reduced.parquet's `columns`
/// (with `--reconstruction-error` when `error`), and `--inverse` of reduced.parquet
/// decodes the 64 pixels; returns reduced.parquet's columns.
pub(super) fn transform_agrees_and_inverts(
    out: &Path,
    tmp: &Path,
    columns: &[&str],
    error: bool,
) -> Vec<(String, Vec<f64>)> {
    let (model, reduced) = (out.join("model.json"), out.join("reduced.parquet"));
    let codes = tmp.join("codes.parquet");
    let mut cmd = dimred();
    cmd.args(["transform", "-q"]);
    if error {
        cmd.arg("--reconstruction-error");
    }
    cmd.arg("--model")
        .arg(&model)
        .arg("--input")
        .arg(root().join("sample-data/digits.csv"))
        .arg("--output")
        .arg(&codes)
        .assert()
        .success();
    let run_cols = parquet_columns(&reduced);
    let transform_cols = parquet_columns(&codes);
    for z in columns {
        let a = &run_cols.iter().find(|(n, _)| n == z).unwrap().1;
        let b = &transform_cols.iter().find(|(n, _)| n == z).unwrap().1;
        assert_eq!(a, b, "{z}");
    }
    let decoded = tmp.join("decoded.parquet");
    transform(&model, &reduced, &decoded, true);
    let pixels = parquet_columns(&decoded);
    assert_eq!(
        pixels
            .iter()
            .filter(|(n, _)| n.starts_with("pixel_"))
            .count(),
        64
    );
    run_cols
}

pub(super) fn digits_rows() -> Vec<Vec<f64>> {
    let columns: Vec<Vec<f64>> = parquet_columns(&root().join("sample-data/digits.parquet"))
        .into_iter()
        .filter(|(n, _)| n.starts_with("pixel_"))
        .map(|(_, v)| v)
        .collect();
    (0..columns[0].len())
        .map(|i| columns.iter().map(|c| c[i]).collect())
        .collect()
}

#[test]
fn the_conv_example_trains_transforms_inverts_and_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("conv");
    dimred()
        .args(conv_args(
            &out,
            &[
                "steps.1.autoencoder.epochs=3",
                "output.reconstruction_error=true",
                "output.onnx=true",
                "output.onnx_dtype=float32",
            ],
        ))
        .assert()
        .success();
    let report = json(&out.join("report.json"));
    let ae = &report["autoencoder"];
    assert_eq!(ae["latent"], 3);
    // reconstructions drawn as the 8 × 8 images the network reads, without report.image_shape
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<section id=\"images\">") && html.contains("8 × 8 images"));
    // input, conv, pool, conv, pool, flatten, code, dense, reshape, two transposed convs
    let widths: Vec<u64> = ae["widths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_u64().unwrap())
        .collect();
    assert_eq!(widths, vec![64, 512, 128, 256, 64, 64, 3, 64, 64, 128, 64]);
    let epochs = ae["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 3);
    assert!(epochs[2]["train_loss"].as_f64().unwrap() < epochs[0]["train_loss"].as_f64().unwrap());
    for e in epochs {
        assert_eq!(e["learning_rate"].as_f64(), Some(0.003));
    }
    let model = json(&out.join("model.json"));
    let layers = model["autoencoder"]["layers"].as_array().unwrap();
    let kinds: Vec<&str> = layers.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "conv",
            "max_pool",
            "conv",
            "max_pool",
            "flatten",
            "dense",
            "dense",
            "reshape",
            "conv_transpose",
            "conv_transpose"
        ]
    );
    assert_eq!(layers[0]["tensors"][0]["name"], "weight");
    assert_eq!(
        layers[0]["tensors"][0]["shape"],
        serde_json::json!([8, 1, 3, 3])
    );
    assert_eq!(
        layers[8]["tensors"][0]["shape"],
        serde_json::json!([16, 8, 3, 3])
    );
    assert_eq!(model["autoencoder"]["shape"], serde_json::json!([8, 8, 1]));
    assert_eq!(model["autoencoder"]["code_layer"], 5);

    // transform gives the run's codes; --inverse decodes them to 64 pixels
    let reduced = out.join("reduced.parquet");
    transform_agrees_and_inverts(&out, tmp.path(), &["z1", "z2", "z3"], false);

    // The ONNX graphs (Conv, MaxPool, ConvTranspose between Reshape and Transpose) give
    // the f32 network's codes and reconstruction error.
    let rows = digits_rows();
    let graph = tmp.path().join("conv.onnx");
    export(&out, &graph, &["--reconstruction-error"]);
    assert_graph_matches(&reduced, &run_graph(&graph, &rows, false), 1e-5, true);
    assert_graph_matches(
        &reduced,
        &run_graph(&out.join("model.onnx"), &rows, true),
        1e-5,
        false,
    );

    // model.npz holds every tensor under its layer's name, in PyTorch's layout
    dimred()
        .args(["export", "--model"])
        .arg(out.join("model.json"))
        .arg("--npz")
        .arg(tmp.path().join("m.npz"))
        .assert()
        .success();
}

/// `validate` on the conv example with `from` replaced by `to`: exit 2, one line, naming
/// each of `needles`.
fn refused(from: &str, to: &str, needles: &[&str]) {
    refused_in(CONV, from, to, needles);
}

/// As `refused`, on the example `example`.
pub(super) fn refused_in(example: &str, from: &str, to: &str, needles: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join(example)).unwrap();
    assert!(text.contains(from), "{from}");
    let path = pipeline(tmp.path(), &text.replace(from, to));
    let out = dimred()
        .arg("validate")
        .arg(&path)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} missing from: {err}");
    }
}

#[test]
fn networks_that_do_not_fit_together_are_refused_at_validate() {
    let text = std::fs::read_to_string(root().join(CONV)).unwrap();
    let line = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    refused(
        "shape: [8, 8, 1]",
        "shape: [8, 7, 1]",
        &["shape [8, 7, 1]", "56", "64"],
    );
    refused(
        "- conv: { filters: 16, kernel: 3, padding: same }",
        "- conv: { filters: 16, kernel: 5 }",
        &[
            &format!("encoder[2] (line {})", line("filters: 16, kernel: 3")),
            "kernel of 5",
            "input of 4",
        ],
    );
    refused(
        "kernel: 3, padding: same }\n        - max_pool",
        "kernel: 3, stride: 0, padding: same }\n        - max_pool",
        &["at least 1, got 0"],
    );
    refused(
        "reshape: [2, 2, 16]",
        "reshape: [2, 2, 8]",
        &["decoder[1]", "reshape to [2, 2, 8]", "32", "64"],
    );
    refused(
        "      shape: [8, 8, 1]\n",
        "",
        &["encoder[0]", "conv needs an image", "[64]", "shape"],
    );
    refused(
        "- max_pool: { size: 2 }\n        - conv",
        "- maxpool: { size: 2 }\n        - conv",
        &["unknown layer `maxpool`", "did you mean `max_pool`"],
    );
    refused(
        "{ filters: 1, kernel: 3, stride: 2, padding: same, activation: sigmoid }",
        "{ filters: 1, kernel: 3, stride: 2, padding: valid, activation: sigmoid }",
        &["ends at shape [9, 9, 1]", "[8, 8, 1]"],
    );
    refused(
        "- dense: { units: 64 }",
        "- dense: { units: 64 }\n        - conv: { filters: 2, kernel: 1 }",
        &["decoder[1]", "conv needs an image", "[64]"],
    );
}

/// `run` of the dense digits example with `sets`, returning its report and model.
fn dense_run(out: &Path, sets: &[&str]) -> (Value, Value) {
    let mut cmd = dimred();
    cmd.args([
        "run",
        "pipelines/digits_autoencoder.yaml",
        "-q",
        "--set",
        "report.evaluate=null",
        "--set",
    ]);
    cmd.arg(format!("output.dir={}", out.display()));
    for s in sets {
        cmd.args(["--set", s]);
    }
    cmd.assert().success();
    (
        json(&out.join("report.json")),
        json(&out.join("model.json")),
    )
}

fn losses(report: &Value, key: &str) -> Vec<f64> {
    report["autoencoder"]["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[key].as_f64().unwrap())
        .collect()
}

#[test]
fn learning_rate_schedules_follow_pytorchs_rules_epoch_by_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let (report, _) = dense_run(
        &tmp.path().join("step"),
        &[
            "steps.1.autoencoder.epochs=5",
            "steps.1.autoencoder.early_stopping=null",
            "steps.1.autoencoder.schedule={ kind: step, step_size: 2, gamma: 0.5 }",
        ],
    );
    // StepLR(step_size=2, gamma=0.5) from 0.003
    assert_eq!(
        losses(&report, "learning_rate"),
        vec![0.003, 0.003, 0.0015, 0.0015, 0.00075]
    );
    let (report, _) = dense_run(
        &tmp.path().join("cos"),
        &[
            "steps.1.autoencoder.epochs=4",
            "steps.1.autoencoder.early_stopping=null",
            "steps.1.autoencoder.schedule={ kind: cosine, t_max: 4, eta_min: 0.001 }",
        ],
    );
    let want: Vec<f64> = (0..4)
        .map(|e| 0.001 + 0.002 * (1.0 + (std::f64::consts::PI * e as f64 / 4.0).cos()) / 2.0)
        .collect();
    assert_vec_close(&losses(&report, "learning_rate"), &want, 1e-15, "cosine");
    // plateau with patience 0 and a huge threshold: every epoch after the first cuts
    let (report, _) = dense_run(
        &tmp.path().join("plateau"),
        &[
            "steps.1.autoencoder.epochs=3",
            "steps.1.autoencoder.early_stopping=null",
            "steps.1.autoencoder.schedule={ kind: plateau, patience: 0, factor: 0.5, threshold: 0.99 }",
        ],
    );
    assert_vec_close(
        &losses(&report, "learning_rate"),
        &[0.003, 0.003, 0.0015],
        1e-15,
        "plateau",
    );
}

#[test]
fn weight_decay_shrinks_the_weights_and_bad_controls_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let sets = [
        "steps.1.autoencoder.epochs=3",
        "steps.1.autoencoder.early_stopping=null",
    ];
    let (_, plain) = dense_run(&tmp.path().join("plain"), &sets);
    let mut decayed_sets = sets.to_vec();
    decayed_sets.push("steps.1.autoencoder.optimizer.weight_decay=0.5");
    let (_, decayed) = dense_run(&tmp.path().join("decayed"), &decayed_sets);
    let norm = |m: &Value| -> f64 {
        m["autoencoder"]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|l| matrix(&l["weights"]).into_iter().flatten())
            .map(|v| v * v)
            .sum::<f64>()
    };
    assert!(
        norm(&decayed) < 0.9 * norm(&plain),
        "{} vs {}",
        norm(&decayed),
        norm(&plain)
    );
    let mut clipped_sets = sets.to_vec();
    clipped_sets.push("steps.1.autoencoder.gradient_clip_norm=1e-6");
    let (clipped, _) = dense_run(&tmp.path().join("clipped"), &clipped_sets);
    assert!(clipped["autoencoder"]["epochs"].as_array().unwrap().len() == 3);

    for (set, needle) in [
        (
            "steps.1.autoencoder.optimizer.weight_decay=-1",
            "weight_decay must be 0 or more",
        ),
        (
            "steps.1.autoencoder.gradient_clip_norm=0",
            "gradient_clip_norm must be greater than 0",
        ),
        (
            "steps.1.autoencoder.schedule={ kind: step }",
            "kind: step needs step_size",
        ),
        (
            "steps.1.autoencoder.schedule={ kind: cosine, gamma: 0.5 }",
            "schedule.gamma goes with kind: step",
        ),
        (
            "steps.1.autoencoder.schedule={ kind: plateau, factor: 2 }",
            "schedule.factor must be in (0, 1)",
        ),
    ] {
        let out = dimred()
            .args([
                "validate",
                "pipelines/digits_autoencoder.yaml",
                "--set",
                set,
            ])
            .assert()
            .code(2)
            .get_output()
            .clone();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

#[test]
fn early_stopping_stops_and_keeps_the_best_epochs_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("es");
    // A learning rate high enough that the validation loss turns up soon.
    let (report, _) = dense_run(
        &out,
        &[
            "steps.1.autoencoder.epochs=40",
            "steps.1.autoencoder.early_stopping={ patience: 1, min_delta: 0.0 }",
            "steps.1.autoencoder.optimizer.learning_rate=0.05",
            "output.reconstruction_error=true",
        ],
    );
    let ae = &report["autoencoder"];
    let validation = losses(&report, "validation_loss");
    let best = ae["best_epoch"].as_u64().unwrap() as usize;
    assert_eq!(ae["stop_reason"], "early_stopping");
    assert!(validation.len() < 40, "stopped early");
    // patience 1: the run ends on the second epoch in a row without improvement
    assert_eq!(validation.len(), best + 2);
    let min = validation.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(validation[best - 1], min);
    // The kept weights are the best epoch's: the validation rows' loss recomputed from
    // the model's reconstructions is that epoch's validation loss, not the last one's.
    let decoded = tmp.path().join("decoded.parquet");
    transform(
        &out.join("model.json"),
        out.join("reduced.parquet"),
        &decoded,
        true,
    );
    let model = json(&out.join("model.json"));
    let (lo, range) = (floats(&model["data_min_"]), floats(&model["scale_"]));
    let pixels = parquet_columns(&decoded);
    let original = parquet_columns(&root().join("sample-data/digits.parquet"));
    let (mut sum, mut count) = (0.0, 0usize);
    for row in 0..original[0].1.len() {
        if !dimred::steps::autoencoder::train::is_validation(row as u64, 0.1) {
            continue;
        }
        for (j, (name, values)) in pixels
            .iter()
            .filter(|(n, _)| n.starts_with("pixel_"))
            .enumerate()
        {
            let x = original.iter().find(|(n, _)| n == name).unwrap().1[row];
            let t = (x - lo[j]) / range[j];
            let y = ((values[row] - lo[j]) / range[j]).clamp(1e-44, 1.0);
            sum -= t * y.ln().max(-100.0) + (1.0 - t) * (1.0 - y).ln().max(-100.0);
            count += 1;
        }
    }
    let kept = sum / count as f64;
    assert!((kept - min).abs() < 1e-4 * min, "kept {kept}, best {min}");
    let last = validation[validation.len() - 1];
    assert!(
        (kept - min).abs() < (kept - last).abs(),
        "kept {kept}, best {min}, last {last}"
    );
}

#[test]
fn denoising_trains_on_corrupted_inputs_and_transform_corrupts_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let sets = [
        "steps.1.autoencoder.epochs=2",
        "steps.1.autoencoder.early_stopping=null",
    ];
    let (_, clean) = dense_run(&tmp.path().join("clean"), &sets);
    let mut noisy_sets = sets.to_vec();
    noisy_sets.push("steps.1.autoencoder.noise={ dropout: 0.5 }");
    let out = tmp.path().join("noisy");
    let (report, noisy) = dense_run(&out, &noisy_sets);
    // Training saw other inputs: other weights, and a higher training loss than the
    // validation loss of clean inputs measured with the same weights.
    assert_ne!(
        clean["autoencoder"]["layers"],
        noisy["autoencoder"]["layers"]
    );
    let train = losses(&report, "train_loss");
    let validation = losses(&report, "validation_loss");
    assert!(train[1] > validation[1], "{train:?} {validation:?}");
    // transform applies the network to clean rows, the same every time
    for i in 0..2 {
        let codes = tmp.path().join(format!("codes{i}.parquet"));
        transform(
            &out.join("model.json"),
            root().join("sample-data/digits.parquet"),
            &codes,
            false,
        );
        let a = parquet_columns(&codes);
        let b = parquet_columns(&out.join("reduced.parquet"));
        for z in ["z1", "z2"] {
            assert_eq!(
                a.iter().find(|(n, _)| n == z).unwrap().1,
                b.iter().find(|(n, _)| n == z).unwrap().1
            );
        }
    }
}

/// An image network whose im2col workspace for a batch cannot fit the memory limit is
/// refused before reading, and fits once the batch is small enough.
#[test]
fn an_im2col_workspace_over_the_memory_limit_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // conv 512 then an 8 × 8 kernel over its 512 channels: 32,768-row im2col columns for
    // each of 64 positions of 128 samples, 1 GiB of f32
    let text = std::fs::read_to_string(root().join(CONV)).unwrap().replace(
        "      encoder:\n        - conv: { filters: 8, kernel: 3, padding: same }",
        "      encoder:\n        - conv: { filters: 512, kernel: 3, padding: same }\n        - conv: { filters: 8, kernel: 8, padding: same }",
    );
    let path = pipeline(tmp.path(), &text);
    let out = dimred()
        .arg("validate")
        .arg(&path)
        .args([
            "--memory-limit",
            "512MiB",
            "--set",
            "steps.1.autoencoder.batch_size=128",
        ])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("memory_limit = 512MiB") && err.contains("steps' state"),
        "{err}"
    );
    dimred()
        .arg("validate")
        .arg(&path)
        .args([
            "--memory-limit",
            "512MiB",
            "--set",
            "steps.1.autoencoder.batch_size=8",
        ])
        .assert()
        .success();
}
