"""Checkers for notebook 03 (zero and constant initialization): symmetry, dead gradients, zero last layers.

Each checker calls the learner's function on a few cases, compares with a
NumPy reference written here, and says *why* an answer is off:

* :func:`check_relu_mlp_gradients` -- the backward pass of ``x -> ReLU(x W1 + b1) -> W2 + b2 ->
  softmax cross-entropy`` by hand, and what it gives when ``W1 = 0``;
* :func:`check_first_step_gradients` -- which weights get a gradient at the first step, for
  ReLU, tanh and sigmoid, with zero or random hidden and output layers;
* :func:`check_initial_loss` -- the cross-entropy of a classifier whose last layer starts at zero;
* :func:`check_escapes` -- which stacks of zero and random ReLU or tanh layers can ever leave their start
  (two zero tanh layers cannot).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from . import checker, close, fail, ok
from ._common import diagnose, first_match, number

__all__ = [
    "reference_relu_mlp_gradients",
    "reference_first_step",
    "check_relu_mlp_gradients",
    "check_first_step_gradients",
    "check_initial_loss",
    "reference_escapes",
    "check_escapes",
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


def _gradients(relu_mlp_gradients: Callable[..., Any], seed: int, *, zero_w1: bool) -> tuple[Any, ...] | str:
    """The learner's gradients on :func:`_problem` ``(seed, zero_w1)``, the problem and the reference; or what is wrong."""
    problem = _problem(seed, zero_w1=zero_w1)
    got = _as_grads(relu_mlp_gradients(*(a.copy() for a in problem)))
    if isinstance(got, str):
        return got
    ref = reference_relu_mlp_gradients(*problem)
    for k in _GRAD_KEYS:
        if got[k].shape != ref[k].shape:
            hint = " (transposed?)" if got[k].shape == ref[k].shape[::-1] else ""
            return (f"d{k} has shape {got[k].shape}{hint}; a gradient has the shape of its parameter, "
                    f"{k}.shape = {ref[k].shape}.")
    return got, ref, problem


def _random_w1_mistake(got: dict[str, np.ndarray], ref: dict[str, np.ndarray], problem: tuple) -> str:
    """Advice for gradients that are wrong with random weights."""
    return first_match([
        (lambda: _same(got, reference_relu_mlp_gradients(*problem, batch_mean=False)),
         f"your gradients are {problem[0].shape[0]} times too large: L is the MEAN over the batch, so ds = "
         "(p - onehot(y)) / n."),
        (lambda: _same(got, reference_relu_mlp_gradients(*problem, relu_mask=False)),
         "dW1 and db1 ignore the ReLU: multiply dh by relu'(z1) = (z1 > 0) to get dz1."),
        (lambda: _same(got, ref, ("W2", "b2")),
         "dW2 and db2 are right, dW1 or db1 are not: dh = ds @ W2.T, dz1 = dh * (z1 > 0), dW1 = x.T @ dz1, "
         "db1 = dz1.sum(axis=0)."),
        (lambda: _same(got, ref, ("b2",)),
         "db2 is right but dW2 is not: dW2 = h.T @ ds with h = relu(x @ W1 + b1) (after the ReLU)."),
    ]) or ("the output-layer gradients are off already: ds = (softmax(s) - onehot(y)) / n, db2 = ds.sum(axis=0), "
           "dW2 = h.T @ ds.")


@checker("ReLU network gradients by hand")
def check_relu_mlp_gradients(relu_mlp_gradients: Callable[..., Any]) -> tuple[bool, str]:
    """Check ``relu_mlp_gradients(x, y, W1, b1, W2, b2) -> {'W1': dW1, 'b1': db1, 'W2': dW2, 'b2': db2}``.

    Cases: random ``W1`` (against :func:`reference_relu_mlp_gradients`), then ``W1 = 0``, where
    the right answer is ``dW1 = 0``, ``db1 = 0``, ``dW2 = 0`` and only ``db2`` is non-zero.
    """
    read = _gradients(relu_mlp_gradients, 0, zero_w1=False)
    if isinstance(read, str):
        return fail(read)
    got, ref, problem = read
    if not _same(got, ref):
        return fail(_random_w1_mistake(got, ref, problem))

    read = _gradients(relu_mlp_gradients, 1, zero_w1=True)
    if isinstance(read, str):
        return fail(read)
    got, ref, problem = read
    if not _same(got, ref):
        if _same(got, reference_relu_mlp_gradients(*problem, relu_grad_at_zero=1.0)):
            return fail("with W1 = 0 every z1 is exactly 0 and your ReLU derivative there is 1 (z1 >= 0?). "
                        "PyTorch and TensorFlow use relu'(0) = 0 -- use (z1 > 0) -- and that is exactly why "
                        "a zero hidden layer gets no gradient.")
        return fail("right for random weights, wrong for W1 = 0: check how you treat z1 == 0 (relu'(0) = 0).")
    return ok(f"and with W1 = 0: |dW1| = {np.abs(got['W1']).max():.1g}, |dW2| = {np.abs(got['W2']).max():.1g}, "
              f"|db1| = {np.abs(got['b1']).max():.1g}; only db2 = {np.round(got['b2'], 3).tolist()} is non-zero. "
              "h = relu(0) = 0 blocks dW2, relu'(0) = 0 blocks dW1: the network can only learn its output bias.")


