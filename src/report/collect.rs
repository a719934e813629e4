//! The hooks a fitting step calls to get its run into report.html: a `Collector` fed from
//! the output pass (labels, sample, first rows), finished with the step's reconstruction
//! map into the saved `ReportSample` and the classifier evaluation; then
//! `write_report_files` writes report_sample.json and report.html beside report.json, and
//! `rerender` rebuilds report.html from those two files (`dimred report DIR`).

use std::path::{Path, PathBuf};

use faer::{Mat, MatRef};

use super::Report;
use super::embedding::Embedded;
use super::sample::{
    Loadings, MAX_CORRELATION_FEATURES, ReportSample, SampleOptions, Sampler, label_values,
};
use crate::chunk::Chunk;
use crate::config::{EmbedSpace, Plan, RawEmbedding, RawEvaluate, RawStep, ScaleMethod};
use crate::error::{Error, Result};
use crate::evaluate::{EvaluationReport, evaluate};
use crate::sink::write_atomic;

pub const SAMPLE_FILE: &str = "report_sample.json";
pub const HTML_FILE: &str = "report.html";
pub const JSON_FILE: &str = "report.json";

/// Where a label column sits in the chunk's passthrough batch, and its name.
#[derive(Debug, Clone)]
struct LabelColumn {
    position: usize,
    name: String,
}

/// Gathers what the report needs while the output pass runs (see `pipeline::run`).
pub struct Collector {
    sampler: Sampler,
    label: Option<LabelColumn>,
    color: Option<LabelColumn>,
    evaluate: Option<RawEvaluate>,
    correlation: bool,
    pushed: bool,
    /// Score PCA codes of the reduced width too (the reducer is not a PCA).
    /// The reducers the classifier check compares the output with.
    baselines: crate::evaluate::Baselines,
    embedding: Option<RawEmbedding>,
    /// Passthrough columns written (the first of the chunk's passthrough batch).
    written: usize,
}

/// What `Collector::finish` yields: the saved sample and the evaluation for report.json.
pub struct Collected {
    pub sample: ReportSample,
    pub evaluation: Option<EvaluationReport>,
    /// The `report.embedding` picture, when asked and a sample was drawn.
    pub embedding: Option<Embedded>,
}

impl Collector {
    /// For `plan`; the output pass must read `plan.report.read_columns()` after the
    /// passthrough columns (see `Chunk::passthrough_prefix`).
    pub fn new(plan: &Plan) -> Collector {
        let read: Vec<usize> = plan
            .passthrough
            .iter()
            .chain(plan.report.read_columns())
            .copied()
            .collect();
        let locate = |column: Option<usize>| {
            column.map(|c| LabelColumn {
                position: read
                    .iter()
                    .position(|&r| r == c)
                    .expect("label column is read"),
                name: plan.dataset.columns[c].name.clone(),
            })
        };
        let p = plan.features.len();
        let correlation = p <= MAX_CORRELATION_FEATURES
            && matches!(plan.scale, ScaleMethod::Standard | ScaleMethod::Minmax);
        let evaluate = plan.report.raw.evaluate.clone();
        let evaluate_opts_baselines = evaluate.as_ref().map_or_else(Default::default, |e| {
            crate::evaluate::baselines(e, plan.reducer(), &plan.raw.steps)
        });
        let embedding = plan.report.raw.embedding.clone();
        let scaled_picture = embedding
            .as_ref()
            .is_some_and(|e| e.space == EmbedSpace::Scaled);
        Collector {
            sampler: Sampler::new(SampleOptions {
                rows: plan.report.reservoir_rows(),
                keep_passthrough: embedding.is_some() && !plan.passthrough.is_empty(),
                keep_scaled: evaluate.is_some() || correlation || scaled_picture,
                image_shape: plan
                    .report
                    .raw
                    .image_shape
                    .as_ref()
                    .filter(|s| s.len() == 2)
                    .map(|s| [s[0], s[1]])
                    .or_else(|| autoencoder_image(plan).map(|(shape, _)| shape)),
                sequence: plan.report.raw.image_shape.is_none()
                    && autoencoder_image(plan).is_some_and(|(_, sequence)| sequence),
            }),
            label: locate(plan.report.label),
            color: locate(plan.report.color),
            evaluate,
            correlation,
            pushed: false,
            baselines: evaluate_opts_baselines,
            embedding,
            written: plan.passthrough.len(),
        }
    }

    /// Whether `push` reads its `scaled` argument (the evaluation or the correlation
    /// needs the scaled features); when not, any matrix will do.
    pub fn wants_scaled(&self) -> bool {
        self.evaluate.is_some()
            || self.correlation
            || self
                .embedding
                .as_ref()
                .is_some_and(|e| e.space == EmbedSpace::Scaled)
    }

