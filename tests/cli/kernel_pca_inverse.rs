//! Kernel PCA's way back (`fit_inverse_transform: true`): with every row a landmark,
//! scikit-learn's `KernelPCA(fit_inverse_transform=True)` `dual_coef_`, `inverse_transform`
//! and reconstruction errors (tests/reference/kernel_pca_inverse.json, made by
//! make_kernel_pca_inverse_reference.py) through `run`, `transform --inverse` and
//! `--reconstruction-error`, for four kernels and on new rows; a model written without the
//! map loads as before and cannot invert; bad keys and a map that cannot fit in memory are
//! one line at `validate`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::common::*;

fn reference(case: &str) -> Value {
    json(&root().join("tests/reference/kernel_pca_inverse.json"))["cases"][case].clone()
}

/// The case's options as the step's YAML keys, with the pre-image map on.
fn step_yaml(options: &Value) -> String {
    let keys: Vec<String> = options
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.as_str().map_or(v.to_string(), String::from)))
        .collect();
    format!("{{ {}, fit_inverse_transform: true }}", keys.join(", "))
}

/// Runs scale (standard) + kernel_pca on `data` into `dir/out`, with the reconstruction
/// error column, in chunks of `batch` rows.
fn run(dir: &Path, data: &Path, step: &str, batch: usize) -> PathBuf {
    let out = dir.join(format!("out-{batch}"));
    let yaml = format!(
        "name: kpca-inverse\ninput: {{ path: {}, features: {{ exclude: [target] }}, batch_rows: {batch} }}\n\
         steps:\n  - scale: {{ method: standard }}\n  - kernel_pca: {step}\n\
         output: {{ dir: {}, reconstruction_error: true }}\n",
        data.display(),
        out.display()
    );
    let file = pipeline(dir, &yaml);
    dimred().arg("run").arg(&file).arg("-q").assert().success();
    out
}

fn column(path: &Path, name: &str) -> Vec<f64> {
    parquet_columns(path)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{}: no column {name}", path.display()))
        .1
}

/// The wine features (target left out) of a Parquet file, as rows.
fn feature_rows(path: &Path) -> Vec<Vec<f64>> {
    let columns: Vec<Vec<f64>> = parquet_columns(path)
        .into_iter()
        .filter(|(n, _)| n != "target")
        .map(|(_, v)| v)
        .collect();
    (0..columns[0].len())
        .map(|i| columns.iter().map(|c| c[i]).collect())
        .collect()
}

/// Matrices equal to `rtol` of the expected matrix's largest entry.
fn assert_matrix_close(got: &[Vec<f64>], expected: &[Vec<f64>], rtol: f64, what: &str) {
    let flat = |m: &[Vec<f64>]| m.iter().flatten().copied().collect::<Vec<f64>>();
    assert_eq!(got.len(), expected.len(), "{what}: rows");
    assert_vec_close(&flat(got), &flat(expected), rtol, what);
}

/// The model, `transform --inverse` of the run's own reduced rows, and the error columns
/// of the run and of `transform --reconstruction-error`, against scikit-learn's.
fn check(name: &str) {
    let case = reference(name);
    let tmp = tempfile::tempdir().unwrap();
    let wine = root().join("sample-data/wine.csv");
    let out = run(tmp.path(), &wine, &step_yaml(&case["options"]), 50);
    let model = json(&out.join("model.json"));
    assert_matrix_close(
        &matrix(&model["kernel_pca"]["dual_coef_"]),
        &matrix(&case["dual_coef_"]),
        1e-8,
        &format!("{name} dual_coef_"),
    );
    let errors = floats(&case["reconstruction_error"]);
    let reduced = out.join("reduced.parquet");
    assert_vec_close(
        &column(&reduced, "reconstruction_error"),
        &errors,
        1e-8,
        &format!("{name} run's reconstruction_error"),
    );
    let report = json(&out.join("report.json"));
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    let reported = report["reconstruction_error"]["mean"].as_f64().unwrap();
    assert!(
        (reported - mean).abs() <= 1e-8 * mean,
        "{reported} vs {mean}"
    );
    let back = tmp.path().join("back.parquet");
    transform(&out.join("model.json"), &reduced, &back, true);
    assert_matrix_close(
        &feature_rows(&back),
        &matrix(&case["inverse"]),
        1e-8,
        &format!("{name} transform --inverse"),
    );
    let scored = tmp.path().join("scored.parquet");
    dimred()
        .args(["transform", "-q", "--reconstruction-error", "--model"])
        .arg(out.join("model.json"))
        .arg("--input")
        .arg(&wine)
        .arg("--output")
        .arg(&scored)
        .assert()
        .success();
    assert_vec_close(
        &column(&scored, "reconstruction_error"),
        &errors,
        1e-8,
        &format!("{name} transform --reconstruction-error"),
    );
}

