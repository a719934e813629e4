//! Sharded fits for cluster job arrays: a map and a reduce. `dimred run --shard I/N`
//! reads only shard I's part of the input (`source::Shard`), fits it, and saves the
//! fit's partial state to `output.dir/partials/` and nothing else; `dimred merge` checks
//! that all N partials of this pipeline are there, merges them in shard order (whatever
//! order they finished in), finishes the fit and writes the model and the report as
//! `run` does, without the output pass (`dimred transform --shard` makes that, in
//! pieces). A fit that is one pass of mergeable statistics shards (exact and TSQR PCA);
//! one whose passes each start from the merged pass before runs as rounds of shards and
//! merges (randomized PCA, `rounds`); the others are refused before reading.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::RunOptions;
use super::fit::{Fitted, first_input};
use super::remote;
use super::rounds::{self, Round};
use super::run::{RunOutcome, finish};
use super::saved::{
    FitState, PARTIAL_FORMAT, Partial, Partition, RoundStamp, in_state_file, state_path, utc_now,
};
use crate::config::{MissingPolicy, Plan, RawPipeline};
use crate::engine::{PassStats, stream};
use crate::error::{Error, Result};
use crate::sink::lock::OutputLock;
use crate::sink::{prepare_dir, remove_stale_temporaries};
use crate::source::{MissingMode, Shard};
use crate::steps::{Fit, FittedPipeline, MergeFit};

pub const PARTIALS_DIR: &str = "partials";

/// The environment variable that gives a Kubernetes Indexed Job's shard count
/// (`JOB_COMPLETION_INDEX` gives the index; Kubernetes has no variable for the count).
pub const SHARDS_ENV: &str = "DIMRED_SHARDS";

/// `I/N` (0 ≤ I < N), or `auto`: from a Slurm job array (`SLURM_ARRAY_TASK_ID` −
/// `SLURM_ARRAY_TASK_MIN` of `SLURM_ARRAY_TASK_COUNT`) or a Kubernetes Indexed Job
/// (`JOB_COMPLETION_INDEX` of `DIMRED_SHARDS`).
pub fn parse_shard(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Shard> {
    if text == "auto" {
        return shard_from_env(env);
    }
    let bad = || {
        Error::config(format!(
            "--shard {text}: write I/N with 0 ≤ I < N (such as 0/4), or auto inside a Slurm job array or a Kubernetes Indexed Job"
        ))
    };
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let index: usize = i.trim().parse().map_err(|_| bad())?;
    let count: usize = n.trim().parse().map_err(|_| bad())?;
    if count == 0 || index >= count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

fn shard_from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Shard> {
    let number = |name: &str| -> Result<Option<usize>> {
        match env(name) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                Error::config(format!("--shard auto: {name}={v} is not a whole number"))
            }),
        }
    };
    let (index, count) = if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
        let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let count = number("SLURM_ARRAY_TASK_COUNT")?.ok_or_else(|| {
            Error::config(
                "--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not",
            )
        })?;
        (
            id.checked_sub(min).ok_or_else(|| {
                Error::config(format!(
                    "--shard auto: SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}"
                ))
            })?,
            count,
        )
    } else if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        let count = number(SHARDS_ENV)?.ok_or_else(|| {
            Error::config(format!(
                "--shard auto: in a Kubernetes Indexed Job set {SHARDS_ENV} to the job's completions"
            ))
        })?;
        (index, count)
    } else {
        return Err(Error::config(
            "--shard auto: not inside a Slurm job array (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX); give --shard I/N",
        ));
    };
    if count == 0 || index >= count {
        return Err(Error::config(format!(
            "--shard auto: shard {index} of {count} from the environment is out of range (array indices must be consecutive)"
        )));
    }
    Ok(Shard { index, count })
}

/// The read's missing-value mode (`sharded_step` refuses `impute_mean`, whose means
/// would need a pass over every shard first).
fn missing_mode(plan: &Plan) -> MissingMode {
    match plan.missing {
        MissingPolicy::SkipRow => MissingMode::SkipRow,
        _ => MissingMode::Error,
    }
}

/// `partials/shard-I-of-N.json`.
pub fn partial_path(output_dir: &Path, shard: Shard) -> PathBuf {
    output_dir
        .join(PARTIALS_DIR)
        .join(format!("shard-{}-of-{}.json", shard.index, shard.count))
}

