//! L2-regularised logistic regression as scikit-learn's `LogisticRegression()` with its
//! defaults: C = 1, the intercept unpenalised, the binomial loss for two classes and the
//! multinomial (softmax) loss over all K classes for more, solved by L-BFGS (Nocedal &
//! Wright, *Numerical Optimization*, 2nd ed., algorithm 7.4 with a backtracking Armijo
//! line search). The objective is scikit-learn's divided by n:
//! `mean(loss) + ‖W‖² / (2 C n)`, strictly convex, so the minimiser is unique and the
//! solver is run to a tight gradient tolerance (scikit-learn stops at 1e-4 or 100
//! iterations; the accuracy is compared, not the coefficients).

use faer::{Mat, MatRef};

pub const C: f64 = 1.0;
const MEMORY: usize = 10;
const MAX_ITER: usize = 1000;
/// Stop when max |∂f| falls below this (scikit-learn: 1e-4)…
const GRADIENT_TOL: f64 = 1e-8;
/// …or when an iteration lowers f by less than this, relatively (SciPy's L-BFGS-B
/// default `ftol` is 2.2e-9)…
const F_TOL: f64 = 1e-12;
/// …or when the line search cannot lower f at all (halvings of the step).
const MAX_HALVINGS: usize = 40;

/// A fitted model: `rows` weight vectors (1 for two classes, K for more) with intercepts.
#[derive(Debug, Clone)]
pub struct Logistic {
    /// rows × p.
    pub weights: Mat<f64>,
    pub intercepts: Vec<f64>,
    pub n_classes: usize,
    /// L-BFGS iterations taken.
    pub iterations: usize,
}

/// Scores Z = X Wᵀ + b (n × rows).
fn scores(x: MatRef<'_, f64>, w: MatRef<'_, f64>, b: &[f64]) -> Mat<f64> {
    let mut z = Mat::<f64>::zeros(x.nrows(), w.nrows());
    faer::linalg::matmul::matmul(
        z.as_mut(),
        faer::Accum::Replace,
        x,
        w.transpose(),
        1.0,
        faer::Par::Seq,
    );
    for (r, b) in b.iter().enumerate() {
        for v in z.col_mut(r).iter_mut() {
            *v += b;
        }
    }
    z
}

/// Objective and gradient at `theta` (rows × (p + 1), intercept last in each row).
fn objective(x: MatRef<'_, f64>, y: &[usize], rows: usize, theta: &[f64]) -> (f64, Vec<f64>) {
    let (n, p) = (x.nrows(), x.ncols());
    let w = Mat::from_fn(rows, p, |r, j| theta[r * (p + 1) + j]);
    let b: Vec<f64> = (0..rows).map(|r| theta[r * (p + 1) + p]).collect();
    let z = scores(x, w.as_ref(), &b);
    // row-major copy of the scores: the per-row loss works on plain slices
    let mut dz = vec![0.0; n * rows];
    for r in 0..rows {
        let col = z
            .col(r)
            .try_as_col_major()
            .expect("owned column")
            .as_slice();
        for (i, v) in col.iter().enumerate() {
            dz[i * rows + r] = *v;
        }
    }
    let mut loss = 0.0;
    for (i, zi) in dz.chunks_exact_mut(rows).enumerate() {
        if rows == 1 {
            let s = zi[0];
            let t = if y[i] == 1 { 1.0 } else { 0.0 };
            // log(1 + e^s) − t s, stably
            loss += s.max(0.0) + (-s.abs()).exp().ln_1p() - t * s;
            let sigma = if s >= 0.0 {
                1.0 / (1.0 + (-s).exp())
            } else {
                let e = s.exp();
                e / (1.0 + e)
            };
            zi[0] = sigma - t;
        } else {
            let max = zi.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v));
            let sum: f64 = zi.iter().map(|v| (v - max).exp()).sum();
            let lse = max + sum.ln();
            loss += lse - zi[y[i]];
            for v in zi.iter_mut() {
                *v = (*v - lse).exp();
            }
            zi[y[i]] -= 1.0;
        }
    }
    let nf = n as f64;
    let dz_mat = Mat::from_fn(n, rows, |i, r| dz[i * rows + r]);
    let mut g = Mat::<f64>::zeros(rows, p);
    faer::linalg::matmul::matmul(
        g.as_mut(),
        faer::Accum::Replace,
        dz_mat.transpose(),
        x,
        1.0 / nf,
        faer::Par::Seq,
    );
    let reg = 1.0 / (C * nf);
    let mut grad = vec![0.0; theta.len()];
    let mut penalty = 0.0;
    for r in 0..rows {
        for j in 0..p {
            let wj = theta[r * (p + 1) + j];
            penalty += wj * wj;
            grad[r * (p + 1) + j] = g[(r, j)] + reg * wj;
        }
        grad[r * (p + 1) + p] = (0..n).map(|i| dz[i * rows + r]).sum::<f64>() / nf;
    }
    (loss / nf + 0.5 * reg * penalty, grad)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Fits on rows `x` with class indices `y` (each below `n_classes`, n_classes ≥ 2).
