//! Fitting a plan: the mean-imputation pass when asked, then each planned step in order,
//! fed the output of the steps fitted before it. The loop knows the lifecycle, not the
//! step kinds: a step says which passes it needs; a driven step reads for itself.

use faer::Mat;

use super::RunOptions;
use super::saved::{FitState, Partition, utc_now};
use crate::chunk::Rows;
use crate::config::{MissingPolicy, Plan};
use crate::engine::spill::{self, SpillWriter};
use crate::engine::{PassReport, PassStats, column_pass, stream};
use crate::error::{Error, Result};
use crate::source::{MissingMode, ReadSpec};
use crate::steps::{DriveContext, Fit, FitStep, FittedPipeline, FittedStep, MergeFit, StepInput};

/// How the reads treat missing values: for `impute_mean`, a first pass learns the means.
pub fn missing_mode(plan: &Plan, quiet: bool, passes: &mut Vec<PassReport>) -> Result<MissingMode> {
    Ok(match plan.missing {
        MissingPolicy::Error => MissingMode::Error,
        MissingPolicy::SkipRow => MissingMode::SkipRow,
        MissingPolicy::ImputeMean => {
            let spec = plan.read_spec(MissingMode::Keep, false);
            let before = plan.rows.counts();
            let (columns, mut stats) = column_pass(&plan.dataset, &spec, "means", quiet)?;
            stats.filtered = filtered(plan, &before);
            no_rows_left(plan, &stats)?;
            passes.push(stats.report("means"));
            let means = columns
                .iter()
                .enumerate()
                .map(|(j, c)| {
                    if c.count == 0 {
                        Err(
                            Error::data("every value is missing, so there is no mean to impute")
                                .at_column(&plan.feature_names[j]),
                        )
                    } else {
                        Ok(c.mean)
                    }
                })
                .collect::<Result<Vec<f64>>>()?;
            MissingMode::Impute(means)
        }
    })
}

/// What fitting produced.
pub struct Fitted {
    pub pipeline: FittedPipeline,
    /// The first fit pass (rows read and kept: report.json's `rows_read`, `rows_skipped`).
    pub first_pass: PassStats,
    /// The merged state of a fit that shards, and the partitions in it (state/fit.json).
    pub state: Option<FitState>,
}

/// The first step's input: the features, and the pipeline's fingerprint that its partial
/// states carry.
pub(super) fn first_input(plan: &Plan) -> StepInput {
    // Not the input's path (partitions of one dataset arrive under new paths) nor its rows
    // per chunk (they change no bit of a fit): the features by name, the missing-value
    // policy and the steps.
    let what = (&plan.feature_names, plan.missing, &plan.raw.steps);
    StepInput {
        names: plan.feature_names.clone(),
        source: plan.dataset.path.clone(),
        total_rows: plan.dataset.total_rows,
        fingerprint: crate::steps::state::fingerprint(
            &serde_json::to_string(&what).expect("the pipeline serialises"),
        ),
        float32: !plan.features.is_empty()
            && plan
                .features
                .iter()
                .all(|&c| plan.dataset.columns.get(c).is_some_and(|c| c.float32)),
    }
}

/// Whether `plan`'s fit is one pass of mergeable statistics, so that it can run as shards
/// and keep its merged state: a single step that shards, without a means pass first.
pub(super) fn shards(plan: &Plan) -> bool {
    plan.missing != MissingPolicy::ImputeMean && matches!(plan.steps.as_slice(), [s] if s.shards())
}

