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

use super::RunOptions;
use super::fit::first_input;
use super::remote;
use super::rounds::{self, Round};
use super::saved::{PARTIAL_FORMAT, Partial, RoundStamp, in_state_file};
use crate::config::{MissingPolicy, Plan, RawPipeline};
use crate::engine::stream;
use crate::error::{Error, Result};
use crate::sink::prepare_dir;
use crate::source::{MissingMode, Shard};
use crate::steps::{Fit, MergeFit};

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
pub(super) fn missing_mode(plan: &Plan) -> MissingMode {
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
            "this pipeline cannot be sharded: {why}; a sharded fit is one step of mergeable statistics: pca with solver exact or tsqr (one pass) or randomized (in rounds), or truncated_svd with solver exact, after an optional scale step"
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
            if matches!(step.kind(), "pca" | "truncated_svd") {
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
pub(super) fn in_rounds(plan: &Plan) -> bool {
    plan.missing != MissingPolicy::ImputeMean && matches!(plan.steps.as_slice(), [s] if s.rounds())
}

/// For a fit in rounds, the round under way (None: the column pass), the fit resumed from
/// it. Round files live in a folder every shard sees, not in object storage.
pub(super) fn resume_round(
    plan: &Plan,
    state: &mut dyn MergeFit,
    fingerprint: &str,
) -> Result<Option<Round>> {
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
pub(super) fn stamp(round: Option<&Round>) -> RoundStamp {
    round.map_or_else(
        || RoundStamp {
            number: 0,
            basis: String::new(),
        },
        Round::stamp,
    )
}

pub(super) fn start_merge(plan: &Plan) -> Result<Box<dyn MergeFit>> {
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
