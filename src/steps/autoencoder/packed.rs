//! How a checkpoint stores its arrays: the little-endian bytes of their f32 values,
//! base64. Exact (the weights and moments are f32), and about a tenth of the size and
//! time of JSON numbers: at the lecture's 784-256-128-256-784 network a checkpoint
//! holds 1.9 M values (weights, best weights, two Adam moments), which as JSON numbers
//! cost a third of a core-second every epoch. model.json keeps plain numbers for
//! people and other tools.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::net::layer::Tensor;
use super::net::shape::Shape;
use super::net::spec::LayerSpec;
use super::params::{Activation, Loss};
use super::{SavedLayer, SavedNetwork};

fn encode(values: impl Iterator<Item = f32>) -> String {
    let bytes: Vec<u8> = values.flat_map(f32::to_le_bytes).collect();
    STANDARD.encode(bytes)
}

fn decode<E: serde::de::Error>(text: &str, expected: usize) -> Result<Vec<f32>, E> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| E::custom(format!("packed values: {e}")))?;
    if bytes.len() != 4 * expected {
        return Err(E::custom(format!(
            "packed values: {} bytes, expected {}",
            bytes.len(),
            4 * expected
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// A tensor's values packed.
#[derive(Serialize, Deserialize)]
struct PackedTensor {
    name: String,
    shape: Vec<usize>,
    values: String,
}

/// A layer in a checkpoint: its spec, shapes and packed tensors (`dimred-checkpoint/3`),
/// or a dense layer's packed weights as `dimred-checkpoint/2` wrote them.
#[derive(Serialize, Deserialize)]
struct PackedLayer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spec: Option<LayerSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input_shape: Option<Shape>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output_shape: Option<Shape>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tensors: Vec<PackedTensor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activation: Option<Activation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inputs: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outputs: Option<usize>,
    /// Row after row (inputs × outputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weights: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bias: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct PackedNetwork {
    code_layer: usize,
    loss: Loss,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shape: Option<Shape>,
    layers: Vec<PackedLayer>,
}

/// `#[serde(with = "packed::network")]` for a `SavedNetwork` field.
pub mod network {
    use super::*;

    pub fn serialize<S: Serializer>(net: &SavedNetwork, s: S) -> Result<S::Ok, S::Error> {
        PackedNetwork {
            code_layer: net.code_layer,
            loss: net.loss,
            shape: net.shape.clone(),
            layers: net
                .layers
                .iter()
                .map(|l| {
                    let dense = l.weights.as_ref().zip(l.bias.as_ref()).map(|(w, b)| {
                        let cols = w.first().map_or(0, Vec::len);
                        vec![
                            PackedTensor {
                                name: "weights".into(),
                                shape: vec![w.len(), cols],
                                values: encode(w.iter().flatten().map(|&v| v as f32)),
                            },
                            PackedTensor {
                                name: "bias".into(),
                                shape: vec![b.len()],
                                values: encode(b.iter().map(|&v| v as f32)),
                            },
                        ]
                    });
                    let tensors = dense.unwrap_or_else(|| {
                        l.tensors
                            .iter()
                            .map(|t| PackedTensor {
                                name: t.name.clone(),
                                shape: t.shape.clone(),
                                values: encode(t.values.iter().map(|&v| v as f32)),
                            })
                            .collect()
                    });
                    PackedLayer {
                        kind: l.kind.clone(),
                        spec: l.spec.clone(),
                        input_shape: l.input_shape.clone(),
                        output_shape: l.output_shape.clone(),
                        tensors,
                        activation: l.activation,
                        inputs: l.inputs,
                        outputs: l.outputs,
                        weights: None,
                        bias: None,
                    }
                })
                .collect(),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SavedNetwork, D::Error> {
        let packed = PackedNetwork::deserialize(d)?;
        let layers = packed
            .layers
            .into_iter()
            .map(|l| {
                let mut saved = SavedLayer {
                    kind: l.kind,
                    spec: l.spec,
                    input_shape: l.input_shape,
                    output_shape: l.output_shape,
                    activation: l.activation,
                    inputs: l.inputs,
                    outputs: l.outputs,
                    ..SavedLayer::default()
                };
                if let (Some(w), Some(b), Some(i), Some(o)) =
                    (&l.weights, &l.bias, l.inputs, l.outputs)
                {
                    // dimred-checkpoint/2
                    let w = decode::<D::Error>(w, i * o)?;
                    let bias = decode::<D::Error>(b, o)?;
                    saved.weights = Some(
                        w.chunks(o.max(1))
                            .map(|row| row.iter().map(|&v| v as f64).collect())
                            .collect(),
                    );
                    saved.bias = Some(bias.iter().map(|&v| v as f64).collect());
                    return Ok(saved);
                }
                for t in l.tensors {
                    let n = t.shape.iter().product();
                    let values = decode::<D::Error>(&t.values, n)?;
                    saved.tensors.push(Tensor {
                        name: t.name,
                        shape: t.shape,
                        values: values.iter().map(|&v| v as f64).collect(),
                    });
                }
                Ok(saved)
            })
            .collect::<Result<Vec<_>, D::Error>>()?;
        Ok(SavedNetwork {
            code_layer: packed.code_layer,
            loss: packed.loss,
            shape: packed.shape,
            layers,
        })
    }
}

/// `#[serde(with = "packed::arrays")]` for a `Vec<Vec<f32>>` field.
pub mod arrays {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Packed {
        len: usize,
        values: String,
    }

    pub fn serialize<S: Serializer>(arrays: &[Vec<f32>], s: S) -> Result<S::Ok, S::Error> {
        arrays
            .iter()
            .map(|a| Packed {
                len: a.len(),
                values: encode(a.iter().copied()),
            })
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f32>>, D::Error> {
        Vec::<Packed>::deserialize(d)?
            .into_iter()
            .map(|p| decode::<D::Error>(&p.values, p.len))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Holder {
        #[serde(with = "network")]
        net: SavedNetwork,
        #[serde(with = "arrays")]
        moments: Vec<Vec<f32>>,
    }

    #[test]
    fn packed_values_round_trip_bit_exactly() {
        let holder = Holder {
            net: SavedNetwork {
                code_layer: 0,
                loss: Loss::Mse,
                shape: None,
                layers: vec![
                    SavedLayer {
                        kind: Some("dense".into()),
                        activation: Some(Activation::Selu),
                        inputs: Some(2),
                        outputs: Some(3),
                        tensors: vec![
                            Tensor {
                                name: "weights".into(),
                                shape: vec![2, 3],
                                values: vec![
                                    0.1f32 as f64,
                                    -2.5,
                                    f32::MIN_POSITIVE as f64,
                                    1e-30f32 as f64,
                                    3.0e38f32 as f64,
                                    -0.0,
                                ],
                            },
                            Tensor {
                                name: "bias".into(),
                                shape: vec![3],
                                values: vec![0.25, -1.0, (1.0f32 / 3.0) as f64],
                            },
                        ],
                        ..SavedLayer::default()
                    },
                    SavedLayer {
                        kind: Some("conv".into()),
                        tensors: vec![Tensor {
                            name: "weight".into(),
                            shape: vec![1, 1, 1, 2],
                            values: vec![0.5, -0.75],
                        }],
                        ..SavedLayer::default()
                    },
                ],
            },
            moments: vec![vec![1.5, -0.125, 7e-12], vec![]],
        };
        let text = serde_json::to_string(&holder).unwrap();
        let back: Holder = serde_json::from_str(&text).unwrap();
        assert_eq!(back, holder);
        let bad = text.replace("\"len\":3", "\"len\":4");
        assert!(serde_json::from_str::<Holder>(&bad).is_err());
    }
}