_FIRST_STEP_ACTIVATIONS = ("relu", "tanh", "sigmoid")
_STARTS = ("zeros", "random")
# f(0) and f'(0) of each activation: what a unit outputs, and passes back, when its input is exactly 0.
_AT_ZERO = {"relu": (0.0, 0.0), "tanh": (0.0, 1.0), "sigmoid": (0.5, 0.25)}


def reference_first_step(activation: str, hidden: str, output: str) -> set[str]:
    """Which of ``W1, b1, W2, b2`` get a non-zero gradient at the first step, measured on a small batch.

    The network is ``x -> f(x W1 + b1) -> W2 + b2 -> softmax cross-entropy`` with zero biases;
    ``hidden`` and ``output`` say whether ``W1`` and ``W2`` start at ``"zeros"`` or ``"random"``.
    The batch's classes are deliberately unbalanced: with exactly balanced classes and all
    logits zero, even ``db2 = mean(p - onehot)`` would vanish.
    """
    rng = np.random.default_rng(0)
    n, d, k, c = 12, 5, 6, 3
    x = rng.normal(size=(n, d))
    y = np.array([0] * 6 + [1] * 4 + [2] * 2)
    W1 = np.zeros((d, k)) if hidden == "zeros" else rng.normal(0, 0.5, size=(d, k))
    W2 = np.zeros((k, c)) if output == "zeros" else rng.normal(0, 0.5, size=(k, c))
    b1, b2 = np.zeros(k), np.zeros(c)
    from ..activations import numpy_function as activation_function

    z1 = x @ W1 + b1
    h, slope = activation_function(activation)(z1), activation_function(activation, derivative=True)(z1)
    p = _softmax(h @ W2 + b2)
    ds = p.copy()
    ds[np.arange(n), y] -= 1
    ds /= n
    dz1 = (ds @ W2.T) * slope
    grads = {"W1": x.T @ dz1, "b1": dz1.sum(0), "W2": h.T @ ds, "b2": ds.sum(0)}
    return {name for name, g in grads.items() if np.abs(g).max() > 1e-12}


def _names(result: Any) -> set[str] | None:
    if isinstance(result, str):
        result = [result]
    try:
        items = list(result)
    except TypeError:
        return None
    out = set()
    for item in items:
        if not isinstance(item, str):
            return None
        key = item.strip()
        key = key[1:] if key[:1] in ("d", "D") and len(key) > 1 else key  # accept "dW1" for "W1"
        out.add(key.upper().replace("B", "b"))
    return out


def _why(name: str, activation: str, hidden: str, output: str, should: bool) -> str:
    f0, df0 = _AT_ZERO[activation]
    gets = "gets a" if should else "gets NO"
    if name == "b2":
        return ("b2 always gets a gradient: db2 = mean over the batch of (p - onehot(y)), which is zero only if the "
                "predictions already match the labels' frequencies.")
    if name == "W2":
        if hidden == "zeros":
            return (f"dW2 = h^T ds, and with W1 = 0 every h = {activation}(0) = {f0:g}: W2 {gets} gradient"
                    + (" (h = 0 blocks it)." if not should else " (h is not 0: every row gets the same one)."))
        return "dW2 = h^T ds with h = f(x W1) non-zero for random W1: W2 gets a gradient."
    # W1 and b1: dz1 = (ds W2^T) * f'(z1)
    if output == "zeros":
        return f"d{name} is built from ds W2^T, and W2 = 0 makes it zero: {name} gets NO gradient at the first step."
    if hidden == "zeros":
        return (f"d{name} = ... (ds W2^T) * {activation}'(z1), and with W1 = 0 every z1 is 0 where "
                f"{activation}'(0) = {df0:g}: {name} {gets} gradient.")
    return f"with random W1 and W2, ds W2^T and {activation}'(z1) are non-zero: {name} gets a gradient."


