#!/usr/bin/env python3
"""scikit-learn reference numbers for PCA's probabilistic extras (issue 31, item 2).

Run from the repository root (scikit-learn 1.9.1):

    python tests/reference/make_pca_extras_reference.py

Writes tests/reference/pca_extras_digits.json and pca_extras_breast_cancer.json, each with:
  mle        PCA(n_components='mle', svd_solver='full'): n_components_, explained_variance_,
             noise_variance_, and sklearn's _assess_dimension for every rank 1..p-1 on the
             full spectrum (explained_variance_ of PCA(None, 'full'))
  fitted     the model of pipelines/digits_pca.yaml (PCA(10)) or breast_cancer_pca.yaml
             (StandardScaler + PCA(0.95)), whiten off and on: get_covariance(),
             get_precision(), score_samples(X) (scaled X for breast cancer) and score(X)
  incremental  IncrementalPCA(10, batch_size=100) on digits, StandardScaler +
             IncrementalPCA(5, batch_size=50) on breast cancer (as make_reference.py):
             get_covariance(), get_precision() (IncrementalPCA has no score_samples)

Also pca_lu_normalizer.json: scipy's lu(permute_l=True) of a fixed 9 x 4 matrix (the
LU power_iteration_normalizer).

Components are not compared here (make_reference.py does); covariance, precision and the
log-likelihoods do not depend on the components' signs.
"""
import csv
import json
import os
import sys

import numpy as np
import scipy
import scipy.linalg
import sklearn
from sklearn.decomposition import PCA, IncrementalPCA
from sklearn.decomposition._pca import _assess_dimension
from sklearn.preprocessing import StandardScaler

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "reference")
DATA = os.path.join(ROOT, "sample-data")
GENERATOR = {
    "script": "tests/reference/make_pca_extras_reference.py",
    "sklearn": sklearn.__version__,
    "numpy": np.__version__,
    "scipy": scipy.__version__,
    "python": sys.version.split()[0],
}


def read_csv(path, label_col):
    # Python's float() rounds correctly, as Rust's str::parse::<f64>
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][-1] == label_col, (path, rows[0][-1])
    return np.array([[float(v) for v in r[:-1]] for r in rows[1:]], dtype=np.float64)


def to_py(v):
    if isinstance(v, dict):
        return {k: to_py(x) for k, x in v.items()}
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return v


def write_json(name, obj):
    text = json.dumps(to_py({"generator": GENERATOR, **obj}), allow_nan=False, indent=1)
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        f.write(text + "\n")
    return path, os.path.getsize(path)


def probabilistic(pca, X):
    return {
        "n_components": int(pca.n_components_),
        "noise_variance": float(pca.noise_variance_),
        "covariance": pca.get_covariance(),
        "precision": pca.get_precision(),
    } | ({"log_likelihood": pca.score_samples(X), "score": float(pca.score(X))}
         if hasattr(pca, "score_samples") else {})


def case(name, csv, label, scaled, k, ipca_k, ipca_batch):
    X = read_csv(os.path.join(DATA, csv), label)
    Z = StandardScaler().fit_transform(X) if scaled else X
    full = PCA(n_components=None, svd_solver="full").fit(Z)
    spectrum = full.explained_variance_
    n = Z.shape[0]
    mle = PCA(n_components="mle", svd_solver="full").fit(Z)
    fitted = PCA(n_components=k, svd_solver="full").fit(Z)
    whitened = PCA(n_components=k, svd_solver="full", whiten=True).fit(Z)
    ipca = IncrementalPCA(n_components=ipca_k, batch_size=ipca_batch).fit(Z)
    obj = {
        "sklearn_params": {
            "scaler": "StandardScaler()" if scaled else None,
            "mle": "PCA(n_components='mle', svd_solver='full')",
            "fitted": f"PCA(n_components={k!r}, svd_solver='full'), whiten False and True",
            "incremental": f"IncrementalPCA(n_components={ipca_k}, batch_size={ipca_batch})",
        },
        "input": f"sample-data/{csv}",
        "n_samples": n,
        "n_features": Z.shape[1],
        "spectrum": spectrum,
        # null where sklearn returns -inf (an eigenvalue under 1e-15 at that rank)
        "assess_dimension": [None if np.isneginf(v) else float(v) for v in
                             (_assess_dimension(spectrum, r, n) for r in range(1, len(spectrum)))],
        "mle": {
            "n_components": int(mle.n_components_),
            "explained_variance": mle.explained_variance_,
            "explained_variance_ratio": mle.explained_variance_ratio_,
            "noise_variance": float(mle.noise_variance_),
        },
        "fitted": probabilistic(fitted, Z),
        "whitened": probabilistic(whitened, Z),
        "incremental": probabilistic(ipca, Z),
    }
    path, size = write_json(name, obj)
    print(f"{name}: mle k={mle.n_components_}, score={obj['fitted']['score']!r}, "
          f"whitened score={obj['whitened']['score']!r}, {size} bytes")


def lu_case():
    """scipy.linalg.lu(permute_l=True)[0], the LU power_iteration_normalizer's basis."""
    y = np.random.default_rng(3).normal(size=(9, 4))
    y[5] = y[2]  # a repeated row: pivoting must still pick the first of a tie
    path, size = write_json("pca_lu_normalizer.json", {
        "sklearn_params": {"call": "scipy.linalg.lu(y, permute_l=True, check_finite=False)[0]"},
        "y": y,
        "permuted_lower": scipy.linalg.lu(y, permute_l=True, check_finite=False)[0],
    })
    print(f"pca_lu_normalizer.json: {size} bytes")


def main():
    lu_case()
    case("pca_extras_digits.json", "digits.csv", "label", False, 10, 10, 100)
    case("pca_extras_breast_cancer.json", "breast_cancer.csv", "target", True, 0.95, 5, 50)


if __name__ == "__main__":
    main()
