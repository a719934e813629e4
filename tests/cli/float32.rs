//! The randomized solver's f32 arithmetic on float32 data (`arithmetic` in report.json,
//! `pca.arithmetic: float64` to refuse it): against the f64 path of the same fit, against
//! scikit-learn's exact PCA of the digits (tests/reference/digits_centered_pca.json, made
//! by make_reference.py) and against the exact solver on wide generated data; the same
//! numbers whatever the chunk size, with or without the spill file, and in rounds of shards.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use serde_json::Value;

use super::common::*;

/// The digits' pixels as Float32 columns (the values are small integers: exact in f32).
fn digits32(dir: &Path) -> PathBuf {
    let columns = parquet_columns(&root().join("sample-data/digits.parquet"));
    let pixels: Vec<&(String, Vec<f64>)> = columns
        .iter()
        .filter(|(n, _)| n.starts_with("pixel_"))
        .collect();
    assert_eq!(pixels.len(), 64);
    let schema = Schema::new(
        pixels
            .iter()
            .map(|(n, _)| Field::new(n, DataType::Float32, false))
            .collect::<Vec<_>>(),
    );
    let arrays: Vec<ArrayRef> = pixels
        .iter()
        .map(|(_, v)| {
            assert!(v.iter().all(|&x| f64::from(x as f32) == x));
            Arc::new(Float32Array::from_iter_values(v.iter().map(|&x| x as f32))) as ArrayRef
        })
        .collect();
    let path = dir.join("digits32.parquet");
    write_parquet(
        &path,
        &RecordBatch::try_new(Arc::new(schema), arrays).unwrap(),
    );
    path
}

/// `dimred generate` rows × cols of rank 16, Float32 columns unless `float64`.
fn generate(dir: &Path, name: &str, rows: usize, cols: usize, float64: bool) -> PathBuf {
    let data = dir.join(name);
    let mut cmd = dimred();
    cmd.args([
        "generate",
        "--rows",
        &rows.to_string(),
        "--cols",
        &cols.to_string(),
    ])
    .args([
        "--rank",
        "16",
        "--seed",
        "4",
        "--row-group-rows",
        "500",
        "-q",
    ]);
    if !float64 {
        cmd.arg("--float32");
    }
    cmd.arg("--output").arg(&data).assert().success();
    data
}

/// Fits a PCA of `pca` (YAML flow keys) on `data`'s features matching `features`, with
/// `extra` input keys; returns report.json and model.json.
fn fit(
    dir: &Path,
    name: &str,
    data: &Path,
    features: &str,
    pca: &str,
    extra: &str,
) -> (Value, Value) {
    let out = dir.join(name);
    let p = pipeline(
        dir,
        &format!(
            "name: f32\ninput:\n  path: {}\n  features: {{ regex: \"{features}\" }}\n{extra}steps:\n  - scale: {{ method: center }}\n  - pca: {{ {pca} }}\noutput:\n  dir: {}\n  reduced: false\n",
            data.display(),
            out.display()
        ),
    );
    dimred().args(["run", "-q"]).arg(&p).assert().success();
    (
        json(&out.join("report.json")),
        json(&out.join("model.json")),
    )
}

/// The largest principal angle's sine between each pair of components (rows).
fn worst_angle(got: &[Vec<f64>], want: &[Vec<f64>]) -> f64 {
    got.iter()
        .zip(want)
        .map(|(a, b)| {
            let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let (na, nb) = (
                a.iter().map(|x| x * x).sum::<f64>(),
                b.iter().map(|x| x * x).sum::<f64>(),
            );
            let cos = (dot.abs() / (na * nb).sqrt()).min(1.0);
            (1.0 - cos * cos).sqrt()
        })
        .fold(0.0, f64::max)
}

