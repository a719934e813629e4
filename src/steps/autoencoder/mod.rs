//! The autoencoder step: a list of layers (dense, convolutional, pooling, reshaping)
//! trained to reproduce its input through a narrow code. `net` holds the layers, the
//! network and its saved form, `optim` the optimizers, `schedule` the learning-rate
//! schedules, `train` the mini-batch training streamed from disk epoch by epoch.

pub mod export;
pub mod history;
pub mod infer;
pub mod keys;
pub mod net;
pub mod optim;
pub mod packed;
pub mod params;
pub mod schedule;
pub mod step;
pub mod train;

pub use net::saved::{SavedLayer, SavedNetwork};
pub use net::{Network, Workspace};

/// The step kind's registration (`steps::registry!`).
pub struct Kind;

impl crate::steps::StepKind for Kind {
    type Params = Box<params::AutoencoderParams>;
    fn plan(params: &Self::Params) -> Box<dyn crate::steps::PlannedStep> {
        Box::new(step::PlannedAutoencoder::new((**params).clone()))
    }
    fn load(
        model: &serde_json::Map<String, serde_json::Value>,
        input: usize,
    ) -> crate::error::Result<Box<dyn crate::steps::FittedStep>> {
        step::FittedAutoencoder::from_model(model, input).map(|s| Box::new(s) as _)
    }
}
