#!/usr/bin/env bash
# The Python package, as a user installs it: `pip install .` from this clone into a fresh
# venv (the dev profile, in the target/ the Rust tests built, so only the dimred crate
# compiles again), then its tests. Run from .ci/run, or by hand from the repository root.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/py-venv
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt
# maturin from the venv (no build isolation: no second download of it; the backend runs the
# `maturin` on PATH), the dev profile
PATH="$PWD/$venv/bin:$PATH" MATURIN_PEP517_ARGS="--profile dev" CARGO_TARGET_DIR="$PWD/target" \
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-build-isolation .
# the tests import the installed package: python/ is not on their path
"$venv/bin/python" -m pytest tests/python -q -p no:cacheprovider