/// Fits every step of `plan`, reading with `spec`.
pub fn fit(
    plan: &Plan,
    spec: &ReadSpec,
    options: &RunOptions,
    passes: &mut Vec<PassReport>,
) -> Result<Fitted> {
    let mut fitted = FittedPipeline::default();
    let mut first_pass = None;
    let mut kept = None;
    let mut input = first_input(plan);
    for planned in &plan.steps {
        let fit = planned.start(&input)?;
        // a fit that shards keeps its merged state, for a later `merge --with`
        let keeps_state = shards(plan);
        let step: Box<dyn FittedStep> = match fit {
            Fit::Merge(mut state) if keeps_state => {
                let mut saved = None;
                stream_passes(
                    plan,
                    spec,
                    planned.label(),
                    options.quiet,
                    &fitted,
                    state.as_mut(),
                    passes,
                    &mut first_pass,
                    &mut |s: &(dyn MergeFit + 'static)| saved = Some(s.save()),
                )?;
                kept = saved.map(|state| FitState {
                    state,
                    partitions: vec![Partition {
                        input: plan.dataset.path.clone(),
                        rows: first_pass.as_ref().map_or(0, |p| p.rows_kept),
                        added: utc_now(),
                    }],
                });
                state.finish()?
            }
            fit => match fit.streamed() {
                Ok(mut state) => {
                    stream_passes(
                        plan,
                        spec,
                        planned.label(),
                        options.quiet,
                        &fitted,
                        state.as_mut(),
                        passes,
                        &mut first_pass,
                        &mut |_| {},
                    )?;
                    state.finish()?
                }
                Err(state) => {
                    let ctx = DriveContext {
                        dataset: &plan.dataset,
                        spec,
                        prefix: &fitted,
                        input: input.clone(),
                        output_dir: &plan.output_dir,
                        quiet: options.quiet,
                        resume: options.resume,
                        raw_input: serde_json::to_value(&plan.raw.input)
                            .expect("the input section serialises"),
                        raw_steps: &plan.raw.steps,
                        memory: plan.memory.as_ref(),
                    };
                    let (step, made) = state.fit(&ctx)?;
                    passes.extend(made);
                    step
                }
            },
        };
        if let Some(n) = step.n_samples() {
            input.total_rows = Some(n);
        }
        let names = step.output_names();
        if !names.is_empty() {
            input.names = names;
        }
        // what a fitted step hands on is computed in f64
        input.float32 = false;
        fitted.push(step);
    }
    Ok(Fitted {
        pipeline: fitted,
        first_pass: first_pass.unwrap_or_default(),
        state: kept,
    })
}

/// Runs the passes a fit asks for, each chunk through the steps fitted before it; with a
/// `label`, that column is read beside the features and handed over as text.
#[allow(clippy::too_many_arguments)]
fn stream_passes<S: FitStep + ?Sized>(
    plan: &Plan,
    spec: &ReadSpec,
    label: Option<&str>,
    quiet: bool,
    prefix: &FittedPipeline,
    state: &mut S,
    passes: &mut Vec<PassReport>,
    first_pass: &mut Option<PassStats>,
    before_end: &mut dyn FnMut(&S),
) -> Result<()> {
    let mut scratch = Mat::zeros(0, 0);
    let mut labelled = spec.clone();
    if let Some(name) = label {
        let column = plan
            .dataset
            .column_index(name)
            .ok_or_else(|| Error::internal("a label column the plan checked is gone"))?;
        labelled.passthrough = vec![column];
    }
    // a fit that reads the rows again keeps them from its first pass (`engine::spill`)
    let mut writer = None;
    let mut spilled = None;
    let mut own_first = true;
    while let Some(pass) = state.next_pass() {
        let cores = rayon::current_num_threads().max(1);
        if let Some(spill) = &spilled {
            state.set_threads(cores);
            let narrow = state.takes_float32();
            let stats = spill::stream(spill, &pass, quiet, narrow, |rows| match rows {
                Rows::F64(x) => state.update(x),
                Rows::F32(x) => state.update32(x),
            })?;
            passes.push(stats.report(&pass));
            before_end(state);
            state.end_pass(&stats)?;
            continue;
        }
        // this step's first pass, whichever step of the pipeline it is
        if std::mem::take(&mut own_first)
            && label.is_none()
            && plan.raw.input.spill
            && state.rereads()
        {
            writer = SpillWriter::create(&plan.output_dir)
                .map_err(|why| keep_decoding(&why, quiet))
                .ok();
        }
        state.set_threads((cores - 1).max(1));
        let before = plan.rows.counts();
        let mut stats = stream(&plan.dataset, &labelled, &pass, quiet, |chunk| {
            let x = chunk.features.as_ref();
            let forwarded;
            let x = if prefix.steps.is_empty() {
                x
            } else {
                forwarded = prefix.forward(x, &mut scratch);
                forwarded.as_ref()
            };
            if let Some(w) = &mut writer {
                w.push(x, chunk.rows_read);
            }
            match label {
                Some(name) => match labels(chunk, name, plan)? {
                    (labels, None) => {
                        let at: Vec<u64> =
                            (0..labels.len()).map(|i| chunk.row_index(i) + 1).collect();
                        state.update_labelled(x, &labels, &at)
                    }
                    (labels, Some(rows)) => {
                        let kept = Mat::from_fn(rows.len(), x.ncols(), |i, j| x[(rows[i], j)]);
                        let at: Vec<u64> = rows.iter().map(|&i| chunk.row_index(i) + 1).collect();
                        state.update_labelled(kept.as_ref(), &labels, &at)
                    }
                },
                None => state.update(x),
            }
        })?;
        if let Some(w) = writer.take() {
            spilled = w.finish().map_err(|why| keep_decoding(&why, quiet)).ok();
        }
        passes.push(stats.report(&pass));
        if first_pass.is_none() {
            stats.filtered = filtered(plan, &before);
            no_rows_left(plan, &stats)?;
        }
        first_pass.get_or_insert_with(|| stats.clone());
        before_end(state);
        state.end_pass(&stats)?;
    }
    Ok(())
}

/// A spill file that could not be kept costs speed, not the run: said in one line.
fn keep_decoding(why: &str, quiet: bool) {
    if !quiet {
        eprintln!(
            "note: could not keep the first pass's rows in a local file ({why}); later passes decode the input again"
        );
    }
}

/// Each filter's rows in and out since `before` (its counts then).
fn filtered(plan: &Plan, before: &[(u64, u64)]) -> Vec<(u64, u64)> {
    plan.rows
        .counts()
        .iter()
        .zip(before)
        .map(|(after, before)| (after.0 - before.0, after.1 - before.1))
        .collect()
}

/// A filter that kept no row is said by name, rather than as an empty input.
fn no_rows_left(plan: &Plan, stats: &PassStats) -> Result<()> {
    if stats.rows_kept > 0 || stats.rows_read == 0 {
        return Ok(());
    }
    let Some((filter, (rows_in, _))) = plan
        .rows
        .filters
        .iter()
        .zip(&stats.filtered)
        .find(|(_, (_, out))| *out == 0)
    else {
        return Ok(());
    };
    Err(Error::data(format!(
        "steps[{}].filter '{}' kept none of the {rows_in} rows it was given (of {} read from {}); there is nothing to fit",
        filter.step, filter.text, stats.rows_read, plan.dataset.path
    )))
}

/// A chunk's labels as text. A missing label (null, NaN, a missing-value marker) follows
/// `input.missing`: under `error` it is a data error naming its row and column; under
/// `skip_row` and `impute_mean` (a class cannot be imputed) the row is left out of the
/// labelled fit, and the rows kept are returned beside their labels.
fn labels(
    chunk: &crate::chunk::Chunk,
    name: &str,
    plan: &Plan,
) -> Result<(Vec<String>, Option<Vec<usize>>)> {
    let batch = chunk
        .passthrough
        .as_ref()
        .ok_or_else(|| Error::internal("a labelled pass read no label column"))?;
    let values = crate::source::labels::label_values(batch.column(0), name)?;
    if values.iter().all(Option::is_some) {
        return Ok((values.into_iter().flatten().collect(), None));
    }
    if plan.missing == MissingPolicy::Error {
        let i = values.iter().position(Option::is_none).unwrap_or(0);
        return Err(Error::data(format!(
            "label column '{name}' has a missing value in data row {}; every row needs a class (or set input.missing: skip_row to leave such rows out of the fit)",
            chunk.row_index(i) + 1
        )));
    }
    let rows: Vec<usize> = (0..values.len()).filter(|&i| values[i].is_some()).collect();
    Ok((values.into_iter().flatten().collect(), Some(rows)))
}
