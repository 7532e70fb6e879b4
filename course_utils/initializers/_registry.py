"""The registry: every scheme of the course as a one-line preset, plus ``names()`` and ``get()``.

Each preset is a function returning an :class:`Initializer`; its docstring
gives the formula and the paper. ``get("he_normal", negative_slope=0.2)``
calls the preset with those parameters.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._validation import check_number, suggest
from ._core import (
    Constant,
    DeltaOrthogonal,
    Identity,
    Initializer,
    KerasDefaultRecurrent,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    Sparse,
    SparseTorch,
    TorchDefaultLinear,
    TorchDefaultRecurrent,
    TruncatedNormal,
    VarianceScaling,
)

__all__ = ["names", "get", "REGISTRY", "SchemeInfo"]


def _slope_scale(negative_slope: float) -> float:
    """He's variance factor for a leaky ReLU of slope a: 2 / (1 + a^2) (a = 0: ReLU)."""
    a = check_number("negative_slope", negative_slope, low=0.0)
    return 2.0 / (1.0 + a * a)


def _gain_scale(gain: float) -> float:
    return check_number("gain", gain, low=0.0, low_inclusive=False) ** 2


# --------------------------------------------------------------------- presets


def zeros() -> Initializer:
    """All zeros, ``W = 0``. Right for biases, last layers and residual branches; wrong for hidden kernels (symmetry)."""
    return Constant(0.0, name="zeros", params={})


def ones() -> Initializer:
    """All ones, ``W = 1`` (e.g. normalization scales)."""
    return Constant(1.0, name="ones", params={})


def constant(value: float = 0.0) -> Initializer:
    """Every weight equal to ``value``: ``W = value``."""
    return Constant(value)


def random_normal(mean: float = 0.0, std: float = 0.05) -> Initializer:
    """``W ~ N(mean, std^2)`` (Keras ``RandomNormal``, default std 0.05; torch ``normal_``, default std 1)."""
    return RandomNormal(mean, std)


def random_uniform(low: float = -0.05, high: float = 0.05) -> Initializer:
    """``W ~ U(low, high)`` (Keras ``RandomUniform``, default +-0.05; torch ``uniform_``, default [0, 1))."""
    return RandomUniform(low, high)


def truncated_normal(mean: float = 0.0, std: float = 0.05) -> Initializer:
    """``N(mean, std^2)`` redrawn outside ``mean +- 2 std``; actual std ``0.8796 std`` (Keras ``TruncatedNormal``)."""
    return TruncatedNormal(mean, std)


def variance_scaling(scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                     gates: int = 1) -> Initializer:
    """``Var(W) = scale / n``, ``n`` = fan_in, fan_out or their mean; normal, truncated normal or uniform.

    The one general rule behind Glorot, He and LeCun (Keras ``VarianceScaling``);
    see :class:`~course_utils.initializers.VarianceScaling`.
    """
    return VarianceScaling(scale, mode, distribution, gates=gates)


def glorot_normal(gain: float = 1.0) -> Initializer:
    """Glorot/Xavier normal, Keras semantics: truncated normal with ``Var = gain^2 * 2 / (fan_in + fan_out)``.

    Keras ``GlorotNormal`` (a truncated normal rescaled by 1/0.8796 so the
    truncated draw has exactly this variance). PyTorch's ``xavier_normal_``
    draws a *plain* normal with the same variance: ``glorot_normal_torch``.
    Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward neural networks".
    """
    return VarianceScaling(_gain_scale(gain), "fan_avg", "truncated_normal", name="glorot_normal",
                           params={"gain": gain}, paper="Glorot & Bengio 2010")


def glorot_uniform(gain: float = 1.0) -> Initializer:
    """Glorot/Xavier uniform: ``U(-l, l)``, ``l = gain * sqrt(6 / (fan_in + fan_out))``.

    Identical in Keras (``GlorotUniform``, the ``Dense`` default) and PyTorch (``xavier_uniform_``).
    Glorot & Bengio (2010).
    """
    return VarianceScaling(_gain_scale(gain), "fan_avg", "uniform", name="glorot_uniform",
                           params={"gain": gain}, paper="Glorot & Bengio 2010")


