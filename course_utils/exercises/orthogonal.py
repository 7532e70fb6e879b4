"""Checkers for notebook 08 (orthogonal initialization).

* :func:`check_orthogonal` -- a Haar-random orthogonal matrix from a Gaussian one
  (QR with the sign correction of Mezzadri 2007);
* :func:`check_condition_number` -- the condition number of a deep linear
  network's end-to-end map ``x @ W_1 @ ... @ W_L`` (Saxe et al. 2013);
* :func:`check_forget_half_life` -- how many steps an LSTM's cell state keeps half
  of its content when the forget gate sits at ``sigmoid(bias)`` (Keras's
  ``unit_forget_bias``, Jozefowicz et al. 2015).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import checker, close, fail, ok
from ._common import array, first_match, generator_advice

__all__ = [
    "reference_orthogonal",
    "reference_condition_number",
    "reference_forget_half_life",
    "check_orthogonal",
    "check_condition_number",
    "check_forget_half_life",
]

# float32 keeps ~7 digits: an orthogonal matrix built in float32 has |W W^T - I| up to ~1e-6;
# 1e-4 accepts any honest float32 or float64 construction and rejects every non-orthogonal answer
# the checker knows (their errors are O(0.1) or more).
_ORTHO_ATOL = 1e-4

# Haar test: for a Haar-random orthogonal matrix, W[0, 0] is as often negative as positive (W and the
# matrix with its first column negated are equally likely). Over 300 draws the fraction of negative
# W[0, 0] has sd 0.5/sqrt(300) = 0.029 around 0.5; 0.2 is about 7 sd. numpy's QR (LAPACK's Householder
# convention) gives R[0, 0] the sign opposite to a[0, 0], so without the sign correction
# Q[0, 0] = a[0, 0] / R[0, 0] = -|a[0, 0]| / ||a[:, 0]|| is always negative (measured: 100% of draws).
_HAAR_N = 3
_HAAR_DRAWS = 300
_HAAR_FRACTION_TOLERANCE = 0.2


# ------------------------------------------------------------------ orthogonal


def reference_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random ``n x n`` orthogonal matrix: ``Q`` of ``A = QR``, ``A ~ N(0, 1)``, columns times ``sign(diag R)``."""
    a = rng.normal(size=(n, n))
    q, r = np.linalg.qr(a)
    d = np.sign(np.diag(r))
    d[d == 0] = 1.0
    return q * d


def _not_orthogonal(got: np.ndarray) -> str:
    """What is wrong with a square matrix whose ``W W^T`` is not the identity."""
    n = got.shape[0]
    gram = got @ got.T
    scale = float(np.mean(np.diag(gram)))
    return first_match([
        (lambda: np.allclose(got, np.triu(got)) and not np.allclose(got, np.diag(np.diag(got))),
         "your matrix is upper triangular: that is R of the QR decomposition. Return Q (q, r = np.linalg.qr(a); "
         "use q)."),
        (lambda: scale > 0 and np.allclose(gram / scale, np.eye(n), atol=_ORTHO_ATOL),
         f"your rows are perpendicular but have length {math.sqrt(scale):.4g}, not 1: W W^T = {scale:.4g} I. "
         "Orthogonal (gain 1) needs unit length; don't rescale Q."),
        (lambda: np.allclose(np.sqrt(np.diag(got.T @ got)), 1.0, atol=1e-6),
         "every column has length 1, but the columns are not perpendicular (largest |W^T W - I| entry "
         f"{float(np.max(np.abs(got.T @ got - np.eye(n)))):.3f}). Normalising a Gaussian matrix is not enough: "
         "orthogonalise it, e.g. with np.linalg.qr."),
        (scale > 2, f"W W^T is far from the identity (its diagonal averages {scale:.3g}): did you return the "
                    "Gaussian matrix itself? Decompose it, a = q r, and return q."),
    ]) or f"W W^T should be the identity; the largest entry of |W W^T - I| is {float(np.max(np.abs(gram - np.eye(n)))):.3g}."


