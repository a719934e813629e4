//! The checkpoint written after every epoch: weights, optimizer and early-stopping state
//! and the history, so `--resume` takes exactly the steps the uninterrupted run would.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::super::SavedNetwork;
use super::super::history::{EpochReport, StopReason};
use super::super::optim::Optimizer;
use crate::error::{Error, Result};

pub const CHECKPOINT_FORMAT: &str = "dimred-checkpoint/2";

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
        if cp.format != CHECKPOINT_FORMAT || !cp.network.is_consistent() {
            return Err(Error::config(format!(
                "{}: not a {CHECKPOINT_FORMAT} checkpoint; delete it to start over",
                path.display()
            )));
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