def glorot_normal_torch(gain: float = 1.0) -> Initializer:
    """Glorot/Xavier normal, PyTorch semantics: plain ``N(0, gain^2 * 2 / (fan_in + fan_out))``.

    PyTorch ``xavier_normal_``; no truncation, so about 4.6% of its weights lie
    beyond 2 std, where Keras's ``glorot_normal`` has none. Glorot & Bengio (2010).
    """
    return VarianceScaling(_gain_scale(gain), "fan_avg", "normal", name="glorot_normal_torch",
                           params={"gain": gain}, paper="Glorot & Bengio 2010")


def he_normal(negative_slope: float = 0.0, mode: str = "fan_in") -> Initializer:
    """He/Kaiming normal, Keras semantics: truncated normal with ``Var = 2 / ((1 + a^2) fan_in)``.

    ``a`` is the leaky-ReLU slope (0 for ReLU). Keras ``HeNormal`` (truncated,
    rescaled); PyTorch's ``kaiming_normal_`` is plain normal: ``he_normal_torch``.
    He, Zhang, Ren & Sun (2015), "Delving deep into rectifiers".
    """
    return VarianceScaling(_slope_scale(negative_slope), mode, "truncated_normal", name="he_normal",
                           params={"negative_slope": negative_slope, "mode": mode}, paper="He et al. 2015")


def he_uniform(negative_slope: float = 0.0, mode: str = "fan_in") -> Initializer:
    """He/Kaiming uniform: ``U(-l, l)``, ``l = sqrt(6 / ((1 + a^2) fan_in))``.

    Identical in Keras (``HeUniform``) and PyTorch (``kaiming_uniform_``). He et al. (2015).
    """
    return VarianceScaling(_slope_scale(negative_slope), mode, "uniform", name="he_uniform",
                           params={"negative_slope": negative_slope, "mode": mode}, paper="He et al. 2015")


def he_normal_torch(negative_slope: float = 0.0, mode: str = "fan_in") -> Initializer:
    """He/Kaiming normal, PyTorch semantics: plain ``N(0, 2 / ((1 + a^2) fan_in))`` (``kaiming_normal_``).

    He et al. (2015).
    """
    return VarianceScaling(_slope_scale(negative_slope), mode, "normal", name="he_normal_torch",
                           params={"negative_slope": negative_slope, "mode": mode}, paper="He et al. 2015")


def lecun_normal() -> Initializer:
    """LeCun normal, Keras semantics: truncated normal with ``Var = 1 / fan_in``.

    Keras ``LecunNormal``, the initializer of self-normalizing (SELU) networks.
    LeCun, Bottou, Orr & Mueller (1998), "Efficient BackProp"; Klambauer et al.
    (2017), "Self-Normalizing Neural Networks".
    """
    return VarianceScaling(1.0, "fan_in", "truncated_normal", name="lecun_normal", params={},
                           paper="LeCun et al. 1998; Klambauer et al. 2017")


def lecun_uniform() -> Initializer:
    """LeCun uniform: ``U(-sqrt(3 / fan_in), sqrt(3 / fan_in))`` (Keras ``LecunUniform``). LeCun et al. (1998)."""
    return VarianceScaling(1.0, "fan_in", "uniform", name="lecun_uniform", params={},
                           paper="LeCun et al. 1998")


def lecun_normal_torch() -> Initializer:
    """LeCun normal, PyTorch style: plain ``N(0, 1 / fan_in)``.

    PyTorch has no ``lecun_normal_``; this is ``kaiming_normal_(W, nonlinearity="linear")``
    (the SELU recipe in PyTorch's docs). LeCun et al. (1998); Klambauer et al. (2017).
    """
    return VarianceScaling(1.0, "fan_in", "normal", name="lecun_normal_torch", params={},
                           paper="LeCun et al. 1998; Klambauer et al. 2017")


