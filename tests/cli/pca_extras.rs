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

/// Each value of `actual` within `rtol` of the largest |entry| of `expected`.
fn assert_matrix(actual: &Value, expected: &Value, rtol: f64, what: &str) {
    let (a, e) = (matrix(actual), matrix(expected));
    assert_eq!(a.len(), e.len(), "{what}: rows");
    let top = e.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (ra, re)) in a.iter().zip(&e).enumerate() {
        assert_eq!(ra.len(), re.len(), "{what}: row {i}");
        for (j, (x, y)) in ra.iter().zip(re).enumerate() {
            assert!(
                (x - y).abs() <= rtol * top,
                "{what}[{i}][{j}]: {x} against {y}"
            );
        }
    }
}

/// The log-likelihoods within `rtol` of each (|ll| is 10 to 10⁴ here).
fn assert_scores(actual: &[f64], expected: &[f64], rtol: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: rows");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= rtol * e.abs().max(1.0),
            "{what} row {i}: {a} against {e}"
        );
    }
}

fn column(out: &Path, name: &str) -> Vec<f64> {
    parquet_columns(&out.join("reduced.parquet"))
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} column"))
        .1
}

#[test]
fn score_covariance_and_precision_match_scikit_learn() {
    for (reference_file, pipeline_file) in CASES {
        let want = reference(reference_file);
        for (case, whiten) in [("fitted", "false"), ("whitened", "true")] {
            let want = &want[case];
            for solver in ["exact", "tsqr"] {
                for batch in ["7", "100000"] {
                    let tmp = tempfile::tempdir().unwrap();
                    let (report, model) = run(
                        tmp.path(),
                        pipeline_file,
                        &[
                            &format!("steps.1.pca.solver={solver}"),
                            &format!("steps.1.pca.whiten={whiten}"),
                            &format!("input.batch_rows={batch}"),
                            "output.score=true",
                        ],
                    );
                    let what = format!("{pipeline_file} {case} {solver} batch {batch}");
                    assert_eq!(model["n_components_"], want["n_components"], "{what}");
                    assert_matrix(&model["covariance"], &want["covariance"], 1e-9, &what);
                    assert_matrix(&model["precision"], &want["precision"], 1e-8, &what);
                    let ll = column(tmp.path(), "log_likelihood");
                    assert_scores(&ll, &floats(&want["log_likelihood"]), 1e-9, &what);
                    assert_scores(
                        &[report["score"].as_f64().unwrap()],
                        &[want["score"].as_f64().unwrap()],
                        1e-9,
                        &format!("{what}: score"),
                    );
                    // the column comes last, after the components
                    let names = parquet_column_names(&tmp.path().join("reduced.parquet"));
                    assert_eq!(names.last().map(String::as_str), Some("log_likelihood"));
                    // model.npz holds the same matrices
                    let bytes = std::fs::read(tmp.path().join("model.npz")).unwrap();
                    let arrays = dimred::npz::read(&bytes).unwrap();
                    for key in ["covariance", "precision"] {
                        let (_, array) = arrays
                            .iter()
                            .find(|(n, _)| n.ends_with(key))
                            .unwrap_or_else(|| panic!("{what}: no {key} in model.npz"));
                        let p = want["covariance"].as_array().unwrap().len();
                        assert_eq!(array.shape, vec![p, p]);
                        let dimred::npz::Values::F64(values) = &array.values else {
                            panic!("{key} is not float64")
                        };
                        let flat: Vec<f64> = matrix(&model[key]).concat();
                        assert_eq!(values, &flat, "{what}: {key} in model.npz");
                    }
                }
            }
        }
    }
}

#[test]
fn incremental_covariance_and_precision_match_scikit_learn() {
    for (reference_file, pipeline_file, sets) in [
        (
            "pca_extras_digits.json",
            "pipelines/digits_incremental_pca.yaml",
            vec![],
        ),
        (
            "pca_extras_breast_cancer.json",
            "pipelines/breast_cancer_pca.yaml",
            vec![
                "steps.1.pca.solver=incremental",
                "steps.1.pca.n_components=5",
                "steps.1.pca.batch_size=50",
            ],
        ),
    ] {
        let want = &reference(reference_file)["incremental"];
        let tmp = tempfile::tempdir().unwrap();
        let (_, model) = run(tmp.path(), pipeline_file, &sets);
        assert_matrix(
            &model["covariance"],
            &want["covariance"],
            1e-8,
            pipeline_file,
        );
        assert_matrix(&model["precision"], &want["precision"], 1e-7, pipeline_file);
    }
}

#[test]
fn transform_score_matches_scikit_learn() {
    for (reference_file, pipeline_file) in CASES {
        let want = &reference(reference_file)["fitted"];
        let tmp = tempfile::tempdir().unwrap();
        run(tmp.path(), pipeline_file, &["output.reduced=false"]);
        let input = if pipeline_file.contains("digits") {
            "sample-data/digits.parquet"
        } else {
            "sample-data/breast_cancer.csv"
        };
        let output = tmp.path().join("scored.parquet");
        dimred()
            .args([
                "transform",
                "-q",
                "--score",
                "--reconstruction-error",
                "--model",
            ])
            .arg(tmp.path().join("model.json"))
            .args(["--input", input, "--output"])
            .arg(&output)
            .assert()
            .success();
        let columns = parquet_columns(&output);
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        let n = names.len();
        assert_eq!(
            &names[n - 2..],
            &["reconstruction_error", "log_likelihood"],
            "{names:?}"
        );
        assert_scores(
            &columns[n - 1].1,
            &floats(&want["log_likelihood"]),
            1e-9,
            pipeline_file,
        );
    }
}

