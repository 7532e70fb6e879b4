"""The signal explorer: a static figure everywhere, a working widget in a Jupyter kernel, clear errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from course_utils import diagnostics, widgets  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_static_call_at_defaults_draws_forward_and_backward():
    fig = widgets.signal_explorer(interactive=False)
    assert isinstance(fig, matplotlib.figure.Figure)
    titles = [ax.get_title() for ax in fig.axes]
    assert any("forward" in t for t in titles) and any("backward" in t for t in titles)
    frame = fig.signal_frame
    assert list(frame["depth"]) == list(range(31))  # default depth 30, plus the input row
    assert set(frame["init"]) == {"he_normal"} and set(frame["activation"]) == {"relu"}
    # the measured line and the dashed mean-field line in the forward panel
    assert len(fig.axes[0].get_lines()) == 2
    assert "He normal, relu, 30 layers of 256" in fig._suptitle.get_text()  # the human name (plots.human_name)


def test_outside_a_kernel_the_explorer_falls_back_to_the_figure():
    assert widgets.widgets_available() is False  # pytest is not a Jupyter kernel
    assert isinstance(widgets.signal_explorer(depth=5, width=32), matplotlib.figure.Figure)
    with pytest.raises(RuntimeError, match="interactive=False"):
        widgets.signal_explorer(interactive=True)


def test_std_means_random_normal_and_the_title_says_what_happened():
    fig = widgets.signal_figure(depth=20, width=128, std=0.01, activation="relu")
    assert set(fig.signal_frame["init"]) == {"random_normal(std=0.01)"}
    assert "vanished" in fig._suptitle.get_text()
    fig = widgets.signal_figure(depth=20, width=128, std=0.5, activation="relu")
    assert "exploded" in fig._suptitle.get_text()
    fig = widgets.signal_figure(depth=20, width=128, init="he_normal", activation="relu")
    assert "vanished" not in fig._suptitle.get_text() and "exploded" not in fig._suptitle.get_text()


def test_figure_matches_diagnostics_exactly():
    """The explorer draws diagnostics.signal_propagation's numbers, not a copy of its own."""
    fig = widgets.signal_figure(depth=8, width=64, init="glorot_normal", activation="tanh", n_samples=100, seed=3)
    direct = diagnostics.signal_propagation("glorot_normal", "tanh", 8, 64, n_samples=100, seed=3)
    np.testing.assert_array_equal(fig.signal_frame["std"].to_numpy(), direct["std"].to_numpy())
    y = fig.axes[0].get_lines()[0].get_ydata()
    np.testing.assert_allclose(y, direct["std"].to_numpy())


def test_log_panels_span_at_least_two_decades():
    fig = widgets.signal_figure(depth=10, width=256, init="he_normal", activation="relu")
    for ax in fig.axes:
        low, high = ax.get_ylim()
        assert low <= 0.1 and high >= 10


def test_extra_panels_and_no_theory_for_constant_weights():
    fig = widgets.signal_figure(depth=6, width=32, init="he_normal", activation="relu",
                                stats=("std", "grad_std", "frac_zero"))
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 3
    fig = widgets.signal_figure(depth=6, width=32, init="ones", activation="tanh")  # mean-field theory undefined
    assert len(fig.axes[0].get_lines()) == 1


def test_exploding_network_draws_without_error():
    fig = widgets.signal_figure(depth=100, width=256, std=3.0, activation="linear", n_samples=32)
    assert "overflowed" in fig._suptitle.get_text() or "exploded" in fig._suptitle.get_text()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"init": "he_normall"}, ValueError, "Did you mean 'he_normal'"),
        ({"init": "glorot_normal", "std": 0.1}, ValueError, "either init"),
        ({"std": -1.0}, ValueError, "std"),
        ({"activation": "relu6"}, ValueError, "Valid choices"),
        ({"depth": 0}, ValueError, "depth"),
        ({"depth": widgets.MAX_DEPTH + 1}, ValueError, "depth"),
        ({"inits": ["he_normal", "nope"]}, ValueError, "Unknown initializer"),
        ({"activation": "tanh", "activations": ["relu"]}, ValueError, "offered activations"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, error, match):
    with pytest.raises(error, match=match):
        widgets.signal_explorer(interactive=False, **kwargs)


