//! `dimred run`, top-down: resolve the plan, fit its steps, make the output pass, write
//! model.json, report.json and the report's page. Each stage lives in its own function
//! and knows the steps only through their lifecycle.

use std::time::Instant;

use faer::{Mat, MatRef};
use serde_json::{Map, Value, json};

use super::RunOptions;
use super::export::{self, OnnxOptions};
use super::fit::{self, Fitted};
use super::provenance;
use super::remote;
use super::saved::{PARTIAL_FORMAT, Partial, state_path};
use crate::config::{OnnxDtype, Plan, RawPipeline};
use crate::engine::{PassReport, stream, write_chunks};
use crate::error::{Error, Result};
use crate::model::{Header, Model};
use crate::report::collect::{Collected, Collector, report_paths, write_report_files};
use crate::report::sample::Loadings;
use crate::report::{
    ErrorStats, ErrorSummary, FilterReport, InputReport, Report, peak_rss_bytes, table,
};
use crate::sink::lock::OutputLock;
use crate::sink::parquet::ParquetSink;
use crate::sink::{OutputSet, SUCCESS, remove_stale_temporaries, write_atomic};
use crate::source::MissingMode;
use crate::steps::fitted::SCORE_COLUMN;
use crate::steps::{FittedPipeline, RunFacts};

pub struct RunOutcome {
    pub report: Report,
    pub table: String,
}

/// Runs a pipeline: the fit passes of its steps, the output pass, then model and report.
pub fn run(raw: RawPipeline, options: &RunOptions) -> Result<RunOutcome> {
    let started = Instant::now();
    let plan = Plan::resolve(raw)?;
    if options.resume && plan.output_url.is_some() {
        return Err(Error::config(
            "--resume continues from the checkpoint in a local output.dir; with object storage, run into a local folder",
        ));
    }
    fit_and_finish(&plan, options, started).map_err(|e| remote::named(e, &plan))
}

fn fit_and_finish(plan: &Plan, options: &RunOptions, started: Instant) -> Result<RunOutcome> {
    remote::prepare_output(plan)?;
    let _lock = OutputLock::acquire(&plan.output_dir)?;
    remove_stale_temporaries(&plan.output_dir);
    let mut passes = Vec::new();
    let missing = fit::missing_mode(plan, options.quiet, &mut passes)?;
    let spec = plan.read_spec(missing.clone(), false);
    let fitted = fit::fit(plan, &spec, options, &mut passes)?;
    let outcome = finish(plan, fitted, passes, missing, options.quiet, started, true)?;
    remote::publish(plan)?;
    Ok(outcome)
}

