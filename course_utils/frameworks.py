"""Lazy, quiet loading of Keras 3 (TensorFlow backend) and PyTorch.

``import course_utils`` must not import either framework: a Keras-only
notebook should never pay for torch, and the setup notebook should be able to
report a broken install instead of dying on import. Every module that needs a
framework calls :func:`keras` or :func:`torch` here, at the point of use.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings
from types import ModuleType
from typing import Any

from . import config
from ._validation import check_choice

__all__ = ["FRAMEWORKS", "check_framework", "keras", "torch", "framework_of", "versions"]

FRAMEWORKS = ("keras", "torch")

_ALIASES = {"pytorch": "torch", "tf": "keras", "tensorflow": "keras"}


def check_framework(framework: Any) -> str:
    """Return ``"keras"`` or ``"torch"``; accepts ``"pytorch"``/``"tensorflow"`` as aliases.

    Raises ``ValueError`` listing the valid names for anything else.
    """
    if isinstance(framework, str) and framework.strip().lower() in _ALIASES:
        return _ALIASES[framework.strip().lower()]
    return check_choice("framework", framework, FRAMEWORKS)


def _install_hint(package: str) -> str:
    return (
        f"{package} is not installed in this Python environment ({sys.executable}). "
        "Run `make lab` from the course folder (it installs everything into .venv and "
        "registers the course kernel), then pick the 'Python (weight-init course)' kernel."
    )


def keras() -> ModuleType:
    """Import and return ``keras`` on the TensorFlow backend, with TensorFlow's log noise silenced."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ INFO/WARNING lines drown a notebook
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # oneDNN reorders sums: runs would differ in the last bits
    n = config.apply_thread_limits()
    try:
        tf = importlib.import_module("tensorflow")
    except ImportError as err:
        raise ImportError(_install_hint("TensorFlow")) from err
    tf.get_logger().setLevel(logging.ERROR)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TF already initialised its pools; the env variables took effect instead
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = importlib.import_module("keras")
    if module.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"This course runs Keras on the TensorFlow backend, but KERAS_BACKEND is "
            f"{module.backend.backend()!r}. Unset KERAS_BACKEND (or set it to 'tensorflow') and restart the kernel."
        )
    return module


def torch() -> ModuleType:
    """Import and return ``torch``, with its thread pool sized to the CPUs this process may use."""
    if "torch" not in sys.modules:
        config.apply_thread_limits()
        try:
            importlib.import_module("torch")
        except ImportError as err:
            raise ImportError(_install_hint("PyTorch")) from err
    config.apply_thread_limits()
    return sys.modules["torch"]


def framework_of(model: Any) -> str:
    """Return ``"keras"`` or ``"torch"`` for a model object, without importing anything new."""
    if "torch" in sys.modules and isinstance(model, sys.modules["torch"].nn.Module):
        return "torch"
    if "keras" in sys.modules and isinstance(model, (sys.modules["keras"].Model, sys.modules["keras"].layers.Layer)):
        return "keras"
    raise TypeError(
        f"model must be a Keras model/layer or a torch.nn.Module; got {type(model).__name__}. "
        "Build one with course_utils.models.build_mlp(...)."
    )


def versions() -> dict[str, str]:
    """Versions of Python and the course's main libraries (``'not installed'`` where missing)."""
    out = {"python": sys.version.split()[0]}
    for name in ("numpy", "tensorflow", "keras", "torch", "matplotlib", "seaborn", "pandas"):
        try:
            out[name] = importlib.import_module(name).__version__ if name in sys.modules else _dist_version(name)
        except Exception:  # noqa: BLE001 - a broken package is reported, not raised, by the setup notebook
            out[name] = "not installed"
    return out


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    for dist in {"tensorflow": ("tensorflow-cpu", "tensorflow")}.get(name, (name,)):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "not installed"
