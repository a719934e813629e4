//! Guard rails: what a batch user does by accident (two jobs on one output folder, an
//! output folder among the inputs) ends in a clear error, never in a mixed or lost result.

use std::fs::OpenOptions;
use std::io::Write;

use super::common::*;

fn breast_cancer_run(out: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = dimred();
    cmd.args(["run", "pipelines/breast_cancer_pca.yaml", "-q", "--set"])
        .arg(format!("output.dir={}", out.display()));
    cmd
}

#[test]
fn a_second_job_on_a_locked_output_folder_fails_naming_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // Another job holds the folder: an OS lock on its lock file, which names it.
    let mut held = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(out.join(".dimred.lock"))
        .unwrap();
    held.lock().unwrap();
    held.write_all(b"dimred pid 4242 on host batch-node-7 (started at unix time 1)\n")
        .unwrap();
    let assert = breast_cancer_run(&out).assert().code(4);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("in use by dimred pid 4242 on host batch-node-7"),
        "{err}"
    );
    assert!(
        !out.join("model.json").exists(),
        "the second job wrote nothing"
    );
    // transform into the same folder is refused the same way
    let assert = dimred()
        .args([
            "transform",
            "-q",
            "--model",
            "tests/golden/models/breast_cancer_pca.model.json",
        ])
        .args(["--input", "sample-data/breast_cancer.csv", "--output"])
        .arg(out.join("z.parquet"))
        .assert()
        .code(4);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(err.contains("pid 4242"), "{err}");
    held.unlock().unwrap();
}

#[test]
fn a_lock_left_by_a_dead_job_is_taken_over_and_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // A killed job's lock file: its OS lock went with the process.
    std::fs::write(out.join(".dimred.lock"), "dimred pid 4242 on host gone\n").unwrap();
    breast_cancer_run(&out).assert().success();
    assert!(out.join("model.json").exists());
    assert!(
        !out.join(".dimred.lock").exists(),
        "the run removes its lock"
    );
}

/// `validate` and `run` refuse the output folder `out` for input `input` (exit 2), naming
/// output.dir, and write nothing.
fn refused(input: &str, out: &std::path::Path, needle: &str) {
    for command in ["validate", "run"] {
        let assert = dimred()
            .args([command, "pipelines/breast_cancer_pca.yaml", "--set"])
            .arg(format!("input.path={input}"))
            .arg("--set")
            .arg(format!("output.dir={}", out.display()))
            .assert()
            .code(2);
        let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(
            err.contains("output.dir:") && err.contains(needle),
            "{command}: {err}"
        );
        assert!(!out.join("reduced.parquet").exists());
    }
}

#[test]
fn an_output_folder_among_the_inputs_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(
        root().join("sample-data/breast_cancer.csv"),
        data.join("part-0.csv"),
    )
    .unwrap();
    let folder = data.display().to_string();
    // the input folder itself, and a folder inside it
    refused(&folder, &data, "is inside the input");
    refused(&folder, &data.join("reduced"), "is inside the input");
    // a glob that would match the run's own outputs
    refused(&format!("{folder}/*"), &data, "is matched by the input");
    // an input file inside the output folder
    refused(
        &format!("{folder}/part-0.csv"),
        tmp.path(),
        "is inside the output folder",
    );
    // apart is fine: a glob of CSV files beside the output folder
    dimred()
        .args(["run", "pipelines/breast_cancer_pca.yaml", "-q", "--set"])
        .arg(format!("input.path={folder}/*.csv"))
        .arg("--set")
        .arg(format!("output.dir={}", data.join("out").display()))
        .assert()
        .success();
}

