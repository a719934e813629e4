//! The `pca` step's lifecycle: the solver resolved and checked at plan time, each
//! solver's passes as a fit state, and the fitted PCA with its model.json and report.json
//! sections (scikit-learn's attribute names). A `scale` step before it is absorbed: the
//! scaler comes out of the solver's own first pass.

use super::exact::ExactFit;
use super::fitted::Common;
use super::incremental::IncrementalFit;
use super::params::{NComponents, PcaParams, PcaSolver, PowerNormalizer, RandomizedMethod, Solver};
use super::randomized::RandomizedFit;
use super::tsqr::TsqrFit;
use crate::error::Result;
use crate::steps::Named;
use crate::steps::scale::ScaleMethod;
use crate::steps::{Fit, PlannedStep, StepInput};

/// Widest data the exact solver takes under `auto`: its p × p co-moment is 128 MiB here.
pub const AUTO_EXACT_MAX_FEATURES: usize = 4096;

/// `solver: auto`: exact while the p × p co-moment is small; beyond, randomized for a
/// small integer k (k < p / 10), else incremental (memory O(batch × p + p²)).
pub fn resolve_solver(solver: PcaSolver, n_components: NComponents, p: usize) -> Solver {
    match solver.explicit() {
        Some(written) => written,
        None if p <= AUTO_EXACT_MAX_FEATURES => Solver::Exact,
        // Minka's k needs every eigenvalue: only the exact solvers have them.
        None if n_components == NComponents::Mle => Solver::Exact,
        None => match n_components {
            NComponents::Count(k) if k * 10 < p => Solver::Randomized,
            _ => Solver::Incremental,
        },
    }
}

#[derive(Debug, Clone)]
pub struct PlannedPca {
    params: PcaParams,
    /// The solver that runs: the one written, or `auto`'s choice once `check` knows the
    /// width.
    solver: Option<Solver>,
    /// The scale step absorbed (`None` when there was none: PCA still centres).
    scale: ScaleMethod,
}

impl PlannedPca {
    pub fn new(params: PcaParams) -> PlannedPca {
        PlannedPca {
            solver: params.solver.explicit(),
            params,
            scale: ScaleMethod::None,
        }
    }

    /// The solver for `p` features.
    fn resolved(&self, p: usize) -> Solver {
        self.solver
            .unwrap_or_else(|| resolve_solver(self.params.solver, self.params.n_components, p))
    }

