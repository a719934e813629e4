//! The randomized solver against the exact one on data with a known spectrum, its
//! determinism, and its memory on wide data (p = 20,000, where p² would need 3.2 GB).

use std::path::Path;

use super::common::*;

fn generate(dir: &Path, name: &str, args: &[&str]) -> std::path::PathBuf {
    let data = dir.join(name);
    dimred()
        .arg("generate")
        .args(args)
        .args(["-q", "--output"])
        .arg(&data)
        .assert()
        .success();
    data
}

fn run_generated(data: &Path, out: &Path, sets: &[&str]) -> (serde_json::Value, serde_json::Value) {
    let mut cmd = dimred();
    cmd.args(["run", "pipelines/generated_pca.yaml", "-q", "--set"])
        .arg(format!("input.path={}", data.display()))
        .arg("--set")
        .arg(format!("output.dir={}", out.display()));
    for s in sets {
        cmd.args(["--set", s]);
    }
    cmd.assert().success();
    (
        json(&out.join("report.json")),
        json(&out.join("model.json")),
    )
}

#[test]
fn randomized_matches_the_exact_solver_on_a_known_spectrum() {
    let tmp = tempfile::tempdir().unwrap();
    let data = generate(
        tmp.path(),
        "g.parquet",
        &[
            "--rows", "50000", "--cols", "64", "--rank", "8", "--seed", "3",
        ],
    );
    let (exact, exact_model) = run_generated(
        &data,
        &tmp.path().join("exact"),
        &["steps.0.pca.solver=exact"],
    );
    let (rand, rand_model) = run_generated(
        &data,
        &tmp.path().join("rand"),
        &["steps.0.pca.solver=randomized"],
    );
    assert_eq!(rand["solver"], "randomized");
    for key in [
        "explained_variance",
        "explained_variance_ratio",
        "singular_values",
    ] {
        assert_rel(&floats(&rand[key]), &floats(&exact[key]), 1e-6, key);
    }
    assert_rel(
        &[rand["noise_variance"].as_f64().unwrap()],
        &[exact["noise_variance"].as_f64().unwrap()],
        1e-6,
        "noise_variance",
    );
    for (i, (a, e)) in matrix(&rand_model["components_"])
        .iter()
        .zip(matrix(&exact_model["components_"]))
        .enumerate()
    {
        assert_vec_close(a, &e, 1e-6, &format!("component {i}"));
    }
    // the report says how many passes were made: scale, sketch, 4 power iterations (auto), output
    let names: Vec<String> = rand["passes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "scale",
            "sketch",
            "power 1",
            "power 2",
            "power 3",
            "power 4",
            "transform"
        ]
    );
}

#[test]
fn randomized_is_deterministic_and_independent_of_batch_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let data = generate(
        tmp.path(),
        "g.parquet",
        &[
            "--rows", "5000", "--cols", "40", "--rank", "4", "--seed", "9",
        ],
    );
    let sets = [
        "steps.0.pca.solver=randomized",
        "steps.0.pca.n_components=4",
        "steps.0.pca.seed=11",
    ];
    let (_, a) = run_generated(
        &data,
        &tmp.path().join("a"),
        &[&sets[..], &["input.batch_rows=7"]].concat(),
    );
    let (_, b) = run_generated(
        &data,
        &tmp.path().join("b"),
        &[&sets[..], &["input.batch_rows=100000"]].concat(),
    );
    assert_eq!(a["components_"], b["components_"]);
    assert_eq!(a["explained_variance_"], b["explained_variance_"]);
}

