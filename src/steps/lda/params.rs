//! The `lda` step's keys: scikit-learn's `LinearDiscriminantAnalysis` parameters, and
//! `predict`, which adds its classifier's outputs to the reduced rows.

use std::collections::BTreeMap;

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
    /// `eigen` only: the covariances shrunk towards a multiple of the identity, by a
    /// fraction in [0, 1] or by Ledoit–Wolf's (`auto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrinkage: Option<Shrinkage>,
    /// `svd` only: singular values below it (of the scaled within-class data) count as
    /// zero rank, as scikit-learn's `tol`.
    #[serde(default = "default_tol")]
    pub tol: f64,
    /// The classes' prior probabilities, by class name; the classes' frequencies when
    /// absent (scikit-learn's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priors: Option<Priors>,
    /// Add `predicted_<label>` and `proba_<class>` columns (scikit-learn's `predict` and
    /// `predict_proba`) after the discriminants.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub predict: bool,
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

/// `shrinkage: auto` or a fraction.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Shrinkage {
    Fixed(f64),
    Named(ShrinkageName),
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ShrinkageName {
    /// Ledoit–Wolf's shrinkage of the standardised covariances, as scikit-learn's
    /// `shrinkage='auto'`.
    Auto,
}

/// Priors as a map from class name to probability (a class's name is its label as
/// written: `0`, `setosa`, `true`), or as a list in the classes' sorted order
/// (scikit-learn's `classes_` order).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Priors {
    List(Vec<f64>),
    ByClass(BTreeMap<String, f64>),
}

/// Most a priors' sum may differ from 1 (scikit-learn renormalises beyond it; dimred
/// refuses, since priors that do not sum to 1 are usually a typo).
pub const PRIORS_SUM_TOLERANCE: f64 = 1e-5;

impl Priors {
    /// What is wrong with the priors whatever the classes turn out to be.
    pub fn problems(&self, problems: &mut Vec<String>) {
        let values: Vec<f64> = match self {
            Priors::List(v) => v.clone(),
            Priors::ByClass(m) => m.values().copied().collect(),
        };
        if let Some(bad) = values.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
            problems.push(format!(
                "lda.priors: every prior must be a positive number, not {bad}"
            ));
            return;
        }
        let sum: f64 = values.iter().sum();
        if (sum - 1.0).abs() > PRIORS_SUM_TOLERANCE {
            problems.push(format!("lda.priors: they sum to {sum}, not 1"));
        }
    }

    /// The priors in the order of `classes` (sorted as `classes_`), or why they do not
    /// fit them.
    pub fn resolve(&self, classes: &[String], label: &str) -> Result<Vec<f64>, String> {
        match self {
            Priors::List(v) if v.len() == classes.len() => Ok(v.clone()),
            Priors::List(v) => Err(format!(
                "lda.priors: {} priors for the {} classes of label column '{label}' ({})",
                v.len(),
                classes.len(),
                classes.join(", ")
            )),
            Priors::ByClass(m) => {
                if let Some(missing) = m.keys().find(|k| !classes.contains(k)) {
                    return Err(format!(
                        "lda.priors: class '{missing}' is not in label column '{label}' (its classes: {})",
                        classes.join(", ")
                    ));
                }
                if let Some(absent) = classes.iter().find(|c| !m.contains_key(*c)) {
                    return Err(format!(
                        "lda.priors: no prior for class '{absent}' of label column '{label}'"
                    ));
                }
                Ok(classes.iter().map(|c| m[c]).collect())
            }
        }
    }
}
