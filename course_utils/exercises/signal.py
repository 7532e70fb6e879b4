"""Checkers for the exercises of notebooks 01 (why initialization matters) and 02 (variance and signal propagation).

Each checker calls the learner's function on a few cases and explains what
is off, naming the usual mistake behind a wrong number::

    from course_utils.exercises import signal
    signal.check_max_unit_difference(max_unit_difference)

Notebook 01: :func:`check_max_unit_difference` (symmetry between hidden
units), :func:`check_diagnose_profile` (vanishing / exploding / stable from
per-layer stds), :func:`check_runs_separate` (is a difference between two
initializations clear of seed noise?), :func:`check_std_for_ratio` (choose the
weight std that gives a ReLU stack a wanted end-to-end signal ratio, checked
against a measurement too).

Notebook 02: :func:`check_output_variance` (``Var(y) = n_in Var(w) E[x^2]``),
:func:`check_glorot_limit` (Glorot's uniform bound) and
:func:`check_relu_depth_std` (the pre-activation std after ``depth`` ReLU
layers, checked against a measurement too).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import checker, close, fail, ok
from ._common import check_cases, diagnose, first_match, number

__all__ = [
    "PROFILE_LABELS",
    "check_max_unit_difference",
    "check_diagnose_profile",
    "check_runs_separate",
    "check_std_for_ratio",
    "check_output_variance",
    "check_glorot_limit",
    "check_relu_depth_std",
]


# ------------------------------------------------------------------ notebook 01


def _max_unit_difference(kernel: np.ndarray) -> float:
    """Largest |W[i, j] - W[i, k]| over inputs i and units j, k: units are columns (Keras layout)."""
    return float(np.max(kernel.max(axis=1) - kernel.min(axis=1)))


_ROWS_ADVICE = ("you returned {got:.4g}, the largest difference between *rows*. In Keras layout (inputs, units) a "
                "unit's incoming weights are a column, kernel[:, j]; the answer here is {expected:.4g}. "
                "(A PyTorch weight is (units, inputs): pass weight.T.)")

# The usual wrong answers, as what each computes from a kernel, and the advice when a learner's answers
# are that computation's on every case. The third case separates the ones the first two cannot.
_UNIT_MISTAKES: tuple[tuple[Callable[[np.ndarray], float], str], ...] = (
    (lambda k: float(np.max(k.max(axis=0) - k.min(axis=0))), _ROWS_ADVICE),
    (lambda k: float(k.max() - k.min()),
     "you returned {got:.4g}, max - min over the whole kernel: that compares weights of different inputs too. "
     "Compare the units input by input: per row, max minus min, then the largest of those ({expected:.4g})."),
    (lambda k: float(np.max(np.abs(np.diff(k, axis=1)))),
     "you returned {got:.4g}, the largest difference between *neighbouring* units (j and j + 1); the two most "
     "different units need not sit side by side. Compare every pair: per row, max minus min ({expected:.4g})."),
    (lambda k: float(np.max(np.abs(k - k[:, :1]))),
     "you returned {got:.4g}: you compared every unit with unit 0 only; two other units can differ more. "
     "Compare every pair: per row, max minus min ({expected:.4g})."),
    (lambda k: float(np.max(np.abs(k[:, -1] - k[:, 0]))),
     "you returned {got:.4g}: you compared the first and the last unit only. Compare every pair: per row, max "
     "minus min ({expected:.4g})."),
    (lambda k: float(np.mean(np.abs(k[:, :, None] - k[:, None, :]))),
     "you returned {got:.4g}, an average difference; the question is the *largest* one ({expected:.4g}): a "
     "single differing weight is enough to break the symmetry."),
)


def _unit_cases() -> list[tuple[np.ndarray, float, str]]:
    """(kernel, rtol, what to say when only this case is wrong): identical units, one differing weight, random."""
    rng = np.random.default_rng(2010)  # any fixed seed: the cases must be the same on every run
    same = np.tile(rng.normal(size=(6, 1)), (1, 4)).astype(np.float32)  # 4 identical units
    # three units that differ by one weight; rows are the inputs, columns the units
    small = np.array([[0.5, 0.5, 0.5], [0.1, -0.3, 0.1], [0.2, 0.2, 0.2], [0.4, 0.4, 0.4]], dtype=np.float32)
    big = rng.normal(size=(50, 20))
    # units 1 and 3 differ most (0.6 on input 0): not neighbours, and neither is the first unit
    apart = np.array([[0.3, 0.6, 0.35, 0.0], [0.1, 0.15, 0.1, 0.12], [-0.2, -0.2, -0.25, -0.2],
                      [0.45, 0.5, 0.45, 0.5]])
    return [
        (same, 1e-3, "for a kernel whose 4 columns (units) are identical you returned {got:.4g}; it should be "
                     "exactly 0. Compare each unit's column with the others, input by input."),
        (small, 1e-3, "for this 4x3 kernel (units 0 and 1 differ by 0.4 on input 1) you returned {got:.4g}; "
                      "expected {expected:.4g}."),
        (big, 1e-6, "right on the small cases, but for a random 50x20 kernel you returned {got:.6g} instead of "
                    "{expected:.6g}. Do you look at every input (row) and every pair of units?"),
        (apart, 1e-6, "for a 4x4 kernel whose most different units are 1 and 3 (0.6 apart on input 0) you "
                      "returned {got:.4g}; expected {expected:.4g}. Do you look at every input (row) and every "
                      "pair of units?"),
    ]


@checker("largest difference between hidden units")
def check_max_unit_difference(max_unit_difference: Callable[[np.ndarray], float]) -> tuple[bool, str]:
    """Check ``max_unit_difference(kernel)``: the largest absolute difference between two units' weights.

    ``kernel`` is in Keras layout ``(inputs, units)``: unit ``j``'s incoming
    weights are the column ``kernel[:, j]``. The answer is
    ``max over i, j, k of |kernel[i, j] - kernel[i, k]|``, which is 0 exactly
    when every unit has the same incoming weights (the symmetry of a constant
    initialization).
    """
    cases = _unit_cases()
    answers = []
    for kernel, _, _ in cases:
        got = number(max_unit_difference(kernel.copy()))
        if isinstance(got, str):
            return fail(got + (" Reduce it (e.g. with .max()) to a single value." if "shape" in got else ""))
        answers.append(got)
    wrong = [i for i, ((kernel, rtol, _), got) in enumerate(zip(cases, answers, strict=True))
             if not close(got, _max_unit_difference(kernel), rtol=rtol)]
    if not wrong:
        return ok("units are columns in Keras layout; 0 means every unit computes the same function.")
    kernel, _, otherwise = cases[wrong[0]]
    got, expected = answers[wrong[0]], _max_unit_difference(kernel)
    if got < 0:
        return fail(f"you returned {got:.4g}; a difference between units is a distance, never negative. "
                    "Take the absolute value (or max minus min).")

    def fits(mistake: Callable[[np.ndarray], float]) -> bool:  # a mistake is named when it gives every answer
        return all(close(g, mistake(k), rtol=1e-2) for (k, _, _), g in zip(cases, answers, strict=True))

    advice = first_match((functools.partial(fits, mistake), text) for mistake, text in _UNIT_MISTAKES)
    return fail((advice or otherwise).format(got=got, expected=expected))


#: The three answers :func:`check_diagnose_profile` accepts.
PROFILE_LABELS = ("vanishing", "exploding", "stable")


def _diagnose(stds: Any) -> str:
    """The rule the exercise states: last/first < 0.1 vanishing, > 10 or not finite exploding, else stable."""
    stds = np.asarray(stds, dtype=np.float64)
    return _verdict(stds, stds[-1], stds[-1], stds[0])


def _verdict(stds: np.ndarray, high: float, low: float, reference: float) -> str:
    """Exploding when not finite or ``high > 10 reference``, vanishing when ``low < reference / 10``."""
    if not np.isfinite(stds).all() or high > 10 * reference:
        return "exploding"
    return "vanishing" if low < 0.1 * reference else "stable"


# The usual wrong rules, each with the advice for an answer that only it gives on a case; the cases after
# the first five each separate one of them from the right rule.
_PROFILE_MISTAKES: tuple[tuple[Callable[[np.ndarray], str], str], ...] = (
    (lambda s: _verdict(s, s[-1], s[-1], 1.0),
     "You compared the last std with fixed numbers (10 and 0.1); the rule compares it with the FIRST layer's: "
     "a profile that stays at 1e-3 (or 1e3) in every layer keeps its scale -- stable."),
    (lambda s: _verdict(s, s.max(), s.min(), s[0]),
     "You used the largest or the smallest std over all layers; the rule asks where the signal ends: the LAST "
     "layer against the first. A profile that dips (or peaks) and comes back is stable."),
    (lambda s: _verdict(s, s[-1], s[-1], s[1]),
     "You compared the last layer with stds[1], the SECOND layer; the first layer is stds[0] (Python counts "
     "from 0)."),
)


@checker("vanishing, exploding or stable")
def check_diagnose_profile(diagnose_profile: Callable[[Any], str]) -> tuple[bool, str]:
    """Check ``diagnose_profile(stds)`` on per-layer std profiles (first entry = first layer).

    The rule: ``"exploding"`` when any value is not finite (the activations
    overflowed) or the last std is more than 10 times the first,
    ``"vanishing"`` when it is less than a tenth of the first, else ``"stable"``.
    The profiles include measured ones from
    :func:`course_utils.diagnostics.signal_propagation`, and ones on which the
    usual wrong rules (fixed thresholds, the largest or smallest layer, the
    second layer for the first) give another answer.
    """
    from .. import diagnostics

    depth = 20  # deep enough that a bad scale is unmistakable, cheap enough to run in the checker
    measured = {
        "random_normal(std=0.01), relu": diagnostics.signal_propagation(
            "random_normal", "relu", depth, 64, n_samples=64).query("depth > 0")["std"].to_numpy(),
        "he_normal, relu": diagnostics.signal_propagation(
            "he_normal", "relu", depth, 64, n_samples=64).query("depth > 0")["std"].to_numpy(),
    }
    wobble = 1.0 + 0.05 * np.sin(np.arange(12))
    # random_normal's default std is 0.05 (Keras); width 64 keeps 64 * 0.05^2 = 0.16 per layer: vanishing.
    cases = [
        ("a profile falling from 1 to 1e-6", np.geomspace(1.0, 1e-6, 12)),
        ("a profile growing from 1 to 1e4", np.geomspace(1.0, 1e4, 12)),
        ("a flat profile around 0.8", 0.8 * wobble),
        ("a profile that overflowed to inf", np.array([1.0, 30.0, 9e2, 3e4, np.inf, np.nan])),
        ("a profile that stays between 0.5 and 2 times the first layer", np.array([2.0, 1.5, 1.2, 1.1, 1.0])),
        ("a flat profile around 1e-3", 1e-3 * wobble),
        ("a flat profile around 1e3", 1e3 * wobble),
        ("a profile that dips to 0.02 and comes back to 0.9", np.array([1.0, 0.3, 0.05, 0.02, 0.1, 0.5, 0.9])),
        ("a profile that peaks at 30 and comes back to 1.2", np.array([1.0, 5.0, 30.0, 12.0, 2.0, 1.2])),
        ("a profile whose first layer is 20 times the others", np.array([1.0, 0.05, 0.05, 0.04, 0.05])),
        *[(f"the measured profile of {name}", stds) for name, stds in measured.items()],
    ]
    for what, stds in cases:
        answer = diagnose_profile(np.array(stds, copy=True))
        expected = _diagnose(stds)
        if not isinstance(answer, str) or answer.strip().lower() not in PROFILE_LABELS:
            return fail(f"return one of the strings {list(PROFILE_LABELS)}; for {what} you returned {answer!r}.")
        answer = answer.strip().lower()
        if answer == expected:
            continue
        if not np.isfinite(stds).all():
            return fail(f"for {what} you answered {answer!r}. Activations that overflow to inf (and then NaN, "
                        "since inf - inf = NaN) are the extreme of exploding: check np.isfinite first, "
                        "because every comparison with NaN is False.")
        advice = first_match((rule(stds) == answer, text) for rule, text in _PROFILE_MISTAKES)
        return fail(f"for {what} (last/first = {stds[-1] / stds[0]:.3g}) you answered {answer!r}; the rule gives "
                    f"{expected!r}. " + (advice or "Compare the last layer's std with the first one's: below 0.1 is "
                                                   "vanishing, above 10 exploding."))
    return ok("comparing the last layer with the first (and checking for inf/NaN) tells the three apart.")


def _separate(a: Any, b: Any) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return bool(a.min() > b.max() or b.min() > a.max())


_SIGNIFICANCE_ADVICE = ("A significance test (a t-test, Mann-Whitney) asks another question -- is the difference of "
                        "the means larger than the noise? -- and its answer depends on a threshold and on n. The "
                        "exercise's test is simpler: compare the worst run of one set with the best run of the "
                        "other, in both directions.")


@checker("are two sets of runs clearly apart?")
def check_runs_separate(runs_separate: Callable[[Any, Any], bool]) -> tuple[bool, str]:
    """Check ``runs_separate(a, b)``: True when every run in ``a`` beats every run in ``b``, or the reverse.

    With 5 seeds each, two sets of runs that do not differ at all come out
    fully separated with probability 2 / C(10, 5) = 2/252 = 0.8% (a
    permutation test), so complete separation is strong evidence; overlap
    means the difference may be seed noise. The last two cases tell
    separation from a significance test: an overlapping pair whose t-test is
    significant (p = 0.002), and a separated one whose t-test is not (p = 0.10).
    """
    cases = [
        ("A = [0.91, 0.92, 0.93, 0.90, 0.92], B = [0.85, 0.86, 0.84, 0.88, 0.87]",
         [0.91, 0.92, 0.93, 0.90, 0.92], [0.85, 0.86, 0.84, 0.88, 0.87], "every run of A beats every run of B"),
        ("A = [0.71, 0.69, 0.70, 0.72, 0.70], B = [0.80, 0.78, 0.81, 0.79, 0.80]",
         [0.71, 0.69, 0.70, 0.72, 0.70], [0.80, 0.78, 0.81, 0.79, 0.80],
         "B is better here: separation works in both directions"),
        ("A = [0.90, 0.86, 0.91, 0.85, 0.93], B = [0.87, 0.88, 0.86, 0.89, 0.87]",
         [0.90, 0.86, 0.91, 0.85, 0.93], [0.87, 0.88, 0.86, 0.89, 0.87],
         "the means differ (0.890 vs 0.874) but the runs overlap"),
        ("A = [0.80, 0.82, 0.81], B = [0.80, 0.78, 0.79]", [0.80, 0.82, 0.81], [0.80, 0.78, 0.79],
         "the worst run of A ties the best run of B (0.80): a tie is not a separation"),
        ("A = [0.91, 0.92, 0.93, 0.94, 0.89], B = [0.80, 0.81, 0.82, 0.83, 0.90]",
         [0.91, 0.92, 0.93, 0.94, 0.89], [0.80, 0.81, 0.82, 0.83, 0.90],
         "B's best run (0.90) beats A's worst (0.89): the runs overlap, though a t-test calls the means "
         f"different (p = 0.002). {_SIGNIFICANCE_ADVICE}"),
        ("A = [0.95, 0.99, 0.91], B = [0.90, 0.50, 0.70]", [0.95, 0.99, 0.91], [0.90, 0.50, 0.70],
         "every run of A beats every run of B, though with 3 noisy runs a t-test finds no significant "
         f"difference (p = 0.10). {_SIGNIFICANCE_ADVICE}"),
    ]
    for what, a, b, why in cases:
        answer = runs_separate(np.array(a), np.array(b))
        if not isinstance(answer, (bool, np.bool_)):
            return fail(f"return True or False; for {what} you returned {type(answer).__name__} {answer!r}.")
        expected = _separate(a, b)
        if bool(answer) == expected:
            continue
        head = f"for {what} you returned {bool(answer)}; expected {expected}"
        return fail(first_match([
            ("t-test" in why, f"{head}: {why}"),
            (not expected and np.mean(a) != np.mean(b), f"{head} because {why}. Comparing means is not enough: "
                                                        "compare the worst run of one with the best run of the other."),
            (expected and np.mean(a) < np.mean(b), f"{head}: {why}. Check both min(a) > max(b) and min(b) > max(a)."),
        ]) or f"{head}: {why}.")
    return ok("complete separation of 5 runs against 5 happens by chance with probability 2/252 = 0.8%.")


def _std_for_ratio(width: int, depth: int, ratio: float) -> float:
    """The std s of N(0, s^2) weights that makes a bias-free ReLU stack's activation std at layer ``depth`` ``ratio``
    times layer 1's: each layer multiplies it by sqrt(n s^2 / 2), depth - 1 times, so s = sqrt(2/n) ratio^(1/(depth-1))."""
    return math.sqrt(2.0 / width) * ratio ** (1.0 / (depth - 1))