def legacy_uniform() -> Initializer:
    """The "commonly used heuristic" before Xavier: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, ``Var = 1/(3 fan_in)``.

    Glorot & Bengio (2010), eq. 1, show that it shrinks the variance layer after
    layer. The same distribution as ``torch_default_linear``.
    """
    return VarianceScaling(1.0 / 3.0, "fan_in", "uniform", name="legacy_uniform", params={},
                           formula="U(-1/sqrt(fan_in), 1/sqrt(fan_in)); Var = 1/(3 fan_in)",
                           paper="Glorot & Bengio 2010, eq. 1")


def torch_default_linear() -> Initializer:
    """PyTorch's ``nn.Linear``/``nn.Conv*d`` default: ``kaiming_uniform_(a=sqrt(5))`` = ``U(+-1/sqrt(fan_in))``.

    ``Var = 1/(3 fan_in)``: the gain ``sqrt(2/(1+5)) = sqrt(1/3)`` turns He's
    uniform bound ``gain * sqrt(3/fan_in)`` into ``1/sqrt(fan_in)``, the old
    Torch7 rule (``legacy_uniform``).
    """
    return TorchDefaultLinear()


def keras_default_dense() -> Initializer:
    """Keras's ``Dense``/``Conv*D`` kernel default: ``glorot_uniform``, ``U(+-sqrt(6/(fan_in+fan_out)))``."""
    return VarianceScaling(1.0, "fan_avg", "uniform", name="keras_default_dense", params={},
                           formula="glorot_uniform: U(+-sqrt(6/(fan_in+fan_out)))",
                           paper="Keras Dense default (Glorot & Bengio 2010)")


def keras_default_recurrent(part: str = "kernel", cell: str = "lstm") -> Initializer:
    """Keras's recurrent defaults: ``kernel`` glorot_uniform, ``recurrent_kernel`` orthogonal, ``bias`` zeros.

    An LSTM's forget-gate bias starts at 1 (``unit_forget_bias``). See :class:`KerasDefaultRecurrent`.
    """
    return KerasDefaultRecurrent(part, cell)


def torch_default_recurrent(hidden_size: int | None = None, cell: str = "lstm") -> Initializer:
    """PyTorch's ``nn.RNN``/``GRU``/``LSTM`` default: every weight and bias ``U(+-1/sqrt(hidden_size))``."""
    return TorchDefaultRecurrent(hidden_size, cell)


def orthogonal(gain: float = 1.0) -> Initializer:
    """Random (semi-)orthogonal matrix times ``gain`` (QR with sign correction). Saxe et al. (2013)."""
    return Orthogonal(gain)


def delta_orthogonal(gain: float = 1.0) -> Initializer:
    """Convolutions: ``gain`` times an orthogonal ``in x out`` matrix at the centre tap, zeros elsewhere. Xiao et al. (2018)."""
    return DeltaOrthogonal(gain)


def identity(gain: float = 1.0) -> Initializer:
    """``gain * I`` for 2-D kernels (recurrent and residual experiments). Le, Jaitly & Hinton (2015)."""
    return Identity(gain)


def sparse(k: int = 15, std: float = 1.0) -> Initializer:
    """Martens's sparse init: exactly ``k`` non-zero ``N(0, std^2)`` incoming weights per unit. Martens (2010)."""
    return Sparse(k, std)


def sparse_torch(sparsity: float = 0.9, std: float = 0.01) -> Initializer:
    """PyTorch ``sparse_``: ``ceil(sparsity*out)`` zeros in each column of ``(out, in)``, others ``N(0, std^2)``.

    PyTorch requires ``sparsity``; 0.9 is the course's default.
    """
    return SparseTorch(sparsity, std)


# -------------------------------------------------------------------- registry


@dataclass(frozen=True)
class SchemeInfo:
    """What ``table()`` says about a scheme besides its formula."""

    factory: Callable[..., Initializer]
    keras_name: str
    torch_name: str
    default_where: str = ""
    note: str = ""


