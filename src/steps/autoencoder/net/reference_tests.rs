//! Every layer kind's forward pass against PyTorch's for fixed weights: the numbers in
//! tests/reference/layers.json were computed by PyTorch in float64
//! (tests/reference/make_layers_reference.py, with Keras's padding rules written out),
//! on inputs and weights in PyTorch's layout that the layers load through `set_tensors`.

use faer::{Mat, Par};
use serde::Deserialize;
use serde_json::Value;

use super::entry::LayerEntry;
use super::layer::Tensor;
use super::plan::PlannedLayer;
use super::shape::Shape;
use super::spec::LayerSpec;
use super::{Network, build};
use crate::config::Loss;
use crate::rng::Rng;

#[derive(Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    layer: Option<Value>,
    #[serde(default)]
    tensors: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
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
}

pub(super) fn spec(v: &Value) -> LayerSpec {
    match serde_json::from_value::<LayerEntry>(v.clone()).expect("a layer spec") {
        LayerEntry::Layer(s) => s,
        LayerEntry::Width(_) => panic!("a layer, not a width"),
    }
}

pub(super) fn tensors(m: &serde_json::Map<String, Value>) -> Vec<Tensor> {
    m.iter()
        .map(|(name, t)| Tensor {
            name: name.clone(),
            shape: serde_json::from_value(t["shape"].clone()).unwrap(),
            values: serde_json::from_value(t["values"].clone()).unwrap(),
        })
        .collect()
}

fn network(case: &Case) -> Network<f64> {
    let pairs: Vec<(LayerSpec, Vec<Tensor>)> = match &case.layer {
        Some(l) => vec![(
            spec(l),
            tensors(case.tensors.as_ref().unwrap_or(&Default::default())),
        )],
        None => case
            .layers
            .iter()
            .map(|l| (spec(&l.layer), tensors(&l.tensors)))
            .collect(),
    };
    let input = Shape(case.input_shape.clone());
    let mut shape = input.clone();
    let mut layers = Vec::new();
    for (spec, tensors) in pairs {
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
            .set_tensors(&tensors)
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

#[test]
fn every_layer_kind_gives_pytorchs_forward_output() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/layers.json");
    let text = std::fs::read_to_string(path).expect("tests/reference/layers.json");
    let all: Value = serde_json::from_str(&text).unwrap();
    let cases: Vec<Case> = serde_json::from_value(all["cases"].clone()).unwrap();
    assert!(cases.len() >= 15, "{} cases", cases.len());
    let mut kinds = std::collections::BTreeSet::new();
    for case in &cases {
        let net = network(case);
        kinds.extend(net.layers.iter().map(|l| l.spec().kind()));
        // The sigmoid is a polynomial approximation, within 1e-7 of the exact one
        // (`activation::sigmoid_fast`); everything else is exact to rounding.
        let sigmoid = net
            .layers
            .iter()
            .any(|l| l.activation() == crate::config::Activation::Sigmoid);
        let tol = if sigmoid { 1e-7 } else { 1e-12 };
        let size = case.input_shape.iter().product::<usize>();
        let x = Mat::from_fn(case.batch, size, |i, j| case.input[i * size + j]);
        for threads_par in [Par::Seq, Par::rayon(2)] {
            let y = net.run(x.as_ref(), 0..net.layers.len(), threads_par);
            let out = case.output_shape.iter().product::<usize>();
            assert_eq!((y.nrows(), y.ncols()), (case.batch, out), "{}", case.name);
            let scale = case.output.iter().fold(1e-300f64, |m, v| m.max(v.abs()));
            for i in 0..case.batch {
                for j in 0..out {
                    let want = case.output[i * out + j];
                    assert!(
                        (y[(i, j)] - want).abs() <= tol * scale,
                        "{}: sample {i} value {j}: {} against PyTorch's {want}",
                        case.name,
                        y[(i, j)]
                    );
                }
            }
        }
    }
    for kind in [
        "conv",
        "conv_transpose",
        "max_pool",
        "avg_pool",
        "upsample",
        "dense",
    ] {
        assert!(kinds.contains(kind), "no reference case for {kind}");
    }
}
