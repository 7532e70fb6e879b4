"""course_utils.meanfield: quadrature against Monte Carlo, known critical points, the papers' values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special

from course_utils import activations, diagnostics, meanfield

N_MC = 400_000
SIGMAS = 5.0  # a Monte Carlo mean is within 5 standard errors of the truth (fails once in ~2 million)


def _mc_mean(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size))


@pytest.mark.parametrize("activation", activations.ACTIVATIONS)
@pytest.mark.parametrize("q", [0.3, 1.0, 4.0])
def test_length_map_and_chi_1_agree_with_monte_carlo(activation, q):
    rng = np.random.default_rng(0)
    z = rng.standard_normal(N_MC)
    f, df = activations.numpy_function(activation), activations.numpy_function(activation, derivative=True)
    sw2, sb2 = 1.7, 0.2
    mean, se = _mc_mean(sw2 * f(math.sqrt(q) * z) ** 2 + sb2)
    assert abs(meanfield.length_map(activation, sw2, sb2, q) - mean) < SIGMAS * se
    mean, se = _mc_mean(sw2 * df(math.sqrt(q) * z) ** 2)
    assert abs(meanfield.chi_1(activation, sw2, sb2, q=q) - mean) < SIGMAS * se + 1e-12


@pytest.mark.parametrize("activation", activations.ACTIVATIONS)
def test_quadrature_matches_adaptive_integration_across_the_kink(activation):
    # Gauss-Hermite alone leaves 5e-3 in SELU's chi_1 (its derivative jumps at 0); with the split rule all agree to 1e-8
    df = activations.numpy_function(activation, derivative=True)
    q = 2.0
    exact = sum(integrate.quad(lambda z: df(np.array(math.sqrt(q) * z)) ** 2 * math.exp(-z * z / 2)
                               / math.sqrt(2 * math.pi), lo, hi, epsabs=1e-14)[0] for lo, hi in ((-40, 0), (0, 40)))
    assert meanfield.chi_1(activation, 1.0, 0.0, q=q) == pytest.approx(exact, rel=1e-8)


@pytest.mark.parametrize("activation", ["tanh", "relu", "selu", "sigmoid"])
@pytest.mark.parametrize("c", [-0.6, 0.0, 0.5, 0.95])
def test_correlation_map_agrees_with_monte_carlo(activation, c):
    rng = np.random.default_rng(1)
    z1, z2 = rng.standard_normal((2, N_MC))
    q, sw2, sb2 = 0.8, 2.0, 0.1
    u1, u2 = math.sqrt(q) * z1, math.sqrt(q) * (c * z1 + math.sqrt(1 - c * c) * z2)
    f = activations.numpy_function(activation)
    mean, se = _mc_mean(sw2 * f(u1) * f(u2) + sb2)
    q_next = meanfield.length_map(activation, sw2, sb2, q)
    assert abs(meanfield.correlation_map(activation, sw2, sb2, c, q=q) * q_next - mean) < SIGMAS * se


def test_maps_accept_arrays():
    q = np.array([0.1, 1.0, 3.0])
    assert meanfield.length_map("tanh", 1.5, 0.1, q).shape == (3,)
    c = np.array([0.0, 0.5, 1.0])
    out = meanfield.correlation_map("tanh", 1.5, 0.1, c)
    assert out.shape == (3,) and out[2] == pytest.approx(1.0, abs=1e-12)  # c = 1 is a fixed point at q*


def test_relu_closed_forms():
    # E[relu(sqrt(q) z)^2] = q / 2 and E[relu'^2] = 1/2: q' = sw2 q / 2 + sb2, chi_1 = sw2 / 2
    for q in (0.01, 1.0, 50.0):
        assert meanfield.length_map("relu", 1.3, 0.4, q) == pytest.approx(1.3 * q / 2 + 0.4, rel=1e-12)
    assert meanfield.chi_1("relu", 3.0, 0.0, q=7.0) == pytest.approx(1.5, rel=1e-12)
    # the arc-cosine kernel (Cho & Saul 2009): E[relu(u1) relu(u2)] = q (sqrt(1-c^2) + (pi - acos c) c) / (2 pi)
    c = 0.3
    kernel = (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c) / (2 * math.pi)
    assert meanfield.correlation_map("relu", 2.0, 0.0, c, q=1.0) == pytest.approx(2 * kernel, rel=1e-4)


def test_relu_at_he_is_critical_and_keeps_every_length():
    assert meanfield.chi_1("relu", 2.0, 0.0) == pytest.approx(1.0, abs=1e-12)
    assert meanfield.q_star("relu", 2.0, 0.0, q0=3.0) == pytest.approx(3.0)
    assert meanfield.q_star("relu", 1.0, 0.0) == 0.0
    assert meanfield.q_star("relu", 2.5, 0.0) == math.inf
    assert meanfield.q_star("relu", 2.0, 0.1) == math.inf  # the bias adds sb2 per layer: q grows linearly
    assert meanfield.critical_sigma_w2("relu", 0.0) == pytest.approx(2.0, rel=1e-9)


def test_tanh_order_chaos_boundary_at_zero_bias_is_sigma_w2_one():
    # q* -> 0 at the boundary: the root is found to ~1e-7 (the split quadrature's own error at tiny q)
    assert meanfield.critical_sigma_w2("tanh", 0.0) == pytest.approx(1.0, abs=1e-6)
    assert meanfield.q_star("tanh", 0.9, 0.0) == 0.0 and meanfield.chi_1("tanh", 0.9, 0.0) == pytest.approx(0.9)
    assert meanfield.q_star("tanh", 1.2, 0.0) > 0 and meanfield.chi_1("tanh", 1.2, 0.0) > 1.0


def test_tanh_critical_point_of_the_papers():
    # the critical point (sigma_w^2, sigma_b^2) = (1.76, 0.05) quoted for tanh in the mean-field literature
    assert meanfield.critical_sigma_w2("tanh", 0.05) == pytest.approx(1.76, abs=0.005)
    assert meanfield.chi_1("tanh", 1.76, 0.05) == pytest.approx(1.0, abs=1e-3)
    assert meanfield.depth_scales("tanh", 1.76, 0.05).xi_c > 1000  # diverges at criticality


def test_q_star_is_a_fixed_point_the_iteration_reaches():
    for activation, sw2, sb2 in [("tanh", 1.5, 0.05), ("tanh", 4.0, 0.5), ("selu", 1.0, 0.0), ("sigmoid", 2.0, 0.1),
                                 ("elu", 1.5, 0.1), ("gelu", 1.5, 0.2)]:
        q = meanfield.q_star(activation, sw2, sb2)
        assert meanfield.length_map(activation, sw2, sb2, q) == pytest.approx(q, rel=1e-9)
        iterate = 1.0
        for _ in range(300):
            iterate = meanfield.length_map(activation, sw2, sb2, iterate)
        assert iterate == pytest.approx(q, rel=1e-6)


def test_selu_fixed_point_is_variance_one():
    # Klambauer et al.'s constants make (mean 0, variance 1) the fixed point at sigma_w^2 = 1 (LeCun)
    assert meanfield.q_star("selu", 1.0, 0.0) == pytest.approx(1.0, abs=5e-4)
    # chi_1 = lambda^2 (1/2 + alpha^2 e^2 Phi(-2)) = 1.0716 in closed form: above 1, chaotic
    closed = activations.SELU_SCALE**2 * (0.5 + activations.SELU_ALPHA**2 * math.exp(2) * special.ndtr(-2.0))
    assert meanfield.chi_1("selu", 1.0, 0.0) == pytest.approx(closed, rel=1e-9)
    assert closed == pytest.approx(1.0716, abs=1e-4)


def test_c_star_and_chi_c():
    # ordered: c* = 1; chaotic with zero bias and odd phi: c* = 0; chaotic with bias: 0 < c* < 1, a stable root
    assert meanfield.c_star("tanh", 1.5, 0.5) == 1.0
    assert meanfield.c_star("tanh", 3.0, 0.0) == pytest.approx(0.0, abs=1e-9)
    c = meanfield.c_star("tanh", 3.0, 0.3)
    assert 0.0 < c < 1.0
    assert meanfield.correlation_map("tanh", 3.0, 0.3, c) == pytest.approx(c, abs=1e-10)


@pytest.mark.parametrize("sw2, sb2", [(1.5, 0.05), (2.5, 0.05), (1.2, 0.3), (3.0, 0.0)])
def test_depth_scales_match_the_decay_of_the_iterated_maps(sw2, sb2):
    xi_q, xi_c = meanfield.depth_scales("tanh", sw2, sb2)
    q = meanfield.q_star("tanh", sw2, sb2)
    c = meanfield.c_star("tanh", sw2, sb2)
    # a small deviation shrinks by exp(-1/xi) per layer
    dq = 1e-4 * q
    ratio_q = (meanfield.length_map("tanh", sw2, sb2, q + dq) - q) / dq
    assert ratio_q == pytest.approx(math.exp(-1 / xi_q), rel=1e-3)
    dc = -1e-4 if c >= 1 else 1e-4
    ratio_c = (meanfield.correlation_map("tanh", sw2, sb2, c + dc, q=q) - c) / dc
    assert ratio_c == pytest.approx(math.exp(-1 / xi_c), rel=2e-3)


def test_length_map_agrees_with_signal_propagation_theory():
    # diagnostics' per-layer prediction (zero biases) is the length map iterated from the input's variance
    for init, activation in [("glorot_normal", "tanh"), ("he_normal", "relu"), ("lecun_normal", "selu")]:
        width = 256
        frame = diagnostics.signal_propagation_theory(init, activation, depth=6, width=width, input_std=1.3)
        from course_utils import initializers
        sw2 = width * initializers.get(init).expected_std((width, width)) ** 2
        q = sw2 * 1.3**2
        for d in range(1, 7):
            assert frame.loc[d, "preact_std"] ** 2 == pytest.approx(q, rel=1e-6)
            q = meanfield.length_map(activation, sw2, 0.0, q)


def test_finite_network_follows_the_length_and_correlation_maps():
    rng = np.random.default_rng(3)
    width, depth, sw2, sb2 = 2000, 6, 2.0, 0.05
    x = rng.standard_normal((2, width))
    x[1] = 0.6 * x[0] + 0.8 * x[1]
    h, q, c = x, 1.0, float(np.corrcoef(x)[0, 1])
    for _ in range(depth):
        w = rng.normal(0, math.sqrt(sw2 / width), (width, width))
        z = h @ w + rng.normal(0, math.sqrt(sb2), width)
        c = meanfield.correlation_map("tanh", sw2, sb2, c, q=q)
        q = meanfield.length_map("tanh", sw2, sb2, q)
        h = np.tanh(z)
    # width 2000: the sample variance of a row's 2000 pre-activations has relative error ~ sqrt(2/2000) ~ 3%
    assert np.mean(z**2, axis=1) == pytest.approx([q, q], rel=0.15)
    assert float(np.mean(z[0] * z[1]) / np.sqrt(np.mean(z[0] ** 2) * np.mean(z[1] ** 2))) == pytest.approx(c, abs=0.1)


def test_phase_diagram_frame():
    frame = meanfield.phase_diagram("tanh", [0.5, 1.0, 3.0], [0.0, 0.1])
    assert list(frame.columns) == ["sigma_w2", "sigma_b2", "q_star", "chi_1", "c_star", "xi_q", "xi_c", "phase"]
    assert len(frame) == 6
    phases = dict(zip(zip(frame.sigma_w2, frame.sigma_b2, strict=True), frame.phase, strict=True))
    assert phases[(0.5, 0.0)] == "ordered" and phases[(1.0, 0.0)] == "critical" and phases[(3.0, 0.0)] == "chaotic"
    assert phases[(1.0, 0.1)] == "ordered"


def test_friendly_errors():
    with pytest.raises(ValueError, match="Valid choices"):
        meanfield.length_map("tahn", 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="sigma_w2"):
        meanfield.chi_1("tanh", -1.0, 0.0)
    with pytest.raises(ValueError, match="variance"):
        meanfield.length_map("tanh", 1.0, 0.0, -2.0)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        meanfield.correlation_map("tanh", 1.5, 0.1, 1.5)
    with pytest.raises(ValueError, match="q="):
        meanfield.correlation_map("tanh", 0.5, 0.0, 0.3)  # q* = 0 there
    with pytest.raises(ValueError, match="bracket"):
        meanfield.critical_sigma_w2("tanh", 0.05, bracket=(3.0, 5.0))


@pytest.mark.parametrize("framework", ["numpy", "torch", "keras"])
def test_simulated_networks_follow_predict_in_every_framework(framework):
    # width 512, 64 pairs: q's sample error per layer is a few %, the gradient's product over 12 layers ~10%
    sw2, sb2, depth = 1.76, 0.05, 12
    theory = meanfield.predict("tanh", sw2, sb2, depth, c_in=0.3)
    runs = [meanfield.simulate("tanh", sw2, sb2, depth, width=512, c_in=0.3, seed=s, framework=framework)
            for s in range(3)]
    q = np.mean([r.q for r in runs], axis=0)
    c = np.mean([r.c for r in runs], axis=0)
    g = np.exp(np.mean([np.log(r.grad2) for r in runs], axis=0))
    np.testing.assert_allclose(q, theory.q, rtol=0.1)
    np.testing.assert_allclose(c, theory.c, atol=0.05)
    np.testing.assert_allclose(g, theory.grad2, rtol=0.25)


def test_predict_gradient_is_the_product_of_chi():
    theory = meanfield.predict("relu", 2.0, 0.0, 10)
    np.testing.assert_allclose(theory.q, 2.0)
    np.testing.assert_allclose(theory.grad2, 0.5)  # E[relu'^2] = 1/2 at the top, chi = 1 below


def test_input_output_jacobian_of_a_linear_network_is_its_matrix_in_both_frameworks():
    from course_utils import models

    for framework in ("torch", "keras"):
        net = models.build_mlp(framework, 6, [5], activation="linear", init="orthogonal", n_classes=4, seed=0)
        matrix = np.asarray(training_predict(net, np.eye(6, dtype=np.float32)))  # row i: the image of e_i (zero biases)
        jac = meanfield.input_output_jacobian(net, np.ones(6))
        assert jac.shape == (4, 6)
        np.testing.assert_allclose(jac, matrix.T, atol=1e-5)


def training_predict(net, x):
    from course_utils import training

    return training.predict_logits(net, x)


def test_narrow_slope_peak_at_large_q_is_integrated_accurately():
    """tanh at sigma_w^2 = 23.04: q* = 18.9, where tanh'(sqrt(q*) z)^2 is a peak of width ~0.2 at z = 0.
    200-node Gauss-Hermite gave chi_1 = 2.745; adaptive quadrature gives 2.79539 (notebook 04's numbers)."""
    import numpy as np
    from scipy import integrate

    s2 = 256 * 0.3**2

    def gauss(h):
        return integrate.quad(lambda u: h(u) * np.exp(-u * u / 2) / np.sqrt(2 * np.pi), -12, 12, limit=1000,
                              points=[0], epsabs=1e-13)[0]

    q = meanfield.q_star("tanh", s2, 0.0)
    assert q == pytest.approx(s2 * gauss(lambda u: np.tanh(np.sqrt(q) * u) ** 2), rel=1e-9)
    assert meanfield.chi_1("tanh", s2, 0.0) == pytest.approx(s2 * gauss(lambda u: (1 - np.tanh(np.sqrt(q) * u) ** 2) ** 2),
                                                             rel=1e-7)


@pytest.mark.parametrize(("activation", "sw2", "sb2"), [("tanh", 4.5, 0.0), ("tanh", 2.0, 0.05), ("selu", 1.5, 0.05)])
def test_c_star_scans_from_the_top_as_far_as_the_full_grid_scan_would(activation, sw2, sb2):
    """c_star computes the grid's gaps a chunk at a time from c = 1 down; the root must be the one that
    the scan of the whole grid at once finds (the largest + to - crossing), to the last bit."""
    q = meanfield.q_star(activation, sw2, sb2)
    grid = meanfield._C_GRID
    gaps = meanfield.correlation_map(activation, sw2, sb2, grid, q) - grid
    gaps[np.abs(gaps) < 1e-13] = 0.0
    i = max(j for j in range(len(grid) - 1) if gaps[j] > 0 and gaps[j + 1] <= 0)
    assert i < len(grid) - meanfield._C_CHUNK  # the root lies beyond the first chunk: the chunks are exercised
    from scipy import optimize

    want = optimize.brentq(lambda c: meanfield.correlation_map(activation, sw2, sb2, c, q) - c, grid[i], grid[i + 1],
                           xtol=1e-14)
    assert meanfield.c_star(activation, sw2, sb2) == want
    assert meanfield.c_star(activation, np.float64(sw2), sb2) == want  # remembered under the same floats
