//! Fits sharded in rounds (the randomized PCA solver, whose every pass multiplies the
//! rows by the basis the pass before made). Round 0 is the column pass; round R ≥ 1 is
//! the pass after it. In each round every shard fits its rows from the state the last
//! merge left (`dimred run --shard`), and `dimred merge` sums the shards' partials and
//! either writes the state the next round starts from, `output.dir/rounds/round-R.npz`,
//! or, after the last round, the model.
//!
//! A round file is stamped with the pipeline's fingerprint (features, missing-value
//! policy and steps, so the seed), its number and a hash of its arrays (the basis); a
//! shard's partial carries the number and hash of the round it fitted, so the merge
//! takes only partials of the round it is merging.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::saved::{Partial, RoundStamp};
use crate::engine::PassReport;
use crate::error::{Error, Result};
use crate::sink::{prepare_dir, write_atomic};
use crate::steps::PartialState;
use crate::steps::state::{decode, encode, is_binary};

pub const ROUNDS_DIR: &str = "rounds";
pub const ROUND_FORMAT: &str = "dimred-round/1";

/// The state a round starts from, and what the rounds before it read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Round {
    pub format: String,
    pub dimred_version: String,
    pub pipeline: String,
    /// 1, 2, …: the round this state starts.
    pub number: usize,
    /// `basis_hash` of `state`.
    pub basis: String,
    /// The column pass's rows (report.json's `rows_read` and `n_samples`).
    pub rows_read: u64,
    pub rows_kept: u64,
    /// Every shard's pass of the rounds before, for report.json's `passes`.
    pub passes: Vec<PassReport>,
    pub state: PartialState,
}

impl Round {
    pub fn stamp(&self) -> RoundStamp {
        RoundStamp {
            number: self.number,
            basis: self.basis.clone(),
        }
    }

    pub fn write(mut self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            prepare_dir(dir)?;
        }
        let arrays = std::mem::take(&mut self.state.arrays);
        write_atomic(path, &encode(&self, arrays))
    }

    /// Reads and checks a round file: format, version, and this pipeline.
    fn load(path: &Path, fingerprint: &str) -> Result<Round> {
        let named = |what: String| Error::config(format!("{}: {what}", path.display()));
        let damaged = |why: String| {
            named(format!(
                "a damaged round file ({why}): delete it and run dimred merge again (the round before's partials make it anew)"
            ))
        };
        let bytes = std::fs::read(path).map_err(|e| Error::io("read round file", path, e))?;
        if !is_binary(&bytes) {
            return Err(damaged("not an .npz archive".into()));
        }
        let (header, arrays) = decode(&bytes).map_err(damaged)?;
        let mut round: Round = serde_json::from_str(&header)
            .map_err(|e| damaged(format!("not a dimred round: {e}")))?;
        round.state.arrays = arrays;
        if round.format != ROUND_FORMAT {
            return Err(named(format!(
                "format '{}' is not '{ROUND_FORMAT}'",
                round.format
            )));
        }
        if round.dimred_version != env!("CARGO_PKG_VERSION") {
            return Err(named(format!(
                "written by dimred {}, this is {}: delete {} and start the fit afresh",
                round.dimred_version,
                env!("CARGO_PKG_VERSION"),
                path.parent().unwrap_or(path).display()
            )));
        }
        if round.state.fingerprint != fingerprint {
            return Err(named(format!(
                "is a round of another pipeline (its features, missing-value policy or steps, such as the seed, differ): delete {} to start this fit afresh",
                path.parent().unwrap_or(path).display()
            )));
        }
        if basis_hash(&round.state) != round.basis {
            return Err(damaged("its arrays do not match their hash".into()));
        }
        Ok(round)
    }
}

/// Identifies a round's state: FNV-1a over its arrays' bits.
pub fn basis_hash(state: &PartialState) -> String {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for v in state.arrays.iter().flatten() {
        for b in v.to_bits().to_le_bytes() {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// `DIR/rounds/round-R.npz`.
pub fn round_path(output_dir: &Path, number: usize) -> PathBuf {
    output_dir
        .join(ROUNDS_DIR)
        .join(format!("round-{number}.npz"))
}

/// The round under way: the highest-numbered round file, checked, or None before the
/// first merge (round 0, the column pass).
pub fn current(output_dir: &Path, fingerprint: &str) -> Result<Option<Round>> {
    let dir = output_dir.join(ROUNDS_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read round files in", &dir, e)),
    };
    let last = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.strip_prefix("round-")?
                .strip_suffix(".npz")?
                .parse::<usize>()
                .ok()
        })
        .max();
    match last {
        None => Ok(None),
        Some(number) => {
            let path = round_path(output_dir, number);
            let round = Round::load(&path, fingerprint)?;
            if round.number != number {
                return Err(Error::config(format!(
                    "{}: holds round {}, not the {number} its name says",
                    path.display(),
                    round.number
                )));
            }
            Ok(Some(round))
        }
    }
}

/// A partial of the round `stamp` (number and basis), or why not, in one line.
pub fn check_partial(partial: &Partial, stamp: &RoundStamp, path: &Path) -> Result<()> {
    let shard = format!("--shard {}/{}", partial.shard, partial.shards);
    let named = |what: String| Err(Error::config(format!("{}: {what}", path.display())));
    match &partial.round {
        None => named(format!(
            "is not a partial of a fit in rounds: rerun the shard (dimred run PIPELINE {shard})"
        )),
        Some(r) if r.number < stamp.number => named(format!(
            "is of round {}, a stale round (the fit is at round {}): rerun the shard (dimred run PIPELINE {shard})",
            r.number, stamp.number
        )),
        Some(r) if r.number > stamp.number => named(format!(
            "is of round {}, but the round file {} it started from is missing: start the fit afresh (delete partials/ and rounds/)",
            r.number,
            round_path(Path::new(""), r.number).display()
        )),
        Some(r) if r.basis != stamp.basis => named(format!(
            "was fitted from another round-{} state than {} (a round file written again since): rerun the shard (dimred run PIPELINE {shard})",
            r.number,
            round_path(Path::new(""), r.number).display()
        )),
        Some(_) => Ok(()),
    }
}

/// Deletes the round files once the model is written: the next fit starts at round 0.
pub fn clear(output_dir: &Path) -> Result<()> {
    let dir = output_dir.join(ROUNDS_DIR);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove the finished fit's round files", &dir, e)),
    }
}