#[test]
fn inverse_equals_sklearn_when_every_row_is_a_landmark() {
    for case in ["wine_rbf", "wine_poly", "wine_linear", "wine_cosine"] {
        check(case);
    }
}

#[test]
fn the_map_and_its_errors_do_not_depend_on_the_chunk_size() {
    let tmp = tempfile::tempdir().unwrap();
    let wine = root().join("sample-data/wine.csv");
    let step =
        "{ n_components: 3, kernel: rbf, landmarks: 60, seed: 2, fit_inverse_transform: true }";
    let outputs: Vec<_> = [1, 7, 1000]
        .into_iter()
        .map(|batch| {
            let out = run(tmp.path(), &wine, step, batch);
            let mut model = json(&out.join("model.json"));
            model.as_object_mut().unwrap().remove("dimred_version");
            (model, parquet_columns(&out.join("reduced.parquet")))
        })
        .collect();
    assert!(outputs[0].0["kernel_pca"]["dual_coef_"].is_array());
    assert_eq!(outputs[0], outputs[1], "batch_rows 1 and 7");
    assert_eq!(outputs[0], outputs[2], "batch_rows 1 and 1000");
}

#[test]
fn new_rows_invert_through_transform_as_sklearn() {
    let case = reference("wine_rbf_heldout");
    let tmp = tempfile::tempdir().unwrap();
    let wine = root().join("sample-data/wine.csv");
    let text = std::fs::read_to_string(&wine).unwrap();
    let first: Vec<&str> = text.lines().take(121).collect();
    let fit = tmp.path().join("fit.csv");
    std::fs::write(&fit, first.join("\n") + "\n").unwrap();
    let out = run(tmp.path(), &fit, &step_yaml(&case["options"]), 50);
    let model = out.join("model.json");
    let all = tmp.path().join("all.parquet");
    dimred()
        .args(["transform", "-q", "--reconstruction-error", "--model"])
        .arg(&model)
        .arg("--input")
        .arg(&wine)
        .arg("--output")
        .arg(&all)
        .assert()
        .success();
    assert_vec_close(
        &column(&all, "reconstruction_error"),
        &floats(&case["reconstruction_error"]),
        1e-8,
        "held-out reconstruction_error",
    );
    let back = tmp.path().join("back.parquet");
    transform(&model, &all, &back, true);
    assert_matrix_close(
        &feature_rows(&back),
        &matrix(&case["inverse"]),
        1e-8,
        "held-out transform --inverse",
    );
}

fn refused(cmd: &mut assert_cmd::Command) -> String {
    let assert = cmd.assert().code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    err
}

