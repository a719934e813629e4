//! Guard rails, round two (issue 26): messages are one plain line wherever they come from
//! (the YAML parser, clap, a saved state), loaded models are checked like inputs, labels
//! follow `input.missing`, a CSV column's type does not depend on `batch_rows`, deep
//! expressions are refused, and what the pipeline and the metadata decide is decided at
//! `validate`. The output folder's whole-set publication is in guard_rails.rs.

use std::path::Path;

use super::common::*;

/// stderr of a command that must fail with `code`, checked to be one plain line.
fn refused(cmd: &mut assert_cmd::Command, code: i32) -> String {
    let assert = cmd.assert().code(code);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    if let Some(problem) = message_problem(&err, &[]) {
        panic!("{problem}");
    }
    err
}

fn breast_cancer(out: &Path, extra: &str) -> String {
    format!(
        "name: bc\ninput:\n  path: {}\n  features: {{ exclude: [target] }}\n  passthrough: [target]\n{extra}steps:\n  - scale: {{ method: standard }}\n  - pca: {{ n_components: 3 }}\noutput:\n  dir: {}\n",
        root().join("sample-data/breast_cancer.csv").display(),
        out.display()
    )
}

#[test]
fn empty_yaml_values_name_their_key_in_plain_words() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let base = breast_cancer(&out, "");
    for (yaml, key) in [
        (base.replace("name: bc", "name:"), "name"),
        (
            base.replacen(
                &format!(
                    "path: {}",
                    root().join("sample-data/breast_cancer.csv").display()
                ),
                "path:",
                1,
            ),
            "path",
        ),
        (
            base.replace("steps:\n", "steps:\n  - derive: { q: }\n"),
            "q",
        ),
    ] {
        let file = pipeline(tmp.path(), &yaml);
        let err = refused(dimred().arg("validate").arg(&file), 2);
        assert!(err.contains("pipeline.yaml:"), "{err}");
        assert!(err.contains(&format!("{key}: the value is empty")), "{err}");
    }
}

#[test]
fn command_line_errors_are_one_line_and_name_the_option() {
    let tmp = tempfile::tempdir().unwrap();
    let file = pipeline(tmp.path(), &breast_cancer(&tmp.path().join("out"), ""));
    let spaced = refused(dimred().arg("run").arg(&file).args(["--shard", "-1/2"]), 2);
    let joined = refused(dimred().arg("run").arg(&file).arg("--shard=-1/2"), 2);
    assert_eq!(spaced, joined);
    assert!(spaced.contains("--shard -1/2"), "{spaced}");
    let err = refused(
        dimred().args(["export", "--model", "m.json", "--opset", "abc"]),
        2,
    );
    assert!(
        err.contains("--opset abc: expected a whole number"),
        "{err}"
    );
    let err = refused(
        dimred().args(["export", "--model", "m.json", "--dtype", "float16"]),
        2,
    );
    assert!(
        err.contains("--dtype float16: expected one of float32, float64"),
        "{err}"
    );
    let err = refused(dimred().arg("run").arg(&file).arg("--sett"), 2);
    assert!(err.contains("--sett"), "{err}");
    let err = refused(dimred().args(["transform", "--model", "m.json"]), 2);
    assert!(err.contains("--input") && err.contains("--output"), "{err}");
    // --memory-limit is named as written, not as the override it becomes
    let err = refused(
        dimred()
            .arg("validate")
            .arg(&file)
            .args(["--memory-limit", "0"]),
        2,
    );
    assert!(err.contains("--memory-limit 0"), "{err}");
    assert!(!err.contains("--set"), "{err}");
}

#[test]
fn a_damaged_fit_state_names_its_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let file = pipeline(tmp.path(), &breast_cancer(&out, ""));
    dimred()
        .arg("run")
        .arg(&file)
        .args(["-q", "--shard", "0/1"])
        .assert()
        .success();
    let partial = out.join("partials/shard-0-of-1.json");
    // the partial is an .npz archive: its JSON header member is changed, its arrays kept
    let (header, arrays) = dimred::steps::state::decode(&std::fs::read(&partial).unwrap()).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&header).unwrap();
    // a count where a number of rows belongs, as text
    let state = &mut doc["state"]["state"];
    let key = state
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, v)| v.is_u64())
        .map(|(k, _)| k.clone())
        .or_else(|| Some("n".into()))
        .unwrap();
    state[&key] = serde_json::Value::String("many".into());
    std::fs::write(&partial, dimred::steps::state::encode(&doc, arrays)).unwrap();
    let err = refused(dimred().arg("merge").arg(&file).arg("-q"), 2);
    assert!(err.contains("shard-0-of-1.json"), "{err}");
}

