//! Optimizers. Adam is Kingma & Ba's Algorithm 1 with bias correction (the same update
//! as PyTorch's `Adam`); SGD has PyTorch's momentum and Nesterov forms. The state is
//! plain data so a checkpoint can hold it and a resumed run continues bit for bit.

use serde::{Deserialize, Serialize};

use super::layer::{Grad, Real, vectorized};
use super::params::{OptimizerKind, OptimizerParams};
use super::{Network, each_piece};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Optimizer {
    pub kind: OptimizerKind,
    pub learning_rate: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    /// Steps taken (Adam's t).
    pub steps: u64,
    /// Per layer: the first moment (Adam) or momentum buffer (SGD), weights then biases,
    /// flattened column by column.
    #[serde(with = "super::packed::arrays")]
    pub first: Vec<Vec<f32>>,
    /// Per layer: Adam's second moment.
    #[serde(with = "super::packed::arrays")]
    pub second: Vec<Vec<f32>>,
}

impl Optimizer {
    pub fn new(params: &OptimizerParams, net: &Network<f32>) -> Optimizer {
        let sizes: Vec<usize> = net
            .layers
            .iter()
            .map(|l| l.inputs() * l.outputs() + l.outputs())
            .collect();
        let adam = params.kind == OptimizerKind::Adam;
        let momentum = params.momentum.unwrap_or(0.0);
        Optimizer {
            kind: params.kind,
            learning_rate: params.learning_rate(),
            momentum,
            nesterov: params.nesterov.unwrap_or(false),
            beta1: params.beta1.unwrap_or(0.9),
            beta2: params.beta2.unwrap_or(0.999),
            epsilon: params.epsilon.unwrap_or(1e-8),
            steps: 0,
            first: if adam || momentum > 0.0 {
                sizes.iter().map(|&s| vec![0.0; s]).collect()
            } else {
                Vec::new()
            },
            second: if adam {
                sizes.iter().map(|&s| vec![0.0; s]).collect()
            } else {
                Vec::new()
            },
        }
    }

    /// One update of every parameter from its gradient.
    /// `threads`: how many pieces the update is cut into (run on the caller's team, see
    /// `each_piece`); the result does not depend on it.
    pub fn step(&mut self, net: &mut Network<f32>, grads: &[Grad<f32>], threads: usize) {
        self.steps += 1;
        let lr = self.learning_rate;
        match self.kind {
            OptimizerKind::Adam => {
                let t = self.steps as i32;
                let (b1, b2) = (self.beta1, self.beta2);
                let step_size = (lr / (1.0 - b1.powi(t))) as f32;
                let sqrt_bc2 = (1.0 - b2.powi(t)).sqrt() as f32;
                let (b1, b2, eps) = (b1 as f32, b2 as f32, self.epsilon as f32);
                // Every run of parameters with its moments, across all layers, shared out
                // to the step's threads: each value's update is independent of the
                // others, so the result does not depend on how the runs are cut.
                let mut runs = Vec::new();
                for ((layer, grad), (m, v)) in net
                    .layers
                    .iter_mut()
                    .zip(grads)
                    .zip(self.first.iter_mut().zip(self.second.iter_mut()))
                {
                    let (mut m, mut v) = (m.as_mut_slice(), v.as_mut_slice());
                    for (_, p, g) in slices(layer, grad) {
                        let (mh, mt) = m.split_at_mut(p.len());
                        let (vh, vt) = v.split_at_mut(p.len());
                        (m, v) = (mt, vt);
                        runs.push((p, g, mh, vh));
                    }
                }
                let update = |(p, g, m, v): (&mut [f32], &[f32], &mut [f32], &mut [f32])| {
                    // Zipped slices (no indices) so the update vectorises.
                    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                        *m = b1 * *m + (1.0 - b1) * g;
                        *v = b2 * *v + (1.0 - b2) * g * g;
                        *p -= step_size * *m / (v.sqrt() / sqrt_bc2 + eps);
                    }
                };
                let run_all = |runs: Vec<_>| {
                    vectorized(
                        #[inline(always)]
                        || {
                            // A loop, not `for_each`, so `update` is inlined into the
                            // vectorised code.
                            for run in runs {
                                update(run);
                            }
                        },
                    )
                };
                each_piece(cut_runs(runs, threads, |r| r.0.len()), run_all);
            }
            OptimizerKind::Sgd => {
                let (lr, mu, nesterov) = (lr as f32, self.momentum as f32, self.nesterov);
                for (l, (layer, grad)) in net.layers.iter_mut().zip(grads).enumerate() {
                    if mu == 0.0 {
                        each_param(layer, grad, |_, p, g| *p -= lr * g);
                    } else {
                        let buf = &mut self.first[l];
                        // PyTorch: the first step sets the buffer to the gradient.
                        let first_step = self.steps == 1;
                        each_param(layer, grad, |k, p, g| {
                            buf[k] = if first_step { g } else { mu * buf[k] + g };
                            let d = if nesterov { g + mu * buf[k] } else { buf[k] };
                            *p -= lr * d;
                        });
                    }
                }
            }
        }
    }
}

