"""Per-layer statistics of activations and gradients, for Keras and PyTorch models alike.

Three questions the course asks of every network, each answered with one
DataFrame (one row per layer) that :mod:`course_utils.plots` draws:

* :func:`activation_stats` / :func:`layer_activations` -- what does the
  forward signal look like in each layer of *this* model on *this* batch?
  (mean, std, saturation, dead units, histograms; Glorot & Bengio 2010,
  figures 3-6.)
* :func:`gradient_stats` / :func:`layer_gradients` -- how large are the
  weight gradients and the back-propagated gradients, layer by layer, for one
  batch? (Glorot & Bengio 2010, figure 7; He et al. 2015, section 2.2.)
* :func:`signal_propagation` -- the same questions for an untrained deep
  plain network of ``depth`` square layers, computed in NumPy from the
  initializer registry's reference draw and a hand-written backward pass, fast
  enough to redraw under a slider; ``framework="keras"|"torch"`` computes the
  same with a real framework network (tests check that they agree).

Definitions used throughout (constants below):

* **std** -- the standard deviation over every entry of a layer's output for
  the batch (samples x units), as in Glorot & Bengio's figures.
* **saturated** (sigmoid, tanh only) -- an activation within 1% of an
  asymptote: ``|a| > 0.99`` for tanh (slope ``1 - a**2 < 0.02``, under 2% of
  its peak slope), ``a < 0.01`` or ``a > 0.99`` for sigmoid (slope
  ``a(1 - a) < 0.0099``, under 4% of its peak 0.25). A saturated unit passes
  almost no gradient back.
* **dead** (ReLU only) -- a *unit* (a neuron, or a channel of a convolution)
  whose output is zero for every sample (and position) in the batch: it passes
  no gradient for this batch. ``frac_dead`` is the fraction of such units;
  ``frac_zero`` the fraction of all activations that are zero (about one half
  in a healthy ReLU layer).
* A model's **layers** are its weight layers (``models.weight_layers``:
  dense, convolution, recurrent), in order; a layer's **activation** is the
  output of the last nonlinearity applied after it and before the next weight
  layer (its own ``activation=`` in Keras, an activation module or layer that
  follows it otherwise), or the layer's own output where none follows (the
  output layer's logits). Dropout, pooling and normalisation in between are
  not nonlinearities and are skipped. Statistics are taken in inference mode
  (dropout off).

Nothing here imports TensorFlow or PyTorch at import time; a Keras model is
walked with Keras, a torch model with torch.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import activations, config, frameworks
from ._validation import check_choice, check_int, check_number
from .activations import ACTIVATIONS, ELU_ALPHA, LEAKY_RELU_SLOPE, SELU_ALPHA, SELU_SCALE, TABLE
from .activations import numpy_function as activation_function
from .frameworks import input_shape_of, weight_layers

try:  # threadpoolctl comes with scikit-learn (mlxtend's dependency); without it BLAS keeps its threads
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - depends on the environment
    threadpool_limits = None

__all__ = [
    "ACTIVATIONS",
    "ELU_ALPHA",
    "LEAKY_RELU_SLOPE",
    "SELU_ALPHA",
    "SELU_SCALE",
    "SATURATION_THRESHOLD",
    "activation_function",
    "activation_stats",
    "decades",
    "end_to_end_ratio",
    "signal_ratios",
    "gradient_stats",
    "residual_stream",
    "layer_activations",
    "layer_gradients",
    "signal_propagation",
    "signal_propagation_theory",
]

# --------------------------------------------------------------- activations

#: How close to an asymptote counts as saturated: tanh |a| > 0.99; sigmoid a < 0.01 or a > 0.99
#: (see the module docstring for the slopes these leave).
SATURATION_THRESHOLD = 0.99
#: Activations whose saturation, and whose dead units, are reported (NaN elsewhere): the table's facts.
SATURATING = tuple(name for name, row in TABLE.items() if row.saturating)
DYING = tuple(name for name, row in TABLE.items() if row.dying)


# ----------------------------------------------------------------- statistics


def _nan_if_empty(values: np.ndarray, fn: Callable[[np.ndarray], Any]) -> float:
    return float(fn(values)) if values.size else math.nan


def _summary(a: np.ndarray, activation: str, unit_axis: int = -1) -> dict[str, float]:
    """mean, std, frac_saturated, frac_dead, frac_zero of one layer's activations (see module docs)."""
    a = np.asarray(a)
    out = {
        "mean": _nan_if_empty(a, lambda v: np.mean(v, dtype=np.float64)),
        "std": _nan_if_empty(a, lambda v: np.std(v, dtype=np.float64)),
        "frac_saturated": math.nan,
        "frac_dead": math.nan,
        "frac_zero": math.nan,
    }
    if activation == "tanh":
        out["frac_saturated"] = _nan_if_empty(a, lambda v: np.mean(np.abs(v) > SATURATION_THRESHOLD))
    elif activation == "sigmoid":
        low = 1.0 - SATURATION_THRESHOLD
        out["frac_saturated"] = _nan_if_empty(a, lambda v: np.mean((v < low) | (v > SATURATION_THRESHOLD)))
    elif activation in DYING:
        zero = a <= 0  # ReLU returns exactly 0 (or -0.0) for every negative input
        out["frac_zero"] = _nan_if_empty(zero, np.mean)
        if zero.size:
            per_unit = np.moveaxis(zero, unit_axis, -1).reshape(-1, zero.shape[unit_axis])
            out["frac_dead"] = float(np.mean(per_unit.all(axis=0)))
    return out


# ------------------------------------------------------------- walking models


@dataclass
class _Layer:
    """One weight layer of a traced model and what the trace found for it."""

    name: str
    depth: int
    module: Any
    activation: str = "linear"
    units: int = 0
    output: np.ndarray | None = None  # the activation (see module docstring), as NumPy
    grad: np.ndarray | None = None  # dLoss/d(activation)
    weights: list[np.ndarray] = field(default_factory=list)
    weight_grads: list[np.ndarray] = field(default_factory=list)
    unit_axis: int = -1


