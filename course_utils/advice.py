"""The course's advice: the decision guide, and the check a learner runs on their own model.

* :data:`GUIDE` -- per hidden activation, the schemes the course recommends (the
  first one first) and why; notebook 12 derives it from its grid and
  ``exercises.choosing`` checks answers against it.
* :func:`signal_summary` -- three numbers for how well an untrained deep plain
  network keeps its signal (the grid of notebook 12 is a sweep of it).
* :func:`check_model` -- what a learner asks of their own model: does its
  initial signal survive its hidden layers, and if not, what the guide says.

Both measure with :func:`course_utils.diagnostics.signal_ratios`, the one
definition of "last layer over first" in the package.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import diagnostics

__all__ = ["GUIDE", "GUIDE_MARGIN", "HEALTHY_DECADES", "check_model", "guide_support", "seed_interval", "signal_summary"]


def signal_summary(init: Any, activation: str, depth: int, seed: int, *, width: int = 256,
                   n_samples: int = 512) -> dict[str, float]:
    """How well an untrained ``depth``-layer plain network preserves its signal, in three numbers.

    From :func:`course_utils.diagnostics.signal_propagation` (NumPy, cheap):

    * ``forward_ratio`` = std(z_depth) / std(z_1), the pre-activation std of the last
      layer over the first's (1: the forward signal keeps its scale);
    * ``backward_ratio`` = std(dL/dW_1) / std(dL/dW_depth), the weight-gradient std of
      the first layer over the last's (1: every layer learns at the same rate);
    * ``decades`` = max(|log10 forward_ratio|, |log10 backward_ratio|): how many
      orders of magnitude the worse of the two is off (0 is perfect; NaN or
      infinite ratios -- an overflow -- count as ``inf``).
    """
    frame = diagnostics.signal_propagation(init, activation, depth, width, n_samples=n_samples, seed=seed)
    return diagnostics.signal_ratios(frame, forward="preact_std", backward="weight_grad_std")


#: The decision guide per hidden activation: (accepted registry names, the first being the
#: recommendation; why). Notebook 12 derives it from its grid; exercises.choosing checks against it.
GUIDE: dict[str, tuple[tuple[str, ...], str]] = {
    "sigmoid": (("glorot_normal", "glorot_uniform", "glorot_normal_torch", "lecun_normal", "lecun_uniform",
                 "lecun_normal_torch", "orthogonal", "he_normal", "he_uniform", "he_normal_torch"),
                "Glorot is the textbook choice (Glorot & Bengio 2010), but in notebook 12's grid none of the usual "
                "schemes (Glorot, LeCun, He, gain-1 orthogonal) makes a 20-layer sigmoid stack train, while a gain "
                "of 4 (Var(w) = 16/fan_in, undoing sigmoid's slope of 1/4 at 0) does, in both frameworks. Better: "
                "avoid sigmoid in hidden layers."),
    "tanh": (("orthogonal", "glorot_normal", "glorot_uniform", "glorot_normal_torch", "lecun_normal", "lecun_uniform",
              "lecun_normal_torch", "he_normal", "he_uniform", "he_normal_torch"),
             "tanh has slope 1 at 0, so the variance-preserving scale is Var(w) = 1/fan_in (LeCun) or the "
             "fan-average compromise 2/(fan_in + fan_out) (Glorot); drawn as an orthogonal matrix (gain 1) that "
             "scale trained 20-layer tanh stacks best in notebook 12's grid (six seeds; ahead of Glorot by more "
             "than the margin after 32 steps, still ahead on average after 8 epochs). On shallow networks Glorot "
             "and LeCun are as good."),
    "relu": (("he_normal", "he_uniform", "he_normal_torch"),
             "ReLU zeroes half of its inputs, halving the second moment per layer; He's Var(w) = 2/fan_in "
             "doubles it back (He et al. 2015)."),
    "leaky_relu": (("he_normal", "he_uniform", "he_normal_torch"),
                   "leaky ReLU is ReLU with a small slope a; He's gain sqrt(2 / (1 + a^2)) is practically "
                   "sqrt(2) for a = 0.01."),
    "selu": (("orthogonal", "lecun_normal", "lecun_normal_torch", "lecun_uniform"),
             "SELU's self-normalizing fixed point (mean 0, variance 1) assumes Var(w) = 1/fan_in, LeCun's scale "
             "(lecun_normal, Klambauer et al. 2017); orthogonal weights have that variance and trained 20-layer "
             "SELU stacks best in notebook 12's grid (six seeds, at 32 steps and on average after 8 epochs)."),
    "elu": (("he_normal", "he_uniform", "he_normal_torch"),
            "ELU behaves like ReLU for positive inputs; He's scale is the usual choice."),
    "gelu": (("he_normal", "he_uniform", "he_normal_torch"),
             "GELU is a smooth ReLU; He's scale keeps the signal, as for ReLU."),
    "linear": (("glorot_normal", "glorot_uniform", "glorot_normal_torch", "lecun_normal", "lecun_uniform",
                "lecun_normal_torch", "orthogonal"),
               "a linear layer keeps the variance with Var(w) = 1/fan_in; orthogonal matrices keep every "
               "direction's length exactly (Saxe et al. 2014, notebook 08)."),
}

#: Orders of magnitude (decades) a signal may drift through a network before the verdict calls it a problem:
#: a factor of 10 in std is what deep nets of a few dozen layers show even when well initialized at small width.
HEALTHY_DECADES = 1.0


def check_model(model: Any, x: Any, y: Any) -> dict[str, Any]:
    """Check your own model: does its initial signal survive the trip through its hidden layers?

    On one batch ``(x, y)`` (a few hundred examples), with
    :func:`~course_utils.diagnostics.activation_stats` and
    :func:`~course_utils.diagnostics.gradient_stats` over the hidden weight layers
    (every weight layer but the last):

    * ``forward_ratio`` = std of the last hidden layer's activations / the first's;
    * ``backward_ratio`` = std of dL/dW of the first hidden layer / the last's;
    * ``decades`` = max(|log10 forward_ratio|, |log10 backward_ratio|);

    and a ``verdict`` in words: healthy below :data:`HEALTHY_DECADES`, else which
    signal vanishes or explodes, with the :data:`GUIDE`'s scheme for the hidden
    activation when the model's kernels (by ``initializers.describe_model_init``)
    are not drawn from it. Also returns ``layers`` (the per-layer table) and
    ``schemes`` (the fitted scheme per hidden kernel).
    """
    from . import initializers

    acts = diagnostics.activation_stats(model, x)
    grads = diagnostics.gradient_stats(model, x, y)
    if len(acts) < 3:
        raise ValueError("check_model needs a model with at least two hidden weight layers before its output layer; "
                         f"this one has {len(acts)} weight layer(s).")
    layers = acts[["layer", "depth", "activation", "std"]].merge(
        grads[["layer", "weight_std", "weight_grad_std"]], on="layer")
    hidden = layers.iloc[:-1]
    ratios = diagnostics.signal_ratios(hidden, forward="std", backward="weight_grad_std")
    forward, backward, off_by = ratios["forward_ratio"], ratios["backward_ratio"], ratios["decades"]
    described = initializers.describe_model_init(model)
    kernels = described[described["role"] == "kernel"]["closest"].tolist()[: len(hidden)]
    activation = str(hidden["activation"].mode().iloc[0]) if hidden["activation"].notna().any() else "linear"
    advice = ""
    if activation in GUIDE:
        accepted, why = GUIDE[activation]
        odd = sorted({k for k in kernels if not any(str(k).startswith(a) for a in accepted)})
        if odd:
            advice = (f" Its hidden kernels look like {', '.join(map(str, odd))}; for {activation} the guide says "
                      f"{accepted[0]}: {why}")
    n = len(hidden)
    if off_by < HEALTHY_DECADES:
        verdict = (f"healthy: over {n} hidden layers the activations' std changes by x{forward:.3g} and the "
                   f"weight gradients' by x{1 / backward:.3g} (within {HEALTHY_DECADES:g} decade).")
    else:
        parts = []
        if diagnostics.decades(forward) >= HEALTHY_DECADES:
            parts.append(f"the forward signal {'vanishes' if forward < 1 else 'explodes'} (std x{forward:.3g} "
                         f"from the first to the last hidden layer)")
        if diagnostics.decades(backward) >= HEALTHY_DECADES:
            parts.append(f"the first layer's weight gradients are x{backward:.3g} the last's "
                         f"({'vanishing' if backward < 1 else 'exploding'} toward the input)")
        verdict = f"problem over {n} hidden layers: " + "; ".join(parts) + "." + advice
    return {"forward_ratio": forward, "backward_ratio": backward, "decades": off_by, "verdict": verdict,
            "activation": activation, "schemes": kernels, "layers": layers.assign(
                log10_std_vs_first=np.log10(layers["std"] / hidden["std"].iloc[0]))}


#: The decision guide's margin rule, in nats of training loss: a row of the guide holds at a budget when its
#: first choice's loss is at most this much above the best scheme's, at the upper end of the seeds' interval
#: (:func:`guide_support`). 0.1 nats is about 3 points of accuracy near the losses the grid reaches.
GUIDE_MARGIN = 0.1


def seed_interval(values: Any, confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)`` of per-seed values: the Student-t interval of the mean for 3 or more
    values; for fewer, the spread ``(min, max)`` (a t-interval from 2 seeds uses t = 12.7 and says
    nothing; from 1 seed the interval is that one value)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("seed_interval needs at least one finite value (one per seed).")
    mean = float(v.mean())
    if v.size < 3:
        return mean, float(v.min()), float(v.max())
    half = float(stats.t.ppf((1 + confidence) / 2, v.size - 1)) * float(v.std(ddof=1)) / np.sqrt(v.size)
    return mean, mean - half, mean + half


def guide_support(table: Any, *, metric: str = "final_train_loss", margin: float = GUIDE_MARGIN,
                  guide: dict[str, Any] | None = None, confidence: float = 0.95) -> Any:
    """Does a grid of training runs support the decision guide? One row per activation.

    ``table``: one row per run with columns ``activation``, ``init`` (the scheme's label),
    ``seed`` and ``metric`` (lower is better: a loss), all at one depth and one budget.
    For each activation of the table that the guide covers: the ``best`` scheme (lowest
    mean), the guide's first choice (``guide_first``, ``guide[activation][0][0]``, which
    must be one of the table's schemes), and the paired per-seed excess
    ``metric(guide_first) - metric(best)`` with its interval (:func:`seed_interval`: a
    t-interval from 3 seeds, the spread below). ``supported`` is ``excess_high < margin``:
    the first choice is within ``margin`` of the best even at the interval's upper end, so
    a first choice that wins or loses by seed luck alone is not supported. ``ties``: every
    scheme that passes the same rule (the schemes the grid cannot tell from the best).
    """
    import pandas as pd

    guide = GUIDE if guide is None else guide
    missing = {"activation", "init", "seed", metric} - set(table.columns)
    if missing:
        raise ValueError(f"guide_support needs columns activation, init, seed and {metric!r}; missing {sorted(missing)}.")
    rows = []
    for act, runs in table.groupby("activation", sort=False):
        if act not in guide:
            continue
        per_seed = runs.pivot_table(index="seed", columns="init", values=metric, aggfunc="mean")
        means = per_seed.mean()
        best = str(means.idxmin())
        first = guide[act][0][0]
        if first not in per_seed.columns:
            raise ValueError(f"the guide's first choice for {act}, {first!r}, is not in the grid; schemes there: "
                             f"{sorted(map(str, per_seed.columns))}.")

        excess = {str(s): seed_interval((per_seed[s] - per_seed[best]).dropna(), confidence) for s in per_seed.columns}
        mean, low, high = excess[first]
        ties = [str(s) for s in means.sort_values().index if excess[str(s)][2] < margin]
        rows.append({"activation": act, "guide_first": first, "best": best, "guide_loss": float(means[first]),
                     "best_loss": float(means[best]), "excess": mean, "excess_low": low, "excess_high": high,
                     "seeds": int(per_seed[first].notna().sum()), "ties": ties, "supported": bool(high < margin)})
    return pd.DataFrame(rows)
