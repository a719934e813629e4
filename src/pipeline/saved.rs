//! Fit states on disk: a shard's partial (`partials/shard-I-of-N.json`) and the merged
//! state a run or a merge keeps beside its model (`state/fit.json`), in one versioned
//! format, so that a later `dimred merge --with DIR` adds new partitions to a model
//! without refitting the old ones.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sink::{prepare_dir, write_atomic};
use crate::steps::PartialState;

pub const PARTIAL_FORMAT: &str = "dimred-partial/1";
pub const STATE_DIR: &str = "state";
pub const STATE_FILE: &str = "fit.json";

/// A fit's state as saved: one shard's (`shard` of `shards`) or, in `state/`, the
/// merged state of everything the model has seen (`shard` 0 of 1, with `partitions`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Partial {
    pub format: String,
    pub dimred_version: String,
    pub pipeline: String,
    pub shard: usize,
    pub shards: usize,
    pub rows_read: u64,
    pub rows_kept: u64,
    pub seconds: f64,
    /// The inputs merged into this state, oldest first (the merged state only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<Partition>,
    pub state: PartialState,
}

/// One input a model has seen: its path as written, its rows, and when it was added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partition {
    pub input: String,
    pub rows: u64,
    /// UTC, RFC 3339.
    pub added: String,
}

/// The merged state of a fit and the partitions in it (what `state/fit.json` holds).
#[derive(Debug, Clone)]
pub struct FitState {
    pub state: PartialState,
    pub partitions: Vec<Partition>,
}

impl Partial {
    /// Reads and checks a saved state: the format, this dimred's version, and the
    /// pipeline's fingerprint (its features, missing-value policy and steps).
    pub fn load(path: &Path, fingerprint: &str) -> Result<Partial> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::io("read fit state", path, e))?;
        let partial: Partial = serde_json::from_str(&text).map_err(|e| {
            Error::config(format!("{}: not a dimred fit state: {e}", path.display()))
        })?;
        let named = |what: String| Error::config(format!("{}: {what}", path.display()));
        if partial.format != PARTIAL_FORMAT {
            return Err(named(format!(
                "format '{}' is not '{PARTIAL_FORMAT}'",
                partial.format
            )));
        }
        if partial.dimred_version != env!("CARGO_PKG_VERSION") {
            return Err(named(format!(
                "written by dimred {}, this is {}: refit it",
                partial.dimred_version,
                env!("CARGO_PKG_VERSION")
            )));
        }
        if partial.state.fingerprint != fingerprint {
            return Err(named(
                "was fitted for another pipeline (its features, missing-value policy or steps differ)"
                    .into(),
            ));
        }
        Ok(partial)
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            prepare_dir(dir)?;
        }
        let text = serde_json::to_string(self).expect("a fit state serialises");
        write_atomic(path, text.as_bytes())
    }
}

/// An error met while using the state saved in `path`, naming that file.
pub fn in_state_file(e: Error, path: &Path) -> Error {
    match e {
        Error::Config(text) => Error::Config(format!("{}: {text}", path.display())),
        Error::Data { .. } => e.in_file(path),
        other => other,
    }
}

/// `DIR/state/fit.json`.
pub fn state_path(output_dir: &Path) -> PathBuf {
    output_dir.join(STATE_DIR).join(STATE_FILE)
}

/// Now, as RFC 3339 UTC (`2026-12-01T23:59:07Z`), from the system clock.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}

/// Seconds since 1970 as RFC 3339 UTC, by Hinnant's days-to-civil algorithm.
fn utc(secs: u64) -> String {
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_matches_known_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_169_547), "2026-12-01T23:59:07Z");
    }
}
