//! The `kernel_pca` step: kernel PCA that streams, by the Nyström method. scikit-learn's
//! `KernelPCA` holds the n × n kernel matrix and fails around 50,000–80,000 rows; here:
//!
//! 1. a pass reservoir-samples `landmarks` rows (seeded; all rows when there are fewer);
//! 2. K_mm = U Λ Uᵀ gives the feature map Φ(x) = k(x, landmarks) · U Λ^(−½), whose inner
//!    products reproduce the kernel wherever it is spanned by the landmarks (exactly, on
//!    the landmarks);
//! 3. a second pass gathers Φ's mergeable moments, and the exact PCA of Φ gives the
//!    components: with every row a landmark, its scores are scikit-learn's `KernelPCA`
//!    projections of the training rows (up to sign).
//!
//! The fitted map is `k(x, landmarks) · projection_ − offset_`, with
//! `projection_ = U Λ^(−½) Vᵀ` (m × k) and `offset_ = mean(Φ) Vᵀ`. With
//! `fit_inverse_transform` the fit ends by learning scikit-learn's pre-image map on the
//! landmarks (`preimage`).

pub mod baseline;
mod fitted;
pub mod kernel;
mod preimage;

use faer::{Mat, MatRef, Side};
use serde::{Deserialize, Serialize};

use super::pca::params::NComponents;
use super::{Fit, FitStep, FittedStep, PlannedStep, StepInput};
use crate::engine::PassStats;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::stats::MomentsAccumulator;
use crate::steps::Pass;
use crate::steps::{Named, Transform};
pub use baseline::BaselineKernel;
pub use fitted::FittedKernelPca;
use kernel::{Kernel, KernelKind};
use preimage::PreImage;

/// The step kind's registration (`steps::registry!`).
pub struct Kind;

impl crate::steps::StepKind for Kind {
    type Params = KernelPcaParams;
    fn plan(params: &Self::Params) -> Box<dyn crate::steps::PlannedStep> {
        Box::new(PlannedKernelPca::new(params.clone()))
    }
    fn load(
        model: &serde_json::Map<String, serde_json::Value>,
        input: usize,
    ) -> crate::error::Result<Box<dyn crate::steps::FittedStep>> {
        FittedKernelPca::from_model(model, input).map(|s| Box::new(s) as _)
    }
    const COMPARED_AS: Option<&'static str> = Some("kernel PCA");
    fn baseline(ctx: &crate::steps::BaselineContext<'_>) -> crate::error::Result<Self::Params> {
        baseline::params(ctx)
    }
}

/// The step's keys, scikit-learn's names and defaults, plus the Nyström sample.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KernelPcaParams {
    pub n_components: usize,
    #[serde(default)]
    pub kernel: KernelKind,
    /// rbf, poly, sigmoid: 1 / features when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    #[serde(default = "default_degree")]
    pub degree: f64,
    #[serde(default = "default_coef0")]
    pub coef0: f64,
    /// Rows sampled as landmarks (all rows when there are fewer).
    #[serde(default = "default_landmarks")]
    pub landmarks: usize,
    #[serde(default)]
    pub seed: u64,
    /// Learn the pre-image map (`transform --inverse`, the reconstruction error), as
    /// scikit-learn's `KernelPCA(fit_inverse_transform=True)`. Written only when set, so
    /// a pipeline without it serialises (and fingerprints) as before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fit_inverse_transform: bool,
    /// The pre-image map's ridge (scikit-learn's `alpha`).
    #[serde(default = "default_alpha", skip_serializing_if = "is_default_alpha")]
    pub alpha: f64,
}

fn default_alpha() -> f64 {
    1.0
}

fn is_default_alpha(alpha: &f64) -> bool {
    *alpha == default_alpha()
}

fn default_degree() -> f64 {
    3.0
}

fn default_coef0() -> f64 {
    1.0
}

fn default_landmarks() -> usize {
    1000
}

/// Rows of the sample the approximation error is measured on.
const CHECK_ROWS: usize = 500;
/// Rows per kernel block, so a chunk's kernel matrix stays small whatever `batch_rows`.
const BLOCK: usize = 1024;

#[derive(Debug, Clone)]
pub struct PlannedKernelPca {
    params: KernelPcaParams,
}

impl PlannedKernelPca {
    pub fn new(params: KernelPcaParams) -> PlannedKernelPca {
        PlannedKernelPca { params }
    }

    /// The landmarks the fit will hold: all rows when there are fewer.
    fn landmarks(&self, rows: Option<u64>) -> u64 {
        let m = self.params.landmarks as u64;
        rows.map_or(m, |r| m.min(r.max(1)))
    }