/// After the fit: the output pass (when `output_pass`; `merge` leaves it to the shards'
/// `transform`), then model.json, model.npz, model.onnx, report.json and its page, all
/// written into a staging folder and published as a whole once every one exists.
pub(super) fn finish(
    plan: &Plan,
    fitted: Fitted,
    mut passes: Vec<PassReport>,
    missing: MissingMode,
    quiet: bool,
    started: Instant,
    output_pass: bool,
) -> Result<RunOutcome> {
    let set = OutputSet::new(&plan.output_dir)?;
    let staged = set.dir();
    // model.json is made first: reduced.parquet carries its SHA-256
    let header = header(plan, &fitted);
    let model_json = Model::document(&header, &fitted.pipeline);
    let output = if output_pass {
        let kinds: Vec<&str> = fitted.pipeline.steps.iter().map(|s| s.kind()).collect();
        let dtype = plan.raw.output.dtype;
        let provenance = provenance::metadata(&header, &kinds, &model_json, false, dtype);
        let mut names = fitted
            .pipeline
            .output_names(plan.raw.output.reconstruction_error);
        if plan.raw.output.score {
            names.push(SCORE_COLUMN.into());
        }
        let sink = ParquetSink::new(&staged.join("reduced.parquet"), names)
            .float32(dtype == OnnxDtype::Float32)
            .classes(fitted.pipeline.predicted_column())
            .metadata(provenance);
        self::output_pass(plan, &fitted.pipeline, missing, quiet, &mut passes, sink)?
    } else {
        no_output_pass(plan, &fitted.pipeline)?
    };

    write_atomic(&staged.join("model.json"), &model_json)?;
    write_atomic(
        &staged.join("model.npz"),
        &export::npz_model(&header, &fitted.pipeline),
    )?;
    if plan.raw.output.onnx {
        let options = OnnxOptions {
            dtype: plan.raw.output.onnx_dtype.into(),
            ..OnnxOptions::default()
        };
        let graph = export::onnx_model(&header, &fitted.pipeline, &options)?;
        write_atomic(&staged.join("model.onnx"), &graph)?;
    }

    // the merged state of a fit that shards, for a later `merge --with`
    if let Some(kept) = &fitted.state {
        Partial {
            format: PARTIAL_FORMAT.into(),
            dimred_version: env!("CARGO_PKG_VERSION").into(),
            pipeline: plan.raw.name.clone(),
            shard: 0,
            shards: 1,
            rows_read: fitted.first_pass.rows_read,
            rows_kept: fitted.first_pass.rows_kept,
            seconds: fitted.first_pass.seconds,
            round: None,
            partitions: kept.partitions.clone(),
            state: kept.state.clone(),
        }
        .write(&state_path(staged))?;
    }
    if let Some(e) = &output.collected.embedding {
        let mut sink = ParquetSink::new(
            &staged.join("embedding.parquet"),
            vec!["e1".into(), "e2".into()],
        );
        sink.write(e.passthrough.as_ref(), e.coordinates.as_ref())?;
        sink.finish()?;
    }

    // report.json lists the files as they will be named once published
    let mut outputs = Vec::new();
    if plan.raw.output.reduced && output_pass {
        outputs.push(plan.output_dir.join("reduced.parquet"));
    }
    outputs.push(plan.output_dir.join("model.json"));
    outputs.push(plan.output_dir.join("model.npz"));
    if plan.raw.output.onnx {
        outputs.push(plan.output_dir.join("model.onnx"));
    }
    if fitted.state.is_some() {
        outputs.push(state_path(&plan.output_dir));
    }
    outputs.push(plan.output_dir.join("report.json"));
    outputs.extend(report_paths(&plan.output_dir));
    for step in &fitted.pipeline.steps {
        outputs.extend(step.files().iter().map(|f| plan.output_dir.join(f)));
    }
    if output.collected.embedding.is_some() {
        outputs.push(plan.output_dir.join("embedding.parquet"));
    }
    outputs.push(plan.output_dir.join(SUCCESS));
    let outputs = outputs.iter().map(|p| plan.shown(p)).collect();
    let report = report(
        plan,
        &fitted,
        output.facts(),
        passes,
        outputs,
        &output,
        started,
    )?;
    write_atomic(&staged.join("report.json"), &report.to_json())?;
    write_report_files(staged, &report, &output.collected.sample)?;
    set.publish()?;
    let table = table::render(&report);
    Ok(RunOutcome { report, table })
}

fn header(plan: &Plan, fitted: &Fitted) -> Header {
    let first = fitted.pipeline.steps.first();
    Header {
        format: crate::model::FORMAT.into(),
        dimred_version: env!("CARGO_PKG_VERSION").into(),
        pipeline: plan.raw.name.clone(),
        missing: plan.missing,
        row_steps: plan.rows.written.clone(),
        passthrough: plan
            .passthrough
            .iter()
            .map(|&c| plan.dataset.columns[c].name.clone())
            .collect(),
        output_columns: fitted.pipeline.output_names(false),
        feature_names_in_: plan.feature_names.clone(),
        n_features_in_: plan.features.len(),
        n_samples_seen_: first.and_then(|s| s.n_samples()).unwrap_or(0),
        mean_: first
            .and_then(|s| s.raw_mean())
            .map_or_else(|| vec![0.0; plan.features.len()], <[f64]>::to_vec),
        output_dtype: plan.raw.output.dtype,
    }
}

