//! Optimizers. Adam is Kingma & Ba's Algorithm 1 with bias correction (the same update
//! as PyTorch's `Adam`); SGD has PyTorch's momentum and Nesterov forms. The state is
//! plain data so a checkpoint can hold it and a resumed run continues bit for bit.

use serde::{Deserialize, Serialize};

use faer::Mat;

use super::net::activation::vectorized;
use super::net::layer::col_slice_mut;
use super::net::par::each_piece;
use super::net::{Grads, Network};
use super::params::{OptimizerKind, OptimizerParams};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Optimizer {
    pub kind: OptimizerKind,
    /// This epoch's learning rate (the schedule's, else the one configured).
    pub learning_rate: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    /// AdamW's decoupled decay for adam, L2 added to the gradient for sgd.
    #[serde(default)]
    pub weight_decay: f64,
    /// Steps taken (Adam's t).
    pub steps: u64,
    /// Per parameter, layer by layer: the first moment (Adam) or momentum buffer (SGD),
    /// flattened column by column.
    #[serde(with = "super::packed::arrays")]
    pub first: Vec<Vec<f32>>,
    /// Per parameter: Adam's second moment.
    #[serde(with = "super::packed::arrays")]
    pub second: Vec<Vec<f32>>,
}

impl Optimizer {
    pub fn new(params: &OptimizerParams, net: &Network<f32>) -> Optimizer {
        let sizes: Vec<usize> = net
            .layers
            .iter()
            .flat_map(|l| l.params())
            .map(|p| p.nrows() * p.ncols())
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
            weight_decay: params.weight_decay.unwrap_or(0.0),
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
    pub fn step(&mut self, net: &mut Network<f32>, grads: &Grads<f32>, threads: usize) {
        self.steps += 1;
        let lr = self.learning_rate;
        let params: Vec<&mut Mat<f32>> =
            net.layers.iter_mut().flat_map(|l| l.params_mut()).collect();
        let grads: Vec<&Mat<f32>> = grads.iter().flatten().collect();
        match self.kind {
            OptimizerKind::Adam => {
                let t = self.steps as i32;
                let (b1, b2) = (self.beta1, self.beta2);
                let step_size = (lr / (1.0 - b1.powi(t))) as f32;
                let sqrt_bc2 = (1.0 - b2.powi(t)).sqrt() as f32;
                let (b1, b2, eps) = (b1 as f32, b2 as f32, self.epsilon as f32);
                // PyTorch's AdamW: p ← p (1 − lr·λ) before the Adam step.
                let decay =
                    (self.weight_decay > 0.0).then_some((1.0 - lr * self.weight_decay) as f32);
                // Every run of parameters with its moments, across all layers, shared out
                // to the step's threads: each value's update is independent of the
                // others, so the result does not depend on how the runs are cut.
                let mut runs = Vec::new();
                for ((p, g), (m, v)) in params
                    .into_iter()
                    .zip(grads)
                    .zip(self.first.iter_mut().zip(self.second.iter_mut()))
                {
                    let (mut m, mut v) = (m.as_mut_slice(), v.as_mut_slice());
                    for (p, g) in columns(p, g) {
                        let (mh, mt) = m.split_at_mut(p.len());
                        let (vh, vt) = v.split_at_mut(p.len());
                        (m, v) = (mt, vt);
                        runs.push((p, g, mh, vh));
                    }
                }
                let update = |(p, g, m, v): (&mut [f32], &[f32], &mut [f32], &mut [f32])| {
                    if let Some(d) = decay {
                        p.iter_mut().for_each(|p| *p *= d);
                    }
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
                let wd = self.weight_decay as f32;
                // PyTorch: the first step sets the buffer to the gradient.
                let first_step = self.steps == 1;
                for (k, (p, g)) in params.into_iter().zip(grads).enumerate() {
                    let mut offset = 0;
                    for (p, g) in columns(p, g) {
                        for (i, (p, &g)) in p.iter_mut().zip(g).enumerate() {
                            let g = if wd > 0.0 { g + wd * *p } else { g };
                            if mu == 0.0 {
                                *p -= lr * g;
                            } else {
                                let buf = &mut self.first[k][offset + i];
                                *buf = if first_step { g } else { mu * *buf + g };
                                let d = if nesterov { g + mu * *buf } else { *buf };
                                *p -= lr * d;
                            }
                        }
                        offset += p.len();
                    }
                }
            }
        }
    }
}

/// Scales every gradient by `max_norm / (‖g‖ + 1e-6)` when the global norm ‖g‖ over all
/// of them exceeds `max_norm` (PyTorch's `clip_grad_norm_`); returns ‖g‖.
pub fn clip_gradients(grads: &mut Grads<f32>, max_norm: f64) -> f64 {
    let norm = grads
        .iter()
        .flatten()
        .map(|g| {
            let n = g.norm_l2() as f64;
            n * n
        })
        .sum::<f64>()
        .sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        let c = coef as f32;
        for g in grads.iter_mut().flatten() {
            for j in 0..g.ncols() {
                col_slice_mut(g, j).iter_mut().for_each(|v| *v *= c);
            }
        }
    }
    norm
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

/// A parameter's columns (each contiguous) with its gradient's.
fn columns<'a>(p: &'a mut Mat<f32>, g: &'a Mat<f32>) -> Vec<(&'a mut [f32], &'a [f32])> {
    p.as_mut()
        .col_iter_mut()
        .zip(g.as_ref().col_iter())
        .map(|(p, g)| {
            let p = p
                .try_as_col_major_mut()
                .expect("owned columns are contiguous")
                .as_slice_mut();
            let g = g
                .try_as_col_major()
                .expect("owned columns are contiguous")
                .as_slice();
            (p, g)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::autoencoder::net::dense::Dense;
    use crate::steps::autoencoder::net::shape::Shape;
    use crate::steps::autoencoder::net::spec::{DenseSpec, LayerSpec};
    use crate::steps::autoencoder::params::Positive;

    fn one_param_net(value: f32) -> Network<f32> {
        let spec = LayerSpec::Dense(DenseSpec {
            units: Positive(1),
            activation: None,
        });
        let layer = |v: f32| {
            Box::new(Dense::with(
                spec.clone(),
                Mat::from_fn(1, 1, |_, _| v),
                Mat::zeros(1, 1),
            )) as Box<dyn crate::steps::autoencoder::net::layer::Layer<f32>>
        };
        Network {
            layers: vec![layer(value), layer(1.0)],
            code_layer: 0,
            loss: crate::config::Loss::Mse,
            input: Shape::flat(1),
        }
    }

    fn grads(g: f32) -> Grads<f32> {
        vec![
            vec![Mat::from_fn(1, 1, |_, _| g), Mat::zeros(1, 1)],
            vec![Mat::zeros(1, 1), Mat::zeros(1, 1)],
        ]
    }

    fn first_weight(net: &Network<f32>) -> f64 {
        net.layers[0].params()[0][(0, 0)] as f64
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
            assert!((first_weight(&net) - p).abs() < 1e-6, "step {t}");
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
                assert!((first_weight(&net) - p).abs() < 1e-6);
            }
        }
    }

    fn reference() -> serde_json::Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/training.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn floats(v: &serde_json::Value) -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    }

