"""Fixtures of the Python package's tests: the repository root (pipelines name
sample-data/ relative to it), the installed `dimred` command, and each example pipeline
run once into a temporary folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The example pipelines the Python API is checked on, with overrides that keep the
# autoencoder's training short (its numbers are checked against its own run's output).
EXAMPLES = {
    "digits_pca": [],
    "digits_random_projection": [],
    "wine_kernel_pca": [],
    "wine_lda": [],
    "digits_autoencoder": ["steps.1.autoencoder.epochs=3"],
}


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="session")
def dimred_command() -> str:
    """The `dimred` console script installed beside this Python."""
    script = Path(sys.executable).parent / "dimred"
    assert script.exists(), f"{script} is not installed"
    return str(script)


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """Each example pipeline run once (dimred.run), by name."""
    import dimred

    cache = {}

    def get(name: str):
        if name not in cache:
            out = tmp_path_factory.mktemp(name)
            cwd = os.getcwd()
            os.chdir(ROOT)
            try:
                cache[name] = dimred.run(
                    ROOT / "pipelines" / f"{name}.yaml",
                    set=[f"output.dir={out}"] + EXAMPLES[name],
                )
            finally:
                os.chdir(cwd)
        return cache[name]

    return get

