//! The resolved pipeline: the raw YAML checked as a whole against the input's schema
//! (read from headers and metadata only), with every problem collected before failing,
//! each naming the key it comes from.

use std::path::PathBuf;

use regex::Regex;

use super::report::ReportPlan;
use super::{
    DEFAULT_BATCH_ROWS, FeatureSelector, MissingPolicy, RawPipeline, RawStep, ScaleMethod,
};
use crate::engine::budget::{self, Budget, Demand};
use crate::error::{Error, Result};
use crate::source::{ColumnKind, Dataset, MissingMode, ReadSpec};
use crate::steps::PlannedStep;
use crate::steps::rows::{RowPlan, RowStep};
use crate::steps::scale::PlannedScale;

#[derive(Debug)]
pub struct Plan {
    pub raw: RawPipeline,
    pub dataset: Dataset,
    /// Column indices of the features, in the input's column order.
    pub features: Vec<usize>,
    pub feature_names: Vec<String>,
    pub passthrough: Vec<usize>,
    pub batch_rows: usize,
    /// What the memory goes to under `memory_limit` or the job's own limit, and the rows
    /// per chunk it allows (None only where no limit can be read).
    pub memory: Option<Budget>,
    pub missing: MissingPolicy,
    /// The scaling written in the pipeline (`none` without a scale step).
    pub scale: ScaleMethod,
    /// The steps in order, checked against the input, solvers resolved. A `scale` step
    /// before a PCA is absorbed by it (see `PlannedStep::absorb_scale`); a pipeline whose
    /// first step does not absorb one starts with a scale step (`none` when none was
    /// written), whose pass learns the raw means and counts the rows.
    pub steps: Vec<Box<dyn PlannedStep>>,
    /// Where the outputs are written: `output.dir`, or for object storage a local staging
    /// folder uploaded to `output_url` when the command succeeds.
    pub output_dir: PathBuf,
    /// `output.dir` when it is an object storage URL (without a trailing slash).
    pub output_url: Option<String>,
    /// The staging folder behind `output_url`, removed when the plan is dropped.
    pub staging: Option<crate::cloud::Staging>,
    /// The `report:` section, checked against the columns.
    pub report: ReportPlan,
    /// The row steps (`filter`, `derive`): the reader's stages, whose derived columns the
    /// dataset's columns end with.
    pub rows: RowPlan,
}

