//! The sequence layers (lstm, gru, repeat, time_distributed_dense): forward outputs and
//! weight gradients against PyTorch's for fixed weights (tests/reference/recurrent.json,
//! made by tests/reference/make_recurrent_reference.py), gradients against finite
//! differences in every arrangement, pieces against one thread, and the shapes refused.

use faer::{Mat, Par};
use serde::Deserialize;
use serde_json::Value;

use super::plan::PlannedLayer;
use super::reference_tests::{spec, tensors};
use super::shape::Shape;
use super::tests::{check_gradients, network, params, pass};
use super::{Network, Workspace, build, plan};
use crate::config::Loss;
use crate::rng::Rng;

#[derive(Deserialize)]
struct Case {
    name: String,
    layers: Vec<LayerCase>,
    input_shape: Vec<usize>,
    batch: usize,
    input: Vec<f64>,
    output_shape: Vec<usize>,
    output: Vec<f64>,
}

#[derive(Deserialize)]
struct LayerCase {
    layer: Value,
    tensors: serde_json::Map<String, Value>,
    gradients: serde_json::Map<String, Value>,
}

fn reference_network(case: &Case) -> Network<f64> {
    let input = Shape(case.input_shape.clone());
    let mut shape = input.clone();
    let mut layers = Vec::new();
    for l in &case.layers {
        let spec = spec(&l.layer);
        let output = spec
            .output_shape(&shape)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let planned = PlannedLayer {
            spec,
            input: shape,
            output: output.clone(),
            at: String::new(),
        };
        let mut layer = build::<f64>(&planned, &mut Rng::new(0));
        layer
            .set_tensors(&tensors(&l.tensors))
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        layers.push(layer);
        shape = output;
    }
    assert_eq!(shape.0, case.output_shape, "{}: output shape", case.name);
    Network {
        layers,
        code_layer: 0,
        loss: Loss::Mse,
        input,
    }
}

/// |a − b| within `tol` of the larger of the values' scale and 1.
fn close(a: f64, b: f64, tol: f64, scale: f64) -> bool {
    (a - b).abs() <= tol * scale.max(1.0)
}

#[test]
fn sequence_layers_give_pytorchs_outputs_and_gradients() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/recurrent.json"
    );
    let text = std::fs::read_to_string(path).expect("tests/reference/recurrent.json");
    let all: Value = serde_json::from_str(&text).unwrap();
    let cases: Vec<Case> = serde_json::from_value(all["cases"].clone()).unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for case in &cases {
        let net = reference_network(case);
        kinds.extend(net.layers.iter().map(|l| l.spec().kind()));
        let size = case.input_shape.iter().product::<usize>();
        let out = case.output_shape.iter().product::<usize>();
        let x = Mat::from_fn(case.batch, size, |i, j| case.input[i * size + j]);
        // tanh and the sigmoid are the branch-free approximations (within 1e-7).
        let tol = 1e-6;
        for par in [Par::Seq, Par::rayon(2)] {
            let y = net.run(x.as_ref(), 0..net.layers.len(), par);
            for i in 0..case.batch {
                for j in 0..out {
                    let want = case.output[i * out + j];
                    assert!(
                        close(y[(i, j)], want, tol, 0.0),
                        "{}: sample {i} value {j}: {} against PyTorch's {want}",
                        case.name,
                        y[(i, j)]
                    );
                }
            }
        }
        // The mean squared error against zeros is Σ y² / (n·size): its gradients are
        // PyTorch's (of Σ y² / 2) times 2 / (n·size).
        let zeros = Mat::<f64>::zeros(case.batch, out);
        let scale = 2.0 / (case.batch * out) as f64;
        for threads in [1, 2] {
            let mut grads = net.zero_grads();
            net.gradients(
                x.as_ref(),
                zeros.as_ref(),
                &mut Workspace::default(),
                &mut grads,
                threads,
                None,
            );
            for (l, layer) in net.layers.iter().enumerate() {
                let names: Vec<String> = layer.tensors().into_iter().map(|t| t.name).collect();
                let mut probe = layer.box_clone();
                for (k, name) in names.iter().enumerate() {
                    // Our gradient in PyTorch's layout: set it as the parameter and read
                    // the tensor back.
                    probe.params_mut()[k].copy_from(&grads[l][k]);
                    let ours = &probe.tensors()[k].values;
                    let want: Vec<f64> =
                        serde_json::from_value(case.layers[l].gradients[name].clone()).unwrap();
                    let big = want.iter().fold(0f64, |m, v| m.max(v.abs())) * scale;
                    for (o, w) in ours.iter().zip(&want) {
                        assert!(
                            close(*o, w * scale, 1e-5, big),
                            "{} layer {l} {name}: {o} against PyTorch's {}",
                            case.name,
                            w * scale
                        );
                    }
                }
            }
        }
    }
    for kind in ["lstm", "gru", "repeat", "time_distributed_dense"] {
        assert!(kinds.contains(kind), "no reference case for {kind}");
    }
}

