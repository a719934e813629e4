//! The `lda` step end to end: scikit-learn's `LinearDiscriminantAnalysis` numbers on wine
//! and digits (tests/reference/lda.json, made by make_lda_reference.py), for both solvers
//! and shrinkage; the same rows whatever the chunk size and from `transform`; its errors.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::common::*;

fn reference(case: &str) -> Value {
    json(&root().join("tests/reference/lda.json"))["cases"][case].clone()
}

/// The step's YAML for a reference case's options.
fn step_yaml(case: &Value) -> String {
    let options = case["options"].as_object().unwrap();
    let mut keys = vec![format!("label: {}", case["label"].as_str().unwrap())];
    for (k, v) in options {
        keys.push(format!(
            "{k}: {}",
            v.as_str().map_or(v.to_string(), String::from)
        ));
    }
    format!("{{ {} }}", keys.join(", "))
}

fn run_case(dir: &Path, case: &Value, batch_rows: usize) -> PathBuf {
    let label = case["label"].as_str().unwrap();
    let out = dir.join(format!("out-{batch_rows}"));
    let yaml = format!(
        "name: lda\ninput: {{ path: {}, features: {{ exclude: [{label}] }}, passthrough: [{label}], batch_rows: {batch_rows} }}\n\
         steps:\n  - lda: {}\noutput: {{ dir: {} }}\n",
        root()
            .join("sample-data")
            .join(case["data"].as_str().unwrap())
            .display(),
        step_yaml(case),
        out.display()
    );
    let file = dir.join(format!("lda-{batch_rows}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    dimred().arg("run").arg(&file).arg("-q").assert().success();
    out
}

fn ld_columns(path: &Path) -> Vec<Vec<f64>> {
    parquet_columns(path)
        .into_iter()
        .filter(|(n, _)| n.starts_with("ld"))
        .map(|(_, v)| v)
        .collect()
}

fn check_case(name: &str) {
    let case = reference(name);
    let tmp = tempfile::tempdir().unwrap();
    let out = run_case(tmp.path(), &case, 8192);
    let expected = matrix(&case["transformed"]);
    let got = ld_columns(&out.join("reduced.parquet"));
    let k = expected[0].len();
    assert_eq!(got.len(), k, "{name}: components");
    // relative to the largest value of the whole output: a discriminant along features
    // that are constant (digits' blank pixels) is rounding noise in both
    let want: Vec<f64> = (0..k)
        .flat_map(|q| expected.iter().map(move |r| r[q]))
        .collect();
    let have: Vec<f64> = got.iter().flatten().copied().collect();
    assert_vec_close(&have, &want, 1e-8, &format!("{name} transformed"));
    let model = json(&out.join("model.json"));
    let lda = &model["lda"];
    assert_eq!(model["steps"], serde_json::json!(["scale", "lda"]));
    assert_eq!(lda["classes_"], case["classes_"]);
    assert_vec_close(
        &floats(&lda["priors_"]),
        &floats(&case["priors_"]),
        1e-14,
        "priors_",
    );
    assert_vec_close(
        &floats(&lda["explained_variance_ratio_"]),
        &floats(&case["explained_variance_ratio_"]),
        1e-8,
        "explained_variance_ratio_",
    );
    if !case["xbar_"].is_null() {
        assert_vec_close(
            &floats(&lda["xbar_"]),
            &floats(&case["xbar_"]),
            1e-12,
            "xbar_",
        );
    }
    let report = json(&out.join("report.json"));
    assert_eq!(report["lda"]["n_components"], k);

    // small chunks give the same numbers; transform on the saved model too
    let small = run_case(tmp.path(), &case, 13);
    let small: Vec<f64> = ld_columns(&small.join("reduced.parquet"))
        .into_iter()
        .flatten()
        .collect();
    assert_vec_close(&small, &have, 1e-10, &format!("{name} with 13-row chunks"));
    let again = tmp.path().join("again.parquet");
    transform(
        &out.join("model.json"),
        root()
            .join("sample-data")
            .join(case["data"].as_str().unwrap()),
        &again,
        false,
    );
    assert_eq!(ld_columns(&again), got, "{name}: transform");
}

#[test]
fn wine_svd_equals_sklearn() {
    check_case("wine_svd");
    check_case("wine_svd_1");
}

#[test]
fn wine_eigen_equals_sklearn_with_and_without_shrinkage() {
    check_case("wine_eigen");
    check_case("wine_eigen_shrunk");
}

#[test]
fn digits_equal_sklearn() {
    check_case("digits_svd");
    check_case("digits_eigen_shrunk");
}

/// `dimred run` fails with `code` and one line holding every needle.
fn fails(dir: &Path, csv: &str, lda: &str, code: i32, needles: &[&str]) {
    let data = dir.join("data.csv");
    std::fs::write(&data, csv).unwrap();
    let yaml = format!(
        "name: bad-lda\ninput: {{ path: {}, features: {{ exclude: [y] }} }}\nsteps:\n  - lda: {lda}\noutput: {{ dir: {} }}\n",
        data.display(),
        dir.join("out").display()
    );
    let file = pipeline(dir, &yaml);
    let assert = dimred().arg("run").arg(&file).arg("-q").assert().code(code);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    for n in needles {
        assert!(err.contains(n), "missing '{n}' in: {err}");
    }
    assert!(!dir.join("out/model.json").exists());
}

#[test]
fn bad_labels_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let rows = "a,b,y\n1,2,p\n2,1,p\n3,5,q\n4,4,q\n5,1,r\n6,3,r\n";
    fails(
        d,
        "a,b,y\n1,2,p\n2,3,p\n4,1,p\n",
        "{ label: y }",
        3,
        &["one class", "'y'"],
    );
    fails(
        d,
        "a,b,y\n1,2,p\n2,3,p\n4,1,q\n",
        "{ label: y }",
        3,
        &["class 'q'", "1 row"],
    );
    fails(
        d,
        "a,b,y\n1,2,p\n2,3,\n4,1,q\n5,5,q\n",
        "{ label: y }",
        3,
        &["missing value", "data row 2"],
    );
    fails(
        d,
        "a,b,y\n1,2,p\n2,1,p\n3,5,q\n4,4,q\n",
        "{ label: y, n_components: 2 }",
        2,
        &[
            "lda.n_components",
            "min(classes − 1, features) = 1",
            "2 classes",
        ],
    );
    fails(
        d,
        rows,
        "{ label: z }",
        2,
        &["lda.label", "'z' does not exist"],
    );
    fails(d, rows, "{ label: a }", 2, &["lda.label", "is a feature"]);
    fails(
        d,
        rows,
        "{ label: y, shrinkage: 0.5 }",
        2,
        &["lda.shrinkage", "solver: eigen"],
    );
    fails(
        d,
        "a,b,y\n1,2,p\n1,1,p\n1,5,q\n1,4,q\n",
        "{ label: y, solver: eigen }",
        5,
        &["singular"],
    );
}

/// An Int64 or text column of a Parquet file, as text.
fn class_column(path: &Path, name: &str) -> Vec<String> {
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
        let column = batch
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name}"));
        match column.data_type() {
            arrow_schema::DataType::Int64 => out.extend(
                column
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .map(|v| v.to_string()),
            ),
            arrow_schema::DataType::Utf8 => out.extend(
                column
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.unwrap().to_string()),
            ),
            other => panic!("{name} is {other}"),
        }
    }
    out
}

