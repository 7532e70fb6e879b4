"""Checkers for notebook 09 (sparse initialization).

* :func:`check_sparse_init` -- Martens's (2010) sparse initialization from scratch:
  exactly ``k`` non-zero ``N(0, 1)`` incoming weights per unit, at random positions;
* :func:`check_torch_sparse_nonzeros` -- how many non-zero incoming weights a unit
  gets, on average, from ``torch.nn.init.sparse_`` (zeros counted per *column*);
* :func:`check_csr_bytes` -- the memory of a weight matrix stored in PyTorch's sparse
  CSR format, to set against the dense matrix every framework trains.

Each checker calls the learner's function on a few cases and names the usual
mistake behind a wrong answer. Nothing here imports TensorFlow or PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import checker, close, fail, ok

__all__ = [
    "reference_torch_sparse_nonzeros",
    "reference_csr_bytes",
    "check_sparse_init",
    "check_torch_sparse_nonzeros",
    "check_csr_bytes",
]

# The std of the non-zero weights: with 400 units x k = 10 there are 4000 of them, so their sample std
# has sd 1/sqrt(2 * 4000) = 0.011 around 1; 0.1 is 9 sd, and the scale mistakes the checker names
# (sqrt(k / fan_in) = 0.32, a uniform U(-1, 1) = 0.58) are far outside it.
_STD_TOLERANCE = 0.1
# Positions: 400 units x 10 non-zeros over 100 inputs = 40 per input on average. Random positions
# use nearly every input (the chance that a given input is never picked is (1 - 0.1)^400 ~ 5e-19);
# fixed positions (the first k rows for every unit) use only 10 of 100.
_MIN_INPUTS_USED = 0.9


def _array(value: Any) -> np.ndarray | None:
    if value is None or isinstance(value, (str, bytes)):
        return None
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _number(value: Any) -> float | None:
    arr = _array(value)
    if arr is None or arr.size != 1 or isinstance(value, bool):
        return None
    return float(arr.reshape(()))


# ------------------------------------------------------------------ Martens's sparse init


@checker("Martens's sparse initialization")
def check_sparse_init(my_sparse_init: Callable[[int, int, int, np.random.Generator], Any]) -> tuple[bool, str]:
    """Check ``my_sparse_init(fan_in, units, k, rng) -> (fan_in, units)`` array (Keras layout).

    Every column (one unit's incoming weights) has exactly ``k`` non-zeros, drawn
    from ``N(0, 1)``, at positions chosen at random for each unit.
    """
    fan_in, units, k = 100, 400, 10
    raw = my_sparse_init(fan_in, units, k, np.random.default_rng(0))
    w = _array(raw)
    if w is None:
        return fail(f"your function should return the weight matrix as a NumPy array; it returned {type(raw).__name__}.")
    if w.shape != (fan_in, units):
        if w.shape == (units, fan_in):
            return fail(f"your matrix has shape {w.shape}, PyTorch's (units, fan_in) layout; the exercise asks for "
                        f"Keras's layout (fan_in, units) = {(fan_in, units)}: a unit's incoming weights are a column.")
        return fail(f"your matrix has shape {w.shape}; it should be (fan_in, units) = {(fan_in, units)}.")
    if not np.isfinite(w).all():
        return fail("your matrix holds NaN or infinite values.")
    per_unit = np.count_nonzero(w, axis=0)
    per_input = np.count_nonzero(w, axis=1)
    if not np.all(per_unit == k):
        if np.all(per_input == k):
            return fail(f"each ROW (one input's outgoing weights) has {k} non-zeros, but the units (columns) have "
                        f"between {per_unit.min()} and {per_unit.max()}. Martens fixes the incoming weights: pick the "
                        "k positions column by column. (Fixing them per input is what torch's sparse_ does.)")
        if np.all(per_unit == fan_in - k):
            return fail(f"each unit has {k} ZEROS and {fan_in - k} non-zeros; it should be the other way round: "
                        f"k = {k} non-zero incoming weights per unit.")
        return fail(f"units should have exactly k = {k} non-zero incoming weights each; yours have between "
                    f"{per_unit.min()} and {per_unit.max()}. Choose k distinct positions per column "
                    "(rng.choice(fan_in, size=k, replace=False)).")
    values = w[w != 0]
    std = float(values.std())
    if abs(std - 1.0) > _STD_TOLERANCE:
        hint = ""
        if abs(std - math.sqrt(k / fan_in)) < _STD_TOLERANCE / 3:
            hint = (f" That is sqrt(k / fan_in) = {math.sqrt(k / fan_in):.3g}: you scaled the weights like a dense "
                    "layer. Martens keeps them N(0, 1); with k fixed, the sum has variance k whatever the width.")
        elif abs(std - 1 / math.sqrt(3)) < _STD_TOLERANCE / 2:
            hint = " That is the std of U(-1, 1); draw the non-zeros from a normal distribution, rng.normal(size=...)."
        return fail(f"the non-zero weights have std {std:.3g}; they should be N(0, 1), std 1.{hint}")
    if abs(float(values.mean())) > 0.1:
        return fail(f"the non-zero weights average {values.mean():.3g}; draw them from N(0, 1) (mean 0).")
    used = float(np.mean(per_input > 0))
    if used < _MIN_INPUTS_USED:
        return fail(f"only {used:.0%} of the inputs feed any unit: every unit uses the same (or nearly the same) "
                    "positions. Draw the k positions independently for each unit, uniformly among all fan_in inputs.")
    again = _array(my_sparse_init(fan_in, units, k, np.random.default_rng(1)))
    if again is not None and again.shape == w.shape and np.array_equal(again, w):
        return fail("two different generators gave the same matrix: draw positions and values from the rng you "
                    "are given.")
    return ok(f"{k} N(0, 1) weights per unit: the pre-activation's variance is k E[x^2] = {k} E[x^2] whether the "
              f"layer has {fan_in} inputs or 10,000.")


# ------------------------------------------------------------ torch's sparse_


def reference_torch_sparse_nonzeros(fan_in: int, units: int, sparsity: float) -> float:
    """Mean non-zero incoming weights per unit after ``torch.nn.init.sparse_(Linear(fan_in, units).weight, sparsity)``.

    The weight is ``(units, fan_in)``; each of its ``fan_in`` columns gets
    ``ceil(sparsity * units)`` zeros, so ``units - ceil(sparsity * units)`` non-zeros;
    spread over ``units`` rows that is ``fan_in * (units - ceil(sparsity * units)) / units`` per unit.
    """
    return fan_in * (units - math.ceil(sparsity * units)) / units


@checker("non-zeros per unit from torch's sparse_")
def check_torch_sparse_nonzeros(my_nonzeros: Callable[[int, int, float], Any]) -> tuple[bool, str]:
    """Check ``my_nonzeros(fan_in, units, sparsity)``: mean non-zero incoming weights per unit of
    ``torch.nn.init.sparse_`` applied to an ``nn.Linear(fan_in, units)`` weight."""
    cases = [(784, 256, 1 - 15 / 784), (100, 10, 0.5), (300, 7, 0.5)]
    for fan_in, units, sparsity in cases:
        expected = reference_torch_sparse_nonzeros(fan_in, units, sparsity)
        label = f"fan_in={fan_in}, units={units}, sparsity={sparsity:.4g}"
        v = _number(my_nonzeros(fan_in, units, sparsity))
        if v is None:
            return fail(f"for {label} return one number, the mean count of non-zero weights per unit.")
        if close(v, expected, rtol=1e-6):
            continue
        no_ceil = fan_in * (1 - sparsity)
        if close(v, no_ceil, rtol=1e-6) and not close(no_ceil, expected, rtol=1e-6):
            return fail(f"for {label} you returned fan_in (1 - sparsity) = {v:.4g}, ignoring the rounding: torch zeroes "
                        f"ceil(sparsity * rows) = {math.ceil(sparsity * units)} of the {units} entries of each column, "
                        f"which leaves {expected:.4g} non-zeros per unit on average.")
        per_column = units - math.ceil(sparsity * units)
        if close(v, per_column, rtol=1e-6):
            return fail(f"for {label} you returned {v:.4g}, the non-zeros per COLUMN (per input, the outgoing "
                        f"weights); a unit is a ROW of the (units, fan_in) weight: {expected:.4g} on average.")
        if close(v, fan_in * per_column, rtol=1e-6):
            return fail(f"for {label} you returned {v:.4g}, the total number of non-zeros; divide by the {units} "
                        "units for the mean per unit.")
        swapped = units * (fan_in - math.ceil(sparsity * fan_in)) / fan_in
        if close(v, swapped, rtol=1e-6):
            return fail(f"for {label} you counted the zeros along the wrong axis: PyTorch's weight is (out, in) = "
                        f"({units}, {fan_in}), and sparse_ zeroes a fraction of each column, i.e. of {units} entries.")
        return fail(f"for {label} you returned {v:.4g}; expected {expected:.4g} = fan_in (units - ceil(sparsity "
                    "units)) / units.")
    first = reference_torch_sparse_nonzeros(784, 256, 1 - 15 / 784)
    return ok(f"asking for Martens's 15 of 784 gives each unit {first:.4g} on average -- and the count varies from unit "
              "to unit, since only the columns are fixed.")


# --------------------------------------------------------------------- CSR memory


#: bytes per value (float32) and per index (PyTorch stores sparse indices as int64)
_VALUE_BYTES, _INDEX_BYTES = 4, 8


def reference_csr_bytes(rows: int, cols: int, nnz: int) -> int:
    """Bytes of a float32 ``rows x cols`` matrix with ``nnz`` non-zeros in PyTorch's CSR format:
    values (``4 nnz``) + column indices (``8 nnz``, int64) + row pointers (``8 (rows + 1)``). ``cols`` is not needed."""
    return _VALUE_BYTES * nnz + _INDEX_BYTES * nnz + _INDEX_BYTES * (rows + 1)


@checker("memory of a sparse CSR matrix")
def check_csr_bytes(my_csr_bytes: Callable[[int, int, int], Any]) -> tuple[bool, str]:
    """Check ``my_csr_bytes(rows, cols, nnz)``: bytes of a float32 matrix in PyTorch's CSR format
    (``values`` float32, ``col_indices`` and ``crow_indices`` int64)."""
    cases = [(256, 784, 3840), (10, 20, 5), (1000, 1000, 0)]
    for rows, cols, nnz in cases:
        expected = reference_csr_bytes(rows, cols, nnz)
        label = f"rows={rows}, cols={cols}, nnz={nnz}"
        v = _number(my_csr_bytes(rows, cols, nnz))
        if v is None:
            return fail(f"for {label} return one number of bytes.")
        if close(v, expected, rtol=1e-9):
            continue
        if close(v, 4 * rows * cols, rtol=1e-9):
            return fail(f"for {label} you returned the dense size, 4 rows cols = {v:.0f} bytes; CSR stores only the "
                        "non-zeros, their column indices and one pointer per row (plus one).")
        if close(v, 4 * nnz + 4 * nnz + 4 * (rows + 1), rtol=1e-9):
            return fail(f"for {label} you counted 4 bytes per index; PyTorch's CSR indices are int64, 8 bytes "
                        f"(expected {expected}).")
        if close(v, 12 * nnz, rtol=1e-9):
            return fail(f"for {label} you left out the row pointers: crow_indices holds rows + 1 int64 numbers "
                        f"(expected {expected}).")
        if close(v, 12 * nnz + 8 * rows, rtol=1e-9):
            return fail(f"for {label} the row pointers are rows + 1 numbers (each row's start, plus the end); "
                        f"expected {expected}.")
        if close(v, 4 * nnz + 16 * nnz, rtol=1e-9):
            return fail(f"for {label} you sized the COO format (a row and a column index per non-zero); CSR keeps "
                        f"one column index per non-zero and rows + 1 row pointers (expected {expected}).")
        return fail(f"for {label} you returned {v:.0f}; expected {expected} = 4 nnz + 8 nnz + 8 (rows + 1).")
    dense, csr = 4 * 256 * 784, reference_csr_bytes(256, 784, 3840)
    return ok(f"a 256 x 784 layer with 15 non-zeros per unit takes {csr:,} bytes in CSR against {dense:,} dense "
              f"({csr / dense:.1%}) -- but only if the framework keeps it sparse.")
