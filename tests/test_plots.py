"""plots: every function returns a labelled Figure, draws the numbers it is given, and rejects bad input.

No model is trained and no framework is loaded here: learning curves come from
hand-made History objects, layer statistics from the NumPy signal_propagation.
"""

from __future__ import annotations

import math
import subprocess
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from course_utils import plots  # noqa: E402
from course_utils.diagnostics import signal_propagation, signal_propagation_theory  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def history(label, seed, values, framework="torch"):
    History = pytest.importorskip("course_utils.training").History  # noqa: N806 - the class, by its name
    n = len(values)
    values = [float(v) for v in values]
    return History(framework=framework, epoch=list(range(1, n + 1)), loss=[1 - v for v in values], accuracy=values,
                   val_loss=[1.1 - v for v in values], val_accuracy=values, seconds_per_epoch=[0.5] * n,
                   config={"label": label, "seed": seed})


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def assert_labelled(fig):
    assert isinstance(fig, Figure)
    axes = visible_axes(fig)
    assert axes
    for ax in axes:
        assert ax.get_xlabel().strip(), "x axis without a label"
        assert ax.get_ylabel().strip(), "y axis without a label"


# ------------------------------------------------------------------------ theme


def test_set_theme_uses_the_colour_blind_palette():
    palette = plots.set_theme()
    import seaborn as sns

    assert palette == sns.color_palette("colorblind")
    assert plt.rcParams["axes.spines.top"] is False
    with pytest.raises(ValueError, match="'notebook'"):
        plots.set_theme(context="huge")


# ------------------------------------------------------------------ learning curves


def test_learning_curves_mean_and_t_interval_band():
    runs = {"He": [history("He", s, v) for s, v in enumerate([[0.1, 0.5], [0.2, 0.6], [0.3, 0.9]])],
            "Xavier": [history("Xavier", s, [0.4, 0.4]) for s in range(3)]}
    fig = plots.plot_learning_curves(runs, metric="val_accuracy")
    assert_labelled(fig)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "epoch" and "validation accuracy" in ax.get_ylabel()
    he_line = next(line for line in ax.get_lines() if line.get_label().startswith("He"))
    assert he_line.get_label() == "He (n=3)"
    assert np.allclose(he_line.get_ydata(), [0.2, 2.0 / 3])
    # the band at epoch 1: mean 0.2 +- t(0.975, 2) * sd / sqrt(3) with sd = 0.1
    band = ax.collections[0].get_paths()[0].vertices
    half = stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3)
    at_epoch_1 = band[np.isclose(band[:, 0], 1.0), 1]
    assert at_epoch_1.min() == pytest.approx(0.2 - half) and at_epoch_1.max() == pytest.approx(0.2 + half)


def test_learning_curves_band_is_the_range_below_three_runs():
    """Two seeds: a t-interval would be +-12.7 sd / sqrt(2); the band is the two runs' range instead."""
    runs = {"He": [history("He", s, v) for s, v in enumerate([[0.1, 0.5], [0.3, 0.9]])]}
    band = plots.plot_learning_curves(runs, metric="val_accuracy").axes[0].collections[0].get_paths()[0].vertices
    at_epoch_1 = band[np.isclose(band[:, 0], 1.0), 1]
    assert at_epoch_1.min() == pytest.approx(0.1) and at_epoch_1.max() == pytest.approx(0.3)


def test_a_single_panel_legend_sits_beside_the_curves():
    runs = {"He": [history("He", s, [0.1, 0.5]) for s in range(2)], "Xavier": [history("Xavier", 0, [0.4, 0.4])]}
    fig = plots.plot_learning_curves(runs, metric="val_accuracy")
    fig.canvas.draw()
    legend = fig.axes[0].get_legend().get_window_extent()
    assert legend.x0 >= fig.axes[0].get_window_extent().x1


def test_learning_curves_from_a_list_a_frame_and_several_metrics():
    hs = [history(None, s, [0.2 + 0.1 * s, 0.5], framework=fw) for s in range(2) for fw in ("keras", "torch")]
    fig = plots.plot_learning_curves(hs, metric=["val_accuracy", "loss"])  # no labels: grouped by framework
    assert_labelled(fig)
    assert len(visible_axes(fig)) == 2
    labels = sorted(line.get_label() for line in fig.axes[0].get_lines())
    assert labels == ["keras (n=2)", "torch (n=2)"]
    frame = pd.concat([h.to_frame() for h in hs])
    fig = plots.plot_learning_curves(frame, metric="accuracy", by="framework", band="sd")
    assert_labelled(fig)
    single = plots.plot_learning_curves(hs[0], metric="loss", band="none")
    assert not single.axes[0].collections  # one run: no band


