//! The bad-input catalogue: each case exits non-zero with one line naming what and where,
//! and leaves no file under a final name (nor a temporary one) in the output folder.

use std::path::Path;

use super::common::*;

const GOOD: &str = "a,b,c,label\n1,2,3,x\n4,5,7,y\n2,8,1,z\n9,1,4,x\n";

fn pipeline_text(input: &str, extra_input: &str, pca: &str, out: &Path) -> String {
    format!(
        "name: bad\ninput:\n  path: {input}\n  passthrough: [label]\n{extra_input}steps:\n  - scale: {{ method: standard }}\n  - pca: {pca}\noutput:\n  dir: {}\n",
        out.display()
    )
}

/// Runs `dimred run` on `yaml` and checks the exit code and that stderr is one line
/// containing every `needle`.
fn fails(dir: &Path, yaml: &str, code: i32, needles: &[&str]) -> String {
    let file = pipeline(dir, yaml);
    let assert = dimred().arg("run").arg(&file).arg("-q").assert().code(code);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    if let Some(problem) = message_problem(&err, &[]) {
        panic!("{problem}");
    }
    // plain words: no Rust or library spelling reaches the user
    for internal in [
        "Other(",
        "Some(",
        "Options",
        "RUST_BACKTRACE",
        "stack backtrace",
    ] {
        assert!(!err.contains(internal), "'{internal}' in: {err}");
    }
    for n in needles {
        assert!(err.contains(n), "missing '{n}' in: {err}");
    }
    let out = dir.join("out");
    let left = files_in(&out);
    assert!(
        left.is_empty(),
        "left {left:?} in the output folder after a failure"
    );
    err
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn missing_input_file() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("nope.csv").display().to_string();
    fails(
        t.path(),
        &pipeline_text(&input, "", "{ n_components: 2 }", &t.path().join("out")),
        4,
        &["nope.csv"],
    );
}

#[test]
fn empty_file_and_file_without_rows() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let empty = write(t.path(), "empty.csv", "");
    fails(
        t.path(),
        &pipeline_text(&empty, "", "{ n_components: 2 }", &out),
        3,
        &["empty.csv", "empty"],
    );
    let header = write(t.path(), "header.csv", "a,b,c,label\n");
    fails(
        t.path(),
        &pipeline_text(&header, "", "{ n_components: 2 }", &out),
        3,
        &["header.csv", "no rows"],
    );
}

#[test]
fn corrupt_parquet() {
    let t = tempfile::tempdir().unwrap();
    let bad = write(
        t.path(),
        "bad.parquet",
        "PAR1 this is not really parquet at all PAR1",
    );
    fails(
        t.path(),
        &pipeline_text(&bad, "", "{ n_components: 2 }", &t.path().join("out")),
        3,
        &["bad.parquet", "Parquet"],
    );
}

#[test]
fn ragged_csv_row() {
    let t = tempfile::tempdir().unwrap();
    let f = write(t.path(), "r.csv", "a,b,c,label\n1,2,3,x\n4,5,x\n");
    fails(
        t.path(),
        &pipeline_text(&f, "", "{ n_components: 2 }", &t.path().join("out")),
        3,
        &["r.csv", "row 2", "3 fields", "header has 4"],
    );
}

#[test]
fn non_numeric_value_in_a_feature() {
    let t = tempfile::tempdir().unwrap();
    let f = write(t.path(), "n.csv", "a,b,c,label\n1,2,3,x\n4,five,6,y\n");
    fails(
        t.path(),
        &pipeline_text(&f, "", "{ n_components: 2 }", &t.path().join("out")),
        3,
        &["n.csv", "row 2", "column 'b'", "'five'"],
    );
}

