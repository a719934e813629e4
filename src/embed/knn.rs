//! Exact k nearest neighbours by brute force, for t-SNE's affinities and Isomap's graph.
//! In tens of dimensions a tree prunes little, and at n ≤ ~20,000 a GEMM over blocks of
//! rows (‖a‖² + ‖b‖² − 2a·b) does all pairs in seconds. The few candidates it keeps per
//! row are re-measured as Σ(aᵢ − bᵢ)², so the distances handed on carry no cancellation
//! error and the order is exact (ties by row index).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;

use super::faer_threads;

/// Rows of queries per GEMM block: bounds the scratch at `BLOCK × n` distances per thread.
const BLOCK: usize = 64;

/// Extra candidates kept from the GEMM distances before re-measuring exactly, so a
/// rounding-level near-tie at the k-th place cannot push out a true neighbour.
const MARGIN: usize = 8;

/// The samples copied row by row, so one sample is one contiguous slice.
pub(super) struct Rows {
    pub n: usize,
    pub d: usize,
    data: Vec<f64>,
}

impl Rows {
    pub fn new(x: MatRef<'_, f64>) -> Rows {
        let (n, d) = (x.nrows(), x.ncols());
        let mut data = Vec::with_capacity(n * d);
        for i in 0..n {
            data.extend((0..d).map(|j| x[(i, j)]));
        }
        Rows { n, d, data }
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.d..(i + 1) * self.d]
    }

    /// Σ(aᵢ − bᵢ)²: the same bits for (i, j) and (j, i).
    pub fn squared_distance(&self, i: usize, j: usize) -> f64 {
        self.row(i)
            .iter()
            .zip(self.row(j))
            .map(|(a, b)| (a - b) * (a - b))
            .sum()
    }

    fn as_mat(&self) -> MatRef<'_, f64> {
        MatRef::from_row_major_slice(&self.data, self.n, self.d)
    }
}

/// Every row's k nearest other rows, nearest first (ties by row index), row-major n × k.
pub(super) struct Neighbours {
    pub k: usize,
    pub index: Vec<usize>,
    pub squared_distance: Vec<f64>,
}

impl Neighbours {
    pub fn of(&self, i: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let at = i * self.k..(i + 1) * self.k;
        self.index[at.clone()]
            .iter()
            .copied()
            .zip(self.squared_distance[at].iter().copied())
    }
}

/// The `k` nearest neighbours of every row (itself excluded); `k < n`.
pub(super) fn nearest(rows: &Rows, k: usize) -> Neighbours {
    assert!(k >= 1 && k < rows.n, "1 ≤ k < n is checked by the caller");
    let n = rows.n;
    let norms: Vec<f64> = (0..n)
        .map(|i| rows.row(i).iter().map(|v| v * v).sum())
        .collect();
    let mut index = vec![0usize; n * k];
    let mut squared_distance = vec![0.0; n * k];
    let blocks = || {
        index
            .par_chunks_mut(BLOCK * k)
            .zip(squared_distance.par_chunks_mut(BLOCK * k))
            .enumerate()
            .for_each_init(
                || {
                    (
                        Mat::<f64>::zeros(n, BLOCK),
                        BinaryHeap::with_capacity(k + MARGIN),
                    )
                },
                |(dot, heap), (block, (index, distance))| {
                    let start = block * BLOCK;
                    let len = index.len() / k;
                    block_products(rows, start, len, dot);
                    for r in 0..len {
                        let i = start + r;
                        let products = dot.col_as_slice(r);
                        let approximate = |j: usize| norms[i] + norms[j] - 2.0 * products[j];
                        let best = k_smallest(rows, i, k, approximate, heap);
                        for (m, (j, d2)) in best.into_iter().enumerate() {
                            index[r * k + m] = j;
                            distance[r * k + m] = d2;
                        }
                    }
                },
            );
    };
    // the GEMMs run on threads that end here (see faer_threads)
    faer_threads::in_own_pool(blocks);
    Neighbours {
        k,
        index,
        squared_distance,
    }
}

/// The dot products of every row (down a column) with rows `start..start + len`
/// (across), into the first `len` columns of `dot`: one query's products are one
/// contiguous column.
fn block_products(rows: &Rows, start: usize, len: usize, dot: &mut Mat<f64>) {
    let all = rows.as_mat();
    faer::linalg::matmul::matmul(
        dot.as_mut().subcols_mut(0, len),
        Accum::Replace,
        all,
        all.subrows(start, len).transpose(),
        1.0,
        Par::Seq,
    );
}

/// Row `i`'s `k` nearest others: candidates by the approximate distance, then the exact
/// one decides, ties by index.
fn k_smallest(
    rows: &Rows,
    i: usize,
    k: usize,
    approximate: impl Fn(usize) -> f64,
    heap: &mut BinaryHeap<Key>,
) -> Vec<(usize, f64)> {
    let keep = (k + MARGIN).min(rows.n - 1);
    heap.clear();
    // a max-heap of the best so far: most rows cost one comparison with its top (rows
    // come in index order, so on an equal distance the one already kept wins)
    for j in (0..rows.n).filter(|&j| j != i) {
        let d = approximate(j);
        if heap.len() < keep {
            heap.push(Key(d, j));
        } else if let Some(mut top) = heap.peek_mut()
            && d < top.0
        {
            *top = Key(d, j);
        }
    }
    let mut best: Vec<Key> = heap
        .iter()
        .map(|&Key(_, j)| Key(rows.squared_distance(i, j), j))
        .collect();
    best.sort_unstable();
    best.truncate(k);
    best.into_iter().map(|Key(d2, j)| (j, d2)).collect()
}

/// A (squared distance, row) pair ordered by distance, then row.
#[derive(Clone, Copy, PartialEq)]
struct Key(f64, usize);

impl Eq for Key {}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn brute_force_agrees_with_sorting_every_distance() {
        let (n, d, k) = (150, 5, 7);
        let mut values = vec![0.0; n * d];
        Rng::new(3).fill_normal(&mut values);
        // a duplicate row and a tie, to see the index order
        values.copy_within(0..d, 10 * d);
        let x = MatRef::from_row_major_slice(&values, n, d);
        let rows = Rows::new(x);
        let nb = nearest(&rows, k);
        for i in 0..n {
            let mut all: Vec<(f64, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| (rows.squared_distance(i, j), j))
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let got: Vec<(usize, f64)> = nb.of(i).collect();
            let want: Vec<(usize, f64)> = all[..k].iter().map(|&(d2, j)| (j, d2)).collect();
            assert_eq!(got, want, "row {i}");
        }
        assert_eq!(nb.of(0).next(), Some((10, 0.0)));
    }
}
