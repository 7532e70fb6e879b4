"""course_utils.initializers, NumPy reference: fans, statistics of every scheme over many shapes, errors.

No framework is imported here (the Keras and PyTorch adapters are tested in
test_initializers_frameworks.py). Tolerances: see test_initializers_support.py.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_initializers_support import EPS32, check_draws, reps_for

from course_utils import initializers as I

REPO = Path(__file__).resolve().parent.parent

# derandomize: the same examples on every run (a commit passes or fails, always); database=None: no .hypothesis/
FAST = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

# (registry name, params): every scheme with its defaults, plus non-default parameters worth a check.
SCHEMES = [(n, {}) for n in I.names()] + [
    ("constant", {"value": -0.3}),
    ("random_normal", {"mean": 1.0, "std": 2.0}),
    ("random_uniform", {"low": 0.0, "high": 1.0}),
    ("truncated_normal", {"mean": -1.0, "std": 0.5}),
    ("variance_scaling", {"scale": 0.5, "mode": "fan_out", "distribution": "uniform"}),
    ("variance_scaling", {"scale": 3.0, "mode": "fan_avg", "distribution": "normal"}),
    ("variance_scaling", {"scale": 2.0, "mode": "fan_in", "distribution": "truncated_normal", "gates": 4}),
    ("glorot_uniform", {"gain": 5.0 / 3.0}),
    ("he_normal", {"negative_slope": 0.2, "mode": "fan_out"}),
    ("he_normal_torch", {"negative_slope": 0.01}),
    ("orthogonal", {"gain": 2.0}),
    ("delta_orthogonal", {"gain": 1.5}),
    ("identity", {"gain": 0.5}),
    ("sparse", {"k": 3, "std": 0.1}),
    ("sparse_torch", {"sparsity": 0.5, "std": 1.0}),
    ("sparse_torch", {"sparsity": 0.0}),
    ("keras_default_recurrent", {"part": "recurrent_kernel"}),
    ("keras_default_recurrent", {"part": "bias", "cell": "lstm"}),
    ("keras_default_recurrent", {"part": "bias", "cell": "gru"}),
    ("torch_default_recurrent", {"hidden_size": 20, "cell": "gru"}),
]
IDS = [n + ("" if not p else "-" + "-".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                             for k, v in p.items())) for n, p in SCHEMES]

dim = st.integers(1, 96)
kernel = st.integers(1, 5)
layouts = st.sampled_from(["keras", "torch"])


def _conv(layout: str, k: tuple[int, ...], n_in: int, n_out: int) -> tuple[int, ...]:
    return (*k, n_in, n_out) if layout == "keras" else (n_out, n_in, *k)


@st.composite
def shape_for(draw, name: str, params: dict) -> tuple[tuple[int, ...], str]:
    """A random shape and layout the scheme accepts: dense, conv 1D/2D/3D or recurrent."""
    layout = draw(layouts)
    if name in ("identity", "sparse_torch"):
        return (draw(dim), draw(dim)), layout
    if name == "keras_default_recurrent" and params.get("part") == "bias":
        return (4 * draw(st.integers(1, 64)),), layout
    if name == "torch_default_recurrent" or params.get("gates"):
        gates = params.get("gates", 3 if params.get("cell") == "gru" else 4)
        n_in, units = draw(dim), draw(st.integers(1, 48))
        return ((n_in, gates * units) if layout == "keras" else (gates * units, n_in)), layout
    ndim = draw(st.integers(0, 3))  # 0: dense; 1-3: conv 1D/2D/3D
    k = tuple(draw(kernel) for _ in range(ndim))
    n_in, n_out = draw(dim), draw(dim)
    if name == "sparse":
        need = params.get("k", 15)
        n_in = max(n_in, math.ceil(need / math.prod(k)) if k else need)
    return (_conv(layout, k, n_in, n_out) if ndim else ((n_in, n_out) if layout == "keras" else (n_out, n_in))), layout


# --------------------------------------------------------------------------- fans


@pytest.mark.parametrize(
    ("shape", "layout", "fans"),
    [
        ((784, 256), "keras", (784, 256)),
        ((256, 784), "torch", (784, 256)),
        ((3, 3, 16, 32), "keras", (144, 288)),  # conv2d (kh, kw, in, out)
        ((32, 16, 3, 3), "torch", (144, 288)),  # conv2d (out, in, kh, kw)
        ((5, 8, 4), "keras", (40, 20)),  # conv1d
        ((4, 8, 5), "torch", (40, 20)),
        ((2, 3, 3, 6, 7), "keras", (108, 126)),  # conv3d
        ((7, 6, 2, 3, 3), "torch", (108, 126)),
        ((20, 128), "keras", (20, 128)),  # LSTM kernel (in, 4*units): the stacked matrix, as both frameworks do
        ((128, 20), "torch", (20, 128)),  # LSTM weight_ih (4*hidden, in)
    ],
)
def test_compute_fans_dense_conv_recurrent(shape, layout, fans):
    assert I.compute_fans(shape, layout) == fans


def test_compute_fans_per_gate_for_recurrent_kernels():
    assert I.compute_fans((20, 128), "keras", gates=4) == (20, 32)
    assert I.compute_fans((96, 32), "torch", gates=3) == (32, 32)
    with pytest.raises(ValueError, match="gates=3 must divide"):
        I.compute_fans((20, 128), "keras", gates=3)


@FAST
@given(data=st.data())
def test_compute_fans_layouts_agree(data):
    """The same kernel in Keras and torch layout has the same fans."""
    k = tuple(data.draw(st.lists(kernel, max_size=3)))
    n_in, n_out = data.draw(dim), data.draw(dim)
    assert I.compute_fans((*k, n_in, n_out), "keras") == I.compute_fans((n_out, n_in, *k), "torch")


# ------------------------------------------------------------------- statistics


@pytest.mark.parametrize(("name", "params"), SCHEMES, ids=IDS)
@FAST
@given(data=st.data())
def test_numpy_reference_statistics(name, params, data):
    """Mean and variance within sample-size tolerances; bounds; orthogonality; exact sparsity; exact constants."""
    init = I.get(name, **params)
    shape, layout = data.draw(shape_for(name, params))
    draws = [init.sample(shape, seed=s, layout=layout) for s in range(reps_for(shape))]
    assert all(d.dtype == np.float32 for d in draws)
    check_draws(init, shape, layout, draws, "numpy")


@pytest.mark.parametrize(("name", "params"), SCHEMES, ids=IDS)
def test_same_seed_same_draw_and_layouts_transpose(name, params):
    init = I.get(name, **params)
    shape_k = (4 * 6, 4 * 5) if name != "keras_default_recurrent" or params.get("part") != "bias" else (24,)
    a = init.sample(shape_k, seed=7)
    np.testing.assert_array_equal(a, init.sample(shape_k, seed=7))
    if init.is_random and init.expected_std(shape_k) > 0:
        assert not np.array_equal(a, init.sample(shape_k, seed=8))
    if len(shape_k) == 2:
        # the torch-layout draw of the transposed shape is the transpose of the Keras-layout draw
        np.testing.assert_array_equal(init.sample(shape_k[::-1], seed=7, layout="torch"), a.T)


def test_conv_torch_layout_is_the_keras_kernel_permuted():
    init = I.get("sparse", k=5)
    k = init.sample((3, 3, 4, 6), seed=1, layout="keras")
    t = init.sample((6, 4, 3, 3), seed=1, layout="torch")
    np.testing.assert_array_equal(t, np.transpose(k, (3, 2, 0, 1)))


def test_unseeded_draws_follow_set_seed():
    from course_utils import set_seed

    set_seed(3)
    a = I.get("he_normal").sample((30, 20))
    set_seed(3)
    np.testing.assert_array_equal(a, I.get("he_normal").sample((30, 20)))


def test_expected_std_formulas():
    """Spot values a learner can check by hand."""
    assert I.get("glorot_uniform").expected_std((784, 256)) == pytest.approx(math.sqrt(2 / 1040))
    assert I.get("he_normal").expected_std((784, 256)) == pytest.approx(math.sqrt(2 / 784))
    assert I.get("he_normal", negative_slope=0.2).expected_std((100, 5)) == pytest.approx(math.sqrt(2 / 1.04 / 100))
    assert I.get("lecun_normal").expected_std((3, 3, 16, 8)) == pytest.approx(math.sqrt(1 / 144))
    assert I.get("torch_default_linear").expected_std((256, 784), "torch") == pytest.approx(math.sqrt(1 / (3 * 784)))
    assert I.get("legacy_uniform").expected_std((784, 10)) == I.get("torch_default_linear").expected_std((784, 10))
    # orthogonal: the rms of a semi-orthogonal r x c matrix times gain is gain / sqrt(max(r, c))
    assert I.get("orthogonal", gain=2).expected_std((300, 100)) == pytest.approx(2 / math.sqrt(300))
    assert I.get("orthogonal").expected_std((3, 3, 8, 100)) == pytest.approx(1 / math.sqrt(100))
    # sparse: the zeros count -- std * sqrt(k / fan_in)
    assert I.get("sparse", k=15).expected_std((100, 50)) == pytest.approx(math.sqrt(15 / 100))
    assert I.get("sparse_torch", sparsity=0.25).expected_std((7, 10)) == pytest.approx(0.01 * math.sqrt(7 / 10))
    assert I.get("truncated_normal", std=1.0).expected_std((5,)) == pytest.approx(I.TRUNCATED_NORMAL_STD)
    assert I.get("torch_default_recurrent").expected_std((128, 20), "torch") == pytest.approx(1 / math.sqrt(96))


def test_truncated_normal_constant_is_the_std_of_a_unit_normal_truncated_at_2():
    from scipy import stats

    assert I.TRUNCATED_NORMAL_STD == pytest.approx(float(stats.truncnorm(-2, 2).std()), rel=1e-15)


def test_glorot_normal_truncates_where_torch_variant_does_not():
    """The documented difference: Keras's glorot_normal never exceeds 2 x its scale; xavier_normal_ does (~4.6%)."""
    shape = (400, 400)
    std = I.get("glorot_normal").expected_std(shape)
    keras_like = I.get("glorot_normal").sample(shape, seed=0)
    torch_like = I.get("glorot_normal_torch").sample(shape, seed=0)
    assert np.abs(keras_like).max() <= 2 * std / I.TRUNCATED_NORMAL_STD * (1 + EPS32)
    beyond = float(np.mean(np.abs(torch_like) > 2 * std))
    assert beyond == pytest.approx(0.0455, abs=5 * math.sqrt(0.0455 * 0.9545 / 160_000))  # P(|Z|>2) = 4.55%


