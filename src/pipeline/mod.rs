//! The commands' orchestration: `run` (fit, output pass, model and report) and
//! `transform` (a saved model on new data). Short and top-down; the work is in the
//! engine, the steps and the writers.

mod fit;
mod run;
mod transform;

pub use run::{RunOptions, RunOutcome, run};
pub use transform::{TransformOptions, transform};
