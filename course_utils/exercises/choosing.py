"""Checkers and the self-check quiz of notebooks 11 (applied comparison) and 12 (choosing a scheme).

Each checker calls the learner's function on a few cases and names the
usual mistake behind a wrong answer::

    from course_utils.exercises import choosing
    choosing.check_ci_halfwidth(ci_halfwidth)

Notebook 11: :func:`check_ci_halfwidth` (the Student-t interval over a few
seeds), :func:`check_seeds_needed` (how many seeds a difference needs) and
:func:`check_torch_default_std` (the std of PyTorch's ``nn.Linear`` default).

Notebook 12: :func:`check_recommend` (a scheme for each activation),
:func:`check_decades_off` (one number for how far a network's signal drifts),
:func:`check_preserving_scale` (choose the scale for an activation the grid does not have)
and :func:`quiz` / :func:`answer`, a short self-check with immediate feedback.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..advice import GUIDE
from . import Feedback, checker, close, fail, ok
from ._common import diagnose, first_match, number

__all__ = [
    "check_ci_halfwidth",
    "check_seeds_needed",
    "check_torch_default_std",
    "check_recommend",
    "check_decades_off",
    "check_preserving_scale",
    "RECOMMENDED",
    "QUESTIONS",
    "quiz",
    "answer",
]


def _t(confidence: float, n: int) -> float:
    from scipy import stats

    return float(stats.t.ppf((1 + confidence) / 2, n - 1))


# ------------------------------------------------------------------ notebook 11


def _ci_halfwidth(values: Sequence[float], confidence: float) -> float:
    """Reference: t_{(1+c)/2, n-1} * sd / sqrt(n), sd with ddof=1."""
    v = np.asarray(values, dtype=float)
    return _t(confidence, len(v)) * float(v.std(ddof=1)) / math.sqrt(len(v))


def _ci_mistake(got: float, values: np.ndarray, confidence: float) -> str | None:
    """Name the usual mistake that produces ``got``, or None."""
    from scipy import stats

    n = len(values)
    sd, sd0 = float(values.std(ddof=1)), float(values.std(ddof=0))
    t, z = _t(confidence, n), float(stats.norm.ppf((1 + confidence) / 2))
    right = t * sd / math.sqrt(n)
    candidates = [
        (z * sd / math.sqrt(n), f"you used the normal quantile z = {z:.3f}. With only {n} seeds the mean's "
                                f"uncertainty follows Student's t with {n - 1} degrees of freedom: "
                                f"t = {t:.3f}, so the interval is wider ({right:.4g})."),
        (t * sd0 / math.sqrt(n), "your standard deviation divides by n (NumPy's default ddof=0). The sample "
                                 "standard deviation divides by n - 1: use np.std(values, ddof=1)."),
        (t * sd, "you left out the 1/sqrt(n): that is the spread of single runs, not the uncertainty of their "
                 "mean. Divide by sqrt(n)."),
        (float(stats.t.ppf(confidence, n - 1)) * sd / math.sqrt(n),
         f"you used t.ppf({confidence}), a one-sided quantile. A two-sided {confidence:.0%} interval leaves "
         f"{(1 - confidence) / 2:.1%} in each tail: t.ppf((1 + confidence) / 2)."),
        (2 * right, "that is the full width of the interval (low to high); the half-width is half of it."),
        (float(stats.t.ppf((1 + confidence) / 2, n)) * sd / math.sqrt(n),
         f"you used {n} degrees of freedom; a mean of n values estimated with their own sd has n - 1 = {n - 1}."),
        (sd / math.sqrt(n), "you returned the standard error sd / sqrt(n) without the t quantile."),
    ]
    for value, advice in candidates:
        if close(got, value, rtol=1e-3):
            return advice
    return None


@checker("t-interval half-width")
def check_ci_halfwidth(ci_halfwidth: Callable[..., float]) -> tuple[bool, str]:
    """Check ``ci_halfwidth(values, confidence=0.95)``: the half-width of the Student-t interval of the mean.

    ``t_{(1+c)/2, n-1} * sd(values, ddof=1) / sqrt(n)``: the mean of ``n`` runs is
    within this distance of the true mean with probability ``c`` (if runs are
    independent and roughly normal).
    """
    cases = [
        ([0.902, 0.907, 0.899], 0.95),  # three seeds of a validation accuracy
        ([0.936, 0.938, 0.941, 0.938, 0.940], 0.95),
        ([0.01, -0.004, 0.006, 0.002], 0.90),  # paired differences, another level
    ]
    for values, confidence in cases:
        arr = np.asarray(values)
        try:
            raw = ci_halfwidth(list(values), confidence=confidence)
        except TypeError as err:
            if "confidence" in str(err):
                return fail("your function must accept confidence= as a keyword (default 0.95): "
                            "def ci_halfwidth(values, confidence=0.95).")
            raise
        got = number(raw, "ci_halfwidth(...)")
        if isinstance(got, str):
            return fail(got)
        expected = _ci_halfwidth(arr, confidence)
        if not close(got, expected, rtol=1e-3):
            if confidence != 0.95 and close(got, _ci_halfwidth(arr, 0.95), rtol=1e-3):
                return fail(f"for confidence={confidence} you returned the 95% half-width; use the "
                            "confidence argument in the quantile.")
            mistake = _ci_mistake(got, arr, confidence)
            where = f"for values={values} and confidence={confidence}"
            if mistake:
                return fail(f"{where} you returned {got:.4g}; {mistake}")
            return fail(f"{where} you returned {got:.4g}, expected {expected:.4g} = t * sd / sqrt(n) with "
                        f"t = {_t(confidence, len(arr)):.3f} (scipy.stats.t.ppf((1 + confidence) / 2, n - 1)) "
                        f"and sd = {arr.std(ddof=1):.4g} (ddof=1).")
    return ok("t * sd / sqrt(n) with n - 1 degrees of freedom. With 3 seeds t = 4.30, more than twice the "
              "normal 1.96: few seeds cost a lot of certainty.")


def _seeds_needed(sd: float, difference: float, confidence: float, *, z: bool = False, strict: bool = True) -> int:
    """Smallest n >= 2 with quantile * sd / sqrt(n) < |difference| (t, or z when ``z``)."""
    from scipy import stats

    n = 2
    while True:
        q = float(stats.norm.ppf((1 + confidence) / 2)) if z else _t(confidence, n)
        half = q * sd / math.sqrt(n)
        if half < abs(difference) or (not strict and half <= abs(difference)):
            return n
        n += 1


@checker("seeds needed")
def check_seeds_needed(seeds_needed: Callable[..., int]) -> tuple[bool, str]:
    """Check ``seeds_needed(sd, difference, confidence=0.95)``.

    The smallest number of seeds ``n >= 2`` for which the t-interval half-width
    ``t_{(1+c)/2, n-1} * sd / sqrt(n)`` is smaller than ``difference`` (> 0): with
    that many paired runs, a mean difference of that size observed with that
    spread (``sd`` of the per-seed differences) would be resolved -- its interval
    would exclude zero. (To *detect* a true difference reliably, power analysis
    asks for more.)
    """
    from scipy import stats

    cases = [(0.02, 0.05, 0.95), (0.003, 0.002, 0.95), (0.01, 0.01, 0.95), (0.003, 0.002, 0.80)]
    answers = []
    for sd, difference, confidence in cases:
        got = number(seeds_needed(sd, difference, confidence=confidence), "seeds_needed(...)")
        if isinstance(got, str):
            return fail(got)
        answers.append(got)
    expected = [_seeds_needed(*case) for case in cases]
    if answers == expected:
        big = _seeds_needed(0.003, 0.002, 0.95)
        return ok(f"a difference of 0.2 points with a per-seed spread of 0.3 points needs {big} seeds; "
                  "a 5-point difference with a 2-point spread needs only "
                  f"{_seeds_needed(0.02, 0.05, 0.95)}.")

    def z_formula(sd: float, difference: float, confidence: float) -> int:
        return math.ceil((float(stats.norm.ppf((1 + confidence) / 2)) * sd / difference) ** 2)

    # Each usual mistake, as the answers it gives on every case; advice for the one that matches them all.
    mistakes = [
        ([_seeds_needed(*c, z=True) for c in cases],
         "that is the normal approximation (z = 1.96 at 95%). With few seeds Student's t is larger "
         "(t_(0.975, 2) = 4.30), so more seeds are needed."),
        ([z_formula(*c) for c in cases],
         "that is (z sd / difference)^2, the normal-theory formula. It ignores that t depends on n; search "
         "n = 2, 3, ... with t_(n-1) instead."),
        ([e - 1 for e in expected], "one short: stop at the first n whose half-width is already below the "
                                    "difference, not the last one above it."),
        ([e + 1 for e in expected], "one too many: the n where the half-width first drops below the difference "
                                    "is the answer."),
        ([_seeds_needed(sd, d, 0.95) for sd, d, _ in cases], "that is the answer for 95% in every case: use "
                                                             "the confidence argument."),
    ]
    shown = ", ".join(f"{g:g}" for g in answers)
    for pattern, advice in mistakes:
        if [float(p) for p in pattern] == answers:
            return fail(f"for (sd, difference, confidence) = {cases} you returned {shown}, expected "
                        f"{', '.join(map(str, expected))}: {advice}")
    i = next(k for k, (g, e) in enumerate(zip(answers, expected, strict=True)) if g != e)
    sd, difference, confidence = cases[i]
    return fail(f"for sd={sd}, difference={difference}, confidence={confidence} you returned {answers[i]:g}; the "
                f"smallest n with t_(n-1) * sd / sqrt(n) < difference is {expected[i]} (half-width there: "
                f"{_t(confidence, expected[i]) * sd / math.sqrt(expected[i]):.4g}).")


@checker("PyTorch's default nn.Linear std")
def check_torch_default_std(torch_default_std: Callable[[int], float]) -> tuple[bool, str]:
    """Check ``torch_default_std(fan_in)``: the std of ``nn.Linear``'s default weights.

    ``nn.Linear`` calls ``kaiming_uniform_(w, a=sqrt(5))``: gain^2 = 2 / (1 + 5) = 1/3, bound
    ``b = gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in)``, and the std of ``U(-b, b)`` is
    ``b / sqrt(3) = 1 / sqrt(3 fan_in)``.
    """
    for fan_in in (784, 512, 100):
        got = number(torch_default_std(fan_in), f"torch_default_std({fan_in})")
        if isinstance(got, str):
            return fail(got)
        expected = 1 / math.sqrt(3 * fan_in)
        if close(got, expected):
            continue
        hints = [
            (1 / math.sqrt(fan_in), "that is the bound b = 1/sqrt(fan_in) of U(-b, b). A uniform "
                                    "distribution on [-b, b] has std b / sqrt(3)."),
            (1 / (3 * fan_in), "that is the variance 1/(3 fan_in); the std is its square root."),
            (math.sqrt(2 / fan_in), "that is He's std sqrt(2/fan_in), what kaiming_normal_ gives with its "
                                    "defaults. nn.Linear uses kaiming_uniform_ with a = sqrt(5): gain^2 = "
                                    "2 / (1 + a^2) = 1/3."),
            (math.sqrt(6 / fan_in) / math.sqrt(3), "you used He-uniform's bound sqrt(6/fan_in); with a = sqrt(5) "
                                                   "the gain is sqrt(1/3), giving the bound 1/sqrt(fan_in)."),
            (math.sqrt(1 / (5 * fan_in)), "a = sqrt(5) enters as gain^2 = 2 / (1 + a^2) = 1/3, not 1/5."),
        ]
        for value, advice in hints:
            if close(got, value):
                return fail(f"for fan_in={fan_in} you returned {got:.4g}; {advice} Expected {expected:.4g}.")
        return fail(f"for fan_in={fan_in} you returned {got:.4g}; expected 1/sqrt(3 fan_in) = {expected:.4g}.")
    return ok("1/sqrt(3 fan_in): for 784 inputs 0.0206, against He's 0.0505. That is why a deep ReLU stack of "
              "default nn.Linear layers loses its signal (notebook 12 measures it).")


# ------------------------------------------------------------------ notebook 12

#: The decision guide's answer per activation: accepted registry names (the first is the guide's), and why.
RECOMMENDED = GUIDE


_FAMILY_ADVICE = {
    "he": "He's Var(w) = 2/fan_in doubles the variance per layer for an activation that does not zero half its "
          "inputs",
    "glorot": "Glorot's Var(w) = 2/(fan_in + fan_out) ignores that {act} zeroes half of its inputs, so the "
              "variance halves in every layer (notebook 12's grid: {act} with glorot_normal at depth 20+)",
    "lecun": "LeCun's Var(w) = 1/fan_in is the linear-regime scale; {act} zeroes half of its inputs and needs "
             "twice that",
    "orthogonal": "orthogonal weights keep lengths in a linear network; {act} still loses half of the signal "
                  "per layer unless the gain is sqrt(2)",
    "zeros": "zeros make every unit identical (notebook 03): the network cannot break the symmetry",
    "random": "a fixed scale such as 0.01 ignores the layer's size: the signal vanishes or explodes with depth "
              "(notebook 04)",
    "sparse": "sparse initialization (Martens 2010) was made for Hessian-free optimization; it is not a default "
              "for a given activation (notebook 09)",
}


def _family(name: str) -> str:
    for key in ("he", "glorot", "lecun", "orthogonal", "zeros", "sparse"):
        if name.startswith(key):
            return key
    if name.startswith(("random", "truncated", "ones", "constant", "legacy", "torch_default", "keras_default")):
        return "random"
    return "other"


def _wrong_scheme(act: str, name: str) -> str:
    """Why ``name`` is not the guide's scheme for ``act``."""
    fam = _family(name)
    selu = "SELU's fixed point needs Var(w) = 1/fan_in exactly; "
    return (first_match([
        (act in ("relu", "leaky_relu") and fam in ("glorot", "lecun", "orthogonal"), _FAMILY_ADVICE.get(fam, "")),
        (act == "selu" and fam == "he", selu + "He's 2/fan_in doubles it"),
        (act == "selu" and fam == "glorot", selu + "Glorot's 2/(fan_in + fan_out) is 1/fan_in only for square layers"),
    ]) or _FAMILY_ADVICE.get(fam, "it does not match the activation's variance rule")).format(act=act)