def test_sparse_torch_matches_torch_zero_count_formula():
    init = I.get("sparse_torch", sparsity=0.3)
    w = init.sample((5, 7), seed=0, layout="torch")  # torch (out=5, in=7): ceil(0.3*5) = 2 zeros per column
    assert np.all((w == 0).sum(axis=0) == 2)


def test_keras_default_recurrent_bias_opens_the_forget_gate():
    b = I.get("keras_default_recurrent", part="bias", cell="lstm").sample((12,))
    np.testing.assert_array_equal(b, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])


def test_delta_orthogonal_centre_tap_and_fans():
    # Xiao et al. 2018: zero but the centre tap; the centre is gain * Q; the same kernel in both layouts
    d = I.get("delta_orthogonal", gain=1.2)
    w = d.sample((5, 3, 8, 16), seed=0)
    centre = w[2, 1].astype(np.float64)
    np.testing.assert_allclose(centre @ centre.T, 1.44 * np.eye(8), atol=1e-5)
    assert np.count_nonzero(w) == np.count_nonzero(centre) == 8 * 16
    np.testing.assert_array_equal(d.sample((16, 8, 5, 3), seed=0, layout="torch"), np.transpose(w, (3, 2, 0, 1)))
    assert d.expected_std((5, 3, 8, 16)) == pytest.approx(1.2 / math.sqrt(15 * 16))
    assert d.expected_std((16, 8, 5, 3), layout="torch") == pytest.approx(1.2 / math.sqrt(15 * 16))
    assert I.DeltaOrthogonal.centre((4, 4, 2, 2)) == (2, 2)  # even kernels: tap k // 2, as torch's dirac_
    np.testing.assert_array_equal(d.sample((8, 16), seed=3), I.get("orthogonal", gain=1.2).sample((8, 16), seed=3))


