#!/usr/bin/env python3
"""scikit-learn's KernelPCA on standardised wine and breast cancer, for the kernel_pca
step's tests (every row a landmark, so the Nyström map is exact).

Run from the repository root (numpy and scikit-learn needed):

    python tests/reference/make_kernel_pca_reference.py

Writes tests/reference/kernel_pca.json: per case the data, label column, options, the
rows fitted (all, or the first `fit_rows`), scikit-learn's eigenvalues_ and the
transformed rows (the fitted rows, then with `fit_rows` the rest, transformed as new
data). Signs are scikit-learn's; the tests compare each column up to sign.
"""
import csv
import json
import os
import sys

import numpy as np
import sklearn
from sklearn.decomposition import KernelPCA
from sklearn.preprocessing import StandardScaler

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def read(name, label):
    with open(os.path.join(ROOT, "sample-data", name), newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    j = header.index(label)
    return np.array([[float(v) for i, v in enumerate(r) if i != j] for r in body])


CASES = [
    ("wine_rbf", "wine.csv", "target", None, dict(n_components=3, kernel="rbf")),
    ("wine_poly", "wine.csv", "target", None,
     dict(n_components=2, kernel="poly", degree=3, gamma=0.05, coef0=1.0)),
    ("wine_linear", "wine.csv", "target", None, dict(n_components=2, kernel="linear")),
    ("breast_cancer_cosine", "breast_cancer.csv", "target", None,
     dict(n_components=4, kernel="cosine")),
    ("wine_rbf_heldout", "wine.csv", "target", 120, dict(n_components=3, kernel="rbf", gamma=0.1)),
]


def main():
    out = {
        "generator": {
            "script": "tests/reference/make_kernel_pca_reference.py",
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "cases": {},
    }
    for name, data, label, fit_rows, options in CASES:
        X = read(data, label)
        fit = X if fit_rows is None else X[:fit_rows]
        scaler = StandardScaler().fit(fit)
        kpca = KernelPCA(**options).fit(scaler.transform(fit))
        Z = kpca.transform(scaler.transform(X))
        out["cases"][name] = {
            "data": data,
            "label": label,
            "fit_rows": fit_rows,
            "options": options,
            "eigenvalues_": kpca.eigenvalues_.tolist(),
            "transformed": Z.tolist(),
        }
    path = os.path.join(ROOT, "tests", "reference", "kernel_pca.json")
    with open(path, "w") as f:
        json.dump(out, f)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