def test_samples_budget_keeps_redraws_bounded():
    assert widgets.explorer_samples(30, 256) == 256
    assert widgets.explorer_samples(100, 512) == 256 * 256 * 30 // (100 * 512)  # 38
    assert widgets.explorer_samples(100, 10_000) == 32
    assert widgets.explorer_samples(1, 16) == 256
    for depth in (1, 10, 100):
        for width in widgets.WIDTHS:
            n = widgets.explorer_samples(depth, width)
            assert 32 <= n <= 256 and n * depth * width <= max(32 * depth * width, 256 * 256 * 30)


def test_widget_controls_redraw(monkeypatch):
    """Built outside a kernel (display prints), every control redraws and the status reports the time."""
    monkeypatch.setattr(widgets, "widgets_available", lambda: True)
    box = widgets.signal_explorer(depth=10, width=64, std=0.05, activation="tanh", seed=1)
    depth, width = box.children[0].children
    init, std = box.children[1].children
    activation, theory = box.children[2].children
    status = box.children[3]
    assert init.value == "random_normal" and not std.disabled and std.value == pytest.approx(0.05)
    assert "redrawn in" in status.value
    for control, value in [(depth, 12), (width, 128), (activation, "relu"), (std, 0.1), (theory, False),
                           (init, "he_normal")]:
        status.value = ""
        control.value = value
        assert "redrawn in" in status.value, control.description
    assert std.disabled  # the std slider belongs to random_normal only
    init.value = "sparse"
    width.value = 16  # sparse's k=15 fits 16 inputs
    assert "redrawn in" in status.value


def test_wide_layers_shorten_the_depth_slider(monkeypatch):
    """Width 512 with 100 layers would draw 26M weights per redraw: the depth slider stops at 25 there."""
    assert widgets.max_depth_for(256) == widgets.MAX_DEPTH and widgets.max_depth_for(512) == 25
    monkeypatch.setattr(widgets, "widgets_available", lambda: True)
    calls = []
    original = widgets.signal_figure
    monkeypatch.setattr(widgets, "signal_figure", lambda *a, **k: calls.append(a[:2]) or original(*a, **k))
    box = widgets.signal_explorer(depth=60, width=64)
    depth, width = box.children[0].children
    assert depth.max == widgets.MAX_DEPTH and depth.value == 60
    calls.clear()
    width.value = 512
    assert depth.max == 25 and depth.value == 25
    assert calls == [(25, 512)]  # one redraw, already at the clamped depth
    width.value = 128
    assert depth.max == widgets.MAX_DEPTH and depth.value == 25


def test_import_loads_no_framework():
    code = "import sys, course_utils.widgets; print('tensorflow' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.slow
def test_in_a_real_kernel_the_explorer_is_a_widget_that_redraws(tmp_path):
    """Run in an IPython kernel (as in JupyterLab): a VBox comes back and a slider move redraws within seconds."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    source = textwrap.dedent("""
        import time
        from course_utils import widgets
        assert widgets.widgets_available()
        box = widgets.signal_explorer()
        start = time.perf_counter()
        box.children[0].children[0].value = 50
        elapsed = time.perf_counter() - start
        print(type(box).__name__, "redrawn" in box.children[3].value, elapsed)
        box
    """)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    kind, redrawn, elapsed = text.split()[-3:]
    assert kind == "VBox" and redrawn == "True"
    # about 0.5 s on one free core; 10 s leaves room for a loaded shared CI machine
    assert float(elapsed) < 10
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
