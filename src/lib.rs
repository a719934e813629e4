//! dimred: out-of-core dimensionality reduction. A declarative pipeline reads Parquet or
//! CSV in chunks, streams them through bounded channels into the fitters (scaling, PCA,
//! random projection, autoencoders) and writes the reduced rows, a report and a portable
//! model, with memory bounded by the chunk size rather than by the data.
//!
//! The modules follow the data's path: `config` → `source` → `engine` → `steps` →
//! `pipeline` → `sink` / `report` / `model` (docs/architecture.md has the map).

// `cli.rs` names this crate `dimred::`, as the binary and the Python module see it.
extern crate self as dimred;

pub mod blocks;
pub mod chunk;
pub mod cli;
pub mod cloud;
pub mod command;
pub mod config;
pub mod embed;
pub mod engine;
pub mod error;
pub mod evaluate;
pub mod generate;
pub mod model;
pub mod npz;
pub mod onnx;
pub mod pipeline;
pub mod progress;
#[cfg(feature = "python")]
pub mod python;
pub mod report;
pub mod rng;
pub mod scan;
pub mod simd;
pub mod sink;
pub mod source;
pub mod stats;
pub mod steps;

pub use config::{Plan, RawPipeline, apply_overrides};
pub use error::{Error, Result};
pub use pipeline::{
    MergeOutcome, OnnxOptions, RunOptions, RunOutcome, TransformOptions, export, merge, run,
    run_shard, transform,
};