def _std_for_ratio_advice(width: int, depth: int, ratio: float, got: float, expected: float) -> str:
    """What to tell a learner whose std for (width, depth, ratio) is ``got``, not ``expected``."""
    he, steps = math.sqrt(2.0 / width), depth - 1
    advice = diagnose(got, expected, [
        (he, f"That is He's std, sqrt(2/n): it keeps the signal's scale (ratio 1), not a ratio of {ratio:g}."),
        (he * ratio ** (1.0 / depth), f"Between layer 1 and layer {depth} the signal is multiplied {steps} times, "
                                      f"not {depth}: take the root of order {steps} of the ratio."),
        (math.sqrt(1.0 / width) * ratio ** (1.0 / steps), "A ReLU zeroes half of its input and halves the second "
                                                           "moment: the factor per layer is sqrt(n s^2 / 2), not sqrt(n s^2)."),
        (he * ratio ** (1.0 / (2 * steps)), "The ratio is one of standard deviations, and sqrt(n s^2 / 2) is already "
                                             "the std's factor per layer: you set the variance's factor n s^2 / 2 to "
                                             "the ratio's root instead."),
        (he * ratio**steps, f"The factor per layer is the ratio's *root* of order {steps}, not the ratio to the power {steps}."),
        (he * ratio ** (-1.0 / steps), "Your ratio is upside down: a ratio below 1 needs weights smaller than He's."),
        (expected**2, "That is the variance s^2; the question asks for the standard deviation s."),
    ])
    return (f"for width={width}, depth={depth}, ratio={ratio:g} you returned {got:.4g}; expected {expected:.4g}. "
            + (advice or "Write the std at layer `depth` as layer 1's times (factor per layer)^(depth - 1) and solve "
                         "for s."))