def _negative_fraction(my_orthogonal: Callable[[int, np.random.Generator], Any]) -> float | str:
    """How often ``W[0, 0]`` is negative over many 3x3 draws (about half for Haar; see _HAAR_*), or what is wrong."""
    rng = np.random.default_rng(2024)
    first = []
    for _ in range(_HAAR_DRAWS):
        w = array(my_orthogonal(_HAAR_N, rng))
        if w is None or w.shape != (_HAAR_N, _HAAR_N):
            return f"for n={_HAAR_N} your function did not return a {_HAAR_N}x{_HAAR_N} matrix."
        first.append(w[0, 0])
    return float(np.mean(np.asarray(first) < 0))


@checker("a random orthogonal matrix")
def check_orthogonal(my_orthogonal: Callable[[int, np.random.Generator], Any]) -> tuple[bool, str]:
    """Check ``my_orthogonal(n, rng) -> (n, n) array``: orthogonal, random (drawn from ``rng``) and Haar.

    Orthogonal means ``W W^T = I`` (every singular value 1). Haar means every
    orthogonal matrix is equally likely; the test: over many draws, ``W[0, 0]`` is
    negative about half of the time -- which fails for ``np.linalg.qr`` without
    multiplying Q's columns by the signs of R's diagonal.
    """
    n = 6
    raw = my_orthogonal(n, np.random.default_rng(0))
    got = array(raw)
    if got is None:
        return fail(f"your function should return the matrix as a NumPy array; it returned {type(raw).__name__}.")
    if got.shape != (n, n):
        if got.ndim == 1 and got.size == n:
            return fail(f"for n={n} you returned a vector of {n} numbers (singular values? the diagonal of R?); "
                        f"return the {n}x{n} matrix Q.")
        return fail(f"for n={n} your matrix has shape {got.shape}; it should be ({n}, {n}).")
    if not np.isfinite(got).all():
        return fail("your matrix holds NaN or infinite values.")
    if not np.allclose(got @ got.T, np.eye(n), atol=_ORTHO_ATOL):
        return fail(_not_orthogonal(got))
    advice = generator_advice(my_orthogonal, n, what="matrix")
    negative = advice or _negative_fraction(my_orthogonal)
    if isinstance(negative, str):
        return fail(negative)
    if abs(negative - 0.5) > _HAAR_FRACTION_TOLERANCE:
        return fail(f"your matrices are orthogonal, but not uniformly random: over {_HAAR_DRAWS} draws of 3x3 "
                    f"matrices W[0, 0] was negative {negative:.0%} of the time instead of about half. np.linalg.qr "
                    "returns an R whose diagonal has a fixed sign, which biases Q. Multiply each column of Q by "
                    "the sign of the matching diagonal entry of R: q * np.sign(np.diag(r)) (Mezzadri 2007).")
    return ok(f"W W^T = I and the draws are Haar-random (W[0, 0] negative in {negative:.0%} of draws): every "
              "direction of the input keeps its length. keras.initializers.Orthogonal and "
              "torch.nn.init.orthogonal_ do the same.")


# ------------------------------------------------------------ condition number


def reference_condition_number(kernels: Sequence[np.ndarray]) -> float:
    """``sigma_max / sigma_min`` of ``W_1 @ W_2 @ ... @ W_L`` (Keras layout: ``x @ W_1`` first).

    For a non-square product the smallest of its ``min(rows, cols)`` singular values is used.
    """
    product = np.asarray(kernels[0], dtype=np.float64)
    for w in kernels[1:]:
        product = product @ np.asarray(w, dtype=np.float64)
    s = np.linalg.svd(product, compute_uv=False)
    return float(s[0] / s[-1])


def _product(kernels: Sequence[np.ndarray]) -> np.ndarray:
    out = np.asarray(kernels[0], dtype=np.float64)
    for w in kernels[1:]:
        out = out @ np.asarray(w, dtype=np.float64)
    return out


