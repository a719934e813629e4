//! The autoencoder step: a stack of dense layers trained to reproduce its input through a
//! narrow code layer. `layer` holds the layers and their backward passes, `optim` the
//! optimizers, `train` the mini-batch training streamed from disk epoch by epoch.

pub mod export;
pub mod history;
pub mod infer;
pub mod layer;
pub mod optim;
pub mod packed;
pub mod params;
pub mod step;
pub mod train;

use faer::reborrow::ReborrowMut;
use faer::{Mat, MatMut, MatRef, Par};
use serde::{Deserialize, Serialize};

use crate::rng::Rng;
use layer::{Dense, Grad, Real, mse_output_gradient, mul_derivative, vectorized};
use params::{Activation, Activations, AutoencoderParams, Loss, OutputActivation};

/// log(p) is clamped at −100 in the cross-entropy, as PyTorch's `BCELoss` does, so a
/// saturated output gives a large finite loss rather than infinity.
const LOG_FLOOR: f64 = -100.0;

#[derive(Debug, Clone)]
pub struct Network<T: Real> {
    pub layers: Vec<Dense<T>>,
    /// Index of the layer whose output is the code.
    pub code_layer: usize,
    pub loss: Loss,
}

/// Activations of one forward pass, kept for the backward pass; reused across batches.
#[derive(Debug, Default)]
pub struct Workspace<T: Real> {
    /// `acts[0]` is the input; `acts[l + 1]` is layer l's output.
    acts: Vec<Mat<T>>,
    /// Gradient with respect to each layer's pre-activation.
    dz: Vec<Mat<T>>,
}

impl<T: Real> Network<T> {
    /// A freshly initialised network for `inputs` features, seeded.
    pub fn new(params: &AutoencoderParams, inputs: usize, seed: u64) -> Network<T> {
        let mut widths = vec![inputs];
        widths.extend(params.encoder.iter().map(|w| w.0));
        widths.push(params.latent.0);
        let code_layer = widths.len() - 2;
        widths.extend(params.decoder_widths());
        widths.push(inputs);
        let hidden = widths.len() - 2;
        let activations: Vec<Activation> = match &params.activation {
            Activations::All(a) => vec![*a; hidden],
            Activations::PerLayer(list) => list.clone(),
        };
        let output = match params.output_activation {
            OutputActivation::Linear => Activation::Linear,
            OutputActivation::Sigmoid => Activation::Sigmoid,
        };
        let mut rng = Rng::new(seed ^ 0x1417_1a11_2e5e_ed00);
        let layers = (0..widths.len() - 1)
            .map(|l| {
                let act = if l < hidden { activations[l] } else { output };
                Dense::init(widths[l], widths[l + 1], act, &mut rng)
            })
            .collect();
        Network {
            layers,
            code_layer,
            loss: params.loss,
        }
    }

    pub fn inputs(&self) -> usize {
        self.layers[0].inputs()
    }

    pub fn latent(&self) -> usize {
        self.layers[self.code_layer].outputs()
    }

    /// Input, hidden, code and output widths.
    pub fn widths(&self) -> Vec<usize> {
        let mut w = vec![self.inputs()];
        w.extend(self.layers.iter().map(|l| l.outputs()));
        w
    }

    /// The widest layer, which sizes the batch products (for `train::parallelism`).
    pub fn widest(&self) -> usize {
        self.widths().into_iter().max().unwrap_or(1)
    }

    /// Runs layers `range` on `x`.
    pub fn run(&self, x: MatRef<'_, T>, range: std::ops::Range<usize>, par: Par) -> Mat<T> {
        let mut cur = x.to_owned();
        for l in range {
            let layer = &self.layers[l];
            let mut out = Mat::zeros(cur.nrows(), layer.outputs());
            layer.forward(cur.as_ref(), out.as_mut(), par);
            cur = out;
        }
        cur
    }

    pub fn encode(&self, x: MatRef<'_, T>, par: Par) -> Mat<T> {
        self.run(x, 0..self.code_layer + 1, par)
    }

    pub fn decode(&self, z: MatRef<'_, T>, par: Par) -> Mat<T> {
        self.run(z, self.code_layer + 1..self.layers.len(), par)
    }

