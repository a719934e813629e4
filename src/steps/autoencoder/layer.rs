//! Dense layers with hand-derived backward passes on faer matrix products. Rows of a batch
//! are the rows of a column-major matrix, so a layer is `A = act(X W + 1 bᵀ)` with `W`
//! (inputs × outputs), and the backward pass is `dW = Xᵀ dZ`, `db = 1ᵀ dZ`,
//! `dX = dZ Wᵀ`. The derivative of every activation is written in terms of its output,
//! so the forward pass keeps only activations.

use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef, Par};

use crate::config::Activation;
use crate::generate::Rng;

/// The scalar type of a network: f32 for training (as PyTorch's default), f64 for the
/// finite-difference gradient checks.
pub trait Real:
    faer::traits::RealField + num_traits::Float + Copy + Send + Sync + std::fmt::Debug + 'static
{
    fn of(v: f64) -> Self;
    fn f64(self) -> f64;
}

impl Real for f32 {
    fn of(v: f64) -> f32 {
        v as f32
    }
    fn f64(self) -> f64 {
        self as f64
    }
}

impl Real for f64 {
    fn of(v: f64) -> f64 {
        v
    }
    fn f64(self) -> f64 {
        self
    }
}

/// SELU's constants (Klambauer et al., 2017).
pub const SELU_LAMBDA: f64 = 1.050_700_987_355_480_5;
pub const SELU_ALPHA: f64 = 1.673_263_242_354_377_2;

#[inline]
pub fn activate<T: Real>(act: Activation, z: T) -> T {
    match act {
        Activation::Linear => z,
        Activation::Sigmoid => {
            // Split at 0 so exp never overflows.
            if z >= T::zero() {
                T::one() / (T::one() + num_traits::Float::exp(-z))
            } else {
                let e = num_traits::Float::exp(z);
                e / (T::one() + e)
            }
        }
        Activation::Tanh => num_traits::Float::tanh(z),
        Activation::Relu => {
            if z > T::zero() {
                z
            } else {
                T::zero()
            }
        }
        Activation::Selu => {
            if z > T::zero() {
                T::of(SELU_LAMBDA) * z
            } else {
                T::of(SELU_LAMBDA * SELU_ALPHA) * num_traits::Float::exp_m1(z)
            }
        }
    }
}

/// d act / dz, from the activation's output `a`.
#[inline]
pub fn derivative<T: Real>(act: Activation, a: T) -> T {
    match act {
        Activation::Linear => T::one(),
        Activation::Sigmoid => a * (T::one() - a),
        Activation::Tanh => T::one() - a * a,
        Activation::Relu => {
            if a > T::zero() {
                T::one()
            } else {
                T::zero()
            }
        }
        // z > 0 ⇔ a > 0; below, a = λα(eᶻ − 1) so da/dz = λα eᶻ = a + λα.
        Activation::Selu => {
            if a > T::zero() {
                T::of(SELU_LAMBDA)
            } else {
                a + T::of(SELU_LAMBDA * SELU_ALPHA)
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Dense<T: Real> {
    /// inputs × outputs.
    pub w: Mat<T>,
    pub b: Vec<T>,
    pub activation: Activation,
}

impl<T: Real> Dense<T> {
    /// Weights drawn as Keras and PyTorch recommend for the activation: Glorot uniform for
    /// linear, sigmoid and tanh; He uniform for relu; LeCun normal for selu. Biases start
    /// at zero.
    pub fn init(inputs: usize, outputs: usize, activation: Activation, rng: &mut Rng) -> Self {
        let (fan_in, fan_out) = (inputs as f64, outputs as f64);
        let w = match activation {
            Activation::Selu => {
                let std = (1.0 / fan_in).sqrt();
                let mut values = vec![0.0; inputs * outputs];
                rng.fill_normal(&mut values);
                Mat::from_fn(inputs, outputs, |i, j| T::of(std * values[i * outputs + j]))
            }
            _ => {
                let limit = match activation {
                    Activation::Relu => (6.0 / fan_in).sqrt(),
                    _ => (6.0 / (fan_in + fan_out)).sqrt(),
                };
                let mut values = Vec::with_capacity(inputs * outputs);
                for _ in 0..inputs * outputs {
                    values.push(limit * (2.0 * rng.uniform() - 1.0));
                }
                Mat::from_fn(inputs, outputs, |i, j| T::of(values[i * outputs + j]))
            }
        };
        Dense {
            w,
            b: vec![T::zero(); outputs],
            activation,
        }
    }

    pub fn inputs(&self) -> usize {
        self.w.nrows()
    }

    pub fn outputs(&self) -> usize {
        self.w.ncols()
    }

    /// `out = act(x W + b)`; `out` must be rows(x) × outputs.
    pub fn forward(&self, x: MatRef<'_, T>, mut out: MatMut<'_, T>, par: Par) {
        matmul(
            out.rb_mut(),
            Accum::Replace,
            x,
            self.w.as_ref(),
            T::one(),
            par,
        );
        for (j, &b) in self.b.iter().enumerate() {
            let col = out
                .rb_mut()
                .col_mut(j)
                .try_as_col_major_mut()
                .expect("owned columns are contiguous")
                .as_slice_mut();
            for v in col {
                *v = activate(self.activation, *v + b);
            }
        }
    }

    /// Gradients of the loss for this layer, given its input `x` and `dz`, the loss's
    /// gradient with respect to its pre-activation. Writes `dx = dz Wᵀ` when asked (the
    /// gradient with respect to the input; the caller multiplies by the previous
    /// activation's derivative).
    pub fn backward(
        &self,
        x: MatRef<'_, T>,
        dz: MatRef<'_, T>,
        grad: &mut Grad<T>,
        dx: Option<MatMut<'_, T>>,
        par: Par,
    ) {
        matmul(
            grad.w.as_mut(),
            Accum::Replace,
            x.transpose(),
            dz,
            T::one(),
            par,
        );
        for (j, gb) in grad.b.iter_mut().enumerate() {
            let col = dz
                .col(j)
                .try_as_col_major()
                .expect("owned columns are contiguous")
                .as_slice();
            *gb = col.iter().fold(T::zero(), |s, &v| s + v);
        }
        if let Some(dx) = dx {
            matmul(dx, Accum::Replace, dz, self.w.transpose(), T::one(), par);
        }
    }
}

/// The gradient of one layer's parameters (same shapes).
#[derive(Debug, Clone)]
pub struct Grad<T: Real> {
    pub w: Mat<T>,
    pub b: Vec<T>,
}

impl<T: Real> Grad<T> {
    pub fn zeros_like(layer: &Dense<T>) -> Self {
        Grad {
            w: Mat::zeros(layer.inputs(), layer.outputs()),
            b: vec![T::zero(); layer.outputs()],
        }
    }
}
