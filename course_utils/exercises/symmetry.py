"""Checkers for notebook 03 (zero and constant initialization): symmetry, dead gradients, zero last layers.

Each checker calls the learner's function on a few cases, compares with a
NumPy reference written here, and says *why* an answer is off:

* :func:`check_relu_mlp_gradients` -- the backward pass of ``x -> ReLU(x W1 + b1) -> W2 + b2 ->
  softmax cross-entropy`` by hand, and what it gives when ``W1 = 0``;
* :func:`check_count_distinct_units` -- how many *different* hidden units a weight matrix holds
  (one, after a constant initialization);
* :func:`check_initial_loss` -- the cross-entropy of a classifier whose last layer starts at zero.

Nothing here imports TensorFlow or PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from . import checker, close, fail, ok

__all__ = [
    "reference_relu_mlp_gradients",
    "reference_count_distinct_units",
    "check_relu_mlp_gradients",
    "check_count_distinct_units",
    "check_initial_loss",
]

_GRAD_KEYS = ("W1", "b1", "W2", "b2")
# float64 references against a learner's float64 (or float32) NumPy: 1e-5 relative is far above
# float64 rounding (1e-15) and float32's (1e-7), far below any real mistake (which is O(1) off).
_RTOL = 1e-5
# Absolute slack for entries that should be (near) zero: gradients here are O(0.01-1).
_ATOL = 1e-7


# ----------------------------------------------------------------- references


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)  # subtracting the max avoids overflow in exp
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def reference_relu_mlp_gradients(x: np.ndarray, y: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray,
                                 b2: np.ndarray, *, relu_grad_at_zero: float = 0.0, relu_mask: bool = True,
                                 batch_mean: bool = True) -> dict[str, np.ndarray]:
    """Gradients of the mean cross-entropy of ``softmax(relu(x W1 + b1) W2 + b2)`` for labels ``y``.

    Forward: ``z1 = x W1 + b1``, ``h = max(z1, 0)``, ``s = h W2 + b2``, ``p = softmax(s)``,
    ``L = -mean_i log p[i, y_i]``. Backward (Keras layout, ``W`` is ``(in, out)``):
    ``ds = (p - onehot(y)) / n``, ``dW2 = h^T ds``, ``db2 = sum_i ds``, ``dh = ds W2^T``,
    ``dz1 = dh * relu'(z1)`` with ``relu'(z) = 1 if z > 0 else 0`` (PyTorch and TensorFlow both
    take 0 at z = 0), ``dW1 = x^T dz1``, ``db1 = sum_i dz1``.

    The keyword arguments build the usual *wrong* answers the checker recognises:
    ``relu_grad_at_zero=1`` (relu'(0) = 1), ``relu_mask=False`` (no relu' at all),
    ``batch_mean=False`` (the summed loss).
    """
    x, W1, b1, W2, b2 = (np.asarray(a, dtype=np.float64) for a in (x, W1, b1, W2, b2))
    n = x.shape[0]
    z1 = x @ W1 + b1
    h = np.maximum(z1, 0.0)
    p = _softmax(h @ W2 + b2)
    onehot = np.zeros_like(p)
    onehot[np.arange(n), np.asarray(y)] = 1.0
    ds = (p - onehot) / (n if batch_mean else 1)
    dh = ds @ W2.T
    slope = np.where(z1 > 0, 1.0, np.where(z1 == 0, relu_grad_at_zero, 0.0)) if relu_mask else 1.0
    dz1 = dh * slope
    return {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": h.T @ ds, "b2": ds.sum(axis=0)}


def reference_count_distinct_units(W: np.ndarray, rtol: float = 1e-5) -> int:
    """How many different units (columns of a Keras-layout ``(in, out)`` kernel) ``W`` holds.

    Two columns are the same unit when ``max |W[:, j] - W[:, k]| <= rtol * max |W|`` (a
    tolerance, because float rounding can leave copies a few ulps apart).
    """
    W = np.asarray(W, dtype=np.float64)
    scale = rtol * max(float(np.abs(W).max()), 1e-300)
    kept: list[np.ndarray] = []
    for column in W.T:
        if not any(np.max(np.abs(column - k)) <= scale for k in kept):
            kept.append(column)
    return len(kept)


# ------------------------------------------------------------------ helpers


def _problem(seed: int, *, zero_w1: bool, n: int = 8, d: int = 5, hidden: int = 6, classes: int = 3) -> tuple:
    """A small batch and weights (``W1 = 0`` if ``zero_w1``) with no pre-activation exactly at 0 otherwise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rng.integers(0, classes, size=n)
    y[:classes] = np.arange(classes)  # every class present, so no column of ds is special
    W1 = np.zeros((d, hidden)) if zero_w1 else rng.normal(0, 0.5, size=(d, hidden))
    b1 = np.zeros(hidden)
    W2 = rng.normal(0, 0.5, size=(hidden, classes))
    b2 = rng.normal(0, 0.1, size=classes)
    return x, y, W1, b1, W2, b2


