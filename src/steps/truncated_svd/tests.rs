//! The step run through its `StepKind` on the sample data, against scikit-learn's
//! `TruncatedSVD` (tests/reference/truncated_svd.json, made by
//! make_truncated_svd_reference.py): the exact solver equals arpack's, the randomized one
//! its accuracy; chunking and shards change nothing; the model loads back; the keys are
//! checked at plan time.

use faer::Mat;
use serde_json::{Map, Value};

use super::{Solver, TruncatedSvdParams};
use crate::config::RawStep;
use crate::engine::PassStats;
use crate::steps::pca::params::PowerNormalizer;
use crate::steps::{Fit, FitStep, FittedStep, StepInput};

fn reference(case: &str) -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/truncated_svd.json"
    );
    let text = std::fs::read_to_string(path).expect("the reference is readable");
    let all: Value = serde_json::from_str(&text).expect("the reference is JSON");
    all["cases"][case].clone()
}

/// The case's data file, its label column left out.
fn data(case: &Value) -> Mat<f64> {
    let path = format!(
        "{}/{}",
        env!("CARGO_MANIFEST_DIR"),
        case["path"].as_str().unwrap()
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let label = header
        .iter()
        .position(|h| *h == case["label"].as_str().unwrap())
        .unwrap();
    let rows: Vec<Vec<f64>> = lines
        .map(|l| {
            l.split(',')
                .enumerate()
                .filter(|(i, _)| *i != label)
                .map(|(_, v)| v.parse().unwrap())
                .collect()
        })
        .collect();
    Mat::from_fn(rows.len(), rows[0].len(), |i, j| rows[i][j])
}

fn params(k: usize, solver: Solver) -> TruncatedSvdParams {
    TruncatedSvdParams {
        n_components: k,
        solver,
        n_iter: 5,
        n_oversamples: 10,
        power_iteration_normalizer: PowerNormalizer::Auto,
        seed: 0,
    }
}

fn input(p: usize) -> StepInput {
    StepInput {
        names: (0..p).map(|j| format!("f{j}")).collect(),
        source: "test".into(),
        total_rows: None,
        fingerprint: "0123456789abcdef".into(),
        float32: false,
    }
}

fn stats() -> PassStats {
    PassStats {
        rows_read: 0,
        rows_kept: 0,
        seconds: 0.0,
        filtered: Vec::new(),
    }
}

/// Every pass of `fit` over `x` in chunks of `chunk` rows.
fn feed(mut fit: Box<dyn FitStep>, x: &Mat<f64>, chunk: usize) -> Box<dyn FittedStep> {
    while fit.next_pass().is_some() {
        let mut start = 0;
        while start < x.nrows() {
            let len = chunk.min(x.nrows() - start);
            fit.update(x.subrows(start, len)).unwrap();
            start += len;
        }
        fit.end_pass(&stats()).unwrap();
    }
    fit.finish().unwrap()
}

fn fitted(x: &Mat<f64>, params: TruncatedSvdParams, chunk: usize) -> Box<dyn FittedStep> {
    let fit = RawStep::TruncatedSvd(params)
        .plan()
        .start(&input(x.ncols()))
        .unwrap();
    let Ok(fit) = fit.streamed() else {
        panic!("truncated_svd is fed by passes")
    };
    feed(fit, x, chunk)
}

fn section(step: &dyn FittedStep) -> Map<String, Value> {
    let mut model = Map::new();
    step.write_model(&mut model);
    model["truncated_svd"].as_object().unwrap().clone()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(floats).collect()
}

/// Each entry within `rtol` of its own size.
fn assert_rel(got: &[f64], want: &[f64], rtol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rtol * w.abs(),
            "{what}[{i}]: {g} vs scikit-learn's {w} (rtol {rtol})"
        );
    }
}

/// Entries within `atol`.
fn assert_abs(got: &[Vec<f64>], want: &[Vec<f64>], atol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: rows");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        for (j, (a, b)) in g.iter().zip(w).enumerate() {
            assert!(
                (a - b).abs() <= atol,
                "{what}[{i}][{j}]: {a} vs scikit-learn's {b} (atol {atol})"
            );
        }
    }
}

fn mat_rows(m: &Mat<f64>) -> Vec<Vec<f64>> {
    (0..m.nrows())
        .map(|i| (0..m.ncols()).map(|j| m[(i, j)]).collect())
        .collect()
}

