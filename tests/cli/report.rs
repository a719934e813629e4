//! report.html and the classifier check: the page is one well-formed file with one SVG per
//! plot, no script and no URL; what the plots draw is what report.json and
//! reduced.parquet hold; the evaluation matches scikit-learn on the same split
//! (tests/reference/evaluation.json, made by make_eval_reference.py); `dimred report DIR`
//! re-renders the same page.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::common::*;

fn run(pipeline: &str, out: &Path, sets: &[&str]) {
    let mut cmd = dimred();
    cmd.args(["run", pipeline, "-q", "--set"])
        .arg(format!("output.dir={}", out.display()));
    for s in sets {
        cmd.arg("--set").arg(s);
    }
    cmd.assert().success();
}

/// Checks the page's hygiene and returns (plot name, plotted values) per SVG.
fn plots(html_path: &Path) -> Vec<(String, Value)> {
    let html = std::fs::read_to_string(html_path).unwrap();
    let lower = html.to_lowercase();
    assert!(!lower.contains("<script"), "a script in the report");
    assert!(!lower.contains("http://"), "an http URL in the report");
    assert!(!lower.contains("https://"), "an https URL in the report");
    let doc = roxmltree::Document::parse_with_options(
        &html,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("report.html is not well-formed: {e}"));
    let mut out = Vec::new();
    for node in doc.descendants().filter(|n| n.has_tag_name("svg")) {
        let name = node
            .attribute("data-plot")
            .expect("every svg names its plot")
            .to_string();
        let values: Value = serde_json::from_str(node.attribute("data-values").unwrap()).unwrap();
        assert!(
            node.ancestors().skip(1).all(|a| !a.has_tag_name("svg")),
            "nested svg"
        );
        out.push((name, values));
    }
    let mut names: Vec<&String> = out.iter().map(|(n, _)| n).collect();
    let count = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count, "one svg per plot: {names:?}");
    out
}

fn plot<'a>(plots: &'a [(String, Value)], name: &str) -> &'a Value {
    &plots
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} plot"))
        .1
}

