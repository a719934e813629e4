//! `truncated_svd` through the binary: `run` on breast cancer writes scikit-learn's
//! `TruncatedSVD` codes and reconstruction errors (tests/reference/truncated_svd.json),
//! `transform --inverse` gives its `inverse_transform`; bad keys and an exact solver over
//! the memory limit are one line, exit 2, at `validate`.

use std::path::Path;

use serde_json::Value;

use super::common::*;

fn reference() -> Value {
    json(&root().join("tests/reference/truncated_svd.json"))["cases"]["breast_cancer"].clone()
}

fn column(path: &Path, name: &str) -> Vec<f64> {
    parquet_columns(path)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{}: no column {name}", path.display()))
        .1
}

/// `got`'s first rows within `rtol` of the largest |entry| of `want` (rows × columns).
fn assert_rows(got: &[Vec<f64>], want: &[Vec<f64>], rtol: f64, what: &str) {
    let scale = want.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        for (j, (a, b)) in g.iter().zip(w).enumerate() {
            assert!(
                (a - b).abs() <= rtol * scale,
                "{what}[{i}][{j}]: {a} vs scikit-learn's {b}"
            );
        }
    }
}

#[test]
fn run_transform_and_inverse_equal_scikit_learns() {
    let case = reference();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let yaml = format!(
        "name: tsvd\ninput: {{ path: {}, features: {{ exclude: [target] }}, passthrough: [target], batch_rows: 100 }}\n\
         steps:\n  - truncated_svd: {{ solver: exact, n_components: 5 }}\n\
         output: {{ dir: {}, reconstruction_error: true }}\n",
        root().join("sample-data/breast_cancer.csv").display(),
        out.display()
    );
    let file = pipeline(tmp.path(), &yaml);
    dimred().arg("run").arg(&file).arg("-q").assert().success();
    let reduced = out.join("reduced.parquet");
    let n = case["rows"].as_u64().unwrap() as usize;
    let codes: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (1..=5)
                .map(|c| column(&reduced, &format!("sv{c}"))[i])
                .collect()
        })
        .collect();
    assert_rows(&codes, &matrix(&case["transform"]), 1e-10, "sv");
    let errors = column(&reduced, "reconstruction_error");
    assert_vec_close(
        &errors[..n],
        &floats(&case["reconstruction_error"]),
        1e-8,
        "reconstruction_error",
    );
    let report = json(&out.join("report.json"));
    let mean = case["reconstruction_error_mean"].as_f64().unwrap();
    for reported in [
        &report["reconstruction_error"]["mean"],
        &report["truncated_svd"]["reconstruction_error"],
    ] {
        let reported = reported.as_f64().unwrap();
        assert!(
            (reported - mean).abs() <= 1e-8 * mean,
            "{reported} vs {mean}"
        );
    }
    assert_vec_close(
        &floats(&report["truncated_svd"]["explained_variance_ratio"]),
        &floats(&case["explained_variance_ratio_"]),
        1e-10,
        "report's explained_variance_ratio",
    );
    let back = tmp.path().join("back.parquet");
    transform(&out.join("model.json"), &reduced, &back, true);
    let features: Vec<Vec<f64>> = parquet_columns(&back)
        .into_iter()
        .filter(|(name, _)| name != "target")
        .map(|(_, v)| v)
        .collect();
    let back_rows: Vec<Vec<f64>> = (0..n)
        .map(|i| features.iter().map(|c| c[i]).collect())
        .collect();
    assert_rows(
        &back_rows,
        &matrix(&case["inverse_transform"]),
        1e-10,
        "transform --inverse",
    );
}

fn refused(yaml_step: &str, extra: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = format!(
        "name: tsvd\ninput: {{ path: {}, features: {{ exclude: [target] }} }}\n\
         steps:\n  - truncated_svd: {yaml_step}\noutput: {{ dir: {} }}\n",
        root().join("sample-data/breast_cancer.csv").display(),
        tmp.path().join("out").display()
    );
    let file = pipeline(tmp.path(), &yaml);
    let assert = dimred()
        .arg("validate")
        .arg(&file)
        .args(extra)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    err
}

#[test]
fn bad_keys_are_one_line_at_validate() {
    let err = refused("{ solver: exact, n_components: 30 }", &[]);
    assert!(
        err.contains("truncated_svd.n_components = 30 must be below the 30 features")
            && err.contains("solver: randomized allows up to 30"),
        "{err}"
    );
    let err = refused("{ solver: arpack, n_components: 3 }", &[]);
    assert!(
        err.contains("arpack") && err.contains("randomized") && err.contains("exact"),
        "{err}"
    );
    let err = refused("{ n_components: 31 }", &[]);
    assert!(err.contains("more than the 30 features"), "{err}");
}

#[test]
fn an_exact_gram_over_the_memory_limit_suggests_randomized() {
    let tmp = tempfile::tempdir().unwrap();
    let (file, _) = wide_exact_pca(tmp.path());
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "pca: { solver: exact, n_components: 4 }",
        "truncated_svd: { solver: exact, n_components: 4 }",
    );
    std::fs::write(&file, text).unwrap();
    let assert = dimred()
        .arg("validate")
        .arg(&file)
        .args(["--memory-limit", "1GiB"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for says in [
        "memory_limit = 1GiB",
        "truncated_svd",
        "truncated_svd solver: randomized holds about",
    ] {
        assert!(err.contains(says), "{says}: {err}");
    }
    dimred()
        .arg("validate")
        .arg(&file)
        .args(["--memory-limit", "1GiB"])
        .args(["--set", "steps.0.truncated_svd.solver=randomized"])
        .assert()
        .success();
}

/// The exact solver's pass merges: three shards and `merge` give the model of one run.
#[test]
fn exact_shards_merge_into_the_single_run_model() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = format!(
        "name: tsvd-shard\ninput: {{ path: {}, features: {{ regex: \"^pixel_\" }} }}\n\
         steps:\n  - truncated_svd: {{ solver: exact, n_components: 10 }}\noutput: {{ dir: {} }}\n",
        root().join("sample-data/digits.parquet").display(),
        tmp.path().join("out").display()
    );
    let file = pipeline(tmp.path(), &yaml);
    let whole = tmp.path().join("whole");
    dimred()
        .arg("run")
        .arg(&file)
        .arg("-q")
        .args(["--set", &format!("output.dir={}", whole.display())])
        .assert()
        .success();
    for i in 0..3 {
        dimred()
            .arg("run")
            .arg(&file)
            .args(["-q", "--shard", &format!("{i}/3")])
            .assert()
            .success();
    }
    dimred()
        .arg("merge")
        .arg(&file)
        .arg("-q")
        .assert()
        .success();
    let one = json(&whole.join("model.json"));
    let merged = json(&tmp.path().join("out/model.json"));
    assert_eq!(one["steps"], serde_json::json!(["truncated_svd"]));
    assert_vec_close(
        &floats(&merged["mean_"]),
        &floats(&one["mean_"]),
        1e-12,
        "mean_",
    );
    for key in ["singular_values_", "explained_variance_"] {
        assert_vec_close(
            &floats(&merged["truncated_svd"][key]),
            &floats(&one["truncated_svd"][key]),
            1e-12,
            key,
        );
    }
    let flat = |m: &Value| matrix(m).into_iter().flatten().collect::<Vec<f64>>();
    assert_vec_close(
        &flat(&merged["truncated_svd"]["components_"]),
        &flat(&one["truncated_svd"]["components_"]),
        1e-9,
        "components_",
    );
}
