//! Trustworthiness (Venna & Kaski, "Neighborhood preservation in nonlinear projection
//! methods", ICANN 2001), exactly as scikit-learn's `sklearn.manifold.trustworthiness`
//! with the Euclidean metric:
//!
//! T(k) = 1 − 2 / (n·k·(2n − 3k − 1)) · Σᵢ Σ_{j ∈ Nᵢᵏ} max(0, r(i, j) − k),
//!
//! Nᵢᵏ the k nearest neighbours of i in the embedding and r(i, j) the rank of j among i's
//! neighbours in the input (1 = nearest). It penalises points that look close in the
//! picture but are far in the data.
//!
//! scikit-learn keeps an n × n rank table; here each row's penalty is counted from one
//! row of distances, so memory is O(n) per thread and n = 20,000 is fine. Exact ties in
//! distance are ordered by row index; scikit-learn leaves their order to numpy's unstable
//! sort, so on data with tied distances the two can differ in the last ranks.

use faer::MatRef;
use rayon::prelude::*;

use super::knn::Rows;

/// The trustworthiness of the embedding `y` (n × any) of the samples `x` (n × d) at
/// `n_neighbors` neighbours: 1 when every embedded neighbour is also a near neighbour in
/// the data.
///
/// # Panics
/// If `x` and `y` have different numbers of rows, or `n_neighbors` is not in
/// [1, n / 2) (scikit-learn's bounds, which keep the value in [0, 1]): both are errors
/// of the calling code, not of data.
pub fn trustworthiness(x: MatRef<'_, f64>, y: MatRef<'_, f64>, n_neighbors: usize) -> f64 {
    assert_eq!(x.nrows(), y.nrows(), "one embedded row per sample");
    let n = x.nrows();
    let k = n_neighbors;
    assert!(
        k >= 1 && (k as f64) < n as f64 / 2.0,
        "n_neighbors ({k}) must be at least 1 and less than n_samples / 2 ({})",
        n as f64 / 2.0
    );
    let (x, y) = (Rows::new(x), Rows::new(y));
    let penalty: u64 = (0..n)
        .into_par_iter()
        .map_init(
            || (vec![0.0; n], Vec::with_capacity(n)),
            |(input, scratch), i| row_penalty(&x, &y, i, k, input, scratch),
        )
        .sum();
    // scikit-learn's expression, operation for operation
    let (nf, kf) = (n as f64, k as f64);
    1.0 - penalty as f64 * (2.0 / ((n * k) as f64 * (2.0 * nf - 3.0 * kf - 1.0)))
}

/// Σ_{j ∈ Nᵢᵏ} max(0, r(i, j) − k) for one row `i`.
fn row_penalty(
    x: &Rows,
    y: &Rows,
    i: usize,
    k: usize,
    input: &mut [f64],
    scratch: &mut Vec<(f64, usize)>,
) -> u64 {
    for (l, d) in input.iter_mut().enumerate() {
        *d = x.squared_distance(i, l);
    }
    let by_key = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    // the k nearest in the embedding
    scratch.clear();
    scratch.extend(
        (0..y.n)
            .filter(|&l| l != i)
            .map(|l| (y.squared_distance(i, l), l)),
    );
    scratch.select_nth_unstable_by(k - 1, by_key);
    // those neighbours' keys in the input, in increasing order
    let mut keys: Vec<(f64, usize)> = scratch[..k].iter().map(|&(_, j)| (input[j], j)).collect();
    keys.sort_unstable_by(by_key);
    // below[m]: how many other rows sort before the m-th key (ranks by counting, O(n log k))
    let mut below = vec![0u64; k + 1];
    for (l, &d) in input.iter().enumerate() {
        if l != i {
            let key = (d, l);
            let at = keys.partition_point(|probe| by_key(probe, &key).is_le());
            below[at] += 1;
        }
    }
    let mut before = 0;
    let mut penalty = 0;
    for &count in below.iter().take(k) {
        before += count;
        let rank = before + 1;
        penalty += rank.saturating_sub(k as u64);
    }
    penalty
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    /// The definition, literally: every rank from a full sort.
    fn by_definition(x: &Mat<f64>, y: &Mat<f64>, k: usize) -> f64 {
        let n = x.nrows();
        let dist = |m: &Mat<f64>, i: usize, j: usize| {
            (0..m.ncols())
                .map(|c| (m[(i, c)] - m[(j, c)]).powi(2))
                .sum::<f64>()
        };
        let order = |m: &Mat<f64>, i: usize| {
            let mut o: Vec<usize> = (0..n).filter(|&j| j != i).collect();
            o.sort_by(|&a, &b| dist(m, i, a).total_cmp(&dist(m, i, b)).then(a.cmp(&b)));
            o
        };
        let mut t = 0usize;
        for i in 0..n {
            let input = order(x, i);
            for &j in &order(y, i)[..k] {
                let rank = input.iter().position(|&l| l == j).unwrap() + 1;
                t += rank.saturating_sub(k);
            }
        }
        1.0 - t as f64 * 2.0 / (n as f64 * k as f64 * (2.0 * n as f64 - 3.0 * k as f64 - 1.0))
    }

    #[test]
    fn counting_ranks_equals_sorting_them() {
        let mut v = vec![0.0; 60 * 4];
        crate::rng::Rng::new(9).fill_normal(&mut v);
        let x = Mat::from_fn(60, 3, |i, j| v[4 * i + j].round());
        let y = Mat::from_fn(60, 2, |i, j| v[4 * i + j + 1] + 0.3 * v[4 * i + 3]);
        for k in [1, 5, 12, 29] {
            let got = trustworthiness(x.as_ref(), y.as_ref(), k);
            assert_eq!(got, by_definition(&x, &y, k), "k = {k}");
        }
    }

    #[test]
    fn a_copy_is_perfectly_trustworthy_and_a_reversal_is_not() {
        let x = Mat::from_fn(20, 1, |i, _| (i * i) as f64);
        assert_eq!(trustworthiness(x.as_ref(), x.as_ref(), 3), 1.0);
        let y = Mat::from_fn(20, 1, |i, _| {
            if i % 2 == 0 {
                i as f64
            } else {
                100.0 - i as f64
            }
        });
        assert!(trustworthiness(x.as_ref(), y.as_ref(), 3) < 0.9);
    }

    #[test]
    #[should_panic(expected = "less than n_samples / 2")]
    fn too_many_neighbours_is_refused_as_scikit_learn_does() {
        let x = Mat::from_fn(10, 1, |i, _| i as f64);
        trustworthiness(x.as_ref(), x.as_ref(), 5);
    }
}
