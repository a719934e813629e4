//! The `pca` step's keys, as the pipeline file writes them.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PcaParams {
    #[serde(default)]
    pub solver: PcaSolver,
    pub n_components: NComponents,
    #[serde(default)]
    pub whiten: bool,
    /// Rows per `partial_fit` batch of the incremental solver (default 5 × features, as
    /// scikit-learn). Independent of `input.batch_rows`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// Randomized solver: extra basis vectors beyond n_components (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oversamples: Option<usize>,
    /// Randomized solver: power iterations (default as scikit-learn's "auto": 7 when
    /// n_components < 0.1 × min(n, p), else 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_iterations: Option<usize>,
    /// Randomized solver: stop the power iterations once no leading variance moved by more
    /// than this fraction from one pass to the next (`power_iterations` is then the most).
    /// Each pass is a read of the data, and a well-separated spectrum settles in two or
    /// three; absent, every power iteration runs, as scikit-learn's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tol: Option<f64>,
    /// Randomized solver: how the basis is normalised between power iterations
    /// (scikit-learn's `power_iteration_normalizer`; default `auto`, see
    /// `PowerNormalizer::Auto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_iteration_normalizer: Option<PowerNormalizer>,
    /// Randomized solver: what a pass's product becomes (default `power`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<RandomizedMethod>,
    /// Randomized solver: seed of the random starting basis (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The arithmetic of the products (default `auto`: f32 when every feature is float32
    /// and the solver has an f32 path, see `Arithmetic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arithmetic: Option<Arithmetic>,
}

/// `arithmetic`: what the products over the rows multiply. On float32 data the randomized
/// solver's passes move and multiply half the bytes in f32, and the incremental solver's
/// batch co-moments multiply in f32, each block's product accumulated in f64 (the
/// normalisers and eigenproblems stay f64); `float64` keeps every product in f64, as on
/// float64 data.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Arithmetic {
    #[default]
    Auto,
    Float64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum PcaSolver {
    /// Chooses from the data's shape: exact for p ≤ 4096, else randomized (small integer
    /// k) or incremental.
    #[default]
    Auto,
    /// One pass of mergeable moments, then an eigen-decomposition of the covariance.
    Exact,
    /// scikit-learn's IncrementalPCA: incremental SVD over batches of `batch_size` rows.
    Incremental,
    /// Halko et al.'s randomized range finder as passes over the data; memory O(p × k).
    Randomized,
    /// Exact SVD of the centered data by tall-skinny QR: for ill-conditioned data.
    Tsqr,
}

/// A solver resolved for the data's width (`step::resolve_solver`, at plan time): the one
/// that runs, so a planned PCA has no `auto` left to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Solver {
    Exact,
    Incremental,
    Randomized,
    Tsqr,
}

impl Solver {
    pub fn name(self) -> &'static str {
        match self {
            Solver::Exact => "exact",
            Solver::Incremental => "incremental",
            Solver::Randomized => "randomized",
            Solver::Tsqr => "tsqr",
        }
    }
}

impl PcaSolver {
    /// The solver written, when it is not `auto`.
    pub fn explicit(self) -> Option<Solver> {
        match self {
            PcaSolver::Auto => None,
            PcaSolver::Exact => Some(Solver::Exact),
            PcaSolver::Incremental => Some(Solver::Incremental),
            PcaSolver::Randomized => Some(Solver::Randomized),
            PcaSolver::Tsqr => Some(Solver::Tsqr),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PcaSolver::Auto => "auto",
            PcaSolver::Exact => "exact",
            PcaSolver::Incremental => "incremental",
            PcaSolver::Randomized => "randomized",
            PcaSolver::Tsqr => "tsqr",
        }
    }
}

/// `method` of the randomized solver.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RandomizedMethod {
    /// Subspace iteration (Halko et al. 2011, Algorithm 4.4), as scikit-learn: each pass's
    /// product becomes the next basis, and the answer comes from the last one.
    #[default]
    Power,
    /// Randomized block Krylov (Musco & Musco 2015): every pass's block is kept and the
    /// answer comes from their span, fewer passes on slowly decaying spectra for
    /// `power_iterations` + 1 blocks of memory.
    Krylov,
}

/// `power_iteration_normalizer`, spelled as scikit-learn's.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum PowerNormalizer {
    /// QR after every pass. scikit-learn's `auto` picks LU (or none for at most two
    /// iterations) for speed on an in-memory matrix; here the factorisation of a p × l
    /// basis is negligible beside a pass over the data, so `auto` keeps the most accurate.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "QR")]
    Qr,
    /// scipy's `lu(permute_l=True)`: the permuted unit lower factor.
    #[serde(rename = "LU")]
    Lu,
    #[serde(rename = "none")]
    None,
}

/// `n_components`: a count of components, the fraction of variance to keep, or `mle`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NComponents {
    Count(usize),
    Fraction(f64),
    /// Minka's maximum-likelihood choice of k from the whole spectrum (scikit-learn's
    /// `n_components='mle'`): needs every eigenvalue, so only solvers that know them.
    Mle,
}

impl fmt::Display for NComponents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NComponents::Count(k) => write!(f, "{k}"),
            NComponents::Fraction(x) => write!(f, "{x}"),
            NComponents::Mle => f.write_str("mle"),
        }
    }
}

impl Serialize for NComponents {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            NComponents::Count(k) => serializer.serialize_u64(*k as u64),
            NComponents::Fraction(x) => serializer.serialize_f64(*x),
            NComponents::Mle => serializer.serialize_str("mle"),
        }
    }
}

impl<'de> Deserialize<'de> for NComponents {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct NVisitor;
        impl Visitor<'_> for NVisitor {
            type Value = NComponents;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a count of components (an integer >= 1), a fraction of variance in (0, 1) or mle",
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<NComponents, E> {
                if v == 0 {
                    Err(E::custom(
                        "n_components must be at least 1 (or a fraction in (0, 1))",
                    ))
                } else {
                    Ok(NComponents::Count(v as usize))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<NComponents, E> {
                if v <= 0 {
                    Err(E::custom(format!(
                        "n_components must be at least 1 (or a fraction in (0, 1)), got {v}"
                    )))
                } else {
                    self.visit_u64(v as u64)
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<NComponents, E> {
                if v > 0.0 && v < 1.0 {
                    Ok(NComponents::Fraction(v))
                } else {
                    Err(E::custom(format!(
                        "n_components as a fraction of variance must lie in (0, 1), got {v}; \
                         write an integer for a count of components"
                    )))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<NComponents, E> {
                if v == "mle" {
                    Ok(NComponents::Mle)
                } else {
                    Err(E::custom(format!(
                        "n_components = '{v}' is not a count, a fraction of variance in (0, 1) or mle"
                    )))
                }
            }
        }
        deserializer.deserialize_any(NVisitor)
    }
}