/// A classifier case: `predict: true` gives scikit-learn's predict and predict_proba
/// (1e-8) in reduced.parquet and from `transform`, and its coef_ and intercept_ in
/// model.json and model.npz's names.
fn check_predict(name: &str) {
    let mut case = reference(name);
    assert_eq!(case["predict"], true, "{name} is a classifier case");
    case["options"]["predict"] = Value::Bool(true);
    let tmp = tempfile::tempdir().unwrap();
    let out = run_case(tmp.path(), &case, 50);
    let reduced = out.join("reduced.parquet");
    let label = case["label"].as_str().unwrap();
    let classes: Vec<String> = case["classes_"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let k = case["transformed"][0].as_array().unwrap().len();
    // after the passthrough label: ld1…ldk, predicted_<label>, proba_<class>…
    let mut want_names = vec![label.to_string()];
    want_names.extend((1..=k).map(|i| format!("ld{i}")));
    want_names.push(format!("predicted_{label}"));
    want_names.extend(classes.iter().map(|c| format!("proba_{c}")));
    assert_eq!(
        parquet_column_names(&reduced),
        want_names,
        "{name}: columns"
    );

    let predicted: Vec<String> = case["predicted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let got = class_column(&reduced, &format!("predicted_{label}"));
    assert_eq!(got, predicted, "{name}: predict");
    let columns = parquet_columns(&reduced);
    let proba = |cols: &[(String, Vec<f64>)]| -> Vec<f64> {
        classes
            .iter()
            .flat_map(|c| {
                cols.iter()
                    .find(|(n, _)| *n == format!("proba_{c}"))
                    .unwrap()
                    .1
                    .clone()
            })
            .collect()
    };
    let want = matrix(&case["proba"]);
    let want: Vec<f64> = (0..classes.len())
        .flat_map(|c| want.iter().map(move |r| r[c]))
        .collect();
    let have = proba(&columns);
    let worst = have
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-8, "{name}: predict_proba off by {worst:e}");

    let model = json(&out.join("model.json"));
    let lda = &model["lda"];
    assert_eq!(lda["predict"], true);
    let coef: Vec<f64> = matrix(&lda["coef_"]).concat();
    let want_coef: Vec<f64> = matrix(&case["coef_"]).concat();
    assert_vec_close(&coef, &want_coef, 1e-8, &format!("{name} coef_"));
    assert_vec_close(
        &floats(&lda["intercept_"]),
        &floats(&case["intercept_"]),
        1e-8,
        &format!("{name} intercept_"),
    );
    assert_vec_close(
        &floats(&lda["priors_"]),
        &floats(&case["priors_"]),
        1e-14,
        &format!("{name} priors_"),
    );
    // model.npz names them too (a zip's entry names are stored as written)
    let npz = std::fs::read(out.join("model.npz")).unwrap();
    for entry in ["lda.coef_.npy", "lda.intercept_.npy"] {
        assert!(
            npz.windows(entry.len()).any(|w| w == entry.as_bytes()),
            "{name}: model.npz lacks {entry}"
        );
    }
    let header = &model["output_columns"];
    assert_eq!(header.as_array().unwrap().len(), want_names.len() - 1);

    // transform on the saved model writes the same columns and values
    let again = tmp.path().join("again.parquet");
    transform(
        &out.join("model.json"),
        root()
            .join("sample-data")
            .join(case["data"].as_str().unwrap()),
        &again,
        false,
    );
    assert_eq!(
        class_column(&again, &format!("predicted_{label}")),
        predicted,
        "{name}: transform's predict"
    );
    assert_eq!(
        proba(&parquet_columns(&again)),
        have,
        "{name}: transform's proba"
    );
}

#[test]
fn predict_equals_sklearn_on_wine() {
    check_predict("wine_svd");
    check_predict("wine_eigen");
    check_predict("wine_eigen_shrunk");
}

#[test]
fn predict_equals_sklearn_on_digits() {
    check_predict("digits_svd");
    check_predict("digits_eigen");
    check_predict("digits_eigen_shrunk");
}

#[test]
fn priors_by_class_equal_sklearns() {
    check_case("wine_svd_priors");
    check_predict("wine_svd_priors");
    check_predict("wine_eigen_priors");
}

#[test]
fn shrinkage_auto_equals_ledoit_wolf() {
    check_case("wine_eigen_auto");
    check_predict("wine_eigen_auto");
    check_case("digits_eigen_auto");
    check_predict("digits_eigen_auto");
}

/// `dimred validate` refuses with exit 2 and one line holding every needle.
fn refused_at_validate(dir: &Path, csv: &str, steps: &str, needles: &[&str]) {
    let data = dir.join("data.csv");
    std::fs::write(&data, csv).unwrap();
    let yaml = format!(
        "name: bad-lda\ninput: {{ path: {}, features: {{ exclude: [y] }} }}\nsteps:\n{steps}output: {{ dir: {} }}\n",
        data.display(),
        dir.join("out").display()
    );
    let file = pipeline(dir, &yaml);
    let assert = dimred().arg("validate").arg(&file).assert().code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    for n in needles {
        assert!(err.contains(n), "missing '{n}' in: {err}");
    }
}

#[test]
fn bad_classifier_options_are_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let rows = "a,b,y\n1,2,p\n2,1,p\n3,5,q\n4,4,q\n5,1,r\n6,3,r\n";
    refused_at_validate(
        d,
        rows,
        "  - lda: { label: y, priors: { p: 0.5, q: 0.4, r: 0.3 } }\n",
        &["lda.priors", "sum to 1.2", "not 1"],
    );
    refused_at_validate(
        d,
        rows,
        "  - lda: { label: y, priors: [0.5, -0.1, 0.6] }\n",
        &["lda.priors", "positive"],
    );
    refused_at_validate(
        d,
        rows,
        "  - lda: { label: y, solver: eigen, shrinkage: 1.5 }\n",
        &["lda.shrinkage", "auto or a number in [0, 1]"],
    );
    refused_at_validate(
        d,
        rows,
        "  - lda: { label: y, shrinkage: auto }\n",
        &["lda.shrinkage", "solver: eigen"],
    );
    refused_at_validate(
        d,
        rows,
        "  - lda: { label: y, n_components: 1, predict: true }\n  - pca: { n_components: 1 }\n",
        &["lda.predict", "last step"],
    );
    // the classes are known once the data is read: `run` refuses, still exit 2
    fails(
        d,
        rows,
        "{ label: y, priors: { p: 0.5, q: 0.2, s: 0.3 } }",
        2,
        &["lda.priors", "class 's'", "p, q, r"],
    );
    fails(
        d,
        rows,
        "{ label: y, priors: [0.5, 0.5] }",
        2,
        &["lda.priors", "2 priors", "3 classes"],
    );
    refused_at_validate(
        d,
        "a,b,y\n1,2,0.5\n2,1,0.5\n3,5,1.25\n4,4,1.25\n5,1,2\n6,3,2\n",
        "  - lda: { label: y, predict: true }\n",
        &[
            "lda.predict",
            "continuous",
            "3 distinct in its first 6 rows",
            "0.5",
        ],
    );
}

