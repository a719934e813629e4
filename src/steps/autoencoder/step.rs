//! The `autoencoder` step's lifecycle: keys checked at plan time, a driven fit (training
//! reads the data its own way: shuffled epochs, checkpoints, `--resume`), and the fitted
//! network with its model.json and report.json sections.

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::history::{AutoencoderReport, StopReason};
use super::infer::{by_blocks, decode_rows, encode_rows};
use super::net::{Architecture, plan};
use super::params::{
    Activation, AutoencoderParams, Loss, OptimizerKind, OutputActivation, Positive,
};
use super::train::{Checkpoint, TrainContext, train};
use super::{Network, SavedNetwork};
use crate::engine::PassReport;
use crate::error::{Error, Result};
use crate::npz::Array;
use crate::onnx::Graph;
use crate::steps::Named;
use crate::steps::RawStep;
use crate::steps::{
    Describe, DriveContext, DrivenFit, Export, Fit, FittedStep, Inverse, PlannedStep, RunFacts,
    StepInput, Transform,
};

/// The autoencoder's checkpoint, beside the outputs.
pub const CHECKPOINT: &str = "checkpoint.json";

#[derive(Debug, Clone)]
pub struct PlannedAutoencoder {
    params: AutoencoderParams,
}

impl PlannedAutoencoder {
    pub fn new(params: AutoencoderParams) -> PlannedAutoencoder {
        PlannedAutoencoder { params }
    }

    /// Rules between the keys. `width` is the input width when known before fitting
    /// (not after a pca step with a fractional n_components).
    fn check_keys(&self, width: Option<usize>, problems: &mut Vec<String>) {
        let ae = &self.params;
        let at = "steps: autoencoder";
        if let (Some(w), Some(latent)) = (width, ae.latent)
            && latent.0 > w
        {
            problems.push(format!(
                "{at}.latent = {} is larger than its input width {w}: an autoencoder compresses, so the code must be narrower than the input",
                latent.0
            ));
        }
        if let Some(w) = width
            && let Err(e) = plan(ae, w)
        {
            problems.push(e);
        }
        if ae.loss == Loss::Bce
            && ae.output_activation != OutputActivation::Sigmoid
            && !self.own_sigmoid_output()
        {
            problems.push(format!(
                "{at}.loss = bce needs output_activation: sigmoid (binary cross-entropy compares probabilities)"
            ));
        }
        check_optimizer(ae, at, problems);
        if let Some(c) = ae.gradient_clip_norm
            && !(c > 0.0 && c.is_finite())
        {
            problems.push(format!(
                "{at}.gradient_clip_norm must be greater than 0, got {c}"
            ));
        }
        if let Some(s) = &ae.schedule {
            problems.extend(s.problems(at));
        }
        let vf = ae.validation_fraction;
        if !(0.0..1.0).contains(&vf) {
            problems.push(format!(
                "{at}.validation_fraction must lie in [0, 1), got {vf}"
            ));
        }
        if let Some(es) = &ae.early_stopping
            && (es.min_delta.is_nan() || es.min_delta < 0.0)
        {
            problems.push(format!(
                "{at}.early_stopping.min_delta must be 0 or more, got {}",
                es.min_delta
            ));
        }
        if let Some(noise) = &ae.noise {
            match (noise.gaussian_std, noise.dropout) {
                (Some(_), Some(_)) => problems.push(format!(
                    "{at}.noise: give gaussian_std or dropout, not both"
                )),
                (None, None) => problems.push(format!("{at}.noise: give gaussian_std or dropout")),
                (Some(s), None) if s.is_nan() || s < 0.0 => problems.push(format!(
                    "{at}.noise.gaussian_std must be 0 or more, got {s}"
                )),
                (None, Some(d)) if !(0.0..1.0).contains(&d) => {
                    problems.push(format!("{at}.noise.dropout must lie in [0, 1), got {d}"))
                }
                _ => {}
            }
        }
    }

