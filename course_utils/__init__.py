"""course_utils: the helper package of the weight-initialization course.

The notebooks import from here -- initializers, data, models, training,
diagnostics, plots -- for Keras 3 (TensorFlow backend) and PyTorch alike.

Importing this package is cheap on purpose: it loads neither TensorFlow nor
PyTorch (they are imported by the function that first needs one), and it sets
thread limits before either framework starts its thread pool.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import config
from .claims import expect
from .config import pick, profile, set_seed

__version__ = "1.0.0"

config.apply_thread_limits()

_SUBMODULES = (
    "activations",
    "advice",
    "claims",
    "config",
    "data",
    "diagnostics",
    "exercises",
    "experiments",
    "frameworks",
    "grouped",
    "initializers",
    "meanfield",
    "models",
    "mup",
    "plots",
    "training",
    "widgets",
)

__all__ = ["__version__", "expect", "pick", "profile", "set_seed", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    # `course_utils.models` works without an explicit import, yet stays lazy.
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")
