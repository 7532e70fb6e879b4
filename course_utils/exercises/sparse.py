"""Checkers for notebook 09 (sparse initialization).

* :func:`check_sparse_init` -- Martens's (2010) sparse initialization from scratch:
  exactly ``k`` non-zero ``N(0, 1)`` incoming weights per unit, at random positions;
* :func:`check_torch_sparse_nonzeros` -- how many non-zero incoming weights a unit
  gets, on average, from ``torch.nn.init.sparse_`` (zeros counted per *column*);
* :func:`check_csr_bytes` -- the memory of a weight matrix stored in PyTorch's sparse
  CSR format, to set against the dense matrix every framework trains.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import checker, fail, ok
from ._common import array, diagnose, first_match, first_miss, generator_advice

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
# Values: 4000 draws of a continuous distribution do not repeat; the same k values copied into every unit
# give only k distinct ones. Fewer than half distinct is far from either.
_MIN_DISTINCT_VALUES = 0.5


# ------------------------------------------------------------------ Martens's sparse init


def _count_problem(w: np.ndarray, k: int) -> str | None:
    """What is wrong with the number of non-zeros per unit (column) of ``w``, or None."""
    fan_in = w.shape[0]
    per_unit, per_input = np.count_nonzero(w, axis=0), np.count_nonzero(w, axis=1)
    if np.all(per_unit == k):
        return None
    return first_match([
        (np.all(per_input == k),
         f"each ROW (one input's outgoing weights) has {k} non-zeros, but the units (columns) have between "
         f"{per_unit.min()} and {per_unit.max()}. Martens fixes the incoming weights: pick the k positions column "
         "by column. (Fixing them per input is what torch's sparse_ does.)"),
        (np.all(per_unit == fan_in - k),
         f"each unit has {k} ZEROS and {fan_in - k} non-zeros; it should be the other way round: k = {k} non-zero "
         "incoming weights per unit."),
    ]) or (f"units should have exactly k = {k} non-zero incoming weights each; yours have between {per_unit.min()} "
           f"and {per_unit.max()}. Choose k distinct positions per column (rng.choice(fan_in, size=k, replace=False)).")


def _value_problem(values: np.ndarray, k: int, fan_in: int) -> str | None:
    """What is wrong with the non-zero weights (they should be distinct N(0, 1) draws), or None."""
    std = float(values.std())
    scale_hint = first_match([
        (abs(std - math.sqrt(k / fan_in)) < _STD_TOLERANCE / 3,
         f" That is sqrt(k / fan_in) = {math.sqrt(k / fan_in):.3g}: you scaled the weights like a dense layer. "
         "Martens keeps them N(0, 1); with k fixed, the sum has variance k whatever the width."),
        (abs(std - 1 / math.sqrt(3)) < _STD_TOLERANCE / 2,
         " That is the std of U(-1, 1); draw the non-zeros from a normal distribution, rng.normal(size=...)."),
    ]) or ""
    return first_match([
        (np.unique(values).size < _MIN_DISTINCT_VALUES * values.size,
         f"your {values.size} non-zero weights take only {np.unique(values).size} distinct values: every unit got "
         "the same k values. Draw fresh values for each unit (rng.normal(size=k) inside the loop)."),
        (abs(std - 1.0) > _STD_TOLERANCE,
         f"the non-zero weights have std {std:.3g}; they should be N(0, 1), std 1.{scale_hint}"),
        (abs(float(values.mean())) > 0.1,
         f"the non-zero weights average {values.mean():.3g}; draw them from N(0, 1) (mean 0)."),
    ])


@checker("Martens's sparse initialization")
def check_sparse_init(my_sparse_init: Callable[[int, int, int, np.random.Generator], Any]) -> tuple[bool, str]:
    """Check ``my_sparse_init(fan_in, units, k, rng) -> (fan_in, units)`` array (Keras layout).

    Every column (one unit's incoming weights) has exactly ``k`` non-zeros, drawn
    from ``N(0, 1)``, at positions chosen at random for each unit, all from ``rng``.
    """
    fan_in, units, k = 100, 400, 10
    raw = my_sparse_init(fan_in, units, k, np.random.default_rng(0))
    w = array(raw)
    if w is None:
        return fail(f"your function should return the weight matrix as a NumPy array; it returned {type(raw).__name__}.")
    if w.shape != (fan_in, units):
        if w.shape == (units, fan_in):
            return fail(f"your matrix has shape {w.shape}, PyTorch's (units, fan_in) layout; the exercise asks for "
                        f"Keras's layout (fan_in, units) = {(fan_in, units)}: a unit's incoming weights are a column.")
        return fail(f"your matrix has shape {w.shape}; it should be (fan_in, units) = {(fan_in, units)}.")
    if not np.isfinite(w).all():
        return fail("your matrix holds NaN or infinite values.")
    used = float(np.mean(np.count_nonzero(w, axis=1) > 0))
    problem = _count_problem(w, k) or _value_problem(w[w != 0], k, fan_in)
    if problem:
        return fail(problem)
    if used < _MIN_INPUTS_USED:
        return fail(f"only {used:.0%} of the inputs feed any unit: every unit uses the same (or nearly the same) "
                    "positions. Draw the k positions independently for each unit, uniformly among all fan_in inputs.")
    advice = generator_advice(my_sparse_init, fan_in, units, k, what="matrix")
    if advice:
        return fail(advice)
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
    miss = first_miss(my_nonzeros, reference_torch_sparse_nonzeros,
                      [(784, 256, 1 - 15 / 784), (100, 10, 0.5), (300, 7, 0.5)], rtol=1e-6)
    if miss:
        (fan_in, units, sparsity), v, expected = miss
        label = f"fan_in={fan_in}, units={units}, sparsity={sparsity:.4g}"
        if isinstance(v, str):
            return fail(f"for {label} return one number, the mean count of non-zero weights per unit.")
        per_column = units - math.ceil(sparsity * units)
        return fail(f"for {label} " + (diagnose(v, expected, [
            (fan_in * (1 - sparsity),
             f"you returned fan_in (1 - sparsity) = {v:.4g}, ignoring the rounding: torch zeroes ceil(sparsity * "
             f"rows) = {math.ceil(sparsity * units)} of the {units} entries of each column, which leaves "
             f"{expected:.4g} non-zeros per unit on average."),
            (per_column, f"you returned {v:.4g}, the non-zeros per COLUMN (per input, the outgoing weights); a unit "
                         f"is a ROW of the (units, fan_in) weight: {expected:.4g} on average."),
            (fan_in * per_column, f"you returned {v:.4g}, the total number of non-zeros; divide by the {units} units "
                                  "for the mean per unit."),
            (units * (fan_in - math.ceil(sparsity * fan_in)) / fan_in,
             f"you counted the zeros along the wrong axis: PyTorch's weight is (out, in) = ({units}, {fan_in}), and "
             f"sparse_ zeroes a fraction of each column, i.e. of {units} entries."),
            (fan_in * sparsity, f"you returned {v:.4g} = fan_in * sparsity: sparsity is the fraction of each column "
                                f"set to ZERO, not the fraction kept (expected {expected:.4g})."),
        ], rtol=1e-6) or f"you returned {v:.4g}; expected {expected:.4g} = fan_in (units - ceil(sparsity units)) / "
                          "units."))
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
    miss = first_miss(my_csr_bytes, reference_csr_bytes, [(256, 784, 3840), (10, 20, 5), (1000, 1000, 0)],
                      rtol=1e-9)
    if miss:
        (rows, cols, nnz), v, expected = miss
        label = f"rows={rows}, cols={cols}, nnz={nnz}"
        if isinstance(v, str):
            return fail(f"for {label} return one number of bytes.")
        return fail(f"for {label} " + (diagnose(v, expected, [
            (4 * rows * cols, f"you returned the dense size, 4 rows cols = {v:.0f} bytes; CSR stores only the "
                              "non-zeros, their column indices and one pointer per row (plus one)."),
            (4 * nnz + 4 * nnz + 4 * (rows + 1), f"you counted 4 bytes per index; PyTorch's CSR indices are int64, "
                                                 f"8 bytes (expected {expected})."),
            (12 * nnz, f"you left out the row pointers: crow_indices holds rows + 1 int64 numbers (expected "
                       f"{expected})."),
            (12 * nnz + 8 * rows, f"the row pointers are rows + 1 numbers (each row's start, plus the end); "
                                  f"expected {expected}."),
            (4 * nnz + 16 * nnz, f"you sized the COO format (a row and a column index per non-zero); CSR keeps one "
                                 f"column index per non-zero and rows + 1 row pointers (expected {expected})."),
        ], rtol=1e-9) or f"you returned {v:.0f}; expected {expected} = 4 nnz + 8 nnz + 8 (rows + 1)."))
    dense, csr = 4 * 256 * 784, reference_csr_bytes(256, 784, 3840)
    return ok(f"a 256 x 784 layer with 15 non-zeros per unit takes {csr:,} bytes in CSR against {dense:,} dense "
              f"({csr / dense:.1%}) -- but only if the framework keeps it sparse.")
