//! The few largest eigenpairs of a symmetric n × n operator known only by its product
//! with a vector: Lanczos with full reorthogonalisation (Golub & Van Loan, Matrix
//! Computations, 4th ed., §10.1–10.3). Classical MDS needs two eigenvectors of an n × n
//! kernel; a dense eigen-decomposition would cost O(n³), this costs a few dozen O(n²)
//! products. Every Lanczos vector is kept and re-orthogonalised twice ("twice is
//! enough"), so no ghost eigenvalues appear.
//!
//! When the Krylov space closes (an invariant subspace, e.g. the kernel of points in a
//! plane has rank 2), its Ritz pairs are exact, and a new run starts from a random vector
//! orthogonal to everything so far. A random start reaches every distinct eigenvalue of
//! what is left, so the restarts stop once a closed run finds nothing larger than the
//! pairs already kept; this also finds repeated eigenvalues (points on a circle).

use faer::{Mat, Side};

use super::faer_threads;
use crate::rng::Rng;

/// A Ritz pair is converged when its residual ‖Av − θv‖ is below this times the
/// operator's scale (≈ its largest |eigenvalue|).
const TOLERANCE: f64 = 1e-11;

/// Below this times the operator's scale a new direction is rounding noise: the Krylov
/// space is invariant.
const BREAKDOWN: f64 = 1e-13;

/// The Krylov space never grows past this many vectors (memory: this many × n).
const MAX_STEPS: usize = 600;

/// How one run of Lanczos ended: its top pairs converged, or its space closed (its pairs
/// exact). Either way, at most `count` pairs, largest first.
enum Run {
    Converged(Vec<(f64, Vec<f64>)>),
    Closed(Vec<(f64, Vec<f64>)>),
}

/// The vectors so far (all runs) and the operator's scale seen so far.
struct Krylov {
    basis: Vec<Vec<f64>>,
    scale: f64,
    max_steps: usize,
}

/// The `count` algebraically largest eigenvalues of the symmetric operator `apply`
/// (`apply(v, out)` writes Av), largest first, with unit eigenvectors.
pub(super) fn largest(
    n: usize,
    count: usize,
    apply: impl Fn(&[f64], &mut [f64]),
    seed: u64,
) -> Result<Vec<(f64, Vec<f64>)>, String> {
    assert!(count >= 1 && count <= n, "1 ≤ count ≤ n");
    let mut rng = Rng::new(seed);
    let mut krylov = Krylov {
        basis: Vec::new(),
        scale: 0.0,
        max_steps: n.min(MAX_STEPS),
    };
    let mut kept: Vec<(f64, Vec<f64>)> = Vec::new();
    loop {
        match run(&mut krylov, n, count, &apply, &mut rng)? {
            Run::Converged(pairs) => {
                kept.extend(pairs);
                return Ok(top(kept, count));
            }
            Run::Closed(pairs) => {
                let nothing_larger = kept.len() >= count
                    && pairs
                        .first()
                        .is_none_or(|p| p.0 <= top_value(&kept, count) + TOLERANCE * krylov.scale);
                kept.extend(pairs);
                if nothing_larger || krylov.basis.len() == n {
                    return Ok(top(kept, count));
                }
            }
        }
    }
}

/// One Lanczos run from a random vector orthogonal to `krylov.basis`.
fn run(
    krylov: &mut Krylov,
    n: usize,
    count: usize,
    apply: &impl Fn(&[f64], &mut [f64]),
    rng: &mut Rng,
) -> Result<Run, String> {
    let start = krylov.basis.len();
    let mut v = fresh_direction(n, &krylov.basis, rng);
    let mut w = vec![0.0; n];
    let (mut alpha, mut beta) = (Vec::new(), Vec::new());
    loop {
        apply(&v, &mut w);
        alpha.push(dot(&v, &w));
        krylov.basis.push(v);
        orthogonalise(&mut w, &krylov.basis);
        let norm = dot(&w, &w).sqrt();
        let m = alpha.len();
        let previous = beta.last().map_or(0.0, |b: &f64| b.abs());
        krylov.scale = krylov.scale.max(alpha[m - 1].abs() + norm + previous);
        let own = &krylov.basis[start..];
        if norm <= BREAKDOWN * krylov.scale || krylov.basis.len() == n {
            let (values, vectors) = ritz(&alpha, &beta)?;
            return Ok(Run::Closed(pairs(own, &values, &vectors, count.min(m))));
        }
        if m >= count && (m <= 40 || m % 8 == 0) {
            let (values, vectors) = ritz(&alpha, &beta)?;
            let converged = (m - count..m)
                .all(|i| (norm * vectors[(m - 1, i)]).abs() <= TOLERANCE * krylov.scale);
            if converged {
                return Ok(Run::Converged(pairs(own, &values, &vectors, count)));
            }
        }
        if krylov.basis.len() >= krylov.max_steps {
            return Err(format!(
                "the eigen-solver did not converge in {} Lanczos steps (the largest \
                 eigenvalues are too close together to tell apart)",
                krylov.max_steps
            ));
        }
        beta.push(norm);
        v = w.iter().map(|x| x / norm).collect();
    }
}

/// The top `count` Ritz pairs (values increasing in `values`), largest first.
fn pairs(
    basis: &[Vec<f64>],
    values: &[f64],
    vectors: &Mat<f64>,
    count: usize,
) -> Vec<(f64, Vec<f64>)> {
    let m = values.len();
    (m - count..m)
        .rev()
        .map(|i| (values[i], combine(basis, vectors.col(i).iter().copied())))
        .collect()
}

