#!/usr/bin/env python3
"""Generate scikit-learn reference numbers for the dimred Rust tests.

Run from the repository root:

    python tests/reference/make_reference.py

Outputs (all in tests/reference/):
    breast_cancer_scaled_pca.json       StandardScaler + PCA(n_components=0.95)
    digits_centered_pca.json            PCA(n_components=10) on raw pixels
    digits_fraction_pca.json            PCA(n_components=0.8) on raw pixels (summary only)
    offset.csv + offset_pca.json        large-offset (1e9) synthetic data, PCA(n_components=3)
    digits_incremental_pca.json         IncrementalPCA(n_components=10, batch_size=100)
    breast_cancer_incremental_pca.json  StandardScaler + IncrementalPCA(n_components=5, batch_size=50)

Conventions (mirrored by the Rust code):
  * Sign: every component (row of components_) has its entry of largest
    absolute value positive.  If sklearn's output violates this, the script
    flips the component and the matching column of the transformed rows and
    records the indices in "sign_flipped_by_script".
  * Floats are written with repr (shortest round-trip representation), so
    the JSON values are exactly the float64 values sklearn produced.
"""
import csv
import json
import math
import os
import sys

import numpy as np
import pandas as pd
import sklearn
from sklearn.decomposition import PCA, IncrementalPCA
from sklearn.preprocessing import StandardScaler

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "reference")
DATA = os.path.join(ROOT, "sample-data")

GENERATOR = {
    "script": "tests/reference/make_reference.py",
    "sklearn": sklearn.__version__,
    "numpy": np.__version__,
    "pandas": pd.__version__,
    "python": sys.version.split()[0],
}

SIGN_CONVENTION = "each component's entry of largest absolute value is positive"

# If the two largest |entries| of a component are closer than this (relative),
# the sign convention is numerically fragile; we warn about it.
TIE_WARN_REL = 1e-6


def read_csv(path, label_col=None):
    # Parse with Python's float(), which is correctly rounded (same result as
    # Rust's str::parse::<f64>), independent of pandas parser settings.
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    X = np.array([[float(v) for v in r] for r in body], dtype=np.float64)
    if label_col is not None:
        assert header[-1] == label_col, (path, header[-1])
        header, X = header[:-1], X[:, :-1]
    assert not np.isnan(X).any(), path
    # cross-check against pandas' default parser
    df = pd.read_csv(path)
    if label_col is not None:
        df = df.drop(columns=[label_col])
    if not np.array_equal(df.to_numpy(dtype=np.float64), X):
        print(f"  NOTE: pandas default parser differs from float() on {path}",
              file=sys.stderr)
    return list(header), X


def enforce_sign(components, transformed=None):
    """Apply the sign convention in place; return list of flipped indices."""
    flipped = []
    for i, row in enumerate(components):
        a = np.abs(row)
        j = int(np.argmax(a))
        top2 = np.sort(a)[-2:] if len(a) > 1 else a
        if len(a) > 1 and (top2[1] - top2[0]) <= TIE_WARN_REL * top2[1]:
            print(f"  WARNING: component {i}: near-tie for largest |entry| "
                  f"({top2[0]!r} vs {top2[1]!r}); sign convention fragile",
                  file=sys.stderr)
        if row[j] < 0:
            components[i] = -row
            if transformed is not None:
                transformed[:, i] = -transformed[:, i]
            flipped.append(i)
    return flipped


def check_sign(components):
    for row in components:
        assert row[int(np.argmax(np.abs(row)))] > 0


def to_py(v):
    if isinstance(v, dict):
        return {k: to_py(x) for k, x in v.items()}
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def write_json(name, obj):
    """Write JSON: top-level keys one per line, 2-D arrays one row per line."""
    obj = {"generator": GENERATOR, **obj}
    parts = []
    for k, v in obj.items():
        v = to_py(v)
        if isinstance(v, list) and v and isinstance(v[0], list):
            rows = ",\n    ".join(json.dumps(r, allow_nan=False) for r in v)
            s = "[\n    " + rows + "\n  ]"
        else:
            s = json.dumps(v, allow_nan=False)
        parts.append(f"  {json.dumps(k)}: {s}")
    text = "{\n" + ",\n".join(parts) + "\n}\n"
    # sanity: round-trips and is valid JSON
    json.loads(text)
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        f.write(text)
    size = os.path.getsize(path)
    assert size < 1_000_000, (name, size)
    return path, size