impl Plan {
    pub fn resolve(mut raw: RawPipeline) -> Result<Plan> {
        let mut problems: Vec<String> = Vec::new();
        if raw.name.trim().is_empty() {
            problems.push("name: must not be empty".into());
        }
        if raw.input.batch_rows == Some(0) {
            problems.push("input.batch_rows: must be at least 1".into());
        }
        if raw.output.dir.trim().is_empty() {
            problems.push("output.dir: must not be empty".into());
        }
        check_order(&raw.steps, &mut problems);

        // The input must exist before the columns can be checked.
        let mut dataset = Dataset::open(&raw.input.path)?;
        dataset.declare(&raw.input.columns, &mut problems);
        // Row steps first: the columns they derive are selectable as features.
        let row_steps: Vec<(usize, RowStep<'_>)> = raw
            .steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.row_step().map(|r| (i, r)))
            .collect();
        let rows = crate::steps::rows::plan(&row_steps, &dataset, &mut problems);
        dataset.add_derived(rows.derived.clone());

        let mut passthrough = Vec::new();
        for name in &raw.input.passthrough {
            match dataset.column_index(name) {
                Some(i) if passthrough.contains(&i) => problems.push(format!(
                    "input.passthrough: column '{name}' is listed twice"
                )),
                Some(i) => passthrough.push(i),
                None => problems.push(format!(
                    "input.passthrough: column '{name}' does not exist in {}",
                    dataset.path
                )),
            }
        }
        let features = select_features(&raw.input.features, &dataset, &passthrough, &mut problems);
        for &c in &features {
            if let ColumnKind::Other(ty) = &dataset.columns[c].kind {
                problems.push(format!(
                    "input.features: column '{}' is {ty}, not numeric; exclude it or list it in passthrough",
                    dataset.columns[c].name
                ));
            }
        }
        if features.is_empty() && problems.is_empty() {
            problems.push("input.features: selects no columns".into());
        }
        check_output_apart(&raw.output.dir, &raw.input.path, &dataset, &mut problems);
        let (scale, steps, state) = plan_steps(
            &raw.steps,
            features.len(),
            dataset.total_rows,
            raw.memory_limit
                .as_ref()
                .map(|l| l.bytes)
                .or_else(|| crate::engine::limits::job_memory().map(|j| j.bytes)),
            &mut problems,
        );
        let (written, memory) = size_chunks(
            &raw,
            &dataset,
            &features,
            &passthrough,
            &rows,
            &state,
            &mut problems,
        );
        raw.input.batch_rows = Some(written);
        // Rows per chunk: more than the input has are harmless (capped).
        let batch_rows = dataset
            .total_rows
            .map_or(written, |n| written.min(n.max(1) as usize));
        if raw.output.score && !steps.iter().any(|s| s.scores()) {
            problems.push(
                "output.score: no step of the pipeline has a likelihood to score rows with (a pca step has)"
                    .into(),
            );
        }
        if let Some(step) = steps.iter().find(|s| !s.invertible()) {
            let kind = step.kind();
            if raw.output.reconstruction_error {
                problems.push(format!(
                    "output.reconstruction_error: a {kind} step has no inverse map to reconstruct rows with"
                ));
            }
            if raw.report.image_shape.is_some() {
                problems.push(format!(
                    "report.image_shape: a {kind} step has no inverse map to draw reconstructions with"
                ));
            }
        }
        if let Some(key) = steps.iter().rev().skip(1).find_map(|s| s.predicts()) {
            problems.push(format!(
                "{key}: only on the pipeline's last step (its prediction columns feed no other step)"
            ));
        }
        for step in &raw.steps {
            if let RawStep::Lda(lda) = step {
                crate::steps::lda::check_label_rows(lda, &dataset, &mut problems);
            }
        }
        for step in &steps {
            if let Some(name) = step.label() {
                check_label(step.kind(), name, &dataset, &features, &mut problems);
            }
        }
        let report = ReportPlan::resolve(
            &raw.report,
            &dataset,
            &features,
            &passthrough,
            &mut problems,
        );
        if dataset.total_rows == Some(0) {
            return Err(Error::data(format!("input {} has no rows", dataset.path)));
        }
        if !problems.is_empty() {
            return Err(Error::config(problems.join("; ")));
        }
        let feature_names = features
            .iter()
            .map(|&c| dataset.columns[c].name.clone())
            .collect();
        let output_url = crate::cloud::is_url(&raw.output.dir)
            .then(|| raw.output.dir.trim().trim_end_matches('/').to_string());
        let staging = output_url
            .as_ref()
            .map(|_| crate::cloud::Staging::new("out"));
        Ok(Plan {
            batch_rows,
            memory,
            missing: raw.input.missing,
            output_dir: staging
                .as_ref()
                .map_or_else(|| PathBuf::from(&raw.output.dir), |s| s.dir.clone()),
            output_url,
            staging,
            scale,
            steps,
            features,
            feature_names,
            passthrough,
            dataset,
            report,
            rows,
            raw,
        })
    }

    /// Where an output file ends up, as users name it: under `output.dir` as written, an
    /// object storage URL included.
    pub fn shown(&self, path: &std::path::Path) -> String {
        match (&self.output_url, path.strip_prefix(&self.output_dir)) {
            (Some(url), Ok(relative)) => crate::cloud::join(url, &relative.to_string_lossy()),
            _ => path.display().to_string(),
        }
    }

    /// Where the outputs go, as users name it.
    pub fn output_shown(&self) -> String {
        self.output_url
            .clone()
            .unwrap_or_else(|| self.output_dir.display().to_string())
    }

    /// The kind of the last step (the reducer whose coordinates are written).
    pub fn reducer(&self) -> &'static str {
        self.steps.last().map_or("", |s| s.kind())
    }

    pub fn read_spec(&self, missing: MissingMode, with_passthrough: bool) -> ReadSpec {
        ReadSpec {
            features: self.features.clone(),
            passthrough: if with_passthrough {
                self.passthrough.clone()
            } else {
                Vec::new()
            },
            batch_rows: self.batch_rows,
            missing,
            shuffle: None,
            decoder: None,
            stages: self.rows.stages.clone(),
            shard: None,
            reads: self.rows.reads.clone(),
        }
    }
}

