"""activation_stats, layer_activations, gradient_stats and layer_gradients on real Keras and torch models.

Small models are built here directly (and with ``models.build_mlp`` where it
exists) with the same weights in both frameworks, so the two must agree to
float32 precision; gradients are checked against central finite differences
(float64 torch) and against closed forms (softmax cross-entropy).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from course_utils import diagnostics, frameworks

N, D_IN, HIDDEN, CLASSES = 48, 6, 10, 3


@pytest.fixture(scope="module")
def keras():
    return frameworks.keras()


@pytest.fixture(scope="module")
def torch():
    return frameworks.torch()


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return rng.standard_normal((N, D_IN)).astype(np.float32), rng.integers(0, CLASSES, N)


@pytest.fixture(scope="module")
def weights():
    """Kernels in Keras layout (in, out) and biases for a 6-10-10-3 network."""
    rng = np.random.default_rng(1)
    sizes = [D_IN, HIDDEN, HIDDEN, CLASSES]
    return [(rng.normal(0, 1 / math.sqrt(a), (a, b)).astype(np.float32), rng.normal(0, 0.1, b).astype(np.float32))
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)]


def keras_sequential(keras, weights):
    """tanh Dense, then a linear Dense followed by a ReLU layer and dropout, then logits."""
    model = keras.Sequential([
        keras.Input((D_IN,)),
        keras.layers.Dense(HIDDEN, activation="tanh", name="hidden_1"),
        keras.layers.Dense(HIDDEN, name="hidden_2"),
        keras.layers.ReLU(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(CLASSES, name="logits"),
    ])
    for layer, (w, b) in zip([model.layers[0], model.layers[1], model.layers[4]], weights, strict=True):
        layer.set_weights([w, b])
    return model


def keras_functional(keras, weights):
    inputs = keras.Input((D_IN,))
    h = keras.layers.Dense(HIDDEN, activation="tanh", name="f_hidden_1")(inputs)
    h = keras.layers.Dense(HIDDEN, name="f_hidden_2")(h)
    h = keras.layers.Activation("relu")(h)
    outputs = keras.layers.Dense(CLASSES, name="f_logits")(h)
    model = keras.Model(inputs, outputs)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    for layer, (w, b) in zip(dense, weights, strict=True):
        layer.set_weights([w, b])
    return model


def torch_sequential(torch, weights, dtype=None):
    nn = torch.nn
    model = nn.Sequential(nn.Linear(D_IN, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(HIDDEN, CLASSES))
    with torch.no_grad():
        for layer, (w, b) in zip([model[0], model[2], model[5]], weights, strict=True):
            layer.weight.copy_(torch.as_tensor(w.T))
            layer.bias.copy_(torch.as_tensor(b))
    return model.to(dtype) if dtype is not None else model


def numpy_forward(weights, x):
    (w1, b1), (w2, b2), (w3, b3) = [(w.astype(np.float64), b.astype(np.float64)) for w, b in weights]
    h1 = np.tanh(x @ w1 + b1)
    h2 = np.maximum(h1 @ w2 + b2, 0)
    return h1, h2, h2 @ w3 + b3


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def all_models(keras, torch, weights):
    return {"keras_sequential": keras_sequential(keras, weights), "keras_functional": keras_functional(keras, weights),
            "torch": torch_sequential(torch, weights)}


# ------------------------------------------------------------------ activations


@pytest.mark.parametrize("kind", ["keras_sequential", "keras_functional", "torch"])
def test_activation_stats_one_row_per_weight_layer(all_models, batch, weights, kind):
    x, _ = batch
    frame = diagnostics.activation_stats(all_models[kind], x)
    assert len(frame) == 3
    assert list(frame["depth"]) == [1, 2, 3]
    assert list(frame["activation"]) == ["tanh", "relu", "linear"]
    assert list(frame["units"]) == [HIDDEN, HIDDEN, CLASSES]
    assert set(frame["framework"]) == {kind.split("_")[0]}
    h1, h2, logits = numpy_forward(weights, x.astype(np.float64))
    expected = [h1, h2, logits]
    for row, a in zip(frame.itertuples(), expected, strict=True):
        assert row.mean == pytest.approx(a.mean(), abs=1e-5)
        assert row.std == pytest.approx(a.std(), rel=1e-5)
    tanh_row, relu_row, out_row = frame.iloc[0], frame.iloc[1], frame.iloc[2]
    assert tanh_row.frac_saturated == pytest.approx(np.mean(np.abs(h1) > 0.99))
    assert math.isnan(tanh_row.frac_dead) and math.isnan(relu_row.frac_saturated)
    assert relu_row.frac_zero == pytest.approx(np.mean(h2 <= 0))
    assert relu_row.frac_dead == pytest.approx(np.mean((h2 <= 0).all(axis=0)))
    assert out_row[["frac_saturated", "frac_dead", "frac_zero"]].isna().all()


def test_keras_and_torch_agree_with_the_same_weights(all_models, batch):
    x, y = batch
    columns = ["depth", "activation", "units", "mean", "std", "frac_saturated", "frac_dead", "frac_zero"]
    k = diagnostics.activation_stats(all_models["keras_sequential"], x)[columns]
    t = diagnostics.activation_stats(all_models["torch"], x)[columns]
    pd.testing.assert_frame_equal(k, t, atol=1e-5, rtol=1e-5)
    columns = ["depth", "weight_std", "weight_grad_std", "weight_grad_norm", "grad_weight_ratio", "grad_std", "loss"]
    for loss in ("cross_entropy", "mse"):
        kg = diagnostics.gradient_stats(all_models["keras_functional"], x, y, loss=loss)[columns]
        tg = diagnostics.gradient_stats(all_models["torch"], x, y, loss=loss)[columns]
        pd.testing.assert_frame_equal(kg, tg, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("kind", ["keras_sequential", "torch"])
def test_layer_activations_are_the_post_activation_outputs(all_models, batch, weights, kind):
    x, _ = batch
    acts = diagnostics.layer_activations(all_models[kind], x)
    assert len(acts) == 3
    for got, expected in zip(acts.values(), numpy_forward(weights, x.astype(np.float64)), strict=True):
        assert got.shape == expected.shape
        assert np.allclose(got, expected, atol=1e-5)
    if kind == "keras_sequential":
        assert list(acts) == ["hidden_1", "hidden_2", "logits"]


def test_dead_relu_units_and_saturated_tanh_are_counted(torch):
    nn = torch.nn
    relu = nn.Sequential(nn.Linear(4, 5), nn.ReLU())
    tanh = nn.Sequential(nn.Linear(4, 6), nn.Tanh())
    with torch.no_grad():
        relu[0].bias[:2] = -100.0  # two of five units can never fire on N(0, 1) inputs
        tanh[0].weight.mul_(1000.0)  # pre-activations of std ~500: |z| < atanh(0.99) = 2.65 is rare (~0.5%)
    x = np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32)
    frame = diagnostics.activation_stats(relu, x)
    assert frame.loc[0, "frac_dead"] == pytest.approx(2 / 5)
    assert frame.loc[0, "frac_zero"] >= 2 / 5
    assert diagnostics.activation_stats(tanh, x).loc[0, "frac_saturated"] > 0.95


def test_torch_convolution_counts_dead_channels(torch):
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    with torch.no_grad():
        model[0].bias[0] = -100.0
    x = np.random.default_rng(0).standard_normal((8, 1, 8, 8)).astype(np.float32)
    frame = diagnostics.activation_stats(model, x)
    assert list(frame["units"]) == [4, 2]
    assert frame.loc[0, "frac_dead"] == pytest.approx(1 / 4)


# ------------------------------------------------------------------ gradients


def test_torch_gradient_stats_match_finite_differences(torch, weights, batch):
    """Central differences of the float64 loss give dL/dW; gradient_stats must report its norm and std."""
    x, y = batch
    model = torch_sequential(torch, weights, dtype=torch.float64)
    frame = diagnostics.gradient_stats(model, x.astype(np.float64), y)
    xt, yt = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y)
    eps = 1e-6  # float64: truncation error ~eps^2, round-off ~1e-16/eps; both far below the 1e-7 asked

    def loss_value():
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(model.eval()(xt), yt))

    for row, layer in zip(frame.itertuples(), [model[0], model[2], model[5]], strict=True):
        w = layer.weight
        grad = np.zeros(tuple(w.shape))
        for index in np.ndindex(*grad.shape):
            with torch.no_grad():
                w[index] += eps
                up = loss_value()
                w[index] -= 2 * eps
                down = loss_value()
                w[index] += eps
            grad[index] = (up - down) / (2 * eps)
        assert row.weight_grad_norm == pytest.approx(np.linalg.norm(grad), rel=1e-6)
        assert row.weight_grad_std == pytest.approx(grad.std(), rel=1e-6)
        assert row.grad_weight_ratio == pytest.approx(np.linalg.norm(grad) / np.linalg.norm(w.detach().numpy()),
                                                      rel=1e-6)
    assert frame.loss.iloc[0] == pytest.approx(loss_value(), rel=1e-12)


@pytest.mark.parametrize("kind", ["keras_sequential", "keras_functional", "torch"])
def test_back_propagated_gradients_match_the_chain_rule(all_models, weights, batch, kind):
    """dL/dlogits = (softmax - onehot) / n for the batch-mean cross-entropy; then back through W3 and ReLU."""
    x, y = batch
    h1, h2, logits = numpy_forward(weights, x.astype(np.float64))
    g_logits = (softmax(logits) - np.eye(CLASSES)[y]) / N
    g_h2 = g_logits @ weights[2][0].T.astype(np.float64)
    g_h1 = (g_h2 * (h2 > 0)) @ weights[1][0].T.astype(np.float64)
    grads = diagnostics.layer_gradients(all_models[kind], x, y)
    for got, expected in zip(grads.values(), [g_h1, g_h2, g_logits], strict=True):
        assert np.allclose(got, expected, atol=1e-6)
    frame = diagnostics.gradient_stats(all_models[kind], x, y)
    assert frame.grad_std.to_numpy() == pytest.approx([g_h1.std(), g_h2.std(), g_logits.std()], rel=1e-4)
    loss = -np.mean(np.log(softmax(logits)[np.arange(N), y]))
    assert frame.loss.iloc[0] == pytest.approx(loss, rel=1e-5)


def test_mse_uses_one_hot_targets_for_class_labels(all_models, weights, batch):
    x, y = batch
    _, _, logits = numpy_forward(weights, x.astype(np.float64))
    frame = diagnostics.gradient_stats(all_models["torch"], x, y, loss="mse")
    assert frame.loss.iloc[0] == pytest.approx(np.mean((logits - np.eye(CLASSES)[y]) ** 2), rel=1e-5)
    grads = diagnostics.layer_gradients(all_models["torch"], x, y, loss="mse")
    assert np.allclose(grads["5"], 2 * (logits - np.eye(CLASSES)[y]) / logits.size, atol=1e-6)


def test_diagnostics_change_nothing_in_the_model(torch, keras, weights, batch):
    x, y = batch
    model = torch_sequential(torch, weights)
    model.train()
    before = [p.detach().clone() for p in model.parameters()]
    a = diagnostics.gradient_stats(model, x, y)
    b = diagnostics.gradient_stats(model, x, y)  # dropout is off during diagnostics: deterministic
    pd.testing.assert_frame_equal(a, b)
    assert model.training  # mode restored
    assert all(p.grad is None for p in model.parameters())  # no gradient left behind for an optimiser
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters(), strict=True))
    kmodel = keras_sequential(keras, weights)
    kbefore = [w.copy() for w in kmodel.get_weights()]
    diagnostics.gradient_stats(kmodel, x, y)
    assert all(np.array_equal(p, q) for p, q in zip(kbefore, kmodel.get_weights(), strict=True))


# ------------------------------------------------------------------ with the course's builders


@pytest.mark.parametrize("activation", ["tanh", "leaky_relu", "gelu", "relu"])
def test_with_build_mlp_in_both_frameworks(batch, activation):
    from course_utils import models

    x, y = batch
    frames = {}
    for framework in ("keras", "torch"):
        model = models.build_mlp(framework, D_IN, [16] * 4, activation=activation, init="glorot_normal",
                                 n_classes=3, dropout=0.1)
        act = diagnostics.activation_stats(model, x)
        grad = diagnostics.gradient_stats(model, x, y)
        assert list(act["layer"]) == list(grad["layer"]) == ["hidden_1", "hidden_2", "hidden_3", "hidden_4", "output"]
        assert list(act["activation"]) == [activation] * 4 + ["linear"], framework
        assert act["std"].between(0.05, 3.0).all() and grad["weight_grad_norm"].gt(0).all()
        frames[framework] = act
    # same names, same shapes of statistics in both frameworks (the weights differ: each framework draws its own)
    assert list(frames["keras"]["units"]) == list(frames["torch"]["units"])


def test_with_build_cnn_and_build_rnn(keras, torch):
    from course_utils import models

    rng = np.random.default_rng(0)
    images, labels = rng.standard_normal((6, 28, 28)).astype(np.float32), rng.integers(0, 3, 6)
    sequences = rng.standard_normal((6, 12, 4)).astype(np.float32)
    for framework in ("keras", "torch"):
        cnn = models.build_cnn(framework, n_classes=3, channels=(4, 8))
        frame = diagnostics.activation_stats(cnn, images)
        assert list(frame["units"]) == [4, 8, 3]  # channels are a convolution's units in both layouts
        assert list(frame["activation"]) == ["relu", "relu", "linear"]
        assert frame["frac_zero"][:2].between(0.2, 0.8).all()
        assert len(diagnostics.gradient_stats(cnn, images, labels)) == 3
        rnn = models.build_rnn(framework, cell="rnn", input_dim=4, units=8, n_outputs=3)
        frame = diagnostics.activation_stats(rnn, sequences)
        assert list(frame["activation"]) == ["tanh", "linear"] and list(frame["units"]) == [8, 3]
        assert frame.loc[0, "std"] < 1.0  # a tanh output


# ------------------------------------------------------------------ bad input


def test_bad_input_is_explained(all_models, batch, torch):
    x, y = batch
    with pytest.raises(TypeError, match="Keras model"):
        diagnostics.activation_stats("not a model", x)
    with pytest.raises(ValueError, match="same number of samples"):
        diagnostics.gradient_stats(all_models["torch"], x, y[:-1])
    with pytest.raises(ValueError, match="'cross_entropy', 'mse'"):
        diagnostics.gradient_stats(all_models["torch"], x, y, loss="hinge")
    for kind in ("keras_sequential", "keras_functional", "torch"):
        with pytest.raises(ValueError, match="does not fit"):
            diagnostics.activation_stats(all_models[kind], np.zeros((4, D_IN + 1), np.float32))
    with pytest.raises(ValueError, match="at least one sample"):
        diagnostics.activation_stats(all_models["torch"], np.zeros((0, D_IN), np.float32))
    with pytest.raises(ValueError, match=r"integer class labels of shape \(n,\) in \[0, 2\]"):
        diagnostics.gradient_stats(all_models["keras_sequential"], x, y + 1)
    with pytest.raises(ValueError, match="integer class labels"):
        diagnostics.gradient_stats(all_models["torch"], x, np.eye(CLASSES)[y])
    with pytest.raises(ValueError, match="shaped like the model's output"):
        diagnostics.gradient_stats(all_models["torch"], x, np.zeros((N, 2)), loss="mse")
    with pytest.raises(ValueError, match="no weight layers"):
        diagnostics.activation_stats(torch.nn.Sequential(torch.nn.ReLU()), x)


def test_keras_model_without_input_is_built_on_the_batch(keras, batch):
    x, y = batch
    model = keras.Sequential([keras.layers.Dense(5, activation="sigmoid"), keras.layers.Dense(CLASSES)])
    frame = diagnostics.gradient_stats(model, x, y)
    assert list(frame["activation"]) == ["sigmoid", "linear"] and frame["weight_grad_norm"].gt(0).all()
    stats = diagnostics.activation_stats(model, x)
    sigmoid = next(iter(diagnostics.layer_activations(model, x).values()))
    assert stats.loc[0, "frac_saturated"] == pytest.approx(np.mean((sigmoid < 0.01) | (sigmoid > 0.99)))


def test_bayesian_layers_report_their_means_not_their_scales(batch):
    from course_utils import models

    x, y = batch
    for framework in ("keras", "torch"):
        model = models.build_bayesian_mlp(framework, D_IN, [8], n_classes=CLASSES)
        frame = diagnostics.gradient_stats(model, x, y)
        # rho starts near softplus^-1(1e-3) = -6.9: mixed in, it would put the weights' std near 3.5
        assert frame["weight_std"].lt(1.0).all(), framework
        assert list(frame["layer"]) == ["hidden_1", "output"]
