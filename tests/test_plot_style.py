"""The house style of course_utils.plots, checked on every public plot function (issue 17).

Rules a machine can check, each with a checker below and a deliberately bad figure that the checker must
catch (a check that cannot fail proves nothing):

1. no legend over plotted data: a legend's box (display coordinates, after a draw) touches no line, filled
   band, scatter point or bar of any panel it overlaps; beside the panel or in an empty corner passes;
2. human names: no legend entry or title, axis label, panel or figure title, colour-bar label that contains a
   snake_case identifier (``grad_std``, ``he_normal``) or equals an internal column name (``init``, ``lr``);
3. log axes labelled as such: the house convention is ``(log scale)`` in the axis label; the check asks for
   "log" in the label of every log-scaled axis, colour bars included;
4. bands that say what they are: a band over seeds is named in the legend (``range of 2 runs``,
   ``+-1 sd``, ``95% t-interval``), and below 3 seeds nothing claims a confidence interval;
5. nothing printed under a figure: each function called as a cell's last line leaves no text/plain
   ``execute_result`` (``<Figure ...>``, ``Text(...)``) in a real kernel; the committed notebooks' code
   cells do not end with a bare matplotlib call that returns an object;
6. one colour per scheme across the course: ``he_normal``, ``He`` and ``Kaiming`` get the same colour in
   every function, ``glorot_normal`` and ``Xavier`` another, whatever the order of the groups.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from course_utils import diagnostics, plots, widgets  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ------------------------------------------------------------------------------------------- checkers


def _segments_box(box) -> tuple[float, float, float, float]:
    return box.x0, box.y0, box.x1, box.y1


def _line_hits_box(points: np.ndarray, box, markers: bool, linestyle: bool) -> bool:
    """Does a polyline (display coordinates) pass through ``box``? Vertices inside, or a segment crossing it."""
    x0, y0, x1, y1 = _segments_box(box)
    points = points[np.isfinite(points).all(axis=1)]
    if not len(points):
        return False
    inside = (points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)
    if inside.any():
        return True
    if not linestyle or len(points) < 2:
        return False
    # Liang-Barsky clipping of each segment against the box
    p, q = points[:-1], points[1:]
    d = q - p
    for (px, py), (dx, dy) in zip(p, d, strict=True):
        t0, t1 = 0.0, 1.0
        ok = True
        for pk, qk in ((-dx, px - x0), (dx, x1 - px), (-dy, py - y0), (dy, y1 - py)):
            if pk == 0:
                if qk < 0:
                    ok = False
                    break
            else:
                t = qk / pk
                if pk < 0:
                    t0 = max(t0, t)
                else:
                    t1 = min(t1, t)
                if t0 > t1:
                    ok = False
                    break
        if ok:
            return True
    return False


def _data_under(ax, box, renderer) -> list[str]:
    """What of ``ax``'s plotted data lies under the display-coordinate ``box``."""
    hits = []
    for line in ax.get_lines():
        if not line.get_visible() or line.get_label() == "_nolegend_" and line.get_alpha() == 0:
            continue
        xy = np.asarray(line.get_xydata(), dtype=float)
        if not len(xy):
            continue
        points = line.get_transform().transform(xy)
        has_line = line.get_linestyle() not in ("None", "none", " ", "")
        has_marker = line.get_marker() not in (None, "None", "none", " ", "")
        if _line_hits_box(points, box, has_marker, has_line):
            hits.append(f"line {line.get_label()!r}")
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        if isinstance(coll, PathCollection) and len(coll.get_offsets()):  # scatter points
            pts = coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), dtype=float))
            if _line_hits_box(pts, box, True, False):
                hits.append("scatter points")
        elif isinstance(coll, PolyCollection):  # fill_between bands, violins
            transform = coll.get_transform()
            if any(transform.transform_path(path).intersects_bbox(box, filled=True) for path in coll.get_paths()):
                hits.append("a filled band")
    for patch in ax.patches:  # bars
        if patch.get_visible() and patch.get_window_extent(renderer).overlaps(box):
            hits.append("a bar")
    return hits


