//! The trained network as ONNX nodes and model.npz arrays. The network is f32, so its
//! nodes are too, whatever the graph's type: a float64 graph casts to f32 before the
//! first layer and back after the last, as `infer` does, and gives the same codes.
//! Between layers the tensor is `[N, size]` (dense layers) or `[N, C, H, W]` (image
//! layers, as ONNX's `Conv` takes it): a `Reshape` and a `Transpose` move it where the
//! layers change, channels last being the rows' own order.

use std::ops::Range;

use super::net::Network;
use super::net::layer::OnnxForm;
use super::net::shape::Shape;
use crate::npz::Array;
use crate::onnx::{Attr, DType, Graph};

/// Layers `layers` of `net` on the tensor `x` (rows of the layers' input).
pub fn onnx_layers(g: &mut Graph, net: &Network<f32>, layers: Range<usize>, x: &str) -> String {
    let mut h = g.cast(x, g.dtype(), DType::Float32);
    let mut form = OnnxForm::Flat;
    let mut shape = match layers.clone().next() {
        Some(l) => net.layers[l].input_shape().clone(),
        None => Shape::flat(0),
    };
    for l in layers {
        let layer = &net.layers[l];
        if let Some(want) = layer.onnx_form()
            && want != form
        {
            h = convert(g, &h, form, want, &shape);
            form = want;
        }
        h = layer.onnx(g, &h, &format!("layer{l}"));
        shape = layer.output_shape().clone();
    }
    if form != OnnxForm::Flat {
        h = convert(g, &h, form, OnnxForm::Flat, &shape);
    }
    g.cast(&h, DType::Float32, g.dtype())
}

/// `[N, h·w·c]` ⇄ `[N, c, h, w]` for a sample of `shape`.
fn convert(g: &mut Graph, x: &str, from: OnnxForm, to: OnnxForm, shape: &Shape) -> String {
    match (from, to) {
        (OnnxForm::Flat, OnnxForm::Nchw) => {
            let (h, w, c) = shape.image().expect("image layers take images");
            let dims = g.constant_i64("nhwc", &[4], &[-1, h as i64, w as i64, c as i64]);
            let nhwc = g.node("Reshape", &[x, &dims]);
            g.node_with(
                "Transpose",
                &[&nhwc],
                &[Attr::Ints("perm", vec![0, 3, 1, 2])],
            )
        }
        (OnnxForm::Nchw, OnnxForm::Flat) => {
            let nhwc = g.node_with("Transpose", &[x], &[Attr::Ints("perm", vec![0, 2, 3, 1])]);
            let dims = g.constant_i64("flat", &[2], &[-1, shape.size() as i64]);
            g.node("Reshape", &[&nhwc, &dims])
        }
        _ => x.to_string(),
    }
}

/// Each layer's tensors (PyTorch's layout; numpy's `x @ weights + bias` for dense) and
/// kind, named `autoencoder.layerL.*`, and the index of the code layer.
pub fn arrays(net: &Network<f32>, out: &mut Vec<(String, Array)>) {
    out.push((
        "autoencoder.code_layer".into(),
        Array::int(net.code_layer as i64),
    ));
    for (l, layer) in net.layers.iter().enumerate() {
        for t in layer.tensors() {
            let array = match t.shape[..] {
                [r, c] => Array::matrix(r, c, |i, j| t.values[i * c + j]),
                [_] => Array::vector(t.values.clone()),
                _ => Array::tensor(t.shape.clone(), t.values.clone()),
            };
            out.push((format!("autoencoder.layer{l}.{}", t.name), array));
        }
        out.push((
            format!("autoencoder.layer{l}.activation"),
            Array::strings(vec![layer.activation().name().into()]),
        ));
        out.push((
            format!("autoencoder.layer{l}.kind"),
            Array::strings(vec![layer.spec().kind().into()]),
        ));
    }
}