_SQRT5 = "math.sqrt(5)"  # written out so the table shows PyTorch's literal argument

REGISTRY: dict[str, SchemeInfo] = {
    "zeros": SchemeInfo(zeros, "Zeros", "zeros_", "bias of Keras Dense/Conv (all layers)"),
    "ones": SchemeInfo(ones, "Ones", "ones_", "BatchNorm/LayerNorm scale (both)"),
    "constant": SchemeInfo(constant, "Constant(value)", "constant_(value)"),
    "random_normal": SchemeInfo(random_normal, "RandomNormal(mean, stddev=0.05)", "normal_(mean, std=1)",
                                "torch nn.Embedding: N(0, 1)", "defaults differ: Keras std 0.05, torch std 1"),
    "random_uniform": SchemeInfo(random_uniform, "RandomUniform(-0.05, 0.05)", "uniform_(a=0, b=1)",
                                 "Keras Embedding: U(-0.05, 0.05)", "defaults differ: Keras +-0.05, torch [0, 1)"),
    "truncated_normal": SchemeInfo(truncated_normal, "TruncatedNormal(mean, stddev)",
                                   "trunc_normal_(mean, std, a=mean-2std, b=mean+2std)", "",
                                   "torch cuts at absolute a, b (default +-2), Keras at +-2 stddev"),
    "variance_scaling": SchemeInfo(variance_scaling, "VarianceScaling(scale, mode, distribution)",
                                   "(none: kaiming_/xavier_ with a gain)", "",
                                   "Keras 'untruncated_normal' is the course's 'normal'"),
    "glorot_normal": SchemeInfo(glorot_normal, "GlorotNormal", "(none: trunc_normal_ rescaled)", "",
                                "Keras truncates and rescales; torch xavier_normal_ does not (glorot_normal_torch)"),
    "glorot_uniform": SchemeInfo(glorot_uniform, "GlorotUniform", "xavier_uniform_",
                                 "Keras Dense/Conv/RNN kernel default", "identical in both"),
    "glorot_normal_torch": SchemeInfo(glorot_normal_torch, "VarianceScaling(1, 'fan_avg', 'untruncated_normal')",
                                      "xavier_normal_", "", "plain normal (PyTorch's 'Xavier normal')"),
    "he_normal": SchemeInfo(he_normal, "HeNormal", "(none: trunc_normal_ rescaled)", "",
                            "Keras truncates and rescales; torch kaiming_normal_ does not (he_normal_torch)"),
    "he_uniform": SchemeInfo(he_uniform, "HeUniform", "kaiming_uniform_(nonlinearity='relu')", "",
                             "identical in both"),
    "he_normal_torch": SchemeInfo(he_normal_torch, "VarianceScaling(2, 'fan_in', 'untruncated_normal')",
                                  "kaiming_normal_(nonlinearity='relu')", "", "plain normal (PyTorch's 'Kaiming normal')"),
    "lecun_normal": SchemeInfo(lecun_normal, "LecunNormal", "(none: trunc_normal_ rescaled)", "",
                               "Keras truncates and rescales; PyTorch has no lecun_normal_"),
    "lecun_uniform": SchemeInfo(lecun_uniform, "LecunUniform", "kaiming_uniform_(nonlinearity='linear')", "",
                                "identical in both"),
    "lecun_normal_torch": SchemeInfo(lecun_normal_torch, "VarianceScaling(1, 'fan_in', 'untruncated_normal')",
                                     "kaiming_normal_(nonlinearity='linear')", "", "plain normal"),
    "legacy_uniform": SchemeInfo(legacy_uniform, "VarianceScaling(1/3, 'fan_in', 'uniform')",
                                 f"kaiming_uniform_(a={_SQRT5})", "Torch7 nn.Linear",
                                 "same distribution as torch_default_linear"),
    "torch_default_linear": SchemeInfo(torch_default_linear, "VarianceScaling(1/3, 'fan_in', 'uniform')",
                                       f"kaiming_uniform_(a={_SQRT5})", "PyTorch nn.Linear/Conv weight default",
                                       "Var = 1/(3 fan_in): a third of LeCun's"),
    "keras_default_dense": SchemeInfo(keras_default_dense, "GlorotUniform", "xavier_uniform_",
                                      "Keras Dense/Conv kernel default", "same as glorot_uniform"),
    "keras_default_recurrent": SchemeInfo(keras_default_recurrent, "GlorotUniform / Orthogonal / Zeros",
                                          "xavier_uniform_ / orthogonal_ / zeros_",
                                          "Keras SimpleRNN/GRU/LSTM default",
                                          "torch's recurrent default is U(+-1/sqrt(hidden)) instead"),
    "torch_default_recurrent": SchemeInfo(torch_default_recurrent, "RandomUniform(+-1/sqrt(units))",
                                          "uniform_(-1/sqrt(hidden), 1/sqrt(hidden))",
                                          "PyTorch nn.RNN/GRU/LSTM default (weights and biases)",
                                          "independent of the tensor's fans"),
    "orthogonal": SchemeInfo(orthogonal, "Orthogonal(gain)", "orthogonal_(gain)",
                             "Keras recurrent_kernel default",
                             "conv kernels flattened: Keras (k*in, out), torch (out, in*k); same property"),
    "delta_orthogonal": SchemeInfo(delta_orthogonal, "(none: course's own)", "(none: course's own)", "",
                                   "neither framework has it (TF1 had ConvolutionDeltaOrthogonal); centre tap k // 2"),
    "identity": SchemeInfo(identity, "Identity(gain)", "eye_ (times gain)", "", "2-D only"),
    "sparse": SchemeInfo(sparse, "(none: course's own)", "(none: course's own)", "",
                         "k non-zeros per unit (Martens); not torch's sparse_"),
    "sparse_torch": SchemeInfo(sparse_torch, "(none: course's own)", "sparse_(sparsity, std=0.01)", "",
                               "zeros per column of (out, in), i.e. per input; torch's zero positions ignore generator="),
}


