//! The transposed convolution: the convolution's geometry read backwards (see `conv`).
//! Its forward pass is a convolution's input-gradient pass, `B = Wᵀ X` then col2im into
//! the output; its backward pass a convolution's forward, im2col of the output's gradient
//! then products.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};

use super::activation::Real;
use super::conv::{Kernel, activation_gradient, bias_and_activation, image, ints, kernel_pair};
use super::dense::onnx_activation;
use super::geometry::{Geometry, sample_split, slice_samples};
use super::layer::{Backward, Cache, Forward, init_weights, onnx_weight_and_bias};
use super::par::each_piece;
use super::plan::PlannedLayer;
use super::shape::{contiguous, contiguous_mut};
use super::spec::transpose_crop;
use crate::onnx::Graph;
use crate::rng::Rng;

impl<T: Real> Kernel<T> {
    pub(super) fn init_transpose(p: &PlannedLayer, rng: &mut Rng) -> Kernel<T> {
        let (k, s, padding, filters) = kernel_pair(&p.spec);
        let (h, w, c_in) = image(&p.input);
        let (oh, ow, _) = image(&p.output);
        let pad = (
            transpose_crop(k.0, s.0, padding).0,
            transpose_crop(k.1, s.1, padding).0,
        );
        let geometry = Geometry {
            big: (oh, ow, filters),
            small: (h, w),
            k,
            s,
            pad,
        };
        let patch = geometry.patch();
        let act = p.spec.activation();
        let values = init_weights(c_in * patch, k.0 * k.1 * c_in, patch, act, rng);
        Kernel {
            w: Mat::from_fn(c_in, patch, |i, j| T::of(values[i * patch + j])),
            b: Mat::zeros(filters, 1),
            geometry,
            spec: p.spec.clone(),
            shapes: (p.input.clone(), p.output.clone()),
            activation: act,
            transposed: true,
        }
    }

    pub(super) fn transpose_forward(
        &self,
        x: MatRef<'_, T>,
        out: MatMut<'_, T>,
        cache: &mut Cache<T>,
        f: &mut Forward,
    ) {
        let k = self;
        let g = k.geometry;
        let (n, patch, positions, c_in) = (x.ncols(), g.patch(), g.positions(), k.w.nrows());
        cache.values.resize(patch * positions * n, T::zero());
        let split = sample_split(n, f.threads);
        let xs = contiguous(x);
        let cols = slice_samples(&mut cache.values, &split, patch * positions);
        let outs = slice_samples(contiguous_mut(out), &split, g.big_size());
        let par = if f.threads <= 1 { f.par } else { Par::Seq };
        let items: Vec<_> = cols.into_iter().zip(outs).zip(&split).collect();
        each_piece(items, |((cols, out), &(i0, len))| {
            let xm = MatRef::from_column_major_slice(
                &xs[i0 * positions * c_in..(i0 + len) * positions * c_in],
                c_in,
                len * positions,
            );
            let bm = MatMut::from_column_major_slice_mut(&mut *cols, patch, len * positions);
            matmul(
                bm,
                Accum::Replace,
                k.w.as_ref().transpose(),
                xm,
                T::one(),
                par,
            );
            g.scatter(cols, out);
            bias_and_activation(out, k.bias(), k.activation);
        });
    }

    pub(super) fn transpose_backward(&self, b: Backward<'_, T>) {
        let k = self;
        let g = k.geometry;
        let Backward {
            x,
            y,
            mut dy,
            pre_activation,
            dx,
            grads,
            cache,
            threads,
        } = b;
        if !pre_activation {
            activation_gradient(k.activation, y, dy.as_mut(), threads);
        }
        let n = y.ncols();
        let (patch, positions, c_in, filters) = (g.patch(), g.positions(), k.w.nrows(), g.big.2);
        let dz = contiguous(dy.as_ref());
        // dB = im2col(dZ), by samples.
        let split = sample_split(n, threads);
        let cols = slice_samples(&mut cache.values, &split, patch * positions);
        each_piece(
            cols.into_iter().zip(&split).collect(),
            |(cols, &(i0, len))| g.gather(&dz[i0 * g.big_size()..(i0 + len) * g.big_size()], cols),
        );
        let db = MatRef::from_column_major_slice(&cache.values, patch, n * positions);
        let xm = MatRef::from_column_major_slice(contiguous(x), c_in, n * positions);
        // dW (c_in × patch) = X · dBᵀ.
        Kernel::weight_gradients(grads, xm, db, dz, filters, threads);
        let Some(dx) = dx else { return };
        // dX (c_in × n·Q) = W · dB, by samples.
        let dxs = slice_samples(contiguous_mut(dx), &split, positions * c_in);
        each_piece(dxs.into_iter().zip(&split).collect(), |(dx, &(i0, len))| {
            let d = MatMut::from_column_major_slice_mut(dx, c_in, len * positions);
            let dbp = db.subcols(i0 * positions, len * positions);
            matmul(d, Accum::Replace, k.w.as_ref(), dbp, T::one(), Par::Seq);
        });
    }

    pub(super) fn transpose_onnx(&self, g: &mut Graph, x: &str, name: &str) -> String {
        let k = self;
        let geo = k.geometry;
        let (w, b) = onnx_weight_and_bias(g, name, &self.tensors());
        // The full output is (in − 1)·s + k; crop `pad` before and whatever lies past
        // the output after (negative crops are output_padding).
        let full = |small: usize, s: usize, k: usize| (small - 1) * s + k;
        let (fh, fw) = (
            full(geo.small.0, geo.s.0, geo.k.0),
            full(geo.small.1, geo.s.1, geo.k.1),
        );
        let after_h = (fh as isize - geo.pad.0 as isize - geo.big.0 as isize).max(0) as usize;
        let after_w = (fw as isize - geo.pad.1 as isize - geo.big.1 as isize).max(0) as usize;
        let op_h = geo.big.0 + geo.pad.0 + after_h - fh;
        let op_w = geo.big.1 + geo.pad.1 + after_w - fw;
        let h = g.node_with(
            "ConvTranspose",
            &[x, &w, &b],
            &[
                ints("kernel_shape", &[geo.k.0, geo.k.1]),
                ints("strides", &[geo.s.0, geo.s.1]),
                ints("pads", &[geo.pad.0, geo.pad.1, after_h, after_w]),
                ints("output_padding", &[op_h, op_w]),
            ],
        );
        onnx_activation(g, k.activation, h)
    }
}