    /// Resolves `solver: auto` for `p` features and checks the keys against the solver
    /// that will run.
    fn check_solver(&mut self, p: usize, problems: &mut Vec<String>) {
        let wrote_auto = self.params.solver == PcaSolver::Auto;
        let solver = resolve_solver(self.params.solver, self.params.n_components, p);
        self.solver = Some(solver);
        let pca = &self.params;
        let chose = |solver: &str| {
            if wrote_auto {
                format!(" (solver: auto chose {solver} for {p} features)")
            } else {
                String::new()
            }
        };
        match (solver, pca.batch_size) {
            (Solver::Incremental, Some(0)) => {
                problems.push("steps: pca.batch_size must be at least 1".into())
            }
            (Solver::Incremental, Some(b)) => {
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
            (Solver::Incremental, None) => {
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
            (other, Some(_)) => problems.push(format!(
                "steps: pca.batch_size applies to solver: incremental only{}",
                chose(other.name())
            )),
            _ => {}
        }
        let randomized_keys = pca.oversamples.is_some()
            || pca.power_iterations.is_some()
            || pca.power_iteration_normalizer.is_some()
            || pca.seed.is_some()
            || pca.tol.is_some()
            || pca.method.is_some();
        if solver != Solver::Randomized && randomized_keys {
            problems.push(format!(
                "steps: pca.oversamples, power_iterations, power_iteration_normalizer, method, tol and seed apply to solver: randomized only{}",
                chose(solver.name())
            ));
        }
        if pca.tol.is_some()
            && matches!(
                pca.power_iteration_normalizer,
                Some(PowerNormalizer::Lu | PowerNormalizer::None)
            )
        {
            problems.push(
                "steps: pca.tol needs power_iteration_normalizer: QR or auto: any pass may end the \
                 iterations, so each basis must be orthonormal"
                    .into(),
            );
        }
        if pca.method == Some(RandomizedMethod::Krylov)
            && matches!(
                pca.power_iteration_normalizer,
                Some(PowerNormalizer::Lu | PowerNormalizer::None)
            )
        {
            problems.push(
                "steps: pca.method: krylov needs power_iteration_normalizer: QR or auto: the kept \
                 blocks must be orthonormal together"
                    .into(),
            );
        }
        if let Some(tol) = pca.tol
            && !(tol > 0.0 && tol < 1.0)
        {
            problems.push(format!(
                "steps: pca.tol = {tol} must lie in (0, 1): the largest relative change of a leading variance between passes that ends the power iterations"
            ));
        }
        if pca.n_components == NComponents::Mle
            && matches!(solver, Solver::Randomized | Solver::Incremental)
        {
            problems.push(format!(
                "steps: pca.n_components = mle needs the whole spectrum, which solver: {} does not \
                 compute (as scikit-learn); use solver: exact or tsqr, or write a count",
                solver.name()
            ));
        }
    }

    /// n_components against the features and the rows.
    fn check_counts(&self, p: usize, rows: Option<u64>, problems: &mut Vec<String>) {
        if self.params.n_components == NComponents::Mle {
            if p < 2 {
                problems.push("steps: pca.n_components = mle needs at least 2 features".into());
            }
            if let Some(rows) = rows
                && rows > 0
                && rows < p as u64
            {
                problems.push(format!(
                    "steps: pca.n_components = mle needs at least as many rows as features \
                     (as scikit-learn): the input has {rows} rows for {p} features; write a count instead"
                ));
            }
            return;
        }
        let NComponents::Count(k) = self.params.n_components else {
            return;
        };
        if k > p {
            problems.push(format!(
                "steps: pca.n_components = {k} is more than the {p} features"
            ));
        }
        if let Some(rows) = rows
            && rows > 0
            && k as u64 > rows
        {
            problems.push(format!(
                "steps: pca.n_components = {k} is more than the {rows} rows of the input"
            ));
        }
    }
}

impl PlannedStep for PlannedPca {
    fn kind(&self) -> &'static str {
        super::Kind::NAME
    }

    fn check(&mut self, width: Option<usize>, rows: Option<u64>, problems: &mut Vec<String>) {
        if let Some(p) = width {
            self.check_solver(p, problems);
            self.check_counts(p, rows, problems);
            // The incremental solver holds three batches of p values (the one filling, the
            // one held back, the one in its SVD).
            if self.solver == Some(Solver::Incremental)
                && let Some(b) = self.params.batch_size
            {
                crate::engine::check_memory(
                    "steps: pca.batch_size",
                    b,
                    b as f64 * p as f64 * 8.0 * 3.0,
                    problems,
                );
            }
        }
    }

    fn scores(&self) -> bool {
        true
    }

    fn absorb_scale(&mut self, method: ScaleMethod) -> bool {
        self.scale = method;
        true
    }

    fn shards(&self) -> bool {
        matches!(self.solver, Some(Solver::Exact | Solver::Tsqr))
    }

    fn rereads(&self) -> bool {
        self.solver == Some(Solver::Randomized)
    }

    fn rounds(&self) -> bool {
        self.solver == Some(Solver::Randomized)
    }

    fn memory_bytes(&self, width: usize, rows: Option<u64>) -> u64 {
        solver_bytes(&self.params, self.resolved(width), width, rows)
    }

    fn lighter(&self, width: usize, rows: Option<u64>, _limit: Option<u64>) -> Option<String> {
        let now = self.memory_bytes(width, rows);
        let solver = self.resolved(width);
        [Solver::Randomized, Solver::Incremental]
            .into_iter()
            .filter(|s| *s != solver)
            .map(|s| (s, solver_bytes(&self.params, s, width, rows)))
            .filter(|(_, b)| *b < now)
            .min_by_key(|(_, b)| *b)
            .map(|(s, b)| {
                format!(
                    "pca solver: {} holds about {} MiB on {width} features",
                    s.name(),
                    b.div_ceil(1 << 20)
                )
            })
    }

    fn output_width(&self, _input: usize) -> Option<usize> {
        match self.params.n_components {
            NComponents::Count(k) => Some(k),
            NComponents::Fraction(_) | NComponents::Mle => None,
        }
    }

    fn start(&self, input: &StepInput) -> Result<Fit> {
        let p = input.width();
        let common = Common {
            params: self.params.clone(),
            scale: self.scale,
            input: input.clone(),
        };
        Ok(match self.resolved(p) {
            Solver::Exact => Fit::Merge(Box::new(ExactFit::new(common, p))),
            Solver::Tsqr => Fit::Merge(Box::new(TsqrFit::new(common, p))),
            Solver::Randomized => Fit::Merge(Box::new(RandomizedFit::new(common))),
            Solver::Incremental => Fit::Sequential(Box::new(IncrementalFit::new(common))),
        })
    }
}

/// What a PCA solver's fit holds, in bytes (f64 everywhere):
/// - exact: the co-moment (p²), a row block and its scratch (2 × 4,096 × p), the
///   eigendecomposition's copy, vectors and workspace (3 p²);
/// - tsqr: the R factor and the QR of a block stacked on it (3 p²) and the block;
/// - randomized: the basis, its product, their QR and the raw sums (6 p × l, l = k +
///   oversamples), l², and its own blocks of `blocks::block_rows(p)` rows (the block and
///   its centered copy; on float32 data the f32 block, its centred copy and a block of
///   rounded rows, less); with `method: krylov` also every pass's block and product and the
///   answer's basis, product, weighted product and SVD vectors (6 p × m, m the kept
///   columns: l × (power_iterations + 1), at most p);
/// - incremental: three batches of p and the SVD of k + batch rows (5 × batch × p); on
///   float32 data also a block of f32 rows (at most 4,096 × p × 4 bytes, inside the margin
///   batch) and the f32 co-moment (p² × 4 bytes, inside the fourth p² word).
fn solver_bytes(params: &PcaParams, solver: Solver, p: usize, rows: Option<u64>) -> u64 {
    let p = p as u64;
    let block = 2 * crate::stats::BLOCK_ROWS as u64 * p;
    let k = match params.n_components {
        NComponents::Count(k) => k as u64,
        NComponents::Fraction(_) if solver == Solver::Randomized => {
            p.min(super::randomized::FRACTION_SKETCH as u64)
        }
        NComponents::Fraction(_) | NComponents::Mle => p,
    };
    let words = match solver {
        Solver::Exact => 4 * p * p + block,
        Solver::Tsqr => 3 * p * p + block,
        Solver::Randomized => {
            let l = (k + params.oversamples.unwrap_or(10) as u64).min(p);
            let block = 2 * crate::blocks::block_rows(p as usize) as u64 * p;
            let kept = if params.method == Some(RandomizedMethod::Krylov) {
                // the most passes: 'auto' picks 7 or 4 from the rows, unknown here
                let passes = params.power_iterations.unwrap_or(7) as u64 + 1;
                let m = (l * passes).min(p);
                6 * p * m + m * m
            } else {
                0
            };
            6 * p * l + l * l + block + kept
        }
        Solver::Incremental => {
            let b = params.batch_size.map_or(5 * p, |b| b as u64);
            let b = rows.map_or(b, |r| b.min(r.max(1)));
            // the batch held back, the one filling, the centered copy (and a margin); the
            // Gram matrix, its eigenvectors and the eigensolver's workspace
            4 * b * p + 4 * p * p + 2 * k * p
        }
    };
    words * 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_chooses_by_width_and_k() {
        use NComponents::{Count, Fraction};
        assert_eq!(
            resolve_solver(PcaSolver::Auto, Count(10), 4096),
            Solver::Exact
        );
        assert_eq!(
            resolve_solver(PcaSolver::Auto, Fraction(0.9), 30),
            Solver::Exact
        );
        assert_eq!(
            resolve_solver(PcaSolver::Auto, Count(10), 4097),
            Solver::Randomized
        );
        assert_eq!(
            resolve_solver(PcaSolver::Auto, Count(1000), 5000),
            Solver::Incremental
        );
        assert_eq!(
            resolve_solver(PcaSolver::Auto, Fraction(0.9), 5000),
            Solver::Incremental
        );
        assert_eq!(
            resolve_solver(PcaSolver::Auto, NComponents::Mle, 5000),
            Solver::Exact
        );
        assert_eq!(
            resolve_solver(PcaSolver::Exact, Count(10), 100_000),
            Solver::Exact
        );
    }
}
