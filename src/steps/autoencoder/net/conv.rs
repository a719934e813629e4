//! Convolutions and transposed convolutions as im2col on faer products, on batches laid
//! out as samples (`Layout::Samples`: a sample's values row-major, channels last, one
//! after the other). A batch of n samples of `[h, w, c]` is then a `c × (n·h·w)` matrix,
//! and the columns of its im2col matrix, one per output position of every sample, follow
//! each other in the same order as the output's values: a convolution is one product
//! `Y (c_out × n·P) = W (c_out × k·k·c_in) · A (k·k·c_in × n·P)`, with no transposition of
//! its result. A transposed convolution is the same geometry read backwards: its forward
//! pass is the convolution's input-gradient pass (a product, then col2im) and its
//! backward pass the convolution's forward (im2col, then a product).
//!
//! Threads take whole samples (forward, input gradient) or whole columns of the weight
//! gradient (a product over the batch), so no piece reduces over another's values and
//! the result is fixed by the thread count.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};

use super::activation::{Real, activate_slice, mul_derivative, vectorized};
use super::dense::onnx_activation;
use super::geometry::{Geometry, sample_split, slice_samples};
use super::layer::{
    Backward, Cache, Forward, Layer, OnnxForm, Tensor, col_slice, col_slice_mut, find,
    init_weights, onnx_weight_and_bias,
};
use super::par::{col_pieces, column_split, each_piece};
use super::plan::PlannedLayer;
use super::shape::{Layout, Shape, contiguous, contiguous_mut};
use super::spec::{LayerSpec, Padding, same_pad_before};
use crate::onnx::{Attr, Graph};
use crate::rng::Rng;

/// `v = act(v + b[channel])` over values laid out channels last.
pub(super) fn bias_and_activation<T: Real>(
    v: &mut [T],
    bias: &[T],
    act: super::super::keys::Activation,
) {
    vectorized(
        #[inline(always)]
        || {
            for pos in v.chunks_exact_mut(bias.len()) {
                for (x, &b) in pos.iter_mut().zip(bias) {
                    *x += b;
                }
            }
            activate_slice(act, v);
        },
    );
}

/// dz = dy ⊙ act'(y) over a whole batch, by sample ranges.
pub(super) fn activation_gradient<T: Real>(
    act: super::super::keys::Activation,
    y: MatRef<'_, T>,
    dy: MatMut<'_, T>,
    threads: usize,
) {
    if act == super::super::keys::Activation::Linear {
        return;
    }
    let per = y.nrows();
    let split = sample_split(y.ncols(), threads);
    let y = contiguous(y);
    let d = slice_samples(contiguous_mut(dy), &split, per);
    each_piece(d.into_iter().zip(&split).collect(), |(d, &(i0, len))| {
        vectorized(
            #[inline(always)]
            || mul_derivative(act, d, &y[i0 * per..(i0 + len) * per]),
        )
    });
}

/// Per-channel sums of `dz` (channels last, `channels` a position).
fn channel_sums<T: Real>(dz: &[T], channels: usize) -> Vec<T> {
    let mut acc = vec![T::zero(); channels];
    for pos in dz.chunks_exact(channels) {
        for (a, &v) in acc.iter_mut().zip(pos) {
            *a += v;
        }
    }
    acc
}

/// A (possibly transposed) convolution's weights and their place in the batch.
#[derive(Debug, Clone)]
pub(super) struct Kernel<T: Real> {
    /// conv: c_out × patch; conv_transpose: c_in × patch (patch over c_out).
    pub(super) w: Mat<T>,
    /// c_out × 1.
    pub(super) b: Mat<T>,
    pub(super) geometry: Geometry,
    pub(super) spec: LayerSpec,
    pub(super) shapes: (Shape, Shape),
    pub(super) activation: super::super::keys::Activation,
    /// A transposed convolution (`conv_transpose`), whose passes are in `conv_transpose`.
    pub(super) transposed: bool,
}