def _torch_weight_layer_activation(module: Any) -> str:
    """A torch weight layer's built-in nonlinearity: nn.RNN's ``nonlinearity``, tanh for LSTM/GRU outputs."""
    nonlinearity = getattr(module, "nonlinearity", None)
    if isinstance(nonlinearity, str):
        return nonlinearity
    if type(module).__name__ in ("LSTM", "GRU"):  # h = o * tanh(c) (LSTM), a tanh-bounded mix (GRU), as in Keras
        return "tanh"
    return "linear"


def _as_batch(x: Any, argument: str = "x") -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim < 1 or arr.shape[0] < 1:
        raise ValueError(f"{argument} must be a batch with at least one sample (first axis); got shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{argument} must hold numbers; got dtype {arr.dtype}.")
    return arr


def _first_output(out: Any) -> Any:
    """Recurrent layers return (output, state): the sequence output is the activation."""
    while isinstance(out, (tuple, list)):
        out = out[0]
    return out


def _trace(model: Any, fw: str, x: Any, y: Any = None, loss: str | None = None) -> tuple[list[_Layer], float]:
    """Run ``model`` (of framework ``fw``) on ``x`` and collect each weight layer's activation
    (and gradients if ``y``)."""
    x = _as_batch(x)
    if y is not None:
        y = np.asarray(y)
        if y.ndim < 1 or len(y) != len(x):
            raise ValueError(f"x and y must hold the same number of samples; got x {x.shape} and y {y.shape}.")
    return _TRACE[fw](model, x, y, loss)


def _group(records: Sequence[tuple[Any, Any, str | None]], weight_ids: dict[int, str]) -> list[_Layer]:
    """Assign each weight layer the output of the last activation after it (see module docstring)."""
    missing = set(weight_ids) - {id(obj) for obj, _, _ in records}
    if missing:  # e.g. a functional Keras model nested in another: its layers run inside one call
        raise ValueError(
            "diagnostics could not see the output of weight layer(s) "
            f"{sorted(weight_ids[i] for i in missing)}: they run inside a nested model. "
            "Pass the inner model, or build the network with course_utils.models."
        )
    layers: list[_Layer] = []
    seen: set[int] = set()
    for obj, out, act in records:
        if id(obj) in weight_ids and id(obj) not in seen:
            seen.add(id(obj))
            layers.append(_Layer(name=weight_ids[id(obj)], depth=len(layers) + 1, module=obj,
                                 activation=act or "linear", output=out))
        elif act is not None and layers:
            layers[-1].activation, layers[-1].output = act, out
    return layers


def _shape_error(x: np.ndarray, model: Any, err: Exception) -> ValueError:
    expected = input_shape_of(model)
    if expected is None and hasattr(model, "modules"):  # a torch model not built by models: its first layer
        first = next((m for m in model.modules() if hasattr(m, "in_features")), None)
        expected = None if first is None else (None, first.in_features)
    what = "what it was built for" if expected is None else f"shape {expected} (None = any batch size)"
    return ValueError(f"x of shape {x.shape} does not fit this model, which expects {what}. ({err})")


def _is_kernel(name: str, ndim: int) -> bool:
    """A weight matrix of the layer: 2+ dimensions, and not a Bayesian layer's scale parameter rho
    (sigma = softplus(rho), a parameter of the weights' distribution, not a weight)."""
    return ndim >= 2 and "rho" not in name.rsplit("/", 1)[-1].split(".")[-1]


def _check_has_weight_layers(weight_ids: dict[int, str], model: Any) -> None:
    if not weight_ids:
        raise ValueError(f"{type(model).__name__} has no weight layers (dense, convolution or recurrent) to describe.")


def _check_targets(y: np.ndarray, out_shape: tuple[int, ...], loss: str) -> None:
    """Class labels for cross-entropy (integers in [0, n_classes)), or targets shaped like the output for MSE."""
    if loss == "cross_entropy":
        n_classes = out_shape[-1]
        integral = y.ndim == 1 and np.issubdtype(y.dtype, np.number) and np.all(np.mod(y, 1) == 0)
        if not integral or y.min() < 0 or y.max() >= n_classes:
            raise ValueError(
                f"cross_entropy needs y as integer class labels of shape (n,) in [0, {n_classes - 1}] for this "
                f"model's {n_classes} outputs; got y of shape {y.shape}, dtype {y.dtype}"
                + (f", values {y.min()}..{y.max()}." if y.size and y.dtype.kind in "iuf" else ".")
            )
    elif not (y.ndim == 1 and np.issubdtype(y.dtype, np.integer) and len(out_shape) == 2 and out_shape[1] > 1) \
            and y.size != int(np.prod(out_shape)):
        raise ValueError(f"mse needs y shaped like the model's output {out_shape} (or class labels of shape (n,)); "
                         f"got y of shape {y.shape}.")


def _keras_loss(keras: Any, out: Any, y: np.ndarray, loss: str) -> Any:
    ops = keras.ops
    if loss == "cross_entropy":
        return ops.mean(keras.losses.sparse_categorical_crossentropy(y.astype("int64"), out, from_logits=True))
    return ops.mean(ops.square(out - _mse_target(y, tuple(out.shape))))