def test_identity_and_constants_are_exact():
    np.testing.assert_array_equal(I.get("identity", gain=2.0).sample((3, 4)), 2 * np.eye(3, 4, dtype=np.float32))
    assert not I.get("zeros").sample((5, 3, 2)).any()
    assert np.all(I.get("ones").sample((4,)) == 1)
    assert np.all(I.get("constant", value=0.25).sample((2, 2)) == np.float32(0.25))


# ----------------------------------------------------------------- the registry


REQUIRED = {"zeros", "ones", "constant", "random_normal", "random_uniform", "truncated_normal", "variance_scaling",
            "glorot_normal", "glorot_uniform", "glorot_normal_torch", "he_normal", "he_uniform", "he_normal_torch",
            "lecun_normal", "lecun_uniform", "lecun_normal_torch", "orthogonal", "sparse", "sparse_torch",
            "torch_default_linear", "keras_default_dense", "keras_default_recurrent", "torch_default_recurrent",
            "identity", "legacy_uniform", "delta_orthogonal"}


def test_registry_names_and_get():
    assert REQUIRED <= set(I.names())
    for name in I.names():
        init = I.get(name)
        assert init.name == name
        assert I.get(name, **init.params) == init  # params rebuild the same scheme
        assert I.get(init) is init
        assert init.__doc__ or I.REGISTRY[name].factory.__doc__
    assert I.get(" He-Normal ") == I.get("he_normal")