    /// Feeds one chunk of the output pass: `scaled` is the reducer's input for the chunk's
    /// rows, `reduced` their coordinates (the first `k` columns are used).
    pub fn push(
        &mut self,
        chunk: &Chunk,
        scaled: MatRef<'_, f64>,
        reduced: MatRef<'_, f64>,
        k: usize,
    ) -> Result<()> {
        self.pushed = true;
        let values = |c: &Option<LabelColumn>| -> Result<Option<Vec<Option<String>>>> {
            match (c, &chunk.passthrough) {
                (Some(c), Some(batch)) => label_values(batch.column(c.position), &c.name).map(Some),
                _ => Ok(None),
            }
        };
        let label = values(&self.label)?;
        let color = values(&self.color)?;
        self.sampler.push(
            chunk.features.as_ref(),
            scaled,
            reduced,
            k,
            label.as_deref(),
            color.as_deref(),
            chunk.passthrough_prefix(self.written).as_ref(),
        );
        Ok(())
    }

    /// Ends the collection. `reconstruct` maps raw rows to their reconstructions in raw
    /// feature space; `loadings` are the step's, when it has any.
    pub fn finish(
        self,
        reconstruct: &dyn Fn(MatRef<'_, f64>) -> Option<Mat<f64>>,
        loadings: Option<Loadings>,
    ) -> Result<Collected> {
        let with_color = self.color.is_some();
        let (mut sample, rows, passthrough) =
            self.sampler
                .finish(reconstruct, with_color, self.correlation);
        sample.loadings = loadings;
        let embedding = match &self.embedding {
            Some(raw) if self.pushed => Some(super::embedding::picture(
                raw,
                &rows,
                sample.color.as_deref(),
                passthrough.as_ref(),
            )?),
            _ => None,
        };
        if let Some(e) = &embedding {
            sample.embedding = Some(e.points.clone());
        }
        let evaluation = match (&self.evaluate, self.pushed) {
            (Some(options), true) => Some(evaluate(&rows, options, &self.baselines)),
            (Some(options), false) => Some(EvaluationReport::skipped(
                options,
                "no output pass (output.reduced: false), so no sample to train and test on",
            )),
            (None, _) => None,
        };
        Ok(Collected {
            sample,
            evaluation,
            embedding,
        })
    }
}

/// The report files beside report.json, as listed in `report.outputs`.
pub fn report_paths(dir: &Path) -> [PathBuf; 2] {
    [dir.join(SAMPLE_FILE), dir.join(HTML_FILE)]
}

/// Writes report_sample.json and report.html (atomically) into `dir`.
pub fn write_report_files(dir: &Path, report: &Report, sample: &ReportSample) -> Result<()> {
    let [sample_path, html_path] = report_paths(dir);
    let mut bytes = serde_json::to_vec(sample).expect("sample serialises");
    bytes.push(b'\n');
    write_atomic(&sample_path, &bytes)?;
    write_atomic(
        &html_path,
        super::html::render(report, Some(sample)).as_bytes(),
    )
}

/// `dimred report DIR`: re-renders DIR/report.html from DIR/report.json and
/// DIR/report_sample.json. Returns the page's path.
pub fn rerender(dir: &Path) -> Result<PathBuf> {
    let read = |name: &str| -> Result<(PathBuf, String)> {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::io("find the report file (run `dimred run` first)", &path, e)
            } else {
                Error::io("read", &path, e)
            }
        })?;
        Ok((path, text))
    };
    let (json_path, json) = read(JSON_FILE)?;
    let report: Report = serde_json::from_str(&json)
        .map_err(|e| Error::data(format!("{}: not a dimred report: {e}", json_path.display())))?;
    let (sample_path, text) = read(SAMPLE_FILE)?;
    let sample: ReportSample = serde_json::from_str(&text).map_err(|e| {
        Error::data(format!(
            "{}: not a dimred report sample: {e}",
            sample_path.display()
        ))
    })?;
    let html_path = dir.join(HTML_FILE);
    write_atomic(
        &html_path,
        super::html::render(&report, Some(&sample)).as_bytes(),
    )?;
    Ok(html_path)
}

/// `[height, width]` of an autoencoder that reads the features themselves (after a scale
/// at most) as one-channel images, or `[steps, features]` of one that reads them as
/// sequences (then true): its reconstructions are drawn as such images, or windows of
/// lines, without `report.image_shape`.
fn autoencoder_image(plan: &Plan) -> Option<([usize; 2], bool)> {
    for step in &plan.raw.steps {
        match step {
            RawStep::Autoencoder(a) => {
                let dims: Vec<usize> = a.shape.as_ref()?.iter().map(|d| d.0).collect();
                return match dims[..] {
                    [h, w, 1] if h * w == plan.features.len() => Some(([h, w], false)),
                    [t, f] if t * f == plan.features.len() => Some(([t, f], true)),
                    _ => None,
                };
            }
            RawStep::Scale(_) | RawStep::Filter(_) | RawStep::Derive(_) => {}
            _ => return None,
        }
    }
    None
}
