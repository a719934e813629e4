//! PCA's probabilistic extras against scikit-learn 1.9 (tests/reference/pca_extras_*.json,
//! made by tests/reference/make_pca_extras_reference.py): Minka's `n_components: mle`,
//! and their bad input. Every case runs streaming, in small and whole-file chunks.

use std::path::Path;

use serde_json::Value;

use super::common::*;

fn reference(name: &str) -> Value {
    json(&root().join("tests/reference").join(name))
}

/// Runs `pipeline_file` with `sets`, returning the output folder's report and model.
fn run(out: &Path, pipeline_file: &str, sets: &[&str]) -> (Value, Value) {
    let mut cmd = dimred();
    cmd.args(["run", pipeline_file, "--quiet", "--set"])
        .arg(format!("output.dir={}", out.display()));
    for s in sets {
        cmd.args(["--set", s]);
    }
    cmd.assert().success();
    (
        json(&out.join("report.json")),
        json(&out.join("model.json")),
    )
}

/// `dimred validate` with `sets` fails with exit 2 and one line holding every needle.
fn refused(pipeline_file: &str, sets: &[&str], needles: &[&str]) {
    let mut cmd = dimred();
    cmd.args(["validate", pipeline_file]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let assert = cmd.assert().code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "missing '{n}' in: {err}");
    }
}

const CASES: [(&str, &str); 2] = [
    ("pca_extras_digits.json", "pipelines/digits_pca.yaml"),
    (
        "pca_extras_breast_cancer.json",
        "pipelines/breast_cancer_pca.yaml",
    ),
];

#[test]
fn mle_matches_scikit_learn() {
    for (reference_file, pipeline_file) in CASES {
        let want = &reference(reference_file)["mle"];
        for solver in ["exact", "tsqr", "auto"] {
            for batch in ["7", "100000"] {
                let tmp = tempfile::tempdir().unwrap();
                let (report, model) = run(
                    tmp.path(),
                    pipeline_file,
                    &[
                        &format!("steps.1.pca.solver={solver}"),
                        "steps.1.pca.n_components=mle",
                        &format!("input.batch_rows={batch}"),
                    ],
                );
                let what = format!("{pipeline_file} solver {solver}, batch {batch}");
                assert_eq!(report["n_components"], want["n_components"], "{what}");
                assert_eq!(model["n_components_"], want["n_components"], "{what}");
                for key in ["explained_variance", "explained_variance_ratio"] {
                    assert_rel(
                        &floats(&report[key]),
                        &floats(&want[key]),
                        1e-9,
                        &format!("{what}: {key}"),
                    );
                }
                // the mean of a tail of near-zero eigenvalues (digits' constant pixels):
                // absolute to the largest variance
                let noise = report["noise_variance"].as_f64().unwrap();
                let top = floats(&want["explained_variance"])[0];
                let expected = want["noise_variance"].as_f64().unwrap();
                assert!(
                    (noise - expected).abs() <= 1e-9 * top,
                    "{what}: noise_variance {noise} against {expected}"
                );
            }
        }
    }
}

#[test]
fn mle_is_refused_where_the_spectrum_is_missing() {
    for solver in ["randomized", "incremental"] {
        refused(
            "pipelines/digits_pca.yaml",
            &[
                &format!("steps.1.pca.solver={solver}"),
                "steps.1.pca.n_components=mle",
            ],
            &["pca.n_components = mle", &format!("solver: {solver}")],
        );
    }
}

#[test]
fn mle_is_refused_with_fewer_rows_than_features() {
    use arrow_array::{ArrayRef, Float64Array, RecordBatch};
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    // Parquet knows its rows at validate: 2 rows of 3 features
    let column = |v: [f64; 2]| Arc::new(Float64Array::from(v.to_vec())) as ArrayRef;
    let batch = RecordBatch::try_from_iter(vec![
        ("a", column([1.0, 4.0])),
        ("b", column([2.0, 5.0])),
        ("c", column([3.0, 7.0])),
        ("target", column([0.0, 1.0])),
    ])
    .unwrap();
    let parquet = tmp.path().join("short.parquet");
    write_parquet(&parquet, &batch);
    let sets = [
        format!("input.path={}", parquet.display()),
        "steps.1.pca.n_components=mle".into(),
        "report.evaluate=null".into(),
        format!("output.dir={}", tmp.path().join("out").display()),
    ];
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    refused(
        "pipelines/breast_cancer_pca.yaml",
        &sets,
        &["pca.n_components = mle", "2 rows for 3 features"],
    );
    // a CSV's rows are known only once read: `run` refuses then, with the same exit code
    let csv = tmp.path().join("short.csv");
    std::fs::write(&csv, "a,b,c,target\n1,2,3,0\n4,5,7,1\n").unwrap();
    let mut cmd = dimred();
    cmd.args(["run", "pipelines/breast_cancer_pca.yaml", "-q"]);
    for s in [
        format!("input.path={}", csv.display()),
        "steps.1.pca.n_components=mle".into(),
        "report.evaluate=null".into(),
        format!("output.dir={}", tmp.path().join("out").display()),
    ] {
        cmd.args(["--set", &s]);
    }
    let assert = cmd.assert().code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.contains("mle") && err.contains("2 rows"), "{err}");
}
