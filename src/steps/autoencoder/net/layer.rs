//! The contract every layer kind keeps. A layer is built from its `LayerSpec` and its
//! input shape; its forward pass caches what its backward pass needs (tinygrad's
//! `Function` saves its context the same way); its backward pass turns the gradient of
//! its output into the gradient of its input and of its own parameters, applying its own
//! activation's derivative, so no layer reaches into its neighbour. Parameters are faer
//! matrices, which the optimizers walk column by column whatever the layer; `tensors`
//! gives them in PyTorch's layout for model.json, checkpoints and model.npz.
//!
//! Nothing here assumes the CPU beyond the matrices: a layer says which layout its
//! products want and the network moves batches between layouts.

use std::fmt;

use faer::{Mat, MatMut, MatRef, Par};

use super::super::keys::Activation;
use super::activation::Real;
use super::shape::{Layout, Shape};
use super::spec::LayerSpec;
use crate::onnx::Graph;
use crate::rng::Rng;

/// What a layer's forward pass keeps for its backward pass (an im2col matrix, the
/// arg-max of a pooling window, a dropout mask), reused from batch to batch.
#[derive(Debug, Clone)]
pub struct Cache<T: Real> {
    pub values: Vec<T>,
    pub index: Vec<u32>,
}

impl<T: Real> Default for Cache<T> {
    fn default() -> Self {
        Cache {
            values: Vec::new(),
            index: Vec::new(),
        }
    }
}

/// How a forward pass runs.
pub struct Forward<'a> {
    /// Training: cache for the backward pass and apply dropout.
    pub train: bool,
    /// Pieces the products are shared into (see `par::each_piece`), each product then
    /// run on one thread.
    pub threads: usize,
    /// faer's parallelism for a product run whole (`threads` of 1): inference.
    pub par: Par,
    /// Dropout's draws when training.
    pub rng: Option<&'a mut Rng>,
}

impl Forward<'_> {
    pub fn infer(par: Par) -> Forward<'static> {
        Forward {
            train: false,
            threads: 1,
            par,
            rng: None,
        }
    }

    /// Pieces for a layer that cuts the batch by rows itself (the recurrent ones): in
    /// inference, where `threads` is 1 and faer has the pool, the pool's threads.
    pub fn row_pieces(&self) -> usize {
        match (self.threads, self.par) {
            (1, Par::Rayon(t)) => t.get(),
            (t, _) => t,
        }
    }
}

/// One layer's backward pass.
pub struct Backward<'a, T: Real> {
    /// Its input as its forward pass saw it.
    pub x: MatRef<'a, T>,
    /// Its output.
    pub y: MatRef<'a, T>,
    /// The gradient of the loss with respect to `y`; the layer may overwrite it.
    pub dy: MatMut<'a, T>,
    /// `dy` is already the gradient with respect to the value before the activation (the
    /// loss folds the output layer's activation in, as cross-entropy through a sigmoid).
    pub pre_activation: bool,
    /// Where the gradient with respect to `x` goes; None for the first layer.
    pub dx: Option<MatMut<'a, T>>,
    /// Its parameters' gradients, shaped as `params`.
    pub grads: &'a mut [Mat<T>],
    pub cache: &'a mut Cache<T>,
    pub threads: usize,
}

/// A named tensor in PyTorch's layout, its values row-major (f32 values widened to f64,
/// so they read back bit-exactly).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

/// How an ONNX tensor between layers is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnnxForm {
    /// `[N, size]`, each row a sample in row-major order, channels last.
    Flat,
    /// `[N, C, H, W]`, as ONNX's image operators take it.
    Nchw,
}

