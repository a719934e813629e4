//! `dimred transform` applies model.json exactly as docs/model-format.md's numpy lines do:
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

fn fit(dir: &std::path::Path, sets: &[&str]) -> std::path::PathBuf {
    let out = dir.join("fit");
    let mut cmd = dimred();
    cmd.args([
        "run",
        "pipelines/breast_cancer_pca.yaml",
        "--quiet",
        "--set",
    ])
    .arg(format!("output.dir={}", out.display()));
    for s in sets {
        cmd.args(["--set", s]);
    }
    cmd.assert().success();
    out
}

#[test]
fn reconstruction_error_is_the_energy_the_components_miss() {
    let tmp = tempfile::tempdir().unwrap();
    let out = fit(tmp.path(), &["output.reconstruction_error=true"]);
    let model = json(&out.join("model.json"));
    let names: Vec<String> = model["feature_names_in_"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let (mean, scale) = (floats(&model["mean_"]), floats(&model["scale_"]));
    let (header, rows) = read_csv(&root().join("sample-data/breast_cancer.csv"));
    let idx: Vec<usize> = names
        .iter()
        .map(|n| header.iter().position(|h| h == n).unwrap())
        .collect();
    let cols = parquet_columns(&out.join("reduced.parquet"));
    let (last, errors) = cols.last().unwrap();
    assert_eq!(last, "reconstruction_error");
    let k = model["n_components_"].as_u64().unwrap() as usize;
    // Pythagoras: ‖x‖² − ‖z‖², a different route from the code's explicit residual
    for (r, row) in rows.iter().enumerate() {
        let norm2: f64 = idx
            .iter()
            .enumerate()
            .map(|(j, &c)| ((row[c] - mean[j]) / scale[j]).powi(2))
            .sum();
        let z2: f64 = (0..k).map(|c| cols[c].1[r].powi(2)).sum();
        assert!(
            (errors[r] - (norm2 - z2)).abs() < 1e-9 * norm2.max(1.0),
            "row {r}"
        );
    }
    let report = json(&out.join("report.json"));
    let e = &report["reconstruction_error"];
    let mean_err = errors.iter().sum::<f64>() / errors.len() as f64;
    assert_rel(&[e["mean"].as_f64().unwrap()], &[mean_err], 1e-12, "mean");
    assert_eq!(
        e["max"].as_f64().unwrap(),
        errors.iter().cloned().fold(f64::MIN, f64::max)
    );
    let mut sorted = errors.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(
        e["p50"].as_f64().unwrap(),
        sorted[(sorted.len() - 1) / 2],
        "569 rows: the median is a row"
    );
    assert_eq!(e["sampled"], 569);
    // total variance lost = Σ error / (n − 1) = the variance of the dropped components
    let dropped: f64 = report["total_variance"].as_f64().unwrap()
        - floats(&report["explained_variance"]).iter().sum::<f64>();
    assert_rel(
        &[errors.iter().sum::<f64>() / 568.0],
        &[dropped],
        1e-9,
        "lost variance",
    );
}

#[test]
fn inverse_transform_rebuilds_the_features_from_all_components() {
    for whiten in ["false", "true"] {
        let tmp = tempfile::tempdir().unwrap();
        let out = fit(
            tmp.path(),
            &[
                "steps.1.pca.n_components=30",
                &format!("steps.1.pca.whiten={whiten}"),
            ],
        );
        let back = tmp.path().join("back.parquet");
        dimred()
            .args(["transform", "-q", "--inverse", "--model"])
            .arg(out.join("model.json"))
            .arg("--input")
            .arg(out.join("reduced.parquet"))
            .arg("--output")
            .arg(&back)
            .assert()
            .success();
        let (header, rows) = read_csv(&root().join("sample-data/breast_cancer.csv"));
        let cols = parquet_columns(&back);
        assert_eq!(cols.len(), 30);
        assert_eq!(parquet_column_names(&back)[0], "target");
        for (name, values) in cols {
            let c = header.iter().position(|h| *h == name).unwrap();
            let expected: Vec<f64> = rows.iter().map(|r| r[c]).collect();
            assert_vec_close(&values, &expected, 1e-10, &name);
        }
    }
}

#[test]
fn whitening_divides_by_the_root_of_the_explained_variance() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = fit(&tmp.path().join("a"), &[]);
    let white = fit(&tmp.path().join("b"), &["steps.1.pca.whiten=true"]);
    let ev = floats(&json(&plain.join("model.json"))["explained_variance_"]);
    assert_eq!(json(&white.join("model.json"))["whiten"], true);
    let a = parquet_columns(&plain.join("reduced.parquet"));
    let b = parquet_columns(&white.join("reduced.parquet"));
    for (c, ((_, za), (_, zb))) in a.iter().zip(&b).enumerate() {
        let expected: Vec<f64> = za.iter().map(|v| v / ev[c].sqrt()).collect();
        assert_vec_close(zb, &expected, 1e-12, &format!("pc{}", c + 1));
        // whitened columns have unit sample variance
        let n = zb.len() as f64;
        let m = zb.iter().sum::<f64>() / n;
        let var = zb.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
        assert!((var - 1.0).abs() < 1e-9, "pc{} variance {var}", c + 1);
    }
}
