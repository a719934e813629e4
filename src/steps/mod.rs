//! Pipeline steps, each kind in a folder of its own with the same lifecycle (linfa's
//! params/fitted split, DataFusion's accumulator contract):
//!
//! - **planned** (`PlannedStep`): parameters checked against the input's width, solvers
//!   resolved, so `dimred validate` sees what will run;
//! - **fitting** (`Fit`): the passes it needs, `update` with each chunk of its input,
//!   `end_pass`, its memory `size_bytes`, and `finish` into a fitted step. A state whose
//!   statistics combine across shards is a `MergeFit` (save / merge a `PartialState`);
//!   one that cannot (incremental PCA) is a plain `FitStep`, and one that reads the data
//!   its own way (the autoencoder's shuffled epochs) is a `DrivenFit`: the variant says
//!   which, not a run-time error;
//! - **fitted** (`FittedStep`): transforms a chunk, inverts it, writes its own sections
//!   of model.json and report.json, its arrays of model.npz and its ONNX nodes.
//!
//! `fitted::FittedPipeline` is the fitted steps in order. Adding a kind means a folder
//! here with a `Kind` implementing `StepKind` and, in this file only, its `pub mod` line
//! and its line in `registry!` (docs/architecture.md, "How to add a step").

pub mod autoencoder;
pub mod fitted;
mod helpers;
pub mod kernel_pca;
pub mod lda;
#[cfg(test)]
mod merge_tests;
pub mod pca;
pub mod random_projection;
pub mod rows;
pub mod scale;
pub mod state;
pub mod truncated_svd;

use std::path::Path;

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::engine::{PassReport, PassStats};
use crate::error::{Error, Result};
use crate::npz;
use crate::onnx::Graph;
use crate::source::{Dataset, ReadSpec};
pub use fitted::FittedPipeline;
pub use helpers::{
    check_positive, check_rows, field, params_from, pseudo_inverse, rows_json, rows_mat,
};
pub use state::PartialState;

/// A kind of step: its keys as the pipeline file writes them, how a written step plans
/// and how its sections of a model.json load. Its YAML name lives once, on its line of
/// `registry!` below, which gives the kind `Named::NAME`.
pub trait StepKind {
    type Params: std::fmt::Debug + Clone + PartialEq + Serialize + serde::de::DeserializeOwned;
    fn plan(params: &Self::Params) -> Box<dyn PlannedStep>;
    /// The fitted step from its sections of a model.json; `input` is its input width.
    fn load(model: &Map<String, Value>, input: usize) -> Result<Box<dyn FittedStep>>;
    /// Its name in the report's comparison of reducers, when `report.evaluate.compare`
    /// may list it.
    const COMPARED_AS: Option<&'static str> = None;
    /// Its comparison fit's keys (the reducer fitted on the training rows' scaled
    /// features at the output's width), for a kind with `COMPARED_AS`.
    fn baseline(_ctx: &BaselineContext<'_>) -> Result<Self::Params> {
        Err(Error::internal("this step kind is not a baseline"))
    }
    /// The pipeline's own step refitted on the training rows for its accuracy when it
    /// is a classifier (LDA's `predict: true`): its keys, learning `label`.
    fn own_classifier(_params: &Self::Params, _label: &str) -> Option<Self::Params> {
        None
    }
}

/// What a comparison fit (`report.evaluate.compare`) is sized by.
pub struct BaselineContext<'a> {
    /// The output's width, which each baseline keeps (fewer when it cannot).
    pub width: usize,
    /// Training rows, their features and their classes.
    pub rows: usize,
    pub features: usize,
    pub classes: usize,
    /// The evaluation's label column and seed.
    pub label: &'a str,
    pub seed: u64,
    /// The pipeline's steps as written (a kernel PCA baseline takes their kernel).
    pub steps: &'a [RawStep],
    /// `report.evaluate.kernel`.
    pub kernel: Option<&'a kernel_pca::BaselineKernel>,
}

/// A registered kind's YAML name (and model.json's `steps` entry).
pub trait Named {
    const NAME: &'static str;
}

