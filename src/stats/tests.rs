use super::*;
use proptest::prelude::*;

#[test]
fn a_large_block_s_co_moment_has_the_same_bits_on_any_number_of_threads() {
    let (n, p) = (4096, 200);
    assert!(matches!(co_moment_par(n, p), Par::Rayon(_)));
    let x = Mat::from_fn(n, p, |i, j| {
        ((i * 7919 + j * 104_729) % 1_000) as f64 / 37.0
    });
    let parallel = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap()
        .install(|| Moments::of_block(x.as_ref()));
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| Moments::of_block(x.as_ref()));
    for j in 0..p {
        for i in j..p {
            assert_eq!(
                parallel.co_moment[(i, j)].to_bits(),
                one.co_moment[(i, j)].to_bits(),
                "({i}, {j})"
            );
        }
    }
}

fn naive_cov(rows: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = rows.len() as f64;
    let p = rows[0].len();
    let mean: Vec<f64> = (0..p)
        .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n)
        .collect();
    let cov = (0..p)
        .map(|a| {
            (0..p)
                .map(|b| {
                    rows.iter()
                        .map(|r| (r[a] - mean[a]) * (r[b] - mean[b]))
                        .sum::<f64>()
                        / (n - 1.0)
                })
                .collect()
        })
        .collect();
    (mean, cov)
}

fn to_mat(rows: &[Vec<f64>]) -> Mat<f64> {
    Mat::from_fn(rows.len(), rows[0].len(), |i, j| rows[i][j])
}

#[test]
fn matches_the_two_pass_formula() {
    let rows: Vec<Vec<f64>> = (0..50)
        .map(|i| {
            let t = i as f64;
            vec![
                t.sin(),
                (t * 0.3).cos() * 2.0 + t * 0.01,
                (t * 1.7).sin() - 0.5 * t.sin(),
            ]
        })
        .collect();
    let (mean, cov) = naive_cov(&rows);
    let mut acc = MomentsAccumulator::new(3);
    for part in rows.chunks(7) {
        acc.push(to_mat(part).as_ref());
    }
    let m = acc.finish();
    let c = m.covariance();
    for a in 0..3 {
        assert!((m.mean[a] - mean[a]).abs() < 1e-14);
        for b in 0..3 {
            assert!((c[(a, b)] - cov[a][b]).abs() < 1e-14, "{a},{b}");
        }
    }
}

#[test]
fn stable_with_a_huge_offset() {
    // x = 1e9 + small signal; the variance of the signal must survive.
    let signal: Vec<f64> = (0..10_000)
        .map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5)
        .collect();
    let var_true = {
        let m = signal.iter().sum::<f64>() / signal.len() as f64;
        signal.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (signal.len() - 1) as f64
    };
    let x = Mat::from_fn(signal.len(), 1, |i, _| 1e9 + signal[i]);
    let mut acc = MomentsAccumulator::new(1);
    acc.push(x.as_ref());
    let m = acc.finish();
    let var = m.covariance()[(0, 0)];
    assert!(
        ((var - var_true) / var_true).abs() < 1e-6,
        "{var} vs {var_true}"
    );
}

proptest! {
    #[test]
    fn chunking_does_not_change_a_bit(chunk in 1usize..5000, seed in 0u64..1000) {
        let n = 9000;
        let x = Mat::from_fn(n, 3, |i, j| (((i as u64 * 31 + j as u64 * 17 + seed) % 97) as f64) * 0.37 + j as f64);
        let whole = {
            let mut a = MomentsAccumulator::new(3);
            a.push(x.as_ref());
            a.finish()
        };
        let mut a = MomentsAccumulator::new(3);
        let mut s = 0;
        while s < n {
            let t = chunk.min(n - s);
            a.push(x.as_ref().subrows(s, t));
            s += t;
        }
        let parts = a.finish();
        prop_assert_eq!(parts.n, whole.n);
        prop_assert_eq!(&parts.mean, &whole.mean);
        for i in 0..3 { for j in 0..=i {
            prop_assert_eq!(parts.co_moment[(i, j)], whole.co_moment[(i, j)]);
        }}
    }

    #[test]
    fn merge_equals_fit_on_the_union(split in 1usize..299) {
        let x = Mat::from_fn(300, 2, |i, j| ((i * (j + 3)) % 11) as f64 + 0.5 * j as f64);
        let a = Moments::of_block(x.as_ref().subrows(0, split));
        let b = Moments::of_block(x.as_ref().subrows(split, 300 - split));
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        let whole = Moments::of_block(x.as_ref());
        for i in 0..2 {
            prop_assert!((ab.mean[i] - whole.mean[i]).abs() < 1e-12);
            prop_assert!((ba.mean[i] - whole.mean[i]).abs() < 1e-12);
            for j in 0..=i {
                let w = whole.co_moment[(i, j)];
                prop_assert!((ab.co_moment[(i, j)] - w).abs() < 1e-9 * w.abs().max(1.0));
                prop_assert!((ba.co_moment[(i, j)] - w).abs() < 1e-9 * w.abs().max(1.0));
            }
        }
    }
}

proptest! {
    /// The lane sums against a plain two-pass computation, with and without a bad value.
    #[test]
    fn column_stats_in_lanes_match_the_plain_formula(
        values in proptest::collection::vec(-1e6f64..1e6, 1..200), bad in 0usize..200
    ) {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let m2: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        // a sum's rounding scales with Σ|v|, not with the mean, which cancellation can
        // make tiny (values of ±1e6 with a mean near 0)
        let scale = values.iter().map(|v| v.abs()).sum::<f64>() / n;
        let mut s = ColumnStats::new();
        s.update(&values);
        prop_assert_eq!(s.count, values.len() as u64);
        prop_assert!((s.mean - mean).abs() <= 1e-12 * scale.max(1.0));
        prop_assert!((s.m2 - m2).abs() <= 1e-10 * m2.max(1.0));
        prop_assert_eq!(s.min, values.iter().copied().fold(f64::INFINITY, f64::min));
        prop_assert_eq!(s.max, values.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        for poison in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut with = values.clone();
            with.insert(bad.min(values.len()), poison);
            let mut t = ColumnStats::new();
            t.update(&with);
            prop_assert_eq!((t.count, t.missing), (values.len() as u64, 1));
            prop_assert!((t.mean - mean).abs() <= 1e-12 * scale.max(1.0));
        }
    }
}

#[test]
fn column_stats_skip_missing() {
    let mut s = ColumnStats::new();
    s.update(&[1.0, f64::NAN, 3.0]);
    s.update(&[5.0, f64::INFINITY]);
    assert_eq!(s.count, 3);
    assert_eq!(s.missing, 2);
    assert_eq!(s.mean, 3.0);
    assert_eq!(s.std(), 2.0);
    assert_eq!((s.min, s.max), (1.0, 5.0));
}