#[test]
fn score_is_refused_without_a_pca() {
    refused(
        "pipelines/digits_random_projection.yaml",
        &["output.score=true"],
        &["output.score", "pca"],
    );
    let tmp = tempfile::tempdir().unwrap();
    run(
        tmp.path(),
        "pipelines/digits_random_projection.yaml",
        &["output.reduced=false"],
    );
    let assert = dimred()
        .args(["transform", "-q", "--score", "--model"])
        .arg(tmp.path().join("model.json"))
        .args(["--input", "sample-data/digits.parquet", "--output"])
        .arg(tmp.path().join("scored.parquet"))
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(
        err.contains("--score") && err.contains("random_projection"),
        "{err}"
    );
    assert!(!tmp.path().join("scored.parquet").exists());
}

/// The npz arrays' names and shapes.
fn npz_shapes(path: &Path) -> Vec<(String, Vec<usize>)> {
    let bytes = std::fs::read(path).unwrap();
    dimred::npz::read(&bytes)
        .unwrap()
        .into_iter()
        .map(|(n, a)| (n, a.shape))
        .collect()
}

#[test]
fn covariance_and_precision_are_left_out_of_wide_models() {
    // model.json holds them up to 512 features, model.npz up to 4,096
    for (cols, solver, in_json, in_npz) in [
        (512, "exact", true, true),
        (513, "exact", false, true),
        (4097, "randomized", false, false),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("wide.parquet");
        dimred()
            .args([
                "generate", "-q", "--rows", "40", "--rank", "3", "--seed", "1",
            ])
            .args(["--cols", &cols.to_string(), "--output"])
            .arg(&data)
            .assert()
            .success();
        let out = tmp.path().join("out");
        let (_, model) = run(
            &out,
            "pipelines/generated_pca.yaml",
            &[
                &format!("input.path={}", data.display()),
                &format!("steps.0.pca.solver={solver}"),
                "steps.0.pca.n_components=2",
            ],
        );
        let what = format!("{cols} features");
        assert_eq!(model.get("covariance").is_some(), in_json, "{what}");
        assert_eq!(model.get("precision").is_some(), in_json, "{what}");
        let shapes = npz_shapes(&out.join("model.npz"));
        for key in ["covariance", "precision"] {
            let found = shapes.iter().find(|(n, _)| n.ends_with(key));
            assert_eq!(found.is_some(), in_npz, "{what}: {key}");
            if let Some((_, shape)) = found {
                assert_eq!(shape, &vec![cols, cols], "{what}: {key}");
            }
        }
    }
}

#[test]
fn every_power_iteration_normalizer_finds_the_exact_spectrum() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("g.parquet");
    dimred()
        .args([
            "generate", "-q", "--rows", "5000", "--cols", "64", "--rank", "8",
        ])
        .args(["--seed", "3", "--output"])
        .arg(&data)
        .assert()
        .success();
    let input = format!("input.path={}", data.display());
    let fit = |name: &str, sets: &[&str]| {
        let mut all = vec![input.as_str()];
        all.extend_from_slice(sets);
        run(&tmp.path().join(name), "pipelines/generated_pca.yaml", &all)
    };
    let (exact, _) = fit("exact", &["steps.0.pca.n_components=8"]);
    let mut models = Vec::new();
    for normalizer in ["auto", "QR", "LU", "none"] {
        let (report, model) = fit(
            normalizer,
            &[
                "steps.0.pca.solver=randomized",
                "steps.0.pca.n_components=8",
                &format!("steps.0.pca.power_iteration_normalizer={normalizer}"),
            ],
        );
        for key in ["explained_variance", "noise_variance"] {
            let (a, e) = (&report[key], &exact[key]);
            let (a, e) = if a.is_array() {
                (floats(a), floats(e))
            } else {
                (vec![a.as_f64().unwrap()], vec![e.as_f64().unwrap()])
            };
            assert_rel(&a, &e, 1e-6, &format!("{normalizer}: {key}"));
        }
        models.push(model);
    }
    // auto is QR (the golden randomized output is unchanged); LU and none are other bases
    assert_eq!(models[0]["components_"], models[1]["components_"]);
    assert_ne!(models[1]["components_"], models[2]["components_"]);
    assert_ne!(models[1]["components_"], models[3]["components_"]);
}

#[test]
fn power_iteration_normalizer_is_checked() {
    refused(
        "pipelines/digits_pca.yaml",
        &["steps.1.pca.power_iteration_normalizer=LU"],
        &["power_iteration_normalizer", "randomized only"],
    );
    refused(
        "pipelines/digits_pca.yaml",
        &[
            "steps.1.pca.solver=randomized",
            "steps.1.pca.power_iteration_normalizer=none",
            "steps.1.pca.tol=0.001",
        ],
        &["pca.tol", "power_iteration_normalizer"],
    );
    refused(
        "pipelines/digits_pca.yaml",
        &[
            "steps.1.pca.solver=randomized",
            "steps.1.pca.power_iteration_normalizer=lu",
        ],
        &["power_iteration_normalizer"],
    );
}
