//! Every example in pipelines/ runs on the sample data, so the examples never rot, and
//! writes what its golden file says (see `golden`).

use super::common::*;

#[test]
fn every_example_pipeline_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ran = 0;
    for entry in std::fs::read_dir(root().join("pipelines")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let out = tmp.path().join(&stem);
        let mut cmd = dimred();
        cmd.arg("run")
            .arg(&path)
            .arg("--quiet")
            .arg("--set")
            .arg(format!("output.dir={}", out.display()));
        // A pipeline on generated data says in a comment how the data is made: do that.
        if let Some(line) = text.lines().find(|l| l.contains("dimred generate --")) {
            let args: Vec<&str> = line
                .trim_start_matches(['#', ' '])
                .split_whitespace()
                .skip(2)
                .collect();
            let data = tmp.path().join(format!("{stem}.parquet"));
            let mut gen_args: Vec<String> = Vec::new();
            let mut i = 0;
            while i < args.len() {
                if args[i] == "--output" {
                    i += 2;
                    continue;
                }
                gen_args.push(args[i].to_string());
                i += 1;
            }
            dimred()
                .arg("generate")
                .args(&gen_args)
                .arg("-q")
                .arg("--output")
                .arg(&data)
                .assert()
                .success();
            cmd.arg("--set")
                .arg(format!("input.path={}", data.display()));
        }
        cmd.assert().success();
        for file in [
            "reduced.parquet",
            "model.json",
            "model.npz",
            "report.json",
            "report.html",
            "report_sample.json",
        ] {
            assert!(out.join(file).exists(), "{stem}: {file} missing");
        }
        super::golden::check(&stem, &out, tmp.path());
        ran += 1;
    }
    assert!(ran >= 3, "only {ran} pipelines found");
}
