"""course_utils.initializers, Keras and PyTorch adapters, held against the NumPy reference and the frameworks.

* every scheme's Keras and PyTorch draws pass the same statistical checks as the
  NumPy reference (tolerances derived from the sample size: test_initializers_support.py);
* Keras adapters agree in distribution with Keras's built-ins, PyTorch adapters
  with ``torch.nn.init`` and the layers' own defaults (two-sample KS, alpha 1e-4);
* same seed, same draw; Keras adapters serialise;
* describe_model_init recognises framework defaults and every scheme; LSUV reaches unit variance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_initializers import IDS, SCHEMES, shape_for
from test_initializers_support import ALPHA, check_draws, ks_same, reps_for

from course_utils import frameworks
from course_utils import initializers as I

keras = frameworks.keras()
torch = frameworks.torch()
nn = torch.nn

FW = settings(max_examples=5, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
N_FW = 3000  # values pooled per framework check (the tolerances follow from it)
CAP = 30  # at most this many framework calls per check, to keep the file fast


def keras_draws(init, shape, n_draws):
    return [np.asarray(init.to_keras(seed=s)(shape)) for s in range(n_draws)]


def torch_draws(init, shape, n_draws, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [init.apply_torch_(torch.empty(shape), generator=gen).numpy().copy() for _ in range(n_draws)]


# ------------------------------------------------------- statistics of the adapters


@pytest.mark.parametrize(("name", "params"), SCHEMES, ids=IDS)
@FW
@given(data=st.data())
def test_keras_adapter_statistics(name, params, data):
    init = I.get(name, **params)
    shape, layout = data.draw(shape_for(name, params))
    shape = shape if layout == "keras" else _to_keras(shape)  # Keras hands its initializers Keras-layout shapes
    draws = keras_draws(init, shape, reps_for(shape, N_FW, CAP))
    assert all(d.dtype == np.float32 for d in draws)
    check_draws(init, shape, "keras", draws, "keras adapter")


@pytest.mark.parametrize(("name", "params"), SCHEMES, ids=IDS)
@FW
@given(data=st.data())
def test_torch_adapter_statistics(name, params, data):
    init = I.get(name, **params)
    shape, layout = data.draw(shape_for(name, params))
    shape = shape if layout == "torch" else _flip(shape)
    check_draws(init, shape, "torch", torch_draws(init, shape, reps_for(shape, N_FW, CAP)), "torch adapter")


def _flip(shape):
    """Keras-layout shape -> the torch-layout shape of the same kernel."""
    return shape if len(shape) < 2 else (shape[-1], shape[-2], *shape[:-2])


def _to_keras(shape):
    """Torch-layout shape -> the Keras-layout shape of the same kernel."""
    return shape if len(shape) < 2 else (*shape[2:], shape[1], shape[0])


# ------------------------------------------------- agreement with the frameworks


KERAS_BUILTINS = [
    ("glorot_normal", {}, lambda s: keras.initializers.GlorotNormal(seed=s)),
    ("glorot_uniform", {}, lambda s: keras.initializers.GlorotUniform(seed=s)),
    ("keras_default_dense", {}, lambda s: keras.initializers.GlorotUniform(seed=s)),
    ("he_normal", {}, lambda s: keras.initializers.HeNormal(seed=s)),
    ("he_uniform", {}, lambda s: keras.initializers.HeUniform(seed=s)),
    ("lecun_normal", {}, lambda s: keras.initializers.LecunNormal(seed=s)),
    ("lecun_uniform", {}, lambda s: keras.initializers.LecunUniform(seed=s)),
    ("glorot_normal_torch", {}, lambda s: keras.initializers.VarianceScaling(1.0, "fan_avg", "untruncated_normal",
                                                                            seed=s)),
    ("variance_scaling", {"scale": 2.0, "mode": "fan_out", "distribution": "uniform"},
     lambda s: keras.initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=s)),
    ("torch_default_linear", {}, lambda s: keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform", seed=s)),
    ("random_normal", {}, lambda s: keras.initializers.RandomNormal(0.0, 0.05, seed=s)),
    ("random_uniform", {}, lambda s: keras.initializers.RandomUniform(-0.05, 0.05, seed=s)),
    ("truncated_normal", {"mean": 0.5, "std": 2.0}, lambda s: keras.initializers.TruncatedNormal(0.5, 2.0, seed=s)),
    ("orthogonal", {"gain": 1.5}, lambda s: keras.initializers.Orthogonal(1.5, seed=s)),
]
KERAS_SHAPES = [(300, 200), (3, 3, 16, 32), (5, 12, 40)]


@pytest.mark.parametrize(("name", "params", "builtin"), KERAS_BUILTINS, ids=[b[0] for b in KERAS_BUILTINS])
@pytest.mark.parametrize("shape", KERAS_SHAPES, ids=str)
def test_keras_adapter_matches_keras_builtin(name, params, builtin, shape):
    ours = np.concatenate([np.ravel(d) for d in keras_draws(I.get(name, **params), shape, reps_for(shape, 20_000, 10))])
    theirs = np.concatenate([np.ravel(builtin(1000 + s)(shape)) for s in range(reps_for(shape, 20_000, 10))])
    ks_same(ours, theirs, f"{name}{shape} keras adapter vs keras built-in")


@pytest.mark.parametrize("name", ["zeros", "ones", "identity"])
def test_keras_deterministic_schemes_equal_builtins(name):
    ours = np.asarray(I.get(name).to_keras()((7, 5)))
    theirs = np.asarray(keras.initializers.get(name)((7, 5)))
    np.testing.assert_array_equal(ours, theirs)


TORCH_BUILTINS = [
    ("glorot_uniform", {}, lambda t, g: nn.init.xavier_uniform_(t, generator=g)),
    ("glorot_normal_torch", {}, lambda t, g: nn.init.xavier_normal_(t, generator=g)),
    ("glorot_normal_torch", {"gain": 5 / 3}, lambda t, g: nn.init.xavier_normal_(t, gain=5 / 3, generator=g)),
    ("he_uniform", {}, lambda t, g: nn.init.kaiming_uniform_(t, nonlinearity="relu", generator=g)),
    ("he_normal_torch", {}, lambda t, g: nn.init.kaiming_normal_(t, nonlinearity="relu", generator=g)),
    ("he_normal_torch", {"negative_slope": 0.2, "mode": "fan_out"},
     lambda t, g: nn.init.kaiming_normal_(t, a=0.2, mode="fan_out", generator=g)),
    ("lecun_uniform", {}, lambda t, g: nn.init.kaiming_uniform_(t, nonlinearity="linear", generator=g)),
    ("lecun_normal_torch", {}, lambda t, g: nn.init.kaiming_normal_(t, nonlinearity="linear", generator=g)),
    ("torch_default_linear", {}, lambda t, g: nn.init.kaiming_uniform_(t, a=math.sqrt(5), generator=g)),
    ("legacy_uniform", {}, lambda t, g: nn.init.kaiming_uniform_(t, a=math.sqrt(5), generator=g)),
    ("orthogonal", {"gain": 2.0}, lambda t, g: nn.init.orthogonal_(t, gain=2.0, generator=g)),
    ("random_normal", {"mean": 1.0, "std": 2.0}, lambda t, g: nn.init.normal_(t, 1.0, 2.0, generator=g)),
    ("random_uniform", {"low": 0.0, "high": 1.0}, lambda t, g: nn.init.uniform_(t, generator=g)),
    ("truncated_normal", {"mean": 0.0, "std": 1.0}, lambda t, g: nn.init.trunc_normal_(t, generator=g)),
    ("sparse_torch", {"sparsity": 0.3, "std": 0.01}, lambda t, g: nn.init.sparse_(t, 0.3, generator=g)),
]
TORCH_SHAPES = [(200, 300), (32, 16, 3, 3), (40, 12, 5)]


# torch.nn.init.sparse_ is 2-D only
TORCH_CASES = [(*b, shape) for b in TORCH_BUILTINS for shape in TORCH_SHAPES if b[0] != "sparse_torch" or len(shape) == 2]


@pytest.mark.parametrize(("name", "params", "builtin", "shape"), TORCH_CASES,
                         ids=[f"{c[0]}-{i}-{c[3]}" for i, c in enumerate(TORCH_CASES)])
def test_torch_adapter_matches_torch_nn_init(name, params, builtin, shape):
    n = reps_for(shape, 20_000, 10)
    ours = np.concatenate([d.ravel() for d in torch_draws(I.get(name, **params), shape, n, seed=1)])
    gen = torch.Generator().manual_seed(2)
    theirs = np.concatenate([builtin(torch.empty(shape), gen).numpy().ravel() for _ in range(n)])
    ks_same(ours, theirs, f"{name}{shape} torch adapter vs torch.nn.init")
    if name == "sparse_torch":  # and exactly torch's count of zeros per column
        t = builtin(torch.empty(shape), gen).numpy()
        assert np.array_equal((t == 0).sum(axis=0), (torch_draws(I.get(name, **params), shape, 1)[0] == 0).sum(axis=0))


@pytest.mark.parametrize("name", ["zeros", "ones", "identity"])
def test_torch_deterministic_schemes_equal_builtins(name):
    ours = I.get(name).apply_torch_(torch.empty(7, 5))
    theirs = {"zeros": nn.init.zeros_, "ones": nn.init.ones_, "identity": nn.init.eye_}[name](torch.empty(7, 5))
    assert torch.equal(ours, theirs)


RANDOM_SCHEMES = [(n, p) for n, p in SCHEMES if I.get(n, **p).is_random]


@pytest.mark.parametrize(("name", "params"), RANDOM_SCHEMES,
                         ids=[i for i, (n, p) in zip(IDS, SCHEMES, strict=True) if I.get(n, **p).is_random])
def test_same_name_same_distribution_in_keras_and_torch(name, params):
    """The course's promise: one name, one distribution, whichever framework draws it."""
    init = I.get(name, **params)
    shape_k = (64, 96) if name != "sparse" or params.get("k", 15) <= 64 else (128, 96)
    n = reps_for(shape_k, 20_000, 10)
    k = np.concatenate([d.ravel() for d in keras_draws(init, shape_k, n)])
    t = np.concatenate([d.ravel() for d in torch_draws(init, shape_k[::-1], n)])
    ks_same(k, t, f"{name} keras vs torch")


