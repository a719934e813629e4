//! Pipeline steps. Each step kind has checked parameters (in `config`), a fitting state
//! fed by the chunk stream, and a fitted model that transforms chunks, so an unfitted
//! step cannot be applied. Fit statistics are mergeable (`stats::Moments`), which is
//! what lets a shard's fit combine with another's.

pub mod autoencoder;
pub mod chain;
pub mod pca;
pub mod random_projection;
pub mod scale;
