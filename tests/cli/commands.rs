//! The command line itself: help for every command, validate, scan, generate.

use super::common::*;

#[test]
fn every_command_has_help() {
    for cmd in ["run", "validate", "transform", "scan", "generate"] {
        let out = dimred().args([cmd, "--help"]).assert().success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
        assert!(text.contains("Usage: dimred"), "{cmd}: {text}");
    }
    dimred().arg("--help").assert().success();
}

#[test]
fn validate_reads_only_headers_and_reports_the_plan() {
    let out = dimred()
        .args(["validate", "pipelines/breast_cancer_pca.yaml"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(text.starts_with("ok: breast-cancer-pca"), "{text}");
    assert!(text.contains("30 features"), "{text}");
}

#[test]
fn scan_profiles_every_column_and_warns_about_constants() {
    let out = dimred()
        .args(["scan", "sample-data/digits.parquet", "--json", "--quiet"])
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["rows"], 1797);
    let cols = report["columns"].as_array().unwrap();
    assert_eq!(cols.len(), 65);
    let p00 = &cols[0];
    assert_eq!(p00["name"], "pixel_0_0");
    assert_eq!(p00["constant"], true);
    let p02 = cols.iter().find(|c| c["name"] == "pixel_0_2").unwrap();
    assert_eq!(p02["max"], 16.0);
    let table = dimred()
        .args(["scan", "sample-data/digits.csv", "--quiet"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&table.get_output().stdout).to_string();
    assert!(
        text.contains("warning: column 'pixel_0_0' is constant"),
        "{text}"
    );
}

#[test]
fn scan_counts_missing_and_text_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("m.csv");
    std::fs::write(&file, "a,b,c\n1,x,\n2,y,3\n,z,4\n").unwrap();
    let out = dimred()
        .arg("scan")
        .arg(&file)
        .args(["--json", "-q"])
        .assert()
        .success();
    let r: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let cols = r["columns"].as_array().unwrap();
    assert_eq!(cols[0]["missing"], 1);
    assert_eq!(cols[0]["mean"], 1.5);
    assert_eq!(cols[1]["kind"], "text");
    assert_eq!(cols[1]["non_numeric"], 3);
    assert_eq!(cols[2]["count"], 2);
}

#[test]
fn generate_writes_data_and_true_eigenvalues_and_pca_recovers_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("g.parquet");
    dimred()
        .args([
            "generate", "--rows", "100000", "--cols", "12", "--rank", "3", "--seed", "5", "-q",
            "--output",
        ])
        .arg(&data)
        .assert()
        .success();
    let truth = json(&tmp.path().join("g.eigenvalues.json"));
    let eig = floats(&truth["eigenvalues"]);
    assert_eq!(eig.len(), 12);
    let out = tmp.path().join("out");
    dimred()
        .args(["run", "pipelines/generated_pca.yaml", "-q", "--set"])
        .arg(format!("input.path={}", data.display()))
        .arg("--set")
        .arg(format!("output.dir={}", out.display()))
        .args(["--set", "steps.0.pca.n_components=3"])
        .assert()
        .success();
    let report = json(&out.join("report.json"));
    let got = floats(&report["explained_variance"]);
    // sampling error of a variance estimate with 1e5 rows is about sqrt(2/n) ≈ 0.5 %
    assert_rel(&got, &eig[..3], 0.03, "recovered spectrum");
    // same seed, same bytes
    let again = tmp.path().join("g2.parquet");
    dimred()
        .args([
            "generate", "--rows", "100000", "--cols", "12", "--rank", "3", "--seed", "5", "-q",
            "--output",
        ])
        .arg(&again)
        .assert()
        .success();
    assert_eq!(parquet_columns(&data), parquet_columns(&again));
}

