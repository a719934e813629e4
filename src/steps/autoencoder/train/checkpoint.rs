//! The checkpoint written after every epoch: weights, optimizer and early-stopping state
//! and the history, so `--resume` takes exactly the steps the uninterrupted run would.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::super::history::{EpochReport, StopReason};
use super::super::optim::Optimizer;
use super::super::schedule::Plateau;
use super::super::{Network, SavedNetwork};
use crate::error::{Error, Result};

pub const CHECKPOINT_FORMAT: &str = "dimred-checkpoint/3";
/// Written before layers were a list: dense layers only, the optimizer's moments one
/// vector a layer (weights, then biases). Still read.
const CHECKPOINT_FORMAT_2: &str = "dimred-checkpoint/2";

/// Training state after an epoch: what a checkpoint holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format: String,
    pub fingerprint: String,
    pub epochs_done: usize,
    #[serde(with = "super::super::packed::network")]
    pub network: SavedNetwork,
    pub optimizer: Optimizer,
    #[serde(with = "super::super::packed::network")]
    pub best: SavedNetwork,
    pub best_epoch: usize,
    pub best_loss: f64,
    pub bad_epochs: usize,
    /// Why training ended, once it has.
    pub stopped: Option<StopReason>,
    pub history: Vec<EpochReport>,
    pub train_rows: u64,
    pub validation_rows: u64,
    pub train_seconds: f64,
    /// `schedule: { kind: plateau }`'s state.
    #[serde(default)]
    pub plateau: Plateau,
}

impl Checkpoint {
    pub fn load(path: &Path, fingerprint: &str) -> Result<Option<Checkpoint>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read checkpoint", path, e)),
        };
        let cp: Checkpoint = serde_json::from_str(&text).map_err(|e| {
            Error::config(format!(
                "{}: not a dimred checkpoint ({e}); delete it to start over",
                path.display()
            ))
        })?;
        let bad = |why: String| {
            Error::config(format!(
                "{}: not a usable {CHECKPOINT_FORMAT} checkpoint ({why}); delete it to start over",
                path.display()
            ))
        };
        let mut cp = cp;
        match cp.format.as_str() {
            CHECKPOINT_FORMAT => {}
            CHECKPOINT_FORMAT_2 => {
                cp.optimizer.first =
                    per_parameter(&cp.network, &cp.optimizer.first).map_err(bad)?;
                cp.optimizer.second =
                    per_parameter(&cp.network, &cp.optimizer.second).map_err(bad)?;
                cp.format = CHECKPOINT_FORMAT.into();
            }
            other => return Err(bad(format!("its format is {other}"))),
        }
        for net in [&cp.network, &cp.best] {
            let inputs = net.layers.first().map_or(0, |l| {
                l.input_shape
                    .as_ref()
                    .map_or(l.inputs.unwrap_or(0), |s| s.size())
            });
            Network::<f32>::from_saved(net, inputs).map_err(bad)?;
        }
        if cp.fingerprint != fingerprint {
            return Err(Error::config(format!(
                "{}: the checkpoint was written by a different pipeline (only `epochs` may change between runs); delete it or run without --resume",
                path.display()
            )));
        }
        Ok(Some(cp))
    }
}

/// `dimred-checkpoint/2`'s moments (one vector a dense layer: weights column by column,
/// then biases) as one vector a parameter.
fn per_parameter(
    net: &SavedNetwork,
    moments: &[Vec<f32>],
) -> std::result::Result<Vec<Vec<f32>>, String> {
    if moments.is_empty() {
        return Ok(Vec::new());
    }
    if moments.len() != net.layers.len() {
        return Err("its optimizer state does not match its layers".into());
    }
    let mut out = Vec::new();
    for (l, m) in net.layers.iter().zip(moments) {
        let (i, o) = (l.inputs.unwrap_or(0), l.outputs.unwrap_or(0));
        if m.len() != i * o + o {
            return Err("its optimizer state does not match its layers".into());
        }
        out.push(m[..i * o].to_vec());
        out.push(m[i * o..].to_vec());
    }
    Ok(out)
}
