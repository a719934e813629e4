//! `embed` and `trustworthiness` against scikit-learn's numbers
//! (tests/reference/embed_reference.json, made by make_embed_reference.py), t-SNE's
//! quality on the digits, and every refusal.

use faer::{Mat, MatRef};
use serde_json::Value;

use super::*;
use crate::rng::splitmix64;

pub(super) fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/embed_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub(super) fn matrix(v: &Value) -> Mat<f64> {
    let rows = v.as_array().unwrap();
    let d = rows[0].as_array().unwrap().len();
    Mat::from_fn(rows.len(), d, |i, j| rows[i][j].as_f64().unwrap())
}

/// The 64 pixel columns of sample-data/digits.csv (1,797 rows).
fn digits() -> Mat<f64> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/sample-data/digits.csv");
    let text = std::fs::read_to_string(path).unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').take(64).map(|v| v.parse().unwrap()).collect())
        .collect();
    Mat::from_fn(rows.len(), 64, |i, j| rows[i][j])
}

/// The script's tie-free digits: pixel (i, j) plus (splitmix64(64i + j) >> 11) / 2⁵³.
pub(super) fn dequantised(rows: usize) -> Mat<f64> {
    let x = digits();
    Mat::from_fn(rows, 64, |i, j| {
        let u = (splitmix64((64 * i + j) as u64) >> 11) as f64 / (1u64 << 53) as f64;
        x[(i, j)] + u
    })
}

/// Equal up to each column's sign, to `tol` times the column's largest |value|.
fn assert_close_up_to_sign(got: MatRef<'_, f64>, want: MatRef<'_, f64>, tol: f64) {
    assert_eq!((got.nrows(), got.ncols()), (want.nrows(), want.ncols()));
    for c in 0..want.ncols() {
        let scale = (0..want.nrows()).fold(0.0f64, |a, i| a.max(want[(i, c)].abs()));
        let error = |sign: f64| {
            (0..want.nrows()).fold(0.0f64, |a, i| {
                a.max((sign * got[(i, c)] - want[(i, c)]).abs())
            })
        };
        let worst = error(1.0).min(error(-1.0));
        assert!(
            worst <= tol * scale,
            "column {c}: off by {worst:e} of {scale}"
        );
    }
}

fn params(method: Method) -> EmbedParams {
    EmbedParams {
        method,
        ..EmbedParams::default()
    }
}

#[test]
fn trustworthiness_equals_scikit_learn() {
    let r = reference();
    let t = &r["trustworthiness"];
    let x = dequantised(t["rows"].as_u64().unwrap() as usize);
    let y = matrix(&t["y"]);
    for k in [5, 10] {
        let want = t["value"][k.to_string()].as_f64().unwrap();
        let got = trustworthiness(x.as_ref(), y.as_ref(), k);
        assert!(
            (got - want).abs() <= 1e-12,
            "k = {k}: {got} vs scikit-learn's {want}"
        );
    }
}

#[test]
fn isomap_equals_scikit_learn() {
    let r = reference();
    let iso = &r["isomap"];
    let x = dequantised(iso["rows"].as_u64().unwrap() as usize);
    let p = EmbedParams {
        n_neighbors: iso["n_neighbors"].as_u64().unwrap() as usize,
        ..params(Method::Isomap)
    };
    let y = embed(x.as_ref(), &p).unwrap();
    assert_close_up_to_sign(y.as_ref(), matrix(&iso["embedding"]).as_ref(), 1e-6);
}

#[test]
fn isomap_does_not_depend_on_the_eigen_solvers_seed() {
    let x = dequantised(500);
    let p = |seed| EmbedParams {
        n_neighbors: 10,
        seed,
        ..params(Method::Isomap)
    };
    let a = embed(x.as_ref(), &p(1)).unwrap();
    let b = embed(x.as_ref(), &p(2)).unwrap();
    assert_close_up_to_sign(a.as_ref(), b.as_ref(), 1e-8);
}

#[test]
fn mds_equals_scikit_learns_pca_scores() {
    let r = reference();
    let m = &r["mds"];
    let x = digits();
    let x = x.subrows(0, m["rows"].as_u64().unwrap() as usize);
    let want = matrix(&m["embedding"]);
    // both sign-normalised the same way, so compared with signs
    let y = embed(x, &params(Method::Mds)).unwrap();
    for c in 0..2 {
        let scale = (0..want.nrows()).fold(0.0f64, |a, i| a.max(want[(i, c)].abs()));
        for i in 0..want.nrows() {
            assert!(
                (y[(i, c)] - want[(i, c)]).abs() <= 1e-6 * scale,
                "({i}, {c})"
            );
        }
    }
}

#[test]
fn mds_of_the_n_by_n_distances_equals_scikit_learns_pca_scores() {
    let r = reference();
    let m = &r["mds"];
    let n = m["rows"].as_u64().unwrap() as usize;
    let x = digits();
    let squared: Vec<f64> = (0..n * n)
        .map(|k| {
            (0..64)
                .map(|c| (x[(k / n, c)] - x[(k % n, c)]).powi(2))
                .sum()
        })
        .collect();
    let y = mds::classical(&squared, n, 0).unwrap();
    assert_close_up_to_sign(y.as_ref(), matrix(&m["embedding"]).as_ref(), 1e-6);
}

#[test]
fn tsne_on_400_digits_is_trustworthy() {
    let x = digits();
    let x = x.subrows(0, 400);
    let y = embed(x, &params(Method::Tsne)).unwrap();
    assert_eq!((y.nrows(), y.ncols()), (400, 2));
    let t = trustworthiness(x, y.as_ref(), 5);
    assert!(t >= 0.9, "trustworthiness {t}");
}