def _as_grads(result: Any) -> dict[str, np.ndarray] | str:
    """The learner's gradients as float arrays, or a message saying what is wrong with the container."""
    if isinstance(result, tuple) and len(result) == 4:
        result = dict(zip(_GRAD_KEYS, result, strict=True))
    if not isinstance(result, Mapping):
        return (f"your function returned {type(result).__name__}; return a dict "
                "{'W1': dW1, 'b1': db1, 'W2': dW2, 'b2': db2}.")
    missing = [k for k in _GRAD_KEYS if k not in result]
    if missing:
        return f"the dict you returned lacks {missing}; it needs the keys 'W1', 'b1', 'W2', 'b2'."
    try:
        return {k: np.asarray(result[k], dtype=np.float64) for k in _GRAD_KEYS}
    except (TypeError, ValueError) as err:
        return f"a gradient is not an array of numbers ({err})."


def _same(got: dict[str, np.ndarray], ref: dict[str, np.ndarray], keys: tuple[str, ...] = _GRAD_KEYS) -> bool:
    return all(got[k].shape == ref[k].shape and np.allclose(got[k], ref[k], rtol=_RTOL, atol=_ATOL) for k in keys)


# ----------------------------------------------------------------- checkers


@checker("ReLU network gradients by hand")
def check_relu_mlp_gradients(relu_mlp_gradients: Callable[..., Any]) -> tuple[bool, str]:
    """Check ``relu_mlp_gradients(x, y, W1, b1, W2, b2) -> {'W1': dW1, 'b1': db1, 'W2': dW2, 'b2': db2}``.

    Cases: random ``W1`` (against :func:`reference_relu_mlp_gradients`), then ``W1 = 0``, where
    the right answer is ``dW1 = 0``, ``db1 = 0``, ``dW2 = 0`` and only ``db2`` is non-zero.
    """
    x, y, W1, b1, W2, b2 = _problem(0, zero_w1=False)
    got = _as_grads(relu_mlp_gradients(x.copy(), y.copy(), W1.copy(), b1.copy(), W2.copy(), b2.copy()))
    if isinstance(got, str):
        return fail(got)
    ref = reference_relu_mlp_gradients(x, y, W1, b1, W2, b2)
    for k in _GRAD_KEYS:
        if got[k].shape != ref[k].shape:
            hint = " (transposed?)" if got[k].shape == ref[k].shape[::-1] else ""
            return fail(f"d{k} has shape {got[k].shape}{hint}; a gradient has the shape of its parameter, "
                        f"{k}.shape = {ref[k].shape}.")
    if not _same(got, ref):
        if _same(got, reference_relu_mlp_gradients(x, y, W1, b1, W2, b2, batch_mean=False)):
            return fail(f"your gradients are {x.shape[0]} times too large: L is the MEAN over the batch, "
                        "so ds = (p - onehot(y)) / n.")
        if _same(got, reference_relu_mlp_gradients(x, y, W1, b1, W2, b2, relu_mask=False)):
            return fail("dW1 and db1 ignore the ReLU: multiply dh by relu'(z1) = (z1 > 0) to get dz1.")
        if _same(got, ref, ("W2", "b2")):
            return fail("dW2 and db2 are right, dW1 or db1 are not: dh = ds @ W2.T, dz1 = dh * (z1 > 0), "
                        "dW1 = x.T @ dz1, db1 = dz1.sum(axis=0).")
        if _same(got, ref, ("b2",)):
            return fail("db2 is right but dW2 is not: dW2 = h.T @ ds with h = relu(x @ W1 + b1) (after the ReLU).")
        return fail("the output-layer gradients are off already: ds = (softmax(s) - onehot(y)) / n, "
                    "db2 = ds.sum(axis=0), dW2 = h.T @ ds.")

    x, y, W1, b1, W2, b2 = _problem(1, zero_w1=True)
    got = _as_grads(relu_mlp_gradients(x.copy(), y.copy(), W1.copy(), b1.copy(), W2.copy(), b2.copy()))
    if isinstance(got, str):
        return fail(got)
    ref = reference_relu_mlp_gradients(x, y, W1, b1, W2, b2)
    if not _same(got, ref):
        if _same(got, reference_relu_mlp_gradients(x, y, W1, b1, W2, b2, relu_grad_at_zero=1.0)):
            return fail("with W1 = 0 every z1 is exactly 0 and your ReLU derivative there is 1 (z1 >= 0?). "
                        "PyTorch and TensorFlow use relu'(0) = 0 -- use (z1 > 0) -- and that is exactly why "
                        "a zero hidden layer gets no gradient.")
        return fail("right for random weights, wrong for W1 = 0: check how you treat z1 == 0 (relu'(0) = 0).")
    return ok(f"and with W1 = 0: |dW1| = {np.abs(got['W1']).max():.1g}, |dW2| = {np.abs(got['W2']).max():.1g}, "
              f"|db1| = {np.abs(got['b1']).max():.1g}; only db2 = {np.round(got['b2'], 3).tolist()} is non-zero. "
              "h = relu(0) = 0 blocks dW2, relu'(0) = 0 blocks dW1: the network can only learn its output bias.")


