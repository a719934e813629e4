//! The random projection step: rows are multiplied by a fixed random k × p matrix, as in
//! scikit-learn's `GaussianRandomProjection` and `SparseRandomProjection`. Nothing is learnt
//! from the data except its width p (and, for `n_components: auto`, its row count, which
//! sets k through the Johnson–Lindenstrauss bound); the matrix comes from the seed alone.
//! `matrix` holds the mathematics: the bound, the `auto` density and the two matrices.

pub mod matrix;