/// A supervised step's label column: present, not a feature, and of a type that names
/// classes.
fn check_label(
    kind: &str,
    name: &str,
    dataset: &Dataset,
    features: &[usize],
    problems: &mut Vec<String>,
) {
    match dataset.column_index(name) {
        None => problems.push(format!(
            "{kind}.label: column '{name}' does not exist in {}",
            dataset.path
        )),
        Some(c) if features.contains(&c) => problems.push(format!(
            "{kind}.label: column '{name}' is a feature; a label must not be one (exclude it from input.features)"
        )),
        Some(c) => {
            if let ColumnKind::Other(ty) = &dataset.columns[c].kind
                && !super::report::label_type_ok(ty)
            {
                problems.push(format!(
                    "{kind}.label: column '{name}' is {ty}; a label must be a number, boolean or text"
                ));
            }
        }
    }
}

/// The output folder must lie outside the input: a run writing into an input folder (or
/// where the input's glob matches) would read its own reduced.parquet as input next time,
/// and an input file inside the output folder could be overwritten.
fn check_output_apart(output: &str, input: &str, dataset: &Dataset, problems: &mut Vec<String>) {
    let absolute = |p: &std::path::Path| {
        std::path::absolute(p)
            .map(|a| a.components().collect::<PathBuf>())
            .unwrap_or_else(|_| p.to_path_buf())
    };
    if output.trim().is_empty() {
        return;
    }
    let out = absolute(std::path::Path::new(output));
    let p = std::path::Path::new(input);
    let inside_folder = p.is_dir() && out.starts_with(absolute(p));
    // A glob picks up the output when it matches a file a run writes there.
    let matched_by_glob = input.contains(['*', '?', '['])
        && glob::Pattern::new(input).is_ok_and(|g| {
            ["reduced.parquet", "model.json"].iter().any(|name| {
                g.matches_path(&std::path::Path::new(output).join(name))
                    || g.matches_path(&out.join(name))
            })
        });
    if inside_folder || matched_by_glob {
        problems.push(format!(
            "output.dir: '{output}' is {} the input '{input}'; a run would write among its inputs, so choose a folder outside it",
            if inside_folder { "inside" } else { "matched by" }
        ));
        return;
    }
    if let Some(file) = dataset.files.iter().find(|f| absolute(f).starts_with(&out)) {
        problems.push(format!(
            "output.dir: the input file '{}' is inside the output folder '{output}'; choose an output folder apart from the input",
            file.display()
        ));
    }
}

/// Rules on the order of the steps.
fn check_order(steps: &[RawStep], problems: &mut Vec<String>) {
    let mut seen: Vec<&str> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let kind = step.kind();
        if step.row_step().is_some() {
            if !seen.is_empty() {
                problems.push(format!(
                    "steps[{i}]: {kind} must come before the fitted steps ({} is before it), so that every statistic sees the same rows and columns",
                    seen[0]
                ));
            }
            continue;
        }
        if seen.contains(&kind) {
            problems.push(format!("steps[{i}]: only one {kind} step is allowed"));
        }
        match step {
            RawStep::Scale(_) if !seen.is_empty() => problems.push(format!(
                "steps[{i}]: scale must come first, before the other steps (after any filter and derive steps)"
            )),
            RawStep::Pca(_) if seen.contains(&"autoencoder") => problems.push(format!(
                "steps[{i}]: pca must come before autoencoder (an autoencoder may be trained on PCA scores, not the reverse)"
            )),
            RawStep::Pca(_) if seen.iter().any(|k| *k != "scale") => problems.push(format!(
                "steps[{i}]: pca must be the first reducer (its model.json fields are scikit-learn's, on the raw features)"
            )),
            _ => {}
        }
        seen.push(kind);
    }
    if seen.iter().all(|k| *k == "scale") {
        problems.push("steps: a reducer step is required (a step other than scale)".into());
    }
}

