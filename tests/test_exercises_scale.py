"""Checkers of notebook 04: the solution passes, typical mistakes get their specific message, stubs say 'not done'."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils.exercises import STUB_MARKER, ExerciseFailed, scale


@pytest.fixture(autouse=True)
def _lenient(monkeypatch):
    monkeypatch.delenv("COURSE_CHECK_STRICT", raising=False)


def _stub(*args, **kwargs):
    raise NotImplementedError(f"{STUB_MARKER}: write the function.")


# ------------------------------------------------------------------------ layer stds

_F = {"linear": lambda z: z, "relu": lambda z: np.maximum(z, 0), "tanh": np.tanh}


def _layer_stds(x, std, depth, activation, rng, *, pre=False, variance=False, no_act=False, with_input=False,
                transpose=False):
    h = x
    out = [h.std()] if with_input else []
    for _ in range(depth):
        W = rng.normal(0, std**2 if variance else std, size=(x.shape[1], x.shape[1]))
        z = h @ (W.T if transpose else W)
        h = z if no_act else _F[activation](z)
        out.append((z if pre else h).std())
    return out


def test_layer_stds_solution_passes():
    fb = scale.check_layer_stds(_layer_stds)
    assert fb.passed and "saturates" in fb.message and "differ" not in fb.message


def test_layer_stds_other_draw_order_passes_with_a_note():
    # W.T is another sample of the same distribution: statistics agree, numbers do not
    fb = scale.check_layer_stds(lambda *a: _layer_stds(*a, transpose=True))
    assert fb.passed and "statistics agree" in fb.message


def test_layer_stds_other_seed_passes_over_many_seeds():
    # the statistical tolerance must accept a correct solution whatever its random stream
    for seed in range(15):
        fb = scale.check_layer_stds(
            lambda x, std, depth, act, rng, s=seed: _layer_stds(x, std, depth, act, np.random.default_rng(s)))
        assert fb.passed, (seed, fb.message)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"pre": True}, "before the activation"),
        ({"variance": True}, "not the variance"),
        ({"no_act": True}, "linear network"),
        ({"with_input": True}, "leave out the input"),
    ],
)
def test_layer_stds_typical_mistakes(kwargs, needle):
    fb = scale.check_layer_stds(lambda *a: _layer_stds(*a, **kwargs))
    assert not fb.passed and fb.status == "failed"
    assert needle in fb.message


def test_layer_stds_pre_activation_with_another_seed_is_still_caught():
    fb = scale.check_layer_stds(
        lambda x, std, depth, act, rng: _layer_stds(x, std, depth, act, np.random.default_rng(99), pre=True))
    assert not fb.passed and "layer 1" in fb.message


def test_layer_stds_wrong_length_type_and_stub():
    assert "one std per layer" in scale.check_layer_stds(lambda *a: [1.0, 2.0]).message
    assert "list of numbers" in scale.check_layer_stds(lambda *a: {"a": 1}).message
    assert scale.check_layer_stds(_stub).status == "not done"
    assert scale.check_layer_stds(lambda *a: a[99]).status == "error"


def test_reference_layer_stds_matches_theory_for_linear_networks():
    # linear, std = 1/sqrt(n): every layer keeps the input's std up to sampling noise
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 256))
    stds = scale.reference_layer_stds(x, 1 / math.sqrt(256), 5, "linear", rng)
    assert all(0.8 < s < 1.25 for s in stds)


# ----------------------------------------------------------------------- depth factor


def _factor(std, n, depth, activation):
    return (n * std**2 * (0.5 if activation == "relu" else 1.0)) ** (depth / 2)


def test_depth_factor_solution_passes():
    fb = scale.check_depth_factor(_factor)
    assert fb.passed and "11.8" in fb.message


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        (lambda s, n, d, a: _factor(s, n, d, a) ** 2, "VARIANCE"),
        (lambda s, n, d, a: _factor(s, n, d, "linear"), "zeroes half"),
        (lambda s, n, d, a: (n * s * (0.5 if a == "relu" else 1)) ** (d / 2), "std where the variance"),
        (lambda s, n, d, a: [1.0, 2.0], "one number"),
        (lambda s, n, d, a: 3.0, "expected"),
    ],
)
def test_depth_factor_typical_mistakes(answer, needle):
    fb = scale.check_depth_factor(answer)
    assert not fb.passed and needle in fb.message


def test_depth_factor_reference_agrees_with_a_measurement():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1024, 256))
    measured = scale.reference_layer_stds(x, 0.1, 4, "relu", rng)[-1] / scale.reference_layer_stds(
        x, 0.1, 1, "relu", np.random.default_rng(2))[0]
    # layers 1 -> 4 is three ReLU-to-ReLU steps: (256 * 0.01 / 2) ** 1.5 = 1.45
    assert 1.2 < measured < 1.75
    assert scale.reference_depth_factor(0.1, 256, 3, "relu") == pytest.approx(1.28**1.5)


def test_depth_factor_stub_and_strict(monkeypatch):
    assert scale.check_depth_factor(_stub).status == "not done"
    monkeypatch.setenv("COURSE_CHECK_STRICT", "1")
    with pytest.raises(ExerciseFailed):
        scale.check_depth_factor(_stub)


# ---------------------------------------------------------------------- uniform limit


def test_uniform_limit_solution_passes():
    fb = scale.check_uniform_limit(lambda std: math.sqrt(3) * std)
    assert fb.passed and "0.0866" in fb.message


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        (lambda s: s, "has std"),
        (lambda s: 2 * s, "truncated normal"),
        (lambda s: math.sqrt(12) * s, "WIDTH"),
        (lambda s: s / math.sqrt(3), "divided by sqrt(3)"),
        (lambda s: 3 * s**2, "square root"),
        (lambda s: 7.0, "expected sqrt(3)"),
        (lambda s: "a", "one number"),
    ],
)
def test_uniform_limit_typical_mistakes(answer, needle):
    fb = scale.check_uniform_limit(answer)
    assert not fb.passed and needle in fb.message


def test_uniform_limit_matches_sampled_variance():
    a = math.sqrt(3) * 0.1
    draws = np.random.default_rng(0).uniform(-a, a, size=200_000)
    # std of the sample std for n = 200k draws: about 0.1 * sqrt(0.8 / (4 n)) ~ 1e-4 (kurtosis 1.8)
    assert abs(draws.std() - 0.1) < 5e-4


def test_uniform_limit_stub():
    assert scale.check_uniform_limit(_stub).status == "not done"


# ------------------------------------------------------- holes closed after the expert review


def _reused_weights(x, std, depth, activation, rng, *, transpose=False):
    W = rng.normal(0, std, size=(x.shape[1], x.shape[1]))  # drawn once, outside the loop
    h, out = x, []
    for _ in range(depth):
        h = _F[activation](h @ (W.T if transpose else W))
        out.append(h.std())
    return out


@pytest.mark.parametrize("transpose", [False, True])
def test_layer_stds_one_matrix_for_every_layer_is_named(transpose):
    fb = scale.check_layer_stds(lambda *a: _reused_weights(*a, transpose=transpose))
    assert not fb.passed and "one W and used it in every layer" in fb.message, fb.message


def test_layer_stds_all_layers_drawn_at_once_passes():
    def at_once(x, std, depth, activation, rng):
        h, out = x, []
        for W in rng.normal(0, std, size=(depth, x.shape[1], x.shape[1])):
            h = _F[activation](h @ W)
            out.append(h.std())
        return out

    assert scale.check_layer_stds(at_once).passed


def test_depth_factor_one_layers_factor_is_named():
    def one_layer(std, fan_in, depth, activation):
        return (fan_in * std**2 * (0.5 if activation == "relu" else 1.0)) ** 0.5

    fb = scale.check_depth_factor(one_layer)
    assert not fb.passed and "ONE layer" in fb.message, fb.message


# --------------------------------------------------------------------- chi_1 of a tanh stack

_U = np.linspace(-8, 8, 4001)
_W = np.exp(-_U**2 / 2) / np.exp(-_U**2 / 2).sum()


def _q_star(std, width):
    q = 1.0
    for _ in range(2000):
        q = width * std**2 * np.sum(_W * np.tanh(np.sqrt(q) * _U) ** 2)
    return q


def _chi_1(std, width, *, q=None, mean_slope=False, no_square=False, no_s2=False, sqrt=False, grid=None):
    """A learner's chi_1, with switches for the usual mistakes."""
    u, w = (_U, _W) if grid is None else grid
    q = _q_star(std, width) if q is None else q
    slope = 1 - np.tanh(np.sqrt(q) * u) ** 2
    s2 = 1.0 if no_s2 else width * std**2
    value = s2 * (np.sum(w * slope) ** 2 if mean_slope else np.sum(w * slope) if no_square else np.sum(w * slope**2))
    return float(np.sqrt(value) if sqrt else value)


