#!/usr/bin/env python3
"""The product floor: numpy's XᵀX (one BLAS syrk-sized GEMM) of an in-memory float64 array of
the given shape, timed alone (allocation and filling excluded from the number it prints, not
from the process's wall time and memory, which bench/scaling.sh measures around it).

usage: product_floor.py ROWS COLS
"""

import sys
import time

import numpy as np

rows, cols = int(sys.argv[1]), int(sys.argv[2])
x = np.random.default_rng(0).standard_normal((rows, cols))
t0 = time.perf_counter()
g = x.T @ x
print(f"{time.perf_counter() - t0:.3f} s for {rows} x {cols} (trace {np.trace(g):.3e})")