    /// Mean loss over every value of the batch (as PyTorch's `reduction="mean"`).
    pub fn loss_of(&self, output: MatRef<'_, T>, target: MatRef<'_, T>) -> f64 {
        let count = (output.nrows() * output.ncols()) as f64;
        (0..output.ncols())
            .map(|j| self.column_loss(col(output, j), col(target, j)))
            .sum::<f64>()
            / count
    }

    /// Forward and backward pass on one batch: fills `grads` (one per layer) and returns
    /// the batch's mean loss. `input` may be a corrupted copy of `target` (denoising).
    ///
    /// With `threads` > 1 every product is cut by columns into that many pieces run on
    /// rayon's threads, each a whole-batch product with one thread: the forward pass by
    /// output columns, the backward pass by the weight gradient's output columns beside
    /// the input gradient's columns. No piece reduces over another's values, so the
    /// result is fixed by the thread count. Slicing the batch by rows instead would halve
    /// each product's depth for the weight gradients and need a reduction; faer's own
    /// parallel products do not pay at batch sizes like 128.
    pub fn gradients(
        &self,
        input: MatRef<'_, T>,
        target: MatRef<'_, T>,
        ws: &mut Workspace<T>,
        grads: &mut [Grad<T>],
        threads: usize,
    ) -> f64 {
        let n = input.nrows();
        let depth = self.layers.len();
        let fresh = ws.acts.len() != depth + 1 || ws.acts[0].nrows() != n;
        if fresh {
            ws.acts = std::iter::once(Mat::zeros(n, self.inputs()))
                .chain(self.layers.iter().map(|l| Mat::zeros(n, l.outputs())))
                .collect();
            ws.dz = self
                .layers
                .iter()
                .map(|l| Mat::zeros(n, l.outputs()))
                .collect();
        }
        ws.acts[0].copy_from(input);
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, after) = ws.acts.split_at_mut(l + 1);
            let x = before[l].as_ref();
            let split = column_split(layer.outputs(), threads);
            let pieces = col_pieces(after[0].as_mut(), &split);
            each_piece(
                pieces.into_iter().zip(split).collect(),
                |(out, (start, _))| layer.forward_cols(x, out, start, Par::Seq),
            );
        }

        // The output layer's dz and the loss, by output columns.
        let output = ws.acts[depth].as_ref();
        let split = column_split(output.ncols(), threads);
        let pieces = col_pieces(ws.dz[depth - 1].as_mut(), &split);
        let sums = each_piece(
            pieces.into_iter().zip(split).collect(),
            |(dz, (start, _))| self.output_gradient(output, target, dz, start),
        );
        let loss = sums.iter().sum::<f64>() / (n * output.ncols()) as f64;

        for l in (0..depth).rev() {
            let layer = &self.layers[l];
            let (lower, upper) = ws.dz.split_at_mut(l);
            let dz = upper[0].as_ref();
            let x = ws.acts[l].as_ref();
            let out_split = column_split(layer.outputs(), threads);
            let grad = &mut grads[l];
            let mut dw = col_pieces(grad.w.as_mut(), &out_split).into_iter();
            let mut db = slice_pieces(&mut grad.b, &out_split).into_iter();
            let (in_split, mut dx) = if l == 0 {
                (Vec::new(), Vec::new().into_iter())
            } else {
                let split = column_split(layer.inputs(), threads);
                let pieces = col_pieces(lower[l - 1].as_mut(), &split);
                (split, pieces.into_iter())
            };
            let prev = if l == 0 {
                Activation::Linear
            } else {
                self.layers[l - 1].activation
            };
            let count = out_split.len().max(in_split.len());
            let items: Vec<_> = (0..count)
                .map(|i| {
                    let out = dw
                        .next()
                        .zip(db.next())
                        .map(|(w, b)| (w, b, out_split[i].0));
                    let inp = dx.next().map(|d| (d, in_split[i].0));
                    (out, inp)
                })
                .collect();
            each_piece(items, |(out, inp)| {
                if let Some((dw, db, start)) = out {
                    layer.weight_gradient_cols(x, dz, dw, db, start, Par::Seq);
                }
                if let Some((mut dx, start)) = inp {
                    layer.input_gradient_cols(dz, dx.rb_mut(), start, Par::Seq);
                    if prev != Activation::Linear {
                        vectorized(
                            #[inline(always)]
                            || {
                                for j in 0..dx.ncols() {
                                    let a = col(x, start + j);
                                    let d = dx
                                        .rb_mut()
                                        .col_mut(j)
                                        .try_as_col_major_mut()
                                        .expect("owned columns are contiguous")
                                        .as_slice_mut();
                                    mul_derivative(prev, d, a);
                                }
                            },
                        );
                    }
                }
            });
        }
        loss
    }

    /// The output layer's dz for output columns `start..` (MSE through the output
    /// activation; cross-entropy through a sigmoid simplifies to (y − t)), scaled for the
    /// mean over the batch; returns those columns' summed loss.
    fn output_gradient(
        &self,
        output: MatRef<'_, T>,
        target: MatRef<'_, T>,
        mut dz: MatMut<'_, T>,
        start: usize,
    ) -> f64 {
        let scale = 1.0 / (output.nrows() * output.ncols()) as f64;
        let act = self.layers[self.layers.len() - 1].activation;
        let (two, one) = (T::of(2.0 * scale), T::of(scale));
        vectorized(
            #[inline(always)]
            || {
                let mut sum = 0.0;
                for j in 0..dz.ncols() {
                    let (y, t) = (col(output, start + j), col(target, start + j));
                    let d = dz
                        .rb_mut()
                        .col_mut(j)
                        .try_as_col_major_mut()
                        .expect("owned columns are contiguous")
                        .as_slice_mut();
                    match self.loss {
                        Loss::Mse => mse_output_gradient(act, two, d, y, t),
                        Loss::Bce => {
                            for ((d, &y), &t) in d.iter_mut().zip(y).zip(t) {
                                *d = one * (y - t);
                            }
                        }
                    }
                    sum += self.column_loss(y, t);
                }
                sum
            },
        )
    }

    /// Summed loss of one column of outputs against its targets, in f64.
    #[inline(always)]
    fn column_loss(&self, y: &[T], t: &[T]) -> f64 {
        match self.loss {
            Loss::Mse => {
                // Sixteen interleaved partial sums, as `lane_sum`, so the loop vectorises.
                let mut acc = [0.0f64; 16];
                let (yc, tc) = (y.chunks_exact(16), t.chunks_exact(16));
                let (yr, tr) = (yc.remainder(), tc.remainder());
                for (y, t) in yc.zip(tc) {
                    for ((a, &y), &t) in acc.iter_mut().zip(y).zip(t) {
                        let d = (y - t).f64();
                        *a += d * d;
                    }
                }
                let rest = yr.iter().zip(tr).fold(0.0, |s, (&y, &t)| {
                    let d = (y - t).f64();
                    s + d * d
                });
                acc.iter().sum::<f64>() + rest
            }
            Loss::Bce => y
                .iter()
                .zip(t)
                .map(|(&y, &t)| {
                    let (y, t) = (y.f64(), t.f64());
                    -(t * y.ln().max(LOG_FLOOR) + (1.0 - t) * (1.0 - y).ln().max(LOG_FLOOR))
                })
                .sum::<f64>(),
        }
    }

    pub fn zero_grads(&self) -> Vec<Grad<T>> {
        self.layers.iter().map(Grad::zeros_like).collect()
    }

    pub fn parameters(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.inputs() * l.outputs() + l.outputs())
            .sum()
    }

    pub fn to_saved(&self) -> SavedNetwork {
        SavedNetwork {
            code_layer: self.code_layer,
            loss: self.loss,
            layers: self
                .layers
                .iter()
                .map(|l| SavedLayer {
                    activation: l.activation,
                    inputs: l.inputs(),
                    outputs: l.outputs(),
                    weights: (0..l.inputs())
                        .map(|i| (0..l.outputs()).map(|j| l.w[(i, j)].f64()).collect())
                        .collect(),
                    bias: l.b.iter().map(|b| b.f64()).collect(),
                })
                .collect(),
        }
    }

    pub fn from_saved(saved: &SavedNetwork) -> Network<T> {
        Network {
            code_layer: saved.code_layer,
            loss: saved.loss,
            layers: saved
                .layers
                .iter()
                .map(|l| Dense {
                    w: Mat::from_fn(l.inputs, l.outputs, |i, j| T::of(l.weights[i][j])),
                    b: l.bias.iter().map(|&b| T::of(b)).collect(),
                    activation: l.activation,
                })
                .collect(),
        }
    }
}

