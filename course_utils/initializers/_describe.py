"""``describe_model_init(model)``: what initialization does my model use?

For every trainable weight of a Keras or PyTorch model, one row: its shape and
fans, its empirical mean and std, the std the main schemes would give it, and
the scheme that fits best. Fitting works in two stages:

1. *exact structure*: constants (zeros, ones), the identity, (semi-)orthogonal
   matrices, Martens-sparse and torch-sparse zero patterns, the Keras LSTM
   bias -- recognised by checking the property itself;
2. *distribution*: a one-sample Kolmogorov-Smirnov test of the weights
   against every named random scheme's exact distribution for that shape
   (normal, uniform or truncated normal). Named schemes whose p-value is
   above ``alpha`` are plausible; the most plausible wins, ties going to the
   framework's own default. When no named scheme fits, a fixed-scale scheme
   (random_normal / random_uniform / truncated_normal) with its scale fitted
   to the weights is tried last.

Two schemes with the same distribution for a shape (glorot and lecun on a
square matrix; legacy_uniform and torch_default_linear always) cannot be told
apart; the ``also_matches`` column lists the other plausible ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import frameworks
from .._validation import check_choice, check_number
from ._core import (
    LAYOUTS,
    TRUNCATED_NORMAL_STD,
    DeltaOrthogonal,
    Initializer,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TorchDefaultRecurrent,
    TruncatedNormal,
    VarianceScaling,
    compute_fans,
)
from ._registry import get

__all__ = ["describe_model_init", "weight_records", "identify_init"]

# Named random schemes tried by the KS stage, in tie-break order (framework defaults are moved first).
_NAMED = ("glorot_uniform", "glorot_normal", "glorot_normal_torch", "he_uniform", "he_normal", "he_normal_torch",
          "lecun_uniform", "lecun_normal", "lecun_normal_torch", "torch_default_linear", "legacy_uniform")
_DEFAULT_FIRST = {"keras": ("glorot_uniform",), "torch": ("torch_default_linear",)}

# float32 weights carry ~7 significant digits; structure checks allow this relative slack.
_EXACT_RTOL = 1e-4


@dataclass
class WeightRecord:
    """One trainable weight, framework-free: what describe_model_init needs to know."""

    layer: str
    weight: str
    role: str  # kernel | recurrent_kernel | bias | embeddings | other
    values: np.ndarray
    layout: str
    layer_type: str
    context: dict[str, Any] = field(default_factory=dict)  # hidden_size, cell, bias_fan_in


# -------------------------------------------------------------------- walking models


def _keras_records(model: Any) -> list[WeightRecord]:
    records = []
    for layer in frameworks.flat_layers(model, "keras"):
        kind = layer.__class__.__name__
        cell = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple_rnn"}.get(kind)
        for v in layer.trainable_weights:
            short = v.path.split("/")[-1] if hasattr(v, "path") else v.name.split("/")[-1].split(":")[0]
            role = short if short in ("kernel", "recurrent_kernel", "bias", "embeddings") else "other"
            ctx: dict[str, Any] = {}
            if cell is not None:
                ctx.update(cell=cell, hidden_size=int(layer.units))
            records.append(WeightRecord(layer.name, short, role, np.asarray(v.numpy()), "keras", kind, ctx))
    return records


def _torch_records(model: Any) -> list[WeightRecord]:
    torch = frameworks.torch()
    nn = torch.nn
    records = []
    for mod_name, mod in model.named_modules():
        kind = mod.__class__.__name__
        params = dict(mod.named_parameters(recurse=False))
        is_rnn = isinstance(mod, nn.RNNBase)
        is_linear = isinstance(mod, (nn.Linear, nn.Bilinear, nn.modules.conv._ConvNd))
        for p_name, p in params.items():
            ctx: dict[str, Any] = {}
            if is_rnn:
                ctx.update(cell={"LSTM": "lstm", "GRU": "gru"}.get(mod.mode, "rnn"), hidden_size=int(mod.hidden_size))
                role = ("recurrent_kernel" if p_name.startswith("weight_hh") else
                        "kernel" if p_name.startswith("weight") else "bias")
            elif is_linear:
                role = "kernel" if p_name == "weight" else "bias" if p_name == "bias" else "other"
                if role == "bias" and "weight" in params and params["weight"].dim() >= 2:
                    ctx["bias_fan_in"] = compute_fans(tuple(params["weight"].shape), "torch")[0]
            elif isinstance(mod, nn.Embedding):
                role = "embeddings"
            else:
                role = "bias" if p_name == "bias" else "other"
            name = f"{mod_name}.{p_name}" if mod_name else p_name
            records.append(WeightRecord(mod_name or kind, name, role, p.detach().cpu().numpy(), "torch", kind, ctx))
    return records


def weight_records(model: Any, framework: str | None = None) -> list[WeightRecord]:
    """Every trainable weight of a Keras or PyTorch model, in order, as :class:`WeightRecord`."""
    fw = framework or frameworks.framework_of(model)
    records = _keras_records(model) if fw == "keras" else _torch_records(model)
    if not records:
        raise ValueError(
            "the model has no trainable weights yet; expected a built model -- for Keras, give it an "
            "Input or call it once on a batch (model(x[:1])) before describing it."
        )
    return records


# ------------------------------------------------------------------- the fitting


def _stats_dist(init: Initializer, shape: tuple[int, ...], layout: str) -> Any:
    """The exact scipy.stats distribution of one entry, for the schemes that are iid draws."""
    from scipy import stats

    if isinstance(init, VarianceScaling):
        dist, p = init._draw_params(shape, layout)
        if dist == "uniform":
            return stats.uniform(-p, 2 * p)
        if dist == "truncated_normal":
            return stats.truncnorm(-2.0, 2.0, loc=0.0, scale=p)
        return stats.norm(0.0, p)
    if isinstance(init, TorchDefaultRecurrent):
        b = init._limit(shape, layout)
        return stats.uniform(-b, 2 * b)
    if isinstance(init, RandomNormal):
        return stats.norm(init.mean, init.std)
    if isinstance(init, RandomUniform):
        return stats.uniform(init.low, init.high - init.low)
    if isinstance(init, TruncatedNormal):
        return stats.truncnorm(-2.0, 2.0, loc=init.mean, scale=init.std)
    return None


def _flat_units(w: np.ndarray, layout: str) -> np.ndarray:
    """The kernel as a (fan_in, n_out) matrix: column j holds unit j's incoming weights."""
    if layout == "keras":
        return w.reshape(-1, w.shape[-1])
    return w.reshape(w.shape[0], -1).T


