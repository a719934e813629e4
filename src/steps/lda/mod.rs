//! The `lda` step: linear discriminant analysis as scikit-learn's
//! `LinearDiscriminantAnalysis` computes it, from each class's count, mean and co-moment,
//! gathered in one pass that merges across chunks and shards (Chan et al.'s update per
//! class), each class's rows taken in fixed blocks of `BLOCK_ROWS` whatever the chunk
//! size, so the model is bit-for-bit the same for every `batch_rows`. The only supervised step: the fit loop hands it each chunk's labels
//! (`PlannedStep::label`). `solve` holds the mathematics. With `predict` it is also the
//! classifier (`predict`, `predict_proba`), whose columns follow the discriminants.

mod fitted;
pub mod params;
pub mod solve;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

use super::state::SavedMat;
use super::{Fit, FitStep, FittedStep, MergeFit, PartialState, PlannedStep, StepInput};
use crate::blocks::Blocks;
use crate::engine::PassStats;
use crate::error::{Error, Result};
use crate::source::labels::classes;
use crate::steps::Named;
use crate::steps::{MomentsPass, Pass};
pub use fitted::FittedLda;
use params::{LdaParams, LdaSolver, Shrinkage};
use solve::{ClassStats, Higher};

/// The step kind's registration (`steps::registry!`).
pub struct Kind;

impl crate::steps::StepKind for Kind {
    type Params = LdaParams;
    fn plan(params: &Self::Params) -> Box<dyn crate::steps::PlannedStep> {
        Box::new(PlannedLda::new(params.clone()))
    }
    fn load(
        model: &serde_json::Map<String, serde_json::Value>,
        input: usize,
    ) -> crate::error::Result<Box<dyn crate::steps::FittedStep>> {
        FittedLda::from_model(model, input).map(|s| Box::new(s) as _)
    }
    const COMPARED_AS: Option<&'static str> = Some("LDA");
    /// The LDA of the training rows at the output's width, at most classes − 1.
    fn baseline(ctx: &crate::steps::BaselineContext<'_>) -> Result<Self::Params> {
        let k = ctx
            .width
            .min(ctx.classes.saturating_sub(1))
            .min(ctx.features);
        if k == 0 {
            return Err(Error::config(
                "LDA needs two classes among the training rows",
            ));
        }
        crate::steps::params_from(serde_json::json!({"label": ctx.label, "n_components": k}))
    }
    /// Its accuracy whatever width the projection keeps.
    fn own_classifier(params: &Self::Params, label: &str) -> Option<Self::Params> {
        params.predict.then(|| LdaParams {
            label: label.to_string(),
            n_components: None,
            ..params.clone()
        })
    }
}

#[derive(Debug, Clone)]
pub struct PlannedLda {
    params: LdaParams,
}

impl PlannedLda {
    pub fn new(params: LdaParams) -> PlannedLda {
        PlannedLda { params }
    }
}

impl PlannedStep for PlannedLda {
    fn kind(&self) -> &'static str {
        Kind::NAME
    }

    fn check(&mut self, width: Option<usize>, _rows: Option<u64>, problems: &mut Vec<String>) {
        let p = &self.params;
        if p.label.trim().is_empty() {
            problems.push("lda.label: must name the class column".into());
        }
        match (p.n_components, width) {
            (Some(0), _) => problems.push("lda.n_components: must be at least 1".into()),
            (Some(k), Some(w)) if k > w => problems.push(format!(
                "lda.n_components: {k} is more than min(classes − 1, features) allows: there are {w} features"
            )),
            _ => {}
        }
        if !(p.tol > 0.0 && p.tol.is_finite()) {
            problems.push(format!("lda.tol: must be a positive number, not {}", p.tol));
        }
        if let Some(s) = p.shrinkage {
            if p.solver == LdaSolver::Svd {
                problems.push(
                    "lda.shrinkage: only with solver: eigen (as scikit-learn's svd solver)".into(),
                );
            }
            if let Shrinkage::Fixed(s) = s
                && !(0.0..=1.0).contains(&s)
            {
                problems.push(format!(
                    "lda.shrinkage: must be auto or a number in [0, 1], not {s}"
                ));
            }
        }
        if let Some(priors) = &p.priors {
            priors.problems(problems);
        }
    }

    fn label(&self) -> Option<&str> {
        Some(&self.params.label)
    }

    fn predicts(&self) -> Option<&'static str> {
        self.params.predict.then_some("lda.predict")
    }

    fn output_width(&self, input: usize) -> Option<usize> {
        self.params.n_components.map(|k| k.min(input))
    }

    /// Per class a co-moment, a mean and a block of rows (p² + p + BLOCK_ROWS·p; the
    /// classes are not known before reading, so two are counted) and the solve's
    /// within-class scatter and SVD (3 p²); with `shrinkage: auto` each class holds two
    /// more p × p co-moments (Ledoit–Wolf's third and fourth order sums).
    fn memory_bytes(&self, width: usize, _rows: Option<u64>) -> u64 {
        let p = width as u64;
        let per_class = if matches!(self.params.shrinkage, Some(Shrinkage::Named(_))) {
            3 * p * p
        } else {
            p * p
        };
        (2 * (per_class + p + BLOCK_ROWS as u64 * p) + 3 * p * p) * 8
    }

    fn start(&self, input: &StepInput) -> Result<Fit> {
        Ok(Fit::Merge(Box::new(LdaFit {
            params: self.params.clone(),
            input: input.clone(),
            classes: BTreeMap::new(),
            pending: BTreeMap::new(),
            first_row: BTreeMap::new(),
            done: false,
        })))
    }
}