def _mse_target(y: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    """MSE targets: y as given, or one-hot when y holds class indices for a multi-unit output."""
    if y.ndim == 1 and len(out_shape) == 2 and out_shape[1] > 1 and np.issubdtype(y.dtype, np.integer):
        return np.eye(out_shape[1], dtype=np.float32)[y]
    return y.astype(np.float32).reshape(out_shape)


def _trace_keras(model: Any, x: np.ndarray, y: np.ndarray | None, loss: str | None) -> tuple[list[_Layer], float]:
    keras = frameworks.keras()
    import tensorflow as tf  # loaded by frameworks.keras() already; the tape is TensorFlow's

    if not model.built:  # a Sequential without keras.Input gets its weights on the first call
        try:
            model(x[:1].astype(np.float32))
        except (ValueError, TypeError, tf.errors.InvalidArgumentError) as err:
            raise _shape_error(x, model, err) from err
    weight_ids = {id(layer): name for name, layer in weight_layers(model, "keras")}
    _check_has_weight_layers(weight_ids, model)
    layers = frameworks.flat_layers(model, "keras")
    sequential = isinstance(model, keras.Sequential) or not hasattr(model, "inputs") or not model.inputs
    nested = [] if sequential else [layer.name for layer in layers if layer not in model.layers]
    if nested:  # a functional model's inner models keep their layers' outputs in their own graphs
        raise ValueError(f"diagnostics could not see the output of layer(s) {nested}: they run inside a nested "
                         "model. Pass the inner model, or build the network with course_utils.models.")
    xt = tf.convert_to_tensor(x.astype(np.float32, copy=False))
    with tf.GradientTape(watch_accessed_variables=y is not None) as tape:
        try:
            if sequential:
                outs, h = [], xt
                for layer in layers:
                    h = layer(h, training=False)
                    outs.append(_first_output(h))
            else:  # functional: one pass through a model that also returns every layer's output
                probe = keras.Model(model.input, [layer.output for layer in layers])
                outs = [_first_output(o) for o in probe(xt, training=False)]
        except (ValueError, TypeError, tf.errors.InvalidArgumentError) as err:
            raise _shape_error(x, model, err) from err
        final = outs[-1]
        if y is not None:
            _check_targets(y, tuple(final.shape), loss)
        loss_value = _keras_loss(keras, final, y, loss) if y is not None else None
    records = []
    for layer, out in zip(layers, outs, strict=True):
        if id(layer) in weight_ids:
            records.append((layer, out, activations.name_of_keras_function(getattr(layer, "activation", None))))
        else:
            records.append((layer, out, activations.name_of_keras_layer(layer)))
    traced = _group(records, weight_ids)
    tensors = [t.output for t in traced]
    for t in traced:
        t.units = int(t.output.shape[-1])
        t.weights = [w for w in t.module.trainable_weights if _is_kernel(w.path, len(w.shape))]
    if y is not None:
        variables = [w for t in traced for w in t.weights]
        grads = tape.gradient(loss_value, tensors + variables)
        act_grads, weight_grads = grads[: len(tensors)], grads[len(tensors):]
        for t, g in zip(traced, act_grads, strict=True):
            t.grad = None if g is None else np.asarray(g)
        i = 0
        for t in traced:
            t.weight_grads = [np.asarray(g) if g is not None else np.zeros(w.shape, np.float32)
                              for g, w in zip(weight_grads[i: i + len(t.weights)], t.weights, strict=True)]
            i += len(t.weights)
    for t in traced:
        t.output = np.asarray(t.output)
        t.weights = [np.asarray(w) for w in t.weights]
    return traced, (math.nan if loss_value is None else float(loss_value))


def _trace_torch(model: Any, x: np.ndarray, y: np.ndarray | None, loss: str | None) -> tuple[list[_Layer], float]:
    torch = frameworks.torch()
    weight_ids = {id(m): name for name, m in weight_layers(model, "torch")}
    _check_has_weight_layers(weight_ids, model)
    records: list[tuple[Any, Any, str | None]] = []

    def hook(module: Any, _inputs: Any, output: Any) -> None:
        act = _torch_weight_layer_activation(module) if id(module) in weight_ids else activations.name_of_torch_module(module)
        out = _first_output(output)
        records.append((module, out if y is not None else out.detach().clone(), act))

    hooked = [m for m in model.modules()
              if id(m) in weight_ids or (not list(m.children()) and activations.name_of_torch_module(m) is not None)]
    # dropout off: diagnostics describe the deterministic network
    with frameworks.eval_mode(model), frameworks.Hooks(hooked, hook):
        param = next(model.parameters(), None)
        dtype = param.dtype if param is not None else torch.float32
        xt = torch.as_tensor(np.ascontiguousarray(x)).to(dtype)
        with torch.set_grad_enabled(y is not None):
            try:
                final = _first_output(model(xt))
            except (RuntimeError, ValueError, TypeError) as err:
                raise _shape_error(x, model, err) from err
    traced = _group(records, weight_ids)
    loss_value = math.nan
    if y is not None:
        _check_targets(y, tuple(final.shape), loss)
        for t in traced:
            if t.output.requires_grad:
                t.output.retain_grad()
        if loss == "cross_entropy":
            lv = torch.nn.functional.cross_entropy(final, torch.as_tensor(y).long())
        else:
            lv = torch.nn.functional.mse_loss(final, torch.as_tensor(_mse_target(y, tuple(final.shape))).to(dtype))
        model.zero_grad(set_to_none=True)
        lv.backward()
        loss_value = float(lv.detach())
    for t in traced:
        out = t.output
        t.units = int(out.shape[1] if out.ndim >= 2 else 1)
        # torch convolutions put channels (the units) on axis 1; dense and recurrent outputs on the last axis
        t.unit_axis = 1 if out.ndim > 2 and type(t.module).__name__.startswith("Conv") else -1
        if t.unit_axis == -1:
            t.units = int(out.shape[-1])
        params = [p for name, p in t.module.named_parameters(recurse=False) if _is_kernel(name, p.ndim)] or [
            p for name, p in t.module.named_parameters() if _is_kernel(name, p.ndim)]
        t.weights = [p.detach().cpu().numpy().copy() for p in params]
        if y is not None:
            t.grad = None if out.grad is None else out.grad.detach().cpu().numpy()
            t.weight_grads = [np.zeros(p.shape, np.float32) if p.grad is None else p.grad.detach().cpu().numpy()
                              for p in params]
        t.output = out.detach().cpu().numpy()
    if y is not None:
        model.zero_grad(set_to_none=True)  # leave no gradients behind to leak into a later optimiser step
    return traced, loss_value


_TRACE = {"keras": _trace_keras, "torch": _trace_torch}  # one function name, one per framework


# ------------------------------------------------------------- public: models


def residual_stream(model: Any, x: Any, *, training: bool = False) -> pd.DataFrame:
    """The residual stream of a residual network, block by block, on the batch ``x``.

    One row per block: ``block`` (0 = the stem's output, ``b`` = after ``block_b_add``,
    i.e. ``h_b = h_{b-1} + branch_b(h_{b-1})``), ``std`` and ``rms`` (root mean square,
    ``sqrt(E[h^2])``, the quantity whose growth the mean-field recursion predicts) over
    every entry, and ``framework``. For ``models.build_deep_residual_mlp`` and
    ``models.build_residual_mlp`` (``block_b_add`` layers; PyTorch: modules of that
    name, or the branch output added to the stem for ``build_residual_mlp``'s Keras-only
    add). ``training=True`` runs normalization layers in training mode (batch
    statistics), as in the first training step -- and updates a batch norm's running
    averages once, so use it on a model you are not going to evaluate as it is.
    """
    fw = frameworks.framework_of(model)
    xb = _as_batch(x).astype(np.float32, copy=False)
    if fw == "keras":
        keras = frameworks.keras()
        names = ["stem_act"] + sorted((layer.name for layer in model.layers if layer.name.startswith("block_")
                                       and layer.name.endswith("_add")), key=lambda n: int(n.split("_")[1]))
        if len(names) == 1:
            raise ValueError("residual_stream needs a residual model with block_<b>_add layers, e.g. from "
                             "models.build_deep_residual_mlp.")
        probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
        outs = [np.asarray(o) for o in probe(xb, training=training)]
    else:
        torch = frameworks.torch()
        wanted = {name: m for name, m in model.named_modules()
                  if name == "stem_act" or (name.startswith("block_") and name.endswith("_add"))}
        if not any(n != "stem_act" for n in wanted):
            raise ValueError("residual_stream needs a residual model with block_<b>_add modules, e.g. from "
                             "models.build_deep_residual_mlp.")
        order = sorted(wanted, key=lambda n: 0 if n == "stem_act" else int(n.split("_")[1]))
        seen: dict[str, np.ndarray] = {}
        ids = {id(m): n for n, m in wanted.items()}

        def hook(module: Any, _inputs: Any, output: Any) -> None:
            seen[ids[id(module)]] = output.detach().cpu().numpy()

        mode = frameworks.train_mode if training else frameworks.eval_mode
        with mode(model), frameworks.Hooks(list(wanted.values()), hook), torch.no_grad():
            model(torch.as_tensor(xb))
        outs = [seen[n] for n in order]
    return pd.DataFrame([{"block": b, "std": float(o.std()), "rms": float(np.sqrt(np.mean(np.square(o, dtype=np.float64)))),
                          "framework": fw} for b, o in enumerate(outs)])



def layer_activations(model: Any, x: Any) -> dict[str, np.ndarray]:
    """Each weight layer's activation on the batch ``x``, in order: ``{layer name: array}``.

    Works for Keras and torch models (``models.build_mlp``, ``build_cnn``, ...).
    Arrays are ``(batch, units)`` for dense layers (``(batch, ..., channels)``
    for Keras convolutions, ``(batch, channels, ...)`` for torch ones). Feed the
    result to :func:`course_utils.plots.plot_layer_histograms` for figures like
    Glorot & Bengio (2010), figures 4 and 6.
    """
    traced, _ = _trace(model, frameworks.framework_of(model), x)
    return {t.name: t.output for t in traced}


def activation_stats(model: Any, x: Any) -> pd.DataFrame:
    """Per-layer activation statistics of ``model`` on one batch ``x``.

    Returns one row per weight layer with columns ``layer`` (name), ``depth``
    (1 = first layer), ``activation``, ``units``, ``mean``, ``std``,
    ``frac_saturated`` (sigmoid/tanh: |a| within 0.01 of an asymptote, NaN
    otherwise), ``frac_dead`` (ReLU: fraction of units zero for every sample,
    NaN otherwise), ``frac_zero`` (ReLU: fraction of all activations that are
    zero) and ``framework``. Definitions: module docstring. The saturation
    analysis is Glorot & Bengio (2010), section 3; dead ReLUs, Lu et al. (2019).
    """
    fw = frameworks.framework_of(model)
    traced, _ = _trace(model, fw, x)
    rows = []
    for t in traced:
        rows.append({"layer": t.name, "depth": t.depth, "activation": t.activation, "units": t.units,
                     **_summary(t.output, t.activation, t.unit_axis), "framework": fw})
    return pd.DataFrame(rows)


_LOSSES = ("cross_entropy", "mse")


def layer_gradients(model: Any, x: Any, y: Any, loss: str = "cross_entropy") -> dict[str, np.ndarray]:
    """The back-propagated gradient dL/da of each weight layer's activation, for one batch.

    ``L`` is the mean loss over the batch (``cross_entropy`` on the model's
    logits with integer labels ``y``; ``mse`` against ``y``, one-hot encoded when
    ``y`` holds class indices). Same shapes as :func:`layer_activations`; for
    histograms like Glorot & Bengio (2010), figure 7.
    """
    loss = check_choice("loss", loss, _LOSSES)
    traced, _ = _trace(model, frameworks.framework_of(model), x, y, loss)
    return {t.name: (t.grad if t.grad is not None else np.zeros_like(t.output)) for t in traced}


def gradient_stats(model: Any, x: Any, y: Any, loss: str = "cross_entropy") -> pd.DataFrame:
    """Per-layer gradient statistics of ``model`` for one batch ``(x, y)``.

    One row per weight layer with columns ``layer``, ``depth``, ``activation``,
    ``weight_std`` (std of the layer's kernel entries), ``weight_grad_std`` and
    ``weight_grad_norm`` (std and Frobenius norm of dL/dW over the layer's
    kernels -- every parameter with 2+ dimensions, so a recurrent layer's input
    and recurrent kernels together, a Bayesian layer's means ``mu`` without its
    scales ``rho``; biases excluded),
    ``grad_weight_ratio`` (``||dL/dW|| / ||W||``, the relative size of one
    plain gradient step), ``grad_std`` (std of the back-propagated gradient
    dL/da of the layer's activation, He et al. 2015, eq. 13), ``loss`` (the
    batch loss) and ``framework``. ``L`` is the batch-mean loss
    (``cross_entropy`` on logits, or ``mse``); the model runs in inference mode
    and no weights change.
    """
    loss = check_choice("loss", loss, _LOSSES)
    fw = frameworks.framework_of(model)
    traced, loss_value = _trace(model, fw, x, y, loss)
    rows = []
    for t in traced:
        w = np.concatenate([np.ravel(a) for a in t.weights]) if t.weights else np.zeros(0)
        g = np.concatenate([np.ravel(a) for a in t.weight_grads]) if t.weight_grads else np.zeros(0)
        w_norm = float(np.linalg.norm(w.astype(np.float64)))
        g_norm = float(np.linalg.norm(g.astype(np.float64)))
        rows.append({
            "layer": t.name,
            "depth": t.depth,
            "activation": t.activation,
            "weight_std": _nan_if_empty(w, lambda v: np.std(v, dtype=np.float64)),
            "weight_grad_std": _nan_if_empty(g, lambda v: np.std(v, dtype=np.float64)),
            "weight_grad_norm": g_norm,
            "grad_weight_ratio": g_norm / w_norm if w_norm > 0 else math.nan,
            "grad_std": math.nan if t.grad is None else float(np.std(t.grad, dtype=np.float64)),
            "loss": loss_value,
            "framework": fw,
        })
    return pd.DataFrame(rows)


# ------------------------------------------------------------ last layer over first
# One definition of "how much did the signal change from the first layer to the last", used by
# advice.signal_summary, advice.check_model, the widgets and the notebooks.


def end_to_end_ratio(frame: pd.DataFrame, column: str, *, backward: bool = False, first: int | None = None,
                     last: int | None = None) -> float:
    """How much ``column`` of a per-layer table changes between two layers, as a ratio.

    Forward (default): ``value at last / value at first`` (an activation's std: > 1 grows, < 1 fades).
    ``backward=True``: ``value at first / value at last`` (a gradient flows from the last layer down:
    < 1 vanishes towards the input, > 1 explodes). ``first`` and ``last`` are depths (the table's
    ``depth`` column; default: the first layer, depth 1 or the smallest above 0, and the deepest);
    a table without a ``depth`` column is read by position (first and last row). Computed in float64:
    0/0 (a signal that vanished entirely) is NaN, not an error.
    """
    if column not in frame.columns:
        raise ValueError(f"the table has no column {column!r}; use one of its columns: {list(frame.columns)}.")
    if "depth" in frame.columns:
        values = pd.Series(np.asarray(frame[column], dtype=np.float64), index=np.asarray(frame["depth"]))
        layers = values.index[values.index >= 1]
        top = values.index.max() if last is None else last
        bottom = (layers.min() if len(layers) else values.index.min()) if first is None else first
        for depth in (top, bottom):
            if depth not in values.index:
                raise ValueError(f"the table has no layer at depth {depth}; use one of its depths: {sorted(values.index)}.")
        hi, lo = values[top], values[bottom]
    else:
        values = np.asarray(frame[column], dtype=np.float64)
        hi, lo = values[-1 if last is None else last], values[0 if first is None else first]
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(lo) / hi) if backward else float(np.float64(hi) / lo)


