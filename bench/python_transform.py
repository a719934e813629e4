"""Model.transform on a NumPy array against scikit-learn's PCA.transform with the same
mean and components, best of 3 each (the array loaded once, outside the timings); both
checked against `dimred transform`'s output. Called by bench/python_transform.sh:
    python bench/python_transform.py MODEL.json DATA.parquet CLI_OUTPUT.parquet
"""

import json
import sys
import time

import numpy as np
import pyarrow.parquet as pq
from sklearn.decomposition import PCA

import dimred


def best(f, runs=3):
    times, out = [], None
    for _ in range(runs):
        start = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - start)
    return min(times), out


def main(model_path, data, cli_output):
    model = dimred.load(model_path)
    table = pq.read_table(data, columns=list(model.feature_names_in_))
    x = np.ascontiguousarray(np.column_stack([c.to_numpy() for c in table.columns]))
    del table
    n = x.shape[0]
    doc = json.loads(open(model_path).read())
    pca = PCA(n_components=len(doc["components_"]))
    pca.fit(x[:1000])  # shapes only: the fitted arrays are replaced by the model's
    pca.components_ = np.asarray(doc["components_"])
    pca.mean_ = np.asarray(doc["mean_"])
    cli = pq.read_table(cli_output)
    want = np.column_stack([cli.column(c).to_numpy() for c in model.get_feature_names_out()])
    xf = np.asfortranarray(x)
    for name, f in (
        ("dimred Model.transform (NumPy, C order: copied in row tiles)", lambda: model.transform(x)),
        ("dimred Model.transform (NumPy, Fortran order: read in place)", lambda: model.transform(xf)),
        ("scikit-learn PCA.transform (same components)", lambda: pca.transform(x)),
    ):
        seconds, z = best(f)
        diff = float(np.max(np.abs(z - want)))
        print(f"{name}: {seconds:.2f} s, {n / seconds:,.0f} rows/s, max |diff| vs dimred transform {diff:.1e}")


if __name__ == "__main__":
    main(*sys.argv[1:])
