//! Feature scaling, fitted from the same moments as the PCA that follows it: the mean,
//! the population standard deviation (scikit-learn's StandardScaler) and the range
//! (MinMaxScaler) all come out of the one fit pass.
//!
//! Every method is an affine map `(x - offset) / scale` followed by PCA's own centering,
//! so scaling and PCA collapse into one `(x - mean_) / scale_` with `mean_` the raw mean.

use faer::{Mat, MatRef};

use crate::config::ScaleMethod;
use crate::stats::{ColumnStats, Moments};

#[derive(Debug, Clone)]
pub struct Scaler {
    pub method: ScaleMethod,
    /// Divisor per feature; `None` when the data is only centered. A zero spread becomes
    /// 1, as in scikit-learn, so a constant feature stays 0 instead of NaN.
    pub scale: Option<Vec<f64>>,
}

impl Scaler {
    pub fn fit(method: ScaleMethod, moments: &Moments) -> Scaler {
        let var = moments.variance(0);
        Scaler::from_parts(
            method,
            moments.n,
            &moments.mean,
            &var,
            &moments.min,
            &moments.max,
        )
    }

    /// The same scaler from per-column statistics (`stats::ColumnStats`), for solvers that
    /// never form the p × p co-moment.
    pub fn from_columns(method: ScaleMethod, columns: &[ColumnStats]) -> Scaler {
        let n = columns.first().map_or(0, |c| c.count);
        let mean: Vec<f64> = columns.iter().map(|c| c.mean).collect();
        let var: Vec<f64> = columns
            .iter()
            .map(|c| c.m2 / c.count.max(1) as f64)
            .collect();
        let min: Vec<f64> = columns.iter().map(|c| c.min).collect();
        let max: Vec<f64> = columns.iter().map(|c| c.max).collect();
        Scaler::from_parts(method, n, &mean, &var, &min, &max)
    }

    /// `var` is the population variance (ddof 0), as StandardScaler uses.
    pub fn from_parts(
        method: ScaleMethod,
        n: u64,
        mean: &[f64],
        var: &[f64],
        min: &[f64],
        max: &[f64],
    ) -> Scaler {
        // scikit-learn's `_handle_zeros_in_scale`: a spread below 10·eps counts as zero.
        let guard = |s: f64| {
            if s.is_finite() && s >= 10.0 * f64::EPSILON {
                s
            } else {
                1.0
            }
        };
        let n = n as f64;
        let eps = f64::EPSILON;
        let scale = match method {
            ScaleMethod::None | ScaleMethod::Center => None,
            ScaleMethod::Standard => Some(
                var.iter()
                    .zip(mean)
                    .map(|(&var, &mean)| {
                        // scikit-learn's `_is_constant_feature`: a variance at the rounding
                        // level of the mean is zero.
                        let bound = n * eps * var + (n * mean * eps).powi(2);
                        if var <= bound { 1.0 } else { guard(var.sqrt()) }
                    })
                    .collect(),
            ),
            ScaleMethod::Minmax => {
                Some(min.iter().zip(max).map(|(lo, hi)| guard(hi - lo)).collect())
            }
        };
        Scaler { method, scale }
    }

    /// The covariance of the scaled features, from the raw co-moment (n − 1).
    pub fn scaled_covariance(&self, moments: &Moments) -> faer::Mat<f64> {
        let mut c = moments.covariance();
        if let Some(s) = &self.scale {
            let p = s.len();
            for j in 0..p {
                for i in 0..p {
                    c[(i, j)] /= s[i] * s[j];
                }
            }
        }
        c
    }
}

/// `(x − shift) / scale` column by column into `out` (reallocated only when the shape
/// changes, so a stream of equal chunks allocates once); `None` only shifts. The one place
/// that applies a fitted scaler to a chunk.
pub fn shift_scale_into(
    x: MatRef<'_, f64>,
    shift: &[f64],
    scale: Option<&[f64]>,
    out: &mut Mat<f64>,
) {
    let (n, p) = (x.nrows(), x.ncols());
    if out.nrows() != n || out.ncols() != p {
        *out = Mat::zeros(n, p);
    }
    for j in 0..p {
        let m = shift[j];
        let dst = out.col_mut(j);
        match scale {
            Some(s) => {
                let s = s[j];
                for (d, v) in dst.iter_mut().zip(x.col(j).iter()) {
                    *d = (v - m) / s;
                }
            }
            None => {
                for (d, v) in dst.iter_mut().zip(x.col(j).iter()) {
                    *d = v - m;
                }
            }
        }
    }
}
