//! Inference with a trained network (codes, reconstructions, the validation loss's
//! forward passes): f64 rows in, f32 network, f64 rows out, in blocks of `EVAL_ROWS` so
//! intermediate matrices stay small whatever the chunk size.

use faer::{Mat, MatRef, Par};

use super::net::Network;

/// Rows per forward pass when evaluating (validation, codes, reconstruction error).
pub const EVAL_ROWS: usize = 1024;

/// faer's parallelism for the batch products: both cores when a product is large enough
/// to pay for the fork, else one. Fixed by the shapes, so results are reproducible for a
/// fixed thread count.
pub fn parallelism(rows: usize, widest: usize) -> Par {
    if rows * widest >= 32_768 {
        Par::rayon(0)
    } else {
        Par::Seq
    }
}

/// Encodes rows (f64 in, f64 out) with the f32 network.
pub fn encode_rows(net: &Network<f32>, u: MatRef<'_, f64>) -> Mat<f64> {
    let x = Mat::from_fn(u.nrows(), u.ncols(), |i, j| u[(i, j)] as f32);
    let z = net.encode(x.as_ref(), parallelism(u.nrows(), net.widest()));
    Mat::from_fn(z.nrows(), z.ncols(), |i, j| z[(i, j)] as f64)
}

/// Decodes codes (f64 in, f64 out).
pub fn decode_rows(net: &Network<f32>, z: MatRef<'_, f64>) -> Mat<f64> {
    let x = Mat::from_fn(z.nrows(), z.ncols(), |i, j| z[(i, j)] as f32);
    let y = net.decode(x.as_ref(), parallelism(z.nrows(), net.widest()));
    Mat::from_fn(y.nrows(), y.ncols(), |i, j| y[(i, j)] as f64)
}

/// `f` over blocks of `EVAL_ROWS` rows of `x`, stacked into an n × `width` result.
pub fn by_blocks(
    x: MatRef<'_, f64>,
    width: usize,
    f: impl Fn(MatRef<'_, f64>) -> Mat<f64>,
) -> Mat<f64> {
    let n = x.nrows();
    let mut out = Mat::zeros(n, width);
    for start in (0..n).step_by(EVAL_ROWS) {
        let rows = EVAL_ROWS.min(n - start);
        out.as_mut()
            .subrows_mut(start, rows)
            .copy_from(f(x.subrows(start, rows)));
    }
    out
}