#[test]
fn a_model_without_the_map_loads_as_before_and_cannot_invert() {
    let tmp = tempfile::tempdir().unwrap();
    let wine = root().join("sample-data/wine.csv");
    let step = "{ n_components: 2, kernel: rbf, fit_inverse_transform: true, alpha: 0.5 }";
    let out = run(tmp.path(), &wine, step, 50);
    let model: Value = json(&out.join("model.json"));
    let section = &model["kernel_pca"];
    assert_eq!(section["alpha"], 0.5);
    assert_eq!(matrix(&section["X_transformed_fit_"]).len(), 178);
    assert_eq!(matrix(&section["X_transformed_fit_"])[0].len(), 2);
    assert_eq!(json(&out.join("report.json"))["kernel_pca"]["alpha"], 0.5);
    let write = |name: &str, edit: &dyn Fn(&mut Value)| {
        let mut m = model.clone();
        edit(&mut m["kernel_pca"]);
        let path = tmp.path().join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
        path
    };
    // as a model written before the map existed: the forward map is unchanged
    let older = write("older", &|s| {
        for key in ["alpha", "X_transformed_fit_", "dual_coef_"] {
            s.as_object_mut().unwrap().remove(key);
        }
    });
    let forward = tmp.path().join("forward.parquet");
    transform(&older, &wine, &forward, false);
    let kpc = |path: &Path| {
        parquet_columns(path)
            .into_iter()
            .filter(|(n, _)| n.starts_with("kpc"))
            .collect::<Vec<_>>()
    };
    assert_eq!(kpc(&forward), kpc(&out.join("reduced.parquet")));
    let err = refused(
        dimred()
            .args(["transform", "-q", "--inverse", "--model"])
            .arg(&older)
            .arg("--input")
            .arg(&forward)
            .arg("--output")
            .arg(tmp.path().join("back.parquet")),
    );
    assert!(err.contains("kernel_pca step does not have"), "{err}");
    // a damaged map says which field
    for (name, edit, needle) in [
        (
            "partial",
            &(|s: &mut Value| {
                s.as_object_mut().unwrap().remove("dual_coef_");
            }) as &dyn Fn(&mut Value),
            "alpha, X_transformed_fit_ and dual_coef_ go together",
        ),
        (
            "zero_alpha",
            &|s: &mut Value| s["alpha"] = 0.0.into(),
            "'kernel_pca.alpha' is 0",
        ),
        (
            "short",
            &|s: &mut Value| {
                s["dual_coef_"].as_array_mut().unwrap().pop();
            },
            "X_transformed_fit_ and dual_coef_ do not match",
        ),
    ] {
        let damaged = write(name, edit);
        let err = refused(
            dimred()
                .args(["transform", "-q", "--model"])
                .arg(&damaged)
                .arg("--input")
                .arg(&wine)
                .arg("--output")
                .arg(tmp.path().join("t.parquet")),
        );
        assert!(err.contains(needle), "{name}: {err}");
    }
}

#[test]
fn alpha_and_memory_are_checked_at_validate() {
    let tmp = tempfile::tempdir().unwrap();
    let wine = root().join("sample-data/wine.csv");
    let validate = |step: &str, extra: &str| {
        let yaml = format!(
            "name: kpca\ninput: {{ path: {}, features: {{ exclude: [target] }} }}\n\
             steps:\n  - kernel_pca: {step}\noutput: {{ dir: {} }}\n{extra}",
            wine.display(),
            tmp.path().join("out").display()
        );
        let file = pipeline(tmp.path(), &yaml);
        dimred().arg("validate").arg(&file).assert()
    };
    for alpha in ["0", "-1"] {
        let step = format!("{{ n_components: 2, fit_inverse_transform: true, alpha: {alpha} }}");
        let err =
            String::from_utf8_lossy(&validate(&step, "").code(2).get_output().stderr).to_string();
        assert!(
            err.contains(&format!(
                "kernel_pca.alpha: must be a positive number, not {alpha}"
            )),
            "{err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    // 6,000 landmarks (the CSV's rows are not known before the fit): the map alone fits
    // in 2 GiB, its 6,000 × 6,000 pre-image system does not
    let step = "{ n_components: 2, kernel: rbf, landmarks: 6000 }";
    validate(step, "memory_limit: 2GiB\n").success();
    let step = "{ n_components: 2, kernel: rbf, landmarks: 6000, fit_inverse_transform: true }";
    let err = String::from_utf8_lossy(
        &validate(step, "memory_limit: 2GiB\n")
            .code(2)
            .get_output()
            .stderr,
    )
    .to_string();
    assert!(err.contains("memory_limit = 2"), "{err}");
    assert!(
        err.contains("the kernel_pca step's fit holds most")
            && err.contains("fit_inverse_transform solves a 6000 × 6000 system"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // and what needs the map is accepted with it
    let step = "{ n_components: 2, kernel: rbf, fit_inverse_transform: true }";
    validate(step, "report: { image_shape: [1, 13] }\n").success();
}
