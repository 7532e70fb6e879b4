"""Lazy, quiet loading of Keras 3 (TensorFlow backend) and PyTorch.

``import course_utils`` must not import either framework: a Keras-only
notebook should never pay for torch, and the setup notebook should be able to
report a broken install instead of dying on import. Every module that needs a
framework calls :func:`keras` or :func:`torch` here, at the point of use.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Any

from . import config
from ._validation import check_choice

__all__ = [
    "FRAMEWORKS",
    "Hooks",
    "check_framework",
    "eval_mode",
    "train_mode",
    "flat_layers",
    "framework_of",
    "input_shape_of",
    "keras",
    "torch",
    "versions",
    "weight_layers",
]

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
    # No Grappler graph rewriting: each new model's traced train step went through it once, a fixed
    # 0.2-0.8 CPU s per run that the course's short runs never earned back. Measured here: the same
    # losses to the last bit, Keras runs 6-15% fewer CPU seconds (3 rounds: 30- and 3-layer nets, 1 and 10 epochs).
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
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


# ------------------------------------------------------------------ walking models
# The one model walker of the package: every module that lists a model's layers calls these.


def _framework(model: Any, framework: str | None) -> str:
    """The framework a public entry point already decided, or the model's own."""
    return framework_of(model) if framework is None else framework


def flat_layers(model: Any, framework: str | None = None) -> list[Any]:
    """The layers of ``model`` in order, every nested model opened up.

    Keras: ``model.layers`` without the ``InputLayer``, each nested ``keras.Model``
    (``Sequential`` or functional) replaced by its own flat layers. PyTorch: the
    modules that have no child modules, in registration order.
    """
    if _framework(model, framework) == "torch":
        return [m for m in model.modules() if not list(m.children())]
    k = keras()
    out = []
    for layer in getattr(model, "layers", [model]):
        if isinstance(layer, k.Model) and layer is not model:
            out.extend(flat_layers(layer, "keras"))
        elif not isinstance(layer, k.layers.InputLayer):
            out.append(layer)
    return out


def weight_layers(model: Any, framework: str | None = None) -> list[tuple[str, Any]]:
    """The layers of ``model`` that hold weight matrices, in order: ``[(name, layer), ...]``.

    A weight layer owns a trainable parameter with at least two dimensions (a
    kernel): dense, convolution, recurrent and Bayesian layers -- not biases,
    activations, pooling or dropout. Names are the Keras layer names and the
    PyTorch module paths; the course's builders make them identical
    (``hidden_1``, ..., ``output``). Works for any Keras model or ``torch.nn.Module``.
    """
    if _framework(model, framework) == "torch":
        return [(name, m) for name, m in model.named_modules()
                if any(p.ndim >= 2 for p in m.parameters(recurse=False))]
    return [(layer.name, layer) for layer in flat_layers(model, "keras")
            if any(len(w.shape) >= 2 for w in layer.trainable_weights)]


def input_shape_of(model: Any, framework: str | None = None) -> tuple[int | None, ...] | None:
    """The input shape a model expects, batch axis first as ``None`` (``(None, 784)``), or None if unknown.

    Keras models know theirs once built; PyTorch models built by ``course_utils.models``
    carry the same ``input_shape`` attribute.
    """
    shape = getattr(model, "input_shape", None)
    if shape is None and _framework(model, framework) == "keras":
        try:
            shape = model.inputs[0].shape
        except (AttributeError, IndexError, TypeError, ValueError):
            return None
    if isinstance(shape, list):  # a Keras model with several inputs: not ours to check
        return None
    return None if shape is None else tuple(None if d is None else int(d) for d in shape)


@contextlib.contextmanager
def _mode(model: Any, training: bool) -> Iterator[Any]:
    was_training = model.training
    model.train(training)
    try:
        yield model
    finally:
        model.train(was_training)


def eval_mode(model: Any) -> contextlib.AbstractContextManager[Any]:
    """A torch model in inference mode (dropout off) for the block, its own mode restored after."""
    return _mode(model, False)


def train_mode(model: Any) -> contextlib.AbstractContextManager[Any]:
    """A torch model in training mode (batch statistics, dropout on) for the block, its own mode restored after."""
    return _mode(model, True)


class Hooks:
    """Forward hooks on a list of torch modules for the length of a ``with`` block (after fast.ai's ``Hooks``).

    ``with Hooks(modules, fn):`` calls ``fn(module, inputs, output)`` after each
    module's forward pass and removes every hook on leaving, even on an error.
    """

    def __init__(self, modules: Iterable[Any], fn: Callable[[Any, Any, Any], Any]) -> None:
        self.handles = [m.register_forward_hook(fn) for m in modules]

    def __enter__(self) -> Hooks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []


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