def _notes(act: str, name: str) -> list[str]:
    """What to add about an accepted but not textbook choice of ``name`` for ``act``."""
    fam = _family(name)
    rows = [
        (act == "sigmoid", f"{name} for sigmoid is as good as any of the usual schemes: none of them makes a deep "
                           "sigmoid stack train (a gain of 4, Var(w) = 16/fan_in, does: notebook 12), so the real "
                           "advice is to keep sigmoid out of hidden layers"),
        (act == "tanh" and fam == "he", "He for tanh trains at the grid's depths (tanh is forgiving), but it is not "
                                        "the variance-preserving scale; Glorot, LeCun or orthogonal are"),
        (act == "tanh" and fam not in ("glorot", "he"), f"{name} for tanh is fine too (Glorot is the textbook "
                                                        "answer; orthogonal trained best in the grid at depth 20)"),
        (act == "selu" and name == "lecun_uniform", "lecun_uniform has the right variance, but Klambauer et al. "
                                                    "derive SELU's fixed point for normal weights: lecun_normal is "
                                                    "the safer choice"),
        (act == "selu" and name == "orthogonal", "orthogonal for selu has LeCun's variance and trained best in the "
                                                 "grid; the SELU paper's analysis is for lecun_normal"),
    ]
    return [note for applies, note in rows if applies]


