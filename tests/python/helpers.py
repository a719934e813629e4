"""Reading the examples' inputs and outputs as the tests compare them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from conftest import ROOT


def input_table(name: str) -> pa.Table:
    """The example's input file as a pyarrow Table."""
    if name.startswith("digits"):
        return pq.read_table(ROOT / "sample-data" / "digits.parquet")
    return pa.Table.from_pandas(pd.read_csv(ROOT / "sample-data" / "wine.csv"), preserve_index=False)


def features(model, table: pa.Table) -> np.ndarray:
    """The model's features of `table`, in its order, as a C-ordered float64 array."""
    return np.column_stack(
        [table.column(c).to_numpy().astype(np.float64) for c in model.feature_names_in_]
    )


def columns(table: pa.Table, names) -> np.ndarray:
    return np.column_stack([table.column(c).to_numpy().astype(np.float64) for c in names])


def reduced(run) -> pa.Table:
    return pq.read_table(Path(run.output_dir) / "reduced.parquet")
