//! The `autoencoder` step's keys. Counts that must be at least 1 are refused while the
//! YAML is parsed (so the error carries its line:column); rules that tie keys together
//! are checked when the step is planned (`step.rs`).

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use super::keys::{Activation, Positive};
pub use super::net::entry::Entry;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AutoencoderParams {
    /// A row's features read as an image `[height, width, channels]` (row-major, channels
    /// last); absent: a flat row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Vec<Positive>>,
    /// Layers from the input towards the code: widths (dense layers) or layer specs.
    #[serde(default)]
    pub encoder: Vec<Entry>,
    /// Layers from the code towards the output; mirrors `encoder` when absent and every
    /// encoder entry is a width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder: Option<Vec<Entry>>,
    /// Width of a dense code layer appended to the encoder; absent: the encoder's last
    /// output is the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latent: Option<Positive>,
    #[serde(default)]
    pub activation: Activations,
    #[serde(default)]
    pub output_activation: OutputActivation,
    #[serde(default)]
    pub loss: Loss,
    #[serde(default)]
    pub optimizer: OptimizerParams,
    #[serde(default = "default_batch_size")]
    pub batch_size: Positive,
    #[serde(default = "default_epochs")]
    pub epochs: Positive,
    /// Rows held in memory for shuffling (the memory bound of training).
    #[serde(default = "default_shuffle_buffer")]
    pub shuffle_buffer: Positive,
    /// Rows held out (by a hash of the row index) to measure the validation loss.
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStopping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<Noise>,
    /// Gradients scaled down to this global L2 norm when above it (PyTorch's
    /// `clip_grad_norm_`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradient_clip_norm: Option<f64>,
    /// The learning rate epoch by epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<super::schedule::ScheduleParams>,
    #[serde(default)]
    pub seed: u64,
}

fn default_batch_size() -> Positive {
    Positive(128)
}
fn default_epochs() -> Positive {
    Positive(20)
}
fn default_shuffle_buffer() -> Positive {
    Positive(65_536)
}
fn default_validation_fraction() -> f64 {
    0.1
}

impl AutoencoderParams {
    /// The encoder's and decoder's widths when every entry is one (the network of dense
    /// layers that `encoder: [256, 128]` has always written): the decoder's mirrors the
    /// encoder's unless given.
    pub fn dense_widths(&self) -> Option<(Vec<usize>, Vec<usize>)> {
        let widths = |e: &[Entry]| e.iter().map(Entry::as_width).collect::<Option<Vec<_>>>();
        let encoder = widths(&self.encoder)?;
        let decoder = match &self.decoder {
            Some(d) => widths(d)?,
            None => encoder.iter().rev().copied().collect(),
        };
        Some((encoder, decoder))
    }
}

/// `activation: sigmoid` for every hidden layer, or one name per hidden layer (the code
/// layer included, the output layer not).
#[derive(Debug, Clone, PartialEq)]
pub enum Activations {
    All(Activation),
    PerLayer(Vec<Activation>),
}

impl Default for Activations {
    fn default() -> Self {
        Activations::All(Activation::default())
    }
}

impl Serialize for Activations {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Activations::All(a) => a.serialize(serializer),
            Activations::PerLayer(v) => v.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Activations {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Activations;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("one of linear, sigmoid, relu, selu, tanh, or a list of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Activations, E> {
                Activation::deserialize(de::value::StrDeserializer::<E>::new(v))
                    .map(Activations::All)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Activations, A::Error> {
                let mut out = Vec::new();
                while let Some(a) = seq.next_element::<Activation>()? {
                    out.push(a);
                }
                Ok(Activations::PerLayer(out))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum OutputActivation {
    #[default]
    Linear,
    Sigmoid,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Mean squared error over every output value (PyTorch's `MSELoss()`).
    #[default]
    Mse,
    /// Binary cross-entropy over every output value; targets must lie in [0, 1].
    Bce,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    #[default]
    Adam,
    Sgd,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct OptimizerParams {
    #[serde(default)]
    pub kind: OptimizerKind,
    /// Default 0.001 for Adam, 0.01 for SGD (as Keras).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    /// SGD only (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f64>,
    /// SGD only (default false; needs momentum > 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nesterov: Option<bool>,
    /// Adam only (defaults 0.9, 0.999, 1e-8 as Kingma & Ba).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta2: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
    /// AdamW's decoupled weight decay for adam, an L2 term for sgd (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
}

impl OptimizerParams {
    pub fn learning_rate(&self) -> f64 {
        self.learning_rate.unwrap_or(match self.kind {
            OptimizerKind::Adam => 0.001,
            OptimizerKind::Sgd => 0.01,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EarlyStopping {
    /// Epochs without an improvement larger than `min_delta` before training stops.
    pub patience: usize,
    #[serde(default)]
    pub min_delta: f64,
}

/// Input corruption for a denoising autoencoder (training only; targets stay clean).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Noise {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gaussian_std: Option<f64>,
    /// Probability of zeroing an input value (survivors scaled by 1 / (1 − p)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropout: Option<f64>,
}
