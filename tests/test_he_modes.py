"""He's two modes on a funnel, drawn from the same normals: the ratio between them is exactly 4 (notebook 06)."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import data, diagnostics, initializers, models

FUNNEL = [512, 256, 128, 64, 32]


@pytest.mark.parametrize("fw", ["keras", "torch"])
def test_fan_out_is_fan_in_times_four_through_a_halving_funnel(fw):
    """fan_out scales each halving layer's weights by sqrt(2) relative to fan_in (same seed, same normals).

    A ReLU network is positively homogeneous, so layers 2-5 multiply the forward ratio h5/h1 by
    sqrt(2)^4 = 4: exactly, up to float32 rounding. Backward, each example's gradient g1 is the same
    linear map of its g5 times 4, but the cross-entropy gradient at the top depends on the logits'
    scale (softmax), which reweights the examples in the batch's std: 4 within 10%.
    """
    ds = data.load_dataset("fashion_mnist", subset=300, flatten=True)
    x, y = ds.x_train[:64], ds.y_train[:64]
    ratios = {}
    for mode in ("fan_in", "fan_out"):
        model = models.build_mlp(fw, 784, FUNNEL, "relu", init=initializers.get("he_normal", mode=mode), seed=0)
        fwd = diagnostics.activation_stats(model, x).query("layer != 'output'")
        bwd = diagnostics.gradient_stats(model, x, y).query("layer != 'output'")
        ratios[mode] = (diagnostics.end_to_end_ratio(fwd, "std"), diagnostics.end_to_end_ratio(bwd, "grad_std", backward=True))
    np.testing.assert_allclose(ratios["fan_out"][0] / ratios["fan_in"][0], 4.0, rtol=1e-4)
    np.testing.assert_allclose(ratios["fan_out"][1] / ratios["fan_in"][1], 4.0, rtol=0.1)
