//! A result never depends on the chunk size: batch_rows 1, 7, 1000 and "all rows" give
//! bit-for-bit the same model and reduced rows (the fitter re-blocks rows itself).

use super::common::*;

fn run_with_batch(
    batch: usize,
    input: &str,
    dir: &std::path::Path,
) -> (serde_json::Value, Vec<(String, Vec<f64>)>) {
    let out = dir.join(format!("b{batch}"));
    dimred()
        .args(["run", "pipelines/breast_cancer_pca.yaml", "--quiet"])
        .arg("--set")
        .arg(format!("output.dir={}", out.display()))
        .arg("--set")
        .arg(format!("input.batch_rows={batch}"))
        .arg("--set")
        .arg(format!("input.path={input}"))
        .assert()
        .success();
    let mut model = json(&out.join("model.json"));
    model.as_object_mut().unwrap().remove("dimred_version");
    (model, parquet_columns(&out.join("reduced.parquet")))
}

#[test]
fn batch_rows_do_not_change_a_single_bit() {
    let tmp = tempfile::tempdir().unwrap();
    for input in ["sample-data/breast_cancer.csv"] {
        let (model, rows) = run_with_batch(100_000, input, tmp.path());
        for batch in [1, 7, 1000] {
            let (m, r) = run_with_batch(batch, input, tmp.path());
            assert_eq!(m, model, "model.json differs for batch_rows {batch}");
            assert_eq!(r, rows, "reduced rows differ for batch_rows {batch}");
        }
    }
}

#[test]
fn parquet_batch_rows_do_not_change_a_single_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |batch: usize| {
        let out = tmp.path().join(format!("d{batch}"));
        dimred()
            .args(["run", "pipelines/digits_pca.yaml", "--quiet"])
            .arg("--set")
            .arg(format!("output.dir={}", out.display()))
            .arg("--set")
            .arg(format!("input.batch_rows={batch}"))
            .assert()
            .success();
        let mut model = json(&out.join("model.json"));
        model.as_object_mut().unwrap().remove("dimred_version");
        (model, parquet_columns(&out.join("reduced.parquet")))
    };
    let whole = run(1_000_000);
    for batch in [1, 7, 1000] {
        assert_eq!(run(batch), whole, "batch_rows {batch}");
    }
}

/// Each step kind, from the example pipelines that use it (and the randomized solver on
/// breast cancer): batch_rows 7 and 1000 give the same bits (LDA and kernel PCA too, not
/// only PCA). The exact solver is the test above; the autoencoder's is in autoencoder.rs.
#[test]
fn every_step_kind_is_bit_identical_across_batch_rows() {
    let tmp = tempfile::tempdir().unwrap();
    for (pipeline, set) in [
        ("wine_lda", None),
        ("wine_kernel_pca", None),
        ("digits_random_projection", None),
        ("breast_cancer_tsqr", None),
        ("digits_incremental_pca", None),
        (
            "breast_cancer_pca",
            Some("steps.1.pca={ solver: randomized, n_components: 5 }"),
        ),
        ("breast_cancer_filter", None),
    ] {
        let run = |batch: usize| {
            let out = tmp.path().join(format!("{pipeline}-{batch}"));
            let mut cmd = dimred();
            cmd.args(["run", &format!("pipelines/{pipeline}.yaml"), "--quiet"])
                .arg("--set")
                .arg(format!("output.dir={}", out.display()))
                .arg("--set")
                .arg(format!("input.batch_rows={batch}"));
            if let Some(set) = set {
                cmd.args(["--set", set]);
            }
            cmd.assert().success();
            let mut model = json(&out.join("model.json"));
            model.as_object_mut().unwrap().remove("dimred_version");
            (model, parquet_columns(&out.join("reduced.parquet")))
        };
        let (model, rows) = run(1000);
        let (m, r) = run(7);
        assert_eq!(m, model, "{pipeline}: model.json differs for batch_rows 7");
        assert_eq!(r, rows, "{pipeline}: reduced rows differ for batch_rows 7");
    }
}
