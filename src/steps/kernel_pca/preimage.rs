//! Kernel PCA's way back: scikit-learn's learnt pre-image (Bakır, Weston and Schölkopf,
//! "Learning to find pre-images", NIPS 2003; `KernelPCA(fit_inverse_transform=True)`).
//! A kernel ridge regression from the landmarks' projections Z_fit to the landmarks X,
//! with the step's own kernel taken between projections:
//!
//!   dual_coef_ = (k(Z_fit, Z_fit) + alpha I)⁻¹ X,    x̂(z) = k(z, Z_fit) @ dual_coef_.
//!
//! scikit-learn fits it on its training rows; here on the landmarks, which are the
//! training rows when every row is one. It needs the m × m system and the m landmarks in
//! memory (`PlannedKernelPca::memory_bytes` counts them).

use faer::linalg::solvers::Solve;
use faer::{Mat, MatRef, Side};

use super::blocks;
use super::kernel::Kernel;
use crate::error::{Error, Result};
use crate::onnx::Graph;
use crate::steps::Inverse;

/// The fitted pre-image map.
pub struct PreImage {
    /// The step's kernel, taken between projections.
    pub kernel: Kernel,
    pub alpha: f64,
    /// The landmarks' projections (m × k): scikit-learn's `X_transformed_fit_`.
    pub z_fit: Mat<f64>,
    /// m × p: scikit-learn's `dual_coef_`.
    pub dual_coef: Mat<f64>,
}

impl PreImage {
    /// Solves for `dual_coef_` by Cholesky (scikit-learn's `assume_a="pos"`); a kernel that
    /// is not positive semi-definite (sigmoid) may leave k + αI indefinite, where scikit-learn
    /// fails and a pivoted LU still solves the system.
    pub fn fit(
        kernel: &Kernel,
        z_fit: Mat<f64>,
        x: MatRef<'_, f64>,
        alpha: f64,
    ) -> Result<PreImage> {
        let mut k = kernel.matrix(z_fit.as_ref(), z_fit.as_ref());
        for i in 0..k.nrows() {
            k[(i, i)] += alpha;
        }
        let dual_coef = match k.llt(Side::Lower) {
            Ok(llt) => llt.solve(x),
            Err(_) => k.partial_piv_lu().solve(x),
        };
        if dual_coef
            .col_iter()
            .any(|c| c.iter().any(|v| !v.is_finite()))
        {
            return Err(Error::Numeric(format!(
                "kernel_pca: the pre-image system k(Z_fit, Z_fit) + {alpha} I is singular; \
                 a larger alpha regularises it"
            )));
        }
        Ok(PreImage {
            kernel: *kernel,
            alpha,
            z_fit,
            dual_coef,
        })
    }
}

impl Inverse for PreImage {
    /// x̂ for rows `z` of projections, in blocks.
    fn inverse(&self, z: MatRef<'_, f64>) -> Mat<f64> {
        blocks(z, self.dual_coef.ncols(), |b| {
            self.kernel.matrix(b, self.z_fit.as_ref()) * &self.dual_coef
        })
    }

    /// The ONNX nodes of `inverse`: the tensor `z` → x̂.
    fn onnx_inverse(&self, g: &mut Graph, z: &str) -> Result<String> {
        let k = self
            .kernel
            .onnx(g, z, self.z_fit.as_ref(), "X_transformed_fit");
        let d = &self.dual_coef;
        let dual = g.matrix("dual_coef_", d.nrows(), d.ncols(), |i, j| d[(i, j)]);
        Ok(g.node("MatMul", &[&k, &dual]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::kernel_pca::kernel::KernelKind;

    fn points(n: usize, p: usize, seed: f64) -> Mat<f64> {
        Mat::from_fn(n, p, |i, j| ((i * p + j) as f64 * seed).sin())
    }

    /// On its own points the ridge fit is X − αD (from (K + αI) D = X), whatever the solver.
    fn assert_ridge_identity(kernel: &Kernel, alpha: f64) {
        let (z, x) = (points(12, 3, 0.7), points(12, 5, 1.3));
        let map = PreImage::fit(kernel, z.clone(), x.as_ref(), alpha).unwrap();
        let rebuilt = map.inverse(z.as_ref());
        let expected = &x - Mat::from_fn(12, 5, |i, j| alpha * map.dual_coef[(i, j)]);
        let worst = (&rebuilt - &expected).norm_max();
        assert!(worst < 1e-12, "{worst}");
    }

    #[test]
    fn on_its_own_points_the_map_is_the_ridge_fit() {
        let rbf = Kernel {
            kernel: KernelKind::Rbf,
            gamma: 0.5,
            degree: 3.0,
            coef0: 1.0,
        };
        assert_ridge_identity(&rbf, 1.0);
        assert_ridge_identity(&rbf, 1e-3);
    }

    /// tanh(γ z·z' − 1) is near −0.76 everywhere: k + αI has an eigenvalue near −0.76 m,
    /// where Cholesky (scikit-learn's `assume_a="pos"`) fails and the LU still solves.
    #[test]
    fn an_indefinite_sigmoid_system_is_still_solved() {
        let sigmoid = Kernel {
            kernel: KernelKind::Sigmoid,
            gamma: 0.01,
            degree: 3.0,
            coef0: -1.0,
        };
        let z = points(12, 3, 0.7);
        let mut k = sigmoid.matrix(z.as_ref(), z.as_ref());
        for i in 0..12 {
            k[(i, i)] += 0.1;
        }
        assert!(k.llt(Side::Lower).is_err(), "the system must be indefinite");
        assert_ridge_identity(&sigmoid, 0.1);
    }
}