#[test]
fn generate_writes_the_format_its_output_is_named_for() {
    let tmp = tempfile::tempdir().unwrap();
    let mut variances = Vec::new();
    for name in ["d.parquet", "d.csv", "d.csv.gz"] {
        let data = tmp.path().join(name);
        dimred()
            .args([
                "generate", "-q", "--rows", "300", "--cols", "6", "--rank", "2", "--seed", "5",
                "--output",
            ])
            .arg(&data)
            .assert()
            .success();
        let head = std::fs::read(&data).unwrap();
        match name {
            "d.parquet" => assert_eq!(&head[..4], b"PAR1"),
            "d.csv" => assert!(head.starts_with(b"f0,f1,f2,f3,f4,f5\n")),
            _ => assert_eq!(&head[..2], &[0x1f, 0x8b], "gzip magic"),
        }
        let out = tmp.path().join(format!("out-{name}"));
        let yaml = format!(
            "name: g\ninput:\n  path: {}\nsteps:\n  - pca: {{ n_components: 3 }}\noutput:\n  dir: {}\n",
            data.display(),
            out.display()
        );
        dimred()
            .arg("run")
            .arg(pipeline(tmp.path(), &yaml))
            .arg("-q")
            .assert()
            .success();
        variances.push(floats(
            &json(&out.join("model.json"))["explained_variance_"],
        ));
    }
    // Floats are written shortest-round-trip: the same numbers from every format.
    assert_eq!(variances[0], variances[1]);
    assert_eq!(variances[0], variances[2]);

    let assert = dimred()
        .args(["generate", "-q", "--rows", "10", "--cols", "3", "--output"])
        .arg(tmp.path().join("x.txt"))
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        err.contains("x.txt: generate writes .parquet, .csv or .csv.gz"),
        "{err}"
    );
    assert!(!tmp.path().join("x.txt").exists());
}

/// Runs `steps` on `input` (features `pixel_*` or all but `target`) with overrides.
fn sized(
    dir: &std::path::Path,
    input: &str,
    features: &str,
    steps: &str,
    batch_rows: &str,
) -> assert_cmd::assert::Assert {
    let yaml = format!(
        "name: sized\ninput:\n  path: {}\n  features: {features}\n  batch_rows: {batch_rows}\nsteps:\n{steps}output:\n  dir: {}\n",
        root().join(input).display(),
        dir.join("out").display()
    );
    dimred()
        .arg("run")
        .arg(pipeline(dir, &yaml))
        .arg("-q")
        .assert()
}

fn refused_size(assert: assert_cmd::assert::Assert, key: &str) {
    let assert = assert.code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(&format!("{key} = ")) && err.contains("GiB of memory"),
        "{key}: {err}"
    );
}

#[test]
fn absurd_sizes_are_refused_or_capped_before_anything_is_allocated() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = "sample-data/digits.csv";
    let parquet = "sample-data/digits.parquet";
    let pixels = "{ regex: \"^pixel_\" }";
    let pca = "  - pca: { n_components: 2 }\n";
    let huge = "18446744073709551615";
    // CSV does not say how many rows it has: a chunk that size cannot be held.
    refused_size(
        sized(tmp.path(), csv, pixels, pca, huge),
        "input.batch_rows",
    );
    // Parquet does: more rows per chunk than the file has is the whole file.
    sized(tmp.path(), parquet, pixels, pca, huge).success();

    let ae = |key: &str| {
        format!(
            "  - scale: {{ method: minmax }}\n  - autoencoder: {{ encoder: [8], latent: 2, epochs: 1, {key}: 100000000000000 }}\n"
        )
    };
    refused_size(
        sized(tmp.path(), csv, pixels, &ae("shuffle_buffer"), "512"),
        "steps: autoencoder.shuffle_buffer",
    );
    refused_size(
        sized(tmp.path(), csv, pixels, &ae("batch_size"), "512"),
        "steps: autoencoder.batch_size",
    );
    sized(tmp.path(), parquet, pixels, &ae("shuffle_buffer"), "512").success();
    sized(tmp.path(), parquet, pixels, &ae("batch_size"), "512").success();

    let ipca = "  - pca: { solver: incremental, n_components: 2, batch_size: 100000000000000 }\n";
    refused_size(
        sized(tmp.path(), parquet, pixels, ipca, "512"),
        "steps: pca.batch_size",
    );
}

/// A message a user reads: one line, in plain words, no Rust or library spelling.
fn plain(err: &str) {
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    if let Some(problem) = message_problem(err, &[]) {
        panic!("{problem}");
    }
    for internal in [
        "Other(",
        "Some(",
        "None",
        "Options",
        "u64",
        "panicked",
        "RUST_BACKTRACE",
    ] {
        assert!(!err.contains(internal), "'{internal}' in: {err}");
    }
}

