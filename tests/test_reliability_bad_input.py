"""Bad input everywhere: a learner's typo ends in one sentence from course_utils, never a framework traceback.

One table, one row per (public function, wrong input): wrong names, types,
shapes and ranges for every module of ``course_utils``. Each row must raise
``ValueError`` or ``TypeError`` whose message names the argument and says what
is allowed, raised from a frame inside ``course_utils`` (not deep in
TensorFlow, PyTorch, NumPy or pandas).

Rows that fail today are marked ``xfail(strict=True, reason="reported to lead")``:
the suite stays green, the gap stays visible, and fixing the function turns
the row into an XPASS failure so the mark gets removed.
"""

from __future__ import annotations

import importlib
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import course_utils

PACKAGE = Path(course_utils.__file__).resolve().parent
MODULES = ("config", "data", "initializers", "models", "training", "diagnostics", "plots", "experiments",
           "claims", "exercises", "widgets", "activations", "advice")
# Words by which a message says what is allowed ("must be at least 1", "Valid choices: ...", "one of [...]").
ALLOWED = re.compile(
    r"must|valid|allowed|one of|expect|did you mean|at least|at most|lie in|such as|should|needs?|choose|"
    r"use |only|supported|requires?|\bare(?::| \[| ')|stores the|build it with",
    re.I,
)
REPORTED = "reported to lead"


@dataclass
class Case:
    id: str
    call: Callable[[], Any]
    words: tuple[str, ...]  # must all appear in the message (case-insensitive): the argument, an allowed value
    env: dict[str, str] = field(default_factory=dict)
    xfail: str | None = None  # what happens today, for rows reported to the lead


def M(name: str):  # noqa: N802 - short on purpose: the table reads M("models").build_mlp(...)
    return importlib.import_module(f"course_utils.{name}")


# ------------------------------------------------------------ shared fixtures (lazy: built once, on first use)
_cache: dict[str, Any] = {}


def torch_mlp():
    if "torch_mlp" not in _cache:
        _cache["torch_mlp"] = M("models").build_mlp("torch", 4, 8, n_classes=3, seed=0)
    return _cache["torch_mlp"]


X = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
Y = np.arange(16) % 3
X_WIDE = np.zeros((16, 5), dtype="float32")


def history():
    from course_utils.training import History

    return History(framework="torch", epoch=[1, 2], loss=[1.0, 0.5], accuracy=[0.5, 0.7], val_loss=[1.1, 0.6],
                   val_accuracy=[0.4, 0.6], seconds_per_epoch=[0.1, 0.1])


LAYER_DF = pd.DataFrame({"layer": ["a", "b"], "depth": [1, 2], "std": [1.0, 0.5]})
GRID_DF = pd.DataFrame({"init": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1], "acc": [0.9, 0.8, 0.7, 0.75]})


def _fn(a, seed):
    return {"out": a + seed}