    /// The pre-image map's fit: k(Z_fit, Z_fit) + αI and its Cholesky factor (2 m²), the
    /// landmarks' projections (m × k) and `dual_coef_` (m × p), beside the map's arrays.
    fn inverse_bytes(&self, width: usize, rows: Option<u64>) -> u64 {
        let m = self.landmarks(rows);
        let (p, k) = (width as u64, self.params.n_components as u64);
        (2 * m * m + m * (p + k)) * 8
    }
}

impl PlannedStep for PlannedKernelPca {
    fn kind(&self) -> &'static str {
        Kind::NAME
    }

    fn check(&mut self, _width: Option<usize>, rows: Option<u64>, problems: &mut Vec<String>) {
        let p = &self.params;
        if p.n_components == 0 {
            problems.push("kernel_pca.n_components: must be at least 1".into());
        }
        if p.landmarks < 2 {
            problems.push("kernel_pca.landmarks: must be at least 2".into());
        }
        let landmarks = rows.map_or(p.landmarks as u64, |n| n.min(p.landmarks as u64));
        if p.n_components as u64 > landmarks {
            problems.push(format!(
                "kernel_pca.n_components: {} is more than the {landmarks} landmarks",
                p.n_components
            ));
        }
        if let Some(g) = p.gamma
            && !(g > 0.0 && g.is_finite())
        {
            problems.push(format!(
                "kernel_pca.gamma: must be a positive number, not {g}"
            ));
        }
        if !(p.degree >= 1.0 && p.degree.fract() == 0.0) {
            problems.push(format!(
                "kernel_pca.degree: must be a whole number ≥ 1, not {}",
                p.degree
            ));
        }
        if !p.coef0.is_finite() {
            problems.push("kernel_pca.coef0: must be a number".into());
        }
        if !(p.alpha > 0.0 && p.alpha.is_finite()) {
            problems.push(format!(
                "kernel_pca.alpha: must be a positive number, not {}",
                p.alpha
            ));
        }
    }

    fn invertible(&self) -> bool {
        self.params.fit_inverse_transform
    }

    fn output_width(&self, _input: usize) -> Option<usize> {
        Some(self.params.n_components)
    }

    /// The landmarks and the check sample (p each), K_mm, its eigenvectors and the map
    /// (3 m²), the co-moment of k(x, L) (m²), its row blocks (2 × 4,096 × m) and a kernel
    /// block; with `fit_inverse_transform`, the pre-image map's (`inverse_bytes`).
    fn memory_bytes(&self, width: usize, rows: Option<u64>) -> u64 {
        let m = self.landmarks(rows);
        let (p, block) = (width as u64, crate::stats::BLOCK_ROWS as u64);
        let map =
            ((m + CHECK_ROWS as u64) * p + 4 * m * m + 2 * block * m + 2 * BLOCK as u64 * m) * 8;
        map + if self.params.fit_inverse_transform {
            self.inverse_bytes(width, rows)
        } else {
            0
        }
    }

    /// The pre-image map costs an m × m solve: said with what the fit holds without it.
    fn lighter(&self, width: usize, rows: Option<u64>, _limit: Option<u64>) -> Option<String> {
        let p = &self.params;
        if !p.fit_inverse_transform {
            return None;
        }
        let without = self.memory_bytes(width, rows) - self.inverse_bytes(width, rows);
        Some(format!(
            "kernel_pca fit_inverse_transform solves a {m} × {m} system on the {m} landmarks; \
             without it the fit holds about {} MiB, and fewer landmarks hold less (as their square)",
            without.div_ceil(1 << 20),
            m = self.landmarks(rows),
        ))
    }

    fn start(&self, input: &StepInput) -> Result<Fit> {
        let p = input.width();
        let params = &self.params;
        let kernel = Kernel {
            kernel: params.kernel,
            gamma: params.gamma.unwrap_or(1.0 / p as f64),
            degree: params.degree,
            coef0: params.coef0,
        };
        Ok(Fit::Sequential(Box::new(KernelPcaFit {
            params: params.clone(),
            kernel,
            input: input.clone(),
            landmarks: Reservoir::new(params.landmarks, params.seed),
            check: Reservoir::new(CHECK_ROWS, params.seed ^ 0x9e37_79b9_7f4a_7c15),
            map: None,
            moments: None,
            fit_done: false,
        })))
    }
}

/// Vitter's algorithm R over rows: every row has the same chance to be kept, decided row
/// by row, so the sample does not depend on the chunk size.
struct Reservoir {
    size: usize,
    rng: Rng,
    seen: u64,
    rows: Vec<Vec<f64>>,
}

