"""One fact in one place: the label of a scheme, the model walker, the activation table, 'last layer
over first', and expect's pandas evidence, each defined once and used by every caller."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from course_utils import activations, advice, diagnostics, experiments, frameworks, initializers, models
from course_utils.claims import _format_evidence

PACKAGE = Path(__file__).resolve().parent.parent / "course_utils"


# ------------------------------------------------------------------------- labels


@pytest.mark.parametrize("init", [
    initializers.get("random_normal", std=1 / 3),
    initializers.get("variance_scaling", scale=2.0, mode="fan_out", distribution="normal"),
    initializers.get("he_normal"),
    initializers.get("orthogonal", gain=math.sqrt(2)),
])
def test_the_three_tables_label_a_scheme_alike(init):
    """sweep's, signal_propagation's and describe_model_init's init columns join on the same string."""
    swept = experiments.sweep(lambda init, seed: {"x": 1.0}, {"init": [init]}, seeds=[0], cache=False)
    signal = diagnostics.signal_propagation(init, "relu", 2, 16, n_samples=8)
    theory = diagnostics.signal_propagation_theory(init, "relu", 2, 16)
    assert swept["init"].iloc[0] == signal["init"].iloc[0] == theory["init"].iloc[0] == init.label
    assert experiments.init_label(init) == init.label


def test_label_formats():
    assert initializers.get("random_normal", std=1 / 3).label == "random_normal(std=0.333333)"
    assert initializers.get("he_normal").label == "he_normal"
    fan_out = initializers.get("variance_scaling", mode="fan_out")
    assert fan_out.label == "variance_scaling(mode=fan_out)"


def test_describe_model_init_uses_the_label():
    rng = np.random.default_rng(0)
    fit = initializers.identify_init(rng.normal(0, 0.05, (64, 32)), "keras")
    assert fit["closest"] == fit["initializer"].label
    assert re.fullmatch(r"random_normal\(std=0\.0[0-9]+\)", fit["closest"])


# --------------------------------------------------------------------- the walker


def _grep(pattern: str) -> list[str]:
    hits = []
    for path in PACKAGE.rglob("*.py"):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(pattern, line):
                hits.append(f"{path.relative_to(PACKAGE)}:{i}")
    return hits


def test_one_keras_walker_and_one_torch_eval_idiom():
    assert _grep(r"def _keras_(flat_)?layers") == []
    assert [h.split(":")[0] for h in _grep(r"def (flat_layers|weight_layers|input_shape_of)\(")] == [
        "frameworks.py"] * 3
    # model.eval() with its restore lives in frameworks.eval_mode (train() leaves a trained model in eval mode)
    assert [h for h in _grep(r"\.train\(was") if not h.startswith("frameworks.py")] == []
    assert [h for h in _grep(r"register_forward_hook") if not h.startswith("frameworks.py")] == []


def test_walker_opens_nested_keras_models_both_ways():
    keras = frameworks.keras()
    inner_seq = keras.Sequential([keras.Input((8,)), keras.layers.Dense(6, name="a"), keras.layers.Dense(5, name="b")])
    x = keras.Input((5,))
    inner_fun = keras.Model(x, keras.layers.Dense(4, name="c")(x))
    outer = keras.Sequential([keras.Input((8,)), inner_seq, inner_fun, keras.layers.Dense(3, name="d")])
    assert [name for name, _ in frameworks.weight_layers(outer)] == ["a", "b", "c", "d"]
    assert [layer.name for layer in frameworks.flat_layers(outer)] == ["a", "b", "c", "d"]
    assert frameworks.input_shape_of(outer) == (None, 8)
    # a Sequential wrapping both runs layer by layer: diagnostics see every weight layer
    stats = diagnostics.activation_stats(outer, np.ones((4, 8), np.float32))
    assert stats["layer"].tolist() == ["a", "b", "c", "d"]


def test_walker_torch_and_context_managers():
    torch = frameworks.torch()
    model = models.build_mlp("torch", 8, [6], dropout=0.5)
    assert [n for n, _ in frameworks.weight_layers(model)] == ["hidden_1", "output"]
    model.train()
    seen = []
    with frameworks.eval_mode(model), frameworks.Hooks([model.hidden_1], lambda m, i, o: seen.append(o.shape)):
        assert not model.training
        model(torch.zeros(2, 8))
    assert model.training and seen == [torch.Size([2, 6])]
    model(torch.zeros(2, 8))
    assert len(seen) == 1, "the hook was removed on leaving the block"


