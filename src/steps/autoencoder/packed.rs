//! How a checkpoint stores its arrays: the little-endian bytes of their f32 values,
//! base64. Exact (the weights and moments are f32), and about a tenth of the size and
//! time of JSON numbers: at the lecture's 784-256-128-256-784 network a checkpoint
//! holds 1.9 M values (weights, best weights, two Adam moments), which as JSON numbers
//! cost a third of a core-second every epoch. model.json keeps plain numbers for
//! people and other tools.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

#[derive(Serialize, Deserialize)]
struct PackedLayer {
    activation: Activation,
    inputs: usize,
    outputs: usize,
    /// Row after row (inputs × outputs).
    weights: String,
    bias: String,
}

#[derive(Serialize, Deserialize)]
struct PackedNetwork {
    code_layer: usize,
    loss: Loss,
    layers: Vec<PackedLayer>,
}

/// `#[serde(with = "packed::network")]` for a `SavedNetwork` field.
pub mod network {
    use super::*;

    pub fn serialize<S: Serializer>(net: &SavedNetwork, s: S) -> Result<S::Ok, S::Error> {
        PackedNetwork {
            code_layer: net.code_layer,
            loss: net.loss,
            layers: net
                .layers
                .iter()
                .map(|l| PackedLayer {
                    activation: l.activation,
                    inputs: l.inputs,
                    outputs: l.outputs,
                    weights: encode(l.weights.iter().flatten().map(|&v| v as f32)),
                    bias: encode(l.bias.iter().map(|&v| v as f32)),
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
                let w = decode::<D::Error>(&l.weights, l.inputs * l.outputs)?;
                let bias = decode::<D::Error>(&l.bias, l.outputs)?;
                Ok(SavedLayer {
                    activation: l.activation,
                    inputs: l.inputs,
                    outputs: l.outputs,
                    weights: w
                        .chunks(l.outputs.max(1))
                        .map(|row| row.iter().map(|&v| v as f64).collect())
                        .collect(),
                    bias: bias.iter().map(|&v| v as f64).collect(),
                })
            })
            .collect::<Result<Vec<_>, D::Error>>()?;
        Ok(SavedNetwork {
            code_layer: packed.code_layer,
            loss: packed.loss,
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
                layers: vec![SavedLayer {
                    activation: Activation::Selu,
                    inputs: 2,
                    outputs: 3,
                    weights: vec![
                        vec![0.1f32 as f64, -2.5, f32::MIN_POSITIVE as f64],
                        vec![1e-30f32 as f64, 3.0e38f32 as f64, -0.0],
                    ],
                    bias: vec![0.25, -1.0, (1.0f32 / 3.0) as f64],
                }],
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
