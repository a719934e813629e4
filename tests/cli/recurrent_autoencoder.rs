//! Recurrent autoencoders end to end: the digits example read as 8 steps of 8 pixels
//! trains, transforms, inverts, scores windows and exports (its ONNX graph, with GRU
//! operators, run by tract gives reduced.parquet's codes); sequence shapes that do not
//! fit are refused at `validate` in one line naming the layer and both shapes; a window
//! whose step caches exceed the memory limit is refused with a batch size that holds
//! less; `generate --sequences` writes windows a recurrent autoencoder trains on.

use serde_json::Value;

use super::common::*;
use super::conv_autoencoder::{digits_rows, refused_in, transform_agrees_and_inverts};
use super::onnx::{assert_graph_matches, export, run_graph};

const RECURRENT: &str = "pipelines/digits_recurrent_autoencoder.yaml";

#[test]
fn the_recurrent_example_trains_transforms_inverts_scores_and_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rnn");
    dimred()
        .args(["run", RECURRENT, "-q"])
        .args(["--set", "report.evaluate=null"])
        .args(["--set", "steps.1.autoencoder.epochs=3"])
        .args(["--set", "output.reconstruction_error=true"])
        .arg("--set")
        .arg(format!("output.dir={}", out.display()))
        .assert()
        .success();
    let report = json(&out.join("report.json"));
    let ae = &report["autoencoder"];
    assert_eq!(ae["latent"], 3);
    // input, GRU sequences, GRU last step (the code), repeat, GRU sequences, dense per step
    let widths: Vec<u64> = ae["widths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_u64().unwrap())
        .collect();
    assert_eq!(widths, vec![64, 256, 3, 24, 256, 64]);
    let epochs = ae["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 3);
    assert!(epochs[2]["train_loss"].as_f64().unwrap() < epochs[0]["train_loss"].as_f64().unwrap());
    // a few windows drawn as lines beside their reconstructions
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("data-plot=\"sequences\""));
    assert!(html.contains("windows of 8 steps × 8 features"));

    let model = json(&out.join("model.json"));
    assert_eq!(model["autoencoder"]["shape"], serde_json::json!([8, 8]));
    assert_eq!(model["autoencoder"]["code_layer"], 1);
    let layers = model["autoencoder"]["layers"].as_array().unwrap();
    let kinds: Vec<&str> = layers.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["gru", "gru", "repeat", "gru", "time_distributed_dense"]
    );
    // PyTorch's state dict names and shapes: GRU gates r, z, n stacked (3 × 32 rows)
    let tensors = |l: usize| -> Vec<(String, Value)> {
        layers[l]["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap().to_string(), t["shape"].clone()))
            .collect()
    };
    assert_eq!(
        tensors(0),
        vec![
            ("weight_ih_l0".to_string(), serde_json::json!([96, 8])),
            ("weight_hh_l0".to_string(), serde_json::json!([96, 32])),
            ("bias_ih_l0".to_string(), serde_json::json!([96])),
            ("bias_hh_l0".to_string(), serde_json::json!([96])),
        ]
    );
    assert_eq!(
        tensors(4),
        vec![
            ("weight".to_string(), serde_json::json!([8, 32])),
            ("bias".to_string(), serde_json::json!([8])),
        ]
    );

    // transform gives the run's codes and per-window scores; --inverse rebuilds 64 pixels
    let reduced = out.join("reduced.parquet");
    let run_cols = transform_agrees_and_inverts(
        &out,
        tmp.path(),
        &["z1", "z2", "z3", "reconstruction_error"],
        true,
    );
    let scores = &run_cols
        .iter()
        .find(|(n, _)| n == "reconstruction_error")
        .unwrap()
        .1;
    assert!(scores.iter().all(|s| s.is_finite() && *s > 0.0));

    // The ONNX graph (Reshape, Transpose, GRU, Tile, MatMul) gives the f32 network's codes
    // and reconstruction error.
    let rows = digits_rows();
    let graph = tmp.path().join("rnn.onnx");
    export(
        &out,
        &graph,
        &["--reconstruction-error", "--dtype", "float32"],
    );
    assert_graph_matches(&reduced, &run_graph(&graph, &rows, true), 1e-5, true);
}

