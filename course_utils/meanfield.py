"""Mean-field signal propagation in wide random networks: length map, correlation map, criticality.

A fully connected layer ``z_l = W h_{l-1} + b`` with ``W_ij ~ N(0, sigma_w^2 / n)`` and
``b_i ~ N(0, sigma_b^2)`` feeds ``h_l = phi(z_l)``. In the infinite-width limit each
pre-activation is Gaussian and three deterministic maps describe the network
(Poole et al. 2016; Schoenholz et al. 2017):

* the **length map** ``q' = sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2``, ``z ~ N(0, 1)``,
  the variance of a pre-activation layer after layer, with a stable fixed point ``q*``;
* the **correlation map** of two inputs at the same length ``q``:
  ``c' = (sigma_w^2 E[phi(u_1) phi(u_2)] + sigma_b^2) / q'`` with ``(u_1, u_2)`` Gaussian,
  variances ``q`` and correlation ``c``; ``c = 1`` is always a fixed point;
* its slope at ``c = 1``, ``chi_1 = sigma_w^2 E[phi'(z)^2]`` at ``q*``: nearby inputs move apart
  (chaotic, ``chi_1 > 1``), together (ordered, ``chi_1 < 1``) or keep their distance (critical,
  ``chi_1 = 1``). The same factor multiplies the mean squared gradient per layer backwards
  (assuming the backward weights independent of the forward ones, Schoenholz et al. 2017, sec. 4),
  so ``chi_1`` also says whether gradients vanish or explode.

Every expectation is a Gauss-Hermite quadrature (:func:`numpy.polynomial.hermite_e.hermegauss`,
probabilists' weight ``exp(-z^2/2)``), the 2-D product rule for the correlation map. For the
activations whose derivative jumps at 0 (ReLU, leaky ReLU, ELU, SELU) Gauss-Hermite converges
slowly, so there the integral is split at the kink and each side done by Gauss-Legendre. Activations are the rows of :mod:`course_utils.activations`.
Nothing here imports TensorFlow or PyTorch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.polynomial.hermite_e import hermegauss
from numpy.polynomial.legendre import leggauss
from scipy import optimize

from ._validation import check_number
from .activations import get as _activation

__all__ = [
    "expect_gauss",
    "length_map",
    "q_star",
    "chi_1",
    "correlation_map",
    "c_star",
    "depth_scales",
    "DepthScales",
    "critical_sigma_w2",
    "phase_diagram",
    "predict",
    "simulate",
    "input_output_jacobian",
]

# 1-D rule: 200 nodes (even: no node at z = 0); exact for polynomials to degree 399.
_NODES, _WEIGHTS = hermegauss(200)
_WEIGHTS = _WEIGHTS / math.sqrt(2.0 * math.pi)  # the probabilists' weights sum to sqrt(2 pi)
# 2-D product rule for the correlation map of smooth activations: 80 x 80 nodes.
_N2, _W2 = hermegauss(80)
_W2 = _W2 / math.sqrt(2.0 * math.pi)
_Z1, _Z2 = (a.ravel() for a in np.meshgrid(_N2, _N2, indexing="ij"))
_W12 = np.outer(_W2, _W2).ravel()

# Every activation's integrals are split at 0 and each side done by 96-node Gauss-Legendre on [-12, 0] and
# [0, 12] (the Gaussian mass beyond 12 is 2e-33), whose nodes cluster at 0. Gauss-Hermite converges slowly
# across a kink (200 nodes leave an error of 5e-3 in SELU's chi_1), and a smooth activation at large q has
# the same problem in another form: its slope is a narrow peak at 0 that Gauss-Hermite's nodes (0.16 apart
# there) miss -- tanh at sigma_w^2 = 23.04 (q* = 18.9) gave chi_1 = 2.745 where adaptive quadrature gives
# 2.7954. One rule for every q keeps the maps continuous, which the root finders need (tests/test_meanfield.py
# checks both cases).
_KINKED = frozenset({"linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu"})
_LEG_X, _LEG_W = leggauss(96)
_CUT = 12.0


def _split_rule(kink) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of E[g(z)], z ~ N(0, 1), for g smooth on either side of ``kink`` (an array: one rule each)."""
    k = np.clip(np.asarray(kink, dtype=np.float64), -_CUT, _CUT)[..., None]
    nodes, weights = [], []
    for lo, hi in ((np.full_like(k, -_CUT), k), (k, np.full_like(k, _CUT))):
        z = lo + (hi - lo) * (_LEG_X + 1.0) / 2.0
        nodes.append(z)
        weights.append(_LEG_W * (hi - lo) / 2.0 * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi))
    return np.concatenate(nodes, axis=-1), np.concatenate(weights, axis=-1)


