"""The exceptions dimred raises: one class per exit code of the ``dimred`` command."""

from __future__ import annotations


class DimredError(Exception):
    """An error of dimred, as the command line reports it.

    ``message`` is the one line the CLI prints after ``error:`` and ``exit_code`` the
    code it exits with (README, "Progress, errors and exit codes").
    """

    exit_code: int = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class PipelineError(DimredError):
    """The pipeline, an override, an option or a model file is wrong (exit code 2)."""

    exit_code = 2


class DataError(DimredError):
    """The data cannot be used as asked: a missing column, a non-numeric or missing
    value, an array of the wrong width (exit code 3)."""

    exit_code = 3


class FileError(DimredError):
    """Reading or writing a file failed: a missing model or input, an unwritable
    folder (exit code 4)."""

    exit_code = 4


class NumericError(DimredError):
    """A numerical routine failed: a variance that overflows, an eigensolver that does
    not converge, a loss that became NaN (exit code 5)."""

    exit_code = 5


class InternalError(DimredError):
    """A bug in dimred, to be reported (exit code 70)."""

    exit_code = 70


class Interrupted(DimredError, KeyboardInterrupt):
    """Ctrl-C stopped the work; its temporary files were removed (exit code 130)."""

    exit_code = 130


_BY_CODE = {
    2: PipelineError,
    3: DataError,
    4: FileError,
    5: NumericError,
    70: InternalError,
    130: Interrupted,
}


def from_code(exit_code: int, message: str) -> DimredError:
    """The exception for a CLI exit code (the Rust module raises through this)."""
    return _BY_CODE.get(exit_code, DimredError)(message, exit_code)
