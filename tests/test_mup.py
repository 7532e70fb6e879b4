"""course_utils.mup: muP's rules, apply() in both frameworks, train()'s per-parameter learning rates,
the PyPI package ``mup`` as an oracle for the PyTorch side, PyTorch as the oracle for the Keras side."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils import frameworks, models, mup, training

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 20)).astype(np.float32)
Y = RNG.integers(0, 10, size=64).astype(np.int64)


# ------------------------------------------------------------------------ rules


def test_rules_sp_is_all_ones():
    for role in ("input", "hidden", "output"):
        r = mup.rules(role, 256, 64, parametrization="sp")
        assert {k: v for k, v in r.items() if k != "m"} == dict.fromkeys(
            ("weight_scale", "bias_scale", "weight_lr", "bias_lr", "forward"), 1.0)


def test_rules_mup_table():
    # width 256 over base 64: m = 4
    inp = mup.rules("input", 784, 64)
    hid = mup.rules("hidden", 256, 64)
    out = mup.rules("output", 256, 64, output_mult=2.0)
    assert inp == {"m": 1.0, "weight_scale": 1.0, "bias_scale": 1.0, "weight_lr": 1.0, "bias_lr": 1.0, "forward": 1.0}
    assert hid["m"] == 4 and hid["weight_lr"] == 0.25 and hid["weight_scale"] == 1.0 and hid["bias_scale"] == 2.0
    assert out["weight_scale"] == 2.0 and out["weight_lr"] == 1.0 and out["forward"] == 0.5
    # the effective output weights (scale x forward) shrink as 1/sqrt(m): variance c/(m fan_in)
    assert out["weight_scale"] * out["forward"] / 2.0 == pytest.approx(1 / math.sqrt(4))


def test_rules_bad_input():
    with pytest.raises(ValueError, match="role"):
        mup.rules("middle", 10, 10)
    with pytest.raises(ValueError, match="parametrization"):
        mup.rules("hidden", 10, 10, parametrization="ntk")
    with pytest.raises(ValueError, match="output_mult"):
        mup.rules("output", 10, 10, output_mult=0)


# ------------------------------------------------------------------------ apply


@pytest.mark.parametrize("fw", ["torch", "keras"])
def test_apply_at_base_width_is_sp(fw):
    sp = models.build_mlp(fw, 20, 16, depth=2, seed=3)
    mu = mup.apply(models.build_mlp(fw, 20, 16, depth=2, seed=3), 16)
    assert mu.lr_multipliers == {}
    np.testing.assert_allclose(training.predict_logits(mu.model, X), training.predict_logits(sp, X), rtol=1e-6)


@pytest.mark.parametrize("fw", ["torch", "keras"])
def test_apply_wider(fw):
    mu = mup.apply(models.build_mlp(fw, 20, 64, depth=2, seed=1), 16, output_mult=3.0)
    assert mu.lr_multipliers == {"hidden_2.weight": 0.25}
    assert [row["role"] for row in mu.table] == ["input", "hidden", "output"]
    # the multiplier is a visible layer, just before the output layer
    names = ([n for n, _ in mu.model.named_children()] if fw == "torch" else [la.name for la in mu.model.layers])
    assert names[-2:] == ["output_multiplier", "output"]
    # logits = SP's hidden features through the output weights x sqrt(m), times output_mult / m
    feats = training.predict_logits(models.build_mlp(fw, 20, 64, depth=2, seed=1), X)
    np.testing.assert_allclose(training.predict_logits(mu.model, X), feats * 2.0 * 3.0 / 4.0, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="already in muP"):
        mup.apply(mu.model, 16)


def test_apply_sp_leaves_model_alone():
    model = models.build_mlp("torch", 20, 64, depth=2, seed=1)
    res = mup.apply(model, 16, parametrization="sp")
    assert res.model is model and res.lr_multipliers == {}
    assert list(res.frame().index) == ["hidden_1", "hidden_2", "output"]


def test_apply_needs_two_layers():
    with pytest.raises(ValueError, match="input and an output layer"):
        mup.apply(models.build_mlp("torch", 20, []), 16)


# ------------------------------------------------------------ train(lr_multipliers=...)


@pytest.mark.parametrize("fw", ["torch", "keras"])
def test_train_lr_multipliers_scale_adams_first_step(fw):
    """Adam's first step moves every weight by about lr (m/sqrt(v) = sign(g)): a factor f makes it f lr."""

    def first_step(mults):
        model = models.build_mlp(fw, 20, 8, seed=0)
        before = {k: (v.detach().numpy().copy() if fw == "torch" else v.numpy())
                  for k, v in training.parameter_names(model).items()}
        training.train(model, (X, Y), epochs=1, batch_size=len(X), lr=1e-2, validation=False,
                       lr_multipliers=mults)
        after = training.parameter_names(model)
        return {k: np.abs((after[k].detach().numpy() if fw == "torch" else after[k].numpy()) - before[k]).max()
                for k in before}

    plain = first_step(None)
    scaled = first_step({"hidden_1.weight": 0.25})
    assert plain["hidden_1.weight"] == pytest.approx(1e-2, rel=1e-3)
    assert scaled["hidden_1.weight"] == pytest.approx(0.25e-2, rel=1e-3)
    assert scaled["output.weight"] == pytest.approx(plain["output.weight"], rel=1e-6)


