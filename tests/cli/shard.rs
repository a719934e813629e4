//! Sharded fits: `run --shard I/N` on each part, `merge`, and `transform --shard` give the
//! unsharded fit and output (1e-10), whatever order the shards finished in; what cannot
//! shard, a missing shard and a partial of another pipeline are one-line errors.

use std::path::Path;

use super::common::*;

/// 50,000 × 20 in row groups of 4,000 rows (13 groups: the shards' parts are uneven).
fn data(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("d.parquet");
    dimred()
        .args(["generate", "--rows", "50000", "--cols", "20", "--rank", "4"])
        .args(["--seed", "5", "--row-group-rows", "4000", "-q", "--output"])
        .arg(&data)
        .assert()
        .success();
    data
}

fn write_pipeline(dir: &Path, data: &Path, solver: &str) -> std::path::PathBuf {
    pipeline(
        dir,
        &format!(
            "name: sharded\ninput:\n  path: {}\nsteps:\n  - scale: {{ method: standard }}\n  - pca: {{ n_components: 4, solver: {solver} }}\noutput:\n  dir: {}\n",
            data.display(),
            dir.join("out").display()
        ),
    )
}

fn ok(args: &[&str], pipeline: &Path) {
    dimred()
        .args(&args[..1])
        .arg(pipeline)
        .args(&args[1..])
        .assert()
        .success();
}

fn fails(args: &[&str], pipeline: &Path, code: i32) -> String {
    let assert = dimred()
        .args(&args[..1])
        .arg(pipeline)
        .args(&args[1..])
        .assert()
        .code(code);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    err
}

#[test]
fn sharded_fits_merge_to_the_unsharded_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data(tmp.path());
    for solver in ["exact", "tsqr"] {
        let p = write_pipeline(tmp.path(), &data, solver);
        let full = tmp.path().join(format!("full-{solver}"));
        ok(
            &[
                "run",
                "-q",
                "--set",
                &format!("output.dir={}", full.display()),
            ],
            &p,
        );
        // the shards finish in any order
        for shard in ["2/3", "0/3", "1/3"] {
            ok(&["run", "-q", "--shard", shard], &p);
        }
        let out = tmp.path().join("out");
        assert!(
            !out.join("model.json").exists(),
            "a shard writes its partial only"
        );
        ok(&["merge", "-q"], &p);
        let (a, b) = (
            json(&full.join("model.json")),
            json(&out.join("model.json")),
        );
        assert_eq!(a["n_samples_seen_"], b["n_samples_seen_"]);
        for key in ["components_", "explained_variance_", "mean_", "scale_"] {
            let flat = |v: &serde_json::Value| match v[0].is_array() {
                true => matrix(v).concat(),
                false => floats(v),
            };
            let (x, y) = (flat(&a[key]), flat(&b[key]));
            assert_vec_close(&y, &x, 1e-10, &format!("{solver} {key}"));
        }
        let report = json(&out.join("report.json"));
        assert_eq!(report["n_samples"], 50000);
        assert_eq!(report["passes"].as_array().unwrap().len(), 3);
        assert!(!out.join("reduced.parquet").exists());

        // transform in shards: every row once, in order, as the unsharded output
        let reduced = out.join("reduced.parquet");
        let model = out.join("model.json");
        let mut rows: Vec<Vec<f64>> = vec![Vec::new(); 4];
        for i in 0..3 {
            dimred()
                .args(["transform", "-q", "--model"])
                .arg(&model)
                .arg("--input")
                .arg(&data)
                .arg("--output")
                .arg(&reduced)
                .args(["--shard", &format!("{i}/3")])
                .assert()
                .success();
            let part = parquet_columns(&out.join(format!("reduced-{i}-of-3.parquet")));
            for (j, (_, values)) in part.into_iter().enumerate() {
                rows[j].extend(values);
            }
        }
        let whole = parquet_columns(&full.join("reduced.parquet"));
        for (j, (name, values)) in whole.iter().enumerate() {
            assert_vec_close(&rows[j], values, 1e-10, name);
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn a_rerun_shard_writes_the_same_partial() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data(tmp.path());
    let p = write_pipeline(tmp.path(), &data, "exact");
    let partial = tmp.path().join("out/partials/shard-1-of-4.json");
    ok(&["run", "-q", "--shard", "1/4"], &p);
    let first = std::fs::read(&partial).unwrap();
    ok(&["run", "-q", "--shard", "1/4"], &p);
    let second = std::fs::read(&partial).unwrap();
    // the same state (its header and every array, bit for bit); only the pass's seconds
    // may differ
    let strip = |b: &[u8]| {
        let (header, arrays) = dimred::steps::state::decode(b).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&header).unwrap();
        v["seconds"] = serde_json::Value::Null;
        let bits: Vec<Vec<u64>> = arrays
            .iter()
            .map(|a| a.iter().map(|x| x.to_bits()).collect())
            .collect();
        (v, bits)
    };
    assert_eq!(strip(&first), strip(&second));
    assert_eq!(files_in(&tmp.path().join("out/partials")).len(), 1);
}

