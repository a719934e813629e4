//! Randomized block Krylov (`method: krylov`; Musco & Musco 2015, "Randomized Block Krylov
//! Methods for Stronger and Faster Approximate SVD", Algorithm 2): every pass's block and
//! its product G·B are kept, and the answer is Rayleigh–Ritz over the span of all of them
//! rather than over the last block alone. Subspace iteration's error falls as
//! (λ_l+1 / λ_k)^q; the Krylov space holds polynomials of degree q in G, among them the
//! Chebyshev ones whose error falls as the square root of that gap's power, so on slowly
//! decaying spectra it reaches a tolerance in fewer passes.
//!
//! The blocks are made orthonormal to every block before them (block Gram–Schmidt, twice,
//! then QR), so the kept basis stays orthonormal without the raw powers G^i Ω, whose
//! columns all turn towards the top eigenvector. A pass's rows enter only through its
//! product, as in subspace iteration: shards sum their products and the merge makes the
//! next block, so a fit in rounds is the single-machine fit.

use faer::Mat;

use crate::error::Result;
use crate::steps::state::SavedMat;

/// The kept blocks (each p × l, orthonormal together) and their products with G.
#[derive(Default)]
pub struct Kept {
    blocks: Vec<Mat<f64>>,
    products: Vec<Mat<f64>>,
}

impl Kept {
    pub fn push(&mut self, block: Mat<f64>, product: Mat<f64>) {
        self.blocks.push(block);
        self.products.push(product);
    }

    /// The columns of every kept block.
    pub fn width(&self) -> usize {
        self.blocks.iter().map(Mat::ncols).sum()
    }

    pub fn size_bytes(&self) -> usize {
        self.blocks
            .iter()
            .chain(&self.products)
            .map(|m| m.nrows() * m.ncols() * 8)
            .sum()
    }

    /// The basis of the span and its product, side by side (p × width each).
    pub fn basis_and_product(&self) -> (Mat<f64>, Mat<f64>) {
        (hcat(&self.blocks), hcat(&self.products))
    }

    /// The next block: the last product made orthonormal to every kept block, at most
    /// `width` columns; `None` when nothing is left (the span holds the whole space).
    pub fn next_block(&self, width: usize) -> Option<Mat<f64>> {
        let last = self.products.last()?;
        let width = width.min(last.ncols());
        if width == 0 {
            return None;
        }
        let mut z = Mat::from_fn(last.nrows(), width, |i, j| last[(i, j)]);
        // twice is enough (Giraud et al. 2005): after the first QR, columns that were
        // (numerically) in the span are arbitrary unit vectors, which the second
        // projection makes orthogonal to it
        for _ in 0..2 {
            for q in &self.blocks {
                let coefficients = q.transpose() * &z;
                z -= q * coefficients;
            }
            z = z.qr().compute_thin_Q();
        }
        Some(z)
    }

    pub fn save(&self) -> (Vec<SavedMat>, Vec<SavedMat>) {
        let save = |ms: &[Mat<f64>]| ms.iter().map(|m| SavedMat::of(m.as_ref())).collect();
        (save(&self.blocks), save(&self.products))
    }

    /// The saved blocks and products, checked to be p rows and of matching shapes.
    pub fn load(blocks: &[SavedMat], products: &[SavedMat], p: usize) -> Result<Option<Kept>> {
        if blocks.len() != products.len() {
            return Ok(None);
        }
        let mut kept = Kept::default();
        for (b, y) in blocks.iter().zip(products) {
            let (b, y) = (b.to_mat()?, y.to_mat()?);
            if b.nrows() != p || y.nrows() != p || b.ncols() != y.ncols() {
                return Ok(None);
            }
            kept.push(b, y);
        }
        Ok(Some(kept))
    }
}

fn hcat(ms: &[Mat<f64>]) -> Mat<f64> {
    let rows = ms.first().map_or(0, Mat::nrows);
    let mut out = Mat::zeros(rows, ms.iter().map(Mat::ncols).sum());
    let mut at = 0;
    for m in ms {
        out.as_mut()
            .submatrix_mut(0, at, rows, m.ncols())
            .copy_from(m.as_ref());
        at += m.ncols();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::pca::randomized::{ritz, start_basis};
    use faer::{MatRef, Side};

    /// Whether the columns of `q` are orthonormal to within `tol`.
    fn orthonormal(q: MatRef<'_, f64>, tol: f64) -> bool {
        let g = q.transpose() * q;
        (0..g.nrows()).all(|i| {
            (0..g.ncols()).all(|j| (g[(i, j)] - if i == j { 1.0 } else { 0.0 }).abs() <= tol)
        })
    }

    /// A p × p symmetric matrix with eigenvalues 0.9^i in a random basis.
    fn slowly_decaying(p: usize) -> (Mat<f64>, Vec<f64>) {
        let v = start_basis(p, p, 5);
        let values: Vec<f64> = (0..p).map(|i| 0.9f64.powi(i as i32)).collect();
        let g = Mat::from_fn(p, p, |i, j| {
            (0..p).map(|r| v[(i, r)] * values[r] * v[(j, r)]).sum()
        });
        (g, values)
    }

    #[test]
    fn blocks_stay_orthonormal_and_the_span_is_exact_once_whole() {
        let p = 24;
        let (g, values) = slowly_decaying(p);
        let mut kept = Kept::default();
        let mut block = start_basis(p, 5, 1);
        loop {
            let product = &g * &block;
            kept.push(block, product);
            let (q, _) = kept.basis_and_product();
            assert!(orthonormal(q.as_ref(), 1e-12), "{} columns", q.ncols());
            match kept.next_block(p - kept.width()) {
                Some(b) => block = b,
                None => break,
            }
        }
        assert_eq!(kept.width(), p);
        let (q, y) = kept.basis_and_product();
        let (got, _) = ritz(q.as_ref(), y.as_ref()).unwrap();
        for (g, e) in got.iter().zip(&values) {
            assert!((g - e).abs() <= 1e-12, "{g} against {e}");
        }
        let exact = g.self_adjoint_eigenvalues(Side::Lower).unwrap();
        assert!((exact[p - 1] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_krylov_span_is_closer_than_the_last_block_alone() {
        let p = 60;
        let (g, values) = slowly_decaying(p);
        let (k, l, passes) = (4, 6, 4);
        let mut kept = Kept::default();
        let mut block = start_basis(p, l, 2);
        let mut power = block.clone();
        for pass in 0..passes {
            kept.push(block.clone(), &g * &block);
            if pass + 1 < passes {
                block = kept.next_block(l).unwrap();
                power = (&g * &power).qr().compute_thin_Q();
            }
        }
        let error = |(q, y): (Mat<f64>, Mat<f64>)| {
            let (got, _) = ritz(q.as_ref(), y.as_ref()).unwrap();
            (0..k)
                .map(|i| (values[i] - got[i]) / values[i])
                .fold(0.0, f64::max)
        };
        let krylov = error(kept.basis_and_product());
        let subspace = error((power.clone(), &g * &power));
        assert!(krylov < subspace / 10.0, "{krylov} against {subspace}");
    }
}
