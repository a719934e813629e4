#!/usr/bin/env python3
"""Generate scikit-learn reference numbers for the random projection tests.

Run from the repository root:

    python tests/reference/make_rp_reference.py

Output: tests/reference/random_projection.json, read by the unit tests in
src/steps/random_projection/matrix.rs.  It holds

  * johnson_lindenstrauss_min_dim(n_samples, eps) on a grid, exactly as
    sklearn returns it (the bound truncated to an integer);
  * the density that density='auto' gives (sklearn's 1/sqrt(n_features)),
    read from fitted SparseRandomProjection models;
  * the two nonzero values +-sqrt(1/density)/sqrt(n_components) of
    SparseRandomProjection, read from fitted components_ (not recomputed);
  * the ValueError of n_components='auto' when the JL dimension exceeds
    n_features, and a case next to it that fits;
  * distance-preservation statistics on the digits data and on a wide
    synthetic set.

The random matrices come from numpy's generator, which dimred does not
reproduce, so the distance statistics are a statistical reference, not an
exact one.  For each projection the script records the random_state=0 run
(the one the task asked for) and also the spread over many random_states,
plus the analytic standard error of the mean ratio (see se_mean_formula),
so the Rust test can say how far from sklearn is too far.

Conventions as in make_reference.py: floats are written with repr (exact
round trip), CSV values are parsed with Python float(), "generator" records
the versions, "sklearn_params" the calls.
"""
import csv
import json
import math
import os
import sys
import warnings

import numpy as np
import pandas as pd
import scipy
import sklearn
from scipy import sparse as sp
from scipy.stats import chi2
from sklearn.random_projection import (
    GaussianRandomProjection,
    SparseRandomProjection,
    johnson_lindenstrauss_min_dim,
)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "reference")
DATA = os.path.join(ROOT, "sample-data")

GENERATOR = {
    "script": "tests/reference/make_rp_reference.py",
    "sklearn": sklearn.__version__,
    "numpy": np.__version__,
    "scipy": scipy.__version__,
    "pandas": pd.__version__,
    "python": sys.version.split()[0],
}

# Grid for johnson_lindenstrauss_min_dim.
JL_N_SAMPLES = [1, 2, 10, 100, 200, 300, 1797, 10_000, 1_000_000, 1_000_000_000]
JL_EPS = [0.05, 0.1, 0.3, 0.5, 0.9, 0.99]

# n_features for density='auto'.
AUTO_DENSITY_N_FEATURES = [1, 2, 3, 10, 64, 100, 1000, 3000, 10_000, 1_000_000]

# (n_components, density, n_features) for the nonzero values.
SPARSE_CASES = [
    (32, "auto", 64),
    (10, 0.5, 1000),
    (100, 0.1, 1000),
    (7, 1 / 3, 1000),
    (254, "auto", 3000),
    (5, 1.0, 1000),
    (1, 0.01, 10_000),
]

DIGITS_ROWS = 300
DIGITS_K = 32
EPS = 0.5
SPREAD_SEEDS = 200          # random_state = 0..SPREAD_SEEDS-1 for the spread
WIDE_SEED = 0
WIDE_SHAPE = (200, 3000)
WIDE_SPREAD_SEEDS = 100


def read_digits():
    # Python float() is correctly rounded, the same as Rust's str::parse::<f64>.
    path = os.path.join(DATA, "digits.csv")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    assert header[-1] == "label" and len(header) == 65, header[-3:]
    X = np.array([[float(v) for v in r[:64]] for r in body], dtype=np.float64)
    df = pd.read_csv(path).drop(columns=["label"])
    assert np.array_equal(df.to_numpy(dtype=np.float64), X), "pandas parser differs"
    return X


