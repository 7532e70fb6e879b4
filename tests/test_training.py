"""course_utils.training: learning, History, determinism, recording, bad input -- both frameworks."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest

from course_utils import _keras_training, models, training
from course_utils.training import History, train

FRAMEWORKS = ("keras", "torch")


@pytest.fixture(scope="module")
def fashion():
    """A small real subset, flattened: 1,200 training and 400 validation images."""
    from course_utils import data

    try:
        ds = data.load_dataset("fashion_mnist", subset=1200, flatten=True)
    except data.DataUnavailableError:  # no Fashion-MNIST here: MNIST's offline subset is real data too
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", data.DataFallbackWarning)
            ds = data.load_dataset("mnist", subset=1200, flatten=True)
    return ds.x_train, ds.y_train, ds.x_test[:400], ds.y_test[:400]


def _mlp(fw, seed=0, **kw):
    return models.build_mlp(fw, 784, [64], "relu", dropout=0.2, seed=seed, **kw)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_train_lowers_loss_and_learns(fw, fashion):
    hist = train(_mlp(fw), fashion, epochs=3, batch_size=32, lr=1e-3, seed=0)
    assert hist.framework == fw and hist.epoch == [1, 2, 3]
    assert hist.loss[-1] < hist.loss[0] < math.log(10)  # below chance level (ln 10) and falling
    assert hist.val_loss[-1] < hist.val_loss[0]
    assert hist.val_accuracy[-1] > 0.6  # chance is 0.1
    assert all(s > 0 for s in hist.seconds_per_epoch)
    x, _, xv, _ = fashion
    assert hist.config["n_train"] == len(x) and hist.config["n_val"] == len(xv)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_evaluate_matches_history(fw, fashion):
    x, y, xv, yv = fashion
    model = _mlp(fw)
    hist = train(model, fashion, epochs=1, batch_size=64)
    ev = training.evaluate(model, xv, yv)
    assert ev["accuracy"] == pytest.approx(hist.val_accuracy[-1], abs=1e-6)
    assert ev["loss"] == pytest.approx(hist.val_loss[-1], rel=1e-4)
    assert training.predict_logits(model, xv[:5]).shape == (5, 10)


def test_history_has_the_same_fields_either_way(fashion):
    small = tuple(a[:256] for a in fashion)
    hk = train(_mlp("keras"), small, epochs=2, batch_size=64, record_steps=True, record_grad_norms=True)
    ht = train(_mlp("torch"), small, epochs=2, batch_size=64, record_steps=True, record_grad_norms=True)
    names = [f.name for f in dataclasses.fields(History)]
    for h in (hk, ht):
        assert isinstance(h, History)
        for name in ("loss", "accuracy", "val_loss", "val_accuracy", "seconds_per_epoch"):
            values = getattr(h, name)
            assert len(values) == 2 and all(isinstance(v, float) for v in values), name
        assert len(h.step_loss) == 2 * 4  # 256 examples / 64 per batch, two epochs
        assert list(h.grad_norms) == ["hidden_1", "output"]
        assert all(len(v) == 2 and all(g > 0 for g in v) for v in h.grad_norms.values())
    assert set(hk.config) == set(ht.config) | {"steps_per_execution"}
    assert [f.name for f in dataclasses.fields(hk)] == names
    frame_k, frame_t = hk.to_frame(), ht.to_frame()
    assert list(frame_k.columns) == list(frame_t.columns) == ["framework", "label", "seed", "epoch", "metric", "value"]
    assert len(frame_k) == len(frame_t) == 2 * len(History.METRICS)
    # the per-step losses average to the epoch's loss (equal batches)
    for h in (hk, ht):
        assert np.mean(h.step_loss[:4]) == pytest.approx(h.loss[0], rel=1e-5)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_same_seed_same_history(fw, fashion):
    small = tuple(a[:600] for a in fashion)
    runs = [train(_mlp(fw, seed=1), small, epochs=2, batch_size=32, seed=5, record_steps=True, record_grad_norms=True)
            for _ in range(2)]
    assert runs[0].same_as(runs[1])
    assert runs[0].step_loss == runs[1].step_loss  # bit for bit, every step
    other = train(_mlp(fw, seed=1), small, epochs=2, batch_size=32, seed=6)
    assert other.loss != runs[0].loss  # a different seed shuffles (and drops out) differently


def test_recording_does_not_change_the_run(fashion):
    small = tuple(a[:256] for a in fashion)
    for fw in FRAMEWORKS:
        plain = train(_mlp(fw), small, epochs=1, batch_size=32)
        recorded = train(_mlp(fw), small, epochs=1, batch_size=32, record_steps=True, record_grad_norms=True)
        assert plain.loss == pytest.approx(recorded.loss, rel=1e-6)
        assert plain.val_accuracy == recorded.val_accuracy


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_optimizers_and_no_validation(fw, fashion):
    x, y, _, _ = fashion
    for opt in training.OPTIMIZERS:
        lr = 0.05 if opt in ("sgd", "momentum") else 1e-3
        h = train(_mlp(fw), (x[:256], y[:256]), epochs=1, batch_size=64, optimizer=opt, lr=lr)
        assert math.isnan(h.val_loss[0]) and math.isfinite(h.loss[0]), opt


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_mse_sequences_cnn_and_bayesian(fw, fashion):
    rng = np.random.default_rng(0)
    # adding problem (Hochreiter & Schmidhuber 1997): sum of the two marked values
    n, steps = 256, 10
    vals = rng.random((n, steps)).astype(np.float32)
    marks = np.zeros((n, steps), np.float32)
    marks[np.arange(n), rng.integers(0, steps, n)] = 1
    x = np.stack([vals, marks], axis=-1)
    y = (vals * marks).sum(axis=1)
    rnn = models.build_rnn(fw, "lstm", input_dim=2, units=8, n_outputs=1)
    h = train(rnn, (x, y, x[:64], y[:64]), epochs=2, batch_size=32, loss="mse")
    assert math.isnan(h.accuracy[0]) and h.loss[-1] < h.loss[0]
    # per-step classification over sequences
    seq = models.build_rnn(fw, "rnn", input_dim=2, units=8, n_outputs=3, return_sequences=True)
    labels = rng.integers(0, 3, (n, steps))
    h = train(seq, (x, labels), epochs=1, batch_size=64)
    assert 0 <= h.accuracy[0] <= 1
    xi, yi, xv, yv = fashion
    cnn = models.build_cnn(fw, (28, 28), channels=(4,))
    h = train(cnn, (xi[:256].reshape(-1, 28, 28), yi[:256]), epochs=1, batch_size=64)
    assert math.isfinite(h.loss[0])
    # Bayes by Backprop: the loss includes KL / n_train, set for the run and restored after
    bnn = models.build_bayesian_mlp(fw, 784, [32], target_sigma=0.01)
    h = train(bnn, (xi[:256], yi[:256], xv, yv), epochs=1, batch_size=64)
    assert all(layer.kl_weight is None for _, layer in models.bayesian_layers(bnn))
    kl_per_example = float(np.asarray(_detach(models.kl_divergence(bnn)))) / 256
    assert h.loss[0] > kl_per_example > 1  # KL dominates at sigma = 0.01 against a unit prior
    assert h.val_loss[0] < 5  # validation loss is the data term only


def _detach(t):
    return t.detach() if hasattr(t, "detach") else t


def test_softmax_models_train_on_probabilities(fashion):
    x, y, xv, yv = fashion
    for fw in FRAMEWORKS:
        model = models.build_mlp(fw, 784, [32], output_activation="softmax")
        h = train(model, (x[:512], y[:512], xv, yv), epochs=2, batch_size=32)
        assert h.loss[-1] < h.loss[0] and h.val_accuracy[-1] > 0.4


def test_bad_input_messages(fashion):
    x, y, xv, yv = fashion
    model = _mlp("torch")
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        train(model, fashion, epochs=0)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        train(model, fashion, epochs=1, batch_size=0)
    with pytest.raises(ValueError, match=r"optimizer 'adma'.*'sgd', 'momentum', 'adam'.*Did you mean 'adam'"):
        train(model, fashion, epochs=1, optimizer="adma")
    with pytest.raises(ValueError, match="Valid choices: 'cross_entropy', 'mse'"):
        train(model, fashion, epochs=1, loss="hinge")
    with pytest.raises(TypeError, match="model must be a Keras model"):
        train("mlp", fashion, epochs=1)
    with pytest.raises(TypeError, match="data must be a Dataset"):
        train(model, x, epochs=1)
    images = x.reshape(-1, 28, 28)
    for fw in FRAMEWORKS:
        m = _mlp(fw) if fw == "torch" else _mlp("keras")
        with pytest.raises(ValueError, match=r"expects inputs of shape \(n, 784\).*x.reshape\(len\(x\), 784\)"):
            train(m, (images, y), epochs=1)
    with pytest.raises(ValueError, match="one target per example"):
        train(model, (x, y[:-1]), epochs=1)
    with pytest.raises(TypeError, match="integer class indices"):
        train(model, (x, y.astype(np.float32)), epochs=1)
    with pytest.raises(ValueError, match="n_classes=12"):
        train(model, (x, np.where(y == 0, 11, y)), epochs=1)
    with pytest.raises(ValueError, match="x_val has shape"):
        train(model, (x, y, xv[:, :100], yv), epochs=1)
    with pytest.raises(TypeError, match="progress must be"):
        train(model, fashion, epochs=1, progress="yes")
    cnn = models.build_cnn("torch", (28, 28), channels=(4,))
    with pytest.raises(ValueError, match=r"\(n, 28, 28\)"):
        train(cnn, (x, y), epochs=1)


def test_progress_is_quiet_under_tests_and_can_be_forced(fashion, capsys):
    assert training.show_progress(None) is False  # conftest sets COURSE_PROFILE=quick
    assert training.show_progress(True) is True
    x, y, _, _ = fashion
    train(_mlp("torch"), (x[:128], y[:128]), epochs=1, batch_size=32, progress=True, label="demo")
    err = capsys.readouterr().err
    assert "demo" in err and "4/4" in err


def _adam_runs(name, w0, grads, keras_cls=None):
    """Weights after each step of the course's Keras and PyTorch optimizer `name` (or stock Keras) on the same gradients."""
    keras = "keras" if keras_cls is None else "keras_stock"
    return (list(training.adam_steps(grads, w0, variant=keras, optimizer=name, lr=1e-2)),
            list(training.adam_steps(grads, w0, variant="torch", optimizer=name, lr=1e-2)))


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_keras_adam_takes_pytorchs_steps(name):
    """Same weights, same gradients: the course's Keras Adam/AdamW and PyTorch's agree after every step.

    Gradients span nine decades, so that many are below epsilon, where its placement decides the step.
    Stock Keras Adam with the same epsilon does not agree (the check can fail).
    """
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(30, 20)).astype(np.float32)
    grads = [(rng.normal(size=w0.shape) * 10.0 ** rng.uniform(-9, 0, size=w0.shape)).astype(np.float32)
             for _ in range(20)]
    keras_w, torch_w = _adam_runs(name, w0, grads)
    assert np.abs(keras_w[-1] - w0).max() > 0.1  # the weights did move
    for t, (k, p) in enumerate(zip(keras_w, torch_w, strict=True), start=1):
        np.testing.assert_allclose(k, p, rtol=0, atol=2e-6, err_msg=f"step {t}")  # float32 rounding of ~1
    stock_w, _ = _adam_runs(name, w0, grads, keras_cls=True)
    assert np.abs(stock_w[-1] - torch_w[-1]).max() > 1e-3  # a different optimizer with the same epsilon


