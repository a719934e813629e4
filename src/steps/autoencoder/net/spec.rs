//! Layer configurations as the pipeline file writes them, apart from their weights (as
//! candle keeps `Conv2dConfig` apart from `Conv2d`): each computes its output shape from
//! its input shape at plan time, so a network that does not fit together is refused
//! before any data is read. Names and defaults are Keras's: stride 1 and `valid`
//! padding for `conv`, the pool size as the pooling stride.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::super::keys::{Activation, Positive};
use super::shape::Shape;

/// One size per spatial axis, written as one number for both or `[height, width]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair(pub usize, pub usize);

impl Serialize for Pair {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 == self.1 {
            s.serialize_u64(self.0 as u64)
        } else {
            [self.0, self.1].serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Pair {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pair;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer of at least 1, or [height, width]")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Pair, E> {
                let p = Positive::deserialize(de::value::U64Deserializer::<E>::new(v))?;
                Ok(Pair(p.0, p.0))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Pair, E> {
                let p = Positive::deserialize(de::value::I64Deserializer::<E>::new(v))?;
                Ok(Pair(p.0, p.0))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Pair, A::Error> {
                let h: Positive = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("give [height, width]"))?;
                let w: Positive = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("give [height, width]"))?;
                if seq.next_element::<Positive>()?.is_some() {
                    return Err(de::Error::custom("give [height, width]: two sizes"));
                }
                Ok(Pair(h.0, w.0))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// No padding: the kernel stays inside the input.
    #[default]
    Valid,
    /// TensorFlow's rule: out = ceil(in / stride), zeros split with the odd one after.
    Same,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DenseSpec {
    pub units: Positive,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConvSpec {
    pub filters: Positive,
    pub kernel: Pair,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub stride: Pair,
    #[serde(default)]
    pub padding: Padding,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConvTransposeSpec {
    pub filters: Positive,
    pub kernel: Pair,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub stride: Pair,
    #[serde(default)]
    pub padding: Padding,
    /// Extra rows and columns at the bottom and right, each less than the stride.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_padding: Option<Pair0>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
}

/// As `Pair`, allowing 0 (`output_padding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Pair0 {
    Both(usize),
    Each([usize; 2]),
}

impl Pair0 {
    pub fn get(self) -> (usize, usize) {
        match self {
            Pair0::Both(v) => (v, v),
            Pair0::Each([h, w]) => (h, w),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    pub size: Pair,
    /// Default: the pool size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<Pair>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpsampleSpec {
    pub size: Pair,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DropoutSpec {
    pub rate: f64,
}

/// `lstm` and `gru`: `units` hidden values per step; the whole sequence of them, or only
/// the last step's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecurrentSpec {
    pub units: Positive,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub return_sequences: bool,
}

/// Blocks of `units` columns a recurrent step keeps for backpropagation through time:
/// LSTM's four gates, its cell, the cell's tanh and its output; GRU's three gates,
/// `W_hn h + b_hn` and its output. The memory model (`plan`) and the cell (`recurrent`)
/// both count them.
pub const LSTM_STEP_SLOTS: usize = 7;
pub const GRU_STEP_SLOTS: usize = 5;

/// `repeat` (Keras's RepeatVector): a flat input copied to every one of `steps` steps.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RepeatSpec {
    pub steps: Positive,
}

fn one() -> Pair {
    Pair(1, 1)
}

fn is_one(p: &Pair) -> bool {
    *p == Pair(1, 1)
}

/// A layer as written (and as model.json keeps it, with the activation it resolved to).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum LayerSpec {
    Dense(DenseSpec),
    Conv(ConvSpec),
    ConvTranspose(ConvTransposeSpec),
    MaxPool(PoolSpec),
    AvgPool(PoolSpec),
    Upsample(UpsampleSpec),
    Flatten,
    Reshape(Vec<usize>),
    Dropout(DropoutSpec),
    Lstm(RecurrentSpec),
    Gru(RecurrentSpec),
    Repeat(RepeatSpec),
    TimeDistributedDense(DenseSpec),
}

/// Every layer name, for messages and suggestions.
pub const LAYER_NAMES: [&str; 13] = [
    "dense",
    "conv",
    "conv_transpose",
    "max_pool",
    "avg_pool",
    "upsample",
    "flatten",
    "reshape",
    "dropout",
    "lstm",
    "gru",
    "repeat",
    "time_distributed_dense",
];

impl LayerSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            LayerSpec::Dense(_) => "dense",
            LayerSpec::Conv(_) => "conv",
            LayerSpec::ConvTranspose(_) => "conv_transpose",
            LayerSpec::MaxPool(_) => "max_pool",
            LayerSpec::AvgPool(_) => "avg_pool",
            LayerSpec::Upsample(_) => "upsample",
            LayerSpec::Flatten => "flatten",
            LayerSpec::Reshape(_) => "reshape",
            LayerSpec::Dropout(_) => "dropout",
            LayerSpec::Lstm(_) => "lstm",
            LayerSpec::Gru(_) => "gru",
            LayerSpec::Repeat(_) => "repeat",
            LayerSpec::TimeDistributedDense(_) => "time_distributed_dense",
        }
    }

    /// Whether the step's `activation` applies to it (layers with weights, but for the
    /// recurrent ones, whose activations are their own: sigmoid gates, tanh cells).
    pub fn takes_activation(&self) -> bool {
        matches!(
            self,
            LayerSpec::Dense(_)
                | LayerSpec::Conv(_)
                | LayerSpec::ConvTranspose(_)
                | LayerSpec::TimeDistributedDense(_)
        )
    }

    /// Whether it has weights to train.
    pub fn has_weights(&self) -> bool {
        self.takes_activation() || self.is_recurrent()
    }

    pub fn is_recurrent(&self) -> bool {
        matches!(self, LayerSpec::Lstm(_) | LayerSpec::Gru(_))
    }

    /// Its own activation, when written.
    pub fn own_activation(&self) -> Option<Activation> {
        match self {
            LayerSpec::Dense(s) => s.activation,
            LayerSpec::Conv(s) => s.activation,
            LayerSpec::ConvTranspose(s) => s.activation,
            LayerSpec::TimeDistributedDense(s) => s.activation,
            _ => None,
        }
    }

    /// The same layer with its activation settled (written into model.json).
    pub fn with_activation(mut self, act: Activation) -> LayerSpec {
        match &mut self {
            LayerSpec::Dense(s) => s.activation = Some(act),
            LayerSpec::Conv(s) => s.activation = Some(act),
            LayerSpec::ConvTranspose(s) => s.activation = Some(act),
            LayerSpec::TimeDistributedDense(s) => s.activation = Some(act),
            _ => {}
        }
        self
    }

    pub fn activation(&self) -> Activation {
        self.own_activation().unwrap_or(Activation::Linear)
    }

    /// The shape it makes of `input`, or why it cannot take it.
    pub fn output_shape(&self, input: &Shape) -> Result<Shape, String> {
        let image = || {
            input.image().ok_or_else(|| {
                format!(
                    "{} needs an image [height, width, channels] but gets {input}; give the step `shape: [h, w, c]`, or `reshape` first",
                    self.kind()
                )
            })
        };
        let sequence = || {
            input.sequence().ok_or_else(|| {
                let hint = if input.is_flat() {
                    "give the step `shape: [steps, features]`, set `return_sequences: true` on the recurrent layer before it, or `repeat` first"
                } else {
                    "`reshape` to [steps, features] first"
                };
                format!(
                    "{} needs a sequence [steps, features] but gets {input}; {hint}",
                    self.kind()
                )
            })
        };
        match self {
            LayerSpec::Lstm(s) | LayerSpec::Gru(s) => {
                let (steps, _) = sequence()?;
                Ok(if s.return_sequences {
                    Shape(vec![steps, s.units.0])
                } else {
                    Shape::flat(s.units.0)
                })
            }
            LayerSpec::TimeDistributedDense(s) => {
                let (steps, _) = sequence()?;
                Ok(Shape(vec![steps, s.units.0]))
            }
            LayerSpec::Repeat(s) => {
                if !input.is_flat() {
                    let hint = if input.sequence().is_some() {
                        "the layer before returns sequences: set its `return_sequences: false`, or `flatten` first"
                    } else {
                        "`flatten` first"
                    };
                    return Err(format!(
                        "repeat needs a flat input but gets {input}; {hint}"
                    ));
                }
                let out = Shape(vec![s.steps.0, input.size()]);
                match out.checked_size() {
                    Some(n) if n < 1 << 40 => Ok(out),
                    _ => Err(format!("repeat makes {out} from {input}: too large")),
                }
            }
            LayerSpec::Dense(s) => {
                if input.sequence().is_some() {
                    return Err(format!(
                        "dense needs a flat input but gets the sequence {input}; add `flatten` before it, or use `time_distributed_dense` on every step"
                    ));
                }
                if !input.is_flat() {
                    return Err(format!(
                        "dense needs a flat input but gets {input}; add `flatten` before it"
                    ));
                }
                Ok(Shape::flat(s.units.0))
            }
            LayerSpec::Conv(s) => {
                let (h, w, _) = image()?;
                let oh = conv_out(h, s.kernel.0, s.stride.0, s.padding)?;
                let ow = conv_out(w, s.kernel.1, s.stride.1, s.padding)?;
                let out = Shape(vec![oh, ow, s.filters.0]);
                match out.checked_size() {
                    Some(n) if n < 1 << 40 => Ok(out),
                    _ => Err(format!("conv makes {out} from {input}: too large")),
                }
            }
            LayerSpec::ConvTranspose(s) => {
                let (h, w, _) = image()?;
                let (ph, pw) = s.output_padding.map_or((0, 0), Pair0::get);
                if ph >= s.stride.0 || pw >= s.stride.1 {
                    return Err(format!(
                        "conv_transpose's output_padding must be less than its stride ({}, {})",
                        s.stride.0, s.stride.1
                    ));
                }
                let oh = transpose_out(h, s.kernel.0, s.stride.0, s.padding).saturating_add(ph);
                let ow = transpose_out(w, s.kernel.1, s.stride.1, s.padding).saturating_add(pw);
                let out = Shape(vec![oh, ow, s.filters.0]);
                match out.checked_size() {
                    Some(n) if n < 1 << 40 => Ok(out),
                    _ => Err(format!(
                        "conv_transpose makes {out} from {input}: too large"
                    )),
                }
            }
            LayerSpec::MaxPool(s) | LayerSpec::AvgPool(s) => {
                let (h, w, c) = image()?;
                let stride = s.stride.unwrap_or(s.size);
                let oh = conv_out(h, s.size.0, stride.0, Padding::Valid)?;
                let ow = conv_out(w, s.size.1, stride.1, Padding::Valid)?;
                Ok(Shape(vec![oh, ow, c]))
            }
            LayerSpec::Upsample(s) => {
                let (h, w, c) = image()?;
                let out = Shape(vec![
                    h.saturating_mul(s.size.0),
                    w.saturating_mul(s.size.1),
                    c,
                ]);
                match out.checked_size() {
                    Some(n) if n < 1 << 40 => Ok(out),
                    _ => Err(format!(
                        "upsample's size makes {out} from {input}: too large"
                    )),
                }
            }
            LayerSpec::Flatten => Ok(Shape::flat(input.size())),
            LayerSpec::Reshape(dims) => {
                let to = Shape(dims.clone());
                if dims.is_empty() || dims.contains(&0) {
                    return Err(format!("reshape needs sizes of at least 1, got {to}"));
                }
                match to.checked_size() {
                    Some(n) if n == input.size() => {}
                    Some(n) => {
                        return Err(format!(
                            "reshape to {to} holds {n} values but its input {input} holds {}",
                            input.size()
                        ));
                    }
                    None => return Err(format!("reshape to {to}: too many values")),
                }
                Ok(to)
            }
            LayerSpec::Dropout(s) => {
                if !(0.0..1.0).contains(&s.rate) {
                    return Err(format!("dropout's rate must lie in [0, 1), got {}", s.rate));
                }
                Ok(input.clone())
            }
        }
    }
}

/// Output length of a convolution or pooling along one axis.
pub fn conv_out(len: usize, k: usize, s: usize, padding: Padding) -> Result<usize, String> {
    match padding {
        Padding::Same => Ok(len.div_ceil(s)),
        Padding::Valid if k > len => Err(format!(
            "a kernel of {k} does not fit an input of {len} with `valid` padding"
        )),
        Padding::Valid => Ok((len - k) / s + 1),
    }
}

/// Zeros before an axis of a convolution with `same` padding (TensorFlow's rule: the odd
/// one goes after).
pub fn same_pad_before(len: usize, k: usize, s: usize) -> usize {
    let out = len.div_ceil(s);
    ((out - 1) * s + k).saturating_sub(len) / 2
}

/// What a transposed convolution crops from its full output along one axis: nothing for
/// `valid`, max(k − s, 0) for `same` (the odd one at the end, as TensorFlow's
/// conv2d_transpose), as (before, total).
pub fn transpose_crop(k: usize, s: usize, padding: Padding) -> (usize, usize) {
    match padding {
        Padding::Valid => (0, 0),
        Padding::Same => {
            let total = k.saturating_sub(s);
            (total / 2, total)
        }
    }
}

fn transpose_out(len: usize, k: usize, s: usize, padding: Padding) -> usize {
    (len - 1)
        .saturating_mul(s)
        .saturating_add(k)
        .saturating_sub(transpose_crop(k, s, padding).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(filters: usize, k: usize, s: usize, padding: Padding) -> LayerSpec {
        LayerSpec::Conv(ConvSpec {
            filters: Positive(filters),
            kernel: Pair(k, k),
            stride: Pair(s, s),
            padding,
            activation: None,
        })
    }

    #[test]
    fn shapes_follow_keras() {
        let img = Shape(vec![28, 28, 1]);
        assert_eq!(
            conv(16, 3, 1, Padding::Same).output_shape(&img).unwrap(),
            Shape(vec![28, 28, 16])
        );
        assert_eq!(
            conv(16, 3, 1, Padding::Valid).output_shape(&img).unwrap(),
            Shape(vec![26, 26, 16])
        );
        assert_eq!(
            conv(4, 3, 2, Padding::Same)
                .output_shape(&Shape(vec![7, 7, 1]))
                .unwrap(),
            Shape(vec![4, 4, 4])
        );
        let pool = LayerSpec::MaxPool(PoolSpec {
            size: Pair(2, 2),
            stride: None,
        });
        assert_eq!(
            pool.output_shape(&Shape(vec![7, 7, 64])).unwrap(),
            Shape(vec![3, 3, 64])
        );
        let up = |k, s, padding| {
            LayerSpec::ConvTranspose(ConvTransposeSpec {
                filters: Positive(32),
                kernel: Pair(k, k),
                stride: Pair(s, s),
                padding,
                output_padding: None,
                activation: None,
            })
        };
        let code = Shape(vec![3, 3, 64]);
        let a = up(3, 2, Padding::Valid).output_shape(&code).unwrap();
        assert_eq!(a, Shape(vec![7, 7, 32]));
        let b = up(3, 2, Padding::Same).output_shape(&a).unwrap();
        assert_eq!(b, Shape(vec![14, 14, 32]));
        assert_eq!(same_pad_before(28, 3, 1), 1);
        assert_eq!(same_pad_before(7, 2, 1), 0);
        assert_eq!(transpose_crop(3, 2, Padding::Same), (0, 1));
    }

    #[test]
    fn shapes_that_do_not_fit_are_refused_with_both() {
        let e = conv(4, 5, 1, Padding::Valid)
            .output_shape(&Shape(vec![3, 3, 1]))
            .unwrap_err();
        assert!(e.contains("kernel of 5") && e.contains("input of 3"), "{e}");
        let e = conv(4, 3, 1, Padding::Same)
            .output_shape(&Shape::flat(64))
            .unwrap_err();
        assert!(e.contains("[64]") && e.contains("shape"), "{e}");
        let e = LayerSpec::Reshape(vec![3, 3, 3])
            .output_shape(&Shape::flat(28))
            .unwrap_err();
        assert!(e.contains("27") && e.contains("28"), "{e}");
    }
}