/// The one step a sharded pipeline fits, or why it cannot be sharded.
fn sharded_step(plan: &Plan) -> Result<&dyn crate::steps::PlannedStep> {
    let refuse = |why: String| {
        Err(Error::config(format!(
            "this pipeline cannot be sharded: {why}; a sharded fit is mergeable statistics: a pca step with solver exact or tsqr (one pass) or randomized (in rounds), after an optional scale step"
        )))
    };
    if super::fit::shards(plan) || in_rounds(plan) {
        return Ok(plan.steps[0].as_ref());
    }
    if plan.missing == MissingPolicy::ImputeMean {
        return refuse("input.missing: impute_mean needs a pass of its own first".into());
    }
    match plan.steps.as_slice() {
        [step] => refuse(format!(
            "its {} step{} needs passes in order or cannot merge",
            step.kind(),
            if step.kind() == "pca" {
                " (with this solver)"
            } else {
                ""
            }
        )),
        steps => refuse(format!(
            "it fits {} steps one after another ({})",
            steps.len(),
            steps
                .iter()
                .map(|s| s.kind())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Whether `plan`'s fit shards in rounds (`PlannedStep::rounds`).
fn in_rounds(plan: &Plan) -> bool {
    plan.missing != MissingPolicy::ImputeMean && matches!(plan.steps.as_slice(), [s] if s.rounds())
}

/// For a fit in rounds, the round under way (None: the column pass), the fit resumed from
/// it. Round files live in a folder every shard sees, not in object storage.
fn resume_round(plan: &Plan, state: &mut dyn MergeFit, fingerprint: &str) -> Result<Option<Round>> {
    if plan.output_url.is_some() {
        return Err(Error::config(
            "a fit in rounds (pca solver: randomized) keeps its round files in output.dir, which must be a folder every shard sees, not object storage",
        ));
    }
    let round = rounds::current(&plan.output_dir, fingerprint)?;
    if let Some(round) = &round {
        state
            .resume(&round.state)
            .map_err(|e| in_state_file(e, &rounds::round_path(&plan.output_dir, round.number)))?;
    }
    Ok(round)
}

/// The stamp of the round under way (round 0 has no state to hash).
fn stamp(round: Option<&Round>) -> RoundStamp {
    round.map_or_else(
        || RoundStamp {
            number: 0,
            basis: String::new(),
        },
        Round::stamp,
    )
}

fn start_merge(plan: &Plan) -> Result<Box<dyn MergeFit>> {
    match sharded_step(plan)?.start(&first_input(plan))? {
        Fit::Merge(state) => Ok(state),
        _ => Err(Error::internal(
            "a shardable step did not start a mergeable fit",
        )),
    }
}

/// `dimred run --shard`: fits this shard's part and saves the partial state.
pub fn run_shard(raw: RawPipeline, shard: Shard, options: &RunOptions) -> Result<String> {
    let plan = Plan::resolve(raw)?;
    fit_shard(&plan, shard, options).map_err(|e| remote::named(e, &plan))
}

fn fit_shard(plan: &Plan, shard: Shard, options: &RunOptions) -> Result<String> {
    let mut state = start_merge(plan)?;
    let round = if in_rounds(plan) {
        let fingerprint = first_input(plan).fingerprint;
        Some(stamp(
            resume_round(plan, state.as_mut(), &fingerprint)?.as_ref(),
        ))
    } else {
        None
    };
    remote::prepare_output(plan)?;
    prepare_dir(&plan.output_dir.join(PARTIALS_DIR))?;
    let mut spec = plan.read_spec(missing_mode(plan), false);
    spec.shard = Some(shard);
    let pass = state
        .next_pass()
        .ok_or_else(|| Error::internal("a shardable fit asked for no pass"))?;
    let label = match &round {
        Some(r) => format!("round {} {pass} {shard}", r.number),
        None => format!("{pass} {shard}"),
    };
    let stats = stream(&plan.dataset, &spec, &label, options.quiet, |chunk| {
        state.update(chunk.features.as_ref())
    })?;
    let partial = Partial {
        format: PARTIAL_FORMAT.into(),
        dimred_version: env!("CARGO_PKG_VERSION").into(),
        pipeline: plan.raw.name.clone(),
        shard: shard.index,
        shards: shard.count,
        rows_read: stats.rows_read,
        rows_kept: stats.rows_kept,
        seconds: stats.seconds,
        round,
        partitions: Vec::new(),
        state: state.save(),
    };
    let path = partial_path(&plan.output_dir, shard);
    partial.write(&path)?;
    remote::publish(plan)?;
    Ok(plan.shown(&path))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn shards_parse_from_flags_and_schedulers() {
        let none = env(&[]);
        assert_eq!(
            parse_shard("2/5", &none).unwrap(),
            Shard { index: 2, count: 5 }
        );
        for bad in ["5/5", "1/0", "a/3", "3", "-1/3"] {
            assert!(parse_shard(bad, &none).is_err(), "{bad}");
        }
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "12"),
            ("SLURM_ARRAY_TASK_MIN", "10"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]);
        assert_eq!(
            parse_shard("auto", &slurm).unwrap(),
            Shard { index: 2, count: 4 }
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "3"), ("DIMRED_SHARDS", "8")]);
        assert_eq!(
            parse_shard("auto", &k8s).unwrap(),
            Shard { index: 3, count: 8 }
        );
        let err = parse_shard("auto", &none).unwrap_err().to_string();
        assert!(err.contains("not inside a Slurm job array"), "{err}");
        let half = env(&[("JOB_COMPLETION_INDEX", "3")]);
        assert!(
            parse_shard("auto", &half)
                .unwrap_err()
                .to_string()
                .contains("DIMRED_SHARDS")
        );
    }

    #[test]
    fn shard_ranges_cover_every_unit_once_in_order() {
        for units in [0usize, 1, 5, 19, 64] {
            for count in 1..=7 {
                let mut next = 0;
                for index in 0..count {
                    let r = Shard { index, count }.range(units);
                    assert_eq!(r.start, next);
                    next = r.end;
                }
                assert_eq!(next, units);
            }
        }
    }
}
