"""Profile, seeds, threads and paths: the settings every notebook shares.

* **Profile** -- ``COURSE_PROFILE=quick`` (tests, CI, a first pass) runs every
  experiment small; ``full`` (the default, for study) runs it at the size the
  prose describes. Claims must hold in both.
* **Seeds** -- :func:`set_seed` seeds Python, NumPy, and whichever of
  Keras/TensorFlow and PyTorch is loaded, so one call makes a run repeatable.
* **Threads** -- :func:`n_threads` respects ``COURSE_THREADS``, the CPU
  affinity mask (``taskset``) and the container's CPU quota (cgroups), because
  a framework that starts one thread per *host* core on a 1-CPU Binder pod
  runs slower, not faster.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math
import os
import random
import sys
from pathlib import Path
from typing import TypeVar

from ._validation import check_choice, check_int

__all__ = [
    "PROFILES",
    "DEFAULT_SEED",
    "profile",
    "is_quick",
    "pick",
    "set_seed",
    "n_threads",
    "apply_thread_limits",
    "repo_root",
    "data_dir",
    "cache_dir",
]

PROFILES = ("quick", "full")
DEFAULT_SEED = 0

T = TypeVar("T")


def profile() -> str:
    """Return the active profile, ``"quick"`` or ``"full"``, from ``COURSE_PROFILE`` (default ``full``).

    Raises ``ValueError`` naming the valid profiles when the variable holds anything else.
    """
    raw = os.environ.get("COURSE_PROFILE", "full")
    try:
        return check_choice("COURSE_PROFILE", raw, PROFILES)
    except ValueError as err:
        raise ValueError(f"{err} Set it with e.g. `export COURSE_PROFILE=quick`.") from None


def is_quick() -> bool:
    """True when the ``quick`` profile is active."""
    return profile() == "quick"


def pick(quick: T, full: T) -> T:
    """Return ``quick`` under the quick profile and ``full`` otherwise.

    Notebooks size their experiments with it, in the open:
    ``n_train = pick(quick=2_000, full=20_000)``.
    """
    return quick if is_quick() else full


# --------------------------------------------------------------------- threads


def _cgroup_cpu_limit() -> float | None:
    """CPUs allowed by the container's quota (cgroup v2 ``cpu.max`` or v1 CFS), or None."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def n_threads() -> int:
    """Threads the frameworks should use: ``COURSE_THREADS`` if set, else the usable CPUs.

    Usable CPUs are the smaller of the affinity mask and the cgroup quota
    (rounded up, at least 1).
    """
    raw = os.environ.get("COURSE_THREADS")
    if raw:
        try:
            return check_int("COURSE_THREADS", int(raw), low=1)
        except ValueError:
            raise ValueError(f"COURSE_THREADS must be a positive integer such as 1 or 2; got {raw!r}.") from None
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpu_limit()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")


def apply_thread_limits() -> int:
    """Export thread limits for libraries not loaded yet, and apply them to loaded frameworks.

    Called on ``import course_utils`` (so the environment variables are in
    place before TensorFlow or PyTorch start their pools) and again by the
    lazy framework loaders. Returns the thread count.
    """
    n = n_threads()
    for var in _THREAD_ENV:
        os.environ.setdefault(var, str(n))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # only settable before the first parallel op; harmless after
            pass
    return n


# ----------------------------------------------------------------------- seeds


def set_seed(seed: int = DEFAULT_SEED) -> int:
    """Seed Python, NumPy and every loaded framework (Keras/TensorFlow, PyTorch). Returns ``seed``.

    Frameworks not imported yet are not imported here (``import course_utils``
    stays light); the builders and :func:`course_utils.training.train` call
    this again after loading their framework.
    """
    import numpy as np

    seed = check_int("seed", seed, low=0, high=2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)
    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(seed)
    elif "tensorflow" in sys.modules:
        sys.modules["tensorflow"].random.set_seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    return seed


# ----------------------------------------------------------------------- paths


def repo_root() -> Path:
    """The course's top folder (the one holding ``course_utils/``)."""
    return Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Where datasets are cached: ``COURSE_DATA_DIR`` if set, else ``<repo>/data``."""
    env = os.environ.get("COURSE_DATA_DIR")
    return Path(env).expanduser() if env else repo_root() / "data"


def cache_dir() -> Path:
    """Where experiment results are cached: ``COURSE_CACHE_DIR`` if set, else ``<repo>/.cache``."""
    env = os.environ.get("COURSE_CACHE_DIR")
    return Path(env).expanduser() if env else repo_root() / ".cache"


@functools.cache
def _malloc_trim():  # glibc's malloc_trim, or None (macOS, musl, Windows)
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


def release_memory() -> None:
    """Hand memory that Python, NumPy and the frameworks have freed back to the operating system.

    glibc keeps freed heap memory for reuse and raises its threshold for ``mmap`` after a large
    block is freed, so a kernel's resident memory stays at its high-water mark: drawing 2048 x 2048
    orthogonal and He matrices in both frameworks left 134 MB resident after they were freed, and a
    kernel that trains dozens of models climbs towards Binder's 2 GB. ``malloc_trim(0)`` returns the
    free pages (measured: those 134 MB back). :func:`course_utils.training.train` calls this after every run.
    A no-op where the C library is not glibc.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
