"""A class on one hub: a shared, read-only data folder and per-learner experiment caches.

The learner is played by a child process whose root has lost CAP_DAC_OVERRIDE
(``setpriv``, as in test_reliability_data_faults.py), so a 0o555 folder is
read-only to it as to a learner's account. The real hub test (tests/test_hub.py)
checks the same with real accounts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from _mirror import LoopbackMirror, dataset_routes, dead_url
from test_data_download import DEBIAN_FASHION, LABELS, SHARED_MNIST, isolated, needs_fashion, needs_mnist  # noqa: F401

from course_utils import experiments

REPO = Path(__file__).resolve().parent.parent
needs_setpriv = pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) not installed")
LEARNER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]

_LEARNER_RUN = textwrap.dedent(
    """
    import json, sys, warnings
    from course_utils import data
    what, name, arg = sys.argv[1:4]
    out = {"warnings": []}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            for _ in range(2):  # twice: the damaged shared file is reported once
                if what == "load":
                    ds = data.load_dataset(name, sources=("data_dir", "download"), progress=False)
                    out["source"], out["n_test"] = ds.source, len(ds.y_test)
                else:
                    out["report"] = data.download(name, files=[arg], progress=False)[name][arg]
        except Exception as err:
            out["error"] = f"{type(err).__name__}: {err}"
    out["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
    print(json.dumps(out))
    """
)


def _as_learner(tmp_path: Path, shared: Path, mirror: str, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_DATA")}
    env.update(COURSE_DATA_DIR=str(shared), COURSE_DATA_MIRRORS=mirror, XDG_CACHE_HOME=str(tmp_path / "own"),
               KERAS_HOME=str(tmp_path / "keras-home"))
    result = subprocess.run([*LEARNER, sys.executable, "-c", _LEARNER_RUN, *args], capture_output=True, text=True,
                            env=env, cwd=REPO, timeout=300)
    if result.returncode != 0 and "Operation not permitted" in result.stderr:
        pytest.skip(f"setpriv cannot drop capabilities here: {result.stderr[-300:]}")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _read_only_shared(tmp_path: Path, name: str, source: Path, files: list[str], damaged: str) -> tuple[Path, dict]:
    shared = tmp_path / "shared"
    (shared / name).mkdir(parents=True)
    for f in files:
        shutil.copy(source / f, shared / name / f)
    good = (source / damaged).read_bytes()
    (shared / name / damaged).write_bytes(good[:-100] + bytes(100))  # a disk error: right size, wrong tail
    for path in (shared / name, shared):
        path.chmod(0o555)
    return shared, {p.name: p.read_bytes() for p in (shared / name).iterdir()}


def _writable_again(shared: Path) -> None:
    for path in (shared, *shared.iterdir()):
        path.chmod(0o755)


def _damaged_messages(out: dict) -> list[str]:
    return [w for w in out["warnings"] if "is damaged" in w]


@needs_setpriv
@needs_mnist
def test_damaged_file_in_a_read_only_shared_folder_is_reported_once_and_fetched_into_the_own_cache(tmp_path):
    shared, before = _read_only_shared(tmp_path, "mnist", SHARED_MNIST, [LABELS], LABELS)
    try:
        with LoopbackMirror(dataset_routes("/", SHARED_MNIST, [LABELS])) as mirror:
            first = _as_learner(tmp_path, shared, mirror.url(), "download", "mnist", LABELS)
            second = _as_learner(tmp_path, shared, mirror.url(), "download", "mnist", LABELS)  # a later session
            served = mirror.served(200)
    finally:
        _writable_again(shared)
    assert "error" not in first, first
    (message,) = _damaged_messages(first)  # said once, though the file was met twice
    assert str(shared / "mnist" / LABELS) in message and f"--data-dir {shared}" in message, message
    own = tmp_path / "own" / "course_utils" / "data" / "mnist" / LABELS
    assert first["report"].endswith(str(own)), first  # the second call of the session finds it there
    assert own.read_bytes() == (SHARED_MNIST / LABELS).read_bytes()
    # The shared folder is exactly as it was: nothing set aside, deleted or rewritten.
    assert {p.name: p.read_bytes() for p in (shared / "mnist").iterdir()} == before
    # The next session reports the damage again, once, and finds the own cache: no second download.
    assert "error" not in second and len(_damaged_messages(second)) == 1, second
    assert served == [f"/{LABELS}"]


@needs_setpriv
@needs_fashion
def test_a_learner_loads_fashion_mnist_although_a_shared_file_is_damaged(tmp_path):
    names = sorted(p.name for p in DEBIAN_FASHION.glob("*.gz"))
    shared, before = _read_only_shared(tmp_path, "fashion_mnist", DEBIAN_FASHION, names, LABELS)
    try:
        with LoopbackMirror(dataset_routes("/", DEBIAN_FASHION, [LABELS])) as mirror:
            out = _as_learner(tmp_path, shared, mirror.url(), "load", "fashion_mnist", "-")
            assert mirror.served(200) == [f"/{LABELS}"]  # only the damaged file is fetched
    finally:
        _writable_again(shared)
    assert "error" not in out and out["n_test"] == 10_000, out
    assert len(_damaged_messages(out)) == 1, out["warnings"]
    assert "your own cache" in out["source"], out["source"]
    assert {p.name: p.read_bytes() for p in (shared / "fashion_mnist").iterdir()} == before


@needs_setpriv
@needs_mnist
def test_offline_with_a_damaged_shared_file_stops_with_the_operators_fix(tmp_path):
    shared, before = _read_only_shared(tmp_path, "fashion_mnist", SHARED_MNIST, [LABELS], LABELS)
    try:
        out = _as_learner(tmp_path, shared, dead_url(), "load", "fashion_mnist", "-")
    finally:
        _writable_again(shared)
    assert out.get("error", "").startswith("DataUnavailableError"), out
    assert f"python -m course_utils.data download fashion_mnist --data-dir {shared}" in out["error"], out["error"]
    assert {p.name: p.read_bytes() for p in (shared / "fashion_mnist").iterdir()} == before


# ------------------------------------------------------------- experiment cache


def _square(x, seed):
    return {"y": x * x + seed}


@pytest.fixture
def no_warned_state(monkeypatch):
    monkeypatch.setattr(experiments, "_warned_uncached", False)


def test_sweep_caches_in_the_own_cache_when_the_course_cache_is_read_only(tmp_path, monkeypatch, no_warned_state):
    blocker = tmp_path / "a-file"
    blocker.write_text("where the course's cache folder should be")  # unwritable, even for root
    monkeypatch.setenv("COURSE_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "own"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback to the learner's own cache is silent
        experiments.sweep(_square, {"x": [1, 2]})
        again = experiments.sweep(_square, {"x": [1, 2]})
    assert again["cached"].all()
    assert len(list((tmp_path / "own" / "course_utils" / "experiments").glob("*.json"))) == 2


def test_sweep_runs_uncached_with_one_warning_when_no_cache_folder_is_writable(tmp_path, monkeypatch,
                                                                               no_warned_state):
    blocker = tmp_path / "a-file"
    blocker.write_text("no folder can be made under a file")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "own"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = experiments.sweep(_square, {"x": [1, 2]}, seeds=[0, 1])
        second = experiments.sweep(_square, {"x": [3]})
    assert list(first["y"]) == [1, 2, 4, 5] and list(second["y"]) == [9]
    assert not first["cached"].any() and not second["cached"].any()
    messages = [str(w.message) for w in caught if "not cached" in str(w.message)]
    assert len(messages) == 1 and "COURSE_CACHE_DIR" in messages[0], [str(w.message) for w in caught]