/// Contiguous column ranges `(start, len)` of `n` columns for up to `parts` threads, cut
/// at multiples of 16 (an AVX-512 register of f32) so no piece is narrower than that.
pub fn column_split(n: usize, parts: usize) -> Vec<(usize, usize)> {
    let blocks = n.div_ceil(16).max(1);
    let parts = parts.clamp(1, blocks);
    (0..parts)
        .map(|i| {
            let start = (i * blocks / parts * 16).min(n);
            let end = ((i + 1) * blocks / parts * 16).min(n);
            (start, end - start)
        })
        .collect()
}

/// Cuts `whole` into consecutive pieces of the split's lengths with `cut(rest, len)`.
fn pieces<X>(whole: X, split: &[(usize, usize)], cut: impl Fn(X, usize) -> (X, X)) -> Vec<X> {
    let mut rest = whole;
    let mut out = Vec::with_capacity(split.len());
    for &(_, len) in split {
        let (piece, tail) = cut(rest, len);
        out.push(piece);
        rest = tail;
    }
    out
}

fn col_pieces<'a, T: Real>(m: MatMut<'a, T>, split: &[(usize, usize)]) -> Vec<MatMut<'a, T>> {
    pieces(m, split, |m, len| m.split_at_col_mut(len))
}

fn slice_pieces<'a, T>(s: &'a mut [T], split: &[(usize, usize)]) -> Vec<&'a mut [T]> {
    pieces(s, split, |s, len| s.split_at_mut(len))
}