_SPLIT_NODES, _SPLIT_WEIGHTS = _split_rule(0.0)

# q* is searched on this log grid of variances; outside it the fixed point is reported as 0 or inf.
_Q_MIN, _Q_MAX = 1e-12, 1e8
_Q_GRID = np.logspace(math.log10(_Q_MIN), math.log10(_Q_MAX), 401)


def _phi(activation: str, derivative: bool = False):
    row = _activation(activation)
    return row.df if derivative else row.f


def _variances(name: str, value) -> np.ndarray:
    q = np.asarray(value, dtype=np.float64)
    if q.size == 0 or not np.all(np.isfinite(q)) or np.any(q < 0):
        raise ValueError(f"{name} must be a finite variance >= 0 (or an array of them); got {value!r:.60}.")
    return q


def _params(sigma_w2: float, sigma_b2: float) -> tuple[float, float]:
    sigma_w2 = check_number("sigma_w2", sigma_w2, low=0.0, low_inclusive=False)
    sigma_b2 = check_number("sigma_b2", sigma_b2, low=0.0)
    if not (math.isfinite(sigma_w2) and math.isfinite(sigma_b2)):
        raise ValueError(f"sigma_w2 and sigma_b2 must be finite; got {sigma_w2}, {sigma_b2}.")
    return sigma_w2, sigma_b2


def expect_gauss(fn, q=1.0, kinked: bool = False):
    """``E[fn(sqrt(q) z)]``, ``z ~ N(0, 1)`` (``q`` may be an array).

    200-node Gauss-Hermite quadrature; with ``kinked=True`` (``fn`` jumps or bends at 0, or is a narrow peak
    there, as a smooth activation's slope at large ``q``; the course's maps always pass it) the line is split
    at 0 and each half integrated by Gauss-Legendre instead.
    """
    q = _variances("q", q)

    def rule(nodes, weights):
        with np.errstate(over="ignore", invalid="ignore"):
            return fn(np.sqrt(q)[..., None] * nodes) @ weights

    values = rule(_SPLIT_NODES, _SPLIT_WEIGHTS) if kinked else rule(_NODES, _WEIGHTS)
    return float(values) if np.ndim(values) == 0 else values


def _expect(activation: str, fn, q):
    return expect_gauss(fn, q, kinked=activation in _KINKED)


def length_map(activation: str, sigma_w2: float, sigma_b2: float, q):
    """The variance of the next layer's pre-activations: ``q' = sigma_w^2 E[phi(sqrt(q) z)^2] + sigma_b^2``.

    ``q`` is the variance of this layer's pre-activations (a number or an array). Poole et al. 2016, eq. 3.
    For ReLU ``q' = sigma_w^2 q / 2 + sigma_b^2``; for tanh at small ``q``, ``q' ~ sigma_w^2 q + sigma_b^2``.
    """
    sigma_w2, sigma_b2 = _params(sigma_w2, sigma_b2)
    f = _phi(activation)
    return sigma_w2 * _expect(activation, lambda u: f(u) ** 2, q) + sigma_b2


def q_star(activation: str, sigma_w2: float, sigma_b2: float, q0: float = 1.0) -> float:
    """The fixed point ``q*`` of the length map that a network fed inputs of variance ``q0`` converges to.

    The length map is followed from ``q0`` to the first fixed point in that direction (found on a
    log grid of variances and refined with Brent's method). Returns ``0.0`` when the variance dies
    out (e.g. tanh with ``sigma_b = 0`` and ``sigma_w^2 <= 1``), ``inf`` when it grows without bound
    (ReLU with ``sigma_w^2 > 2``), and ``q0`` itself when ``q0`` is already a fixed point (ReLU at
    ``sigma_w^2 = 2, sigma_b = 0``, where every variance is one).
    """
    sigma_w2, sigma_b2 = _params(sigma_w2, sigma_b2)
    q0 = check_number("q0", q0, low=_Q_MIN, high=_Q_MAX)
    return _q_star(activation, float(sigma_w2), float(sigma_b2), float(q0))