def test_presets_are_variance_scaling_one_liners():
    vs = I.get("he_normal")
    assert isinstance(vs, I.VarianceScaling)
    assert (vs.scale, vs.mode, vs.distribution) == (2.0, "fan_in", "truncated_normal")
    assert (I.get("glorot_uniform").scale, I.get("glorot_uniform").mode) == (1.0, "fan_avg")
    assert I.get("lecun_normal_torch").distribution == "normal"
    for name in I.names():
        doc = I.REGISTRY[name].factory.__doc__
        assert doc and len(doc.strip()) > 20, name


def test_table_has_every_scheme_and_both_framework_names():
    t = I.table()
    assert list(t.scheme) == I.names()
    assert {"scheme", "formula", "variance", "keras", "pytorch", "default_where", "frameworks_differ"} <= set(t.columns)
    row = t.set_index("scheme")
    assert row.loc["glorot_normal", "frameworks_differ"]  # the truncated/plain difference is documented
    assert "kaiming_uniform_" in row.loc["torch_default_linear", "pytorch"]
    assert row.loc["torch_default_linear", "std_784x256"] == pytest.approx(1 / math.sqrt(3 * 784))


def test_calculate_gain_table():
    assert I.calculate_gain("linear") == 1.0
    assert I.calculate_gain("conv2d") == 1.0
    assert I.calculate_gain("sigmoid") == 1.0
    assert I.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert I.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert I.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert I.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert I.calculate_gain("selu") == 0.75


def test_posterior_rho_inverts_softplus():
    for sigma in (1e-8, 1e-3, 0.05, 1.0, 30.0, 500.0):
        rho = I.posterior_rho(sigma)
        assert I.softplus(rho) == pytest.approx(sigma, rel=1e-12)
        if sigma < 30:
            assert rho == pytest.approx(math.log(math.expm1(sigma)), rel=1e-12)
    mu, rho = I.sample_posterior((300, 200), mean="he_normal", sigma=0.01, seed=0)
    assert mu.std() == pytest.approx(math.sqrt(2 / 300), rel=0.02)
    np.testing.assert_allclose(I.posterior_sigma(rho), 0.01, rtol=1e-5)
    inits = I.posterior_initializers("glorot_uniform", sigma=0.1, rho_jitter=0.05)
    assert inits["mean"] == I.get("glorot_uniform")
    assert inits["rho"].expected_mean((3,)) == pytest.approx(I.posterior_rho(0.1))


# ----------------------------------------------------------------------- errors


def _raises(fn, *fragments):
    with pytest.raises(ValueError) as info:
        fn()
    msg = str(info.value)
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"
    return msg


def test_unknown_name_lists_valid_names_and_suggests_closest():
    msg = _raises(lambda: I.get("he_norml"), "Unknown initializer 'he_norml'", "Did you mean 'he_normal'?")
    for name in I.names():
        assert repr(name) in msg or name in msg
    _raises(lambda: I.get("xavier_uniformm"), "Valid names:")


