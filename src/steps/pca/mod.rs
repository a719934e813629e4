//! Principal component analysis. Solvers produce the full spectrum they know and the
//! leading components; this module turns that into scikit-learn's fitted attributes:
//! k from a count or a variance fraction (smallest k whose cumulative ratio exceeds the
//! fraction, as scikit-learn's `searchsorted(..., side="right") + 1`), the sign convention
//! (each component's entry of largest magnitude is positive), noise variance, whitening.

pub mod exact;
pub mod fitted;
pub mod incremental;
pub mod likelihood;
pub mod params;
pub mod randomized;
pub mod step;
pub mod tsqr;

use faer::{Mat, MatRef};

use crate::error::{Error, Result};
use params::NComponents;

/// The step kind's registration (`steps::registry!`).
pub struct Kind;

impl crate::steps::StepKind for Kind {
    type Params = params::PcaParams;
    fn plan(params: &Self::Params) -> Box<dyn crate::steps::PlannedStep> {
        Box::new(step::PlannedPca::new(params.clone()))
    }
    fn load(
        model: &serde_json::Map<String, serde_json::Value>,
        input: usize,
    ) -> crate::error::Result<Box<dyn crate::steps::FittedStep>> {
        fitted::FittedPca::from_model(model, input).map(|s| Box::new(s) as _)
    }
    const COMPARED_AS: Option<&'static str> = Some("PCA codes");
    /// The exact PCA of the training rows at the output's width.
    fn baseline(ctx: &crate::steps::BaselineContext<'_>) -> Result<Self::Params> {
        crate::steps::params_from(serde_json::json!({"solver": "exact", "n_components": ctx.width}))
    }
}

/// A fitted PCA in the (scaled) feature space.
#[derive(Debug, Clone)]
pub struct Pca {
    /// k × p, rows are components in decreasing variance.
    pub components: Mat<f64>,
    pub explained_variance: Vec<f64>,
    pub explained_variance_ratio: Vec<f64>,
    pub singular_values: Vec<f64>,
    pub noise_variance: f64,
    pub total_variance: f64,
    pub n_samples: u64,
    pub whiten: bool,
}

impl Pca {
    pub fn n_components(&self) -> usize {
        self.components.nrows()
    }

    pub fn cumulative_variance_ratio(&self) -> Vec<f64> {
        self.explained_variance_ratio
            .iter()
            .scan(0.0, |acc, r| {
                *acc += r;
                Some(*acc)
            })
            .collect()
    }
}

/// Chooses k. `spectrum` holds every eigenvalue (decreasing) of the covariance, already
/// limited to min(n, p) values.
pub fn choose_k(
    n_components: NComponents,
    spectrum: &[f64],
    total: f64,
    n_features: usize,
    n_samples: u64,
) -> Result<usize> {
    let limit = (n_samples as usize).min(n_features);
    match n_components {
        NComponents::Count(k) => {
            if k > n_features {
                Err(Error::config(format!(
                    "pca.n_components = {k} is more than the {n_features} features"
                )))
            } else if k > limit {
                Err(Error::config(format!(
                    "pca.n_components = {k} is more than the {n_samples} samples read"
                )))
            } else {
                Ok(k)
            }
        }
        NComponents::Fraction(_) if total <= 0.0 => Ok(1.min(limit)),
        NComponents::Fraction(f) => {
            let mut cumulative = 0.0;
            for (i, v) in spectrum.iter().enumerate() {
                cumulative += v / total;
                if cumulative > f {
                    return Ok(i + 1);
                }
            }
            Ok(spectrum.len().max(1))
        }
        NComponents::Mle if (n_samples as usize) < n_features => Err(Error::config(format!(
            "pca.n_components = mle needs at least as many rows as features: {n_samples} rows \
             read for {n_features} features (as scikit-learn); write a count instead"
        ))),
        NComponents::Mle if n_features < 2 => Err(Error::config(
            "pca.n_components = mle needs at least 2 features to choose among",
        )),
        NComponents::Mle => Ok(infer_dimension(spectrum, n_samples)),
    }
}