def legend_overlaps(fig: Figure) -> list[str]:
    """Rule 1: every legend (of a panel or of the figure) against the data of every panel it covers."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
    problems = []
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            if not ax.get_visible() or not ax.get_window_extent(renderer).overlaps(box):
                continue
            for hit in _data_under(ax, box, renderer):
                problems.append(f"legend {legend.get_title().get_text()!r} covers {hit} in panel {ax.get_title()!r}")
    return problems


def _internal_names() -> set[str]:
    """The column and field names the course's functions produce: History, diagnostics, experiments, plots."""
    from course_utils.training import History

    names = {f.name for f in dataclasses.fields(History)}
    h = History(framework="torch", epoch=[1], loss=[1.0], accuracy=[0.5], val_loss=[1.0], val_accuracy=[0.5],
                seconds_per_epoch=[1.0], config={"label": "x", "seed": 0})
    names |= set(h.to_frame().columns)
    names |= set(diagnostics.signal_propagation("he_normal", "relu", 2, 4, n_samples=4).columns)
    names |= set(diagnostics.signal_propagation_theory("he_normal", "relu", 2, 4).columns)
    names |= set(plots.LABELS)
    # gradient_stats / activation_stats / mup.lr_sweep / experiments.sweep columns not produced above
    names |= {"units", "weight_std", "weight_grad_std", "weight_grad_norm", "grad_weight_ratio", "run", "value",
              "metric", "label", "parametrization", "best_lr", "final_train_loss", "history", "seconds", "cached"}
    return names


#: Internal names that are also the plain English word a reader expects on an axis ("epoch", "depth").
ENGLISH = {"epoch", "seed", "width", "depth", "activation", "layer", "loss", "accuracy"}
SNAKE = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b")


def figure_texts(fig: Figure) -> list[tuple[str, str]]:
    """(where, text) of every legend entry and title, axis label, panel title, colour-bar label, suptitle."""
    out = []
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        for where in ("left", "center", "right"):
            out.append((f"panel {i} title", ax.get_title(loc=where)))
        out += [(f"panel {i} x label", ax.get_xlabel()), (f"panel {i} y label", ax.get_ylabel())]
    for legend in [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends):
        out.append(("legend title", legend.get_title().get_text()))
        out += [("legend entry", t.get_text()) for t in legend.get_texts()]
    for attr in ("_suptitle", "_supxlabel", "_supylabel"):
        text = getattr(fig, attr, None)
        if text is not None:
            out.append(("figure title", text.get_text()))
    return [(w, t) for w, t in out if t and t.strip()]


def internal_name_texts(fig: Figure, internal: set[str]) -> list[str]:
    """Rule 2: texts that are an internal column name or contain a snake_case identifier."""
    problems = []
    for where, text in figure_texts(fig):
        snake = SNAKE.findall(text)
        if snake:
            problems.append(f"{where} {text!r} contains {snake}")
        elif text.strip() in internal - ENGLISH:
            problems.append(f"{where} {text!r} is an internal column name")
    return problems


def unlabelled_log_axes(fig: Figure) -> list[str]:
    """Rule 3: every log-scaled axis (colour bars too) says "log" in its label."""
    problems = []
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        for name, scale, label in (("x", ax.get_xscale(), ax.get_xlabel()), ("y", ax.get_yscale(), ax.get_ylabel())):
            if scale in ("log", "symlog", "logit") and "log" not in label.lower():
                problems.append(f"panel {i} ({ax.get_label() or ax.get_title()!r}): {name} axis is {scale} "
                                f"but labelled {label!r}")
    return problems


CI_WORDS = re.compile(r"\d+\s*%|\bCI\b|confidence|t-interval", re.IGNORECASE)
BAND_WORDS = re.compile(r"range|spread|\bsd\b|standard deviation|interval|\bCI\b|confidence|min.{0,3}max",
                        re.IGNORECASE)


def has_band(fig: Figure) -> bool:
    return any(type(c).__name__ in ("FillBetweenPolyCollection", "PolyCollection") for ax in fig.axes
               for c in ax.collections)


def band_wording(fig: Figure, n_seeds: int) -> list[str]:
    """Rule 4: a figure with a band names it; below 3 seeds no text claims a confidence interval."""
    texts = [t for _, t in figure_texts(fig)]
    problems = []
    if has_band(fig) and not any(BAND_WORDS.search(t) for t in texts):
        problems.append(f"a band is drawn but no legend or title says what it is: {texts}")
    if n_seeds < 3:
        problems += [f"{t!r} claims an interval from {n_seeds} seeds" for t in texts if CI_WORDS.search(t)]
    return problems


