"""dimred from Python: run pipelines and apply fitted models in this process.

The numbers come from the same Rust library as the ``dimred`` command (installed with
this package): ``Model.transform`` equals ``dimred transform`` on the same rows, and
``run`` is ``dimred run``. See docs/python.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

from . import _dimred
from ._errors import (
    DataError,
    DimredError,
    FileError,
    InternalError,
    Interrupted,
    NumericError,
    PipelineError,
)

__version__: str = _dimred.__version__

__all__ = [
    "DataError",
    "DimredError",
    "FileError",
    "InternalError",
    "Interrupted",
    "Model",
    "NumericError",
    "PipelineError",
    "RunResult",
    "load",
    "run",
]

PathLike = Union[str, "os.PathLike[str]"]


def _kind(data: Any) -> str:
    """Which kind of table ``data`` is, by its class's module (no import of pandas,
    polars or pyarrow is needed to ask)."""
    module = type(data).__module__.split(".")[0]
    name = type(data).__name__
    if module == "numpy":
        return "numpy"
    if module == "pandas" and name == "DataFrame":
        return "pandas"
    if module == "polars" and name == "DataFrame":
        return "polars"
    if module == "pyarrow" and name in ("Table", "RecordBatch"):
        return "pyarrow-" + name
    if hasattr(data, "__arrow_c_stream__"):
        return "arrow"
    if hasattr(data, "__array_interface__") or isinstance(data, (list, tuple)):
        return "numpy"
    raise TypeError(
        f"expected a NumPy array, a pandas or polars DataFrame or a pyarrow Table, got {type(data).__name__}"
    )


def _as_float_array(data: Any) -> Any:
    import numpy as np

    array = np.asarray(data)
    if array.dtype.kind in "iub" or array.dtype == np.float16:
        array = array.astype(np.float64)
    elif array.dtype.kind != "f" or array.dtype.itemsize > 8:
        raise DataError(f"the array is of dtype {array.dtype}, not numeric", 3)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return array


class Model:
    """A fitted model (a model.json written by ``dimred run``), applied in this process.

    Columns are the model's: ``feature_names_in_`` in, ``get_feature_names_out()`` out.
    A NumPy array's columns are the features in the model's order; a data frame's are
    found by name, and the model's passthrough columns that it has are kept, first, as
    in reduced.parquet. Results are float64 and of the input's kind.
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self._native = _dimred.NativeModel(os.fspath(path))

    def __repr__(self) -> str:
        return f"dimred.Model({str(self.path)!r})"

    @property
    def feature_names_in_(self) -> Any:
        """The features the model was fitted on, in its order (a NumPy array of str)."""
        import numpy as np

        return np.asarray(self._native.feature_names_in, dtype=object)

    @property
    def n_features_in_(self) -> int:
        return len(self._native.feature_names_in)

    @property
    def passthrough(self) -> list[str]:
        """The columns reduced.parquet copies from the input, in order."""
        return list(self._native.passthrough)

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> Any:
        """The output columns (pc1…, z1…, rp1…, and a classifier's prediction)."""
        import numpy as np

        return np.asarray(self._native.output_names, dtype=object)

    def transform(self, X: Any, *, passthrough: bool = True) -> Any:
        """Features → the model's output columns, as ``dimred transform`` writes them.

        ``passthrough=False`` leaves the model's passthrough columns out of a data
        frame's result.
        """
        return self._apply(X, "forward", passthrough)

    def inverse_transform(self, Z: Any, *, passthrough: bool = True) -> Any:
        """Reduced columns → features (``dimred transform --inverse``)."""
        return self._apply(Z, "inverse", passthrough)

    def reconstruction_error(self, X: Any) -> Any:
        """Each row's squared reconstruction error in the scaled space (the
        ``reconstruction_error`` column of ``dimred transform --reconstruction-error``),
        as a 1-D NumPy array."""
        kind = _kind(X)
        if kind == "numpy":
            return self._apply(X, "error", False)
        stream = _arrow_input(X, kind)
        out = self._native.apply_arrow(stream, "error", _describe(kind))
        return _arrow_table(out).column("reconstruction_error").to_numpy()

    def _apply(self, data: Any, direction: str, passthrough: bool) -> Any:
        import numpy as np

        kind = _kind(data)
        if kind == "numpy":
            array = _as_float_array(data)
            return np.asarray(self._native.apply_array(array, direction))
        stream = _arrow_input(data, kind)
        out = self._native.apply_arrow(stream, direction, _describe(kind))
        if not passthrough:
            out = _drop_columns(out, self._native.passthrough)
        if kind == "polars":
            import polars as pl

            return pl.DataFrame(_arrow_table(out))
        table = _arrow_table(out)
        if kind == "pandas":
            frame = table.to_pandas()
            if len(frame) == len(data):
                frame.index = data.index
            return frame
        if kind == "pyarrow-RecordBatch":
            import pyarrow as pa

            batches = table.combine_chunks().to_batches()
            return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=table.schema)
        return table