impl<T: Real> Kernel<T> {
    pub(super) fn bias(&self) -> &[T] {
        col_slice(&self.b, 0)
    }

    /// The weights' gradient `dw = lhs · rhsᵀ` cut by columns of `dw`, beside the bias
    /// gradient (per-channel sums of `dz`), in one round of pieces.
    pub(super) fn weight_gradients(
        grads: &mut [Mat<T>],
        lhs: MatRef<'_, T>,
        rhs: MatRef<'_, T>,
        dz: &[T],
        channels: usize,
        threads: usize,
    ) {
        enum Work<'a, T: Real> {
            W(MatMut<'a, T>, usize),
            B(&'a mut [T]),
        }
        let (gw, gb) = grads.split_at_mut(1);
        let split = column_split(gw[0].ncols(), threads);
        let mut items: Vec<Work<T>> = col_pieces(gw[0].as_mut(), &split)
            .into_iter()
            .zip(&split)
            .map(|(m, &(start, _))| Work::W(m, start))
            .collect();
        items.push(Work::B(col_slice_mut(&mut gb[0], 0)));
        each_piece(items, |item| match item {
            Work::W(dw, start) => {
                let r = rhs.subrows(start, dw.ncols());
                matmul(dw, Accum::Replace, lhs, r.transpose(), T::one(), Par::Seq);
            }
            Work::B(db) => db.copy_from_slice(&channel_sums(dz, channels)),
        });
    }
}

pub(super) fn kernel_pair(spec: &LayerSpec) -> ((usize, usize), (usize, usize), Padding, usize) {
    match spec {
        LayerSpec::Conv(s) => (
            (s.kernel.0, s.kernel.1),
            (s.stride.0, s.stride.1),
            s.padding,
            s.filters.0,
        ),
        LayerSpec::ConvTranspose(s) => (
            (s.kernel.0, s.kernel.1),
            (s.stride.0, s.stride.1),
            s.padding,
            s.filters.0,
        ),
        _ => unreachable!("a convolution's spec"),
    }
}

pub(super) fn image(shape: &Shape) -> (usize, usize, usize) {
    shape.image().expect("planned as an image")
}

impl<T: Real> Kernel<T> {
    fn init_conv(p: &PlannedLayer, rng: &mut Rng) -> Kernel<T> {
        let (k, s, padding, filters) = kernel_pair(&p.spec);
        let (h, w, c) = image(&p.input);
        let (oh, ow, _) = image(&p.output);
        let pad = match padding {
            Padding::Valid => (0, 0),
            Padding::Same => (same_pad_before(h, k.0, s.0), same_pad_before(w, k.1, s.1)),
        };
        let geometry = Geometry {
            big: (h, w, c),
            small: (oh, ow),
            k,
            s,
            pad,
        };
        let patch = geometry.patch();
        let act = p.spec.activation();
        let values = init_weights(filters * patch, patch, k.0 * k.1 * filters, act, rng);
        Kernel {
            w: Mat::from_fn(filters, patch, |o, j| T::of(values[o * patch + j])),
            b: Mat::zeros(filters, 1),
            geometry,
            spec: p.spec.clone(),
            shapes: (p.input.clone(), p.output.clone()),
            activation: act,
            transposed: false,
        }
    }

    /// The weights as PyTorch lays them out, `[rows, big channels, kh, kw]`: `Conv2d.weight`
    /// [c_out, c_in, kh, kw] and `ConvTranspose2d.weight` [c_in, c_out, kh, kw]; and `bias`.
    pub(super) fn tensors(&self) -> Vec<Tensor> {
        let ((kh, kw), c, rows) = (self.geometry.k, self.geometry.big.2, self.w.nrows());
        let mut values = Vec::with_capacity(rows * c * kh * kw);
        for r in 0..rows {
            for ch in 0..c {
                for ky in 0..kh {
                    for kx in 0..kw {
                        values.push(self.w[(r, (ky * kw + kx) * c + ch)].f64());
                    }
                }
            }
        }
        vec![
            Tensor {
                name: "weight".into(),
                shape: vec![rows, c, kh, kw],
                values,
            },
            Tensor {
                name: "bias".into(),
                shape: vec![self.b.nrows()],
                values: self.bias().iter().map(|v| v.f64()).collect(),
            },
        ]
    }