# ------------------------------------------------------------------------------------- the inputs


def history(label, seed, values, framework="torch"):
    from course_utils.training import History

    values = [float(v) for v in values]
    n = len(values)
    return History(framework=framework, epoch=list(range(1, n + 1)), loss=[2.3 * (1 - v) for v in values],
                   accuracy=values, val_loss=[2.4 * (1 - v) for v in values], val_accuracy=values,
                   seconds_per_epoch=[0.5] * n, config={"label": label, "seed": seed})


def _curves(labels, n_seeds, epochs, *, seed, top, step, tau, noise):
    """Learning curves rising from 0.1 towards ``top - step * k`` for the k-th label, seed noise ``noise``."""
    rng = np.random.default_rng(seed)
    runs = []
    for k, label in enumerate(labels):
        base = 0.1 + (top - 0.1 - step * k) * (1 - np.exp(-np.arange(epochs) / tau))
        runs += [history(label, s, np.clip(base + rng.normal(0, noise, epochs), 0, 1)) for s in range(n_seeds)]
    return runs


def seeded_runs(labels, n_seeds, epochs=6):
    """Learning curves that rise from 0.1 to about 0.85 (the whole height of the panel), seed noise 0.03."""
    return _curves(labels, n_seeds, epochs, seed=0, top=0.85, step=0.1, tau=1.5, noise=0.03)


def signal_frames(inits=("glorot_normal", "he_normal"), activation="tanh", seeds=(0,)):
    return pd.concat([diagnostics.signal_propagation(i, activation, 10, 32, n_samples=64, seed=s) for i in inits
                      for s in seeds], ignore_index=True)


def lr_frame():
    rows = []
    for fw in ("keras", "torch"):
        for par in ("sp", "mup"):
            for width in (64, 256, 1024):
                best = -9 - (0 if par == "mup" else np.log2(width / 64))
                for lr_exp in range(-13, -4):
                    for seed in (0, 1):
                        loss = 0.5 + 0.05 * (lr_exp - best) ** 2 + 0.01 * seed - 0.02 * np.log2(width / 64)
                        rows.append({"framework": fw, "parametrization": par, "width": width, "lr": 2.0 ** lr_exp,
                                     "seed": seed, "loss": loss})
    df = pd.DataFrame(rows)
    best = df.loc[df.groupby(["framework", "parametrization", "width", "seed"])["loss"].idxmin()]
    return df, best.rename(columns={"lr": "best_lr"})[["framework", "parametrization", "width", "seed", "best_lr"]]


def spread_runs(labels, n_seeds, epochs=8):
    """Curves that fill a panel from corner to corner (seed noise 0.06): no corner is free for a legend."""
    return _curves(labels, n_seeds, epochs, seed=1, top=0.95, step=0.12, tau=2.0, noise=0.06)


CROWDED = ["He", "Xavier", "LeCun", "orthogonal", "sparse k=15", "N(0, 1)", "PyTorch default"]


