"""Recommended gains per nonlinearity, as PyTorch's ``torch.nn.init.calculate_gain`` gives them."""

from __future__ import annotations

import math
import numbers

from .. import activations
from .._validation import check_choice, check_number

__all__ = ["NONLINEARITIES", "calculate_gain"]

_LINEAR = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d")
NONLINEARITIES = (*_LINEAR, "sigmoid", "tanh", "relu", "leaky_relu", "selu")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain ``g`` that keeps activations' variance after a nonlinearity, PyTorch's table.

    ==============  ===================================  ===========================================
    nonlinearity    gain                                 why
    ==============  ===================================  ===========================================
    linear, conv*   1                                    identity
    sigmoid         1                                    PyTorch's choice (slope at 0 is 1/4)
    tanh            5/3                                  empirical (tanh'(0) = 1, shrinks large inputs)
    relu            sqrt(2)                              ReLU halves the second moment (He et al. 2015)
    leaky_relu      sqrt(2 / (1 + a^2)), a = param/0.01  keeps (1 + a^2)/2 of the second moment
    selu            3/4                                  PyTorch's empirical choice (PR #50664); for a
                                                         self-normalizing net use 'linear' (LeCun)
    ==============  ===================================  ===========================================

    A variance-scaling init with gain ``g`` has ``Var(W) = g^2 / fan``: Xavier with
    gain ``g`` is ``glorot_*(gain=g)``, Kaiming's ``leaky_relu`` gain is ``he_*(negative_slope=a)``.
    ``'identity'`` is accepted as an alias of ``'linear'``. ``param`` is only used
    by ``leaky_relu`` (the negative slope, default 0.01 as in PyTorch).
    """
    key = check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
    if param is not None and key != "leaky_relu":
        raise ValueError(f"param is only used with nonlinearity='leaky_relu'; got param={param!r} for {key!r}.")
    if key in _LINEAR:
        return 1.0
    if key != "leaky_relu" or param is None:  # the activation table holds PyTorch's gains (and the 0.01 slope's)
        return activations.TABLE[key].gain
    if isinstance(param, bool) or not isinstance(param, numbers.Real):
        raise TypeError(f"param (the leaky-ReLU negative slope) must be a number such as 0.01; got {param!r}.")
    slope = check_number("param", param)
    return math.sqrt(2.0 / (1.0 + slope**2))
