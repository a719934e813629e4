//! The reconstruction loss: its mean over every value of a batch (PyTorch's
//! `reduction="mean"`) and its gradient with respect to the output layer's value before
//! its activation (mean squared error through the activation; cross-entropy through a
//! sigmoid simplifies to (y − t)), computed by columns so threads can share it.

use faer::reborrow::ReborrowMut;
use faer::{MatMut, MatRef};

use super::super::keys::Activation;
use super::super::params::Loss;
use super::activation::{Real, mse_output_gradient, vectorized};
use super::par::col;

/// log(p) is clamped at −100 in the cross-entropy, as PyTorch's `BCELoss` does, so a
/// saturated output gives a large finite loss rather than infinity.
const LOG_FLOOR: f64 = -100.0;

/// Mean loss over every value of the batch.
pub fn mean_loss<T: Real>(loss: Loss, output: MatRef<'_, T>, target: MatRef<'_, T>) -> f64 {
    let count = (output.nrows() * output.ncols()) as f64;
    (0..output.ncols())
        .map(|j| column_loss(loss, col(output, j), col(target, j)))
        .sum::<f64>()
        / count
}

/// The output layer's dz for output columns `start..`, scaled for the mean over
/// `values` values; returns those columns' summed loss.
pub fn output_gradient<T: Real>(
    loss: Loss,
    act: Activation,
    output: MatRef<'_, T>,
    target: MatRef<'_, T>,
    mut dz: MatMut<'_, T>,
    start: usize,
) -> f64 {
    let scale = 1.0 / (output.nrows() * output.ncols()) as f64;
    let (two, one) = (T::of(2.0 * scale), T::of(scale));
    vectorized(
        #[inline(always)]
        || {
            let mut sum = 0.0;
            for j in 0..dz.ncols() {
                let (y, t) = (col(output, start + j), col(target, start + j));
                let d = dz
                    .rb_mut()
                    .col_mut(j)
                    .try_as_col_major_mut()
                    .expect("owned columns are contiguous")
                    .as_slice_mut();
                match loss {
                    Loss::Mse => mse_output_gradient(act, two, d, y, t),
                    Loss::Bce => {
                        for ((d, &y), &t) in d.iter_mut().zip(y).zip(t) {
                            *d = one * (y - t);
                        }
                    }
                }
                sum += column_loss(loss, y, t);
            }
            sum
        },
    )
}

/// Summed loss of one column of outputs against its targets, in f64.
#[inline(always)]
pub fn column_loss<T: Real>(loss: Loss, y: &[T], t: &[T]) -> f64 {
    match loss {
        Loss::Mse => {
            // Sixteen interleaved partial sums, as `lane_sum`, so the loop vectorises.
            let mut acc = [0.0f64; 16];
            let (yc, tc) = (y.chunks_exact(16), t.chunks_exact(16));
            let (yr, tr) = (yc.remainder(), tc.remainder());
            for (y, t) in yc.zip(tc) {
                for ((a, &y), &t) in acc.iter_mut().zip(y).zip(t) {
                    let d = (y - t).f64();
                    *a += d * d;
                }
            }
            let rest = yr.iter().zip(tr).fold(0.0, |s, (&y, &t)| {
                let d = (y - t).f64();
                s + d * d
            });
            acc.iter().sum::<f64>() + rest
        }
        Loss::Bce => y
            .iter()
            .zip(t)
            .map(|(&y, &t)| {
                let (y, t) = (y.f64(), t.f64());
                -(t * y.ln().max(LOG_FLOOR) + (1.0 - t) * (1.0 - y).ln().max(LOG_FLOOR))
            })
            .sum::<f64>(),
    }
}