impl Reservoir {
    fn new(size: usize, seed: u64) -> Reservoir {
        Reservoir {
            size,
            rng: Rng::new(seed),
            seen: 0,
            rows: Vec::new(),
        }
    }

    fn push(&mut self, x: MatRef<'_, f64>) {
        for i in 0..x.nrows() {
            self.seen += 1;
            let slot = if self.rows.len() < self.size {
                self.rows.push(Vec::new());
                self.rows.len() - 1
            } else {
                let j = (self.rng.uniform() * self.seen as f64) as u64;
                if j >= self.size as u64 {
                    continue;
                }
                j as usize
            };
            self.rows[slot] = (0..x.ncols()).map(|j| x[(i, j)]).collect();
        }
    }

    fn matrix(&self, p: usize) -> Mat<f64> {
        Mat::from_fn(self.rows.len(), p, |i, j| self.rows[i][j])
    }
}

/// The Nyström feature map: the landmarks and U Λ^(−½).
struct FeatureMap {
    landmarks: Mat<f64>,
    whitening: Mat<f64>,
    /// ‖K − K̃‖_F / ‖K‖_F on a sample of rows.
    approximation_error: f64,
}

impl FeatureMap {
    fn of(kernel: &Kernel, landmarks: Mat<f64>, check: MatRef<'_, f64>) -> Result<FeatureMap> {
        let k_mm = kernel.matrix(landmarks.as_ref(), landmarks.as_ref());
        let k_mm = Mat::from_fn(k_mm.nrows(), k_mm.ncols(), |i, j| {
            0.5 * (k_mm[(i, j)] + k_mm[(j, i)])
        });
        let evd = k_mm.self_adjoint_eigen(Side::Lower).map_err(|e| {
            Error::Numeric(format!(
                "kernel_pca: the landmarks' kernel eigen-decomposition did not converge: {e:?}"
            ))
        })?;
        let values = evd.S().column_vector();
        let vectors = evd.U();
        let m = k_mm.nrows();
        let largest = (0..m).map(|i| values[i]).fold(0.0, f64::max);
        // eigenvalues at rounding level (or negative: a kernel that is not positive
        // semi-definite there) carry no direction
        let cutoff = largest * f64::EPSILON * m as f64;
        let kept: Vec<usize> = (0..m).rev().filter(|&i| values[i] > cutoff).collect();
        if kept.is_empty() {
            return Err(Error::Numeric(
                "kernel_pca: the kernel matrix of the landmarks is zero".into(),
            ));
        }
        let whitening = Mat::from_fn(m, kept.len(), |a, r| {
            vectors[(a, kept[r])] / values[kept[r]].sqrt()
        });
        let map = FeatureMap {
            landmarks,
            whitening,
            approximation_error: 0.0,
        };
        let exact = kernel.matrix(check, check);
        let phi = map.features(kernel, check);
        let approx = &phi * phi.transpose();
        let norm = |m: &Mat<f64>| m.norm_l2();
        let approximation_error = norm(&(&exact - &approx)) / norm(&exact).max(f64::MIN_POSITIVE);
        Ok(FeatureMap {
            approximation_error,
            ..map
        })
    }

    /// Φ(x) for rows `x`, in blocks.
    fn features(&self, kernel: &Kernel, x: MatRef<'_, f64>) -> Mat<f64> {
        blocks(x, self.whitening.ncols(), |b| {
            kernel.matrix(b, self.landmarks.as_ref()) * &self.whitening
        })
    }
}

/// `f` over blocks of `BLOCK` rows of `x`, stacked into an n × `width` result.
fn blocks(x: MatRef<'_, f64>, width: usize, f: impl Fn(MatRef<'_, f64>) -> Mat<f64>) -> Mat<f64> {
    let n = x.nrows();
    let mut out = Mat::zeros(n, width);
    for start in (0..n).step_by(BLOCK) {
        let rows = BLOCK.min(n - start);
        out.as_mut()
            .subrows_mut(start, rows)
            .copy_from(f(x.subrows(start, rows)));
    }
    out
}

/// Two passes: the landmarks, then the moments of Φ.
struct KernelPcaFit {
    params: KernelPcaParams,
    kernel: Kernel,
    input: StepInput,
    landmarks: Reservoir,
    check: Reservoir,
    map: Option<FeatureMap>,
    moments: Option<MomentsAccumulator>,
    fit_done: bool,
}

