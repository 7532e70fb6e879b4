"""Fans, the :class:`Initializer` base class, and every scheme's NumPy reference and adapters.

Each scheme is one object with three ways to draw the same distribution:

* ``sample(shape, seed=None, layout="keras")`` -- the NumPy reference, the truth
  the tests hold both frameworks against;
* ``to_keras(seed=None)`` -- a ``keras.initializers.Initializer`` for
  ``kernel_initializer=``, drawing through ``keras.random``;
* ``apply_torch_(tensor, generator=None)`` -- fills a torch tensor in place with
  torch ops, honouring ``generator=``.

Layouts are never guessed from a shape: Keras stores kernels as
``(..., in, out)`` (dense ``(in, out)``, conv ``(kh, kw, in, out)``), PyTorch as
``(out, in, ...)`` (dense ``(out, in)``, conv ``(out, in, kh, kw)``).
"""

from __future__ import annotations

import math
import random as _pyrandom
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import frameworks
from .._validation import check_choice, check_int, check_number, check_shape

__all__ = [
    "LAYOUTS",
    "MODES",
    "DISTRIBUTIONS",
    "TRUNCATED_NORMAL_STD",
    "compute_fans",
    "variance_formula",
    "Initializer",
    "Constant",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Orthogonal",
    "DeltaOrthogonal",
    "Identity",
    "Sparse",
    "SparseTorch",
    "KerasDefaultRecurrent",
    "TorchDefaultRecurrent",
]

LAYOUTS = ("keras", "torch")
MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")

# Standard deviation of a unit normal truncated to [-2, 2]:
#   sqrt(1 - 2 * 2 * phi(2) / (2 * Phi(2) - 1)) = 0.87962566103423978...
# (phi, Phi: standard normal pdf and cdf). Keras and TensorFlow truncate at two
# standard deviations, which shrinks the std by this factor; dividing the scale
# by it gives a truncated draw with exactly the target variance.
TRUNCATED_NORMAL_STD = 0.87962566103423978

# A truncated draw never leaves +-2 of its (untruncated) scale.
_TRUNCATION = 2.0

_RECURRENT_GATES = {"simple_rnn": 1, "rnn": 1, "gru": 3, "lstm": 4}


# ---------------------------------------------------------------------------- fans


def _check_layout(layout: Any) -> str:
    return check_choice("layout", layout, LAYOUTS)