SUMMARY = []


def record(name, k, ev, flipped, size):
    SUMMARY.append((name, k, [float(x) for x in ev[:3]], flipped, size))


def pca_fields(pca):
    return {
        "n_components": int(pca.n_components_),
        "explained_variance": pca.explained_variance_,
        "explained_variance_ratio": pca.explained_variance_ratio_,
        "cumulative_variance_ratio": np.cumsum(pca.explained_variance_ratio_),
        "singular_values": pca.singular_values_,
        "noise_variance": float(pca.noise_variance_),
    }


def total_variance(Z):
    full = PCA(n_components=None, svd_solver="full").fit(Z)
    return float(np.sum(full.explained_variance_))


# ---------------------------------------------------------------------------
# 1. breast cancer: StandardScaler + PCA(0.95)
# ---------------------------------------------------------------------------
def breast_cancer_scaled():
    names, X = read_csv(os.path.join(DATA, "breast_cancer.csv"), "target")
    scaler = StandardScaler().fit(X)
    Z = scaler.transform(X)
    pca = PCA(n_components=0.95, svd_solver="full").fit(Z)
    comps = pca.components_.copy()
    T = pca.transform(scaler.transform(X))
    flipped = enforce_sign(comps, T)
    check_sign(comps)
    obj = {
        "sklearn_params": {
            "pipeline": ["StandardScaler()",
                         "PCA(n_components=0.95, svd_solver='full')"],
            "scaler": {"with_mean": True, "with_std": True},
            "pca": {"n_components": 0.95, "svd_solver": "full", "whiten": False},
            "total_variance_from": "PCA(n_components=None, svd_solver='full') on scaled data",
            "transformed_from": "pca.transform(scaler.transform(X))",
        },
        "input": "sample-data/breast_cancer.csv",
        "label_column": "target",
        "sign_convention": SIGN_CONVENTION,
        "sign_flipped_by_script": flipped,
        "n_samples": X.shape[0],
        "n_features": X.shape[1],
        "feature_names": names,
        **pca_fields(pca),
        "total_variance": total_variance(Z),
        "mean": scaler.mean_,
        "scale": scaler.scale_,
        "pca_mean": pca.mean_,
        "components": comps,
        "transformed": T,
    }
    name = "breast_cancer_scaled_pca.json"
    _, size = write_json(name, obj)
    record(name, pca.n_components_, pca.explained_variance_, flipped, size)


# ---------------------------------------------------------------------------
# 2./3. digits: centered PCA(10) and PCA(0.8)
# ---------------------------------------------------------------------------
def digits_centered():
    names, X = read_csv(os.path.join(DATA, "digits.csv"), "label")
    pca = PCA(n_components=10, svd_solver="full").fit(X)
    comps = pca.components_.copy()
    T = pca.transform(X)
    flipped = enforce_sign(comps, T)
    check_sign(comps)
    obj = {
        "sklearn_params": {
            "pipeline": ["PCA(n_components=10, svd_solver='full')"],
            "scaler": None,
            "pca": {"n_components": 10, "svd_solver": "full", "whiten": False},
            "total_variance_from": "PCA(n_components=None, svd_solver='full') on raw data",
            "transformed_from": "pca.transform(X)",
        },
        "input": "sample-data/digits.csv",
        "label_column": "label",
        "sign_convention": SIGN_CONVENTION,
        "sign_flipped_by_script": flipped,
        "n_samples": X.shape[0],
        "n_features": X.shape[1],
        "feature_names": names,
        **pca_fields(pca),
        "total_variance": total_variance(X),
        "mean": pca.mean_,
        "scale": None,
        "components": comps,
        "transformed": T,
    }
    name = "digits_centered_pca.json"
    _, size = write_json(name, obj)
    record(name, pca.n_components_, pca.explained_variance_, flipped, size)

    pca2 = PCA(n_components=0.8, svd_solver="full").fit(X)
    obj2 = {
        "sklearn_params": {
            "pipeline": ["PCA(n_components=0.8, svd_solver='full')"],
            "scaler": None,
            "pca": {"n_components": 0.8, "svd_solver": "full", "whiten": False},
        },
        "input": "sample-data/digits.csv",
        "label_column": "label",
        "n_samples": X.shape[0],
        "n_features": X.shape[1],
        "n_components": int(pca2.n_components_),
        "explained_variance": pca2.explained_variance_,
        "explained_variance_ratio": pca2.explained_variance_ratio_,
        "noise_variance": float(pca2.noise_variance_),
    }
    name = "digits_fraction_pca.json"
    _, size = write_json(name, obj2)
    record(name, pca2.n_components_, pca2.explained_variance_, [], size)


