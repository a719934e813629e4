//! The network's unit tests: gradients against finite differences, the PCA subspace of a
//! linear autoencoder, and steps shared between threads.

mod network {
    use super::super::*;
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
        net.gradients(input.as_ref(), target.as_ref(), &mut ws, &mut grads, 1);
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

mod parallel {
    use super::super::*;
    use crate::config::RawStep;

    /// Pieces cut by columns give the one-thread gradient and loss.
    #[test]
    fn column_pieces_give_the_one_thread_gradients() {
        let text = "name: t\ninput: { path: x.csv }\nsteps:\n  - autoencoder: { encoder: [37], latent: 20, activation: [tanh, sigmoid, relu] }\noutput: { dir: o }\n";
        let raw = crate::config::RawPipeline::from_yaml(text, "t.yaml").unwrap();
        let RawStep::Autoencoder(p) = &raw.steps[0] else {
            unreachable!()
        };
        let net = Network::<f64>::new(p, 50, 1);
        let mut rng = Rng::new(9);
        let x = Mat::from_fn(11, 50, |_, _| rng.uniform());
        let mut one = net.zero_grads();
        let loss = net.gradients(
            x.as_ref(),
            x.as_ref(),
            &mut Workspace::default(),
            &mut one,
            1,
        );
        for threads in [2, 3, 8] {
            let mut split = net.zero_grads();
            let loss2 = net.gradients(
                x.as_ref(),
                x.as_ref(),
                &mut Workspace::default(),
                &mut split,
                threads,
            );
            assert!((loss - loss2).abs() < 1e-12);
            for (a, b) in one.iter().zip(&split) {
                assert!((&a.w - &b.w).norm_max() < 1e-12);
                for (u, v) in a.b.iter().zip(&b.b) {
                    assert!((u - v).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn column_split_covers_every_column_in_register_multiples() {
        assert_eq!(column_split(784, 2), vec![(0, 384), (384, 400)]);
        assert_eq!(column_split(20, 8), vec![(0, 16), (16, 4)]);
        assert_eq!(column_split(2, 2), vec![(0, 2)]);
        assert_eq!(column_split(128, 1), vec![(0, 128)]);
    }
}