# ----------------------------------------------------- framework layer defaults


def test_keras_dense_default_is_keras_default_dense():
    layer = keras.layers.Dense(256)
    layer.build((None, 784))
    ref = I.get("keras_default_dense").sample((784, 256), seed=0)
    ks_same(np.asarray(layer.kernel), ref, "keras Dense default vs keras_default_dense")
    assert not np.asarray(layer.bias).any()


def test_keras_lstm_defaults_are_keras_default_recurrent():
    layer = keras.layers.LSTM(32)
    layer.build((None, 5, 20))
    kernel, rec, bias = (np.asarray(w) for w in layer.weights)
    ks_same(kernel, I.get("keras_default_recurrent", part="kernel").sample(kernel.shape, seed=0), "LSTM kernel")
    check_draws(I.get("keras_default_recurrent", part="recurrent_kernel"), rec.shape, "keras", [rec], "LSTM rec")
    np.testing.assert_array_equal(bias, I.get("keras_default_recurrent", part="bias").sample(bias.shape))


def test_torch_linear_and_conv_default_is_torch_default_linear_variance_one_third_fan_in():
    torch.manual_seed(0)
    lin = nn.Linear(784, 256)
    w = lin.weight.detach().numpy()
    ks_same(w, I.get("torch_default_linear").sample(w.shape, seed=0, layout="torch"), "nn.Linear default")
    bound = 1 / math.sqrt(784)
    assert np.abs(w).max() <= bound and np.abs(lin.bias.detach().numpy()).max() <= bound
    # Var = 1 / (3 fan_in): the measured ratio var * 3 fan_in is 1 within the variance tolerance (kurtosis 9/5)
    ratio = float(np.mean(w.astype(np.float64) ** 2)) * 3 * 784
    assert abs(ratio - 1) <= 5 * math.sqrt(0.8 / w.size)
    conv = nn.Conv2d(16, 32, 3)
    c = conv.weight.detach().numpy()
    ks_same(c, I.get("torch_default_linear").sample(c.shape, seed=0, layout="torch"), "nn.Conv2d default")