def test_stock_keras_adam_epsilon_is_larger_by_the_predicted_factor():
    """Step 1 with gradients far below epsilon: stock Keras moves sqrt(1 - beta_2) times less than PyTorch.

    At step 1, m_hat = g and v_hat = g^2, so PyTorch steps lr * g / (|g| + eps) and Keras's "epsilon hat"
    lr * g / (|g| + eps / sqrt(1 - beta_2)); the ratio of the two steps is predicted element by element.
    """
    eps, beta_2 = training.ADAM_EPSILON, 0.999
    rng = np.random.default_rng(1)
    w0 = np.zeros((50, 40), dtype=np.float32)  # steps measured from zero: no rounding against weights ~1
    g = (rng.choice([-1.0, 1.0], size=w0.shape) * 10.0 ** rng.uniform(-10, -4, size=w0.shape)).astype(np.float32)
    fused_w, torch_w = _adam_runs("adam", w0, [g])
    stock_w, _ = _adam_runs("adam", w0, [g], keras_cls=True)
    a = np.abs(g.astype(np.float64))
    predicted = (a + eps / np.sqrt(1 - beta_2)) / (a + eps)
    np.testing.assert_allclose(torch_w[0] / stock_w[0], predicted, rtol=1e-4)
    np.testing.assert_allclose(fused_w[0], torch_w[0], rtol=1e-5)
    tiny = a < eps / 100  # where the factor is 1/sqrt(1 - beta_2) = 31.6
    assert tiny.sum() > 100
    np.testing.assert_allclose(torch_w[0][tiny] / stock_w[0][tiny], 1 / np.sqrt(1 - beta_2), rtol=0.02)