@checker("which weights learn at the first step")
def check_first_step_gradients(first_step_gradients: Callable[..., Any]) -> tuple[bool, str]:
    """Check ``first_step_gradients(activation, hidden, output) -> set of 'W1', 'b1', 'W2', 'b2'``.

    Every combination of activation (relu, tanh, sigmoid), hidden start and output
    start (zeros or random) is compared with :func:`reference_first_step`.
    """
    for activation in _FIRST_STEP_ACTIVATIONS:
        for hidden in _STARTS:
            for output in _STARTS:
                expected = reference_first_step(activation, hidden, output)
                raw = first_step_gradients(activation, hidden, output)
                got = _names(raw)
                case = f"{activation}, W1 = {hidden}, W2 = {output}"
                if got is None:
                    return fail(f"for {case} you returned {raw!r}; return a set of names such as {{'W2', 'b2'}}.")
                unknown = got - set(_GRAD_KEYS)
                if unknown:
                    return fail(f"for {case} you returned unknown names {sorted(unknown)}; use 'W1', 'b1', 'W2', 'b2'.")
                if got == expected:
                    continue
                wrong = sorted((got ^ expected), key=_GRAD_KEYS.index)
                name = wrong[0]
                return fail(f"for {case} you said {name} " + ("gets a" if name in got else "gets no")
                            + f" gradient. {_why(name, activation, hidden, output, name in expected)}")
    return ok("with random outgoing weights W2, a zero hidden layer is stuck only where f(0) = 0 AND f'(0) = 0 "
              "(ReLU); tanh's slope 1 at 0 lets the gradient through, and the rows of W2 make it different for "
              "every unit.")


@checker("the loss of a zero last layer")
def check_initial_loss(initial_loss: Callable[[int], Any]) -> tuple[bool, str]:
    """Check ``initial_loss(n_classes)`` = ``ln(n_classes)``: zero logits give uniform softmax probabilities."""
    for n in (10, 2, 100):
        expected = math.log(n)
        raw = initial_loss(n)
        got = number(raw)
        if isinstance(got, str):
            return fail(f"for {n} classes you returned {raw!r}; with zero logits softmax gives every class 1/{n}.")
        if close(got, expected):
            continue
        return fail(f"for {n} classes you returned " + (diagnose(got, expected, [
            (math.log10(n), f"{got:.4g} = log10({n}); cross-entropy uses the natural log: ln({n}) = {expected:.4g}."),
            (math.log2(n), f"{got:.4g} = log2({n}) (bits); the frameworks' cross-entropy uses the natural log: "
                           f"ln({n}) = {expected:.4g}."),
            (1 / n, f"1/{n}, the probability of each class; the loss is -ln(1/{n}) = {expected:.4g}."),
            (-expected, f"{got:.4g}: the sign is off; the loss is -ln p = -ln(1/{n}) = +{expected:.4g}."),
        ]) or f"{got!r}; with zero logits softmax gives every class 1/{n}."))
    return ok("ln(10) = 2.3026: a zero last layer starts every prediction uniform, with no class preferred.")


# ------------------------------------------------------------- zero layers in a deeper stack

_ESCAPE_CASES = (
    ("relu", ("random",)), ("relu", ("zeros",)), ("relu", ("random", "zeros")),
    ("tanh", ("zeros",)), ("tanh", ("random", "zeros")), ("tanh", ("random", "zeros", "random")),
    ("tanh", ("zeros", "zeros")), ("tanh", ("zeros", "random", "zeros")), ("tanh", ("random", "random")),
)