@checker("a scheme for each activation")
def check_recommend(recommend: Callable[[str], str]) -> tuple[bool, str]:
    """Check ``recommend(activation) -> registry name`` for sigmoid, tanh, relu, leaky_relu and selu
    against the decision guide (:data:`RECOMMENDED`)."""
    from .. import initializers

    valid = set(initializers.names())
    notes = []
    for act in ("sigmoid", "tanh", "relu", "leaky_relu", "selu"):
        got = recommend(act)
        if not isinstance(got, str):
            return fail(f"recommend({act!r}) should return a scheme's name such as 'he_normal'; got "
                        f"{type(got).__name__} {got!r:.60}.")
        name = got.strip().lower()
        if name not in valid:
            return fail(f"recommend({act!r}) returned {got!r}, which is not in the registry. Valid names: "
                        f"{', '.join(sorted(valid))}.")
        accepted, why = RECOMMENDED[act]
        if name not in accepted:
            return fail(f"for {act} you chose {name}: {_wrong_scheme(act, name)}. The guide says {accepted[0]}: {why}")
        notes += _notes(act, name)
    extra = (" Notes: " + "; ".join(notes) + ".") if notes else ""
    return ok("He for the ReLU family, LeCun-normal for SELU, Glorot for tanh (orthogonal for deep tanh and SELU "
              "stacks); "
              "sigmoid: avoid it in hidden layers." + extra)


