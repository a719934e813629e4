//! Barnes–Hut t-SNE (van der Maaten & Hinton, JMLR 9, 2008; van der Maaten, JMLR 15,
//! 2014) following scikit-learn's `TSNE(method="barnes_hut", angle=0.5, init="pca",
//! learning_rate="auto")` step by step, so its pictures and quality carry over:
//!
//! * affinities: each row's Gaussian over its ⌊3·perplexity + 1⌋ nearest neighbours,
//!   its precision found by bisection until the entropy matches log(perplexity)
//!   (scikit-learn's `_binary_search_perplexity`), then P = (P + Pᵀ) / ΣP;
//! * start: the first two PCA scores, scaled so the first has standard deviation 1e-4;
//! * descent: 250 iterations with P exaggerated ×12 and momentum 0.5, then momentum 0.8
//!   up to `max_iter`; learning rate max(n / 12 / 4, 50); per-coordinate gains (+0.2 /
//!   ×0.8, at least 0.01); every 50 iterations the KL divergence and gradient norm decide
//!   whether to stop early, as scikit-learn's `_gradient_descent`;
//! * gradient: attraction exactly over P's nonzeros, repulsion through a quadtree.
//!
//! Unlike scikit-learn it works in f64 throughout. Each point's forces are computed on
//! their own and every sum across points runs in a fixed order, so the result is the
//! same for any number of threads.

use faer::{Mat, MatRef};
use rayon::prelude::*;

use super::knn::{Neighbours, Rows, nearest};
use super::mds;
use super::quadtree::QuadTree;
use crate::rng::Rng;

/// How much P is multiplied by while the clusters form.
const EARLY_EXAGGERATION: f64 = 12.0;
/// Iterations of the exaggerated first phase.
pub(super) const EXPLORATION_ITER: usize = 250;
/// Barnes–Hut's θ: a cell summarises its points when width / distance < θ.
const ANGLE: f64 = 0.5;
const MIN_GAIN: f64 = 0.01;
const MIN_GRAD_NORM: f64 = 1e-7;
/// The error is looked at every this many iterations.
const N_ITER_CHECK: usize = 50;
const N_ITER_WITHOUT_PROGRESS: usize = 300;
const PERPLEXITY_TOLERANCE: f64 = 1e-5;
const BINARY_SEARCH_STEPS: usize = 100;
/// The spread of the initial picture (scikit-learn's, for PCA and random starts alike).
const INIT_STD: f64 = 1e-4;
/// scikit-learn's floor for a probability inside a logarithm (float32's smallest normal).
const TINY: f64 = f32::MIN_POSITIVE as f64;

/// The t-SNE picture of the rows of `x`; the caller has checked 0 < perplexity < n − 1
/// and max_iter ≥ 250.
pub(super) fn tsne(
    x: MatRef<'_, f64>,
    perplexity: f64,
    max_iter: usize,
    seed: u64,
) -> Result<Mat<f64>, String> {
    let n = x.nrows();
    let rows = Rows::new(x);
    let k = (n - 1).min((3.0 * perplexity + 1.0) as usize);
    let p = Affinities::new(&nearest(&rows, k), perplexity);
    let mut y = initial_embedding(x, seed)?;
    let learning_rate = (n as f64 / EARLY_EXAGGERATION / 4.0).max(50.0);
    let explore = Phase {
        exaggeration: EARLY_EXAGGERATION,
        momentum: 0.5,
        n_iter_without_progress: EXPLORATION_ITER,
        max_iter: EXPLORATION_ITER,
    };
    let last = descend(&p, &mut y, 0, &explore, learning_rate);
    let refine = Phase {
        exaggeration: 1.0,
        momentum: 0.8,
        n_iter_without_progress: N_ITER_WITHOUT_PROGRESS,
        max_iter,
    };
    descend(&p, &mut y, last + 1, &refine, learning_rate);
    Ok(Mat::from_fn(n, 2, |i, c| y[i][c]))
}

/// The joint probabilities P, a symmetric sparse matrix (rows in CSR form) summing to 1.
pub(super) struct Affinities {
    start: Vec<usize>,
    column: Vec<u32>,
    value: Vec<f64>,
}

impl Affinities {
    pub fn new(neighbours: &Neighbours, perplexity: f64) -> Affinities {
        let conditional: Vec<f64> = neighbours
            .squared_distance
            .par_chunks(neighbours.k)
            .flat_map_iter(|d| conditional_row(d, perplexity))
            .collect();
        symmetrise(neighbours, &conditional)
    }