#[test]
fn messages_name_the_key_in_plain_words() {
    let tmp = tempfile::tempdir().unwrap();
    let base = format!(
        "name: m\ninput:\n  path: {}\n  features: {{ exclude: [target] }}\n  batch_rows: BATCH\nsteps:\n  - pca: PCA\noutput:\n  dir: {}\n",
        root().join("sample-data/breast_cancer.csv").display(),
        tmp.path().join("out").display()
    );
    let cases = [
        (
            base.replace("BATCH", "-3")
                .replace("PCA", "{ n_components: 2 }"),
            "5",
            "batch_rows: expected a whole number",
        ),
        (
            base.replace("BATCH", "99999999999999999999999")
                .replace("PCA", "{ n_components: 2 }"),
            "5",
            "batch_rows: expected a whole number",
        ),
        (
            base.replace("BATCH", "64").replace(
                "PCA",
                "{ solver: incremental, n_components: 2, batch_size: -1 }",
            ),
            "7",
            "batch_size: expected a whole number",
        ),
        (
            base.replace("BATCH", "64")
                .replace("PCA", "{ n_components: 2 }")
                .replacen("name: m\n", "name: m\nname: n\n", 1),
            "2",
            "duplicate mapping key: name: each key may be given once",
        ),
    ];
    for (yaml, line, needle) in cases {
        let file = pipeline(tmp.path(), &yaml);
        let assert = dimred().arg("validate").arg(&file).assert().code(2);
        let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        plain(&err);
        assert!(err.contains(&format!("pipeline.yaml:{line}:")), "{err}");
        assert!(err.contains(needle), "{needle}: {err}");
    }
    // A pipeline without scaling says so in words.
    let out = tmp.path().join("digits");
    let assert = dimred()
        .args([
            "run",
            "pipelines/digits_pca.yaml",
            "-q",
            "--set",
            "steps.0.scale.method=none",
            "--set",
        ])
        .arg(format!("output.dir={}", out.display()))
        .assert()
        .success();
    let table = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(table.contains("(exact solver, no scaling)"), "{table}");
}

fn temporaries(dir: &std::path::Path) -> Vec<String> {
    files_in(dir)
        .into_iter()
        .filter(|f| f.contains(".tmp-") || f == ".dimred.lock")
        .collect()
}

/// A long run of the digits autoencoder (many epochs), started in the background.
fn long_run(out: &std::path::Path) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("dimred"))
        .current_dir(root())
        .args([
            "run",
            "pipelines/digits_autoencoder.yaml",
            "-q",
            "--set",
            "steps.1.autoencoder.epochs=100000",
        ])
        .args([
            "--set",
            "steps.1.autoencoder.early_stopping.patience=100000",
            "--set",
        ])
        .arg(format!("output.dir={}", out.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn an_interrupted_run_removes_its_temporary_files_and_exits_128_plus_the_signal() {
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let child = long_run(&out);
        // wait until training has written a checkpoint, then interrupt
        let started = std::time::Instant::now();
        while !out.join("checkpoint.json").exists() && started.elapsed().as_secs() < 60 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::process::Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(code), "SIG{signal}");
        let err = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(err.contains(&format!("interrupted (SIG{signal})")), "{err}");
        assert_eq!(
            temporaries(&out),
            Vec::<String>::new(),
            "SIG{signal} left temporaries"
        );
    }
}

