//! The `lda` step's keys: scikit-learn's `LinearDiscriminantAnalysis` parameters that make
//! sense for a transform (no `priors`: they are the classes' frequencies, as its default).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LdaParams {
    /// The class column (a number, boolean or text column; not a feature).
    pub label: String,
    /// At most min(classes − 1, features); all of those when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_components: Option<usize>,
    #[serde(default)]
    pub solver: LdaSolver,
    /// `eigen` only: the covariances shrunk towards a multiple of the identity, in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrinkage: Option<f64>,
    /// `svd` only: singular values below it (of the scaled within-class data) count as
    /// zero rank, as scikit-learn's `tol`.
    #[serde(default = "default_tol")]
    pub tol: f64,
}

fn default_tol() -> f64 {
    1e-4
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LdaSolver {
    #[default]
    Svd,
    Eigen,
}