fn names(plots: &[(String, Value)]) -> Vec<&str> {
    plots.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn breast_cancer_report_is_self_contained_and_draws_report_json() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    run("pipelines/breast_cancer_pca.yaml", &out, &[]);
    let report = json(&out.join("report.json"));
    let outputs: Vec<&str> = report["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for file in ["report.html", "report_sample.json"] {
        assert!(out.join(file).exists());
        assert!(outputs.iter().any(|o| o.ends_with(file)), "{outputs:?}");
    }
    let p = plots(&out.join("report.html"));
    assert_eq!(
        names(&p),
        [
            "scree",
            "cumulative",
            "scatter",
            "loadings",
            "correlation",
            "evaluation"
        ]
    );
    assert_eq!(plot(&p, "scree"), &report["explained_variance_ratio"]);
    assert_eq!(plot(&p, "cumulative"), &report["cumulative_variance_ratio"]);
    // the scatter draws every row (569 < 5000) at its pc1, pc2 in reduced.parquet
    let reduced = parquet_columns(&out.join("reduced.parquet"));
    let points = matrix(plot(&p, "scatter"));
    assert_eq!(points.len(), 569);
    for (i, pt) in points.iter().enumerate() {
        assert_eq!(pt[0], reduced[0].1[i], "pc1 of row {i}");
        assert_eq!(pt[1], reduced[1].1[i], "pc2 of row {i}");
    }
    let accuracies: Vec<f64> = report["evaluation"]["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["test_accuracy"].as_f64().unwrap())
        .collect();
    assert_eq!(accuracies.len(), 4);
    assert_eq!(floats(plot(&p, "evaluation")), accuracies);
    // the correlation matrix of standardised features: unit diagonal, symmetric
    let corr = matrix(plot(&p, "correlation"));
    assert_eq!(corr.len(), 30);
    for (i, row) in corr.iter().enumerate() {
        assert!((row[i] - 1.0).abs() < 1e-12);
        for (j, v) in row.iter().enumerate() {
            assert_eq!(*v, corr[j][i]);
        }
    }
    // the labels the scatter is coloured by stay out of the written columns' way
    assert_eq!(
        parquet_column_names(&out.join("reduced.parquet"))[0],
        "target"
    );
}

fn reference() -> Value {
    json(&root().join("tests/reference/evaluation.json"))
}

/// Runs a case of evaluation.json and compares every score within 0.02.
fn evaluation_matches(case: &str, pipeline: &str, sets: &[&str]) {
    let want = &reference()["cases"][case];
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    run(pipeline, &out, sets);
    let ev = json(&out.join("report.json"))["evaluation"].clone();
    assert_eq!(ev["train_rows"], want["train_rows"], "{case}: split");
    assert_eq!(ev["test_rows"], want["test_rows"], "{case}: split");
    let scores = ev["scores"].as_array().unwrap();
    let compared = want["compare"].as_object().map_or(0, |c| c.len());
    assert_eq!(scores.len(), 4 + 2 * compared, "{case}: {scores:?}");
    for s in scores {
        let space = s["features"].as_str().unwrap();
        let model = s["model"].as_str().unwrap();
        // a compared reducer's scores sit under compare.<name>.scores
        let want_space = match want["compare"].get(space) {
            Some(b) => {
                assert_eq!(s["dimensions"], b["dimensions"], "{case} {space}: width");
                &b["scores"]
            }
            None => &want[space],
        };
        for which in ["train_accuracy", "test_accuracy"] {
            let got = s[which].as_f64().unwrap();
            let expected = want_space[model][which].as_f64().unwrap();
            assert!(
                (got - expected).abs() <= 0.02,
                "{case} {space} {model} {which}: {got} vs scikit-learn {expected}"
            );
            if model == "logistic_regression" {
                // dimred solves to convergence: compare with scikit-learn converged too
                let converged = want_space["logistic_regression_converged"][which]
                    .as_f64()
                    .unwrap();
                assert!(
                    (got - converged).abs() <= 0.02,
                    "{case} {space} {which}: {got} vs converged {converged}"
                );
            }
        }
    }
}

#[test]
fn breast_cancer_evaluation_matches_scikit_learn() {
    // PCA, kernel PCA (rbf at its default gamma, 1 / features) and LDA side by side
    evaluation_matches(
        "breast_cancer_pca95",
        "pipelines/breast_cancer_pca.yaml",
        &["report.evaluate.compare=[pca, kernel_pca, lda]"],
    );
}

#[test]
fn breast_cancer_two_components_evaluation_matches_scikit_learn() {
    evaluation_matches(
        "breast_cancer_pca2",
        "pipelines/breast_cancer_pca.yaml",
        &["steps.1.pca.n_components=2"],
    );
}

#[test]
fn digits_evaluation_matches_scikit_learn() {
    evaluation_matches(
        "digits_pca10",
        "pipelines/digits_pca.yaml",
        &[
            "report.evaluate={label: label, compare: [pca, kernel_pca, lda], kernel: {kernel: rbf, gamma: 0.001}}",
        ],
    );
}

#[test]
fn a_bad_compare_list_is_a_config_error() {
    for (set, says) in [
        ("report.evaluate.compare=[pca, umap]", "umap"),
        (
            "report.evaluate.compare=[lda, lda]",
            "'lda' is listed twice",
        ),
        (
            "report.evaluate.kernel={kernel: rbf, gamma: -1}",
            "report.evaluate.kernel.gamma",
        ),
    ] {
        let assert = dimred()
            .args(["validate", "pipelines/breast_cancer_pca.yaml", "--set", set])
            .assert()
            .code(2);
        let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(says), "{set}: {err}");
    }
}

#[test]
fn digits_report_shows_originals_beside_reconstructions() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    run("pipelines/digits_pca.yaml", &out, &[]);
    let p = plots(&out.join("report.html"));
    assert_eq!(
        names(&p),
        ["scree", "cumulative", "scatter", "loadings", "images"]
    );
    let images = plot(&p, "images").as_array().unwrap();
    let (orig, back) = (matrix(&images[0]), matrix(&images[1]));
    assert_eq!((orig.len(), orig[0].len()), (10, 64));
    // the originals are the first rows of the input
    let model = json(&out.join("model.json"));
    let pixels = parquet_columns(&root().join("sample-data/digits.parquet"));
    let names_in = model["feature_names_in_"].as_array().unwrap();
    for (j, name) in names_in.iter().enumerate() {
        let col = &pixels
            .iter()
            .find(|(n, _)| n == name.as_str().unwrap())
            .unwrap()
            .1;
        for (i, row) in orig.iter().enumerate() {
            assert_eq!(row[j], col[i]);
        }
    }
    // reconstructions from 10 components are close, not equal
    let err: f64 = orig
        .iter()
        .zip(&back)
        .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)))
        .sum::<f64>()
        / 640.0;
    assert!(err > 0.1 && err < 16.0, "mean squared pixel error {err}");
    // ten digits, ten colours
    let sample = json(&out.join("report_sample.json"));
    assert_eq!(sample["color"].as_array().unwrap().len(), 1797);
}

#[test]
fn report_command_rerenders_the_same_page() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    run("pipelines/breast_cancer_pca.yaml", &out, &[]);
    let html = out.join("report.html");
    let first = std::fs::read(&html).unwrap();
    std::fs::remove_file(&html).unwrap();
    let assert = dimred().arg("report").arg(&out).assert().success();
    let said = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(said.contains("report.html"), "{said}");
    assert_eq!(std::fs::read(&html).unwrap(), first);
}

