//! The deployment files parse and run the right commands: the Kubernetes manifests as
//! YAML (Indexed Jobs with per-index retries, failing an index on dimred's config and data
//! exit codes and ignoring disruptions), the Slurm scripts as the chain submit.sh makes.
//! tests/slurm/run.sh (run by .ci/run) submits that chain to a real slurmctld and slurmd.

use serde_json::Value;

use super::common::*;

fn manifest(name: &str) -> Value {
    let text = std::fs::read_to_string(root().join("deploy/k8s").join(name)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn args(job: &Value) -> Vec<String> {
    job["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

fn env(job: &Value, name: &str) -> Option<String> {
    job["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| e["value"].as_str().unwrap().to_string())
}

/// FailIndex/FailJob on exit codes 2 and 3, Ignore on DisruptionTarget.
fn fails_fast_on_bad_input(job: &Value, action: &str) {
    let rules = job["spec"]["podFailurePolicy"]["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["action"] == action
        && r["onExitCodes"]["operator"] == "In"
        && r["onExitCodes"]["values"] == serde_json::json!([2, 3])));
    assert!(
        rules
            .iter()
            .any(|r| r["action"] == "Ignore"
                && r["onPodConditions"][0]["type"] == "DisruptionTarget")
    );
    assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");
}

#[test]
fn kubernetes_jobs_are_indexed_shards_a_merge_and_a_transform() {
    let fit = manifest("fit-job.yaml");
    assert_eq!(fit["kind"], "Job");
    assert_eq!(fit["spec"]["completionMode"], "Indexed");
    assert!(fit["spec"]["backoffLimitPerIndex"].as_u64().unwrap() >= 1);
    fails_fast_on_bad_input(&fit, "FailIndex");
    let a = args(&fit);
    assert_eq!(&a[..2], ["run", "/config/pipeline.yaml"]);
    assert!(a.windows(2).any(|w| w == ["--shard", "auto"]));
    // the shard count dimred reads is the job's completions
    let n = fit["spec"]["completions"].as_u64().unwrap().to_string();
    assert_eq!(env(&fit, "DIMRED_SHARDS"), Some(n.clone()));

    let merge = manifest("merge-job.yaml");
    assert_eq!(merge["kind"], "Job");
    fails_fast_on_bad_input(&merge, "FailJob");
    assert_eq!(&args(&merge)[..2], ["merge", "/config/pipeline.yaml"]);
    // the merge reads what the shards wrote
    let out = |a: &[String]| a.iter().find(|s| s.starts_with("output.dir=")).cloned();
    assert_eq!(out(&args(&merge)), out(&a));

    let transform = manifest("transform-job.yaml");
    assert_eq!(transform["spec"]["completionMode"], "Indexed");
    fails_fast_on_bad_input(&transform, "FailIndex");
    let t = args(&transform);
    assert_eq!(t[0], "transform");
    assert!(t.windows(2).any(|w| w == ["--shard", "auto"]));
    assert!(
        t.windows(2)
            .any(|w| w == ["--model", "/data/out/model.json"])
    );
    assert_eq!(env(&transform, "DIMRED_SHARDS"), Some(n));
}

#[test]
fn slurm_scripts_chain_fit_merge_and_transform() {
    let read = |f: &str| std::fs::read_to_string(root().join("deploy/slurm").join(f)).unwrap();
    assert!(read("fit.sbatch").contains("run \"$1\" --shard auto"));
    assert!(read("merge.sbatch").contains("merge \"$1\""));
    assert!(read("transform.sbatch").contains("--shard auto"));
    let submit: String = read("submit.sh")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    // each job waits for the one before, and a failure cancels the rest of the chain
    assert_eq!(submit.matches("--dependency=\"afterok:").count(), 2);
    assert_eq!(submit.matches("--kill-on-invalid-dep=yes").count(), 2);
    assert_eq!(submit.matches("--array=\"0-$last\"").count(), 2);
    for script in [
        "submit.sh",
        "fit.sbatch",
        "merge.sbatch",
        "transform.sbatch",
    ] {
        let status = std::process::Command::new("bash")
            .args(["-n"])
            .arg(root().join("deploy/slurm").join(script))
            .status()
            .unwrap();
        assert!(status.success(), "{script} does not parse");
    }
}

#[test]
fn scheduled_updates_merge_each_night_into_the_night_before() {
    let cron = manifest("cronjob.yaml");
    assert_eq!(cron["kind"], "CronJob");
    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
    let job = &cron["spec"]["jobTemplate"];
    fails_fast_on_bad_input(job, "FailJob");
    let script = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
        .as_str()
        .unwrap();
    assert!(script.contains("dimred run /config/pipeline.yaml --shard 0/1"));
    assert!(script.contains("dimred merge /config/pipeline.yaml --with"));

    let read = |f: &str| std::fs::read_to_string(root().join("deploy/slurm").join(f)).unwrap();
    let line = read("nightly.scrontab")
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap()
        .to_string();
    // minute hour day month weekday, then the command
    assert!(line.split_whitespace().count() > 5, "{line}");
    assert!(line.contains("nightly.sh"), "{line}");
    let nightly = read("nightly.sh");
    assert!(nightly.contains("--dependency=\"afterok:$fit\" --kill-on-invalid-dep=yes"));
    assert!(read("merge.sbatch").contains("--with"));
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(root().join("deploy/slurm/nightly.sh"))
        .status()
        .unwrap();
    assert!(status.success());
}

/// The script's lines that are not comments.
fn code(path: &str) -> String {
    std::fs::read_to_string(root().join(path))
        .unwrap()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn slurm_merges_of_a_fit_in_rounds_submit_the_next_round() {
    let submit = code("deploy/slurm/submit.sh");
    // what the merges need to submit a round: the scripts, the array size, the options
    assert!(submit.contains("export DIMRED_DEPLOY=$here DIMRED_ARRAY=$shards"));
    assert!(submit.contains("DIMRED_SBATCH_ARGS=\"$*\""));
    let merge = code("deploy/slurm/merge.sbatch");
    // the model written: nothing more; a round file written: its fit array and merge
    assert!(merge.contains("compgen -G \"$3/rounds/round-*.npz\" >/dev/null || exit 0"));
    assert!(merge.contains("--array=\"0-$((DIMRED_ARRAY - 1))\""));
    assert!(merge.contains("\"$DIMRED_DEPLOY/fit.sbatch\" \"$1\" \"$2\" \"$3\""));
    assert!(merge.contains("--dependency=\"afterok:$fit\" --kill-on-invalid-dep=yes"));
    assert!(merge.contains("\"$DIMRED_DEPLOY/merge.sbatch\" \"$@\""));
    // the jobs waiting for this merge (the transform array) wait for the new one
    assert!(merge.contains("squeue -h -o \"%F %E\""));
    assert!(merge.contains("scontrol update JobId=\"$job\" Dependency=\"afterok:$merge\""));
    // the merge itself is not exec'd: the round check runs after it
    assert!(!merge.contains("exec "));
}

#[test]
fn the_kubernetes_driver_applies_a_fit_and_a_merge_per_round() {
    let driver = code("deploy/k8s/rounds.sh");
    assert!(driver.contains("run_job fit-job.yaml dimred-fit"));
    assert!(driver.contains("run_job merge-job.yaml dimred-merge"));
    // another round while the merge wrote a round file, then the output pass
    assert!(driver.contains("*\"/rounds/round-\"*)"));
    assert!(driver.contains("run_job transform-job.yaml dimred-transform"));
    // a Job is waited for until complete or failed, and deleted before it is applied again
    assert!(driver.contains("*\" Complete \"*) return 0"));
    assert!(driver.contains("*\" Failed \"*)"));
    assert!(driver.contains("delete job \"$2\" --ignore-not-found"));
    // the Jobs it names are the manifests' own
    for (file, name) in [
        ("fit-job.yaml", "dimred-fit"),
        ("merge-job.yaml", "dimred-merge"),
        ("transform-job.yaml", "dimred-transform"),
    ] {
        assert_eq!(manifest(file)["metadata"]["name"], name);
    }
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(root().join("deploy/k8s/rounds.sh"))
        .status()
        .unwrap();
    assert!(status.success(), "rounds.sh does not parse");
}

#[test]
fn deploy_files_pass_no_limits_by_hand_and_kubernetes_pods_set_the_limits_dimred_reads() {
    // dimred reads the pod's cgroup and the Slurm job's variables (docs/cluster.md#limits):
    // a limit passed by hand would go stale when the job's resources change
    for dir in ["deploy/k8s", "deploy/slurm"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for by_hand in ["--memory-limit", "memory_limit", "RAYON_NUM_THREADS"] {
                assert!(
                    !text.contains(by_hand),
                    "{} passes {by_hand}",
                    path.display()
                );
            }
        }
    }
    let cron = manifest("cronjob.yaml");
    let jobs = [
        manifest("fit-job.yaml"),
        manifest("merge-job.yaml"),
        manifest("transform-job.yaml"),
        cron["spec"]["jobTemplate"].clone(),
    ];
    for job in &jobs {
        let limits = &job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"];
        // memory.max and cpu.max in the pod's cgroup
        assert!(limits["memory"].is_string(), "{job}");
        assert!(limits["cpu"].is_string(), "{job}");
    }
}