    pub(super) fn set_tensors(&mut self, tensors: &[Tensor]) -> Result<(), String> {
        let ((kh, kw), c, rows) = (self.geometry.k, self.geometry.big.2, self.w.nrows());
        let w = find(tensors, "weight", &[rows, c, kh, kw])?;
        let b = find(tensors, "bias", &[self.b.nrows()])?;
        self.w = Mat::from_fn(rows, kh * kw * c, |r, j| {
            let (kk, ch) = (j / c, j % c);
            let (ky, kx) = (kk / kw, kk % kw);
            T::of(w.values[((r * c + ch) * kh + ky) * kw + kx])
        });
        self.b = Mat::from_fn(self.b.nrows(), 1, |o, _| T::of(b.values[o]));
        Ok(())
    }

    fn conv_forward(
        &self,
        x: MatRef<'_, T>,
        out: MatMut<'_, T>,
        cache: &mut Cache<T>,
        f: &mut Forward,
    ) {
        let k = self;
        let g = k.geometry;
        let (n, patch, positions) = (x.ncols(), g.patch(), g.positions());
        let filters = k.w.nrows();
        cache.values.resize(patch * positions * n, T::zero());
        let split = sample_split(n, f.threads);
        let xs = contiguous(x);
        let cols = slice_samples(&mut cache.values, &split, patch * positions);
        let outs = slice_samples(contiguous_mut(out), &split, positions * filters);
        let par = if f.threads <= 1 { f.par } else { Par::Seq };
        let items: Vec<_> = cols.into_iter().zip(outs).zip(&split).collect();
        each_piece(items, |((cols, out), &(i0, len))| {
            g.gather(&xs[i0 * g.big_size()..(i0 + len) * g.big_size()], cols);
            let a = MatRef::from_column_major_slice(&*cols, patch, len * positions);
            let y = MatMut::from_column_major_slice_mut(&mut *out, filters, len * positions);
            matmul(y, Accum::Replace, k.w.as_ref(), a, T::one(), par);
            bias_and_activation(out, k.bias(), k.activation);
        });
    }

    fn conv_backward(&self, b: Backward<'_, T>) {
        let k = self;
        let g = k.geometry;
        let Backward {
            y,
            mut dy,
            pre_activation,
            dx,
            grads,
            cache,
            threads,
            ..
        } = b;
        if !pre_activation {
            activation_gradient(k.activation, y, dy.as_mut(), threads);
        }
        let n = y.ncols();
        let (patch, positions, filters) = (g.patch(), g.positions(), k.w.nrows());
        let dz = contiguous(dy.as_ref());
        let dzm = MatRef::from_column_major_slice(dz, filters, n * positions);
        let a = MatRef::from_column_major_slice(&cache.values, patch, n * positions);
        // dW (c_out × patch) = dZ · Aᵀ, cut by columns of dW.
        Kernel::weight_gradients(grads, dzm, a, dz, filters, threads);
        let Some(dx) = dx else { return };
        // dA = Wᵀ dZ, written over A (no longer needed), then col2im into dx.
        let split = sample_split(n, threads);
        let cols = slice_samples(&mut cache.values, &split, patch * positions);
        let dxs = slice_samples(contiguous_mut(dx), &split, g.big_size());
        let items: Vec<_> = cols.into_iter().zip(dxs).zip(&split).collect();
        each_piece(items, |((cols, dx), &(i0, len))| {
            let dz = dzm.subcols(i0 * positions, len * positions);
            let da = MatMut::from_column_major_slice_mut(&mut *cols, patch, len * positions);
            matmul(
                da,
                Accum::Replace,
                k.w.as_ref().transpose(),
                dz,
                T::one(),
                Par::Seq,
            );
            g.scatter(cols, dx);
        });
    }

