//! Sharing a batch's work between the training team's threads: pieces cut by columns at
//! fixed places, so no piece reduces over another's values and the result is fixed by the
//! thread count.

use faer::{MatMut, MatRef};

use super::activation::Real;

/// Contiguous column ranges `(start, len)` of `n` columns for up to `parts` threads, cut
/// at multiples of 16 (an AVX-512 register of f32) so no piece is narrower than that.
pub fn column_split(n: usize, parts: usize) -> Vec<(usize, usize)> {
    let blocks = n.div_ceil(16).max(1);
    let parts = parts.clamp(1, blocks);
    (0..parts)
        .map(|i| {
            let start = (i * blocks / parts * 16).min(n);
            let end = ((i + 1) * blocks / parts * 16).min(n);
            (start, end - start)
        })
        .collect()
}

/// Cuts `whole` into consecutive pieces of the split's lengths with `cut(rest, len)`.
fn pieces<X>(whole: X, split: &[(usize, usize)], cut: impl Fn(X, usize) -> (X, X)) -> Vec<X> {
    let mut rest = whole;
    let mut out = Vec::with_capacity(split.len());
    for &(_, len) in split {
        let (piece, tail) = cut(rest, len);
        out.push(piece);
        rest = tail;
    }
    out
}

pub fn col_pieces<'a, T: Real>(m: MatMut<'a, T>, split: &[(usize, usize)]) -> Vec<MatMut<'a, T>> {
    pieces(m, split, |m, len| m.split_at_col_mut(len))
}

pub fn slice_pieces<'a, T>(s: &'a mut [T], split: &[(usize, usize)]) -> Vec<&'a mut [T]> {
    pieces(s, split, |s, len| s.split_at_mut(len))
}

/// Runs `f` on every item, one item per thread, on the training team's spinning threads
/// inside `spindle::with_lock` (see `train::Team`), else on rayon's; results in item
/// order.
pub fn each_piece<I: Send, R: Send>(items: Vec<I>, f: impl Fn(I) -> R + Sync + Send) -> Vec<R> {
    use rayon::prelude::*;
    if items.len() == 1 {
        items.into_iter().map(f).collect()
    } else {
        let n = items.len();
        let mut out: Vec<Option<R>> = (0..n).map(|_| None).collect();
        spindle::for_each(
            n,
            items.into_par_iter().zip(out.par_iter_mut()),
            |(item, slot)| *slot = Some(f(item)),
        );
        out.into_iter()
            .map(|r| r.expect("every piece ran"))
            .collect()
    }
}

pub fn col<T: Real>(m: MatRef<'_, T>, j: usize) -> &[T] {
    m.col(j)
        .try_as_col_major()
        .expect("owned columns are contiguous")
        .as_slice()
}