/// Minka's choice of k: the rank in [1, p − 1] of largest `assess_dimension`, the first
/// on ties (scikit-learn's `_infer_dimension`, numpy's `argmax`).
pub fn infer_dimension(spectrum: &[f64], n_samples: u64) -> usize {
    let mut best = (1, f64::NEG_INFINITY);
    for rank in 1..spectrum.len() {
        let ll = assess_dimension(spectrum, rank, n_samples);
        if ll > best.1 || (best.1 == f64::NEG_INFINITY && rank == 1) {
            best = (rank, ll);
        }
    }
    best.0
}

/// The log-likelihood of a rank-`rank` model of a spectrum of p eigenvalues in Gaussian
/// noise, the Laplace approximation of Minka, "Automatic choice of dimensionality for
/// PCA" (NIPS 2000), eq. (30)-(31), term by term as scikit-learn's `_assess_dimension`
/// (its 1e-15 floors included) so that the same k comes out.
pub fn assess_dimension(spectrum: &[f64], rank: usize, n_samples: u64) -> f64 {
    let p = spectrum.len();
    assert!((1..p).contains(&rank), "rank must lie in [1, p - 1]");
    const EPS: f64 = 1e-15;
    if spectrum[rank - 1] < EPS {
        return f64::NEG_INFINITY;
    }
    let n = n_samples as f64;
    let pi = std::f64::consts::PI;
    let mut pu = -(rank as f64) * 2f64.ln();
    for i in 1..=rank {
        let m = p - i + 1; // Γ(m / 2)
        pu += ln_gamma_half(m) - pi.ln() * m as f64 / 2.0;
    }
    let pl = -spectrum[..rank].iter().map(|s| s.ln()).sum::<f64>() * n / 2.0;
    let v = (spectrum[rank..].iter().sum::<f64>() / (p - rank) as f64).max(EPS);
    let pv = -v.ln() * n * (p - rank) as f64 / 2.0;
    let (r, pf) = (rank as f64, p as f64);
    let m = pf * r - r * (r + 1.0) / 2.0;
    let pp = (2.0 * pi).ln() * (m + r) / 2.0;
    // the spectrum with its tail replaced by the noise variance v
    let tail = |j: usize| if j < rank { spectrum[j] } else { v };
    let mut pa = 0.0;
    for i in 0..rank {
        for j in i + 1..p {
            pa += ((spectrum[i] - spectrum[j]) * (1.0 / tail(j) - 1.0 / tail(i))).ln() + n.ln();
        }
    }
    pu + pl + pv + pp - pa / 2.0 - r * n.ln() / 2.0
}

/// ln Γ(m / 2) for an integer m ≥ 1, by Γ(x + 1) = x Γ(x) from Γ(1/2) = √π and Γ(1) = 1:
/// the arguments Minka's prior needs are all halves of integers.
fn ln_gamma_half(m: usize) -> f64 {
    let mut value = if m % 2 == 1 {
        0.5 * std::f64::consts::PI.ln()
    } else {
        0.0
    };
    let mut x = if m % 2 == 1 { 0.5 } else { 1.0 };
    while x < m as f64 / 2.0 {
        value += x.ln();
        x += 1.0;
    }
    value
}

/// Flips each component so that its entry of largest absolute value is positive
/// (scikit-learn's `svd_flip(u_based_decision=False)`); ties go to the first index.
pub fn flip_signs(components: &mut Mat<f64>) {
    for r in 0..components.nrows() {
        let mut best = 0;
        for c in 0..components.ncols() {
            if components[(r, c)].abs() > components[(r, best)].abs() {
                best = c;
            }
        }
        if components[(r, best)] < 0.0 {
            for c in 0..components.ncols() {
                components[(r, c)] = -components[(r, c)];
            }
        }
    }
}

/// The scikit-learn attributes from a decreasing spectrum and the matching components.
pub fn finish(
    spectrum: &[f64],
    mut components: Mat<f64>,
    total_variance: f64,
    n_samples: u64,
    whiten: bool,
) -> Result<Pca> {
    let k = components.nrows();
    flip_signs(&mut components);
    let explained_variance: Vec<f64> = spectrum[..k].to_vec();
    let ratio = |v: f64| {
        if total_variance > 0.0 {
            v / total_variance
        } else {
            0.0
        }
    };
    let noise_variance = if k < spectrum.len() {
        spectrum[k..].iter().sum::<f64>() / (spectrum.len() - k) as f64
    } else {
        0.0
    };
    let dof = n_samples.saturating_sub(1) as f64;
    if whiten
        && let Some(i) = explained_variance
            .iter()
            .position(|v| *v <= f64::EPSILON * total_variance.max(f64::MIN_POSITIVE))
    {
        return Err(Error::data(format!(
            "pca.whiten: component {} has zero variance, so it cannot be scaled to unit variance; \
             lower n_components or turn whitening off",
            i + 1
        )));
    }
    Ok(Pca {
        components,
        explained_variance_ratio: explained_variance.iter().map(|v| ratio(*v)).collect(),
        singular_values: explained_variance
            .iter()
            .map(|v| (v * dof).sqrt())
            .collect(),
        explained_variance,
        noise_variance,
        total_variance,
        n_samples,
        whiten,
    })
}

