"""LSUV: layer-sequential unit-variance initialization (Mishkin & Matas 2015, "All you need is a good init").

1. Pre-initialize every dense/convolution kernel with an orthonormal matrix.
2. From the first layer to the last: pass a batch through the network, measure
   the variance of the layer's output ``B`` (its pre-activation, the linear part),
   and rescale the kernel ``W <- W * sqrt(target / Var(B))`` until
   ``|Var(B) - target| < tol`` or ``max_iter`` rounds have run.

A data-dependent scheme: it needs a batch, and it fixes the scale layer by
layer whatever the activation, where He or Glorot assume one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import frameworks
from .._validation import check_int, check_number
from ._registry import get

__all__ = ["lsuv_"]


class _Stop(Exception):
    """Raised by a forward hook once the layer's input is captured: the rest of the forward is not needed."""


def _iterate(measure: Any, rescale: Any, target: float, tol: float, max_iter: int) -> dict[str, Any]:
    var0 = var = measure()
    scale_total, it = 1.0, 0
    while abs(var - target) >= tol and it < max_iter:
        if not (var > 0 and math.isfinite(var)):
            break  # a dead or exploded layer cannot be rescaled to unit variance
        factor = math.sqrt(target / var)
        rescale(factor)
        scale_total *= factor
        it += 1
        var = measure()
    return {"var_before": var0, "var_after": var, "iterations": it, "scale": scale_total,
            "converged": abs(var - target) < tol}


def _torch_lsuv(model: Any, x: Any, target: float, tol: float, max_iter: int, pre_init: str | None,
                seed: int) -> list[dict[str, Any]]:
    torch = frameworks.torch()
    nn = torch.nn
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))]
    if not layers:
        raise ValueError("lsuv_ found no nn.Linear or nn.Conv layer in the model; expected at least one.")
    gen = torch.Generator().manual_seed(seed)
    xt = torch.as_tensor(np.asarray(x), dtype=next(model.parameters()).dtype)
    rows = []
    # dropout off: the variance should measure the weights, not the dropout noise
    with frameworks.eval_mode(model):
        with torch.no_grad():
            if pre_init:
                init = get(pre_init)
                for _, m in layers:
                    init.apply_torch_(m.weight, generator=gen)
            for name, m in layers:
                captured: dict[str, Any] = {}

                def hook(mod, inputs, captured=captured):
                    captured["x"] = inputs[0]
                    raise _Stop

                handle = m.register_forward_pre_hook(hook)
                try:
                    model(xt)
                except _Stop:
                    pass
                finally:
                    handle.remove()
                h = captured["x"]
                row = _iterate(lambda m=m, h=h: float(m(h).var()), lambda f, m=m: m.weight.mul_(f),
                               target, tol, max_iter)
                rows.append({"layer": name, **row})
    return rows


def _keras_lsuv(model: Any, x: Any, target: float, tol: float, max_iter: int, pre_init: str | None,
                seed: int) -> list[dict[str, Any]]:
    keras = frameworks.keras()

    x = np.asarray(x, dtype="float32")
    if not model.built:
        model(x[:1])
    layers = [layer for layer in frameworks.flat_layers(model, "keras")
              if hasattr(layer, "kernel") and not hasattr(layer, "cell") and len(layer.kernel.shape) >= 2]
    if not layers:
        raise ValueError("lsuv_ found no Dense or Conv layer in the model; expected at least one.")
    if pre_init:
        init = get(pre_init)
        rng = np.random.default_rng(seed)
        for layer in layers:
            layer.kernel.assign(init.sample(tuple(layer.kernel.shape), seed=rng, layout="keras"))
    sequential = isinstance(model, keras.Sequential)
    linear = keras.activations.linear
    rows = []
    for layer in layers:
        if sequential:
            h = x
            for other in model.layers:
                if other is layer:
                    break
                h = other(h, training=False)
        else:
            h = keras.Model(model.input, layer.input)(x, training=False)  # model.input keeps the structure

        def measure(layer=layer, h=h):
            act = getattr(layer, "activation", None)
            if act is not None:
                layer.activation = linear  # measure the layer's linear output B, as the paper does
            try:
                return float(np.var(np.asarray(layer(h, training=False))))
            finally:
                if act is not None:
                    layer.activation = act

        row = _iterate(measure, lambda f, layer=layer: layer.kernel.assign(layer.kernel * f), target, tol, max_iter)
        rows.append({"layer": layer.name, **row})
    return rows


def lsuv_(model: Any, x_batch: Any, *, target_var: float = 1.0, tol: float = 0.1, max_iter: int = 10,
          pre_init: str | None = "orthogonal", seed: int = 0) -> Any:
    """Initialize a Keras or PyTorch model in place by LSUV (Mishkin & Matas 2015); return a report.

    Args:
        model: a built Keras model (Sequential or functional) or a torch ``nn.Module``.
            Dense/Linear and Conv kernels are initialized; biases and recurrent
            layers are left as they are.
        x_batch: a batch of inputs (NumPy array), e.g. 256 training images.
        target_var: the variance each layer's output should have (1 in the paper).
        tol: stop when ``|Var(B) - target_var| < tol`` (the paper's ``Tol_var = 0.1``).
        max_iter: at most this many rescalings per layer (the paper's ``T_max = 10``).
        pre_init: the scheme applied first (``"orthogonal"`` as in the paper; ``None`` keeps the weights).
        seed: seed of the pre-initialization.

    Returns a DataFrame, one row per layer: layer, var_before, var_after,
    iterations, scale (the product of the rescalings), converged.
    """
    import pandas as pd

    target = check_number("target_var", target_var, low=0.0, low_inclusive=False)
    tol = check_number("tol", tol, low=0.0, low_inclusive=False)
    max_iter = check_int("max_iter", max_iter, low=1)
    seed = check_int("seed", seed, low=0)
    if pre_init is not None:
        get(pre_init)  # validates the name before touching the model
    if np.asarray(x_batch).ndim < 2 or len(x_batch) < 2:
        raise ValueError(
            f"x_batch must be a batch of at least 2 inputs, shape (n, ...); got shape {np.asarray(x_batch).shape}."
        )
    fw = frameworks.framework_of(model)
    run = _keras_lsuv if fw == "keras" else _torch_lsuv
    return pd.DataFrame(run(model, x_batch, target, tol, max_iter, pre_init, seed))