def _exact_structure(w: np.ndarray, layout: str, role: str, ctx: dict[str, Any]) -> tuple[Initializer, str] | None:
    """A scheme the weights match *exactly* (constant, identity, orthogonal, sparse, LSTM bias), or None."""
    scale = float(np.max(np.abs(w))) if w.size else 0.0
    tol = _EXACT_RTOL * max(scale, 1e-12)
    if w.size and float(np.ptp(w)) <= tol:
        v = float(w.flat[0])
        if abs(v) <= tol:
            return get("zeros"), "all zeros"
        if abs(v - 1.0) <= tol:
            return get("ones"), "all ones"
        return get("constant", value=v), "all equal"
    if role == "bias" and w.ndim == 1 and ctx.get("cell") == "lstm" and layout == "keras" and w.size % 4 == 0:
        n = w.size // 4
        expected = np.zeros(w.size)
        expected[n:2 * n] = 1.0
        if np.allclose(w, expected, atol=tol):
            return get("keras_default_recurrent", part="bias", cell="lstm"), "zeros, forget gate ones"
    if w.ndim < 2:
        return None
    if w.ndim == 2:
        g = float(w[0, 0])
        if g != 0 and np.allclose(w, g * np.eye(*w.shape), atol=tol, rtol=0):
            return get("identity", gain=g), "gain * I"
    if w.ndim > 2:  # a convolution kernel that is zero except at its centre tap: delta-orthogonal?
        idx = DeltaOrthogonal.centre(w.shape, layout)
        full = (*idx, slice(None), slice(None)) if layout == "keras" else (slice(None), slice(None), *idx)
        centre = np.array(w[full], dtype=np.float64)
        rest = np.array(w, dtype=np.float64)
        rest[full] = 0.0
        if np.max(np.abs(rest)) <= tol and np.any(centre):
            gram = centre @ centre.T if centre.shape[0] <= centre.shape[1] else centre.T @ centre
            g2 = float(np.mean(np.diag(gram)))
            if g2 > 0 and np.max(np.abs(gram - g2 * np.eye(gram.shape[0]))) <= 1e-4 * g2:
                return get("delta_orthogonal", gain=round(math.sqrt(g2), 6)), "centre tap gain * Q, zeros elsewhere"
    r, c = Orthogonal.matrix_shape(w.shape, layout)
    m = w.reshape(r, c).astype(np.float64)  # both layouts flatten row-major to their own (r, c)
    if r * c <= 4_000_000:  # a Gram matrix beyond ~2000 x 2000 costs more than the check is worth
        gram = m @ m.T if r <= c else m.T @ m
        g2 = float(np.mean(np.diag(gram)))
        if g2 > 0 and np.max(np.abs(gram - g2 * np.eye(gram.shape[0]))) <= 1e-4 * g2:
            gain = math.sqrt(g2)
            target = "keras_default_recurrent" if (role == "recurrent_kernel" and abs(gain - 1) < 1e-4
                                                   and layout == "keras") else None
            if target:
                return get(target, part="recurrent_kernel", cell=ctx.get("cell", "lstm")), "orthogonal, gain 1"
            return get("orthogonal", gain=round(gain, 6)), "W W^T = gain^2 I"
    units = _flat_units(w, layout)
    nonzero = units != 0
    n_zero = int((~nonzero).sum())
    if n_zero:
        per_unit = nonzero.sum(axis=0)
        k = int(per_unit[0])
        nz = units[nonzero]
        std = float(np.sqrt(np.mean(nz.astype(np.float64) ** 2))) if nz.size else 0.0
        if 0 < k < units.shape[0] and np.all(per_unit == k):
            return get("sparse", k=k, std=round(std, 6)), f"exactly {k} non-zeros per unit"
        if w.ndim == 2:
            per_input = (~nonzero).sum(axis=1)  # zeros per input (a row of the (fan_in, n_out) view)
            z = int(per_input[0])
            n_out = units.shape[1]
            if 0 < z < n_out and np.all(per_input == z):
                return get("sparse_torch", sparsity=round(z / n_out, 6), std=round(std, 6)), f"{z} zeros per input"
    return None