# q* and c* are pure functions of a few floats that a notebook asks for again and again (phase_diagram
# needs each point's q* four times and c* twice): remembered per process, the same floats every time.
@functools.lru_cache(maxsize=4096)
def _q_star(activation: str, sigma_w2: float, sigma_b2: float, q0: float) -> float:
    def gap(q):
        return length_map(activation, sigma_w2, sigma_b2, q) - q

    g0 = gap(q0)
    if abs(g0) <= 1e-10 * q0:
        return float(q0)
    gaps = gap(_Q_GRID)
    if g0 < 0:  # the variance shrinks: the largest fixed point below q0
        below = np.flatnonzero((_Q_GRID < q0) & (gaps >= 0))
        if below.size == 0:
            return 0.0
        lo = _Q_GRID[below[-1]]
        hi = min(_Q_GRID[below[-1] + 1], q0)
    else:  # the variance grows: the smallest fixed point above q0
        above = np.flatnonzero((_Q_GRID > q0) & (gaps <= 0))
        if above.size == 0:
            return math.inf
        lo = max(_Q_GRID[above[0] - 1], q0)
        hi = _Q_GRID[above[0]]
    if gap(lo) == 0:
        return float(lo)
    if gap(hi) == 0:
        return float(hi)
    return float(optimize.brentq(gap, lo, hi, xtol=1e-15, rtol=1e-13, maxiter=200))


def chi_1(activation: str, sigma_w2: float, sigma_b2: float, q: float | None = None) -> float:
    """``chi_1 = sigma_w^2 E[phi'(sqrt(q) z)^2]`` at ``q = q*`` (or at the ``q`` given).

    The slope of the correlation map at ``c = 1`` and the factor by which the mean squared
    gradient grows per layer backwards (Poole et al. 2016; Schoenholz et al. 2017, eq. 5):
    ``< 1`` ordered (gradients vanish), ``> 1`` chaotic (gradients explode), ``= 1`` critical.
    ReLU: ``sigma_w^2 / 2`` at every ``q``, so He's ``sigma_w^2 = 2`` is critical.
    """
    sigma_w2, sigma_b2 = _params(sigma_w2, sigma_b2)
    if q is None:
        q = q_star(activation, sigma_w2, sigma_b2)
    if q == math.inf:  # only homogeneous activations reach q* = inf at finite chi; use a large q
        q = _Q_MAX
    q = float(_variances("q", q))
    df = _phi(activation, derivative=True)
    return sigma_w2 * _expect(activation, lambda u: df(u) ** 2, q)


def _pair_expectation(activation: str, fn_a, fn_b, q: float, c: np.ndarray) -> np.ndarray:
    """``E[fn_a(u_1) fn_b(u_2)]`` for ``(u_1, u_2)`` Gaussian with variances ``q`` and correlation ``c``.

    ``u_1 = sqrt(q) z_1``, ``u_2 = sqrt(q) (c z_1 + sqrt(1 - c^2) z_2)``. Smooth activations: the 80 x 80
    Gauss-Hermite product rule. Kinked ones: the outer integral over ``z_1`` split at 0, the inner one over
    ``z_2`` split where ``u_2 = 0``, i.e. at ``z_2 = -c z_1 / sqrt(1 - c^2)``.
    """
    s = math.sqrt(q)
    c = np.asarray(c, dtype=np.float64)[..., None]
    r = np.sqrt(np.clip(1.0 - c**2, 0.0, None))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if activation not in _KINKED:
            return (fn_a(s * _Z1) * fn_b(s * (c * _Z1 + r * _Z2))) @ _W12
        z1, w1 = _SPLIT_NODES, _SPLIT_WEIGHTS  # (m,)
        kink = np.where(r > 0, -c * z1 / np.where(r > 0, r, 1.0), 0.0)  # (..., m)
        z2, w2 = _split_rule(kink)  # (..., m, k)
        inner = np.sum(w2 * fn_b(s * (c[..., None] * z1[:, None] + r[..., None] * z2)), axis=-1)
        return (fn_a(s * z1) * inner) @ w1