def test_course_adam_refuses_amsgrad():
    from course_utils import frameworks

    keras = frameworks.keras()
    import tensorflow as tf

    opt = _keras_training.fused_adam_classes(keras).Adam(learning_rate=1e-2, amsgrad=True)
    with pytest.raises(ValueError, match="AMSGrad"):
        opt.apply_gradients([(tf.constant(np.ones(3, np.float32)), keras.Variable(np.zeros(3, np.float32)))])


def test_torch_thread_policy(fashion, monkeypatch):
    """Small steps run on one thread (robust on shared CPUs), large ones on all; always deterministic."""
    monkeypatch.setenv("COURSE_THREADS", "2")
    x, y, _, _ = fashion
    mlp = models.build_mlp("torch", 784, [512])
    assert training.forward_macs(mlp, x) == 784 * 512 + 512 * 10  # dense: one multiply-add per weight
    assert training.torch_threads_for(mlp, x, 32) == 1
    cnn = models.build_cnn("torch", (28, 28), channels=(16, 32))
    macs = training.forward_macs(cnn, x.reshape(-1, 28, 28))
    assert macs == 9 * 16 * 784 + 9 * 16 * 32 * 196 + 32 * 49 * 10  # conv: weights x output positions
    assert training.torch_threads_for(cnn, x.reshape(-1, 28, 28), 128) == 2
    import torch

    before = torch.get_num_threads()
    h = train(mlp, (x[:64], y[:64]), epochs=1, batch_size=32)
    assert h.config["threads"] == 1 and torch.get_num_threads() == before  # restored
    h = train(mlp, (x[:64], y[:64]), epochs=1, batch_size=32, threads=2)
    assert h.config["threads"] == 2
    with pytest.raises(ValueError, match="threads must be at least 1"):
        train(mlp, (x[:64], y[:64]), epochs=1, threads=0)