C = Case
CASES: list[Case] = [
    # ------------------------------------------------------------------ config
    C("config.set_seed-negative", lambda: M("config").set_seed(-1), ("seed",)),
    C("config.set_seed-str", lambda: M("config").set_seed("0"), ("seed",)),
    C("config.set_seed-float", lambda: M("config").set_seed(1.5), ("seed",)),
    C("config.profile-unknown", lambda: M("config").profile(), ("COURSE_PROFILE", "quick"), env={"COURSE_PROFILE": "fast"}),
    C("config.n_threads-zero", lambda: M("config").n_threads(), ("COURSE_THREADS",), env={"COURSE_THREADS": "0"}),
    C("config.n_threads-word", lambda: M("config").n_threads(), ("COURSE_THREADS",), env={"COURSE_THREADS": "two"}),
    # ------------------------------------------------------------------ data
    C("data.load_dataset-typo", lambda: M("data").load_dataset("mnsit"), ("name", "mnist")),
    C("data.load_dataset-type", lambda: M("data").load_dataset(7), ("name",)),
    C("data.load_dataset-subset-negative", lambda: M("data").load_dataset("mnist", subset=-5), ("subset",)),
    C("data.load_dataset-subset-str", lambda: M("data").load_dataset("mnist", subset="100"), ("subset",)),
    C("data.load_dataset-dtype", lambda: M("data").load_dataset("mnist", dtype="float7"), ("dtype",)),
    C("data.load_dataset-seed", lambda: M("data").load_dataset("mnist", subset=100, seed=-1), ("seed",)),
    C("data.gaussian_inputs-n", lambda: M("data").gaussian_inputs(0, 3), ("n",)),
    C("data.gaussian_inputs-dim", lambda: M("data").gaussian_inputs(5, -1), ("dim",)),
    C("data.gaussian_inputs-std", lambda: M("data").gaussian_inputs(5, 3, std=-1.0), ("std",)),
    C("data.gaussian_inputs-dtype", lambda: M("data").gaussian_inputs(5, 3, dtype="float7"), ("dtype",)),
    C("data.two_moons-noise", lambda: M("data").two_moons(10, noise=-0.1), ("noise",)),
    C("data.two_moons-n-str", lambda: M("data").two_moons("10"), ("n",)),
    C("data.download-unknown", lambda: M("data").download("mnsit", progress=False), ("mnist",)),
    C("data.download-files", lambda: M("data").download("mnist", files=["bogus.gz"], progress=False), ("files",)),
    C("data.parse_idx-type", lambda: M("data").parse_idx("not bytes"), ("data",)),
    C("data.read_idx-type", lambda: M("data").read_idx(12), ("path",)),
    # ------------------------------------------------------------------ initializers
    C("initializers.get-typo", lambda: M("initializers").get("he_norml"), ("he_normal",)),
    C("initializers.get-type", lambda: M("initializers").get(5), ("name",)),
    C("initializers.get-unknown-param", lambda: M("initializers").get("he_normal", bogus=1), ("bogus",)),
    C("initializers.variance_scaling-mode", lambda: M("initializers").get("variance_scaling", mode="fan_mid"),
      ("mode", "fan_in")),
    C("initializers.variance_scaling-distribution",
      lambda: M("initializers").get("variance_scaling", distribution="cauchy"), ("distribution", "normal")),
    C("initializers.variance_scaling-scale", lambda: M("initializers").get("variance_scaling", scale=-1.0),
      ("scale",)),
    C("initializers.random_normal-std", lambda: M("initializers").get("random_normal", std=-1.0), ("std",)),
    C("initializers.random_uniform-order", lambda: M("initializers").get("random_uniform", low=1.0, high=-1.0),
      ("low",)),
    C("initializers.sparse-k", lambda: M("initializers").get("sparse", k=0), ("k",)),
    C("initializers.sparse_torch-sparsity", lambda: M("initializers").get("sparse_torch", sparsity=1.5),
      ("sparsity",)),
    C("initializers.orthogonal-gain-type", lambda: M("initializers").get("orthogonal", gain="x"), ("gain",)),
    C("initializers.sample-shape-type", lambda: M("initializers").get("he_normal").sample(("a", 5)), ("shape",)),
    C("initializers.sample-shape-zero", lambda: M("initializers").get("he_normal").sample((3, 0)), ("shape",)),
    C("initializers.sample-layout", lambda: M("initializers").get("he_normal").sample((3, 3), layout="tf"),
      ("layout", "keras")),
    C("initializers.sample-seed", lambda: M("initializers").get("he_normal").sample((3, 3), seed=-1), ("seed",)),
    C("initializers.orthogonal-1d", lambda: M("initializers").get("orthogonal").sample((3,)), ("shape",)),
    C("initializers.expected_std-layout", lambda: M("initializers").get("he_normal").expected_std((3, 3), layout="x"),
      ("layout", "keras")),
    C("initializers.apply_torch_-type", lambda: M("initializers").get("he_normal").apply_torch_(np.zeros((3, 3))),
      ("tensor",)),
    C("initializers.compute_fans-layout", lambda: M("initializers").compute_fans((3, 3), layout="nchw"),
      ("layout", "torch")),
    C("initializers.compute_fans-type", lambda: M("initializers").compute_fans("abc"), ("shape",)),
    C("initializers.calculate_gain-typo", lambda: M("initializers").calculate_gain("relux"), ("nonlinearity", "relu")),
    C("initializers.calculate_gain-param", lambda: M("initializers").calculate_gain("leaky_relu", param="a"),
      ("param",)),
    C("initializers.posterior_rho-zero", lambda: M("initializers").posterior_rho(0.0), ("target_sigma",)),
    C("initializers.posterior_rho-type", lambda: M("initializers").posterior_rho("0.1"), ("target_sigma",)),
    C("initializers.sample_posterior-sigma", lambda: M("initializers").sample_posterior((3, 3), sigma=-1.0),
      ("sigma",)),
    C("initializers.posterior_initializers-mean", lambda: M("initializers").posterior_initializers(mean="he_norml"),
      ("he_normal",)),
    C("initializers.identify_init-layout", lambda: M("initializers").identify_init(np.zeros((3, 3)), layout="x"),
      ("layout", "keras")),
    C("initializers.describe_model_init-type", lambda: M("initializers").describe_model_init("model"), ("model",)),
    C("initializers.lsuv_-type", lambda: M("initializers").lsuv_("model", X), ("model",)),
    C("initializers.lsuv_-target_var", lambda: M("initializers").lsuv_(torch_mlp(), X, target_var=-1.0),
      ("target_var",)),
    # ------------------------------------------------------------------ models
    C("models.build_mlp-framework", lambda: M("models").build_mlp("jax", 4, 8), ("framework", "keras")),
    C("models.build_mlp-input_dim", lambda: M("models").build_mlp("torch", 0, 8), ("input_dim",)),
    C("models.build_mlp-hidden-zero", lambda: M("models").build_mlp("torch", 4, [8, 0]), ("hidden",)),
    C("models.build_mlp-hidden-str", lambda: M("models").build_mlp("torch", 4, "8"), ("hidden",)),
    C("models.build_mlp-activation", lambda: M("models").build_mlp("torch", 4, 8, activation="rleu"),
      ("activation", "relu")),
    C("models.build_mlp-activation-keras", lambda: M("models").build_mlp("keras", 4, 8, activation="rleu"),
      ("activation", "relu")),
    C("models.build_mlp-init", lambda: M("models").build_mlp("torch", 4, 8, init="he_norml"), ("he_normal",)),
    C("models.build_mlp-dropout", lambda: M("models").build_mlp("torch", 4, 8, dropout=1.0), ("dropout",)),
    C("models.build_mlp-n_classes", lambda: M("models").build_mlp("torch", 4, 8, n_classes=0), ("n_classes",)),
    C("models.build_mlp-output_activation", lambda: M("models").build_mlp("torch", 4, 8, output_activation="softmx"),
      ("output_activation", "softmax")),
    C("models.build_cnn-input_shape", lambda: M("models").build_cnn("torch", input_shape=(28,)), ("input_shape",)),
    C("models.build_cnn-kernel_size", lambda: M("models").build_cnn("torch", kernel_size=0), ("kernel_size",)),
    C("models.build_rnn-cell", lambda: M("models").build_rnn("torch", cell="gru"), ("cell", "lstm")),
    C("models.build_rnn-units", lambda: M("models").build_rnn("torch", units=0), ("units",)),
    C("models.build_residual_mlp-n_blocks", lambda: M("models").build_residual_mlp("torch", 4, n_blocks=-1),
      ("n_blocks",)),
    C("models.build_bayesian_mlp-target_sigma",
      lambda: M("models").build_bayesian_mlp("torch", 4, 8, target_sigma=-1.0), ("target_sigma",)),
    C("models.bayesian_dense-units", lambda: M("models").bayesian_dense("torch", 4, 0), ("units",)),
    C("models.weight_layers-type", lambda: M("models").weight_layers("model"), ("model",)),
    C("models.kl_divergence-type", lambda: M("models").kl_divergence(42), ("model",)),
    C("models.input_shape_of-type", lambda: M("models").input_shape_of([1, 2]), ("model",)),
    # ------------------------------------------------------------------ training
    C("training.train-epochs", lambda: M("training").train(torch_mlp(), (X, Y), epochs=0), ("epochs",)),
    C("training.train-batch_size", lambda: M("training").train(torch_mlp(), (X, Y), epochs=1, batch_size=0),
      ("batch_size",)),
    C("training.train-optimizer", lambda: M("training").train(torch_mlp(), (X, Y), epochs=1, optimizer="adamm"),
      ("optimizer", "adam")),
    C("training.train-lr", lambda: M("training").train(torch_mlp(), (X, Y), epochs=1, lr=-1.0), ("lr",)),
    C("training.train-loss", lambda: M("training").train(torch_mlp(), (X, Y), epochs=1, loss="hinge"),
      ("loss", "cross_entropy")),
    C("training.train-model-type", lambda: M("training").train("model", (X, Y), epochs=1), ("model",)),
    C("training.train-data-short-tuple", lambda: M("training").train(torch_mlp(), (X,), epochs=1), ("data",)),
    C("training.train-data-type", lambda: M("training").train(torch_mlp(), "mnist", epochs=1), ("data",)),
    C("training.train-length-mismatch", lambda: M("training").train(torch_mlp(), (X, Y[:5]), epochs=1), ("y",)),
    C("training.train-wrong-width", lambda: M("training").train(torch_mlp(), (X_WIDE, Y), epochs=1), ("x",)),
    C("training.train-label-range", lambda: M("training").train(torch_mlp(), (X, Y + 5), epochs=1),
      ("y_train", "n_classes")),
    C("training.evaluate-loss", lambda: M("training").evaluate(torch_mlp(), X, Y, loss="hinge"), ("loss",)),
    C("training.evaluate-wrong-width", lambda: M("training").evaluate(torch_mlp(), X_WIDE, Y), ("x",)),
    C("training.predict_logits-batch_size", lambda: M("training").predict_logits(torch_mlp(), X, batch_size=0),
      ("batch_size",)),
    C("training.predict_logits-wrong-width", lambda: M("training").predict_logits(torch_mlp(), X_WIDE), ("x",)),
    C("training.predict_logits-type", lambda: M("training").predict_logits("model", X), ("model",)),
    # ------------------------------------------------------------------ activations
    C("activations.get-typo", lambda: M("activations").get("rleu"), ("relu",)),
    C("activations.framework_op-framework", lambda: M("activations").framework_op("jax", "relu"), ("framework",)),
    # ------------------------------------------------------------------ diagnostics
    C("diagnostics.end_to_end_ratio-column", lambda: M("diagnostics").end_to_end_ratio(
        M("diagnostics").signal_propagation("he_normal", "relu", 3, 8), "stdev"), ("stdev",)),
    C("diagnostics.end_to_end_ratio-depth", lambda: M("diagnostics").end_to_end_ratio(
        M("diagnostics").signal_propagation("he_normal", "relu", 3, 8), "std", last=7), ("depth",)),
    C("diagnostics.activation_function-typo", lambda: M("diagnostics").activation_function("rleu"), ("relu",)),
    C("diagnostics.activation_stats-model", lambda: M("diagnostics").activation_stats("model", X), ("model",)),
    C("diagnostics.activation_stats-wrong-width", lambda: M("diagnostics").activation_stats(torch_mlp(), X_WIDE),
      ("x",)),
    C("diagnostics.layer_activations-wrong-width", lambda: M("diagnostics").layer_activations(torch_mlp(), X_WIDE),
      ("x",)),
    C("diagnostics.gradient_stats-loss", lambda: M("diagnostics").gradient_stats(torch_mlp(), X, Y, loss="hinge"),
      ("loss",)),
    C("diagnostics.gradient_stats-length", lambda: M("diagnostics").gradient_stats(torch_mlp(), X, Y[:5]), ("y",)),
    C("diagnostics.layer_gradients-wrong-width", lambda: M("diagnostics").layer_gradients(torch_mlp(), X_WIDE, Y),
      ("x",)),
    C("diagnostics.signal_propagation-depth", lambda: M("diagnostics").signal_propagation("he_normal", "relu", 0, 8),
      ("depth",)),
    C("diagnostics.signal_propagation-width", lambda: M("diagnostics").signal_propagation("he_normal", "relu", 3, 0),
      ("width",)),
    C("diagnostics.signal_propagation-activation",
      lambda: M("diagnostics").signal_propagation("he_normal", "rleu", 3, 8), ("activation", "relu")),
    C("diagnostics.signal_propagation-init", lambda: M("diagnostics").signal_propagation("he_norml", "relu", 3, 8),
      ("he_normal",)),
    C("diagnostics.signal_propagation-n_samples",
      lambda: M("diagnostics").signal_propagation("he_normal", "relu", 3, 8, n_samples=0), ("n_samples",)),
    C("diagnostics.signal_propagation-input_std",
      lambda: M("diagnostics").signal_propagation("he_normal", "relu", 3, 8, input_std=-1.0), ("input_std",)),
    C("diagnostics.signal_propagation-framework",
      lambda: M("diagnostics").signal_propagation("he_normal", "relu", 3, 8, framework="jax"), ("framework", "torch")),
    C("diagnostics.signal_propagation_theory-depth",
      lambda: M("diagnostics").signal_propagation_theory("he_normal", "relu", -1, 8), ("depth",)),
    # ------------------------------------------------------------------ plots
    C("plots.set_theme-context", lambda: M("plots").set_theme(context="huge"), ("context", "paper")),
    C("plots.set_theme-font_scale", lambda: M("plots").set_theme(font_scale=-1.0), ("font_scale",)),
    C("plots.plot_learning_curves-empty", lambda: M("plots").plot_learning_curves([]), ("histories",)),
    C("plots.plot_learning_curves-type", lambda: M("plots").plot_learning_curves("history"), ("histories",)),
    C("plots.plot_learning_curves-metric", lambda: M("plots").plot_learning_curves([history()], metric="val_acc"),
      ("metric", "val_accuracy")),
    C("plots.plot_learning_curves-band", lambda: M("plots").plot_learning_curves([history()], band="xx"), ("band",)),
    C("plots.plot_learning_curves-level", lambda: M("plots").plot_learning_curves([history()], level=1.5),
      ("level",)),
    C("plots.plot_layer_stats-type", lambda: M("plots").plot_layer_stats("df"), ("df",)),
    C("plots.plot_layer_stats-stats", lambda: M("plots").plot_layer_stats(LAYER_DF, stats="bogus"), ("stats",)),
    C("plots.plot_layer_stats-x", lambda: M("plots").plot_layer_stats(LAYER_DF, x="bogus"), ("x",)),
    C("plots.plot_layer_histograms-empty", lambda: M("plots").plot_layer_histograms({}), ("activations",)),
    C("plots.plot_layer_histograms-kind", lambda: M("plots").plot_layer_histograms({"a": X}, kind="pie"),
      ("kind", "ridge")),
    C("plots.plot_layer_histograms-bins", lambda: M("plots").plot_layer_histograms({"a": X}, bins=0), ("bins",)),
    C("plots.plot_layer_histograms-layers", lambda: M("plots").plot_layer_histograms({"a": X}, layers=["zz"]),
      ("layers",)),
    C("plots.plot_signal_propagation-type", lambda: M("plots").plot_signal_propagation("results"), ("results",)),
    C("plots.plot_heatmap-row", lambda: M("plots").plot_heatmap(GRID_DF, "bogus", "seed", "acc"), ("row",)),
    C("plots.plot_heatmap-agg", lambda: M("plots").plot_heatmap(GRID_DF, "init", "seed", "acc", agg="bogus"),
      ("agg",)),
    C("plots.plot_images-shape", lambda: M("plots").plot_images(np.zeros((3, 5))), ("images",)),
    C("plots.plot_images-ncols", lambda: M("plots").plot_images(np.zeros((3, 28, 28)), ncols=0), ("ncols",)),
    # ------------------------------------------------------------------ experiments
    C("experiments.sweep-fn", lambda: M("experiments").sweep("fn", {"a": [1]}, cache=False), ("fn",)),
    C("experiments.sweep-grid-scalar", lambda: M("experiments").sweep(_fn, {"a": 1}, cache=False), ("grid",)),
    C("experiments.sweep-grid-empty", lambda: M("experiments").sweep(_fn, {"a": []}, cache=False), ("grid",)),
    C("experiments.sweep-grid-type", lambda: M("experiments").sweep(_fn, [1, 2], cache=False), ("grid",)),
    C("experiments.sweep-seeds", lambda: M("experiments").sweep(_fn, {"a": [1]}, seeds=[-1], cache=False),
      ("seed",)),
    C("experiments.summarize-by", lambda: M("experiments").summarize(GRID_DF, by="bogus", metric="acc"), ("by",)),
    C("experiments.summarize-metric", lambda: M("experiments").summarize(GRID_DF, by="init", metric="bogus"),
      ("metric",)),
    C("experiments.compare-b", lambda: M("experiments").compare(GRID_DF, "init", "a", "zz", "acc"), ("zz",)),
    C("experiments.compare-column", lambda: M("experiments").compare(GRID_DF, "bogus", "a", "b", "acc"),
      ("column",)),
    C("experiments.curves-column", lambda: M("experiments").curves(GRID_DF, column="bogus"), ("column",)),
    C("experiments.cached_dataset-name", lambda: M("experiments").cached_dataset("mnsit"), ("mnist",)),
    C("experiments.train_mlp-framework", lambda: M("experiments").train_mlp("jax", "he_normal", 0),
      ("framework", "keras")),
    C("experiments.train_mlp-dataset", lambda: M("experiments").train_mlp("torch", "he_normal", 0, dataset="cifar"),
      ("dataset", "mnist")),
    C("advice.signal_summary-depth", lambda: M("advice").signal_summary("he_normal", "relu", 0, 0),
      ("depth",)),
    C("experiments.init_label-type", lambda: M("experiments").init_label(5), ("init",)),
    C("experiments.time_init-framework", lambda: M("experiments").time_init("he_normal", (3, 3), framework="jax"),
      ("framework", "torch")),
    C("experiments.time_init-repeats", lambda: M("experiments").time_init("he_normal", (3, 3), repeats=0),
      ("repeats",)),
    C("advice.check_model-type", lambda: M("advice").check_model("model", X, Y), ("model",)),
    C("advice.guide_support-columns", lambda: M("advice").guide_support(pd.DataFrame({"activation": ["relu"]})),
      ("missing", "seed")),
    C("advice.seed_interval-empty", lambda: M("advice").seed_interval([]), ("at least one",)),
    # ------------------------------------------------------------------ claims
    C("claims.expect-claim-type", lambda: M("claims").expect(True, 5), ("claim",)),
    C("claims.expect-claim-empty", lambda: M("claims").expect(True, ""), ("claim",)),
    # ------------------------------------------------------------------ exercises
    C("exercises.checker-type", lambda: M("exercises").checker(5), ("exercise",)),
    C("exercises.close-rtol", lambda: M("exercises").close(1.0, 1.0, rtol=-1.0), ("rtol",)),
    C("exercises.fail-message-type", lambda: M("exercises").fail(5), ("message",)),
    # ------------------------------------------------------------------ widgets
    C("widgets.explorer_samples-depth", lambda: M("widgets").explorer_samples(0, 8), ("depth",)),
    C("widgets.explorer_samples-width", lambda: M("widgets").explorer_samples(5, -8), ("width",)),
    C("widgets.signal_figure-depth", lambda: M("widgets").signal_figure(depth=0), ("depth",)),
    C("widgets.signal_explorer-depth-max", lambda: M("widgets").signal_explorer(depth=M("widgets").MAX_DEPTH + 1),
      ("depth",)),
    C("widgets.signal_figure-activation", lambda: M("widgets").signal_figure(activation="rleu"),
      ("activation", "relu")),
    C("widgets.signal_figure-std", lambda: M("widgets").signal_figure(std=-1.0), ("std",)),
    C("widgets.signal_figure-init", lambda: M("widgets").signal_figure(init="he_norml"), ("he_normal",)),
    C("widgets.signal_explorer-inits", lambda: M("widgets").signal_explorer(inits=["bogus"]), ("initializer",)),
]


