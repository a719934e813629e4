//! Kernel PCA as a comparison reducer (`report.evaluate.compare: [kernel_pca]`).

use serde::{Deserialize, Serialize};

use super::KernelPcaParams;
use super::kernel::KernelKind;
use crate::error::{Error, Result};
use crate::steps::{BaselineContext, RawStep};

/// Most landmarks of the baseline: with no more training rows than this it is
/// scikit-learn's exact `KernelPCA` of the training rows.
const LANDMARKS: usize = 2000;

/// `report.evaluate.kernel`: the `kernel_pca` step's kernel keys, rbf by default.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BaselineKernel {
    #[serde(default = "default_kernel")]
    pub kernel: KernelKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    #[serde(default = "super::default_degree")]
    pub degree: f64,
    #[serde(default = "super::default_coef0")]
    pub coef0: f64,
}

fn default_kernel() -> KernelKind {
    KernelKind::Rbf
}

/// The baseline's keys: `report.evaluate.kernel`, else the pipeline's own `kernel_pca`
/// step's kernel, else rbf with gamma 1 / features; the output's width and every
/// training row a landmark, up to `LANDMARKS`.
pub fn params(ctx: &BaselineContext<'_>) -> Result<KernelPcaParams> {
    let kernel = ctx.kernel.copied().unwrap_or_else(|| {
        ctx.steps
            .iter()
            .rev()
            .find_map(|s| match s {
                RawStep::KernelPca(p) => Some(BaselineKernel {
                    kernel: p.kernel,
                    gamma: p.gamma,
                    degree: p.degree,
                    coef0: p.coef0,
                }),
                _ => None,
            })
            .unwrap_or(BaselineKernel {
                kernel: KernelKind::Rbf,
                gamma: None,
                degree: 3.0,
                coef0: 1.0,
            })
    });
    let mut keys = serde_json::to_value(kernel).map_err(|e| Error::internal(e.to_string()))?;
    keys["n_components"] = ctx.width.min(ctx.rows).into();
    keys["landmarks"] = ctx.rows.min(LANDMARKS).into();
    keys["seed"] = ctx.seed.into();
    crate::steps::params_from(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(steps: &'a [RawStep], kernel: Option<&'a BaselineKernel>) -> BaselineContext<'a> {
        BaselineContext {
            width: 2,
            rows: 5000,
            features: 4,
            classes: 3,
            label: "y",
            seed: 7,
            steps,
            kernel,
        }
    }

    #[test]
    fn the_kernel_is_the_evaluation_s_then_the_step_s_then_rbf() {
        let step: RawStep = serde_json::from_value(serde_json::json!(
            {"kernel_pca": {"n_components": 2, "kernel": "poly", "degree": 2.0}}
        ))
        .unwrap();
        let own = params(&ctx(std::slice::from_ref(&step), None)).unwrap();
        assert_eq!((own.kernel, own.degree), (KernelKind::Poly, 2.0));
        let told = BaselineKernel {
            kernel: KernelKind::Cosine,
            gamma: None,
            degree: 3.0,
            coef0: 1.0,
        };
        let first = params(&ctx(&[step], Some(&told))).unwrap();
        assert_eq!(first.kernel, KernelKind::Cosine);
        let default = params(&ctx(&[], None)).unwrap();
        assert_eq!((default.kernel, default.gamma), (KernelKind::Rbf, None));
        assert_eq!((default.landmarks, default.seed), (LANDMARKS, 7));
        assert_eq!(default.n_components, 2);
    }
}
