#!/usr/bin/env python3
"""In-memory peer: scikit-learn PCA on the whole file, with either solver.

usage: sk_pca.py [--solver covariance_eigh|randomized] FILE.parquet [K=16]

Reads the whole file with pyarrow.parquet.read_table, converts it to one
(n_samples, n_features) float64 numpy array, frees the Arrow table and fits
PCA(n_components=K) with the solver:

- covariance_eigh (default): svd_solver="covariance_eigh" (X^T X then eigh; it does not
  copy X). Peak memory is therefore ~2x the data (Arrow table + numpy array, briefly both
  alive during the conversion).
- randomized: svd_solver="randomized", random_state=0 (centers a copy of X, then the
  randomized range finder with scikit-learn's "auto" power iterations). Peak memory is
  several times the data.

Prints one JSON line: contender ("sklearn PCA <solver>"), explained_variance (first K),
seconds (read+fit wall time inside the process, imports excluded), read_seconds,
fit_seconds, n_samples, n_features, rows_per_second, blas.
"""

import sys
import time

from _common import emit_fit, parse_args, pop_option

# solver name -> PCA keyword arguments
SOLVERS = {
    "covariance_eigh": {"svd_solver": "covariance_eigh"},
    "randomized": {"svd_solver": "randomized", "random_state": 0},
}


def main():
    argv = list(sys.argv)
    usage = "[--solver " + "|".join(SOLVERS) + "] FILE.parquet [K=16]"
    solver = pop_option(argv, "--solver", "covariance_eigh", SOLVERS, usage)
    path, k = parse_args(argv, usage)

    import numpy as np
    import pyarrow.parquet as pq
    from sklearn.decomposition import PCA

    t0 = time.perf_counter()
    table = pq.read_table(path)
    n_samples, n_features = table.num_rows, table.num_columns
    # Column-major fill: each column is written contiguously.
    X = np.empty((n_samples, n_features), dtype=np.float64, order="F")
    for j, col in enumerate(table.columns):
        X[:, j] = col.to_numpy()
    del table, col
    t1 = time.perf_counter()

    pca = PCA(n_components=k, **SOLVERS[solver])
    pca.fit(X)
    t2 = time.perf_counter()

    emit_fit(
        f"sklearn PCA {solver}", k, n_samples, n_features,
        seconds=t2 - t0, read_seconds=t1 - t0, fit_seconds=t2 - t1,
        explained_variance=pca.explained_variance_,
    )


if __name__ == "__main__":
    main()