@checker("a weight std for a wanted signal ratio")
def check_std_for_ratio(std_for_ratio: Callable[[int, int, float], float]) -> tuple[bool, str]:
    """Check ``std_for_ratio(width, depth, ratio)``: the std of N(0, s^2) weights for which the activations of layer
    ``depth`` of a bias-free ReLU stack of square layers of ``width`` units have ``ratio`` times the std of layer 1's.

    Each layer multiplies the std by sqrt(n s^2 / 2) (He et al. 2015), ``depth - 1`` times between layer 1 and
    layer ``depth``: ``s = sqrt(2 / n) ratio^(1 / (depth - 1))`` (notebook 01, section 2, inverted). The checker
    then measures the ratio in a NumPy network with :func:`course_utils.diagnostics.signal_propagation`.
    """
    from .. import diagnostics, initializers

    cases = [(128, 20, 0.01), (256, 10, 100.0), (512, 3, 0.5)]
    wrong = check_cases(std_for_ratio, _std_for_ratio, cases, _std_for_ratio_advice, rtol=1e-6)
    if wrong:
        return fail(wrong)
    width, depth, ratio = cases[0]
    s = float(std_for_ratio(width, depth, ratio))
    frame = diagnostics.signal_propagation(initializers.get("random_normal", std=s), "relu", depth, width,
                                           n_samples=512)
    measured = float(frame["std"].iloc[depth] / frame["std"].iloc[1])
    return ok(f"s = sqrt(2/n) ratio^(1/(depth-1)): {s:.4g} for 20 layers of 128 units and a ratio of 0.01; one such "
              f"NumPy network measures {measured:.3g} against the 0.01 asked (a finite network wanders around the mean-field value: "
              "notebook 02, section 6).")


