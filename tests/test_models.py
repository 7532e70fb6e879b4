"""course_utils.models: sizes, names, initializers, seeds, special layers, bad input -- both frameworks."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from course_utils import initializers, models

FRAMEWORKS = ("keras", "torch")


def _kernel(layer, fw):
    """A weight layer's main kernel as NumPy, in Keras layout (in, out) / (kh, kw, in, out)."""
    if fw == "torch":
        p = next(p for p in layer.parameters(recurse=False) if p.ndim >= 2).detach().numpy()
        return np.transpose(p, (*range(2, p.ndim), 1, 0))
    return next(np.asarray(w) for w in layer.trainable_weights if len(w.shape) >= 2)


def _std_tolerance(n: int) -> float:
    """Relative tolerance on a sample std of n entries: 6 standard errors (se ~ 1/sqrt(2n) for a
    normal; uniform and truncated normal have lighter tails, so this is conservative)."""
    return 6.0 / math.sqrt(2.0 * n)


def _scalar(t) -> float:
    return float(t.detach()) if hasattr(t, "detach") else float(t)


def _all_weights(model, fw):
    if fw == "torch":
        return [p.detach().numpy().copy() for p in model.parameters()]
    return [np.asarray(w) for w in model.weights]


def test_import_loads_no_framework():
    code = ("import sys, course_utils.models, course_utils.training; "
            "bad = [m for m in ('tensorflow', 'torch', 'keras') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_mlp_sizes_names_and_init(fw):
    model = models.build_mlp(fw, 784, [256, 128], "tanh", init="glorot_normal", dropout=0.1, n_classes=10)
    assert models.weight_shapes(model) == [("hidden_1", (784, 256)), ("hidden_2", (256, 128)), ("output", (128, 10))]
    assert models.input_shape_of(model) == (None, 784)
    init = initializers.get("glorot_normal")
    for name, layer in models.weight_layers(model):
        w = _kernel(layer, fw)
        expected = init.expected_std(w.shape, "keras")
        assert abs(w.std() / expected - 1) < _std_tolerance(w.size), (name, w.std(), expected)
        assert abs(w.mean()) < 6 * expected / math.sqrt(w.size)
    # the registry's own detective agrees on the scheme of every kernel
    table = initializers.describe_model_init(model)
    kernels = table[table.role == "kernel"]
    assert len(kernels) == 3
    # (the small output layer may also fit schemes of nearly the same std: also_matches lists them)
    fits = [f"{row.closest} {row.also_matches}" for row in kernels.itertuples()]
    assert kernels.closest.iloc[0] == "glorot_normal" and all("glorot_normal" in f for f in fits), fits
    biases = table[table.role == "bias"]
    assert (biases.closest == "zeros").all()


def test_same_spec_same_sizes_and_names_in_both_frameworks():
    for build in (
        lambda fw: models.build_mlp(fw, 20, [16, 8], "relu", dropout=0.2, n_classes=3),
        lambda fw: models.build_cnn(fw, (28, 28), channels=(4, 8), dense=(16,)),
        lambda fw: models.build_rnn(fw, "lstm", input_dim=3, units=8, n_outputs=2),
        lambda fw: models.build_residual_mlp(fw, 20, width=16, n_blocks=2, branch_depth=3),
        lambda fw: models.build_bayesian_mlp(fw, 20, [16], n_classes=4),
    ):
        k, t = build("keras"), build("torch")
        assert models.weight_shapes(k) == models.weight_shapes(t)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_seed_makes_builds_identical(fw):
    a = models.build_mlp(fw, 30, [20, 20], dropout=0.1, seed=3)
    b = models.build_mlp(fw, 30, [20, 20], dropout=0.1, seed=3)
    c = models.build_mlp(fw, 30, [20, 20], dropout=0.1, seed=4)
    for wa, wb in zip(_all_weights(a, fw), _all_weights(b, fw), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(_all_weights(a, fw)[0], _all_weights(c, fw)[0])
    # layers of the same shape are drawn independently (an int Keras seed reused would repeat them)
    assert not np.array_equal(_kernel(models.weight_layers(a)[1][1], fw), _kernel(models.weight_layers(a)[0][1], fw)[:20])


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_deep_mlp_and_init_objects(fw):
    init = initializers.get("he_normal")
    model = models.build_mlp(fw, 64, 64, "relu", init=init, depth=50, output_init="zeros", bias_init="zeros")
    layers = models.weight_layers(model)
    assert len(layers) == 51
    assert [n for n, _ in layers][:2] == ["hidden_1", "hidden_2"] and layers[-1][0] == "output"
    deep = np.concatenate([_kernel(layer, fw).ravel() for _, layer in layers[:-1]])
    expected = init.expected_std((64, 64))
    assert abs(deep.std() / expected - 1) < _std_tolerance(deep.size)
    assert not _kernel(layers[-1][1], fw).any()


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_cnn_takes_channels_last_images(fw):
    model = models.build_cnn(fw, (28, 28), channels=(4, 8), init="he_uniform")
    x = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
    from course_utils.training import predict_logits

    assert predict_logits(model, x).shape == (5, 10)
    conv = _kernel(models.weight_layers(model)[1][1], fw)
    assert conv.shape == (3, 3, 4, 8)
    expected = initializers.get("he_uniform").expected_std(conv.shape)
    assert abs(conv.std() / expected - 1) < _std_tolerance(conv.size)
    rgb = models.build_cnn(fw, (16, 16, 3), channels=(4,))
    assert predict_logits(rgb, np.zeros((2, 16, 16, 3), np.float32)).shape == (2, 10)


def _recurrent_weights(model, fw):
    """(input kernel, recurrent kernel, summed bias) in Keras layout."""
    if fw == "keras":
        layer = model.get_layer("rnn")
        cell = layer.cell
        return np.asarray(cell.kernel), np.asarray(cell.recurrent_kernel), np.asarray(cell.bias)
    rnn = model.rnn
    bias = (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach().numpy()
    return rnn.weight_ih_l0.detach().numpy().T, rnn.weight_hh_l0.detach().numpy().T, bias


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_rnn_initializers(fw, cell):
    units = 16
    model = models.build_rnn(fw, cell, input_dim=3, units=units, n_outputs=1, kernel_init="glorot_uniform",
                             recurrent_init="orthogonal", seed=1)
    kernel, recurrent, bias = _recurrent_weights(model, fw)
    gates = 4 if cell == "lstm" else 1
    assert kernel.shape == (3, gates * units) and recurrent.shape == (units, gates * units)
    # orthogonal over the stacked matrix: its rows are orthonormal
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(units), atol=1e-5)
    expected_bias = np.zeros(gates * units)
    if cell == "lstm":
        expected_bias[units:2 * units] = 1.0  # forget gate open
    np.testing.assert_array_equal(bias, expected_bias)
    x = np.zeros((2, 7, 3), np.float32)
    from course_utils.training import predict_logits

    assert predict_logits(model, x).shape == (2, 1)
    seq = models.build_rnn(fw, cell, input_dim=3, units=units, n_outputs=5, return_sequences=True)
    assert predict_logits(seq, x).shape == (2, 7, 5)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_irnn_identity_recurrent(fw):
    model = models.build_rnn(fw, "rnn", input_dim=2, units=8, recurrent_init="identity", activation="relu")
    _, recurrent, _ = _recurrent_weights(model, fw)
    np.testing.assert_array_equal(recurrent, np.eye(8))


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_residual_blocks_start_as_identity(fw):
    model = models.build_residual_mlp(fw, 12, width=16, n_blocks=3, activation="tanh", seed=2)
    x = np.random.default_rng(0).normal(size=(4, 12)).astype(np.float32)
    from course_utils.training import predict_logits

    out = predict_logits(model, x)
    if fw == "torch":
        import torch

        with torch.no_grad():
            xt = torch.from_numpy(x)
            direct = model.output(model.head_act(model.stem_act(model.stem(xt)))).numpy()
    else:
        h = x
        for name in ("stem", "stem_act", "head_act", "output"):
            h = model.get_layer(name)(h)
        direct = np.asarray(h)
    np.testing.assert_allclose(out, direct, rtol=1e-5, atol=1e-6)
    names = [n for n, _ in models.weight_layers(model)]
    assert names[:3] == ["stem", "block_1_dense_1", "block_1_out"]
    # without zero init the branches contribute
    full = models.build_residual_mlp(fw, 12, width=16, n_blocks=3, activation="tanh", seed=2,
                                     zero_branch_output=False)
    assert np.abs(_kernel(dict(models.weight_layers(full))["block_1_out"], fw)).sum() > 0


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_bayesian_layers(fw):
    sigma, prior = 0.01, 0.5
    model = models.build_bayesian_mlp(fw, 40, [32], init="he_normal", n_classes=5, target_sigma=sigma,
                                      prior_sigma=prior, kl_weight=1e-3, seed=0)
    layers = models.bayesian_layers(model)
    assert [n for n, _ in layers] == ["hidden_1", "output"]
    layer = layers[0][1]
    if fw == "torch":
        mu, rho = layer.weight_mu.detach().numpy().T, layer.weight_rho.detach().numpy().T
        bmu, brho = layer.bias_mu.detach().numpy(), layer.bias_rho.detach().numpy()
    else:
        mu, rho = np.asarray(layer.kernel_mu), np.asarray(layer.kernel_rho)
        bmu, brho = np.asarray(layer.bias_mu), np.asarray(layer.bias_rho)
    np.testing.assert_allclose(np.logaddexp(0, rho), sigma, rtol=1e-5)  # softplus(rho) = target sigma
    expected = initializers.get("he_normal").expected_std(mu.shape)
    assert abs(mu.std() / expected - 1) < _std_tolerance(mu.size)
    # KL in closed form against NumPy
    def kl_np(m, r):
        s = np.logaddexp(0, r.astype(np.float64))
        return np.sum(np.log(prior / s) + (s**2 + m.astype(np.float64) ** 2) / (2 * prior**2) - 0.5)

    total = sum(kl_np(*pair) for pair in ((mu, rho), (bmu, brho)))
    assert _scalar(layer.kl()) == pytest.approx(total, rel=1e-4)
    all_kl = _scalar(models.kl_divergence(model))
    assert all_kl > total
    # training passes sample weights; inference uses the means
    x = np.random.default_rng(0).normal(size=(3, 40)).astype(np.float32)
    if fw == "torch":
        import torch

        xt = torch.from_numpy(x)
        model.train()
        a, b = model(xt).detach().numpy(), model(xt).detach().numpy()
        model.eval()
        c, d = model(xt).detach().numpy(), model(xt).detach().numpy()
    else:
        a, b = np.asarray(model(x, training=True)), np.asarray(model(x, training=True))
        assert len(model.losses) == 2  # kl_weight * KL of each Bayesian layer
        c, d = np.asarray(model(x, training=False)), np.asarray(model(x, training=False))
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(c, d)


def test_bayesian_dense_standalone():
    for fw in FRAMEWORKS:
        layer = models.bayesian_dense(fw, 10, 4, mean_init="glorot_uniform", target_sigma=0.05)
        assert _scalar(layer.kl()) > 0
    assert isinstance(models.bayesian_dense("torch", 3, 2), models.BayesianLinear)
    assert isinstance(models.bayesian_dense("keras", 3, 2), models.BayesianDense)


def test_activations_match_across_frameworks():
    """Each named activation computes the same function in both builds (leaky slope 0.01, exact GELU)."""
    import torch

    x = np.linspace(-3, 3, 61, dtype=np.float32)[:, None]
    for act in models.ACTIVATIONS:
        k = models.build_mlp("keras", 1, [1], act, init="ones", output_init="ones")
        t = models.build_mlp("torch", 1, [1], act, init="ones", output_init="ones")
        yk = np.asarray(k(x))[:, :1]
        with torch.no_grad():
            yt = t(torch.from_numpy(x)).numpy()[:, :1]
        np.testing.assert_allclose(yk, yt, rtol=1e-5, atol=1e-6, err_msg=act)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_softmax_output(fw):
    model = models.build_mlp(fw, 4, [3], output_activation="softmax", n_classes=3)
    from course_utils.training import predict_logits

    p = predict_logits(model, np.ones((2, 4), np.float32))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_bad_input_messages():
    with pytest.raises(ValueError, match="Valid choices: 'keras', 'torch'"):
        models.build_mlp("jax", 10, 5)
    with pytest.raises(ValueError, match=r"activation 'rleu'.*'relu'.*Did you mean 'relu'"):
        models.build_mlp("torch", 10, 5, activation="rleu")
    with pytest.raises(ValueError, match=r"^init: .*he_normal"):
        models.build_mlp("torch", 10, 5, init="he_nromal")
    with pytest.raises(TypeError, match="init must be an initializer name"):
        models.build_mlp("torch", 10, 5, init=3.0)
    with pytest.raises(TypeError, match="hidden must be an int"):
        models.build_mlp("torch", 10, "wide")
    with pytest.raises(ValueError, match="hidden"):
        models.build_mlp("torch", 10, [5, 0])
    with pytest.raises(ValueError, match="dropout must lie in"):
        models.build_mlp("torch", 10, 5, dropout=1.0)
    with pytest.raises(ValueError, match="input_dim must be at least 1"):
        models.build_mlp("keras", 0, 5)
    with pytest.raises(ValueError, match="cell"):
        models.build_rnn("torch", "gru")
    with pytest.raises(ValueError, match="'tanh'"):
        models.build_rnn("torch", "lstm", activation="relu")
    with pytest.raises(ValueError, match="too small"):
        models.build_cnn("torch", (4, 4), channels=(2, 2, 2))
    with pytest.raises(ValueError, match="target_sigma"):
        models.build_bayesian_mlp("torch", 4, 3, target_sigma=0.0)
    with pytest.raises(TypeError, match="model must be a Keras model"):
        models.weight_layers("not a model")