    fn row(&self, i: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let at = self.start[i]..self.start[i + 1];
        self.column[at.clone()]
            .iter()
            .map(|&j| j as usize)
            .zip(self.value[at].iter().copied())
    }

    /// Appends a row given as (column, value), columns increasing.
    fn push_row(&mut self, row: &[(usize, f64)]) {
        for &(j, v) in row {
            self.column.push(j as u32);
            self.value.push(v);
        }
        self.start.push(self.column.len());
    }
}

/// p(j | i) over one row's neighbours: the Gaussian whose precision β is bisected until
/// the entropy is log(perplexity) within 1e-5, as scikit-learn's
/// `_binary_search_perplexity` (including its 1e-8 floor on the normaliser).
fn conditional_row(squared_distances: &[f64], perplexity: f64) -> Vec<f64> {
    let desired_entropy = perplexity.ln();
    let mut p = vec![0.0; squared_distances.len()];
    let (mut beta, mut beta_min, mut beta_max) = (1.0, f64::NEG_INFINITY, f64::INFINITY);
    for _ in 0..BINARY_SEARCH_STEPS {
        let mut sum = 0.0;
        for (p, d) in p.iter_mut().zip(squared_distances) {
            *p = (-d * beta).exp();
            sum += *p;
        }
        if sum == 0.0 {
            sum = 1e-8;
        }
        let mut weighted = 0.0;
        for (p, d) in p.iter_mut().zip(squared_distances) {
            *p /= sum;
            weighted += d * *p;
        }
        let entropy_diff = sum.ln() + beta * weighted - desired_entropy;
        if entropy_diff.abs() <= PERPLEXITY_TOLERANCE {
            break;
        }
        if entropy_diff > 0.0 {
            beta_min = beta;
            beta = if beta_max == f64::INFINITY {
                beta * 2.0
            } else {
                (beta + beta_max) / 2.0
            };
        } else {
            beta_max = beta;
            beta = if beta_min == f64::NEG_INFINITY {
                beta / 2.0
            } else {
                (beta + beta_min) / 2.0
            };
        }
    }
    p
}

/// P = (C + Cᵀ) / Σ(C + Cᵀ) for the conditional probabilities C (row-major n × k over
/// each row's neighbours).
fn symmetrise(neighbours: &Neighbours, conditional: &[f64]) -> Affinities {
    let n = conditional.len() / neighbours.k;
    let mut rows: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    for i in 0..n {
        for ((j, _), &c) in neighbours
            .of(i)
            .zip(&conditional[i * neighbours.k..(i + 1) * neighbours.k])
        {
            rows[i].push((j, c));
            rows[j].push((i, c));
        }
    }
    let mut affinities = Affinities {
        start: vec![0],
        column: Vec::new(),
        value: Vec::new(),
    };
    for mut row in rows {
        row.sort_by_key(|e| e.0);
        let mut merged: Vec<(usize, f64)> = Vec::with_capacity(row.len());
        for (j, c) in row {
            match merged.last_mut() {
                Some(last) if last.0 == j => last.1 += c,
                _ => merged.push((j, c)),
            }
        }
        affinities.push_row(&merged);
    }
    let total = affinities.value.iter().sum::<f64>().max(f64::EPSILON);
    affinities.value.iter_mut().for_each(|v| *v /= total);
    affinities
}