# ------------------------------------------------------------------ notebook 02


def _output_variance(n_in: int, var_w: float, mean_x: float, var_x: float) -> float:
    """Var(sum_i w_i x_i) for independent zero-mean w_i and i.i.d. x_i: n_in Var(w) E[x^2]."""
    return n_in * var_w * (var_x + mean_x**2)


def _output_variance_advice(n_in: int, var_w: float, mean_x: float, var_x: float, got: float, expected: float) -> str:
    """What to tell a learner whose variance for these arguments is ``got``, not ``expected``."""
    second_moment = var_x + mean_x**2
    one_term = (f", the variance of ONE product w_i x_i; the output sums n_in = {n_in} independent such terms, and "
                "variances of independent terms add up.")
    as_std = (": it looks like a standard deviation was used where a variance belongs. var_w is already a "
              "variance.")
    advice = diagnose(got, expected, [
        (n_in * var_w * var_x, f" = n_in Var(w) Var(x); expected {expected:.4g}. With inputs of non-zero mean, "
                               "Var(w x) = Var(w) E[x^2] and E[x^2] = Var(x) + mean_x^2 (this is why ReLU outputs, "
                               "whose mean is not zero, need the second moment)."),
        (var_w * second_moment, one_term),
        (var_w * var_x, one_term),
        (n_in**2 * var_w * second_moment, ": n_in appears squared. Variances of independent terms add (n_in of "
                                          "them), it is the *standard deviations* that do not."),
        (n_in * math.sqrt(var_w) * second_moment, as_std),
        (n_in * math.sqrt(var_w * var_x), as_std),
    ])
    return (f"for n_in={n_in}, var_w={var_w:.4g}, mean_x={mean_x}, var_x={var_x} you returned {got:.4g}"
            + (advice or f"; expected n_in Var(w) (Var(x) + mean_x^2) = {expected:.4g}."))