def test_learning_curves_bad_input():
    hs = [history("a", 0, [0.1, 0.2])]
    with pytest.raises(ValueError, match="'val_accuracy'"):
        plots.plot_learning_curves(hs, metric="val_acc")
    with pytest.raises(ValueError, match="'ci', 'sd', 'none'"):
        plots.plot_learning_curves(hs, band="bootstrap")
    with pytest.raises(TypeError, match="History"):
        plots.plot_learning_curves([{"epoch": [1]}])
    with pytest.raises(ValueError, match="empty"):
        plots.plot_learning_curves([])


# ------------------------------------------------------------------ per-layer statistics


@pytest.fixture(scope="module")
def signal_frames():
    return {init: signal_propagation(init, "tanh", 8, 32, n_samples=64) for init in ("glorot_normal", "he_normal")}


def test_layer_stats_panels_log_scale_and_auto_hue(signal_frames):
    frame = pd.concat(signal_frames.values())
    fig = plots.plot_layer_stats(frame, ["std", "frac_saturated"], log=True)
    assert_labelled(fig)
    std_ax, frac_ax = visible_axes(fig)
    assert std_ax.get_yscale() == "log" and "log scale" in std_ax.get_ylabel()
    assert frac_ax.get_yscale() == "linear"  # fractions stay linear
    assert std_ax.get_xlabel() == "layer (0 = input)"
    assert len(std_ax.get_lines()) == 2  # one per initializer, found by itself
    line = std_ax.get_lines()[0]
    assert np.allclose(line.get_ydata(), signal_frames["glorot_normal"]["std"])


def test_layer_stats_average_seeds_with_a_band():
    frames = pd.concat([signal_propagation("he_normal", "relu", 5, 16, n_samples=32, seed=s) for s in range(3)])
    fig = plots.plot_layer_stats(frames, "std")
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 1 and len(ax.collections) == 1
    assert np.allclose(ax.get_lines()[0].get_ydata(), frames.groupby("depth")["std"].mean())


def test_layer_stats_bad_input(signal_frames):
    with pytest.raises(ValueError, match="no column"):
        plots.plot_layer_stats(signal_frames["he_normal"], "variance")
    with pytest.raises(TypeError, match="DataFrame"):
        plots.plot_layer_stats({"std": [1, 2]})


# ------------------------------------------------------------------ distributions per layer


@pytest.fixture(scope="module")
def activations():
    rng = np.random.default_rng(0)
    return {f"hidden_{i}": np.tanh(rng.normal(0, 2.0 / i, (64, 16))) for i in range(1, 6)}


@pytest.mark.parametrize("kind", ["ridge", "violin", "hist"])
def test_layer_histograms_each_kind(activations, kind):
    fig = plots.plot_layer_histograms(activations, kind=kind)
    assert_labelled(fig)
    ax = fig.axes[0]
    if kind == "ridge":
        assert [t.get_text() for t in ax.get_yticklabels()] == [n.replace("_", " ") for n in reversed(activations)]
        low, high = ax.get_xlim()
        assert -1.0 <= low < -0.9 and 0.9 < high <= 1.0  # tanh's saturation near +-1 stays in view
    elif kind == "violin":
        assert [t.get_text() for t in ax.get_xticklabels()] == [n.replace("_", " ") for n in activations]
    else:
        assert len(ax.get_lines()) == len(activations)


def test_layer_histograms_side_by_side_subsets_and_deep_nets(activations):
    fig = plots.plot_layer_histograms({"standard": activations, "normalized": activations},
                                      layers=["hidden_1", "hidden_5"], title="compare")
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == ["standard", "normalized"]
    deep = {f"h{i}": np.full(10, float(i)) for i in range(50)}
    deep["h3"] = np.array([np.nan, np.inf, 1.0])  # non-finite values are dropped, not fatal
    ax = plots.plot_layer_histograms(deep).axes[0]
    assert len(ax.get_yticklabels()) == 12  # 50 rows would be unreadable: 12 evenly spaced, first and last kept
    assert ax.get_yticklabels()[0].get_text() == "h49" and ax.get_yticklabels()[-1].get_text() == "h0"


def test_layer_histograms_bad_input(activations):
    with pytest.raises(ValueError, match="hidden_9"):
        plots.plot_layer_histograms(activations, layers=["hidden_9"])
    with pytest.raises(ValueError, match="'ridge', 'violin', 'hist'"):
        plots.plot_layer_histograms(activations, kind="kde")
    with pytest.raises(TypeError, match="dict"):
        plots.plot_layer_histograms([np.zeros(3)])


# ------------------------------------------------------------------ signal propagation


def test_signal_propagation_forward_and_backward_panels_with_theory(signal_frames):
    theory = {"glorot_normal": signal_propagation_theory("glorot_normal", "tanh", 8, 32)}
    fig = plots.plot_signal_propagation(signal_frames, theory=theory, title="tanh")
    assert_labelled(fig)
    forward, backward = visible_axes(fig)
    assert forward.get_title().startswith("forward") and backward.get_title().startswith("backward")
    assert forward.get_yscale() == backward.get_yscale() == "log"
    assert "gradient" in backward.get_ylabel()
    assert len(forward.get_lines()) == 3  # two measured, one theory
    dashed = [line for line in forward.get_lines() if "theory" in line.get_label()]
    assert len(dashed) == 1 and np.allclose(dashed[0].get_ydata(), theory["glorot_normal"]["std"])


