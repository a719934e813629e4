//! The layers around the recurrent ones: `repeat` (Keras's RepeatVector) copies a code
//! to every step of a sequence, and `time_distributed_dense` applies one dense layer to
//! every step (PyTorch's `nn.Linear` on a `[N, steps, features]` tensor). Both work in
//! the `Features` layout, where step t is the batch's columns `t·width..(t+1)·width`.

use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef, Par};

use super::super::keys::Activation;
use super::activation::{Real, activate_slice, lane_sum, mul_derivative, vectorized};
use super::dense::onnx_activation;
use super::layer::{
    Backward, Cache, Forward, Layer, OnnxForm, Tensor, col_slice, find, init_weights,
};
use super::par::{column_split, each_piece};
use super::plan::PlannedLayer;
use super::shape::{Layout, Shape};
use super::spec::LayerSpec;
use crate::onnx::{DType, Graph};
use crate::rng::Rng;

#[derive(Debug, Clone)]
pub struct Repeat {
    spec: LayerSpec,
    steps: usize,
    shapes: (Shape, Shape),
}

impl Repeat {
    pub fn new(p: &PlannedLayer) -> Repeat {
        let steps = p.output.sequence().expect("repeat makes a sequence").0;
        Repeat {
            spec: p.spec.clone(),
            steps,
            shapes: (p.input.clone(), p.output.clone()),
        }
    }
}

impl<T: Real> Layer<T> for Repeat {
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
    fn forward(&self, x: MatRef<'_, T>, mut out: MatMut<'_, T>, _: &mut Cache<T>, _: &mut Forward) {
        let w = x.ncols();
        for t in 0..self.steps {
            out.rb_mut().subcols_mut(t * w, w).copy_from(x);
        }
    }
    /// The gradient of a copied value is the sum over its copies.
    fn backward(&self, b: Backward<'_, T>) {
        let Some(mut dx) = b.dx else { return };
        let w = dx.ncols();
        dx.copy_from(b.dy.as_ref().subcols(0, w));
        for t in 1..self.steps {
            dx += b.dy.as_ref().subcols(t * w, w);
        }
    }
    fn onnx_form(&self) -> Option<OnnxForm> {
        Some(OnnxForm::Flat)
    }
    /// `Tile` along the row: `[N, w]` → `[N, steps·w]`, step after step.
    fn onnx(&self, g: &mut Graph, x: &str, _name: &str) -> String {
        let repeats = g.constant_i64("repeats", &[2], &[1, self.steps as i64]);
        g.node("Tile", &[x, &repeats])
    }
    fn box_clone(&self) -> Box<dyn Layer<T>> {
        Box::new(self.clone())
    }
}

#[derive(Debug, Clone)]
pub struct TimeDense<T: Real> {
    /// features × units.
    pub w: Mat<T>,
    /// units × 1.
    pub b: Mat<T>,
    activation: Activation,
    steps: usize,
    spec: LayerSpec,
    shapes: (Shape, Shape),
}

impl<T: Real> TimeDense<T> {
    /// Weights as a dense layer's (`init_weights`, row after row), biases at zero.
    pub fn init(p: &PlannedLayer, rng: &mut Rng) -> Self {
        let (steps, f) = p.input.sequence().expect("planned on a sequence");
        let units = p.output.sequence().expect("a sequence").1;
        let activation = p.spec.activation();
        let values = init_weights(f * units, f, units, activation, rng);
        TimeDense {
            w: Mat::from_fn(f, units, |i, j| T::of(values[i * units + j])),
            b: Mat::zeros(units, 1),
            activation,
            steps,
            spec: p.spec.clone(),
            shapes: (p.input.clone(), p.output.clone()),
        }
    }

    fn features(&self) -> usize {
        self.w.nrows()
    }

    fn units(&self) -> usize {
        self.w.ncols()
    }

    fn forward_rows(&self, x: MatRef<'_, T>, mut out: MatMut<'_, T>) {
        let (f, u) = (self.features(), self.units());
        let bias = col_slice(&self.b, 0);
        for t in 0..self.steps {
            let mut o = out.rb_mut().subcols_mut(t * u, u);
            matmul(
                o.rb_mut(),
                Accum::Replace,
                x.subcols(t * f, f),
                self.w.as_ref(),
                T::one(),
                Par::Seq,
            );
            vectorized(
                #[inline(always)]
                || {
                    for (j, &b) in bias.iter().enumerate() {
                        let col = o
                            .rb_mut()
                            .col_mut(j)
                            .try_as_col_major_mut()
                            .expect("rows of a column are contiguous")
                            .as_slice_mut();
                        col.iter_mut().for_each(|v| *v += b);
                        activate_slice(self.activation, col);
                    }
                },
            );
        }
    }

