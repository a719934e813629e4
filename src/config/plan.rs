//! The resolved pipeline: the raw YAML checked as a whole against the input's schema
//! (read from headers and metadata only), with every problem collected before failing,
//! each naming the key it comes from.

use std::path::PathBuf;

use regex::Regex;

use super::report::ReportPlan;
use super::{
    FeatureSelector, MissingPolicy, NComponents, PcaParams, PcaSolver, RawPipeline, RawStep,
    ScaleMethod,
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
    pub pca: PcaParams,
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
        let (scale, pca) = check_steps(&raw.steps, &mut problems);

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
            pca: pca.expect("checked above"),
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

fn check_steps(steps: &[RawStep], problems: &mut Vec<String>) -> (ScaleMethod, Option<PcaParams>) {
    let mut scale = ScaleMethod::None;
    let mut pca = None;
    let mut seen_scale = false;
    for (i, step) in steps.iter().enumerate() {
        match step {
            RawStep::Scale(s) => {
                if seen_scale {
                    problems.push(format!("steps[{i}]: only one scale step is allowed"));
                }
                if pca.is_some() {
                    problems.push(format!("steps[{i}]: scale must come before pca"));
                }
                seen_scale = true;
                scale = s.method;
            }
            RawStep::Pca(p) => {
                if pca.is_some() {
                    problems.push(format!("steps[{i}]: only one pca step is allowed"));
                }
                pca = Some(p.clone());
            }
        }
    }
    if pca.is_none() {
        problems.push("steps: a pca step is required".into());
    }
    (scale, pca)
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