def reference_escapes(activation: str, hidden: tuple[str, ...], *, steps: int = 4, lr: float = 0.5) -> bool:
    """Whether ``x -> f(h W_1) -> ... -> f(h W_L) -> W_out`` can leave its start, *measured* in NumPy.

    ``hidden`` gives each hidden layer's start (``"zeros"`` or ``"random"``); biases start at 0, the
    output layer is random. Runs ``steps`` steps of full-batch gradient descent (exact backprop, float64,
    biases trained too) and returns True when the logits then depend on the input -- False when the network is
    stuck as a constant predictor (only biases move), as two consecutive zero tanh layers are.
    """
    from ..activations import numpy_function

    f, df = numpy_function(activation), numpy_function(activation, derivative=True)
    rng = np.random.default_rng(0)
    n, d, k, c = 16, 5, 6, 3
    x, y = rng.normal(size=(n, d)), rng.integers(0, c, size=n)
    sizes = [d] + [k] * len(hidden)
    Ws = [np.zeros((a, b)) if s == "zeros" else rng.normal(0, 1 / math.sqrt(a), size=(a, b))
          for a, b, s in zip(sizes[:-1], sizes[1:], hidden, strict=True)]
    Ws.append(rng.normal(0, 1 / math.sqrt(k), size=(k, c)))
    bs = [np.zeros(W.shape[1]) for W in Ws]
    for _ in range(steps + 1):
        hs, zs = [x], []
        for i, (W, b) in enumerate(zip(Ws, bs, strict=True)):
            zs.append(hs[-1] @ W + b)
            hs.append(zs[-1] if i == len(Ws) - 1 else f(zs[-1]))
        logits = hs[-1]
        if np.abs(logits - logits[:1]).max() > 1e-12:
            return True
        ds = _softmax(logits)
        ds[np.arange(n), y] -= 1
        ds /= n
        for i in range(len(Ws) - 1, -1, -1):
            dW, db = hs[i].T @ ds, ds.sum(0)
            if i > 0:
                ds = (ds @ Ws[i].T) * df(zs[i - 1])
            Ws[i] -= lr * dW
            bs[i] -= lr * db
    return False


def _escape_advice(activation: str, hidden: tuple[str, ...], expected: bool) -> str:
    zeros = [i + 1 for i, s in enumerate(hidden) if s == "zeros"]
    if activation == "relu":
        if expected:
            return "with every layer random, nothing is zero: it trains."
        return (f"layer {zeros[0]} is a zero ReLU layer: it outputs relu(0) = 0 for every input, and passes back "
                "relu'(0) = 0, so nothing above it sees the input and nothing below it gets a gradient. One zero "
                "ReLU layer anywhere is enough to freeze the network.")
    if expected:
        if zeros:
            return (f"a single zero tanh layer (layer {zeros[0]}) escapes: its input is not zero, and tanh'(0) = 1 "
                    "lets the gradient of the random weights above it through, so dW = h^T dz is non-zero at the "
                    "first step and differs from unit to unit.")
        return "with every layer random, nothing is zero: it trains."
    if zeros[1] == zeros[0] + 1:
        return (f"layers {zeros[0]} and {zeros[1]} both start at zero. Layer {zeros[0]} outputs tanh(0) = 0 for every "
                f"input, so layer {zeros[1]} has zero weights AND zero input: its dW = h^T dz = 0, and the gradient it "
                f"passes down, dz W^T, is 0 because W = 0. Neither weight matrix ever moves (only biases do, which "
                "are the same for every input).")
    return (f"layers {zeros[0]} and {zeros[1]} start at zero with a random layer between them. That random layer "
            f"receives tanh(0) = 0 from layer {zeros[0]} and maps it to tanh(0 W) = 0, so layer {zeros[1]} still has "
            "zero weights AND zero input: dW = h^T dz = 0 and dz W^T = 0. Two zero tanh layers anywhere freeze it.")


@checker("zero layers in a deeper stack")
def check_escapes(escapes: Callable[..., Any]) -> tuple[bool, str]:
    """Check ``escapes(activation, hidden) -> bool`` against :func:`reference_escapes` on ReLU and tanh stacks.

    ``hidden`` is a tuple of ``"zeros"``/``"random"``, one per hidden layer; biases start at 0 and the
    output layer is random. True: the predictions come to depend on the input; False: stuck forever.
    """
    for activation, hidden in _ESCAPE_CASES:
        expected = reference_escapes(activation, hidden)
        raw = escapes(activation, hidden)
        if not isinstance(raw, (bool, np.bool_)):
            return fail(f"for {activation} with hidden layers {hidden} you returned {raw!r}; return True or False.")
        if bool(raw) == expected:
            continue
        said = "escapes" if raw else "is stuck"
        return fail(f"for {activation} with hidden layers {hidden} you said it {said}. "
                    + _escape_advice(activation, hidden, expected))
    return ok("ReLU: one zero layer anywhere freezes the network (f(0) = 0 and f'(0) = 0). tanh: one zero layer "
              "escapes through tanh'(0) = 1, but two zero layers anywhere freeze it, because the second one sees "
              "an input that is exactly 0.")
