#!/usr/bin/env python3
"""scikit-learn's TruncatedSVD on the raw (uncentred) digits pixels and breast-cancer
features, for the truncated_svd step.

Run from the repository root (numpy and scikit-learn needed, e.g. /work/onnx-venv):

    python tests/reference/make_truncated_svd_reference.py

Writes tests/reference/truncated_svd.json: per case the data file, its feature columns,
n_components, and from `TruncatedSVD(algorithm='arpack', random_state=0)` (tol=0, so the
decomposition is exact to rounding): `components_` (already svd_flip'ed with
u_based_decision=False by scikit-learn), `singular_values_`, `explained_variance_`,
`explained_variance_ratio_`, the first `rows` rows through `transform` and those codes back
through `inverse_transform`, their squared reconstruction errors ‖x − x̂‖² and the mean of
that error over every row. Also the default randomized solver's `explained_variance_`
(n_iter=5, n_oversamples=10, normalizer 'auto', random_state=0), for the accuracy the
randomized algorithm reaches in scikit-learn itself.
"""

import json
import sys
from pathlib import Path

import numpy as np
import sklearn
from sklearn.decomposition import TruncatedSVD

ROOT = Path(__file__).resolve().parents[2]
ROWS = 25
CASES = [
    ("digits", "sample-data/digits.csv", "label", 10),
    ("breast_cancer", "sample-data/breast_cancer.csv", "target", 5),
]


def load(path, drop):
    with open(ROOT / path) as f:
        header = f.readline().strip().split(",")
    data = np.loadtxt(ROOT / path, delimiter=",", skiprows=1)
    keep = [i for i, name in enumerate(header) if name != drop]
    return [header[i] for i in keep], data[:, keep]


def main():
    out = {
        "generator": {
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "cases": {},
    }
    for name, path, drop, k in CASES:
        features, x = load(path, drop)
        exact = TruncatedSVD(n_components=k, algorithm="arpack", random_state=0).fit(x)
        z = exact.transform(x[:ROWS])
        back = exact.inverse_transform(z)
        error = ((x - exact.inverse_transform(exact.transform(x))) ** 2).sum(axis=1)
        randomized = TruncatedSVD(n_components=k, random_state=0).fit(x)
        out["cases"][name] = {
            "path": path,
            "label": drop,
            "features": features,
            "n_components": k,
            "rows": ROWS,
            "sklearn_params": f"TruncatedSVD(n_components={k}, algorithm='arpack', random_state=0)",
            "components_": exact.components_.tolist(),
            "singular_values_": exact.singular_values_.tolist(),
            "explained_variance_": exact.explained_variance_.tolist(),
            "explained_variance_ratio_": exact.explained_variance_ratio_.tolist(),
            "transform": z.tolist(),
            "inverse_transform": back.tolist(),
            "reconstruction_error": error[:ROWS].tolist(),
            "reconstruction_error_mean": float(error.mean()),
            "randomized_explained_variance_": randomized.explained_variance_.tolist(),
        }
        gap = np.max(
            np.abs(randomized.explained_variance_ - exact.explained_variance_)
            / exact.explained_variance_
        )
        print(f"{name}: {x.shape}, k={k}, randomized vs arpack variance: {gap:.2e} relative")
    target = ROOT / "tests/reference/truncated_svd.json"
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