/// One pass of per-class statistics, keyed by the label's text.
struct LdaFit {
    params: LdaParams,
    input: StepInput,
    classes: BTreeMap<String, ClassStats>,
    /// Each class's rows not yet summarised: a class's statistics grow by whole blocks.
    pending: BTreeMap<String, Blocks>,
    /// Each class's first data row, for a message about a class of one row.
    first_row: BTreeMap<String, u64>,
    done: bool,
}

const PASS: MomentsPass = MomentsPass::Fit;

/// Rows of a class summarised at a time, whatever the chunk size.
const BLOCK_ROWS: usize = 256;

/// The statistics of all rows of `x`, merged into `into`.
fn add_block(into: &mut ClassStats, x: MatRef<'_, f64>) {
    if x.nrows() > 0 {
        into.merge(&ClassStats::of(x, into.higher.is_some()));
    }
}

impl LdaFit {
    /// Whether the classes gather the higher co-moments Ledoit–Wolf needs.
    fn higher(&self) -> bool {
        matches!(self.params.shrinkage, Some(Shrinkage::Named(_)))
    }
}

impl FitStep for LdaFit {
    fn next_pass(&self) -> Option<Pass> {
        (!self.done).then(|| PASS.into())
    }

    fn update(&mut self, _x: MatRef<'_, f64>) -> Result<()> {
        Err(Error::internal(
            "the lda step was fed rows without their labels",
        ))
    }

    fn update_labelled(
        &mut self,
        x: MatRef<'_, f64>,
        labels: &[String],
        rows: &[u64],
    ) -> Result<()> {
        let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, l) in labels.iter().enumerate() {
            groups.entry(l.as_str()).or_default().push(i);
        }
        let p = x.ncols();
        for (label, members) in groups {
            if let Some(&first) = members.first().and_then(|&i| rows.get(i)) {
                self.first_row.entry(label.to_string()).or_insert(first);
            }
            let picked = Mat::from_fn(members.len(), p, |r, j| x[(members[r], j)]);
            let higher = self.higher();
            let entry = self
                .classes
                .entry(label.to_string())
                .or_insert_with(|| ClassStats::empty(p, higher));
            self.pending
                .entry(label.to_string())
                .or_insert_with(|| Blocks::new(BLOCK_ROWS, p))
                .push(picked.as_ref(), |block| add_block(entry, block));
        }
        Ok(())
    }

    fn end_pass(&mut self, stats: &PassStats) -> Result<()> {
        for (label, blocks) in &mut self.pending {
            if let Some(entry) = self.classes.get_mut(label) {
                add_block(entry, blocks.take_rest());
            }
        }
        self.pending.clear();
        let n = self.classes.values().map(|s| s.n).sum();
        super::check_rows(&self.input, "lda", stats, n)?;
        self.done = true;
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        let p = self.input.width();
        let square = if self.higher() { 3 * p * p } else { p * p };
        self.classes.len() * (square + p) * 8
            + self.pending.values().map(Blocks::size_bytes).sum::<usize>()
    }

    fn finish(self: Box<Self>) -> Result<Box<dyn FittedStep>> {
        let label = &self.params.label;
        let names: Vec<String> = self.classes.keys().cloned().collect();
        let order = classes(&names);
        if order.len() < 2 {
            return Err(Error::data(format!(
                "lda: label column '{label}' has one class ({}); it needs at least two",
                order.first().map_or("", String::as_str)
            )));
        }
        if let Some((name, s)) = self.classes.iter().find(|(_, s)| s.n < 2) {
            let at = self
                .first_row
                .get(name)
                .map(|r| format!(" (data row {r})"))
                .unwrap_or_default();
            return Err(Error::data(format!(
                "lda: class '{name}' of label column '{label}' has {} row{at}; every class needs at least 2",
                s.n
            )));
        }
        let p = self.input.width();
        let most = (order.len() - 1).min(p);
        let k = self.params.n_components.unwrap_or(most);
        if k > most {
            return Err(Error::config(format!(
                "lda.n_components: {k} is more than min(classes − 1, features) = {most} ({} classes in '{label}', {p} features)",
                order.len()
            )));
        }
        if self.params.predict
            && let Some(example) = continuous(&order)
        {
            return Err(Error::config(format!(
                "lda.predict: label column '{label}' holds continuous values ({} distinct in {} rows, such as {example}); predict needs classes: a column of class names or whole numbers",
                order.len(),
                self.classes.values().map(|s| s.n).sum::<u64>()
            )));
        }
        let priors = match &self.params.priors {
            Some(priors) => Some(priors.resolve(&order, label).map_err(Error::config)?),
            None => None,
        };
        let stats: Vec<ClassStats> = order.iter().map(|c| self.classes[c].clone()).collect();
        let lda = solve::solve(
            &stats,
            self.params.solver,
            self.params.shrinkage,
            self.params.tol,
            k,
            priors,
        )?;
        Ok(Box::new(FittedLda::new(
            order,
            self.params.solver,
            label.clone(),
            lda,
            Some(stats.iter().map(|s| s.n).collect()),
            self.params.predict,
        )))
    }
}

