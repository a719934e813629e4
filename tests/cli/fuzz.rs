//! Fuzzing without nightly: proptest feeds random pipeline files, random CSV bytes and
//! truncated or bit-flipped Parquet files to `validate`, `scan` and `run`. The only
//! acceptable outcomes are success or one clear line with a documented exit code (2 config,
//! 3 data, 4 I/O, 5 numerical); never a panic, an abort, an internal error or a backtrace.
//!
//! `cargo test` runs a few cases of each; `.ci/run` runs thousands with
//! `DIMRED_FUZZ_CASES=N cargo test --release fuzz -- --ignored` under a time budget.
//! A crash found becomes a regression case in `regressions()`.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::common::*;

/// Runs dimred with `args` in `dir` and checks the outcome is acceptable.
fn acceptable(dir: &Path, args: &[&str], what: &str) -> Result<(), TestCaseError> {
    let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("dimred"))
        .current_dir(dir)
        .args(args)
        .args(if args[0] == "validate" {
            &[][..]
        } else {
            &["-q"][..]
        })
        // a "secret" that messages would show (the input's name): masked in every line
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .output()
        .unwrap();
    let code = output.status.code();
    let err = String::from_utf8_lossy(&output.stderr);
    match code {
        Some(0) => Ok(()),
        Some(2..=5) => {
            prop_assert_eq!(
                err.trim_end().lines().count(),
                1,
                "{}: not one line: {}",
                what,
                err
            );
            prop_assert!(err.starts_with("error: "), "{}: {}", what, err);
            prop_assert!(
                !err.contains("panicked") && !err.contains("internal error"),
                "{}: {}",
                what,
                err
            );
            if let Some(problem) = message_problem(&err, &[SECRET]) {
                return Err(TestCaseError::fail(format!("{what}: {problem}")));
            }
            Ok(())
        }
        other => Err(TestCaseError::fail(format!(
            "{what}: exit {other:?}: {err}"
        ))),
    }
}

/// Set as a credential's value for every fuzzed command: the input file's name, which
/// many messages name, so the sweep sees masking at any place in a line.
const SECRET: &str = "data.csv";

