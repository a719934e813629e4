"""The issue's bad-input list: each a Python exception with the CLI's message and exit
code, never a crash of the interpreter."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import dimred
from helpers import features, input_table


def test_a_missing_model_file(tmp_path):
    with pytest.raises(dimred.FileError) as e:
        dimred.load(tmp_path / "nope" / "model.json")
    assert e.value.exit_code == 4
    assert "nope/model.json" in str(e.value)
    assert isinstance(e.value, dimred.DimredError)


def test_a_data_frame_missing_a_feature(runs):
    model = runs("digits_pca").model
    frame = input_table("digits_pca").to_pandas().drop(columns=["pixel_3_4"])
    with pytest.raises(dimred.DataError) as e:
        model.transform(frame)
    assert e.value.exit_code == 3
    assert "pixel_3_4" in e.value.message
    assert "lacks feature column" in e.value.message


@pytest.mark.parametrize("width", [63, 65])
def test_an_array_of_the_wrong_width(runs, width):
    model = runs("digits_pca").model
    with pytest.raises(dimred.DataError) as e:
        model.transform(np.zeros((5, width)))
    assert e.value.exit_code == 3
    assert f"{width} columns" in e.value.message and "64" in e.value.message


def test_an_array_of_the_wrong_width_for_the_inverse(runs):
    model = runs("digits_pca").model
    with pytest.raises(dimred.DataError, match="has 3 columns, the model has 10"):
        model.inverse_transform(np.zeros((2, 3)))


def test_non_numeric_columns(runs):
    model = runs("digits_pca").model
    frame = input_table("digits_pca").to_pandas()
    frame["pixel_0_5"] = frame["pixel_0_5"].astype(str)
    with pytest.raises(dimred.DataError) as e:
        model.transform(frame)
    assert e.value.exit_code == 3
    assert "column 'pixel_0_5'" in e.value.message and "text, not numeric" in e.value.message
    with pytest.raises(dimred.DataError, match="not numeric"):
        model.transform(np.array([["a"] * 64]))


def test_nan_under_missing_error_names_row_and_column(runs):
    model = runs("digits_pca").model
    table = input_table("digits_pca")
    x = features(model, table)
    x[41, 7] = np.nan
    with pytest.raises(dimred.DataError) as e:
        model.transform(x)
    # rows 1-based, as the CLI names them
    assert "row 42" in e.value.message and "column 'pixel_0_7'" in e.value.message
    frame = table.to_pandas()
    frame.loc[41, "pixel_0_7"] = np.nan
    with pytest.raises(dimred.DataError) as e:
        model.transform(frame)
    assert "row 42" in e.value.message and "column 'pixel_0_7'" in e.value.message


def test_a_model_from_a_newer_format(runs, tmp_path):
    doc = json.loads(runs("digits_pca").model.path.read_text())
    doc["format"] = "dimred-model/2"
    newer = tmp_path / "model.json"
    newer.write_text(json.dumps(doc))
    with pytest.raises(dimred.PipelineError) as e:
        dimred.load(newer)
    assert e.value.exit_code == 2
    assert "model format 'dimred-model/2' is not 'dimred-model/1'" in e.value.message


def test_a_model_without_an_inverse(runs):
    model = runs("wine_kernel_pca").model
    with pytest.raises(dimred.PipelineError, match="kernel_pca step does not have"):
        model.inverse_transform(np.zeros((1, 2)))


def test_not_a_table(runs):
    with pytest.raises(TypeError, match="expected a NumPy array"):
        runs("digits_pca").model.transform(object())