# ---------------------------------------------------------------------------
# 4. offset case
# ---------------------------------------------------------------------------
def offset_case():
    rng = np.random.default_rng(7)
    A = rng.standard_normal((6, 6))        # drawn first
    z = rng.standard_normal((3000, 6))     # drawn second
    x = 1e9 + z @ A
    csv_path = os.path.join(OUT, "offset.csv")
    cols = [f"f{i}" for i in range(6)]
    with open(csv_path, "w") as f:
        f.write(",".join(cols) + "\n")
        for row in x:
            f.write(",".join("{!r}".format(float(v)) for v in row) + "\n")
    names, X = read_csv(csv_path)
    # repr round-trips, so the re-read data must be bit-identical
    assert np.array_equal(X, x), "offset.csv did not round-trip"
    pca = PCA(n_components=3, svd_solver="full").fit(X)
    comps = pca.components_.copy()
    T = pca.transform(X)
    flipped = enforce_sign(comps, T)
    check_sign(comps)
    # Accurate reference: sklearn's mean_ (numpy summation) carries O(1e-6)
    # absolute error at a 1e9 offset, and it changes with summation order /
    # memory layout.  Compute the correctly-summed mean with math.fsum,
    # centre exactly (x and mean are within a factor 2, so x - mean is exact
    # by Sterbenz), and run PCA on the centred data.
    mean_acc = np.array([math.fsum(X[:, j]) / X.shape[0] for j in range(X.shape[1])])
    Xc = X - mean_acc
    pca_acc = PCA(n_components=3, svd_solver="full").fit(Xc)
    comps_acc = pca_acc.components_.copy()
    T_acc = pca_acc.transform(Xc[:20])
    flipped_acc = enforce_sign(comps_acc, T_acc)
    check_sign(comps_acc)
    accurate = {
        "how": "mean via math.fsum(column)/n; Xc = X - mean (exact); "
               "PCA(n_components=3, svd_solver='full') on Xc; transform(Xc[:20])",
        "sign_flipped_by_script": flipped_acc,
        "mean": mean_acc,
        "sklearn_mean_minus_accurate": pca.mean_ - mean_acc,
        "explained_variance": pca_acc.explained_variance_,
        "explained_variance_ratio": pca_acc.explained_variance_ratio_,
        "singular_values": pca_acc.singular_values_,
        "noise_variance": float(pca_acc.noise_variance_),
        "components": comps_acc,
        "transformed_head": T_acc,
    }
    obj = {
        "sklearn_params": {
            "pipeline": ["PCA(n_components=3, svd_solver='full')"],
            "scaler": None,
            "pca": {"n_components": 3, "svd_solver": "full", "whiten": False},
            "transformed_from": "pca.transform(X)[:20]",
        },
        "input": "tests/reference/offset.csv",
        "data_generation": (
            "rng = np.random.default_rng(7); A = rng.standard_normal((6, 6)); "
            "z = rng.standard_normal((3000, 6)); x = 1e9 + z @ A; "
            "written with repr, re-read with Python float()"
        ),
        "sign_convention": SIGN_CONVENTION,
        "sign_flipped_by_script": flipped,
        "n_samples": X.shape[0],
        "n_features": X.shape[1],
        "feature_names": names,
        **pca_fields(pca),
        "total_variance": total_variance(X),
        "mean": pca.mean_,
        "scale": None,
        "components": comps,
        "transformed_head": T[:20],
        "accurate": accurate,
    }
    name = "offset_pca.json"
    _, size = write_json(name, obj)
    record(name, pca.n_components_, pca.explained_variance_, flipped, size)