def test_course_progress_env_switches_bars(monkeypatch):
    """COURSE_PROGRESS=1/0 overrides the automatic choice (the book sets 0); an explicit argument wins."""
    monkeypatch.setenv("COURSE_PROGRESS", "1")
    assert training.show_progress(None) is True
    monkeypatch.setenv("COURSE_PROGRESS", "0")
    assert training.show_progress(None) is False and training.show_progress(True) is True
    monkeypatch.setenv("COURSE_PROGRESS", "yes")
    with pytest.raises(ValueError, match="COURSE_PROGRESS must be 1"):
        training.show_progress(None)
    from tools import book

    assert book.kernel_env({"COURSE_PROGRESS": "1"})["COURSE_PROGRESS"] == "0"


def test_keras_runs_leave_no_functions_behind(fashion):
    """A run leaves nothing registered in TensorFlow's globals: no tf.cond branch function in the context
    (slots and metric totals are built eagerly) and no CustomGradient from the optimizer's one-replica
    all-reduce. Each of these kept a run's traced graph alive, ~10 MB per run (keras-team/keras#17458)."""
    import gc

    from tensorflow.python.eager import context
    from tensorflow.python.framework import ops

    x, y, _, _ = fashion
    functions, gradients = [], []
    for seed in range(3):
        train(_mlp("keras"), (x[:128], y[:128]), epochs=1, batch_size=32, seed=seed)
        gc.collect()
        functions.append(len(context.context().list_function_names()))
        gradients.append(sum(name.startswith("CustomGradient") for name in ops._gradient_registry.list()))
    assert functions[2] == functions[1], functions
    assert gradients[2] == gradients[1], gradients