def decades(ratio: float) -> float:
    """Orders of magnitude a ratio is away from 1, ``|log10 ratio|``; ``inf`` for 0, NaN, inf or a negative."""
    ratio = float(ratio)
    return abs(math.log10(ratio)) if math.isfinite(ratio) and ratio > 0 else math.inf


def signal_ratios(frame: pd.DataFrame, forward: str = "std", backward: str = "grad_std") -> dict[str, float]:
    """The forward and backward change of a per-layer table, and how many decades the worse is off.

    ``forward_ratio`` = ``end_to_end_ratio(frame, forward)`` (last layer / first),
    ``backward_ratio`` = ``end_to_end_ratio(frame, backward, backward=True)`` (first layer / last),
    ``decades`` = the larger of the two ratios' :func:`decades` (0 is perfect).
    """
    f = end_to_end_ratio(frame, forward)
    b = end_to_end_ratio(frame, backward, backward=True)
    return {"forward_ratio": f, "backward_ratio": b, "decades": max(decades(f), decades(b))}


# ------------------------------------------------------------ signal propagation

_SIGNAL_FRAMEWORKS = ("numpy", "keras", "torch")
#: Largest n_samples x width x depth the NumPy path keeps in memory (8 bytes each: about 400 MB),
#: so a slider dragged to the far right cannot exhaust a 2 GB Binder pod.
MAX_SIGNAL_ELEMENTS = 50_000_000


