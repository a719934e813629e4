//! The statistics in a saved (partial or fit) state: plain serde types, their large
//! arrays lifted into the binary side of the state file.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use super::Moments;

// Large arrays in saved states (`steps::state` writes them as binary).

thread_local! {
    /// While a state is saved: the arrays lifted so far. While one is loaded: the arrays
    /// its references point at. A side table rather than a field of `Floats` because
    /// the states are plain serde types built and read by each step kind.
    static LIFTED: RefCell<Option<Vec<Vec<f64>>>> = const { RefCell::new(None) };
}

/// Runs `f` with `table` as the lifted arrays (`steps::state`: a state saved or loaded);
/// returns what `f` gave and the table after.
pub fn with_table<T>(table: Vec<Vec<f64>>, f: impl FnOnce() -> T) -> (T, Vec<Vec<f64>>) {
    let before = LIFTED.with(|t| t.replace(Some(table)));
    let out = f();
    let table = LIFTED.with(|t| t.replace(before)).unwrap_or_default();
    (out, table)
}

/// A large array of a state, written as binary (see the module's note).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Floats(pub Vec<f64>);

impl std::ops::Deref for Floats {
    type Target = Vec<f64>;
    fn deref(&self) -> &Vec<f64> {
        &self.0
    }
}

impl From<Vec<f64>> for Floats {
    fn from(v: Vec<f64>) -> Floats {
        Floats(v)
    }
}

impl Serialize for Floats {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let lifted = LIFTED.with(|t| {
            t.borrow_mut().as_mut().map(|table| {
                table.push(self.0.clone());
                table.len() - 1
            })
        });
        match lifted {
            Some(i) => {
                use serde::ser::SerializeMap;
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("npz", &format!("a{i}"))?;
                map.end()
            }
            None => self.0.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Floats {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Floats, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Floats;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of numbers or a reference {\"npz\": \"aI\"}")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Floats, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(x) = seq.next_element::<f64>()? {
                    v.push(x);
                }
                Ok(Floats(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Floats, A::Error> {
                use serde::de::Error as _;
                let (key, name): (String, String) = map
                    .next_entry()?
                    .ok_or_else(|| A::Error::custom("an empty reference"))?;
                let index = (key == "npz")
                    .then(|| name.strip_prefix('a')?.parse::<usize>().ok())
                    .flatten()
                    .ok_or_else(|| {
                        A::Error::custom(format!("a bad array reference {key}: {name}"))
                    })?;
                LIFTED
                    .with(|t| {
                        t.borrow_mut()
                            .as_mut()
                            .and_then(|table| table.get_mut(index).map(std::mem::take))
                    })
                    .map(Floats)
                    .ok_or_else(|| A::Error::custom(format!("array {name} is not in the file")))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// `ColumnStats` in a partial state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedColumn {
    pub count: u64,
    pub missing: u64,
    pub non_numeric: u64,
    pub mean: f64,
    pub m2: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// `Moments` in a partial state: the lower triangle of the co-moment, row after row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedMoments {
    pub n: u64,
    pub mean: Floats,
    pub co_moment_lower: Floats,
    pub min: Vec<Option<f64>>,
    pub max: Vec<Option<f64>>,
}

impl Moments {
    pub fn save(&self) -> SavedMoments {
        let p = self.nfeatures();
        let finite = |v: &f64| v.is_finite().then_some(*v);
        SavedMoments {
            n: self.n,
            mean: Floats(self.mean.clone()),
            co_moment_lower: Floats(
                (0..p)
                    .flat_map(|i| (0..=i).map(move |j| (i, j)))
                    .map(|(i, j)| self.co_moment[(i, j)])
                    .collect(),
            ),
            min: self.min.iter().map(finite).collect(),
            max: self.max.iter().map(finite).collect(),
        }
    }

    pub fn load(saved: &SavedMoments) -> Option<Moments> {
        let p = saved.mean.len();
        if saved.co_moment_lower.len() != p * (p + 1) / 2
            || saved.min.len() != p
            || saved.max.len() != p
        {
            return None;
        }
        let mut m = Moments::empty(p);
        m.n = saved.n;
        m.mean = saved.mean.0.clone();
        let mut values = saved.co_moment_lower.iter();
        for i in 0..p {
            for j in 0..=i {
                m.co_moment[(i, j)] = *values.next()?;
            }
        }
        m.min = saved
            .min
            .iter()
            .map(|v| v.unwrap_or(f64::INFINITY))
            .collect();
        m.max = saved
            .max
            .iter()
            .map(|v| v.unwrap_or(f64::NEG_INFINITY))
            .collect();
        Some(m)
    }
}