def signal_decades(frame: Any) -> float:
    """Reference for :func:`check_decades_off`: max(|log10 forward|, |log10 backward|) of a
    ``diagnostics.signal_propagation`` frame (layers 1..L; forward = preact_std L / 1,
    backward = weight_grad_std 1 / L)."""
    from .. import diagnostics

    return diagnostics.signal_ratios(frame, forward="preact_std", backward="weight_grad_std")["decades"]


@checker("decades off")
def check_decades_off(decades_off: Callable[[Any], float]) -> tuple[bool, str]:
    """Check ``decades_off(frame)`` on three networks' ``signal_propagation`` frames.

    ``frame`` has one row per depth 0..L (0 is the input). Over the layers 1..L:
    forward ratio = preact_std[L] / preact_std[1]; backward ratio =
    weight_grad_std[1] / weight_grad_std[L]; the answer is
    ``max(|log10 forward|, |log10 backward|)``.
    """
    from .. import diagnostics

    cases = [("he_normal", "relu", 10), ("glorot_normal", "relu", 20), ("glorot_normal", "sigmoid", 10)]
    for init, act, depth in cases:
        frame = diagnostics.signal_propagation(init, act, depth, 64, n_samples=128, seed=0)
        got = number(decades_off(frame.copy()), "decades_off(frame)", finite=False)
        if isinstance(got, str):
            return fail(got)
        expected = signal_decades(frame)
        if close(got, expected, rtol=1e-3, atol=1e-6):
            continue
        where = f"for {act} with {init} at depth {depth} you returned {got:.4g}, expected {expected:.4g}"
        if math.isnan(got):
            return fail(f"{where}: NaN usually means the input row (depth 0, whose preact_std is NaN) was used. "
                        "Keep the rows with depth >= 1.")
        layers = frame[frame["depth"] >= 1]
        fwd = float(layers["preact_std"].iloc[-1] / layers["preact_std"].iloc[0])
        bwd = float(layers["weight_grad_std"].iloc[0] / layers["weight_grad_std"].iloc[-1])
        std_fwd = float(layers["std"].iloc[-1] / layers["std"].iloc[0])
        if close(got, expected * math.log(10), rtol=1e-3):
            return fail(f"{where}: you used the natural log. 'Decades' are powers of ten: use math.log10 "
                        "(or np.log10).")
        if close(got, -expected, rtol=1e-3) or close(got, math.log10(fwd), rtol=1e-3) or \
                close(got, math.log10(bwd), rtol=1e-3) and got < 0:
            return fail(f"{where}: take the absolute value -- a signal 100x too small is as far off as one 100x "
                        "too large.")
        if close(got, abs(math.log10(fwd)), rtol=1e-3):
            return fail(f"{where}: that is the forward ratio alone; the backward (weight-gradient) ratio is off "
                        f"by {abs(math.log10(bwd)):.3g} decades here. Take the larger of the two.")
        if close(got, abs(math.log10(bwd)), rtol=1e-3):
            return fail(f"{where}: that is the backward ratio alone; the forward ratio is off by "
                        f"{abs(math.log10(fwd)):.3g} decades here. Take the larger of the two.")
        if close(got, abs(math.log10(std_fwd)), rtol=1e-3) or close(
                got, max(abs(math.log10(std_fwd)), abs(math.log10(bwd))), rtol=1e-3):
            return fail(f"{where}: you used the 'std' column (of the activations h); use 'preact_std' (of z = "
                        "h W), which does not depend on the activation's own offset (sigmoid's 0.5).")
        return fail(f"{where}. forward = preact_std[L] / preact_std[1] = {fwd:.3g}, backward = "
                    f"weight_grad_std[1] / weight_grad_std[L] = {bwd:.3g}.")
    return ok("ReLU with He stays within a fraction of a decade; ReLU with Glorot loses about 3 decades in "
              "20 layers; sigmoid's gradients vanish fastest.")


