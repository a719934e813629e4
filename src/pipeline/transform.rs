//! `dimred transform`: a saved model applied to new data, streaming, into Parquet.
//! Columns are found by name (features, or with `inverse` the reduced columns); the
//! model's passthrough columns are copied when the input has them.

use std::path::{Path, PathBuf};

use faer::Mat;

use crate::cloud;
use crate::config::{DEFAULT_BATCH_ROWS, MissingPolicy, OnnxDtype};
use crate::engine::{PassStats, write_chunks};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::sink::lock::OutputLock;
use crate::sink::parquet::ParquetSink;
use crate::sink::{prepare_dir, remove_stale_temporaries};
use crate::source::{Dataset, MissingMode, ReadSpec, Shard};
use crate::steps::rows::RowStep;

/// What `dimred transform` writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransformOptions {
    /// Map reduced rows (the model's output columns) back to feature space.
    pub inverse: bool,
    /// Add the per-row `reconstruction_error` column.
    pub reconstruction_error: bool,
    /// Add the per-row `log_likelihood` column (after `reconstruction_error`).
    pub score: bool,
    pub quiet: bool,
    /// Only this shard's part of the input, into `STEM-I-of-N.parquet` beside the output.
    pub shard: Option<Shard>,
    /// The written columns' type; `None`: the model's `output_dtype` (what its run wrote).
    pub dtype: Option<OnnxDtype>,
}

/// Where a shard of `output` goes: `out/reduced.parquet`, 0/3 → `out/reduced-0-of-3.parquet`.
pub fn shard_output(output: &Path, shard: Shard) -> PathBuf {
    let stem = output
        .file_stem()
        .map_or_else(|| "reduced".into(), |s| s.to_string_lossy().to_string());
    output.with_file_name(format!("{stem}-{}-of-{}.parquet", shard.index, shard.count))
}

