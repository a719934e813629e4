//! The truncated SVD step: scikit-learn's `TruncatedSVD`, the decomposition of the rows
//! as they are, not centred, for count and TF-IDF-like features whose zero means
//! something (centring would make them dense and shift what a component says).
//!
//! Rows enter as chunks of the step's input; two solvers read them:
//! - `exact` (`fit::ExactFit`): one pass of mergeable moments (mean and centred
//!   co-moment, p² numbers), from which the uncentred Gram matrix XᵀX = M + n·μμᵀ and its
//!   eigenvectors; shards merge as the exact PCA's do;
//! - `randomized` (`fit::RandomizedFit`): Halko et al.'s range finder as scikit-learn's
//!   `randomized_svd` runs it, each product with XᵀX one pass (the first also takes the
//!   columns' variances), then one pass for the variance of the projections; sequential.
//!
//! Out come `sv1…svk` = x · componentsᵀ, and back z · components (`fitted`).

mod fit;
mod fitted;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use super::pca::params::PowerNormalizer;
use super::scale::params::ScaleMethod;
use super::{Fit, PlannedStep, StepInput};
use crate::error::Result;
use crate::steps::Named;
pub use fitted::FittedTruncatedSvd;

/// The step kind's registration (`steps::registry!`).
pub struct Kind;

impl crate::steps::StepKind for Kind {
    type Params = TruncatedSvdParams;
    fn plan(params: &Self::Params) -> Box<dyn PlannedStep> {
        Box::new(PlannedTruncatedSvd {
            params: params.clone(),
        })
    }
    fn load(
        model: &serde_json::Map<String, serde_json::Value>,
        input: usize,
    ) -> Result<Box<dyn crate::steps::FittedStep>> {
        FittedTruncatedSvd::from_model(model, input).map(|s| Box::new(s) as _)
    }
}

/// The step's keys, with scikit-learn's defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TruncatedSvdParams {
    #[serde(default = "default_components")]
    pub n_components: usize,
    #[serde(default)]
    pub solver: Solver,
    /// Randomized solver: power iterations, each a pass over the data.
    #[serde(default = "default_iterations")]
    pub n_iter: usize,
    /// Randomized solver: basis vectors beyond n_components.
    #[serde(default = "default_oversamples")]
    pub n_oversamples: usize,
    /// Randomized solver: `auto` is scikit-learn's (`none` for at most two power
    /// iterations, else `LU`).
    #[serde(default)]
    pub power_iteration_normalizer: PowerNormalizer,
    /// Randomized solver: seed of the random starting basis (scikit-learn's
    /// `random_state`; numpy's generator is not dimred's, so the same seed gives another
    /// basis and the same components to the solver's accuracy).
    #[serde(default)]
    pub seed: u64,
}

fn default_components() -> usize {
    2
}
fn default_iterations() -> usize {
    5
}
fn default_oversamples() -> usize {
    10
}

/// `solver`: scikit-learn's `algorithm`, with `exact` for its `arpack` (the whole
/// eigen-decomposition of XᵀX, which arpack's tol = 0 equals to rounding).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    #[default]
    Randomized,
    Exact,
}

impl TruncatedSvdParams {
    /// Basis width of the randomized solver on `p` features.
    fn sketch(&self, p: usize) -> usize {
        (self.n_components + self.n_oversamples).min(p)
    }

    /// scikit-learn's normaliser for `auto`.
    fn normalizer(&self) -> PowerNormalizer {
        match self.power_iteration_normalizer {
            PowerNormalizer::Auto if self.n_iter <= 2 => PowerNormalizer::None,
            PowerNormalizer::Auto => PowerNormalizer::Lu,
            other => other,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PlannedTruncatedSvd {
    params: TruncatedSvdParams,
}

/// Bytes a solver's fit holds on `p` features: the exact solver's co-moment, the Gram
/// matrix, its eigenvectors and workspace (4p², as the exact PCA); the randomized
/// solver's bases and products (p × l each) and a block of rows.
fn solver_bytes(params: &TruncatedSvdParams, solver: Solver, p: usize) -> u64 {
    let p64 = p as u64;
    let block = 2 * crate::blocks::block_rows(p) as u64 * p64;
    let words = match solver {
        Solver::Exact => 4 * p64 * p64 + block,
        Solver::Randomized => {
            let l = params.sketch(p) as u64;
            6 * p64 * l + l * l + block
        }
    };
    words * 8
}

impl PlannedStep for PlannedTruncatedSvd {
    fn kind(&self) -> &'static str {
        Kind::NAME
    }

    /// With no scaling written (or `scale: none`) the step is the pipeline's only fit,
    /// so the exact solver shards and no statistics pass of an identity scaler is read;
    /// the raw means for model.json's `mean_` come from its own first pass.
    fn absorb_scale(&mut self, method: ScaleMethod) -> bool {
        method == ScaleMethod::None
    }

    fn check(&mut self, width: Option<usize>, rows: Option<u64>, problems: &mut Vec<String>) {
        let at = "steps: truncated_svd";
        let k = self.params.n_components;
        if k == 0 {
            problems.push(format!("{at}.n_components must be at least 1"));
            return;
        }
        let exact = self.params.solver == Solver::Exact;
        if let Some(p) = width {
            if exact && k >= p {
                problems.push(format!(
                    "{at}.n_components = {k} must be below the {p} features with solver: exact \
                     (as scikit-learn's arpack); solver: randomized allows up to {p}"
                ));
            } else if k > p {
                problems.push(format!(
                    "{at}.n_components = {k} is more than the {p} features; at most {p}"
                ));
            }
        }
        if let Some(n) = rows
            && (k as u64 > n || (exact && k as u64 >= n))
        {
            problems.push(format!(
                "{at}.n_components = {k} needs more than the input's {n} rows"
            ));
        }
    }

    fn output_width(&self, _input: usize) -> Option<usize> {
        Some(self.params.n_components)
    }

    fn memory_bytes(&self, width: usize, _rows: Option<u64>) -> u64 {
        solver_bytes(&self.params, self.params.solver, width)
    }

    fn lighter(&self, width: usize, _rows: Option<u64>, _limit: Option<u64>) -> Option<String> {
        let randomized = solver_bytes(&self.params, Solver::Randomized, width);
        (self.params.solver == Solver::Exact && randomized < self.memory_bytes(width, None)).then(
            || {
                format!(
                    "truncated_svd solver: randomized holds about {} MiB on {width} features",
                    randomized.div_ceil(1 << 20)
                )
            },
        )
    }

    /// The exact solver's single pass of moments merges across shards.
    fn shards(&self) -> bool {
        self.params.solver == Solver::Exact
    }

    fn rereads(&self) -> bool {
        self.params.solver == Solver::Randomized
    }

    fn start(&self, input: &StepInput) -> Result<Fit> {
        Ok(match self.params.solver {
            Solver::Exact => Fit::Merge(Box::new(fit::ExactFit::new(
                self.params.clone(),
                input.clone(),
            ))),
            Solver::Randomized => Fit::Sequential(Box::new(fit::RandomizedFit::new(
                self.params.clone(),
                input.clone(),
            ))),
        })
    }
}

#[cfg(test)]
impl Kind {
    fn load_for_test(
        model: &serde_json::Map<String, serde_json::Value>,
        input: usize,
    ) -> Box<dyn crate::steps::FittedStep> {
        <Kind as crate::steps::StepKind>::load(model, input).expect("the model loads")
    }
}