#[test]
fn report_command_without_a_report_says_which_file() {
    let t = tempfile::tempdir().unwrap();
    let assert = dimred().arg("report").arg(t.path()).assert().code(4);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("report.json"), "{err}");
    // report.json alone is not enough either
    std::fs::write(t.path().join("report.json"), "{}").unwrap();
    let assert = dimred().arg("report").arg(t.path()).assert().code(3);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        err.contains("report.json") && err.contains("not a dimred report"),
        "{err}"
    );
}

/// A small CSV with a text label that is not a passthrough column.
fn small_csv(dir: &Path) -> PathBuf {
    let mut text = String::from("a,b,c,kind\n");
    for i in 0..60 {
        let x = i as f64;
        let kind = if i % 3 == 0 { "round" } else { "flat" };
        text.push_str(&format!(
            "{},{},{},{kind}\n",
            x.sin(),
            (x * 0.7).cos() + if kind == "round" { 2.0 } else { 0.0 },
            x * 0.01
        ));
    }
    let path = dir.join("small.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_text_label_outside_passthrough_is_read_but_not_written() {
    let t = tempfile::tempdir().unwrap();
    let data = small_csv(t.path());
    let out = t.path().join("out");
    let yaml = format!(
        "name: small\ninput:\n  path: {}\n  features: {{ exclude: [kind] }}\nsteps:\n  - pca: {{ n_components: 2 }}\noutput:\n  dir: {}\nreport:\n  color_by: kind\n  evaluate: {{ label: kind, k: 3 }}\n",
        data.display(),
        out.display()
    );
    let file = pipeline(t.path(), &yaml);
    dimred().arg("run").arg(&file).arg("-q").assert().success();
    assert_eq!(
        parquet_column_names(&out.join("reduced.parquet")),
        ["pc1", "pc2"]
    );
    let report = json(&out.join("report.json"));
    assert_eq!(
        report["evaluation"]["classes"],
        serde_json::json!(["flat", "round"])
    );
    assert_eq!(report["evaluation"]["k_neighbors"], 3);
    let p = plots(&out.join("report.html"));
    assert!(names(&p).contains(&"scatter"));
}

#[test]
fn one_component_and_no_label_say_there_is_no_scatter() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    run(
        "pipelines/breast_cancer_pca.yaml",
        &out,
        &["steps.1.pca.n_components=1", "report={}"],
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("no 2-D scatter"), "no note about the scatter");
    let p = plots(&out.join("report.html"));
    assert!(!names(&p).contains(&"scatter"));
    assert!(!names(&p).contains(&"evaluation"));
}

#[test]
fn reconstruction_error_distribution_is_drawn() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    run("pipelines/breast_cancer_tsqr.yaml", &out, &[]);
    let report = json(&out.join("report.json"));
    let p = plots(&out.join("report.html"));
    let e = &report["reconstruction_error"];
    let want: Vec<f64> = ["min", "p50", "p90", "p95", "p99", "max"]
        .iter()
        .map(|k| e[*k].as_f64().unwrap())
        .collect();
    assert_eq!(floats(plot(&p, "reconstruction_error")), want);
}

#[test]
fn bad_report_keys_are_named() {
    let t = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str]); 6] = [
        (
            "report.color_by=lable",
            &["report.color_by", "lable", "does not exist"],
        ),
        (
            "report.evaluate={label: nope}",
            &["report.evaluate.label", "nope"],
        ),
        (
            "report.evaluate={label: target, test_fraction: 1.5}",
            &["report.evaluate.test_fraction", "(0, 1)"],
        ),
        (
            "report.image_shape=[5, 5]",
            &["report.image_shape", "25", "30 features"],
        ),
        (
            "report.evaluate={label: mean_radius}",
            &["report.evaluate.label", "mean_radius", "is a feature"],
        ),
        ("report.sample_rows=1", &["report.sample_rows"]),
    ];
    for (set, needles) in cases {
        let out = t.path().join("out");
        let assert = dimred()
            .args(["run", "pipelines/breast_cancer_pca.yaml", "-q", "--set"])
            .arg(format!("output.dir={}", out.display()))
            .arg("--set")
            .arg(set)
            .assert()
            .code(2);
        let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert_eq!(err.trim_end().lines().count(), 1, "{set}: {err}");
        for n in needles {
            assert!(err.contains(n), "{set}: missing '{n}' in {err}");
        }
        assert!(files_in(&out).is_empty(), "{set}: left files");
    }
    // an unknown key in the section names its line and column
    let yaml = std::fs::read_to_string(root().join("pipelines/breast_cancer_pca.yaml"))
        .unwrap()
        .replace("  color_by: target", "  colour_by: target");
    let file = pipeline(t.path(), &yaml);
    let assert = dimred().arg("run").arg(&file).arg("-q").assert().code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        err.contains("pipeline.yaml:14:3") && err.contains("colour_by"),
        "{err}"
    );
}
