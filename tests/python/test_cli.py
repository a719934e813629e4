"""The `dimred` command the package installs is the Rust program: its version, a run,
its exit codes."""

from __future__ import annotations

import re
import subprocess

from conftest import ROOT


def test_version(dimred_command):
    out = subprocess.run([dimred_command, "--version"], capture_output=True, text=True, check=True)
    version = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M).group(1)
    assert out.stdout.strip() == f"dimred {version}"


def test_a_run(dimred_command, tmp_path):
    out = subprocess.run(
        [dimred_command, "run", "pipelines/digits_pca.yaml", "--set", f"output.dir={tmp_path}", "--quiet"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert "pc1" in out.stdout
    for name in ("reduced.parquet", "model.json", "report.json", "_SUCCESS"):
        assert (tmp_path / name).exists()


def test_exit_codes_and_one_line(dimred_command, tmp_path):
    out = subprocess.run([dimred_command, "runn"], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1
    out = subprocess.run(
        [dimred_command, "transform", "--model", str(tmp_path / "m.json"), "--input",
         "sample-data/wine.csv", "--output", str(tmp_path / "o.parquet")],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert out.returncode == 4
    assert "m.json" in out.stderr


def test_python_dash_m(tmp_path):
    import sys

    out = subprocess.run([sys.executable, "-m", "dimred", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("dimred ")