def compute_fans(shape: Sequence[int], layout: str = "keras", *, gates: int = 1) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a dense, convolution or recurrent kernel.

    * dense: Keras ``(in, out)``, PyTorch ``(out, in)``;
    * convolution 1D/2D/3D: Keras ``(*kernel, in, out)``, PyTorch ``(out, in, *kernel)``;
      both fans are multiplied by the receptive field ``prod(kernel)``:
      ``fan_in = in * prod(kernel)``, ``fan_out = out * prod(kernel)``;
    * recurrent: Keras ``kernel (in, gates*units)`` and ``recurrent_kernel
      (units, gates*units)``; PyTorch ``weight_ih (gates*hidden, in)`` and
      ``weight_hh (gates*hidden, hidden)``. Both frameworks compute the fans of
      the *stacked* matrix (``gates=1``, the default, reproduces them). Pass
      ``gates=4`` (LSTM) or ``3`` (GRU) to get the fans of one gate's matrix,
      i.e. ``fan_out`` divided by ``gates``.

    This is Keras's ``compute_fans`` and PyTorch's
    ``_calculate_fan_in_and_fan_out``, with the layout said out loud instead
    of implied. A shape with fewer than two dimensions has no fans (a
    ``ValueError`` says so): biases are initialized by constants.
    """
    layout = _check_layout(layout)
    shape = check_shape("shape", shape, min_dims=2)
    gates = check_int("gates", gates, low=1)
    if layout == "keras":
        receptive = math.prod(shape[:-2])
        n_in, n_out = shape[-2], shape[-1]
    else:
        receptive = math.prod(shape[2:])
        n_out, n_in = shape[0], shape[1]
    if n_out % gates:
        raise ValueError(
            f"gates={gates} must divide the output dimension {n_out} of shape {shape} "
            f"({layout} layout); expected e.g. gates=4 for an LSTM kernel of shape (in, 4*units)."
        )
    return n_in * receptive, n_out * receptive // gates


def _keras_shape(shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    """The Keras-layout shape of a kernel given in ``layout``."""
    if layout == "keras" or len(shape) < 2:
        return shape
    return (*shape[2:], shape[1], shape[0])


def _to_layout(array_keras: np.ndarray, layout: str) -> np.ndarray:
    """Move a Keras-layout kernel ``(*k, in, out)`` to ``layout`` (torch: ``(out, in, *k)``)."""
    if layout == "keras" or array_keras.ndim < 2:
        return array_keras
    n = array_keras.ndim
    return np.ascontiguousarray(np.transpose(array_keras, (n - 1, n - 2, *range(n - 2))))


def _rng(seed: Any) -> np.random.Generator:
    """A NumPy generator from an int seed, a Generator, or None (drawn from NumPy's global state).

    ``None`` draws the seed from ``np.random`` so that ``course_utils.set_seed``
    makes unseeded draws repeatable too.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng(np.random.randint(0, 2**32 - 1, dtype=np.uint64))
    return np.random.default_rng(check_int("seed", seed, low=0))


def _truncated_normal_np(rng: np.random.Generator, size: tuple[int, ...], mean: float, std: float) -> np.ndarray:
    """Normal(mean, std) redrawn until inside mean +- 2 std (TensorFlow's and Keras's semantics)."""
    out = rng.normal(mean, std, size=size)
    if std == 0:
        return out
    bad = np.abs(out - mean) > _TRUNCATION * std
    while bad.any():  # ~4.6% of draws are redrawn each round, so this ends in a few rounds
        out[bad] = rng.normal(mean, std, size=int(bad.sum()))
        bad = np.abs(out - mean) > _TRUNCATION * std
    return out


# -------------------------------------------------------------------- the base class


class Initializer:
    """One initialization scheme: a NumPy reference and thin Keras and PyTorch adapters.

    Subclasses implement ``_sample_keras_layout`` (NumPy, Keras layout),
    ``_keras_draw`` (keras ops) and ``_torch_fill_`` (torch ops), plus
    ``expected_std``/``expected_mean``.

    Attributes:
        name: the registry name (``"he_normal"``).
        params: the parameters it was built with (JSON-friendly; ``get(name, **params)``
            rebuilds the same scheme).
    """

    #: the fewest dimensions a shape may have (2 where a matrix or fans are needed)
    min_dims: int = 2
    #: False for schemes that draw nothing (constants, identity): the same seed or not, the same tensor
    is_random: bool = True
    #: one-line formula for table() and repr
    formula: str = ""
    #: citation for table()
    paper: str = ""

    def __init__(self, name: str, params: dict[str, Any] | None = None) -> None:
        self.name = name
        self.params = dict(params or {})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"<Initializer {self.name}({args})>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Initializer) and (self.name, self.params) == (other.name, other.params)

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.params.items()))))

    @property
    def label(self) -> str:
        """The one label of this scheme in every table of the course: ``he_normal``, or
        ``random_normal(std=0.333333)`` when a parameter differs from the registry's default.

        Floats print with ``:g`` (6 significant digits), other values as ``str``
        (``mode=fan_out``), so ``sweep``, ``signal_propagation`` and
        ``describe_model_init`` tables of the same scheme join on their ``init`` column.
        """
        from ._registry import REGISTRY  # the registry builds on this module: imported on use

        defaults = REGISTRY[self.name].factory().params if self.name in REGISTRY else {}
        changed = {k: v for k, v in self.params.items() if defaults.get(k) != v}  # a None parameter is a default
        if not changed:
            return self.name
        args = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in changed.items())
        return f"{self.name}({args})"

    # -- shapes
    def _check(self, shape: Any, layout: str) -> tuple[tuple[int, ...], str]:
        layout = _check_layout(layout)
        if isinstance(shape, (tuple, list)) and len(shape) < self.min_dims:
            need = "a matrix shape with at least 2 dimensions, e.g. (784, 256)" if self.min_dims >= 2 else (
                "a shape with at least one dimension, e.g. (256,)"
            )
            raise ValueError(f"{self.name} needs {need}; got shape={tuple(shape)!r}.")
        shape = check_shape("shape", shape, min_dims=self.min_dims)
        return shape, layout

    # -- public API
    def sample(self, shape: Sequence[int], seed: int | np.random.Generator | None = None,
               layout: str = "keras") -> np.ndarray:
        """Draw one weight tensor of ``shape`` with NumPy (the reference implementation).

        ``layout`` says how ``shape`` is ordered: ``"keras"`` ``(..., in, out)`` or
        ``"torch"`` ``(out, in, ...)``. Returns a float32 array of ``shape``.
        The same ``seed`` gives the same draw.
        """
        shape, layout = self._check(shape, layout)
        rng = _rng(seed)
        kshape = _keras_shape(shape, layout)
        out = self._sample_keras_layout(kshape, rng)
        return _to_layout(np.asarray(out, dtype=np.float64), layout).astype(np.float32)

    def to_keras(self, seed: Any = None) -> Any:
        """A ``keras.initializers.Initializer`` drawing this scheme (serialisable via ``get_config``).

        ``seed`` follows Keras: an int (or ``None``, which picks one from Python's
        ``random``, seeded by ``course_utils.set_seed``) gives the same values on
        every call; a ``keras.random.SeedGenerator`` gives fresh values each call.
        """
        cls = keras_adapter_class()
        return cls(scheme=self.name, params=self.params, seed=seed)

    def apply_torch_(self, tensor: Any, generator: Any = None) -> Any:
        """Fill ``tensor`` (PyTorch layout ``(out, in, ...)``) in place and return it.

        Draws with torch ops from ``generator`` (a ``torch.Generator``; ``None``
        uses torch's global generator, seeded by ``torch.manual_seed``).
        """
        torch = frameworks.torch()
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"apply_torch_ needs a torch.Tensor; got {type(tensor).__name__}.")
        shape, _ = self._check(tuple(tensor.shape), "torch")
        with torch.no_grad():
            self._torch_fill_(torch, tensor, shape, generator)
        return tensor

    def expected_std(self, shape: Sequence[int], layout: str = "keras") -> float:
        """The theoretical standard deviation of one entry of a draw of ``shape``."""
        shape, layout = self._check(shape, layout)
        return float(self._expected_std(shape, layout))

    def expected_mean(self, shape: Sequence[int], layout: str = "keras") -> float:
        """The theoretical mean of one entry (0 for every random scheme unless a mean is given)."""
        shape, layout = self._check(shape, layout)
        return float(self._expected_mean(shape, layout))

    # -- to implement
    def _sample_keras_layout(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _keras_draw(self, keras: Any, shape: tuple[int, ...], dtype: Any, seed: Any) -> Any:
        raise NotImplementedError

    def _torch_fill_(self, torch: Any, tensor: Any, shape: tuple[int, ...], generator: Any) -> None:
        raise NotImplementedError

    def _expected_std(self, shape: tuple[int, ...], layout: str) -> float:
        raise NotImplementedError

    def _expected_mean(self, shape: tuple[int, ...], layout: str) -> float:
        return 0.0

    # -- description for table()
    def _describe(self) -> dict[str, str]:
        return {"formula": self.formula, "paper": self.paper}


def _sub_seed(seed: Any, i: int) -> Any:
    """The i-th independent Keras seed derived from ``seed`` (an int, or a SeedGenerator used as is).

    Keras draws with an int seed are stateless: two draws with the same int are
    identical, so a scheme that needs two random tensors offsets the second.
    """
    if isinstance(seed, int):
        return (seed + 7919 * i) % (2**31 - 1)  # 7919 (a prime) just spreads the derived seeds apart
    return seed


# ------------------------------------------------------------------- constants


class Constant(Initializer):
    """Every weight equal to ``value``: ``W_ij = value``.

    ``zeros`` and ``ones`` are presets. Constant kernels make every unit of a
    layer compute the same function and receive the same gradient, so they
    never become different (the symmetry problem); zeros are right for
    biases, for a last layer, and for residual branches.
    """

    min_dims = 1
    is_random = False

    def __init__(self, value: float = 0.0, name: str = "constant", params: dict | None = None) -> None:
        value = check_number("value", value)
        super().__init__(name, {"value": value} if params is None else params)
        self.value = value
        self.formula = f"W = {value:g}"
        self.paper = "-"

    def _sample_keras_layout(self, shape, rng):
        return np.full(shape, self.value)

    def _keras_draw(self, keras, shape, dtype, seed):
        return keras.ops.full(shape, self.value, dtype=dtype)

    def _torch_fill_(self, torch, tensor, shape, generator):
        tensor.fill_(self.value)

    def _expected_std(self, shape, layout):
        return 0.0

    def _expected_mean(self, shape, layout):
        return self.value


# ----------------------------------------------------------------- fixed-scale


class RandomNormal(Initializer):
    """``W ~ N(mean, std^2)``, independently per entry.

    Keras's ``RandomNormal`` defaults to ``stddev=0.05``; PyTorch's ``normal_`` to
    ``std=1``. The course's default is Keras's.
    """

    min_dims = 1
    formula = "N(mean, std^2)"
    paper = "-"

    def __init__(self, mean: float = 0.0, std: float = 0.05) -> None:
        mean = check_number("mean", mean)
        std = check_number("std", std, low=0.0)
        super().__init__("random_normal", {"mean": mean, "std": std})
        self.mean, self.std = mean, std

    def _sample_keras_layout(self, shape, rng):
        return rng.normal(self.mean, self.std, size=shape)

    def _keras_draw(self, keras, shape, dtype, seed):
        return keras.random.normal(shape, mean=self.mean, stddev=self.std, dtype=dtype, seed=seed)

    def _torch_fill_(self, torch, tensor, shape, generator):
        tensor.normal_(self.mean, self.std, generator=generator)

    def _expected_std(self, shape, layout):
        return self.std

    def _expected_mean(self, shape, layout):
        return self.mean


class RandomUniform(Initializer):
    """``W ~ U(low, high)``: mean ``(low+high)/2``, std ``(high-low)/sqrt(12)``.

    Keras's ``RandomUniform`` defaults to ``[-0.05, 0.05]``; PyTorch's ``uniform_``
    to ``[0, 1]``. The course's default is Keras's.
    """

    min_dims = 1
    formula = "U(low, high)"
    paper = "-"

    def __init__(self, low: float = -0.05, high: float = 0.05) -> None:
        low = check_number("low", low)
        high = check_number("high", high)
        if not high > low:
            raise ValueError(f"random_uniform needs low < high; got low={low:g}, high={high:g}.")
        super().__init__("random_uniform", {"low": low, "high": high})
        self.low, self.high = low, high

    def _sample_keras_layout(self, shape, rng):
        return rng.uniform(self.low, self.high, size=shape)

    def _keras_draw(self, keras, shape, dtype, seed):
        return keras.random.uniform(shape, minval=self.low, maxval=self.high, dtype=dtype, seed=seed)

    def _torch_fill_(self, torch, tensor, shape, generator):
        tensor.uniform_(self.low, self.high, generator=generator)

    def _expected_std(self, shape, layout):
        return (self.high - self.low) / math.sqrt(12.0)  # variance of U(a, b) is (b - a)^2 / 12

    def _expected_mean(self, shape, layout):
        return 0.5 * (self.low + self.high)


class TruncatedNormal(Initializer):
    """``N(mean, std^2)`` with draws outside ``mean +- 2 std`` redrawn.

    ``std`` is the scale *before* truncation (Keras/TensorFlow semantics), so
    the draw's actual std is ``0.8796 * std``. PyTorch's ``trunc_normal_(mean,
    std, a=-2, b=2)`` cuts at *absolute* bounds ``a, b`` instead; the adapter
    passes ``a = mean - 2 std``, ``b = mean + 2 std`` so both agree.
    """

    min_dims = 1
    formula = "N(mean, std^2) truncated to mean +- 2 std"
    paper = "-"

    def __init__(self, mean: float = 0.0, std: float = 0.05) -> None:
        mean = check_number("mean", mean)
        std = check_number("std", std, low=0.0)
        super().__init__("truncated_normal", {"mean": mean, "std": std})
        self.mean, self.std = mean, std

    def _sample_keras_layout(self, shape, rng):
        return _truncated_normal_np(rng, shape, self.mean, self.std)

    def _keras_draw(self, keras, shape, dtype, seed):
        return keras.random.truncated_normal(shape, mean=self.mean, stddev=self.std, dtype=dtype, seed=seed)

    def _torch_fill_(self, torch, tensor, shape, generator):
        if self.std == 0:
            tensor.fill_(self.mean)
            return
        torch.nn.init.trunc_normal_(tensor, self.mean, self.std, self.mean - _TRUNCATION * self.std,
                                    self.mean + _TRUNCATION * self.std, generator=generator)

    def _expected_std(self, shape, layout):
        return self.std * TRUNCATED_NORMAL_STD

    def _expected_mean(self, shape, layout):
        return self.mean


# ------------------------------------------------------------- variance scaling


def variance_formula(scale: float, mode: str) -> str:
    """``scale / n`` written out, e.g. ``2/(fan_in+fan_out)`` for Glorot (``scale=1, mode="fan_avg"``).

    ``n`` is ``fan_in``, ``fan_out`` or ``(fan_in+fan_out)/2``; the halving is folded into the
    numerator, so Glorot reads as the paper writes it (Glorot & Bengio 2010, eq. 12), and a
    fractional scale goes into the denominator: ``1/(3 fan_in)``.
    """
    from fractions import Fraction

    denom = {"fan_in": "fan_in", "fan_out": "fan_out", "fan_avg": "(fan_in+fan_out)"}[mode]
    num = scale * (2 if mode == "fan_avg" else 1)
    f = Fraction(num).limit_denominator(1000)
    if abs(float(f) - num) > 1e-9 * max(1.0, abs(num)):
        return f"{num:g}/{denom}"
    if f.denominator == 1:
        return f"{f.numerator}/{denom}"
    return f"{f.numerator}/({f.denominator} {denom})"


class VarianceScaling(Initializer):
    """The family behind Glorot, He and LeCun: ``Var(W) = scale / n``.

    ``n`` is ``fan_in``, ``fan_out`` or ``(fan_in + fan_out) / 2`` (``mode``), and

    * ``distribution="normal"``: ``W ~ N(0, scale/n)`` (PyTorch's ``xavier_normal_``/``kaiming_normal_``);
    * ``distribution="truncated_normal"``: a normal truncated to +-2 of its scale,
      the scale divided by 0.8796 so the *truncated* draw has variance
      ``scale/n`` exactly (Keras's ``VarianceScaling``, ``GlorotNormal``, ``HeNormal``, ``LecunNormal``);
    * ``distribution="uniform"``: ``W ~ U(-limit, limit)``, ``limit = sqrt(3 scale / n)``.

    ``gates`` (default 1, as both frameworks do) divides ``fan_out`` for a
    recurrent kernel that stacks ``gates`` matrices (see :func:`compute_fans`).

    Reference: Keras ``keras.initializers.VarianceScaling``; the presets cite their papers.
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 *, gates: int = 1, name: str = "variance_scaling", params: dict | None = None,
                 formula: str | None = None, paper: str | None = None) -> None:
        scale = check_number("scale", scale, low=0.0, low_inclusive=False)
        mode = check_choice("mode", mode, MODES)
        distribution = check_choice("distribution", distribution, DISTRIBUTIONS)
        gates = check_int("gates", gates, low=1)
        if params is None:
            params = {"scale": scale, "mode": mode, "distribution": distribution}
            if gates != 1:
                params["gates"] = gates
        super().__init__(name, params)
        self.scale, self.mode, self.distribution, self.gates = scale, mode, distribution, gates
        self.formula = formula or self._default_formula()
        self.paper = paper if paper is not None else "-"

    def _default_formula(self) -> str:
        var = variance_formula(self.scale, self.mode)
        return {
            "normal": f"N(0, {var})",
            "truncated_normal": f"truncated N, Var = {var}",
            "uniform": f"U(-a, a), a = sqrt({variance_formula(3 * self.scale, self.mode)})",
        }[self.distribution]

    def variance(self, shape: Sequence[int], layout: str = "keras") -> float:
        """``scale / n`` for this shape (the target variance of every entry)."""
        fan_in, fan_out = compute_fans(shape, layout, gates=self.gates)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / n

    def _expected_std(self, shape, layout):
        return math.sqrt(self.variance(shape, layout))

    def _draw_params(self, shape: tuple[int, ...], layout: str) -> tuple[str, float]:
        """(distribution, parameter): the std of the normal, the untruncated scale, or the uniform limit."""
        std = self._expected_std(shape, layout)
        if self.distribution == "uniform":
            return "uniform", math.sqrt(3.0) * std  # U(-l, l) has variance l^2 / 3
        if self.distribution == "truncated_normal":
            return "truncated_normal", std / TRUNCATED_NORMAL_STD
        return "normal", std

    def _sample_keras_layout(self, shape, rng):
        dist, p = self._draw_params(shape, "keras")
        if dist == "uniform":
            return rng.uniform(-p, p, size=shape)
        if dist == "truncated_normal":
            return _truncated_normal_np(rng, shape, 0.0, p)
        return rng.normal(0.0, p, size=shape)

    def _keras_draw(self, keras, shape, dtype, seed):
        dist, p = self._draw_params(shape, "keras")
        if dist == "uniform":
            return keras.random.uniform(shape, minval=-p, maxval=p, dtype=dtype, seed=seed)
        if dist == "truncated_normal":
            return keras.random.truncated_normal(shape, mean=0.0, stddev=p, dtype=dtype, seed=seed)
        return keras.random.normal(shape, mean=0.0, stddev=p, dtype=dtype, seed=seed)

    def _torch_fill_(self, torch, tensor, shape, generator):
        dist, p = self._draw_params(shape, "torch")
        if dist == "uniform":
            tensor.uniform_(-p, p, generator=generator)
        elif dist == "truncated_normal":
            torch.nn.init.trunc_normal_(tensor, 0.0, p, -_TRUNCATION * p, _TRUNCATION * p, generator=generator)
        else:
            tensor.normal_(0.0, p, generator=generator)

    def bound(self, shape: Sequence[int], layout: str = "keras") -> float:
        """The largest possible |W|: the uniform limit, 2x the untruncated scale, or ``inf`` (normal)."""
        shape, layout = self._check(shape, layout)
        dist, p = self._draw_params(shape, layout)
        return {"uniform": p, "truncated_normal": _TRUNCATION * p, "normal": math.inf}[dist]


class TorchDefaultLinear(VarianceScaling):
    """PyTorch's default for ``nn.Linear`` and ``nn.Conv*d`` weights.

    ``kaiming_uniform_(W, a=sqrt(5))``: gain ``sqrt(2/(1+a^2)) = sqrt(1/3)``, so
    ``W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` and ``Var(W) = 1/(3 fan_in)`` -- a
    third of LeCun's variance. The ``a=sqrt(5)`` is not a leaky-ReLU slope; it
    is the algebra that reproduces the old Torch7 rule (``legacy_uniform``).
    The PyTorch adapter calls exactly that built-in.
    """

    def __init__(self) -> None:
        super().__init__(1.0 / 3.0, "fan_in", "uniform", name="torch_default_linear", params={},
                         formula="U(-1/sqrt(fan_in), 1/sqrt(fan_in)); Var = 1/(3 fan_in)",
                         paper="PyTorch nn.Linear.reset_parameters (kaiming_uniform_, a=sqrt(5))")

    def _torch_fill_(self, torch, tensor, shape, generator):
        torch.nn.init.kaiming_uniform_(tensor, a=math.sqrt(5), generator=generator)


# ------------------------------------------------------------------ orthogonal


def _orthogonal_np(rng: np.random.Generator, shape: tuple[int, ...], gain: float) -> np.ndarray:
    rows = math.prod(shape[:-1])  # Keras flattens (*k, in, out) to (prod(k)*in, out)
    cols = shape[-1]
    a = rng.normal(size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    # Multiplying each column by the sign of R's diagonal makes Q Haar-distributed
    # (Mezzadri 2007, arXiv:math-ph/0609050); without it Q is biased.
    d = np.sign(np.diag(r))
    d[d == 0] = 1.0
    q = q * d
    if rows < cols:
        q = q.T
    return gain * q.reshape(shape)


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times ``gain``: ``W W^T = gain^2 I`` or ``W^T W = gain^2 I``.

    QR of a Gaussian matrix with the sign correction (Mezzadri 2007) gives a
    Haar-random orthogonal matrix. Convolution kernels are flattened to
    ``(prod(kernel)*in, out)`` in Keras and ``(out, in*prod(kernel))`` in PyTorch --
    the same matrix up to a transpose and a permutation, so the same property.

    ``expected_std``: an ``r x c`` semi-orthogonal matrix has ``min(r, c)``
    orthonormal rows or columns, so the sum of its squared entries is ``min(r, c)``
    and, the mean being 0 by symmetry, the std of one entry is exactly
    ``gain * sqrt(min(r, c) / (r c)) = gain / sqrt(max(r, c))``.

    Reference: Saxe, McClelland & Ganguli (2013), "Exact solutions to the
    nonlinear dynamics of learning in deep linear neural networks".
    """

    formula = "W W^T = gain^2 I (or W^T W), Haar random"
    paper = "Saxe et al. 2013"

    def __init__(self, gain: float = 1.0) -> None:
        gain = check_number("gain", gain, low=0.0, low_inclusive=False)
        super().__init__("orthogonal", {"gain": gain})
        self.gain = gain

    @staticmethod
    def matrix_shape(shape: Sequence[int], layout: str = "keras") -> tuple[int, int]:
        """The 2-D matrix a kernel is flattened to: Keras ``(prod(shape[:-1]), out)``, torch ``(out, rest)``."""
        shape = tuple(shape)
        if layout == "keras":
            return math.prod(shape[:-1]), shape[-1]
        return shape[0], math.prod(shape[1:])

    def _sample_keras_layout(self, shape, rng):
        return _orthogonal_np(rng, shape, self.gain)

    def _keras_draw(self, keras, shape, dtype, seed):
        return keras.initializers.Orthogonal(gain=self.gain, seed=seed)(shape, dtype=dtype)

    def _torch_fill_(self, torch, tensor, shape, generator):
        torch.nn.init.orthogonal_(tensor, gain=self.gain, generator=generator)

    def _expected_std(self, shape, layout):
        r, c = self.matrix_shape(shape, layout)
        return self.gain / math.sqrt(max(r, c))


class DeltaOrthogonal(Initializer):
    """Delta-orthogonal convolution kernel: zero everywhere but the spatial centre, an orthogonal matrix there.

    For a kernel of Keras shape ``(*k, in, out)`` (PyTorch ``(out, in, *k)``) the entries at the centre tap
    ``k_i // 2`` (the tap PyTorch's ``dirac_`` uses) form a Haar-random (semi-)orthogonal ``in x out`` matrix
    times ``gain``; every other tap is 0. A convolution so initialized maps each pixel's channel vector by an
    orthogonal matrix, so the layer's input-output Jacobian is orthogonal: with ``in <= out`` (as Xiao et al.
    require) it preserves norms exactly; with ``in > out`` it is a projection, as for :class:`Orthogonal`.
    Together with a critical ``gain`` (``chi_1 = 1``, see :mod:`course_utils.meanfield`) it gives dynamical
    isometry in deep CNNs: Xiao et al. train 10,000-layer vanilla tanh CNNs with it. A 2-D (dense) shape is the
    1 x 1 kernel: plain orthogonal.

    Fans: the receptive field does not enter the scale (``fan_in`` of the centre tap is ``in``, not ``in k``):
    the non-zero centre has unit-norm rows or columns, so ``expected_std`` is
    ``gain * sqrt(min(in, out) / (prod(k) in out)) = gain / sqrt(prod(k) max(in, out))``, the rms of the
    whole kernel.

    Reference: Xiao, Bahri, Sohl-Dickstein, Schoenholz & Pennington (2018), "Dynamical isometry and a
    mean field theory of CNNs: how to train 10,000-layer vanilla convolutional neural networks", alg. 1.
    """

    formula = "W[centre] = gain * Q (Q orthogonal in x out), 0 at other taps"
    paper = "Xiao et al. 2018"

    def __init__(self, gain: float = 1.0) -> None:
        gain = check_number("gain", gain, low=0.0, low_inclusive=False)
        super().__init__("delta_orthogonal", {"gain": gain})
        self.gain = gain

    @staticmethod
    def centre(shape: Sequence[int], layout: str = "keras") -> tuple[int, ...]:
        """The index of the centre tap's ``in x out`` (Keras) or ``out x in`` (torch) matrix in a kernel."""
        shape = tuple(shape)
        if layout == "keras":
            return tuple(k // 2 for k in shape[:-2])
        return tuple(k // 2 for k in shape[2:])

    def _sample_keras_layout(self, shape, rng):
        out = np.zeros(shape)
        out[self.centre(shape)] = _orthogonal_np(rng, shape[-2:], self.gain)
        return out

    def _keras_draw(self, keras, shape, dtype, seed):
        centre = keras.initializers.Orthogonal(gain=self.gain, seed=seed)(shape[-2:], dtype=dtype)
        if len(shape) == 2:
            return centre
        mask = np.zeros((*shape[:-2], 1, 1))
        mask[self.centre(shape)] = 1.0
        return keras.ops.convert_to_tensor(mask, dtype=dtype) * centre

    def _torch_fill_(self, torch, tensor, shape, generator):
        centre = torch.empty(shape[:2], dtype=tensor.dtype, device=tensor.device)
        torch.nn.init.orthogonal_(centre, gain=self.gain, generator=generator)
        tensor.zero_()
        tensor[(slice(None), slice(None), *self.centre(shape, "torch"))] = centre

    def _expected_std(self, shape, layout):
        n_in, n_out = (shape[-2], shape[-1]) if layout == "keras" else (shape[1], shape[0])
        receptive = math.prod(shape[:-2]) if layout == "keras" else math.prod(shape[2:])
        return self.gain / math.sqrt(receptive * max(n_in, n_out))


class Identity(Initializer):
    """``gain`` times the identity matrix (rectangular: ones on the main diagonal).

    For 2-D kernels only, as Keras's ``Identity`` and PyTorch's ``eye_``; Keras's
    ``(in, out)`` identity is the transpose of PyTorch's ``(out, in)``, so both
    pass input i to unit i. Deterministic: ``expected_std`` is the std of the
    matrix itself, ``gain * sqrt(p (1 - p))`` with ``p = min(r, c) / (r c)``.

    Reference: Le, Jaitly & Hinton (2015), "A simple way to initialize
    recurrent networks of rectified linear units" (IRNN).
    """

    formula = "W = gain * I"
    is_random = False
    paper = "Le et al. 2015 (IRNN)"

    def __init__(self, gain: float = 1.0) -> None:
        gain = check_number("gain", gain)
        super().__init__("identity", {"gain": gain})
        self.gain = gain

    def _check(self, shape, layout):
        shape, layout = super()._check(shape, layout)
        if len(shape) != 2:
            raise ValueError(f"identity needs a 2-D matrix shape such as (256, 256); got shape={shape!r}.")
        return shape, layout

    def _sample_keras_layout(self, shape, rng):
        return self.gain * np.eye(*shape)

    def _keras_draw(self, keras, shape, dtype, seed):
        return self.gain * keras.ops.eye(shape[0], shape[1], dtype=dtype)

    def _torch_fill_(self, torch, tensor, shape, generator):
        torch.nn.init.eye_(tensor)
        tensor.mul_(self.gain)

    def _p(self, shape):
        return min(shape) / (shape[0] * shape[1])

    def _expected_std(self, shape, layout):
        p = self._p(shape)
        return abs(self.gain) * math.sqrt(p * (1.0 - p))

    def _expected_mean(self, shape, layout):
        return self.gain * self._p(shape)


# ---------------------------------------------------------------------- sparse


def _ranks(u: np.ndarray, axis: int) -> np.ndarray:
    """Rank of each entry along ``axis`` (0 = smallest): a uniformly random permutation for iid ``u``."""
    return np.argsort(np.argsort(u, axis=axis), axis=axis)


class Sparse(Initializer):
    """Martens's sparse initialization: every unit receives exactly ``k`` non-zero incoming weights.

    For each output unit, ``k`` of its ``fan_in`` incoming weights, chosen
    uniformly at random, are drawn from ``N(0, std^2)``; the rest are 0. With
    ``k`` fixed the pre-activation's variance no longer depends on the layer
    width. ``expected_std`` counts the zeros: ``std * sqrt(k / fan_in)``.
    Keras has no sparse initializer; the Keras adapter is the course's own.

    Reference: Martens (2010), "Deep learning via Hessian-free optimization"
    (k = 15, unit Gaussian weights).
    """

    formula = "k non-zeros per unit, N(0, std^2)"
    paper = "Martens 2010"

    def __init__(self, k: int = 15, std: float = 1.0) -> None:
        k = check_int("k", k, low=1)
        std = check_number("std", std, low=0.0)
        super().__init__("sparse", {"k": k, "std": std})
        self.k, self.std = k, std

    def _check(self, shape, layout):
        shape, layout = super()._check(shape, layout)
        fan_in, _ = compute_fans(shape, layout)
        if self.k > fan_in:
            raise ValueError(
                f"sparse: k={self.k} non-zero incoming weights per unit is more than fan_in={fan_in} "
                f"of shape {shape} ({layout} layout); expected 1 <= k <= fan_in."
            )
        return shape, layout

    def _sample_keras_layout(self, shape, rng):
        fan_in = math.prod(shape[:-1])
        w = rng.normal(0.0, self.std, size=(fan_in, shape[-1]))
        keep = _ranks(rng.random((fan_in, shape[-1])), axis=0) < self.k
        return (w * keep).reshape(shape)

    def _keras_draw(self, keras, shape, dtype, seed):
        ops = keras.ops
        fan_in = math.prod(shape[:-1])
        w = keras.random.normal((fan_in, shape[-1]), stddev=self.std, dtype=dtype, seed=_sub_seed(seed, 0))
        u = keras.random.uniform((fan_in, shape[-1]), dtype="float32", seed=_sub_seed(seed, 1))
        keep = ops.argsort(ops.argsort(u, axis=0), axis=0) < self.k
        return ops.reshape(ops.where(keep, w, ops.zeros_like(w)), shape)

    def _torch_fill_(self, torch, tensor, shape, generator):
        # (out, fan_in): a unit's incoming weights are a row. A fresh buffer, so non-contiguous tensors work too.
        flat = torch.empty((shape[0], math.prod(shape[1:])), dtype=tensor.dtype, device=tensor.device)
        flat.normal_(0.0, self.std, generator=generator)
        u = torch.rand(flat.shape, generator=generator, device=tensor.device)
        flat.mul_((u.argsort(dim=1).argsort(dim=1) < self.k).to(tensor.dtype))
        tensor.copy_(flat.reshape(shape))

    def _expected_std(self, shape, layout):
        fan_in, _ = compute_fans(shape, layout)
        return self.std * math.sqrt(self.k / fan_in)


class SparseTorch(Initializer):
    """PyTorch's ``nn.init.sparse_``: in each *column* of the ``(out, in)`` matrix,
    ``ceil(sparsity * out)`` entries are zero; the others ``N(0, std^2)``.

    A column of PyTorch's ``(out, in)`` weight holds the *outgoing* weights of
    one input, so this fixes the zeros per input, not per unit as Martens did
    (see ``sparse``). In the Keras layout ``(in, out)`` the same matrix is
    transposed: each row has ``ceil(sparsity * out)`` zeros. 2-D only.
    ``expected_std = std * sqrt(1 - ceil(sparsity * out) / out)``.

    Difference: ``torch.nn.init.sparse_`` picks the zero positions with
    ``torch.randperm`` *without* its ``generator``, so a seeded generator does
    not fix them; this adapter draws them from ``generator`` too.

    Reference: PyTorch ``torch.nn.init.sparse_`` (citing Martens 2010).
    """

    formula = "ceil(sparsity*out) zeros per input, N(0, std^2)"
    paper = "PyTorch sparse_ (after Martens 2010)"

    def __init__(self, sparsity: float = 0.9, std: float = 0.01) -> None:
        sparsity = check_number("sparsity", sparsity, low=0.0, high=1.0, high_inclusive=False)
        std = check_number("std", std, low=0.0)
        super().__init__("sparse_torch", {"sparsity": sparsity, "std": std})
        self.sparsity, self.std = sparsity, std

    def _check(self, shape, layout):
        shape, layout = super()._check(shape, layout)
        if len(shape) != 2:
            raise ValueError(
                f"sparse_torch needs a 2-D matrix shape such as (784, 256), as torch.nn.init.sparse_ does; "
                f"got shape={shape!r}."
            )
        return shape, layout

    def n_zeros(self, n_out: int) -> int:
        """Zeros per input: ``ceil(sparsity * n_out)``, exactly as torch computes it."""
        return math.ceil(self.sparsity * n_out)

    def _sample_keras_layout(self, shape, rng):
        n_in, n_out = shape
        w = rng.normal(0.0, self.std, size=shape)
        zero = _ranks(rng.random(shape), axis=1) < self.n_zeros(n_out)
        return np.where(zero, 0.0, w)

    def _keras_draw(self, keras, shape, dtype, seed):
        ops = keras.ops
        w = keras.random.normal(shape, stddev=self.std, dtype=dtype, seed=_sub_seed(seed, 0))
        u = keras.random.uniform(shape, dtype="float32", seed=_sub_seed(seed, 1))
        zero = ops.argsort(ops.argsort(u, axis=1), axis=1) < self.n_zeros(shape[1])
        return ops.where(zero, ops.zeros_like(w), w)

    def _torch_fill_(self, torch, tensor, shape, generator):
        rows, cols = shape
        tensor.normal_(0.0, self.std, generator=generator)
        u = torch.rand((rows, cols), generator=generator, device=tensor.device)
        zero = u.argsort(dim=0).argsort(dim=0) < self.n_zeros(rows)
        tensor.masked_fill_(zero, 0.0)

    def _expected_std(self, shape, layout):
        n_out = shape[1] if layout == "keras" else shape[0]
        return self.std * math.sqrt(1.0 - self.n_zeros(n_out) / n_out)


# ----------------------------------------------------------- recurrent defaults


class KerasDefaultRecurrent(Initializer):
    """Keras's defaults for ``SimpleRNN``, ``GRU`` and ``LSTM`` weights, by ``part``.

    * ``kernel`` (input weights ``(in, gates*units)``): ``glorot_uniform``;
    * ``recurrent_kernel`` (``(units, gates*units)``): ``orthogonal`` (gain 1) over
      the whole stacked matrix, so its rows are orthonormal;
    * ``bias``: zeros, except the LSTM forget-gate slice ``[units:2*units]`` = 1
      (``unit_forget_bias=True``; Jozefowicz et al. 2015).

    PyTorch's recurrent layers instead draw everything from
    ``U(-1/sqrt(hidden), 1/sqrt(hidden))`` (``torch_default_recurrent``).
    """

    min_dims = 1
    paper = "Keras SimpleRNN/GRU/LSTM defaults"

    def __init__(self, part: str = "kernel", cell: str = "lstm") -> None:
        part = check_choice("part", part, ("kernel", "recurrent_kernel", "bias"))
        cell = check_choice("cell", cell, tuple(_RECURRENT_GATES))
        super().__init__("keras_default_recurrent", {"part": part, "cell": cell})
        self.part, self.cell = part, cell
        self.is_random = part != "bias"
        self._inner = {
            "kernel": VarianceScaling(1.0, "fan_avg", "uniform", name="glorot_uniform", params={}),
            "recurrent_kernel": Orthogonal(1.0),
            "bias": None,
        }[part]
        self.formula = {
            "kernel": "glorot_uniform",
            "recurrent_kernel": "orthogonal (gain 1)",
            "bias": "zeros" + (" (forget gate: ones)" if cell == "lstm" else ""),
        }[part]

    def _check(self, shape, layout):
        layout = _check_layout(layout)
        if self.part == "bias":
            shape = check_shape("shape", shape, min_dims=1)
            if len(shape) != 1:
                raise ValueError(f"a recurrent bias has a 1-D shape such as (4*units,); got shape={shape!r}.")
            if self.cell == "lstm" and shape[0] % 4:
                raise ValueError(f"an LSTM bias has 4*units entries; got shape={shape!r}.")
            return shape, layout
        return self._inner._check(shape, layout)

    def _bias(self, n: int) -> np.ndarray:
        b = np.zeros(n)
        if self.cell == "lstm":
            b[n // 4: n // 2] = 1.0  # gate order i, f, c, o: the forget gate starts open
        return b

    def _sample_keras_layout(self, shape, rng):
        if self._inner is None:
            return self._bias(shape[0])
        return self._inner._sample_keras_layout(shape, rng)

    def _keras_draw(self, keras, shape, dtype, seed):
        if self._inner is None:
            return keras.ops.convert_to_tensor(self._bias(shape[0]), dtype=dtype)
        return self._inner._keras_draw(keras, shape, dtype, seed)

    def _torch_fill_(self, torch, tensor, shape, generator):
        if self._inner is None:
            tensor.copy_(torch.as_tensor(self._bias(shape[0]), dtype=tensor.dtype))
        else:
            self._inner._torch_fill_(torch, tensor, shape, generator)

    def _expected_std(self, shape, layout):
        if self._inner is None:
            return float(np.std(self._bias(shape[0])))
        return self._inner._expected_std(shape, layout)

    def _expected_mean(self, shape, layout):
        return float(np.mean(self._bias(shape[0]))) if self._inner is None else 0.0


class TorchDefaultRecurrent(Initializer):
    """PyTorch's default for every weight and bias of ``nn.RNN``, ``nn.GRU``, ``nn.LSTM``:
    ``U(-1/sqrt(hidden), 1/sqrt(hidden))``, ``Var = 1/(3 hidden)``.

    ``hidden`` is the layer's ``hidden_size`` -- not a fan of the tensor being
    filled. Pass it, or let it be inferred as the output dimension divided by
    the gates of ``cell`` (``rnn`` 1, ``gru`` 3, ``lstm`` 4).
    Keras's recurrent layers use glorot_uniform / orthogonal / zeros instead
    (``keras_default_recurrent``).
    """

    min_dims = 1
    formula = "U(-1/sqrt(hidden), 1/sqrt(hidden))"
    paper = "PyTorch nn.RNNBase.reset_parameters"

    def __init__(self, hidden_size: int | None = None, cell: str = "lstm") -> None:
        if hidden_size is not None:
            hidden_size = check_int("hidden_size", hidden_size, low=1)
        cell = check_choice("cell", cell, tuple(_RECURRENT_GATES))
        super().__init__("torch_default_recurrent", {"hidden_size": hidden_size, "cell": cell})
        self.hidden_size, self.cell = hidden_size, cell

    def hidden(self, shape: tuple[int, ...], layout: str) -> int:
        if self.hidden_size is not None:
            return self.hidden_size
        n_out = shape[-1] if (layout == "keras" and len(shape) > 1) else shape[0]
        gates = _RECURRENT_GATES[self.cell]
        if n_out % gates:
            raise ValueError(
                f"cannot infer hidden_size: the output dimension {n_out} of shape {shape} is not a multiple "
                f"of the {gates} gates of a {self.cell!r} cell; pass hidden_size= or the right cell=."
            )
        return n_out // gates

    def _check(self, shape, layout):
        shape, layout = super()._check(shape, layout)
        self.hidden(shape, layout)
        return shape, layout

    def _limit(self, shape, layout):
        return 1.0 / math.sqrt(self.hidden(shape, layout))

    def _sample_keras_layout(self, shape, rng):
        b = self._limit(shape, "keras")
        return rng.uniform(-b, b, size=shape)

    def _keras_draw(self, keras, shape, dtype, seed):
        b = self._limit(shape, "keras")
        return keras.random.uniform(shape, minval=-b, maxval=b, dtype=dtype, seed=seed)

    def _torch_fill_(self, torch, tensor, shape, generator):
        b = self._limit(shape, "torch")
        tensor.uniform_(-b, b, generator=generator)

    def _expected_std(self, shape, layout):
        return self._limit(shape, layout) / math.sqrt(3.0)


# -------------------------------------------------------------- keras adapter

_KERAS_ADAPTER: Any = None


def keras_adapter_class() -> type:
    """The ``keras.initializers.Initializer`` subclass behind ``Initializer.to_keras`` (built on first use).

    Registered as ``course_utils>CourseInitializer`` so a saved model reloads it.
    """
    global _KERAS_ADAPTER
    if _KERAS_ADAPTER is not None:
        return _KERAS_ADAPTER
    keras = frameworks.keras()

    @keras.saving.register_keras_serializable(package="course_utils", name="CourseInitializer")
    class CourseInitializer(keras.initializers.Initializer):
        """A ``course_utils.initializers`` scheme as a Keras initializer."""

        def __init__(self, scheme: str, params: dict | None = None, seed: Any = None) -> None:
            from . import get  # the registry lives in the package __init__

            self.scheme = scheme
            self.params = dict(params or {})
            self._reference = get(scheme, **self.params)
            self._init_seed = seed
            if seed is None:
                # As Keras does: an unseeded initializer picks its seed once, from
                # Python's `random` (seeded by keras.utils.set_random_seed / set_seed).
                seed = _pyrandom.randint(1, int(1e9))  # 1e9: the range Keras's make_default_seed uses
            elif isinstance(seed, dict):
                seed = keras.saving.deserialize_keras_object(seed)
            elif isinstance(seed, bool) or not isinstance(seed, (int, keras.random.SeedGenerator)):
                raise TypeError(f"seed must be an int, None or a keras.random.SeedGenerator; got {seed!r}.")
            self.seed = seed

        def __call__(self, shape, dtype=None):
            shape, _ = self._reference._check(tuple(int(s) for s in shape), "keras")
            dtype = dtype or keras.backend.floatx()
            return self._reference._keras_draw(keras, shape, dtype, self.seed)

        def get_config(self) -> dict:
            seed = self._init_seed
            if seed is not None and not isinstance(seed, int):
                seed = keras.saving.serialize_keras_object(seed)
            return {"scheme": self.scheme, "params": dict(self.params), "seed": seed}

        def __repr__(self) -> str:
            return f"<CourseInitializer {self._reference!r} seed={self._init_seed!r}>"

    _KERAS_ADAPTER = CourseInitializer
    return CourseInitializer