def test_torch_lstm_defaults_are_torch_default_recurrent():
    torch.manual_seed(0)
    lstm = nn.LSTM(20, 48)
    for pname, p in lstm.named_parameters():
        x = p.detach().numpy()
        ref = I.get("torch_default_recurrent", hidden_size=48).sample(x.shape, seed=0, layout="torch")
        ks_same(x, ref, f"nn.LSTM {pname}")
        inferred = I.get("torch_default_recurrent", cell="lstm")  # hidden inferred from (4*hidden, ...)
        assert inferred.expected_std(x.shape, "torch") == pytest.approx(1 / math.sqrt(3 * 48))


def test_keras_glorot_normal_vs_torch_xavier_normal_measured():
    """Same variance, different tails: Keras truncates at 2 scale units, torch does not."""
    shape = (512, 512)
    k = np.asarray(keras.initializers.GlorotNormal(seed=0)(shape))
    t = nn.init.xavier_normal_(torch.empty(shape), generator=torch.Generator().manual_seed(0)).numpy()
    std = math.sqrt(2 / 1024)
    for x in (k, t):
        assert abs(np.mean(x.astype(np.float64) ** 2) / std**2 - 1) <= 5 * math.sqrt(2 / x.size)
    limit = 2 * std / I.TRUNCATED_NORMAL_STD
    assert np.abs(k).max() <= limit * (1 + 1e-6)
    assert np.abs(t).max() > limit


