//! The `kernel_pca` step end to end: with every row a landmark, scikit-learn's `KernelPCA`
//! projections (tests/reference/kernel_pca.json, made by make_kernel_pca_reference.py)
//! for each kernel, on the fitted rows and on new rows through `transform`; fewer
//! landmarks approximate and say by how much; what needs an inverse is refused.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::common::*;

fn reference(case: &str) -> Value {
    json(&root().join("tests/reference/kernel_pca.json"))["cases"][case].clone()
}

fn step_yaml(options: &Value, extra: &str) -> String {
    let keys: Vec<String> = options
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.as_str().map_or(v.to_string(), String::from)))
        .collect();
    format!("{{ {}{extra} }}", keys.join(", "))
}

/// Runs scale (standard) + kernel_pca on `data` into `dir/out`.
fn run(dir: &Path, data: &Path, label: &str, step: &str) -> PathBuf {
    let out = dir.join("out");
    let yaml = format!(
        "name: kpca\ninput: {{ path: {}, features: {{ exclude: [{label}] }}, batch_rows: 50 }}\n\
         steps:\n  - scale: {{ method: standard }}\n  - kernel_pca: {step}\noutput: {{ dir: {} }}\n",
        data.display(),
        out.display()
    );
    let file = pipeline(dir, &yaml);
    dimred().arg("run").arg(&file).arg("-q").assert().success();
    out
}

fn kpc_columns(path: &Path) -> Vec<Vec<f64>> {
    parquet_columns(path)
        .into_iter()
        .filter(|(n, _)| n.starts_with("kpc"))
        .map(|(_, v)| v)
        .collect()
}

/// Each column equal up to its sign, to `rtol` of the whole output's largest value.
fn assert_columns_up_to_sign(got: &[Vec<f64>], expected: &[Vec<f64>], rtol: f64, what: &str) {
    assert_eq!(got.len(), expected[0].len(), "{what}: columns");
    let scale = expected
        .iter()
        .flatten()
        .fold(0.0f64, |m, v| m.max(v.abs()));
    for (q, column) in got.iter().enumerate() {
        let want: Vec<f64> = expected.iter().map(|r| r[q]).collect();
        let dot: f64 = column.iter().zip(&want).map(|(a, b)| a * b).sum();
        let sign = if dot < 0.0 { -1.0 } else { 1.0 };
        let worst = column
            .iter()
            .zip(&want)
            .map(|(a, b)| (sign * a - b).abs())
            .fold(0.0f64, f64::max);
        assert!(
            worst <= rtol * scale,
            "{what} kpc{}: max difference {worst} > {rtol} × {scale}",
            q + 1
        );
    }
}

fn check(name: &str) {
    let case = reference(name);
    let tmp = tempfile::tempdir().unwrap();
    let data = root()
        .join("sample-data")
        .join(case["data"].as_str().unwrap());
    let out = run(
        tmp.path(),
        &data,
        case["label"].as_str().unwrap(),
        &step_yaml(&case["options"], ""),
    );
    let expected = matrix(&case["transformed"]);
    assert_columns_up_to_sign(
        &kpc_columns(&out.join("reduced.parquet")),
        &expected,
        1e-8,
        name,
    );
    let model = json(&out.join("model.json"));
    assert_vec_close(
        &floats(&model["kernel_pca"]["eigenvalues_"]),
        &floats(&case["eigenvalues_"]),
        1e-8,
        "eigenvalues_",
    );
    let report = json(&out.join("report.json"));
    assert!(
        report["kernel_pca"]["approximation_error"]
            .as_f64()
            .unwrap()
            < 1e-8
    );
}

#[test]
fn every_kernel_equals_sklearn_when_every_row_is_a_landmark() {
    for case in [
        "wine_rbf",
        "wine_poly",
        "wine_linear",
        "breast_cancer_cosine",
    ] {
        check(case);
    }
}

#[test]
fn new_rows_through_transform_equal_sklearn() {
    let case = reference("wine_rbf_heldout");
    let tmp = tempfile::tempdir().unwrap();
    let wine = root().join("sample-data/wine.csv");
    let text = std::fs::read_to_string(&wine).unwrap();
    let first: Vec<&str> = text.lines().take(121).collect();
    let fit = tmp.path().join("fit.csv");
    std::fs::write(&fit, first.join("\n") + "\n").unwrap();
    let out = run(tmp.path(), &fit, "target", &step_yaml(&case["options"], ""));
    let all = tmp.path().join("all.parquet");
    dimred()
        .args(["transform", "-q", "--model"])
        .arg(out.join("model.json"))
        .arg("--input")
        .arg(&wine)
        .arg("--output")
        .arg(&all)
        .assert()
        .success();
    assert_columns_up_to_sign(
        &kpc_columns(&all),
        &matrix(&case["transformed"]),
        1e-8,
        "held-out rows",
    );
    // an inverse map is what kernel PCA does not have
    let refused = dimred()
        .args(["transform", "-q", "--inverse", "--model"])
        .arg(out.join("model.json"))
        .arg("--input")
        .arg(&all)
        .arg("--output")
        .arg(tmp.path().join("back.parquet"))
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(err.contains("kernel_pca step does not have"), "{err}");
}

#[test]
fn fewer_landmarks_approximate_and_report_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = root().join("sample-data/breast_cancer.csv");
    let out = run(
        tmp.path(),
        &data,
        "target",
        "{ n_components: 3, kernel: rbf, landmarks: 100, seed: 4 }",
    );
    let report = json(&out.join("report.json"));
    let section = &report["kernel_pca"];
    assert_eq!(section["landmarks"], 100);
    assert_eq!(section["rows"], 569);
    let error = section["approximation_error"].as_f64().unwrap();
    assert!(error > 1e-6 && error < 0.2, "{error}");
    // the same seed gives the same landmarks whatever the chunk size
    let again = tmp.path().join("again");
    std::fs::create_dir_all(&again).unwrap();
    let out2 = run(
        &again,
        &data,
        "target",
        "{ n_components: 3, kernel: rbf, landmarks: 100, seed: 4 }",
    );
    assert_eq!(
        kpc_columns(&out.join("reduced.parquet")),
        kpc_columns(&out2.join("reduced.parquet"))
    );
}

#[test]
fn what_needs_an_inverse_is_refused_at_validate() {
    let tmp = tempfile::tempdir().unwrap();
    let data = root().join("sample-data/wine.csv");
    for (extra, needle) in [
        (
            "output: { dir: OUT, reconstruction_error: true }",
            "output.reconstruction_error",
        ),
        (
            "output: { dir: OUT }\nreport: { image_shape: [1, 13] }",
            "report.image_shape",
        ),
    ] {
        let yaml = format!(
            "name: kpca\ninput: {{ path: {}, features: {{ exclude: [target] }} }}\n\
             steps:\n  - kernel_pca: {{ n_components: 2, kernel: rbf, landmarks: 0 }}\n{}\n",
            data.display(),
            extra.replace("OUT", &tmp.path().join("out").display().to_string())
        );
        let file = pipeline(tmp.path(), &yaml);
        let assert = dimred().arg("validate").arg(&file).assert().code(2);
        let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert!(err.contains(needle), "{err}");
        assert!(
            err.contains("kernel_pca.landmarks: must be at least 2"),
            "{err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1);
    }
}
