"""The maximal update parametrization (muP) of an MLP, in Keras and PyTorch.

Yang et al. 2021, "Tuning Large Neural Networks via Zero-Shot Hyperparameter
Transfer" (Tensor Programs V, arXiv:2203.03466). In the standard parametrization
(SP) a network's best learning rate moves as it grows wider: with Adam every
weight moves by about ``lr`` per step whatever the width, so a hidden layer's
output moves by about ``lr * width`` and the widest network needs the smallest
rate. muP rescales three things so that every layer's update moves its output
by the same amount at every width; the best rate found on a narrow model then
holds on a wide one ("muTransfer").

With ``m = fan_in / base_width`` (the layer's width multiplier over a base
model that muP leaves as SP), for Adam (the paper's Table 8, the ``mup``
package's ``MuReadout``, ``set_base_shapes`` and ``MuAdam``):

=========  ===============================  =====================  ====================
layer      initialization variance          Adam learning rate     forward multiplier
=========  ===============================  =====================  ====================
input      ``c / fan_in`` (as SP)           ``lr`` (as SP)         1
hidden     ``c / fan_in`` (as SP)           ``lr / m``             1
output     ``c m / fan_in = c / base``      ``lr`` (as SP)         ``output_mult / m``
biases     SP's times ``sqrt(m)``           ``lr`` (as SP)         1
=========  ===============================  =====================  ====================

``c`` is the initializer's own constant (2 for He). The output layer's input is
multiplied by ``output_mult / m`` (the *output multiplier*) and its weights are
drawn ``sqrt(m)`` times larger, so the logits start ``1/sqrt(m)`` times smaller
than in SP and each Adam step moves them by ``lr / m`` per weight: the same
change of the logits at every width. Biases are zero in the course's models, so
their rescaling changes nothing here; it is kept so that the course matches the
package on any model.

:func:`apply` turns a :func:`course_utils.models.build_mlp` network into its muP
version; :func:`course_utils.training.train` takes the learning-rate factors it
returns (``lr_multipliers=``): PyTorch as Adam parameter groups, Keras as a
per-variable scaling of the rate.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import frameworks
from ._validation import check_choice, check_int, check_number

__all__ = [
    "PARAMETRIZATIONS",
    "MuP",
    "apply",
    "rules",
    "roles",
    "lr_run",
    "best_lr",
    "best_lrs",
    "shift_ratios",
    "lr_sweep",
    "update_sizes",
    "transfer_penalty",
]

#: "sp": the standard parametrization (the model as built, one learning rate for all);
#: "mup": the maximal update parametrization.
PARAMETRIZATIONS = ("sp", "mup")
#: The name of the output multiplier's layer (a Keras ``Rescaling``, a PyTorch ``Multiply``).
MULTIPLIER_NAME = "output_multiplier"


@dataclass
class MuP:
    """What :func:`apply` made: the model to train and the learning-rate factors to train it with.

    Attributes:
        model: the network (for muP a new Sequential sharing the original's layers, with the
            output multiplier inserted before the output layer).
        lr_multipliers: ``{parameter name: factor}`` for ``training.train(..., lr_multipliers=...)``.
        parametrization, base_width, output_mult: as given to :func:`apply`.
        table: one row per weight layer: its role, fan-in, width multiplier, initialization
            scale factor, learning-rate factor and forward multiplier.
    """

    model: Any
    lr_multipliers: dict[str, float]
    parametrization: str
    base_width: int
    output_mult: float
    table: list[dict[str, Any]] = field(default_factory=list)

    def frame(self) -> Any:
        """:attr:`table` as a pandas DataFrame, one row per layer."""
        import pandas as pd

        return pd.DataFrame(self.table).set_index("layer")


def rules(role: str, fan_in: int, base_width: int, *, parametrization: str = "mup",
          output_mult: float = 1.0) -> dict[str, float]:
    """The factors muP (or SP) applies to one weight layer, relative to an SP network built with a
    ``1/fan_in``-variance initializer (He, LeCun, PyTorch's default).

    Returns ``{"m": width multiplier, "weight_scale": factor on the drawn weights, "bias_scale":
    factor on the biases, "weight_lr": Adam learning-rate factor of the weights, "bias_lr": of the
    biases, "forward": multiplier of the layer's input}``. ``m`` is ``fan_in / base_width`` for
    hidden and output layers; an input layer's fan-in (the data's features) does not grow, so its
    ``m`` is 1.
    """
    role = check_choice("role", role, ("input", "hidden", "output"))
    fan_in = check_int("fan_in", fan_in, low=1)
    base_width = check_int("base_width", base_width, low=1)
    parametrization = check_choice("parametrization", parametrization, PARAMETRIZATIONS)
    output_mult = check_number("output_mult", output_mult, low=0.0, low_inclusive=False)
    m = 1.0 if role == "input" else fan_in / base_width
    if parametrization == "sp":
        return {"m": m, "weight_scale": 1.0, "bias_scale": 1.0, "weight_lr": 1.0, "bias_lr": 1.0, "forward": 1.0}
    return {
        "m": m,
        "weight_scale": math.sqrt(m) if role == "output" else 1.0,  # MuReadout._rescale_parameters
        "bias_scale": math.sqrt(m),  # rescale_linear_bias / MuReadout: sqrt(fan-in multiplier)
        "weight_lr": 1.0 / m if role == "hidden" else 1.0,  # MuAdam: matrix-like (both dims grow) get lr/m
        "bias_lr": 1.0,  # MuAdam: vector-like parameters keep lr
        "forward": output_mult / m if role == "output" else 1.0,  # MuReadout.forward: output_mult * x / m
    }


def roles(model: Any, framework: str | None = None) -> list[tuple[str, str, int]]:
    """``[(layer name, role, fan_in), ...]`` for the weight layers: the first is the input layer,
    the last the output layer, the rest hidden."""
    fw = frameworks.framework_of(model) if framework is None else framework
    layers = frameworks.weight_layers(model, fw)
    if len(layers) < 2:
        raise ValueError(f"muP needs an input and an output layer; this model has {len(layers)} weight layer(s). "
                         "Build one with models.build_mlp(..., hidden=[...]) with at least one hidden width.")
    out = []
    for i, (name, layer) in enumerate(layers):
        w = layer.kernel if fw == "keras" else layer.weight
        fan_in = int(w.shape[0] if fw == "keras" else w.shape[1])
        if len(w.shape) != 2:
            raise ValueError(f"muP here is for dense layers; layer {name!r} has a weight of shape {tuple(w.shape)}.")
        role = "input" if i == 0 else "output" if i == len(layers) - 1 else "hidden"
        out.append((name, role, fan_in))
    return out


def apply(model: Any, base_width: int, *, parametrization: str = "mup", output_mult: float = 1.0) -> MuP:
    """Reparametrize a freshly built dense network (``models.build_mlp``) in muP, relative to a base
    model of hidden width ``base_width``.

    In place, the output layer's weights are multiplied by ``sqrt(m)`` and every non-input layer's
    bias by ``sqrt(m)``; the returned :class:`MuP` holds a new Sequential sharing those layers, with
    the output multiplier ``output_mult / m`` inserted before the output layer, and the learning-rate
    factors ``1/m`` of the hidden weights for ``train(..., lr_multipliers=...)``. At
    ``width == base_width`` muP and SP are the same network. ``parametrization="sp"`` returns the
    model untouched and no factors (so one code path runs both).

    Call it once per model, straight after building it (it rescales weights: a second call would
    rescale them again, and is refused).
    """
    fw = frameworks.framework_of(model)
    base_width = check_int("base_width", base_width, low=1)
    parametrization = check_choice("parametrization", parametrization, PARAMETRIZATIONS)
    output_mult = check_number("output_mult", output_mult, low=0.0, low_inclusive=False)
    layer_roles = roles(model, fw)
    names = [getattr(layer, "name", None) for layer in frameworks.flat_layers(model, fw)]
    if fw == "torch":
        names = [n for n, _ in model.named_children()]
    if MULTIPLIER_NAME in names:
        raise ValueError("this model is already in muP (it has an output_multiplier layer): build a fresh one "
                         "with models.build_mlp and call mup.apply once.")
    by_name = dict(frameworks.weight_layers(model, fw))
    table, multipliers = [], {}
    for name, role, fan_in in layer_roles:
        r = rules(role, fan_in, base_width, parametrization=parametrization, output_mult=output_mult)
        table.append({"layer": name, "role": role, "fan_in": fan_in, **r})
        if parametrization == "sp":
            continue
        _scale_weights(by_name[name], fw, r["weight_scale"], r["bias_scale"])
        if r["weight_lr"] != 1.0:
            multipliers[f"{name}.weight"] = r["weight_lr"]
    if parametrization == "sp":
        return MuP(model, {}, parametrization, base_width, output_mult, table)
    out_name = layer_roles[-1][0]
    new = _with_multiplier(model, fw, out_name, table[-1]["forward"])
    return MuP(new, multipliers, parametrization, base_width, output_mult, table)


def _scale_weights(layer: Any, fw: str, weight_scale: float, bias_scale: float) -> None:
    if fw == "torch":
        torch = frameworks.torch()
        with torch.no_grad():
            layer.weight.mul_(weight_scale)
            if layer.bias is not None:
                layer.bias.mul_(bias_scale)
        return
    layer.kernel.assign(layer.kernel.numpy() * np.float32(weight_scale))
    if layer.bias is not None:
        layer.bias.assign(layer.bias.numpy() * np.float32(bias_scale))


_MULTIPLY: Any = None


def _torch_multiply() -> Any:
    """``Multiply(factor)``: ``x -> factor * x``, a module so that the multiplier shows in the model."""
    global _MULTIPLY
    if _MULTIPLY is None:
        nn = frameworks.torch().nn

        class Multiply(nn.Module):
            def __init__(self, factor: float) -> None:
                super().__init__()
                self.factor = float(factor)

            def forward(self, x):
                return x * self.factor

            def extra_repr(self) -> str:
                return f"factor={self.factor:.6g}"

        _MULTIPLY = Multiply
    return _MULTIPLY


def _with_multiplier(model: Any, fw: str, out_name: str, factor: float) -> Any:
    """A new Sequential with the same layers and ``factor * x`` just before layer ``out_name``."""
    if fw == "torch":
        nn = frameworks.torch().nn
        children = []
        for name, child in model.named_children():
            if name == out_name:
                children.append((MULTIPLIER_NAME, _torch_multiply()(factor)))
            children.append((name, child))
        if len(children) == len(list(model.named_children())):
            raise ValueError(f"mup.apply works on Sequential networks (models.build_mlp); the output layer "
                             f"{out_name!r} is not one of this model's direct children.")
        new = nn.Sequential(OrderedDict(children))
        new.input_shape = getattr(model, "input_shape", None)
        return new
    keras = frameworks.keras()
    if not isinstance(model, keras.Sequential):
        raise ValueError("mup.apply works on Sequential networks (models.build_mlp); got a "
                         f"{type(model).__name__}.")
    layers: list[Any] = [keras.Input(frameworks.input_shape_of(model, "keras")[1:], name="input")]
    for layer in model.layers:
        if layer.name == out_name:
            layers.append(keras.layers.Rescaling(factor, name=MULTIPLIER_NAME))
        layers.append(layer)
    return keras.Sequential(layers, name=model.name)


# ------------------------------------------------------------- the learning-rate sweep


def lr_run(
    framework: str,
    parametrization: str,
    width: int,
    lr: float,
    seed: int,
    *,
    base_width: int = 64,
    depth: int = 2,
    dataset: str = "fashion_mnist",
    n_train: int = 4096,
    epochs: int = 1,
    batch_size: int = 128,
    output_mult: float = 1.0,
    init: str = "he_normal",
) -> dict[str, float]:
    """One run of the learning-rate-versus-width experiment, as a row of metrics for
    :func:`course_utils.experiments.sweep`: an MLP ``784 -> width x depth (ReLU) -> 10`` built by
    ``models.build_mlp`` (``init`` everywhere, zero biases), put in ``parametrization`` relative to
    ``base_width``, trained with Adam at ``lr`` on ``n_train`` images.

    Returns ``loss`` (the training loss averaged over the last epoch's steps, what the paper's
    curves plot; ``inf`` when the run diverged) and ``accuracy`` (the same average).
    """
    from . import experiments, models, training

    framework = frameworks.check_framework(framework)
    ds = experiments.cached_dataset(dataset, n_train)
    model = models.build_mlp(framework, ds.x_train.shape[1], check_int("width", width, low=1), "relu", init,
                             n_classes=ds.n_classes, seed=seed, depth=depth)
    mp = apply(model, base_width, parametrization=parametrization, output_mult=output_mult)
    hist = training.train(mp.model, ds, epochs=epochs, batch_size=batch_size, optimizer="adam", lr=lr, seed=seed,
                          lr_multipliers=mp.lr_multipliers or None, validation=False, progress=False)
    del model, mp
    _collect(framework)
    loss = hist.loss[-1]
    return {"loss": loss if math.isfinite(loss) else math.inf, "accuracy": hist.accuracy[-1]}


#: A full garbage collection after every this many Keras runs (see :func:`_collect`).
COLLECT_EVERY = 4
_keras_runs = 0


def _collect(framework: str) -> None:
    """Free finished Keras runs' models. A Keras model sits in reference cycles, so without a collection each
    run's weights and Adam slots stayed until Python's next full collection: +350 MB over the 50 Keras runs
    of the quick sweep (measured: 15 MB per run at width 1024). A full collection costs 0.2-0.5 s with both
    frameworks loaded, so it runs after every :data:`COLLECT_EVERY`-th Keras run (at most ~60 MB held);
    PyTorch's models are freed by reference counting alone (measured flat)."""
    global _keras_runs
    if framework != "keras":
        return
    _keras_runs += 1
    if _keras_runs % COLLECT_EVERY == 0:
        import gc

        from . import config

        gc.collect()
        config.release_memory()


def best_lr(lrs: Any, losses: Any) -> float:
    """The learning rate of least loss, refined between grid points: a parabola in ``log2(lr)``
    through the best point and its two neighbours (its vertex, kept within them). At an end of the
    grid, that end. Non-finite losses (diverged runs) count as the worst."""
    lrs = np.asarray(lrs, dtype=float)
    losses = np.asarray(losses, dtype=float)
    if lrs.ndim != 1 or lrs.shape != losses.shape or len(lrs) < 1:
        raise ValueError(f"lrs and losses must be 1-D of the same length; got shapes {lrs.shape} and {losses.shape}.")
    order = np.argsort(lrs)
    x, y = np.log2(lrs[order]), np.where(np.isfinite(losses[order]), losses[order], np.inf)
    if not np.isfinite(y).any():
        return math.nan
    i = int(np.argmin(y))
    if i == 0 or i == len(x) - 1 or not (np.isfinite(y[i - 1]) and np.isfinite(y[i + 1])):
        return float(2.0 ** x[i])
    (x0, x1, x2), (y0, y1, y2) = x[i - 1:i + 2], y[i - 1:i + 2]
    a, b, _ = np.polyfit([x0, x1, x2], [y0, y1, y2], 2)
    vertex = -b / (2 * a) if a > 0 else x1
    return float(2.0 ** min(max(vertex, x0), x2))


def best_lrs(frame: Any, by: tuple[str, ...] = ("framework", "parametrization", "width", "seed"),
             metric: str = "loss") -> Any:
    """:func:`best_lr` per group of a sweep's frame (one row per lr): a DataFrame with ``by`` and
    ``best_lr``."""
    import pandas as pd

    missing = [c for c in (*by, "lr", metric) if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame lacks column(s) {missing}; it has {list(frame.columns)}.")
    rows = []
    for key, g in frame.groupby(list(by), sort=True):
        rows.append({**dict(zip(by, key, strict=True)), "best_lr": best_lr(g["lr"], g[metric])})
    return pd.DataFrame(rows)


def shift_ratios(best: Any, *, narrow: int, wide: int,
                 by: tuple[str, ...] = ("framework", "parametrization", "seed")) -> Any:
    """Per group, ``best_lr(wide) / best_lr(narrow)``: 1 when the best rate stays put, ``narrow/wide``
    when it falls as ``1/width``. A DataFrame with ``by``, ``ratio`` and ``decades`` (``log10``)."""
    table = best.pivot_table(index=list(by), columns="width", values="best_lr")
    for w in (narrow, wide):
        if w not in table.columns:
            raise ValueError(f"no runs at width {w}; the widths are {sorted(table.columns)}.")
    out = (table[wide] / table[narrow]).rename("ratio").reset_index()
    out["decades"] = np.log10(out["ratio"])
    return out


def lr_sweep(frameworks_: Any, widths: Any, lrs: Any, seeds: Any, *, base_width: int | None = None,
             **fixed: Any) -> Any:
    """:func:`lr_run` over frameworks x parametrizations x widths x learning rates x seeds through
    :func:`course_utils.experiments.sweep` (cached on disk): SP at every width, muP at the wider ones
    (at ``base_width``, by default the narrowest, muP *is* SP: its rows are SP's, relabelled).

    Returns the sweep's DataFrame: ``framework, parametrization, width, lr, seed, loss, accuracy, ...``.
    """
    import pandas as pd

    from . import experiments

    widths = sorted(check_int("width", w, low=1) for w in widths)
    base = widths[0] if base_width is None else check_int("base_width", base_width, low=1)
    fws = [frameworks_] if isinstance(frameworks_, str) else list(frameworks_)
    common = {"framework": fws, "lr": [float(lr) for lr in lrs]}
    sp = experiments.sweep(lr_run, {**common, "parametrization": ["sp"], "width": widths}, seeds=seeds,
                           base_width=base, **fixed)
    wider = [w for w in widths if w != base]
    parts = [sp, sp[sp["width"] == base].assign(parametrization="mup")]
    if wider:
        parts.append(experiments.sweep(lr_run, {**common, "parametrization": ["mup"], "width": wider}, seeds=seeds,
                                       base_width=base, **fixed))
    return pd.concat(parts, ignore_index=True)


def update_sizes(framework: str, widths: Any, *, parametrization: str = "mup", base_width: int = 64,
                 lr: float = 1e-3, depth: int = 2, n: int = 256, steps: int = 1, seed: int = 0,
                 dataset: str = "fashion_mnist") -> Any:
    """How far one Adam step moves each layer's output, per width: the paper's "coordinate check".

    For each width, an MLP as in :func:`lr_run` takes ``steps`` full-batch Adam steps at ``lr`` on ``n``
    training images; for each weight layer, the root-mean-square change of its outputs (pre-
    activations; for the output layer, the logits) on those images. In SP a hidden layer's change
    grows about linearly with the width (an Adam step moves each of its ``width`` inputs' weights by
    about ``lr``, all in the direction that adds up); in muP every layer's stays put.

    Returns a DataFrame: ``framework, parametrization, width, seed, layer, role, update_rms``.
    """
    import pandas as pd

    from . import experiments, models, training

    framework = frameworks.check_framework(framework)
    ds = experiments.cached_dataset(dataset, n)
    x, y = ds.x_train[:n], ds.y_train[:n]
    rows = []
    for width in widths:
        model = models.build_mlp(framework, x.shape[1], check_int("width", width, low=1), "relu", "he_normal",
                                 n_classes=ds.n_classes, seed=seed, depth=depth)
        mp = apply(model, base_width, parametrization=parametrization)
        before = _layer_outputs(mp.model, framework, x)
        training.train(mp.model, (x, y), epochs=check_int("steps", steps, low=1), batch_size=n, lr=lr, seed=seed, validation=False,
                       lr_multipliers=mp.lr_multipliers or None, progress=False)
        after = _layer_outputs(mp.model, framework, x)
        table = mp.table
        del model, mp
        _collect(framework)
        for row, (_, b), (_, a) in zip(table, before, after, strict=True):
            name, role = row["layer"], row["role"]
            rows.append({"framework": framework, "parametrization": parametrization, "width": width, "seed": seed,
                         "layer": name,
                         "role": role, "update_rms": float(np.sqrt(np.mean((a - b) ** 2)))})
    return pd.DataFrame(rows)


def _layer_outputs(model: Any, fw: str, x: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Each weight layer's output on ``x`` (inference mode), in order: the forward pass written out."""
    names = {name for name, _ in frameworks.weight_layers(model, fw)}
    out = []
    if fw == "torch":
        torch = frameworks.torch()
        with frameworks.eval_mode(model), torch.no_grad():
            h = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            for name, child in model.named_children():
                h = child(h)
                if name in names:
                    out.append((name, h.numpy().astype(np.float64)))
        return out
    h = np.ascontiguousarray(x, dtype=np.float32)
    for layer in model.layers:
        h = layer(h, training=False) if layer.name.startswith("dropout") else layer(h)
        if layer.name in names:
            out.append((layer.name, np.asarray(h, dtype=np.float64)))
    return out


def transfer_penalty(runs: Any, best: Any, *, narrow: int, wide: int,
                     by: tuple[str, ...] = ("framework", "parametrization", "seed"), metric: str = "loss") -> Any:
    """What reusing the narrow model's best rate costs the wide one: per group, the wide model's loss at
    the grid rate nearest (in ``log lr``) to the narrow model's best rate, over the wide model's best
    loss on the grid. 1 = nothing lost; diverged runs give ``inf``.

    A DataFrame with ``by``, ``lr_used``, ``loss_used``, ``loss_best`` and ``penalty``.
    """
    import pandas as pd

    rows = []
    for key, g in runs[runs["width"] == wide].groupby(list(by), sort=True):
        sel = (best[list(by)] == pd.Series(key, index=list(by))).all(axis=1) & (best["width"] == narrow)
        if not sel.any():
            raise ValueError(f"no best rate at width {narrow} for {dict(zip(by, key, strict=True))}.")
        tuned = float(best.loc[sel, "best_lr"].iloc[0])
        lrs = g["lr"].to_numpy(dtype=float)
        used = lrs[np.argmin(np.abs(np.log(lrs) - np.log(tuned)))]
        losses = g[metric].astype(float).replace(np.nan, np.inf)
        loss_used = float(losses[g["lr"] == used].mean())
        loss_best = float(losses.groupby(g["lr"]).mean().min())
        rows.append({**dict(zip(by, key, strict=True)), "lr_used": float(used), "loss_used": loss_used,
                     "loss_best": loss_best, "penalty": loss_used / loss_best})
    return pd.DataFrame(rows)
