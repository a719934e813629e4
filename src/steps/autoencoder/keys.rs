//! Key types the autoencoder's configuration and its layer specs share: counts of at
//! least 1 and the activations.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An integer of at least 1, refused where it is written otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Positive(pub usize);

impl Serialize for Positive {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0 as u64)
    }
}

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Positive;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer of at least 1")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Positive, E> {
                if v == 0 {
                    Err(E::custom("must be at least 1, got 0"))
                } else {
                    Ok(Positive(v as usize))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Positive, E> {
                if v <= 0 {
                    Err(E::custom(format!("must be at least 1, got {v}")))
                } else {
                    Ok(Positive(v as usize))
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Linear,
    #[default]
    Sigmoid,
    Relu,
    Selu,
    Tanh,
}

impl Activation {
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Sigmoid => "sigmoid",
            Activation::Relu => "relu",
            Activation::Selu => "selu",
            Activation::Tanh => "tanh",
        }
    }
}
