mod bad_input;
mod chunking;
mod commands;
mod common;
mod memory;
mod pipelines;
mod reference;
mod transform;