#[test]
fn merge_with_a_folder_that_does_not_exist_is_an_io_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let file = pipeline(tmp.path(), &breast_cancer(&out, ""));
    dimred()
        .arg("run")
        .arg(&file)
        .args(["-q", "--shard", "0/1"])
        .assert()
        .success();
    let nowhere = tmp.path().join("nowhere");
    let err = refused(
        dimred()
            .arg("merge")
            .arg(&file)
            .arg("-q")
            .arg("--with")
            .arg(&nowhere),
        4,
    );
    assert!(err.contains(&nowhere.display().to_string()), "{err}");
}

#[test]
fn a_filter_of_thousands_of_terms_is_refused_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let terms: Vec<String> = (0..3000).map(|i| format!("mean_radius > {i}")).collect();
    let yaml = breast_cancer(&out, "").replace(
        "steps:\n",
        &format!("steps:\n  - filter: \"{}\"\n", terms.join(" AND ")),
    );
    let file = pipeline(tmp.path(), &yaml);
    for command in ["validate", "run"] {
        let err = refused(dimred().arg(command).arg(&file), 2);
        assert!(
            err.contains("too deep") && err.contains("at most 200"),
            "{err}"
        );
        assert!(err.contains("pipeline.yaml:"), "{err}");
    }
    // 60 terms (119 operators) run as one filter
    let terms: Vec<String> = (0..60)
        .map(|i| format!("mean_radius > {}", i as f64 / 100.0))
        .collect();
    let yaml = breast_cancer(&out, "").replace(
        "steps:\n",
        &format!("steps:\n  - filter: \"{}\"\n", terms.join(" AND ")),
    );
    let file = pipeline(tmp.path(), &yaml);
    dimred().arg("run").arg(&file).arg("-q").assert().success();
}