/// What the output pass (or, without one, the evaluation pass) measured.
struct Output {
    rows_written: u64,
    /// Per-row reconstruction errors, when measured.
    errors: Option<ErrorStats>,
    /// Whether reduced.parquet has the `reconstruction_error` column.
    error_column: bool,
    /// The sum and count of the `log_likelihood` column, when written.
    scores: Option<(f64, u64)>,
    collected: Collected,
}

impl Output {
    fn facts(&self) -> RunFacts {
        RunFacts {
            reconstruction_error: self.errors.as_ref().map(ErrorStats::mean),
        }
    }

    /// The mean log-likelihood (scikit-learn's `score`) over the rows written.
    fn score(&self) -> Option<f64> {
        self.scores
            .filter(|(_, n)| *n > 0)
            .map(|(sum, n)| sum / n as f64)
    }

    fn error_summary(&self) -> Option<ErrorSummary> {
        (self.error_column && self.rows_written > 0)
            .then(|| self.errors.as_ref().map(ErrorStats::summary))
            .flatten()
    }
}

/// The output pass: reduced.parquet and the report's sample. Without it, a step that
/// reports the reconstruction error still gets a pass that measures it.
fn output_pass(
    plan: &Plan,
    fitted: &FittedPipeline,
    missing: MissingMode,
    quiet: bool,
    passes: &mut Vec<PassReport>,
    sink: ParquetSink,
) -> Result<Output> {
    let with_error = plan.raw.output.reconstruction_error;
    let reported = fitted.steps.iter().any(|s| s.reports_error());
    let track_error = with_error || reported;
    let mut errors = ErrorStats::new();
    let mut rows_written = 0;
    let mut collector = Collector::new(plan);
    let with_score = plan.raw.output.score;
    let mut scores = (0.0, 0u64);
    let k = fitted.output_names(false).len();
    // the report's sample keeps the reduced coordinates, not a classifier's columns
    let reduced_k = fitted.projection_names().len();
    let inverter = fitted.inverter();
    let error_map = match &inverter {
        Some(inverse) => track_error.then_some(inverse),
        None if track_error => {
            return Err(Error::internal(
                "a reconstruction error was asked of a pipeline without an inverse map",
            ));
        }
        None => None,
    };
    let map = |x: MatRef<'_, f64>, scratch: &mut Mat<f64>, errors: &mut ErrorStats| {
        let out = fitted.forward_with(x, error_map, scratch);
        if !track_error {
            return out;
        }
        errors.push(out.col(k).iter().copied());
        if with_error {
            out
        } else {
            out.as_ref().subcols(0, k).to_owned()
        }
    };
    // the log-likelihood column after the others; its sum for report.json's `score`
    let mut map = |x: MatRef<'_, f64>, scratch: &mut Mat<f64>, errors: &mut ErrorStats| {
        let mut out = map(x, scratch, errors);
        if with_score && let Some(ll) = fitted.log_likelihood(x, scratch) {
            scores.0 += ll.iter().sum::<f64>();
            scores.1 += ll.len() as u64;
            let width = out.ncols();
            out.resize_with(x.nrows(), width + 1, |i, _| ll[i]);
        }
        out
    };
    let spec = plan.read_spec(missing, false);
    if plan.raw.output.reduced {
        let mut spec = plan.read_spec(spec.missing, true);
        spec.passthrough.extend(plan.report.read_columns());
        let (mut scratch, mut scaled) = (Mat::zeros(0, 0), Mat::zeros(0, 0));
        let wants_scaled = collector.wants_scaled();
        let (stats, rows) = write_chunks(
            &plan.dataset,
            &spec,
            sink,
            quiet,
            plan.passthrough.len(),
            |chunk| {
                let x = chunk.features.as_ref();
                let z = map(x, &mut scratch, &mut errors);
                if wants_scaled {
                    fitted.scaled_into(x, &mut scaled);
                }
                collector.push(chunk, scaled.as_ref(), z.as_ref(), reduced_k)?;
                Ok(z)
            },
        )?;
        rows_written = rows;
        passes.push(stats.report("transform"));
    } else if reported {
        let mut scratch = Mat::zeros(0, 0);
        let stats = stream(&plan.dataset, &spec, "evaluate", quiet, |chunk| {
            map(chunk.features.as_ref(), &mut scratch, &mut errors);
            Ok(())
        })?;
        passes.push(stats.report("evaluate"));
    }
    let loadings = fitted
        .steps
        .first()
        .and_then(|s| s.loadings())
        .map(|c| Loadings::top(c, &plan.feature_names));
    let reconstruct = |x: MatRef<'_, f64>| -> Option<Mat<f64>> {
        let inverse = inverter.as_ref()?;
        Some(inverse.inverse(fitted.forward(x, &mut Mat::zeros(0, 0)).as_ref()))
    };
    let collected = collector.finish(&reconstruct, loadings)?;
    Ok(Output {
        rows_written,
        errors: track_error.then_some(errors),
        error_column: with_error,
        scores: with_score.then_some(scores),
        collected,
    })
}

