"""course_utils.grouped: K runs trained as one group give, member by member, the runs trained alone.

Tolerance. A grouped step computes the same arithmetic as the solo step, but the batched matrix
product (``baddbmm``/``tf.matmul`` over the group axis) may add a row's products in another order
than the single product: float32 reassociation, a relative difference of a few float32 epsilons
(1.2e-7) times sqrt(terms) per sum -- about 1e-6 after a few layers (measured here: at most 1e-6
relative on the step losses of 2 epochs). PyTorch groups run the solo run's own products and its own
optimizer over each member's views, and are checked bit for bit. Adam's update lr * m / sqrt(v) is insensitive to a small relative change of a gradient,
so in this small net the differences stay near that level over its 20 steps; in a 30-layer net they
do not: there Adam grows 1e-7 into percent-level differences within an epoch in Keras
(bench/RESULTS.md, "Grouped training"). ``RTOL = 1e-4`` leaves 100x for other BLAS kernels
and for the compounding over 20 steps, and still fails on any real difference: another batch, another dropout
mask or another initial weight changes the loss at the 1e-2 level (checked below: the same model
with another seed's data order differs by far more than RTOL).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from course_utils import advice, grouped, models, training

FRAMEWORKS = ("keras", "torch")
RTOL = 1e-4  # see the module docstring
EPOCHS, BATCH = 2, 64
MLP = {"hidden": [32, 16], "activation": "relu", "dropout": 0.2}
SPECS = [{"init": "he_normal", "seed": 0}, {"init": "glorot_uniform", "seed": 1}, {"init": "he_normal", "seed": 0,
                                                                                   "label": "twin of member 0"}]


@pytest.fixture(scope="module")
def tiny():
    """A small real subset, flattened: 640 training and 200 validation images (10 steps of 64 per epoch)."""
    from course_utils import data

    try:
        ds = data.load_dataset("fashion_mnist", subset=1200, flatten=True)
    except data.DataUnavailableError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", data.DataFallbackWarning)
            ds = data.load_dataset("mnist", subset=1200, flatten=True)
    return ds.x_train[:640], ds.y_train[:640], ds.x_test[:200], ds.y_test[:200]


def _alone(fw, spec, data, lr=1e-3, optimizer="adam"):
    model = models.build_mlp(fw, 784, init=spec["init"], seed=spec["seed"], **MLP)
    hist = training.train(model, data, epochs=EPOCHS, batch_size=BATCH, lr=spec.get("lr", lr), seed=spec["seed"],
                          record_steps=True, label=spec.get("label"), optimizer=optimizer)
    return model, hist


def _weights(model, fw):
    if fw == "torch":
        return [p.detach().numpy().copy() for p in model.parameters()]
    return [np.asarray(w).copy() for w in model.trainable_weights]


def _same_history(g, a):
    assert set(vars(g)) == set(vars(a))
    assert g.framework == a.framework and g.epoch == a.epoch
    for key in ("framework", "label", "epochs", "batch_size", "optimizer", "lr", "seed", "loss", "n_train", "n_val",
                "steps_per_epoch"):
        assert g.config[key] == a.config[key], key
    assert set(a.config) <= set(g.config)
    if g.framework == "torch":  # the solo run's own products and optimizer steps: the same numbers
        for metric in ("step_loss", "loss", "accuracy", "val_loss", "val_accuracy"):
            np.testing.assert_array_equal(getattr(g, metric), getattr(a, metric), err_msg=metric)
    np.testing.assert_allclose(g.step_loss, a.step_loss, rtol=RTOL)  # step by step
    for metric in ("loss", "val_loss"):
        np.testing.assert_allclose(getattr(g, metric), getattr(a, metric), rtol=RTOL, err_msg=metric)
    # accuracies count argmaxes: a near-tie may flip under reassociation; one example of slack
    np.testing.assert_allclose(g.accuracy, a.accuracy, atol=1.01 / a.config["n_train"])
    np.testing.assert_allclose(g.val_accuracy, a.val_accuracy, atol=1.01 / a.config["n_val"])
    assert len(g.seconds_per_epoch) == len(a.seconds_per_epoch)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_group_equals_runs_alone_step_by_step(fw, tiny):
    """Seeds and initializers mixed, dropout on: each member's History (every step's loss) and final
    weights equal its run alone; two members with the same seed and init are twins."""
    group_models = [models.build_mlp(fw, 784, init=s["init"], seed=s["seed"], **MLP) for s in SPECS]
    start = [_weights(m, fw) for m in group_models]
    hists = grouped.train_models(group_models, tiny, epochs=EPOCHS, batch_size=BATCH, seeds=[s["seed"] for s in SPECS],
                                 labels=[s.get("label") for s in SPECS], record_steps=True)
    for k, spec in enumerate(SPECS):
        alone_model, alone = _alone(fw, spec, tiny)
        _same_history(hists[k], alone)
        assert hists[k].config["group_size"] == len(SPECS)
        for w_g, w_a, w0 in zip(_weights(group_models[k], fw), _weights(alone_model, fw), start[k], strict=True):
            assert not np.array_equal(w_g, w0)  # trained in place, as train() does
            np.testing.assert_allclose(w_g, w_a, rtol=RTOL, atol=1e-6)
            if fw == "torch":
                np.testing.assert_array_equal(w_g, w_a)
    np.testing.assert_allclose(hists[0].step_loss, hists[2].step_loss, rtol=RTOL)
    # the tolerance is tight enough to see another data order / other weights at once
    assert np.max(np.abs(np.subtract(hists[0].step_loss, hists[1].step_loss))) > 100 * RTOL


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize(("optimizer", "lrs"), [("adam", (3e-3, 1e-4)), ("momentum", (0.05, 0.05)),
                                                ("momentum", (0.05, 0.01)), ("sgd", (0.1, 0.02))])
def test_optimizers_and_learning_rate_per_member(fw, optimizer, lrs, tiny):
    """train()'s optimizers over the stacked weights (one rate) or written out with a per-member scale
    (different rates) equal the runs alone with those rates."""
    specs = [{"init": "he_normal", "seed": 3, "lr": lrs[0]}, {"init": "he_normal", "seed": 4, "lr": lrs[1]}]
    hists = grouped.train_group(fw, specs, tiny, epochs=EPOCHS, batch_size=BATCH, record_steps=True,
                                optimizer=optimizer, **MLP)
    for spec, g in zip(specs, hists, strict=True):
        _, alone = _alone(fw, {**spec, "label": g.config["label"]}, tiny, optimizer=optimizer)
        assert g.config["lr"] == spec["lr"] and g.config["optimizer"] == optimizer
        _same_history(g, alone)


@pytest.mark.parametrize(("optimizer", "rates", "threads"), [("adam", (2e-3, 5e-3), "1"), ("momentum", (2e-3, 5e-3), "1"),
                                                          ("adam", (2e-3, 2e-3), "1"), ("adam", (2e-3, 2e-3), "2")])
def test_torch_deep_members_stay_their_solo_runs_to_the_last_bit(optimizer, rates, threads, tiny, monkeypatch):
    """A 20-layer net over 40 steps, where a last-bit difference in any step (another product kernel, the
    optimizer's vector lanes cut across the stacked members, a step on two threads where the solo run
    takes one) grows into a visible one: each member's every step loss and final weights are its solo
    run's exactly; with one rate (stacked tensors in the optimizer) or two (a parameter group per
    member), with the course allowed one thread or two."""
    monkeypatch.setenv("COURSE_THREADS", threads)
    specs = [{"init": "he_normal", "seed": 0, "lr": rates[0]}, {"init": "glorot_normal", "seed": 1, "lr": rates[1]},
             {"init": "he_normal", "seed": 2, "lr": rates[0]}]
    deep = {"hidden": 32, "depth": 20, "activation": "relu"}

    def build(spec):
        return models.build_mlp("torch", 784, init=spec["init"], seed=spec["seed"], **deep)

    group_models = [build(spec) for spec in specs]
    hists = grouped.train_models(group_models, tiny, epochs=4, batch_size=BATCH, seeds=[s["seed"] for s in specs],
                                 lrs=[s["lr"] for s in specs], optimizer=optimizer, record_steps=True)
    for spec, g, gm in zip(specs, hists, group_models, strict=True):
        model = build(spec)
        alone = training.train(model, tiny, epochs=4, batch_size=BATCH, lr=spec["lr"], seed=spec["seed"],
                               optimizer=optimizer, record_steps=True)
        np.testing.assert_array_equal(g.step_loss, alone.step_loss)
        for w_g, w_a in zip(_weights(gm, "torch"), _weights(model, "torch"), strict=True):
            np.testing.assert_array_equal(w_g, w_a)


def test_torch_group_starts_from_the_solo_draws():
    """The stacked weights are exactly the ones build_mlp draws for each member (bit for bit)."""
    import torch

    nets = [models.build_mlp("torch", 20, [8, 8], init=i, seed=s) for i, s in (("he_normal", 0), ("lecun_normal", 5))]
    steps, params = grouped._torch_stack(torch, nets)
    dense = [s for s in steps if s[0] == "dense"]
    for k, net in enumerate(nets):
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        for s, lin in zip(dense, linears, strict=True):
            assert torch.equal(s[1][k], lin.weight) and torch.equal(s[2][k, 0], lin.bias)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_friendly_errors(fw, tiny):
    with pytest.raises(grouped.GroupingError, match="another architecture.*layer 1") as err:
        grouped.train_models([models.build_mlp(fw, 784, [32], seed=0), models.build_mlp(fw, 784, [64], seed=1)],
                             tiny, epochs=1)
    assert "member 0: dense 784->32" in str(err.value) and "member 1: dense 784->64" in str(err.value)
    with pytest.raises(grouped.GroupingError, match="another architecture"):
        grouped.train_group(fw, [{"seed": 0}, {"seed": 1, "activation": "tanh"}], tiny, epochs=1, hidden=[16])
    with pytest.raises(grouped.GroupingError, match="logits"):
        grouped.train_group(fw, [{"seed": 0}], tiny, epochs=1, hidden=[16], output_activation="softmax")
    with pytest.raises(grouped.GroupingError, match="supports .* Train it with training.train"):
        grouped.train_models([models.build_cnn(fw, (28, 28), channels=(4,), seed=0)], tiny, epochs=1)
    with pytest.raises(ValueError, match="one entry per model"):
        grouped.train_models([models.build_mlp(fw, 784, [8], seed=0)], tiny, epochs=1, seeds=[0, 1])
    with pytest.raises(TypeError, match="per member"):
        grouped.train_group(fw, [{"seed": 0}], tiny, epochs=1, hidden=[8], init="he_normal")
    with pytest.raises(grouped.GroupingError, match="supports the optimizers"):
        grouped.train_group(fw, [{"seed": 0}], tiny, epochs=1, hidden=[8], optimizer="rmsprop")
    with pytest.raises(TypeError, match="Member"):
        grouped.train_group(fw, ["he_normal"], tiny, epochs=1, hidden=[8])


def test_mixed_frameworks_are_refused(tiny):
    with pytest.raises(grouped.GroupingError, match="one framework"):
        grouped.train_models([models.build_mlp("torch", 784, [8]), models.build_mlp("keras", 784, [8])], tiny,
                             epochs=1)


def test_sweep_grouped_gives_the_runs_alone(monkeypatch):
    """experiments.sweep(..., grouped=True) groups train_mlp runs that differ in init and seed, and
    its table equals the one-at-a-time sweep's (metrics to RTOL, same columns; PyTorch's exactly); by
    default only PyTorch's runs are grouped."""
    from course_utils import experiments

    calls = []
    real = grouped._train_mlp_group
    monkeypatch.setattr(grouped, "_train_mlp_group", lambda c: calls.append(len(c)) or real(c))
    kw = {"dataset": "fashion_mnist", "n_train": 320, "hidden": [16], "epochs": 1, "batch_size": 64, "cache": False}
    grid = {"framework": ["torch", "keras"], "init": ["he_normal", "glorot_normal"]}
    try:
        together = experiments.sweep(experiments.train_mlp, grid, seeds=[0, 1], grouped=True, **kw)
    except Exception as err:  # no Fashion-MNIST here
        pytest.skip(f"fashion_mnist unavailable: {err}")
    alone = experiments.sweep(experiments.train_mlp, grid, seeds=[0, 1], grouped=False, **kw)
    assert calls == [4, 4]  # one group per framework
    assert list(together.columns) == list(alone.columns)
    metrics = ["val_accuracy", "val_loss", "loss", "accuracy"]
    for col in metrics:
        # accuracies: a near-tie may flip one image (see _same_history); the losses are the real check
        np.testing.assert_allclose(together[col], alone[col], rtol=RTOL, atol=0.005 if "acc" in col else 0)
    # by default only the runs a group leaves bit for bit the same are grouped: PyTorch's
    calls.clear()
    auto = experiments.sweep(experiments.train_mlp, grid, seeds=[0, 1], **kw)
    assert calls == [4]
    torch_rows = alone["framework"] == "torch"
    assert torch_rows.sum() == 4
    for table in (auto, together):
        np.testing.assert_array_equal(table.loc[torch_rows, metrics].to_numpy(), alone.loc[torch_rows, metrics].to_numpy())
    np.testing.assert_array_equal(auto.loc[~torch_rows, metrics].to_numpy(), alone.loc[~torch_rows, metrics].to_numpy())
    # a fn that is not train_mlp runs one at a time, untouched
    assert grouped.sweep_groups(advice.signal_summary, [(0, {}), (1, {})], None) == [0, 1]
