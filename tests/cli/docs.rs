//! The manuals follow the step kinds the binary knows: a kind added to the code and left
//! out of the README's table, docs/steps.md or docs/model-format.md fails here. The kinds
//! come from the binary itself (the YAML's list of step names), the columns each reducer
//! writes from the example pipelines' golden models.

use std::collections::BTreeMap;

use super::common::{dimred, root};

/// The step kinds `validate` accepts, as its error for an unknown one lists them.
fn step_kinds() -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("p.yaml");
    std::fs::write(
        &p,
        format!(
            "name: x\ninput: {{ path: {} }}\nsteps:\n  - no_such_kind: {{}}\noutput: {{ dir: {} }}\n",
            root().join("sample-data/wine.csv").display(),
            tmp.path().join("out").display()
        ),
    )
    .unwrap();
    let out = dimred().arg("validate").arg(&p).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let list = err
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("no list of kinds in: {err}"));
    let kinds: Vec<String> = list
        .trim()
        .split(", ")
        .map(|k| k.trim_matches('`').to_string())
        .collect();
    assert!(kinds.len() >= 8, "{kinds:?}");
    kinds
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

/// The row steps, which the reader runs and which write no columns of their own.
const ROW_STEPS: [&str; 2] = ["filter", "derive"];

#[test]
fn every_step_kind_has_its_section_in_the_steps_manual_and_a_row_in_the_readme() {
    let steps = read("docs/steps.md");
    let readme = read("README.md");
    for kind in step_kinds() {
        let tick = format!("`{kind}`");
        assert!(
            steps
                .lines()
                .any(|l| l.starts_with("## ") && l.contains(&tick)),
            "docs/steps.md has no section for {kind}"
        );
        if ROW_STEPS.contains(&kind.as_str()) {
            assert!(
                readme
                    .lines()
                    .any(|l| l.starts_with("### ") && l.contains(&tick)),
                "the README has no heading for the row step {kind}"
            );
        } else {
            assert!(
                readme.contains(&format!("| [`{kind}`](docs/steps.md#{kind}) |")),
                "the README's step table has no row for {kind}"
            );
        }
    }
}

#[test]
fn every_reducer_s_columns_and_rebuild_are_in_the_model_format() {
    // each reducer's column prefix, from the example pipelines' golden models
    let mut prefix: BTreeMap<String, String> = BTreeMap::new();
    for entry in std::fs::read_dir(root().join("tests/golden")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let golden = super::common::json(&path);
        let model = &golden["model"];
        let (Some(steps), Some(first)) = (
            model["steps"].as_array(),
            model["output_columns"][0].as_str(),
        ) else {
            continue;
        };
        let last = steps.last().unwrap().as_str().unwrap().to_string();
        prefix.insert(last, first.trim_end_matches(char::is_numeric).to_string());
    }
    let format = read("docs/model-format.md");
    let output_columns = format
        .lines()
        .find(|l| l.starts_with("| `output_columns` |"))
        .expect("model-format.md's output_columns row");
    let rebuild = format
        .split("### How transform rebuilds the pipeline")
        .nth(1)
        .expect("model-format.md's rebuild section");
    let rebuild = rebuild.split("\n## ").next().unwrap();
    let readme = read("README.md");
    for kind in step_kinds() {
        if ROW_STEPS.contains(&kind.as_str()) {
            continue;
        }
        assert!(
            rebuild.contains(&format!("`{kind}`")),
            "model-format.md does not say how transform rebuilds {kind}"
        );
        if kind == "scale" {
            continue;
        }
        let p = prefix
            .get(&kind)
            .unwrap_or_else(|| panic!("no example pipeline ends with {kind} (tests/golden)"));
        let columns = format!("`{p}1…{p}k`");
        assert!(
            output_columns.contains(&columns),
            "model-format.md's output_columns does not name {kind}'s {columns}"
        );
        assert!(
            readme.contains(&format!("| [`{kind}`](docs/steps.md#{kind}) | {columns} |")),
            "the README's step table does not say {kind} writes {columns}"
        );
    }
}
