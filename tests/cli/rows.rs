//! The row steps (`filter`, `derive`) end to end: the rows kept and the model equal Python
//! polars run on the whole file at once followed by scikit-learn (tests/reference/rows.json,
//! made by make_rows_reference.py); the same model whatever the chunk size and from CSV or
//! Parquet; `transform` applies them to new data; expressions that are not row-local, name
//! no column or keep no row are refused in plain words; NaN and inf an expression makes
//! follow `input.missing`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use serde_json::Value;

use super::common::*;

fn reference() -> Value {
    json(&root().join("tests/reference/rows.json"))
}

/// Runs the example pipeline with `batch_rows` into `dir/out-N`.
fn run_example(dir: &Path, batch_rows: usize) -> PathBuf {
    let out = dir.join(format!("out-{batch_rows}"));
    dimred()
        .arg("run")
        .arg(root().join("pipelines/breast_cancer_filter.yaml"))
        .arg("-q")
        .arg("--set")
        .arg(format!("output.dir={}", out.display()))
        .arg("--set")
        .arg(format!("input.batch_rows={batch_rows}"))
        .current_dir(root())
        .assert()
        .success();
    out
}

#[test]
fn filter_and_derive_match_polars_and_scikit_learn() {
    let r = reference();
    let tmp = tempfile::tempdir().unwrap();
    let out = run_example(tmp.path(), 50);
    let model = json(&out.join("model.json"));
    let names: Vec<&str> = model["feature_names_in_"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let want: Vec<&str> = r["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(names, want);
    assert_eq!(
        model["n_samples_seen_"],
        r["rows_kept"].as_array().unwrap().len()
    );
    assert_rel(
        &floats(&model["mean_"]),
        &floats(&r["mean_"]),
        1e-12,
        "mean_",
    );
    assert_rel(
        &floats(&model["scale_"]),
        &floats(&r["scale_"]),
        1e-12,
        "scale_",
    );
    assert_rel(
        &floats(&model["explained_variance_"]),
        &floats(&r["explained_variance_"]),
        1e-10,
        "explained_variance_",
    );
    let got = matrix(&model["components_"]);
    let expected = matrix(&r["components_"]);
    assert_eq!(got.len(), expected.len());
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_vec_close(g, e, 1e-9, &format!("component {i}"));
    }
    // report.json counts the filter's rows; the output holds the kept rows in file order
    let report = json(&out.join("report.json"));
    let filters = report["filters"].as_array().unwrap();
    assert_eq!(filters.len(), 1);
    assert_eq!(filters[0]["rows_in"], 569);
    assert_eq!(
        filters[0]["rows_out"],
        r["rows_kept"].as_array().unwrap().len()
    );
    assert_eq!(filters[0]["filter"], r["filter"]);
    assert_eq!(report["rows_skipped"], 0);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("kept 352 of 569 rows"),
        "report.html names the filter's rows"
    );
    let reduced = parquet_columns(&out.join("reduced.parquet"));
    let target = int_column(&out.join("reduced.parquet"), "target");
    let csv = std::fs::read_to_string(root().join("sample-data/breast_cancer.csv")).unwrap();
    let all_targets: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    let kept: Vec<f64> = r["rows_kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| all_targets[i.as_u64().unwrap() as usize])
        .collect();
    assert_eq!(target, kept);
    // model.json keeps the row steps, so `transform` gives the same rows on the same file
    assert_eq!(model["row_steps"][0]["filter"], r["filter"]);
    let again = tmp.path().join("again.parquet");
    dimred()
        .arg("transform")
        .arg("--model")
        .arg(out.join("model.json"))
        .arg("--input")
        .arg(root().join("sample-data/breast_cancer.csv"))
        .arg("--output")
        .arg(&again)
        .arg("-q")
        .assert()
        .success();
    let transformed = parquet_columns(&again);
    assert_eq!(transformed.len(), reduced.len());
    for ((n1, a), (n2, b)) in transformed.iter().zip(&reduced) {
        assert_eq!(n1, n2);
        assert_vec_close(a, b, 1e-12, n1);
    }
}

/// An integer column of a Parquet file, as f64.
fn int_column(path: &Path, name: &str) -> Vec<f64> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let column = batch.column_by_name(name).unwrap();
        out.extend(
            column
                .as_primitive::<Int64Type>()
                .values()
                .iter()
                .map(|&v| v as f64),
        );
    }
    out
}