#[test]
fn a_run_removes_what_killed_runs_left_and_a_killed_run_leaves_no_partial_file() {
    let tmp = tempfile::tempdir().unwrap();
    // named as the example test names it, so the golden file applies as it is
    let out = tmp.path().join("breast_cancer_pca");
    // How long an uninterrupted run takes, to draw the kills over it.
    let started = std::time::Instant::now();
    breast_cancer_run(&out).assert().success();
    let whole = started.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&out).unwrap();
    // Kill moments drawn from a seeded stream (SplitMix64), over the whole run.
    let mut seed = 0x5eed_u64;
    let mut moment = || {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..16 {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dimred"))
            .current_dir(root())
            .args(["run", "pipelines/breast_cancer_pca.yaml", "-q", "--set"])
            .arg(format!("output.dir={}", out.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_secs_f64(whole * moment()));
        let _ = child.kill(); // SIGKILL: no chance to clean up
        let _ = child.wait();
        // Whatever holds a final name is complete.
        for name in ["model.json", "report.json", "report_sample.json"] {
            if let Ok(text) = std::fs::read_to_string(out.join(name)) {
                serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or_else(|e| panic!("kill {i}: partial {name}: {e}"));
            }
        }
        if out.join("reduced.parquet").exists() {
            parquet_columns(&out.join("reduced.parquet"));
        }
    }
    // A run after the kills cleans up after them and writes what an uninterrupted run does.
    std::fs::write(out.join(".model.json.tmp-999999"), "partial").unwrap();
    breast_cancer_run(&out).assert().success();
    assert_eq!(temporaries(&out), Vec::<String>::new());
    super::golden::check("breast_cancer_pca", &out, tmp.path());
}

/// The output columns of the set of files in `out`, checking that every file holding a
/// final name belongs to one run (reduced.parquet, model.json and report.json agree), that
/// `_SUCCESS` lists only files that are there, and that final files without `_SUCCESS`
/// are the part of a publication the next command removes. `None`: nothing final.
fn one_set(out: &std::path::Path, what: &str) -> Option<Vec<String>> {
    let mut seen: Vec<(&str, Vec<String>)> = Vec::new();
    let reduced = out.join("reduced.parquet");
    if reduced.exists() {
        let names = parquet_column_names(&reduced);
        let reduced_names: Vec<String> =
            names.into_iter().filter(|n| n.starts_with("pc")).collect();
        parquet_columns(&reduced); // readable as a whole
        seen.push(("reduced.parquet", reduced_names));
    }
    for name in ["model.json", "report.json"] {
        if let Ok(text) = std::fs::read_to_string(out.join(name)) {
            let v: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{what}: partial {name}: {e}"));
            let cols = v["output_columns"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: {name} without output_columns"))
                .iter()
                .map(|c| c.as_str().unwrap().to_string())
                .collect();
            seen.push((name, cols));
        }
    }
    if let Some((first, cols)) = seen.first() {
        for (name, other) in &seen[1..] {
            assert_eq!(cols, other, "{what}: {first} and {name} are from two runs");
        }
    }
    let finals: Vec<String> = [
        "reduced.parquet",
        "model.json",
        "model.npz",
        "report.json",
        "report.html",
        "report_sample.json",
    ]
    .into_iter()
    .filter(|n| out.join(n).exists())
    .map(String::from)
    .collect();
    match std::fs::read_to_string(out.join("_SUCCESS")) {
        Ok(list) => {
            let listed: Vec<&str> = list.lines().collect();
            for name in &listed {
                assert!(
                    out.join(name).exists(),
                    "{what}: _SUCCESS lists missing {name}"
                );
            }
            for name in &finals {
                assert!(
                    listed.contains(&name.as_str()),
                    "{what}: {name} not in _SUCCESS"
                );
            }
            assert!(listed.contains(&"model.json"), "{what}: {list}");
        }
        Err(_) if finals.is_empty() => {}
        Err(_) => {
            // killed while publishing: the marked staging folder is still there
            let publishing = files_in(out).into_iter().any(|f| {
                f.starts_with(".staging.tmp-") && out.join(&f).join(".publishing").exists()
            });
            assert!(
                publishing,
                "{what}: final files {finals:?} without _SUCCESS"
            );
        }
    }
    seen.first().map(|(_, cols)| cols.clone())
}

#[test]
fn a_rerun_over_an_output_killed_at_any_moment_leaves_the_previous_set_or_nothing_final() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let run = |k: usize| {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("dimred"));
        cmd.current_dir(root())
            .args(["run", "pipelines/breast_cancer_pca.yaml", "-q", "--set"])
            .arg(format!("output.dir={}", out.display()))
            .arg("--set")
            .arg(format!("steps.1.pca.n_components={k}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd
    };
    let started = std::time::Instant::now();
    assert!(run(3).status().unwrap().success());
    let whole = started.elapsed().as_secs_f64();
    assert_eq!(one_set(&out, "first run").map(|c| c.len()), Some(3));
    let mut seed = 0xdead_beef_u64;
    let mut moment = || {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    // each rerun asks for another width than the set it replaces
    for i in 0..16 {
        let k = if i % 2 == 0 { 5 } else { 3 };
        let mut child = run(k).spawn().unwrap();
        // the later part of the run (the output pass and the files) is the dangerous one
        std::thread::sleep(std::time::Duration::from_secs_f64(
            whole * (0.3 + 0.9 * moment()),
        ));
        let _ = child.kill();
        let _ = child.wait();
        one_set(&out, &format!("kill {i} (n_components {k})"));
    }
    // A failure after the output pass (a t-SNE picture of the 14 rows a filter keeps, with
    // perplexity 30) leaves the set it was to replace as it was.
    assert!(run(3).status().unwrap().success());
    let before: Vec<(String, Vec<u8>)> =
        ["model.json", "reduced.parquet", "report.json", "_SUCCESS"]
            .iter()
            .map(|n| (n.to_string(), std::fs::read(out.join(n)).unwrap()))
            .collect();
    let late = pipeline(
        tmp.path(),
        &format!(
            "name: late\ninput:\n  path: {}\n  features: {{ exclude: [target] }}\n  passthrough: [target]\nsteps:\n  - filter: \"mean_radius > 22\"\n  - pca: {{ n_components: 5 }}\noutput:\n  dir: {}\nreport:\n  embedding: {{ method: tsne, perplexity: 30 }}\n",
            root().join("sample-data/breast_cancer.csv").display(),
            out.display()
        ),
    );
    let assert = dimred().arg("run").arg(&late).arg("-q").assert().code(3);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(err.contains("report.embedding"), "{err}");
    for (name, bytes) in &before {
        assert_eq!(
            &std::fs::read(out.join(name)).unwrap(),
            bytes,
            "{name} changed"
        );
    }
    assert_eq!(temporaries(&out), Vec::<String>::new());
    assert!(
        !files_in(&out).iter().any(|f| f.starts_with(".staging")),
        "{:?}",
        files_in(&out)
    );
    // A set without reduced.parquet replaces one with it as a whole: the old file goes.
    let mut cmd = run(4);
    assert!(
        cmd.args(["--set", "output.reduced=false"])
            .status()
            .unwrap()
            .success()
    );
    assert!(
        !out.join("reduced.parquet").exists(),
        "{:?}",
        files_in(&out)
    );
    assert_eq!(one_set(&out, "no reduced").map(|c| c.len()), Some(4));
}

/// Kills `command` at `kills` seeded moments over `whole` seconds, calling `check` after each.
fn kill_at_moments(
    kills: usize,
    whole: f64,
    mut command: impl FnMut(usize) -> std::process::Command,
    mut check: impl FnMut(usize),
) {
    let mut seed = 0x7a11_u64;
    for i in 0..kills {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let moment = ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64;
        let mut child = command(i)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_secs_f64(whole * (0.2 + moment)));
        let _ = child.kill();
        let _ = child.wait();
        check(i);
    }
}

#[test]
fn a_transform_or_merge_killed_at_any_moment_leaves_a_whole_result() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    breast_cancer_run(&out).assert().success();
    // transform: its file is the old one or the new one, whole
    let target = tmp.path().join("t.parquet");
    let transform = |with_error: bool| {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("dimred"));
        cmd.current_dir(root())
            .args(["transform", "-q", "--model"])
            .arg(out.join("model.json"))
            .args(["--input", "sample-data/breast_cancer.csv", "--output"])
            .arg(&target);
        if with_error {
            cmd.arg("--reconstruction-error");
        }
        cmd
    };
    let started = std::time::Instant::now();
    assert!(transform(false).status().unwrap().success());
    let whole = started.elapsed().as_secs_f64();
    kill_at_moments(
        12,
        whole,
        |i| transform(i % 2 == 0),
        |i| {
            let columns = parquet_column_names(&target);
            parquet_columns(&target);
            assert!(columns.iter().any(|c| c == "pc10"), "kill {i}: {columns:?}");
        },
    );
    // the next transform removes what the killed ones left (their lock file, temporaries)
    assert!(transform(false).status().unwrap().success());
    assert_eq!(temporaries(tmp.path()), Vec::<String>::new());
    // merge over the run's set: the run's set or the merge's, never a mix
    // (the run's set has 10 components, the merge's 4)
    let sharded = |_: usize| {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("dimred"));
        cmd.current_dir(root())
            .args(["merge", "pipelines/breast_cancer_pca.yaml", "-q", "--set"])
            .arg(format!("output.dir={}", out.display()))
            .args(["--set", "steps.1.pca.n_components=4"]);
        cmd
    };
    dimred()
        .args([
            "run",
            "pipelines/breast_cancer_pca.yaml",
            "-q",
            "--shard",
            "0/1",
        ])
        .arg("--set")
        .arg(format!("output.dir={}", out.display()))
        .args(["--set", "steps.1.pca.n_components=4"])
        .assert()
        .success();
    assert_eq!(one_set(&out, "run").map(|c| c.len()), Some(10));
    let started = std::time::Instant::now();
    assert!(sharded(0).status().unwrap().success());
    let whole = started.elapsed().as_secs_f64();
    assert_eq!(one_set(&out, "merge").map(|c| c.len()), Some(4));
    // the run's reduced.parquet went with the run's set
    assert!(!out.join("reduced.parquet").exists());
    breast_cancer_run(&out).assert().success();
    kill_at_moments(12, whole, sharded, |i| {
        one_set(&out, &format!("merge kill {i}"));
    });
}