/// The first two PCA scores scaled so the first has standard deviation 1e-4
/// (scikit-learn's `init="pca"`). When the first score does not vary (all rows equal)
/// there is no shape to start from, and the seed gives a Gaussian start of the same
/// spread instead (scikit-learn's `init="random"`).
fn initial_embedding(x: MatRef<'_, f64>, seed: u64) -> Result<Vec<[f64; 2]>, String> {
    let n = x.nrows();
    let scores = mds::pca_scores(x)?;
    let mean = (0..n).map(|i| scores[(i, 0)]).sum::<f64>() / n as f64;
    let std = ((0..n).map(|i| (scores[(i, 0)] - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    if std > 0.0 && std.is_finite() {
        return Ok((0..n)
            .map(|i| {
                [
                    scores[(i, 0)] / std * INIT_STD,
                    scores[(i, 1)] / std * INIT_STD,
                ]
            })
            .collect());
    }
    let mut values = vec![0.0; 2 * n];
    Rng::new(seed).fill_normal(&mut values);
    Ok(values
        .chunks_exact(2)
        .map(|c| [c[0] * INIT_STD, c[1] * INIT_STD])
        .collect())
}

/// One stage of the descent.
struct Phase {
    exaggeration: f64,
    momentum: f64,
    n_iter_without_progress: usize,
    max_iter: usize,
}

/// Gradient descent with momentum and gains from iteration `start` to `phase.max_iter`
/// (scikit-learn's `_gradient_descent`); returns the last iteration run.
fn descend(
    p: &Affinities,
    y: &mut [[f64; 2]],
    start: usize,
    phase: &Phase,
    learning_rate: f64,
) -> usize {
    let n = y.len();
    let mut update = vec![[0.0; 2]; n];
    let mut gains = vec![[1.0; 2]; n];
    let mut grad = vec![[0.0; 2]; n];
    let (mut best_error, mut best_iter, mut last) = (f64::MAX, start, start);
    for it in start..phase.max_iter {
        last = it;
        let check = (it + 1) % N_ITER_CHECK == 0;
        let z = gradient(p, phase.exaggeration, y, ANGLE * ANGLE, &mut grad);
        let error = check.then(|| kl_divergence(p, phase.exaggeration, y, z));
        step(
            y,
            &mut grad,
            &mut update,
            &mut gains,
            phase.momentum,
            learning_rate,
        );
        if let Some(error) = error {
            let grad_norm = grad
                .iter()
                .map(|g| g[0] * g[0] + g[1] * g[1])
                .sum::<f64>()
                .sqrt();
            if error < best_error {
                (best_error, best_iter) = (error, it);
            } else if it - best_iter > phase.n_iter_without_progress {
                break;
            }
            if grad_norm <= MIN_GRAD_NORM {
                break;
            }
        }
    }
    last
}

/// One update: gains grow where the gradient changed sign against the last step and
/// shrink where it did not (Jacobs 1988), then the momentum step.
fn step(
    y: &mut [[f64; 2]],
    grad: &mut [[f64; 2]],
    update: &mut [[f64; 2]],
    gains: &mut [[f64; 2]],
    momentum: f64,
    learning_rate: f64,
) {
    for i in 0..y.len() {
        for c in 0..2 {
            let g = &mut gains[i][c];
            *g = if update[i][c] * grad[i][c] < 0.0 {
                *g + 0.2
            } else {
                *g * 0.8
            };
            *g = g.max(MIN_GAIN);
            grad[i][c] *= *g;
            update[i][c] = momentum * update[i][c] - learning_rate * grad[i][c];
            y[i][c] += update[i][c];
        }
    }
}

/// The gradient of KL(P‖Q) at `y`, with P × `exaggeration`, written to `grad`:
/// 4·(Σⱼ pᵢⱼ·qᵢⱼ·(yᵢ − yⱼ) − Σⱼ qᵢⱼ²·(yᵢ − yⱼ) / Z), qᵢⱼ = 1 / (1 + ‖yᵢ − yⱼ‖²),
/// the second sum through the quadtree. Returns Z = Σ qᵢⱼ, summed in the tree's order.
pub(super) fn gradient(
    p: &Affinities,
    exaggeration: f64,
    y: &[[f64; 2]],
    squared_theta: f64,
    grad: &mut [[f64; 2]],
) -> f64 {
    let tree = QuadTree::new(y);
    // points in the tree's order: one after another they walk nearly the same cells,
    // which the branch predictor and the cache reward (about twice as fast)
    let forces: Vec<([f64; 2], [f64; 2], f64)> = tree
        .order()
        .par_iter()
        .with_min_len(64)
        .map(|&i| {
            let i = i as usize;
            let (repulsion, z) = tree.repulsion(y[i], squared_theta);
            (attraction(p, exaggeration, y, i), repulsion, z)
        })
        .collect();
    let z = forces.iter().map(|f| f.2).sum::<f64>().max(f64::EPSILON);
    for (&i, (a, r, _)) in tree.order().iter().zip(&forces) {
        for c in 0..2 {
            grad[i as usize][c] = 4.0 * (a[c] - r[c] / z);
        }
    }
    z
}

/// Σⱼ pᵢⱼ·qᵢⱼ·(yᵢ − yⱼ) over row i of P.
fn attraction(p: &Affinities, exaggeration: f64, y: &[[f64; 2]], i: usize) -> [f64; 2] {
    let mut force = [0.0; 2];
    for (j, pij) in p.row(i) {
        let (dx, dy) = (y[i][0] - y[j][0], y[i][1] - y[j][1]);
        let w = exaggeration * pij / (1.0 + dx * dx + dy * dy);
        force[0] += w * dx;
        force[1] += w * dy;
    }
    force
}

/// KL(P‖Q) over P's nonzeros with Q = q / Z, P × `exaggeration`, probabilities floored as
/// scikit-learn does (its stopping rule compares these values).
pub(super) fn kl_divergence(p: &Affinities, exaggeration: f64, y: &[[f64; 2]], z: f64) -> f64 {
    let per_row: Vec<f64> = (0..y.len())
        .into_par_iter()
        .with_min_len(64)
        .map(|i| {
            p.row(i)
                .map(|(j, pij)| {
                    let pij = exaggeration * pij;
                    let (dx, dy) = (y[i][0] - y[j][0], y[i][1] - y[j][1]);
                    let q = 1.0 / (1.0 + dx * dx + dy * dy) / z;
                    pij * (pij.max(TINY) / q.max(TINY)).ln()
                })
                .sum()
        })
        .collect();
    per_row.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(n: usize, d: usize, seed: u64) -> Mat<f64> {
        let mut v = vec![0.0; n * d];
        Rng::new(seed).fill_normal(&mut v);
        Mat::from_fn(n, d, |i, j| v[i * d + j])
    }

    #[test]
    fn each_row_reaches_the_perplexity() {
        let x = random(200, 5, 1);
        let neighbours = nearest(&Rows::new(x.as_ref()), 91);
        for (i, d) in neighbours.squared_distance.chunks(91).enumerate() {
            let p = conditional_row(d, 30.0);
            let entropy: f64 = p.iter().filter(|&&v| v > 0.0).map(|v| -v * v.ln()).sum();
            assert!(
                (entropy - 30f64.ln()).abs() <= 1e-5,
                "row {i}: {}",
                entropy.exp()
            );
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn affinities_are_symmetric_and_sum_to_one() {
        let x = random(60, 3, 2);
        let p = Affinities::new(&nearest(&Rows::new(x.as_ref()), 10), 3.0);
        let at = |i: usize, j: usize| p.row(i).find(|e| e.0 == j).map_or(0.0, |e| e.1);
        for i in 0..60 {
            for (j, v) in p.row(i) {
                assert!(j != i && v > 0.0);
                assert_eq!(v, at(j, i));
            }
        }
        assert!((p.value.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    /// KL(P‖Q) over all pairs, straight from the definition.
    fn kl_by_definition(p: &Affinities, y: &[[f64; 2]]) -> f64 {
        let q = |i: usize, j: usize| {
            1.0 / (1.0 + (y[i][0] - y[j][0]).powi(2) + (y[i][1] - y[j][1]).powi(2))
        };
        let n = y.len();
        let z: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| q(i, j))
            .sum();
        (0..n)
            .flat_map(|i| p.row(i).map(move |(j, v)| (i, j, v)))
            .map(|(i, j, v)| v * (v / (q(i, j) / z)).ln())
            .sum()
    }

    #[test]
    fn the_gradient_is_the_derivative_of_the_kl_divergence() {
        // θ = 0 makes the tree exact; central differences of the textbook KL
        let x = random(40, 4, 3);
        let p = Affinities::new(&nearest(&Rows::new(x.as_ref()), 12), 4.0);
        let y0 = random(40, 2, 4);
        let y: Vec<[f64; 2]> = (0..40).map(|i| [y0[(i, 0)], y0[(i, 1)]]).collect();
        let mut grad = vec![[0.0; 2]; 40];
        let z = gradient(&p, 1.0, &y, 0.0, &mut grad);
        assert!((kl_divergence(&p, 1.0, &y, z) - kl_by_definition(&p, &y)).abs() < 1e-12);
        let h = 1e-6;
        for i in [0, 7, 39] {
            for c in 0..2 {
                let mut up = y.clone();
                up[i][c] += h;
                let mut down = y.clone();
                down[i][c] -= h;
                let numeric = (kl_by_definition(&p, &up) - kl_by_definition(&p, &down)) / (2.0 * h);
                assert!(
                    (grad[i][c] - numeric).abs() <= 1e-7 * (1.0 + numeric.abs()),
                    "{i} {c}: {} {numeric}",
                    grad[i][c]
                );
            }
        }
    }

    fn points(m: &Mat<f64>) -> Vec<[f64; 2]> {
        (0..m.nrows()).map(|i| [m[(i, 0)], m[(i, 1)]]).collect()
    }

    /// scikit-learn's P (tests/reference/embed_reference.json).
    fn scikit_learns_affinities() -> Affinities {
        let r = super::super::tests::reference();
        let p = &r["tsne_affinities"];
        let list = |key: &str| -> Vec<f64> {
            p[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        Affinities {
            start: list("indptr").iter().map(|&v| v as usize).collect(),
            column: list("indices").iter().map(|&v| v as u32).collect(),
            value: list("data"),
        }
    }

    #[test]
    fn affinities_equal_scikit_learns() {
        let want = scikit_learns_affinities();
        let x = super::super::tests::dequantised(100);
        let mut neighbours = nearest(&Rows::new(x.as_ref()), 31);
        let got = Affinities::new(&neighbours, 10.0);
        assert_eq!((&got.start, &got.column), (&want.start, &want.column));
        // scikit-learn bisects on float32 distances, and the rounding moves where the
        // bisection stops inside its 1e-5 entropy tolerance: agreement to about 1e-4
        for (g, w) in got.value.iter().zip(&want.value) {
            assert!((g - w).abs() <= 1e-4 * w, "{g} vs {w}");
        }
        // given the same float32 distances, the bisection takes the same steps
        for d in &mut neighbours.squared_distance {
            *d = *d as f32 as f64;
        }
        let same_input = Affinities::new(&neighbours, 10.0);
        for (g, w) in same_input.value.iter().zip(&want.value) {
            assert!((g - w).abs() <= 1e-12 * w, "{g} vs {w}");
        }
    }

    #[test]
    fn the_barnes_hut_gradient_and_error_equal_scikit_learns() {
        let r = super::super::tests::reference();
        let g = &r["tsne_gradient"];
        let y = points(&super::super::tests::matrix(&g["y"]));
        let want = super::super::tests::matrix(&g["gradient"]);
        let p = scikit_learns_affinities();
        let mut grad = vec![[0.0; 2]; y.len()];
        let z = gradient(&p, 1.0, &y, ANGLE * ANGLE, &mut grad);
        let scale = (0..y.len()).fold(0.0f64, |a, i| {
            a.max(want[(i, 0)].abs()).max(want[(i, 1)].abs())
        });
        for (i, g) in grad.iter().enumerate() {
            for c in 0..2 {
                // scikit-learn sums in float32
                assert!(
                    (g[c] - want[(i, c)]).abs() <= 1e-5 * scale,
                    "({i}, {c}): {} vs {}",
                    g[c],
                    want[(i, c)]
                );
            }
        }
        let kl = kl_divergence(&p, 1.0, &y, z);
        let want_kl = g["kl_divergence"].as_f64().unwrap();
        assert!((kl - want_kl).abs() <= 1e-5 * want_kl, "{kl} vs {want_kl}");
    }

    #[test]
    fn the_quadtree_repulsion_equals_scikit_learns() {
        let r = super::super::tests::reference();
        let g = &r["tsne_repulsion"];
        let y = points(&super::super::tests::matrix(&g["y"]));
        assert_eq!(y[3], y[17]);
        let want = super::super::tests::matrix(&g["gradient"]);
        let empty = Affinities {
            start: vec![0; y.len() + 1],
            column: Vec::new(),
            value: Vec::new(),
        };
        let mut grad = vec![[0.0; 2]; y.len()];
        gradient(&empty, 1.0, &y, ANGLE * ANGLE, &mut grad);
        let scale = (0..y.len()).fold(0.0f64, |a, i| {
            a.max(want[(i, 0)].abs()).max(want[(i, 1)].abs())
        });
        for (i, g) in grad.iter().enumerate() {
            for c in 0..2 {
                assert!(
                    (g[c] - want[(i, c)]).abs() <= 1e-5 * scale,
                    "({i}, {c}): {} vs {}",
                    g[c],
                    want[(i, c)]
                );
            }
        }
    }

    #[test]
    fn the_start_is_the_scaled_pca_picture_or_a_seeded_gaussian() {
        let x = random(50, 3, 5);
        let y = initial_embedding(x.as_ref(), 0).unwrap();
        let mean = y.iter().map(|v| v[0]).sum::<f64>() / 50.0;
        let var = y.iter().map(|v| (v[0] - mean).powi(2)).sum::<f64>() / 50.0;
        assert!((var.sqrt() - 1e-4).abs() < 1e-16);
        let same = Mat::from_fn(10, 3, |_, j| j as f64);
        let a = initial_embedding(same.as_ref(), 1).unwrap();
        assert_eq!(a, initial_embedding(same.as_ref(), 1).unwrap());
        assert_ne!(a, initial_embedding(same.as_ref(), 2).unwrap());
    }
}
