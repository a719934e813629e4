//! A fit's partial state on disk: what one shard learnt in one pass, to be merged with
//! the other shards' states of the same pass. Versioned, and stamped with the step kind,
//! the pass and the pipeline's fingerprint, so states of different pipelines or passes
//! are never merged.
//!
//! A state is a small JSON tree (counts, labels, per-column summaries) and its large
//! arrays (`Floats`: a co-moment, an R factor, a product with a basis). Saving lifts the
//! arrays out of the tree, leaving `{"npz": "aI"}` in their place, so they are written as
//! little-endian `.npy` members of an `.npz` file beside a `header` member holding the
//! tree (`encode` / `decode`): 8 bytes a value and no decimal formatting or parsing.
//! A state of the earlier all-JSON format (`dimred-partial/1`) holds its arrays inline
//! and loads as it always did. Either way save → load is exact, bit for bit.

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::npz;
pub use crate::stats::Floats;
use crate::stats::with_table;

use super::PassName;
use crate::error::{Error, Result};

pub const STATE_FORMAT: &str = "dimred-state/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialState {
    pub format: String,
    pub kind: String,
    /// The pass the state belongs to (`fit`, `scale`, `sketch`, `power 2`, …).
    pub pass: String,
    /// Identifies the pipeline (input, features, steps) the state was fitted for; empty
    /// when not bound to one.
    #[serde(default)]
    pub fingerprint: String,
    /// The tree, its `Floats` replaced by references into `arrays`.
    pub state: Value,
    /// The lifted arrays, `aI` being `arrays[I]`.
    #[serde(skip)]
    pub arrays: Vec<Vec<f64>>,
}

impl PartialState {
    /// `state`'s `Floats` are lifted into `arrays`.
    pub fn new<T: Serialize>(
        kind: &str,
        pass: impl PassName,
        fingerprint: &str,
        state: &T,
    ) -> PartialState {
        let (state, arrays) = with_table(Vec::new(), || {
            serde_json::to_value(state).expect("a state serialises")
        });
        PartialState {
            format: STATE_FORMAT.into(),
            kind: kind.into(),
            pass: pass.label().into_owned(),
            fingerprint: fingerprint.into(),
            state,
            arrays,
        }
    }

    /// The state alone as an `.npz` file (tests; fit states are saved by
    /// `pipeline::saved::Partial`, whose header holds this one).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self, self.arrays.clone())
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<PartialState> {
        let (header, arrays) =
            decode(bytes).map_err(|e| Error::config(format!("not a dimred partial state: {e}")))?;
        let mut state: PartialState = serde_json::from_str(&header)
            .map_err(|e| Error::config(format!("not a dimred partial state: {e}")))?;
        if state.format != STATE_FORMAT {
            return Err(Error::config(format!(
                "partial state format '{}' is not '{STATE_FORMAT}'",
                state.format
            )));
        }
        state.arrays = arrays;
        Ok(state)
    }

    /// The inner state, checked to be of `kind` and `pass` and of the same pipeline.
    pub fn state_of<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        pass: impl PassName,
        fingerprint: &str,
    ) -> Result<T> {
        let pass = pass.label();
        if self.kind != kind || self.pass != pass {
            return Err(Error::config(format!(
                "cannot merge a {} state of pass '{}' into a {kind} state of pass '{pass}'",
                self.kind, self.pass
            )));
        }
        if self.fingerprint != fingerprint {
            return Err(Error::config(
                "cannot merge partial states of different pipelines (their fingerprints differ)",
            ));
        }
        let (parsed, _) = with_table(self.arrays.clone(), || {
            T::deserialize(&self.state)
                .map_err(|e| Error::config(format!("malformed {kind} state: {e}")))
        });
        parsed
    }
}

/// `.npz` bytes: a `header` member (`header`'s JSON, as a one-element string array) and
/// the arrays as `a0`, `a1`, … (float64 vectors).
/// Takes the arrays: a state's arrays are its bulk, and a copy of them would be too.
pub fn encode<T: Serialize>(header: &T, arrays: Vec<Vec<f64>>) -> Vec<u8> {
    let text = serde_json::to_string(header).expect("a state header serialises");
    let mut members = vec![("header".to_string(), npz::Array::strings(vec![text]))];
    members.extend(
        arrays
            .into_iter()
            .enumerate()
            .map(|(i, a)| (format!("a{i}"), npz::Array::vector(a))),
    );
    npz::write(&members)
}

/// The header's JSON and the arrays `a0`, `a1`, … of `encode`'s bytes.
pub fn decode(bytes: &[u8]) -> std::result::Result<(String, Vec<Vec<f64>>), String> {
    let mut header = None;
    let mut arrays = Vec::new();
    for (name, array) in npz::read(bytes)? {
        match (name.as_str(), array.values) {
            ("header", npz::Values::Str(mut text)) if text.len() == 1 => header = text.pop(),
            (name, npz::Values::F64(values))
                if name.strip_prefix('a').and_then(|i| i.parse::<usize>().ok())
                    == Some(arrays.len()) =>
            {
                arrays.push(values)
            }
            (name, _) => return Err(format!("an unexpected member {name}")),
        }
    }
    Ok((header.ok_or("no header member")?, arrays))
}

/// Whether `bytes` are an `.npz` (zip) file rather than JSON text.
pub fn is_binary(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// Identifies a pipeline: FNV-1a of its text (stable across Rust versions, unlike
/// `DefaultHasher`), as 16 hex digits.
pub fn fingerprint(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// A matrix in a state: its shape and its values column after column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedMat {
    pub rows: usize,
    pub cols: usize,
    pub values: Floats,
}

impl SavedMat {
    pub fn of(m: MatRef<'_, f64>) -> SavedMat {
        SavedMat {
            rows: m.nrows(),
            cols: m.ncols(),
            values: Floats(
                (0..m.ncols())
                    .flat_map(|c| (0..m.nrows()).map(move |r| m[(r, c)]))
                    .collect(),
            ),
        }
    }

    pub fn to_mat(&self) -> Result<Mat<f64>> {
        if self.values.len() != self.rows * self.cols {
            return Err(Error::config(
                "malformed state: a matrix has the wrong size",
            ));
        }
        Ok(Mat::from_fn(self.rows, self.cols, |r, c| {
            self.values[c * self.rows + r]
        }))
    }
}