#[test]
fn nan_and_inf_follow_the_missing_policy() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let f = write(
        t.path(),
        "m.csv",
        "a,b,c,label\n1,2,3,x\n4,,6,y\n2,8,1,z\n9,1,4,x\n3,3,NaN,w\n",
    );
    fails(
        t.path(),
        &pipeline_text(&f, "", "{ n_components: 2 }", &out),
        3,
        &["m.csv", "row 2", "column 'b'", "missing"],
    );
    let inf = write(
        t.path(),
        "i.csv",
        "a,b,c,label\n1,2,3,x\n4,5,inf,y\n2,8,1,z\n",
    );
    fails(
        t.path(),
        &pipeline_text(&inf, "", "{ n_components: 2 }", &out),
        3,
        &["i.csv", "row 2", "column 'c'", "infinite"],
    );

    // skip_row drops the two rows and says so
    let yaml = pipeline_text(&f, "  missing: skip_row\n", "{ n_components: 2 }", &out);
    let file = pipeline(t.path(), &yaml);
    dimred().arg("run").arg(&file).arg("-q").assert().success();
    let report = json(&out.join("report.json"));
    assert_eq!(report["rows_read"], 5);
    assert_eq!(report["rows_skipped"], 2);
    assert_eq!(report["n_samples"], 3);
    let labels = parquet_column_names(&out.join("reduced.parquet"));
    assert_eq!(labels, vec!["label", "pc1", "pc2"]);

    // impute_mean fills the mean of the present values
    let yaml = pipeline_text(&f, "  missing: impute_mean\n", "{ n_components: 2 }", &out);
    let file = pipeline(t.path(), &yaml);
    dimred().arg("run").arg(&file).arg("-q").assert().success();
    let model = json(&out.join("model.json"));
    assert_eq!(model["n_samples_seen_"], 5);
    let mean = floats(&model["mean_"]);
    assert_eq!(mean[1], (2.0 + 8.0 + 1.0 + 3.0) / 4.0);
    assert_eq!(mean[2], (3.0 + 6.0 + 1.0 + 4.0) / 4.0);
    let report = json(&out.join("report.json"));
    assert_eq!(
        report["passes"].as_array().unwrap().len(),
        3,
        "means, fit, transform"
    );
}

#[test]
fn unknown_or_mistyped_yaml_key_names_line_and_column() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let f = write(t.path(), "g.csv", GOOD);
    let yaml = pipeline_text(&f, "  bacth_rows: 10\n", "{ n_components: 2 }", &out);
    fails(t.path(), &yaml, 2, &["pipeline.yaml:5:3", "bacth_rows"]);
    // the position points at the offending value
    let yaml = pipeline_text(&f, "  batch_rows: ten\n", "{ n_components: 2 }", &out);
    fails(t.path(), &yaml, 2, &["pipeline.yaml:5:15"]);
    let yaml = pipeline_text(&f, "", "{ n_components: 2, solver: magic }", &out);
    fails(t.path(), &yaml, 2, &["pipeline.yaml:7:", "magic"]);
}

#[test]
fn named_columns_must_exist() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let f = write(t.path(), "g.csv", GOOD);
    let yaml = pipeline_text(
        &f,
        "  features: { include: [a, zzz] }\n",
        "{ n_components: 1 }",
        &out,
    );
    fails(
        t.path(),
        &yaml,
        2,
        &["input.features.include", "'zzz'", "does not exist"],
    );
    let yaml = pipeline_text(&f, "", "{ n_components: 1 }", &out)
        .replace("passthrough: [label]", "passthrough: [lable]");
    fails(t.path(), &yaml, 2, &["input.passthrough", "'lable'"]);
}

#[test]
fn n_components_out_of_range() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let f = write(t.path(), "g.csv", GOOD);
    for bad in ["0", "-2", "1.0", "1.5"] {
        let yaml = pipeline_text(&f, "", &format!("{{ n_components: {bad} }}"), &out);
        fails(t.path(), &yaml, 2, &["pipeline.yaml:7:", "n_components"]);
    }
    let yaml = pipeline_text(&f, "", "{ n_components: 4 }", &out);
    fails(t.path(), &yaml, 2, &["n_components = 4", "3 features"]);
    let few = write(
        t.path(),
        "few.csv",
        "a,b,c,d,e,label\n1,2,3,4,5,x\n2,1,0,3,3,y\n",
    );
    let yaml = pipeline_text(&few, "", "{ n_components: 3 }", &out);
    fails(t.path(), &yaml, 2, &["n_components = 3", "2 samples"]);
}

#[test]
fn duplicate_column_names() {
    let t = tempfile::tempdir().unwrap();
    let f = write(t.path(), "d.csv", "a,b,a,label\n1,2,3,x\n4,5,6,y\n");
    fails(
        t.path(),
        &pipeline_text(&f, "", "{ n_components: 1 }", &t.path().join("out")),
        3,
        &["d.csv", "duplicate", "'a'"],
    );
}

#[test]
fn output_folder_that_cannot_be_written() {
    let t = tempfile::tempdir().unwrap();
    let f = write(t.path(), "g.csv", GOOD);
    let blocker = t.path().join("blocker");
    std::fs::write(&blocker, "a file, not a folder").unwrap();
    let yaml = pipeline_text(&f, "", "{ n_components: 1 }", &blocker.join("out"));
    let file = pipeline(t.path(), &yaml);
    let assert = dimred().arg("run").arg(&file).arg("-q").assert().code(4);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(err.contains("blocker"), "{err}");
}