# ---------------------------------------------------------------- seeds & keras


def test_same_seed_same_draw():
    for name in ("he_normal", "glorot_normal", "orthogonal", "sparse", "sparse_torch", "torch_default_linear"):
        init = I.get(name)
        a = np.asarray(init.to_keras(seed=5)((64, 32)))
        assert np.array_equal(a, np.asarray(init.to_keras(seed=5)((64, 32))))
        assert not np.array_equal(a, np.asarray(init.to_keras(seed=6)((64, 32))))
        ki = init.to_keras(seed=5)
        assert np.array_equal(np.asarray(ki((64, 32))), np.asarray(ki((64, 32))))  # Keras: an int seed repeats
        t1 = init.apply_torch_(torch.empty(32, 64), generator=torch.Generator().manual_seed(3))
        t2 = init.apply_torch_(torch.empty(32, 64), generator=torch.Generator().manual_seed(3))
        assert torch.equal(t1, t2)
        torch.manual_seed(9)
        g1 = init.apply_torch_(torch.empty(32, 64))
        torch.manual_seed(9)
        assert torch.equal(g1, init.apply_torch_(torch.empty(32, 64)))


def test_keras_seed_generator_gives_fresh_draws():
    ki = I.get("he_normal").to_keras(seed=keras.random.SeedGenerator(1))
    assert not np.array_equal(np.asarray(ki((8, 8))), np.asarray(ki((8, 8))))


