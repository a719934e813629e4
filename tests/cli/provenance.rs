//! Outputs a downstream job can trust: reduced.parquet and every `transform` output carry
//! the model that made them in their footer's key-value metadata (its SHA-256 checked here
//! against `sha256sum` of model.json), and `output.dtype: float32` writes float32 columns,
//! which `transform` follows from model.json unless `--dtype` says otherwise.

use std::collections::HashMap;
use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};

use super::common::*;

/// The footer's key-value pairs, as the parquet crate reads them.
fn key_values(path: &Path) -> HashMap<String, String> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = SerializedFileReader::new(file).unwrap();
    reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .expect("key-value metadata")
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
        .collect()
}

fn sha256sum(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum (coreutils)");
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

fn fit(dir: &Path, extra: &[&str]) -> std::path::PathBuf {
    let out = dir.join("fit");
    dimred()
        .args([
            "run",
            "pipelines/breast_cancer_pca.yaml",
            "--quiet",
            "--set",
        ])
        .arg(format!("output.dir={}", out.display()))
        .args(extra)
        .assert()
        .success();
    out
}

fn transform(model: &Path, input: &str, output: &Path, extra: &[&str]) {
    dimred()
        .args(["transform", "--quiet", "--model"])
        .arg(model)
        .args(["--input", input, "--output"])
        .arg(output)
        .args(extra)
        .assert()
        .success();
}

fn strings(v: &str) -> Vec<String> {
    serde_json::from_str(v).unwrap()
}

#[test]
fn reduced_parquet_and_transform_outputs_name_the_model_that_made_them() {
    let tmp = tempfile::tempdir().unwrap();
    let out = fit(tmp.path(), &[]);
    let model_path = out.join("model.json");
    let model = json(&model_path);
    let sha = sha256sum(&model_path);
    let names = |key: &str| -> Vec<String> {
        model[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let check = |file: &Path, direction: &str| {
        let kv = key_values(file);
        assert_eq!(kv["dimred.model_sha256"], sha, "{}", file.display());
        assert_eq!(
            kv["dimred.version"],
            model["dimred_version"].as_str().unwrap()
        );
        assert_eq!(kv["dimred.pipeline"], "breast-cancer-pca");
        assert_eq!(
            strings(&kv["dimred.feature_names"]),
            names("feature_names_in_")
        );
        assert_eq!(
            strings(&kv["dimred.output_columns"]),
            names("output_columns")
        );
        assert_eq!(strings(&kv["dimred.steps"]), vec!["pca"]);
        assert_eq!(kv["dimred.direction"], direction);
        assert_eq!(kv["dimred.dtype"], "float64");
    };
    check(&out.join("reduced.parquet"), "forward");
    let whole = tmp.path().join("t/z.parquet");
    transform(&model_path, "sample-data/breast_cancer.csv", &whole, &[]);
    check(&whole, "forward");
    // a shard's output, and rows mapped back
    transform(
        &model_path,
        "sample-data/breast_cancer.csv",
        &whole,
        &["--shard", "1/2"],
    );
    check(&tmp.path().join("t/z-1-of-2.parquet"), "forward");
    let back = tmp.path().join("t/back.parquet");
    let reduced = out.join("reduced.parquet").display().to_string();
    transform(&model_path, &reduced, &back, &["--inverse"]);
    check(&back, "inverse");
    // another model, another hash
    let other = fit(
        &tmp.path().join("other"),
        &["--set", "steps.1.pca.n_components=3"],
    );
    let kv = key_values(&other.join("reduced.parquet"));
    assert_ne!(kv["dimred.model_sha256"], sha);
    assert_eq!(
        kv["dimred.model_sha256"],
        sha256sum(&other.join("model.json"))
    );
}

#[test]
fn output_dtype_float32_writes_float32_columns_and_transform_follows_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let wide = fit(&tmp.path().join("f64"), &[]);
    let narrow = fit(&tmp.path().join("f32"), &["--set", "output.dtype=float32"]);
    let reference = parquet_columns(&wide.join("reduced.parquet"));
    let written = parquet_f32_columns(&narrow.join("reduced.parquet"));
    assert!(!reference.is_empty());
    // the same numbers, rounded to float32 (the passthrough `target` column stays int)
    assert_eq!(written.len(), reference.len());
    for ((name, got), (want_name, want)) in written.iter().zip(&reference) {
        assert_eq!(name, want_name);
        let rounded: Vec<f64> = want.iter().map(|&v| f64::from(v as f32)).collect();
        assert_eq!(got, &rounded, "{name}");
    }
    assert!(parquet_columns(&narrow.join("reduced.parquet")).is_empty());
    assert_eq!(
        key_values(&narrow.join("reduced.parquet"))["dimred.dtype"],
        "float32"
    );
    // model.json records it; the float64 default writes nothing new
    assert_eq!(json(&narrow.join("model.json"))["output_dtype"], "float32");
    assert!(json(&wide.join("model.json")).get("output_dtype").is_none());
    // transform follows the model, and --dtype overrides it
    let model = narrow.join("model.json");
    let z32 = tmp.path().join("z32.parquet");
    transform(&model, "sample-data/breast_cancer.csv", &z32, &[]);
    assert_eq!(parquet_f32_columns(&z32), written);
    let z64 = tmp.path().join("z64.parquet");
    transform(
        &model,
        "sample-data/breast_cancer.csv",
        &z64,
        &["--dtype", "float64"],
    );
    assert_eq!(parquet_columns(&z64), reference);
    assert_eq!(key_values(&z64)["dimred.dtype"], "float64");
    let z32b = tmp.path().join("z32b.parquet");
    transform(
        &wide.join("model.json"),
        "sample-data/breast_cancer.csv",
        &z32b,
        &["--dtype", "float32"],
    );
    assert_eq!(parquet_f32_columns(&z32b), written);
    // a type it does not write is one line, exit 2, naming the key
    let assert = dimred()
        .args(["validate", "pipelines/breast_cancer_pca.yaml"])
        .args(["--set", "output.dtype=float16"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("dtype") && err.contains("float16"), "{err}");
}