@checker("count the distinct hidden units")
def check_count_distinct_units(count_distinct_units: Callable[..., Any]) -> tuple[bool, str]:
    """Check ``count_distinct_units(W, rtol=1e-5) -> int`` (units are the columns of ``(in, out)``)."""
    rng = np.random.default_rng(0)
    three = rng.normal(size=(20, 3))
    cases = [
        ("a random 20 x 8 kernel", rng.normal(size=(20, 8))),
        ("a constant 20 x 8 kernel (every weight 0.1)", np.full((20, 8), 0.1)),
        ("3 different columns, each repeated 3 times", np.repeat(three, 3, axis=1)),
        # rows all equal, columns all different: a learner counting rows gets 1
        ("a 5 x 8 kernel whose rows are equal (so its 8 columns all differ)", np.tile(rng.normal(size=(1, 8)), (5, 1))),
        # copies 1e-9 apart (float rounding of a symmetric network) are the same unit
        ("3 columns repeated, copies differing by 1e-9", np.repeat(three, 3, axis=1) + 1e-9 * rng.normal(size=(20, 9))),
        # copies 1e-2 apart are distinct units: symmetry broken
        ("3 columns repeated, copies differing by 1e-2", np.repeat(three, 3, axis=1) + 1e-2 * rng.normal(size=(20, 9))),
    ]
    for label, W in cases:
        expected = reference_count_distinct_units(W)
        got = count_distinct_units(W.copy())
        try:
            value = int(got)
        except (TypeError, ValueError):
            return fail(f"for {label} you returned {got!r}; return an int.")
        if value == expected:
            continue
        if value == reference_count_distinct_units(W.T):
            return fail(f"for {label} you returned {value}, the number of distinct ROWS; in Keras layout (in, out) "
                        f"a unit is a COLUMN (expected {expected}). Loop over W.T, or compare W[:, j].")
        if value > expected:
            return fail(f"for {label} you returned {value}, expected {expected}: columns that differ only by float "
                        "rounding are the same unit. Compare with a tolerance, e.g. "
                        "np.max(np.abs(a - b)) <= rtol * np.abs(W).max().")
        if 0 < value < expected:
            return fail(f"for {label} you returned {value}, expected {expected}: you merged columns that really "
                        "differ -- your tolerance is too loose; use rtol relative to the largest weight "
                        "(1e-5 * max|W|).")
        return fail(f"for {label} you returned {value}; expected {expected}.")
    return ok("a constant initialization leaves ONE distinct unit however wide the layer is.")


@checker("the loss of a zero last layer")
def check_initial_loss(initial_loss: Callable[[int], Any]) -> tuple[bool, str]:
    """Check ``initial_loss(n_classes)`` = ``ln(n_classes)``: zero logits give uniform softmax probabilities."""
    for n in (10, 2, 100):
        expected = math.log(n)
        got = initial_loss(n)
        if close(got, expected):
            continue
        value = float(got) if isinstance(got, (int, float, np.floating, np.integer)) else got
        if isinstance(value, float):
            if close(value, math.log10(n)):
                return fail(f"for {n} classes you returned {value:.4g} = log10({n}); cross-entropy uses the "
                            f"natural log: ln({n}) = {expected:.4g}.")
            if close(value, math.log2(n)):
                return fail(f"for {n} classes you returned {value:.4g} = log2({n}) (bits); the frameworks' "
                            f"cross-entropy uses the natural log: ln({n}) = {expected:.4g}.")
            if close(value, 1 / n):
                return fail(f"for {n} classes you returned 1/{n}, the probability of each class; the loss is "
                            f"-ln(1/{n}) = {expected:.4g}.")
            if close(value, -expected):
                return fail(f"for {n} classes you returned {value:.4g}: the sign is off; the loss is "
                            f"-ln p = -ln(1/{n}) = +{expected:.4g}.")
        return fail(f"for {n} classes you returned {got!r}; with zero logits softmax gives every class 1/{n}.")
    return ok("ln(10) = 2.3026: a zero last layer starts every prediction uniform, with no class preferred.")