def correlation_map(activation: str, sigma_w2: float, sigma_b2: float, c, q: float | None = None):
    """The correlation of two inputs' pre-activations one layer up, from their correlation ``c`` now.

    ``c' = (sigma_w^2 E[phi(u_1) phi(u_2)] + sigma_b^2) / q'`` with ``u_1, u_2`` Gaussian, both of variance
    ``q`` (default ``q*``), correlation ``c``, and ``q'`` the length map of ``q`` (Poole et al. 2016, eq. 5).
    ``c`` may be an array with values in [-1, 1].
    """
    sigma_w2, sigma_b2 = _params(sigma_w2, sigma_b2)
    c_arr = np.asarray(c, dtype=np.float64)
    if c_arr.size == 0 or not np.all(np.isfinite(c_arr)) or np.any(np.abs(c_arr) > 1.0):
        raise ValueError(f"c is a correlation: it must lie in [-1, 1]; got {c!r:.60}.")
    if q is None:
        q = q_star(activation, sigma_w2, sigma_b2)
    q = float(_variances("q", q))
    if q == 0.0 or math.isinf(q):
        raise ValueError(f"the correlation map needs a finite q > 0; q = {q} here (q* of {activation} at "
                         f"sigma_w2={sigma_w2:g}, sigma_b2={sigma_b2:g}). Pass q= explicitly.")
    f = _phi(activation)
    q_next = length_map(activation, sigma_w2, sigma_b2, q)
    result = (sigma_w2 * _pair_expectation(activation, f, f, q, c_arr) + sigma_b2) / q_next
    return float(result) if result.ndim == 0 else result


def c_star(activation: str, sigma_w2: float, sigma_b2: float) -> float:
    """The stable fixed point of the correlation map at ``q*``: 1 in the ordered phase, below 1 in the chaotic one."""
    sigma_w2, sigma_b2 = _params(sigma_w2, sigma_b2)
    return _c_star(activation, float(sigma_w2), float(sigma_b2))


# c* is looked for on this grid of correlations, from the top: 400 steps over [-1, 1) and 24 towards 1.
_C_GRID = np.concatenate([np.linspace(-1.0 + 1e-6, 1.0 - 1e-3, 400), 1.0 - np.logspace(-3.25, -9, 24)])
_C_CHUNK = 48


@functools.lru_cache(maxsize=4096)
def _c_star(activation: str, sigma_w2: float, sigma_b2: float) -> float:
    q = q_star(activation, sigma_w2, sigma_b2)
    if chi_1(activation, sigma_w2, sigma_b2, q) <= 1.0 or q == 0.0 or math.isinf(q):
        return 1.0

    def gap(c):
        return correlation_map(activation, sigma_w2, sigma_b2, c, q) - c

    # The largest stable root: where c' - c changes sign from + to - as c grows towards 1. The grid's gaps
    # are computed from the top down, a chunk at a time, as far as the scan needs them: each correlation
    # map costs a 192 x 192 quadrature per grid point, and c* is usually well above -1.
    grid = _C_GRID
    gaps = np.full(len(grid), np.nan)

    def fill(i: int) -> None:
        if np.isnan(gaps[i]):
            lo = max(0, i - _C_CHUNK + 1)
            part = gap(grid[lo:i + 1])
            part[np.abs(part) < 1e-13] = 0.0
            gaps[lo:i + 1] = part

    fill(len(grid) - 1)
    for i in range(len(grid) - 2, -1, -1):
        fill(i)
        if gaps[i] > 0 and gaps[i + 1] <= 0:
            if gaps[i + 1] == 0:
                return float(grid[i + 1])
            return float(optimize.brentq(gap, grid[i], grid[i + 1], xtol=1e-14))
        if gaps[i] == 0 and gaps[i + 1] < 0:
            return float(grid[i])
    return 1.0


class DepthScales(NamedTuple):
    """How many layers the length (``xi_q``) and the correlation (``xi_c``) of inputs survive."""

    xi_q: float
    xi_c: float


def _inverse_log_scale(slope: float) -> float:
    if not math.isfinite(slope) or slope <= 0:
        return math.nan
    if abs(math.log(slope)) < 1e-12:
        return math.inf
    return -1.0 / math.log(slope)


