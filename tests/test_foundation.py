"""The foundation: a light package import, profiles, seeds, threads, notebook hygiene."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils import config

REPO = Path(__file__).resolve().parent.parent


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, cwd=REPO)


def test_import_loads_no_framework():
    modules = ["course_utils"] + [
        f"course_utils.{p.stem}" for p in (REPO / "course_utils").glob("*.py") if not p.stem.startswith("__")
    ] + [f"course_utils.{p.name}" for p in (REPO / "course_utils").iterdir() if (p / "__init__.py").exists()]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "heavy = [m for m in ('tensorflow', 'torch', 'keras') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print('ok')"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_profile_default_and_quick(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    assert config.profile() == "full"
    monkeypatch.setenv("COURSE_PROFILE", "Quick")
    assert config.profile() == "quick"
    assert config.pick(quick=1, full=2) == 1


def test_unknown_profile_names_valid_ones(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    with pytest.raises(ValueError, match=r"'quick', 'full'"):
        config.profile()


def test_threads_respect_env_and_affinity(monkeypatch):
    monkeypatch.setenv("COURSE_THREADS", "1")
    assert config.n_threads() == 1
    monkeypatch.setenv("COURSE_THREADS", "zero")
    with pytest.raises(ValueError, match="COURSE_THREADS"):
        config.n_threads()
    monkeypatch.delenv("COURSE_THREADS")
    assert 1 <= config.n_threads() <= len(os.sched_getaffinity(0))


def test_threads_follow_taskset_in_both_frameworks():
    """Pinned to one core (as on Binder), TensorFlow and PyTorch both use one intra-op thread."""
    code = (
        "import os\n"
        "os.sched_setaffinity(0, {0})\n"
        "from course_utils import frameworks\n"
        "t = frameworks.torch(); k = frameworks.keras()\n"
        "import tensorflow as tf\n"
        "print(t.get_num_threads(), tf.config.threading.get_intra_op_parallelism_threads())"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_THREADS", "OMP_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["1", "1"]


def test_set_seed_repeats_numpy_and_frameworks():
    code = (
        "import numpy as np\n"
        "from course_utils import frameworks, set_seed\n"
        "torch = frameworks.torch(); keras = frameworks.keras()\n"
        "draws = []\n"
        "for _ in range(2):\n"
        "    set_seed(7)\n"
        "    draws.append((np.random.rand(), float(torch.rand(1)), float(keras.random.uniform(()))))\n"
        "assert draws[0] == draws[1], draws\n"
        "print('ok')"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr[-2000:]


def test_set_seed_rejects_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        config.set_seed(-1)
    with pytest.raises(TypeError, match="seed"):
        config.set_seed("zero")


def test_notebooks_are_committed_without_outputs():
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert notebooks, "the course has no notebooks"
    dirty = []
    for path in notebooks:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count")):
                dirty.append(path.name)
                break
    assert not dirty, f"strip outputs from {dirty} (jupyter nbconvert --clear-output --inplace)"


def test_notebooks_are_numbered_and_use_the_portable_kernel():
    names = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    for name in names:
        assert name[:2].isdigit() and name[2] == "_", name
        meta = json.loads((REPO / "notebooks" / name).read_text())["metadata"]
        assert meta["kernelspec"]["name"] == "python3", name