def test_adam_steps_bad_input():
    with pytest.raises(ValueError, match="variant"):
        training.adam_steps([np.zeros(2)], np.zeros(2), variant="jax")
    with pytest.raises(ValueError, match="shape"):
        training.adam_steps([np.zeros(3)], np.zeros(2))


_TEMPLATE_CASES = {
    "mlp, dropout, Adam": (lambda s: _mlp("keras", seed=s), dict(epochs=2, batch_size=64)),
    "12 layers, momentum, no validation, a partial last batch": (
        lambda s: models.build_mlp("keras", 784, 32, "relu", init="glorot_normal", depth=12, seed=s),
        dict(epochs=2, batch_size=50, optimizer="momentum", lr=0.01, validation=False)),
    "softmax output, SGD": (
        lambda s: models.build_mlp("keras", 784, [32], "tanh", init="lecun_normal", seed=s, output_activation="softmax"),
        dict(epochs=1, batch_size=100, optimizer="sgd", lr=0.1)),
    "residual (functional)": (lambda s: models.build_residual_mlp("keras", 784, 32, 4, seed=s), dict(epochs=1, batch_size=64)),
}


@pytest.mark.parametrize("case", list(_TEMPLATE_CASES))
def test_keras_runs_of_one_architecture_share_a_traced_step_and_keep_their_numbers(case, fashion, monkeypatch):
    """A Keras run whose architecture and setup a previous run shared fits that run's template (its traced
    step kept) on the model's own values: every History number and every final variable (weights, dropout
    seed states) equals the model's own fit to the last bit, and the template's step is not traced again."""
    from course_utils import _keras_training as kt

    build, kw = _TEMPLATE_CASES[case]

    def runs(max_templates):
        monkeypatch.setattr(kt, "MAX_TEMPLATES", max_templates)
        kt.forget_templates()
        out, functions = [], []
        for seed in (0, 1, 2):
            model = build(seed)
            hist = train(model, fashion, seed=seed, progress=False, **kw)
            out.append((hist, [np.asarray(v).copy() for v in model.variables], int(model.optimizer.iterations)))
            functions.append([id(t.train_function) for t in kt._TEMPLATES.values()])
        return out, functions

    default = kt.MAX_TEMPLATES
    own, none_kept = runs(0)
    shared, kept = runs(default)
    assert none_kept == [[], [], []]
    assert len(kept[0]) == 1 and kept[0] == kept[1] == kept[2]  # one template, one traced step for all three
    for (h_own, v_own, it_own), (h_shared, v_shared, it_shared) in zip(own, shared, strict=True):
        for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
            np.testing.assert_array_equal(getattr(h_shared, metric), getattr(h_own, metric), err_msg=metric)
        assert len(v_own) == len(v_shared)
        for a, b in zip(v_own, v_shared, strict=True):
            np.testing.assert_array_equal(a, b)
        assert it_shared == it_own > 0  # the model's optimizer ends where its own fit would leave it
    assert not np.array_equal(own[0][1][0], own[1][1][0])  # the seeds differ: the comparison can fail
    kt.forget_templates()


def test_keras_templates_only_for_models_keras_can_clone_faithfully(fashion):
    """Custom layers (whose config might not say everything they do), recording runs and per-layer rates
    train the model itself; the kernel keeps at most MAX_TEMPLATES templates."""
    from course_utils import _keras_training as kt

    kt.forget_templates()
    bayes = models.build_bayesian_mlp("keras", 784, [16], activation="relu", init="he_normal", seed=0)
    train(bayes, fashion, epochs=1, batch_size=128, seed=0, progress=False)
    train(_mlp("keras"), fashion, epochs=1, batch_size=128, seed=0, progress=False, record_steps=True)
    assert kt._TEMPLATES == {}
    for width in range(kt.MAX_TEMPLATES + 2):
        train(models.build_mlp("keras", 784, [4 + width], seed=0), (fashion[0][:64], fashion[1][:64]), epochs=1,
              batch_size=64, seed=0, progress=False)
    assert len(kt._TEMPLATES) == kt.MAX_TEMPLATES
    kt.forget_templates()
