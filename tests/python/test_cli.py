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


def test_ctrl_c_ends_the_command_as_the_binary(dimred_command, tmp_path):
    import signal
    import time

    out = tmp_path / "out"
    child = subprocess.Popen(
        [dimred_command, "run", "pipelines/digits_autoencoder.yaml", "--quiet",
         "--set", f"output.dir={out}", "--set", "steps.1.autoencoder.epochs=100000",
         "--set", "steps.1.autoencoder.early_stopping.patience=100000"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (out / "checkpoint.json").exists():
        time.sleep(0.2)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 130
    assert stderr == "error: interrupted (SIGINT); this run's temporary files were removed\n"
    assert not list(out.glob(".*tmp-*")) and not (out / "model.json").exists()