fn cases(default: u32) -> u32 {
    std::env::var("DIMRED_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const PIPELINE: &str = "name: fuzz
input:
  path: data.csv
  features: { exclude: [label] }
  passthrough: [label]
  batch_rows: 7
  missing: error
steps:
  - scale: { method: standard }
  - pca: { solver: exact, n_components: 2, whiten: false }
output:
  dir: out
  reconstruction_error: true
report:
  color_by: label
";

const DATA: &str = "a,b,c,label\n1,2,3,x\n2,1,0,y\n3,5,1,x\n4,4,4,y\n0,1,2,x\n";

/// A pipeline file made from the valid one: lines dropped, doubled or cut, values replaced
/// by odd tokens, bytes flipped.
fn pipeline_text() -> impl Strategy<Value = String> {
    let tokens = prop_oneof![
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("1e400".to_string()),
        Just("18446744073709551616".to_string()),
        Just("0.0000001".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("~".to_string()),
        Just("\"\"".to_string()),
        Just("auto".to_string()),
        Just("tsqr".to_string()),
        Just("randomized".to_string()),
        Just("incremental".to_string()),
        Just("impute_mean".to_string()),
        Just("skip_row".to_string()),
        Just("[a, b]".to_string()),
        Just("{ regex: \"(\" }".to_string()),
        Just("*".to_string()),
        Just("&x".to_string()),
        "[a-z_]{1,8}".prop_map(|s| s),
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| v.to_string()),
    ];
    (
        proptest::collection::vec((0usize..15, 0u8..5, tokens), 1..4),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3),
    )
        .prop_map(|(edits, flips)| {
            let mut lines: Vec<String> = PIPELINE.lines().map(String::from).collect();
            for (line, how, token) in edits {
                let i = line % lines.len();
                match how {
                    0 => {
                        lines.remove(i);
                    }
                    1 => {
                        let copy = lines[i].clone();
                        lines.insert(i, copy);
                    }
                    2 => {
                        // cut at a character boundary
                        let half = lines[i].chars().count() / 2;
                        lines[i] = lines[i].chars().take(half).collect();
                    }
                    _ => {
                        if let Some(colon) = lines[i].rfind(": ") {
                            lines[i] = format!("{}: {token}", &lines[i][..colon]);
                        } else {
                            lines[i].push_str(&token);
                        }
                    }
                }
                if lines.is_empty() {
                    lines.push(String::new());
                }
            }
            let mut bytes = lines.join("\n").into_bytes();
            for (at, bit) in flips {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] ^= 1 << (bit % 7);
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
}

/// CSV text: a header and rows of numbers, empty cells, words, quotes and ragged rows.
fn csv_text() -> impl Strategy<Value = String> {
    let cell = prop_oneof![
        4 => any::<i16>().prop_map(|v| v.to_string()),
        3 => any::<f64>().prop_map(|v| v.to_string()),
        1 => Just(String::new()),
        1 => Just("NaN".to_string()),
        1 => Just("inf".to_string()),
        1 => Just("1e308".to_string()),
        1 => Just("\"q,uo\"\"te\"".to_string()),
        1 => "[a-z]{1,4}".prop_map(|s| s),
        1 => Just("\u{feff}x".to_string()),
    ];
    proptest::collection::vec(proptest::collection::vec(cell, 1..6), 0..12).prop_map(|rows| {
        let mut text = String::from("a,b,c,label\n");
        for row in rows {
            text.push_str(&row.join(","));
            text.push('\n');
        }
        text
    })
}

fn fuzz_pipelines(runner_cases: u32) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("data.csv"), DATA).unwrap();
    let mut runner = TestRunner::new(Config {
        cases: runner_cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&pipeline_text(), |text| {
            std::fs::write(tmp.path().join("p.yaml"), &text).unwrap();
            acceptable(tmp.path(), &["validate", "p.yaml"], &text)?;
            acceptable(tmp.path(), &["run", "p.yaml"], &text)
        })
        .unwrap();
}

fn fuzz_csv(runner_cases: u32) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("p.yaml"), PIPELINE).unwrap();
    let mut runner = TestRunner::new(Config {
        cases: runner_cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&csv_text(), |text| {
            std::fs::write(tmp.path().join("data.csv"), &text).unwrap();
            acceptable(tmp.path(), &["scan", "data.csv"], &text)?;
            acceptable(tmp.path(), &["run", "p.yaml"], &text)
        })
        .unwrap();
}

fn fuzz_parquet(runner_cases: u32) {
    let tmp = tempfile::tempdir().unwrap();
    let original = std::fs::read(root().join("sample-data/digits.parquet")).unwrap();
    let yaml = "name: pq\ninput:\n  path: d.parquet\n  features: { regex: \"^pixel_\" }\n  passthrough: [label]\nsteps:\n  - pca: { n_components: 3 }\noutput:\n  dir: out\n";
    std::fs::write(tmp.path().join("p.yaml"), yaml).unwrap();
    let mut runner = TestRunner::new(Config {
        cases: runner_cases,
        failure_persistence: None,
        ..Config::default()
    });
    let damage = (
        any::<bool>(),
        any::<usize>(),
        proptest::collection::vec((any::<usize>(), 0u8..8), 1..8),
    );
    runner
        .run(&damage, |(truncate, cut, flips)| {
            let mut bytes = original.clone();
            let flips: Vec<(usize, u8)> = flips
                .iter()
                .map(|&(at, bit)| (at % bytes.len(), bit))
                .collect();
            if truncate {
                bytes.truncate(cut % bytes.len());
            } else {
                for &(i, bit) in &flips {
                    bytes[i] ^= 1 << bit;
                }
            }
            std::fs::write(tmp.path().join("d.parquet"), &bytes).unwrap();
            let what = if truncate {
                format!("parquet truncated to {} bytes", cut % original.len())
            } else {
                format!("parquet with bits flipped at {flips:?}")
            };
            acceptable(tmp.path(), &["scan", "d.parquet"], &what)?;
            acceptable(tmp.path(), &["run", "p.yaml"], &what)
        })
        .unwrap();
}

#[test]
fn a_few_random_inputs_end_in_success_or_one_clear_line() {
    fuzz_pipelines(cases(6));
    fuzz_csv(cases(6));
    fuzz_parquet(cases(6));
}

#[test]
#[ignore = "thousands of cases: run by .ci/run under a time budget"]
fn fuzz_pipelines_many() {
    fuzz_pipelines(cases(1000));
}

#[test]
#[ignore = "thousands of cases: run by .ci/run under a time budget"]
fn fuzz_csv_many() {
    fuzz_csv(cases(1000));
}

#[test]
#[ignore = "thousands of cases: run by .ci/run under a time budget"]
fn fuzz_parquet_many() {
    fuzz_parquet(cases(1000));
}

/// Crashes the fuzzer found, kept as cases.
#[test]
fn regressions() {
    let tmp = tempfile::tempdir().unwrap();
    // Flipped bits in digits.parquet on which the Parquet reader panicked (exit 70): a
    // dictionary page it then decoded without its dictionary, and a byte-stream-split page
    // it indexed past its end. Now: a data error naming the file.
    for (at, bit) in [(117_574, 7), (30_622, 1)] {
        flipped_parquet(tmp.path(), at, bit);
    }
}

fn flipped_parquet(dir: &Path, at: usize, bit: u8) {
    let tmp = tempfile::tempdir_in(dir).unwrap();
    let mut bytes = std::fs::read(root().join("sample-data/digits.parquet")).unwrap();
    bytes[at] ^= 1 << bit;
    let path = tmp.path().join("flipped.parquet");
    std::fs::write(&path, &bytes).unwrap();
    for args in [vec!["scan"], vec!["run"]] {
        let mut cmd = dimred();
        if args[0] == "scan" {
            cmd.arg("scan").arg(&path);
        } else {
            let yaml = format!(
                "name: f\ninput:\n  path: {}\n  features: {{ regex: \"^pixel_\" }}\nsteps:\n  - pca: {{ n_components: 2 }}\noutput:\n  dir: {}\n",
                path.display(),
                tmp.path().join("out").display()
            );
            cmd.arg("run").arg(pipeline(tmp.path(), &yaml));
        }
        let assert = cmd.arg("-q").assert().code(3);
        let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(
            err.contains("corrupt Parquet") && err.contains("flipped.parquet"),
            "{at}/{bit}: {err}"
        );
    }
}
