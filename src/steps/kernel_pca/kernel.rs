//! The kernels of scikit-learn's `pairwise_kernels` that KernelPCA takes, between a block
//! of rows and the landmarks, from one matrix product.

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum KernelKind {
    /// scikit-learn's KernelPCA default.
    #[default]
    Linear,
    Rbf,
    Poly,
    Sigmoid,
    Cosine,
}

impl KernelKind {
    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Linear => "linear",
            KernelKind::Rbf => "rbf",
            KernelKind::Poly => "poly",
            KernelKind::Sigmoid => "sigmoid",
            KernelKind::Cosine => "cosine",
        }
    }
}

/// A kernel with its parameters resolved (`gamma` defaults to 1 / features).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Kernel {
    pub kernel: KernelKind,
    pub gamma: f64,
    pub degree: f64,
    pub coef0: f64,
}

impl Kernel {
    /// k(xᵢ, lⱼ) for every row of `x` (n × p) and landmark (m × p): n × m.
    pub fn matrix(&self, x: MatRef<'_, f64>, landmarks: MatRef<'_, f64>) -> Mat<f64> {
        let (n, m) = (x.nrows(), landmarks.nrows());
        let par = if n * m * x.ncols() >= 1 << 20 {
            faer::Par::rayon(0)
        } else {
            faer::Par::Seq
        };
        let mut g = Mat::zeros(n, m);
        faer::linalg::matmul::matmul(
            g.as_mut(),
            faer::Accum::Replace,
            x,
            landmarks.transpose(),
            1.0,
            par,
        );
        let norms = |a: MatRef<'_, f64>| -> Vec<f64> {
            (0..a.nrows())
                .map(|i| (0..a.ncols()).map(|j| a[(i, j)] * a[(i, j)]).sum())
                .collect()
        };
        let (gamma, coef0, degree) = (self.gamma, self.coef0, self.degree);
        match self.kernel {
            KernelKind::Linear => {}
            KernelKind::Poly => (0..m).for_each(|j| {
                g.col_mut(j)
                    .iter_mut()
                    .for_each(|v| *v = (gamma * *v + coef0).powf(degree))
            }),
            KernelKind::Sigmoid => (0..m).for_each(|j| {
                g.col_mut(j)
                    .iter_mut()
                    .for_each(|v| *v = (gamma * *v + coef0).tanh())
            }),
            KernelKind::Rbf => {
                let (xn, ln) = (norms(x), norms(landmarks));
                for (j, lj) in ln.iter().enumerate() {
                    for (i, v) in g.col_mut(j).iter_mut().enumerate() {
                        let d = (xn[i] + lj - 2.0 * *v).max(0.0);
                        *v = (-gamma * d).exp();
                    }
                }
            }
            KernelKind::Cosine => {
                // scikit-learn normalises rows first; a zero row stays zero
                let (xn, ln) = (norms(x), norms(landmarks));
                for (j, lj) in ln.iter().enumerate() {
                    for (i, v) in g.col_mut(j).iter_mut().enumerate() {
                        let d = (xn[i] * lj).sqrt();
                        *v = if d > 0.0 { *v / d } else { 0.0 };
                    }
                }
            }
        }
        g
    }
}