/// Text classes: predicted_<label> is a text column of the class names.
#[test]
fn text_classes_are_predicted_as_text() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let data = d.join("data.csv");
    std::fs::write(
        &data,
        "a,b,y\n1,2,p\n2,1,p\n1.5,1.7,p\n8,9,q\n9,8,q\n8.5,8.2,q\n",
    )
    .unwrap();
    let yaml = format!(
        "name: text\ninput: {{ path: {}, features: {{ exclude: [y] }} }}\nsteps:\n  - lda: {{ label: y, predict: true }}\noutput: {{ dir: {} }}\n",
        data.display(),
        d.join("out").display()
    );
    let file = pipeline(d, &yaml);
    dimred().arg("run").arg(&file).arg("-q").assert().success();
    let reduced = d.join("out/reduced.parquet");
    assert_eq!(
        parquet_column_names(&reduced),
        ["ld1", "predicted_y", "proba_p", "proba_q"]
    );
    assert_eq!(
        class_column(&reduced, "predicted_y"),
        ["p", "p", "p", "q", "q", "q"]
    );
}

/// `report.evaluate` scores the pipeline's LDA classifier (`predict: true`) beside the
/// classifiers on its projection: an LDA fitted on the training rows' scaled features,
/// its accuracy on the held-out rows; without `predict` there is no such row.
#[test]
fn evaluate_scores_the_lda_classifier() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |predict: bool| {
        let out = tmp.path().join(format!("out-{predict}"));
        let yaml = format!(
            "name: wine\ninput: {{ path: {}, features: {{ exclude: [target] }}, passthrough: [target] }}\n\
             steps:\n  - scale: {{ method: standard }}\n  - lda: {{ label: target, predict: {predict} }}\n\
             output: {{ dir: {} }}\nreport:\n  evaluate: {{ label: target }}\n",
            root().join("sample-data/wine.csv").display(),
            out.display()
        );
        let file = tmp.path().join(format!("wine-{predict}.yaml"));
        std::fs::write(&file, yaml).unwrap();
        dimred().arg("run").arg(&file).arg("-q").assert().success();
        json(&out.join("report.json"))["evaluation"]["scores"].clone()
    };
    let with = run(true);
    let own: Vec<&Value> = with
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["model"] == "lda")
        .collect();
    assert_eq!(own.len(), 1, "{with}");
    assert_eq!(own[0]["features"], "scaled");
    assert_eq!(own[0]["dimensions"], 13);
    // wine's classes are linearly separable up to a few rows
    assert!(own[0]["test_accuracy"].as_f64().unwrap() > 0.9, "{with}");
    assert!(own[0]["train_accuracy"].as_f64().unwrap() > 0.95, "{with}");
    let without = run(false);
    assert!(
        without
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["model"] != "lda"),
        "{without}"
    );
}

