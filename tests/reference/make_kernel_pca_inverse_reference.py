#!/usr/bin/env python3
"""scikit-learn's KernelPCA(fit_inverse_transform=True) on standardised wine, for the
kernel_pca step's inverse (every row a landmark, so the landmarks are scikit-learn's
training rows and its pre-image map is learnt on the same points).

Run from the repository root (numpy and scikit-learn needed, e.g. /work/onnx-venv):

    python tests/reference/make_kernel_pca_inverse_reference.py

Writes tests/reference/kernel_pca_inverse.json: per case the data, label column, options,
the rows fitted (all, or the first `fit_rows`), scikit-learn's `dual_coef_` (rows × features,
in the standardised space), every row of the file mapped there and back,
`scaler.inverse_transform(kpca.inverse_transform(kpca.transform(Xs)))` (`inverse`, in the
file's units), and each row's squared reconstruction error in the standardised space
(`reconstruction_error`). The kernel of the pre-image map is the step's own (gamma
1/features when absent), applied to the transformed points; the map is invariant under a
column's sign, so dimred's signs need not be scikit-learn's.
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
    ("wine_rbf", None, dict(n_components=3, kernel="rbf")),
    ("wine_poly", None,
     dict(n_components=2, kernel="poly", degree=3, gamma=0.05, coef0=1.0, alpha=0.1)),
    ("wine_linear", None, dict(n_components=2, kernel="linear")),
    ("wine_cosine", None, dict(n_components=4, kernel="cosine", alpha=0.5)),
    ("wine_rbf_heldout", 120, dict(n_components=3, kernel="rbf", gamma=0.1)),
]


def main():
    out = {
        "generator": {
            "script": "tests/reference/make_kernel_pca_inverse_reference.py",
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "cases": {},
    }
    X = read("wine.csv", "target")
    for name, fit_rows, options in CASES:
        fit = X if fit_rows is None else X[:fit_rows]
        scaler = StandardScaler().fit(fit)
        kpca = KernelPCA(fit_inverse_transform=True, **options).fit(scaler.transform(fit))
        Xs = scaler.transform(X)
        back = kpca.inverse_transform(kpca.transform(Xs))
        out["cases"][name] = {
            "data": "wine.csv",
            "label": "target",
            "fit_rows": fit_rows,
            "options": options,
            "dual_coef_": kpca.dual_coef_.tolist(),
            "inverse": scaler.inverse_transform(back).tolist(),
            "reconstruction_error": ((Xs - back) ** 2).sum(axis=1).tolist(),
        }
    path = os.path.join(ROOT, "tests", "reference", "kernel_pca_inverse.json")
    with open(path, "w") as f:
        json.dump(out, f)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