def _candidates(shape: tuple[int, ...], layout: str, framework: str, role: str,
                ctx: dict[str, Any]) -> list[Initializer]:
    out: list[Initializer] = []
    if len(shape) >= 2:
        order = list(_DEFAULT_FIRST[framework]) + [n for n in _NAMED if n not in _DEFAULT_FIRST[framework]]
        out += [get(n) for n in order]
    if "hidden_size" in ctx:
        out.insert(0 if framework == "torch" else len(out),
                   get("torch_default_recurrent", hidden_size=ctx["hidden_size"],
                       cell=ctx.get("cell", "lstm").replace("simple_rnn", "rnn")))
    return out


def _torch_bias_dist(fan_in: int) -> Any:
    from scipy import stats

    b = 1.0 / math.sqrt(fan_in)  # nn.Linear/Conv bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    return stats.uniform(-b, 2 * b)


def identify_init(w: np.ndarray, layout: str = "keras", framework: str | None = None, role: str = "kernel",
                  context: dict[str, Any] | None = None, alpha: float = 1e-3) -> dict[str, Any]:
    """Which scheme fits the array ``w`` best? Returns a dict (closest, p_value, also_matches, method, ...).

    See the module docstring for the two stages. ``alpha`` is the KS p-value
    above which a named scheme counts as plausible.
    """
    from scipy import stats

    alpha = check_number("alpha", alpha, low=0.0, high=1.0)
    layout = check_choice("layout", layout, LAYOUTS)
    framework = framework or layout
    ctx = dict(context or {})
    w = np.asarray(w)
    shape = tuple(int(s) for s in w.shape)
    exact = _exact_structure(w, layout, role, ctx)
    if exact is not None:
        init, why = exact
        return {"closest": init.label, "initializer": init, "method": f"exact: {why}", "p_value": math.nan,
                "ks_stat": math.nan, "plausible": True, "also_matches": ""}
    x = np.asarray(w, dtype=np.float64).ravel()
    # The exact KS p-value costs ~30 ms per test at 60k values; the asymptotic one is accurate to
    # well under 1% of alpha for n > 1000 and takes microseconds.
    ks_method = "asymp" if x.size > 1000 else "auto"
    tried: list[tuple[str, Initializer | None, Any]] = []
    for init in _candidates(shape, layout, framework, role, ctx):
        try:
            tried.append((init.label, init, _stats_dist(init, shape, layout)))
        except ValueError:
            continue
    if role == "bias" and "bias_fan_in" in ctx:
        tried.insert(0, ("torch_default_linear (bias)", None, _torch_bias_dist(ctx["bias_fan_in"])))
    named = []
    for label, init, dist in tried:
        res = stats.kstest(x, dist.cdf, method=ks_method)
        named.append((label, init, float(res.statistic), float(res.pvalue)))
    plausible = [t for t in named if t[3] >= alpha]
    method = "KS test"
    if not plausible:
        mean, std = float(x.mean()), float(x.std())
        if abs(mean) < 3.0 * std / math.sqrt(x.size):
            mean = 0.0  # a mean within 3 standard errors of 0 is reported as the zero it almost surely was
        fitted: list[Initializer] = []
        if std > 0:
            fitted = [RandomNormal(mean, std), TruncatedNormal(mean, std / TRUNCATED_NORMAL_STD),
                      RandomUniform(float(x.min()), float(x.max()))]
        for init in fitted:
            res = stats.kstest(x, _stats_dist(init, shape, layout).cdf, method=ks_method)
            named.append((init.label, init, float(res.statistic), float(res.pvalue)))
        plausible = [t for t in named if t[3] >= alpha]
        method = "KS test, scale fitted" if plausible else "KS test, nothing plausible (smallest KS distance)"
    pool = plausible or named
    if not pool:
        return {"closest": "unknown", "initializer": None, "method": "no candidate", "p_value": math.nan,
                "ks_stat": math.nan, "plausible": False, "also_matches": ""}
    if plausible and named and plausible[0] is named[0] and method == "KS test":
        best = named[0]  # the framework's own default, when it fits, wins over look-alikes (he vs glorot, 256x10)
    elif plausible:
        best = max(pool, key=lambda t: t[3])  # max() keeps the first of equal p-values: candidate order breaks ties
    else:
        best = min(pool, key=lambda t: t[2])
    others = sorted((t for t in plausible if t is not best), key=lambda t: -t[3])
    return {"closest": best[0], "initializer": best[1], "method": method, "p_value": best[3], "ks_stat": best[2],
            "plausible": bool(plausible), "also_matches": ", ".join(t[0] for t in others)}