def test_train_lr_multipliers_bad_input():
    model = models.build_mlp("torch", 20, 8)
    with pytest.raises(ValueError, match="hidden_1.weight, hidden_1.bias"):
        training.train(model, (X, Y), epochs=1, lr_multipliers={"hidden_9.weight": 0.5})
    with pytest.raises(ValueError, match="lr_multipliers"):
        training.train(model, (X, Y), epochs=1, lr_multipliers={"hidden_1.weight": -1})
    with pytest.raises(TypeError, match="dict"):
        training.train(model, (X, Y), epochs=1, lr_multipliers=[0.5])


# ------------------------------------------------------------------- oracles


def _torch_weights(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def test_keras_matches_torch_on_the_same_weights():
    """The Keras muP (Rescaling layer, per-variable rates) against the PyTorch one (Multiply module, Adam
    parameter groups): same starting weights, same full-batch Adam steps, same weights after."""
    import torch

    t = models.build_mlp("torch", 20, 64, depth=2, seed=2)
    k = models.build_mlp("keras", 20, 64, depth=2, seed=2)
    for name, layer in frameworks.weight_layers(k, "keras"):
        tw = getattr(t, name)
        layer.kernel.assign(tw.weight.detach().numpy().T)
        layer.bias.assign(np.linspace(-0.1, 0.1, layer.bias.shape[0]).astype(np.float32))
        with torch.no_grad():
            tw.bias.copy_(torch.from_numpy(layer.bias.numpy()))
    mt, mk = mup.apply(t, 16, output_mult=2.0), mup.apply(k, 16, output_mult=2.0)
    assert mt.lr_multipliers == mk.lr_multipliers
    np.testing.assert_allclose(training.predict_logits(mk.model, X), training.predict_logits(mt.model, X),
                               rtol=1e-5, atol=1e-6)
    before = {k: v.detach().numpy().T.copy() for k, v in training.parameter_names(mt.model).items()}
    for model in (mt.model, mk.model):
        training.train(model, (X, Y), epochs=5, batch_size=len(X), lr=3e-3, validation=False,
                       lr_multipliers=mt.lr_multipliers)
    pt, pk = training.parameter_names(mt.model), training.parameter_names(mk.model)
    for name in pt:
        # the updates agree to 1% (a wrong factor on any parameter would be off by 75% or more); not
        # bit for bit: Keras adds epsilon to sqrt(v) before the bias correction, PyTorch after, which
        # matters where a gradient is near zero
        dt, dk = pt[name].detach().numpy().T - before[name], pk[name].numpy() - before[name]
        assert np.linalg.norm(dk - dt) / np.linalg.norm(dt) < 0.01, name
    lk, lt = training.predict_logits(mk.model, X), training.predict_logits(mt.model, X)
    assert np.abs(lk - lt).max() < 2e-3 * np.abs(lt).max()


def test_torch_matches_the_mup_package():
    """The PyPI package ``mup`` (Microsoft's reference implementation) on the same network: MuReadout,
    set_base_shapes (rescaling the SP weights) and MuAdam give the same logits, the same per-parameter
    learning rates and the same weights after Adam steps as mup.apply + train(lr_multipliers=...)."""
    mp = pytest.importorskip("mup", reason="the PyPI package `mup` (an oracle only, not a course dependency) is "
                                           "not installed: pip install mup==1.0.0 to run this test")
    import torch

    base, width, mult, lr = 16, 64, 2.0, 3e-3

    def package_model(w):
        nn = torch.nn
        return nn.Sequential(nn.Linear(20, w), nn.ReLU(), nn.Linear(w, w), nn.ReLU(),
                             mp.MuReadout(w, 10, output_mult=mult))

    course = models.build_mlp("torch", 20, width, depth=2, seed=4, bias_init="random_normal")
    ref = package_model(width)
    with torch.no_grad():
        for i, name in zip((0, 2, 4), ("hidden_1", "hidden_2", "output"), strict=True):
            ref[i].weight.copy_(getattr(course, name).weight)
            ref[i].bias.copy_(getattr(course, name).bias)
    mp.set_base_shapes(ref, package_model(base))  # rescales the output weights and the biases
    ours = mup.apply(course, base, output_mult=mult)
    np.testing.assert_allclose(ours.model(torch.from_numpy(X)).detach().numpy(),
                               ref(torch.from_numpy(X)).detach().numpy(), rtol=1e-5, atol=1e-6)
    # MuAdam's learning rate for each parameter against lr x ours
    opt = mp.MuAdam(ref.parameters(), lr=lr, eps=training.ADAM_EPSILON)
    theirs = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    names = dict(zip(("hidden_1", "hidden_2", "output"), (0, 2, 4), strict=True))
    for name in training.parameter_names(ours.model):
        layer, kind = name.split(".")
        q = getattr(ref[names[layer]], kind)
        assert theirs[id(q)] == pytest.approx(lr * ours.lr_multipliers.get(name, 1.0)), name
    # five full-batch Adam steps each
    training.train(ours.model, (X, Y), epochs=5, batch_size=len(X), lr=lr, validation=False,
                   lr_multipliers=ours.lr_multipliers)
    xb, yb = torch.from_numpy(X), torch.from_numpy(Y)
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(ref(xb), yb).backward()
        opt.step()
    np.testing.assert_allclose(ours.model(xb).detach().numpy(), ref(xb).detach().numpy(), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ best lr


def test_best_lr_finds_a_parabolas_vertex():
    lrs = 2.0 ** np.arange(-12, -3)
    losses = (np.log2(lrs) + 7.3) ** 2 + 1.0
    assert mup.best_lr(lrs, losses) == pytest.approx(2.0 ** -7.3)
    assert mup.best_lr(lrs[::-1], losses[::-1]) == pytest.approx(2.0 ** -7.3)  # order does not matter


def test_best_lr_edges_and_divergence():
    lrs = [1e-4, 1e-3, 1e-2]
    assert mup.best_lr(lrs, [1.0, 2.0, 3.0]) == pytest.approx(1e-4)
    assert mup.best_lr(lrs, [3.0, 2.0, math.nan]) == pytest.approx(1e-3)  # a diverged neighbour: the grid point
    assert mup.best_lr(lrs, [math.inf, 0.5, math.inf]) == pytest.approx(1e-3)
    assert math.isnan(mup.best_lr(lrs, [math.nan] * 3))
    with pytest.raises(ValueError, match="same length"):
        mup.best_lr(lrs, [1.0])


def _lr_rows(framework, centres, floor=0.0):
    """Synthetic sweep rows: per parametrization and width a loss parabola in log2(lr) around its centre."""
    import pandas as pd

    return pd.DataFrame([{"framework": framework, "parametrization": p, "width": w, "seed": 0, "lr": lr,
                          "loss": floor + (math.log2(lr) - c) ** 2}
                         for p, by_width in centres.items() for w, c in by_width.items() for lr in 2.0 ** np.arange(-12, -3)])


def test_shift_ratios():
    runs = _lr_rows("torch", {"sp": {64: -7.0, 1024: -11.0}, "mup": {64: -7.0, 1024: -7.5}})
    ratios = mup.shift_ratios(mup.best_lrs(runs), narrow=64, wide=1024).set_index("parametrization")
    assert ratios.loc["sp", "ratio"] == pytest.approx(1 / 16)
    assert ratios.loc["mup", "ratio"] == pytest.approx(2 ** -0.5)
    with pytest.raises(ValueError, match="width 4096"):
        mup.shift_ratios(mup.best_lrs(runs), narrow=64, wide=4096)
    with pytest.raises(ValueError, match="lacks column"):
        mup.best_lrs(runs.drop(columns="loss"))


def test_transfer_penalty():
    runs = _lr_rows("keras", {"sp": {64: -7.0, 1024: -11.0}, "mup": {64: -7.0, 1024: -7.0}}, floor=1.0)
    pen = mup.transfer_penalty(runs, mup.best_lrs(runs), narrow=64, wide=1024).set_index("parametrization")
    assert pen.loc["mup", "penalty"] == pytest.approx(1.0)
    assert pen.loc["sp", "lr_used"] == 2.0 ** -7 and pen.loc["sp", "penalty"] == pytest.approx(17.0)
    with pytest.raises(ValueError, match="no best rate at width 32"):
        mup.transfer_penalty(runs, mup.best_lrs(runs), narrow=32, wide=1024)