/// wine.csv with the label of data row `row` (1-based) replaced by `label`.
fn wine_with_label(dir: &Path, row: usize, label: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(root().join("sample-data/wine.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let cells: Vec<&str> = lines[row].split(',').collect();
    let n = cells.len();
    let mut cells: Vec<String> = cells.iter().map(|c| c.to_string()).collect();
    cells[n - 1] = label.into();
    lines[row] = cells.join(",");
    let path = dir.join("wine.csv");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn a_missing_label_is_never_a_class_and_its_row_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let data = wine_with_label(tmp.path(), 17, "NaN");
    let yaml = |missing: &str| {
        format!(
            "name: w\ninput:\n  path: {}\n  features: {{ exclude: [target] }}\n  passthrough: [target]\n  missing: {missing}\nsteps:\n  - scale: {{ method: standard }}\n  - lda: {{ label: target }}\noutput:\n  dir: {}\n",
            data.display(),
            tmp.path().join(format!("out-{missing}")).display()
        )
    };
    let file = pipeline(tmp.path(), &yaml("error"));
    let err = refused(dimred().arg("run").arg(&file).arg("-q"), 3);
    assert!(
        err.contains("label column 'target'") && err.contains("data row 17"),
        "{err}"
    );
    let file = pipeline(tmp.path(), &yaml("skip_row"));
    dimred().arg("run").arg(&file).arg("-q").assert().success();
    let model = json(&tmp.path().join("out-skip_row/model.json"));
    let classes = model["lda"]["classes_"].to_string();
    assert!(!classes.contains("NaN"), "{classes}");
    assert_eq!(model["lda"]["classes_"].as_array().unwrap().len(), 3);
    // a class of a single row is named with its row
    let data = wine_with_label(tmp.path(), 40, "9");
    assert_eq!(data, tmp.path().join("wine.csv"));
    let file = pipeline(tmp.path(), &yaml("error"));
    let err = refused(dimred().arg("run").arg(&file).arg("-q"), 3);
    assert!(
        err.contains("class '9'") && err.contains("has 1 row (data row 40)"),
        "{err}"
    );
}

#[test]
fn a_derived_text_column_is_not_taken_by_exclude_or_regex() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let yaml = breast_cancer(&out, "").replace(
        "steps:\n",
        "steps:\n  - derive: { size: \"CASE WHEN mean_radius > 15 THEN 'big' ELSE 'small' END\", ratio: \"mean_area / mean_radius\" }\n",
    );
    let file = pipeline(tmp.path(), &yaml);
    dimred().arg("run").arg(&file).arg("-q").assert().success();
    let names = json(&out.join("model.json"))["feature_names_in_"].to_string();
    assert!(
        names.contains("\"ratio\"") && !names.contains("\"size\""),
        "{names}"
    );
    // a regex that matches it takes only the numeric ones
    let regexed = yaml.replace(
        "{ exclude: [target] }",
        "{ regex: \"^(mean_|size|ratio)\" }",
    );
    let file = pipeline(tmp.path(), &regexed);
    dimred().arg("run").arg(&file).arg("-q").assert().success();
    let names = json(&out.join("model.json"))["feature_names_in_"].to_string();
    assert!(
        names.contains("\"ratio\"") && !names.contains("\"size\""),
        "{names}"
    );
}

/// A fitted model.json with one field replaced.
fn damaged_model(out: &Path, edit: impl Fn(&mut serde_json::Value)) -> std::path::PathBuf {
    let mut model = json(&out.join("model.json"));
    edit(&mut model);
    let path = out.join("damaged.json");
    std::fs::write(&path, model.to_string()).unwrap();
    path
}

#[test]
fn impossible_numbers_in_a_loaded_model_are_refused_naming_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |pipeline: &str, name: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        dimred()
            .args(["run", pipeline, "-q", "--set"])
            .arg(format!("output.dir={}", out.display()))
            .args(extra)
            .assert()
            .success();
        out
    };
    let pca = run("pipelines/breast_cancer_pca.yaml", "pca", &[]);
    let whitened = run(
        "pipelines/breast_cancer_pca.yaml",
        "whitened",
        &["--set", "steps.1.pca.whiten=true"],
    );
    let kernel = run("pipelines/wine_kernel_pca.yaml", "kernel", &[]);
    let cases: Vec<(std::path::PathBuf, &str, &str)> = vec![
        (
            damaged_model(&pca, |m| m["scale_"][3] = 0.0.into()),
            "sample-data/breast_cancer.csv",
            "'scale_' has 0 at index 3",
        ),
        (
            damaged_model(&whitened, |m| m["explained_variance_"][1] = (-1.0).into()),
            "sample-data/breast_cancer.csv",
            "'explained_variance_' has -1 at index 1",
        ),
        (
            damaged_model(&kernel, |m| m["kernel_pca"]["gamma"] = (-0.5).into()),
            "sample-data/wine.csv",
            "'kernel_pca.gamma' is -0.5",
        ),
    ];
    for (model, input, needle) in cases {
        let err = refused(
            dimred()
                .args(["transform", "--model"])
                .arg(&model)
                .args(["--input", input, "--output"])
                .arg(tmp.path().join("t.parquet"))
                .arg("-q"),
            2,
        );
        assert!(
            err.contains("damaged.json") && err.contains(needle),
            "{err}"
        );
        let err = refused(
            dimred()
                .args(["export", "--model"])
                .arg(&model)
                .arg("--npz")
                .arg(tmp.path().join("m.npz")),
            2,
        );
        assert!(
            err.contains("damaged.json") && err.contains(needle),
            "{err}"
        );
        assert!(!tmp.path().join("t.parquet").exists());
    }
}