# Notebook 12's new cases: positively homogeneous activations f(z) = slope_pos * z (z > 0), slope_neg * z (z < 0),
# as (name, slope_pos, slope_neg). For z ~ N(0, 1): E[f^2] = (p^2 + q^2) / 2 and E[f] = (p - q) / sqrt(2 pi).
_HOMOGENEOUS = (("relu", 1.0, 0.0), ("abs (|z|)", 1.0, -1.0), ("leaky_relu with slope 0.2", 1.0, 0.2),
                ("1.5 * relu", 1.5, 0.0))


def _piecewise_linear(p: float, q: float) -> Callable[[np.ndarray], np.ndarray]:
    def f(z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=float)
        return np.where(z > 0, p * z, q * z)

    return f


def preserving_scale_of(p: float, q: float) -> float:
    """Reference for :func:`check_preserving_scale`: ``1 / E[f(z)^2]``, z ~ N(0, 1), for the activation with
    slope ``p`` above 0 and ``q`` below (so ``Var(z_{l+1}) = n_in Var(w) E[f(z_l)^2]`` stays put)."""
    return 2.0 / (p * p + q * q)


def _propagated(p: float, q: float, scale: float, depth: int = 30, width: int = 256, n: int = 512) -> float:
    """Var(z_depth) / Var(z_1) of a plain NumPy network with Var(w) = scale / width (fixed seed)."""
    rng = np.random.default_rng(0)
    f = _piecewise_linear(p, q)
    z = rng.standard_normal((n, width)) @ rng.normal(0.0, math.sqrt(scale / width), (width, width))
    first = float(z.var())
    for _ in range(depth - 1):
        z = f(z) @ rng.normal(0.0, math.sqrt(scale / width), (width, width))
    return float(z.var()) / first