def _into_caller_panel(draw: Callable[..., Figure]) -> Figure:
    """The notebooks' pattern: two panels of the learner's own figure, one plot call per panel."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True, layout="constrained")
    for ax in axes:
        draw(ax)
    return fig


def _into_grid(draw: Callable[..., Figure]) -> Figure:
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), layout="constrained")
    for ax in axes.ravel():
        draw(ax)
    return fig


def _activations():
    rng = np.random.default_rng(0)
    return {f"hidden_{i}": np.tanh(rng.normal(0, 2.0 / i, (256, 32))) for i in range(1, 6)}


def _heatmap_frame():
    return pd.DataFrame([{"init": init, "depth": d, "seed": s, "val_accuracy": 0.9 - 0.01 * d + 0.01 * s,
                          "grad_std": 10.0 ** (-d / 5)} for init in ("he_normal", "glorot_normal") for d in (2, 10, 20)
                         for s in range(3)])


#: name -> a call drawing one realistic figure. Every public plot function has at least one.
SCENARIOS: dict[str, Callable[[], Figure]] = {
    "plot_learning_curves, 2 seeds": lambda: plots.plot_learning_curves(seeded_runs(["He", "Xavier"], 2)),
    "plot_learning_curves, 5 seeds, two metrics, runs shown": lambda: plots.plot_learning_curves(
        seeded_runs(["he_normal", "glorot_normal", "lecun_normal"], 5), metric=["loss", "val_accuracy"],
        show_runs=True),
    "plot_learning_curves, by init and framework from a frame": lambda: plots.plot_learning_curves(
        pd.concat([h.to_frame().assign(init=h.config["label"]) for h in seeded_runs(["he_normal", "glorot_uniform"], 3)
                   + [history("he_normal", 0, np.linspace(0.1, 0.8, 6), "keras")]]), by=["init", "framework"]),
    "plot_learning_curves, sd band": lambda: plots.plot_learning_curves(seeded_runs(["He", "Xavier"], 3), band="sd"),
    "plot_learning_curves into a caller's panel": lambda: _into_caller_panel(
        lambda ax: plots.plot_learning_curves(seeded_runs(["sparse k=15", "dense N(0, 1)", "glorot_normal", "He"], 2),
                                              by="label", band="sd", ax=ax)),
    "plot_learning_curves into a caller's crowded panels": lambda: _into_caller_panel(
        lambda ax: plots.plot_learning_curves(spread_runs(CROWDED, 2), by="label", band="sd", ax=ax)),
    "plot_learning_curves into a caller's 2x2 grid": lambda: _into_grid(
        lambda ax: plots.plot_learning_curves(spread_runs(CROWDED[:4], 3), ax=ax)),
    "plot_layer_stats into a caller's crowded panels": lambda: _into_caller_panel(
        lambda ax: plots.plot_layer_stats(signal_frames(inits=("he_normal", "glorot_normal", "lecun_normal", "orthogonal"),
                                                        activation="relu", seeds=(0, 1)), "std", hue="init", ax=ax)),
    "plot_layer_stats, log, auto hue": lambda: plots.plot_layer_stats(signal_frames(), ["std", "frac_saturated"],
                                                                      log=True),
    "plot_layer_stats, 5 seeds": lambda: plots.plot_layer_stats(signal_frames(seeds=range(5)), "std", log=True),
    "plot_layer_stats, 2 seeds, one configuration": lambda: plots.plot_layer_stats(
        signal_frames(inits=("he_normal",), activation="relu", seeds=(0, 1)), ["std", "grad_std"]),
    "plot_layer_stats into a caller's panel": lambda: _into_caller_panel(
        lambda ax: plots.plot_layer_stats(signal_frames(activation="relu"), "grad_std", hue="init", log=True, ax=ax)),
    "plot_layer_histograms, ridge": lambda: plots.plot_layer_histograms(_activations()),
    "plot_layer_histograms, violin": lambda: plots.plot_layer_histograms(_activations(), kind="violin"),
    "plot_layer_histograms, hist": lambda: plots.plot_layer_histograms(_activations(), kind="hist"),
    "plot_layer_histograms, hist side by side": lambda: plots.plot_layer_histograms(
        {"standard": _activations(), "normalized": _activations()}, kind="hist", xlabel="activation value (tanh)"),
    "plot_signal_propagation with theory": lambda: plots.plot_signal_propagation(
        {"lecun_normal": diagnostics.signal_propagation("lecun_normal", "relu", 20, 64, n_samples=64),
         "he_normal": diagnostics.signal_propagation("he_normal", "relu", 20, 64, n_samples=64)},
        stats=("preact_std", "grad_std"),
        theory={"he_normal": diagnostics.signal_propagation_theory("he_normal", "relu", 20, 64)}),
    "plot_signal_propagation from one frame, three panels": lambda: plots.plot_signal_propagation(
        signal_frames(), stats=["std", "frac_saturated", "grad_std"]),
    "plot_signal_propagation, linear": lambda: plots.plot_signal_propagation(
        {f"input std {s}": diagnostics.signal_propagation("lecun_normal", "selu", 20, 64, n_samples=64, input_std=s)
         for s in (0.3, 1.0, 3.0)}, stats=("mean", "std"), log=False),
    "plot_heatmap": lambda: plots.plot_heatmap(_heatmap_frame(), row="init", col="depth", value="val_accuracy"),
    "plot_heatmap, log colours with a value label": lambda: plots.plot_heatmap(
        _heatmap_frame(), row="init", col="depth", value="grad_std", log=True, value_label="gradient std at layer 1"),
    "plot_heatmap into a caller's axes": lambda: plots.plot_heatmap(
        _heatmap_frame(), "init", "depth", "val_accuracy", ax=plt.subplots(figsize=(7, 4))[1], title="accuracy"),
    "plot_images": lambda: plots.plot_images(np.random.default_rng(0).random((12, 784)), np.arange(12) % 10,
                                             class_names=[f"class {i}" for i in range(10)]),
    "plot_lr_transfer": lambda: plots.plot_lr_transfer(*lr_frame()),
    # The explorer's figure (notebooks 02-07), over settings that put its curves in every corner.
    "widgets.signal_figure, He on ReLU": lambda: widgets.signal_figure(30, 64, "he_normal", n_samples=64),
    "widgets.signal_figure, Glorot on tanh": lambda: widgets.signal_figure(30, 64, "glorot_normal", activation="tanh",
                                                                            n_samples=64),
    "widgets.signal_figure, a small std vanishes": lambda: widgets.signal_figure(20, 64, std=0.01, n_samples=64),
    "widgets.signal_figure, a large std explodes": lambda: widgets.signal_figure(20, 64, std=0.5, n_samples=64),
    "widgets.signal_figure, sigmoid saturation": lambda: widgets.signal_figure(
        10, 64, std=1.0, activation="sigmoid", stats=("std", "frac_saturated"), n_samples=64),
}


def _public_plot_functions() -> list[str]:
    return [name for name in plots.__all__ if name.startswith("plot_")]


@pytest.fixture(scope="module")
def internal():
    return _internal_names()


def test_every_public_plot_function_is_rendered_here():
    covered = {name.split(",")[0].split(" ")[0] for name in SCENARIOS}
    missing = [f for f in _public_plot_functions() if f not in covered]
    assert not missing, f"add a scenario for {missing} to SCENARIOS"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_house_style(name, internal):
    fig = SCENARIOS[name]()
    problems = legend_overlaps(fig) + internal_name_texts(fig, internal) + unlabelled_log_axes(fig)
    assert not problems, "\n".join(problems)


# -------------------------------------------------------------------- each check can fail


def test_the_checks_catch_a_bad_figure(internal):
    fig, ax = plt.subplots()
    x = np.linspace(0, 1, 20)
    ax.plot(x, x, label="grad_std")  # a diagonal through the middle...
    ax.fill_between(x, x - 0.1, x + 0.1, alpha=0.2)
    ax.legend(loc="center", title="init")  # ...with the legend on top of it, titled with a column name
    ax.set_xlabel("val_accuracy")
    overlaps = legend_overlaps(fig)
    assert any("line 'grad_std'" in p for p in overlaps) and any("filled band" in p for p in overlaps)
    names = " ".join(internal_name_texts(fig, internal))
    assert "'grad_std'" in names and "'init' is an internal" in names and "'val_accuracy'" in names
    ax.set_yscale("log")
    ax.set_ylabel("activation std")  # log axis not said
    assert unlabelled_log_axes(fig) == ["panel 0 (''): y axis is log but labelled 'activation std'"]
    ax.set_ylabel("activation std (log scale)")
    assert unlabelled_log_axes(fig) == []


def test_the_legend_check_sees_segments_and_scatter_not_empty_corners():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="two points, the segment crosses the centre")  # no vertex under the legend
    ax.legend(loc="center")
    assert legend_overlaps(fig)
    fig, ax = plt.subplots()
    ax.scatter(np.linspace(0, 1, 50), np.full(50, 0.5), label="points")
    ax.legend(loc="center")
    assert any("scatter" in p for p in legend_overlaps(fig))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 0.2], label="low line")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")  # an empty corner
    assert legend_overlaps(fig) == []
    fig, ax = plt.subplots()
    ax.bar([0, 1, 2], [1, 1, 1], label="bars")
    ax.legend(loc="center")
    assert any("bar" in p for p in legend_overlaps(fig))


def test_the_band_check_catches_a_ci_from_two_seeds_and_an_unnamed_band():
    fig, ax = plt.subplots()
    ax.plot([1, 2], [0.5, 0.6], label="He (n=2)")
    ax.fill_between([1, 2], [0.0, 0.1], [1.0, 1.1], alpha=0.2)
    ax.legend(title="mean, 95% CI band")
    assert band_wording(fig, 2) and not band_wording(fig, 5)
    ax.get_legend().remove()
    ax.legend(title="mean")
    assert band_wording(fig, 5) == [f"a band is drawn but no legend or title says what it is: {['mean', 'He (n=2)']}"]


# -------------------------------------------------------------------- rule 4: bands over seeds


BAND_SCENARIOS: dict[str, Callable[[int], Figure]] = {
    "plot_learning_curves": lambda n: plots.plot_learning_curves(seeded_runs(["He", "Xavier"], n)),
    "plot_learning_curves, ax": lambda n: _into_caller_panel(
        lambda ax: plots.plot_learning_curves(seeded_runs(["He", "Xavier"], n), ax=ax)),
    "plot_learning_curves, sd": lambda n: plots.plot_learning_curves(seeded_runs(["He"], n), band="sd"),
    "plot_layer_stats, two inits": lambda n: plots.plot_layer_stats(signal_frames(seeds=range(n)), "std", log=True),
    "plot_layer_stats, one configuration": lambda n: plots.plot_layer_stats(
        signal_frames(inits=("he_normal",), seeds=range(n)), "std"),
}


@pytest.mark.parametrize("n_seeds", [2, 5])
@pytest.mark.parametrize("name", list(BAND_SCENARIOS))
def test_bands_say_what_they_are(name, n_seeds):
    fig = BAND_SCENARIOS[name](n_seeds)
    assert has_band(fig), "a band over seeds is expected here"
    problems = band_wording(fig, n_seeds)
    assert not problems, "\n".join(problems)


# -------------------------------------------------------------------- rule 6: one colour per scheme


def _line_colours(fig: Figure) -> dict[str, tuple[float, float, float]]:
    out = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            label = line.get_label()
            if not label.startswith("_") and "theory" not in label:
                out[re.sub(r" \(n=\d+\)$", "", label)] = to_rgb(line.get_color())
    return out


def test_a_scheme_has_one_colour_in_every_function():
    curves = _line_colours(plots.plot_learning_curves(seeded_runs(["Xavier", "sparse k=15", "He"], 2)))
    signal = _line_colours(plots.plot_signal_propagation(
        {name: diagnostics.signal_propagation(name, "relu", 5, 16, n_samples=16)
         for name in ("he_normal", "lecun_normal", "glorot_normal")}))
    stats = _line_colours(plots.plot_layer_stats(signal_frames(inits=("he_uniform", "glorot_uniform", "orthogonal"))))
    he = {curves["He"], signal["He normal"], stats["He uniform"]}
    glorot = {curves["Xavier"], signal["Glorot normal"], stats["Glorot uniform"]}
    assert len(he) == 1 and len(glorot) == 1, (he, glorot)
    assert he != glorot
    assert he.pop() == to_rgb(plots.scheme_color("Kaiming")) and glorot.pop() == to_rgb(plots.scheme_color("xavier"))
    # a label that names no scheme takes a colour no scheme in the figure has
    assert curves["sparse k=15"] not in (curves["He"], curves["Xavier"])
    assert plots.scheme_color("input std 0.3") is None


def test_the_colour_check_can_fail():
    """Without the scheme map, colours follow the order of the groups: the same check then fails."""
    a = _line_colours(plots.plot_learning_curves(seeded_runs(["curve one", "curve two"], 2)))
    b = _line_colours(plots.plot_learning_curves(seeded_runs(["curve two", "curve one"], 2)))
    assert a["curve one"] != b["curve one"]


# -------------------------------------------------------------------- rule 5: nothing printed


#: A cell per public plot function (and the notebooks' ax= pattern) run as the cell's last expression.
ECHO_CELLS = {
    "plot_learning_curves": "plots.plot_learning_curves(runs)",
    "plot_learning_curves, ax": "fig, axes = plt.subplots(1, 2)\nplots.plot_learning_curves(runs, ax=axes[0])",
    "plot_layer_stats": "plots.plot_layer_stats(frame, 'std', log=True)",
    "plot_layer_stats, ax": "fig, ax = plt.subplots()\nplots.plot_layer_stats(frame, 'std', ax=ax)",
    "plot_layer_histograms": "plots.plot_layer_histograms({'a': np.arange(10.0), 'b': np.ones(10)})",
    "plot_signal_propagation": "plots.plot_signal_propagation({'he_normal': frame})",
    "plot_heatmap": "plots.plot_heatmap(frame, 'depth', 'init', 'std')",
    "plot_heatmap, ax": "fig, ax = plt.subplots(figsize=(8, 4))\nplots.plot_heatmap(frame, 'depth', 'init', 'std', ax=ax)",
    "plot_images": "plots.plot_images(np.zeros((3, 28, 28)))",
    "plot_lr_transfer": "plots.plot_lr_transfer(lr_runs)",
    "a bare matplotlib call (the check must catch it)": "fig, ax = plt.subplots()\nax.set_title('a title')",
}
_REPR = re.compile(r"^(<Figure|<Axes|<matplotlib|Text\(|\[<matplotlib|<course_utils)")


def test_no_return_value_is_printed_under_a_figure():
    import nbclient
    from nbformat.v4 import new_code_cell, new_notebook

    setup = ("import numpy as np, pandas as pd, matplotlib.pyplot as plt\n"
             "from course_utils import plots, diagnostics\n"
             "from course_utils.training import History\n"
             "runs = [History(framework='torch', epoch=[1, 2], loss=[2.0, 1.0], accuracy=[0.3, 0.6], "
             "val_loss=[2.1, 1.1], val_accuracy=[0.3, 0.6], seconds_per_epoch=[1.0, 1.0], "
             "config={'label': 'He', 'seed': s}) for s in range(3)]\n"
             "frame = diagnostics.signal_propagation('he_normal', 'relu', 4, 8, n_samples=16)\n"
             "lr_runs = pd.DataFrame([{'framework': 'torch', 'parametrization': 'sp', 'width': w, 'lr': lr, "
             "'loss': 1 + w * lr} for w in (64, 256) for lr in (1e-3, 1e-2)])")
    nb = new_notebook(cells=[new_code_cell(setup)] + [new_code_cell(src) for src in ECHO_CELLS.values()])
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the kernel's own default: inline
    saved = os.environ.pop("MPLBACKEND", None)
    try:
        nbclient.NotebookClient(nb, kernel_name="python3", timeout=180).execute(env=env)
    finally:
        if saved is not None:
            os.environ["MPLBACKEND"] = saved
    printed = {}
    for name, cell in zip(ECHO_CELLS, nb.cells[1:], strict=True):
        texts = [out["data"].get("text/plain", "") for out in cell.outputs if out.get("output_type") == "execute_result"]
        texts += [out.get("text", "") for out in cell.outputs if out.get("output_type") == "stream"]
        printed[name] = [t for t in texts if _REPR.match(t.strip())]
        assert sum("image/png" in out.get("data", {}) for out in cell.outputs) == 1, (name, cell.outputs)
    bad = printed.pop("a bare matplotlib call (the check must catch it)")
    assert bad and bad[0].startswith("Text("), bad
    assert not any(printed.values()), {k: v for k, v in printed.items() if v}


#: matplotlib methods that return an object Jupyter would print when a cell ends with them.
_PRINTING = {"plot", "set_title", "set_xlabel", "set_ylabel", "legend", "text", "annotate", "axhline", "axvline",
             "axhspan", "axvspan", "scatter", "bar", "barh", "hist", "imshow", "suptitle", "colorbar", "fill_between",
             "set_xticks", "set_yticks", "set_xticklabels", "set_yticklabels", "set", "subplots", "figure", "twinx",
             "pcolormesh", "step", "errorbar", "loglog", "semilogy", "semilogx", "violinplot", "boxplot"}


def printing_last_lines(source: str) -> list[str]:
    """The last statement of a code cell, if it is a bare call that Jupyter would print (no trailing ';')."""
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    if not tree.body or code.rstrip().endswith(";"):
        return []
    last = tree.body[-1]
    if not isinstance(last, ast.Expr) or not isinstance(last.value, ast.Call):
        return []
    func = last.value.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if name in _PRINTING:
        return [ast.get_source_segment(code, last) or name]
    return []


def test_the_static_scan_catches_a_printing_last_line():
    assert printing_last_lines("fig, ax = plt.subplots()\nax.set_title('x')")
    assert not printing_last_lines("fig, ax = plt.subplots()\nax.set_title('x');")
    assert not printing_last_lines("plots.plot_layer_stats(df)")  # a CourseFigure shows itself once, prints nothing


def test_notebook_cells_end_without_a_printing_matplotlib_call():
    found = []
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "code":
                found += [f"{path.name} cell {i}: {line}" for line in printing_last_lines("".join(cell["source"]))]
    assert not found, "\n".join(found)
