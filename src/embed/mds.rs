//! Classical (Torgerson) multidimensional scaling: the coordinates whose inner products
//! best match B = −½·H·D²·H, H the centring matrix (Torgerson 1952; Cox & Cox,
//! Multidimensional Scaling, §2.2), i.e. the top eigenvectors of B scaled by the square
//! roots of their eigenvalues.
//!
//! Two ways in. For Euclidean distances B = XcXcᵀ (Xc the centred samples), whose top
//! eigenvectors times √λ are exactly the PCA scores XcV: `pca_scores` takes that O(n·d²)
//! road and never forms an n × n matrix. For any other distances (Isomap's geodesics)
//! `classical` works on the n × n squared distances, with a Lanczos solver for the two
//! eigenvectors. Both fix each column's sign as scikit-learn's `svd_flip` does: the entry
//! of largest magnitude is positive.

use faer::{Accum, Mat, MatRef, Par, Side};
use rayon::prelude::*;

use super::{faer_threads, lanczos};

/// The output has two columns.
const COMPONENTS: usize = 2;

/// Classical MDS of the samples' Euclidean distances, computed as their first two PCA
/// scores (a second column of zeros when there is one feature).
pub(super) fn pca_scores(x: MatRef<'_, f64>) -> Result<Mat<f64>, String> {
    // faer on a thread of its own (see faer_threads)
    faer_threads::on_own_thread(|| principal_scores(x))
}

fn principal_scores(x: MatRef<'_, f64>) -> Result<Mat<f64>, String> {
    let (n, d) = (x.nrows(), x.ncols());
    let mean: Vec<f64> = (0..d)
        .map(|j| (0..n).map(|i| x[(i, j)]).sum::<f64>() / n as f64)
        .collect();
    let centred = Mat::from_fn(n, d, |i, j| x[(i, j)] - mean[j]);
    let mut scatter = Mat::<f64>::zeros(d, d);
    faer::linalg::matmul::matmul(
        scatter.as_mut(),
        Accum::Replace,
        centred.transpose(),
        centred.as_ref(),
        1.0,
        Par::Seq,
    );
    let evd = scatter
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| format!("the PCA eigen-decomposition did not converge ({e:?})"))?;
    let keep = COMPONENTS.min(d);
    // faer's eigenvalues increase: the last columns are the principal axes
    let axes = Mat::from_fn(d, keep, |r, c| evd.U()[(r, d - 1 - c)]);
    let mut scores = Mat::<f64>::zeros(n, COMPONENTS);
    faer::linalg::matmul::matmul(
        scores.as_mut().subcols_mut(0, keep),
        Accum::Replace,
        centred.as_ref(),
        axes.as_ref(),
        1.0,
        Par::Seq,
    );
    flip_signs(&mut scores);
    Ok(scores)
}

/// Classical MDS from squared distances (row-major n × n, symmetric, zero diagonal):
/// the top two eigenpairs (λ, u) of −½·H·D²·H give the columns u·√max(λ, 0).
pub(super) fn classical(squared: &[f64], n: usize, seed: u64) -> Result<Mat<f64>, String> {
    assert_eq!(squared.len(), n * n, "an n × n matrix");
    let keep = COMPONENTS.min(n);
    let pairs = lanczos::largest(n, keep, |v, out| double_centred(squared, v, out), seed)?;
    let mut y = Mat::<f64>::zeros(n, COMPONENTS);
    for (c, (value, vector)) in pairs.iter().enumerate() {
        let root = value.max(0.0).sqrt();
        for (i, u) in vector.iter().enumerate() {
            y[(i, c)] = u * root;
        }
    }
    flip_signs(&mut y);
    Ok(y)
}

/// out = −½·H·S·H·v without forming H·S·H (H v is v minus its mean).
fn double_centred(squared: &[f64], v: &[f64], out: &mut [f64]) {
    let n = v.len();
    let centre = |x: &mut [f64]| {
        let mean = x.iter().sum::<f64>() / n as f64;
        x.iter_mut().for_each(|e| *e -= mean);
    };
    let mut hv = v.to_vec();
    centre(&mut hv);
    out.par_iter_mut()
        .with_min_len(64)
        .enumerate()
        .for_each(|(i, o)| {
            let row = &squared[i * n..(i + 1) * n];
            *o = row.iter().zip(&hv).map(|(s, h)| s * h).sum();
        });
    centre(out);
    out.iter_mut().for_each(|e| *e *= -0.5);
}

/// Makes the largest-magnitude entry of every column positive (the first such entry on
/// a tie), scikit-learn's `svd_flip` convention, so results do not depend on the
/// eigen-solver's arbitrary signs.
pub(super) fn flip_signs(y: &mut Mat<f64>) {
    for c in 0..y.ncols() {
        let mut at = 0;
        for i in 0..y.nrows() {
            if y[(i, c)].abs() > y[(at, c)].abs() {
                at = i;
            }
        }
        if y.nrows() > 0 && y[(at, c)] < 0.0 {
            for i in 0..y.nrows() {
                y[(i, c)] = -y[(i, c)];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn the_n_by_n_form_equals_the_pca_scores_on_euclidean_distances() {
        let (n, d) = (80, 6);
        let mut v = vec![0.0; n * d];
        Rng::new(11).fill_normal(&mut v);
        // unequal spreads, so the two axes are well separated
        let x = Mat::from_fn(n, d, |i, j| v[i * d + j] * (d - j) as f64 + 3.0);
        let pca = pca_scores(x.as_ref()).unwrap();
        let squared: Vec<f64> = (0..n * n)
            .map(|k| {
                let (i, j) = (k / n, k % n);
                (0..d).map(|c| (x[(i, c)] - x[(j, c)]).powi(2)).sum()
            })
            .collect();
        let mds = classical(&squared, n, 5).unwrap();
        for c in 0..2 {
            let scale = (0..n).fold(0.0f64, |a, i| a.max(pca[(i, c)].abs()));
            for i in 0..n {
                assert!((pca[(i, c)] - mds[(i, c)]).abs() <= 1e-9 * scale);
            }
        }
    }

    #[test]
    fn one_feature_gives_a_zero_second_column() {
        let x = Mat::from_fn(5, 1, |i, _| [1.0, -4.0, 2.0, 0.0, 1.0][i]);
        let y = pca_scores(x.as_ref()).unwrap();
        // centred values, sign so that the largest |value| (−4 − 0) is positive
        let want = [-1.0, 4.0, -2.0, 0.0, -1.0];
        for i in 0..5 {
            assert!((y[(i, 0)] - want[i]).abs() < 1e-12 && y[(i, 1)] == 0.0);
        }
    }

    #[test]
    fn signs_follow_the_largest_entry() {
        let mut y = Mat::from_fn(3, 2, |i, c| [[1.0, -3.0, 2.0], [-1.0, 0.5, 0.2]][c][i]);
        flip_signs(&mut y);
        assert_eq!((y[(1, 0)], y[(0, 1)]), (3.0, 1.0));
    }
}