    /// Whether the decoder's last layer is written with its own sigmoid (the lecture's
    /// conv autoencoder ends `conv_transpose: { ..., activation: sigmoid }`).
    fn own_sigmoid_output(&self) -> bool {
        let last = self.params.decoder.as_ref().and_then(|d| {
            d.iter()
                .rev()
                .map(|e| e.layer.spec())
                .find(|s| s.takes_activation())
        });
        last.and_then(|s| s.own_activation()) == Some(Activation::Sigmoid)
    }

    /// Bytes training holds at a batch of `batch` rows on an input of `width`: the
    /// batch's activations and their gradients through every layer (and their copies
    /// where the layout changes), each layer's workspace (im2col matrices, pooling
    /// indices), and the parameters four times (weights, gradients, Adam's two moments)
    /// plus the kept copies a checkpoint writes (as f64).
    fn network_bytes(&self, arch: &Architecture, batch: u64) -> u64 {
        let per_sample: u64 = 2 * arch.input.size() as u64
            + arch
                .layers
                .iter()
                .map(|l| 2 * (l.input.size() as u64 + l.output.size() as u64))
                .sum::<u64>();
        let workspace: u64 = arch.layers.iter().map(|l| l.workspace_bytes(batch)).sum();
        let params: u64 = arch.layers.iter().map(|l| l.parameters()).sum();
        batch
            .saturating_mul(per_sample)
            .saturating_mul(4)
            .saturating_add(workspace)
            .saturating_add(params.saturating_mul(4 * 4 + 3 * 8))
    }
}

/// " (its recurrent layers keep every one of N steps' gates)", when it has any.
fn recurrent_note(arch: &Architecture) -> String {
    arch.layers
        .iter()
        .filter(|l| l.spec.is_recurrent())
        .filter_map(|l| l.input.sequence())
        .map(|(steps, _)| steps)
        .max()
        .map_or(String::new(), |steps| {
            format!(" (its recurrent layers keep every one of {steps} steps' gates)")
        })
}

fn check_optimizer(ae: &AutoencoderParams, at: &str, problems: &mut Vec<String>) {
    let opt = &ae.optimizer;
    let lr = opt.learning_rate();
    if lr.is_nan() || lr <= 0.0 {
        problems.push(format!(
            "{at}.optimizer.learning_rate must be greater than 0, got {lr}"
        ));
    }
    if let Some(wd) = opt.weight_decay
        && !(wd >= 0.0 && wd.is_finite())
    {
        problems.push(format!(
            "{at}.optimizer.weight_decay must be 0 or more, got {wd}"
        ));
    }
    match opt.kind {
        OptimizerKind::Adam => {
            if opt.momentum.is_some() || opt.nesterov.is_some() {
                problems.push(format!(
                    "{at}.optimizer: momentum and nesterov apply to kind: sgd only"
                ));
            }
            for (name, v) in [("beta1", opt.beta1), ("beta2", opt.beta2)] {
                if let Some(b) = v
                    && !(0.0..1.0).contains(&b)
                {
                    problems.push(format!("{at}.optimizer.{name} must lie in [0, 1), got {b}"));
                }
            }
            if let Some(e) = opt.epsilon
                && (e.is_nan() || e <= 0.0)
            {
                problems.push(format!(
                    "{at}.optimizer.epsilon must be greater than 0, got {e}"
                ));
            }
        }
        OptimizerKind::Sgd => {
            if opt.beta1.is_some() || opt.beta2.is_some() || opt.epsilon.is_some() {
                problems.push(format!(
                    "{at}.optimizer: beta1, beta2 and epsilon apply to kind: adam only"
                ));
            }
            let momentum = opt.momentum.unwrap_or(0.0);
            if !(0.0..1.0).contains(&momentum) {
                problems.push(format!(
                    "{at}.optimizer.momentum must lie in [0, 1), got {momentum}"
                ));
            }
            if opt.nesterov == Some(true) && momentum <= 0.0 {
                problems.push(format!(
                    "{at}.optimizer.nesterov needs a momentum greater than 0"
                ));
            }
        }
    }
}