def outcome(case: Case) -> str | None:
    """None when the case behaves; else what happened, in one line."""
    try:
        case.call()
    except (ValueError, TypeError) as err:
        frames = traceback.extract_tb(err.__traceback__)
        last = Path(frames[-1].filename).resolve()
        message = str(err)
        where = f"{last.name}:{frames[-1].lineno}"
        if PACKAGE not in last.parents:
            return f"{type(err).__name__} raised outside course_utils at {last}:{frames[-1].lineno}: {message[:160]!r}"
        missing = [w for w in case.words if w.lower() not in message.lower()]
        if missing:
            return f"{type(err).__name__} ({where}) message lacks {missing}: {message[:200]!r}"
        if not ALLOWED.search(message):
            return f"{type(err).__name__} ({where}) message does not say what is allowed: {message[:200]!r}"
        return None
    except Exception as err:  # noqa: BLE001 - any other exception type is the finding
        frames = traceback.extract_tb(err.__traceback__)
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
        return f"{type(err).__name__} at {where}: {str(err)[:160]!r}"
    return "no exception: the bad input was accepted"


# Rows that fail today (filled from the run on 2026-11-23; the text is what happened).
KNOWN: dict[str, str] = {}


def _params():
    for case in CASES:
        marks = []
        if case.id in KNOWN:
            marks.append(pytest.mark.xfail(strict=True, reason=f"{REPORTED}: {KNOWN[case.id]}"))
        yield pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", list(_params()))
def test_bad_input_gets_a_clear_error_from_course_utils(case: Case, monkeypatch):
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    problem = outcome(case)
    assert problem is None, f"{case.id}: {problem}"


def test_every_module_is_in_the_table():
    covered = {c.id.split(".")[0] for c in CASES}
    assert covered == set(MODULES), f"modules without a bad-input row: {set(MODULES) - covered}"


def test_every_module_declares_its_public_names():
    missing = [m for m in MODULES if not getattr(M(m), "__all__", None)]
    assert not missing, f"modules without __all__ (the bad-input table is built from it): {missing}"