@checker("variance of a linear layer's output")
def check_output_variance(output_variance: Callable[[int, float, float, float], float]) -> tuple[bool, str]:
    """Check ``output_variance(n_in, var_w, mean_x, var_x)`` = ``n_in * var_w * (var_x + mean_x**2)``.

    The weights have mean zero and are independent of the inputs, so
    ``Var(w x) = E[w^2] E[x^2] = Var(w) (Var(x) + E[x]^2)`` and the ``n_in``
    independent terms add up (He et al. 2015, eq. 7).
    """
    cases = [(784, 0.01, 0.0, 1.0), (256, 2 / 256, 0.0, 0.25), (512, 1 / 512, 0.5, 0.25), (100, 0.02, 0.4, 0.1)]
    wrong = check_cases(output_variance, _output_variance, cases, _output_variance_advice)
    if wrong:
        return fail(wrong)
    return ok("Var(y) = n_in Var(w) E[x^2]; for zero-mean inputs E[x^2] = Var(x).")


def _glorot_limit(fan_in: int, fan_out: int) -> float:
    return math.sqrt(6.0 / (fan_in + fan_out))


def _glorot_limit_advice(fan_in: int, fan_out: int, got: float, expected: float) -> str:
    """What to tell a learner whose limit for these fans is ``got``, not ``expected``."""
    total = fan_in + fan_out
    variance = "That is a variance; take the square root."
    fan_out_only = "You used fan_out only (the backward condition); Glorot uses both fans."
    factor = "Check the factor: Var(w) = 2/(fan_in + fan_out), and a = sqrt(3 Var(w))."
    advice = diagnose(got, expected, [
        (math.sqrt(2.0 / total), "That is the *standard deviation* sqrt(2/(fan_in+fan_out)); U(-a, a) has variance "
                                 "a^2/3, so the limit is sqrt(3) times the std."),
        (6.0 / total, variance),
        (2.0 / total, variance),
        (math.sqrt(3.0 / fan_in), "sqrt(3/fan_in) is LeCun uniform (fan_in only, the forward condition); Glorot "
                                  "averages the forward and backward conditions: 2/(fan_in + fan_out)."),
        (math.sqrt(6.0 / fan_in), "sqrt(6/fan_in) is He uniform (for ReLU); Glorot uses fan_in + fan_out."),
        (math.sqrt(3.0 / fan_out), fan_out_only),
        (math.sqrt(6.0 / fan_out), fan_out_only),
        (math.sqrt(3.0 / total), factor),
        (math.sqrt(12.0 / total), factor),
    ])
    where = f"for fan_in={fan_in}, fan_out={fan_out} you returned {got:.4g}; Glorot uniform gives {expected:.4g}"
    return f"{where}. {advice}" if advice else f"{where}."