/// Top-k variances within 1e-5 relative and components within 1e-4 of each other.
fn assert_close(
    got: (&Value, &Value),
    want_variance: &[f64],
    want_components: &[Vec<f64>],
    what: &str,
) {
    let variance = floats(&got.0["explained_variance"]);
    assert_rel(
        &variance,
        want_variance,
        1e-5,
        &format!("{what}: variances"),
    );
    let angle = worst_angle(&matrix(&got.1["components_"]), want_components);
    assert!(angle <= 1e-4, "{what}: a component {angle:e} away");
}

/// Fits `pca` on the float32 digits `d32` in f32 (the default) and forced to f64, checks
/// report.json says which, that the two differ, and that the f32 fit is within the bounds of
/// the f64 fit and of scikit-learn's `want`; returns the f64 fit's report and model.
fn f32_against_f64_and(dir: &Path, d32: &Path, pca: &str, want: &Value) -> (Value, Value) {
    let (r32, m32) = fit(dir, "f32", d32, "^pixel_", pca, "");
    let forced = format!("{pca}, arithmetic: float64");
    let (r64, m64) = fit(dir, "f64", d32, "^pixel_", &forced, "");
    assert_eq!(r32["arithmetic"], "float32");
    assert_eq!(r64["arithmetic"], "float64");
    assert_ne!(
        r32["explained_variance"], r64["explained_variance"],
        "the two paths are different arithmetic"
    );
    assert_close(
        (&r32, &m32),
        &floats(&r64["explained_variance"]),
        &matrix(&m64["components_"]),
        "f32 against f64",
    );
    assert_close(
        (&r32, &m32),
        &floats(&want["explained_variance"]),
        &matrix(&want["components"]),
        "f32 against scikit-learn",
    );
    (r64, m64)
}

#[test]
fn float32_digits_match_the_float64_path_and_scikit_learn() {
    let tmp = tempfile::tempdir().unwrap();
    let d32 = digits32(tmp.path());
    let d64 = root().join("sample-data/digits.parquet");
    let pca = "solver: randomized, n_components: 10, power_iterations: 12";
    let want = json(&root().join("tests/reference/digits_centered_pca.json"));
    let (r64, m64) = f32_against_f64_and(tmp.path(), &d32, pca, &want);
    let (r_orig, _) = fit(tmp.path(), "orig", &d64, "^pixel_", pca, "");
    assert_eq!(r_orig["arithmetic"], "float64", "float64 columns keep f64");
    // float64 data and float32 data forced to f64: the same path, bit for bit
    assert_eq!(r64["explained_variance"], r_orig["explained_variance"]);
    assert_close(
        (&r64, &m64),
        &floats(&want["explained_variance"]),
        &matrix(&want["components"]),
        "f64 against scikit-learn",
    );
}

#[test]
fn float32_wide_data_matches_the_float64_path_and_the_exact_solver() {
    let tmp = tempfile::tempdir().unwrap();
    let data = generate(tmp.path(), "wide.parquet", 3000, 2000, false);
    let pca = "solver: randomized, n_components: 16";
    let (r32, m32) = fit(tmp.path(), "f32", &data, "^f", pca, "");
    let (r64, m64) = fit(
        tmp.path(),
        "f64",
        &data,
        "^f",
        &format!("{pca}, arithmetic: float64"),
        "",
    );
    let (rx, mx) = fit(
        tmp.path(),
        "exact",
        &data,
        "^f",
        "solver: exact, n_components: 16",
        "",
    );
    assert_eq!(r32["arithmetic"], "float32");
    assert_eq!(r64["arithmetic"], "float64");
    assert_eq!(rx["arithmetic"], "float64");
    let (v64, c64) = (
        floats(&r64["explained_variance"]),
        matrix(&m64["components_"]),
    );
    let (vx, cx) = (
        floats(&rx["explained_variance"]),
        matrix(&mx["components_"]),
    );
    assert_close((&r32, &m32), &v64, &c64, "f32 against f64");
    assert_close((&r32, &m32), &vx, &cx, "f32 against exact");
    assert_close((&r64, &m64), &vx, &cx, "f64 against exact");
}

