//! The resolved pipeline: the raw YAML checked as a whole against the input's schema
//! (read from headers and metadata only), with every problem collected before failing,
//! each naming the key it comes from.

use std::path::PathBuf;

use regex::Regex;

use super::report::ReportPlan;
use super::{
    AutoencoderParams, FeatureSelector, Loss, MissingPolicy, NComponents, OptimizerKind,
    OutputActivation, PcaParams, PcaSolver, RawPipeline, RawStep, ScaleMethod,
};
use crate::error::{Error, Result};
use crate::source::{ColumnKind, Dataset, MissingMode, ReadSpec};

#[derive(Debug, Clone)]
pub struct Plan {
    pub raw: RawPipeline,
    pub dataset: Dataset,
    /// Column indices of the features, in the input's column order.
    pub features: Vec<usize>,
    pub feature_names: Vec<String>,
    pub passthrough: Vec<usize>,
    pub batch_rows: usize,
    pub missing: MissingPolicy,
    /// `None` when the pipeline has no scale step (PCA still centers).
    pub scale: ScaleMethod,
    pub pca: Option<PcaParams>,
    /// Trained on the output of the steps before it (scaled features, or PCA scores).
    pub autoencoder: Option<AutoencoderParams>,
    pub output_dir: PathBuf,
    /// The `report:` section, checked against the columns.
    pub report: ReportPlan,
}

impl Plan {
    pub fn resolve(raw: RawPipeline) -> Result<Plan> {
        let mut problems: Vec<String> = Vec::new();
        if raw.name.trim().is_empty() {
            problems.push("name: must not be empty".into());
        }
        if raw.input.batch_rows == 0 {
            problems.push("input.batch_rows: must be at least 1".into());
        }
        if raw.output.dir.trim().is_empty() {
            problems.push("output.dir: must not be empty".into());
        }
        let (scale, pca, autoencoder) = check_steps(&raw.steps, &mut problems);

        // The input must exist before the columns can be checked.
        let dataset = Dataset::open(&raw.input.path)?;

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
        if let Some(pca) = &pca {
            check_pca(pca, features.len(), &mut problems);
        }
        if let Some(pca) = &pca
            && let NComponents::Count(k) = pca.n_components
        {
            if k > features.len() && !features.is_empty() {
                problems.push(format!(
                    "steps: pca.n_components = {k} is more than the {} features",
                    features.len()
                ));
            }
            if let Some(rows) = dataset.total_rows
                && rows > 0
                && k as u64 > rows
            {
                problems.push(format!(
                    "steps: pca.n_components = {k} is more than the {rows} rows of the input"
                ));
            }
        }
        if let Some(ae) = &autoencoder {
            // The autoencoder's input is the PCA scores when a pca step precedes it.
            let width = match &pca {
                Some(pca) => match pca.n_components {
                    NComponents::Count(k) => Some(k),
                    NComponents::Fraction(_) => None,
                },
                None => Some(features.len()),
            };
            check_autoencoder(ae, width.filter(|&w| w > 0), &mut problems);
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
        Ok(Plan {
            batch_rows: raw.input.batch_rows,
            missing: raw.input.missing,
            output_dir: PathBuf::from(&raw.output.dir),
            pca,
            autoencoder,
            scale,
            features,
            feature_names,
            passthrough,
            dataset,
            report,
            raw,
        })
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
            rows32: None,
        }
    }
}