#[test]
fn schema_that_differs_between_files() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("parts");
    std::fs::create_dir(&dir).unwrap();
    write(&dir, "p1.csv", GOOD);
    write(&dir, "p2.csv", "a,b,d,label\n1,2,3,x\n");
    let yaml = pipeline_text(
        &dir.display().to_string(),
        "",
        "{ n_components: 1 }",
        &t.path().join("out"),
    );
    fails(t.path(), &yaml, 3, &["p2.csv", "column 'd'", "differs"]);
}

#[test]
fn a_text_parquet_column_cannot_be_a_feature() {
    let t = tempfile::tempdir().unwrap();
    let yaml = format!(
        "name: x\ninput:\n  path: {}\n  features: {{ include: [mean_radius, target] }}\nsteps:\n  - pca: {{ n_components: 1 }}\noutput:\n  dir: {}\n",
        root().join("sample-data/digits.parquet").display(),
        t.path().join("out").display()
    );
    fails(t.path(), &yaml, 2, &["mean_radius", "does not exist"]);
}

#[test]
fn a_folder_of_csv_files_is_one_dataset() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("parts");
    std::fs::create_dir(&dir).unwrap();
    let text = std::fs::read_to_string(root().join("sample-data/breast_cancer.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    for (i, part) in rows.chunks(200).enumerate() {
        write(
            &dir,
            &format!("part-{i:02}.csv"),
            &format!("{header}\n{}\n", part.join("\n")),
        );
    }
    let out = t.path().join("out");
    dimred()
        .args(["run", "pipelines/breast_cancer_pca.yaml", "-q", "--set"])
        .arg(format!("input.path={}", dir.display()))
        .arg("--set")
        .arg(format!("output.dir={}", out.display()))
        .assert()
        .success();
    let want = json(&root().join("tests/reference/breast_cancer_scaled_pca.json"));
    let report = json(&out.join("report.json"));
    assert_eq!(report["input"]["files"].as_array().unwrap().len(), 3);
    assert_rel(
        &floats(&report["explained_variance"]),
        &floats(&want["explained_variance"]),
        1e-9,
        "ev",
    );
}

#[test]
fn a_glob_of_gzipped_csv_files_is_one_dataset() {
    use std::io::Write;
    let t = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("sample-data/breast_cancer.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    for (i, part) in rows.chunks(300).enumerate() {
        let file = std::fs::File::create(t.path().join(format!("bc-{i}.csv.gz"))).unwrap();
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        write!(gz, "{header}\n{}\n", part.join("\n")).unwrap();
        gz.finish().unwrap();
    }
    std::fs::write(t.path().join("ignored.txt"), "not data").unwrap();
    let out = t.path().join("out");
    dimred()
        .args(["run", "pipelines/breast_cancer_pca.yaml", "-q", "--set"])
        .arg(format!("input.path={}/bc-*.csv.gz", t.path().display()))
        .arg("--set")
        .arg(format!("output.dir={}", out.display()))
        .assert()
        .success();
    let want = json(&root().join("tests/reference/breast_cancer_scaled_pca.json"));
    let report = json(&out.join("report.json"));
    assert_eq!(report["input"]["files"].as_array().unwrap().len(), 2);
    assert_eq!(report["n_samples"], 569);
    assert_rel(
        &floats(&report["explained_variance"]),
        &floats(&want["explained_variance"]),
        1e-9,
        "ev",
    );
}

#[test]
fn a_failed_output_pass_leaves_no_partial_file() {
    // The fit pass reads only features; a bad passthrough value surfaces in the output
    // pass, after reduced.parquet has been started under its temporary name.
    let t = tempfile::tempdir().unwrap();
    let mut text = String::from("a,b,label\n");
    for i in 0..5000 {
        text.push_str(&format!("{},{},{}\n", i % 7, i % 11, i));
    }
    text.push_str("1,2,not-an-integer\n");
    let f = write(t.path(), "late.csv", &text);
    let yaml = pipeline_text(
        &f,
        "  batch_rows: 1000\n",
        "{ n_components: 1 }",
        &t.path().join("out"),
    );
    fails(
        t.path(),
        &yaml,
        3,
        &["late.csv", "row 5001", "column 'label'", "not-an-integer"],
    );
}

