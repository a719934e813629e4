#!/usr/bin/env python3
"""scikit-learn reference accuracies for dimred's downstream-classifier check
(`report.evaluate`). Run from the repository root:

    python tests/reference/make_eval_reference.py

Writes tests/reference/evaluation.json. For each case the features are scaled as the
pipeline does (StandardScaler, or centering), reduced with PCA (svd_solver="full"), and
split into train/test exactly as dimred does: row i (0-based) is a test row when
splitmix64(seed ^ i) / 2**64 < test_fraction. Then LogisticRegression() and
KNeighborsClassifier() with scikit-learn's defaults are scored on the scaled and on the
reduced features. With `compare`, the reducers of `report.evaluate.compare` are fitted on
the training rows' scaled features at the reduced width and scored too: PCA(svd_solver=
"full"), KernelPCA (every training row, as dimred's kernel PCA baseline with no more than
2,000 training rows) and LinearDiscriminantAnalysis() with min(width, classes - 1)
components. LogisticRegression is also fitted with max_iter=10000 (converged), since
its default of 100 iterations stops early on the digits; dimred solves to convergence.
"""
import csv
import json
import os
import sys
import warnings

import numpy as np
import sklearn
from sklearn.decomposition import PCA, KernelPCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "sample-data")
OUT = os.path.join(ROOT, "tests", "reference", "evaluation.json")
MASK = (1 << 64) - 1


def splitmix64(x):
    z = (x + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def is_test(seed, n, fraction):
    return np.array([splitmix64(seed ^ i) / 2.0**64 < fraction for i in range(n)])


def read(path, label):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    j = header.index(label)
    X = np.array([[float(v) for k, v in enumerate(r) if k != j] for r in body])
    y = np.array([int(float(r[j])) for r in body])
    return X, y


def scores(F, y, test):
    out = {}
    for name, model in [
        ("logistic_regression", LogisticRegression()),
        ("logistic_regression_converged", LogisticRegression(max_iter=10000)),
        ("knn", KNeighborsClassifier()),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(F[~test], y[~test])
        out[name] = {
            "train_accuracy": float(model.score(F[~test], y[~test])),
            "test_accuracy": float(model.score(F[test], y[test])),
        }
    return out


def baselines(Xs, y, test, width, kernel):
    train = ~test
    out = {}
    pca = PCA(n_components=width, svd_solver="full").fit(Xs[train])
    out["pca"] = {"dimensions": width, "scores": scores(pca.transform(Xs), y, test)}
    kpca = KernelPCA(n_components=width, **kernel).fit(Xs[train])
    out["kernel_pca"] = {
        "dimensions": width,
        "kernel": kernel,
        "scores": scores(kpca.transform(Xs), y, test),
    }
    k = min(width, len(np.unique(y[train])) - 1)
    lda = LinearDiscriminantAnalysis(n_components=k).fit(Xs[train], y[train])
    out["lda"] = {"dimensions": k, "scores": scores(lda.transform(Xs), y, test)}
    return out


def case(path, label, scale, n_components, seed=0, fraction=0.25, kernel=None):
    X, y = read(os.path.join(DATA, path), label)
    Xs = StandardScaler().fit_transform(X) if scale == "standard" else X - X.mean(axis=0)
    pca = PCA(n_components=n_components, svd_solver="full").fit(Xs)
    Z = pca.transform(Xs)
    test = is_test(seed, len(y), fraction)
    out = {
        "input": f"sample-data/{path}",
        "label": label,
        "scale": scale,
        "n_components": n_components,
        "n_components_": int(pca.n_components_),
        "seed": seed,
        "test_fraction": fraction,
        "train_rows": int((~test).sum()),
        "test_rows": int(test.sum()),
        "scaled": scores(Xs, y, test),
        "reduced": scores(Z, y, test),
    }
    if kernel is not None:
        out["kernel"] = kernel
        out["compare"] = baselines(Xs, y, test, Z.shape[1], kernel)
    return out


def main():
    result = {
        "generator": {
            "script": "tests/reference/make_eval_reference.py",
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "cases": {
            "breast_cancer_pca95": case(
                "breast_cancer.csv", "target", "standard", 0.95,
                kernel={"kernel": "rbf", "gamma": 1.0 / 30},
            ),
            "breast_cancer_pca2": case("breast_cancer.csv", "target", "standard", 2),
            "digits_pca10": case(
                "digits.csv", "label", "center", 10,
                kernel={"kernel": "rbf", "gamma": 0.001},
            ),
        },
    }
    with open(OUT, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    for name, c in result["cases"].items():
        print(name, c["train_rows"], c["test_rows"])
        for space in ("scaled", "reduced"):
            for model, s in c[space].items():
                print(f"  {space:8} {model:31} train {s['train_accuracy']:.4f} test {s['test_accuracy']:.4f}")
        for space, b in c.get("compare", {}).items():
            for model, s in b["scores"].items():
                print(f"  {space:10} {b['dimensions']:2} {model:29} train {s['train_accuracy']:.4f} test {s['test_accuracy']:.4f}")


if __name__ == "__main__":
    main()