@checker("Glorot's uniform limit")
def check_glorot_limit(glorot_limit: Callable[[int, int], float]) -> tuple[bool, str]:
    """Check ``glorot_limit(fan_in, fan_out)`` = ``sqrt(6 / (fan_in + fan_out))``.

    ``U(-a, a)`` has variance ``a^2 / 3``; Glorot & Bengio (2010, eq. 16)
    choose ``Var(w) = 2 / (fan_in + fan_out)``, hence ``a = sqrt(6 / (fan_in + fan_out))``.
    """
    wrong = check_cases(glorot_limit, _glorot_limit, [(784, 256), (256, 10), (100, 100)], _glorot_limit_advice)
    if wrong:
        return fail(wrong)
    return ok("a = sqrt(6 / (fan_in + fan_out)) gives Var(w) = a^2/3 = 2 / (fan_in + fan_out).")


def _relu_depth_std(depth: int, width: int, weight_std: float, input_std: float) -> float:
    """Std of z_depth in a bias-free ReLU MLP: Var(z_1) = n s^2 Var(x), then Var(z_l) = n s^2 Var(z_{l-1}) / 2."""
    gain = width * weight_std**2
    return input_std * math.sqrt(gain) * math.sqrt(gain / 2.0) ** (depth - 1)


def _relu_depth_std_advice(depth: int, width: int, s: float, input_std: float, got: float, expected: float) -> str:
    """What to tell a learner whose std for this network is ``got``, not ``expected``."""
    g = width * s**2
    advice = diagnose(got, expected, [
        (input_std * math.sqrt(g / 2) ** depth, "You halved the variance at the first layer too: layer 1 sees the "
                                                "input x, which has not been through a ReLU; only layers 2..depth "
                                                "see relu(z)."),
        (input_std * math.sqrt(g) ** depth, "A ReLU zeroes the negative half: E[relu(z)^2] = Var(z)/2, so each layer "
                                            "after the first multiplies the variance by n s^2 / 2, not n s^2."),
        (expected / input_std, "Did you leave out input_std? Var(z_1) = n s^2 input_std^2."),
        (expected**2, "That is the variance; the question asks for the standard deviation."),
        (input_std * (width * s) ** 0.5 * ((width * s) / 2) ** ((depth - 1) / 2),
         "Use the weight *variance* s^2 (not s) in n Var(w)."),
    ])
    return (f"for depth={depth}, width={width}, weight_std={s:.4g}, input_std={input_std} you returned {got:.4g}; "
            f"expected {expected:.4g}. " + (advice or "Build it layer by layer: Var(z_1) = n s^2 input_std^2, then "
                                                      "multiply by n s^2 / 2."))