def _safe_std(name: str, shape: tuple[int, ...], layout: str) -> float:
    if len(shape) < 2:
        return math.nan
    return get(name).expected_std(shape, layout)


def describe_model_init(model: Any, alpha: float = 1e-3) -> Any:
    """One row per trainable weight of a Keras or PyTorch model: what initialization does it look like?

    Columns: layer, weight, role, layer_type, shape, layout, fan_in, fan_out,
    mean, std, std_glorot, std_he, std_lecun, std_torch_default (the std each
    family predicts for that shape), closest (best-fitting scheme, with
    non-default parameters), expected_std (of closest), std_ratio
    (std / expected_std), p_value (KS; NaN for exact structure), method,
    also_matches (other plausible schemes), framework_default (True when
    closest is that framework's default for the layer).

    An untouched ``keras.layers.Dense`` reads ``glorot_uniform``; an untouched
    ``torch.nn.Linear`` reads ``torch_default_linear`` (bias:
    ``torch_default_linear (bias)``, ``U(+-1/sqrt(fan_in))``).
    """
    import pandas as pd

    framework = frameworks.framework_of(model)
    rows = []
    for rec in weight_records(model, framework):
        shape = tuple(int(s) for s in rec.values.shape)
        fan_in = fan_out = math.nan
        if len(shape) >= 2:
            fan_in, fan_out = compute_fans(shape, rec.layout)
        fit = identify_init(rec.values, rec.layout, framework, rec.role, rec.context, alpha=alpha)
        init = fit["initializer"]
        expected = math.nan
        if init is not None:
            try:
                expected = init.expected_std(shape, rec.layout)
            except ValueError:
                expected = math.nan
        elif fit["closest"] == "torch_default_linear (bias)":
            expected = 1.0 / math.sqrt(3.0 * rec.context["bias_fan_in"])  # U(+-b) has std b / sqrt(3)
        std = float(np.std(rec.values)) if rec.values.size else math.nan
        closest = fit["closest"]
        default = _framework_default(framework, rec, closest)
        rows.append({
            "layer": rec.layer, "weight": rec.weight, "role": rec.role, "layer_type": rec.layer_type,
            "shape": shape, "layout": rec.layout, "fan_in": fan_in, "fan_out": fan_out,
            "mean": float(np.mean(rec.values)) if rec.values.size else math.nan, "std": std,
            "std_glorot": _safe_std("glorot_uniform", shape, rec.layout),
            "std_he": _safe_std("he_uniform", shape, rec.layout),
            "std_lecun": _safe_std("lecun_uniform", shape, rec.layout),
            "std_torch_default": _safe_std("torch_default_linear", shape, rec.layout),
            "closest": closest, "expected_std": expected,
            "std_ratio": std / expected if expected and expected > 0 else math.nan,
            "p_value": fit["p_value"], "method": fit["method"], "also_matches": fit["also_matches"],
            "framework_default": default,
        })
    return pd.DataFrame(rows)