/// The case's first rows through the fitted step's forward and inverse maps, against
/// scikit-learn's `transform` and `inverse_transform`, to `rtol` of the largest entry.
fn check_maps(step: &dyn FittedStep, case: &Value, x: &Mat<f64>, rtol: f64) {
    let n = case["rows"].as_u64().unwrap() as usize;
    let z = step.forward(x.subrows(0, n), &mut Mat::zeros(0, 0));
    let back = step.inverter().unwrap().inverse(z.as_ref());
    for (got, key) in [(z, "transform"), (back, "inverse_transform")] {
        let want = rows(&case[key]);
        let scale = want.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
        assert_abs(&mat_rows(&got), &want, rtol * scale, key);
    }
}

fn exact_equals_arpack(name: &str) {
    let case = reference(name);
    let x = data(&case);
    let k = case["n_components"].as_u64().unwrap() as usize;
    let step = fitted(&x, params(k, Solver::Exact), 500);
    let s = section(step.as_ref());
    assert_abs(
        &rows(&s["components_"]),
        &rows(&case["components_"]),
        1e-8,
        "components_",
    );
    for key in [
        "singular_values_",
        "explained_variance_",
        "explained_variance_ratio_",
    ] {
        assert_rel(&floats(&s[key]), &floats(&case[key]), 1e-10, key);
    }
    check_maps(step.as_ref(), &case, &x, 1e-10);
    assert_eq!(step.output_names()[0], "sv1");
}

#[test]
fn exact_solver_equals_scikit_learns_arpack_on_digits() {
    exact_equals_arpack("digits");
}

#[test]
fn exact_solver_equals_scikit_learns_arpack_on_breast_cancer() {
    exact_equals_arpack("breast_cancer");
}

/// The randomized solver (scikit-learn's defaults: 5 power iterations, 10 oversamples,
/// LU) against arpack, measured with seeds 0 and 1: on digits (k = 10) the variances and
/// singular values are within 5.1e-7 and 4e-8 of their exact values (scikit-learn's own
/// randomized solver, random_state=0: 8.7e-8), on breast cancer (k = 5) within 2.3e-13.
fn randomized_near_arpack(name: &str, variance_rtol: f64, components_atol: f64) {
    let case = reference(name);
    let x = data(&case);
    let k = case["n_components"].as_u64().unwrap() as usize;
    for seed in [0, 1] {
        let mut p = params(k, Solver::Randomized);
        p.seed = seed;
        let step = fitted(&x, p, 333);
        let s = section(step.as_ref());
        for key in [
            "singular_values_",
            "explained_variance_",
            "explained_variance_ratio_",
        ] {
            let (got, want) = (floats(&s[key]), floats(&case[key]));
            let worst = got
                .iter()
                .zip(&want)
                .map(|(g, w)| ((g - w) / w).abs())
                .fold(0.0, f64::max);
            eprintln!("{name} seed {seed} {key}: {worst:.1e} relative");
            assert_rel(&got, &want, variance_rtol, key);
        }
        assert_abs(
            &rows(&s["components_"]),
            &rows(&case["components_"]),
            components_atol,
            "components_",
        );
    }
}

#[test]
fn randomized_solver_is_within_its_accuracy_of_arpack_on_digits() {
    randomized_near_arpack("digits", 1e-6, 1e-3);
}

#[test]
fn randomized_solver_is_within_its_accuracy_of_arpack_on_breast_cancer() {
    randomized_near_arpack("breast_cancer", 1e-10, 1e-6);
}

#[test]
fn chunk_size_changes_no_bit() {
    let case = reference("breast_cancer");
    let x = data(&case);
    for solver in [Solver::Exact, Solver::Randomized] {
        let one = section(fitted(&x, params(4, solver), x.nrows()).as_ref());
        for chunk in [1, 7, 100] {
            let other = section(fitted(&x, params(4, solver), chunk).as_ref());
            assert_eq!(one, other, "{solver:?} in chunks of {chunk}");
        }
    }
}

