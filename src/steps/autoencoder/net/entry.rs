//! An entry of `encoder:` and `decoder:` as the pipeline file writes it: a width (the dense
//! shorthand) or one layer, with the YAML line it was written at; unknown layer names are
//! refused with the nearest known one.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::super::keys::Positive;
use super::spec::{DenseSpec, LAYER_NAMES, LayerSpec};

/// An entry of `encoder:` or `decoder:`: a width (a dense layer with the step's
/// activation, as before layers were a list), or a layer.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerEntry {
    Width(Positive),
    Layer(LayerSpec),
}

impl LayerEntry {
    pub fn spec(&self) -> LayerSpec {
        match self {
            LayerEntry::Width(w) => LayerSpec::Dense(DenseSpec {
                units: *w,
                activation: None,
            }),
            LayerEntry::Layer(s) => s.clone(),
        }
    }
}

/// An entry with the YAML line:column it was written at (ignored by comparisons and
/// by serialisation, so checkpoints' fingerprints do not depend on the file's layout).
#[derive(Debug, Clone)]
pub struct Entry {
    pub layer: LayerEntry,
    pub line_col: Option<(usize, usize)>,
}

impl Entry {
    pub fn width(w: usize) -> Entry {
        Entry {
            layer: LayerEntry::Width(Positive(w)),
            line_col: None,
        }
    }

    /// Its width, when it is one.
    pub fn as_width(&self) -> Option<usize> {
        match self.layer {
            LayerEntry::Width(w) => Some(w.0),
            LayerEntry::Layer(_) => None,
        }
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.layer == other.layer
    }
}

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.layer {
            LayerEntry::Width(w) => w.serialize(s),
            LayerEntry::Layer(l) => l.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<LayerEntry>::deserialize(d)?;
        let at = spanned.referenced;
        Ok(Entry {
            layer: spanned.value,
            line_col: (at.line() > 0).then(|| (at.line() as usize, at.column() as usize)),
        })
    }
}

impl<'de> Deserialize<'de> for LayerEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LayerEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a width, `flatten`, or one layer such as `conv: { filters: 16, kernel: 3 }`",
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LayerEntry, E> {
                Positive::deserialize(de::value::U64Deserializer::<E>::new(v))
                    .map(LayerEntry::Width)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LayerEntry, E> {
                Positive::deserialize(de::value::I64Deserializer::<E>::new(v))
                    .map(LayerEntry::Width)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LayerEntry, E> {
                match v {
                    "flatten" => Ok(LayerEntry::Layer(LayerSpec::Flatten)),
                    _ if LAYER_NAMES.contains(&v) => Err(E::custom(format!(
                        "layer `{v}` needs its keys, as `{v}: {{ ... }}`"
                    ))),
                    _ => Err(E::custom(unknown_layer(v))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LayerEntry, A::Error> {
                let key: String = map.next_key()?.ok_or_else(|| {
                    de::Error::custom("a layer needs its name, as `conv: { ... }`")
                })?;
                let spec = match key.as_str() {
                    "dense" => LayerSpec::Dense(map.next_value()?),
                    "conv" => LayerSpec::Conv(map.next_value()?),
                    "conv_transpose" => LayerSpec::ConvTranspose(map.next_value()?),
                    "max_pool" => LayerSpec::MaxPool(map.next_value()?),
                    "avg_pool" => LayerSpec::AvgPool(map.next_value()?),
                    "upsample" => LayerSpec::Upsample(map.next_value()?),
                    "flatten" => {
                        let _: de::IgnoredAny = map.next_value()?;
                        LayerSpec::Flatten
                    }
                    "reshape" => {
                        let dims: Vec<Positive> = map.next_value()?;
                        LayerSpec::Reshape(dims.into_iter().map(|p| p.0).collect())
                    }
                    "dropout" => LayerSpec::Dropout(map.next_value()?),
                    "lstm" => LayerSpec::Lstm(map.next_value()?),
                    "gru" => LayerSpec::Gru(map.next_value()?),
                    "repeat" => LayerSpec::Repeat(map.next_value()?),
                    "time_distributed_dense" => LayerSpec::TimeDistributedDense(map.next_value()?),
                    other => return Err(de::Error::custom(unknown_layer(other))),
                };
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "one layer per entry: `{key}` and `{extra}` are written together; start `{extra}` on a line of its own with `- `"
                    )));
                }
                Ok(LayerEntry::Layer(spec))
            }
        }
        d.deserialize_any(V)
    }
}

/// "unknown layer `conv2d`; did you mean `conv`?"
fn unknown_layer(name: &str) -> String {
    let nearest = LAYER_NAMES
        .iter()
        .map(|n| (edit_distance(name, n), *n))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, n)| format!("; did you mean `{n}`?"))
        .unwrap_or_else(|| format!(" (layers: {})", LAYER_NAMES.join(", ")));
    format!("unknown layer `{name}`{nearest}")
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_layers_suggest_the_nearest() {
        assert_eq!(
            unknown_layer("conv2d"),
            "unknown layer `conv2d`; did you mean `conv`?"
        );
        assert!(unknown_layer("maxpool").contains("`max_pool`"));
        assert!(unknown_layer("lstmxyzw").contains("layers: dense"));
    }
}