@checker("a variance-preserving scale for a new activation")
def check_preserving_scale(preserving_scale: Callable[[Callable[[np.ndarray], np.ndarray]], float]) -> tuple[bool, str]:
    """Check ``preserving_scale(f)``: the ``scale`` of ``variance_scaling(mode="fan_in")``, i.e. ``n_in Var(w)``,
    that keeps ``Var(z)`` from layer to layer under a positively homogeneous activation ``f`` (a NumPy function).

    ``Var(z_{l+1}) = n_in Var(w) E[f(z_l)^2]`` for zero-mean weights; ``f(c z) = c f(z)`` (c > 0) makes
    ``E[f(z)^2] / Var(z)`` the same at every scale, so ``scale = 1 / E[f(z)^2]`` with z ~ N(0, 1) (He et al.
    2015, eq. 10, for ReLU: 2). Answers estimated by Monte Carlo pass within 2%.
    """
    for name, p, q in _HOMOGENEOUS:
        f = _piecewise_linear(p, q)
        f.__name__ = name
        got = number(preserving_scale(f), f"preserving_scale({name})")
        if isinstance(got, str):
            return fail(got)
        expected = preserving_scale_of(p, q)
        if close(got, expected, rtol=0.02):
            continue
        m2, mean = (p * p + q * q) / 2, (p - q) / math.sqrt(2 * math.pi)
        where = f"for {name} you returned {got:.4g}, expected {expected:.4g}"
        advice = diagnose(got, expected, [
            (m2, "that is E[f(z)^2] itself, the factor by which a layer with Var(w) = 1/n_in multiplies Var(z); "
                 "the scale must undo that factor: take its inverse."),
            (1 / (m2 - mean**2), "you used the variance of f(z). The next layer's Var(z) is n_in Var(w) E[f(z)^2], "
                                 "the second moment: with zero-mean weights the mean of f(z) does not cancel (He et "
                                 "al. 2015 make this point for ReLU)."),
            (math.sqrt(1 / m2), "that is a gain, a factor on the weights' std; variance_scaling's scale multiplies "
                                "their variance: square it."),
            (1 / mean**2 if mean else math.nan, "you squared the mean of f(z); the scale needs the mean of the square, "
                                                "E[f(z)^2]."),
            (6 / (p * p + q * q), "you drew z from a uniform distribution. A pre-activation is a sum of many "
                                  "products, so it is close to normal: draw z ~ N(0, 1)."),
            (2 / (p + q) if q > 0 else math.nan, "the negative side enters E[f(z)^2] with its slope squared: "
                                                 "(1 + a^2)/2 for a leaky ReLU of slope a, not (1 + a)/2."),
            (2.0, f"that is He's 2, made for ReLU, which zeroes half of the signal's second moment. {name} keeps "
                  f"E[f(z)^2] = {m2:g} of it: the scale follows from that, not from the shape's resemblance to ReLU."),
            (1.0, f"that is LeCun's 1, the scale of a linear layer; {name} keeps only E[f(z)^2] = {m2:g} of the "
                  "second moment."),
        ], rtol=0.02)
        if advice:
            return fail(f"{where}: {advice}")
        if close(got, expected, rtol=0.1):
            return fail(f"{where}: close, but not within 2%. If you estimate E[f(z)^2] by sampling, use about "
                        "1,000,000 draws (with 10,000 the estimate is off by about 2%).")
        return fail(f"{where}. Var(z_(l+1)) = n_in Var(w) E[f(z_l)^2]: what must n_in Var(w) be for Var(z) to stay "
                    "put? Evaluate E[f(z)^2] for z ~ N(0, 1).")
    kept = _propagated(1.0, -1.0, preserving_scale_of(1.0, -1.0))
    he = _propagated(1.0, -1.0, 2.0)
    return ok("scale = 1/E[f(z)^2]: 2 for ReLU (He), 1 for |z| (LeCun's: |z| keeps all of the second moment, "
              "however much it looks like ReLU), 2/1.04 = 1.92 for leaky ReLU 0.2 (PyTorch's "
              "calculate_gain('leaky_relu', 0.2) squared), 2/1.5^2 = 0.89 for 1.5 * relu. Measured on 30 layers of "
              f"256 |z| units: with scale 1, Var(z) drifts by {abs(math.log10(kept)):.2f} decades (finite-width "
              f"noise); with He's 2, by {math.log10(he):.1f} decades.")


