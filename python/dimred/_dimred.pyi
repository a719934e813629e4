"""Type stubs of the Rust module (src/python/): what the Python package calls."""

from typing import Any, Optional

__version__: str

def main(argv: list[str]) -> int:
    """Runs the ``dimred`` command line (``argv[0]`` the program); returns its exit code."""

def run(
    pipeline: str,
    from_path: bool,
    overrides: list[str],
    memory_limit: Optional[str],
    progress: bool,
) -> tuple[str, str]:
    """``dimred run``: report.json's text and the terminal table."""

class Result2d:
    """A float64 result NumPy wraps without a copy (``numpy.asarray``)."""

    @property
    def __array_interface__(self) -> dict[str, Any]: ...

class Batches:
    """Result batches, read once through the Arrow PyCapsule interface."""

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any: ...

class NativeModel:
    """A loaded model.json."""

    def __init__(self, path: str) -> None: ...
    @property
    def feature_names_in(self) -> list[str]: ...
    @property
    def output_names(self) -> list[str]: ...
    @property
    def projection_names(self) -> list[str]: ...
    @property
    def passthrough(self) -> list[str]: ...
    @property
    def n_samples_seen(self) -> int: ...
    def apply_array(self, array: Any, direction_name: str) -> Result2d:
        """``direction_name``: ``forward``, ``inverse`` or ``error``."""
    def apply_arrow(self, data: Any, direction_name: str, name: str) -> Batches: ...
