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
    let mut doc = json(&partial);
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
    std::fs::write(&partial, doc.to_string()).unwrap();
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