@checker("std after depth ReLU layers")
def check_relu_depth_std(relu_depth_std: Callable[[int, int, float, float], float]) -> tuple[bool, str]:
    """Check ``relu_depth_std(depth, width, weight_std, input_std)``, the std of the pre-activations of layer ``depth``.

    The network is ``z_1 = x W_1``, ``z_l = relu(z_{l-1}) W_l`` (square, no
    biases, zero-mean weights of std ``s``, inputs of std ``input_std``):
    ``Var(z_1) = n s^2 input_std^2`` and ``Var(z_l) = n s^2 Var(z_{l-1}) / 2``
    for ``l >= 2``, because ``E[relu(z)^2] = Var(z) / 2`` for symmetric ``z``
    (He et al. 2015, eq. 9-10). The checker also compares the prediction with
    a measurement by :func:`course_utils.diagnostics.signal_propagation`.
    """
    from .. import diagnostics, initializers

    cases = [(1, 256, 0.05, 1.0), (10, 256, 0.0884, 1.0), (10, 100, 0.1, 2.0), (20, 256, math.sqrt(2 / 256), 0.5)]
    wrong = check_cases(relu_depth_std, _relu_depth_std, cases, _relu_depth_std_advice, rtol=1e-6)
    if wrong:
        return fail(wrong)
    depth, width, s = 10, 256, 0.1
    predicted = float(relu_depth_std(depth, width, s, 1.0))
    measured = float(diagnostics.signal_propagation(
        initializers.get("random_normal", std=s), "relu", depth, width, n_samples=512).loc[depth, "preact_std"])
    return ok(f"for 10 layers of 256 units with std 0.1 you predict {predicted:.3g}; measured {measured:.3g} "
              "(the rest is finite-width noise).")
