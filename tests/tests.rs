//! End-to-end tests: each runs the `dimred` binary on files, as a user would.

mod cli;
