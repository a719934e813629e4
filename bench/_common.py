"""Shared helpers for the Python benchmark peers (not a contender itself)."""

import json
import os
import sys


def parse_args(argv):
    if len(argv) < 2 or len(argv) > 3 or argv[1] in ("-h", "--help"):
        prog = os.path.basename(argv[0])
        sys.stderr.write(f"usage: {prog} FILE.parquet [K=16]\n")
        sys.exit(2)
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