def test_unknown_parameter_lists_the_parameters():
    _raises(lambda: I.get("he_normal", slope=0.2), "unknown parameter", "negative_slope", "Did you mean")


@pytest.mark.parametrize(
    ("make", "fragments"),
    [
        (lambda: I.get("random_normal", std=-1.0), ["std must lie in [0, inf]", "got -1"]),
        (lambda: I.get("truncated_normal", std=-0.1), ["std must lie in [0, inf]"]),
        (lambda: I.get("sparse", std=-1.0), ["std must lie in [0, inf]"]),
        (lambda: I.get("sparse_torch", sparsity=1.0), ["sparsity must lie in [0, 1)", "got 1"]),
        (lambda: I.get("sparse_torch", sparsity=-0.1), ["sparsity must lie in [0, 1)"]),
        (lambda: I.get("sparse_torch", sparsity=1.5), ["sparsity must lie in [0, 1)"]),
        (lambda: I.get("sparse", k=20).sample((10, 5)), ["k=20", "fan_in=10", "expected 1 <= k <= fan_in"]),
        (lambda: I.get("sparse", k=20).sample((5, 10), layout="torch"), ["fan_in=10"]),
        (lambda: I.get("he_normal").sample(()), ["matrix shape", "got shape=()"]),
        (lambda: I.get("he_normal").sample((5,)), ["matrix shape", "(5,)"]),
        (lambda: I.get("orthogonal").sample((7,)), ["matrix shape"]),
        (lambda: I.get("sparse").sample((20,)), ["matrix shape"]),
        (lambda: I.get("identity").sample((3, 3, 3)), ["2-D matrix"]),
        (lambda: I.get("sparse_torch").sample((3, 3, 3)), ["2-D matrix"]),
        (lambda: I.compute_fans((5,)), ["matrix shape"]),
        (lambda: I.compute_fans(()), ["matrix shape"]),
        (lambda: I.get("he_normal").sample((0, 5)), ["at least 1"]),
        (lambda: I.get("variance_scaling", mode="fan_sum"), ["Unknown mode", "'fan_in', 'fan_out', 'fan_avg'"]),
        (lambda: I.get("variance_scaling", distribution="gaussian"),
         ["Unknown distribution", "'normal', 'truncated_normal', 'uniform'"]),
        (lambda: I.get("he_uniform", mode="avg"), ["Unknown mode", "Did you mean"]),
        (lambda: I.get("variance_scaling", scale=0.0), ["scale must lie in (0, inf]"]),
        (lambda: I.get("glorot_normal", gain=-1.0), ["gain must lie in (0, inf]"]),
        (lambda: I.get("he_normal", negative_slope=-0.1), ["negative_slope must lie in [0, inf]"]),
        (lambda: I.get("random_uniform", low=1.0, high=0.0), ["low < high"]),
        (lambda: I.get("he_normal").sample((3, 4), layout="pytorch_layout"), ["Unknown layout", "'keras', 'torch'"]),
        (lambda: I.get("torch_default_recurrent").sample((10, 30)), ["multiple", "hidden_size"]),
        (lambda: I.calculate_gain("swish"), ["Unknown nonlinearity", "'relu'"]),
        (lambda: I.calculate_gain("relu", 0.1), ["only used with nonlinearity='leaky_relu'"]),
        (lambda: I.posterior_rho(-0.1), ["target_sigma must lie in (0, inf]"]),
        (lambda: I.posterior_rho(0.0), ["target_sigma must lie in (0, inf]"]),
    ],
)
def test_bad_input_raises_value_error_saying_what_was_expected(make, fragments):
    _raises(make, *fragments)


def test_type_errors_for_non_names():
    with pytest.raises(TypeError, match="name such as 'he_normal'"):
        I.get(3)
    with pytest.raises(TypeError, match="tuple of integers"):
        I.get("he_normal").sample((3.5, 2))


def test_importing_initializers_loads_no_framework():
    code = ("import sys, course_utils.initializers as I\n"
            "I.get('he_normal').sample((4, 4)); I.table(); I.expected = I.get('orthogonal').expected_std((3, 4))\n"
            "heavy = [m for m in ('tensorflow', 'torch', 'keras') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    env = {**os.environ, "COURSE_THREADS": "1"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env)
    assert res.returncode == 0, res.stderr
