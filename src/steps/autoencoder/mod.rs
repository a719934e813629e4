//! The autoencoder step: a stack of dense layers trained to reproduce its input through a
//! narrow code layer. `layer` holds the layers and their backward passes, `optim` the
//! optimizers, `train` the mini-batch training streamed from disk epoch by epoch.

pub mod layer;
pub mod optim;
pub mod train;

use faer::{Mat, MatRef, Par};
use serde::{Deserialize, Serialize};

use crate::config::{Activation, Activations, AutoencoderParams, Loss, OutputActivation};
use crate::generate::Rng;
use layer::{Dense, Grad, Real, derivative};

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

/// One slice of a batch in `gradients_parallel`: its workspace and gradients.
#[derive(Debug)]
pub struct Part<T: Real> {
    pub ws: Workspace<T>,
    pub grads: Vec<Grad<T>>,
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
        let mut sum = 0.0;
        for j in 0..output.ncols() {
            let (y, t) = (col(output, j), col(target, j));
            sum += match self.loss {
                Loss::Mse => y
                    .iter()
                    .zip(t)
                    .map(|(&y, &t)| {
                        let d = (y - t).f64();
                        d * d
                    })
                    .sum::<f64>(),
                Loss::Bce => y
                    .iter()
                    .zip(t)
                    .map(|(&y, &t)| {
                        let (y, t) = (y.f64(), t.f64());
                        -(t * y.ln().max(LOG_FLOOR) + (1.0 - t) * (1.0 - y).ln().max(LOG_FLOOR))
                    })
                    .sum::<f64>(),
            };
        }
        sum / count
    }

    /// Forward and backward pass on one batch: fills `grads` (one per layer) and returns
    /// the batch's mean loss. `input` may be a corrupted copy of `target` (denoising).
    pub fn gradients(
        &self,
        input: MatRef<'_, T>,
        target: MatRef<'_, T>,
        ws: &mut Workspace<T>,
        grads: &mut [Grad<T>],
        par: Par,
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
            layer.forward(before[l].as_ref(), after[0].as_mut(), par);
        }
        let output = &ws.acts[depth];
        let loss = self.loss_of(output.as_ref(), target);

        // The output layer's dz: MSE through its activation; cross-entropy through a
        // sigmoid simplifies to (y − t).
        let scale = 1.0 / (n * output.ncols()) as f64;
        let last = &self.layers[depth - 1];
        let dz = &mut ws.dz[depth - 1];
        let (two, one) = (T::of(2.0 * scale), T::of(scale));
        for j in 0..output.ncols() {
            let (y, t, d) = (col(output.as_ref(), j), col(target, j), col_mut(dz, j));
            match self.loss {
                Loss::Mse => {
                    for ((d, &y), &t) in d.iter_mut().zip(y).zip(t) {
                        *d = two * (y - t) * derivative(last.activation, y);
                    }
                }
                Loss::Bce => {
                    for ((d, &y), &t) in d.iter_mut().zip(y).zip(t) {
                        *d = one * (y - t);
                    }
                }
            }
        }
        for l in (0..depth).rev() {
            let (lower, upper) = ws.dz.split_at_mut(l);
            let dz = upper[0].as_ref();
            let x = ws.acts[l].as_ref();
            if l == 0 {
                self.layers[l].backward(x, dz, &mut grads[l], None, par);
            } else {
                let dx = &mut lower[l - 1];
                self.layers[l].backward(x, dz, &mut grads[l], Some(dx.as_mut()), par);
                let act = self.layers[l - 1].activation;
                if act != Activation::Linear {
                    for j in 0..dx.ncols() {
                        for (d, &a) in col_mut(dx, j).iter_mut().zip(col(x, j)) {
                            *d *= derivative(act, a);
                        }
                    }
                }
            }
        }
        loss
    }

    /// As `gradients`, with the batch's rows cut into `parts.len()` contiguous slices run
    /// on rayon's threads (each forward and backward pass single-threaded), their mean
    /// gradients then combined in slice order, weighted by rows — the batch's gradient, the
    /// same for every run with the same number of parts. faer's own parallel products do
    /// not pay at batch sizes like 128; whole slices of the batch do.
    pub fn gradients_parallel(
        &self,
        input: MatRef<'_, T>,
        target: MatRef<'_, T>,
        parts: &mut [Part<T>],
        grads: &mut [Grad<T>],
    ) -> f64 {
        use rayon::prelude::*;
        let n = input.nrows();
        let k = parts.len();
        let bounds: Vec<(usize, usize)> = (0..k)
            .map(|i| (i * n / k, (i + 1) * n / k - i * n / k))
            .collect();
        let losses: Vec<f64> = parts
            .par_iter_mut()
            .zip(bounds.par_iter())
            .map(|(part, &(start, rows))| {
                self.gradients(
                    input.subrows(start, rows),
                    target.subrows(start, rows),
                    &mut part.ws,
                    &mut part.grads,
                    Par::Seq,
                )
            })
            .collect();
        let mut loss = 0.0;
        for (l, grad) in grads.iter_mut().enumerate() {
            let w0 = T::of(bounds[0].1 as f64 / n as f64);
            grad.w.copy_from(&parts[0].grads[l].w);
            grad.w *= faer::Scale(w0);
            for (b, &g) in grad.b.iter_mut().zip(&parts[0].grads[l].b) {
                *b = g * w0;
            }
            for (part, &(_, rows)) in parts.iter().zip(&bounds).skip(1) {
                let wi = T::of(rows as f64 / n as f64);
                grad.w += faer::Scale(wi) * &part.grads[l].w;
                for (b, &g) in grad.b.iter_mut().zip(&part.grads[l].b) {
                    *b += g * wi;
                }
            }
        }
        for (&l, &(_, rows)) in losses.iter().zip(&bounds) {
            loss += l * rows as f64 / n as f64;
        }
        loss
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

fn col<T: Real>(m: MatRef<'_, T>, j: usize) -> &[T] {
    m.col(j)
        .try_as_col_major()
        .expect("owned columns are contiguous")
        .as_slice()
}

fn col_mut<T: Real>(m: &mut Mat<T>, j: usize) -> &mut [T] {
    m.col_mut(j)
        .try_as_col_major_mut()
        .expect("owned columns are contiguous")
        .as_slice_mut()
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
mod tests {
    use super::*;
    use crate::config::{Positive, RawStep};

    fn params(yaml: &str) -> AutoencoderParams {
        let text = format!(
            "name: t\ninput: {{ path: x.csv }}\nsteps:\n  - autoencoder: {yaml}\noutput: {{ dir: o }}\n"
        );
        let raw = crate::config::RawPipeline::from_yaml(&text, "t.yaml").unwrap();
        match &raw.steps[0] {
            RawStep::Autoencoder(a) => a.clone(),
            _ => unreachable!(),
        }
    }

    /// Central differences of the f64 network's loss against its backward pass, for
    /// every parameter of every layer.
    fn check_gradients(yaml: &str, unit_targets: bool) {
        let p = params(yaml);
        let mut net = Network::<f64>::new(&p, 5, 7);
        let mut rng = Rng::new(3);
        // Non-zero biases keep every pre-activation off relu's kink at exactly 0 (a layer
        // whose units are all off would otherwise feed the next one a zero).
        for layer in &mut net.layers {
            for b in &mut layer.b {
                *b = 0.4 * (rng.uniform() - 0.5);
            }
        }
        let n = 6;
        let target = Mat::from_fn(n, 5, |_, _| {
            let u = rng.uniform();
            if unit_targets { u } else { 2.0 * u - 1.0 }
        });
        // A different input than the target exercises the denoising path.
        let input = Mat::from_fn(n, 5, |i, j| {
            target[(i, j)] + 0.05 * ((i + 2 * j) as f64).sin()
        });
        let mut ws = Workspace::default();
        let mut grads = net.zero_grads();
        net.gradients(
            input.as_ref(),
            target.as_ref(),
            &mut ws,
            &mut grads,
            Par::Seq,
        );
        let loss = |net: &Network<f64>| {
            let out = net.run(input.as_ref(), 0..net.layers.len(), Par::Seq);
            net.loss_of(out.as_ref(), target.as_ref())
        };
        let h = 1e-6;
        let mut worst: f64 = 0.0;
        for (l, grad) in grads.iter().enumerate() {
            let (rows, cols) = (net.layers[l].inputs(), net.layers[l].outputs());
            for i in 0..=rows {
                for j in 0..cols {
                    let mut plus = net.clone();
                    let mut minus = net.clone();
                    let analytic = if i < rows {
                        plus.layers[l].w[(i, j)] += h;
                        minus.layers[l].w[(i, j)] -= h;
                        grad.w[(i, j)]
                    } else {
                        plus.layers[l].b[j] += h;
                        minus.layers[l].b[j] -= h;
                        grad.b[j]
                    };
                    let numeric = (loss(&plus) - loss(&minus)) / (2.0 * h);
                    let err = (analytic - numeric).abs() / (1e-4 + analytic.abs() + numeric.abs());
                    worst = worst.max(err);
                }
            }
        }
        assert!(
            worst < 1e-5,
            "{yaml}: worst relative gradient error {worst:e}"
        );
    }

    #[test]
    fn gradients_match_finite_differences_for_every_activation_and_loss() {
        for act in ["linear", "sigmoid", "tanh", "relu", "selu"] {
            for out in ["linear", "sigmoid"] {
                check_gradients(
                    &format!(
                        "{{ encoder: [4, 3], latent: 2, activation: {act}, output_activation: {out} }}"
                    ),
                    false,
                );
            }
        }
        check_gradients(
            "{ encoder: [4], latent: 2, activation: [relu, tanh, selu], output_activation: sigmoid, loss: bce }",
            true,
        );
        check_gradients(
            "{ encoder: [], decoder: [3, 4], latent: 2, activation: [linear, sigmoid, tanh], loss: mse }",
            false,
        );
    }

    #[test]
    fn decoder_mirrors_encoder_and_codes_have_latent_width() {
        let p = params("{ encoder: [6, 4], latent: 2 }");
        let net = Network::<f32>::new(&p, 9, 0);
        assert_eq!(net.widths(), vec![9, 6, 4, 2, 4, 6, 9]);
        assert_eq!(net.latent(), 2);
        let x = Mat::<f32>::zeros(3, 9);
        assert_eq!(net.encode(x.as_ref(), Par::Seq).ncols(), 2);
        assert_eq!(p.latent, Positive(2));
    }

    #[test]
    fn saved_network_round_trips_bit_exactly() {
        let p = params("{ encoder: [4], latent: 2, activation: selu }");
        let net = Network::<f32>::new(&p, 5, 11);
        let saved = net.to_saved();
        assert!(saved.is_consistent());
        let text = serde_json::to_string(&saved).unwrap();
        let back: SavedNetwork = serde_json::from_str(&text).unwrap();
        let again = Network::<f32>::from_saved(&back);
        for (a, b) in net.layers.iter().zip(&again.layers) {
            assert_eq!(a.w, b.w);
            assert_eq!(a.b, b.b);
        }
    }
}

#[cfg(test)]
mod parallel_tests {
    use super::*;
    use crate::config::RawStep;

    /// Slices of a batch give the whole batch's gradient and loss.
    #[test]
    fn sliced_gradients_equal_the_whole_batch() {
        let text = "name: t\ninput: { path: x.csv }\nsteps:\n  - autoencoder: { encoder: [6], latent: 2, activation: tanh }\noutput: { dir: o }\n";
        let raw = crate::config::RawPipeline::from_yaml(text, "t.yaml").unwrap();
        let RawStep::Autoencoder(p) = &raw.steps[0] else {
            unreachable!()
        };
        let net = Network::<f64>::new(p, 5, 1);
        let mut rng = Rng::new(9);
        let x = Mat::from_fn(11, 5, |_, _| rng.uniform());
        let mut whole = net.zero_grads();
        let loss = net.gradients(
            x.as_ref(),
            x.as_ref(),
            &mut Workspace::default(),
            &mut whole,
            Par::Seq,
        );
        let mut parts: Vec<Part<f64>> = (0..3)
            .map(|_| Part {
                ws: Workspace::default(),
                grads: net.zero_grads(),
            })
            .collect();
        let mut sliced = net.zero_grads();
        let loss2 = net.gradients_parallel(x.as_ref(), x.as_ref(), &mut parts, &mut sliced);
        assert!((loss - loss2).abs() < 1e-12);
        for (a, b) in whole.iter().zip(&sliced) {
            assert!((&a.w - &b.w).norm_max() < 1e-12);
            for (u, v) in a.b.iter().zip(&b.b) {
                assert!((u - v).abs() < 1e-12);
            }
        }
    }
}