# ------------------------------------------------------------------------ quiz


@dataclass(frozen=True)
class Question:
    """One multiple-choice question: options as (text, correct, feedback)."""

    text: str
    options: tuple[tuple[str, bool, str], ...]


QUESTIONS: tuple[Question, ...] = (
    Question(
        "A 30-layer MLP with ReLU and no normalization layers does not train. Which initializer do you try first?",
        (("glorot_uniform (Keras's default)", False,
          "Glorot's variance ignores that ReLU zeroes half the signal: it halves in every layer, 30 halvings "
          "leave about 1e-9 of the variance (12's grid, relu / glorot_normal)."),
         ("he_normal", True, "He's Var(w) = 2/fan_in makes up for ReLU's halving; 12's grid shows ReLU with He "
                             "training at every depth."),
         ("random_normal with std 0.01", False,
          "a fixed small scale shrinks the signal in every layer: 11's deeper network stays at chance with it."),
         ("zeros", False, "all units stay identical and ReLU's gradient at 0 is 0: nothing learns (notebooks 03 "
                          "and 11)."))),
    Question(
        "You build a self-normalizing network with SELU. Which initializer keeps its fixed point?",
        (("he_normal", False, "He doubles the variance per layer; SELU's fixed point assumes Var(w) = 1/fan_in."),
         ("orthogonal", False, "orthogonal matrices have LeCun's variance and trained deep SELU stacks best in "
                               "notebook 12's grid, but the fixed-point guarantee the question asks about is "
                               "derived for LeCun-normal weights."),
         ("glorot_uniform", False, "Glorot equals 1/fan_in only for square layers; and uniform weights are not "
                                   "what the fixed-point analysis assumes."),
         ("lecun_normal", True, "Klambauer et al. (2017) derive SELU's constants for Var(w) = 1/fan_in: LeCun."))),
    Question(
        "Over 3 seeds, He minus Glorot on one hidden layer is +0.1 points, 95% interval [-0.4, +0.6]. "
        "What do the data say?",
        (("He is better: the mean is positive.", False,
          "the interval contains 0: the sign of the mean is within seed noise."),
         ("Glorot is better: one seed was negative.", False, "a single seed says little; look at the interval."),
         ("No difference is resolved; any real difference is under about half a point.", True,
          "the interval is the evidence: it contains 0 and bounds the effect. More seeds would narrow it "
          "(notebook 11's exercise computes how many)."),
         ("The experiment is broken: two schemes cannot give the same accuracy.", False,
          "on one hidden layer with Adam they can, and do (notebook 11)."))),
    Question(
        "A residual block computes h + F(h). What should the last layer of F start at, to keep a deep "
        "residual network's signal from growing with depth?",
        (("zeros (weights and bias)", True, "each block starts as the identity, so the deep network starts as a "
                                            "shallow one (Goyal et al. 2017, Fixup, SkipInit; notebook 12)."),
         ("He-normal, like the other layers", False,
          "then every block adds its own variance: the signal grows with the number of blocks."),
         ("orthogonal", False, "orthogonal keeps the branch's variance, but the sum h + F(h) still grows."),
         ("ones", False, "ones make the units of the layer identical and the sum explode."))),
    Question(
        "You switch a 4096-unit dense layer from he_normal to orthogonal. What does it cost?",
        (("Nothing: every initializer costs the same.", False,
          "orthogonal needs a QR decomposition, O(n^3) for an n x n matrix; a normal draw is O(n^2)."),
         ("Every training step becomes slower.", False, "the weights are ordinary numbers after initialization."),
         ("Seconds, once, when the model is built; not a cost per epoch.", True,
          "the QR runs once at build time (notebook 11 measures it); training speed is unchanged."),
         ("It needs a GPU.", False, "a QR of 4096 x 4096 takes seconds on a CPU."))),
    Question(
        "Your network has a normalization layer (BatchNorm or LayerNorm) after every dense layer. "
        "How much does the initializer's scale matter?",
        (("Less: normalization undoes a wrong forward scale, though the init still sets where training starts.",
          True, "this is why BatchNorm let deep networks train with cruder inits (Ioffe & Szegedy 2015); "
                "the scheme still matters for layers without normalization and for residual branches."),
         ("Much more than without normalization.", False,
          "normalization rescales each layer's output from the data, undoing a wrong scale."),
         ("Not at all: you can use zeros.", False, "zeros still leave every unit identical: normalization "
                                                   "cannot break that symmetry."),
         ("Only for the biases.", False, "biases start at zero in every scheme here; it is the weights' scale."))),
)

