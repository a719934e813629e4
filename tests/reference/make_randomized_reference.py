#!/usr/bin/env python3
"""scikit-learn reference numbers for the randomized solver (issue 29 item 1, issue 31 item 2).

Run from the repository root (scikit-learn 1.9.1):

    python tests/reference/make_randomized_reference.py

Writes tests/reference/randomized_accuracy.json:
  exact      explained_variance_ of PCA(None, svd_solver='full') on the digits' raw pixels
             (the same centered data as pipelines/digits_pca.yaml)
  per_iter   for iterated_power q in ITERS: PCA(10, svd_solver='randomized',
             iterated_power=q, random_state=s) for s in 0..SEEDS-1 (n_oversamples 10, the
             'auto' normaliser), each seed's error (the mean over the top 10 of
             |randomized - exact| / exact) and their median
  fraction   for each data set (digits centered, breast cancer standardised) and each
             fraction f in FRACTIONS: PCA(f, svd_solver='full')'s n_components_ and
             explained_variance_ (scikit-learn refuses a float n_components with the
             randomized solver, so the exact solver's choice is the reference)

The random states differ from dimred's seeds (numpy's stream is not dimred's), so the
errors are compared by their median over many seeds, not seed by seed.
"""
import csv
import json
import os
import sys

import numpy as np
import sklearn
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "reference", "randomized_accuracy.json")
DATA = os.path.join(ROOT, "sample-data")
K = 10
ITERS = [1, 2, 3, 4, 6]
SEEDS = 30
FRACTIONS = [0.5, 0.8, 0.9, 0.95, 0.99]


def read_csv(path, label_col):
    # Python's float() rounds correctly, as Rust's str::parse::<f64>
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][-1] == label_col, (path, rows[0][-1])
    return np.array([[float(v) for v in r[:-1]] for r in rows[1:]], dtype=np.float64)


def error(values, exact):
    return float(np.mean(np.abs(values[:K] - exact[:K]) / exact[:K]))


def main():
    digits = read_csv(os.path.join(DATA, "digits.csv"), "label")
    cancer = read_csv(os.path.join(DATA, "breast_cancer.csv"), "target")
    exact = PCA(None, svd_solver="full").fit(digits).explained_variance_
    per_iter = []
    for q in ITERS:
        errors = [
            error(
                PCA(K, svd_solver="randomized", iterated_power=q, random_state=s)
                .fit(digits)
                .explained_variance_,
                exact,
            )
            for s in range(SEEDS)
        ]
        per_iter.append({"iterated_power": q, "errors": errors, "median": float(np.median(errors))})
    fraction = {}
    for name, x in [("digits", digits), ("breast_cancer", StandardScaler().fit_transform(cancer))]:
        fraction[name] = [
            {
                "fraction": f,
                "n_components_": int(p.n_components_),
                "explained_variance_": p.explained_variance_.tolist(),
            }
            for f in FRACTIONS
            for p in [PCA(f, svd_solver="full").fit(x)]
        ]
    out = {
        "generator": {
            "script": "tests/reference/make_randomized_reference.py",
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "k": K,
        "seeds": SEEDS,
        "exact": exact.tolist(),
        "per_iter": per_iter,
        "fraction": fraction,
    }
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    for row in per_iter:
        print(f"iterated_power {row['iterated_power']}: median error {row['median']:.3e}")
    for name, rows in fraction.items():
        print(name, [(r["fraction"], r["n_components_"]) for r in rows])


if __name__ == "__main__":
    main()