#[test]
fn incremental_batch_size_must_hold_n_components() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let f = write(t.path(), "g.csv", GOOD);
    let yaml = pipeline_text(
        &f,
        "",
        "{ solver: incremental, n_components: 3, batch_size: 2 }",
        &out,
    );
    fails(
        t.path(),
        &yaml,
        2,
        &["n_components = 3", "batch_size = 2", "folded"],
    );
    let yaml = pipeline_text(
        &f,
        "",
        "{ solver: incremental, n_components: 1, batch_size: 0 }",
        &out,
    );
    fails(t.path(), &yaml, 2, &["batch_size must be at least 1"]);
    let yaml = pipeline_text(
        &f,
        "",
        "{ solver: exact, n_components: 1, batch_size: 10 }",
        &out,
    );
    fails(t.path(), &yaml, 2, &["incremental only"]);
}

#[test]
fn randomized_parameters_are_checked() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let f = write(t.path(), "g.csv", GOOD);
    let yaml = pipeline_text(
        &f,
        "",
        "{ solver: randomized, n_components: 1, oversamples: -1 }",
        &out,
    );
    fails(t.path(), &yaml, 2, &["pipeline.yaml:7:"]);
    let yaml = pipeline_text(
        &f,
        "",
        "{ solver: randomized, n_components: 1, power_iterations: -2 }",
        &out,
    );
    fails(t.path(), &yaml, 2, &["pipeline.yaml:7:"]);
    // a fraction of variance is kept from the sketch (randomized::a_variance_fraction_…);
    // the method is checked instead
    let yaml = pipeline_text(
        &f,
        "",
        "{ solver: randomized, n_components: 1, method: lanczos }",
        &out,
    );
    fails(t.path(), &yaml, 2, &["pipeline.yaml:7:", "power", "krylov"]);
    let yaml = pipeline_text(
        &f,
        "",
        "{ solver: randomized, n_components: 1, method: krylov, power_iteration_normalizer: LU }",
        &out,
    );
    fails(t.path(), &yaml, 2, &["method: krylov needs", "QR"]);
    let yaml = pipeline_text(
        &f,
        "",
        "{ solver: exact, n_components: 1, method: krylov }",
        &out,
    );
    fails(t.path(), &yaml, 2, &["method", "randomized only"]);
    let yaml = pipeline_text(
        &f,
        "",
        "{ solver: exact, n_components: 1, oversamples: 5 }",
        &out,
    );
    fails(t.path(), &yaml, 2, &["randomized only"]);
    let yaml = pipeline_text(
        &f,
        "",
        "{ solver: exact, n_components: 1, tol: 0.01 }",
        &out,
    );
    fails(t.path(), &yaml, 2, &["tol", "randomized only"]);
    for tol in ["0", "1.5", "-0.1"] {
        let yaml = pipeline_text(
            &f,
            "",
            &format!("{{ solver: randomized, n_components: 1, tol: {tol} }}"),
            &out,
        );
        fails(
            t.path(),
            &yaml,
            2,
            &[&format!("pca.tol = {tol} must lie in (0, 1)")],
        );
    }
}

#[test]
fn whitening_a_zero_variance_component_is_refused() {
    // b = 2a: rank one, so a second whitened component would divide by zero
    let t = tempfile::tempdir().unwrap();
    let f = write(
        t.path(),
        "r.csv",
        "a,b,label\n1,2,x\n2,4,y\n3,6,z\n5,10,w\n",
    );
    let yaml = pipeline_text(
        &f,
        "",
        "{ n_components: 2, whiten: true }",
        &t.path().join("out"),
    )
    .replace("  - scale: { method: standard }\n", "");
    fails(
        t.path(),
        &yaml,
        3,
        &["whiten", "component 2", "zero variance"],
    );
}

#[test]
fn incremental_with_a_fraction_says_how_many_components_it_tracked() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    dimred()
        .args([
            "run",
            "pipelines/digits_pca.yaml",
            "-q",
            "--set",
            "steps.1.pca.solver=incremental",
        ])
        .args([
            "--set",
            "steps.1.pca.n_components=0.8",
            "--set",
            "steps.1.pca.batch_size=200",
            "--set",
        ])
        .arg(format!("output.dir={}", out.display()))
        .assert()
        .success();
    let report = json(&out.join("report.json"));
    assert_eq!(report["components_tracked"], 64);
    let k = report["n_components"].as_u64().unwrap() as usize;
    let cumulative = floats(&report["cumulative_variance_ratio"]);
    assert!(
        cumulative[k - 1] > 0.8 && (k == 1 || cumulative[k - 2] <= 0.8),
        "{cumulative:?}"
    );
}