#[test]
fn the_model_does_not_depend_on_the_chunk_size_or_the_format() {
    let tmp = tempfile::tempdir().unwrap();
    let small = json(&run_example(tmp.path(), 7).join("model.json"));
    let large = json(&run_example(tmp.path(), 8192).join("model.json"));
    assert_eq!(small["n_samples_seen_"], large["n_samples_seen_"]);
    for key in ["mean_", "scale_", "explained_variance_"] {
        assert_vec_close(&floats(&small[key]), &floats(&large[key]), 1e-12, key);
    }
    // digits from CSV and from Parquet through the same steps
    let fit = |data: &str, name: &str| {
        let out = tmp.path().join(name);
        let text = format!(
            "name: digits-rows\ninput: {{ path: {}, features: {{ exclude: [label] }}, batch_rows: 100 }}\n\
             steps:\n  - filter: \"label IN (1, 7) AND pixel_2_2 + pixel_2_5 >= 8\"\n  \
             - derive: {{ ink: \"pixel_3_3 + pixel_3_4 + pixel_4_3 + pixel_4_4\", ratio: \"(pixel_2_2 + 1) / (pixel_5_5 + 1)\" }}\n  \
             - pca: {{ n_components: 5 }}\noutput: {{ dir: {} }}\n",
            root().join("sample-data").join(data).display(),
            out.display()
        );
        let file = tmp.path().join(format!("{name}.yaml"));
        std::fs::write(&file, text).unwrap();
        dimred().arg("run").arg(&file).arg("-q").assert().success();
        json(&out.join("model.json"))
    };
    let from_csv = fit("digits.csv", "csv");
    let from_parquet = fit("digits.parquet", "parquet");
    assert_eq!(from_csv["n_samples_seen_"], from_parquet["n_samples_seen_"]);
    let kept = from_csv["n_samples_seen_"].as_u64().unwrap();
    assert!(kept > 50 && kept < 1797 / 4, "{kept} rows kept");
    for key in ["mean_", "explained_variance_"] {
        assert_vec_close(
            &floats(&from_csv[key]),
            &floats(&from_parquet[key]),
            1e-12,
            key,
        );
    }
    let names = from_csv["feature_names_in_"].as_array().unwrap();
    assert_eq!(names[names.len() - 2], "ink");
    assert_eq!(names[names.len() - 1], "ratio");
}

/// A pipeline on `data` with `steps` (YAML lines, each starting `  - `).
fn write(dir: &Path, data: &Path, features: &str, steps: &str, extra: &str) -> PathBuf {
    pipeline(
        dir,
        &format!(
            "name: rows\ninput:\n  path: {}\n  features: {features}\n{extra}steps:\n{steps}\n  - pca: {{ n_components: 1 }}\noutput: {{ dir: {} }}\n",
            data.display(),
            dir.join("out").display()
        ),
    )
}

fn small_csv(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("d.csv");
    std::fs::write(&path, format!("pt,eta,energy,kind\n{body}")).unwrap();
    path
}

const BODY: &str =
    "25,0.5,10,mu\n30,1.5,20,e\n15,0.2,30,mu\n40,-2.0,40,mu\n22,3.0,50,e\n50,1.0,60,mu\n";