def _check_signal_args(init: Any, activation: Any, depth: Any, width: Any, n_samples: Any, seed: Any,
                       input_std: Any, framework: Any) -> tuple[Any, str, int, int, int, int, float, str]:
    from . import initializers

    activation = check_choice("activation", activation, ACTIVATIONS)
    depth = check_int("depth", depth, low=1)
    width = check_int("width", width, low=1)
    n_samples = check_int("n_samples", n_samples, low=1)
    seed = check_int("seed", seed, low=0, high=2**32 - 1)
    input_std = check_number("input_std", input_std, low=0.0, low_inclusive=False)
    if isinstance(framework, str) and framework.strip().lower() in ("numpy", "np"):
        framework = "numpy"
    else:
        try:
            framework = frameworks.check_framework(framework)
        except ValueError:
            raise ValueError(
                f"Unknown framework {framework!r}. Valid choices: {', '.join(map(repr, _SIGNAL_FRAMEWORKS))}."
            ) from None
    if n_samples * width * depth > MAX_SIGNAL_ELEMENTS:
        raise ValueError(
            f"n_samples x width x depth = {n_samples * width * depth:,} is more than this function keeps in "
            f"memory ({MAX_SIGNAL_ELEMENTS:,}); use fewer samples (n_samples=256 is plenty for a std)."
        )
    return initializers.get(init), activation, depth, width, n_samples, seed, input_std, framework