def test_signal_propagation_from_one_concatenated_frame(signal_frames):
    fig = plots.plot_signal_propagation(pd.concat(signal_frames.values()), stats=["std", "frac_saturated", "grad_std"])
    assert len(visible_axes(fig)) == 3
    labels = sorted(line.get_label() for line in fig.axes[0].get_lines())
    assert labels == ["Glorot normal", "He normal"]  # human names, not the registry's identifiers


def test_signal_propagation_bad_input(signal_frames):
    with pytest.raises(ValueError, match="match no result"):
        plots.plot_signal_propagation(signal_frames, theory={"lecun": signal_frames["he_normal"]})
    with pytest.raises(TypeError, match="signal_propagation"):
        plots.plot_signal_propagation([1, 2, 3])


# ------------------------------------------------------------------------ heatmaps


def test_heatmap_shows_the_mean_over_seeds():
    rows = [{"init": init, "depth": depth, "seed": seed, "acc": base + 0.01 * seed}
            for init, base in (("he_normal", 0.9), ("glorot_normal", 0.8)) for depth in (2, 10) for seed in range(3)]
    frame = pd.DataFrame(rows)
    fig = plots.plot_heatmap(frame, row="init", col="depth", value="acc", fmt=".3f")
    assert_labelled(fig)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "initializer" and ax.get_xlabel() == "depth (layers)"
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["0.910", "0.910", "0.810", "0.810"]  # rows in order of appearance, mean of seeds 0-2
    assert "mean of 3 runs" in ax.get_title()
    log_fig = plots.plot_heatmap(frame, "init", "depth", "acc", log=True, annot=False)
    assert isinstance(log_fig, Figure)


def test_heatmap_bad_input():
    frame = pd.DataFrame({"a": [1], "b": [2], "v": [-1.0]})
    with pytest.raises(ValueError, match="no column"):
        plots.plot_heatmap(frame, "a", "b", "value")
    with pytest.raises(ValueError, match="'mean'"):
        plots.plot_heatmap(frame, "a", "b", "v", agg="average")
    with pytest.raises(ValueError, match="positive"):
        plots.plot_heatmap(frame, "a", "b", "v", log=True)


# ------------------------------------------------------------------------ Jupyter and imports


def test_figure_is_shown_once_in_jupyter():
    """In a real kernel with the inline backend, every way of showing a figure draws it exactly once."""
    import os

    import nbclient
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[
        new_code_cell("from course_utils import plots\nimport pandas as pd\n"
                      "df = pd.DataFrame({'a': [1, 2], 'b': [1, 1], 'v': [0.1, 0.2]})"),
        new_code_cell("plots.plot_heatmap(df, 'a', 'b', 'v')"),  # the cell's value
        new_code_cell("fig = plots.plot_heatmap(df, 'a', 'b', 'v')"),  # assigned: pyplot's flush shows it
        new_code_cell("fig"),  # asked for again in a later cell
    ])
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the kernel's own default: inline
    saved = os.environ.pop("MPLBACKEND", None)
    try:
        nbclient.NotebookClient(nb, kernel_name="python3", timeout=120, env=env).execute()
    finally:
        if saved is not None:
            os.environ["MPLBACKEND"] = saved
    pngs = [sum("image/png" in out.get("data", {}) for out in cell.outputs) for cell in nb.cells]
    assert pngs == [0, 1, 1, 1], pngs


def test_plots_never_import_a_framework():
    code = (
        "import sys, matplotlib; matplotlib.use('Agg')\n"
        "from course_utils import plots, diagnostics\n"
        "f = diagnostics.signal_propagation('he_normal', 'relu', 3, 8, 16)\n"
        "plots.plot_signal_propagation({'he': f}); plots.plot_layer_stats(f); plots.plot_heatmap(f, 'depth', 'init', 'std')\n"
        "plots.plot_layer_histograms({'a': f['std'].to_numpy()})\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_learning_curves_one_run_legend_claims_no_band():
    from course_utils.training import History
    runs = [History(framework=fw, epoch=[1, 2], loss=[2.0, 1.0], accuracy=[0.4, 0.6], val_loss=[2.1, 1.1],
                    val_accuracy=[0.5, 0.7], seconds_per_epoch=[1.0, 1.0], config={"seed": 0})
            for fw in ("keras", "torch")]
    fig = plots.plot_learning_curves(runs, metric="val_accuracy", by="framework")
    title = fig.axes[0].get_legend().get_title().get_text()
    assert "CI" not in title and "one run each" in title