// Left out of the default run to keep it short on a small machine: about 3 s here (the
// dev profile builds this crate at opt-level 1), far longer at opt-level 0. Run it with
// `cargo test --lib embed -- --ignored`.
#[test]
#[ignore]
fn tsne_on_all_digits_reaches_scikit_learn_quality() {
    let x = digits();
    let y = embed(x.as_ref(), &params(Method::Tsne)).unwrap();
    let t = trustworthiness(x.as_ref(), y.as_ref(), 5);
    println!("t-SNE on all 1,797 digits: trustworthiness(5) = {t}");
    assert!(t >= 0.95, "trustworthiness {t}");
}

#[test]
fn tsne_gives_the_same_bits_for_any_number_of_threads() {
    let x = digits();
    let x = x.subrows(0, 150);
    let p = EmbedParams {
        perplexity: 10.0,
        max_iter: 300,
        ..params(Method::Tsne)
    };
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| embed(x, &p).unwrap())
    };
    let one = run(1);
    assert!(one == run(3), "3 threads differ from 1");
    assert!(one == run(1), "a second run differs");
}

// The refusals, each naming what is wrong.

fn small() -> Mat<f64> {
    Mat::from_fn(10, 3, |i, j| {
        (i * 3 + j) as f64 * if j == 1 { -1.0 } else { 1.0 }
    })
}

fn refusal(x: MatRef<'_, f64>, p: &EmbedParams) -> String {
    match embed(x, p) {
        Ok(_) => panic!("{p:?} was accepted"),
        Err(e) => e,
    }
}

#[test]
fn fewer_than_three_rows_are_refused() {
    let x = Mat::from_fn(2, 3, |i, j| (i + j) as f64);
    for method in [Method::Tsne, Method::Mds, Method::Isomap] {
        let e = refusal(x.as_ref(), &params(method));
        assert_eq!(e, "an embedding needs at least 3 rows, but the data has 2.");
    }
}

#[test]
fn no_columns_are_refused() {
    let x = Mat::<f64>::zeros(5, 0);
    let e = refusal(x.as_ref(), &params(Method::Mds));
    assert!(e.contains("at least one column"), "{e}");
}

#[test]
fn a_non_finite_value_is_refused_by_its_place() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut x = small();
        x[(6, 2)] = bad;
        for method in [Method::Tsne, Method::Mds, Method::Isomap] {
            let e = refusal(x.as_ref(), &params(method));
            assert!(
                e.starts_with(&format!("the value at row 7, column 3 is {bad}")),
                "{e}"
            );
        }
    }
}

#[test]
fn a_perplexity_out_of_range_is_refused() {
    for perplexity in [0.0, -1.0, 9.0, 30.0, f64::NAN] {
        let p = EmbedParams {
            perplexity,
            ..params(Method::Tsne)
        };
        let e = refusal(small().as_ref(), &p);
        assert!(
            e.starts_with("perplexity must be greater than 0 and less than 9 ")
                && e.ends_with(&format!("but it is {perplexity}.")),
            "{e}"
        );
    }
    let p = EmbedParams {
        perplexity: 8.5,
        max_iter: 250,
        ..params(Method::Tsne)
    };
    assert!(embed(small().as_ref(), &p).is_ok());
}

#[test]
fn too_few_iterations_are_refused() {
    let p = EmbedParams {
        perplexity: 3.0,
        max_iter: 249,
        ..params(Method::Tsne)
    };
    let e = refusal(small().as_ref(), &p);
    assert!(e.starts_with("max_iter must be at least 250"), "{e}");
}

#[test]
fn n_neighbors_out_of_range_is_refused() {
    for n_neighbors in [0, 10, 11] {
        let p = EmbedParams {
            n_neighbors,
            ..params(Method::Isomap)
        };
        let e = refusal(small().as_ref(), &p);
        assert_eq!(
            e,
            format!(
                "n_neighbors must be at least 1 and less than the number of rows (10), but it \
                 is {n_neighbors}."
            )
        );
    }
}

#[test]
fn a_disconnected_isomap_graph_is_refused_with_its_piece_count() {
    // scipy finds the same number of pieces in this graph (the reference's count)
    let r = reference();
    let d = &r["isomap_disconnected"];
    let x = dequantised(d["rows"].as_u64().unwrap() as usize);
    let p = EmbedParams {
        n_neighbors: d["n_neighbors"].as_u64().unwrap() as usize,
        ..params(Method::Isomap)
    };
    let pieces = d["n_connected_components"].as_u64().unwrap();
    let e = refusal(x.as_ref(), &p);
    assert_eq!(
        e,
        format!(
            "the 10-nearest-neighbour graph falls into {pieces} disconnected components, so \
             Isomap's geodesic distances between them are undefined; try a larger n_neighbors."
        )
    );
}

#[test]
fn identical_rows_give_a_finite_picture() {
    // PCA has no direction to start t-SNE from; the seeded Gaussian start takes over
    let x = Mat::from_fn(12, 2, |_, j| j as f64);
    let p = EmbedParams {
        perplexity: 3.0,
        max_iter: 250,
        ..params(Method::Tsne)
    };
    let y = embed(x.as_ref(), &p).unwrap();
    assert!((0..12).all(|i| y[(i, 0)].is_finite() && y[(i, 1)].is_finite()));
    let y = embed(x.as_ref(), &params(Method::Mds)).unwrap();
    assert!((0..12).all(|i| y[(i, 0)] == 0.0 && y[(i, 1)] == 0.0));
}