    /// One piece's rows backwards: `dy` becomes the pre-activation gradient; returns the
    /// piece's weight and bias gradients.
    fn backward_rows(
        &self,
        x: MatRef<'_, T>,
        y: MatRef<'_, T>,
        mut dy: MatMut<'_, T>,
        mut dx: Option<MatMut<'_, T>>,
        pre_activation: bool,
    ) -> [Mat<T>; 2] {
        let (f, u) = (self.features(), self.units());
        let mut gw = Mat::<T>::zeros(f, u);
        let mut gb = Mat::<T>::zeros(u, 1);
        if !pre_activation && self.activation != Activation::Linear {
            for j in 0..dy.ncols() {
                let d = dy
                    .rb_mut()
                    .col_mut(j)
                    .try_as_col_major_mut()
                    .expect("rows of a column are contiguous")
                    .as_slice_mut();
                let a = y
                    .col(j)
                    .try_as_col_major()
                    .expect("rows of a column are contiguous")
                    .as_slice();
                vectorized(
                    #[inline(always)]
                    || mul_derivative(self.activation, d, a),
                );
            }
        }
        let dz = dy.as_ref();
        for t in 0..self.steps {
            let dzt = dz.subcols(t * u, u);
            matmul(
                gw.as_mut(),
                Accum::Add,
                x.subcols(t * f, f).transpose(),
                dzt,
                T::one(),
                Par::Seq,
            );
            for j in 0..u {
                let c = dzt
                    .col(j)
                    .try_as_col_major()
                    .expect("rows of a column are contiguous")
                    .as_slice();
                gb[(j, 0)] += lane_sum(c);
            }
            if let Some(dx) = dx.as_mut() {
                matmul(
                    dx.rb_mut().subcols_mut(t * f, f),
                    Accum::Replace,
                    dzt,
                    self.w.transpose(),
                    T::one(),
                    Par::Seq,
                );
            }
        }
        [gw, gb]
    }
}

impl<T: Real> Layer<T> for TimeDense<T> {
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

    /// The batch cut by rows, one piece per thread.
    fn forward(&self, x: MatRef<'_, T>, out: MatMut<'_, T>, _: &mut Cache<T>, f: &mut Forward) {
        let threads = f.row_pieces();
        let mut items = Vec::new();
        let mut out = out;
        for (start, len) in column_split(x.nrows(), threads.max(1)) {
            let (o, rest) = out.split_at_row_mut(len);
            items.push((x.subrows(start, len), o));
            out = rest;
        }
        each_piece(items, |(x, o)| self.forward_rows(x, o));
    }

    /// As `forward`, by rows; the pieces' weight gradients summed in piece order, so the
    /// result is fixed by the thread count.
    fn backward(&self, b: Backward<'_, T>) {
        let Backward {
            x,
            y,
            dy,
            pre_activation,
            dx,
            grads,
            threads,
            ..
        } = b;
        let mut items = Vec::new();
        let (mut dy, mut dx) = (dy, dx);
        for (start, len) in column_split(x.nrows(), threads.max(1)) {
            let (d, rest) = dy.split_at_row_mut(len);
            dy = rest;
            let piece_dx = match dx.take() {
                Some(m) => {
                    let (p, rest) = m.split_at_row_mut(len);
                    dx = Some(rest);
                    Some(p)
                }
                None => None,
            };
            items.push((x.subrows(start, len), y.subrows(start, len), d, piece_dx));
        }
        let parts = each_piece(items, |(x, y, d, dx)| {
            self.backward_rows(x, y, d, dx, pre_activation)
        });
        for (k, g) in grads.iter_mut().enumerate() {
            g.copy_from(&parts[0][k]);
            for p in &parts[1..] {
                *g += &p[k];
            }
        }
    }

    fn params(&self) -> Vec<&Mat<T>> {
        vec![&self.w, &self.b]
    }

    fn params_mut(&mut self) -> Vec<&mut Mat<T>> {
        vec![&mut self.w, &mut self.b]
    }

    /// `nn.Linear`'s `weight` (units × features) and `bias`.
    fn tensors(&self) -> Vec<Tensor> {
        let (f, u) = (self.features(), self.units());
        vec![
            Tensor {
                name: "weight".into(),
                shape: vec![u, f],
                values: (0..u)
                    .flat_map(|r| (0..f).map(move |c| (r, c)))
                    .map(|(r, c)| self.w[(c, r)].f64())
                    .collect(),
            },
            Tensor {
                name: "bias".into(),
                shape: vec![u],
                values: col_slice(&self.b, 0).iter().map(|v| v.f64()).collect(),
            },
        ]
    }

    fn set_tensors(&mut self, tensors: &[Tensor]) -> Result<(), String> {
        let (f, u) = (self.features(), self.units());
        let w = find(tensors, "weight", &[u, f])?;
        let b = find(tensors, "bias", &[u])?;
        self.w = Mat::from_fn(f, u, |c, r| T::of(w.values[r * f + c]));
        self.b = Mat::from_fn(u, 1, |r, _| T::of(b.values[r]));
        Ok(())
    }

    fn onnx_form(&self) -> Option<OnnxForm> {
        Some(OnnxForm::Flat)
    }

    /// Every step as a row of its own (`[N·steps, features]`), `MatMul`, `Add`, the
    /// activation, and back to `[N, steps·units]`.
    fn onnx(&self, g: &mut Graph, x: &str, name: &str) -> String {
        let (f, u) = (self.features(), self.units());
        let w = g.constant_as(
            &format!("{name}.weight"),
            &[f, u],
            &(0..f)
                .flat_map(|i| (0..u).map(move |j| (i, j)))
                .map(|(i, j)| self.w[(i, j)].f64())
                .collect::<Vec<_>>(),
            DType::Float32,
        );
        let b = g.constant_as(
            &format!("{name}.bias"),
            &[u],
            &col_slice(&self.b, 0)
                .iter()
                .map(|v| v.f64())
                .collect::<Vec<_>>(),
            DType::Float32,
        );
        let steps = g.constant_i64("steps", &[2], &[-1, f as i64]);
        let rows = g.node("Reshape", &[x, &steps]);
        let product = g.node("MatMul", &[&rows, &w]);
        let h = g.node("Add", &[&product, &b]);
        let a = onnx_activation(g, self.activation, h);
        let flat = g.constant_i64("flat", &[2], &[-1, (self.steps * u) as i64]);
        g.node("Reshape", &[&a, &flat])
    }

    fn box_clone(&self) -> Box<dyn Layer<T>> {
        Box::new(self.clone())
    }
}
