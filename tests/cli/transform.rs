//! `dimred transform` applies model.json exactly as the README's numpy lines do:
//! Z = ((X - mean_) / scale_) @ components_.T — computed here independently from the
//! model file and the raw CSV.

use super::common::*;

fn read_csv(path: &std::path::Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    (header, rows)
}

#[test]
fn transform_equals_the_numpy_formula_on_model_json() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("fit");
    dimred()
        .args([
            "run",
            "pipelines/breast_cancer_pca.yaml",
            "--quiet",
            "--set",
        ])
        .arg(format!("output.dir={}", out.display()))
        .assert()
        .success();
    let transformed = tmp.path().join("new/z.parquet");
    dimred()
        .args(["transform", "--quiet", "--model"])
        .arg(out.join("model.json"))
        .args(["--input", "sample-data/breast_cancer.csv", "--output"])
        .arg(&transformed)
        .assert()
        .success();

    let model = json(&out.join("model.json"));
    let names: Vec<String> = model["feature_names_in_"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mean = floats(&model["mean_"]);
    let scale = floats(&model["scale_"]);
    let comps = matrix(&model["components_"]);
    let (header, rows) = read_csv(&root().join("sample-data/breast_cancer.csv"));
    let idx: Vec<usize> = names
        .iter()
        .map(|n| header.iter().position(|h| h == n).unwrap())
        .collect();
    let got = parquet_columns(&transformed);
    assert_eq!(
        parquet_column_names(&transformed)[0],
        "target",
        "passthrough first"
    );
    for (c, comp) in comps.iter().enumerate() {
        let expected: Vec<f64> = rows
            .iter()
            .map(|r| {
                idx.iter()
                    .enumerate()
                    .map(|(j, &col)| (r[col] - mean[j]) / scale[j] * comp[j])
                    .sum()
            })
            .collect();
        assert_eq!(got[c].0, format!("pc{}", c + 1));
        assert_vec_close(&got[c].1, &expected, 1e-12, &got[c].0);
    }
    // And the run's own output is the same rows.
    let run_rows = parquet_columns(&out.join("reduced.parquet"));
    assert_eq!(run_rows, got);
}

#[test]
fn transform_refuses_input_without_the_models_features() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("fit");
    dimred()
        .args(["run", "pipelines/digits_pca.yaml", "--quiet", "--set"])
        .arg(format!("output.dir={}", out.display()))
        .assert()
        .success();
    let target = tmp.path().join("z.parquet");
    let assert = dimred()
        .args(["transform", "--model"])
        .arg(out.join("model.json"))
        .args(["--input", "sample-data/breast_cancer.csv", "--output"])
        .arg(&target)
        .assert()
        .code(3);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(err.contains("pixel_0_0"), "{err}");
    assert!(!target.exists());
}
