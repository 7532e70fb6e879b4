"""The real download path of course_utils.data, against a mirror on 127.0.0.1 (no internet).

The mirror (tests/_mirror.py) serves the genuine MNIST files from
../shared/data/mnist/ and, where installed, Debian's Fashion-MNIST files; it
can answer 404, serve corrupted bytes or drop the connection half-way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from _mirror import LoopbackMirror, Route, dataset_routes, dead_url
from test_data import fallback_cache

from course_utils import data
from course_utils.data import _fetch, _load, _specs

REPO = Path(__file__).resolve().parent.parent
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")

MNIST = _specs.DATASETS["mnist"]
FASHION = _specs.DATASETS["fashion_mnist"]
# The three MNIST files available offline (the training images are not).
MNIST_HERE = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"]
LABELS = "t10k-labels-idx1-ubyte.gz"

needs_mnist = pytest.mark.skipif(
    not all((SHARED_MNIST / f).is_file() for f in MNIST_HERE),
    reason=f"genuine MNIST files not found in {SHARED_MNIST} (the shared folder next to the repo is absent)",
)
needs_fashion = pytest.mark.skipif(
    not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"full Fashion-MNIST not installed in {DEBIAN_FASHION}: `apt-get install dataset-fashion-mnist`",
)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No real caches, mirrors or network; temporary fallback folders inside tmp_path."""
    for var in ("COURSE_DATA_DIR", "COURSE_DATA_MIRRORS", "COURSE_DATA_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "own-cache"))  # the account's own cache
    monkeypatch.setattr(_load, "_damaged_reported", set())
    monkeypatch.setattr(_fetch, "_fallback_dirs", {})
    monkeypatch.setattr(_load, "_dead_hosts", {})
    systmp = tmp_path / "systmp"
    systmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(systmp))


@pytest.fixture
def fallback_ready(tmp_path) -> Path:
    """A data_dir (tmp_path) whose decoded-array cache already holds the MNIST fallback."""
    shutil.copytree(fallback_cache() / "mnist", tmp_path / "mnist")
    return tmp_path


def _leftovers(folder: Path) -> list[str]:
    """Files in ``folder`` (temporary .part files included)."""
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _genuine(filename: str) -> bytes:
    return (SHARED_MNIST / filename).read_bytes()


# --------------------------------------------------------------- the mirrors


@needs_mnist
def test_first_mirror_404_then_a_good_one(tmp_path):
    routes = {f"/bad/{f}": Route(status=404) for f in MNIST_HERE}
    routes.update(dataset_routes("/good/", SHARED_MNIST, MNIST_HERE))
    with LoopbackMirror(routes) as mirror:
        report = data.download(
            "mnist", data_dir=tmp_path, files=MNIST_HERE, mirrors=[mirror.url("/bad/"), mirror.url("/good/")],
            progress=False,
        )  # fmt: skip
        requests = list(mirror.requests)
    for f in MNIST_HERE:
        assert (tmp_path / "mnist" / f).read_bytes() == _genuine(f)
        assert "sha256 matches the file as published" in report["mnist"][f]
        assert requests.index((f"/bad/{f}", 404)) < requests.index((f"/good/{f}", 200))
    assert _leftovers(tmp_path / "mnist") == sorted(MNIST_HERE)  # no temporary files left
    # Ordinary permissions (not the private ones of a temporary file): a shared cache stays readable.
    assert all((tmp_path / "mnist" / f).stat().st_mode & 0o777 == _fetch.shared_mode(0o666) for f in MNIST_HERE)


@needs_mnist
def test_corrupted_bytes_are_rejected_and_nothing_is_cached(tmp_path):
    with LoopbackMirror({f"/m/{LABELS}": Route(body=SHARED_MNIST / LABELS, corrupt=True)}) as mirror:
        with pytest.raises(data.DownloadError, match=r"rejected, sha256 .* matches none of the known sums"):
            data.download("mnist", data_dir=tmp_path, files=[LABELS], mirrors=[mirror.url("/m/")], progress=False)
        assert mirror.served(200) == [f"/m/{LABELS}"]  # it was served, then refused
    assert _leftovers(tmp_path / "mnist") == []