const CASES: [&str; 5] = [
    // the lecture's shape: sequences through an LSTM, the last step as the code, repeated
    "{ shape: [4, 3], activation: tanh, encoder: [{ lstm: { units: 5, return_sequences: true } }, { lstm: { units: 2 } }], decoder: [{ repeat: { steps: 4 } }, { lstm: { units: 5, return_sequences: true } }, { time_distributed_dense: { units: 3 } }] }",
    // GRU sequences flattened to a dense code, a dense and reshape back to a sequence
    "{ shape: [4, 2], activation: relu, encoder: [{ gru: { units: 3, return_sequences: true } }], latent: 2, decoder: [{ dense: { units: 8 } }, { reshape: [4, 2] }, { gru: { units: 3, return_sequences: true } }, { dropout: { rate: 0.25 } }, { time_distributed_dense: { units: 2, activation: sigmoid } }], loss: bce }",
    // a network ending on a recurrent layer (its tanh is the output)
    "{ shape: [3, 2], encoder: [{ gru: { units: 3 } }], decoder: [{ repeat: { steps: 3 } }, { lstm: { units: 2, return_sequences: true } }] }",
    // time-distributed layers alone, with the step's activation
    "{ shape: [3, 4], activation: selu, encoder: [{ time_distributed_dense: { units: 2 } }], decoder: [{ time_distributed_dense: { units: 4 } }] }",
    // a flat code repeated into a GRU that returns only its last step, then dense
    "{ encoder: [{ dense: { units: 3 } }], decoder: [{ repeat: { steps: 3 } }, { gru: { units: 4 } }, { dense: { units: 6 } }] }",
];

fn width_of(yaml: &str) -> usize {
    params(yaml)
        .shape
        .as_ref()
        .map_or(6, |s| s.iter().map(|d| d.0).product())
}

#[test]
fn sequence_layer_gradients_match_finite_differences() {
    for yaml in CASES {
        let unit = params(yaml).loss == Loss::Bce;
        check_gradients(yaml, width_of(yaml), unit);
    }
}

/// Pieces cut by rows give the one-thread gradients (to rounding: only the weight
/// gradients' sums are split), and the same pieces give the same bits every time.
#[test]
fn row_pieces_give_the_one_thread_gradients() {
    for yaml in CASES {
        let width = width_of(yaml);
        let net = network::<f64>(yaml, width, 1);
        let mut rng = Rng::new(9);
        let x = Mat::from_fn(40, width, |_, _| rng.uniform());
        let (loss, one) = pass(&net, &x, &x, 1);
        for threads in [2, 3] {
            let (loss2, split) = pass(&net, &x, &x, threads);
            let (loss3, again) = pass(&net, &x, &x, threads);
            assert!((loss - loss2).abs() < 1e-12);
            assert_eq!(loss2.to_bits(), loss3.to_bits());
            for ((a, b), c) in one
                .iter()
                .flatten()
                .zip(split.iter().flatten())
                .zip(again.iter().flatten())
            {
                assert!((a - b).norm_max() < 1e-12, "{yaml} with {threads} threads");
                assert_eq!(b, c);
            }
        }
    }
}

#[test]
fn sequence_shapes_that_do_not_fit_are_refused_naming_both() {
    let refuse = |yaml: &str, width: usize, parts: &[&str]| {
        let e = plan(&params(yaml), width).unwrap_err();
        for part in parts {
            assert!(e.contains(part), "{yaml}: {e} lacks {part}");
        }
    };
    // a recurrent layer on a flat input without `shape`
    refuse(
        "{ encoder: [{ lstm: { units: 4 } }], decoder: [8] }",
        8,
        &[
            "encoder[0]",
            "lstm needs a sequence [steps, features]",
            "[8]",
            "shape",
        ],
    );
    // `repeat` after a layer that returns sequences
    refuse(
        "{ shape: [4, 2], encoder: [{ lstm: { units: 3, return_sequences: true } }], decoder: [{ repeat: { steps: 4 } }] }",
        8,
        &[
            "decoder[0]",
            "repeat needs a flat input",
            "[4, 3]",
            "return_sequences: false",
        ],
    );
    // `return_sequences: false` before a layer that needs a sequence
    refuse(
        "{ shape: [4, 2], encoder: [{ gru: { units: 3 } }, { lstm: { units: 2 } }], decoder: [{ repeat: { steps: 4 } }, { time_distributed_dense: { units: 2 } }] }",
        8,
        &[
            "encoder[1]",
            "lstm needs a sequence",
            "[3]",
            "return_sequences: true",
        ],
    );
    // time_distributed_dense on a flat input
    refuse(
        "{ encoder: [4], latent: 2, decoder: [{ time_distributed_dense: { units: 8 } }] }",
        8,
        &[
            "decoder[0]",
            "time_distributed_dense needs a sequence",
            "[2]",
        ],
    );
    // a sequence fed to a dense layer
    refuse(
        "{ shape: [4, 2], encoder: [{ lstm: { units: 3, return_sequences: true } }, { dense: { units: 2 } }], decoder: [8] }",
        8,
        &[
            "encoder[1]",
            "dense needs a flat input",
            "sequence [4, 3]",
            "flatten",
        ],
    );
    // a sequence shape that does not hold the row
    refuse(
        "{ shape: [4, 3], encoder: [{ lstm: { units: 3 } }], decoder: [{ repeat: { steps: 4 } }] }",
        8,
        &["shape [4, 3]", "12", "8"],
    );
    // output_activation on a network that ends on a recurrent layer
    refuse(
        "{ shape: [3, 2], output_activation: sigmoid, encoder: [{ gru: { units: 3 } }], decoder: [{ repeat: { steps: 3 } }, { lstm: { units: 2, return_sequences: true } }] }",
        6,
        &["decoder[1]", "lstm", "time_distributed_dense"],
    );
}

#[test]
fn sequence_networks_round_trip_bit_exactly() {
    for yaml in CASES {
        let width = width_of(yaml);
        let net = network::<f32>(yaml, width, 11);
        let text = serde_json::to_string(&net.to_saved()).unwrap();
        let back: super::saved::SavedNetwork = serde_json::from_str(&text).unwrap();
        let again = Network::<f32>::from_saved(&back, width).unwrap();
        for (a, b) in net.layers.iter().zip(&again.layers) {
            assert_eq!(a.spec(), b.spec());
            for (p, q) in a.params().iter().zip(b.params()) {
                assert_eq!(*p, q);
            }
        }
    }
}
