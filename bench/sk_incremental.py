#!/usr/bin/env python3
"""Streaming peer: scikit-learn IncrementalPCA fed batch by batch from Parquet.

usage: sk_incremental.py FILE.parquet [K=16]

Reads the file with pyarrow ParquetFile.iter_batches(batch_size=65536), converts
each batch to a float64 numpy block and calls IncrementalPCA.partial_fit on
exact 65,536-row chunks (iter_batches may return shorter batches at row-group
boundaries; we re-chunk so every partial_fit sees batch_size rows, as
IncrementalPCA.fit would, except possibly the last one). Memory stays
O(batch_size x n_features).

Prints one JSON line: explained_variance (first K), seconds (read+fit wall
time inside the process, imports excluded), read_seconds, fit_seconds,
n_samples, n_features, rows_per_second, blas.
"""

import sys
import time

from _common import emit_fit, parse_args

BATCH = 65536


def main():
    path, k = parse_args(sys.argv)

    import numpy as np
    import pyarrow.parquet as pq
    from sklearn.decomposition import IncrementalPCA

    t0 = time.perf_counter()
    read_s = 0.0
    fit_s = 0.0

    pf = pq.ParquetFile(path)
    n_features = pf.metadata.num_columns
    ipca = IncrementalPCA(n_components=k, batch_size=BATCH)
    buf = np.empty((BATCH, n_features), dtype=np.float64)
    fill = 0
    n_samples = 0

    t = time.perf_counter()
    for batch in pf.iter_batches(batch_size=BATCH):
        if batch.num_columns != n_features:
            raise SystemExit(f"unexpected column count {batch.num_columns}")
        m = batch.num_rows
        off = 0
        while off < m:
            take = min(BATCH - fill, m - off)
            for j, col in enumerate(batch.columns):
                buf[fill : fill + take, j] = col.slice(off, take).to_numpy(
                    zero_copy_only=False
                )
            fill += take
            off += take
            if fill == BATCH:
                t1 = time.perf_counter()
                read_s += t1 - t
                ipca.partial_fit(buf)
                t = time.perf_counter()
                fit_s += t - t1
                n_samples += fill
                fill = 0
    read_s += time.perf_counter() - t
    if fill:
        t1 = time.perf_counter()
        ipca.partial_fit(buf[:fill])
        fit_s += time.perf_counter() - t1
        n_samples += fill

    emit_fit(
        "sklearn IncrementalPCA", k, n_samples, n_features,
        seconds=time.perf_counter() - t0, read_seconds=read_s, fit_seconds=fit_s,
        explained_variance=ipca.explained_variance_,
    )


if __name__ == "__main__":
    main()