def test_chi_1_solution_passes():
    fb = scale.check_chi_1(_chi_1)
    assert fb.passed and "chaotic" in fb.message
    assert abs(scale.reference_chi_1(0.3, 256) - 2.80) < 0.01 and abs(scale.reference_q_star(0.3, 256) - 18.9) < 0.05


def _coarse(std, width):
    u, w = np.polynomial.hermite_e.hermegauss(41)
    return _chi_1(std, width, grid=(u, w / w.sum()))


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        (lambda s, n: _chi_1(s, n, mean_slope=True), "SQUARED MEAN slope"),
        (lambda s, n: _chi_1(s, n, no_square=True), "needs the slope squared"),
        (lambda s, n: _chi_1(s, n, no_s2=True), "also multiplies by"),
        (lambda s, n: _chi_1(s, n, q=n * s**2), "Use the fixed point q*"),
        (lambda s, n: _chi_1(s, n, sqrt=True), "sqrt(chi_1)"),
        (_coarse, "check your integral"),
    ],
)
def test_chi_1_typical_mistakes(answer, needle):
    fb = scale.check_chi_1(answer)
    assert not fb.passed and needle in fb.message, fb.message


def test_chi_1_bad_types():
    assert "return one number" in scale.check_chi_1(lambda s, n: [1.0, 2.0]).message