def _signal_inputs(seed: int, n_samples: int, width: int, input_std: float) -> tuple[np.ndarray, np.ndarray, Any]:
    """The input batch, the unit-variance gradient injected at the top, and the weights' generator."""
    x_seed, g_seed, w_seed = np.random.SeedSequence(seed).spawn(3)
    x = np.random.default_rng(x_seed).standard_normal((n_samples, width)) * input_std
    g_top = np.random.default_rng(g_seed).standard_normal((n_samples, width))
    return x, g_top, np.random.default_rng(w_seed)


#: Statistics outside [1e-30, 1e30] send the NumPy path to float64: 8 orders of magnitude inside float32's
#: limits (3.4e38, and 1.2e-38 where denormals begin), more than one layer can move a healthy signal.
_FLOAT32_SAFE = (1e-30, 1e30)
_SCALE_COLUMNS = ("std", "preact_std", "grad_std", "preact_grad_std", "weight_grad_std")


def _fits_float32(rows: Sequence[dict[str, float]]) -> bool:
    low, high = _FLOAT32_SAFE
    for row in rows:
        for key in _SCALE_COLUMNS:
            v = row.get(key, math.nan)
            if row["depth"] == 0 and key not in ("std", "grad_std"):
                continue  # the input row has no pre-activation and no weights
            if not (math.isfinite(v) and (v == 0.0 or low < v < high)):
                return False
    return True


def _propagate_numpy(x: np.ndarray, kernels: Sequence[np.ndarray], activation: str, g_top: np.ndarray,
                     ) -> list[dict[str, float]]:
    """Forward x through h_l = f(h_{l-1} W_l), then back-propagate g_top = dL/dh_L by hand.

    The backward pass of L = sum(h_L * g_top):
    dL/dz_l = dL/dh_l * f'(z_l);  dL/dW_l = h_{l-1}^T dL/dz_l;  dL/dh_{l-1} = dL/dz_l W_l^T.
    Returns one dict of statistics per depth 0..L (0 = the input).
    """
    row = TABLE[activation]
    f, df = row.f, row.df
    rows: list[dict[str, float]] = [_input_row(x, None)]
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        pre = []
        h = x
        for depth, w in enumerate(kernels, start=1):
            z = h @ w
            h = f(z)
            pre.append(z)
            rows.append({"depth": depth, **_summary(h, activation), "preact_std": float(np.std(z))})
        g = g_top
        for depth in range(len(kernels), 0, -1):
            z = pre[depth - 1]
            rows[depth]["grad_std"] = float(np.std(g))
            gz = g * df(z)
            rows[depth]["preact_grad_std"] = float(np.std(gz))
            h_below = f(pre[depth - 2]) if depth >= 2 else x
            rows[depth]["weight_grad_std"] = float(np.std(h_below.T @ gz))
            g = gz @ kernels[depth - 1].T
            pre[depth - 1] = None  # type: ignore[call-overload]  # free memory as we go down
        rows[0]["grad_std"] = float(np.std(g))
    return rows


