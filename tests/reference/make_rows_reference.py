#!/usr/bin/env python3
"""Reference for dimred's row steps (`filter`, `derive`): Python polars runs the SQL on the
whole file at once, scikit-learn reduces the result. Written to tests/reference/rows.json.

Run from the repository root:
    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install numpy scikit-learn polars
    /tmp/refvenv/bin/python tests/reference/make_rows_reference.py

Case `breast_cancer`: sample-data/breast_cancer.csv (parsed with Python float(), which
rounds as Rust's str::parse::<f64> does), then

    SELECT *, LN(mean_area) AS log_area,
              mean_compactness / worst_compactness AS compactness_ratio
    FROM data WHERE mean_radius > 12 AND mean_texture < 25

as pipelines/breast_cancer_filter.yaml writes it (filter first, then derive), then
StandardScaler + PCA(n_components=0.95, svd_solver="full") on every column but `target`,
the derived ones appended. The row indices kept (0-based, in file order), the derived
values, and the model's fields are recorded.

Sign convention: each component's entry of largest absolute value is positive (the script
flips a component that breaks it).
"""
import csv
import json
import os
import sys

import numpy as np
import polars as pl
import sklearn
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FILTER = "mean_radius > 12 AND mean_texture < 25"
DERIVE = [
    ("log_area", "LN(mean_area)"),
    ("compactness_ratio", "mean_compactness / worst_compactness"),
]


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    return pl.DataFrame(
        {name: [float(r[j]) for r in body] for j, name in enumerate(header)}
    )


def main():
    df = read_csv(os.path.join(ROOT, "sample-data", "breast_cancer.csv"))
    df = df.with_row_index("row")
    derived = ", ".join(f"{e} AS {n}" for n, e in DERIVE)
    out = pl.SQLContext(data=df).execute(
        f"SELECT *, {derived} FROM data WHERE {FILTER}", eager=True
    )
    rows = out["row"].to_list()
    features = [c for c in out.columns if c not in ("row", "target")]
    x = out.select(features).to_numpy().astype(np.float64)
    scaler = StandardScaler()
    z = scaler.fit_transform(x)
    pca = PCA(n_components=0.95, svd_solver="full").fit(z)
    components = pca.components_.copy()
    flipped = []
    for i, c in enumerate(components):
        if c[np.argmax(np.abs(c))] < 0:
            components[i] = -c
            flipped.append(i)
    reference = {
        "generator": {
            "script": "tests/reference/make_rows_reference.py",
            "polars": pl.__version__,
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "filter": FILTER,
        "derive": dict(DERIVE),
        "rows_in": df.height,
        "rows_kept": rows,
        "feature_names": features,
        "derived_values": {n: out[n].to_list() for n, _ in DERIVE},
        "mean_": scaler.mean_.tolist(),
        "scale_": scaler.scale_.tolist(),
        "n_components": int(pca.n_components_),
        "explained_variance_": pca.explained_variance_.tolist(),
        "explained_variance_ratio_": pca.explained_variance_ratio_.tolist(),
        "components_": components.tolist(),
        "sign_flipped_by_script": flipped,
    }
    path = os.path.join(ROOT, "tests", "reference", "rows.json")
    with open(path, "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")
    print(
        f"rows.json: kept {len(rows)} of {df.height} rows, "
        f"{len(features)} features, {pca.n_components_} components"
    )


if __name__ == "__main__":
    main()