@needs_mnist
def test_corrupted_mirror_then_good_mirror(tmp_path):
    routes = {
        f"/bad/{LABELS}": Route(body=SHARED_MNIST / LABELS, corrupt=True),
        **dataset_routes("/ok/", SHARED_MNIST, [LABELS]),
    }
    with LoopbackMirror(routes) as mirror:
        data.download(
            "mnist",
            data_dir=tmp_path,
            files=[LABELS],
            mirrors=[mirror.url("/bad/"), mirror.url("/ok/")],
            progress=False,
        )
    assert (tmp_path / "mnist" / LABELS).read_bytes() == _genuine(LABELS)
    assert _leftovers(tmp_path / "mnist") == [LABELS]


@needs_mnist
def test_connection_cut_half_way_leaves_no_file(tmp_path):
    images = "t10k-images-idx3-ubyte.gz"
    size = len(_genuine(images))
    with LoopbackMirror({f"/m/{images}": Route(body=SHARED_MNIST / images, cut_after=size // 2)}) as mirror:
        with pytest.raises(data.DownloadError, match="broke off in the middle of the transfer"):
            data.download("mnist", data_dir=tmp_path, files=[images], mirrors=[mirror.url("/m/")], progress=False)
    assert _leftovers(tmp_path / "mnist") == []
    # The same cut followed by a good mirror: the good copy lands, nothing else.
    routes = {
        f"/cut/{images}": Route(body=SHARED_MNIST / images, cut_after=size // 2),
        **dataset_routes("/ok/", SHARED_MNIST, [images]),
    }
    with LoopbackMirror(routes) as mirror:
        data.download(
            "mnist",
            data_dir=tmp_path,
            files=[images],
            mirrors=[mirror.url("/cut/"), mirror.url("/ok/")],
            progress=False,
        )
    assert _leftovers(tmp_path / "mnist") == [images]


def test_no_reachable_mirror_mnist_falls_back_with_warning(fallback_ready):
    tmp_path = fallback_ready
    with pytest.warns(data.DataFallbackWarning) as record:
        ds = data.load_dataset(
            "mnist", data_dir=tmp_path, sources=("data_dir", "download", "fallback"), mirrors=[dead_url("/mnist/")],
            subset=100,
        )  # fmt: skip
    message = str(record[0].message)
    assert "NOT the full MNIST" in message and "connection refused" in message
    assert "not tried, no mirror answered" in message  # one dead mirror costs one attempt, not four
    assert ds.is_fallback and ds.x_train.shape == (100, 28, 28)
    assert _leftovers(tmp_path / "mnist") == [".decoded"]  # only the fallback's decoded cache


@needs_mnist
def test_partial_mnist_cache_still_falls_back_and_says_what_it_found(fallback_ready):
    tmp_path = fallback_ready
    for f in MNIST_HERE:
        shutil.copy(SHARED_MNIST / f, tmp_path / "mnist" / f)
    with LoopbackMirror({}) as mirror:  # answers 404 for everything
        with pytest.warns(data.DataFallbackWarning) as record:
            ds = data.load_dataset("mnist", data_dir=tmp_path, sources=("data_dir", "download", "fallback"),
                                   mirrors=[mirror.url("/")], subset=50)  # fmt: skip
        assert mirror.served(404) == ["/train-images-idx3-ubyte.gz"]  # only the missing file was asked for
    message = str(record[0].message)
    assert "3 verified file(s)" in message and "HTTP 404" in message
    assert ds.is_fallback


def test_no_reachable_mirror_fashion_mnist_says_how_to_get_it(tmp_path):
    with pytest.raises(data.DataUnavailableError) as info:
        data.load_dataset("fashion_mnist", data_dir=tmp_path, sources=("data_dir", "download"), mirrors=[dead_url()])
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "python -m course_utils.data download fashion_mnist" in message
    assert "connection refused" in message and str(tmp_path / "fashion_mnist") in message
    assert isinstance(info.value, RuntimeError)


def test_offline_switch_makes_no_request(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_OFFLINE", "1")
    with LoopbackMirror({}) as mirror:
        with pytest.raises(data.DataUnavailableError, match="skipped \\(COURSE_DATA_OFFLINE is set\\)"):
            data.load_dataset(
                "fashion_mnist", data_dir=tmp_path, sources=("data_dir", "download"), mirrors=[mirror.url()]
            )
        assert mirror.requests == []


# ------------------------------------------------------------------ the cache


@needs_mnist
def test_bad_cached_file_is_set_aside_not_deleted_then_refetched(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    bad = _genuine(LABELS)[:-100] + bytes(100)  # same size, wrong tail: a disk error or a partial copy
    (folder / LABELS).write_bytes(bad)
    with LoopbackMirror(dataset_routes("/", SHARED_MNIST, [LABELS])) as mirror:
        with pytest.warns(data.DataCacheWarning, match=r"renamed to t10k-labels-idx1-ubyte\.gz\.corrupt-.*not deleted"):
            data.download("mnist", data_dir=tmp_path, files=[LABELS], mirrors=[mirror.url()], progress=False)
    (aside,) = folder.glob(f"{LABELS}.corrupt-*")
    assert aside.read_bytes() == bad
    assert (folder / LABELS).read_bytes() == _genuine(LABELS)


@needs_mnist
def test_verified_cache_is_not_downloaded_again(tmp_path):
    (tmp_path / "mnist").mkdir()
    shutil.copy(SHARED_MNIST / LABELS, tmp_path / "mnist" / LABELS)
    with LoopbackMirror({}) as mirror:
        report = data.download("mnist", data_dir=tmp_path, files=[LABELS], mirrors=[mirror.url()], progress=False)
        assert mirror.requests == []
    assert report["mnist"][LABELS].startswith("already cached and verified")


@needs_mnist
def test_unwritable_cache_falls_back_to_a_temporary_folder(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")  # even root cannot create a folder inside it
    cache = blocker / "data"
    os.environ["XDG_CACHE_HOME"] = str(blocker / "own")  # the account's own cache cannot be written either
    with LoopbackMirror(dataset_routes("/", SHARED_MNIST, [LABELS])) as mirror:
        with pytest.warns(data.DataCacheWarning, match="cannot be written.*temporary folder"):
            report = data.download("mnist", data_dir=cache, files=[LABELS], mirrors=[mirror.url()], progress=False)
        saved = Path(report["mnist"][LABELS].split("saved as ")[1])
        assert saved.read_bytes() == _genuine(LABELS) and str(tmp_path / "systmp") in str(saved)
        # Later calls in the session find the file there, with no second warning and no second download.
        found = _load._find_files(MNIST, _load._locations(MNIST, cache, ("data_dir",)), [])
        assert found[LABELS].path == saved
        again = data.download("mnist", data_dir=cache, files=[LABELS], mirrors=[mirror.url()], progress=False)
        assert again["mnist"][LABELS] == f"already cached and verified: {saved}"
        assert len(mirror.requests) == 1


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permission bits")
@needs_mnist
def test_read_only_cache_folder_falls_back_to_a_temporary_folder(tmp_path):
    cache = tmp_path / "ro"
    (cache / "mnist").mkdir(parents=True)
    (cache / "mnist").chmod(0o555)
    try:
        with LoopbackMirror(dataset_routes("/", SHARED_MNIST, [LABELS])) as mirror:
            with pytest.warns(data.DataCacheWarning, match="cannot be written"):
                data.download("mnist", data_dir=cache, files=[LABELS], mirrors=[mirror.url()], progress=False)
    finally:
        (cache / "mnist").chmod(0o755)


# ------------------------------------------------------- full Fashion-MNIST


@needs_fashion
def test_full_fashion_mnist_downloaded_from_a_mirror_then_cached(tmp_path):
    names = [f.filename for f in FASHION.files]
    with LoopbackMirror(dataset_routes("/fashion_mnist/", DEBIAN_FASHION, names)) as mirror:
        url = mirror.url("/{name}/")
        ds = data.load_dataset(
            "fashion_mnist", data_dir=tmp_path, sources=("data_dir", "download"), mirrors=[url], progress=False
        )
        assert sorted(mirror.served(200)) == sorted(f"/fashion_mnist/{n}" for n in names)
        again = data.load_dataset("fashion_mnist", data_dir=tmp_path, sources=("data_dir", "download"), mirrors=[url])
        assert len(mirror.requests) == 4  # the second load came from the cache
    assert ds.x_train.shape == (60_000, 28, 28) and ds.x_test.shape == (10_000, 28, 28)
    assert ds.source_kind == "download" and again.source_kind == "data_dir"
    assert np.array_equal(ds.y_train, again.y_train)
    assert _leftovers(tmp_path / "fashion_mnist") == sorted([".decoded", *names])


@needs_fashion
def test_bad_cached_fashion_file_is_set_aside_and_refetched_by_load_dataset(tmp_path):
    folder = tmp_path / "fashion_mnist"
    shutil.copytree(DEBIAN_FASHION, folder)
    (folder / LABELS).write_bytes(b"<html>captive portal login</html>")
    with LoopbackMirror(dataset_routes("/", DEBIAN_FASHION, [LABELS])) as mirror:
        with pytest.warns(data.DataCacheWarning, match="renamed"):
            ds = data.load_dataset(
                "fashion_mnist", data_dir=tmp_path, sources=("data_dir", "download"), mirrors=[mirror.url()]
            )
        assert mirror.served(200) == [f"/{LABELS}"]
    assert ds.y_test.shape == (10_000,) and ds.source_kind == "mixed"
    assert len(list(folder.glob(f"{LABELS}.corrupt-*"))) == 1


# ------------------------------------------------------------- mirror rules


def test_mirror_urls_must_be_https_except_loopback(monkeypatch):
    with pytest.raises(ValueError, match="must be https://"):
        _fetch.mirrors_for(MNIST, ["http://example.org/mnist/"])
    with pytest.raises(ValueError, match="must be https://"):
        _fetch.mirrors_for(MNIST, ["ftp://127.0.0.1/"])
    with pytest.raises(ValueError, match="must be https://"):
        _fetch.mirrors_for(MNIST, ["http://127.0.0.1.example.org/"])
    assert _fetch.mirrors_for(MNIST, "http://localhost:8000/{name}, http://[::1]:81/x") == [
        "http://localhost:8000/mnist/",
        "http://[::1]:81/x/",
    ]
    monkeypatch.setenv("COURSE_DATA_MIRRORS", "https://a.example/{name}/ https://b.example/")
    assert _fetch.mirrors_for(FASHION) == ["https://a.example/fashion_mnist/", "https://b.example/"]
    monkeypatch.delenv("COURSE_DATA_MIRRORS")
    assert _fetch.mirrors_for(MNIST) == list(MNIST.mirrors)
    assert all(u.startswith("https://") for spec in _specs.DATASETS.values() for u in spec.mirrors)


@needs_mnist
def test_loopback_download_ignores_proxy_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", dead_url())
    monkeypatch.setenv("http_proxy", dead_url())
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with LoopbackMirror(dataset_routes("/", SHARED_MNIST, [LABELS])) as mirror:
        data.download("mnist", data_dir=tmp_path, files=[LABELS], mirrors=[mirror.url()], progress=False)
    assert (tmp_path / "mnist" / LABELS).is_file()


def test_mirror_helper_stops_by_itself():
    mirror = LoopbackMirror({}, lifetime=0.2).__enter__()
    mirror._thread.join(timeout=5)  # the watchdog shuts it down without __exit__
    assert not mirror._thread.is_alive()
    mirror.stop()  # and stopping again is harmless
