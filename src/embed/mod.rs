//! Two-dimensional pictures of a sample of rows: t-SNE, classical MDS and Isomap, computed
//! as scikit-learn computes them, and trustworthiness to say how far a picture can be
//! believed. Pure mathematics: the samples come in as an n × d `MatRef` and an n × 2
//! `Mat` goes out; nothing here reads a file or sees a chunk.
//!
//! t-SNE and Isomap are O(n²) somewhere (the neighbour search; the geodesic matrix), so
//! this is for a sample of up to some 20,000 rows, not for the streamed data itself.

mod faer_threads;
mod isomap;
mod knn;
mod lanczos;
mod mds;
mod quadtree;
mod trust;
mod tsne;

#[cfg(test)]
mod tests;

use faer::{Mat, MatRef};

pub use trust::trustworthiness;

/// Which picture to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Barnes–Hut t-SNE: local neighbourhoods, clusters pulled apart.
    Tsne,
    /// Classical MDS of Euclidean distances (= the first two PCA scores): global shape.
    Mds,
    /// Classical MDS of geodesic distances along the k-nearest-neighbour graph.
    Isomap,
}

/// What `embed` needs; each method reads only its own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedParams {
    pub method: Method,
    /// t-SNE: the effective number of neighbours each point's Gaussian covers.
    pub perplexity: f64,
    /// Isomap: neighbours per point in the graph.
    pub n_neighbors: usize,
    /// Drives the only random choices: t-SNE's start when PCA gives none (all rows
    /// equal) and the eigen-solver's start vector for Isomap, which changes results only
    /// at rounding level.
    pub seed: u64,
    /// t-SNE: iterations in all, the 250 exaggerated ones included.
    pub max_iter: usize,
}

impl Default for EmbedParams {
    /// scikit-learn's defaults: `TSNE`'s perplexity and max_iter, `Isomap`'s n_neighbors.
    fn default() -> Self {
        EmbedParams {
            method: Method::Tsne,
            perplexity: 30.0,
            n_neighbors: 5,
            seed: 0,
            max_iter: 1000,
        }
    }
}

/// The n × 2 picture of the rows of `x` by `params.method`; an error, as one sentence
/// for the user, when the data or the parameters cannot give one.
pub fn embed(x: MatRef<'_, f64>, params: &EmbedParams) -> Result<Mat<f64>, String> {
    check_data(x)?;
    let n = x.nrows();
    match params.method {
        Method::Tsne => {
            check_perplexity(params.perplexity, n)?;
            check_max_iter(params.max_iter)?;
            tsne::tsne(x, params.perplexity, params.max_iter, params.seed)
        }
        Method::Mds => mds::pca_scores(x),
        Method::Isomap => {
            check_n_neighbors(params.n_neighbors, n)?;
            isomap::isomap(x, params.n_neighbors, params.seed)
        }
    }
}

/// At least three rows (fewer have no shape to show), at least one column, every value
/// finite; the first bad value is named by its 1-based row and column.
fn check_data(x: MatRef<'_, f64>) -> Result<(), String> {
    if x.nrows() < 3 {
        return Err(format!(
            "an embedding needs at least 3 rows, but the data has {}.",
            x.nrows()
        ));
    }
    if x.ncols() == 0 {
        return Err("an embedding needs at least one column, but the data has none.".into());
    }
    for i in 0..x.nrows() {
        for j in 0..x.ncols() {
            let v = x[(i, j)];
            if !v.is_finite() {
                return Err(format!(
                    "the value at row {}, column {} is {v}, and an embedding needs finite \
                     numbers.",
                    i + 1,
                    j + 1
                ));
            }
        }
    }
    Ok(())
}

/// 0 < perplexity < n − 1. scikit-learn only refuses perplexity ≥ n, but with n − 1
/// neighbours the largest reachable perplexity is n − 1 itself (a uniform row), so
/// anything from there up cannot be met.
fn check_perplexity(perplexity: f64, n: usize) -> Result<(), String> {
    let limit = (n - 1) as f64;
    if perplexity > 0.0 && perplexity < limit {
        return Ok(());
    }
    Err(format!(
        "perplexity must be greater than 0 and less than {limit} (the number of rows minus \
         one), but it is {perplexity}."
    ))
}

/// scikit-learn's lower bound: the early-exaggeration phase alone is 250 iterations.
fn check_max_iter(max_iter: usize) -> Result<(), String> {
    if max_iter >= tsne::EXPLORATION_ITER {
        return Ok(());
    }
    Err(format!(
        "max_iter must be at least {} (t-SNE's early exaggeration phase), but it is \
         {max_iter}.",
        tsne::EXPLORATION_ITER
    ))
}

/// 1 ≤ n_neighbors < n: each row needs that many other rows.
fn check_n_neighbors(n_neighbors: usize, n: usize) -> Result<(), String> {
    if n_neighbors >= 1 && n_neighbors < n {
        return Ok(());
    }
    Err(format!(
        "n_neighbors must be at least 1 and less than the number of rows ({n}), but it is \
         {n_neighbors}."
    ))
}
