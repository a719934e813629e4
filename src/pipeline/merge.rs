//! `dimred merge`: the reduce of a sharded fit. It checks that all N partials of this
//! pipeline are there, merges them in shard order (whatever order they finished in), and
//! either saves the next round's start (a fit in rounds) or finishes the fit and writes
//! the model and the report as `run` does, without the output pass.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::RunOptions;
use super::fit::{Fitted, first_input};
use super::remote;
use super::rounds::{self, Round};
use super::run::{RunOutcome, finish};
use super::saved::{FitState, Partial, Partition, RoundStamp, in_state_file, state_path, utc_now};
use super::shard::{PARTIALS_DIR, in_rounds, missing_mode, resume_round, stamp, start_merge};
use crate::config::{Plan, RawPipeline};
use crate::engine::PassStats;
use crate::error::{Error, Result};
use crate::sink::lock::OutputLock;
use crate::sink::remove_stale_temporaries;
use crate::steps::{FittedPipeline, MergeFit};

/// The partials' files in `dir`, checked by name: one shard count, every shard once. In
/// shard order; their contents are checked as each is read (`load_partial`).
fn list_partials(dir: &Path) -> Result<Vec<PathBuf>> {
    let no_partials = || {
        Error::config(format!(
            "no partial states in {}: run the shards first (dimred run PIPELINE --shard I/N)",
            dir.display()
        ))
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(no_partials()),
        Err(e) => return Err(Error::io("read partial states in", dir, e)),
    };
    let mut found: Vec<(usize, usize, PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = name
            .strip_prefix("shard-")
            .and_then(|r| r.strip_suffix(".json"))
        else {
            continue;
        };
        if let Some((i, n)) = rest.split_once("-of-")
            && let (Ok(i), Ok(n)) = (i.parse::<usize>(), n.parse::<usize>())
        {
            found.push((i, n, entry.path()));
        }
    }
    if found.is_empty() {
        return Err(no_partials());
    }
    let mut counts: Vec<usize> = found.iter().map(|f| f.1).collect();
    counts.sort_unstable();
    counts.dedup();
    if counts.len() > 1 {
        return Err(Error::config(format!(
            "{} holds partial states of different shard counts ({}): remove the stale ones",
            dir.display(),
            counts
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let n = counts[0];
    found.sort();
    let missing: Vec<String> = (0..n)
        .filter(|i| !found.iter().any(|f| f.0 == *i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(Error::config(format!(
            "{}: shard(s) {} of {n} have no partial state yet: run them first",
            dir.display(),
            missing.join(", ")
        )));
    }
    Ok(found.into_iter().map(|f| f.2).collect())
}

/// Shard `i` of `n`'s partial, checked: this pipeline, this version, the shard its name says.
fn load_partial(path: &Path, i: usize, n: usize, fingerprint: &str) -> Result<Partial> {
    let partial = Partial::load(path, fingerprint)?;
    if (partial.shard, partial.shards) != (i, n) {
        return Err(Error::config(format!(
            "{}: holds shard {}/{}, not the {i}/{n} its name says",
            path.display(),
            partial.shard,
            partial.shards
        )));
    }
    Ok(partial)
}

/// What a merge made: the model, or (a fit in rounds) the next round's file.
pub enum MergeOutcome {
    Fitted(Box<RunOutcome>),
    /// The round file written, as shown to the user, and its number.
    Round(String, usize),
}

/// `dimred merge`: the shards' partials merged in shard order (after the fit state saved
/// in `with`, an earlier run's or merge's output folder), the fit finished, the model, the
/// report and the merged state written; for a fit in rounds, the round's partials merged
/// and the next round's file or, after the last round, the model written.
pub fn merge(raw: RawPipeline, with: Option<&Path>, options: &RunOptions) -> Result<MergeOutcome> {
    let started = Instant::now();
    let plan = Plan::resolve(raw)?;
    let merged = if in_rounds(&plan) {
        if with.is_some() {
            return Err(Error::config(
                "--with adds new rows to a saved fit state, and a fit in rounds (pca solver: randomized) reads every row in each round: use solver exact or tsqr for scheduled updates",
            ));
        }
        merge_round(&plan, options, started)
    } else {
        merge_plan(&plan, with, options, started).map(|o| MergeOutcome::Fitted(Box::new(o)))
    };
    merged.map_err(|e| remote::named(e, &plan))
}

/// One round's merge: the partials of the round under way summed in shard order, then
/// the next round's file, or the model after the last round.
fn merge_round(plan: &Plan, options: &RunOptions, started: Instant) -> Result<MergeOutcome> {
    let mut state = start_merge(plan)?;
    let input = first_input(plan);
    let before = resume_round(plan, state.as_mut(), &input.fingerprint)?;
    let stamp = stamp(before.as_ref());
    let mut passes = before.as_ref().map_or_else(Vec::new, |r| r.passes.clone());
    let total = merge_round_partials(
        plan,
        state.as_mut(),
        &stamp,
        &input.fingerprint,
        &mut passes,
    )?;
    let first = column_pass_rows(plan, before.as_ref(), &total)?;
    state.end_pass(&total)?;
    if state.next_pass().is_some() {
        let between = state
            .between()
            .ok_or_else(|| Error::internal("a fit in rounds saved no state between passes"))?;
        let round = Round {
            format: rounds::ROUND_FORMAT.into(),
            dimred_version: env!("CARGO_PKG_VERSION").into(),
            pipeline: plan.raw.name.clone(),
            number: stamp.number + 1,
            basis: rounds::basis_hash(&between),
            rows_read: first.rows_read,
            rows_kept: first.rows_kept,
            passes,
            state: between,
        };
        let (number, path) = (
            round.number,
            rounds::round_path(&plan.output_dir, round.number),
        );
        round.write(&path)?;
        return Ok(MergeOutcome::Round(plan.shown(&path), number));
    }
    let mut pipeline = FittedPipeline::default();
    pipeline.push(state.finish()?);
    let fitted = Fitted {
        pipeline,
        first_pass: first,
        state: None,
    };
    let _lock = OutputLock::acquire(&plan.output_dir)?;
    remove_stale_temporaries(&plan.output_dir);
    let missing = missing_mode(plan);
    let outcome = finish(plan, fitted, passes, missing, options.quiet, started, false)?;
    rounds::clear(&plan.output_dir)?;
    Ok(MergeOutcome::Fitted(Box::new(outcome)))
}

/// The round's partials merged into `state` in shard order, one read at a time; each
/// shard's pass added to `passes`. Returns what the round read.
fn merge_round_partials(
    plan: &Plan,
    state: &mut dyn MergeFit,
    stamp: &RoundStamp,
    fingerprint: &str,
    passes: &mut Vec<crate::engine::PassReport>,
) -> Result<PassStats> {
    let pass = state
        .next_pass()
        .ok_or_else(|| Error::internal("a fit in rounds asked for no pass"))?;
    let partials = list_partials(&plan.output_dir.join(PARTIALS_DIR))?;
    let mut total = PassStats::default();
    for (i, path) in partials.iter().enumerate() {
        let p = load_partial(path, i, partials.len(), fingerprint)?;
        rounds::check_partial(&p, stamp, path)?;
        state.merge(&p.state).map_err(|e| in_state_file(e, path))?;
        let stats = PassStats {
            rows_read: p.rows_read,
            rows_kept: p.rows_kept,
            seconds: p.seconds,
            filtered: Vec::new(),
        };
        passes.push(stats.report(&format!(
            "round {} {pass} {}/{}",
            stamp.number, p.shard, p.shards
        )));
        total.rows_read += p.rows_read;
        total.rows_kept += p.rows_kept;
        total.seconds += p.seconds;
    }
    if total.rows_kept == 0 {
        return Err(Error::data(format!(
            "the {} shards of {} read no rows",
            partials.len(),
            plan.dataset.path
        )));
    }
    Ok(total)
}

/// The column pass's rows (report.json's rows and `n_samples`): this round's in round 0,
/// else the round file's, which every later round must have read again.
fn column_pass_rows(plan: &Plan, before: Option<&Round>, total: &PassStats) -> Result<PassStats> {
    match before {
        None => Ok(total.clone()),
        Some(r) if r.rows_kept != total.rows_kept => Err(Error::data(format!(
            "the shards of round {} kept {} rows of {}, the column pass (round 0) {}: the input changed during the fit; delete {} and start afresh",
            r.number,
            total.rows_kept,
            plan.dataset.path,
            r.rows_kept,
            plan.output_dir.join(rounds::ROUNDS_DIR).display()
        ))),
        Some(r) => Ok(PassStats {
            rows_read: r.rows_read,
            rows_kept: r.rows_kept,
            seconds: 0.0,
            filtered: Vec::new(),
        }),
    }
}

fn merge_plan(
    plan: &Plan,
    with: Option<&Path>,
    options: &RunOptions,
    started: Instant,
) -> Result<RunOutcome> {
    let mut state = start_merge(plan)?;
    let input = first_input(plan);
    let partials = list_partials(&remote::fetched(plan, PARTIALS_DIR)?)?;
    let pass = state
        .next_pass()
        .ok_or_else(|| Error::internal("a shardable fit asked for no pass"))?;
    let mut total = PassStats::default();
    let mut passes = Vec::with_capacity(partials.len() + 1);
    let mut partitions = Vec::new();
    if let Some(dir) = with {
        let (local, _fetched) = remote::earlier_output(dir)?;
        let path = state_path(&local);
        if !local.exists() {
            return Err(Error::io(
                "find the earlier output folder (--with)",
                dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
            ));
        }
        if !path.exists() {
            return Err(Error::config(format!(
                "--with {}: no saved fit state ({} is written by a run or merge of a pipeline that shards)",
                dir.display(),
                state_path(dir).display()
            )));
        }
        let old = Partial::load_saved(&path, &input.fingerprint).map_err(|e| {
            let shown = state_path(dir).display().to_string();
            remote::renamed(e, &path.display().to_string(), &shown)
        })?;
        state
            .merge(&old.state)
            .map_err(|e| in_state_file(e, &state_path(dir)))?;
        passes.push(
            PassStats {
                rows_read: old.rows_read,
                rows_kept: old.rows_kept,
                seconds: old.seconds,
                filtered: Vec::new(),
            }
            .report(&format!("{pass} (saved in {})", dir.display())),
        );
        total.rows_read += old.rows_read;
        total.rows_kept += old.rows_kept;
        total.seconds += old.seconds;
        partitions = old.partitions;
    }
    let mut new_rows = 0;
    // one partial read at a time, merged and dropped: two states in memory whatever N
    for (i, path) in partials.iter().enumerate() {
        let p = load_partial(path, i, partials.len(), &input.fingerprint)?;
        state.merge(&p.state).map_err(|e| in_state_file(e, path))?;
        let stats = PassStats {
            rows_read: p.rows_read,
            rows_kept: p.rows_kept,
            seconds: p.seconds,
            filtered: Vec::new(),
        };
        passes.push(stats.report(&format!("{pass} {}/{}", p.shard, p.shards)));
        total.rows_read += p.rows_read;
        total.rows_kept += p.rows_kept;
        total.seconds += p.seconds;
        new_rows += p.rows_kept;
    }
    partitions.push(Partition {
        input: plan.dataset.path.clone(),
        rows: new_rows,
        added: utc_now(),
    });
    let saved = state.save();
    if total.rows_kept == 0 {
        return Err(Error::data(format!(
            "the {} shards of {} read no rows",
            partials.len(),
            plan.dataset.path
        )));
    }
    state.end_pass(&total)?;
    if state.next_pass().is_some() {
        return Err(Error::internal("a shardable fit asked for a second pass"));
    }
    let step = state.finish()?;
    let mut pipeline = FittedPipeline::default();
    pipeline.push(step);
    let fitted = Fitted {
        pipeline,
        first_pass: total,
        state: Some(FitState {
            state: saved,
            partitions,
        }),
    };
    remote::prepare_output(plan)?;
    let _lock = OutputLock::acquire(&plan.output_dir)?;
    remove_stale_temporaries(&plan.output_dir);
    let missing = missing_mode(plan);
    let outcome = finish(plan, fitted, passes, missing, options.quiet, started, false)?;
    remote::publish(plan)?;
    Ok(outcome)
}
