"""Every activation of the course in one table: one row per activation, every fact about it in that row.

A row holds the NumPy reference ``f`` and its derivative ``df`` (the truth the
diagnostics and the mean-field theory compute with), the Keras op and layer, the
PyTorch op and module (built on first use: importing this module loads neither
framework), the gain of ``initializers.calculate_gain`` where PyTorch's table has
one, and whether the activation saturates or dies. Adding an activation to the
course is adding one row here: builders, diagnostics, widgets and the gain table
read it from here.

Constants shared by both frameworks are set explicitly because their defaults
differ: leaky ReLU's slope (PyTorch 0.01; Keras 0.2 for ``activations.leaky_relu``
and 0.3 for the ``LeakyReLU`` layer) and GELU's form (PyTorch the exact erf,
Keras the tanh approximation).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from . import frameworks
from ._validation import check_choice

__all__ = [
    "ACTIVATIONS",
    "OUTPUT_ACTIVATIONS",
    "LEAKY_RELU_SLOPE",
    "ELU_ALPHA",
    "SELU_ALPHA",
    "SELU_SCALE",
    "Activation",
    "get",
    "numpy_function",
    "framework_op",
    "keras_layer",
    "torch_module",
    "name_of_keras_layer",
    "name_of_torch_module",
]

#: Leaky ReLU's slope for z < 0 in both frameworks: PyTorch's default (Maas et al. 2013) and what
#: ``initializers.calculate_gain("leaky_relu")`` assumes.
LEAKY_RELU_SLOPE = 0.01
#: ELU's alpha (Clevert et al. 2016), the default of both frameworks.
ELU_ALPHA = 1.0
#: SELU's alpha and lambda (Klambauer et al. 2017, eq. 14): the fixed point of mean 0 and variance 1.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

Array = np.ndarray


def _elu(z: Array, alpha: float) -> Array:
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def _elu_grad(z: Array, alpha: float) -> Array:
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0)))


@dataclass(frozen=True)
class Activation:
    """One activation: its NumPy reference, both frameworks' versions, and its facts.

    Attributes:
        name: the course's name (``"leaky_relu"``).
        f, df: NumPy ``f(z)`` and ``f'(z)``, elementwise.
        keras_op: ``keras.activations`` -> the op, with the course's constants.
        torch_op: ``torch.nn.functional`` -> the op, with the course's constants.
        torch_module: ``torch.nn`` -> a new module.
        keras_layer: ``(keras.layers, layer name)`` -> a new layer.
        gain: ``calculate_gain``'s value (PyTorch's table), None where that table has none.
        saturating: reports the fraction of saturated units (sigmoid, tanh).
        dying: reports dead units (ReLU: exactly zero for negative inputs).
        keras_classes, torch_classes: the framework class names that *are* this activation.
    """

    name: str
    f: Callable[[Array], Array]
    df: Callable[[Array], Array]
    keras_op: Callable[[Any], Callable[[Any], Any]]
    torch_op: Callable[[Any], Callable[[Any], Any]]
    torch_module: Callable[[Any], Any]
    keras_layer: Callable[[Any, str], Any]
    gain: float | None = None
    saturating: bool = False
    dying: bool = False
    keras_classes: tuple[str, ...] = ()
    torch_classes: tuple[str, ...] = ()


def _keras_activation_layer(name: str) -> Callable[[Any, str], Any]:
    return lambda layers, layer_name: layers.Activation(name, name=layer_name)


def _gelu_exact_keras(z: Any) -> Any:
    return frameworks.keras().activations.gelu(z, approximate=False)


_gelu_exact_keras.__name__ = "gelu"  # diagnostics read a Keras activation's function name

_ROWS = (
    Activation("linear", lambda z: z, lambda z: np.ones_like(z),
               keras_op=lambda a: a.linear, torch_op=lambda F: lambda z: z,
               torch_module=lambda nn: nn.Identity(), keras_layer=_keras_activation_layer("linear"),
               gain=1.0, torch_classes=("Identity",)),
    Activation("sigmoid", special.expit, lambda z: special.expit(z) * (1.0 - special.expit(z)),
               keras_op=lambda a: a.sigmoid, torch_op=lambda F: F.sigmoid,
               torch_module=lambda nn: nn.Sigmoid(), keras_layer=_keras_activation_layer("sigmoid"),
               gain=1.0, saturating=True, torch_classes=("Sigmoid",)),
    Activation("tanh", np.tanh, lambda z: 1.0 - np.tanh(z) ** 2,
               keras_op=lambda a: a.tanh, torch_op=lambda F: F.tanh,
               torch_module=lambda nn: nn.Tanh(), keras_layer=_keras_activation_layer("tanh"),
               gain=5.0 / 3.0,  # PyTorch's value, from an empirical study (tanh'(0) = 1, shrinks large inputs)
               saturating=True, torch_classes=("Tanh",)),
    # the derivative at exactly 0 is taken as 0, as torch and TensorFlow do
    Activation("relu", lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(z.dtype),
               keras_op=lambda a: a.relu, torch_op=lambda F: F.relu,
               torch_module=lambda nn: nn.ReLU(), keras_layer=_keras_activation_layer("relu"),
               gain=math.sqrt(2.0), dying=True, keras_classes=("ReLU",), torch_classes=("ReLU",)),
    Activation("leaky_relu", lambda z: np.where(z > 0, z, LEAKY_RELU_SLOPE * z),
               lambda z: np.where(z > 0, 1.0, LEAKY_RELU_SLOPE).astype(z.dtype),
               keras_op=lambda a: lambda z: a.leaky_relu(z, negative_slope=LEAKY_RELU_SLOPE),
               torch_op=lambda F: lambda z: F.leaky_relu(z, LEAKY_RELU_SLOPE),
               torch_module=lambda nn: nn.LeakyReLU(LEAKY_RELU_SLOPE),
               keras_layer=lambda layers, n: layers.LeakyReLU(negative_slope=LEAKY_RELU_SLOPE, name=n),
               gain=math.sqrt(2.0 / (1.0 + LEAKY_RELU_SLOPE**2)),
               keras_classes=("LeakyReLU",), torch_classes=("LeakyReLU",)),
    Activation("elu", lambda z: _elu(z, ELU_ALPHA), lambda z: _elu_grad(z, ELU_ALPHA),
               keras_op=lambda a: lambda z: a.elu(z, alpha=ELU_ALPHA),
               torch_op=lambda F: lambda z: F.elu(z, alpha=ELU_ALPHA),
               torch_module=lambda nn: nn.ELU(alpha=ELU_ALPHA), keras_layer=_keras_activation_layer("elu"),
               keras_classes=("ELU",), torch_classes=("ELU",)),
    Activation("selu", lambda z: SELU_SCALE * _elu(z, SELU_ALPHA), lambda z: SELU_SCALE * _elu_grad(z, SELU_ALPHA),
               keras_op=lambda a: a.selu, torch_op=lambda F: F.selu,
               torch_module=lambda nn: nn.SELU(), keras_layer=_keras_activation_layer("selu"),
               gain=3.0 / 4.0,  # PyTorch's empirical value (pytorch/pytorch#50664); LeCun's 1 self-normalizes
               torch_classes=("SELU",)),
    # GELU is the exact one, z * Phi(z), PyTorch's default form (Keras's default is the tanh approximation)
    Activation("gelu", lambda z: z * special.ndtr(z),
               lambda z: special.ndtr(z) + z * _INV_SQRT_2PI * np.exp(-0.5 * z * z),
               keras_op=lambda a: _gelu_exact_keras, torch_op=lambda F: lambda z: F.gelu(z, approximate="none"),
               torch_module=lambda nn: nn.GELU(),
               keras_layer=lambda layers, n: layers.Activation(_gelu_exact_keras, name=n),
               torch_classes=("GELU",)),
)

TABLE: dict[str, Activation] = {row.name: row for row in _ROWS}

#: Hidden-layer activations every builder, diagnostic and widget understands.
ACTIVATIONS: tuple[str, ...] = tuple(TABLE)
#: What a builder's ``output_activation`` may be (``None``: logits).
OUTPUT_ACTIVATIONS: tuple[str, ...] = (*ACTIVATIONS, "softmax")

# Framework classes that are an activation outside the table (reported by name, not computed with).
_KERAS_OTHER = {"PReLU": "prelu", "Softmax": "softmax"}
_TORCH_OTHER = {"Softmax": "softmax", "Softplus": "softplus"}


def get(name: str) -> Activation:
    """The row of activation ``name``; an unknown name lists the valid ones."""
    return TABLE[check_choice("activation", name, ACTIVATIONS)]


def numpy_function(name: str, derivative: bool = False) -> Callable[[Array], Array]:
    """The NumPy reference of activation ``name`` (or of its derivative), elementwise.

    ``linear`` f(z) = z; ``sigmoid`` 1/(1 + e^-z); ``tanh``; ``relu`` max(z, 0);
    ``leaky_relu`` max(z, 0.01 z); ``elu`` z or e^z - 1 (Clevert et al. 2016);
    ``selu`` 1.0507 * elu with alpha 1.6733 (Klambauer et al. 2017); ``gelu``
    z * Phi(z) with Phi the standard normal CDF (Hendrycks & Gimpel 2016).
    """
    row = get(name)
    return row.df if derivative else row.f


def framework_op(framework: str, name: str) -> Callable[[Any], Any]:
    """The framework's own op for activation ``name``, with the constants the NumPy reference uses."""
    row = get(name)
    if frameworks.check_framework(framework) == "keras":
        return row.keras_op(frameworks.keras().activations)
    return row.torch_op(frameworks.torch().nn.functional)