#[test]
fn shard_auto_reads_the_scheduler_and_plain_runs_ignore_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data(tmp.path());
    let p = write_pipeline(tmp.path(), &data, "exact");
    dimred()
        .args(["run"])
        .arg(&p)
        .args(["-q", "--shard", "auto"])
        .env("SLURM_ARRAY_TASK_ID", "7")
        .env("SLURM_ARRAY_TASK_MIN", "5")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .assert()
        .success();
    assert!(tmp.path().join("out/partials/shard-2-of-3.json").exists());
    dimred()
        .args(["run"])
        .arg(&p)
        .args(["-q", "--shard", "auto"])
        .env("JOB_COMPLETION_INDEX", "0")
        .env("DIMRED_SHARDS", "3")
        .assert()
        .success();
    assert!(tmp.path().join("out/partials/shard-0-of-3.json").exists());
    // two of three: the merge names the missing one
    let err = fails(&["merge", "-q"], &p, 2);
    assert!(
        err.contains("shard(s) 1 of 3 have no partial state"),
        "{err}"
    );
    // outside a job array, auto is an error; without --shard the environment is ignored
    let err = fails(&["run", "-q", "--shard", "auto"], &p, 2);
    assert!(err.contains("not inside a Slurm job array"), "{err}");
    dimred()
        .args(["run"])
        .arg(&p)
        .arg("-q")
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .assert()
        .success();
    assert!(tmp.path().join("out/reduced.parquet").exists());
}

#[test]
fn what_cannot_shard_or_merge_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data(tmp.path());
    // the randomized solver shards in rounds (randomized_rounds_merge_to_…)
    let p = write_pipeline(tmp.path(), &data, "incremental");
    let err = fails(&["run", "-q", "--shard", "0/2"], &p, 2);
    assert!(err.contains("cannot be sharded"), "{err}");
    assert!(err.contains("solver exact or tsqr"), "{err}");
    assert!(err.contains("randomized (in rounds)"), "{err}");
    let p = write_pipeline(tmp.path(), &data, "exact");
    let err = fails(&["run", "-q", "--shard", "2/2"], &p, 2);
    assert!(err.contains("0 ≤ I < N"), "{err}");
    let err = fails(&["merge", "-q"], &p, 2);
    assert!(err.contains("no partial states"), "{err}");
    // a partial of another pipeline (other components) is not merged
    ok(&["run", "-q", "--shard", "0/2"], &p);
    ok(
        &[
            "run",
            "-q",
            "--shard",
            "1/2",
            "--set",
            "steps.1.pca.n_components=3",
        ],
        &p,
    );
    let err = fails(&["merge", "-q"], &p, 2);
    assert!(err.contains("shard-1-of-2.json"), "{err}");
    assert!(err.contains("another pipeline"), "{err}");
    assert!(!tmp.path().join("out/model.json").exists());
}

