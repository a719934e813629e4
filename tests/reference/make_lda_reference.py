#!/usr/bin/env python3
"""scikit-learn's LinearDiscriminantAnalysis on wine and digits, for the lda step's tests.

Run from the repository root (numpy and scikit-learn needed):

    python tests/reference/make_lda_reference.py

Writes tests/reference/lda.json: for each case the data, label, solver and options, then
scikit-learn's classes_, priors_, xbar_, explained_variance_ratio_ and the transformed
rows; for the classifier cases (`predict` true) also coef_, intercept_, and every row's
predict and predict_proba. A case's `priors` are given as dimred's YAML takes them, by
class name. Sign convention (dimred's, since scikit-learn leaves the signs to LAPACK): each
column of scalings_ kept has its entry of largest magnitude positive; the script flips
scalings_ columns and the matching transformed columns to follow it.
"""
import csv
import json
import os
import sys

import numpy as np
import sklearn
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def read(name, label):
    with open(os.path.join(ROOT, "sample-data", name), newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    j = header.index(label)
    X = np.array([[float(v) for i, v in enumerate(r) if i != j] for r in body])
    y = np.array([int(r[j]) for r in body])
    return X, y


CASES = [
    ("wine_svd", "wine.csv", "target", dict(solver="svd")),
    ("wine_svd_1", "wine.csv", "target", dict(solver="svd", n_components=1)),
    ("wine_eigen", "wine.csv", "target", dict(solver="eigen")),
    ("wine_eigen_shrunk", "wine.csv", "target", dict(solver="eigen", shrinkage=0.3)),
    ("digits_svd", "digits.csv", "label", dict(solver="svd")),
    ("digits_eigen_shrunk", "digits.csv", "label", dict(solver="eigen", shrinkage=0.1)),
    ("wine_svd_priors", "wine.csv", "target", dict(solver="svd", priors=[0.2, 0.5, 0.3])),
    ("wine_eigen_priors", "wine.csv", "target", dict(solver="eigen", priors=[0.2, 0.5, 0.3])),
    ("wine_eigen_auto", "wine.csv", "target", dict(solver="eigen", shrinkage="auto")),
    ("digits_eigen_auto", "digits.csv", "label", dict(solver="eigen", shrinkage="auto")),
    ("digits_eigen", "digits.csv", "label", dict(solver="eigen", shrinkage=0.01)),
]

# the cases whose classifier outputs are checked
PREDICT = {
    "wine_svd",
    "wine_eigen",
    "wine_eigen_shrunk",
    "digits_svd",
    "digits_eigen_shrunk",
    "wine_svd_priors",
    "wine_eigen_priors",
    "wine_eigen_auto",
    "digits_eigen_auto",
    "digits_eigen",
}


MASK = (1 << 64) - 1


def splitmix64(x):
    z = (x + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def is_test(seed, n, fraction):
    """report.evaluate's split of row i (as make_eval_reference.py)."""
    return np.array([splitmix64(seed ^ i) / 2.0**64 < fraction for i in range(n)])


# report.evaluate's LDA classifier (an lda step with predict: true): an LDA of the step's
# options fitted on the training rows of the standardised features, scored on both sides
EVALUATE = [
    ("wine_svd", "wine.csv", "target", dict(solver="svd")),
    ("digits_eigen_auto", "digits.csv", "label", dict(solver="eigen", shrinkage="auto")),
]


def evaluate_cases():
    from sklearn.preprocessing import StandardScaler

    out = {}
    for name, data, label, options in EVALUATE:
        X, y = read(data, label)
        Xs = StandardScaler().fit_transform(X)
        test = is_test(0, len(y), 0.25)
        lda = LinearDiscriminantAnalysis(**options).fit(Xs[~test], y[~test])
        out[name] = {
            "data": data,
            "label": label,
            "options": options,
            "seed": 0,
            "test_fraction": 0.25,
            "train_rows": int((~test).sum()),
            "test_rows": int(test.sum()),
            "train_accuracy": float(lda.score(Xs[~test], y[~test])),
            "test_accuracy": float(lda.score(Xs[test], y[test])),
        }
    return out


def main():
    out = {
        "generator": {
            "script": "tests/reference/make_lda_reference.py",
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "cases": {},
    }
    for name, data, label, options in CASES:
        X, y = read(data, label)
        lda = LinearDiscriminantAnalysis(**options).fit(X, y)
        Z = lda.transform(X)
        k = Z.shape[1]
        scalings = lda.scalings_[:, :k].copy()
        for q in range(k):
            if scalings[np.argmax(np.abs(scalings[:, q])), q] < 0:
                scalings[:, q] *= -1
                Z[:, q] *= -1
        out["cases"][name] = {
            "data": data,
            "label": label,
            "options": options,
            "classes_": [int(c) for c in lda.classes_],
            "priors_": lda.priors_.tolist(),
            "xbar_": lda.xbar_.tolist() if hasattr(lda, "xbar_") else None,
            "explained_variance_ratio_": lda.explained_variance_ratio_.tolist(),
            "scalings_": scalings.tolist(),
            "transformed": Z.tolist(),
        }
        case = out["cases"][name]
        if "priors" in options:
            case["options"] = dict(options)
            case["options"]["priors"] = {
                str(int(c)): p for c, p in zip(lda.classes_, options["priors"])
            }
        if name in PREDICT:
            case["predict"] = True
            case["coef_"] = lda.coef_.tolist()
            case["intercept_"] = lda.intercept_.tolist()
            case["predicted"] = [int(c) for c in lda.predict(X)]
            case["proba"] = lda.predict_proba(X).tolist()
            if options.get("shrinkage") == "auto":
                # the Ledoit-Wolf fraction of the whole (standardised) data, for a
                # direct check of the statistic
                from sklearn.covariance import ledoit_wolf_shrinkage
                from sklearn.preprocessing import StandardScaler

                case["total_shrinkage"] = float(
                    ledoit_wolf_shrinkage(StandardScaler().fit_transform(X))
                )
    out["evaluate"] = evaluate_cases()
    path = os.path.join(ROOT, "tests", "reference", "lda.json")
    with open(path, "w") as f:
        json.dump(out, f)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
