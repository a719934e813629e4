//! The dense layer, `A = act(X W + 1 bᵀ)` with the batch as the rows of X and `W`
//! (inputs × outputs); backward `dZ = dA ⊙ act'(A)`, `dW = Xᵀ dZ`, `db = 1ᵀ dZ`,
//! `dX = dZ Wᵀ`. With more than one thread every product is cut by columns: the forward
//! pass by output columns, the backward pass by the weight gradient's output columns
//! beside the input gradient's columns. No piece reduces over another's values, so the
//! result is fixed by the thread count. (Slicing the batch by rows would halve each
//! product's depth for the weight gradients and need a reduction; faer's own parallel
//! products do not pay at batch sizes like 128.)

use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef, Par};

use super::super::keys::Activation;
use super::activation::{
    Real, SELU_ALPHA, SELU_LAMBDA, activate, lane_sum, mul_derivative, sigmoid_fast, vectorized,
};
use super::layer::{
    Backward, Cache, Forward, Layer, OnnxForm, Tensor, col_slice, find, init_weights,
    onnx_weight_and_bias,
};
use super::par::{col, col_pieces, column_split, each_piece};
use super::shape::{Layout, Shape};
use super::spec::LayerSpec;
use crate::onnx::{Attr, Graph};
use crate::rng::Rng;

#[derive(Debug, Clone)]
pub struct Dense<T: Real> {
    /// inputs × outputs.
    pub w: Mat<T>,
    /// outputs × 1.
    pub b: Mat<T>,
    pub activation: Activation,
    spec: LayerSpec,
    shapes: (Shape, Shape),
}

impl<T: Real> Dense<T> {
    /// Weights as `init_weights` draws them, row after row; biases at zero.
    pub fn init(spec: LayerSpec, inputs: usize, outputs: usize, rng: &mut Rng) -> Self {
        let activation = spec.activation();
        let values = init_weights(inputs * outputs, inputs, outputs, activation, rng);
        let w = Mat::from_fn(inputs, outputs, |i, j| T::of(values[i * outputs + j]));
        Dense::with(spec, w, Mat::zeros(outputs, 1))
    }

    pub fn with(spec: LayerSpec, w: Mat<T>, b: Mat<T>) -> Self {
        let shapes = (Shape::flat(w.nrows()), Shape::flat(w.ncols()));
        Dense {
            activation: spec.activation(),
            w,
            b,
            spec,
            shapes,
        }
    }

    pub fn inputs(&self) -> usize {
        self.w.nrows()
    }

    pub fn outputs(&self) -> usize {
        self.w.ncols()
    }

    fn bias(&self) -> &[T] {
        col_slice(&self.b, 0)
    }

    /// Output columns `start..start + out.ncols()` of the forward pass: the piece of a
    /// layer one thread computes.
    pub fn forward_cols(&self, x: MatRef<'_, T>, mut out: MatMut<'_, T>, start: usize, par: Par) {
        let n = out.ncols();
        matmul(
            out.rb_mut(),
            Accum::Replace,
            x,
            self.w.as_ref().subcols(start, n),
            T::one(),
            par,
        );
        let bias = &self.bias()[start..start + n];
        vectorized(
            #[inline(always)]
            || {
                for (j, &b) in bias.iter().enumerate() {
                    let col = out
                        .rb_mut()
                        .col_mut(j)
                        .try_as_col_major_mut()
                        .expect("owned columns are contiguous")
                        .as_slice_mut();
                    if self.activation == Activation::Sigmoid {
                        // Branch-free, so the loop vectorises (the per-value `activate` calls libm).
                        for v in col {
                            *v = sigmoid_fast(*v + b);
                        }
                    } else {
                        for v in col {
                            *v = activate(self.activation, *v + b);
                        }
                    }
                }
            },
        );
    }

    /// Output columns `start..` of the weight and bias gradients: `dw = xᵀ dz`,
    /// `db = 1ᵀ dz` on those columns.
    fn weight_gradient_cols(
        x: MatRef<'_, T>,
        dz: MatRef<'_, T>,
        dw: MatMut<'_, T>,
        db: &mut [T],
        start: usize,
    ) {
        let dz = dz.subcols(start, dw.ncols());
        matmul(dw, Accum::Replace, x.transpose(), dz, T::one(), Par::Seq);
        vectorized(
            #[inline(always)]
            || {
                for (j, gb) in db.iter_mut().enumerate() {
                    *gb = lane_sum(col(dz, j));
                }
            },
        );
    }

    /// Input columns `start..` of `dx = dz Wᵀ`.
    fn input_gradient_cols(&self, dz: MatRef<'_, T>, dx: MatMut<'_, T>, start: usize) {
        let w = self.w.as_ref().subrows(start, dx.ncols());
        matmul(dx, Accum::Replace, dz, w.transpose(), T::one(), Par::Seq);
    }
}

impl<T: Real> Layer<T> for Dense<T> {
    fn spec(&self) -> &LayerSpec {
        &self.spec
    }

    fn input_shape(&self) -> &Shape {
        &self.shapes.0
    }

    fn output_shape(&self) -> &Shape {
        &self.shapes.1
    }

    fn layout(&self) -> Option<Layout> {
        Some(Layout::Features)
    }

