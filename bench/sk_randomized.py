#!/usr/bin/env python3
"""In-memory peer: scikit-learn PCA(svd_solver="randomized", random_state=0) on the whole file.

usage: sk_randomized.py FILE.parquet [K=16]

Reads the whole file with pyarrow.parquet.read_table, converts it to one
(n_samples, n_features) float64 numpy array, frees the Arrow table and fits
PCA(n_components=K, svd_solver="randomized", random_state=0) (centers a copy of X, then the
randomized range finder with scikit-learn's "auto" power iterations). Peak memory is
several times the data.

Prints one JSON line: explained_variance (first K), seconds (read+fit wall
time inside the process, imports excluded), read_seconds, fit_seconds,
n_samples, n_features, rows_per_second, blas.
"""

import sys
import time

from _common import blas_summary, emit, parse_args


def main():
    path, k = parse_args(sys.argv)

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

    pca = PCA(n_components=k, svd_solver="randomized", random_state=0)
    pca.fit(X)
    t2 = time.perf_counter()

    seconds = t2 - t0
    emit(
        {
            "contender": "sklearn PCA randomized",
            "k": k,
            "n_samples": n_samples,
            "n_features": n_features,
            "seconds": seconds,
            "read_seconds": t1 - t0,
            "fit_seconds": t2 - t1,
            "rows_per_second": n_samples / seconds if seconds > 0 else None,
            "explained_variance": [float(v) for v in pca.explained_variance_[:16]],
            "blas": blas_summary(),
        }
    )


if __name__ == "__main__":
    main()