/// Returns the pass and the file written.
pub fn transform(
    model_path: &Path,
    input: &str,
    output: &Path,
    options: TransformOptions,
) -> Result<(PassStats, PathBuf)> {
    // a model in object storage is fetched whole (it is small), into a folder removed at the end
    let (model_file, _fetched) = fetch_model(model_path)?;
    // the bytes applied are the bytes hashed into the output's provenance
    let model_json =
        std::fs::read(&model_file).map_err(|e| Error::io("read model", model_path, e))?;
    let model = Model::parse(&model_json, &model_file).map_err(|e| {
        let shown = model_path.display().to_string();
        super::remote::renamed(e, &model_file.display().to_string(), &shown)
    })?;
    let fitted = model.pipeline(model_path)?;
    let header = &model.header;
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
    if let Some(kind) = fitted.not_invertible()
        && (options.inverse || options.reconstruction_error)
    {
        return Err(Error::config(format!(
            "--inverse and --reconstruction-error need an inverse map, which the model's {kind} step does not have"
        )));
    }
    if options.score && options.inverse {
        return Err(Error::config(
            "--score applies to the forward transform, not --inverse",
        ));
    }
    if options.score && !fitted.scores() {
        let kinds: Vec<&str> = fitted.steps.iter().map(|s| s.kind()).collect();
        return Err(Error::config(format!(
            "--score needs a step with a likelihood (a pca step); the model holds {}",
            if kinds.is_empty() {
                "no step".to_string()
            } else {
                kinds.join(", ")
            }
        )));
    }
    let mut dataset = Dataset::open(input)?;
    // the model's filter and derive steps, run on the new data as in the fit (not on
    // reduced rows mapped back)
    let row_steps: Vec<(usize, RowStep<'_>)> = header
        .row_steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.row_step().map(|r| (i, r)))
        .filter(|_| !options.inverse)
        .collect();
    let mut problems = Vec::new();
    let rows = crate::steps::rows::plan(&row_steps, &dataset, &mut problems);
    if !problems.is_empty() {
        return Err(Error::config(format!(
            "{}: its row steps do not apply to {input}: {}",
            model_path.display(),
            problems.join("; ")
        )));
    }
    dataset.add_derived(rows.derived.clone());
    // a classifier's columns (LDA's predict) are not mapped back
    let reduced = fitted.projection_names();
    let wanted = if options.inverse {
        &reduced
    } else {
        &header.feature_names_in_
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
    let passthrough: Vec<usize> = header
        .passthrough
        .iter()
        .filter_map(|name| dataset.column_index(name))
        .collect();
    let target = options.shard.map(|s| shard_output(output, s));
    let target = target.as_deref().unwrap_or(output);
    // object storage: written into a local staging folder, uploaded once complete
    let remote = cloud::is_remote(target).then(|| cloud::Staging::new("transform"));
    let output = match &remote {
        Some(staging) => &staging.dir.join(target.file_name().unwrap_or_default()),
        None => target,
    };
    let folder = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    prepare_dir(folder)?;
    if remote.is_some() {
        let parent = target
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        cloud::check_writable(&parent)?;
    }
    // shards write their own files side by side: only a whole local transform locks the folder
    let lock = match options.shard {
        None if remote.is_none() => Some(OutputLock::acquire(folder)?),
        _ => None,
    };
    if lock.is_some() {
        remove_stale_temporaries(folder);
    }
    let missing = match header.missing {
        _ if options.inverse => MissingMode::Error,
        MissingPolicy::Error => MissingMode::Error,
        MissingPolicy::SkipRow => MissingMode::SkipRow,
        MissingPolicy::ImputeMean => MissingMode::Impute(header.mean_.clone()),
    };
    let written = passthrough.len();
    let batch_rows = transform_rows(&dataset, &columns, &passthrough, &rows.reads);
    let spec = ReadSpec {
        features: columns,
        passthrough,
        batch_rows,
        missing,
        shuffle: None,
        decoder: None,
        stages: rows.stages.clone(),
        shard: options.shard,
        reads: rows.reads.clone(),
    };
    let with_error = options.reconstruction_error;
    let names = if options.inverse {
        header.feature_names_in_.clone()
    } else {
        let mut names = fitted.output_names(with_error);
        if options.score {
            names.push(crate::steps::fitted::SCORE_COLUMN.into());
        }
        names
    };
    let dtype = options.dtype.unwrap_or(header.output_dtype);
    let kinds: Vec<&str> = fitted.steps.iter().map(|s| s.kind()).collect();
    let sink = ParquetSink::new(output, names)
        .float32(dtype == OnnxDtype::Float32)
        .classes(fitted.predicted_column().filter(|_| !options.inverse))
        .metadata(super::provenance::metadata(
            header,
            &kinds,
            &model_json,
            options.inverse,
            dtype,
        ));
    let inverter = if options.inverse || with_error {
        Some(fitted.inverter().ok_or_else(|| {
            Error::internal("a step without an inverse map passed the model's check")
        })?)
    } else {
        None
    };
    let errors = inverter.as_ref().filter(|_| with_error);
    let mut scratch = Mat::zeros(0, 0);
    let (stats, _) = write_chunks(&dataset, &spec, sink, options.quiet, written, |chunk| {
        let x = chunk.features.as_ref();
        Ok(match &inverter {
            Some(inverse) if options.inverse => inverse.inverse(x),
            _ => fitted.forward_scored(x, errors, options.score, &mut scratch),
        })
    })?;
    if remote.is_some() {
        cloud::upload_file(output, &target.display().to_string())?;
    }
    Ok((stats, target.to_path_buf()))
}

/// Rows per chunk: the default, or fewer when the job's own memory limit (its cgroup's,
/// Slurm's, the machine's available memory: `engine::limits`) cannot hold the default's
/// chunks beside the reader, as the output pass of `run` is sized (the model is small
/// beside them and is left out). A transform has no `memory_limit` to refuse against, so
/// it never refuses: at worst it reads the smallest chunks.
fn transform_rows(
    dataset: &Dataset,
    features: &[usize],
    passthrough: &[usize],
    reads: &[usize],
) -> usize {
    use crate::engine::budget::{self, Demand};
    let Some(job) = crate::engine::limits::job_memory() else {
        return DEFAULT_BATCH_ROWS;
    };
    let mut read: Vec<usize> = features
        .iter()
        .chain(passthrough)
        .chain(reads)
        .copied()
        .collect();
    read.sort_unstable();
    read.dedup();
    let demand = Demand {
        reader_bytes: (dataset.reader_bytes(&read) as f64
            * budget::READER_FACTOR
            * dataset.row_groups_in_flight() as f64) as u64
            + dataset.metadata_bytes(),
        state_bytes: 0,
        row_bytes: (features.len() + passthrough.len()).max(1) as u64 * 8,
        chunks: budget::OUTPUT_CHUNKS,
    };
    demand
        .batch_rows(job.bytes)
        .map_or(budget::MIN_BATCH_ROWS, |rows| rows.min(DEFAULT_BATCH_ROWS))
}

/// The model file to read: `model_path` itself, or a copy of it fetched from object storage
/// with the folder holding it (removed when dropped).
fn fetch_model(model_path: &Path) -> Result<(PathBuf, Option<cloud::Staging>)> {
    if !cloud::is_remote(model_path) {
        return Ok((model_path.to_path_buf(), None));
    }
    let url = model_path.display().to_string();
    let bytes = cloud::download(&url)?.ok_or_else(|| {
        Error::io(
            "read model",
            model_path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such object"),
        )
    })?;
    let staging = cloud::Staging::new("model");
    prepare_dir(&staging.dir)?;
    let file = staging.dir.join("model.json");
    std::fs::write(&file, bytes).map_err(|e| Error::io("write", &file, e))?;
    Ok((file, Some(staging)))
}