impl PlannedStep for PlannedAutoencoder {
    fn kind(&self) -> &'static str {
        super::Kind::NAME
    }

    fn check(&mut self, width: Option<usize>, rows: Option<u64>, problems: &mut Vec<String>) {
        self.check_keys(width, problems);
        // Sizes against memory: the shuffle buffer holds min(shuffle_buffer, rows) rows of
        // f32, a batch its rows through every layer (activations, their gradients and the
        // layers' workspaces).
        let ae = &self.params;
        let w = width.unwrap_or(1).max(1);
        let cap = |n: usize| rows.map_or(n, |r| n.min(r.max(1) as usize)) as u64;
        crate::engine::check_memory(
            "steps: autoencoder.shuffle_buffer",
            ae.shuffle_buffer.0,
            (cap(ae.shuffle_buffer.0) * w as u64 * 4) as f64,
            problems,
        );
        if let Some(arch) = width.and_then(|w| plan(ae, w).ok()) {
            let batch = cap(ae.batch_size.0);
            let need = self.network_bytes(&arch, batch);
            match crate::engine::limits::job_memory() {
                Some(job) if need > job.bytes => {
                    let available = job.bytes;
                    // the largest batch that fits: bytes grow with the batch, so bisect
                    // (a batch_size of 10^14 with the rows unknown is a real request)
                    let fits = if self.network_bytes(&arch, 1) > available {
                        "; not even a batch of 1 fits".to_string()
                    } else {
                        let (mut lo, mut hi) = (1u64, batch);
                        while hi - lo > 1 {
                            let mid = lo + (hi - lo) / 2;
                            if self.network_bytes(&arch, mid) <= available {
                                lo = mid;
                            } else {
                                hi = mid;
                            }
                        }
                        format!("; batch_size: {lo} fits")
                    };
                    problems.push(format!(
                        "steps: autoencoder.batch_size = {} would need {} for training{}, more than the {} this job may use ({}){fits}",
                        ae.batch_size.0,
                        crate::engine::budget::human(need as f64),
                        recurrent_note(&arch),
                        crate::engine::budget::human(available as f64),
                        job.describe(),
                    ));
                }
                _ => {}
            }
        }
    }

    /// A smaller batch, when a recurrent layer's step caches hold most of what training
    /// needs (they grow with the batch times the window's length): the largest that fits
    /// beside the process and a few chunks under `limit`, else a quarter of it.
    fn lighter(&self, width: usize, rows: Option<u64>, limit: Option<u64>) -> Option<String> {
        let arch = plan(&self.params, width.max(1)).ok()?;
        let cap = |n: usize| rows.map_or(n, |r| n.min(r.max(1) as usize)) as u64;
        let batch = cap(self.params.batch_size.0);
        let caches: u64 = arch
            .layers
            .iter()
            .filter(|l| l.spec.is_recurrent())
            .map(|l| l.workspace_bytes(batch))
            .sum();
        if caches <= self.network_bytes(&arch, batch) / 2 || batch < 2 {
            return None;
        }
        let shuffle = self.memory_bytes(width, rows) - self.network_bytes(&arch, batch);
        let room = limit
            .map(|l| l.saturating_sub(crate::engine::budget::PROCESS_BYTES + (64 << 20) + shuffle));
        let human = |b: u64| crate::engine::budget::human(self.network_bytes(&arch, b) as f64);
        let note = recurrent_note(&arch);
        match room {
            Some(room) => match (1..batch)
                .rev()
                .find(|&b| self.network_bytes(&arch, b) <= room)
            {
                Some(b) => Some(format!(
                    "steps: autoencoder.batch_size = {b} fits: its training holds {}{note}",
                    human(b)
                )),
                None => Some(format!(
                    "not even steps: autoencoder.batch_size = 1 fits: its training holds {}{note}; shorten the windows or narrow the recurrent layers",
                    human(1)
                )),
            },
            None => {
                let smaller = (batch / 4).max(1);
                Some(format!(
                    "steps: autoencoder.batch_size = {smaller} holds {}{note}",
                    human(smaller)
                ))
            }
        }
    }

    fn output_width(&self, input: usize) -> Option<usize> {
        match plan(&self.params, input) {
            Ok(arch) => Some(arch.latent()),
            Err(_) => self.params.latent.map(|l| l.0),
        }
    }

    /// The shuffle buffer (f32 rows, and the rows in flight to the trainer) and the
    /// network's training memory (`network_bytes`).
    fn memory_bytes(&self, width: usize, rows: Option<u64>) -> u64 {
        let ae = &self.params;
        let cap = |n: usize| rows.map_or(n, |r| n.min(r.max(1) as usize)) as u64;
        let w = width.max(1) as u64;
        let shuffle = cap(ae.shuffle_buffer.0) * w * 4;
        let net = plan(ae, width.max(1))
            .map_or(0, |arch| self.network_bytes(&arch, cap(ae.batch_size.0)));
        shuffle + net
    }

    fn start(&self, _input: &StepInput) -> Result<Fit> {
        Ok(Fit::Driven(Box::new(AutoencoderFit {
            params: self.params.clone(),
        })))
    }
}

