//! ONNX export end to end, run by tract (a Rust ONNX runtime, so `cargo test` needs no
//! Python; `.ci/run` checks the same graphs with ONNX Runtime itself): every step kind's
//! graph gives reduced.parquet's numbers, float64 to 1e-10 and float32 to 1e-5, with the
//! reconstruction error and mean imputation; what cannot be exported is a clear error.

use std::path::{Path, PathBuf};

use tract_onnx::prelude::*;

use super::common::*;

/// The rows of a numeric CSV file (header skipped), empty cells as NaN.
fn csv_rows(path: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| {
            l.split(',')
                .map(|v| v.parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    (header, rows)
}

/// The graph's outputs by name, for `rows` fed as its `[N, p]` input of `dtype`.
pub(super) fn run_graph(path: &Path, rows: &[Vec<f64>], float32: bool) -> Vec<(String, Vec<f64>)> {
    let (n, p) = (rows.len(), rows[0].len());
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let (datum, input): (DatumType, Tensor) = if float32 {
        let v: Vec<f32> = flat.iter().map(|&x| x as f32).collect();
        (f32::datum_type(), Tensor::from_shape(&[n, p], &v).unwrap())
    } else {
        (
            f64::datum_type(),
            Tensor::from_shape(&[n, p], &flat).unwrap(),
        )
    };
    let model = tract_onnx::onnx()
        .model_for_path(path)
        .unwrap()
        .with_input_fact(0, InferenceFact::dt_shape(datum, tvec!(n, p)))
        .unwrap();
    let names: Vec<String> = model
        .output_outlets()
        .unwrap()
        .iter()
        .map(|o| model.outlet_label(*o).unwrap_or_default().to_string())
        .collect();
    let runnable = model.into_optimized().unwrap().into_runnable().unwrap();
    let outputs = runnable.run(tvec!(input.into())).unwrap();
    names
        .into_iter()
        .zip(outputs.iter())
        .map(|(name, t)| {
            let t = t.cast_to::<f64>().unwrap();
            (
                name,
                t.to_plain_array_view::<f64>()
                    .unwrap()
                    .iter()
                    .copied()
                    .collect(),
            )
        })
        .collect()
}

fn output<'a>(outputs: &'a [(String, Vec<f64>)], name: &str) -> &'a [f64] {
    &outputs
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no output {name}"))
        .1
}

/// Compares every column of reduced.parquet but the passthrough with the graph's
/// outputs: the column's own output, and its column of `reduced`; and the reconstruction
/// error when the graph has it (as it must `with_error`).
pub(super) fn assert_graph_matches(
    reduced: &Path,
    outputs: &[(String, Vec<f64>)],
    rtol: f64,
    with_error: bool,
) {
    let columns: Vec<(String, Vec<f64>)> = parquet_columns(reduced);
    let reduced_names: Vec<&(String, Vec<f64>)> = columns
        .iter()
        .filter(|(n, _)| n != "reconstruction_error")
        .collect();
    let k = reduced_names.len();
    let all = output(outputs, "reduced");
    for (j, (name, expected)) in reduced_names.iter().enumerate() {
        assert_vec_close(output(outputs, name), expected, rtol, name);
        let column: Vec<f64> = (0..expected.len()).map(|i| all[i * k + j]).collect();
        assert_vec_close(&column, expected, rtol, &format!("reduced[:, {j}]"));
    }
    let has_error = outputs.iter().any(|(n, _)| n == "reconstruction_error");
    assert_eq!(
        has_error, with_error,
        "the graph's reconstruction_error output"
    );
    if let Some((_, expected)) = columns
        .iter()
        .find(|(n, _)| n == "reconstruction_error" && has_error)
    {
        assert_vec_close(
            output(outputs, "reconstruction_error"),
            expected,
            rtol,
            "reconstruction_error",
        );
    }
}

fn run_with_onnx(dir: &Path, yaml: &str) -> PathBuf {
    let file = pipeline(dir, yaml);
    dimred().arg("run").arg(&file).arg("-q").assert().success();
    dir.join("out")
}

/// `dimred export --model OUT/model.json --onnx GRAPH ARGS…`, which must succeed.
pub(super) fn export(out: &Path, graph: &Path, args: &[&str]) {
    dimred()
        .args(["export", "--model"])
        .arg(out.join("model.json"))
        .arg("--onnx")
        .arg(graph)
        .args(args)
        .assert()
        .success();
}

fn breast_cancer() -> (Vec<String>, Vec<Vec<f64>>) {
    let (header, rows) = csv_rows(&root().join("sample-data/breast_cancer.csv"));
    // the last column is the target
    let p = header.len() - 1;
    (
        header[..p].to_vec(),
        rows.into_iter().map(|r| r[..p].to_vec()).collect(),
    )
}