/// Applies `(x - mean) / scale` then the projection (and whitening) to a chunk.
pub fn project(x: MatRef<'_, f64>, mean: &[f64], scale: Option<&[f64]>, pca: &Pca) -> Mat<f64> {
    project_with(x, mean, scale, pca, false, &mut Mat::zeros(0, 0))
}

/// As `project`, centering into `scratch` (resized as needed) to avoid an allocation per
/// chunk. With `with_error`, one more column holds each row's squared reconstruction error
/// ‖x − x̂‖² in the scaled space (x̂ rebuilt from the k components): the anomaly score.
pub fn project_with(
    x: MatRef<'_, f64>,
    mean: &[f64],
    scale: Option<&[f64]>,
    pca: &Pca,
    with_error: bool,
    scratch: &mut Mat<f64>,
) -> Mat<f64> {
    let (n, p) = (x.nrows(), x.ncols());
    crate::steps::scale::shift_scale_into(x, mean, scale, scratch);
    let centered = &*scratch;
    let mut z = Mat::<f64>::zeros(n, pca.n_components());
    faer::linalg::matmul::matmul(
        z.as_mut(),
        faer::Accum::Replace,
        centered.as_ref(),
        pca.components.transpose(),
        1.0,
        faer::Par::Seq,
    );
    if with_error {
        // residual = x − z Vᵀ…: the part of the (scaled) row the k components miss
        let mut residual = centered.to_owned();
        faer::linalg::matmul::matmul(
            residual.as_mut(),
            faer::Accum::Add,
            z.as_ref(),
            pca.components.as_ref(),
            -1.0,
            faer::Par::Seq,
        );
        let k = pca.n_components();
        z.resize_with(n, k + 1, |_, _| 0.0);
        for j in 0..p {
            let col = residual.col(j);
            for i in 0..n {
                z[(i, k)] += col[i] * col[i];
            }
        }
    }
    if pca.whiten {
        for (c, v) in pca.explained_variance.iter().enumerate() {
            let s = v.sqrt();
            for i in 0..n {
                z[(i, c)] /= s;
            }
        }
    }
    z
}