_LETTERS = "abcdefgh"


def _option_index(question: Question, choice: Any) -> int | str:
    """The option index for a letter ('b'), a 1-based number or the option's text; or why not."""
    letters = _LETTERS[: len(question.options)]
    if isinstance(choice, str):
        key = choice.strip().lower().rstrip(")")
        if len(key) == 1 and key in letters:
            return letters.index(key)
        for i, (text, _, _) in enumerate(question.options):
            if key == text.lower():
                return i
        return f"choose one of the letters {', '.join(letters)}; got {choice!r}."
    if isinstance(choice, int) and not isinstance(choice, bool) and 1 <= choice <= len(question.options):
        return choice - 1
    return f"choose one of the letters {', '.join(letters)}; got {choice!r}."


def answer(question: int, choice: Any) -> Feedback:
    """Answer quiz question ``question`` (1-based) with ``choice`` (a letter such as ``"b"``); prints why.

    Never raises for a wrong or malformed answer: the feedback says what to do.
    """
    if not isinstance(question, int) or isinstance(question, bool) or not 1 <= question <= len(QUESTIONS):
        fb = Feedback("quiz", False, f"there are questions 1 to {len(QUESTIONS)}; got {question!r}.", "error")
        print(fb)
        return fb
    q = QUESTIONS[question - 1]
    index = _option_index(q, choice)
    if isinstance(index, str):
        fb = Feedback(f"question {question}", False, index, "error")
    else:
        text, correct, why = q.options[index]
        verdict = "right" if correct else "not quite"
        fb = Feedback(f"question {question}", correct, f"{verdict} -- {why}", "passed" if correct else "failed")
    print(fb)
    return fb


def _question_text(number: int, q: Question) -> str:
    lines = [f"{number}. {q.text}"]
    lines += [f"   ({_LETTERS[i]}) {text}" for i, (text, _, _) in enumerate(q.options)]
    return "\n".join(lines)


def _question_html(number: int, q: Question) -> str:
    from html import escape

    items = "".join(f"<li style='list-style:none'>({_LETTERS[i]}) {escape(text)}</li>"
                    for i, (text, _, _) in enumerate(q.options))
    return f"<p><b>{number}. {escape(q.text)}</b></p><ul style='margin-top:0'>{items}</ul>"


def quiz(*, interactive: bool | None = None) -> None:
    """Show the self-check quiz, with feedback the moment you pick an answer.

    In a live Jupyter kernel with ipywidgets, each question shows as text with a
    row of letter buttons under it and the feedback appears beside them. Without
    ipywidgets, outside a kernel, or with ``interactive=False``, the questions print
    as text; answer them with ``answer(1, "b")``.
    """
    widgets = display = HTML = None
    if interactive is not False:
        try:
            import ipywidgets as widgets
            from IPython import get_ipython
            from IPython.display import HTML, display

            if get_ipython() is None and interactive is None:
                widgets = None
        except ImportError:
            widgets = None
    if widgets is None:
        print("\n\n".join(_question_text(i, q) for i, q in enumerate(QUESTIONS, 1)))
        print('\nAnswer with choosing.answer(question, "letter"), e.g. choosing.answer(1, "a").')
        return
    for position, (q, buttons, out) in enumerate(_quiz_widgets(widgets), 1):
        display(HTML(_question_html(position, q)))  # the question stays readable where widgets do not render
        display(widgets.VBox([buttons, out]))


def _quiz_widgets(widgets: Any) -> list[tuple[Question, Any, Any]]:
    """Per question: the question, its letter buttons and the feedback area the buttons write to."""
    made = []
    for q in QUESTIONS:
        letters = list(_LETTERS[: len(q.options)])
        buttons = widgets.ToggleButtons(options=letters, value=None, description="your answer:",
                                        style={"button_width": "3em"})
        out = widgets.HTML()

        def on_change(change: dict, q: Question = q, out: Any = out, letters: list[str] = letters) -> None:
            if change.get("new") is None:
                return
            _, correct, why = q.options[letters.index(change["new"])]
            mark, colour = ("\u2714 right", "#1a7f37") if correct else ("\u2718 not quite", "#b35900")
            out.value = f"<span style='color:{colour}'><b>{mark}</b> &mdash; {why}</span>"

        buttons.observe(on_change, names="value")
        made.append((q, buttons, out))
    return made