#[test]
fn expressions_that_are_not_row_local_are_refused_where_written() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_csv(tmp.path(), BODY);
    for (step, line, part) in [
        ("  - filter: \"pt > AVG(pt)\"", 6, "AVG(pt)"),
        ("  - derive: { rel: \"pt / SUM(pt)\" }", 6, "SUM(pt)"),
        (
            "  - filter: \"pt - LAG(pt) OVER (ORDER BY eta) > 0\"",
            6,
            "OVER",
        ),
        (
            "  - filter: \"pt > (SELECT MAX(pt) FROM data)\"",
            6,
            "SELECT",
        ),
        ("  - filter: \"pt > 20 ORDER BY pt\"", 6, "ORDER"),
        ("  - filter: \"pt >\"", 6, "cannot read"),
        ("  - filter: \"ptt > 20\"", 6, "'ptt'"),
        ("  - filter: \"pt + 1\"", 6, "not a condition"),
        ("  - derive: { pt: \"eta * 2\" }", 6, "exists already"),
        ("  - filter: \"frobnicate(pt) > 1\"", 6, "frobnicate"),
    ] {
        let file = write(tmp.path(), &data, "{ exclude: [kind] }", step, "");
        let assert = dimred().arg("validate").arg(&file).assert().code(2);
        let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert_eq!(err.trim().lines().count(), 1, "{step}: {err}");
        assert!(err.contains(part), "{step}: {err}");
        assert!(
            err.contains(&format!("{}:{line}:", file.display())),
            "{step}: the message names the file, line and column: {err}"
        );
        assert!(!tmp.path().join("out").exists());
    }
    // a row step after a fitted one
    let file = pipeline(
        tmp.path(),
        &format!(
            "name: rows\ninput: {{ path: {}, features: {{ exclude: [kind] }} }}\nsteps:\n  - scale: {{}}\n  - filter: \"pt > 20\"\n  - pca: {{ n_components: 1 }}\noutput: {{ dir: {} }}\n",
            data.display(),
            tmp.path().join("out").display()
        ),
    );
    let assert = dimred().arg("validate").arg(&file).assert().code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        err.contains("filter must come before the fitted steps"),
        "{err}"
    );
}

#[test]
fn validate_prints_the_derived_columns_and_their_types() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_csv(tmp.path(), BODY);
    let file = write(
        tmp.path(),
        &data,
        "{ exclude: [kind] }",
        "  - filter: \"kind = 'mu' AND abs(eta) < 2.5\"\n  - derive: { log_e: \"ln(energy)\", central: \"abs(eta) < 1\" }",
        "  passthrough: [kind]\n",
    );
    // `central` is boolean, not a number: `exclude` leaves it out (only numeric derived
    // columns are taken, as docs/steps.md says), and a feature named must be numeric
    let assert = dimred().arg("validate").arg(&file).assert().success();
    let out = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(out.contains("4 features, 1 passthrough"), "{out}");
    let named = write(
        tmp.path(),
        &data,
        "{ include: [pt, eta, log_e, central] }",
        "  - filter: \"kind = 'mu' AND abs(eta) < 2.5\"\n  - derive: { log_e: \"ln(energy)\", central: \"abs(eta) < 1\" }",
        "  passthrough: [kind]\n",
    );
    let assert = dimred().arg("validate").arg(&named).assert().code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(err.contains("'central' is boolean"), "{err}");
    let file = write(
        tmp.path(),
        &data,
        "{ exclude: [kind, central] }",
        "  - filter: \"kind = 'mu' AND abs(eta) < 1.8\"\n  - derive: { log_e: \"ln(energy)\", central: \"abs(eta) < 1\" }",
        "  passthrough: [kind, central]\n",
    );
    let assert = dimred().arg("validate").arg(&file).assert().success();
    let out = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(out.contains("4 features, 2 passthrough"), "{out}");
    assert!(
        out.contains("derived: log_e (f64 (float)), central (boolean)"),
        "{out}"
    );
    assert!(
        out.contains("filter: steps[0] keeps rows where kind = 'mu'"),
        "{out}"
    );
    // and it runs: 4 rows are muons, 3 of them within |eta| < 1.8
    dimred().arg("run").arg(&file).arg("-q").assert().success();
    let reduced = parquet_columns(&tmp.path().join("out/reduced.parquet"));
    assert_eq!(reduced[0].1.len(), 3);
    let report = json(&tmp.path().join("out/report.json"));
    assert_eq!(report["filters"][0]["rows_out"], 3);
    assert_eq!(report["rows_read"], 6);
}