/// What a fit without an output pass has for the report: no sample, no errors.
fn no_output_pass(plan: &Plan, fitted: &FittedPipeline) -> Result<Output> {
    let loadings = fitted
        .steps
        .first()
        .and_then(|s| s.loadings())
        .map(|c| Loadings::top(c, &plan.feature_names));
    let collected = Collector::new(plan).finish(&|x| Some(x.to_owned()), loadings)?;
    Ok(Output {
        rows_written: 0,
        errors: None,
        scores: None,
        error_column: false,
        collected,
    })
}

/// report.json: the run's facts, then each step's section.
fn report(
    plan: &Plan,
    fitted: &Fitted,
    facts: RunFacts,
    passes: Vec<PassReport>,
    outputs: Vec<String>,
    output: &Output,
    started: Instant,
) -> Result<Report> {
    let first = &fitted.first_pass;
    let filters: Vec<FilterReport> = plan
        .rows
        .filters
        .iter()
        .zip(&first.filtered)
        .map(|(f, &(rows_in, rows_out))| FilterReport {
            step: f.step,
            filter: f.text.clone(),
            rows_in,
            rows_out,
        })
        .collect();
    let filtered: u64 = filters.iter().map(|f| f.rows_in - f.rows_out).sum();
    let mut doc = match json!({
        "dimred_version": env!("CARGO_PKG_VERSION"),
        "pipeline": plan.raw,
        "input": InputReport {
            path: plan.dataset.path.clone(),
            format: plan.dataset.format.name().into(),
            files: plan.dataset.files.iter().map(|f| f.display().to_string()).collect(),
        },
        "scaler": plan.scale.name(),
        "n_samples": fitted.pipeline.steps.first().and_then(|s| s.n_samples()).unwrap_or(0),
        "n_features": plan.features.len(),
        "feature_names": plan.feature_names,
        "output_columns": fitted.pipeline.output_names(false),
        "rows_read": first.rows_read,
        "rows_skipped": (first.rows_read - first.rows_kept).saturating_sub(filtered),
        "rows_written": output.rows_written,
        "passes": passes,
        "seconds_total": started.elapsed().as_secs_f64(),
        "peak_rss_bytes": peak_rss_bytes(),
        "reconstruction_error": output.error_summary(),
        "evaluation": output.collected.evaluation,
        "outputs": outputs,
    }) {
        Value::Object(map) => map,
        _ => unreachable!("an object literal"),
    };
    if let Some(score) = output.score() {
        doc.insert("score".into(), json!(score));
    }
    let mut sections = Map::new();
    for step in &fitted.pipeline.steps {
        step.write_report(&mut sections, &facts);
    }
    if let Some(e) = &output.collected.embedding {
        sections.insert("embedding".into(), e.section.clone());
    }
    if !filters.is_empty() {
        sections.insert("filters".into(), serde_json::json!(filters));
    }
    if let Some(m) = &plan.memory {
        sections.insert("memory".into(), serde_json::json!(m));
    }
    if let Some(kept) = &fitted.state {
        sections.insert("partitions".into(), serde_json::json!(kept.partitions));
    }
    doc.extend(sections);
    Report::from_document(doc)
}
