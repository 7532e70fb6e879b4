"""``table()``: every scheme side by side -- formula, variance, Keras and PyTorch names, whose default."""

from __future__ import annotations

from typing import Any

from ._core import TRUNCATED_NORMAL_STD, VarianceScaling, variance_formula
from ._registry import REGISTRY, get

__all__ = ["table", "VARIANCE"]

_TN_VAR = TRUNCATED_NORMAL_STD**2  # variance of a unit normal truncated to +-2 (0.7737)

#: the variance of one entry, as a formula (VarianceScaling presets are derived from their parameters)
VARIANCE: dict[str, str] = {
    "zeros": "0",
    "ones": "0",
    "constant": "0",
    "random_normal": "std^2",
    "random_uniform": "(high - low)^2 / 12",
    "truncated_normal": f"{_TN_VAR:.4f} std^2",
    "orthogonal": "gain^2 / max(rows, cols)",
    "delta_orthogonal": "gain^2 / (prod(kernel) max(in, out))",
    "identity": "gain^2 p (1 - p), p = min(r, c) / (r c)",
    "sparse": "std^2 k / fan_in",
    "sparse_torch": "std^2 (1 - ceil(sparsity out) / out)",
    "keras_default_recurrent": "kernel 2/(fan_in+fan_out); recurrent 1/max(r, c)",
    "torch_default_recurrent": "1 / (3 hidden)",
}

# The shape the table's numeric column is computed for: a 784 -> 256 dense layer (Keras layout).
_EXAMPLE_SHAPE = (784, 256)


def _variance_formula(name: str, init: Any) -> str:
    if name in VARIANCE:
        return VARIANCE[name]
    if isinstance(init, VarianceScaling):
        return variance_formula(init.scale, init.mode)
    return ""


def table() -> Any:
    """A pandas DataFrame, one row per scheme: scheme, formula, variance, Keras name, PyTorch name,
    where it is a default, how the frameworks differ, the paper, and the std for a 784 -> 256 layer.
    """
    import pandas as pd

    rows = []
    for name, info in REGISTRY.items():
        init = get(name)
        rows.append({
            "scheme": name,
            "formula": init.formula,
            "variance": _variance_formula(name, init),
            "keras": info.keras_name,
            "pytorch": info.torch_name,
            "default_where": info.default_where,
            "frameworks_differ": info.note,
            "paper": init.paper,
            "std_784x256": init.expected_std(_EXAMPLE_SHAPE),
        })
    return pd.DataFrame(rows)
