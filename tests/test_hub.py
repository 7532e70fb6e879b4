"""The shipped JupyterHub configuration, run for real on 127.0.0.1 with real accounts (hub/hubtest.py).

Needs root (it creates accounts; the hub switches to them), a Python with jupyterhub (and
jupyterhub-idle-culler), configurable-http-proxy and Debian's dataset-fashion-mnist. `make hubtest`
installs the first two into HUB_PREFIX (default /opt/course-hub); .ci/run does the same as root.
Where to find them: HUBTEST_PYTHON and HUBTEST_PROXY, else HUB_PREFIX's, else the ones on PATH.
Set COURSE_SKIP_HUBTEST=1 to skip it (it takes 3-5 minutes).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PREFIX = Path(os.environ.get("HUB_PREFIX", "/opt/course-hub"))
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def _hub_python() -> str | None:
    candidates = [os.environ.get("HUBTEST_PYTHON"), str(PREFIX / "bin" / "python")]
    hub = shutil.which("jupyterhub")
    if hub:
        candidates.append(str(Path(hub).parent / "python"))
    for python in filter(None, candidates):
        if Path(python).is_file() and subprocess.run(
            [python, "-c", "import jupyterhub, jupyterhub_idle_culler, requests, tornado"], capture_output=True,
            timeout=60,
        ).returncode == 0:
            return python
    return None


def _proxy() -> str | None:
    for proxy in (os.environ.get("HUBTEST_PROXY"), str(PREFIX / "node_modules" / ".bin" / "configurable-http-proxy"),
                  shutil.which("configurable-http-proxy")):
        if proxy and Path(proxy).exists():
            return proxy
    return None


def _why_not() -> str | None:
    if os.environ.get("COURSE_SKIP_HUBTEST", "") not in ("", "0"):
        return "COURSE_SKIP_HUBTEST is set"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the hub test needs root: it creates accounts and the hub switches to them (run `sudo make hubtest`)"
    if shutil.which("useradd") is None:
        return "useradd not found"
    if _hub_python() is None:
        return (f"jupyterhub and jupyterhub-idle-culler not installed in {PREFIX} (nor HUBTEST_PYTHON, nor on PATH): "
                "`make hubsetup` installs them")
    if _proxy() is None:
        return "configurable-http-proxy not found (npm install configurable-http-proxy; `make hubsetup` does it)"
    if not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").is_file():
        return "Debian's dataset-fashion-mnist is not installed (the test's shared data folder copies it)"
    return None


@pytest.mark.slow
def test_a_class_on_one_hub(tmp_path):
    why = _why_not()
    if why:
        pytest.skip(why)
    out = REPO / "tests" / "artifacts" / "hubtest.json"
    out.parent.mkdir(exist_ok=True)
    result = subprocess.run(
        [_hub_python(), str(REPO / "hub" / "hubtest.py"), "--course-venv", str(Path(sys.executable).parent.parent),
         "--proxy", _proxy(), "--json", str(out), "--timeout", "900"],
        capture_output=True, text=True, timeout=1500, cwd=REPO,
    )
    assert out.is_file(), result.stderr[-4000:]
    report = json.loads(out.read_text())
    assert result.returncode == 0 and not report["failures"], (
        f"failed: {report['failures']}\n{result.stderr[-4000:]}\n{report.get('hub_log_tail', '')}"
    )
    assert all(check["ok"] for check in report["checks"].values())
    assert len(report["learners"]) >= 3 and all(r["ok"] for r in report["learners"].values())
