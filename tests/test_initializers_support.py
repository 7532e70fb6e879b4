"""Statistical checks shared by the initializer tests (no tests here).

How the tolerances are derived (none is guessed):

* **Mean.** For ``n`` iid draws with std ``s`` the sample mean has standard
  error ``s / sqrt(n)``; we accept ``|mean - mu| <= Z * s / sqrt(n)``.
* **Variance.** The sample variance of ``n`` iid draws has standard error
  ``sigma^2 * sqrt((kappa - 1) / n)`` (``kappa`` = the distribution's kurtosis:
  3 normal, 9/5 uniform, 2.3655 normal truncated at +-2, ``3/p`` for a normal with a
  fraction ``1-p`` of zeros); by the CLT we accept
  ``|var / sigma^2 - 1| <= Z * sqrt((kappa - 1) / n)``.
* **Two-sample KS.** ``scipy.stats.ks_2samp`` p-value above ``ALPHA``.

``Z = 5`` is a two-sided false-alarm probability of 5.7e-7 per check and
``ALPHA = 1e-4`` per KS test, so the few hundred checks of the suite fail by
chance less than once in ten thousand runs (and hypothesis runs derandomized,
so a given commit either passes or fails, every time).
Draws are pooled over several seeds until at least ``N_MIN`` values are available.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from course_utils import initializers as I
from course_utils.initializers import (
    Constant,
    DeltaOrthogonal,
    Identity,
    KerasDefaultRecurrent,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    Sparse,
    SparseTorch,
    TorchDefaultRecurrent,
    TruncatedNormal,
    VarianceScaling,
)

Z = 5.0
ALPHA = 1e-4
N_MIN = 4000
KURTOSIS_NORMAL = 3.0
KURTOSIS_UNIFORM = 9.0 / 5.0
KURTOSIS_TRUNCATED = 3.0 + float(stats.truncnorm(-2, 2).stats(moments="k"))  # 2.3655: lighter tails
# float32 rounding slack for exact comparisons (bounds, structure)
EPS32 = 1e-6


def reps_for(shape: tuple[int, ...], n_min: int = N_MIN, cap: int = 400) -> int:
    return max(1, min(cap, math.ceil(n_min / math.prod(shape))))


def kind_of(init, shape, layout) -> tuple[str, float, float]:
    """(kind, kurtosis, bound) for the moment checks; kind in exact | orthogonal | sparse | sparse_torch | random."""
    if isinstance(init, (Constant, Identity)):
        return "exact", math.nan, math.nan
    if isinstance(init, KerasDefaultRecurrent):
        if init.part == "bias":
            return "exact", math.nan, math.nan
        if init.part == "recurrent_kernel":
            return "orthogonal", math.nan, math.nan
        return "random", KURTOSIS_UNIFORM, init._inner.bound(shape, layout)
    if isinstance(init, Orthogonal):
        return "orthogonal", math.nan, math.nan
    if isinstance(init, DeltaOrthogonal):
        return "delta_orthogonal", math.nan, math.nan
    if isinstance(init, Sparse):
        return "sparse", KURTOSIS_NORMAL / (init.k / I.compute_fans(shape, layout)[0]), math.inf
    if isinstance(init, SparseTorch):
        n_out = shape[1] if layout == "keras" else shape[0]
        p = 1.0 - init.n_zeros(n_out) / n_out
        return "sparse_torch", (KURTOSIS_NORMAL / p if p > 0 else math.inf), math.inf  # p = 0: all zeros
    if isinstance(init, VarianceScaling):
        kurt = {"normal": KURTOSIS_NORMAL, "uniform": KURTOSIS_UNIFORM,
                "truncated_normal": KURTOSIS_TRUNCATED}[init.distribution]
        return "random", kurt, init.bound(shape, layout)
    if isinstance(init, RandomNormal):
        return "random", KURTOSIS_NORMAL, math.inf
    if isinstance(init, TruncatedNormal):
        return "random", KURTOSIS_TRUNCATED, 2.0 * init.std
    if isinstance(init, (RandomUniform, TorchDefaultRecurrent)):
        mean = init.expected_mean(shape, layout)
        half = math.sqrt(3.0) * init.expected_std(shape, layout)  # U(m-h, m+h) has std h / sqrt(3)
        return "random", KURTOSIS_UNIFORM, (mean, half)
    raise AssertionError(f"no statistical model for {init!r}")


def assert_moments(x: np.ndarray, mean: float, std: float, kurtosis: float, what: str) -> None:
    x = np.asarray(x, dtype=np.float64).ravel()
    n = x.size
    tol_mean = Z * std / math.sqrt(n)
    assert abs(x.mean() - mean) <= tol_mean + 1e-12, (
        f"{what}: mean {x.mean():.6g} vs {mean:.6g} (tolerance {tol_mean:.3g} = {Z} std/sqrt({n}))")
    if std == 0:
        assert np.all(x == np.float32(mean)), what
        return
    ratio = np.mean((x - mean) ** 2) / std**2
    tol_var = Z * math.sqrt((kurtosis - 1.0) / n)
    assert abs(ratio - 1.0) <= tol_var, (
        f"{what}: var/expected = {ratio:.5f}, tolerance {tol_var:.3g} = {Z} sqrt((kurtosis-1)/n), n={n}")


def unit_matrix(w: np.ndarray, layout: str) -> np.ndarray:
    """(fan_in, n_out): column j = unit j's incoming weights."""
    return w.reshape(-1, w.shape[-1]) if layout == "keras" else w.reshape(w.shape[0], -1).T


