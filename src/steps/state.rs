//! A fit's partial state on disk: what one shard learnt in one pass, to be merged with
//! the other shards' states of the same pass. Versioned, and stamped with the step kind,
//! the pass and the pipeline's fingerprint, so states of different pipelines or passes
//! are never merged. Floats are written shortest-round-trip, so save → load is exact.

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    pub state: Value,
}

impl PartialState {
    pub fn new(kind: &str, pass: &str, fingerprint: &str, state: Value) -> PartialState {
        PartialState {
            format: STATE_FORMAT.into(),
            kind: kind.into(),
            pass: pass.into(),
            fingerprint: fingerprint.into(),
            state,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a state serialises")
    }

    pub fn from_json(text: &str) -> Result<PartialState> {
        let state: PartialState = serde_json::from_str(text)
            .map_err(|e| Error::config(format!("not a dimred partial state: {e}")))?;
        if state.format != STATE_FORMAT {
            return Err(Error::config(format!(
                "partial state format '{}' is not '{STATE_FORMAT}'",
                state.format
            )));
        }
        Ok(state)
    }

    /// The inner state, checked to be of `kind` and `pass` and of the same pipeline.
    pub fn state_of<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        pass: &str,
        fingerprint: &str,
    ) -> Result<T> {
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
        serde_json::from_value(self.state.clone())
            .map_err(|e| Error::config(format!("malformed {kind} state: {e}")))
    }
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
    pub values: Vec<f64>,
}

impl SavedMat {
    pub fn of(m: MatRef<'_, f64>) -> SavedMat {
        SavedMat {
            rows: m.nrows(),
            cols: m.ncols(),
            values: (0..m.ncols())
                .flat_map(|c| (0..m.nrows()).map(move |r| m[(r, c)]))
                .collect(),
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
