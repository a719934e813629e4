//! The network's unit tests: every layer kind's gradients against finite differences,
//! shapes and the legacy dense layout, saved networks read back bit-exactly, and steps
//! shared between threads.

use faer::{Mat, Par};

use super::super::params::AutoencoderParams;
use super::saved::SavedNetwork;
use super::*;
use crate::config::RawStep;

pub(super) fn params(yaml: &str) -> AutoencoderParams {
    let text = format!(
        "name: t\ninput: {{ path: x.csv }}\nsteps:\n  - autoencoder: {yaml}\noutput: {{ dir: o }}\n"
    );
    let raw = crate::config::RawPipeline::from_yaml(&text, "t.yaml").unwrap();
    match &raw.steps[0] {
        RawStep::Autoencoder(a) => (**a).clone(),
        _ => unreachable!(),
    }
}

pub(super) fn network<T: Real>(yaml: &str, width: usize, seed: u64) -> Network<T> {
    let p = params(yaml);
    let arch = plan(&p, width).unwrap_or_else(|e| panic!("{yaml}: {e}"));
    Network::new(&arch, p.loss, seed)
}

/// Loss and gradients of one training pass, with dropout's draws from a fixed seed.
pub(super) fn pass(
    net: &Network<f64>,
    input: &Mat<f64>,
    target: &Mat<f64>,
    threads: usize,
) -> (f64, Grads<f64>) {
    let mut grads = net.zero_grads();
    let mut rng = Rng::new(5);
    let loss = net.gradients(
        input.as_ref(),
        target.as_ref(),
        &mut Workspace::default(),
        &mut grads,
        threads,
        Some(&mut rng),
    );
    (loss, grads)
}

/// Central differences of the f64 network's loss against its backward pass, for every
/// parameter of every layer.
pub(super) fn check_gradients(yaml: &str, width: usize, unit_targets: bool) {
    let mut net = network::<f64>(yaml, width, 7);
    let mut rng = Rng::new(3);
    // Non-zero biases keep every pre-activation off relu's kink at exactly 0 (a layer
    // whose units are all off would otherwise feed the next one a zero).
    for layer in &mut net.layers {
        if let Some(b) = layer.params_mut().into_iter().nth(1) {
            for i in 0..b.nrows() {
                b[(i, 0)] = 0.4 * (rng.uniform() - 0.5);
            }
        }
    }
    let n = 3;
    let target = Mat::from_fn(n, width, |_, _| {
        let u = rng.uniform();
        if unit_targets { u } else { 2.0 * u - 1.0 }
    });
    // A different input than the target exercises the denoising path.
    let input = Mat::from_fn(n, width, |i, j| {
        target[(i, j)] + 0.05 * ((i + 2 * j) as f64).sin()
    });
    let (_, grads) = pass(&net, &input, &target, 1);
    let h = 1e-6;
    let mut worst: f64 = 0.0;
    for (l, layer_grads) in grads.iter().enumerate() {
        for (k, grad) in layer_grads.iter().enumerate() {
            let (rows, cols) = (grad.nrows(), grad.ncols());
            for i in 0..rows {
                for j in 0..cols {
                    let mut plus = net.clone();
                    let mut minus = net.clone();
                    plus.layers[l].params_mut()[k][(i, j)] += h;
                    minus.layers[l].params_mut()[k][(i, j)] -= h;
                    let numeric = (pass(&plus, &input, &target, 1).0
                        - pass(&minus, &input, &target, 1).0)
                        / (2.0 * h);
                    let analytic = grad[(i, j)];
                    let err = (analytic - numeric).abs() / (1e-4 + analytic.abs() + numeric.abs());
                    worst = worst.max(err);
                }
            }
        }
    }
    assert!(
        worst < 1e-5,
        "{yaml}: worst relative gradient error {worst:e}"
    );
}

#[test]
fn dense_gradients_match_finite_differences_for_every_activation_and_loss() {
    for act in ["linear", "sigmoid", "tanh", "relu", "selu"] {
        for out in ["linear", "sigmoid"] {
            check_gradients(
                &format!(
                    "{{ encoder: [4, 3], latent: 2, activation: {act}, output_activation: {out} }}"
                ),
                5,
                false,
            );
        }
    }
    check_gradients(
        "{ encoder: [4], latent: 2, activation: [relu, tanh, selu], output_activation: sigmoid, loss: bce }",
        5,
        true,
    );
    check_gradients(
        "{ encoder: [], decoder: [3, 4], latent: 2, activation: [linear, sigmoid, tanh], loss: mse }",
        5,
        false,
    );
}