# Each framework's default initializer per (role, recurrent layer?): what an untouched layer reads as.
# Keras's recurrent layers draw their input kernel with glorot_uniform and their biases as zeros too.
_FRAMEWORK_DEFAULTS = {
    ("keras", "kernel", False): ("glorot_uniform",), ("keras", "bias", False): ("zeros",),
    ("keras", "kernel", True): ("glorot_uniform", "keras_default_recurrent"),
    ("keras", "recurrent_kernel", True): ("keras_default_recurrent",),
    ("keras", "bias", True): ("zeros", "keras_default_recurrent"),
    ("torch", "kernel", False): ("torch_default_linear",), ("torch", "bias", False): ("torch_default_linear (bias)",),
    ("torch", "kernel", True): ("torch_default_recurrent",),
    ("torch", "recurrent_kernel", True): ("torch_default_recurrent",), ("torch", "bias", True): ("torch_default_recurrent",),
}


def _framework_default(framework: str, rec: WeightRecord, closest: str) -> bool:
    defaults = _FRAMEWORK_DEFAULTS.get((framework, rec.role, "cell" in rec.context), ())
    # a recurrent default is labelled with its part, e.g. keras_default_recurrent(part=bias)
    return any(closest == d or (d.endswith("_recurrent") and closest.startswith(d)) for d in defaults)