def _condition_mistake(v: float, kernels: Sequence[np.ndarray], label: str) -> str:
    """Advice for the condition number ``v`` of ``kernels`` that is not the right one."""
    expected = reference_condition_number(kernels)
    square = kernels[0].shape[0] == kernels[0].shape[1]
    s = np.linalg.svd(_product(kernels), compute_uv=False)

    def instead(value: float) -> bool:  # the learner computed ``value``, and ``value`` is not the answer
        return close(v, value, rtol=1e-6) and not close(value, expected, rtol=1e-6)

    return first_match([
        (close(v, 1.0 / expected, rtol=1e-6),
         f"for {label} you returned {v:.4g} = sigma_min / sigma_max; the condition number is the other way up, "
         f"{expected:.4g} (never below 1)."),
        (close(v, s[0] ** 2 / s[-1] ** 2, rtol=1e-6),
         f"for {label} you returned {v:.4g}, the ratio of the squared singular values (the eigenvalues of W^T W); "
         f"take singular values themselves: {expected:.4g}."),
        (lambda: len(kernels) > 1 and square and instead(reference_condition_number(list(kernels)[::-1])),
         f"for {label} you multiplied the kernels in reverse order (W_L @ ... @ W_1). In Keras layout the input "
         "meets kernels[0] first: the map is x @ W_1 @ W_2 @ ..., and for different matrices the order changes "
         f"the singular values ({expected:.4g})."),
        (lambda: instead(reference_condition_number([k.T for k in kernels][::-1])),
         f"for {label} you used the transposed product; the answer is {expected:.4g}."),
        (lambda: any(close(v, reference_condition_number([k]), rtol=1e-6) for k in (kernels[-1], kernels[0])),
         f"for {label} you returned the condition number of one kernel ({v:.4g}); multiply all of them first: the "
         f"end-to-end map gives {expected:.4g}."),
        (lambda: square and close(v, _eigenvalue_ratio(_product(kernels)), rtol=1e-6),
         f"for {label} you used eigenvalues; the condition number uses singular values (np.linalg.svd(..., "
         f"compute_uv=False)), which measure how much each direction is stretched: {expected:.4g}."),
    ]) or (f"for {label} you returned {v:.4g}; expected {expected:.4g} = sigma_max / sigma_min of "
           "kernels[0] @ kernels[1] @ ... .")


def _eigenvalue_ratio(matrix: np.ndarray) -> float:
    ev = np.abs(np.linalg.eigvals(matrix))
    return float(ev.max() / ev.min())


@checker("condition number of the end-to-end map")
def check_condition_number(my_condition_number: Callable[[list[np.ndarray]], Any]) -> tuple[bool, str]:
    """Check ``my_condition_number(kernels)``: ``sigma_max / sigma_min`` of ``kernels[0] @ kernels[1] @ ...``.

    The kernels are in Keras layout ``(in, out)``: the input meets ``kernels[0]``
    first, so the end-to-end map is ``x @ W_1 @ ... @ W_L``.
    """
    rng = np.random.default_rng(8)
    n = 8
    gaussian = [rng.normal(0.0, n**-0.5, size=(n, n)) for _ in range(6)]
    orthogonal = [reference_orthogonal(n, rng) for _ in range(6)]
    rectangular = [rng.normal(size=(12, 8)), rng.normal(size=(8, 5))]
    cases = [("6 Gaussian 8x8 kernels", gaussian), ("6 orthogonal 8x8 kernels", orthogonal),
             ("kernels of shapes (12, 8) and (8, 5)", rectangular)]
    for label, kernels in cases:
        value = array(my_condition_number([k.copy() for k in kernels]))
        if value is None or value.size != 1:
            shape = "nothing" if value is None else f"an array of shape {value.shape}"
            return fail(f"for {label} you returned {shape}; return one number, sigma_max / sigma_min.")
        v = float(value.reshape(()))
        if not close(v, reference_condition_number(kernels), rtol=1e-6):
            return fail(_condition_mistake(v, kernels, label))
    return ok("orthogonal kernels keep the condition number at 1 at any depth; Gaussian ones of the same scale "
              "stretch some directions and crush others, more with every layer.")