def _arrow_input(data: Any, kind: str) -> Any:
    """``data`` as an object with ``__arrow_c_stream__`` (a pandas frame through
    pyarrow, without its index)."""
    if kind == "pandas":
        import pyarrow as pa

        return pa.Table.from_pandas(data, preserve_index=False)
    return data


def _describe(kind: str) -> str:
    return {
        "pandas": "the pandas DataFrame",
        "polars": "the polars DataFrame",
        "pyarrow-Table": "the pyarrow Table",
        "pyarrow-RecordBatch": "the pyarrow RecordBatch",
    }.get(kind, "the Arrow data")


def _arrow_table(stream: Any) -> Any:
    import pyarrow as pa

    return pa.RecordBatchReader.from_stream(stream).read_all()


def _drop_columns(stream: Any, names: Sequence[str]) -> Any:
    table = _arrow_table(stream)
    keep = [c for c in table.column_names if c not in set(names)]
    return table.select(keep)


def load(path: PathLike) -> Model:
    """Loads a model.json (``dimred run``'s output) for ``transform`` and friends."""
    return Model(path)


class RunResult:
    """What ``run`` made: ``report`` (report.json as a dict), ``table`` (the terminal
    table), ``outputs`` (the files written) and the fitted ``model``."""

    def __init__(self, report: dict[str, Any], table: str) -> None:
        self.report = report
        self.table = table
        self.outputs = [Path(p) for p in report.get("outputs", [])]
        self._model: Model | None = None

    @property
    def output_dir(self) -> Path:
        model = [p for p in self.outputs if p.name == "model.json"]
        return model[0].parent if model else self.outputs[0].parent

    @property
    def model(self) -> Model:
        """The fitted model (model.json in the output folder), loaded on first use."""
        if self._model is None:
            self._model = Model(self.output_dir / "model.json")
        return self._model

    def __repr__(self) -> str:
        return f"dimred.RunResult(outputs={[str(p) for p in self.outputs]})"


def _override(key: str, value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return f"{key}={text}"


def run(
    pipeline: PathLike | Mapping[str, Any],
    *,
    set: Mapping[str, Any] | Sequence[str] | None = None,
    memory_limit: str | None = None,
    progress: bool = False,
) -> RunResult:
    """``dimred run`` in this process.

    ``pipeline`` is a pipeline file's path or the pipeline itself as a dict (the YAML's
    keys). ``set`` holds ``--set`` overrides, as ``{"steps.1.pca.n_components": 5}`` or
    ``["steps.1.pca.n_components=5"]``; ``memory_limit`` is ``--memory-limit``;
    ``progress=True`` shows the progress bars on stderr. The work runs with the GIL
    released; Ctrl-C stops it as it stops the CLI (``Interrupted``). Errors are
    ``DimredError`` subclasses carrying the CLI's message and exit code.
    """
    if isinstance(pipeline, Mapping):
        text, from_path = json.dumps(pipeline), False
    else:
        text, from_path = os.fspath(pipeline), True
    if set is None:
        overrides: list[str] = []
    elif isinstance(set, Mapping):
        overrides = [_override(k, v) for k, v in set.items()]
    else:
        overrides = list(set)
    report, table = _dimred.run(text, from_path, overrides, memory_limit, progress)
    return RunResult(json.loads(report), table)