def test_keras_adapter_is_a_serialisable_keras_initializer():
    init = I.get("he_normal", negative_slope=0.1).to_keras(seed=4)
    assert isinstance(init, keras.initializers.Initializer)
    cfg = keras.initializers.serialize(init)
    again = keras.initializers.deserialize(cfg)
    assert again.get_config() == init.get_config()
    assert np.array_equal(np.asarray(again((10, 6))), np.asarray(init((10, 6))))
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(6, kernel_initializer=init),
                              keras.layers.Dense(3, kernel_initializer=I.get("sparse", k=2).to_keras(seed=1))])
    clone = keras.models.model_from_json(model.to_json())
    for a, b in zip(model.get_weights(), clone.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_keras_adapter_in_conv_and_recurrent_layers():
    conv = keras.layers.Conv2D(8, 3, kernel_initializer=I.get("he_uniform").to_keras(seed=0))
    conv.build((None, 10, 10, 4))
    check_draws(I.get("he_uniform"), (3, 3, 4, 8), "keras", [np.asarray(conv.kernel)], "Conv2D")
    lstm = keras.layers.LSTM(16, recurrent_initializer=I.get("orthogonal", gain=0.5).to_keras(seed=0))
    lstm.build((None, 3, 5))
    check_draws(I.get("orthogonal", gain=0.5), (16, 64), "keras", [np.asarray(lstm.weights[1])], "LSTM rec")


def test_bad_inputs_through_adapters():
    with pytest.raises(ValueError, match="matrix shape"):
        I.get("he_normal").to_keras()((5,))
    with pytest.raises(ValueError, match="fan_in"):
        I.get("sparse", k=20).apply_torch_(torch.empty(4, 10))
    with pytest.raises(ValueError, match="matrix shape"):
        I.get("orthogonal").apply_torch_(torch.empty(5))
    with pytest.raises(TypeError, match="torch.Tensor"):
        I.get("he_normal").apply_torch_(np.zeros((3, 3)))


def test_calculate_gain_equals_torch():
    for nl in I.NONLINEARITIES:
        if nl == "identity":
            continue  # the course's alias of 'linear'; torch does not accept it
        assert I.calculate_gain(nl) == pytest.approx(nn.init.calculate_gain(nl), rel=1e-15), nl
    for slope in (0.0, 0.01, 0.2, 1.0, 3):
        assert I.calculate_gain("leaky_relu", slope) == pytest.approx(nn.init.calculate_gain("leaky_relu", slope))


def test_posterior_initializers_in_both_frameworks():
    inits = I.posterior_initializers("he_normal", sigma=0.02)
    rho_k = np.asarray(inits["rho"].to_keras()((30, 20)))
    rho_t = inits["rho"].apply_torch_(torch.empty(20, 30))
    np.testing.assert_allclose(np.log1p(np.exp(rho_k)), 0.02, rtol=1e-5)
    np.testing.assert_allclose(torch.nn.functional.softplus(rho_t).numpy(), 0.02, rtol=1e-5)


# ------------------------------------------------------------- describe_model_init

# Schemes with the same distribution as another on every shape: either name is a correct answer.
SAME = {"delta_orthogonal": "orthogonal",  # a dense kernel is the 1 x 1 convolution: delta-orthogonal is orthogonal
        "keras_default_dense": "glorot_uniform", "legacy_uniform": "torch_default_linear",
        "variance_scaling": "lecun_normal", "keras_default_recurrent": "glorot_uniform", "constant": "zeros",
        # outside a recurrent layer hidden_size is unknown: the right answer is the fitted U(-b, b) it is
        "torch_default_recurrent": "random_uniform"}
DESCRIBE = [(n, p) for n, p in [(n, {}) for n in I.names()] + [("constant", {"value": 0.3})]
            if not (n == "keras_default_recurrent" and p) and n != "torch_default_recurrent"] + [
    ("torch_default_recurrent", {"hidden_size": 64})]  # hidden 64: not he_uniform's 300/6 = 50 look-alike


def _accepts(row, name):
    """Right answer: the scheme (or its twin) is closest, or is among the equally plausible also_matches."""
    found = row["closest"].split("(")[0]
    accepted = {name, SAME.get(name, name)}
    alts = {a.split("(")[0].strip() for a in row["also_matches"].split(",") if a}
    ok = found in accepted or (bool(accepted & alts) and row["p_value"] > ALPHA)
    return ok, (name, row["closest"], row["also_matches"], row["method"])


def test_describe_recognises_untouched_defaults():
    km = keras.Sequential([keras.Input((784,)), keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10)])
    d = I.describe_model_init(km)
    assert list(d.closest) == ["glorot_uniform", "zeros", "glorot_uniform", "zeros"]
    assert d.framework_default.all()
    torch.manual_seed(0)
    tm = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    d = I.describe_model_init(tm)
    assert list(d.closest) == ["torch_default_linear", "torch_default_linear (bias)"] * 2
    assert d.framework_default.all()
    for _, row in d.iterrows():  # std/expected within Z * (half the variance's relative error), uniform kurtosis 9/5
        assert abs(row.std_ratio - 1) <= 5 * 0.5 * math.sqrt(0.8 / math.prod(row["shape"])) + 1e-3, row.weight
    assert {"shape", "fan_in", "fan_out", "std", "std_glorot", "std_he", "std_lecun", "closest"} <= set(d.columns)


def test_describe_recognises_recurrent_defaults():
    kl = keras.Sequential([keras.Input((5, 20)), keras.layers.LSTM(32)])
    assert list(I.describe_model_init(kl).closest) == [
        "glorot_uniform", "keras_default_recurrent(part=recurrent_kernel)", "keras_default_recurrent(part=bias)"]
    torch.manual_seed(0)
    d = I.describe_model_init(nn.GRU(20, 40))
    assert set(d.closest) == {"torch_default_recurrent(hidden_size=40, cell=gru)"}
    assert d.framework_default.all()


@pytest.mark.parametrize(("name", "params"), DESCRIBE, ids=[n + str(p or "") for n, p in DESCRIBE])
def test_describe_recognises_each_scheme(name, params):
    init = I.get(name, **params)
    km = keras.Sequential([keras.Input((300,)), keras.layers.Dense(200, kernel_initializer=init.to_keras(seed=0))])
    ok, why = _accepts(I.describe_model_init(km).iloc[0], name)
    assert ok, f"keras: {why}"
    lin = nn.Linear(300, 200)
    init.apply_torch_(lin.weight, generator=torch.Generator().manual_seed(0))
    ok, why = _accepts(I.describe_model_init(lin).iloc[0], name)
    assert ok, f"torch: {why}"