#[test]
fn numbers_out_of_double_range_are_a_clear_error_not_a_report_of_zeros() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |rows: &str, solver: &str| {
        let data = tmp.path().join("range.csv");
        std::fs::write(&data, format!("a,b,c\n{rows}")).unwrap();
        let yaml = format!(
            "name: r\ninput:\n  path: {}\nsteps:\n  - pca: {{ solver: {solver}, n_components: 1 }}\noutput:\n  dir: {}\n",
            data.display(),
            tmp.path().join("out").display()
        );
        let assert = dimred()
            .arg("run")
            .arg(pipeline(tmp.path(), &yaml))
            .arg("-q")
            .assert()
            .code(5);
        let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        plain(&err);
        assert!(!tmp.path().join("out/model.json").exists());
        err
    };
    for solver in ["exact", "tsqr", "randomized"] {
        // one column near 1e300, one near 1e-300
        let err = run("1e300,1e-300,1\n-2e300,3e-300,2\n3e300,-1e-300,4\n", solver);
        assert!(
            err.contains("'a'") && err.contains("overflows"),
            "{solver}: {err}"
        );
        let err = run("1,1e-300,1\n2,3e-300,2\n4,-1e-300,3\n", solver);
        assert!(
            err.contains("'b'") && err.contains("underflows"),
            "{solver}: {err}"
        );
        let err = run("1,2,3\n1,2,3\n1,2,3\n", solver);
        assert!(err.contains("every feature is constant"), "{solver}: {err}");
    }
}