def check_draws(init, shape: tuple[int, ...], layout: str, draws: list[np.ndarray], what: str = "") -> None:
    """Every property the issue asks of one scheme, on a list of independent draws of ``shape``."""
    what = f"{init.name}{tuple(shape)} {layout} {what}".strip()
    for w in draws:
        assert w.shape == tuple(shape), (what, w.shape)
        assert np.all(np.isfinite(w)), what
    kind, kurt, bound = kind_of(init, shape, layout)
    mean = init.expected_mean(shape, layout)
    std = init.expected_std(shape, layout)
    if kind == "exact":
        reference = init.sample(shape, seed=0, layout=layout)
        for w in draws:
            np.testing.assert_array_equal(w, reference, err_msg=what)
        assert math.isclose(float(np.std(reference, dtype=np.float64)), std, rel_tol=1e-6, abs_tol=1e-12), what
        assert math.isclose(float(np.mean(reference, dtype=np.float64)), mean, rel_tol=1e-6, abs_tol=1e-12), what
        return
    if kind == "delta_orthogonal":
        idx = DeltaOrthogonal.centre(shape, layout)
        full = (*idx, slice(None), slice(None)) if layout == "keras" else (slice(None), slice(None), *idx)
        for w in draws:
            m = w[full].astype(np.float64)
            rest = w.astype(np.float64).copy()
            rest[full] = 0.0
            assert not rest.any(), f"{what}: non-zero weights off the centre tap"
            gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
            np.testing.assert_allclose(gram, init.gain**2 * np.eye(min(m.shape)), atol=1e-5 * max(1.0, init.gain**2),
                                       err_msg=f"{what}: the centre tap is not gain * (semi-)orthogonal")
            assert math.isclose(math.sqrt(np.mean(w.astype(np.float64) ** 2)), std, rel_tol=1e-5), what
        return
    if kind == "orthogonal":
        gain = init.gain if isinstance(init, Orthogonal) else 1.0
        r, c = Orthogonal.matrix_shape(shape, layout)
        for w in draws:
            m = w.reshape(r, c).astype(np.float64)
            gram = m @ m.T if r <= c else m.T @ m
            np.testing.assert_allclose(gram, gain**2 * np.eye(min(r, c)), atol=1e-5 * max(1.0, gain**2),
                                       err_msg=f"{what}: W W^T or W^T W != gain^2 I")
            # the sum of squares is exactly min(r, c) gain^2, so the rms is exactly expected_std
            assert math.isclose(math.sqrt(np.mean(m**2)), std, rel_tol=1e-5), what
        return
    if kind == "sparse":
        fan_in = I.compute_fans(shape, layout)[0]
        for w in draws:
            counts = (unit_matrix(w, layout) != 0).sum(axis=0)
            assert np.all(counts == init.k), f"{what}: non-zeros per unit {set(counts.tolist())}, expected {init.k}"
        assert init.k <= fan_in
    if kind == "sparse_torch":
        n_out = shape[1] if layout == "keras" else shape[0]
        for w in draws:
            zeros_per_input = (w == 0).sum(axis=1 if layout == "keras" else 0)
            assert np.all(zeros_per_input == init.n_zeros(n_out)), (
                f"{what}: zeros per input {set(zeros_per_input.tolist())}, expected ceil(s*out)={init.n_zeros(n_out)}")
    x = np.stack(draws).astype(np.float64)
    if isinstance(bound, tuple):
        lo, hi = bound[0] - bound[1], bound[0] + bound[1]
        assert x.min() >= lo - EPS32 * abs(lo) - 1e-12 and x.max() <= hi + EPS32 * abs(hi) + 1e-12, (
            f"{what}: outside [{lo:.6g}, {hi:.6g}]")
    elif math.isfinite(bound):
        # uniform limit, or 2x the untruncated scale of a truncated normal
        assert np.abs(x - mean).max() <= bound * (1 + EPS32), f"{what}: |W| {np.abs(x).max():.6g} > bound {bound:.6g}"
    assert_moments(x, mean, std, kurt, what)


def ks_same(a: np.ndarray, b: np.ndarray, what: str) -> float:
    """Two-sample KS: assert the two samples come from one distribution; returns the p-value."""
    res = stats.ks_2samp(np.ravel(a), np.ravel(b))
    assert res.pvalue > ALPHA, f"{what}: KS D={res.statistic:.4f}, p={res.pvalue:.2e} <= {ALPHA}"
    return float(res.pvalue)


def test_variance_formulas_evaluate_to_the_variance():
    """Every variance-scaling formula string, read as arithmetic, is the variance the scheme draws.

    Glorot is ``2/(fan_in+fan_out)`` (the paper's eq. 12), not ``1/(fan_in+fan_out)/2``.
    """
    from course_utils import initializers as inits
    from course_utils.initializers import VarianceScaling

    def value(text):
        return eval(text.replace("fan_in", "784").replace("fan_out", "256").replace(" ", "*"))  # noqa: S307

    rows = inits.table().set_index("scheme")
    assert rows.loc["glorot_normal", "variance"] == "2/(fan_in+fan_out)"
    assert "sqrt(6/(fan_in+fan_out))" in rows.loc["glorot_uniform", "formula"]
    for scheme, row in rows.iterrows():
        init = inits.get(scheme)
        if isinstance(init, VarianceScaling) and scheme in inits.REGISTRY:
            assert math.isclose(value(row["variance"]), init.variance((784, 256)), rel_tol=1e-12), scheme
    for scale in (1.0, 2.0, 1 / 3, 0.7):
        for mode in ("fan_in", "fan_out", "fan_avg"):
            want = VarianceScaling(scale=scale, mode=mode).variance((784, 256))
            assert math.isclose(value(inits.variance_formula(scale, mode)), want, rel_tol=1e-12)