struct AutoencoderFit {
    params: AutoencoderParams,
}

/// Identifies a pipeline for its checkpoint: its input and steps, less the
/// autoencoder's `epochs` (which a resumed run may raise) and the output options.
fn fingerprint(ctx: &DriveContext<'_>) -> String {
    let mut steps = ctx.raw_steps.to_vec();
    for step in &mut steps {
        if let RawStep::Autoencoder(a) = step {
            a.epochs = Positive(1);
        }
    }
    let text = serde_json::to_string(&(&ctx.raw_input, &steps)).expect("pipeline serialises");
    crate::steps::state::fingerprint(&text)
}

impl DrivenFit for AutoencoderFit {
    fn fit(
        self: Box<Self>,
        ctx: &DriveContext<'_>,
    ) -> Result<(Box<dyn FittedStep>, Vec<PassReport>)> {
        let params = &self.params;
        let width = ctx.input.width();
        if let Some(latent) = params.latent
            && latent.0 > width
        {
            return Err(Error::config(format!(
                "steps: autoencoder.latent = {} is larger than its input width {width} (the steps before it give {width} columns)",
                latent.0
            )));
        }
        plan(params, width).map_err(|e| {
            Error::config(format!("{e} (the steps before it give {width} columns)"))
        })?;
        let checkpoint = ctx.output_dir.join(CHECKPOINT);
        let fingerprint = fingerprint(ctx);
        let resume = if ctx.resume {
            let found = Checkpoint::load(&checkpoint, &fingerprint)?;
            if found.is_none() && !ctx.quiet {
                eprintln!(
                    "[dimred] no checkpoint at {}: training from the start",
                    checkpoint.display()
                );
            }
            found
        } else {
            None
        };
        let affine = ctx
            .prefix
            .as_affine()
            .map(|a| (a.shift.to_vec(), a.scale.map(<[f64]>::to_vec)));
        let train_ctx = TrainContext {
            dataset: ctx.dataset,
            spec: ctx.spec.clone(),
            quiet: ctx.quiet,
            prefix: ctx.prefix,
            affine,
            input_names: ctx.input.names.clone(),
            checkpoint: &checkpoint,
            fingerprint,
            memory: ctx.memory,
        };
        let trained = train(&train_ctx, params, width, resume)?;
        let cp = &trained.checkpoint;
        let history = AutoencoderReport {
            widths: trained.network.widths(),
            latent: trained.network.latent(),
            epochs: cp.history.clone(),
            best_epoch: cp.best_epoch,
            stop_reason: cp.stopped.unwrap_or(StopReason::Epochs),
            train_rows: cp.train_rows,
            validation_rows: cp.validation_rows,
            reconstruction_error: f64::NAN,
            samples_per_second: trained.samples_per_second,
            replay: trained.replay,
        };
        let fitted = FittedAutoencoder {
            network: trained.network,
            history: Some(history),
        };
        Ok((Box::new(fitted), trained.passes))
    }
}