def names() -> list[str]:
    """All registry names, in the course's order (constants, fixed-scale, variance scaling, structured, defaults)."""
    return list(REGISTRY)


def get(name_or_initializer: str | Initializer, **params: Any) -> Initializer:
    """Return the :class:`Initializer` named ``name_or_initializer`` built with ``params``.

    An ``Initializer`` passed in is returned as is (with no ``params``).
    Unknown names raise ``ValueError`` listing every valid name and the
    closest one; unknown parameters raise ``ValueError`` listing the scheme's
    parameters.

    Example: ``get("he_normal", negative_slope=0.2).sample((784, 256), seed=0)``.
    """
    if isinstance(name_or_initializer, Initializer):
        if params:
            raise ValueError(
                f"get() received an Initializer ({name_or_initializer!r}) and parameters {sorted(params)}; "
                "pass a name with parameters, e.g. get('he_normal', negative_slope=0.2), or the Initializer alone."
            )
        return name_or_initializer
    if not isinstance(name_or_initializer, str):
        raise TypeError(
            f"initializer must be a name such as 'he_normal' or an Initializer; got "
            f"{type(name_or_initializer).__name__} {name_or_initializer!r}."
        )
    key = name_or_initializer.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in REGISTRY:
        raise ValueError(
            f"Unknown initializer {name_or_initializer!r}. Valid names: {', '.join(REGISTRY)}."
            + suggest(key, REGISTRY)
        )
    factory = REGISTRY[key].factory
    accepted = list(inspect.signature(factory).parameters)
    unknown = [p for p in params if p not in accepted]
    if unknown:
        allowed = ", ".join(accepted) if accepted else "none"
        hint = "".join(suggest(u, accepted) for u in unknown)
        raise ValueError(
            f"{key} got unknown parameter(s) {unknown}; its parameters are: {allowed}.{hint}"
        )
    return factory(**params)