#[test]
fn dictionary_and_decimal_columns_are_numbers_and_a_categorical_is_a_label() {
    use std::sync::Arc;

    use arrow_array::types::Int32Type;
    use arrow_array::{ArrayRef, Decimal128Array, DictionaryArray, Float64Array, RecordBatch};

    let tmp = tempfile::tempdir().unwrap();
    let n = 120;
    let x: Vec<f64> = (0..n).map(|i| ((i * 7) % 11) as f64 * 0.5).collect();
    let y_cents: Vec<i128> = (0..n).map(|i| ((i * 13) % 17) as i128 * 25 - 100).collect();
    let z: Vec<f64> = (0..n)
        .map(|i| (i as f64 * 0.3).sin() + x[i as usize] * 0.2)
        .collect();
    let class: Vec<&str> = (0..n)
        .map(|i| if x[i as usize] > 2.5 { "high" } else { "low" })
        .collect();
    // x as a dictionary of floats (its 11 distinct values), y as decimal(10,2)
    let x_dict: DictionaryArray<Int32Type> = {
        let keys = arrow_array::Int32Array::from((0..n).map(|i| (i * 7) % 11).collect::<Vec<_>>());
        let values = Float64Array::from((0..11).map(|v| v as f64 * 0.5).collect::<Vec<_>>());
        DictionaryArray::try_new(keys, Arc::new(values)).unwrap()
    };
    let y = Decimal128Array::from(y_cents.clone())
        .with_precision_and_scale(10, 2)
        .unwrap();
    let label: DictionaryArray<Int32Type> = class.iter().copied().collect();
    let batch = RecordBatch::try_from_iter(vec![
        ("x", Arc::new(x_dict) as ArrayRef),
        ("y", Arc::new(y) as ArrayRef),
        ("z", Arc::new(Float64Array::from(z.clone())) as ArrayRef),
        ("label", Arc::new(label) as ArrayRef),
    ])
    .unwrap();
    let parquet = tmp.path().join("typed.parquet");
    write_parquet(&parquet, &batch);
    // the same numbers as plain CSV
    let csv = tmp.path().join("plain.csv");
    let mut text = String::from("x,y,z,label\n");
    for i in 0..n as usize {
        text.push_str(&format!(
            "{},{},{},{}\n",
            x[i],
            y_cents[i] as f64 / 100.0,
            z[i],
            class[i]
        ));
    }
    std::fs::write(&csv, text).unwrap();

    let fit = |input: &std::path::Path, out: &str| {
        let yaml = format!(
            "name: t\ninput:\n  path: {}\n  features: {{ exclude: [label] }}\n  passthrough: [label]\nsteps:\n  - scale: {{ method: standard }}\n  - pca: {{ n_components: 2 }}\noutput:\n  dir: {}\nreport:\n  color_by: label\n  evaluate: {{ label: label }}\n",
            input.display(),
            tmp.path().join(out).display()
        );
        dimred()
            .arg("run")
            .arg(pipeline(tmp.path(), &yaml))
            .arg("-q")
            .assert()
            .success();
        json(&tmp.path().join(out).join("report.json"))
    };
    let typed = fit(&parquet, "typed");
    let plain = fit(&csv, "plain");
    assert_rel(
        &floats(&typed["explained_variance"]),
        &floats(&plain["explained_variance"]),
        1e-12,
        "dictionary and decimal columns read as their numbers",
    );
    assert_eq!(
        typed["evaluation"]["classes"],
        serde_json::json!(["high", "low"])
    );
}

