//! Fit states on disk: a shard's partial (`partials/shard-I-of-N.json`) and the merged
//! state a run or a merge keeps beside its model (`state/fit.json`), in one versioned
//! format, so that a later `dimred merge --with DIR` adds new partitions to a model
//! without refitting the old ones.
//!
//! The files keep their names (scripts test for `state/fit.json`) and hold an `.npz`
//! archive (`dimred-partial/2`: a JSON `header` member and the arrays as float64 `.npy`
//! members, see `steps::state`). A state of the all-JSON `dimred-partial/1` format, written
//! before the arrays became binary, still loads: the first bytes say which it is.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sink::{prepare_dir, write_atomic};
use crate::steps::PartialState;
use crate::steps::state::{decode, encode, is_binary};

pub const PARTIAL_FORMAT: &str = "dimred-partial/2";
/// The all-JSON format, still read.
pub const PARTIAL_FORMAT_JSON: &str = "dimred-partial/1";
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
    /// The round of a fit sharded in rounds (the randomized solver's), absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<RoundStamp>,
    /// The inputs merged into this state, oldest first (the merged state only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<Partition>,
    pub state: PartialState,
}

/// Which round a partial belongs to: its number and the hash of the basis it multiplied
/// (`pipeline::rounds`), so a shard of a stale round is never merged into the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundStamp {
    pub number: usize,
    pub basis: String,
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
    /// Reads and checks a shard's partial: the format, this dimred's version (the shards
    /// of one fit run one binary), and the pipeline's fingerprint (its features,
    /// missing-value policy and steps).
    pub fn load(path: &Path, fingerprint: &str) -> Result<Partial> {
        Partial::read(path, fingerprint, true)
    }

    /// Reads and checks a saved fit state (`merge --with`): as `load`, but written by any
    /// dimred version whose format this one reads (`dimred-partial/1` or `/2`), so that a
    /// scheduled update survives an upgrade: the format, not the binary, says what the
    /// numbers mean.
    pub fn load_saved(path: &Path, fingerprint: &str) -> Result<Partial> {
        Partial::read(path, fingerprint, false)
    }

    fn read(path: &Path, fingerprint: &str, same_version: bool) -> Result<Partial> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("read fit state", path, e))?;
        let named = |what: String| Error::config(format!("{}: {what}", path.display()));
        let (partial, expected) = if is_binary(&bytes) {
            let (header, arrays) = decode(&bytes)
                .map_err(|e| named(format!("a damaged fit state ({e}): write it again")))?;
            drop(bytes);
            let mut partial: Partial = serde_json::from_str(&header)
                .map_err(|e| named(format!("not a dimred fit state: {e}")))?;
            partial.state.arrays = arrays;
            (partial, PARTIAL_FORMAT)
        } else {
            let partial: Partial = serde_json::from_slice(&bytes)
                .map_err(|e| named(format!("not a dimred fit state: {e}")))?;
            (partial, PARTIAL_FORMAT_JSON)
        };
        if partial.format != expected {
            return Err(named(format!(
                "format '{}' is not '{expected}'",
                partial.format
            )));
        }
        if same_version && partial.dimred_version != env!("CARGO_PKG_VERSION") {
            return Err(named(format!(
                "written by dimred {}, this is {}: refit it",
                partial.dimred_version,
                env!("CARGO_PKG_VERSION")
            )));
        }
        if partial.state.fingerprint != fingerprint {
            return Err(named(
                "was fitted for another pipeline (its features, missing-value policy or steps, such as a seed, differ)"
                    .into(),
            ));
        }
        Ok(partial)
    }

    pub fn write(mut self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            prepare_dir(dir)?;
        }
        let arrays = std::mem::take(&mut self.state.arrays);
        write_atomic(path, &encode(&self, arrays))
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
    use crate::stats::{Floats, SavedMoments};

    fn partial(state: PartialState, format: &str) -> Partial {
        Partial {
            format: format.into(),
            dimred_version: env!("CARGO_PKG_VERSION").into(),
            pipeline: "p".into(),
            shard: 1,
            shards: 3,
            rows_read: 10,
            rows_kept: 9,
            seconds: 0.5,
            round: None,
            partitions: Vec::new(),
            state,
        }
    }

    /// A PCA fit's partial of the all-JSON format, its state inline.
    fn json_partial(inline: serde_json::Value) -> Partial {
        partial(
            PartialState {
                format: crate::steps::state::STATE_FORMAT.into(),
                kind: "pca".into(),
                pass: "fit".into(),
                fingerprint: "f".into(),
                state: inline,
                arrays: Vec::new(),
            },
            PARTIAL_FORMAT_JSON,
        )
    }

    /// A co-moment state of `p` features with values of every magnitude.
    fn moments(p: usize) -> SavedMoments {
        let mut rng = crate::rng::Rng::new(7);
        let mut values = vec![0.0; p * (p + 1) / 2];
        rng.fill_normal(&mut values);
        for (i, v) in values.iter_mut().enumerate() {
            *v *= 10f64.powi((i % 41) as i32 - 20);
        }
        SavedMoments {
            n: 1234,
            mean: Floats((0..p).map(|i| (i as f64).sqrt() - 1.0 / 3.0).collect()),
            co_moment_lower: Floats(values),
            min: (0..p).map(|i| (i % 3 > 0).then_some(-(i as f64))).collect(),
            max: (0..p).map(|i| Some(i as f64 * 0.1)).collect(),
        }
    }

    #[test]
    fn binary_states_read_back_bit_for_bit_and_json_ones_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let saved = moments(40);
        let bits = |m: &SavedMoments| {
            let b = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            (b(&m.mean), b(&m.co_moment_lower))
        };
        // binary, under the name the file always had
        let path = dir.path().join("fit.json");
        partial(
            PartialState::new("pca", crate::steps::MomentsPass::Fit, "f", &saved),
            PARTIAL_FORMAT,
        )
        .write(&path)
        .unwrap();
        assert!(std::fs::read(&path).unwrap().starts_with(b"PK"));
        let back: SavedMoments = Partial::load(&path, "f")
            .unwrap()
            .state
            .state_of("pca", crate::steps::MomentsPass::Fit, "f")
            .unwrap();
        assert_eq!(bits(&back), bits(&saved));
        assert_eq!(back.min, saved.min);
        // the all-JSON format: arrays inline
        let inline = serde_json::to_value(&saved).unwrap();
        assert!(inline["co_moment_lower"].is_array());
        let old = json_partial(inline);
        let json_path = dir.path().join("old.json");
        std::fs::write(&json_path, serde_json::to_string(&old).unwrap()).unwrap();
        let back: SavedMoments = Partial::load(&json_path, "f")
            .unwrap()
            .state
            .state_of("pca", crate::steps::MomentsPass::Fit, "f")
            .unwrap();
        assert_eq!(bits(&back), bits(&saved));
        // a JSON text claiming the binary format, and the reverse, are refused
        std::fs::write(
            &json_path,
            serde_json::to_string(&partial(old.state.clone(), PARTIAL_FORMAT)).unwrap(),
        )
        .unwrap();
        let err = Partial::load(&json_path, "f").unwrap_err().to_string();
        assert!(err.contains("is not 'dimred-partial/1'"), "{err}");
    }

    /// Size and time of a 10,000-feature exact PCA partial (the co-moment's lower
    /// triangle, 50 million values), all-JSON against binary: docs/cluster.md's table.
    /// `cargo test --lib state_size_and_speed -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement (about 4 GB of memory), not a check"]
    fn state_size_and_speed_json_against_binary() {
        use std::time::Instant;
        let p = 10_000;
        let dir =
            tempfile::tempdir_in(std::env::var("STATE_BENCH_DIR").unwrap_or(".".into())).unwrap();
        let saved = moments(p);
        let secs = |t: Instant| t.elapsed().as_secs_f64();

        // today's writer: the state as a JSON tree, then text
        let path = dir.path().join("json");
        let t = Instant::now();
        let inline = serde_json::to_value(&saved).unwrap();
        let old = json_partial(inline);
        write_atomic(&path, serde_json::to_string(&old).unwrap().as_bytes()).unwrap();
        let json_write = secs(t);
        drop(old);
        let json_size = std::fs::metadata(&path).unwrap().len();
        let t = Instant::now();
        let back: SavedMoments = Partial::load(&path, "f")
            .unwrap()
            .state
            .state_of("pca", crate::steps::MomentsPass::Fit, "f")
            .unwrap();
        let json_read = secs(t);
        assert_eq!(back, saved);
        drop(back);
        std::fs::remove_file(&path).unwrap();

        let path = dir.path().join("npz");
        let t = Instant::now();
        partial(
            PartialState::new("pca", crate::steps::MomentsPass::Fit, "f", &saved),
            PARTIAL_FORMAT,
        )
        .write(&path)
        .unwrap();
        let bin_write = secs(t);
        let bin_size = std::fs::metadata(&path).unwrap().len();
        let t = Instant::now();
        let back: SavedMoments = Partial::load(&path, "f")
            .unwrap()
            .state
            .state_of("pca", crate::steps::MomentsPass::Fit, "f")
            .unwrap();
        let bin_read = secs(t);
        assert_eq!(back, saved);
        println!("| format | size | write | read |");
        println!("|---|---:|---:|---:|");
        println!(
            "| JSON | {:.0} MB | {json_write:.2} s | {json_read:.2} s |",
            json_size as f64 / 1e6
        );
        println!(
            "| binary | {:.0} MB | {bin_write:.2} s | {bin_read:.2} s |",
            bin_size as f64 / 1e6
        );
    }

    #[test]
    fn utc_matches_known_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_169_547), "2026-12-01T23:59:07Z");
    }
}