def test_delta_orthogonal_convolutions_preserve_norms_in_both_frameworks():
    # each output pixel is gain * Q^T (the input pixel's channels): with in <= out the norm is gain times the input's
    init = I.get("delta_orthogonal", gain=1.3)
    x = np.random.default_rng(0).standard_normal((2, 9, 9, 6)).astype(np.float32)  # NHWC
    conv = keras.layers.Conv2D(10, 3, padding="same", use_bias=False, kernel_initializer=init.to_keras(seed=0))
    y = np.asarray(conv(x))
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), 1.3 * np.linalg.norm(x, axis=-1), rtol=1e-5)
    tconv = nn.Conv2d(6, 10, 3, padding=1, bias=False)
    init.apply_torch_(tconv.weight, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ty = tconv(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
    np.testing.assert_allclose(np.linalg.norm(ty, axis=1), 1.3 * np.linalg.norm(x, axis=-1), rtol=1e-5)
    assert I.describe_model_init(tconv).iloc[0].closest.startswith("delta_orthogonal")
    km = keras.Sequential([keras.Input((9, 9, 6)), conv])
    assert I.describe_model_init(km).iloc[0].closest.startswith("delta_orthogonal")


def test_describe_needs_a_built_model():
    with pytest.raises(ValueError, match="Input"):
        I.describe_model_init(keras.Sequential([keras.layers.Dense(3)]))


# -------------------------------------------------------------------------- LSUV


def test_lsuv_torch_gives_unit_variance_layer_outputs():
    torch.manual_seed(0)
    x = np.random.default_rng(0).normal(0, 3, size=(256, 100)).astype("float32")
    layers = [nn.Linear(100, 64), nn.Tanh(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)]
    model = nn.Sequential(*layers)
    report = I.lsuv_(model, x, tol=0.05)
    assert report.converged.all() and len(report) == 3
    h = torch.as_tensor(x)
    with torch.no_grad():
        for layer in layers:
            h = layer(h)
            if isinstance(layer, nn.Linear):
                assert abs(float(h.var()) - 1) < 0.05
    r, c = layers[2].weight.shape  # pre-init was orthogonal: rows stay orthogonal, only rescaled
    gram = (layers[2].weight @ layers[2].weight.T).detach().numpy()
    np.testing.assert_allclose(gram / gram[0, 0], np.eye(r), atol=1e-5)


def test_lsuv_keras_gives_unit_variance_layer_outputs():
    x = np.random.default_rng(0).normal(0, 3, size=(256, 100)).astype("float32")
    model = keras.Sequential([keras.Input((100,)), keras.layers.Dense(64, activation="tanh"),
                              keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10)])
    report = I.lsuv_(model, x, tol=0.05)
    assert report.converged.all() and list(report.layer) == [layer.name for layer in model.layers]
    assert abs(float(np.var(model.predict(x, verbose=0))) - 1) < 0.05  # last layer is linear: output = B


def test_lsuv_bad_input():
    with pytest.raises(ValueError, match="batch of at least 2"):
        I.lsuv_(nn.Linear(3, 2), np.zeros(3, dtype="float32"))
    with pytest.raises(ValueError, match="Unknown initializer"):
        I.lsuv_(nn.Linear(3, 2), np.zeros((4, 3), dtype="float32"), pre_init="orthogonl")


def test_lsuv_keras_functional_and_torch_conv():
    inp = keras.Input((20,))
    out = keras.layers.Dense(5)(keras.layers.Dense(30, activation="tanh")(inp))
    report = I.lsuv_(keras.Model(inp, out), np.random.default_rng(0).normal(size=(64, 20)).astype("float32"))
    assert report.converged.all() and len(report) == 2
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.Flatten(), nn.Linear(8 * 24 * 24, 4))
    report = I.lsuv_(cnn, np.random.default_rng(0).normal(size=(32, 1, 28, 28)).astype("float32"), pre_init=None)
    assert report.converged.all() and len(report) == 3


def test_apply_torch_fills_non_contiguous_tensors():
    base = torch.empty(40, 30)
    view = base.t()  # (30, 40), not contiguous
    for name in ("sparse", "sparse_torch", "orthogonal", "he_normal"):
        init = I.get(name, **({"k": 5} if name == "sparse" else {}))
        init.apply_torch_(view, generator=torch.Generator().manual_seed(0))
        check_draws(init, (30, 40), "torch", [view.numpy().copy()], "non-contiguous")
