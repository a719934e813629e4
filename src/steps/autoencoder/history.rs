//! What the autoencoder's training reports: its history in report.json (and in the
//! checkpoint, so a resumed run reports every epoch).

use serde::{Deserialize, Serialize};

/// How the autoencoder's training went, epoch by epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AutoencoderReport {
    /// Layer widths from the input through the latent code to the output.
    pub widths: Vec<usize>,
    pub latent: usize,
    pub epochs: Vec<EpochReport>,
    /// 1-based epoch whose weights were kept: the lowest validation loss, or the lowest
    /// training loss when no rows are held out.
    pub best_epoch: usize,
    pub stop_reason: StopReason,
    pub train_rows: u64,
    pub validation_rows: u64,
    /// Mean per-row squared reconstruction error ‖(x − x̂) / scale‖² of the kept weights
    /// over all rows, in the scaled feature space.
    pub reconstruction_error: f64,
    pub samples_per_second: f64,
    /// Where this run's epochs after its first came from: `memory` (the first epoch's
    /// rows, kept) or `file` (each epoch read the input).
    #[serde(default)]
    pub replay: Replay,
}

/// Where a run's epochs after its first came from (`train::replay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Replay {
    /// Every epoch read the input.
    #[default]
    File,
    /// The rows the first epoch read, kept in memory.
    Memory,
}

/// Why training ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Every epoch asked for ran.
    Epochs,
    /// The monitored loss stopped improving for more than `patience` epochs.
    EarlyStopping,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Epochs => "epochs",
            StopReason::EarlyStopping => "early_stopping",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    /// Mean loss over the epoch's training batches.
    pub train_loss: f64,
    /// Mean loss over the held-out rows, when validation_fraction > 0.
    pub validation_loss: Option<f64>,
    pub seconds: f64,
    /// The optimizer's learning rate in this epoch (after the schedule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    /// Training rows a second in this epoch (reading included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples_per_second: Option<f64>,
}
