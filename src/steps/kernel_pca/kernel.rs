//! The kernels of scikit-learn's `pairwise_kernels` that KernelPCA takes, between a block
//! of rows and a fixed set of points (the landmarks; the pre-image map's transformed
//! landmarks), from one matrix product, in Rust and as ONNX nodes.

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

use crate::onnx::{Attr, Graph};

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
    /// The ONNX nodes of `matrix(x, points)`: `x` a tensor [N, width], `points` constants
    /// named from `name` (`X_fit_T`, `X_fit_sq_norms`, …).
    pub fn onnx(&self, g: &mut Graph, x: &str, points: MatRef<'_, f64>, name: &str) -> String {
        let l = points;
        let lt = g.matrix(&format!("{name}_T"), l.ncols(), l.nrows(), |i, j| l[(j, i)]);
        let product = g.node("MatMul", &[x, &lt]);
        let affine = |g: &mut Graph, v: &str| {
            let gamma = g.constant("gamma", &[], &[self.gamma]);
            let coef0 = g.constant("coef0", &[], &[self.coef0]);
            let scaled = g.node("Mul", &[v, &gamma]);
            g.node("Add", &[&scaled, &coef0])
        };
        let row_norms = |g: &mut Graph| {
            let squares = g.node("Mul", &[x, x]);
            let axes = g.constant_i64("axis_1", &[1], &[1]);
            g.node_with("ReduceSum", &[&squares, &axes], &[Attr::Int("keepdims", 1)])
        };
        let point_norms: Vec<f64> = (0..l.nrows())
            .map(|i| (0..l.ncols()).map(|j| l[(i, j)] * l[(i, j)]).sum())
            .collect();
        match self.kernel {
            KernelKind::Linear => product,
            KernelKind::Poly => {
                let base = affine(g, &product);
                let degree = g.constant("degree", &[], &[self.degree]);
                g.node("Pow", &[&base, &degree])
            }
            KernelKind::Sigmoid => {
                let base = affine(g, &product);
                g.node("Tanh", &[&base])
            }
            KernelKind::Rbf => {
                // ‖x‖² + ‖l‖² − 2 x·l, clamped at 0, then exp(−γ d)
                let xn = row_norms(g);
                let ln = g.constant(&format!("{name}_sq_norms"), &[l.nrows()], &point_norms);
                let two = g.constant("two", &[], &[2.0]);
                let sum = g.node("Add", &[&xn, &ln]);
                let twice = g.node("Mul", &[&product, &two]);
                let distance = g.node("Sub", &[&sum, &twice]);
                let distance = g.node("Relu", &[&distance]);
                let minus_gamma = g.constant("minus_gamma", &[], &[-self.gamma]);
                let exponent = g.node("Mul", &[&distance, &minus_gamma]);
                g.node("Exp", &[&exponent])
            }
            KernelKind::Cosine => {
                // a zero row (or point) gives 0, as scikit-learn's normalised rows do
                let xn = row_norms(g);
                let xn = g.node("Sqrt", &[&xn]);
                let roots: Vec<f64> = point_norms.iter().map(|v| v.sqrt()).collect();
                let ln = g.constant(&format!("{name}_norms"), &[l.nrows()], &roots);
                let denominator = g.node("Mul", &[&xn, &ln]);
                let zero = g.constant("zero", &[], &[0.0]);
                let positive = g.node("Greater", &[&denominator, &zero]);
                let ratio = g.node("Div", &[&product, &denominator]);
                g.node("Where", &[&positive, &ratio, &zero])
            }
        }
    }
}