pub trait Layer<T: Real>: Send + Sync + fmt::Debug {
    /// Its configuration, with its activation settled.
    fn spec(&self) -> &LayerSpec;
    fn input_shape(&self) -> &Shape;
    fn output_shape(&self) -> &Shape;
    /// The layout its products want; None when it works value by value in either.
    fn layout(&self) -> Option<Layout>;
    /// The activation it applies last.
    fn activation(&self) -> Activation {
        self.spec().activation()
    }
    /// `out = layer(x)`, both in `layout` (or the incoming one).
    fn forward(&self, x: MatRef<'_, T>, out: MatMut<'_, T>, cache: &mut Cache<T>, f: &mut Forward);
    fn backward(&self, b: Backward<'_, T>);
    fn params(&self) -> Vec<&Mat<T>> {
        Vec::new()
    }
    fn params_mut(&mut self) -> Vec<&mut Mat<T>> {
        Vec::new()
    }
    /// Its parameters in PyTorch's layout, named as PyTorch names them.
    fn tensors(&self) -> Vec<Tensor> {
        Vec::new()
    }
    /// Sets its parameters from `tensors`, or says which is missing or misshapen.
    fn set_tensors(&mut self, tensors: &[Tensor]) -> Result<(), String> {
        match tensors.first() {
            None => Ok(()),
            Some(t) => Err(format!("{} has no tensor `{}`", self.spec().kind(), t.name)),
        }
    }
    /// Bytes its forward and backward passes hold beyond its input and output, for a
    /// batch of `n` (im2col matrices, pooling indices).
    fn workspace_bytes(&self, _n: usize) -> u64 {
        0
    }
    /// The form its ONNX nodes take their input in; None when it adds no node.
    fn onnx_form(&self) -> Option<OnnxForm>;
    /// Its ONNX nodes on `x` (in `onnx_form`, f32); returns the output tensor.
    fn onnx(&self, _g: &mut Graph, x: &str, _name: &str) -> String {
        x.to_string()
    }
    fn box_clone(&self) -> Box<dyn Layer<T>>;
}

impl<T: Real> Clone for Box<dyn Layer<T>> {
    fn clone(&self) -> Self {
        self.box_clone()
    }
}

/// The tensor named `name` with `shape`, from a layer's saved tensors.
pub fn find<'a>(tensors: &'a [Tensor], name: &str, shape: &[usize]) -> Result<&'a Tensor, String> {
    let t = tensors
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| format!("no tensor `{name}`"))?;
    if t.shape != shape || t.values.len() != shape.iter().product::<usize>() {
        return Err(format!(
            "tensor `{name}` has shape {:?} with {} values, expected {shape:?}",
            t.shape,
            t.values.len()
        ));
    }
    if t.values.iter().any(|v| !v.is_finite()) {
        return Err(format!("tensor `{name}` holds a value that is not finite"));
    }
    Ok(t)
}

/// A layer's weight and bias (its first two tensors) as f32 ONNX constants named
/// `{layer}.{tensor}`.
pub fn onnx_weight_and_bias(g: &mut Graph, layer: &str, t: &[Tensor]) -> (String, String) {
    let mut constant = |t: &Tensor| {
        g.constant_as(
            &format!("{layer}.{}", t.name),
            &t.shape,
            &t.values,
            crate::onnx::DType::Float32,
        )
    };
    (constant(&t[0]), constant(&t[1]))
}

/// The values of a column of a parameter (contiguous in faer's owned matrices).
pub fn col_slice<T: Real>(m: &Mat<T>, j: usize) -> &[T] {
    m.col(j)
        .try_as_col_major()
        .expect("owned columns are contiguous")
        .as_slice()
}

pub fn col_slice_mut<T: Real>(m: &mut Mat<T>, j: usize) -> &mut [T] {
    m.col_mut(j)
        .try_as_col_major_mut()
        .expect("owned columns are contiguous")
        .as_slice_mut()
}

/// Weights drawn as Keras and PyTorch recommend for the activation: Glorot uniform for
/// linear, sigmoid and tanh; He uniform for relu; LeCun normal for selu. Returns
/// `count` values in draw order.
pub fn init_weights(
    count: usize,
    fan_in: usize,
    fan_out: usize,
    activation: Activation,
    rng: &mut Rng,
) -> Vec<f64> {
    let (fan_in, fan_out) = (fan_in as f64, fan_out as f64);
    match activation {
        Activation::Selu => {
            let std = (1.0 / fan_in).sqrt();
            let mut values = vec![0.0; count];
            rng.fill_normal(&mut values);
            values.iter_mut().for_each(|v| *v *= std);
            values
        }
        _ => {
            let limit = match activation {
                Activation::Relu => (6.0 / fan_in).sqrt(),
                _ => (6.0 / (fan_in + fan_out)).sqrt(),
            };
            (0..count)
                .map(|_| limit * (2.0 * rng.uniform() - 1.0))
                .collect()
        }
    }
}
