"""Data faults that tests/test_data_download.py does not cover yet (issue 10).

Covered there: 404 then a good mirror, corrupted bytes (wrong sha256) rejected,
connection cut half-way, offline switch, bad cached file set aside and
refetched, unwritable cache folder. Added here:

* a failed download never touches the *good* files already cached;
* offline (no mirror answers) with a corrupted cached file: the file is set
  aside (not deleted) and the error says what to do;
* a read-only cache folder really exercised: the test in test_data_download.py
  skips under root (root ignores permission bits), so here the scenario runs in
  a child process whose root has lost CAP_DAC_OVERRIDE (``setpriv``), where
  permission bits apply as for a learner.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _mirror import LoopbackMirror, Route, dataset_routes, dead_url
from test_data_download import LABELS, SHARED_MNIST, isolated, needs_mnist  # noqa: F401 - isolated is autouse

from course_utils import data

REPO = Path(__file__).resolve().parent.parent
IMAGES = "t10k-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
# What a message must offer so a learner can act: a command, a folder to copy into, or a retry hint.
SAYS_WHAT_TO_DO = r"python -m course_utils\.data download|copy|try again|retry|internet|COURSE_DATA_MIRRORS"


def _seed_cache(folder: Path, *names: str) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(SHARED_MNIST / name, folder / name)
    return {name: (folder / name).read_bytes() for name in names}


@needs_mnist
def test_failed_download_keeps_the_good_cached_files(tmp_path):
    folder = tmp_path / "mnist"
    before = _seed_cache(folder, TRAIN_LABELS)
    size = (SHARED_MNIST / IMAGES).stat().st_size
    routes = {
        f"/m/{IMAGES}": Route(body=SHARED_MNIST / IMAGES, cut_after=size // 2),
        **dataset_routes("/m/", SHARED_MNIST, [TRAIN_LABELS]),
    }
    with LoopbackMirror(routes) as mirror:
        with pytest.raises(data.DownloadError, match="broke off"):
            data.download("mnist", data_dir=tmp_path, files=[TRAIN_LABELS, IMAGES], mirrors=[mirror.url("/m/")],
                          progress=False)
        assert (f"/m/{TRAIN_LABELS}", 200) not in mirror.requests  # the verified file was not fetched again
    assert sorted(p.name for p in folder.iterdir()) == [TRAIN_LABELS]  # no partial file left behind
    assert (folder / TRAIN_LABELS).read_bytes() == before[TRAIN_LABELS]


def _offline_with_corrupted_cache(tmp_path: Path) -> tuple[Exception, Path, bytes, dict[str, bytes]]:
    folder = tmp_path / "mnist"
    good = _seed_cache(folder, TRAIN_LABELS)
    bad = (SHARED_MNIST / LABELS).read_bytes()[:-100] + bytes(100)  # right size, wrong tail
    (folder / LABELS).write_bytes(bad)
    with pytest.warns(data.DataCacheWarning, match="not deleted"):
        with pytest.raises(data.DownloadError) as info:
            data.download("mnist", data_dir=tmp_path, files=[LABELS, TRAIN_LABELS], mirrors=[dead_url()],
                          progress=False)
    return info.value, folder, bad, good


@needs_mnist
def test_offline_with_a_corrupted_cache_file_sets_it_aside_and_keeps_the_good_ones(tmp_path):
    _, folder, bad, good = _offline_with_corrupted_cache(tmp_path)
    (aside,) = folder.glob(f"{LABELS}.corrupt-*")
    assert aside.read_bytes() == bad  # kept for inspection, not deleted
    assert (folder / TRAIN_LABELS).read_bytes() == good[TRAIN_LABELS]
    assert not (folder / LABELS).exists()


@needs_mnist
def test_offline_download_error_says_what_to_do(tmp_path):
    err, _, _, _ = _offline_with_corrupted_cache(tmp_path)
    assert re.search(SAYS_WHAT_TO_DO, str(err)), f"the message gives no next step: {err}"


def test_offline_load_dataset_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_OFFLINE", "1")
    with pytest.raises(data.DataUnavailableError, match=SAYS_WHAT_TO_DO):
        data.load_dataset("fashion_mnist", data_dir=tmp_path, sources=("data_dir", "download"))


# ------------------------------------------------------- read-only cache, without root's override

_CHILD = textwrap.dedent(
    """
    import json, os, sys, warnings
    from pathlib import Path
    from course_utils import data
    url, ro_good, ro_empty, labels = sys.argv[1:5]
    out = {}
    try:  # sanity: permission bits apply in this process
        open(Path(ro_empty) / "mnist" / "probe", "w").close()
        out["bits_apply"] = False
    except PermissionError:
        out["bits_apply"] = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        good = data.download("mnist", data_dir=ro_good, files=[labels], mirrors=[url], progress=False)
        empty = data.download("mnist", data_dir=ro_empty, files=[labels], mirrors=[url], progress=False)
    out["good"] = good["mnist"][labels]
    out["empty"] = empty["mnist"][labels]
    out["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
    print(json.dumps(out))
    """
)


@needs_mnist
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) not installed")
def test_read_only_cache_folder_with_permission_bits_enforced(tmp_path):
    ro_good, ro_empty = tmp_path / "ro_good", tmp_path / "ro_empty"
    before = _seed_cache(ro_good / "mnist", LABELS)
    (ro_empty / "mnist").mkdir(parents=True)
    for folder in (ro_good / "mnist", ro_empty / "mnist"):
        folder.chmod(0o555)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_DATA")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "own-cache")
    # Without CAP_DAC_OVERRIDE, root obeys the 0o555 bits like any learner's account.
    cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--",
           sys.executable, "-c", _CHILD]
    try:
        with LoopbackMirror(dataset_routes("/", SHARED_MNIST, [LABELS])) as mirror:
            result = subprocess.run(cmd + [mirror.url(), str(ro_good), str(ro_empty), LABELS], capture_output=True,
                                    text=True, env=env, cwd=REPO, timeout=120)
    finally:
        for folder in (ro_good / "mnist", ro_empty / "mnist"):
            folder.chmod(0o755)
    if result.returncode != 0 and "Operation not permitted" in result.stderr:
        pytest.skip(f"setpriv cannot drop capabilities here: {result.stderr[-300:]}")
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["bits_apply"], "the child process could still write into a 0o555 folder"
    assert out["good"].startswith("already cached and verified"), out
    assert (ro_good / "mnist" / LABELS).read_bytes() == before[LABELS]
    assert "saved as" in out["empty"] and str(ro_empty) not in out["empty"].split("saved as ")[1], out
    assert any("cannot be written" in w for w in out["warnings"]), out["warnings"]
    assert sorted(p.name for p in (ro_empty / "mnist").iterdir()) == []