/// The registry: one line per step kind, `"yaml name" => Variant(its StepKind)`. From
/// it come the pipeline file's step enum (`RawStep`), the list of kinds (`KINDS`),
/// planning (`RawStep::plan`) and model loading (`load_step`).
macro_rules! registry {
    ($($(#[$doc:meta])* $name:literal => $variant:ident($kind:ty)),+ $(,)?) => {
        /// A step as the pipeline file writes it.
        #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
        #[serde(deny_unknown_fields)]
        pub enum RawStep {
            $($(#[$doc])* #[serde(rename = $name)] $variant(<$kind as StepKind>::Params),)+
        }

        $(impl Named for $kind {
            const NAME: &'static str = $name;
        })+

        /// Every step kind's YAML name, in the registry's order.
        pub const KINDS: &[&str] = &[$($name),+];

        impl RawStep {
            pub fn kind(&self) -> &'static str {
                match self {
                    $(RawStep::$variant(_) => $name,)+
                }
            }

            /// The step refitted as a classifier learning `label`, when it is one.
            pub fn own_classifier(&self, label: &str) -> Option<RawStep> {
                match self {
                    $(RawStep::$variant(p) => {
                        <$kind as StepKind>::own_classifier(p, label).map(RawStep::$variant)
                    })+
                }
            }

            /// Its planned form (checked by `PlannedStep::check`).
            pub fn plan(&self) -> Box<dyn PlannedStep> {
                match self {
                    $(RawStep::$variant(p) => <$kind as StepKind>::plan(p),)+
                }
            }
        }

        /// The kinds `report.evaluate.compare` may list, in the registry's order.
        pub fn compared_kinds() -> &'static [&'static str] {
            static KINDS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
            KINDS.get_or_init(|| {
                let mut kinds = Vec::new();
                $(if <$kind as StepKind>::COMPARED_AS.is_some() {
                    kinds.push($name);
                })+
                kinds
            })
        }

        /// A compared kind's name in the report.
        pub fn compared_as(kind: &str) -> Option<&'static str> {
            match kind {
                $($name => <$kind as StepKind>::COMPARED_AS,)+
                _ => None,
            }
        }

        /// A compared kind's comparison fit, as a step.
        pub fn baseline_step(kind: &str, ctx: &BaselineContext<'_>) -> Result<RawStep> {
            match kind {
                $($name if <$kind as StepKind>::COMPARED_AS.is_some() => {
                    <$kind as StepKind>::baseline(ctx).map(RawStep::$variant)
                })+
                other => Err(Error::internal(format!("'{other}' is not a baseline"))),
            }
        }

        /// A step's sections of a model.json → the fitted step. `input` is the step's
        /// input width.
        pub fn load_step(
            kind: &str,
            model: &Map<String, Value>,
            input: usize,
        ) -> Result<Box<dyn FittedStep>> {
            match kind {
                $($name => <$kind as StepKind>::load(model, input),)+
                other => Err(Error::config(format!("unknown step kind '{other}'"))),
            }
        }
    };
}

registry! {
    "scale" => Scale(scale::Kind),
    "pca" => Pca(pca::Kind),
    "autoencoder" => Autoencoder(autoencoder::Kind),
    "random_projection" => RandomProjection(random_projection::Kind),
    "lda" => Lda(lda::Kind),
    "kernel_pca" => KernelPca(kernel_pca::Kind),
    "truncated_svd" => TruncatedSvd(truncated_svd::Kind),
    /// Row steps: evaluated by the reader on each chunk, before the fitted steps.
    "filter" => Filter(rows::RowKind<rows::RowExpr>),
    "derive" => Derive(rows::RowKind<rows::DeriveParams>),
}

impl RawStep {
    /// A row step (`filter`, `derive`), which the reader runs rather than a fit.
    pub fn row_step(&self) -> Option<rows::RowStep<'_>> {
        match self {
            RawStep::Filter(e) => Some(rows::RowStep::Filter(e)),
            RawStep::Derive(d) => Some(rows::RowStep::Derive(d)),
            _ => None,
        }
    }
}

/// What a step fits on: the width and names of its input columns, and where they come
/// from (for messages).
#[derive(Debug, Clone)]
pub struct StepInput {
    pub names: Vec<String>,
    /// The input's path as the user wrote it.
    pub source: String,
    /// Rows in the input when its metadata says (Parquet), or as the fit so far counted.
    pub total_rows: Option<u64>,
    /// The pipeline's fingerprint (`state::fingerprint` of its input and steps), stamped
    /// on partial states so that only states of the same pipeline merge.
    pub fingerprint: String,
    /// Every feature is stored as float32 in the input (`ColumnInfo::float32`): a fit may
    /// then multiply the rows in f32 (the randomized PCA's products).
    pub float32: bool,
}

impl StepInput {
    pub fn width(&self) -> usize {
        self.names.len()
    }
}