/// Kernel PCA's passes: the landmarks' sample, then the moments of k(x, L).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KernelPass {
    Landmarks,
    Fit,
}

impl crate::steps::PassName for KernelPass {
    fn label(self) -> std::borrow::Cow<'static, str> {
        match self {
            KernelPass::Landmarks => "landmarks".into(),
            KernelPass::Fit => "fit".into(),
        }
    }
}

impl FitStep for KernelPcaFit {
    fn next_pass(&self) -> Option<Pass> {
        match (&self.map, self.fit_done) {
            (None, _) => Some(KernelPass::Landmarks.into()),
            (Some(_), false) => Some(KernelPass::Fit.into()),
            (Some(_), true) => None,
        }
    }

    fn update(&mut self, x: MatRef<'_, f64>) -> Result<()> {
        match (&self.map, &mut self.moments) {
            (None, _) => {
                self.landmarks.push(x);
                self.check.push(x);
            }
            // the moments of k(x, L), in blocks: Φ's are the whitening's image of them
            // (`finish`), so no row goes through the m × m map in this pass
            (Some(map), Some(acc)) => {
                for start in (0..x.nrows()).step_by(BLOCK) {
                    let rows = BLOCK.min(x.nrows() - start);
                    let k = self
                        .kernel
                        .matrix(x.subrows(start, rows), map.landmarks.as_ref());
                    acc.push(k.as_ref());
                }
            }
            (Some(_), None) => {}
        }
        Ok(())
    }

    fn end_pass(&mut self, stats: &PassStats) -> Result<()> {
        if self.map.is_none() {
            super::check_rows(&self.input, "kernel_pca", stats, self.landmarks.seen)?;
            let p = self.input.width();
            let map = FeatureMap::of(
                &self.kernel,
                self.landmarks.matrix(p),
                self.check.matrix(p).as_ref(),
            )?;
            let width = map.whitening.ncols();
            if self.params.n_components > width {
                return Err(Error::Numeric(format!(
                    "kernel_pca: the kernel of the {} landmarks has rank {width}, less than n_components = {}",
                    self.landmarks.rows.len(),
                    self.params.n_components
                )));
            }
            self.moments = Some(MomentsAccumulator::new(map.landmarks.nrows()));
            self.map = Some(map);
        } else {
            self.fit_done = true;
        }
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        let p = self.input.width();
        let m = self.landmarks.rows.len();
        (m + self.check.rows.len()) * p * 8 + m * m * 8 + BLOCK * m * 8 * 2
    }

    fn finish(self: Box<Self>) -> Result<Box<dyn FittedStep>> {
        let (Some(map), Some(acc)) = (self.map, self.moments) else {
            return Err(Error::internal("kernel_pca finished before its passes"));
        };
        // Φ = k(x, L) W, so Φ's mean is Wᵀ k̄ and its covariance Wᵀ C W
        let moments = acc.finish();
        let n = moments.n;
        let k = self.params.n_components;
        let w = &map.whitening;
        let covariance = w.transpose() * moments.covariance() * w;
        let covariance = Mat::from_fn(covariance.nrows(), covariance.ncols(), |i, j| {
            0.5 * (covariance[(i, j)] + covariance[(j, i)])
        });
        let mean: Vec<f64> = (0..w.ncols())
            .map(|r| (0..w.nrows()).map(|a| moments.mean[a] * w[(a, r)]).sum())
            .collect();
        let pca = super::pca::exact::fit(covariance, n, NComponents::Count(k), false)?;
        let projection = w * pca.components.transpose();
        let offset: Vec<f64> = (0..k)
            .map(|c| {
                (0..mean.len())
                    .map(|j| mean[j] * pca.components[(c, j)])
                    .sum()
            })
            .collect();
        let eigenvalues = pca
            .explained_variance
            .iter()
            .map(|v| v * (n.max(1) - 1) as f64)
            .collect();
        let mut fitted = FittedKernelPca {
            kernel: self.kernel,
            landmarks: map.landmarks,
            projection,
            offset,
            eigenvalues,
            approximation_error: map.approximation_error,
            preimage: None,
            fitted: Some((n, self.params.seed)),
        };
        if self.params.fit_inverse_transform {
            // Z_fit: the landmarks through the fitted map, as `transform` maps them
            let landmarks = fitted.landmarks.as_ref();
            let z_fit = fitted.forward(landmarks, &mut Mat::zeros(0, 0));
            fitted.preimage = Some(PreImage::fit(
                &fitted.kernel,
                z_fit,
                landmarks,
                self.params.alpha,
            )?);
        }
        Ok(Box::new(fitted))
    }
}
