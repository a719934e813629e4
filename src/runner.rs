//! Passes, threads and bounded channels. Every pass runs the reader on its own thread,
//! connected to the consumer by a bounded crossbeam channel (decode overlaps compute;
//! memory stays O(batch_rows × features) whatever the input size); the output pass adds a
//! writer thread behind a second bounded channel. Errors travel through the channels as
//! values and the first one ends the pass.

use std::path::Path;
use std::time::Instant;

use faer::{Mat, MatRef};

use crate::chunk::Chunk;
use crate::config::{
    AutoencoderParams, MissingPolicy, NComponents, PcaParams, PcaSolver, Plan, Positive,
    RawPipeline, RawStep, ScaleMethod,
};
use crate::engine::{PassStats, column_pass, stream, write_chunks};
use crate::error::{Error, Result};
use crate::model::{AutoencoderModel, FORMAT, Model, PcaModel};
use crate::report::collect::{Collector, report_paths, write_report_files};
use crate::report::sample::Loadings;
use crate::report::{
    AutoencoderReport, ErrorStats, InputReport, PassReport, PcaReport, Report, peak_rss_bytes,
    table,
};
use crate::sink::{prepare_dir, write_atomic};
use crate::source::{Dataset, MissingMode, ReadSpec};
use crate::stats::MomentsAccumulator;
use crate::steps::autoencoder::Network;
use crate::steps::autoencoder::train::{Checkpoint, TrainContext, train};
use crate::steps::chain::Chain;
use crate::steps::pca::incremental::IncrementalPca;
use crate::steps::pca::randomized;
use crate::steps::pca::tsqr::Tsqr;
use crate::steps::pca::{Pca, exact};
use crate::steps::scale::{Scaler, shift_scale_into};

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub quiet: bool,
    /// Continue the autoencoder's training from the checkpoint in the output folder.
    pub resume: bool,
}

pub struct RunOutcome {
    pub report: Report,
    pub table: String,
}