/// A step with checked parameters, ready to start fitting.
pub trait PlannedStep: std::fmt::Debug + Send + Sync {
    fn kind(&self) -> &'static str;
    /// Takes a `scale` step written just before it into its own fit (PCA learns the
    /// scaler from the statistics of its own first pass, so the pair costs one pass).
    fn absorb_scale(&mut self, _method: scale::params::ScaleMethod) -> bool {
        false
    }
    /// Checks the keys against its input: `width` when the plan knows it (not after a PCA
    /// keeping a fraction of variance), `rows` when the input's metadata says. Resolves
    /// what depends on them (PCA's `solver: auto`).
    fn check(&mut self, _width: Option<usize>, _rows: Option<u64>, _problems: &mut Vec<String>) {}
    /// Whether its fitted step has a `score` (`output.score`, `transform --score`).
    fn scores(&self) -> bool {
        false
    }
    /// Its output width when the plan already knows it.
    fn output_width(&self, input: usize) -> Option<usize>;
    /// Bytes its fit holds at most (accumulators, buffers, the decomposition's
    /// workspace) on an input of `width` columns and `rows` rows when known: the
    /// `memory_limit` arithmetic. Chunks are counted by the engine, not here.
    fn memory_bytes(&self, _width: usize, _rows: Option<u64>) -> u64 {
        0
    }
    /// Whether its fit reads the rows many times and so keeps a spill file
    /// (`FitStep::rereads`), whose records in flight the memory model counts.
    fn rereads(&self) -> bool {
        false
    }
    /// Whether its fit is a single pass of statistics that merge across shards, so that
    /// `dimred run --shard` and `dimred merge` can split it (exact and TSQR PCA).
    fn shards(&self) -> bool {
        false
    }
    /// Whether its fit is passes of mergeable statistics each starting from the merged
    /// result of the pass before, so that shards run it in rounds (a pass each) with a
    /// merge between (`MergeFit::between` / `resume`): the randomized PCA solver.
    fn rounds(&self) -> bool {
        false
    }
    /// A configuration of the same step that holds less, said for a `memory_limit` the
    /// step does not fit in (PCA's other solvers, a smaller autoencoder batch); `limit`
    /// is that limit, when one is set.
    fn lighter(&self, _width: usize, _rows: Option<u64>, _limit: Option<u64>) -> Option<String> {
        None
    }
    /// Whether its fitted map can be inverted (reconstructions, the reconstruction error,
    /// `transform --inverse`); kernel PCA's only when fitted with `fit_inverse_transform`.
    fn invertible(&self) -> bool {
        true
    }
    /// The label column a supervised step learns from: the fit loop reads it beside the
    /// features and calls `FitStep::update_labelled`.
    fn label(&self) -> Option<&str> {
        None
    }
    /// The YAML key that makes it a classifier writing prediction columns (LDA's
    /// `predict`), when set: only the last step may, as its columns feed no step.
    fn predicts(&self) -> Option<&'static str> {
        None
    }
    fn start(&self, input: &StepInput) -> Result<Fit>;
}

/// A fit in progress; the variant says how it meets the data.
pub enum Fit {
    /// Passes of chunks; partial states from shards merge.
    Merge(Box<dyn MergeFit>),
    /// Passes of chunks in order; no merge (incremental PCA's SVD depends on the order).
    Sequential(Box<dyn FitStep>),
    /// Reads the data itself (the autoencoder's shuffled epochs); no merge.
    Driven(Box<dyn DrivenFit>),
}

impl Fit {
    /// The fit as one fed by passes of chunks (a merge or a sequential fit), or the
    /// driven one.
    pub fn streamed(self) -> std::result::Result<Box<dyn FitStep>, Box<dyn DrivenFit>> {
        match self {
            Fit::Merge(state) => Ok(state),
            Fit::Sequential(state) => Ok(state),
            Fit::Driven(state) => Err(state),
        }
    }
}

/// A fit's name for one of its passes. Each fit names its passes with an enum of its own
/// (the randomized solver's `Sketch`, `Power(i)`, …); the fit loop, progress lines,
/// report.json's `passes` and a partial state's `pass` see its label, whose JSON names
/// stay as they are so that saved states keep loading.
pub trait PassName: Copy {
    fn label(self) -> std::borrow::Cow<'static, str>;
}

/// A pass as the fit loop sees it: a fit's `PassName`, labelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass(std::borrow::Cow<'static, str>);

impl<P: PassName> From<P> for Pass {
    fn from(pass: P) -> Pass {
        Pass(pass.label())
    }
}

impl std::ops::Deref for Pass {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Pass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The one pass of a fit whose statistics are gathered once and merge across shards
/// (exact and TSQR PCA, exact truncated SVD, LDA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MomentsPass {
    Fit,
}