def to_py(v):
    if isinstance(v, dict):
        return {k: to_py(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_py(x) for x in v]
    if isinstance(v, np.ndarray):
        return to_py(v.tolist())
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def write_json(name, obj):
    """Write JSON: top-level keys one per line, lists of records one per line,
    nested objects indented."""
    obj = {"generator": GENERATOR, **obj}
    parts = []
    for k, v in obj.items():
        v = to_py(v)
        if isinstance(v, list) and v and isinstance(v[0], (list, dict)):
            rows = ",\n    ".join(json.dumps(r, allow_nan=False) for r in v)
            s = "[\n    " + rows + "\n  ]"
        elif isinstance(v, dict) and k != "generator":
            s = json.dumps(v, allow_nan=False, indent=2).replace("\n", "\n  ")
        else:
            s = json.dumps(v, allow_nan=False)
        parts.append(f"  {json.dumps(k)}: {s}")
    text = "{\n" + ",\n".join(parts) + "\n}\n"
    assert json.loads(text) == to_py(obj), "JSON does not round-trip"
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        f.write(text)
    size = os.path.getsize(path)
    assert size < 1_000_000, (name, size)
    return path, size


# ---------------------------------------------------------------------------
# 1. Johnson-Lindenstrauss bound
# ---------------------------------------------------------------------------
def jl_table():
    table = []
    for n in JL_N_SAMPLES:
        for eps in JL_EPS:
            k = johnson_lindenstrauss_min_dim(n_samples=n, eps=eps)
            # sklearn's formula before its astype(np.int64), for diagnosing an
            # off-by-one at a truncation boundary (recomputed, not sklearn's).
            e = np.asarray(eps)
            raw = 4 * np.log(np.asarray(n)) / ((e**2 / 2) - (e**3 / 3))
            table.append({"n_samples": n, "eps": eps, "min_dim": int(k),
                          "before_truncation": float(raw)})
    return table


# ---------------------------------------------------------------------------
# 2. density='auto'
# ---------------------------------------------------------------------------
def auto_densities():
    out = []
    for p in AUTO_DENSITY_N_FEATURES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = SparseRandomProjection(n_components=1, density="auto",
                                       random_state=0).fit(np.zeros((1, p)))
        d = float(m.density_)
        assert d == 1 / np.sqrt(p), (p, d)
        out.append({"n_features": p, "density": d})
    return out


# ---------------------------------------------------------------------------
# 3. nonzero values of SparseRandomProjection.components_
# ---------------------------------------------------------------------------
def sparse_values():
    out = []
    for k, density, p in SPARSE_CASES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = SparseRandomProjection(n_components=k, density=density,
                                       random_state=0).fit(np.zeros((1, p)))
        c = m.components_
        # density=1 gives a dense ndarray, otherwise a CSR matrix.
        data = c.data if sp.issparse(c) else np.asarray(c).ravel()
        data = data[data != 0]
        values = np.unique(data)
        assert len(values) == 2 and values[0] == -values[1], values
        out.append({
            "n_components": k,
            "density_param": density,
            "n_features": p,
            "density": float(m.density_),
            "positive": float(values[1]),
            "negative": float(values[0]),
            "nonzeros": int(data.size),
            "entries": k * p,
        })
    return out


# ---------------------------------------------------------------------------
# 4. n_components='auto' larger than n_features
# ---------------------------------------------------------------------------
def auto_too_large(X):
    n, p = X.shape
    eps = EPS
    cases = []
    for cls in (GaussianRandomProjection, SparseRandomProjection):
        try:
            cls(n_components="auto", eps=eps, random_state=0).fit(X)
        except ValueError as e:
            msg = str(e)
        else:
            raise AssertionError(f"{cls.__name__} did not raise")
        cases.append({"estimator": cls.__name__, "message": msg})
    # Next to it, a case that fits: 10 rows with eps=0.9 stay below 64 features.
    small = X[:10]
    ok = GaussianRandomProjection(n_components="auto", eps=0.9,
                                  random_state=0).fit(small)
    assert ok.n_components_ <= p
    return {
        "sklearn_params": "GaussianRandomProjection / SparseRandomProjection"
                          "(n_components='auto', eps=0.5, random_state=0).fit(X)",
        "input": "sample-data/digits.csv, all rows, pixel columns",
        "n_samples": n,
        "eps": eps,
        "n_features": p,
        "min_dim": int(johnson_lindenstrauss_min_dim(n_samples=n, eps=eps)),
        "errors": cases,
        "fits": {
            "sklearn_params": "GaussianRandomProjection(n_components='auto', "
                              "eps=0.9, random_state=0).fit(X[:10])",
            "n_samples": 10, "eps": 0.9, "n_features": p,
            "n_components_": int(ok.n_components_),
        },
    }


# ---------------------------------------------------------------------------
# 5. distance preservation
# ---------------------------------------------------------------------------
def pair_geometry(X):
    """Pairs i < j: their difference vectors and squared distances, and the
    second moment M = mean(u u^T) of the unit differences u."""
    i, j = np.triu_indices(X.shape[0], 1)
    D = X[i] - X[j]
    d2 = np.einsum("ij,ij->i", D, D)
    assert (d2 > 0).all(), "duplicate rows"
    U = D / np.sqrt(d2)[:, None]
    M = U.T @ U / U.shape[0]
    return i, j, d2, M


def ratio_stats(Y, i, j, d2, eps):
    Y = Y.toarray() if sp.issparse(Y) else np.asarray(Y)
    E = Y[i] - Y[j]
    r = np.einsum("ij,ij->i", E, E) / d2
    return {
        "mean": float(r.mean()),
        "std": float(r.std()),
        "min": float(r.min()),
        "max": float(r.max()),
        "max_abs_deviation": float(np.abs(r - 1).max()),
        "fraction_outside": float(np.mean((r < 1 - eps) | (r > 1 + eps))),
    }


def se_mean(M, k, fourth_moment):
    """Standard error (over random matrices) of the mean ratio over pairs.

    The mean ratio is (1/k) sum_i r_i^T M r_i for the k rows r_i of
    sqrt(k) * components_, whose entries are iid with mean 0, variance 1 and
    fourth moment mu4 (3 for Gaussian, 1/density for sparse).  For such r,
    Var(r^T M r) = 2 tr(M^2) + (mu4 - 3) sum_j M_jj^2.
    """
    v = 2 * np.sum(M * M) + (fourth_moment - 3) * np.sum(np.diag(M) ** 2)
    return float(math.sqrt(v / k))


def spread(make, X, i, j, d2, eps, seeds):
    keys = ["mean", "std", "min", "max", "max_abs_deviation", "fraction_outside"]
    rows = []
    for s in range(seeds):
        st = ratio_stats(make(s).fit(X).transform(X), i, j, d2, eps)
        rows.append([st[key] for key in keys])
    a = np.array(rows)
    return {
        "random_states": f"0..{seeds - 1}",
        "mean_of": dict(zip(keys, a.mean(0))),
        "std_of": dict(zip(keys, a.std(0))),
        "quantile_01_of": dict(zip(keys, np.quantile(a, 0.01, axis=0))),
        "quantile_99_of": dict(zip(keys, np.quantile(a, 0.99, axis=0))),
        "fraction_of_runs_with_all_pairs_inside": float(np.mean(a[:, 5] == 0)),
    }


def digits_distances(X):
    X = X[:DIGITS_ROWS]
    i, j, d2, M = pair_geometry(X)
    k = DIGITS_K
    density = 1 / np.sqrt(X.shape[1])
    common = {
        "input": "sample-data/digits.csv",
        "rows": f"0..{DIGITS_ROWS} (the first {DIGITS_ROWS} data rows), pixel columns",
        "pairs": "all i < j",
        "n_pairs": int(d2.size),
        "ratio": "||x_i P^T - x_j P^T||^2 / ||x_i - x_j||^2, P = components_",
        "std_is": "population std (ddof=0) over pairs",
        "eps": EPS,
        "fraction_outside_is": "fraction of pairs with ratio < 1-eps or > 1+eps",
        "pair_second_moment": {
            "what": "M = mean over pairs of u u^T, u = (x_i - x_j)/||x_i - x_j||",
            "trace_M_squared": float(np.sum(M * M)),
            "sum_diag_M_squared": float(np.sum(np.diag(M) ** 2)),
        },
        "se_mean_formula": "sqrt((2 tr(M^2) + (mu4 - 3) sum_j M_jj^2) / k), "
                           "mu4 = 3 (Gaussian) or 1/density (sparse)",
    }
    out = {}
    for name, make, mu4, extra in [
        ("gaussian",
         lambda s: GaussianRandomProjection(n_components=k, random_state=s),
         3.0, {}),
        ("sparse",
         lambda s: SparseRandomProjection(n_components=k, density="auto",
                                          random_state=s),
         1 / density, {"density": float(density)}),
    ]:
        est = make(0).fit(X)
        params = ("GaussianRandomProjection(n_components=32, random_state=0)"
                  if name == "gaussian" else
                  "SparseRandomProjection(n_components=32, density='auto', "
                  "random_state=0)")
        out[name] = {
            **common,
            "sklearn_params": params,
            "n_components": k,
            **extra,
            "random_state_0": ratio_stats(est.transform(X), i, j, d2, EPS),
            "se_mean": se_mean(M, k, mu4),
            "theory": {
                "mean": 1.0,
                "std_per_pair": math.sqrt(2 / k) if name == "gaussian" else None,
                "note": "for one pair, the Gaussian ratio is chi2_k/k: mean 1, "
                        "std sqrt(2/k) (sparse: variance (2 + (1/density - 3) "
                        "sum_j u_j^4)/k, depends on the pair); the std over the "
                        "pairs of one matrix is a little smaller, as the pairs "
                        "share the matrix",
                "chi2_fraction_outside": float(chi2.cdf((1 - EPS) * k, k)
                                               + chi2.sf((1 + EPS) * k, k))
                if name == "gaussian" else None,
            },
            "spread": spread(make, X, i, j, d2, EPS, SPREAD_SEEDS),
        }
    return out


def wide_distances():
    rng = np.random.default_rng(WIDE_SEED)
    X = rng.standard_normal(WIDE_SHAPE)
    i, j, d2, _ = pair_geometry(X)
    make = lambda s: GaussianRandomProjection(n_components="auto", eps=EPS,
                                              random_state=s)
    est = make(0).fit(X)
    k = int(est.n_components_)
    assert k == johnson_lindenstrauss_min_dim(n_samples=X.shape[0], eps=EPS)
    return {
        "sklearn_params": "GaussianRandomProjection(n_components='auto', eps=0.5, "
                          "random_state=0)",
        "data_generation": f"np.random.default_rng({WIDE_SEED})"
                           f".standard_normal({WIDE_SHAPE})",
        "seed": WIDE_SEED,
        "shape": list(WIDE_SHAPE),
        "eps": EPS,
        "n_components_": k,
        "n_pairs": int(d2.size),
        "random_state_0": ratio_stats(est.transform(X), i, j, d2, EPS),
        "spread": spread(make, X, i, j, d2, EPS, WIDE_SPREAD_SEEDS),
    }


def main():
    print(f"sklearn {sklearn.__version__}, numpy {np.__version__}, "
          f"scipy {scipy.__version__}, pandas {pd.__version__}")
    X = read_digits()
    obj = {
        "sklearn_params": {
            "johnson_lindenstrauss_min_dim":
                "sklearn.random_projection.johnson_lindenstrauss_min_dim"
                "(n_samples=n, eps=eps): int(4 ln(n) / (eps^2/2 - eps^3/3))",
            "auto_density": "SparseRandomProjection(n_components=1, "
                            "density='auto', random_state=0).fit(np.zeros((1, "
                            "n_features))).density_",
            "sparse_values": "SparseRandomProjection(n_components=k, density=d, "
                             "random_state=0).fit(np.zeros((1, n_features)))"
                             ".components_: its two distinct nonzero values",
        },
        "johnson_lindenstrauss_min_dim": jl_table(),
        "auto_density": auto_densities(),
        "sparse_values": sparse_values(),
        "auto_n_components_too_large": auto_too_large(X),
        "digits_distances": digits_distances(X),
        "wide_distances": wide_distances(),
    }
    path, size = write_json("random_projection.json", obj)
    print(f"wrote {os.path.relpath(path, ROOT)} ({size} bytes)")
    for name, d in obj["digits_distances"].items():
        s = d["random_state_0"]
        print(f"digits {name:8s} k={d['n_components']}: mean {s['mean']:.4f} "
              f"std {s['std']:.4f} min {s['min']:.4f} max {s['max']:.4f} "
              f"outside {s['fraction_outside']:.4f}  (se_mean {d['se_mean']:.4f})")
    w = obj["wide_distances"]
    s = w["random_state_0"]
    print(f"wide {w['shape']} k={w['n_components_']}: mean {s['mean']:.4f} "
          f"std {s['std']:.4f} max|r-1| {s['max_abs_deviation']:.4f}")


if __name__ == "__main__":
    main()
