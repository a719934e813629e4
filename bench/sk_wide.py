#!/usr/bin/env python3
"""Wide-case peer: scikit-learn PCA(svd_solver="randomized", random_state=0) on the wide file.

usage: sk_wide.py FILE.parquet K DTYPE [ROWS]

DTYPE is float64 or float32: the numpy array the file is read into. ROWS (optional) reads
only the first ROWS rows (a slice, for a timing that fits in memory). The file is read row
group by row group straight into one preallocated (n_samples, n_features) array in column
order, so reading needs only the array plus one row group; PCA then centers a copy of X
(PCA.copy=True) and runs the randomized range finder with scikit-learn's "auto" power
iterations.

run.sh runs it under `prlimit --as=` (an address-space cap), so a run that would need more
memory than the cap ends in a MemoryError instead of endangering the machine. The error is
caught and reported: the stage reached and the bytes allocated by then.

Prints one JSON line: stage ("read", "fit" or "done"), error (or null), explained_variance
(first K, when done), seconds, read_seconds, fit_seconds, n_samples, n_features, dtype,
x_bytes, blas.
"""

import sys
import time
import traceback

from _common import blas_summary, emit


def main():
    if len(sys.argv) not in (4, 5) or sys.argv[3] not in ("float64", "float32"):
        sys.stderr.write("usage: sk_wide.py FILE.parquet K float64|float32 [ROWS]\n")
        sys.exit(2)
    path, k, dtype = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    limit = int(sys.argv[4]) if len(sys.argv) == 5 else None

    import numpy as np
    import pyarrow.parquet as pq
    from sklearn.decomposition import PCA

    record = {
        "contender": "sklearn PCA randomized (wide)",
        "k": k,
        "dtype": dtype,
        "stage": "read",
        "error": None,
    }
    t0 = time.perf_counter()
    t1 = None
    try:
        pf = pq.ParquetFile(path)
        n_features = pf.metadata.num_columns
        n_samples = pf.metadata.num_rows if limit is None else min(limit, pf.metadata.num_rows)
        record.update(n_samples=n_samples, n_features=n_features)
        record["x_bytes"] = n_samples * n_features * np.dtype(dtype).itemsize
        X = np.empty((n_samples, n_features), dtype=dtype, order="F")
        row = 0
        for g in range(pf.metadata.num_row_groups):
            if row >= n_samples:
                break
            table = pf.read_row_group(g)
            take = min(table.num_rows, n_samples - row)
            for j, col in enumerate(table.columns):
                X[row : row + take, j] = col.to_numpy()[:take]
            row += take
            del table
        t1 = time.perf_counter()
        sys.stderr.write(f"read {n_samples} x {n_features} {dtype} in {t1 - t0:.2f} s\n")
        record["stage"] = "fit"
        pca = PCA(n_components=k, svd_solver="randomized", random_state=0)
        pca.fit(X)
        t2 = time.perf_counter()
        record.update(
            stage="done",
            explained_variance=[float(v) for v in pca.explained_variance_[:16]],
            fit_seconds=t2 - t1,
        )
    except MemoryError as e:
        frames = traceback.extract_tb(e.__traceback__)
        where = frames[-1] if frames else None
        record["error"] = "MemoryError: " + (str(e) or "(no message)")
        if where is not None:
            record["error_at"] = f"{where.filename.split('site-packages/')[-1]}:{where.lineno} {where.line}"
        # the caller inside scikit-learn's PCA, which says what was being allocated
        pca_frames = [f for f in frames if "sklearn/decomposition" in f.filename]
        if pca_frames:
            f = pca_frames[-1]
            record["error_in"] = f"{f.filename.split('site-packages/')[-1]}:{f.lineno} {f.line}"
        sys.stderr.write(
            f"MemoryError during {record['stage']}: {record.get('error_in')} -> {record.get('error_at')}\n"
        )
    t_end = time.perf_counter()
    record["seconds"] = t_end - t0
    record["read_seconds"] = (t1 - t0) if t1 is not None else None
    record["blas"] = blas_summary()
    emit(record)
    # A MemoryError is the expected outcome of the capped float64 run, not a failure of the
    # script: exit 0 and let the report say what happened.


if __name__ == "__main__":
    main()