# ---------------------------------------------------------------- activation table


def test_every_activation_is_one_row_used_everywhere():
    assert models.ACTIVATIONS is activations.ACTIVATIONS
    assert diagnostics.ACTIVATIONS is activations.ACTIVATIONS
    assert diagnostics.SELU_ALPHA == activations.SELU_ALPHA
    for name in ("linear", "sigmoid", "tanh", "relu", "selu"):
        assert initializers.calculate_gain(name) == activations.TABLE[name].gain
    assert initializers.calculate_gain("leaky_relu") == pytest.approx(activations.TABLE["leaky_relu"].gain)
    assert _grep(r"^SELU_(ALPHA|SCALE) = ") == ["activations.py:53", "activations.py:54"]


@pytest.mark.parametrize("name", activations.ACTIVATIONS)
def test_builders_realise_each_activation_in_both_frameworks(name):
    torch = frameworks.torch()
    z = np.linspace(-3, 3, 12, dtype=np.float32)
    t = activations.torch_module(name)(torch.from_numpy(z)).numpy()
    k = np.asarray(activations.keras_layer(name, "act")(z[None, :]))[0]
    assert np.allclose(t, activations.numpy_function(name)(z), atol=1e-5)
    assert np.allclose(k, activations.numpy_function(name)(z), atol=1e-5)


# -------------------------------------------------------------- last layer over first


def test_end_to_end_ratio_reads_depths_and_positions():
    frame = pd.DataFrame({"depth": [0, 1, 2, 3], "std": [9.0, 1.0, 2.0, 4.0], "grad_std": [8.0, 0.5, 1.0, 2.0]})
    assert diagnostics.end_to_end_ratio(frame, "std") == 4.0  # depth 3 over depth 1, the input row skipped
    assert diagnostics.end_to_end_ratio(frame, "grad_std", backward=True) == 0.25
    assert diagnostics.end_to_end_ratio(frame, "grad_std", backward=True, first=0) == 4.0
    assert diagnostics.end_to_end_ratio(frame, "std", last=2) == 2.0
    assert diagnostics.end_to_end_ratio(frame[["std"]], "std") == 4.0 / 9.0  # no depth column: first and last row
    assert math.isnan(diagnostics.end_to_end_ratio(pd.DataFrame({"std": [0.0, 0.0]}), "std"))
    assert diagnostics.decades(1000.0) == pytest.approx(3) and diagnostics.decades(0.0) == math.inf
    ratios = diagnostics.signal_ratios(frame)
    assert ratios == {"forward_ratio": 4.0, "backward_ratio": 0.25, "decades": pytest.approx(math.log10(4))}


def test_signal_summary_and_check_model_use_the_one_ratio():
    frame = diagnostics.signal_propagation("glorot_normal", "relu", 12, 64, n_samples=128, seed=0)
    summary = advice.signal_summary("glorot_normal", "relu", 12, seed=0, width=64, n_samples=128)
    assert summary == diagnostics.signal_ratios(frame, forward="preact_std", backward="weight_grad_std")
    assert _grep(r"log10\(ratio\)") == ["diagnostics.py:" + _grep(r"log10\(ratio\)")[0].split(":")[1]]


# ------------------------------------------------------------------ expect's evidence


def test_expect_reads_pandas_evidence_and_rounds_it():
    s = pd.Series({("keras", "He"): 2.302585, ("torch", "He"): 1.23456789})
    assert _format_evidence(s) == "keras / He = 2.303; torch / He = 1.235"
    assert _format_evidence(pd.DataFrame({"acc": [0.91234, 0.5]}, index=["a", "b"])) == "a = 0.9123; b = 0.5"
    wide = pd.DataFrame({"x": [1.23456], "y": [2.0]}, index=["r"])
    assert _format_evidence(wide) == "r / x = 1.235; r / y = 2.0"
    assert _format_evidence({"list": [0.123456, 2.0]}) == "list = [0.1235, 2.0]"