/// Runs a pipeline: fit pass(es) of the scaler and PCA, the autoencoder's epochs, then
/// the output pass, then model and report.
pub fn run(raw: RawPipeline, options: &RunOptions) -> Result<RunOutcome> {
    let started = Instant::now();
    let plan = Plan::resolve(raw)?;
    prepare_dir(&plan.output_dir)?;
    let quiet = options.quiet;
    let p = plan.features.len();
    let mut passes = Vec::new();

    let missing = match plan.missing {
        MissingPolicy::Error => MissingMode::Error,
        MissingPolicy::SkipRow => MissingMode::SkipRow,
        MissingPolicy::ImputeMean => {
            let spec = plan.read_spec(MissingMode::Keep, false);
            let (columns, stats) = column_pass(&plan.dataset, &spec, "means", quiet)?;
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
    };

    // The steps before the autoencoder: scaling with PCA, or scaling alone.
    let spec = plan.read_spec(missing.clone(), false);
    let front = match &plan.pca {
        Some(params) => fit_front_pca(&plan, params, &spec, quiet, &mut passes)?,
        None => fit_front_scale(&plan, &spec, quiet, &mut passes)?,
    };
    let Front {
        mut chain,
        mean,
        stats: fit_stats,
        n_samples,
        pca_report,
    } = front;

    let mut ae_report = None;
    if let Some(params) = &plan.autoencoder {
        let (report, network, ae_passes) =
            train_autoencoder(&plan, params, &chain, &spec, options)?;
        passes.extend(ae_passes);
        chain.autoencoder = Some(network);
        ae_report = Some(report);
    }

    // Output pass. The autoencoder's reconstruction error is always measured here.
    let with_error = plan.raw.output.reconstruction_error;
    let track_error = with_error || chain.autoencoder.is_some();
    let reduced_path = plan.output_dir.join("reduced.parquet");
    let mut errors = ErrorStats::new();
    let mut rows_written = 0;
    let mut collector = Collector::new(&plan);
    let k = chain.output_names(false).len();
    // The reducer's input (scaled features) for the report's sample: a PCA-only chain
    // leaves it in `scratch`; an autoencoder's chain computes it apart.
    let pca_only = chain.autoencoder.is_none();
    let map = |x: MatRef<'_, f64>, scratch: &mut Mat<f64>, errors: &mut ErrorStats| {
        let out = chain.forward(x, track_error, scratch);
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
    if plan.raw.output.reduced {
        let mut spec = plan.read_spec(missing, true);
        spec.passthrough.extend(plan.report.read_columns());
        let mut scratch = Mat::zeros(0, 0);
        let mut scaled = Mat::zeros(0, 0);
        let (out_stats, rows) = write_chunks(
            &plan.dataset,
            &spec,
            chain.output_names(with_error),
            &reduced_path,
            quiet,
            plan.passthrough.len(),
            |chunk| {
                let x = chunk.features.as_ref();
                let z = map(x, &mut scratch, &mut errors);
                let scaled = if pca_only {
                    scratch.as_ref()
                } else {
                    chain.scaled_into(x, &mut scaled);
                    scaled.as_ref()
                };
                collector.push(chunk, scaled, z.as_ref(), k)?;
                Ok(z)
            },
        )?;
        rows_written = rows;
        passes.push(out_stats.report("transform"));
    } else if chain.autoencoder.is_some() {
        let mut scratch = Mat::zeros(0, 0);
        let stats = stream(&plan.dataset, &spec, "evaluate", quiet, |chunk| {
            map(chunk.features.as_ref(), &mut scratch, &mut errors);
            Ok(())
        })?;
        passes.push(stats.report("evaluate"));
    }
    if let Some(ae) = &mut ae_report {
        ae.reconstruction_error = errors.summary().mean;
    }
    let collected = collector.finish(
        &|x| chain.inverse(chain.forward(x, false, &mut Mat::zeros(0, 0)).as_ref()),
        chain
            .pca
            .as_ref()
            .map(|pca| Loadings::top(pca.components.as_ref(), &plan.feature_names)),
    );

    let model = Model {
        format: FORMAT.into(),
        dimred_version: env!("CARGO_PKG_VERSION").into(),
        pipeline: plan.raw.name.clone(),
        scaler: plan.scale,
        missing: plan.missing,
        passthrough: plan
            .passthrough
            .iter()
            .map(|&c| plan.dataset.columns[c].name.clone())
            .collect(),
        output_columns: chain.output_names(false),
        feature_names_in_: plan.feature_names.clone(),
        n_features_in_: p,
        n_samples_seen_: n_samples,
        mean_: mean,
        scale_: chain.scale.clone(),
        data_min_: (chain.pca.is_none() && plan.scale == ScaleMethod::Minmax)
            .then(|| chain.shift.clone()),
        pca: chain.pca.as_ref().map(|pca| PcaModel {
            solver: pca_report
                .as_ref()
                .map_or(String::new(), |r| r.solver.clone()),
            n_components_: pca.n_components(),
            components_: (0..pca.n_components())
                .map(|r| (0..p).map(|c| pca.components[(r, c)]).collect())
                .collect(),
            explained_variance_: pca.explained_variance.clone(),
            explained_variance_ratio_: pca.explained_variance_ratio.clone(),
            singular_values_: pca.singular_values.clone(),
            noise_variance_: pca.noise_variance,
            whiten: pca.whiten,
        }),
        autoencoder: chain.autoencoder.as_ref().map(|net| AutoencoderModel {
            latent: net.latent(),
            widths: net.widths(),
            network: net.to_saved(),
        }),
    };
    let model_path = plan.output_dir.join("model.json");
    let mut model_bytes = serde_json::to_vec_pretty(&model).expect("model serialises");
    model_bytes.push(b'\n');
    write_atomic(&model_path, &model_bytes)?;

    let report_path = plan.output_dir.join("report.json");
    let mut outputs = Vec::new();
    if plan.raw.output.reduced {
        outputs.push(reduced_path.display().to_string());
    }
    outputs.push(model_path.display().to_string());
    outputs.push(report_path.display().to_string());
    outputs.extend(
        report_paths(&plan.output_dir)
            .iter()
            .map(|p| p.display().to_string()),
    );
    if plan.autoencoder.is_some() {
        outputs.push(plan.output_dir.join(CHECKPOINT).display().to_string());
    }
    let report = Report {
        dimred_version: env!("CARGO_PKG_VERSION").into(),
        pipeline: serde_json::to_value(&plan.raw).expect("pipeline serialises"),
        input: InputReport {
            path: plan.dataset.path.clone(),
            format: plan.dataset.format.name().into(),
            files: plan
                .dataset
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect(),
        },
        scaler: scale_name(plan.scale).into(),
        n_samples,
        n_features: p,
        feature_names: plan.feature_names.clone(),
        pca: pca_report,
        autoencoder: ae_report,
        rows_read: fit_stats.rows_read,
        rows_skipped: fit_stats.rows_read - fit_stats.rows_kept,
        rows_written,
        passes,
        seconds_total: started.elapsed().as_secs_f64(),
        peak_rss_bytes: peak_rss_bytes(),
        reconstruction_error: (with_error && rows_written > 0).then(|| errors.summary()),
        evaluation: collected.evaluation,
        outputs,
    };
    write_atomic(&report_path, &report.to_json())?;
    write_report_files(&plan.output_dir, &report, &collected.sample)?;
    let table = table::render(&report);
    Ok(RunOutcome { report, table })
}

/// The autoencoder's checkpoint, beside the outputs.
pub const CHECKPOINT: &str = "checkpoint.json";

/// What the steps before the autoencoder fitted.
struct Front {
    chain: Chain,
    /// Raw feature means (the model's `mean_`).
    mean: Vec<f64>,
    stats: PassStats,
    n_samples: u64,
    pca_report: Option<PcaReport>,
}

fn fit_front_pca(
    plan: &Plan,
    params: &PcaParams,
    spec: &ReadSpec,
    quiet: bool,
    passes: &mut Vec<PassReport>,
) -> Result<Front> {
    let p = plan.features.len();
    let fitted = match resolve_solver(params.solver, params.n_components, p) {
        PcaSolver::Auto | PcaSolver::Exact => fit_exact(plan, params, spec, quiet, passes)?,
        PcaSolver::Incremental => fit_incremental(plan, params, spec, quiet, passes)?,
        PcaSolver::Randomized => fit_randomized(plan, params, spec, quiet, passes)?,
        PcaSolver::Tsqr => fit_tsqr(plan, params, spec, quiet, passes)?,
    };
    let Fitted {
        pca,
        mean,
        scaler,
        stats,
        solver,
        tracked,
    } = fitted;
    let pca_report = PcaReport {
        solver: solver.into(),
        components_tracked: tracked,
        n_components: pca.n_components(),
        explained_variance: pca.explained_variance.clone(),
        explained_variance_ratio: pca.explained_variance_ratio.clone(),
        cumulative_variance_ratio: pca.cumulative_variance_ratio(),
        singular_values: pca.singular_values.clone(),
        noise_variance: pca.noise_variance,
        total_variance: pca.total_variance,
    };
    Ok(Front {
        n_samples: pca.n_samples,
        chain: Chain {
            shift: mean.clone(),
            scale: scaler.scale,
            pca: Some(pca),
            autoencoder: None,
        },
        mean,
        stats,
        pca_report: Some(pca_report),
    })
}

/// Scaling alone (before an autoencoder): one pass of per-column statistics.
fn fit_front_scale(
    plan: &Plan,
    spec: &ReadSpec,
    quiet: bool,
    passes: &mut Vec<PassReport>,
) -> Result<Front> {
    let (columns, stats) = column_pass(&plan.dataset, spec, "scale", quiet)?;
    passes.push(stats.report("scale"));
    let n = columns.first().map_or(0, |c| c.count);
    no_rows(plan, &stats, n)?;
    let scaler = Scaler::from_columns(plan.scale, &columns);
    let mean: Vec<f64> = columns.iter().map(|c| c.mean).collect();
    let shift = match plan.scale {
        ScaleMethod::None => vec![0.0; columns.len()],
        ScaleMethod::Minmax => columns.iter().map(|c| c.min).collect(),
        ScaleMethod::Center | ScaleMethod::Standard => mean.clone(),
    };
    Ok(Front {
        chain: Chain {
            shift,
            scale: scaler.scale,
            pca: None,
            autoencoder: None,
        },
        mean,
        stats,
        n_samples: n,
        pca_report: None,
    })
}

/// Trains the autoencoder on the output of `chain` (resuming from the checkpoint when
/// asked), streaming every epoch from disk.
fn train_autoencoder(
    plan: &Plan,
    params: &AutoencoderParams,
    chain: &Chain,
    spec: &ReadSpec,
    options: &RunOptions,
) -> Result<(AutoencoderReport, Network<f32>, Vec<PassReport>)> {
    let width = chain
        .pca
        .as_ref()
        .map_or(plan.features.len(), |pca| pca.n_components());
    if params.latent.0 > width {
        return Err(Error::config(format!(
            "steps: autoencoder.latent = {} is larger than its input width {width} (the pca step kept {width} components)",
            params.latent.0
        )));
    }
    let input_names: Vec<String> = match &chain.pca {
        Some(pca) => (1..=pca.n_components()).map(|i| format!("pc{i}")).collect(),
        None => plan.feature_names.clone(),
    };
    let checkpoint = plan.output_dir.join(CHECKPOINT);
    let fingerprint = fingerprint(&plan.raw);
    let resume = if options.resume {
        let found = Checkpoint::load(&checkpoint, &fingerprint)?;
        if found.is_none() && !options.quiet {
            eprintln!(
                "[dimred] no checkpoint at {}: training from the start",
                checkpoint.display()
            );
        }
        found
    } else {
        None
    };
    let ctx = TrainContext {
        dataset: &plan.dataset,
        spec: spec.clone(),
        quiet: options.quiet,
        chain,
        input_names,
        checkpoint: &checkpoint,
        fingerprint,
    };
    let trained = train(&ctx, params, width, resume)?;
    let cp = &trained.checkpoint;
    let report = AutoencoderReport {
        widths: trained.network.widths(),
        latent: trained.network.latent(),
        epochs: cp.history.clone(),
        best_epoch: cp.best_epoch,
        stop_reason: cp.stopped.clone().unwrap_or_else(|| "epochs".into()),
        train_rows: cp.train_rows,
        validation_rows: cp.validation_rows,
        reconstruction_error: f64::NAN,
        samples_per_second: trained.samples_per_second,
    };
    Ok((report, trained.network, trained.passes))
}

/// Identifies a pipeline for its checkpoint: everything but the autoencoder's `epochs`
/// (which a resumed run may raise) and the output options.
fn fingerprint(raw: &RawPipeline) -> String {
    let mut raw = raw.clone();
    for step in &mut raw.steps {
        if let RawStep::Autoencoder(a) = step {
            a.epochs = Positive(1);
        }
    }
    let text = serde_json::to_string(&(&raw.input, &raw.steps)).expect("pipeline serialises");
    // FNV-1a: stable across Rust versions, unlike DefaultHasher.
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// A fitted scale + PCA, and what its fit pass saw.
struct Fitted {
    pca: Pca,
    /// Raw-space mean: the model's `mean_`.
    mean: Vec<f64>,
    scaler: Scaler,
    stats: PassStats,
    solver: &'static str,
    /// See `Report::components_tracked`.
    tracked: Option<usize>,
}

fn no_rows(plan: &Plan, stats: &PassStats, n: u64) -> Result<()> {
    if n == 0 {
        let why = if stats.rows_read > 0 {
            " after skipping rows with missing values"
        } else {
            ""
        };
        return Err(Error::data(format!(
            "input {} has no rows{why}",
            plan.dataset.path
        )));
    }
    if n < 2 {
        return Err(Error::data(format!(
            "input {} has 1 row; PCA needs at least 2",
            plan.dataset.path
        )));
    }
    Ok(())
}

/// Exact solver: one sweep of mergeable moments gives the scaler and the covariance.
fn fit_exact(
    plan: &Plan,
    params: &PcaParams,
    spec: &ReadSpec,
    quiet: bool,
    passes: &mut Vec<PassReport>,
) -> Result<Fitted> {
    let p = plan.features.len();
    let mut acc = MomentsAccumulator::new(p);
    let stats = stream(&plan.dataset, spec, "fit", quiet, |chunk| {
        acc.push(chunk.features.as_ref());
        Ok(())
    })?;
    passes.push(stats.report("fit"));
    let moments = acc.finish();
    no_rows(plan, &stats, moments.n)?;
    let scaler = Scaler::fit(plan.scale, &moments);
    let pca = exact::fit(
        scaler.scaled_covariance(&moments),
        moments.n,
        params.n_components,
        params.whiten,
    )?;
    Ok(Fitted {
        pca,
        mean: moments.mean,
        scaler,
        stats,
        solver: "exact",
        tracked: None,
    })
}

/// Incremental solver: a per-column pass for the scaler (when it needs statistics), then
/// scikit-learn's IncrementalPCA over the scaled rows. Memory O((k + batch_size) × p).
fn fit_incremental(
    plan: &Plan,
    params: &PcaParams,
    spec: &ReadSpec,
    quiet: bool,
    passes: &mut Vec<PassReport>,
) -> Result<Fitted> {
    let p = plan.features.len();
    let mut shift = vec![0.0; p];
    let scaler = match plan.scale {
        ScaleMethod::Standard | ScaleMethod::Minmax => {
            let (columns, stats) = column_pass(&plan.dataset, spec, "scale", quiet)?;
            passes.push(stats.report("scale"));
            no_rows(plan, &stats, columns.first().map_or(0, |c| c.count))?;
            shift = columns.iter().map(|c| c.mean).collect();
            Scaler::from_columns(plan.scale, &columns)
        }
        ScaleMethod::None | ScaleMethod::Center => Scaler {
            method: plan.scale,
            scale: None,
        },
    };
    let batch_size = params.batch_size.unwrap_or(5 * p);
    let keep = match params.n_components {
        NComponents::Count(k) => k,
        NComponents::Fraction(_) => p.min(batch_size),
    };
    let mut ipca = IncrementalPca::new(p, keep, batch_size);
    let mut scaled = Mat::zeros(0, 0);
    let stats = stream(&plan.dataset, spec, "incremental", quiet, |chunk| {
        shift_scale_into(
            chunk.features.as_ref(),
            &shift,
            scaler.scale.as_deref(),
            &mut scaled,
        );
        ipca.push(scaled.as_ref())
    })?;
    passes.push(stats.report("incremental"));
    no_rows(plan, &stats, stats.rows_kept)?;
    let (pca, scaled_mean) = ipca.finish(params.n_components, params.whiten)?;
    let mean = (0..p)
        .map(|j| {
            shift[j]
                + scaler
                    .scale
                    .as_ref()
                    .map_or(scaled_mean[j], |s| s[j] * scaled_mean[j])
        })
        .collect();
    Ok(Fitted {
        pca,
        mean,
        scaler,
        stats,
        solver: "incremental",
        tracked: Some(keep),
    })
}

/// TSQR solver: one pass of block QR factors merged pairwise, then the SVD of R.
fn fit_tsqr(
    plan: &Plan,
    params: &PcaParams,
    spec: &ReadSpec,
    quiet: bool,
    passes: &mut Vec<PassReport>,
) -> Result<Fitted> {
    let p = plan.features.len();
    let mut acc = Tsqr::new(p);
    let stats = stream(&plan.dataset, spec, "fit", quiet, |chunk| {
        acc.push(chunk.features.as_ref())
    })?;
    passes.push(stats.report("fit"));
    let summary = acc.finish();
    no_rows(plan, &stats, summary.n)?;
    let scaler = Scaler::from_parts(
        plan.scale,
        summary.n,
        &summary.mean,
        &summary.var,
        &summary.min,
        &summary.max,
    );
    let pca = summary.fit(scaler.scale.as_deref(), params.n_components, params.whiten)?;
    Ok(Fitted {
        pca,
        mean: summary.mean,
        scaler,
        stats,
        solver: "tsqr",
        tracked: None,
    })
}

/// Widest data the exact solver takes under `auto`: its p × p co-moment is 128 MiB here.
pub const AUTO_EXACT_MAX_FEATURES: usize = 4096;

/// `solver: auto`: exact while the p × p co-moment is small; beyond, randomized for a
/// small integer k (k < p / 10), else incremental (memory O((k + batch) × p)).
pub fn resolve_solver(solver: PcaSolver, n_components: NComponents, p: usize) -> PcaSolver {
    match solver {
        PcaSolver::Auto if p <= AUTO_EXACT_MAX_FEATURES => PcaSolver::Exact,
        PcaSolver::Auto => match n_components {
            NComponents::Count(k) if k * 10 < p => PcaSolver::Randomized,
            _ => PcaSolver::Incremental,
        },
        other => other,
    }
}

/// Randomized solver: a column pass (means, scales, total variance), then one pass per
/// product with the Gram matrix: the sketch and each power iteration.
fn fit_randomized(
    plan: &Plan,
    params: &PcaParams,
    spec: &ReadSpec,
    quiet: bool,
    passes: &mut Vec<PassReport>,
) -> Result<Fitted> {
    let p = plan.features.len();
    let (columns, stats) = column_pass(&plan.dataset, spec, "scale", quiet)?;
    passes.push(stats.report("scale"));
    let n = columns.first().map_or(0, |c| c.count);
    no_rows(plan, &stats, n)?;
    let scaler = match plan.scale {
        ScaleMethod::Standard | ScaleMethod::Minmax => Scaler::from_columns(plan.scale, &columns),
        ScaleMethod::None | ScaleMethod::Center => Scaler {
            method: plan.scale,
            scale: None,
        },
    };
    let mean: Vec<f64> = columns.iter().map(|c| c.mean).collect();
    let scale = scaler.scale.as_deref();
    let total_variance: f64 = columns
        .iter()
        .enumerate()
        .map(|(j, c)| c.m2 / (n - 1) as f64 / scale.map_or(1.0, |s| s[j] * s[j]))
        .sum();
    let NComponents::Count(k) = params.n_components else {
        return Err(Error::config(
            "the randomized solver needs an integer n_components",
        ));
    };
    let limit = (n as usize).min(p);
    if k > limit {
        return Err(Error::config(format!(
            "pca.n_components = {k} is more than the {n} samples read"
        )));
    }
    let l = (k + params.oversamples.unwrap_or(10)).min(limit);
    let power = params
        .power_iterations
        .unwrap_or(if (k as f64) < 0.1 * limit as f64 {
            7
        } else {
            4
        });
    let mut basis = randomized::start_basis(p, l, params.seed.unwrap_or(0));
    let mut product = Mat::zeros(p, l);
    for it in 0..=power {
        let label = if it == 0 {
            "sketch".to_string()
        } else {
            format!("power {it}")
        };
        let mut acc = randomized::GramProduct::new(&basis, &mean, scale);
        let stats = stream(&plan.dataset, spec, &label, quiet, |chunk| {
            acc.push(chunk.features.as_ref());
            Ok(())
        })?;
        passes.push(stats.report(&label));
        product = acc.finish();
        if it < power {
            basis = randomized::orthonormalize(&product);
        }
    }
    let pca = randomized::finish_fit(&basis, &product, k, n, total_variance, params.whiten)?;
    Ok(Fitted {
        pca,
        mean,
        scaler,
        stats,
        solver: "randomized",
        tracked: Some(l),
    })
}

fn scale_name(method: ScaleMethod) -> &'static str {
    match method {
        ScaleMethod::None => "none",
        ScaleMethod::Center => "center",
        ScaleMethod::Standard => "standard",
        ScaleMethod::Minmax => "minmax",
    }
}

/// The output pass: reader → `map` (this thread) → writer thread. `map` turns a chunk's
/// features into the output columns (`names`). The file is renamed into place only when
/// every stage succeeded.
pub fn write_mapped(
    dataset: &Dataset,
    spec: &ReadSpec,
    names: Vec<String>,
    target: &Path,
    quiet: bool,
    mut map: impl FnMut(MatRef<'_, f64>) -> Result<Mat<f64>>,
) -> Result<(PassStats, u64)> {
    let written = spec.passthrough.len();
    write_chunks(
        dataset,
        spec,
        names,
        target,
        quiet,
        written,
        |chunk: &Chunk| map(chunk.features.as_ref()),
    )
}

/// What `dimred transform` writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransformOptions {
    /// Map reduced rows (the model's output columns) back to feature space.
    pub inverse: bool,
    /// Add the per-row `reconstruction_error` column.
    pub reconstruction_error: bool,
    pub quiet: bool,
}

/// `dimred transform`: applies a saved model to new data, streaming, into Parquet.
/// Columns are found by name (features, or with `inverse` the reduced columns); the
/// model's passthrough columns are copied when the input has them.
pub fn transform(
    model_path: &Path,
    input: &str,
    output: &Path,
    options: TransformOptions,
) -> Result<PassStats> {
    let model = Model::load(model_path)?;
    let is_parquet = output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if !is_parquet {
        return Err(Error::config(format!(
            "--output {}: only .parquet output is supported",
            output.display()
        )));
    }
    if options.inverse && options.reconstruction_error {
        return Err(Error::config(
            "--reconstruction-error applies to the forward transform, not --inverse",
        ));
    }
    let dataset = Dataset::open(input)?;
    let wanted = if options.inverse {
        &model.output_columns
    } else {
        &model.feature_names_in_
    };
    let mut columns = Vec::with_capacity(wanted.len());
    let mut absent = Vec::new();
    for name in wanted {
        match dataset.column_index(name) {
            Some(i) => columns.push(i),
            None => absent.push(name.as_str()),
        }
    }
    if !absent.is_empty() {
        let what = if options.inverse {
            "reduced column(s) the model writes"
        } else {
            "feature column(s) the model was fitted on"
        };
        return Err(Error::data(format!(
            "input {input} lacks {what}: {}",
            absent.join(", ")
        )));
    }
    let passthrough = model
        .passthrough
        .iter()
        .filter_map(|name| dataset.column_index(name))
        .collect();
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        prepare_dir(parent)?;
    }
    let missing = match model.missing {
        _ if options.inverse => MissingMode::Error,
        MissingPolicy::Error => MissingMode::Error,
        MissingPolicy::SkipRow => MissingMode::SkipRow,
        MissingPolicy::ImputeMean => MissingMode::Impute(model.mean_.clone()),
    };
    let spec = ReadSpec {
        features: columns,
        passthrough,
        batch_rows: crate::config::DEFAULT_BATCH_ROWS,
        missing,
        shuffle: None,
        rows32: None,
    };
    let chain = model.chain();
    let (stats, _) = if options.inverse {
        write_mapped(
            &dataset,
            &spec,
            model.feature_names_in_.clone(),
            output,
            options.quiet,
            |z| Ok(chain.inverse(z)),
        )?
    } else {
        let mut scratch = Mat::zeros(0, 0);
        let with_error = options.reconstruction_error;
        write_mapped(
            &dataset,
            &spec,
            chain.output_names(with_error),
            output,
            options.quiet,
            |x| Ok(chain.forward(x, with_error, &mut scratch)),
        )?
    };
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_chooses_by_width_and_k() {
        use NComponents::{Count, Fraction};
        assert_eq!(
            resolve_solver(PcaSolver::Auto, Count(10), 4096),
            PcaSolver::Exact
        );
        assert_eq!(
            resolve_solver(PcaSolver::Auto, Fraction(0.9), 30),
            PcaSolver::Exact
        );
        assert_eq!(
            resolve_solver(PcaSolver::Auto, Count(10), 4097),
            PcaSolver::Randomized
        );
        assert_eq!(
            resolve_solver(PcaSolver::Auto, Count(1000), 5000),
            PcaSolver::Incremental
        );
        assert_eq!(
            resolve_solver(PcaSolver::Auto, Fraction(0.9), 5000),
            PcaSolver::Incremental
        );
        assert_eq!(
            resolve_solver(PcaSolver::Exact, Count(10), 100_000),
            PcaSolver::Exact
        );
    }
}