impl PassName for MomentsPass {
    fn label(self) -> std::borrow::Cow<'static, str> {
        "fit".into()
    }
}

/// A fit fed pass by pass with chunks of its input.
pub trait FitStep: Send {
    /// The pass it needs next, or None when it is ready to finish.
    fn next_pass(&self) -> Option<Pass>;
    /// One chunk of the current pass, in the step's input space.
    fn update(&mut self, x: MatRef<'_, f64>) -> Result<()>;
    /// `update` with each row's label, for a step whose plan names one (`label`), and
    /// each row's 1-based data row (for messages; empty when the rows have no place in a
    /// file).
    fn update_labelled(
        &mut self,
        x: MatRef<'_, f64>,
        _labels: &[String],
        _rows: &[u64],
    ) -> Result<()> {
        self.update(x)
    }
    /// The current pass is over; `stats` is what it read.
    fn end_pass(&mut self, stats: &PassStats) -> Result<()>;
    /// Whether the pass under way takes rows stored as f32 (`update32`) rather than widened
    /// to f64: a fit that multiplies them in f32 anyway then reads half the bytes.
    fn takes_float32(&self) -> bool {
        false
    }
    /// `update` for rows stored as f32 (only when `takes_float32`); by default widened.
    fn update32(&mut self, x: MatRef<'_, f32>) -> Result<()> {
        let wide = Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] as f64);
        self.update(wide.as_ref())
    }
    /// Whether the fit reads the same rows more than twice, so that keeping the first
    /// pass's chunks in a local file (`engine::spill`) saves decoding the input again.
    fn rereads(&self) -> bool {
        false
    }
    /// Threads the step's own work may use in the coming pass: the machine's cores, less
    /// the one the reader keeps busy decoding the input (all of them when the pass reads
    /// a spill file, which costs the reader little).
    fn set_threads(&mut self, _threads: usize) {}
    /// Memory held by the state, in bytes.
    fn size_bytes(&self) -> usize;
    fn finish(self: Box<Self>) -> Result<Box<dyn FittedStep>>;
}

/// A fit whose state after a pass combines with another shard's state of the same pass.
pub trait MergeFit: FitStep {
    /// The state after the current pass's chunks so far.
    fn save(&self) -> PartialState;
    /// Adds another shard's state of the same pass (and the same pipeline).
    fn merge(&mut self, other: &PartialState) -> Result<()>;
    /// For a fit in rounds (`PlannedStep::rounds`), between two passes: what the next
    /// pass's shards and merge start from (not the pass's accumulators).
    fn between(&self) -> Option<PartialState> {
        None
    }
    /// Continues from a state `between` saved, ready for the pass after it.
    fn resume(&mut self, _state: &PartialState) -> Result<()> {
        Err(Error::internal("this fit does not run in rounds"))
    }
}

/// What a driven fit may use: the data, the fitted steps before it, the run's options.
pub struct DriveContext<'a> {
    pub dataset: &'a Dataset,
    pub spec: &'a ReadSpec,
    /// The fitted steps before this one: raw features → this step's input.
    pub prefix: &'a FittedPipeline,
    pub input: StepInput,
    pub output_dir: &'a Path,
    pub quiet: bool,
    pub resume: bool,
    /// The pipeline's input section and steps as written (after overrides), for
    /// checkpoint fingerprints.
    pub raw_input: Value,
    pub raw_steps: &'a [RawStep],
    /// The run's memory model and limit (`Plan::memory`), for what a fit may hold beyond
    /// its planned state when there is room (the autoencoder's rows kept for replay).
    pub memory: Option<&'a crate::engine::budget::Budget>,
}

pub trait DrivenFit: Send {
    /// Fits; returns the fitted step and the passes it made.
    fn fit(
        self: Box<Self>,
        ctx: &DriveContext<'_>,
    ) -> Result<(Box<dyn FittedStep>, Vec<PassReport>)>;
}

/// A per-column affine map `(x − shift) / scale`.
#[derive(Debug, Clone, Copy)]
pub struct Affine<'a> {
    pub shift: &'a [f64],
    /// `None` only shifts.
    pub scale: Option<&'a [f64]>,
}

/// What a fitted step's report section may say about the run beyond its fit.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// Mean per-row squared reconstruction error over the output or evaluation pass.
    pub reconstruction_error: Option<f64>,
}