fn check_pca(pca: &PcaParams, p: usize, problems: &mut Vec<String>) {
    match (pca.solver, pca.batch_size) {
        (PcaSolver::Incremental, Some(0)) => {
            problems.push("steps: pca.batch_size must be at least 1".into())
        }
        (PcaSolver::Incremental, Some(b)) => {
            if let NComponents::Count(k) = pca.n_components
                && k > b
            {
                problems.push(format!(
                    "steps: pca.n_components = {k} is more than pca.batch_size = {b}: every batch of the \
                     incremental solver must hold at least n_components rows (only a short last batch \
                     is folded into the one before)"
                ));
            }
        }
        (PcaSolver::Incremental, None) => {
            if let NComponents::Count(k) = pca.n_components
                && k > 5 * p
                && p > 0
            {
                problems.push(format!(
                    "steps: pca.n_components = {k} is more than the default pca.batch_size = {}",
                    5 * p
                ));
            }
        }
        (_, Some(_)) => {
            problems.push("steps: pca.batch_size applies to solver: incremental only".into())
        }
        _ => {}
    }
    let randomized_keys =
        pca.oversamples.is_some() || pca.power_iterations.is_some() || pca.seed.is_some();
    if !matches!(pca.solver, PcaSolver::Randomized | PcaSolver::Auto) && randomized_keys {
        problems.push(
            "steps: pca.oversamples, power_iterations and seed apply to solver: randomized only"
                .into(),
        );
    }
    if pca.solver == PcaSolver::Randomized && matches!(pca.n_components, NComponents::Fraction(_)) {
        problems.push(
            "steps: solver: randomized needs an integer n_components (as scikit-learn); \
             use the exact or incremental solver to keep a fraction of variance"
                .into(),
        );
    }
}

fn check_steps(
    steps: &[RawStep],
    problems: &mut Vec<String>,
) -> (ScaleMethod, Option<PcaParams>, Option<AutoencoderParams>) {
    let mut scale = ScaleMethod::None;
    let mut pca = None;
    let mut autoencoder = None;
    let mut seen_scale = false;
    for (i, step) in steps.iter().enumerate() {
        match step {
            RawStep::Scale(s) => {
                if seen_scale {
                    problems.push(format!("steps[{i}]: only one scale step is allowed"));
                }
                if pca.is_some() || autoencoder.is_some() {
                    problems.push(format!(
                        "steps[{i}]: scale must come first, before pca and autoencoder"
                    ));
                }
                seen_scale = true;
                scale = s.method;
            }
            RawStep::Pca(p) => {
                if pca.is_some() {
                    problems.push(format!("steps[{i}]: only one pca step is allowed"));
                }
                if autoencoder.is_some() {
                    problems.push(format!(
                        "steps[{i}]: pca must come before autoencoder (an autoencoder may be trained on PCA scores, not the reverse)"
                    ));
                }
                pca = Some(p.clone());
            }
            RawStep::Autoencoder(a) => {
                if autoencoder.is_some() {
                    problems.push(format!("steps[{i}]: only one autoencoder step is allowed"));
                }
                autoencoder = Some(a.clone());
            }
        }
    }
    if pca.is_none() && autoencoder.is_none() {
        problems.push("steps: a pca or an autoencoder step is required".into());
    }
    (scale, pca, autoencoder)
}

/// Rules between the autoencoder's keys. `width` is its input width when known before
/// fitting (not after a pca step with a fractional n_components).
fn check_autoencoder(ae: &AutoencoderParams, width: Option<usize>, problems: &mut Vec<String>) {
    let at = "steps: autoencoder";
    if let Some(w) = width
        && ae.latent.0 > w
    {
        problems.push(format!(
            "{at}.latent = {} is larger than its input width {w}: an autoencoder compresses, so the code must be narrower than the input",
            ae.latent.0
        ));
    }
    if let super::Activations::PerLayer(list) = &ae.activation
        && list.len() != ae.hidden_layers()
    {
        problems.push(format!(
            "{at}.activation lists {} activations but the network has {} layers before the output (encoder {}, code 1, decoder {}); give one name, or one per layer",
            list.len(),
            ae.hidden_layers(),
            ae.encoder.len(),
            ae.decoder_widths().len()
        ));
    }
    if ae.loss == Loss::Bce && ae.output_activation != OutputActivation::Sigmoid {
        problems.push(format!(
            "{at}.loss = bce needs output_activation: sigmoid (binary cross-entropy compares probabilities)"
        ));
    }
    let opt = &ae.optimizer;
    let lr = opt.learning_rate();
    if lr.is_nan() || lr <= 0.0 {
        problems.push(format!(
            "{at}.optimizer.learning_rate must be greater than 0, got {lr}"
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

fn select_features(
    selector: &FeatureSelector,
    dataset: &Dataset,
    passthrough: &[usize],
    problems: &mut Vec<String>,
) -> Vec<usize> {
    let all = 0..dataset.columns.len();
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
