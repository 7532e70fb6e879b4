"""`python -m course_utils.data info` and `... download`, the latter against a loopback mirror."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _mirror import LoopbackMirror, dataset_routes, dead_url

from course_utils.data import __main__ as cli
from course_utils.data import _specs

REPO = Path(__file__).resolve().parent.parent
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
MNIST_HERE = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"]
FASHION_FILES = [f.filename for f in _specs.DATASETS["fashion_mnist"].files]

needs_mnist = pytest.mark.skipif(
    not all((SHARED_MNIST / f).is_file() for f in MNIST_HERE),
    reason=f"genuine MNIST files not found in {SHARED_MNIST} (the shared folder next to the repo is absent)",
)
needs_fashion = pytest.mark.skipif(
    not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"full Fashion-MNIST not installed in {DEBIAN_FASHION}: `apt-get install dataset-fashion-mnist`",
)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_DATA")}
    env.update(COURSE_DATA_DIR=str(tmp_path / "cache"), KERAS_HOME=str(tmp_path / "keras-home"), **extra)
    return env


def _cli(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "course_utils.data", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=_env(tmp_path, **extra),
        timeout=120,  # seconds; a run takes about one
    )


@needs_mnist
def test_info_lists_places_status_mirrors_and_licences(tmp_path):
    (tmp_path / "cache" / "mnist").mkdir(parents=True)
    shutil.copy(SHARED_MNIST / "t10k-labels-idx1-ubyte.gz", tmp_path / "cache" / "mnist")
    (tmp_path / "cache" / "mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(b"not the data")
    result = _cli(tmp_path, "info")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"Data cache: {tmp_path / 'cache'}" in out
    assert "licence CC BY-SA 3.0" in out and "licence MIT" in out
    assert "t10k-labels-idx1-ubyte.gz: verified: sha256 matches the file as published" in out
    assert "t10k-images-idx3-ubyte.gz: BAD: sha256" in out and "train-images-idx3-ubyte.gz: missing" in out
    assert "mirrors: https://ossci-datasets.s3.amazonaws.com/mnist/" in out
    assert "offline fallback:" in out and "sha256 verified" in out
    rows = json.loads(_cli(tmp_path, "info", "--json").stdout)
    by_path = {row["path"]: row for row in rows}
    assert by_path[str(tmp_path / "cache" / "mnist" / "t10k-labels-idx1-ubyte.gz")]["status"].startswith("verified")


@needs_mnist
def test_download_command_against_a_loopback_mirror(tmp_path):
    routes = dataset_routes("/mnist/", SHARED_MNIST, MNIST_HERE)
    routes.update(dataset_routes("/fashion_mnist/", DEBIAN_FASHION, FASHION_FILES))
    with LoopbackMirror(routes) as mirror:
        result = _cli(
            tmp_path, "download", "mnist", "fashion_mnist", "--quiet", COURSE_DATA_MIRRORS=mirror.url("/{name}/")
        )
        served = mirror.served(200)
    # MNIST's training images are not on this mirror (not available offline): that one file fails, exit status 1.
    assert result.returncode == 1, result.stdout + result.stderr
    assert "mnist/train-images-idx3-ubyte.gz: FAILED" in result.stdout
    assert "HTTP 404" in result.stderr
    lines = result.stdout.splitlines()
    for f in MNIST_HERE:
        (line,) = [x for x in lines if x.startswith(f"mnist/{f}: ")]
        assert "downloaded from http://127.0.0.1" in line and "sha256 matches the file as published" in line
        assert (tmp_path / "cache" / "mnist" / f).read_bytes() == (SHARED_MNIST / f).read_bytes()
    if (DEBIAN_FASHION / FASHION_FILES[0]).is_file():
        assert sum(p.startswith("/fashion_mnist/") for p in served) == 4
        assert sorted(p.name for p in (tmp_path / "cache" / "fashion_mnist").iterdir()) == sorted(FASHION_FILES)


@needs_fashion
def test_download_command_succeeds_and_is_idempotent(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    with LoopbackMirror(dataset_routes("/", DEBIAN_FASHION, FASHION_FILES)) as mirror:
        assert cli.main(["download", "fashion_mnist", "--quiet", "--mirror", mirror.url()]) == 0
        assert "All requested files are cached and verified." in capsys.readouterr().out
        assert cli.main(["download", "fashion-mnist", "--quiet", "--mirror", mirror.url()]) == 0
        assert capsys.readouterr().out.count("already cached and verified") == 4
        assert len(mirror.requests) == 4  # nothing fetched the second time


def test_download_command_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["download", "mnsit", "--data-dir", str(tmp_path)])
    assert info.value.code == 2 and "Did you mean 'mnist'?" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main(["download", "mnist", "--data-dir", str(tmp_path), "--mirror", "http://example.org/"])
    assert info.value.code == 2 and "must be https://" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2


@needs_fashion
def test_failed_download_notes_a_usable_local_copy(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    code = cli.main(["download", "fashion_mnist", "--quiet", "--data-dir", str(tmp_path), "--mirror", dead_url()])
    captured = capsys.readouterr()
    assert code == 1 and "connection refused" in captured.err
    assert f"load_dataset('fashion_mnist') works anyway: verified copies of all its files are in {DEBIAN_FASHION}" in (
        captured.out
    )