#[test]
fn whitened_pca_with_its_error_runs_in_tract_as_reduced_parquet_says() {
    let tmp = tempfile::tempdir().unwrap();
    let data = root().join("sample-data/breast_cancer.csv");
    let out = run_with_onnx(
        tmp.path(),
        &format!(
            "name: onnx-pca\ninput: {{ path: {}, features: {{ exclude: [target] }}, passthrough: [target] }}\n\
             steps:\n  - scale: {{ method: standard }}\n  - pca: {{ n_components: 5, whiten: true }}\n\
             output: {{ dir: {}, reconstruction_error: true, onnx: true }}\n",
            data.display(),
            tmp.path().join("out").display()
        ),
    );
    let (_, rows) = breast_cancer();
    // run wrote a float64 graph without the error output
    let outputs = run_graph(&out.join("model.onnx"), &rows, false);
    assert_eq!(outputs.len(), 1 + 5);
    assert_graph_matches(&out.join("reduced.parquet"), &outputs, 1e-10, false);
    // export adds it on request, and a float32 graph holds to 1e-5
    let f64_graph = tmp.path().join("f64.onnx");
    let f32_graph = tmp.path().join("f32.onnx");
    for (path, dtype) in [(&f64_graph, "float64"), (&f32_graph, "float32")] {
        export(&out, path, &["--dtype", dtype, "--reconstruction-error"]);
    }
    let reduced = out.join("reduced.parquet");
    assert_graph_matches(&reduced, &run_graph(&f64_graph, &rows, false), 1e-10, true);
    assert_graph_matches(&reduced, &run_graph(&f32_graph, &rows, true), 1e-5, true);
}

#[test]
fn random_projection_error_comes_from_the_inverted_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let data = root().join("sample-data/breast_cancer.csv");
    let out = run_with_onnx(
        tmp.path(),
        &format!(
            "name: onnx-rp\ninput: {{ path: {}, features: {{ exclude: [target] }} }}\n\
             steps:\n  - scale: {{ method: minmax }}\n  - random_projection: {{ n_components: 12, seed: 3 }}\n\
             output: {{ dir: {}, reconstruction_error: true, onnx: true }}\n",
            data.display(),
            tmp.path().join("out").display()
        ),
    );
    let graph = tmp.path().join("rp.onnx");
    export(&out, &graph, &["--reconstruction-error"]);
    let (_, rows) = breast_cancer();
    assert_graph_matches(
        &out.join("reduced.parquet"),
        &run_graph(&graph, &rows, false),
        1e-10,
        true,
    );
}

#[test]
fn autoencoder_graph_gives_the_codes_of_its_f32_network() {
    let tmp = tempfile::tempdir().unwrap();
    let data = root().join("sample-data/digits.parquet");
    let out = run_with_onnx(
        tmp.path(),
        &format!(
            "name: onnx-ae\ninput: {{ path: {}, features: {{ regex: '^pixel_' }}, passthrough: [label] }}\n\
             steps:\n  - scale: {{ method: minmax }}\n  - autoencoder: {{ encoder: [16], latent: 3, \
             activation: selu, epochs: 2, seed: 1 }}\n\
             output: {{ dir: {}, reconstruction_error: true, onnx: true, onnx_dtype: float32 }}\n",
            data.display(),
            tmp.path().join("out").display()
        ),
    );
    let columns: Vec<Vec<f64>> = parquet_columns(&data)
        .into_iter()
        .filter(|(n, _)| n.starts_with("pixel_"))
        .map(|(_, v)| v)
        .collect();
    let rows: Vec<Vec<f64>> = (0..columns[0].len())
        .map(|i| columns.iter().map(|c| c[i]).collect())
        .collect();
    let graph = tmp.path().join("ae.onnx");
    export(&out, &graph, &["--reconstruction-error"]);
    // The network is f32 in dimred and in both graphs: its codes agree to f32 rounding.
    let reduced = out.join("reduced.parquet");
    assert_graph_matches(&reduced, &run_graph(&graph, &rows, false), 1e-5, true);
    assert_graph_matches(
        &reduced,
        &run_graph(&out.join("model.onnx"), &rows, true),
        1e-5,
        false,
    );
}

#[test]
fn imputed_values_are_imputed_in_the_graph_too() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("holes.csv");
    let mut text = String::from("a,b,c\n");
    for i in 0..40 {
        let x = i as f64;
        let a = if i % 7 == 3 {
            String::new()
        } else {
            format!("{}", x.sin() * 3.0)
        };
        let c = if i % 11 == 5 {
            "inf".to_string()
        } else {
            format!("{}", x * 0.5 - 4.0)
        };
        text.push_str(&format!("{a},{},{c}\n", (x * 0.3).cos() + x * 0.1));
    }
    std::fs::write(&csv, &text).unwrap();
    let out = run_with_onnx(
        tmp.path(),
        &format!(
            "name: onnx-impute\ninput: {{ path: {}, missing: impute_mean }}\n\
             steps:\n  - pca: {{ n_components: 2 }}\n\
             output: {{ dir: {}, onnx: true }}\n",
            csv.display(),
            tmp.path().join("out").display()
        ),
    );
    let (_, rows) = csv_rows(&csv);
    assert!(rows.iter().flatten().any(|v| v.is_nan()));
    assert!(rows.iter().flatten().any(|v| v.is_infinite()));
    let outputs = run_graph(&out.join("model.onnx"), &rows, false);
    assert!(outputs.iter().all(|(_, v)| v.iter().all(|x| x.is_finite())));
    assert_graph_matches(&out.join("reduced.parquet"), &outputs, 1e-10, false);
}