#[test]
fn three_days_of_partitions_merge_to_one_fit_on_all_of_them() {
    let tmp = tempfile::tempdir().unwrap();
    let all = tmp.path().join("all");
    std::fs::create_dir_all(&all).unwrap();
    for day in 1..=3 {
        let data = tmp.path().join(format!("day-{day}.parquet"));
        dimred()
            .args(["generate", "--rows", "20000", "--cols", "12", "--rank", "3"])
            .args(["--seed", &day.to_string(), "--row-group-rows", "3000", "-q"])
            .arg("--output")
            .arg(&data)
            .assert()
            .success();
        std::fs::copy(&data, all.join(format!("day-{day}.parquet"))).unwrap();
    }
    let p = pipeline(
        tmp.path(),
        "name: nightly\ninput:\n  path: none\nsteps:\n  - scale: { method: standard }\n  - pca: { n_components: 3 }\noutput:\n  dir: none\n",
    );
    let at = |what: &str| tmp.path().join(what).display().to_string();
    let set = |day: &str, out: &str| {
        vec![
            "--set".to_string(),
            format!("input.path={}", at(day)),
            "--set".to_string(),
            format!("output.dir={}", at(out)),
        ]
    };
    let go = |args: Vec<String>| {
        dimred()
            .arg(&args[0])
            .arg(&p)
            .args(&args[1..])
            .assert()
            .success();
    };
    // day 1: a plain run keeps its state
    go([
        vec!["run".into(), "-q".into()],
        set("day-1.parquet", "out-1"),
    ]
    .concat());
    assert!(tmp.path().join("out-1/state/fit.json").exists());
    // days 2 and 3: two shards each, merged into the day before's state
    for (day, before) in [(2, 1), (3, 2)] {
        let (data, out) = (format!("day-{day}.parquet"), format!("out-{day}"));
        for shard in ["1/2", "0/2"] {
            go([
                vec!["run".into(), "-q".into(), "--shard".into(), shard.into()],
                set(&data, &out),
            ]
            .concat());
        }
        let with = vec!["--with".to_string(), at(&format!("out-{before}"))];
        go([vec!["merge".into(), "-q".into()], set(&data, &out), with].concat());
    }
    go([vec!["run".into(), "-q".into()], set("all", "full")].concat());
    let (a, b) = (
        json(&tmp.path().join("full/model.json")),
        json(&tmp.path().join("out-3/model.json")),
    );
    assert_eq!(b["n_samples_seen_"], 60000);
    for key in ["components_", "explained_variance_", "mean_", "scale_"] {
        let flat = |v: &serde_json::Value| match v[0].is_array() {
            true => matrix(v).concat(),
            false => floats(v),
        };
        assert_vec_close(&flat(&b[key]), &flat(&a[key]), 1e-10, key);
    }
    let partitions = json(&tmp.path().join("out-3/report.json"))["partitions"].clone();
    let seen: Vec<(String, u64)> = partitions
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert!(p["added"].as_str().unwrap().ends_with('Z'));
            (
                p["input"].as_str().unwrap().to_string(),
                p["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, u64)> = (1..=3)
        .map(|d| (at(&format!("day-{d}.parquet")), 20000))
        .collect();
    assert_eq!(seen, want);
    // a folder without a saved state says so
    let assert = dimred()
        .arg("merge")
        .arg(&p)
        .args(set("day-3.parquet", "out-3"))
        .args(["--with", &at("all")])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(err.contains("no saved fit state"), "{err}");
}

/// The model.json fields a fit state determines, flattened.
fn fitted_numbers(model: &serde_json::Value) -> Vec<(String, Vec<f64>)> {
    ["components_", "explained_variance_", "mean_", "scale_"]
        .iter()
        .map(|key| {
            let v = &model[*key];
            let flat = match v[0].is_array() {
                true => matrix(v).concat(),
                false => floats(v),
            };
            (key.to_string(), flat)
        })
        .collect()
}

#[test]
fn states_of_the_all_json_format_still_load() {
    // partials and state/fit.json as the all-JSON format wrote them, and the models that
    // format's binary merged from them (tests/fixtures/state-v1/make.sh)
    let fixture = root().join("tests/fixtures/state-v1");
    for solver in ["exact", "tsqr"] {
        let tmp = tempfile::tempdir().unwrap();
        let p = pipeline(
            tmp.path(),
            &format!(
                "name: legacy\ninput:\n  path: {}\nsteps:\n  - scale: {{ method: standard }}\n  - pca: {{ n_components: 2, solver: {solver} }}\noutput:\n  dir: {}\n",
                fixture.join("d.parquet").display(),
                tmp.path().join("out").display()
            ),
        );
        let old = fixture.join(solver);
        let out = tmp.path().join("out");
        std::fs::create_dir_all(out.join("partials")).unwrap();
        for i in 0..2 {
            let name = format!("partials/shard-{i}-of-2.json");
            let text = std::fs::read_to_string(old.join(&name)).unwrap();
            assert!(text.contains("\"dimred-partial/1\""), "{name}");
            std::fs::write(out.join(&name), text).unwrap();
        }
        ok(&["merge", "-q"], &p);
        let expect = fitted_numbers(&json(&old.join("model.json")));
        for ((key, got), (_, want)) in fitted_numbers(&json(&out.join("model.json")))
            .iter()
            .zip(&expect)
        {
            assert_vec_close(got, want, 1e-13, &format!("{solver} {key}"));
        }
        // the state it keeps is binary: an .npz under the same name
        let state = std::fs::read(out.join("state/fit.json")).unwrap();
        assert!(state.starts_with(b"PK\x03\x04"), "{solver}: state/fit.json");

        // an all-JSON state/fit.json of an older dimred merged first (--with), then the
        // same rows again
        let older = tmp.path().join("older");
        std::fs::create_dir_all(older.join("state")).unwrap();
        let text = std::fs::read_to_string(old.join("state/fit.json")).unwrap();
        let version = format!("\"dimred_version\":\"{}\"", env!("CARGO_PKG_VERSION"));
        assert!(text.contains(&version), "{text}");
        let text = text.replace(&version, "\"dimred_version\":\"0.0.1\"");
        std::fs::write(older.join("state/fit.json"), text).unwrap();
        let twice = tmp.path().join("twice");
        std::fs::create_dir_all(twice.join("partials")).unwrap();
        for i in 0..2 {
            let name = format!("partials/shard-{i}-of-2.json");
            std::fs::copy(old.join(&name), twice.join(&name)).unwrap();
        }
        ok(
            &[
                "merge",
                "-q",
                "--with",
                older.to_str().unwrap(),
                "--set",
                &format!("output.dir={}", twice.display()),
            ],
            &p,
        );
        let expect = fitted_numbers(&json(&old.join("model-twice.json")));
        for ((key, got), (_, want)) in fitted_numbers(&json(&twice.join("model.json")))
            .iter()
            .zip(&expect)
        {
            assert_vec_close(got, want, 1e-13, &format!("{solver} twice {key}"));
        }
        // the shards of one fit run one binary: a partial of another version is refused
        let partial = twice.join("partials/shard-1-of-2.json");
        let text = std::fs::read_to_string(&partial).unwrap();
        std::fs::write(
            &partial,
            text.replace(&version, "\"dimred_version\":\"0.0.1\""),
        )
        .unwrap();
        let err = fails(
            &[
                "merge",
                "-q",
                "--set",
                &format!("output.dir={}", twice.display()),
            ],
            &p,
            2,
        );
        assert!(
            err.contains("shard-1-of-2.json") && err.contains("written by dimred 0.0.1"),
            "{err}"
        );
    }
}

#[test]
fn a_damaged_or_cut_partial_is_named_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data(tmp.path());
    let p = write_pipeline(tmp.path(), &data, "exact");
    ok(&["run", "-q", "--shard", "0/2"], &p);
    ok(&["run", "-q", "--shard", "1/2"], &p);
    let partial = tmp.path().join("out/partials/shard-1-of-2.json");
    let bytes = std::fs::read(&partial).unwrap();
    assert!(
        bytes.starts_with(b"PK\x03\x04"),
        "partials are .npz archives"
    );
    // a flipped bit in the numbers (the last member's data)
    let mut flipped = bytes.clone();
    let at = flipped.len() - 300;
    flipped[at] ^= 0x10;
    std::fs::write(&partial, &flipped).unwrap();
    let err = fails(&["merge", "-q"], &p, 2);
    assert!(err.contains("shard-1-of-2.json"), "{err}");
    assert!(err.contains("damaged"), "{err}");
    // cut short (a copy that stopped midway)
    std::fs::write(&partial, &bytes[..bytes.len() / 2]).unwrap();
    let err = fails(&["merge", "-q"], &p, 2);
    assert!(err.contains("shard-1-of-2.json"), "{err}");
    assert!(
        err.contains("damaged") && err.contains("truncated"),
        "{err}"
    );
    assert!(!tmp.path().join("out/model.json").exists());
}

/// Runs the rounds of a sharded randomized fit (every shard, then the merge, until the
/// merge writes the model) and returns how many merges it took; `before_merge` may
/// meddle before each round's merge.
pub(super) fn run_rounds(p: &Path, out: &Path, before_merge: &mut dyn FnMut(usize)) -> usize {
    for round in 0..20 {
        for shard in ["1/3", "2/3", "0/3"] {
            ok(&["run", "-q", "--shard", shard], p);
        }
        before_merge(round);
        let merged = dimred().arg("merge").arg(p).arg("-q").assert().success();
        let said = String::from_utf8_lossy(&merged.get_output().stdout).to_string();
        if out.join("model.json").exists() {
            assert!(
                !out.join("rounds").exists(),
                "a finished fit leaves no rounds"
            );
            return round + 1;
        }
        let next = format!("rounds/round-{}.npz", round + 1);
        assert!(said.contains(&next), "{said}");
        assert!(out.join(&next).exists(), "{next}");
    }
    panic!("the rounds never ended");
}

#[test]
fn randomized_rounds_merge_to_the_single_machine_fit() {
    let tmp = tempfile::tempdir().unwrap();
    // 3 shards of 2 row groups each, 2,000 features of rank 6
    let data = tmp.path().join("wide.parquet");
    dimred()
        .args(["generate", "--rows", "360", "--cols", "2000", "--rank", "6"])
        .args(["--seed", "11", "--row-group-rows", "60", "-q", "--output"])
        .arg(&data)
        .assert()
        .success();
    for (tol, rounds) in [
        ("", 9),
        (", tol: 1e-3", 0),
        (", method: krylov", 9),
        (", method: krylov, tol: 1e-3", 0),
    ] {
        let out = tmp.path().join("out");
        let p = pipeline(
            tmp.path(),
            &format!(
                "name: wide\ninput:\n  path: {}\nsteps:\n  - scale: {{ method: standard }}\n  - pca: {{ n_components: 6, solver: randomized, seed: 3{tol} }}\noutput:\n  dir: {}\n",
                data.display(),
                out.display()
            ),
        );
        let full = tmp.path().join("full");
        ok(
            &[
                "run",
                "-q",
                "--set",
                &format!("output.dir={}", full.display()),
            ],
            &p,
        );
        let merges = run_rounds(&p, &out, &mut |_| {});
        if rounds > 0 {
            // the column pass, the sketch and the 7 power iterations of k < p / 10
            assert_eq!(merges, rounds);
        } else {
            assert!(merges < 9, "tol stopped the rounds early ({merges})");
        }
        let (a, b) = (
            json(&full.join("model.json")),
            json(&out.join("model.json")),
        );
        assert_eq!(a["n_samples_seen_"], b["n_samples_seen_"]);
        assert_eq!(b["solver"], "randomized");
        for ((key, want), (_, got)) in fitted_numbers(&a).iter().zip(&fitted_numbers(&b)) {
            assert_vec_close(got, want, 1e-10, &format!("tol '{tol}' {key}"));
        }
        assert_vec_close(
            &[b["noise_variance_"].as_f64().unwrap()],
            &[a["noise_variance_"].as_f64().unwrap()],
            1e-10,
            "noise_variance_",
        );
        let report = json(&out.join("report.json"));
        assert_eq!(report["n_samples"], 360);
        assert_eq!(
            report["passes"].as_array().unwrap().len(),
            3 * merges,
            "each shard's pass of each round"
        );
        std::fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn stale_foreign_damaged_and_missing_rounds_are_refused_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("wide.parquet");
    dimred()
        .args(["generate", "--rows", "300", "--cols", "60", "--rank", "3"])
        .args(["--seed", "2", "--row-group-rows", "50", "-q", "--output"])
        .arg(&data)
        .assert()
        .success();
    let out = tmp.path().join("out");
    let p = pipeline(
        tmp.path(),
        &format!(
            "name: wide\ninput:\n  path: {}\nsteps:\n  - pca: {{ n_components: 3, solver: randomized, seed: 1, power_iterations: 2 }}\noutput:\n  dir: {}\n",
            data.display(),
            out.display()
        ),
    );
    let err = fails(
        &["merge", "-q", "--with", tmp.path().to_str().unwrap()],
        &p,
        2,
    );
    assert!(
        err.contains("--with") && err.contains("solver exact or tsqr"),
        "{err}"
    );
    let mut checked = 0;
    run_rounds(&p, &out, &mut |round| {
        let partial = out.join("partials/shard-2-of-3.json");
        let round_file = |r: usize| out.join(format!("rounds/round-{r}.npz"));
        match round {
            1 => {
                // shard 2's partial of round 0: it did not run again in round 1
                let fresh = std::fs::read(&partial).unwrap();
                let saved = tmp.path().join("fresh");
                std::fs::rename(&partial, &saved).unwrap();
                std::fs::copy(tmp.path().join("round-0-shard-2"), &partial).unwrap();
                let err = fails(&["merge", "-q"], &p, 2);
                assert!(err.contains("shard-2-of-3.json"), "{err}");
                assert!(
                    err.contains("stale round") && err.contains("round 1"),
                    "{err}"
                );
                std::fs::write(&partial, fresh).unwrap();
                // a shard of another seed does not start from this fit's round
                let err = fails(
                    &["run", "-q", "--shard", "2/3", "--set", "steps.0.pca.seed=2"],
                    &p,
                    2,
                );
                assert!(err.contains("round-1.npz"), "{err}");
                assert!(
                    err.contains("another pipeline") && err.contains("seed"),
                    "{err}"
                );
                checked += 1;
            }
            2 => {
                // the round file damaged: the shards refuse it, naming it
                let good = std::fs::read(round_file(2)).unwrap();
                let mut bad = good.clone();
                let at = bad.len() - 300;
                bad[at] ^= 0x40;
                std::fs::write(round_file(2), &bad).unwrap();
                let err = fails(&["run", "-q", "--shard", "0/3"], &p, 2);
                assert!(err.contains("round-2.npz"), "{err}");
                assert!(err.contains("damaged round file"), "{err}");
                // missing: the partials are of round 2, the last round file is round 1
                std::fs::remove_file(round_file(2)).unwrap();
                let err = fails(&["merge", "-q"], &p, 2);
                assert!(err.contains("shard-0-of-3.json"), "{err}");
                assert!(
                    err.contains("round-2.npz") && err.contains("missing"),
                    "{err}"
                );
                std::fs::write(round_file(2), &good).unwrap();
                checked += 1;
            }
            _ => {}
        }
        if round == 0 {
            std::fs::copy(&partial, tmp.path().join("round-0-shard-2")).unwrap();
            // a shard of another seed is not merged
            ok(
                &["run", "-q", "--shard", "2/3", "--set", "steps.0.pca.seed=2"],
                &p,
            );
            let err = fails(&["merge", "-q"], &p, 2);
            assert!(err.contains("shard-2-of-3.json"), "{err}");
            assert!(
                err.contains("another pipeline") && err.contains("seed"),
                "{err}"
            );
            std::fs::copy(tmp.path().join("round-0-shard-2"), &partial).unwrap();
            checked += 1;
        }
    });
    assert_eq!(checked, 3);
}

#[test]
fn a_fit_in_rounds_needs_a_shared_folder_not_object_storage() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data(tmp.path());
    let p = pipeline(
        tmp.path(),
        &format!(
            "name: r\ninput:\n  path: {}\nsteps:\n  - pca: {{ n_components: 2, solver: randomized }}\noutput:\n  dir: s3://bucket/out\n",
            data.display()
        ),
    );
    for args in [&["run", "-q", "--shard", "0/2"][..], &["merge", "-q"][..]] {
        let err = fails(args, &p, 2);
        assert!(
            err.contains("a fit in rounds") && err.contains("not object storage"),
            "{err}"
        );
    }
}

#[test]
fn an_input_that_changes_between_rounds_is_a_data_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d.parquet");
    let generate = |rows: &str| {
        dimred()
            .args(["generate", "--rows", rows, "--cols", "30", "--rank", "3"])
            .args(["--row-group-rows", "50", "-q", "--output"])
            .arg(&data)
            .assert()
            .success();
    };
    generate("300");
    let p = pipeline(
        tmp.path(),
        &format!(
            "name: r\ninput:\n  path: {}\nsteps:\n  - pca: {{ n_components: 2, solver: randomized }}\noutput:\n  dir: {}\n",
            data.display(),
            tmp.path().join("out").display()
        ),
    );
    for shard in ["0/2", "1/2"] {
        ok(&["run", "-q", "--shard", shard], &p);
    }
    ok(&["merge", "-q"], &p);
    // rows added before round 1 read them
    generate("350");
    for shard in ["0/2", "1/2"] {
        ok(&["run", "-q", "--shard", shard], &p);
    }
    let err = fails(&["merge", "-q"], &p, 3);
    assert!(
        err.contains("kept 350 rows") && err.contains("(round 0) 300"),
        "{err}"
    );
    assert!(err.contains("the input changed during the fit"), "{err}");
}