    fn forward(
        &self,
        x: MatRef<'_, T>,
        out: MatMut<'_, T>,
        _cache: &mut Cache<T>,
        f: &mut Forward,
    ) {
        if f.threads <= 1 {
            self.forward_cols(x, out, 0, f.par);
            return;
        }
        let split = column_split(self.outputs(), f.threads);
        let pieces = col_pieces(out, &split);
        each_piece(
            pieces.into_iter().zip(split).collect(),
            |(out, (start, _))| self.forward_cols(x, out, start, Par::Seq),
        );
    }

    fn backward(&self, b: Backward<'_, T>) {
        let Backward {
            x,
            y,
            mut dy,
            pre_activation,
            dx,
            grads,
            threads,
            ..
        } = b;
        let act = self.activation;
        let out_split = column_split(self.outputs(), threads);
        if !pre_activation && act != Activation::Linear {
            let pieces = col_pieces(dy.rb_mut(), &out_split);
            each_piece(
                pieces.into_iter().zip(&out_split).collect(),
                |(mut d, &(start, _))| {
                    vectorized(
                        #[inline(always)]
                        || {
                            for j in 0..d.ncols() {
                                let d = d
                                    .rb_mut()
                                    .col_mut(j)
                                    .try_as_col_major_mut()
                                    .expect("owned columns are contiguous")
                                    .as_slice_mut();
                                mul_derivative(act, d, col(y, start + j));
                            }
                        },
                    )
                },
            );
        }
        let dz = dy.as_ref();
        let (gw, gb) = grads.split_at_mut(1);
        let mut dw = col_pieces(gw[0].as_mut(), &out_split).into_iter();
        let db_all = gb[0]
            .col_mut(0)
            .try_as_col_major_mut()
            .expect("owned columns are contiguous")
            .as_slice_mut();
        let mut db = super::par::slice_pieces(db_all, &out_split).into_iter();
        let (in_split, mut dxs) = match dx {
            None => (Vec::new(), Vec::new().into_iter()),
            Some(dx) => {
                let split = column_split(self.inputs(), threads);
                let pieces = col_pieces(dx, &split);
                (split, pieces.into_iter())
            }
        };
        let count = out_split.len().max(in_split.len());
        let items: Vec<_> = (0..count)
            .map(|i| {
                let out = dw
                    .next()
                    .zip(db.next())
                    .map(|(w, b)| (w, b, out_split[i].0));
                let inp = dxs.next().map(|d| (d, in_split[i].0));
                (out, inp)
            })
            .collect();
        each_piece(items, |(out, inp)| {
            if let Some((dw, db, start)) = out {
                Self::weight_gradient_cols(x, dz, dw, db, start);
            }
            if let Some((dx, start)) = inp {
                self.input_gradient_cols(dz, dx, start);
            }
        });
    }

    fn params(&self) -> Vec<&Mat<T>> {
        vec![&self.w, &self.b]
    }

    fn params_mut(&mut self) -> Vec<&mut Mat<T>> {
        vec![&mut self.w, &mut self.b]
    }

    /// numpy's layout (`x @ weights + bias`), as model.json has always held it.
    fn tensors(&self) -> Vec<Tensor> {
        let (i, o) = (self.inputs(), self.outputs());
        vec![
            Tensor {
                name: "weights".into(),
                shape: vec![i, o],
                values: (0..i)
                    .flat_map(|r| (0..o).map(move |c| (r, c)))
                    .map(|(r, c)| self.w[(r, c)].f64())
                    .collect(),
            },
            Tensor {
                name: "bias".into(),
                shape: vec![o],
                values: self.bias().iter().map(|v| v.f64()).collect(),
            },
        ]
    }

    fn set_tensors(&mut self, tensors: &[Tensor]) -> Result<(), String> {
        let (i, o) = (self.inputs(), self.outputs());
        let w = find(tensors, "weights", &[i, o])?;
        let b = find(tensors, "bias", &[o])?;
        self.w = Mat::from_fn(i, o, |r, c| T::of(w.values[r * o + c]));
        self.b = Mat::from_fn(o, 1, |r, _| T::of(b.values[r]));
        Ok(())
    }

    fn onnx_form(&self) -> Option<OnnxForm> {
        Some(OnnxForm::Flat)
    }

    /// `MatMul`, `Add`, then the activation (as torch.onnx exports a `Linear` and its
    /// activation).
    fn onnx(&self, g: &mut Graph, x: &str, name: &str) -> String {
        let (w, b) = onnx_weight_and_bias(g, name, &self.tensors());
        let product = g.node("MatMul", &[x, &w]);
        let h = g.node("Add", &[&product, &b]);
        onnx_activation(g, self.activation, h)
    }

    fn box_clone(&self) -> Box<dyn Layer<T>> {
        Box::new(self.clone())
    }
}

/// The activation's ONNX node on `h` (none for linear).
pub fn onnx_activation(g: &mut Graph, act: Activation, h: String) -> String {
    match act {
        Activation::Linear => h,
        Activation::Sigmoid => g.node("Sigmoid", &[&h]),
        Activation::Tanh => g.node("Tanh", &[&h]),
        Activation::Relu => g.node("Relu", &[&h]),
        Activation::Selu => g.node_with(
            "Selu",
            &[&h],
            &[
                Attr::Float("alpha", SELU_ALPHA as f32),
                Attr::Float("gamma", SELU_LAMBDA as f32),
            ],
        ),
    }
}