/// The inverse map: reduced coordinates back to raw feature space,
/// `x = (z [· √explained_variance]) · components · scale + mean`.
pub fn inverse(z: MatRef<'_, f64>, mean: &[f64], scale: Option<&[f64]>, pca: &Pca) -> Mat<f64> {
    let (n, k) = (z.nrows(), pca.n_components());
    let mut unwhitened = z.to_owned();
    if pca.whiten {
        for (c, v) in pca.explained_variance.iter().enumerate() {
            let s = v.sqrt();
            for i in 0..n {
                unwhitened[(i, c)] *= s;
            }
        }
    }
    debug_assert_eq!(unwhitened.ncols(), k);
    let mut x = unwhitened * &pca.components;
    for (j, m) in mean.iter().enumerate() {
        let s = scale.map_or(1.0, |s| s[j]);
        for v in x.col_mut(j).iter_mut() {
            *v = *v * s + m;
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconstruction_error_is_what_the_components_miss() {
        // one component along (1, 0): the error of a row is its second coordinate squared
        let pca = Pca {
            components: Mat::from_fn(1, 2, |_, j| if j == 0 { 1.0 } else { 0.0 }),
            explained_variance: vec![4.0],
            explained_variance_ratio: vec![0.8],
            singular_values: vec![2.0],
            noise_variance: 1.0,
            total_variance: 5.0,
            n_samples: 10,
            whiten: true,
        };
        let x = Mat::from_fn(2, 2, |i, j| [[3.0, 2.0], [1.0, -1.0]][i][j]);
        let z = project_with(
            x.as_ref(),
            &[1.0, 0.0],
            None,
            &pca,
            true,
            &mut Mat::zeros(0, 0),
        );
        assert_eq!(z.ncols(), 2);
        assert_eq!((z[(0, 0)], z[(0, 1)]), (1.0, 4.0)); // (3-1)/√4, 2²
        assert_eq!((z[(1, 0)], z[(1, 1)]), (0.0, 1.0));
        let back = inverse(z.as_ref().subcols(0, 1), &[1.0, 0.0], None, &pca);
        assert_eq!((back[(0, 0)], back[(0, 1)]), (3.0, 0.0));
    }

    #[test]
    fn fraction_picks_smallest_k_strictly_above() {
        let spectrum = [5.0, 3.0, 2.0];
        // cumulative ratios: 0.5, 0.8, 1.0
        assert_eq!(
            choose_k(NComponents::Fraction(0.5), &spectrum, 10.0, 3, 100).unwrap(),
            2
        );
        assert_eq!(
            choose_k(NComponents::Fraction(0.49), &spectrum, 10.0, 3, 100).unwrap(),
            1
        );
        assert_eq!(
            choose_k(NComponents::Fraction(0.8), &spectrum, 10.0, 3, 100).unwrap(),
            3
        );
    }

    #[test]
    fn a_fraction_of_no_variance_keeps_one_component() {
        assert_eq!(
            choose_k(NComponents::Fraction(0.9), &[0.0, 0.0], 0.0, 2, 10).unwrap(),
            1
        );
    }

    #[test]
    fn counts_are_checked_against_features_and_samples() {
        let s = [1.0, 1.0];
        assert!(
            choose_k(NComponents::Count(3), &s, 2.0, 2, 100)
                .unwrap_err()
                .to_string()
                .contains("features")
        );
        assert!(
            choose_k(NComponents::Count(2), &s, 2.0, 5, 1)
                .unwrap_err()
                .to_string()
                .contains("samples")
        );
    }

    #[test]
    fn ln_gamma_of_halves() {
        // Γ(1/2) = √π, Γ(1) = 1, Γ(5/2) = 3√π/4, Γ(4) = 6
        let close = |a: f64, b: f64| (a - b).abs() < 1e-14;
        let pi = std::f64::consts::PI;
        assert!(close(ln_gamma_half(1), 0.5 * pi.ln()));
        assert!(close(ln_gamma_half(2), 0.0));
        assert!(close(ln_gamma_half(5), (0.75 * pi.sqrt()).ln()));
        assert!(close(ln_gamma_half(8), 6f64.ln()));
    }

    #[test]
    fn assess_dimension_is_scikit_learns() {
        for name in ["pca_extras_digits.json", "pca_extras_breast_cancer.json"] {
            let path = format!("{}/tests/reference/{name}", env!("CARGO_MANIFEST_DIR"));
            let want: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            let spectrum: Vec<f64> = serde_json::from_value(want["spectrum"].clone()).unwrap();
            let n = want["n_samples"].as_u64().unwrap();
            let lls = want["assess_dimension"].as_array().unwrap();
            for (i, expected) in lls.iter().enumerate() {
                let ll = assess_dimension(&spectrum, i + 1, n);
                match expected.as_f64() {
                    None => assert_eq!(ll, f64::NEG_INFINITY, "{name} rank {}", i + 1),
                    Some(e) => assert!(
                        (ll - e).abs() <= 1e-10 * e.abs(),
                        "{name} rank {}: {ll} against {e}",
                        i + 1
                    ),
                }
            }
            let k = infer_dimension(&spectrum, n);
            assert_eq!(k as u64, want["mle"]["n_components"].as_u64().unwrap());
        }
    }

    #[test]
    fn mle_refuses_fewer_rows_than_features() {
        let e = choose_k(NComponents::Mle, &[3.0, 2.0, 1.0], 6.0, 3, 2).unwrap_err();
        assert!(e.to_string().contains("2 rows"), "{e}");
    }

    #[test]
    fn largest_entry_becomes_positive() {
        let mut c = Mat::from_fn(2, 3, |i, j| [[0.1, -0.9, 0.3], [0.5, 0.2, -0.4]][i][j]);
        flip_signs(&mut c);
        assert_eq!(c[(0, 1)], 0.9);
        assert_eq!(c[(1, 0)], 0.5);
    }
}
