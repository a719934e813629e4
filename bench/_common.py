"""Shared helpers for the Python benchmark peers (not a contender itself)."""

import json
import os
import sys


def usage_exit(argv, usage):
    prog = os.path.basename(argv[0])
    sys.stderr.write(f"usage: {prog} {usage}\n")
    sys.exit(2)


def pop_option(argv, name, default, choices, usage):
    """Remove `NAME VALUE` or `NAME=VALUE` from argv (in place); the value, else default.

    Exits with the usage line (2) if the value is missing or not one of choices."""
    value = default
    for i, a in enumerate(argv[1:], 1):
        if a == name:
            if i + 1 >= len(argv):
                usage_exit(argv, usage)
            value = argv[i + 1]
            del argv[i : i + 2]
            break
        if a.startswith(name + "="):
            value = a[len(name) + 1 :]
            del argv[i]
            break
    if value not in choices:
        sys.stderr.write(f"{name} must be one of {', '.join(choices)}, got '{value}'\n")
        usage_exit(argv, usage)
    return value


def parse_args(argv, usage="FILE.parquet [K=16]"):
    if len(argv) < 2 or len(argv) > 3 or argv[1] in ("-h", "--help"):
        usage_exit(argv, usage)
    path = argv[1]
    k = int(argv[2]) if len(argv) == 3 else 16
    if k < 1:
        sys.stderr.write("k must be >= 1\n")
        sys.exit(2)
    return path, k


def blas_summary():
    """What threadpoolctl sees as loaded (BLAS + OpenMP), compactly."""
    from threadpoolctl import threadpool_info

    out = []
    for info in threadpool_info():
        out.append(
            {
                "user_api": info.get("user_api"),
                "internal_api": info.get("internal_api"),
                "version": info.get("version"),
                "architecture": info.get("architecture"),
                "threading_layer": info.get("threading_layer"),
                "num_threads": info.get("num_threads"),
            }
        )
    return out


def emit(record):
    # One JSON line on stdout; run.sh takes the last line of stdout.
    print(json.dumps(record, separators=(",", ":")), flush=True)


def emit_fit(contender, k, n_samples, n_features, seconds, read_seconds, fit_seconds, explained_variance):
    """The narrow peers' JSON line (sk_pca.py, sk_incremental.py), read by report.py."""
    emit(
        {
            "contender": contender,
            "k": k,
            "n_samples": n_samples,
            "n_features": n_features,
            "seconds": seconds,
            "read_seconds": read_seconds,
            "fit_seconds": fit_seconds,
            "rows_per_second": n_samples / seconds if seconds > 0 else None,
            "explained_variance": [float(v) for v in explained_variance[:16]],
            "blas": blas_summary(),
        }
    )
