"""Notebook 13's builders: build_plain_cnn and build_deep_residual_mlp (remedies, norms), both frameworks;
diagnostics.residual_stream."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_models import FRAMEWORKS, _kernel

from course_utils import diagnostics, initializers, models


def _batch(n=128, d=784, seed=0):
    return np.random.default_rng(seed).normal(0.0, 1.0, (n, d)).astype(np.float32)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_plain_cnn_shapes_fans_and_output(fw):
    model = models.build_plain_cnn(fw, (28, 28), depth=5, channels=8, init="he_normal", pool_after=(1, 3), seed=0)
    shapes = models.weight_shapes(model)
    assert [n for n, _ in shapes] == [f"conv_{i}" for i in range(1, 6)] + ["output"]
    assert shapes[0][1] == (3, 3, 1, 8) and shapes[1][1] == (3, 3, 8, 8)
    assert shapes[-1][1] == (7 * 7 * 8, 10)
    he = initializers.get("he_normal")
    for name, layer in models.weight_layers(model)[1:-1]:
        w = _kernel(layer, fw)
        assert initializers.compute_fans(w.shape, "keras") == (72, 72)
        assert abs(w.std() / he.expected_std(w.shape) - 1) < 6 / math.sqrt(2 * w.size), name
    x = np.random.default_rng(0).random((4, 28, 28)).astype(np.float32)
    out = model(x) if fw == "keras" else model(__import__("torch").as_tensor(x))
    assert tuple(out.shape) == (4, 10)


def test_plain_cnn_same_seed_same_weights_and_bad_input():
    a = models.build_plain_cnn("torch", depth=3, seed=3)
    b = models.build_plain_cnn("torch", depth=3, seed=3)
    assert all(np.array_equal(p.detach(), q.detach()) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    with pytest.raises(ValueError, match="pool_after"):
        models.build_plain_cnn("torch", depth=3, pool_after=(5,))
    with pytest.raises(ValueError, match="too small"):
        models.build_plain_cnn("torch", (4, 4), depth=4, pool_after=(1, 2, 3))


def test_fixup_scale():
    assert models.fixup_scale(16, 2) == pytest.approx(0.25)
    assert models.fixup_scale(27, 4) == pytest.approx(27 ** (-1 / 6))
    with pytest.raises(ValueError, match="branch_depth"):
        models.fixup_scale(16, 1)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_residual_stream_grows_without_remedy_and_stays_flat_with_each(fw):
    x = _batch()
    rms = {}
    for remedy in models.RESIDUAL_REMEDIES:
        model = models.build_deep_residual_mlp(fw, 784, width=64, n_blocks=6, remedy=remedy, seed=0)
        stream = diagnostics.residual_stream(model, x)
        assert list(stream["block"]) == list(range(7))
        rms[remedy] = stream["rms"].to_numpy()
    growth = rms["none"][-1] / rms["none"][0]
    assert math.sqrt(3) ** 6 / 3 < growth < math.sqrt(3) ** 6 * 3  # x3 per He two-layer branch, in E[h^2]
    for remedy in ("zero", "skipinit", "fixup"):
        np.testing.assert_allclose(rms[remedy], rms[remedy][0], rtol=1e-6)


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_fixup_scales_inner_layers_and_zeroes_branch_ends_and_classifier(fw):
    plain = dict(models.weight_layers(models.build_deep_residual_mlp(fw, 784, 64, 16, seed=1)))
    fixup = dict(models.weight_layers(models.build_deep_residual_mlp(fw, 784, 64, 16, remedy="fixup", seed=1)))
    he = initializers.get("he_normal")
    inner = np.stack([_kernel(fixup[f"block_{b}_dense_1"], fw) for b in range(1, 17)])
    assert abs(inner.std() / (0.25 * he.expected_std((64, 64))) - 1) < 6 / math.sqrt(2 * inner.size)
    assert not _kernel(fixup["block_3_out"], fw).any() and not _kernel(fixup["output"], fw).any()
    assert abs(_kernel(plain["block_3_out"], fw).std() / he.expected_std((64, 64)) - 1) < 0.2


@pytest.mark.parametrize("fw", FRAMEWORKS)
@pytest.mark.parametrize("norm", ["batchnorm", "layernorm"])
def test_norms_grow_linearly_and_zero_gamma_keeps_the_identity(fw, norm):
    x = _batch()
    grown = diagnostics.residual_stream(models.build_deep_residual_mlp(fw, 784, 64, 9, norm=norm, seed=0), x,
                                        training=True)["rms"].to_numpy()
    # each normalized branch adds about unit variance: E[h_L^2] ~ E[h_0^2] + L
    assert grown[-1] ** 2 == pytest.approx(grown[0] ** 2 + 9, rel=0.3)
    zero = diagnostics.residual_stream(models.build_deep_residual_mlp(fw, 784, 64, 9, norm=norm, remedy="zero",
                                                                      seed=0), x, training=True)["rms"].to_numpy()
    np.testing.assert_allclose(zero, zero[0], rtol=1e-5)


def test_same_names_in_both_frameworks_and_bad_input():
    k = models.build_deep_residual_mlp("keras", 20, 8, 3, remedy="skipinit", norm="layernorm", seed=0)
    t = models.build_deep_residual_mlp("torch", 20, 8, 3, remedy="skipinit", norm="layernorm", seed=0)
    assert models.weight_shapes(k) == models.weight_shapes(t)
    assert {n for n, _ in t.named_children()} == {layer.name for layer in k.layers if layer.name != "input"}
    with pytest.raises(ValueError, match="remedy"):
        models.build_deep_residual_mlp("torch", 20, remedy="rezero_typo")
    with pytest.raises(ValueError, match="WITHOUT normalization"):
        models.build_deep_residual_mlp("torch", 20, remedy="fixup", norm="batchnorm")
    with pytest.raises(ValueError, match="block_<b>_add"):
        diagnostics.residual_stream(models.build_mlp("torch", 20, 8), _batch(4, 20))