#[test]
fn a_filter_that_keeps_no_row_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_csv(tmp.path(), BODY);
    let file = write(
        tmp.path(),
        &data,
        "{ exclude: [kind] }",
        "  - filter: \"pt > 1000\"",
        "",
    );
    let assert = dimred().arg("run").arg(&file).arg("-q").assert().code(3);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("steps[0].filter 'pt > 1000' kept none of the 6 rows"),
        "{err}"
    );
    assert!(!tmp.path().join("out/model.json").exists());
}

#[test]
fn nan_and_inf_from_an_expression_follow_input_missing() {
    let tmp = tempfile::tempdir().unwrap();
    // ln(0) is -inf in row 3; sqrt(-1) is NaN in row 5
    let data = small_csv(
        tmp.path(),
        "25,0.5,10,mu\n30,1.5,20,e\n15,0.2,0,mu\n40,-2.0,40,mu\n22,3.0,-1,e\n50,1.0,60,mu\n61,1.1,70,mu\n",
    );
    let steps = "  - derive: { log_e: \"ln(energy)\", root_e: \"sqrt(energy)\" }";
    let features = "{ include: [pt, eta, log_e, root_e] }";
    let file = write(tmp.path(), &data, features, steps, "");
    let assert = dimred().arg("run").arg(&file).arg("-q").assert().code(3);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        err.contains("row 3") && err.contains("column 'log_e'") && err.contains("infinite"),
        "{err}"
    );
    let file = write(tmp.path(), &data, features, steps, "  missing: skip_row\n");
    dimred().arg("run").arg(&file).arg("-q").assert().success();
    let report = json(&tmp.path().join("out/report.json"));
    assert_eq!(report["rows_skipped"], 2);
    assert_eq!(report["n_samples"], 5);
    let file = write(
        tmp.path(),
        &data,
        features,
        steps,
        "  missing: impute_mean\n",
    );
    dimred().arg("run").arg(&file).arg("-q").assert().success();
    let model = json(&tmp.path().join("out/model.json"));
    let mean = floats(&model["mean_"]);
    // the mean of ln(energy) over the rows where it is finite
    let finite: Vec<f64> = [10.0f64, 20.0, 40.0, 60.0, 70.0]
        .iter()
        .map(|e| e.ln())
        .collect();
    let want = finite.iter().sum::<f64>() / finite.len() as f64;
    assert!((mean[2] - want).abs() < 1e-12, "{} vs {want}", mean[2]);
    assert!(model.to_string().find("NaN").is_none());
}

#[test]
fn text_columns_filter_in_parquet_as_in_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = small_csv(tmp.path(), BODY);
    let rows: Vec<Vec<&str>> = BODY.lines().map(|l| l.split(',').collect()).collect();
    let number = |j: usize| -> ArrayRef {
        Arc::new(Float64Array::from(
            rows.iter()
                .map(|r| r[j].parse::<f64>().unwrap())
                .collect::<Vec<_>>(),
        ))
    };
    let batch = RecordBatch::try_from_iter(vec![
        ("pt", number(0)),
        ("eta", number(1)),
        ("energy", number(2)),
        (
            "kind",
            Arc::new(StringArray::from(
                rows.iter().map(|r| r[3]).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
    ])
    .unwrap();
    let parquet = tmp.path().join("d.parquet");
    write_parquet(&parquet, &batch);
    let steps = "  - filter: \"kind = 'mu'\"\n  - derive: { pt_e: \"pt / energy\" }";
    let mut models = Vec::new();
    for data in [&csv, &parquet] {
        let file = write(tmp.path(), data, "{ exclude: [kind] }", steps, "");
        dimred().arg("run").arg(&file).arg("-q").assert().success();
        models.push(json(&tmp.path().join("out/model.json")));
        let report = json(&tmp.path().join("out/report.json"));
        assert_eq!(report["filters"][0]["rows_out"], 4);
    }
    assert_vec_close(
        &floats(&models[0]["mean_"]),
        &floats(&models[1]["mean_"]),
        1e-14,
        "mean_",
    );
    // pt / energy of the muons: 25/10, 15/30, 40/40, 50/60
    let want = (2.5 + 0.5 + 1.0 + 50.0 / 60.0) / 4.0;
    assert!((floats(&models[1]["mean_"])[3] - want).abs() < 1e-12);
}