/// The `count` largest of `pairs`, largest first.
fn top(mut pairs: Vec<(f64, Vec<f64>)>, count: usize) -> Vec<(f64, Vec<f64>)> {
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    pairs.truncate(count);
    pairs
}

/// The `count`-th largest value of `pairs` (which has at least that many).
fn top_value(pairs: &[(f64, Vec<f64>)], count: usize) -> f64 {
    let mut values: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    values.sort_by(|a, b| b.total_cmp(a));
    values[count - 1]
}

/// A random unit vector orthogonal to `basis` (which spans less than everything).
fn fresh_direction(n: usize, basis: &[Vec<f64>], rng: &mut Rng) -> Vec<f64> {
    loop {
        let mut v = vec![0.0; n];
        rng.fill_normal(&mut v);
        orthogonalise(&mut v, basis);
        let norm = dot(&v, &v).sqrt();
        if norm > 1e-8 {
            return v.into_iter().map(|x| x / norm).collect();
        }
    }
}

/// Removes from `w` its components along the orthonormal `basis`, twice.
fn orthogonalise(w: &mut [f64], basis: &[Vec<f64>]) {
    for _ in 0..2 {
        for q in basis {
            let c = dot(q, w);
            w.iter_mut().zip(q).for_each(|(x, q)| *x -= c * q);
        }
    }
}

/// Eigenvalues (increasing) and eigenvectors of the tridiagonal T = tridiag(β, α, β).
fn ritz(alpha: &[f64], beta: &[f64]) -> Result<(Vec<f64>, Mat<f64>), String> {
    let m = alpha.len();
    let t = Mat::from_fn(m, m, |i, j| match i.abs_diff(j) {
        0 => alpha[i],
        1 => beta[i.min(j)],
        _ => 0.0,
    });
    // faer on a thread of its own (see faer_threads)
    faer_threads::on_own_thread(|| {
        let evd = t
            .self_adjoint_eigen(Side::Lower)
            .map_err(|e| format!("the tridiagonal eigen-solver did not converge ({e:?})"))?;
        let values = evd.S().column_vector().iter().copied().collect();
        Ok((values, evd.U().to_owned()))
    })
}

/// Σ sᵢ qᵢ, normalised.
fn combine(basis: &[Vec<f64>], s: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut x = vec![0.0; basis[0].len()];
    for (q, c) in basis.iter().zip(s) {
        x.iter_mut().zip(q).for_each(|(x, q)| *x += c * q);
    }
    let norm = dot(&x, &x).sqrt();
    x.into_iter().map(|v| v / norm).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply_dense(a: &Mat<f64>) -> impl Fn(&[f64], &mut [f64]) + '_ {
        move |v, out| {
            for (i, o) in out.iter_mut().enumerate() {
                *o = (0..v.len()).map(|j| a[(i, j)] * v[j]).sum();
            }
        }
    }

    fn check_against_dense(a: &Mat<f64>, count: usize) {
        let n = a.nrows();
        let got = largest(n, count, apply_dense(a), 7).unwrap();
        let evd = a.self_adjoint_eigen(Side::Lower).unwrap();
        let values = evd.S().column_vector();
        for (r, (value, vector)) in got.iter().enumerate() {
            let want = values[n - 1 - r];
            assert!(
                (value - want).abs() <= 1e-10 * values[n - 1].abs(),
                "{value} {want}"
            );
            // the residual ‖Av − λv‖ is small
            let mut av = vec![0.0; n];
            apply_dense(a)(vector, &mut av);
            let residual: f64 = av
                .iter()
                .zip(vector)
                .map(|(x, v)| (x - value * v).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(residual <= 1e-9 * values[n - 1].abs(), "{residual}");
        }
    }

    #[test]
    fn agrees_with_the_dense_solver_on_a_random_matrix() {
        let n = 120;
        let mut g = vec![0.0; n * n];
        Rng::new(1).fill_normal(&mut g);
        let a = Mat::from_fn(n, n, |i, j| g[i * n + j] + g[j * n + i]);
        check_against_dense(&a, 3);
    }

    #[test]
    fn finds_a_repeated_top_eigenvalue_of_a_low_rank_matrix() {
        // rank 2 with equal eigenvalues (points evenly on a circle): the Krylov space
        // closes after two steps, and the restart finds the second eigenvector
        let n = 60;
        let a = Mat::from_fn(n, n, |i, j| {
            (std::f64::consts::TAU * (i as f64 - j as f64) / n as f64).cos()
        });
        check_against_dense(&a, 2);
        let got = largest(n, 2, apply_dense(&a), 3).unwrap();
        assert!((got[0].0 - 30.0).abs() < 1e-10 && (got[1].0 - 30.0).abs() < 1e-10);
        assert!(dot(&got[0].1, &got[1].1).abs() < 1e-10);
    }

    #[test]
    fn a_small_operator_is_solved_exactly() {
        let a = Mat::from_fn(3, 3, |i, j| if i == j { [2.0, -1.0, 5.0][i] } else { 0.0 });
        let got = largest(3, 2, apply_dense(&a), 0).unwrap();
        assert!((got[0].0 - 5.0).abs() < 1e-14 && (got[1].0 - 2.0).abs() < 1e-14);
    }
}