/// The autoencoder as model.json holds it: its input is the output of the steps before it
/// (PCA scores, or the scaled features). Each layer computes `act(a @ weights + bias)`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AutoencoderModel {
    pub latent: usize,
    /// Input, hidden, code and output widths.
    pub widths: Vec<usize>,
    #[serde(flatten)]
    pub network: SavedNetwork,
}

pub struct FittedAutoencoder {
    network: Network<f32>,
    /// How training went, when it ran in this process.
    history: Option<AutoencoderReport>,
}

impl FittedAutoencoder {
    pub fn from_model(model: &Map<String, Value>, input: usize) -> Result<FittedAutoencoder> {
        let saved: AutoencoderModel = crate::steps::field(model, "autoencoder")?;
        let network = Network::from_saved(&saved.network, input)
            .map_err(|e| Error::config(format!("the autoencoder's network cannot be used: {e}")))?;
        if network.latent() != saved.latent {
            return Err(Error::config(format!(
                "the autoencoder's latent = {} but its code layer gives {} values",
                saved.latent,
                network.latent()
            )));
        }
        Ok(FittedAutoencoder {
            network,
            history: None,
        })
    }
}

impl FittedStep for FittedAutoencoder {
    fn kind(&self) -> &'static str {
        super::Kind::NAME
    }

    fn inverter(&self) -> Option<&dyn Inverse> {
        Some(self)
    }
}

impl Transform for FittedAutoencoder {
    fn output_names(&self) -> Vec<String> {
        (1..=self.network.latent())
            .map(|i| format!("z{i}"))
            .collect()
    }

    fn forward(&self, u: MatRef<'_, f64>, _scratch: &mut Mat<f64>) -> Mat<f64> {
        by_blocks(u, self.network.latent(), |b| encode_rows(&self.network, b))
    }
}

impl Inverse for FittedAutoencoder {
    fn inverse(&self, z: MatRef<'_, f64>) -> Mat<f64> {
        by_blocks(z, self.network.inputs(), |b| decode_rows(&self.network, b))
    }

    fn onnx_inverse(&self, g: &mut Graph, z: &str) -> Result<String> {
        let net = &self.network;
        let layers = net.code_layer + 1..net.layers.len();
        Ok(super::export::onnx_layers(g, net, layers, z))
    }
}

impl Export for FittedAutoencoder {
    fn write_model(&self, model: &mut Map<String, Value>) {
        let net = &self.network;
        let section = AutoencoderModel {
            latent: net.latent(),
            widths: net.widths(),
            network: net.to_saved(),
        };
        model.insert("autoencoder".into(), json!(section));
    }

    fn arrays(&self, out: &mut Vec<(String, Array)>) {
        super::export::arrays(&self.network, out);
    }

    fn onnx(&self, g: &mut Graph, x: &str) -> Result<String> {
        let net = &self.network;
        Ok(super::export::onnx_layers(g, net, 0..net.code_layer + 1, x))
    }
}

impl Describe for FittedAutoencoder {
    fn reports_error(&self) -> bool {
        self.history.is_some()
    }

    fn files(&self) -> Vec<&'static str> {
        if self.history.is_some() {
            vec![CHECKPOINT]
        } else {
            Vec::new()
        }
    }

    fn write_report(&self, report: &mut Map<String, Value>, facts: &RunFacts) {
        if let Some(history) = &self.history {
            let mut history = history.clone();
            history.reconstruction_error = facts.reconstruction_error.unwrap_or(f64::NAN);
            report.insert("autoencoder".into(), json!(history));
        }
    }
}