def depth_scales(activation: str, sigma_w2: float, sigma_b2: float) -> DepthScales:
    """The depth scales of Schoenholz et al. 2017 (eq. 7 and 9): deviations decay like ``exp(-l / xi)``.

    ``xi_q = -1 / ln chi_q`` with ``chi_q = dq'/dq`` at ``q*``, the slope of the length map, computed as
    ``sigma_w^2 E[phi(sqrt(q) z)^2 (z^2 - 1)] / (2 q)`` (Gaussian integration by parts; equal to the paper's
    ``chi_1 + sigma_w^2 E[phi'' phi]`` without needing ``phi''``). ``xi_c = -1 / ln chi_c`` with
    ``chi_c = sigma_w^2 E[phi'(u_1) phi'(u_2)]`` at the stable ``c*`` (``= chi_1`` in the ordered phase).
    ``xi_c`` is infinite at criticality: that is the depth to which a network can be trained.
    A negative result would mean a growing deviation; a fixed point that is not stable gives ``nan``.
    """
    sigma_w2, sigma_b2 = _params(sigma_w2, sigma_b2)
    q = q_star(activation, sigma_w2, sigma_b2)
    if math.isinf(q):
        return DepthScales(math.nan, math.nan)
    f, df = _phi(activation), _phi(activation, derivative=True)
    qq = max(q, _Q_MIN)
    chi_q = sigma_w2 * _expect(activation, lambda u: f(u) ** 2 * ((u * u) / qq - 1.0), qq) / (2.0 * qq)
    c = c_star(activation, sigma_w2, sigma_b2)
    if c >= 1.0 or q == 0.0:
        chi_c = chi_1(activation, sigma_w2, sigma_b2, q)
    else:
        chi_c = sigma_w2 * float(_pair_expectation(activation, df, df, q, np.asarray(c)))
    return DepthScales(_inverse_log_scale(chi_q), _inverse_log_scale(chi_c))


def critical_sigma_w2(activation: str, sigma_b2: float, bracket: tuple[float, float] = (0.05, 50.0)) -> float:
    """The weight variance ``sigma_w^2`` at which ``chi_1 = 1`` for bias variance ``sigma_b2``: the edge of chaos.

    tanh: 1 at ``sigma_b2 = 0``, rising with the bias variance (about 1.76 at ``sigma_b2 = 0.05``).
    ReLU: 2 at every ``sigma_b2`` (``chi_1 = sigma_w^2 / 2`` whatever ``q``), but only at ``sigma_b2 = 0``
    is ``q*`` finite there. Raises ``ValueError`` when ``chi_1`` does not cross 1 inside ``bracket``.
    """
    sigma_b2 = check_number("sigma_b2", sigma_b2, low=0.0)

    def gap(log_sw2):
        return chi_1(activation, math.exp(log_sw2), sigma_b2) - 1.0

    lo, hi = (math.log(b) for b in bracket)
    if gap(lo) * gap(hi) > 0:
        raise ValueError(f"chi_1 of {activation} does not cross 1 for sigma_w2 in {bracket}; widen the bracket.")
    return float(math.exp(optimize.brentq(gap, lo, hi, xtol=1e-12)))


def _phase(chi: float) -> str:
    if abs(chi - 1.0) <= 1e-9:
        return "critical"
    return "ordered" if chi < 1.0 else "chaotic"


