"""A fresh machine without the data: `make test` and `make lab` stop at once with one message that says
what is missing and the exact command that gets it, and pass once that command has run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _mirror import LoopbackMirror, dataset_routes, dead_url

from course_utils.data import _specs

REPO = Path(__file__).resolve().parent.parent
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = [f.filename for f in _specs.DATASETS["fashion_mnist"].files]
# What a fresh clone has: no course cache, no Keras cache, no Debian package (the system folder is left out).
HIDDEN = "data_dir,keras,download"


def _check(tmp_path: Path, *args: str, mirror: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_DATA")}
    env.update(COURSE_DATA_DIR=str(tmp_path / "cache"), KERAS_HOME=str(tmp_path / "keras"), COURSE_DATA_MIRRORS=mirror)
    return subprocess.run([sys.executable, "-m", "course_utils.data", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120)


def test_missing_data_stops_at_once_with_one_message(tmp_path):
    start = time.perf_counter()
    result = _check(tmp_path, "check", "fashion_mnist", "--sources", HIDDEN, mirror=dead_url())
    seconds = time.perf_counter() - start
    assert result.returncode == 1
    message = result.stderr
    assert seconds < 60, f"the check took {seconds:.0f} s"
    assert message.count("The course needs") == 1 and "Fashion-MNIST" in message
    assert "sudo apt-get install dataset-fashion-mnist" in message
    assert "python -m course_utils.data download fashion_mnist" in message
    assert str(tmp_path / "cache" / "fashion_mnist") in message
    assert "Traceback" not in message
    allowed = _check(tmp_path, "check", "fashion_mnist", "--sources", HIDDEN, "--allow-missing", mirror=dead_url())
    assert allowed.returncode == 0 and "The course needs" in allowed.stderr


@pytest.mark.skipif(not (DEBIAN_FASHION / FASHION_FILES[0]).is_file(),
                    reason=f"full Fashion-MNIST not installed in {DEBIAN_FASHION}: `apt-get install dataset-fashion-mnist`")
def test_the_printed_command_makes_the_check_pass(tmp_path):
    with LoopbackMirror(dataset_routes("/fashion_mnist/", DEBIAN_FASHION, FASHION_FILES)) as mirror:
        url = mirror.url("/{name}/")
        assert _check(tmp_path, "check", "fashion_mnist", "--sources", HIDDEN, mirror=dead_url()).returncode == 1
        got = _check(tmp_path, "download", "fashion_mnist", "--quiet", mirror=url)  # the printed command
        assert got.returncode == 0, got.stdout + got.stderr
    again = _check(tmp_path, "check", "fashion_mnist", "--sources", HIDDEN, mirror=dead_url())
    assert again.returncode == 0, again.stderr
    assert "data: fashion_mnist:" in again.stdout


def test_make_checks_the_data_before_any_test_or_lab():
    for target in ("test", "notebooks", "lab"):
        plan = subprocess.run(["make", "-n", target], capture_output=True, text=True, cwd=REPO, timeout=60).stdout
        lines = plan.splitlines()
        check = next(i for i, line in enumerate(lines) if "course_utils.data check" in line)
        run = next(i for i, line in enumerate(lines) if "pytest" in line or "jupyter lab" in line)
        assert check < run, target
