//! The trained network as ONNX nodes and model.npz arrays. The network is f32, so its
//! nodes are too, whatever the graph's type: a float64 graph casts to f32 before the
//! first layer and back after the last, as `infer` does, and gives the same codes.

use std::ops::Range;

use super::Network;
use super::layer::{SELU_ALPHA, SELU_LAMBDA};
use super::params::Activation;
use crate::npz::Array;
use crate::onnx::{Attr, DType, Graph};

/// Layers `layers` of `net` on the tensor `x`: `MatMul`, `Add`, then the activation, per
/// layer (as torch.onnx exports a `Linear` and its activation).
pub fn onnx_layers(g: &mut Graph, net: &Network<f32>, layers: Range<usize>, x: &str) -> String {
    let mut h = g.cast(x, g.dtype(), DType::Float32);
    for l in layers {
        let layer = &net.layers[l];
        let (inputs, outputs) = (layer.w.nrows(), layer.w.ncols());
        let w: Vec<f64> = (0..inputs)
            .flat_map(|i| (0..outputs).map(move |j| (i, j)))
            .map(|(i, j)| layer.w[(i, j)] as f64)
            .collect();
        let w = g.constant_as(
            &format!("layer{l}.weights"),
            &[inputs, outputs],
            &w,
            DType::Float32,
        );
        let b: Vec<f64> = layer.b.iter().map(|&v| v as f64).collect();
        let b = g.constant_as(&format!("layer{l}.bias"), &[outputs], &b, DType::Float32);
        let product = g.node("MatMul", &[&h, &w]);
        h = g.node("Add", &[&product, &b]);
        h = match layer.activation {
            Activation::Linear => h,
            Activation::Sigmoid => g.node("Sigmoid", &[&h]),
            Activation::Tanh => g.node("Tanh", &[&h]),
            Activation::Relu => g.node("Relu", &[&h]),
            Activation::Selu => g.node_with(
                "Selu",
                &[&h],
                &[
                    Attr::Float("alpha", SELU_ALPHA as f32),
                    Attr::Float("gamma", SELU_LAMBDA as f32),
                ],
            ),
        };
    }
    g.cast(&h, DType::Float32, g.dtype())
}

/// Each layer's weights (inputs × outputs), bias and activation, named
/// `autoencoder.layerL.*`, and the index of the code layer.
pub fn arrays(net: &Network<f32>, out: &mut Vec<(String, Array)>) {
    out.push((
        "autoencoder.code_layer".into(),
        Array::int(net.code_layer as i64),
    ));
    for (l, layer) in net.layers.iter().enumerate() {
        let w = &layer.w;
        out.push((
            format!("autoencoder.layer{l}.weights"),
            Array::matrix(w.nrows(), w.ncols(), |i, j| w[(i, j)] as f64),
        ));
        out.push((
            format!("autoencoder.layer{l}.bias"),
            Array::vector(layer.b.iter().map(|&v| v as f64).collect()),
        ));
        out.push((
            format!("autoencoder.layer{l}.activation"),
            Array::strings(vec![layer.activation.name().into()]),
        ));
    }
}