# ------------------------------------------------------------ LSTM forget gate


def _runs(fn: Callable[[float], Any], value: float) -> bool:
    """True when ``fn(value)`` returns without raising (to tell a log(1) = 0 slip from code that always fails)."""
    try:
        fn(value)
    except Exception:  # noqa: BLE001 - any failure means "it does not run"
        return False
    return True


def reference_forget_half_life(forget_bias: float) -> float:
    """Steps ``t`` with ``sigmoid(b)^t = 1/2``: ``t = ln(1/2) / ln(sigmoid(b))``."""
    f = 1.0 / (1.0 + math.exp(-forget_bias))
    return math.log(0.5) / math.log(f)


def _half_life_mistake(v: float, b: float) -> str:
    """Advice for the half-life ``v`` that is not the right one for the forget bias ``b``."""
    expected = reference_forget_half_life(b)
    f = 1.0 / (1.0 + math.exp(-b))
    return first_match([
        (close(v, f, rtol=1e-4),
         f"for forget_bias = {b:g} you returned {v:.4g}, the fraction kept per step, sigmoid(b). The question is "
         f"how many steps until half is left: f^t = 1/2, t = {expected:.4g}."),
        (close(v, -expected, rtol=1e-4),
         f"for forget_bias = {b:g} you returned {v:.4g}; a number of steps is positive: t = log(1/2) / log(f) "
         "(both logs are negative)."),
        (b > 0 and close(v, math.log(0.5) / math.log(1.0 - f), rtol=1e-4),
         f"for forget_bias = {b:g} you used 1 - sigmoid(b), the fraction forgotten; the fraction kept is "
         f"f = sigmoid(b) (expected {expected:.4g})."),
        (b > 1 and close(v, math.log(0.5) / math.log(b), rtol=1e-4),
         f"for forget_bias = {b:g} you used the bias as the gate's value; the gate is sigmoid(b)."),
        (close(v, 1.0 / (1.0 - f), rtol=1e-4),
         f"for forget_bias = {b:g} you returned 1 / (1 - f), a mean memory time; the half-life is log(1/2) / log(f) "
         f"= {expected:.4g} steps."),
    ]) or f"for forget_bias = {b:g} you returned {v:.4g}; expected {expected:.4g} (f = sigmoid(b); f^t = 1/2)."


@checker("half-life of an LSTM's memory")
def check_forget_half_life(my_half_life: Callable[[float], Any]) -> tuple[bool, str]:
    """Check ``my_half_life(forget_bias)``: the steps after which ``sigmoid(b)^t = 1/2``.

    At initialization, with the forget gate's pre-activation equal to its bias
    ``b``, the cell state is multiplied by ``f = sigmoid(b)`` every step.
    """
    for b in (1.0, 0.0, 3.0, -1.0):
        expected = reference_forget_half_life(b)
        try:
            got = my_half_life(b)
        except (ValueError, ZeroDivisionError) as err:
            if b == 1.0 and _runs(my_half_life, 2.0):
                return fail(f"for forget_bias = 1 your code raised {type(err).__name__} ({err}). Did you take the "
                            "log of the bias itself (log(1) = 0)? The gate's value is sigmoid(b) = 1/(1 + e^-b).")
            raise
        value = array(got)
        if value is None or value.size != 1:
            return fail(f"for forget_bias = {b:g} return one number (steps), not {got!r}.")
        v = float(value.reshape(()))
        if not close(v, expected, rtol=1e-4):
            return fail(_half_life_mistake(v, b))
    return ok(f"Keras's forget bias 1 keeps half the cell state for {reference_forget_half_life(1.0):.2f} steps at "
              f"the start, a zero bias (PyTorch's mean) for 1 step: the 'remember by default' start of "
              "Jozefowicz et al. (2015).")
