//! The job's limits are the default limits: without `memory_limit`, a run sizes its chunks
//! for the smallest of its cgroup's memory limit, Slurm's memory and the machine's
//! available memory, refuses what cannot fit before reading, and says in `validate` and
//! report.json's `memory` which one set the limit. Slurm's variables are the source a test
//! can set without root; tests/cgroup/run.sh (run by .ci/run as root) puts dimred in a
//! real 256 MiB memory cgroup, and src/engine/limits/tests.rs reads cgroup fixture trees.

use std::path::Path;

use super::common::*;

const SLURM: [&str; 3] = [
    "SLURM_MEM_PER_NODE",
    "SLURM_MEM_PER_CPU",
    "SLURM_CPUS_PER_TASK",
];

/// The binary with none of Slurm's memory variables, then `vars` set.
fn in_job(vars: &[(&str, &str)]) -> assert_cmd::Command {
    let mut cmd = dimred();
    for v in SLURM {
        cmd.env_remove(v);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

/// 60,000 × 256 float64 in row groups of 8,192 rows (16 MiB of column chunks each): the
/// default 8,192-row chunks need about 13 × 16 MiB for the output pass alone.
fn wide_data(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("wide.parquet");
    dimred()
        .args([
            "generate", "--rows", "60000", "--cols", "256", "--rank", "8",
        ])
        .args(["--seed", "5", "--row-group-rows", "8192", "-q", "--output"])
        .arg(&data)
        .assert()
        .success();
    data
}

#[test]
fn slurm_s_memory_is_the_default_limit_chunks_shrink_to_fit_and_the_report_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let data = wide_data(tmp.path());
    let out = tmp.path().join("out");
    let pipeline = pipeline(
        tmp.path(),
        &format!(
            "name: job-limit\ninput:\n  path: {}\nsteps:\n  - pca: {{ n_components: 8 }}\noutput:\n  dir: {}\n",
            data.display(),
            out.display()
        ),
    );
    let job = [("SLURM_MEM_PER_NODE", "320")];
    let checked = in_job(&job)
        .arg("validate")
        .arg(&pipeline)
        .assert()
        .success();
    let text = String::from_utf8_lossy(&checked.get_output().stdout).to_string();
    let line = text
        .lines()
        .find(|l| l.starts_with("memory: "))
        .unwrap_or_else(|| panic!("no memory line: {text}"));
    assert!(
        line.starts_with("memory: limit 320 MiB from slurm (SLURM_MEM_PER_NODE=320), batch_rows "),
        "{line}"
    );

    in_job(&job)
        .arg("run")
        .arg(&pipeline)
        .arg("-q")
        .assert()
        .success();
    let report = json(&out.join("report.json"));
    let memory = &report["memory"];
    assert_eq!(memory["limit_bytes"], 320u64 << 20);
    assert_eq!(memory["limit_source"], "slurm");
    assert_eq!(memory["limit_detail"], "SLURM_MEM_PER_NODE=320");
    let rows = memory["batch_rows"].as_u64().unwrap();
    assert!(
        (64..8192).contains(&rows),
        "batch_rows {rows}: not derived from the limit"
    );
    assert!(memory["estimate_bytes"].as_u64().unwrap() <= 320 << 20);
    let peak = report["peak_rss_bytes"]
        .as_u64()
        .expect("peak_rss_bytes on Linux");
    assert!(
        peak <= 320 << 20,
        "peak {} MiB over the job's 320 MiB",
        peak >> 20
    );
    assert_eq!(report["n_samples"], 60_000);

    // per CPU: 100 MiB × 3 CPUs
    let checked = in_job(&[("SLURM_MEM_PER_CPU", "100"), ("SLURM_CPUS_PER_TASK", "3")])
        .arg("validate")
        .arg(&pipeline)
        .assert()
        .success();
    let text = String::from_utf8_lossy(&checked.get_output().stdout).to_string();
    assert!(
        text.contains(
            "memory: limit 300 MiB from slurm (SLURM_MEM_PER_CPU=100 × SLURM_CPUS_PER_TASK=3)"
        ),
        "{text}"
    );

    // memory_limit, written or given, is the limit whatever the job's
    let checked = in_job(&job)
        .arg("validate")
        .arg(&pipeline)
        .args(["--memory-limit", "1GiB"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&checked.get_output().stdout).to_string();
    assert!(
        text.contains("memory: limit 1024 MiB, batch_rows"),
        "{text}"
    );
}

#[test]
fn without_a_job_limit_the_machine_s_memory_is_the_limit_and_chunks_stay_the_default() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    in_job(&[])
        .args(["run", "pipelines/breast_cancer_pca.yaml", "-q", "--set"])
        .arg(format!("output.dir={}", out.display()))
        .assert()
        .success();
    let report = json(&out.join("report.json"));
    let source = report["memory"]["limit_source"].as_str().unwrap();
    // the test machine may itself run in a memory cgroup
    assert!(["cgroup", "mem_available"].contains(&source), "{source}");
    // 569 rows: far under any machine's memory, so the default chunks
    assert_eq!(report["memory"]["batch_rows"], 8192);
}

#[test]
fn a_pipeline_the_job_cannot_hold_is_refused_before_reading_naming_the_job_s_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let (pipeline, out) = wide_exact_pca(tmp.path());
    let job = [("SLURM_MEM_PER_NODE", "1024")];
    let refused = in_job(&job)
        .arg("run")
        .arg(&pipeline)
        .arg("-q")
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for says in [
        "the job's memory limit of 1.00 GiB (Slurm's SLURM_MEM_PER_NODE=1024; set memory_limit to override it) is too small",
        "steps' state",
        "pca solver: randomized holds about",
    ] {
        assert!(err.contains(says), "{says}: {err}");
    }
    assert!(!out.exists());
    // chunks written in the pipeline are checked against the job's limit too
    let refused = in_job(&job)
        .arg("validate")
        .arg(&pipeline)
        .args(["--set", "steps.0.pca.solver=randomized"])
        .args(["--set", "input.batch_rows=100000"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(
        err.contains("input.batch_rows = 100000 would need ") && err.contains(" GiB of memory, more than the 1.0 GiB this job may use (Slurm's SLURM_MEM_PER_NODE=1024); lower it"),
        "{err}"
    );
}

#[test]
fn a_slurm_memory_that_is_no_number_is_ignored_with_a_note() {
    let checked = in_job(&[("SLURM_MEM_PER_NODE", "4G")])
        .args(["validate", "pipelines/breast_cancer_pca.yaml"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&checked.get_output().stderr).to_string();
    assert_eq!(
        err.trim_end(),
        "note: SLURM_MEM_PER_NODE='4G' is not a number of megabytes; ignored"
    );
    let text = String::from_utf8_lossy(&checked.get_output().stdout).to_string();
    assert!(!text.contains("from slurm"), "{text}");
}