#[test]
fn export_errors_are_one_line_each() {
    let tmp = tempfile::tempdir().unwrap();
    let data = root().join("sample-data/breast_cancer.csv");
    let out = run_with_onnx(
        tmp.path(),
        &format!(
            "name: onnx-errors\ninput: {{ path: {}, features: {{ exclude: [target] }} }}\n\
             steps:\n  - pca: {{ n_components: 2 }}\n\
             output: {{ dir: {} }}\n",
            data.display(),
            tmp.path().join("out").display()
        ),
    );
    // run writes model.npz always, model.onnx only when asked
    assert!(out.join("model.npz").exists());
    assert!(!out.join("model.onnx").exists());
    let model = out.join("model.json");
    let cases: [(Vec<&str>, &str); 3] = [
        (vec![], "nothing to export"),
        (vec!["--onnx", "x.onnx", "--opset", "9"], "--opset 9"),
        (vec!["--onnx", "x.onnx", "--dtype", "float16"], "float16"),
    ];
    for (args, expected) in cases {
        let output = dimred()
            .current_dir(tmp.path())
            .args(["export", "--model"])
            .arg(&model)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!tmp.path().join("x.onnx").exists());
    }
    let output = dimred()
        .args(["export", "--model", "no/such/model.json", "--onnx"])
        .arg(tmp.path().join("y.onnx"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&output.stderr).lines().count(), 1);
}

/// Each kernel kind, with the keys the ONNX tests give it.
const EVERY_KERNEL: [&str; 5] = [
    "linear",
    "rbf",
    "cosine",
    "poly, gamma: 0.02, degree: 2",
    "sigmoid, gamma: 0.01",
];

#[test]
fn kernel_pca_graphs_compute_every_kernel() {
    let data = root().join("sample-data/breast_cancer.csv");
    let (_, rows) = breast_cancer();
    for kernel in EVERY_KERNEL {
        let tmp = tempfile::tempdir().unwrap();
        let out = run_with_onnx(
            tmp.path(),
            &format!(
                "name: onnx-kpca\ninput: {{ path: {}, features: {{ exclude: [target] }} }}\n\
                 steps:\n  - scale: {{ method: standard }}\n  - kernel_pca: {{ n_components: 3, landmarks: 100, kernel: {kernel} }}\n\
                 output: {{ dir: {}, onnx: true }}\n",
                data.display(),
                tmp.path().join("out").display()
            ),
        );
        let outputs = run_graph(&out.join("model.onnx"), &rows, false);
        assert_graph_matches(&out.join("reduced.parquet"), &outputs, 1e-10, false);
    }
}

/// With `fit_inverse_transform`, each kernel's graph rebuilds the rows through the
/// pre-image map (`k(z, X_transformed_fit_) @ dual_coef_`) and gives the run's
/// reconstruction error: float64 to 1e-10, float32 to 1e-5 (on wine, as
/// tests/onnx/check.py holds the example's float32 graph). Sigmoid's float32 graph is
/// left out: its forward map alone (K_mm^(−½) of an indefinite kernel) drifts by 1e-5.
#[test]
fn kernel_pca_inverse_graphs_give_the_reconstruction_error_for_every_kernel() {
    let data = root().join("sample-data/wine.csv");
    // the last column is the target
    let (_, rows) = csv_rows(&data);
    let rows: Vec<Vec<f64>> = rows
        .into_iter()
        .map(|r| r[..r.len() - 1].to_vec())
        .collect();
    for kernel in EVERY_KERNEL {
        let tmp = tempfile::tempdir().unwrap();
        let out = run_with_onnx(
            tmp.path(),
            &format!(
                "name: onnx-kpca-inverse\ninput: {{ path: {}, features: {{ exclude: [target] }} }}\n\
                 steps:\n  - scale: {{ method: standard }}\n  - kernel_pca: {{ n_components: 3, landmarks: 60, kernel: {kernel}, fit_inverse_transform: true }}\n\
                 output: {{ dir: {}, reconstruction_error: true, onnx: true }}\n",
                data.display(),
                tmp.path().join("out").display()
            ),
        );
        let reduced = out.join("reduced.parquet");
        for (dtype, float32, rtol) in [("float64", false, 1e-10), ("float32", true, 1e-5)] {
            if float32 && kernel.starts_with("sigmoid") {
                continue;
            }
            let graph = tmp.path().join(format!("{dtype}.onnx"));
            export(&out, &graph, &["--dtype", dtype, "--reconstruction-error"]);
            let outputs = run_graph(&graph, &rows, float32);
            assert_graph_matches(&reduced, &outputs, rtol, true);
        }
    }
}
