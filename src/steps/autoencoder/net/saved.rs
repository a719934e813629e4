//! A network as model.json and checkpoints hold it: per layer its `kind`, its `spec` (with
//! the activation it resolved to), its shapes and its tensors in PyTorch's layout. A dense
//! layer keeps the fields model.json has always had (`activation`, `inputs`, `outputs`,
//! `weights` as rows of inputs — numpy's `W` in `x @ W + b` — and `bias`) in place of
//! tensors, so files written before layers were a list load unchanged and tools that read
//! them keep working.

use faer::Mat;
use serde::{Deserialize, Serialize};

use super::super::keys::{Activation, Positive};
use super::super::params::Loss;
use super::activation::Real;
use super::dense::Dense;
use super::layer::Tensor;
use super::plan::PlannedLayer;
use super::shape::Shape;
use super::spec::{DenseSpec, LayerSpec};
use super::{Network, build};
use crate::rng::Rng;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedNetwork {
    pub code_layer: usize,
    pub loss: Loss,
    /// The input's per-sample shape when it is not a flat row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Shape>,
    pub layers: Vec<SavedLayer>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SavedLayer {
    /// Absent in files written before layers were a list: a dense layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<LayerSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<Shape>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_shape: Option<Shape>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<Vec<f64>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tensors: Vec<Tensor>,
}

impl SavedLayer {
    /// Its spec, for a dense layer written before specs were kept from its fields.
    fn spec(&self) -> Result<LayerSpec, String> {
        if let Some(s) = &self.spec {
            return Ok(s.clone());
        }
        match (self.kind.as_deref(), self.outputs) {
            (None | Some("dense"), Some(units)) if units > 0 => Ok(LayerSpec::Dense(DenseSpec {
                units: Positive(units),
                activation: Some(self.activation.unwrap_or_default()),
            })),
            _ => Err("a layer has neither `spec` nor a dense layer's `outputs`".into()),
        }
    }

    /// Its tensors, from a dense layer's own fields where it has them.
    fn all_tensors(&self) -> Result<Vec<Tensor>, String> {
        let (Some(w), Some(b)) = (&self.weights, &self.bias) else {
            return Ok(self.tensors.clone());
        };
        let rows = w.len();
        let cols = w.first().map_or(0, Vec::len);
        if w.iter().any(|r| r.len() != cols) {
            return Err("a dense layer's `weights` rows differ in length".into());
        }
        Ok(vec![
            Tensor {
                name: "weights".into(),
                shape: vec![rows, cols],
                values: w.iter().flatten().copied().collect(),
            },
            Tensor {
                name: "bias".into(),
                shape: vec![b.len()],
                values: b.clone(),
            },
        ])
    }
}

impl<T: Real> Network<T> {
    pub fn to_saved(&self) -> SavedNetwork {
        SavedNetwork {
            code_layer: self.code_layer,
            loss: self.loss,
            shape: (!self.input.is_flat()).then(|| self.input.clone()),
            layers: self
                .layers
                .iter()
                .map(|l| {
                    let spec = l.spec().clone();
                    let mut saved = SavedLayer {
                        kind: Some(spec.kind().into()),
                        input_shape: Some(l.input_shape().clone()),
                        output_shape: Some(l.output_shape().clone()),
                        ..SavedLayer::default()
                    };
                    let tensors = l.tensors();
                    if let LayerSpec::Dense(_) = spec {
                        let (i, o) = (l.input_shape().size(), l.output_shape().size());
                        saved.activation = Some(l.activation());
                        saved.inputs = Some(i);
                        saved.outputs = Some(o);
                        saved.weights = Some(
                            tensors[0]
                                .values
                                .chunks(o.max(1))
                                .map(<[f64]>::to_vec)
                                .collect(),
                        );
                        saved.bias = Some(tensors[1].values.clone());
                    } else {
                        saved.tensors = tensors;
                    }
                    saved.spec = Some(spec);
                    saved
                })
                .collect(),
        }
    }

    /// The network a saved one describes, checked: every layer's shapes follow from the
    /// one before, its tensors have the shapes its spec implies and are finite, and the
    /// output gives back the input (`inputs` values a sample).
    pub fn from_saved(saved: &SavedNetwork, inputs: usize) -> Result<Network<T>, String> {
        if saved.layers.is_empty() || saved.code_layer + 1 >= saved.layers.len() {
            return Err("the network has no layer after its code layer".into());
        }
        let input = match &saved.shape {
            Some(s) => s.clone(),
            None => Shape::flat(inputs),
        };
        if input.size() != inputs {
            return Err(format!(
                "the network takes {} values a row, the input gives {inputs}",
                input.size()
            ));
        }
        let mut shape = input.clone();
        let mut layers = Vec::with_capacity(saved.layers.len());
        let mut rng = Rng::new(0);
        for (l, s) in saved.layers.iter().enumerate() {
            let fail = |e: String| format!("layer {l}: {e}");
            let spec = s.spec().map_err(fail)?;
            let output = spec.output_shape(&shape).map_err(fail)?;
            if s.output_shape.as_ref().is_some_and(|o| *o != output) {
                return Err(fail(format!(
                    "its output_shape does not follow from its spec on an input of {shape}"
                )));
            }
            let planned = PlannedLayer {
                spec: spec.clone(),
                input: shape.clone(),
                output: output.clone(),
                at: String::new(),
            };
            let mut layer = if let LayerSpec::Dense(d) = &spec {
                Box::new(Dense::<T>::with(
                    spec.clone(),
                    Mat::zeros(shape.size(), d.units.0),
                    Mat::zeros(d.units.0, 1),
                ))
            } else {
                build::<T>(&planned, &mut rng)
            };
            layer
                .set_tensors(&s.all_tensors().map_err(fail)?)
                .map_err(fail)?;
            layers.push(layer);
            shape = output;
        }
        if shape.size() != inputs {
            return Err(format!(
                "the network's output has {} values, its input {inputs}",
                shape.size()
            ));
        }
        Ok(Network {
            layers,
            code_layer: saved.code_layer,
            loss: saved.loss,
            input,
        })
    }
}
