"""run → load → transform: every example pipeline's model, applied in this process to
NumPy, pandas, polars and pyarrow inputs, gives the run's reduced.parquet and what
`dimred transform` writes for the same rows (1e-12)."""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dimred
from conftest import EXAMPLES, ROOT
from helpers import columns, features, input_table, reduced

TOL = 1e-12


def close(a, b, scale=1.0):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    assert np.max(np.abs(a - b), initial=0.0) <= TOL * max(1.0, scale, np.max(np.abs(b), initial=0.0))


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_numpy_transform_equals_the_runs_reduced_parquet(runs, name):
    run = runs(name)
    model = run.model
    table = input_table(name)
    out_names = list(model.get_feature_names_out())
    expected = columns(reduced(run), out_names)
    x = features(model, table)
    close(model.transform(x), expected)
    # Fortran order (used in place) and float32 (converted) give the same
    close(model.transform(np.asfortranarray(x)), expected)
    if name.startswith("digits"):
        # pixel values are small integers: float32 holds them exactly
        close(model.transform(x.astype(np.float32)), expected)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_data_frames_keep_passthrough_and_kind(runs, name):
    run = runs(name)
    model = run.model
    table = input_table(name)
    out_names = list(model.get_feature_names_out())
    want = reduced(run)
    expected = columns(want, out_names)
    keep = model.passthrough

    got = model.transform(table)
    assert isinstance(got, pa.Table)
    assert got.column_names == keep + out_names
    close(columns(got, out_names), expected)
    assert got.column(keep[0]).to_pylist() == want.column(keep[0]).to_pylist()

    frame = table.to_pandas()
    frame.index = frame.index + 100
    got = model.transform(frame)
    assert isinstance(got, pd.DataFrame)
    assert list(got.columns) == keep + out_names
    assert list(got.index) == list(frame.index)
    close(got[out_names].to_numpy(), expected)

    got = model.transform(pl.from_arrow(table))
    assert isinstance(got, pl.DataFrame)
    assert got.columns == keep + out_names
    close(got.select(out_names).to_numpy(), expected)

    # columns in another order, extra ones: found by name
    shuffled = table.select(list(reversed(table.column_names)))
    close(columns(model.transform(shuffled), out_names), expected)
    got = model.transform(table, passthrough=False)
    assert got.column_names == out_names


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_equals_dimred_transform(runs, name, tmp_path, dimred_command):
    run = runs(name)
    model = run.model
    source = "sample-data/digits.parquet" if name.startswith("digits") else "sample-data/wine.csv"
    target = tmp_path / "t.parquet"
    subprocess.run(
        [dimred_command, "transform", "--model", str(model.path), "--input", source,
         "--output", str(target), "--quiet"],
        check=True, cwd=ROOT,
    )
    cli = pq.read_table(target)
    out_names = list(model.get_feature_names_out())
    close(model.transform(features(model, input_table(name))), columns(cli, out_names))


@pytest.mark.parametrize("name", ["digits_pca", "digits_random_projection", "wine_lda", "digits_autoencoder"])
def test_inverse_and_reconstruction_error_equal_the_cli(runs, name, tmp_path, dimred_command):
    run = runs(name)
    model = run.model
    source = "sample-data/digits.parquet" if name.startswith("digits") else "sample-data/wine.csv"
    x = features(model, input_table(name))
    z = model.transform(x)
    zt = pa.table({n: z[:, i] for i, n in enumerate(model.get_feature_names_out())})
    pq.write_table(zt, tmp_path / "z.parquet")
    inv = tmp_path / "inv.parquet"
    subprocess.run(
        [dimred_command, "transform", "--model", str(model.path), "--input",
         str(tmp_path / "z.parquet"), "--output", str(inv), "--inverse", "--quiet"],
        check=True, cwd=ROOT,
    )
    names = list(model.feature_names_in_)
    close(model.inverse_transform(z), columns(pq.read_table(inv), names), scale=20.0)
    close(columns(model.inverse_transform(zt), names), columns(pq.read_table(inv), names), scale=20.0)
    err = tmp_path / "err.parquet"
    subprocess.run(
        [dimred_command, "transform", "--model", str(model.path), "--input", source,
         "--output", str(err), "--reconstruction-error", "--quiet"],
        check=True, cwd=ROOT,
    )
    want = pq.read_table(err).column("reconstruction_error").to_numpy()
    close(model.reconstruction_error(x), want, scale=float(np.max(want)))
    close(model.reconstruction_error(input_table(name)), want, scale=float(np.max(want)))


def test_pca_matches_scikit_learn_reference(runs):
    """The committed scikit-learn reference (tests/reference/), not the run's own output."""
    import json

    ref = json.loads((ROOT / "tests" / "reference" / "digits_centered_pca.json").read_text())
    model = runs("digits_pca").model
    assert list(model.feature_names_in_) == ref["feature_names"]
    z = model.transform(features(model, input_table("digits_pca")))
    np.testing.assert_allclose(z, np.asarray(ref["transformed"]), atol=1e-9)


def test_feature_names(runs):
    model = runs("digits_pca").model
    assert model.n_features_in_ == 64
    assert list(model.feature_names_in_)[:2] == ["pixel_0_0", "pixel_0_1"]
    assert list(model.get_feature_names_out()) == [f"pc{i}" for i in range(1, 11)]
    assert model.passthrough == ["label"]
    assert dimred.load(model.path).n_features_in_ == 64


def test_run_result(runs):
    import json

    run = runs("digits_pca")
    # report is report.json as written
    assert run.report == json.loads((run.output_dir / "report.json").read_text())
    assert run.report["rows_written"] == 1797
    names = {p.name for p in run.outputs}
    assert {"reduced.parquet", "model.json", "report.json", "_SUCCESS"} <= names
    assert all(p.exists() for p in run.outputs)
    assert run.table.startswith("digits-pca: 1797 rows")


def test_a_record_batch_and_no_rows(runs):
    model = runs("digits_pca").model
    table = input_table("digits_pca")
    batch = table.combine_chunks().to_batches()[0]
    got = model.transform(batch)
    assert isinstance(got, pa.RecordBatch) and got.num_rows == batch.num_rows
    empty = model.transform(batch.slice(0, 0))
    assert isinstance(empty, pa.RecordBatch) and empty.num_rows == 0
    assert model.transform(np.zeros((0, 64))).shape == (0, 10)