#[test]
fn what_the_metadata_decides_about_the_picture_is_decided_at_validate() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = |embedding: &str| {
        format!(
            "name: d\ninput:\n  path: {}\n  features: {{ regex: \"^pixel_\" }}\nsteps:\n  - pca: {{ n_components: 5 }}\noutput:\n  dir: {}\nreport:\n  embedding: {embedding}\n",
            root().join("sample-data/digits.parquet").display(),
            tmp.path().join("out").display()
        )
    };
    for (embedding, needle) in [
        (
            "{ method: tsne, sample: 20, perplexity: 30 }",
            "report.embedding.perplexity: 30 must be less than 19",
        ),
        (
            "{ method: isomap, sample: 20, n_neighbors: 25 }",
            "report.embedding.n_neighbors: 25 must be less than 20",
        ),
    ] {
        let file = pipeline(tmp.path(), &yaml(embedding));
        let err = refused(dimred().arg("validate").arg(&file), 2);
        assert!(err.contains(needle), "{err}");
    }
    // the input's row count (from the Parquet metadata) caps the sample
    let small = tmp.path().join("small.parquet");
    dimred()
        .args([
            "generate", "--rows", "12", "--cols", "4", "--rank", "2", "-q",
        ])
        .arg("--output")
        .arg(&small)
        .assert()
        .success();
    let file = pipeline(
        tmp.path(),
        &format!(
            "name: s\ninput:\n  path: {}\nsteps:\n  - pca: {{ n_components: 2 }}\noutput:\n  dir: {}\nreport:\n  embedding: {{ method: tsne, perplexity: 30 }}\n",
            small.display(),
            tmp.path().join("out").display()
        ),
    );
    let err = refused(dimred().arg("validate").arg(&file), 2);
    assert!(err.contains("the input has 12 rows"), "{err}");
}

/// A CSV whose `code` column is a number for 1,499 rows and text from row 1,500.
fn late_text(dir: &Path) -> std::path::PathBuf {
    let mut text = String::from("a,b,code\n");
    for i in 0..1600 {
        let code = if i < 1499 {
            format!("{}", i % 10)
        } else {
            "x7".into()
        };
        text.push_str(&format!("{},{},{code}\n", i % 13, (i * 7) % 11));
    }
    let path = dir.join("late.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_csv_column_type_does_not_depend_on_batch_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let data = late_text(tmp.path());
    let yaml = |batch: usize, extra: &str, steps: &str| {
        format!(
            "name: t\ninput:\n  path: {}\n  features: {{ include: [a, b] }}\n  passthrough: [code]\n  batch_rows: {batch}\n{extra}steps:\n{steps}  - pca: {{ n_components: 1 }}\noutput:\n  dir: {}\n",
            data.display(),
            tmp.path().join(format!("out{batch}")).display()
        )
    };
    let mut errors = Vec::new();
    for batch in [7, 1400, 8192] {
        let file = pipeline(tmp.path(), &yaml(batch, "", ""));
        let err = refused(dimred().arg("run").arg(&file).arg("-q"), 3);
        assert!(
            err.contains("late.csv")
                && err.contains("row 1500")
                && err.contains("column 'code'")
                && err.contains("'x7'")
                && err.contains("input.passthrough"),
            "batch_rows {batch}: {err}"
        );
        errors.push(err.replace(&format!("out{batch}"), "out"));
    }
    assert!(errors.windows(2).all(|w| w[0] == w[1]), "{errors:?}");
    // declared as text, it is text for every batch_rows
    for batch in [7, 1400, 8192] {
        let file = pipeline(tmp.path(), &yaml(batch, "  columns: { code: text }\n", ""));
        dimred().arg("run").arg(&file).arg("-q").assert().success();
    }
    // read by a filter, the step is named
    for batch in [7, 8192] {
        let file = pipeline(
            tmp.path(),
            &yaml(batch, "", "  - filter: \"code < 5\"\n").replace("  passthrough: [code]\n", ""),
        );
        let err = refused(dimred().arg("run").arg(&file).arg("-q"), 3);
        assert!(
            err.contains("row 1500") && err.contains("'x7'") && err.contains("filter"),
            "batch_rows {batch}: {err}"
        );
    }
}

/// Found by the sweep of fuzzed messages: a flipped bit in the Arrow schema stored in a
/// Parquet footer was reported with Arrow's Rust structure (`Utf8Error { … Some(1) }`).
#[test]
fn a_damaged_arrow_schema_is_one_plain_line() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(root().join("sample-data/digits.parquet")).unwrap();
    bytes[124_558] ^= 1 << 1;
    let path = tmp.path().join("flipped.parquet");
    std::fs::write(&path, &bytes).unwrap();
    let err = refused(dimred().arg("scan").arg(&path).arg("-q"), 3);
    assert!(
        err.contains("flipped.parquet") && err.contains("not a readable Parquet file"),
        "{err}"
    );
}