/// The planned steps, each checked against its input width (known until a PCA keeps a
/// fraction of variance). The scale written first becomes the first step's input
/// scaling: absorbed by a step that learns it in its own pass, else a step of its own.
/// What the steps' fits hold: the largest (they fit one after another), with the lighter
/// configurations the steps know of.
#[derive(Debug, Default)]
struct StepMemory {
    bytes: u64,
    kind: &'static str,
    lighter: Vec<String>,
    /// A step keeps a spill file (`PlannedStep::rereads`).
    rereads: bool,
}

fn plan_steps(
    raw: &[RawStep],
    p: usize,
    rows: Option<u64>,
    limit: Option<u64>,
    problems: &mut Vec<String>,
) -> (ScaleMethod, Vec<Box<dyn PlannedStep>>, StepMemory) {
    let mut scale = None;
    let mut steps: Vec<Box<dyn PlannedStep>> = Vec::new();
    let mut width = (p > 0).then_some(p);
    let mut memory = StepMemory::default();
    for step in raw.iter().filter(|s| s.row_step().is_none()) {
        if let RawStep::Scale(s) = step {
            scale = Some(s.method);
            continue;
        }
        let mut planned = step.plan();
        planned.check(width, rows, problems);
        if steps.is_empty() && !planned.absorb_scale(scale.unwrap_or(ScaleMethod::None)) {
            steps.push(Box::new(PlannedScale::new(
                scale.unwrap_or(ScaleMethod::None),
            )));
        }
        // after a PCA keeping a fraction the width is not known: count the input's
        let w = width.unwrap_or(p);
        let bytes = planned.memory_bytes(w, rows);
        if bytes > memory.bytes {
            memory.bytes = bytes;
            memory.kind = planned.kind();
        }
        memory.lighter.extend(planned.lighter(w, rows, limit));
        memory.rereads |= planned.rereads();
        width = width.and_then(|w| planned.output_width(w));
        steps.push(planned);
    }
    (scale.unwrap_or(ScaleMethod::None), steps, memory)
}

/// Rows per chunk: `input.batch_rows` as written, else derived from `memory_limit` or,
/// without one, from the job's limit (at most the default). What the run needs is checked
/// against the limit, with the arithmetic in the message.
fn size_chunks(
    raw: &RawPipeline,
    dataset: &Dataset,
    features: &[usize],
    passthrough: &[usize],
    rows: &RowPlan,
    state: &StepMemory,
    problems: &mut Vec<String>,
) -> (usize, Option<Budget>) {
    let given = raw.input.batch_rows.filter(|&b| b > 0);
    let mut columns: Vec<usize> = features.iter().chain(passthrough).copied().collect();
    // Row stages read their columns too, and a filter makes a filtered copy of the batch.
    columns.extend(
        rows.reads
            .iter()
            .filter(|c| !columns.contains(c))
            .collect::<Vec<_>>(),
    );
    if !rows.filters.is_empty() {
        columns.extend(features.iter().chain(passthrough));
    }
    let demand = Demand {
        reader_bytes: (dataset.reader_bytes(&columns) as f64
            * budget::READER_FACTOR
            * dataset.row_groups_in_flight() as f64) as u64
            + dataset.metadata_bytes(),
        state_bytes: state.bytes,
        row_bytes: (columns.len().max(1) * 8) as u64,
        chunks: if raw.output.reduced || raw.report.evaluate.is_some() {
            budget::OUTPUT_CHUNKS
        } else {
            budget::FIT_CHUNKS
        } + if raw.input.spill && state.rereads {
            budget::SPILL_CHUNKS
        } else {
            0
        },
    };
    // The limit: `memory_limit` as written, else the job's own (its cgroup's, Slurm's or
    // the machine's available memory, whichever is smallest). Without a written limit
    // the chunks stay at most the default: a large machine reads as it always has, a
    // small job reads in smaller chunks instead of being OOM-killed.
    let (bytes, label, source, detail, most) =
        match (&raw.memory_limit, crate::engine::limits::job_memory()) {
            (Some(limit), _) => (
                limit.bytes,
                format!("memory_limit = {limit}"),
                "memory_limit",
                String::new(),
                budget::MAX_BATCH_ROWS,
            ),
            (None, Some(job)) => (
                job.bytes,
                format!(
                    "the job's memory limit of {} ({}; set memory_limit to override it)",
                    budget::human(job.bytes as f64),
                    job.describe()
                ),
                job.source,
                job.detail.clone(),
                DEFAULT_BATCH_ROWS,
            ),
            (None, None) => return (given.unwrap_or(DEFAULT_BATCH_ROWS), None),
        };
    let lighter = if state.lighter.is_empty() {
        String::new()
    } else {
        format!("; {}", state.lighter.join("; "))
    };
    let rows = match given {
        Some(rows) => {
            // a chunk never holds more rows than the input has
            let held = dataset
                .total_rows
                .map_or(rows, |n| rows.min(n.max(1) as usize));
            if source != "memory_limit" {
                // the job's limit, which the user did not write: said as for any size
                crate::engine::check_memory(
                    "input.batch_rows",
                    rows,
                    demand.estimate(held) as f64,
                    problems,
                );
            } else if demand.estimate(held) > bytes {
                let fits = demand
                    .batch_rows(bytes)
                    .map_or(String::new(), |r| format!("; input.batch_rows = {r} fits"));
                problems.push(format!(
                    "{label}: input.batch_rows = {rows} needs about {}{fits}{lighter}",
                    demand.explain(held)
                ));
            }
            rows
        }
        None => match demand.batch_rows(bytes) {
            Some(rows) => rows.min(most),
            None => {
                let min = budget::MIN_BATCH_ROWS;
                let biggest = if demand.reader_bytes > state.bytes && dataset.is_remote() {
                    " (the Parquet reader holds a row group's column chunks from object \
                     storage: files with smaller row groups need less)"
                        .to_string()
                } else if demand.reader_bytes > state.bytes {
                    " (the Parquet reader holds each column's dictionary and a data page: \
                     fewer columns, or files written without dictionaries, need less)"
                        .to_string()
                } else if state.kind.is_empty() {
                    String::new()
                } else {
                    format!(" (the {} step's fit holds most)", state.kind)
                };
                problems.push(format!(
                    "{label} is too small for chunks of {min} rows: {}{biggest}{lighter}",
                    demand.explain(min)
                ));
                min
            }
        },
    };
    (rows, Some(demand.budget(bytes, rows, source, &detail)))
}