# ---------------------------------------------------------------------------
# 5. IncrementalPCA references
# ---------------------------------------------------------------------------
def ipca_fields(ipca, comps, flipped):
    return {
        "sign_convention": SIGN_CONVENTION,
        "sign_flipped_by_script": flipped,
        "n_components": int(ipca.n_components_),
        "explained_variance": ipca.explained_variance_,
        "explained_variance_ratio": ipca.explained_variance_ratio_,
        "singular_values": ipca.singular_values_,
        "noise_variance": float(ipca.noise_variance_),
        "components": comps,
        "mean": ipca.mean_,
        "var": ipca.var_,
        "n_samples_seen": int(ipca.n_samples_seen_),
    }


def incremental():
    names, X = read_csv(os.path.join(DATA, "digits.csv"), "label")
    ipca = IncrementalPCA(n_components=10, batch_size=100).fit(X)
    comps = ipca.components_.copy()
    flipped = enforce_sign(comps)
    check_sign(comps)
    obj = {
        "sklearn_params": {
            "pipeline": ["IncrementalPCA(n_components=10, batch_size=100)"],
            "scaler": None,
            "ipca": {"n_components": 10, "batch_size": 100, "whiten": False,
                     "batching": "fit(X): consecutive rows in file order, "
                                 "last batch smaller (1797 = 17*100 + 97)"},
        },
        "input": "sample-data/digits.csv",
        "label_column": "label",
        "n_samples": X.shape[0],
        "n_features": X.shape[1],
        "feature_names": names,
        **ipca_fields(ipca, comps, flipped),
    }
    name = "digits_incremental_pca.json"
    _, size = write_json(name, obj)
    record(name, ipca.n_components_, ipca.explained_variance_, flipped, size)

    names, X = read_csv(os.path.join(DATA, "breast_cancer.csv"), "target")
    scaler = StandardScaler().fit(X)
    Z = scaler.transform(X)
    ipca = IncrementalPCA(n_components=5, batch_size=50).fit(Z)
    comps = ipca.components_.copy()
    flipped = enforce_sign(comps)
    check_sign(comps)
    obj = {
        "sklearn_params": {
            "pipeline": ["StandardScaler()",
                         "IncrementalPCA(n_components=5, batch_size=50)"],
            "scaler": {"with_mean": True, "with_std": True,
                       "note": "scaler fitted on the full data set first (not streamed)"},
            "ipca": {"n_components": 5, "batch_size": 50, "whiten": False,
                     "batching": "fit(Z): consecutive rows in file order, "
                                 "last batch smaller (569 = 11*50 + 19)"},
        },
        "input": "sample-data/breast_cancer.csv",
        "label_column": "target",
        "n_samples": X.shape[0],
        "n_features": X.shape[1],
        "feature_names": names,
        "scaler_mean": scaler.mean_,
        "scaler_scale": scaler.scale_,
        **ipca_fields(ipca, comps, flipped),
    }
    name = "breast_cancer_incremental_pca.json"
    _, size = write_json(name, obj)
    record(name, ipca.n_components_, ipca.explained_variance_, flipped, size)


def main():
    print(f"sklearn {sklearn.__version__}, numpy {np.__version__}, pandas {pd.__version__}")
    breast_cancer_scaled()
    digits_centered()
    offset_case()
    incremental()
    print(f"{'file':38s} {'k':>3s} {'flipped':10s} {'bytes':>8s}  first 3 explained variances")
    for name, k, ev, flipped, size in SUMMARY:
        print(f"{name:38s} {int(k):3d} {str(flipped):10s} {size:8d}  {ev}")
    print(f"{'offset.csv':38s} {'':3s} {'':10s} "
          f"{os.path.getsize(os.path.join(OUT, 'offset.csv')):8d}")


if __name__ == "__main__":
    main()
