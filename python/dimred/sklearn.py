"""scikit-learn estimators over dimred models.

``Transformer`` puts a fitted model (a model.json) into a scikit-learn pipeline;
``StreamingPCA`` fits a PCA by streaming files from disk, with no YAML to write.
Both transform in this process with the Rust library, as ``dimred.Model`` does.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from . import Model, run

__all__ = ["StreamingPCA", "Transformer"]


def _matrix(model: Model, X: Any) -> Any:
    """The model's output columns for ``X`` as a 2-D float64 array, passthrough left
    out (a downstream estimator takes numbers only)."""
    out = model.transform(X, passthrough=False)
    if isinstance(out, np.ndarray):
        return out
    if hasattr(out, "to_numpy") and not hasattr(out, "column_names"):
        return np.asarray(out.to_numpy(), dtype=np.float64)
    return np.column_stack([c.to_numpy() for c in out.columns]).astype(np.float64)


class _Fitted(TransformerMixin, BaseEstimator):
    """What both estimators do once ``fit`` has set ``model_``: the fitted model's maps.
    A scikit-learn transformer itself, so that ``set_output`` wraps ``transform`` here."""

    model_: Model

    def transform(self, X: Any) -> Any:
        """The model's output columns for the rows of ``X`` (array or data frame)."""
        check_is_fitted(self, "model_")
        return _matrix(self.model_, X)

    def inverse_transform(self, X: Any) -> Any:
        """Output columns → features, as a NumPy array."""
        check_is_fitted(self, "model_")
        return np.asarray(self.model_.inverse_transform(np.asarray(X, dtype=np.float64)))

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> Any:
        check_is_fitted(self, "model_")
        return self.model_.get_feature_names_out()


class Transformer(_Fitted):
    """A fitted dimred model as a scikit-learn transformer.

    ``fit`` loads the model and learns nothing (the model is fitted already), so the
    transformer drops into ``make_pipeline(Transformer("out/model.json"),
    LogisticRegression())``. ``transform`` returns the model's output columns as a
    NumPy array; ``set_output(transform="pandas")`` (or ``"polars"``) makes it a data
    frame with ``get_feature_names_out()`` as its columns.

    Parameters
    ----------
    model_path:
        The model.json a ``dimred run`` wrote.
    """

    def __init__(self, model_path: str | os.PathLike[str]) -> None:
        self.model_path = model_path

    def fit(self, X: Any = None, y: Any = None) -> "Transformer":
        """Loads the model; ``X`` and ``y`` are not used."""
        self.model_ = Model(self.model_path)
        self.feature_names_in_ = self.model_.feature_names_in_
        self.n_features_in_ = self.model_.n_features_in_
        return self


    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags


class StreamingPCA(_Fitted):
    """PCA fitted by streaming Parquet or CSV files, without loading them.

    ``fit()`` runs the pipeline ``input → scale (center) → pca`` over the files at
    ``path`` (a file, a folder or a glob) with dimred's out-of-core solvers; the model
    and reduced.parquet go to ``output_dir`` (a temporary folder when not given).
    After ``fit`` the attributes are scikit-learn's ``PCA`` ones: ``components_``,
    ``explained_variance_``, ``explained_variance_ratio_``, ``mean_``,
    ``n_components_``, ``feature_names_in_``; ``transform`` applies the model to an
    array or a data frame in memory.

    Parameters
    ----------
    path:
        The input files.
    n_components:
        An integer, a fraction in (0, 1) or ``"mle"``, as ``pca.n_components``.
    features:
        The feature columns: a list of names, or a regular expression as a string;
        every numeric column when not given.
    solver:
        ``pca.solver``: ``auto``, ``exact``, ``incremental``, ``randomized``, ``tsqr``.
    whiten:
        ``pca.whiten``.
    missing:
        ``input.missing``: ``error``, ``skip_row`` or ``impute_mean``.
    output_dir:
        Where the run writes; a temporary folder when ``None``.
    memory_limit:
        ``memory_limit`` (e.g. ``"2GiB"``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        n_components: int | float | str,
        *,
        features: Sequence[str] | str | None = None,
        solver: str = "auto",
        whiten: bool = False,
        missing: str = "error",
        output_dir: str | os.PathLike[str] | None = None,
        memory_limit: str | None = None,
    ) -> None:
        self.path = path
        self.n_components = n_components
        self.features = features
        self.solver = solver
        self.whiten = whiten
        self.missing = missing
        self.output_dir = output_dir
        self.memory_limit = memory_limit

    def _pipeline(self, output_dir: str) -> dict[str, Any]:
        source: dict[str, Any] = {"path": os.fspath(self.path), "missing": self.missing}
        if isinstance(self.features, str):
            source["features"] = {"regex": self.features}
        elif self.features is not None:
            source["features"] = {"include": list(self.features)}
        pca: dict[str, Any] = {"solver": self.solver, "n_components": self.n_components}
        if self.whiten:
            pca["whiten"] = True
        return {
            "name": "streaming-pca",
            "input": source,
            "steps": [{"scale": {"method": "center"}}, {"pca": pca}],
            "output": {"dir": output_dir},
        }

    def fit(self, X: Any = None, y: Any = None) -> "StreamingPCA":
        """Fits on the files at ``path``; ``X`` and ``y`` are not used."""
        if self.output_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="dimred-")
            out = self._tmp.name
        else:
            out = os.fspath(self.output_dir)
        result = run(self._pipeline(out), memory_limit=self.memory_limit)
        self.report_ = result.report
        self.model_ = result.model
        import json

        doc = json.loads(Path(self.model_.path).read_text())
        self.components_ = np.asarray(doc["components_"], dtype=np.float64)
        self.explained_variance_ = np.asarray(doc["explained_variance_"], dtype=np.float64)
        self.explained_variance_ratio_ = np.asarray(
            doc["explained_variance_ratio_"], dtype=np.float64
        )
        self.mean_ = np.asarray(doc["mean_"], dtype=np.float64)
        self.n_components_ = int(self.components_.shape[0])
        self.n_samples_seen_ = int(doc["n_samples_seen_"])
        self.feature_names_in_ = self.model_.feature_names_in_
        self.n_features_in_ = self.model_.n_features_in_
        return self

