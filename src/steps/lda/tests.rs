//! The Ledoit–Wolf statistics of `shrinkage: auto`: merged blocks equal the sums over all
//! rows taken directly, and a shard's saved state merged into another gives the model of
//! one fit over both.

use faer::Mat;
use serde_json::Map;

use super::params::{LdaParams, LdaSolver, Shrinkage, ShrinkageName};
use super::solve::ClassStats;
use crate::config::RawStep;
use crate::engine::PassStats;
use crate::steps::{Fit, StepInput};

fn data(rows: usize, p: usize, seed: u64) -> Mat<f64> {
    let mut rng = crate::rng::Rng::new(seed);
    let mut values = vec![0.0; rows * p];
    rng.fill_normal(&mut values);
    Mat::from_fn(rows, p, |i, j| {
        50.0 + (j as f64 + 1.0) * values[i * p + j] + 0.7 * values[i * p]
    })
}

#[test]
fn higher_moments_merge_as_the_direct_sums() {
    let (n, p) = (300, 4);
    let x = data(n, p, 7);
    // blocks of uneven sizes, merged in order
    let mut merged = ClassStats::empty(p, true);
    for (start, len) in [(0, 1), (1, 120), (121, 7), (128, 172)] {
        merged.merge(&ClassStats::of(x.subrows(start, len), true));
    }
    let mean: Vec<f64> = (0..p)
        .map(|j| (0..n).map(|i| x[(i, j)]).sum::<f64>() / n as f64)
        .collect();
    let d = |i: usize, j: usize| x[(i, j)] - mean[j];
    let higher = merged.higher.as_ref().unwrap();
    for a in 0..p {
        for b in 0..p {
            let third: f64 = (0..n).map(|i| d(i, a) * d(i, a) * d(i, b)).sum();
            let fourth: f64 = (0..n).map(|i| d(i, a).powi(2) * d(i, b).powi(2)).sum();
            let close = |got: f64, want: f64| (got - want).abs() <= 1e-10 * want.abs().max(1.0);
            assert!(close(higher.third[(a, b)], third), "third ({a}, {b})");
            assert!(close(higher.fourth[(a, b)], fourth), "fourth ({a}, {b})");
        }
    }
}

fn fit(rows: &[(&Mat<f64>, &[String])], save_between: bool) -> Map<String, serde_json::Value> {
    let params = LdaParams {
        label: "y".into(),
        n_components: None,
        solver: LdaSolver::Eigen,
        shrinkage: Some(Shrinkage::Named(ShrinkageName::Auto)),
        tol: 1e-4,
        priors: None,
        predict: true,
    };
    let step = RawStep::Lda(params).plan();
    let p = rows[0].0.ncols();
    let input = StepInput {
        names: (0..p).map(|j| format!("f{j}")).collect(),
        source: "test".into(),
        total_rows: None,
        fingerprint: "0123456789abcdef".into(),
        float32: false,
    };
    let start = || match step.start(&input).unwrap() {
        Fit::Merge(fit) => fit,
        _ => panic!("lda merges"),
    };
    let stats = PassStats {
        rows_read: 0,
        rows_kept: 0,
        seconds: 0.0,
        filtered: Vec::new(),
    };
    let mut last = start();
    for (i, (x, labels)) in rows.iter().enumerate() {
        if save_between && i > 0 {
            // a fresh shard: the rows so far arrive as a saved state
            let saved = last.save();
            last = start();
            last.merge(&saved).unwrap();
        }
        last.update_labelled(x.as_ref(), labels, &[]).unwrap();
    }
    last.end_pass(&stats).unwrap();
    let fitted = last.finish().unwrap();
    let mut model = Map::new();
    fitted.write_model(&mut model);
    model
}

#[test]
fn shards_with_shrinkage_auto_merge_to_one_fit() {
    let a = data(90, 3, 1);
    let b = data(70, 3, 2);
    let labels = |n: usize| -> Vec<String> { (0..n).map(|i| (i % 3).to_string()).collect() };
    let (la, lb) = (labels(90), labels(70));
    let one = fit(&[(&a, &la), (&b, &lb)], false);
    let shards = fit(&[(&a, &la), (&b, &lb)], true);
    let numbers = |m: &Map<String, serde_json::Value>| -> Vec<f64> {
        let text = serde_json::to_string(&m["lda"]["coef_"]).unwrap();
        serde_json::from_str::<Vec<Vec<f64>>>(&text)
            .unwrap()
            .concat()
    };
    let (x, y) = (numbers(&one), numbers(&shards));
    let scale = x.iter().map(|v| v.abs()).fold(0.0, f64::max);
    for (u, v) in x.iter().zip(&y) {
        assert!((u - v).abs() <= 1e-10 * scale, "{u} vs {v}");
    }
}