#[test]
fn scan_names_every_column_kind_in_words_and_aligns_by_display_width() {
    use std::sync::Arc;

    use arrow_array::builder::{Int32Builder, ListBuilder};
    use arrow_array::types::Int32Type;
    use arrow_array::{
        ArrayRef, Decimal128Array, DictionaryArray, Float64Array, RecordBatch, StringArray,
        StructArray,
    };
    use arrow_schema::{DataType, Field};

    let tmp = tempfile::tempdir().unwrap();
    let mut tags = ListBuilder::new(Int32Builder::new());
    for i in 0..3 {
        tags.values().append_value(i);
        tags.append(true);
    }
    let point = StructArray::from(vec![(
        Arc::new(Field::new("x", DataType::Float64, false)),
        Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0])) as ArrayRef,
    )]);
    let cat: DictionaryArray<Int32Type> = vec!["a", "b", "a"].into_iter().collect();
    let batch = RecordBatch::try_from_iter(vec![
        (
            "größe",
            Arc::new(Float64Array::from(vec![1e300, -2e300, 3e-300])) as ArrayRef,
        ),
        (
            "名前",
            Arc::new(StringArray::from(vec!["x", "y", "z"])) as ArrayRef,
        ),
        ("tags", Arc::new(tags.finish()) as ArrayRef),
        ("point", Arc::new(point) as ArrayRef),
        ("cat", Arc::new(cat) as ArrayRef),
        (
            "price",
            Arc::new(
                Decimal128Array::from(vec![125, 250, 375])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ) as ArrayRef,
        ),
    ])
    .unwrap();
    let path = tmp.path().join("kinds.parquet");
    write_parquet(&path, &batch);

    let assert = dimred().arg("scan").arg(&path).arg("-q").assert().success();
    let text = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    for (column, kind) in [
        ("名前", "text"),
        ("tags", "list"),
        ("point", "struct"),
        ("cat", "dictionary of text"),
    ] {
        assert!(
            text.contains(&format!(
                "warning: column '{column}' is {kind}, not numeric"
            )),
            "{column}: {text}"
        );
    }
    assert!(
        !text.contains("Utf8") && !text.contains("Dictionary(") && !text.contains("List("),
        "{text}"
    );
    // decimals are numbers; 1e300 prints in the fixed-width scientific form
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_string()
    };
    assert!(
        line("price").contains("numeric") && line("price").contains("1.250000e0"),
        "{text}"
    );
    assert!(line("größe").contains("-2.000000e300"), "{text}");
    assert!(
        line("größe").ends_with("overflow") && !text.contains("NaN"),
        "{text}"
    );
    // every table row starts its kind at the same terminal column (a CJK character takes two)
    let table: Vec<&str> = text
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("warning"))
        .collect();
    let columns_of = |l: &str| {
        let name: String = l.chars().take_while(|c| *c != ' ').collect();
        let shown: usize = name
            .chars()
            .map(|c| {
                if ('\u{4e00}'..='\u{9fff}').contains(&c) {
                    2
                } else {
                    1
                }
            })
            .sum();
        shown + l[name.len()..].chars().take_while(|c| *c == ' ').count()
    };
    let first = columns_of(table[0]);
    for l in &table {
        assert_eq!(columns_of(l), first, "misaligned: {l}\n{text}");
    }
}