def _autograd_keras(x: np.ndarray, act: Callable[[Any], Any], g_top32: np.ndarray, depth: int, init: Any, seed: int,
                   kernels: Sequence[np.ndarray] | None) -> list[np.ndarray]:
    """Keras/TensorFlow autograd of the deep linear-then-activation stack: gradients, pre-activations, activations."""
    width = x.shape[1]
    keras = frameworks.keras()
    import tensorflow as tf  # loaded by frameworks.keras(); the tape is TensorFlow's

    config.set_seed(seed)
    layers = []
    for i in range(depth):
        # a distinct int seed per layer, because Keras's int-seeded draws repeat on every call;
        # 1_000_003 (a prime) keeps the seeds of neighbouring `seed` values apart
        kernel_init = "zeros" if kernels is not None else init.to_keras(seed=(seed * 1_000_003 + i) % 2**31)
        dense = keras.layers.Dense(width, use_bias=False, kernel_initializer=kernel_init)
        dense.build((None, width))
        if kernels is not None:
            dense.kernel.assign(np.asarray(kernels[i], dtype=np.float32))
        layers.append(dense)
    xt = tf.convert_to_tensor(x.astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        h, zs, hs = xt, [], []
        for dense in layers:
            z = dense(h)
            h = act(z)
            zs.append(z)
            hs.append(h)
        objective = tf.reduce_sum(h * g_top32)
    grads = tape.gradient(objective, [xt, *zs, *hs, *[d.kernel for d in layers]])
    g_x, g_z, g_h, g_w = grads[0], grads[1: 1 + depth], grads[1 + depth: 1 + 2 * depth], grads[1 + 2 * depth:]
    return [np.asarray(t) for t in (g_x, *g_z, *g_h, *g_w, *zs, *hs)]


def _autograd_torch(x: np.ndarray, act: Callable[[Any], Any], g_top32: np.ndarray, depth: int, init: Any, seed: int,
                   kernels: Sequence[np.ndarray] | None) -> list[np.ndarray]:
    """PyTorch autograd of the same stack, in the same order as :func:`_autograd_keras`."""
    width = x.shape[1]
    torch = frameworks.torch()
    generator = torch.Generator().manual_seed(seed)
    linears = []
    for i in range(depth):
        lin = torch.nn.Linear(width, width, bias=False)
        with torch.no_grad():
            if kernels is not None:
                lin.weight.copy_(torch.as_tensor(np.asarray(kernels[i], dtype=np.float32).T))
            else:
                init.apply_torch_(lin.weight, generator=generator)
        linears.append(lin)
    xt = torch.as_tensor(x.astype(np.float32)).requires_grad_(True)
    h, zs, hs = xt, [], []
    for lin in linears:
        z = lin(h)
        h = act(z)
        z.retain_grad()
        h.retain_grad()
        zs.append(z)
        hs.append(h)
    (h * torch.as_tensor(g_top32)).sum().backward()
    g_w = [lin.weight.grad.T for lin in linears]  # back to Keras layout (in, out)
    return [t.detach().numpy() for t in (xt.grad, *[z.grad for z in zs], *[h.grad for h in hs], *g_w, *zs, *hs)]


_AUTOGRAD = {"keras": _autograd_keras, "torch": _autograd_torch}  # one function name, one per framework


def _propagate_framework(framework: str, x: np.ndarray, activation: str, g_top: np.ndarray, *, depth: int,
                         init: Any = None, seed: int = 0, kernels: Sequence[np.ndarray] | None = None,
                         ) -> list[dict[str, float]]:
    """The same forward/backward statistics from a real Keras or torch network and its autograd.

    The network is ``depth`` bias-free dense layers of width ``x.shape[1]``,
    each followed by ``activation``. Its kernels come from the framework
    adapter (``init.to_keras()`` / ``init.apply_torch_``), or are set to
    ``kernels`` (Keras layout ``(in, out)``) when given, which lets tests
    compare autograd with the hand-written NumPy backward pass weight for weight.
    """
    act = activations.framework_op(framework, activation)
    g_top32 = g_top.astype(np.float32)
    arrays = _AUTOGRAD[framework](x, act, g_top32, depth, init, seed, kernels)
    g_x, rest = arrays[0], arrays[1:]
    g_z, g_h, g_w, zs, hs = (rest[k * depth: (k + 1) * depth] for k in range(5))
    rows = [_input_row(x, g_x)]
    with np.errstate(over="ignore", invalid="ignore"):  # an exploding float32 net: inf/NaN statistics, no warnings
        for i in range(depth):
            rows.append({
                "depth": i + 1,
                **_summary(hs[i], activation),
                "preact_std": _std(zs[i]),
                "grad_std": _std(g_h[i]),
                "preact_grad_std": _std(g_z[i]),
                "weight_grad_std": _std(g_w[i]),
            })
    return rows


def _std(a: np.ndarray) -> float:
    return float(np.std(a, dtype=np.float64))


def _input_row(x: np.ndarray, g_x: np.ndarray | None) -> dict[str, float]:
    row = {"depth": 0, **_summary(x, "linear"), "preact_std": math.nan,
           "grad_std": math.nan if g_x is None else _std(g_x), "preact_grad_std": math.nan,
           "weight_grad_std": math.nan}
    return row


_SIGNAL_COLUMNS = ("depth", "layer", "mean", "std", "preact_std", "frac_saturated", "frac_dead", "frac_zero",
                   "grad_std", "preact_grad_std", "weight_grad_std")


def signal_propagation(init: Any, activation: str, depth: int, width: int, n_samples: int = 512, seed: int = 0,
                       input_std: float = 1.0, framework: str = "numpy") -> pd.DataFrame:
    """Forward and backward statistics of an untrained deep network, layer by layer.

    The network is ``depth`` square, bias-free dense layers of ``width`` units,
    ``h_l = f(z_l)``, ``z_l = h_{l-1} W_l``, each ``W_l`` drawn from ``init`` (a
    registry name or Initializer), fed ``n_samples`` inputs ``x ~ N(0,
    input_std^2)``. Backward, a unit-variance random gradient ``dL/dh_depth ~
    N(0, 1)`` is injected at the top (``L = sum(h_depth * g)``) and carried down
    by the chain rule. This is the experiment behind Glorot & Bengio (2010),
    section 4.2 (Var[z_l] = Var[x] prod n_i Var[W_i] in the linear regime) and
    He et al. (2015), section 2.2 (for ReLU, Var[z_l] = Var[z_{l-1}] n Var[W] / 2,
    so He's 2/n keeps it constant and Glorot's 1/n halves it per layer).

    ``framework="numpy"`` (default) draws with ``init.sample`` and back-propagates
    by hand, in float32 with a float64 rerun when the signal leaves float32's
    range (measured for depth 50, width 256, 512 samples: 0.2 s of one core
    for he_normal/relu and glorot_normal/tanh, 0.4 s for orthogonal, whose QR
    draws dominate); ``"keras"``/``"torch"`` build the same network with the
    framework's initializer adapter and use its autograd (same statistics up to
    sampling noise). The inputs and the injected gradient are the same draws for
    every framework with the same ``seed``.

    Returns one row per depth 0..``depth`` (0 is the input ``x``): ``depth``,
    ``layer`` ("input", "h1", ...), forward ``mean``, ``std`` (of ``h_l``),
    ``preact_std`` (of ``z_l``), ``frac_saturated`` (sigmoid/tanh), ``frac_dead``
    and ``frac_zero`` (ReLU) as defined in the module docstring; backward
    ``grad_std`` (of ``dL/dh_l``; at depth 0 the gradient reaching the input),
    ``preact_grad_std`` (of ``dL/dz_l``) and ``weight_grad_std`` (of ``dL/dW_l``);
    and the arguments as columns ``init``, ``activation``, ``width``,
    ``n_samples``, ``seed``, ``input_std``, ``framework``. Activations that
    overflow (an exploding network) give ``inf``/``NaN`` statistics, not errors.
    """
    (initializer, activation, depth, width, n_samples, seed, input_std, framework) = _check_signal_args(
        init, activation, depth, width, n_samples, seed, input_std, framework)
    x, g_top, weight_rng = _signal_inputs(seed, n_samples, width, input_std)
    if framework == "numpy":
        # Products of a few hundred rows gain nothing from BLAS threads, and on a shared 2-core machine
        # OpenBLAS's spinning threads made this 4x slower (1.3 s instead of 0.32 s, measured; the QR of
        # orthogonal draws 10x slower).
        limit = threadpool_limits(1, user_api="blas") if threadpool_limits else contextlib.nullcontext()
        with limit:
            kernels = [initializer.sample((width, width), seed=weight_rng, layout="keras") for _ in range(depth)]
            # float32 first (half the time of float64, measured 0.13 s vs 0.28 s of arithmetic for depth 50);
            # if the signal leaves float32's comfortable range (exploding past 1e30, or vanishing towards its
            # denormals below 1e-30, where it would also crawl), the same draws again in float64.
            rows = _propagate_numpy(x.astype(np.float32), kernels, activation, g_top.astype(np.float32))
            if not _fits_float32(rows):
                rows = _propagate_numpy(x, [k.astype(np.float64) for k in kernels], activation, g_top)
    else:
        rows = _propagate_framework(framework, x, activation, g_top, depth=depth, init=initializer, seed=seed)
    frame = pd.DataFrame(rows)
    frame.insert(1, "layer", ["input"] + [f"h{i}" for i in range(1, depth + 1)])
    frame = frame[list(_SIGNAL_COLUMNS)]
    return frame.assign(init=initializer.label, activation=activation, width=width, n_samples=n_samples, seed=seed,
                        input_std=input_std, framework=framework)


# Standard-normal expectations by quadrature on a fine grid: Gauss-Hermite rules converge slowly for the
# kinks of ReLU and its step derivative; the midpoint rule with spacing 0.001 over +-12 sd (no node on the
# kink at 0, so a step integrates to exactly 1/2) is accurate to ~1e-7 for them.
_STEP = 0.001
_GRID = np.arange(-12.0 + _STEP / 2, 12.0, _STEP)
_GRID_WEIGHTS = np.exp(-0.5 * _GRID**2) * _STEP / math.sqrt(2.0 * math.pi)


def _gauss_mean(fn: Callable[[np.ndarray], np.ndarray], variance: float) -> float:
    """E[fn(z)] for z ~ N(0, variance)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.sum(_GRID_WEIGHTS * fn(math.sqrt(variance) * _GRID)))


def signal_propagation_theory(
    init: Any,
    activation: str,
    depth: int,
    width: int,
    input_std: float = 1.0,
) -> pd.DataFrame:
    """The mean-field (infinite-width) prediction for :func:`signal_propagation`'s statistics.

    With zero-mean weights of variance ``s^2 = init.expected_std((width, width))**2``
    and ``n = width``, each pre-activation is Gaussian with variance
    ``v_l = n s^2 E[h_{l-1}^2]`` (``E[h_0^2] = input_std^2``), and
    ``E[h_l^2] = E[f(z)^2]``, ``z ~ N(0, v_l)`` (Glorot & Bengio 2010, eq. 5-6 in
    the linear case; Poole et al. 2016 for the nonlinear map). Backward,
    ``E[(dL/dh_{l-1})^2] = n s^2 E[f'(z_l)^2] E[(dL/dh_l)^2]`` from 1 at the top
    (He et al. 2015, eq. 13; assumes the backward weights independent of the
    forward signal). For ReLU with He's ``s^2 = 2/n`` both stay constant; with
    Glorot's ``1/n`` they halve per layer. For tanh with Glorot's ``1/n`` the
    forward variance decays slowly, like ``1/(2l)``, not exponentially.

    Returns the columns of :func:`signal_propagation` that theory predicts --
    ``depth``, ``layer``, ``mean``, ``std``, ``preact_std``, ``grad_std``,
    ``preact_grad_std`` -- with ``framework="theory"``. Raises ``ValueError``
    for initializers whose weights do not have mean zero (constant, ones).
    """
    from . import initializers

    activation = check_choice("activation", activation, ACTIVATIONS)
    depth = check_int("depth", depth, low=1)
    width = check_int("width", width, low=1)
    input_std = check_number("input_std", input_std, low=0.0, low_inclusive=False)
    initializer = initializers.get(init)
    if initializer.expected_mean((width, width)) != 0:
        raise ValueError(
            f"the mean-field theory assumes weights with mean zero; {initializer.name} has mean "
            f"{initializer.expected_mean((width, width)):g}. Use signal_propagation() to measure it instead."
        )
    gain = width * initializer.expected_std((width, width)) ** 2  # n Var[W], the factor per layer
    row = TABLE[activation]
    f, df = row.f, row.df
    rows = [{"depth": 0, "mean": 0.0, "std": input_std, "preact_std": math.nan}]
    second_moment, slopes = input_std**2, []
    for d in range(1, depth + 1):
        v = gain * second_moment
        mean = _gauss_mean(f, v)
        second_moment = _gauss_mean(lambda z: f(z) ** 2, v)
        slopes.append(_gauss_mean(lambda z: df(z) ** 2, v))
        rows.append({"depth": d, "mean": mean, "std": math.sqrt(max(second_moment - mean**2, 0.0)),
                     "preact_std": math.sqrt(v)})
    g2 = 1.0
    for d in range(depth, 0, -1):
        rows[d]["grad_std"] = math.sqrt(g2)
        rows[d]["preact_grad_std"] = math.sqrt(g2 * slopes[d - 1])
        g2 *= gain * slopes[d - 1]
    rows[0].update(grad_std=math.sqrt(g2), preact_grad_std=math.nan)
    frame = pd.DataFrame(rows)
    frame.insert(1, "layer", ["input"] + [f"h{i}" for i in range(1, depth + 1)])
    return frame.assign(init=initializer.label, activation=activation, width=width, input_std=input_std,
                        framework="theory")