def phase_diagram(activation: str, sigma_w2_grid: Iterable[float], sigma_b2_grid: Iterable[float]) -> pd.DataFrame:
    """``q*``, ``chi_1``, ``c*`` and the depth scales on a grid of ``(sigma_w^2, sigma_b^2)``, one row per point.

    Columns: ``sigma_w2``, ``sigma_b2``, ``q_star``, ``chi_1``, ``c_star``, ``xi_q``, ``xi_c``,
    ``phase`` (``"ordered"`` where ``chi_1 < 1``, ``"chaotic"`` where ``chi_1 > 1``, ``"critical"`` within
    1e-9 of 1). Poole et al. 2016, fig. 2;
    Schoenholz et al. 2017, fig. 1.
    """
    _activation(activation)
    rows = []
    for sw2 in np.atleast_1d(np.asarray(list(sigma_w2_grid), dtype=np.float64)):
        for sb2 in np.atleast_1d(np.asarray(list(sigma_b2_grid), dtype=np.float64)):
            q = q_star(activation, sw2, sb2)
            chi = chi_1(activation, sw2, sb2, q)
            xi_q, xi_c = depth_scales(activation, sw2, sb2)
            rows.append({"sigma_w2": float(sw2), "sigma_b2": float(sb2), "q_star": q, "chi_1": chi,
                         "c_star": c_star(activation, sw2, sb2), "xi_q": xi_q, "xi_c": xi_c,
                         "phase": _phase(chi)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ the maps against a finite network


def predict(activation: str, sigma_w2: float, sigma_b2: float, depth: int, q_in: float = 1.0,
            c_in: float = 0.5) -> pd.DataFrame:
    """What the mean-field maps predict, layer by layer, for :func:`simulate`'s network.

    ``q`` and ``c``: the pre-activations' second moment and the correlation of two inputs, from
    ``q_1 = sigma_w^2 q_in + sigma_b^2``, ``c_1 = (sigma_w^2 q_in c_in + sigma_b^2) / q_1`` (the input is not
    passed through ``phi``) and the length and correlation maps above. ``grad2``: ``E[(dL/dz_l)^2]`` for a
    unit-variance gradient injected at the top, ``E[(dL/dz_L)^2] = E[phi'(z_L)^2]`` and
    ``E[(dL/dz_{l-1})^2] = chi(q_{l-1}) E[(dL/dz_l)^2]``, ``chi(q) = sigma_w^2 E[phi'(sqrt(q) z)^2]``
    (the gradient-independence assumption).
    """
    sigma_w2, sigma_b2 = _params(sigma_w2, sigma_b2)
    q = sigma_w2 * q_in + sigma_b2
    c = (sigma_w2 * q_in * c_in + sigma_b2) / q
    qs, cs = [q], [c]
    for _ in range(depth - 1):
        c = correlation_map(activation, sigma_w2, sigma_b2, min(max(c, -1.0), 1.0), q=q)
        q = length_map(activation, sigma_w2, sigma_b2, q)
        qs.append(q)
        cs.append(c)
    df = _phi(activation, derivative=True)
    slopes = [_expect(activation, lambda u: df(u) ** 2, qq) for qq in qs]
    grad2 = [slopes[-1]]
    for layer in range(depth - 1, 0, -1):
        grad2.append(grad2[-1] * sigma_w2 * slopes[layer - 1])
    return pd.DataFrame({"depth": np.arange(1, depth + 1), "q": qs, "c": cs, "grad2": grad2[::-1],
                         "framework": "theory"})


def simulate(activation: str, sigma_w2: float, sigma_b2: float, depth: int, width: int = 256,
             n_pairs: int = 64, q_in: float = 1.0, c_in: float = 0.5, seed: int = 0,
             framework: str = "numpy") -> pd.DataFrame:
    """Measure :func:`predict`'s columns on one random network of finite ``width``: NumPy, Keras or PyTorch.

    ``depth`` dense layers ``z_l = h_{l-1} W_l + b_l``, ``h_l = phi(z_l)``, ``h_0 = x``, with
    ``W ~ N(0, sigma_w^2 / width)`` and ``b ~ N(0, sigma_b^2)`` (Keras ``Dense`` and PyTorch ``Linear`` layers
    initialized so, and their autograd, for ``framework="keras"``/``"torch"``). ``n_pairs`` pairs of inputs of
    second moment ``q_in`` and correlation ``c_in``; a gradient ``dL/dh_L ~ N(0, 1)`` is injected at the top.
    Returns per layer ``q`` (mean of ``z^2``), ``c`` (mean over pairs of the cosine of their pre-activations),
    ``grad2`` (mean of ``(dL/dz)^2``).
    """
    from . import frameworks as _fw
    from ._validation import check_int

    sigma_w2, sigma_b2 = _params(sigma_w2, sigma_b2)
    depth, width, n_pairs = (check_int(n, v, low=1) for n, v in (("depth", depth), ("width", width),
                                                                   ("n_pairs", n_pairs)))
    framework = framework if framework == "numpy" else _fw.check_framework(framework)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n_pairs, width))
    b = c_in * a + math.sqrt(max(1.0 - c_in * c_in, 0.0)) * rng.standard_normal((n_pairs, width))
    x = (math.sqrt(q_in) * np.concatenate([a, b])).astype(np.float32)
    g_top = rng.standard_normal(x.shape).astype(np.float32)
    sw, sb = math.sqrt(sigma_w2 / width), math.sqrt(sigma_b2)
    if framework == "numpy":
        f, df = _phi(activation), _phi(activation, derivative=True)
        ws = [rng.normal(0.0, sw, (width, width)) for _ in range(depth)]
        bs = [rng.normal(0.0, sb, width) if sb > 0 else np.zeros(width) for _ in range(depth)]
        h, zs = x.astype(np.float64), []
        for w, bias in zip(ws, bs, strict=True):
            zs.append(h @ w + bias)
            h = f(zs[-1])
        delta, g_z = g_top * df(zs[-1]), []
        for i in range(depth - 1, -1, -1):
            g_z.append(delta)
            if i:
                delta = (delta @ ws[i].T) * df(zs[i - 1])
        g_z = g_z[::-1]
    elif framework == "torch":
        torch = _fw.torch()
        act = _activation(activation).torch_op(torch.nn.functional)
        gen = torch.Generator().manual_seed(seed)
        lins = []
        for _ in range(depth):
            lin = torch.nn.Linear(width, width)
            with torch.no_grad():
                torch.nn.init.normal_(lin.weight, 0.0, sw, generator=gen)
                torch.nn.init.normal_(lin.bias, 0.0, sb, generator=gen) if sb > 0 else lin.bias.zero_()
            lins.append(lin)
        h, zt = torch.as_tensor(x), []
        for lin in lins:
            z = lin(h)
            z.retain_grad()
            zt.append(z)
            h = act(z)
        (h * torch.as_tensor(g_top)).sum().backward()
        zs = [z.detach().numpy().astype(np.float64) for z in zt]
        g_z = [z.grad.numpy().astype(np.float64) for z in zt]
    else:
        keras = _fw.keras()
        import tensorflow as tf  # the tape is TensorFlow's (Keras 3 on the TensorFlow backend)

        act = _activation(activation).keras_op(keras.activations)
        dense = []
        for i in range(depth):
            s = (seed * 1_000_003 + i) % 2**31  # Keras's int-seeded draws repeat: one seed per layer
            layer = keras.layers.Dense(width, kernel_initializer=keras.initializers.RandomNormal(0.0, sw, seed=s),
                                       bias_initializer=(keras.initializers.RandomNormal(0.0, sb, seed=s + 1)
                                                         if sb > 0 else "zeros"))
            layer.build((None, width))
            dense.append(layer)
        with tf.GradientTape() as tape:
            h, zt = tf.convert_to_tensor(x), []
            for layer in dense:
                z = layer(h)
                tape.watch(z)
                zt.append(z)
                h = act(z)
            objective = tf.reduce_sum(h * g_top)
        grads = tape.gradient(objective, zt)
        zs = [np.asarray(z, dtype=np.float64) for z in zt]
        g_z = [np.asarray(g, dtype=np.float64) for g in grads]
    rows = []
    for d, (z, g) in enumerate(zip(zs, g_z, strict=True), start=1):
        za, zb = z[:n_pairs], z[n_pairs:]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            cos = np.sum(za * zb, axis=1) / np.sqrt(np.sum(za**2, axis=1) * np.sum(zb**2, axis=1))
        rows.append({"depth": d, "q": float(np.mean(z**2)), "c": float(np.mean(cos)), "grad2": float(np.mean(g**2))})
    return pd.DataFrame(rows).assign(framework=framework, width=width, seed=seed)


def input_output_jacobian(model, x) -> np.ndarray:
    """The Jacobian ``d model(x) / dx`` of a Keras or PyTorch model at one input vector ``x``: ``(n_out, n_in)``.

    Computed by the framework's own autograd (``torch.autograd.functional.jacobian``; TensorFlow's
    ``GradientTape.batch_jacobian``). Its singular values are what dynamical isometry is about
    (Pennington et al. 2017): all near 1, and no direction of the input is lost or blown up.
    """
    from . import frameworks as _fw

    x = np.asarray(x, dtype=np.float32).reshape(-1)
    if _fw.framework_of(model) == "torch":
        torch = _fw.torch()
        with _fw.eval_mode(model):
            jac = torch.autograd.functional.jacobian(lambda v: model(v[None])[0], torch.as_tensor(x))
        return jac.detach().numpy().astype(np.float64)
    import tensorflow as tf  # Keras 3 on the TensorFlow backend: the tape is TensorFlow's

    xt = tf.convert_to_tensor(x[None])
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = model(xt, training=False)
    return np.asarray(tape.batch_jacobian(out, xt)[0], dtype=np.float64)