#[test]
fn float32_results_do_not_depend_on_chunks_or_the_spill_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = generate(tmp.path(), "d.parquet", 3000, 300, false);
    let pca = "solver: randomized, n_components: 8";
    let runs: Vec<Value> = [
        "  batch_rows: 1000\n",
        "  batch_rows: 77\n",
        "  batch_rows: 1000\n  spill: false\n",
    ]
    .iter()
    .enumerate()
    .map(|(i, extra)| fit(tmp.path(), &format!("r{i}"), &data, "^f", pca, extra).1)
    .collect();
    for run in &runs[1..] {
        // fixed row blocks, and f64 rows rounded to the f32 they were: bit for bit
        assert_eq!(run["components_"], runs[0]["components_"]);
        assert_eq!(run["explained_variance_"], runs[0]["explained_variance_"]);
    }
}

#[test]
fn float32_rounds_of_shards_match_the_single_machine_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let data = generate(tmp.path(), "d.parquet", 1500, 400, false);
    let out = tmp.path().join("out");
    let p = pipeline(
        tmp.path(),
        &format!(
            "name: rounds\ninput:\n  path: {}\nsteps:\n  - scale: {{ method: standard }}\n  - pca: {{ n_components: 8, solver: randomized }}\noutput:\n  dir: {}\n",
            data.display(),
            out.display()
        ),
    );
    let full = tmp.path().join("full");
    dimred()
        .args([
            "run",
            "-q",
            "--set",
            &format!("output.dir={}", full.display()),
        ])
        .arg(&p)
        .assert()
        .success();
    super::shard::run_rounds(&p, &out, &mut |_| {});
    let (a, b) = (
        json(&full.join("model.json")),
        json(&out.join("model.json")),
    );
    let (ra, rb) = (
        json(&full.join("report.json")),
        json(&out.join("report.json")),
    );
    assert_eq!(ra["arithmetic"], "float32");
    assert_eq!(rb["arithmetic"], "float32");
    // the shards' blocks are cut elsewhere, so their f32 products round differently
    assert_close(
        (&rb, &b),
        &floats(&ra["explained_variance"]),
        &matrix(&a["components_"]),
        "rounds against one machine",
    );
}

#[test]
fn arithmetic_takes_auto_or_float64_only() {
    let tmp = tempfile::tempdir().unwrap();
    let data = generate(tmp.path(), "d.parquet", 200, 20, true);
    let (r, _) = fit(
        tmp.path(),
        "auto",
        &data,
        "^f",
        "solver: randomized, n_components: 2, arithmetic: auto",
        "",
    );
    assert_eq!(r["arithmetic"], "float64", "float64 columns");
    let p = pipeline(
        tmp.path(),
        &format!(
            "name: bad\ninput:\n  path: {}\nsteps:\n  - pca: {{ solver: randomized, n_components: 2, arithmetic: float16 }}\noutput:\n  dir: {}\n",
            data.display(),
            tmp.path().join("bad").display()
        ),
    );
    let assert = dimred().args(["validate"]).arg(&p).assert().code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    // the key's place in the file and the values it takes
    assert!(
        err.contains("pipeline.yaml:5:")
            && err.contains("float16")
            && err.contains("auto, float64"),
        "{err}"
    );
    assert_eq!(message_problem(&err, &[]), None);
}

/// The incremental solver's batch co-moments in f32 (issue 29): scikit-learn's
/// IncrementalPCA of the digits (batches of 100, tests/reference/digits_incremental_pca.json)
/// and the same fit forced to f64, within the same bounds as the randomized solver's.
#[test]
fn float32_incremental_pca_matches_the_float64_path_and_scikit_learn() {
    let tmp = tempfile::tempdir().unwrap();
    let d32 = digits32(tmp.path());
    let pca = "solver: incremental, n_components: 10, batch_size: 100";
    let want = json(&root().join("tests/reference/digits_incremental_pca.json"));
    f32_against_f64_and(tmp.path(), &d32, pca, &want);
}