/// A class name that shows the label is a measurement rather than a class: a number
/// with a fractional part (a label of whole numbers or names is taken as classes).
fn continuous(classes: &[String]) -> Option<&str> {
    classes
        .iter()
        .find(|c| {
            c.parse::<f64>()
                .is_ok_and(|v| v.is_finite() && v.fract() != 0.0)
        })
        .map(String::as_str)
}

/// Rows of the label column `predict`'s plan-time check reads.
const LABEL_PEEK_ROWS: usize = 8192;

/// `predict` on a label whose values are measurements: refused at plan time (so by
/// `dimred validate`) from the label column's first rows, naming their distinct count.
/// A derived label column, or one that cannot be read here, is left to the fit's check.
pub fn check_label_rows(
    params: &LdaParams,
    dataset: &crate::source::Dataset,
    problems: &mut Vec<String>,
) {
    let Some(column) = dataset.column_index(&params.label) else {
        return;
    };
    if !params.predict || column >= dataset.file_width() {
        return;
    }
    let spec = crate::source::ReadSpec {
        features: Vec::new(),
        passthrough: vec![column],
        batch_rows: LABEL_PEEK_ROWS,
        missing: crate::source::MissingMode::Lenient,
        shuffle: None,
        decoder: None,
        stages: Vec::new(),
        shard: None,
        reads: Vec::new(),
    };
    let mut values: Vec<String> = Vec::new();
    let mut rows = 0;
    let _ = dataset.read(
        &spec,
        &crate::progress::Progress::hidden(),
        None,
        &mut |chunk| {
            if let Some(batch) = &chunk.passthrough
                && let Ok(labels) =
                    crate::source::labels::label_values(batch.column(0), &params.label)
            {
                rows += labels.len();
                values.extend(labels.into_iter().flatten());
            }
            rows < LABEL_PEEK_ROWS
        },
    );
    values.sort();
    values.dedup();
    if let Some(example) = continuous(&values) {
        problems.push(format!(
            "lda.predict: label column '{}' holds continuous values ({} distinct in its first {rows} rows, such as {example}); predict needs classes: a column of class names or whole numbers",
            params.label,
            values.len()
        ));
    }
}

/// A class's statistics as saved in a partial state.
#[derive(Serialize, Deserialize)]
struct SavedClass {
    label: String,
    n: u64,
    mean: Vec<f64>,
    comoment: SavedMat,
    /// With `shrinkage: auto`: Σ dᵢ² dⱼ and Σ dᵢ² dⱼ².
    #[serde(default, skip_serializing_if = "Option::is_none")]
    third: Option<SavedMat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fourth: Option<SavedMat>,
}

impl MergeFit for LdaFit {
    fn save(&self) -> PartialState {
        // with the rows of a pass still pending (a shard saves before its pass ends)
        let classes: Vec<SavedClass> = self
            .classes
            .iter()
            .map(|(label, s)| {
                let mut s = s.clone();
                if let Some(blocks) = self.pending.get(label) {
                    add_block(&mut s, blocks.rest());
                }
                SavedClass {
                    label: label.clone(),
                    n: s.n,
                    mean: s.mean,
                    comoment: SavedMat::of(s.comoment.as_ref()),
                    third: s.higher.as_ref().map(|h| SavedMat::of(h.third.as_ref())),
                    fourth: s.higher.as_ref().map(|h| SavedMat::of(h.fourth.as_ref())),
                }
            })
            .collect();
        PartialState::new(Kind::NAME, PASS, &self.input.fingerprint, &classes)
    }

    fn merge(&mut self, other: &PartialState) -> Result<()> {
        let saved: Vec<SavedClass> = other.state_of(Kind::NAME, PASS, &self.input.fingerprint)?;
        let p = self.input.width();
        for c in saved {
            let comoment = c.comoment.to_mat()?;
            if c.mean.len() != p || comoment.nrows() != p || comoment.ncols() != p {
                return Err(Error::config("malformed lda state: widths differ"));
            }
            let higher = match (c.third, c.fourth) {
                (Some(t), Some(f)) => Some(Higher {
                    third: t.to_mat()?,
                    fourth: f.to_mat()?,
                }),
                _ => None,
            };
            if higher.is_some() != self.higher() {
                return Err(Error::config(
                    "malformed lda state: its shrinkage statistics do not match the step's",
                ));
            }
            let theirs = ClassStats {
                n: c.n,
                mean: c.mean,
                comoment,
                higher,
            };
            let higher = self.higher();
            let entry = self
                .classes
                .entry(c.label)
                .or_insert_with(|| ClassStats::empty(p, higher));
            entry.merge(&theirs);
        }
        Ok(())
    }
}