/// A step's density over its input rows (scikit-learn's `score_samples`).
pub trait RowScore {
    /// Each row's log-likelihood; `scratch` is reused storage.
    fn log_likelihood(&self, x: MatRef<'_, f64>, scratch: &mut Mat<f64>) -> Vec<f64>;
}

/// A fitted step: its forward map (`Transform`), its model files (`Export`) and its
/// report (`Describe`), which every step has, and the capabilities only some have, each
/// an `Option` so that a caller cannot use one a step lacks.
pub trait FittedStep: Transform + Export + Describe + Send + Sync {
    fn kind(&self) -> &'static str;
    /// Its way back (reconstructions, the reconstruction error, `transform --inverse`),
    /// when it has one: kernel PCA fitted without a pre-image map has none.
    fn inverter(&self) -> Option<&dyn Inverse> {
        None
    }
    /// Its probabilistic model, when it has one (PCA's): the `log_likelihood` column.
    fn score(&self) -> Option<&dyn RowScore> {
        None
    }
    /// Its classifier, when it writes prediction columns (LDA's `predict: true`).
    fn classifier(&self) -> Option<&dyn Classify> {
        None
    }
}

/// The forward map, applied to chunks.
pub trait Transform {
    fn output_names(&self) -> Vec<String>;
    /// Input rows → output rows; `scratch` is reused storage (resized as needed).
    fn forward(&self, x: MatRef<'_, f64>, scratch: &mut Mat<f64>) -> Mat<f64>;
    /// The per-column affine map this step applies first, if any: the scaled features
    /// the report's sample and the reconstruction error are measured in.
    fn affine(&self) -> Option<Affine<'_>> {
        None
    }
    /// Whether the whole step is that affine map (a reader may then apply it as it
    /// decodes).
    fn is_affine(&self) -> bool {
        false
    }
    /// `forward` with one more column, each row's squared reconstruction error in the
    /// scaled space, when the step computes it better than by inverting (PCA's residual).
    fn forward_with_error(&self, _x: MatRef<'_, f64>, _scratch: &mut Mat<f64>) -> Option<Mat<f64>> {
        None
    }
}

/// Output rows → input rows, in process and as ONNX nodes.
pub trait Inverse {
    fn inverse(&self, z: MatRef<'_, f64>) -> Mat<f64>;
    /// The inverse map's nodes (for the graph's reconstruction error).
    fn onnx_inverse(&self, g: &mut Graph, z: &str) -> Result<String>;
}

/// What the step writes into the model files.
pub trait Export {
    /// Its fields of model.json.
    fn write_model(&self, model: &mut Map<String, Value>);
    /// Its arrays of model.npz, under the names model.json gives them (numpy users load
    /// them without parsing JSON).
    fn arrays(&self, out: &mut Vec<(String, npz::Array)>);
    /// Its ONNX nodes: the tensor `x` (the step's input) → the name of its output.
    fn onnx(&self, g: &mut Graph, x: &str) -> Result<String>;
    /// `onnx` and each row's squared reconstruction error in the scaled space, when the
    /// step computes the error better than by inverting (as `forward_with_error`).
    fn onnx_with_error(&self, _g: &mut Graph, _x: &str) -> Option<(String, String)> {
        None
    }
}

/// What the step says in report.json and the HTML report.
pub trait Describe {
    /// Its fields of report.json (nothing for a step loaded from a model).
    fn write_report(&self, report: &mut Map<String, Value>, facts: &RunFacts);
    /// Components (k × input width) for the report's loadings plot.
    fn loadings(&self) -> Option<MatRef<'_, f64>> {
        None
    }
    /// Rows its fit saw, and the raw feature means it learnt (model.json's
    /// `n_samples_seen_` and `mean_`), when it is the first step.
    fn n_samples(&self) -> Option<u64> {
        None
    }
    fn raw_mean(&self) -> Option<&[f64]> {
        None
    }
    /// Whether its report section quotes the mean reconstruction error (the run then
    /// measures it in the output pass, or in a pass of its own).
    fn reports_error(&self) -> bool {
        false
    }
    /// Files it wrote into the output folder (listed in report.json's `outputs`).
    fn files(&self) -> Vec<&'static str> {
        Vec::new()
    }
}

/// A classifier's predictions, written after the reduced columns when it is the last
/// step.
pub trait Classify {
    /// Its output columns: the predicted class's, then one probability per class.
    fn prediction_names(&self) -> Vec<String>;
    /// Per row of its input: the predicted class as an index into `classes`, then each
    /// class's probability (the columns `prediction_names` names).
    fn predict(&self, x: MatRef<'_, f64>) -> Mat<f64>;
    /// The class names the predicted column's indices stand for.
    fn classes(&self) -> &[String];
}