fn select_features(
    selector: &FeatureSelector,
    dataset: &Dataset,
    passthrough: &[usize],
    problems: &mut Vec<String>,
) -> Vec<usize> {
    // a derived column that is not a number (text, a boolean) is a label, never taken by
    // `exclude` or `regex` (docs/steps.md); `include` may still name it, and is refused
    let first_derived = dataset.columns.len() - dataset.derived;
    let all = (0..dataset.columns.len())
        .filter(|&i| i < first_derived || matches!(dataset.columns[i].kind, ColumnKind::Numeric));
    match selector {
        FeatureSelector::Include(names) => {
            let mut out = Vec::new();
            for name in names {
                match dataset.column_index(name) {
                    Some(i) if out.contains(&i) => problems.push(format!(
                        "input.features.include: column '{name}' is listed twice"
                    )),
                    Some(i) => out.push(i),
                    None => problems.push(format!(
                        "input.features.include: column '{name}' does not exist in {}",
                        dataset.path
                    )),
                }
            }
            out
        }
        FeatureSelector::Exclude(names) => {
            for name in names {
                if dataset.column_index(name).is_none() {
                    problems.push(format!(
                        "input.features.exclude: column '{name}' does not exist in {}",
                        dataset.path
                    ));
                }
            }
            all.filter(|&i| !passthrough.contains(&i) && !names.contains(&dataset.columns[i].name))
                .collect()
        }
        FeatureSelector::Regex(pattern) => match Regex::new(pattern) {
            Ok(re) => {
                let out: Vec<usize> = all
                    .filter(|&i| !passthrough.contains(&i) && re.is_match(&dataset.columns[i].name))
                    .collect();
                if out.is_empty() {
                    problems.push(format!(
                        "input.features.regex: '{pattern}' matches no column"
                    ));
                }
                out
            }
            Err(e) => {
                problems.push(format!(
                    "input.features.regex: invalid pattern: {}",
                    e.to_string().lines().last().unwrap_or("")
                ));
                Vec::new()
            }
        },
    }
}