#[test]
fn every_exit_code_of_the_readme_table() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |yaml: &str| {
        let out = dimred()
            .arg("run")
            .arg(pipeline(tmp.path(), yaml))
            .arg("-q")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        plain(&err);
        (out.status.code(), err)
    };
    let csv = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let yaml = |input: &str, dir: &str| {
        format!(
            "name: x\ninput:\n  path: {input}\nsteps:\n  - pca: {{ n_components: 1 }}\noutput:\n  dir: {}\n",
            tmp.path().join(dir).display()
        )
    };
    // 2: the pipeline file is wrong
    let (code, err) =
        run(&yaml(&csv("a.csv", "a,b\n1,2\n3,5\n"), "o2").replace("name: x", "nme: x"));
    assert_eq!(code, Some(2), "{err}");
    // 3: the data cannot be used as asked
    let (code, err) = run(&yaml(&csv("b.csv", "a,b\n1,2\nx,5\n"), "o3"));
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("row 2") && err.contains("column 'a'"), "{err}");
    // 4: a path that does not exist
    let (code, err) = run(&yaml(
        &tmp.path().join("nope.csv").display().to_string(),
        "o4",
    ));
    assert_eq!(code, Some(4), "{err}");
    // 5: a numerical failure
    let (code, err) = run(&yaml(&csv("c.csv", "a,b\n1,2\n1,2\n1,2\n"), "o5"));
    assert_eq!(code, Some(5), "{err}");
    // 130 and 143: interrupted (an_interrupted_run_removes_its_temporary_files_...)
}

#[test]
fn report_sizes_are_checked_too() {
    let tmp = tempfile::tempdir().unwrap();
    let base = |report: &str| {
        format!(
            "name: r\ninput:\n  path: {}\n  features: {{ exclude: [target] }}\nsteps:\n  - pca: {{ n_components: 2 }}\noutput:\n  dir: {}\nreport:\n{report}",
            root().join("sample-data/breast_cancer.csv").display(),
            tmp.path().join("out").display()
        )
    };
    for (report, needle) in [
        (
            "  sample_rows: 1000000000000000\n",
            "report.sample_rows = 1000000000000000 would need",
        ),
        (
            "  image_shape: [18446744073709551615, 2]\n",
            "report.image_shape: must be [rows, cols]",
        ),
        (
            "  image_shape: [5, 7]\n",
            "5 × 7 = 35 pixels, but there are 30 features",
        ),
    ] {
        let file = pipeline(tmp.path(), &base(report));
        let assert = dimred().arg("validate").arg(&file).assert().code(2);
        let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        plain(&err);
        assert!(err.contains(needle), "{needle}: {err}");
    }
}
