"""dimred.run: a path or a dict, overrides, errors with the CLI's exit codes, and Ctrl-C
stopping a run as it stops the CLI."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

import dimred
from conftest import ROOT

WINE = {
    "name": "wine-dict",
    "input": {"path": "sample-data/wine.csv", "features": {"exclude": ["target"]}, "passthrough": ["target"]},
    "steps": [{"scale": {"method": "standard"}}, {"pca": {"n_components": 3}}],
    "output": {"dir": "out/unused"},
}


def test_a_dict_pipeline_with_overrides(tmp_path):
    result = dimred.run(WINE, set={"output.dir": str(tmp_path), "steps.1.pca.n_components": 2})
    assert result.output_dir == tmp_path
    assert list(result.model.get_feature_names_out()) == ["pc1", "pc2"]
    assert (tmp_path / "reduced.parquet").exists()
    assert result.report["n_components"] == 2


def test_memory_limit_is_the_cli_option(tmp_path):
    with pytest.raises(dimred.PipelineError) as e:
        dimred.run(WINE, set=[f"output.dir={tmp_path}"], memory_limit="lots")
    assert e.value.exit_code == 2
    assert "memory_limit" in e.value.message


def test_a_bad_key_is_a_pipeline_error(tmp_path):
    bad = dict(WINE, output={"dir": str(tmp_path)}, stepz=[])
    with pytest.raises(dimred.PipelineError) as e:
        dimred.run(bad)
    assert e.value.exit_code == 2
    assert "stepz" in e.value.message


def test_a_missing_pipeline_file(tmp_path):
    with pytest.raises(dimred.DimredError) as e:
        dimred.run(tmp_path / "nope.yaml")
    assert e.value.exit_code in (2, 4)
    assert "nope.yaml" in e.value.message


def test_nan_in_the_input_is_a_data_error(tmp_path):
    csv = tmp_path / "in.csv"
    csv.write_text("a,b\n1,2\n3,\n5,7\n")
    pipeline = {
        "name": "nan",
        "input": {"path": str(csv)},
        "steps": [{"pca": {"n_components": 1}}],
        "output": {"dir": str(tmp_path / "out")},
    }
    with pytest.raises(dimred.DataError) as e:
        dimred.run(pipeline)
    assert e.value.exit_code == 3
    assert "row 2" in e.value.message and "column 'b'" in e.value.message


SLOW = """
import sys, dimred
try:
    dimred.run(sys.argv[1], set=["output.dir=" + sys.argv[2], "steps.1.autoencoder.epochs=100000",
                                 "steps.1.autoencoder.early_stopping.patience=100000"])
except dimred.Interrupted as e:
    print("interrupted", e.exit_code, e.message, flush=True)
    sys.exit(e.exit_code)
"""


def test_ctrl_c_stops_a_run_and_removes_its_temporary_files(tmp_path):
    out = tmp_path / "out"
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW, str(ROOT / "pipelines" / "digits_autoencoder.yaml"), str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # wait until the training has written its first checkpoint, then Ctrl-C
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (out / "checkpoint.json").exists():
        time.sleep(0.2)
    assert (out / "checkpoint.json").exists(), "the run never started training"
    time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=120)
    assert child.returncode == 130, stderr
    assert stdout.startswith("interrupted 130 interrupted (SIGINT)")
    assert not list(out.glob(".*tmp-*")), "temporary files left behind"
    assert not (out / "model.json").exists()


def test_the_gil_is_released_while_running(tmp_path):
    import threading

    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(1)
            time.sleep(0.01)

    t = threading.Thread(target=tick)
    t.start()
    try:
        started = time.monotonic()
        dimred.run(
            ROOT / "pipelines" / "digits_autoencoder.yaml",
            set={"output.dir": str(tmp_path), "steps.1.autoencoder.epochs": 5},
        )
        seconds = time.monotonic() - started
    finally:
        done.set()
        t.join()
    # the other thread ticked all along the run (every 10 ms), not only before and after it
    assert seconds > 0.3
    assert len(ticks) >= seconds / 0.01 / 4