def keras_layer(name: str, layer_name: str) -> Any:
    """A new Keras layer for activation ``name`` (or ``softmax``), matching :func:`torch_module`."""
    layers = frameworks.keras().layers
    if check_choice("activation", name, OUTPUT_ACTIVATIONS) == "softmax":
        return layers.Softmax(axis=-1, name=layer_name)
    return TABLE[name].keras_layer(layers, layer_name)


def torch_module(name: str) -> Any:
    """A new PyTorch module for activation ``name`` (or ``softmax``), matching :func:`keras_layer`."""
    nn = frameworks.torch().nn
    if check_choice("activation", name, OUTPUT_ACTIVATIONS) == "softmax":
        return nn.Softmax(dim=-1)
    return TABLE[name].torch_module(nn)


_KERAS_CLASSES = {cls: row.name for row in _ROWS for cls in row.keras_classes} | _KERAS_OTHER
_TORCH_CLASSES = {cls: row.name for row in _ROWS for cls in row.torch_classes} | _TORCH_OTHER


def _function_name(fn: Any) -> str:
    """The name of a Keras activation function (also through functools.partial)."""
    fn = getattr(fn, "func", fn)
    return str(getattr(fn, "__name__", type(fn).__name__)).lower()


def name_of_keras_function(fn: Any) -> str:
    """The activation name of a Keras layer's ``activation=`` function (``"linear"`` for none)."""
    return "linear" if fn is None else _function_name(fn)


def name_of_keras_layer(layer: Any) -> str | None:
    """The activation a Keras layer *is* (``Activation``, ``ReLU``, ...), or None for other layers."""
    cls = type(layer).__name__
    if cls in _KERAS_CLASSES:
        return _KERAS_CLASSES[cls]
    if cls == "Activation":
        return _function_name(layer.activation)
    return None


def name_of_torch_module(module: Any) -> str | None:
    """The activation a torch module *is* (``nn.Tanh``, ...), or None for other modules."""
    name = getattr(module, "activation_name", None)  # a module of one's own may say what it is
    if isinstance(name, str):
        return name
    cls = type(module).__name__
    if cls in _TORCH_CLASSES:
        return _TORCH_CLASSES[cls]
    if type(module).__module__ == "torch.nn.modules.activation":
        return cls.lower()
    return None