    fn conv_onnx(&self, g: &mut Graph, x: &str, name: &str) -> String {
        let k = self;
        let geo = k.geometry;
        let (w, b) = onnx_weight_and_bias(g, name, &self.tensors());
        // Padding after: whatever the output's last position reaches past the input.
        let after = |small: usize, s: usize, k: usize, pad: usize, big: usize| {
            ((small - 1) * s + k).saturating_sub(pad + big)
        };
        let pads = [
            geo.pad.0,
            geo.pad.1,
            after(geo.small.0, geo.s.0, geo.k.0, geo.pad.0, geo.big.0),
            after(geo.small.1, geo.s.1, geo.k.1, geo.pad.1, geo.big.1),
        ];
        let h = g.node_with(
            "Conv",
            &[x, &w, &b],
            &[
                ints("kernel_shape", &[geo.k.0, geo.k.1]),
                ints("strides", &[geo.s.0, geo.s.1]),
                ints("pads", &pads),
            ],
        );
        onnx_activation(g, k.activation, h)
    }
}

/// `conv: { filters, kernel, stride, padding, activation }` and `conv_transpose: { …,
/// output_padding }`: one layer type, its passes chosen by the kind.
#[derive(Debug, Clone)]
pub struct Conv<T: Real>(Kernel<T>);

impl<T: Real> Conv<T> {
    pub fn init(p: &PlannedLayer, rng: &mut Rng) -> Conv<T> {
        match p.spec {
            LayerSpec::ConvTranspose(_) => Conv(Kernel::init_transpose(p, rng)),
            _ => Conv(Kernel::init_conv(p, rng)),
        }
    }
}

impl<T: Real> Layer<T> for Conv<T> {
    fn spec(&self) -> &LayerSpec {
        &self.0.spec
    }
    fn input_shape(&self) -> &Shape {
        &self.0.shapes.0
    }
    fn output_shape(&self) -> &Shape {
        &self.0.shapes.1
    }
    fn layout(&self) -> Option<Layout> {
        Some(Layout::Samples)
    }
    fn forward(&self, x: MatRef<'_, T>, out: MatMut<'_, T>, cache: &mut Cache<T>, f: &mut Forward) {
        if self.0.transposed {
            self.0.transpose_forward(x, out, cache, f)
        } else {
            self.0.conv_forward(x, out, cache, f)
        }
    }
    fn backward(&self, b: Backward<'_, T>) {
        if self.0.transposed {
            self.0.transpose_backward(b)
        } else {
            self.0.conv_backward(b)
        }
    }
    fn params(&self) -> Vec<&Mat<T>> {
        vec![&self.0.w, &self.0.b]
    }
    fn params_mut(&mut self) -> Vec<&mut Mat<T>> {
        vec![&mut self.0.w, &mut self.0.b]
    }
    fn tensors(&self) -> Vec<Tensor> {
        self.0.tensors()
    }
    fn set_tensors(&mut self, tensors: &[Tensor]) -> Result<(), String> {
        self.0.set_tensors(tensors)
    }
    /// The im2col matrix (or the transposed convolution's columns) of a batch.
    fn workspace_bytes(&self, n: usize) -> u64 {
        let g = self.0.geometry;
        (g.patch() * g.positions() * n * std::mem::size_of::<T>()) as u64
    }
    fn onnx_form(&self) -> Option<OnnxForm> {
        Some(OnnxForm::Nchw)
    }
    fn onnx(&self, g: &mut Graph, x: &str, name: &str) -> String {
        if self.0.transposed {
            self.0.transpose_onnx(g, x, name)
        } else {
            self.0.conv_onnx(g, x, name)
        }
    }
    fn box_clone(&self) -> Box<dyn Layer<T>> {
        Box::new(self.clone())
    }
}

pub fn ints(name: &'static str, v: &[usize]) -> Attr {
    Attr::Ints(name, v.iter().map(|&x| x as i64).collect())
}