    /// A network whose first parameter is the vector `start` (a 1 × 3 dense layer).
    fn vector_net(start: &[f64]) -> Network<f32> {
        let spec = LayerSpec::Dense(DenseSpec {
            units: Positive(start.len()),
            activation: None,
        });
        let w = Mat::from_fn(1, start.len(), |_, j| start[j] as f32);
        Network {
            layers: vec![Box::new(Dense::with(spec, w, Mat::zeros(start.len(), 1)))],
            code_layer: 0,
            loss: crate::config::Loss::Mse,
            input: Shape::flat(1),
        }
    }

    /// torch.optim.AdamW, Adam and SGD (momentum, Nesterov, weight decay) step by step on
    /// the same gradients (tests/reference/make_training_reference.py).
    #[test]
    fn optimizers_match_pytorchs_steps() {
        let r = reference();
        let start = floats(&r["start"]);
        let grads: Vec<Vec<f64>> = r["grads"].as_array().unwrap().iter().map(floats).collect();
        for case in ["adamw", "adam", "sgd"] {
            let c = &r[case];
            let params = OptimizerParams {
                kind: if case == "sgd" {
                    OptimizerKind::Sgd
                } else {
                    OptimizerKind::Adam
                },
                learning_rate: c["lr"].as_f64(),
                momentum: c["momentum"].as_f64(),
                nesterov: c["nesterov"].as_bool(),
                weight_decay: c["weight_decay"].as_f64(),
                ..OptimizerParams::default()
            };
            let mut net = vector_net(&start);
            let mut opt = Optimizer::new(&params, &net);
            for (t, (g, want)) in grads
                .iter()
                .zip(c["params"].as_array().unwrap())
                .enumerate()
            {
                let grad = vec![vec![
                    Mat::from_fn(1, g.len(), |_, j| g[j] as f32),
                    Mat::zeros(g.len(), 1),
                ]];
                opt.step(&mut net, &grad, 1);
                let got = net.layers[0].params()[0];
                for (j, w) in floats(want).iter().enumerate() {
                    assert!(
                        (got[(0, j)] as f64 - w).abs() < 2e-6,
                        "{case} step {t} value {j}: {} vs {w}",
                        got[(0, j)]
                    );
                }
            }
        }
    }

    /// torch.nn.utils.clip_grad_norm_: the norm it returns and the clipped gradients.
    #[test]
    fn clipping_matches_pytorch() {
        for c in reference()["clip"].as_array().unwrap() {
            let g: Vec<Vec<f64>> = c["grads"].as_array().unwrap().iter().map(floats).collect();
            let mut grads: Grads<f32> = vec![
                g.iter()
                    .map(|v| Mat::from_fn(v.len(), 1, |i, _| v[i] as f32))
                    .collect(),
            ];
            let norm = clip_gradients(&mut grads, c["max_norm"].as_f64().unwrap());
            assert!((norm - c["norm"].as_f64().unwrap()).abs() < 1e-6);
            for (m, want) in grads[0].iter().zip(c["clipped"].as_array().unwrap()) {
                for (i, w) in floats(want).iter().enumerate() {
                    assert!((m[(i, 0)] as f64 - w).abs() < 1e-6, "{} vs {w}", m[(i, 0)]);
                }
            }
        }
    }
}