/// report.evaluate's LDA score equals scikit-learn's `score` of an LDA fitted on the same
/// training rows of the standardised features (tests/reference/lda.json's `evaluate`).
#[test]
fn evaluate_lda_accuracy_equals_sklearn_on_the_same_split() {
    let all = json(&root().join("tests/reference/lda.json"))["evaluate"].clone();
    for (name, case) in all.as_object().unwrap() {
        let tmp = tempfile::tempdir().unwrap();
        let label = case["label"].as_str().unwrap();
        let out = tmp.path().join("out");
        let mut step = case.clone();
        step["options"]["predict"] = Value::Bool(true);
        let yaml = format!(
            "name: {name}\ninput: {{ path: {}, features: {{ exclude: [{label}] }} }}\n\
             steps:\n  - scale: {{ method: standard }}\n  - lda: {}\n\
             output: {{ dir: {} }}\nreport:\n  evaluate: {{ label: {label} }}\n",
            root()
                .join("sample-data")
                .join(case["data"].as_str().unwrap())
                .display(),
            step_yaml(&step),
            out.display()
        );
        let file = tmp.path().join("p.yaml");
        std::fs::write(&file, yaml).unwrap();
        dimred().arg("run").arg(&file).arg("-q").assert().success();
        let ev = json(&out.join("report.json"))["evaluation"].clone();
        assert_eq!(ev["train_rows"], case["train_rows"], "{name}: split");
        assert_eq!(ev["test_rows"], case["test_rows"], "{name}: split");
        let own = ev["scores"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["model"] == "lda")
            .unwrap_or_else(|| panic!("{name}: no lda score in {ev}"))
            .clone();
        for which in ["train_accuracy", "test_accuracy"] {
            let (got, want) = (own[which].as_f64().unwrap(), case[which].as_f64().unwrap());
            assert!(
                (got - want).abs() < 1e-12,
                "{name} {which}: {got} vs {want}"
            );
        }
    }
}