/// Runs `f` on every item, one item per thread, on the training team's spinning threads
/// inside `spindle::with_lock` (see `train::Team`), else on rayon's; results in item
/// order.
pub(super) fn each_piece<I: Send, R: Send>(
    items: Vec<I>,
    f: impl Fn(I) -> R + Sync + Send,
) -> Vec<R> {
    use rayon::prelude::*;
    if items.len() == 1 {
        items.into_iter().map(f).collect()
    } else {
        let n = items.len();
        let mut out: Vec<Option<R>> = (0..n).map(|_| None).collect();
        spindle::for_each(
            n,
            items.into_par_iter().zip(out.par_iter_mut()),
            |(item, slot)| *slot = Some(f(item)),
        );
        out.into_iter()
            .map(|r| r.expect("every piece ran"))
            .collect()
    }
}

fn col<T: Real>(m: MatRef<'_, T>, j: usize) -> &[T] {
    m.col(j)
        .try_as_col_major()
        .expect("owned columns are contiguous")
        .as_slice()
}

/// A network as model.json and checkpoints hold it: per layer
/// `a_out = act(a_in @ weights + bias)`, weights as rows of inputs (numpy's `W` in
/// `x @ W + b`). Values are the f32 weights widened to f64, so they read back bit-exactly.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedNetwork {
    pub code_layer: usize,
    pub loss: Loss,
    pub layers: Vec<SavedLayer>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedLayer {
    pub activation: Activation,
    pub inputs: usize,
    pub outputs: usize,
    pub weights: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
}

impl SavedNetwork {
    /// Shapes chain from layer to layer and match the declared sizes.
    pub fn is_consistent(&self) -> bool {
        !self.layers.is_empty()
            && self.code_layer < self.layers.len() - 1
            && self.layers.windows(2).all(|w| w[0].outputs == w[1].inputs)
            && self.layers.first().map(|l| l.inputs) == self.layers.last().map(|l| l.outputs)
            && self.layers.iter().all(|l| {
                l.weights.len() == l.inputs
                    && l.weights.iter().all(|r| r.len() == l.outputs)
                    && l.bias.len() == l.outputs
            })
    }
}

#[cfg(test)]
mod tests;
