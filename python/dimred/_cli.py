"""The ``dimred`` console script: the Rust command line, run in this process."""

from __future__ import annotations

import sys


def main() -> None:
    """Runs ``dimred`` with this process's arguments and exits with its code."""
    from . import _dimred

    sys.exit(_dimred.main(sys.argv))


if __name__ == "__main__":
    main()