#[test]
fn sequence_shapes_that_do_not_fit_are_refused_at_validate() {
    let text = std::fs::read_to_string(root().join(RECURRENT)).unwrap();
    let line = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    // the shape does not hold the row's 64 features
    refused_in(
        RECURRENT,
        "shape: [8, 8]",
        "shape: [8, 7]",
        &["shape [8, 7]", "56", "64"],
    );
    // no shape: a recurrent layer on a flat row
    refused_in(
        RECURRENT,
        "      shape: [8, 8]\n",
        "",
        &[
            "encoder[0]",
            "gru needs a sequence [steps, features]",
            "[64]",
            "shape",
        ],
    );
    // `repeat` after a layer that returns sequences
    refused_in(
        RECURRENT,
        "- gru: { units: 3 }",
        "- gru: { units: 3, return_sequences: true }",
        &[
            &format!("decoder[0] (line {})", line("- repeat: { steps: 8 }")),
            "repeat needs a flat input",
            "[8, 3]",
            "return_sequences: false",
        ],
    );
    // `return_sequences: false` before a layer that needs a sequence
    refused_in(
        RECURRENT,
        "        - gru: { units: 32, return_sequences: true }\n        - gru: { units: 3 }",
        "        - gru: { units: 32 }\n        - gru: { units: 3 }",
        &[
            "encoder[1]",
            "gru needs a sequence",
            "[32]",
            "return_sequences: true",
        ],
    );
    // time_distributed_dense on a flat input
    refused_in(
        RECURRENT,
        "        - gru: { units: 32, return_sequences: true }\n        - time_distributed_dense",
        "        - gru: { units: 32 }\n        - time_distributed_dense",
        &[
            "decoder[2]",
            "time_distributed_dense needs a sequence",
            "[32]",
        ],
    );
    // a sequence fed to a dense layer
    refused_in(
        RECURRENT,
        "- time_distributed_dense: { units: 8, activation: sigmoid }",
        "- dense: { units: 64, activation: sigmoid }",
        &[
            "decoder[2]",
            "dense needs a flat input",
            "sequence [8, 32]",
            "flatten",
        ],
    );
    // unknown layer names suggest the nearest
    refused_in(
        RECURRENT,
        "- repeat: { steps: 8 }",
        "- repeat_vector: { steps: 8 }",
        &["unknown layer `repeat_vector`"],
    );
}

#[test]
fn windows_whose_step_caches_exceed_the_limit_are_refused_with_a_batch_that_holds_less() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("windows.parquet");
    dimred()
        .args(["generate", "-q", "--rows", "300", "--sequences", "2000x1"])
        .arg("--output")
        .arg(&data)
        .assert()
        .success();
    let text = format!(
        "name: long-windows\ninput: {{ path: {}, features: {{ exclude: [label] }} }}\n\
         steps:\n  - autoencoder:\n      shape: [2000, 1]\n      encoder: [{{ lstm: {{ units: 128 }} }}]\n      \
         decoder: [{{ repeat: {{ steps: 2000 }} }}, {{ lstm: {{ units: 16, return_sequences: true }} }}, \
         {{ time_distributed_dense: {{ units: 1 }} }}]\n      batch_size: 256\n\
         output: {{ dir: {} }}\n",
        data.display(),
        tmp.path().join("out").display()
    );
    let path = pipeline(tmp.path(), &text);
    let out = dimred()
        .arg("validate")
        .arg(&path)
        .args(["--memory-limit", "512MiB"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    for needle in [
        "memory_limit = 512MiB",
        "steps: autoencoder.batch_size = ",
        " fits: its training holds ",
        "every one of 2000 steps' gates",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from: {err}");
    }
}

#[test]
fn generated_windows_are_steps_by_features_with_a_band_label() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("w.parquet");
    dimred()
        .args([
            "generate",
            "-q",
            "--rows",
            "40",
            "--sequences",
            "20x3",
            "--seed",
            "4",
        ])
        .arg("--output")
        .arg(&data)
        .assert()
        .success();
    let names = parquet_column_names(&data);
    assert_eq!(names.len(), 61);
    assert_eq!(&names[..4], ["t0_f0", "t0_f1", "t0_f2", "t1_f0"]);
    assert_eq!(names[60], "label");
    let values = parquet_f32_columns(&data);
    assert_eq!(values.len(), 60);
    assert!(
        values
            .iter()
            .all(|(_, v)| v.len() == 40 && v.iter().all(|x| x.abs() < 2.5))
    );
    // the same seed gives the same file's values
    let again = tmp.path().join("again.parquet");
    dimred()
        .args([
            "generate",
            "-q",
            "--rows",
            "40",
            "--sequences",
            "20x3",
            "--seed",
            "4",
        ])
        .arg("--output")
        .arg(&again)
        .assert()
        .success();
    assert_eq!(values, parquet_f32_columns(&again));
    // the spectrum's options are refused with the mode in one line
    let out = dimred()
        .args([
            "generate",
            "--rows",
            "4",
            "--sequences",
            "20x3",
            "--rank",
            "2",
        ])
        .arg("--output")
        .arg(tmp.path().join("x.parquet"))
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--sequences draws windows") && err.contains("--rank"),
        "{err}"
    );
}
