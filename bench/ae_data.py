#!/usr/bin/env python3
"""Write the autoencoder benchmark's image-like data: ROWS x 784 float32 in [0, 1].

usage: ae_data.py ROWS OUT.parquet [--seed S] [--row-group R]

MNIST cannot be downloaded here, so the rows are made MNIST-like from scikit-learn's
8x8 digits (1,797 images, shipped inside the scikit-learn package): each row is one digit
picked at random, scaled 0..16 -> 0..1, upsampled bilinearly to 20x20, put on a 28x28
black canvas (MNIST's 20x20 box in a 4-pixel border) shifted by -3..3 pixels in each
direction, multiplied by a brightness in [0.8, 1], plus N(0, 0.05) noise, clipped to
[0, 1]. About a third of the pixels are exactly 0 (MNIST: about 80 %); the rest of the
background is the clipped noise.

Columns are Float32 p0..p783 (row-major pixels), written in row groups of R rows
(default 4096) without dictionary encoding, snappy-compressed.

Deterministic: row group g is drawn from numpy's default_rng([seed, g]), so the file is
the same on every machine and the first N rows of a bigger file equal the N-row file.
Memory stays at about one row group whatever ROWS is.
"""

import argparse
import os
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SIDE = 28
BOX = 20
MAX_SHIFT = 3
NOISE_SD = 0.05
N_PIXELS = SIDE * SIDE


def upsampled_digits():
    """The 1,797 scikit-learn digits as (n, 20, 20) float32 in [0, 1], bilinear."""
    from sklearn.datasets import load_digits

    d = load_digits().images.astype(np.float64) / 16.0  # (n, 8, 8)
    # Bilinear interpolation, pixel centres aligned (align_corners=False), edges clamped.
    src = (np.arange(BOX) + 0.5) * (8 / BOX) - 0.5
    i0 = np.clip(np.floor(src).astype(int), 0, 7)
    i1 = np.clip(i0 + 1, 0, 7)
    w = np.clip(src - i0, 0.0, 1.0)
    rows = d[:, i0, :] * (1 - w)[None, :, None] + d[:, i1, :] * w[None, :, None]
    out = rows[:, :, i0] * (1 - w)[None, None, :] + rows[:, :, i1] * w[None, None, :]
    return out.astype(np.float32)


def make_group(digits, group_rows, n, rng):
    """The first n rows of a row group. The draws are always made for the whole group of
    group_rows, so a row's value does not depend on where the file ends."""
    idx = rng.integers(0, len(digits), size=group_rows)[:n]
    dy = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=group_rows)[:n]
    dx = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=group_rows)[:n]
    bright = rng.uniform(0.8, 1.0, size=group_rows).astype(np.float32)[:n]
    noise = rng.standard_normal(size=(group_rows, SIDE, SIDE), dtype=np.float32)[:n]
    canvas = np.zeros((n, SIDE, SIDE), dtype=np.float32)
    off = (SIDE - BOX) // 2
    for sy in range(-MAX_SHIFT, MAX_SHIFT + 1):
        for sx in range(-MAX_SHIFT, MAX_SHIFT + 1):
            m = (dy == sy) & (dx == sx)
            if m.any():
                y, x = off + sy, off + sx
                canvas[m, y : y + BOX, x : x + BOX] = digits[idx[m]]
    canvas *= bright[:, None, None]
    canvas += np.float32(NOISE_SD) * noise
    np.clip(canvas, 0.0, 1.0, out=canvas)
    canvas += 0.0  # -0.0 -> 0.0
    return canvas.reshape(n, N_PIXELS)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rows", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--row-group", type=int, default=4096)
    a = ap.parse_args(argv)
    if a.rows < 1 or a.row_group < 1:
        ap.error("rows and --row-group must be >= 1")

    t0 = time.perf_counter()
    digits = upsampled_digits()
    names = [f"p{j}" for j in range(N_PIXELS)]
    schema = pa.schema([pa.field(c, pa.float32(), nullable=False) for c in names])
    tmp = a.out + ".tmp-" + str(os.getpid())
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    try:
        with pq.ParquetWriter(tmp, schema, use_dictionary=False, compression="snappy") as w:
            for g, start in enumerate(range(0, a.rows, a.row_group)):
                n = min(a.row_group, a.rows - start)
                x = make_group(digits, a.row_group, n, np.random.default_rng([a.seed, g]))
                cols = [pa.array(x[:, j]) for j in range(N_PIXELS)]
                w.write_table(pa.Table.from_arrays(cols, schema=schema), row_group_size=n)
        os.replace(tmp, a.out)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    sys.stderr.write(
        f"wrote {a.out}: {a.rows} x {N_PIXELS} float32, seed {a.seed}, row groups of "
        f"{a.row_group}, {os.path.getsize(a.out) / 1e6:.0f} MB, {time.perf_counter() - t0:.1f} s\n"
    )


if __name__ == "__main__":
    main()