#[test]
fn conv_and_pool_gradients_match_finite_differences() {
    let cases = [
        // conv same + max pool down, transposed conv (same, stride 2) up
        "{ shape: [6, 6, 1], activation: tanh, encoder: [{ conv: { filters: 2, kernel: 3, padding: same } }, { max_pool: { size: 2 } }], decoder: [{ conv_transpose: { filters: 1, kernel: 3, stride: 2, padding: same } }] }",
        // valid conv with a non-square kernel and stride, avg pool, flatten, dense code, reshape, upsample
        "{ shape: [7, 6, 2], activation: selu, encoder: [{ conv: { filters: 3, kernel: [3, 2], stride: [2, 1], padding: valid } }, { avg_pool: { size: 1 } }], latent: 4, decoder: [{ dense: { units: 24 } }, { reshape: [2, 4, 3] }, { upsample: { size: [2, 1] } }, { conv: { filters: 2, kernel: 1 } }, { flatten }, { dense: { units: 84, activation: sigmoid } }], loss: bce }",
        // transposed conv valid with output padding, even kernel with same padding, dropout
        "{ shape: [4, 4, 1], activation: sigmoid, encoder: [{ conv: { filters: 2, kernel: 2, padding: same } }, { max_pool: { size: 2 } }, { dropout: { rate: 0.3 } }], decoder: [{ conv_transpose: { filters: 2, kernel: 2, stride: 2, padding: valid } }, { conv: { filters: 1, kernel: 3, padding: same } }] }",
        "{ shape: [5, 5, 1], activation: relu, encoder: [{ conv: { filters: 2, kernel: 3, stride: 2, padding: valid } }], decoder: [{ conv_transpose: { filters: 1, kernel: 3, stride: 2, padding: valid } }] }",
        "{ shape: [7, 7, 1], activation: tanh, encoder: [{ conv: { filters: 2, kernel: 3, stride: 2, padding: valid } }], decoder: [{ conv_transpose: { filters: 1, kernel: 2, stride: 2, padding: valid, output_padding: 1 } }] }",
        "{ shape: [4, 4, 1], encoder: [{ max_pool: { size: 3, stride: 1 } }], decoder: [{ conv_transpose: { filters: 1, kernel: 2, stride: 2, padding: same, output_padding: 0 } }] }",
    ];
    for yaml in cases {
        let p = params(yaml);
        let width = p
            .shape
            .as_ref()
            .map_or(1, |s| s.iter().map(|d| d.0).product());
        let unit = p.loss == crate::config::Loss::Bce;
        check_gradients(yaml, width, unit);
    }
}

#[test]
fn decoder_mirrors_encoder_and_codes_have_latent_width() {
    let net = network::<f32>("{ encoder: [6, 4], latent: 2 }", 9, 0);
    assert_eq!(net.widths(), vec![9, 6, 4, 2, 4, 6, 9]);
    assert_eq!(net.latent(), 2);
    let x = Mat::<f32>::zeros(3, 9);
    assert_eq!(net.encode(x.as_ref(), Par::Seq).ncols(), 2);
}

#[test]
fn a_conv_code_is_the_encoders_last_output_flattened() {
    let yaml = "{ shape: [28, 28, 1], activation: selu, encoder: [{ conv: { filters: 16, kernel: 3, padding: same } }, { max_pool: { size: 2 } }, { conv: { filters: 32, kernel: 3, padding: same } }, { max_pool: { size: 2 } }, { conv: { filters: 64, kernel: 3, padding: same } }, { max_pool: { size: 2 } }], decoder: [{ conv_transpose: { filters: 32, kernel: 3, stride: 2, padding: valid } }, { conv_transpose: { filters: 16, kernel: 3, stride: 2, padding: same } }, { conv_transpose: { filters: 1, kernel: 3, stride: 2, padding: same, activation: sigmoid } }] }";
    let net = network::<f32>(yaml, 784, 0);
    assert_eq!(net.latent(), 576);
    assert_eq!(
        net.widths(),
        vec![784, 12544, 3136, 6272, 1568, 3136, 576, 1568, 3136, 784]
    );
    let x = Mat::<f32>::from_fn(2, 784, |i, j| ((i * 7 + j) % 13) as f32 / 13.0);
    let z = net.encode(x.as_ref(), Par::Seq);
    assert_eq!((z.nrows(), z.ncols()), (2, 576));
    let y = net.decode(z.as_ref(), Par::Seq);
    assert_eq!((y.nrows(), y.ncols()), (2, 784));
    assert!(
        y.col_iter()
            .all(|c| c.iter().all(|v| (0.0..=1.0).contains(v)))
    );
}