/// Two shards' saved states merged equal one fit over both (to rounding: the moments
/// merge in another order).
#[test]
fn exact_shards_merge_into_the_fit_over_all_rows() {
    let case = reference("digits");
    let x = data(&case);
    let whole = section(fitted(&x, params(6, Solver::Exact), 256).as_ref());
    let planned = RawStep::TruncatedSvd(params(6, Solver::Exact)).plan();
    assert!(planned.shards());
    let shard = |rows: std::ops::Range<usize>| {
        let Fit::Merge(mut fit) = planned.start(&input(64)).unwrap() else {
            panic!("the exact solver merges")
        };
        fit.update(x.subrows(rows.start, rows.len())).unwrap();
        fit
    };
    let mut first = shard(0..1000);
    let second = shard(1000..x.nrows());
    first.merge(&second.save()).unwrap();
    first.end_pass(&stats()).unwrap();
    let merged = section(first.finish().unwrap().as_ref());
    for key in ["singular_values_", "explained_variance_"] {
        assert_rel(&floats(&merged[key]), &floats(&whole[key]), 1e-12, key);
    }
    assert_abs(
        &rows(&merged["components_"]),
        &rows(&whole["components_"]),
        1e-10,
        "components_",
    );
}

#[test]
fn a_model_loads_back_to_the_same_maps() {
    let case = reference("breast_cancer");
    let x = data(&case);
    let step = fitted(&x, params(5, Solver::Exact), 1000);
    let mut model = Map::new();
    step.write_model(&mut model);
    let loaded = super::Kind::load_for_test(&model, x.ncols());
    assert_eq!(section(loaded.as_ref()), section(step.as_ref()));
    check_maps(loaded.as_ref(), &case, &x, 1e-10);
    let mut arrays = Vec::new();
    loaded.arrays(&mut arrays);
    let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "truncated_svd.components_",
            "truncated_svd.singular_values_",
            "truncated_svd.explained_variance_",
            "truncated_svd.explained_variance_ratio_"
        ]
    );
}

fn problems(params: TruncatedSvdParams, width: usize, rows: Option<u64>) -> Vec<String> {
    let mut planned = RawStep::TruncatedSvd(params).plan();
    let mut problems = Vec::new();
    planned.check(Some(width), rows, &mut problems);
    problems
}

#[test]
fn n_components_is_checked_against_the_features_and_rows() {
    // scikit-learn's arpack needs k < min(n, p); its randomized solver allows k = p
    let at_width = problems(params(30, Solver::Exact), 30, None);
    assert_eq!(
        at_width,
        [
            "steps: truncated_svd.n_components = 30 must be below the 30 features with solver: \
          exact (as scikit-learn's arpack); solver: randomized allows up to 30"
        ]
    );
    assert!(problems(params(30, Solver::Randomized), 30, None).is_empty());
    assert_eq!(
        problems(params(31, Solver::Randomized), 30, None),
        ["steps: truncated_svd.n_components = 31 is more than the 30 features; at most 30"]
    );
    assert_eq!(
        problems(params(5, Solver::Exact), 30, Some(5)),
        ["steps: truncated_svd.n_components = 5 needs more than the input's 5 rows"]
    );
    assert!(problems(params(5, Solver::Randomized), 30, Some(5)).is_empty());
    assert_eq!(
        problems(params(0, Solver::Randomized), 30, None),
        ["steps: truncated_svd.n_components must be at least 1"]
    );
}

#[test]
fn the_exact_solvers_gram_is_counted_and_randomized_suggested() {
    let planned = RawStep::TruncatedSvd(params(10, Solver::Exact)).plan();
    let p = 20_000;
    assert!(planned.memory_bytes(p, None) >= 4 * (p as u64).pow(2) * 8);
    let hint = planned.lighter(p, None, None).unwrap();
    assert!(
        hint.starts_with("truncated_svd solver: randomized holds about "),
        "{hint}"
    );
    let randomized = RawStep::TruncatedSvd(params(10, Solver::Randomized)).plan();
    // no p × p matrix: a few p × l bases and a block of rows
    assert!(randomized.memory_bytes(p, None) < (p as u64).pow(2) * 8 / 20);
    assert!(randomized.lighter(p, None, None).is_none());
}

#[test]
fn scikit_learns_auto_normalizer() {
    let mut p = params(2, Solver::Randomized);
    assert_eq!(p.normalizer(), PowerNormalizer::Lu);
    p.n_iter = 2;
    assert_eq!(p.normalizer(), PowerNormalizer::None);
    p.power_iteration_normalizer = PowerNormalizer::Qr;
    assert_eq!(p.normalizer(), PowerNormalizer::Qr);
}
