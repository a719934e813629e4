//! k-nearest-neighbours classification as scikit-learn's `KNeighborsClassifier` with its
//! defaults: Euclidean distance, uniform weights. Among equal distances the earlier
//! training row wins; among classes with equal votes the first class (in sorted class
//! order) wins, as scikit-learn's mode. Distances come from one matrix product per block
//! of queries (‖a‖² + ‖b‖² − 2a·b), so the cost is a GEMM, not a loop per pair.

use faer::{Mat, MatRef};

/// Queries per block: bounds the distance matrix at `BLOCK × n_train` values.
const BLOCK: usize = 256;

/// Predicts the class index of every row of `queries` from the `k` nearest rows of
/// `train` (labels `y`, class indices below `n_classes`).
pub fn predict(
    train: MatRef<'_, f64>,
    y: &[usize],
    n_classes: usize,
    k: usize,
    queries: MatRef<'_, f64>,
) -> Vec<usize> {
    assert_eq!(train.nrows(), y.len(), "one label per training row");
    assert_eq!(train.ncols(), queries.ncols(), "same features");
    let n = train.nrows();
    let k = k.min(n).max(1);
    let norms = |m: MatRef<'_, f64>| -> Vec<f64> {
        (0..m.nrows())
            .map(|i| (0..m.ncols()).map(|j| m[(i, j)] * m[(i, j)]).sum())
            .collect()
    };
    let train_norms = norms(train);
    let mut out = Vec::with_capacity(queries.nrows());
    let mut start = 0;
    while start < queries.nrows() {
        let rows = BLOCK.min(queries.nrows() - start);
        let q = queries.subrows(start, rows);
        let q_norms = norms(q);
        let mut dot = Mat::<f64>::zeros(rows, n);
        faer::linalg::matmul::matmul(
            dot.as_mut(),
            faer::Accum::Replace,
            q,
            train.transpose(),
            1.0,
            faer::Par::Seq,
        );
        let mut order: Vec<usize> = Vec::with_capacity(n);
        let mut distance = vec![0.0; n];
        for i in 0..rows {
            for (t, d) in distance.iter_mut().enumerate() {
                *d = (q_norms[i] + train_norms[t] - 2.0 * dot[(i, t)]).max(0.0);
            }
            order.clear();
            order.extend(0..n);
            // the k smallest, ties by training order
            let cmp = |a: &usize, b: &usize| distance[*a].total_cmp(&distance[*b]).then(a.cmp(b));
            if k < n {
                order.select_nth_unstable_by(k - 1, cmp);
            }
            let mut votes = vec![0usize; n_classes];
            for &t in &order[..k] {
                votes[y[t]] += 1;
            }
            let best = (0..n_classes).fold(0, |b, c| if votes[c] > votes[b] { c } else { b });
            out.push(best);
        }
        start += rows;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_of_the_nearest() {
        // class 0 around 0, class 1 around 10, on a line
        let train = Mat::from_fn(6, 1, |i, _| [0.0, 1.0, 2.0, 10.0, 11.0, 12.0][i]);
        let y = [0, 0, 0, 1, 1, 1];
        let q = Mat::from_fn(3, 1, |i, _| [0.5, 11.5, 6.1][i]);
        assert_eq!(predict(train.as_ref(), &y, 2, 3, q.as_ref()), vec![0, 1, 1]);
        assert_eq!(predict(train.as_ref(), &y, 2, 1, q.as_ref()), vec![0, 1, 1]);
    }

    #[test]
    fn equal_votes_go_to_the_first_class() {
        let train = Mat::from_fn(2, 1, |i, _| [1.0, -1.0][i]);
        let y = [1, 0];
        let q = Mat::from_fn(1, 1, |_, _| 0.0);
        assert_eq!(predict(train.as_ref(), &y, 2, 2, q.as_ref()), vec![0]);
    }

    #[test]
    fn equal_distances_go_to_the_earlier_row() {
        let train = Mat::from_fn(3, 1, |i, _| [1.0, -1.0, 5.0][i]);
        let y = [1, 0, 0];
        let q = Mat::from_fn(1, 1, |_, _| 0.0);
        assert_eq!(predict(train.as_ref(), &y, 2, 1, q.as_ref()), vec![1]);
    }
}