#[test]
fn architectures_that_do_not_fit_are_refused_naming_the_layer_and_both_shapes() {
    let refuse = |yaml: &str, width: usize, parts: &[&str]| {
        let e = plan(&params(yaml), width).unwrap_err();
        for part in parts {
            assert!(e.contains(part), "{yaml}: {e} lacks {part}");
        }
    };
    refuse(
        "{ shape: [8, 8, 1], encoder: [{ conv: { filters: 2, kernel: 3 } }], decoder: [] }",
        63,
        &["shape [8, 8, 1]", "64", "63"],
    );
    refuse(
        "{ encoder: [{ conv: { filters: 2, kernel: 3 } }], decoder: [4] }",
        64,
        &["encoder[0]", "conv", "[64]", "shape"],
    );
    refuse(
        "{ shape: [4, 4, 1], encoder: [{ conv: { filters: 2, kernel: 5 } }], decoder: [4] }",
        16,
        &["encoder[0]", "kernel of 5", "input of 4"],
    );
    refuse(
        "{ shape: [4, 4, 1], encoder: [{ max_pool: { size: 2 } }], decoder: [{ upsample: { size: 3 } }] }",
        16,
        &["[6, 6, 1]", "[4, 4, 1]"],
    );
    refuse(
        "{ shape: [4, 4, 1], encoder: [{ max_pool: { size: 2 } }] }",
        16,
        &["decoder is needed"],
    );
    refuse(
        "{ shape: [4, 4, 1], encoder: [{ flatten }], decoder: [{ reshape: [3, 3] }] }",
        16,
        &["reshape", "9", "16"],
    );
    refuse(
        "{ shape: [4, 4, 1], encoder: [{ max_pool: { size: 2 } }], decoder: [{ dense: { units: 16 } }] }",
        16,
        &["decoder[0]", "dense needs a flat input", "[2, 2, 1]"],
    );
}

#[test]
fn saved_networks_round_trip_bit_exactly_and_legacy_dense_files_load() {
    for (yaml, width) in [
        ("{ encoder: [4], latent: 2, activation: selu }", 5),
        (
            "{ shape: [6, 6, 1], encoder: [{ conv: { filters: 2, kernel: 3, padding: same } }, { max_pool: { size: 2 } }], decoder: [{ conv_transpose: { filters: 1, kernel: 3, stride: 2, padding: same } }] }",
            36,
        ),
    ] {
        let net = network::<f32>(yaml, width, 11);
        let text = serde_json::to_string(&net.to_saved()).unwrap();
        let back: SavedNetwork = serde_json::from_str(&text).unwrap();
        let again = Network::<f32>::from_saved(&back, width).unwrap();
        for (a, b) in net.layers.iter().zip(&again.layers) {
            for (p, q) in a.params().iter().zip(b.params()) {
                assert_eq!(*p, q);
            }
        }
    }
    // model.json's dense layers as written before layers were a list
    let legacy = r#"{"code_layer":0,"loss":"mse","layers":[
        {"activation":"tanh","inputs":2,"outputs":1,"weights":[[0.5],[-1.0]],"bias":[0.25]},
        {"activation":"linear","inputs":1,"outputs":2,"weights":[[2.0,3.0]],"bias":[0.0,1.0]}]}"#;
    let saved: SavedNetwork = serde_json::from_str(legacy).unwrap();
    let net = Network::<f64>::from_saved(&saved, 2).unwrap();
    let x = Mat::from_fn(1, 2, |_, j| [1.0, 2.0][j]);
    let z = net.encode(x.as_ref(), Par::Seq);
    let want = (0.5f64 - 2.0 + 0.25).tanh();
    assert!((z[(0, 0)] - want).abs() < 1e-15);
    assert!(Network::<f64>::from_saved(&saved, 3).is_err());
}

mod parallel {
    use super::*;

    /// Pieces cut by columns (dense) or samples (image layers) give the one-thread
    /// gradients and loss.
    #[test]
    fn pieces_give_the_one_thread_gradients() {
        for (yaml, width, n) in [
            (
                "{ encoder: [37], latent: 20, activation: [tanh, sigmoid, relu] }",
                50,
                11,
            ),
            (
                "{ shape: [6, 6, 1], activation: tanh, encoder: [{ conv: { filters: 2, kernel: 3, padding: same } }, { max_pool: { size: 2 } }], decoder: [{ conv_transpose: { filters: 1, kernel: 3, stride: 2, padding: same } }] }",
                36,
                7,
            ),
        ] {
            let net = network::<f64>(yaml, width, 1);
            let mut rng = Rng::new(9);
            let x = Mat::from_fn(n, width, |_, _| rng.uniform());
            let (loss, one) = pass(&net, &x, &x, 1);
            for threads in [2, 3, 8] {
                let (loss2, split) = pass(&net, &x, &x, threads);
                assert!((loss - loss2).abs() < 1e-12);
                for (a, b) in one.iter().flatten().zip(split.iter().flatten()) {
                    assert!((a - b).norm_max() < 1e-12, "{yaml} with {threads} threads");
                }
            }
        }
    }

    #[test]
    fn column_split_covers_every_column_in_register_multiples() {
        use super::super::par::column_split;
        assert_eq!(column_split(784, 2), vec![(0, 384), (384, 400)]);
        assert_eq!(column_split(20, 8), vec![(0, 16), (16, 4)]);
        assert_eq!(column_split(2, 2), vec![(0, 2)]);
        assert_eq!(column_split(128, 1), vec![(0, 128)]);
    }
}
