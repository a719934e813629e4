//! The commands' orchestration: `run` (fit, output pass, model and report),
//! `transform` (a saved model on new data) and `export` (a saved model as ONNX or .npz). Short and top-down; the work is in the
//! engine, the steps and the writers.

pub mod apply;
pub mod export;
mod fit;
mod merge;
pub mod provenance;
mod remote;
mod rounds;
mod run;
pub mod saved;
pub mod shard;
mod transform;

pub use export::{OnnxOptions, export};
pub use merge::{MergeOutcome, merge};
pub use run::{RunOutcome, run};
pub use shard::run_shard;
pub use transform::{TransformOptions, transform};

/// How `run` behaves beyond the pipeline file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub quiet: bool,
    /// Continue the autoencoder's training from the checkpoint in the output folder.
    pub resume: bool,
}