pub fn fit(x: MatRef<'_, f64>, y: &[usize], n_classes: usize) -> Logistic {
    assert_eq!(x.nrows(), y.len(), "one label per row");
    assert!(n_classes >= 2, "at least two classes");
    let p = x.ncols();
    let rows = if n_classes == 2 { 1 } else { n_classes };
    let mut theta = vec![0.0; rows * (p + 1)];
    let (mut f, mut g) = objective(x, y, rows, &theta);
    let mut history: Vec<(Vec<f64>, Vec<f64>, f64)> = Vec::new();
    let mut iterations = 0;
    while iterations < MAX_ITER {
        let gmax = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if gmax <= GRADIENT_TOL {
            break;
        }
        iterations += 1;
        // two-loop recursion: d = −H g
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(history.len());
        for (s, yv, rho) in history.iter().rev() {
            let a = rho * dot(s, &q);
            for (qi, yi) in q.iter_mut().zip(yv) {
                *qi -= a * yi;
            }
            alphas.push(a);
        }
        let gamma = match history.last() {
            Some((s, yv, _)) => dot(s, yv) / dot(yv, yv),
            None => 1.0 / gmax.max(1.0),
        };
        for v in q.iter_mut() {
            *v *= gamma;
        }
        for ((s, yv, rho), a) in history.iter().zip(alphas.iter().rev()) {
            let beta = rho * dot(yv, &q);
            for (qi, si) in q.iter_mut().zip(s) {
                *qi += (a - beta) * si;
            }
        }
        let mut d: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // not a descent direction (should not happen): restart from the gradient
            history.clear();
            d = g.iter().map(|v| -v).collect();
            slope = dot(&g, &d);
        }
        let mut step = 1.0;
        let mut halvings = 0;
        let (next, f_next, g_next) = loop {
            let trial: Vec<f64> = theta.iter().zip(&d).map(|(t, di)| t + step * di).collect();
            let (ft, gt) = objective(x, y, rows, &trial);
            if ft <= f + 1e-4 * step * slope {
                break (trial, ft, gt);
            }
            halvings += 1;
            if halvings > MAX_HALVINGS {
                // no lower point along d: f is at its minimum to rounding
                break (theta.clone(), f, g.clone());
            }
            step *= 0.5;
        };
        let s: Vec<f64> = next.iter().zip(&theta).map(|(a, b)| a - b).collect();
        let yv: Vec<f64> = g_next.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &yv);
        let converged = f - f_next <= F_TOL * f.abs().max(1.0);
        theta = next;
        f = f_next;
        g = g_next;
        if sy > 1e-16 * dot(&yv, &yv).max(f64::MIN_POSITIVE) {
            history.push((s, yv, 1.0 / sy));
            if history.len() > MEMORY {
                history.remove(0);
            }
        }
        if converged {
            break;
        }
    }
    Logistic {
        weights: Mat::from_fn(rows, p, |r, j| theta[r * (p + 1) + j]),
        intercepts: (0..rows).map(|r| theta[r * (p + 1) + p]).collect(),
        n_classes,
        iterations,
    }
}

impl Logistic {
    /// Class index of each row: the positive class when the score is > 0 (two classes),
    /// else the first class of highest score.
    pub fn predict(&self, x: MatRef<'_, f64>) -> Vec<usize> {
        let z = scores(x, self.weights.as_ref(), &self.intercepts);
        (0..x.nrows())
            .map(|i| {
                if self.n_classes == 2 {
                    usize::from(z[(i, 0)] > 0.0)
                } else {
                    (0..z.ncols()).fold(0, |b, r| if z[(i, r)] > z[(i, b)] { r } else { b })
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let x = Mat::from_fn(7, 3, |i, j| ((i * 3 + j) as f64 * 0.37).sin() * 2.0);
        let y2 = [0, 1, 1, 0, 1, 0, 0];
        let y3 = [0, 1, 2, 2, 1, 0, 2];
        for (y, rows) in [(&y2, 1usize), (&y3, 3)] {
            let theta: Vec<f64> = (0..rows * 4)
                .map(|i| (i as f64 * 0.7).cos() * 0.3)
                .collect();
            let (_, g) = objective(x.as_ref(), y, rows, &theta);
            for i in 0..theta.len() {
                let h = 1e-6;
                let mut a = theta.clone();
                let mut b = theta.clone();
                a[i] += h;
                b[i] -= h;
                let fd = (objective(x.as_ref(), y, rows, &a).0
                    - objective(x.as_ref(), y, rows, &b).0)
                    / (2.0 * h);
                assert!(
                    (fd - g[i]).abs() < 1e-7,
                    "rows {rows} [{i}]: {fd} vs {}",
                    g[i]
                );
            }
        }
    }

    #[test]
    fn stationary_point_and_separable_predictions() {
        // two clusters: the fit separates them; at the optimum the gradient vanishes
        let x = Mat::from_fn(40, 2, |i, j| {
            let c = if i < 20 { -2.0 } else { 2.0 };
            c + ((i * 7 + j * 3) as f64).sin()
        });
        let y: Vec<usize> = (0..40).map(|i| usize::from(i >= 20)).collect();
        let m = fit(x.as_ref(), &y, 2);
        assert_eq!(m.predict(x.as_ref()), y);
        let mut theta = Vec::new();
        for j in 0..2 {
            theta.push(m.weights[(0, j)]);
        }
        theta.push(m.intercepts[0]);
        let (_, g) = objective(x.as_ref(), &y, 1, &theta);
        assert!(g.iter().all(|v| v.abs() < 1e-6), "{g:?}");
    }

    #[test]
    fn three_classes() {
        let centers = [(0.0, 3.0), (3.0, -2.0), (-3.0, -2.0)];
        let x = Mat::from_fn(60, 2, |i, j| {
            let c = centers[i % 3];
            let base = if j == 0 { c.0 } else { c.1 };
            base + 0.5 * ((i * 13 + j * 5) as f64).sin()
        });
        let y: Vec<usize> = (0..60).map(|i| i % 3).collect();
        let m = fit(x.as_ref(), &y, 3);
        assert_eq!(m.weights.nrows(), 3);
        assert_eq!(m.predict(x.as_ref()), y);
    }
}