fn pass_names(report: &serde_json::Value) -> Vec<String> {
    report["passes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_spill_file_gives_the_same_numbers_as_decoding_and_is_removed() {
    // float32 columns spill as f32 records; float64 ones as f64 records
    let tmp = tempfile::tempdir().unwrap();
    for (name, extra) in [
        ("f32.parquet", &["--float32"][..]),
        ("f64.parquet", &[][..]),
    ] {
        let data = generate(
            tmp.path(),
            name,
            &[
                &[
                    "--rows", "3000", "--cols", "50", "--rank", "4", "--seed", "2",
                ][..],
                extra,
            ]
            .concat(),
        );
        let sets = [
            "steps.0.pca.solver=randomized",
            "steps.0.pca.n_components=4",
            "input.batch_rows=333",
        ];
        let kept = tmp.path().join(format!("kept-{name}"));
        let (report, model) = run_generated(&data, &kept, &sets);
        let decoded = tmp.path().join(format!("decoded-{name}"));
        let (report_d, model_d) = run_generated(
            &data,
            &decoded,
            &[&sets[..], &["input.spill=false"]].concat(),
        );
        for key in [
            "components_",
            "explained_variance_",
            "mean_",
            "noise_variance_",
        ] {
            assert_eq!(model[key], model_d[key], "{name}: {key}");
        }
        assert_eq!(pass_names(&report), pass_names(&report_d));
        for pass in report["passes"].as_array().unwrap() {
            assert_eq!(pass["rows"], 3000, "{name}: {pass}");
        }
        for dir in [&kept, &decoded] {
            let left: Vec<String> = files_in(dir)
                .into_iter()
                .filter(|f| f.starts_with('.'))
                .collect();
            assert!(left.is_empty(), "{name}: left behind {left:?}");
        }
    }
}

#[test]
fn tol_ends_the_power_iterations_once_the_variances_settle() {
    let tmp = tempfile::tempdir().unwrap();
    let data = generate(
        tmp.path(),
        "g.parquet",
        &[
            "--rows", "20000", "--cols", "64", "--rank", "8", "--seed", "4",
        ],
    );
    let (exact, _) = run_generated(
        &data,
        &tmp.path().join("exact"),
        &["steps.0.pca.solver=exact", "output.reduced=false"],
    );
    let randomized = [
        "steps.0.pca.solver=randomized",
        "steps.0.pca.power_iterations=7",
        "output.reduced=false",
    ];
    let (all, _) = run_generated(&data, &tmp.path().join("all"), &randomized);
    assert_eq!(pass_names(&all).len(), 1 + 1 + 7);
    let (early, _) = run_generated(
        &data,
        &tmp.path().join("early"),
        &[&randomized[..], &["steps.0.pca.tol=1e-9"]].concat(),
    );
    // the signal (10 … 1.35) stands far above the noise (0.01): a few passes settle it
    let passes = pass_names(&early);
    assert!(passes.len() < 1 + 1 + 7, "{passes:?}");
    assert!(passes.len() >= 1 + 1 + 2, "{passes:?}");
    assert_rel(
        &floats(&early["explained_variance"]),
        &floats(&exact["explained_variance"]),
        1e-8,
        "variances after the early stop",
    );
}

#[test]
fn randomized_fits_20000_features_in_under_1_gb() {
    let tmp = tempfile::tempdir().unwrap();
    let data = generate(
        tmp.path(),
        "wide.parquet",
        &[
            "--rows",
            "512",
            "--cols",
            "20000",
            "--rank",
            "5",
            "--seed",
            "1",
            "--row-group-rows",
            "256",
        ],
    );
    let (report, model) = run_generated(
        &data,
        &tmp.path().join("out"),
        &[
            "steps.0.pca.solver=randomized",
            "steps.0.pca.n_components=5",
            "steps.0.pca.power_iterations=1",
            "input.batch_rows=256",
            "output.reduced=false",
        ],
    );
    let peak = report["peak_rss_bytes"].as_u64().unwrap();
    assert!(peak < 1 << 30, "peak {} MB", peak >> 20);
    assert_eq!(model["n_features_in_"], 20000);
    // 512 rows of 20,000 noisy features: the signal variances (10, 8, 6.4, 5.12, 4.1) come
    // back up to sampling error and the noise bulk (p/n · σ² ≈ 0.4).
    let truth = floats(&json(&tmp.path().join("wide.eigenvalues.json"))["eigenvalues"]);
    assert_rel(
        &floats(&report["explained_variance"]),
        &truth[..5],
        0.3,
        "signal variances",
    );
}