/// Consecutive runs in up to `parts` groups of about equal total length, one per thread.
fn cut_runs<X>(runs: Vec<X>, parts: usize, len: impl Fn(&X) -> usize) -> Vec<Vec<X>> {
    let total: usize = runs.iter().map(&len).sum();
    let per = total.div_ceil(parts.max(1)).max(1);
    let mut groups = vec![Vec::new()];
    let mut filled = 0;
    for run in runs {
        if filled >= per {
            groups.push(Vec::new());
            filled = 0;
        }
        filled += len(&run);
        groups.last_mut().expect("one group at least").push(run);
    }
    groups
}

/// Visits every parameter of a layer with its gradient and its flat index (weights column
/// by column, then biases).
fn each_param<T: Real>(
    layer: &mut super::layer::Dense<T>,
    grad: &Grad<T>,
    mut f: impl FnMut(usize, &mut T, T),
) {
    each_slice(layer, grad, |offset, p, g| {
        for (i, (p, &g)) in p.iter_mut().zip(g).enumerate() {
            f(offset + i, p, g);
        }
    });
}

/// A layer's parameters as contiguous runs (each weight column, then the biases) with
/// their gradients and the flat index of the run's first parameter.
fn slices<'a, T: Real>(
    layer: &'a mut super::layer::Dense<T>,
    grad: &'a Grad<T>,
) -> Vec<(usize, &'a mut [T], &'a [T])> {
    let rows = layer.inputs();
    let outputs = layer.outputs();
    let mut runs: Vec<(usize, &'a mut [T], &'a [T])> = layer
        .w
        .as_mut()
        .col_iter_mut()
        .zip(grad.w.as_ref().col_iter())
        .enumerate()
        .map(|(j, (w, g))| {
            let w = w
                .try_as_col_major_mut()
                .expect("owned columns are contiguous")
                .as_slice_mut();
            let g = g
                .try_as_col_major()
                .expect("owned columns are contiguous")
                .as_slice();
            (j * rows, w, g)
        })
        .collect();
    runs.push((rows * outputs, layer.b.as_mut_slice(), grad.b.as_slice()));
    runs
}

fn each_slice<T: Real>(
    layer: &mut super::layer::Dense<T>,
    grad: &Grad<T>,
    mut f: impl FnMut(usize, &mut [T], &[T]),
) {
    for (offset, p, g) in slices(layer, grad) {
        f(offset, p, g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Activation;
    use crate::steps::autoencoder::layer::Dense;
    use faer::Mat;

    fn one_param_net(value: f32) -> Network<f32> {
        Network {
            layers: vec![
                Dense {
                    w: Mat::from_fn(1, 1, |_, _| value),
                    b: vec![0.0],
                    activation: Activation::Linear,
                },
                Dense {
                    w: Mat::from_fn(1, 1, |_, _| 1.0),
                    b: vec![0.0],
                    activation: Activation::Linear,
                },
            ],
            code_layer: 0,
            loss: crate::config::Loss::Mse,
        }
    }

    fn grads(g: f32) -> Vec<Grad<f32>> {
        vec![
            Grad {
                w: Mat::from_fn(1, 1, |_, _| g),
                b: vec![0.0],
            },
            Grad {
                w: Mat::zeros(1, 1),
                b: vec![0.0],
            },
        ]
    }

    /// Kingma & Ba's update written out by hand for two steps.
    #[test]
    fn adam_matches_the_paper() {
        let params = OptimizerParams {
            learning_rate: Some(0.1),
            ..OptimizerParams::default()
        };
        let mut net = one_param_net(1.0);
        let mut opt = Optimizer::new(&params, &net);
        let (b1, b2, eps, lr) = (0.9f64, 0.999f64, 1e-8f64, 0.1f64);
        let (mut m, mut v, mut p) = (0.0f64, 0.0f64, 1.0f64);
        for (t, g) in [(1, 0.5f64), (2, -0.25f64)] {
            opt.step(&mut net, &grads(g as f32), 1);
            m = b1 * m + (1.0 - b1) * g;
            v = b2 * v + (1.0 - b2) * g * g;
            let m_hat = m / (1.0 - b1.powi(t));
            let v_hat = v / (1.0 - b2.powi(t));
            p -= lr * m_hat / (v_hat.sqrt() + eps);
            assert!(
                (net.layers[0].w[(0, 0)] as f64 - p).abs() < 1e-6,
                "step {t}"
            );
        }
    }

    /// PyTorch's SGD with momentum and Nesterov, by hand.
    #[test]
    fn sgd_momentum_and_nesterov_match_pytorch() {
        for nesterov in [false, true] {
            let params = OptimizerParams {
                kind: OptimizerKind::Sgd,
                learning_rate: Some(0.1),
                momentum: Some(0.9),
                nesterov: Some(nesterov),
                ..OptimizerParams::default()
            };
            let mut net = one_param_net(1.0);
            let mut opt = Optimizer::new(&params, &net);
            let (mut buf, mut p) = (0.0f64, 1.0f64);
            for (t, g) in [(1, 0.5f64), (2, -0.25), (3, 1.0)] {
                opt.step(&mut net, &grads(g as f32), 1);
                buf = if t == 1 { g } else { 0.9 * buf + g };
                let d = if nesterov { g + 0.9 * buf } else { buf };
                p -= 0.1 * d;
                assert!((net.layers[0].w[(0, 0)] as f64 - p).abs() < 1e-6);
            }
        }
    }
}