#[test]
fn generate_float32_writes_the_float64_values_rounded_and_pca_fits_them_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let make = |name: &str, extra: &[&str]| {
        let data = tmp.path().join(name);
        dimred()
            .args([
                "generate",
                "--rows",
                "20000",
                "--cols",
                "40",
                "--rank",
                "4",
                "--seed",
                "9",
                "-q",
                "--row-group-rows",
                "3000",
                "--output",
            ])
            .arg(&data)
            .args(extra)
            .assert()
            .success();
        data
    };
    let f64_file = make("d64.parquet", &[]);
    let f32_file = make("d32.parquet", &["--float32"]);
    // Float32 columns only, holding exactly the float64 file's values rounded.
    assert!(parquet_columns(&f32_file).is_empty(), "no Float64 columns");
    let wide = parquet_f32_columns(&f32_file);
    let narrow = parquet_columns(&f64_file);
    assert_eq!(wide.len(), 40);
    for ((n32, v32), (n64, v64)) in wide.iter().zip(&narrow) {
        assert_eq!(n32, n64);
        let rounded: Vec<f64> = v64.iter().map(|&v| f64::from(v as f32)).collect();
        assert_eq!(v32, &rounded, "{n32}");
    }
    // The same truth file, and the same spectrum from a fit (exact and randomized).
    let truth32 = json(&tmp.path().join("d32.eigenvalues.json"));
    let truth64 = json(&tmp.path().join("d64.eigenvalues.json"));
    assert_eq!(truth32, truth64);
    let fit = |data: &std::path::Path, solver: &str| {
        let stem = data.file_stem().unwrap().to_string_lossy();
        let out = tmp.path().join(format!("out-{solver}-{stem}"));
        dimred()
            .args(["run", "pipelines/generated_pca.yaml", "-q", "--set"])
            .arg(format!("input.path={}", data.display()))
            .arg("--set")
            .arg(format!("output.dir={}", out.display()))
            .args(["--set", "steps.0.pca.n_components=4", "--set"])
            .arg(format!("steps.0.pca.solver={solver}"))
            .args(["--set", "output.reduced=false"])
            .assert()
            .success();
        floats(&json(&out.join("report.json"))["explained_variance"])
    };
    for solver in ["exact", "randomized"] {
        let (a, b) = (fit(&f32_file, solver), fit(&f64_file, solver));
        // rounding to f32 moves each value by ≤ 6e-8 relative: the spectra agree far closer
        // than the sampling error
        assert_rel(
            &a,
            &b,
            1e-5,
            &format!("{solver}: float32 vs float64 spectrum"),
        );
        assert_rel(&a, &floats(&truth32["eigenvalues"])[..4], 0.05, "vs truth");
    }
}

#[test]
fn output_reduced_false_fits_without_the_output_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    dimred()
        .args([
            "run",
            "pipelines/breast_cancer_pca.yaml",
            "-q",
            "--set",
            "output.reduced=false",
            "--set",
        ])
        .arg(format!("output.dir={}", out.display()))
        .assert()
        .success();
    assert_eq!(
        files_in(&out),
        vec![
            "_SUCCESS",
            "model.json",
            "model.npz",
            "report.html",
            "report.json",
            "report_sample.json",
            "state"
        ]
    );
    // the merged fit state, for a later `merge --with`
    assert_eq!(files_in(&out.join("state")), vec!["fit.json"]);
    let report = json(&out.join("report.json"));
    assert_eq!(report["passes"].as_array().unwrap().len(), 1);
    assert_eq!(report["rows_written"], 0);
    // the six files and `_SUCCESS`
    assert_eq!(report["outputs"].as_array().unwrap().len(), 7);
    // no output pass, no sample: the evaluation says why it has no scores
    let note = report["evaluation"]["note"].as_str().unwrap();
    assert!(note.contains("output.reduced"), "{note}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("no sample was drawn"));
}

#[test]
fn a_byte_order_mark_does_not_rename_the_first_column() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bom.csv");
    std::fs::write(&file, "\u{feff}a,b,c\n1,2,3\n2,1,5\n4,4,4\n").unwrap();
    let out = tmp.path().join("out");
    let yaml = format!(
        "name: bom\ninput:\n  path: {}\n  features: {{ include: [a, b, c] }}\nsteps:\n  - pca: {{ n_components: 1 }}\noutput:\n  dir: {}\n",
        file.display(),
        out.display()
    );
    let p = pipeline(tmp.path(), &yaml);
    dimred().arg("run").arg(&p).arg("-q").assert().success();
    let model = json(&out.join("model.json"));
    assert_eq!(model["feature_names_in_"][0], "a");
}
