"""Figures of the course: learning curves, per-layer statistics, distributions, signal propagation, grids.

Every function takes results -- :class:`~course_utils.training.History`
objects, or the DataFrames and dicts of :mod:`course_utils.diagnostics` and
:mod:`course_utils.experiments` -- and returns its matplotlib ``Figure``, so a
learner can restyle it (``fig.axes[0].set_ylim(...)``) or save it
(``fig.savefig("curves.png")``). Nothing here trains a model or imports
TensorFlow or PyTorch.

One look for the whole course: :func:`set_theme` (seaborn's ``whitegrid``,
the colour-blind-safe ``colorblind`` palette, notebook-sized fonts). The
first figure applies it unless you called it yourself.

In Jupyter, ``fig = plot_...(...)`` and a bare ``plot_...(...)`` both show
the figure exactly once, and nothing is printed under it (also with ``ax=``).

The house style (issue 17; ``tests/test_plot_style.py`` checks it on every function):

* a legend never covers data: beside a figure's only panel or outside on the
  right of a multi-panel figure; in a panel of the learner's own figure, in an
  empty corner when there is one, else outside (right of the last panel, below the others);
* human names: axis labels from :data:`LABELS` (``grad_std`` reads "gradient std
  (dL/da)"), scheme names from :func:`human_name` (``he_normal`` reads "He normal");
* a log axis says so: ``(log scale)`` at the end of its label;
* a band over seeds says what it is in the legend ("range of 2 runs", "+-1 sd of 5
  runs", "95% t-interval of the mean"); below 3 runs no band claims a confidence level;
* one colour per scheme in every figure of the course (:func:`scheme_color`):
  He/Kaiming blue, Glorot/Xavier orange, LeCun green, orthogonal purple, ...
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.path import Path as MplPath
from matplotlib.transforms import offset_copy
from scipy import stats as scipy_stats

from ._validation import check_choice, check_int, check_number

__all__ = [
    "PALETTE",
    "set_theme",
    "human_name",
    "scheme_color",
    "plot_learning_curves",
    "plot_layer_stats",
    "plot_layer_histograms",
    "plot_signal_propagation",
    "plot_heatmap",
    "plot_images",
    "plot_lr_transfer",
]

#: seaborn's "colorblind" palette (Okabe-Ito-like): distinguishable under the common colour-vision deficiencies.
PALETTE = "colorblind"
#: A single panel's size in inches: readable in a notebook cell (about 700 px wide at 100 dpi).
PANEL_SIZE = (6.4, 4.2)
#: Line styles cycled with the colours, so curves stay apart in greyscale print too.
_LINESTYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

_theme_applied = False

# Axis labels with units for the columns the course's functions produce. Activations and their
# gradients carry the units of the data (standardised inputs: unitless), fractions run from 0 to 1.
LABELS: dict[str, str] = {
    "epoch": "epoch",
    "loss": "training loss",
    "val_loss": "validation loss",
    "accuracy": "training accuracy (fraction)",
    "val_accuracy": "validation accuracy (fraction)",
    "seconds_per_epoch": "time per epoch (s)",
    "depth": "depth (layers)",
    "mean": "activation mean",
    "std": "activation std",
    "preact_std": "pre-activation std (z)",
    "frac_saturated": "fraction saturated (0-1)",
    "frac_dead": "fraction of dead units (0-1)",
    "frac_zero": "fraction of zeros (0-1)",
    "grad_std": "gradient std (dL/da)",
    "preact_grad_std": "gradient std (dL/dz)",
    "weight_grad_std": "weight-gradient std (dL/dW)",
    "weight_grad_norm": "weight-gradient norm ||dL/dW||",
    "weight_std": "weight std",
    "grad_weight_ratio": "||dL/dW|| / ||W||",
    "init": "initializer",
    "activation": "activation",
    "width": "width (units per layer)",
    "lr": "learning rate",
    "seed": "seed",
    "framework": "framework",
    "start": "start",
    "parametrization": "parametrization",
    "rms": "root mean square",
    "var": "variance",
}


#: Human names of the initializer registry's names (``initializers.names()``), for legends and titles.
SCHEME_NAMES: dict[str, str] = {
    "random_normal": "random normal", "random_uniform": "random uniform", "truncated_normal": "truncated normal",
    "variance_scaling": "variance scaling", "glorot_normal": "Glorot normal", "glorot_uniform": "Glorot uniform",
    "glorot_normal_torch": "Glorot normal (PyTorch)", "he_normal": "He normal", "he_uniform": "He uniform",
    "he_normal_torch": "He normal (PyTorch)", "lecun_normal": "LeCun normal", "lecun_uniform": "LeCun uniform",
    "lecun_normal_torch": "LeCun normal (PyTorch)", "legacy_uniform": "legacy uniform U(+-1/sqrt(n))",
    "torch_default_linear": "PyTorch default (Linear)", "keras_default_dense": "Keras default (Dense)",
    "keras_default_recurrent": "Keras default (recurrent)", "torch_default_recurrent": "PyTorch default (recurrent)",
    "delta_orthogonal": "delta orthogonal", "sparse_torch": "sparse (PyTorch)",
}
_SNAKE = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b")


def human_name(text: Any) -> str:
    """A label as a reader should see it: registry names spelled out, no snake_case identifiers.

    ``"he_normal"`` -> ``"He normal"``, ``"glorot_uniform / keras"`` -> ``"Glorot uniform / keras"``,
    ``"random_normal(std=0.01)"`` -> ``"random normal(std=0.01)"``, ``"hidden_3"`` -> ``"hidden 3"``.
    """
    return _SNAKE.sub(lambda m: SCHEME_NAMES.get(m.group(0), m.group(0).replace("_", " ")), str(text))


# One colour per scheme for the whole course: a figure of learning curves and one of signal propagation
# show He in the same blue whatever the order of their groups. Indices into the "colorblind" palette; the
# Keras default (glorot_uniform) is Glorot's colour. The pattern is matched on the human name, lower case.
_SCHEME_COLOURS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"\bhe\b|kaiming"), 0),
    (re.compile(r"glorot|xavier|keras default"), 1),
    (re.compile(r"lecun"), 2),
    (re.compile(r"orthogonal"), 4),
    (re.compile(r"torch default"), 5),
    (re.compile(r"\bzeros?\b|\bconstant\b"), 7),
    (re.compile(r"\bsparse\b"), 8),
)
#: Palette indices left to labels that name no scheme (red, pink, light blue first, then the rest).
_FREE_COLOURS = (3, 6, 9, 0, 1, 2, 4, 5, 7, 8)


def scheme_color(label: Any) -> tuple[float, float, float] | None:
    """The course's one colour for the scheme ``label`` names (``"he_normal"``, ``"He"``, ``"Kaiming"``
    all give the same blue), or None when it names no scheme."""
    text = human_name(label).lower()
    for pattern, index in _SCHEME_COLOURS:
        if pattern.search(text):
            return sns.color_palette(PALETTE)[index]
    return None


def _layer_axis_label(values: Any) -> str:
    """The x label of a per-layer plot: depth counted from the first layer, or from the input (0)."""
    has_input = len(values) and float(np.nanmin(np.asarray(values, dtype=float))) == 0
    return "layer (0 = input)" if has_input else "layer (1 = first)"


def _legend(fig: Figure, axes: list[Any], title: str | None, own_axes: bool = False) -> None:
    """One legend: beside a figure's only panel, in a panel of a caller's multi-panel figure (where it covers
    no data), or once for the whole figure, outside on the right."""
    handles, labels = axes[0].get_legend_handles_labels()
    if not labels:
        return
    if len(axes) == 1 or own_axes:
        if len(fig.axes) == 1:  # the figure's only panel: the legend goes beside it, never over the curves
            axes[0].legend(title=title, fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
        else:  # a panel of the caller's multi-panel figure: beside it could cover the next panel
            _legend_clear_of_data(axes[0], title)
    else:
        fig.legend(handles, labels, title=title, fontsize="small", loc="outside right upper")


def _any_inside(xy: np.ndarray, box: Any) -> bool:
    """Does any of the display-coordinate points ``xy`` (n x 2) lie in ``box``?"""
    return bool(((xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1) & (xy[:, 1] >= box.y0) & (xy[:, 1] <= box.y1)).any())


def _covers_data(ax: Any, box: Any) -> bool:
    """Does the display-coordinate ``box`` touch any of ``ax``'s lines, filled bands or scatter points?"""
    for line in ax.get_lines():
        xy = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))
        xy = xy[np.isfinite(xy).all(axis=1)]
        if not len(xy):
            continue
        if _any_inside(xy, box):
            return True
        if len(xy) > 1 and line.get_linestyle() not in ("None", "none", "", " ") and \
                MplPath(xy).intersects_bbox(box, filled=False):
            return True
    for coll in ax.collections:
        if isinstance(coll, PolyCollection):
            if any(coll.get_transform().transform_path(p).intersects_bbox(box, filled=True) for p in coll.get_paths()):
                return True
        elif isinstance(coll, PathCollection) and len(coll.get_offsets()):
            xy = coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), dtype=float))
            if _any_inside(xy, box):
                return True
    return False


def _legend_clear_of_data(ax: Any, title: str | None, **kwargs: Any) -> Any:
    """A legend for a panel that shares its figure with others: matplotlib's "best" corner when that corner
    is free of data; else outside, right of the panel when no panel is to its right, below it otherwise."""
    fig = ax.figure
    legend = ax.legend(title=title, fontsize="small", loc="best", **kwargs)
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    if not _covers_data(ax, legend.get_window_extent(renderer)):
        return legend
    legend.remove()
    box = ax.get_window_extent(renderer)
    right_of = [o for o in fig.axes if o is not ax and o.get_visible() and o.get_label() != "<colorbar>"
                and o.get_window_extent(renderer).x0 >= box.x1 - 1
                and o.get_window_extent(renderer).y1 > box.y0 and o.get_window_extent(renderer).y0 < box.y1]
    if not right_of:
        return ax.legend(title=title, fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0,
                         **kwargs)
    # below the tick labels and the x label: an offset in points, which a later layout change keeps
    depth = (box.y0 - ax.get_tightbbox(renderer).y0) * 72 / fig.dpi + 4
    n = len(ax.get_legend_handles_labels()[1])
    return ax.legend(title=title, fontsize="small", loc="upper center", ncols=min(n, 2), borderaxespad=0,
                     bbox_to_anchor=(0.5, 0), bbox_transform=offset_copy(ax.transAxes, fig=fig, y=-depth,
                                                                          units="points"), **kwargs)


def _label(column: str, log: bool = False) -> str:
    text = LABELS.get(column, human_name(column))
    return _log_label(text) if log else text


def _log_label(text: str) -> str:
    """The house convention for a log axis: "(log scale)" at the end of its label, unless it says "log"."""
    return text if "log" in text.lower() else f"{text} (log scale)"


def _names_title(columns: Sequence[str]) -> str:
    """A legend title naming the grouping columns in words; ``label`` (the runs' own names) needs none."""
    return " / ".join(_label(c) for c in columns if c != "label")


# ------------------------------------------------------------------------ theme


def set_theme(context: str = "notebook", font_scale: float = 1.1) -> list[tuple[float, float, float]]:
    """Apply the course's one look to every later matplotlib figure, and return its palette.

    seaborn's ``whitegrid`` style with the colour-blind-safe ``colorblind``
    palette, fonts scaled for ``context`` (``"notebook"``, ``"talk"`` for a
    projector, ``"paper"``), no top/right spines, and tight bounding boxes when saving.
    """
    global _theme_applied
    context = check_choice("context", context, ("paper", "notebook", "talk", "poster"))
    font_scale = check_number("font_scale", font_scale, low=0.5, high=3.0)
    sns.set_theme(context=context, style="whitegrid", palette=PALETTE, font_scale=font_scale, rc={
        "figure.figsize": PANEL_SIZE,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
        "savefig.bbox": "tight",
        "savefig.dpi": 150,  # crisp when a learner saves a figure for slides
    })
    _theme_applied = True
    return sns.color_palette(PALETTE)


def _ensure_theme() -> None:
    if not _theme_applied:
        set_theme()


class CourseFigure(Figure):
    """A matplotlib Figure that Jupyter shows exactly once, whether or not the call's result is assigned.

    Jupyter shows a figure in two ways: as the cell's value, and -- with the
    inline backend -- when pyplot flushes every open figure at the end of the
    cell, which also goes through ``_ipython_display_``. Showing the PNG and
    then releasing the figure from pyplot makes the first showing the only one.
    """

    def _ipython_display_(self) -> None:
        from IPython.core.pylabtools import print_figure
        from IPython.display import display

        display({"image/png": print_figure(self, "png")}, raw=True)
        if plt.fignum_exists(getattr(self, "number", -1)):
            plt.close(self)  # pyplot would show it again at the end of the cell


def _shown_once(fig: Figure) -> Figure:
    """The figure to return: a learner's own ``plt.subplots`` figure (the ``ax=`` calls) becomes a
    :class:`CourseFigure` too, so a cell ending with the call prints no ``<Figure size ...>`` line and shows
    the figure once, not twice (once as the cell's value, once more from pyplot's flush). CourseFigure adds
    no state to Figure: only how Jupyter shows it."""
    if type(fig) is Figure:
        fig.__class__ = CourseFigure
    return fig


def _figure(n_panels: int = 1, *, ncols: int | None = None, sharey: bool = False,
            size: tuple[float, float] = PANEL_SIZE, ax: Any = None) -> tuple[Figure, list[Any]]:
    """A figure with ``n_panels`` axes in one row (or ``ncols`` per row), or the given ``ax``'s figure."""
    _ensure_theme()
    if ax is not None:
        if n_panels != 1:
            raise ValueError(f"ax= draws into one existing panel, but this figure needs {n_panels} panels; "
                             "leave ax=None.")
        return ax.figure, [ax]
    ncols = min(n_panels, ncols or n_panels)
    nrows = math.ceil(n_panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False,
                             sharey=sharey, FigureClass=CourseFigure, layout="constrained")
    flat = list(axes.ravel())
    for extra in flat[n_panels:]:
        extra.set_visible(False)
    return fig, flat[:n_panels]


def _colors(labels: Sequence[str], schemes: bool = True) -> dict[str, Any]:
    """A colour per label: a scheme's own colour (:func:`scheme_color`) where the label names one, else the
    palette's colours no scheme of this figure uses, in order."""
    palette = sns.color_palette(PALETTE)
    fixed = {label: scheme_color(label) if schemes else None for label in labels}
    taken = {c for c in fixed.values() if c is not None}
    # no scheme in the figure (layers, widths, input stds): the palette in its own order
    free = [palette[i] for i in _FREE_COLOURS if palette[i] not in taken] if taken else list(palette)
    out, k = {}, 0
    for label in labels:
        if fixed[label] is not None:
            out[label] = fixed[label]
        else:
            out[label] = free[k % len(free)]
            k += 1
    return out


def _styles(labels: Sequence[str], schemes: bool = True) -> dict[str, dict[str, Any]]:
    """Colour, line style and marker per label: labels that share a colour (He in Keras and in PyTorch)
    differ by line style, so curves stay apart in greyscale print too."""
    colors = _colors(labels, schemes)
    seen: dict[Any, int] = {}
    out = {}
    for i, label in enumerate(labels):
        n = seen.get(colors[label], 0)
        seen[colors[label]] = n + 1
        out[label] = {"color": colors[label], "linestyle": _LINESTYLES[n % len(_LINESTYLES)],
                      "marker": _MARKERS[i % len(_MARKERS)]}
    return out


def _check_frame(argument: str, frame: Any, columns: Iterable[str],
                 given_by: Mapping[str, Iterable[str]] | None = None) -> pd.DataFrame:
    """Check ``frame`` is a DataFrame with ``columns``; ``given_by`` maps argument names to the columns they name."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{argument} must be a pandas DataFrame; got {type(frame).__name__}.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        culprits = [name for name, cols in (given_by or {}).items() if set(_as_list(cols, name)) & set(missing)]
        named = f" ({', '.join(culprits)} must name columns of {argument})" if culprits else ""
        raise ValueError(f"{argument} has no column(s) {missing}{named}; its columns are {list(frame.columns)}.")
    return frame


def _as_list(value: str | Sequence[str], argument: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise TypeError(f"{argument} must be a column name or a list of them; got {value!r}.")


def _group_labels(frame: pd.DataFrame, by: list[str]) -> pd.Series:
    """One string per row naming its group: the values of the ``by`` columns joined by ' / '."""
    parts = [frame[c].astype(str) for c in by]
    out = parts[0]
    for p in parts[1:]:
        out = out + " / " + p
    return out


# ------------------------------------------------------------- learning curves


_BANDS = ("ci", "sd", "none")


def _history_frame(history: Any, run: int) -> pd.DataFrame:
    """A History (or anything with to_frame()) as the long frame of History.to_frame(), plus ``run``."""
    if not hasattr(history, "to_frame"):
        raise TypeError(
            "histories must be History objects (from course_utils.training.train), a {label: [History, ...]} "
            f"dict or a DataFrame from History.to_frame(); got an item of type {type(history).__name__}."
        )
    frame = history.to_frame().copy()
    frame["run"] = run
    return frame


def _curves_frame(histories: Any) -> pd.DataFrame:
    if isinstance(histories, pd.DataFrame):
        return _check_frame("histories", histories, ("epoch", "metric", "value")).copy()
    if isinstance(histories, Mapping):
        frames, run = [], 0
        for label, group in histories.items():
            items = group if isinstance(group, (list, tuple)) else [group]
            for h in items:
                f = _history_frame(h, run)
                f["label"] = str(label)
                frames.append(f)
                run += 1
        if not frames:
            raise ValueError("histories is empty: pass at least one History.")
        return pd.concat(frames, ignore_index=True)
    if isinstance(histories, (list, tuple)):
        if not histories:
            raise ValueError("histories is empty: pass at least one History.")
        return pd.concat([_history_frame(h, i) for i, h in enumerate(histories)], ignore_index=True)
    return _history_frame(histories, 0)


def _band(values: np.ndarray, band: str, level: float) -> tuple[float, float, float]:
    """Mean and the band around it over runs: a Student-t confidence interval of the mean, or +-1 sd.
    Below 3 runs the "ci" band is the runs' range (min to max): a t-interval from 2 runs uses
    t = 12.7 and spans far more than the runs do (accuracy bands from 0 to 1.1)."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if values.size < 2 or band == "none":
        return mean, mean, mean
    if band == "ci" and values.size < 3:
        return mean, float(values.min()), float(values.max())
    sd = float(values.std(ddof=1))
    half = sd if band == "sd" else float(scipy_stats.t.ppf(0.5 + level / 2, values.size - 1)) * sd / math.sqrt(values.size)
    return mean, mean - half, mean + half


def plot_learning_curves(
    histories: Any,
    metric: str | Sequence[str] = "val_accuracy",
    by: str | Sequence[str] | None = None,
    *,
    band: str = "ci",
    level: float = 0.95,
    show_runs: bool = False,
    ax: Any = None,
    title: str | None = None,
) -> Figure:
    """Learning curves: the mean over seeds per group, with a confidence band.

    Args:
        histories: a list of :class:`~course_utils.training.History`, a dict
            ``{label: [History, ...]}`` (one group per label), or the long
            DataFrame of ``History.to_frame()`` (columns ``epoch``, ``metric``,
            ``value`` and grouping columns such as ``label``, ``framework``, ``seed``).
        metric: ``"val_accuracy"``, ``"loss"``, ... or a list of them (one panel each).
        by: the column(s) that name a group (one line each); default ``label``
            when runs have labels, else ``framework``. Runs within a group (seeds)
            are averaged.
        band: ``"ci"`` -- a Student-t confidence interval of the mean at
            ``level`` (``mean +- t_{n-1} sd / sqrt(n)``; honest for the 3-5 seeds
            the course runs, unlike a bootstrap); below 3 runs the band is the
            runs' range instead, and the legend says "range of 2 runs"; ``"sd"`` --
            +- one standard deviation of the runs; ``"none"``. The legend's title
            names the band and the number of runs.
        show_runs: also draw every run as a thin line.
        ax: draw into this axes (one metric only).
        title: the figure's title.

    Returns:
        The Figure (one panel per metric).
    """
    band = check_choice("band", band, _BANDS)
    level = check_number("level", level, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    frame = _curves_frame(histories)
    metrics = _as_list(metric, "metric")
    known = list(dict.fromkeys(frame["metric"]))
    for m in metrics:
        check_choice("metric", m, known)
    if by is None:
        has_labels = "label" in frame.columns and frame["label"].notna().any()
        by = "label" if has_labels else "framework" if "framework" in frame.columns else None
    by_cols = [] if by is None else _as_list(by, "by")
    for c in by_cols:
        _check_frame("histories", frame, [c])
    run_col = "run" if "run" in frame.columns else "seed" if "seed" in frame.columns else None
    frame = frame.assign(_group=_group_labels(frame, by_cols) if by_cols else "all runs")
    groups = list(dict.fromkeys(frame["_group"]))
    styles = _styles(groups)
    fig, axes = _figure(len(metrics), ncols=min(len(metrics), 2), ax=ax)
    n_per_group = {g: (frame.loc[frame["_group"] == g, run_col].nunique() if run_col else 1) for g in groups}
    for panel, m in zip(axes, metrics, strict=True):
        sub = frame[frame["metric"] == m]
        for g in groups:
            part = sub[sub["_group"] == g]
            if part.empty:
                continue
            rows = [(ep, *_band(vals["value"].to_numpy(dtype=float), band, level))
                    for ep, vals in part.groupby("epoch", sort=True)]
            ep, mean, low, high = (np.array(v, dtype=float) for v in zip(*rows, strict=True))
            n_runs = n_per_group[g]
            name = human_name(g) + (f" (n={n_runs})" if n_runs > 1 else "")
            panel.plot(ep, mean, label=name, linewidth=2, markersize=4, **styles[g])
            if band != "none" and n_runs > 1:
                panel.fill_between(ep, low, high, color=styles[g]["color"], alpha=0.2, linewidth=0)
            if show_runs and run_col:
                for _, one in part.groupby(run_col):
                    panel.plot(one["epoch"], one["value"], color=styles[g]["color"], alpha=0.35, linewidth=0.8)
        panel.set_xlabel(_label("epoch"))
        panel.set_ylabel(_label(m))
        panel.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    what = _band_words(band, level, [n for n in n_per_group.values() if n > 1])
    names = _names_title(by_cols)
    _legend(fig, axes, f"{names}\n{what}" if names else what, own_axes=ax is not None)
    if title:
        fig.suptitle(title)
    return _shown_once(fig)


def _band_words(band: str, level: float, sizes: Sequence[int]) -> str:
    """What the lines and bands of learning curves are, for the legend's title. ``sizes``: runs per group
    that has more than one. Below 3 runs a "ci" band is the runs' range (see :func:`_band`) and is called so."""
    if not sizes:
        return "one run each"  # no mean, no band: the legend must not claim one
    n = f"{min(sizes)}" if min(sizes) == max(sizes) else f"{min(sizes)}-{max(sizes)}"
    if band == "none":
        return f"mean of {n} runs"
    if band == "sd":
        return f"mean; band ±1 sd of {n} runs"
    if max(sizes) < 3:
        return f"mean; band = range of {n} runs"
    if min(sizes) < 3:
        return f"mean; band {level:.0%} t-interval\n(range where 2 runs)"
    return f"mean; band {level:.0%} t-interval, {n} runs"


# ------------------------------------------------------------- per-layer statistics


def _aggregate_lines(frame: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Mean and sd of ``y`` per ``x`` (several seeds of one configuration become one line with a band)."""
    grouped = frame.groupby(x, sort=True)[y]
    return pd.DataFrame({"mean": grouped.mean(), "sd": grouped.std(ddof=1), "n": grouped.count()}).reset_index()


def _auto_hue(frame: pd.DataFrame) -> list[str]:
    """The describing columns that vary across rows (init, activation, framework, ...), in that order."""
    candidates = ("label", "init", "activation", "framework", "width", "input_std", "model")
    return [c for c in candidates if c in frame.columns and frame[c].nunique(dropna=False) > 1]


def plot_layer_stats(
    df: pd.DataFrame,
    stats: str | Sequence[str] = "std",
    *,
    x: str = "depth",
    hue: str | Sequence[str] | None = None,
    log: bool = False,
    ax: Any = None,
    title: str | None = None,
) -> Figure:
    """Per-layer statistics against depth, one panel per statistic.

    Args:
        df: a frame of :func:`~course_utils.diagnostics.activation_stats`,
            :func:`~course_utils.diagnostics.gradient_stats` or
            :func:`~course_utils.diagnostics.signal_propagation` -- or several
            concatenated (``pd.concat``) with a column telling them apart.
        stats: column(s) to draw: ``"std"``, ``"mean"``, ``"frac_saturated"``,
            ``"grad_std"``, ``"weight_grad_norm"``, ...
        x: the layer axis column (``depth``).
        hue: column(s) naming the lines; default: whichever of ``label``,
            ``init``, ``activation``, ``framework``, ... vary. Rows repeated for
            one (hue, x) -- several seeds -- are averaged, with a +-1 sd band
            that the legend names ("band ±1 sd of 3 runs").
        log: logarithmic y axis for std-like statistics (fractions stay linear),
            which turns the exponential vanishing/exploding of Glorot & Bengio (2010)
            into straight lines.
        ax: draw into this axes (one statistic only).
        title: the figure's title.
    """
    columns = _as_list(stats, "stats")
    df = _check_frame("df", df, [x, *columns], given_by={"x": x, "stats": columns})
    hue_cols = _auto_hue(df) if hue is None else _as_list(hue, "hue")
    _check_frame("df", df, hue_cols)
    df = df.assign(_group=_group_labels(df, hue_cols) if hue_cols else "")
    groups = list(dict.fromkeys(df["_group"]))
    styles = _styles(groups)
    fig, axes = _figure(len(columns), ncols=min(len(columns), 2), ax=ax)
    runs: list[int] = []  # rows per (group, x) where a band is drawn: the number of runs it spreads over
    for panel, column in zip(axes, columns, strict=True):
        is_fraction = column.startswith("frac_")
        for g in groups:
            line = _aggregate_lines(df[df["_group"] == g], x, column)
            n = int(line["n"].max()) if len(line) else 1
            label = human_name(g) if g else (f"mean of {n} runs" if n > 1 else None)
            panel.plot(line[x], line["mean"], label=label, linewidth=2, markersize=4, **styles[g])
            if (line["n"] > 1).any():
                runs.append(n)
                panel.fill_between(line[x], line["mean"] - line["sd"], line["mean"] + line["sd"],
                                   color=styles[g]["color"], alpha=0.2, linewidth=0)
        use_log = log and not is_fraction
        if use_log:
            panel.set_yscale("log", nonpositive="mask")
        if is_fraction:
            panel.set_ylim(-0.02, 1.02)
        panel.set_xlabel(_layer_axis_label(df[x]) if x == "depth" else _label(x))
        panel.set_ylabel(_label(column, use_log))
        panel.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    band = ""
    if runs:  # a band is a spread of runs (+-1 sd), never a confidence interval: say so
        n = f"{min(runs)}" if min(runs) == max(runs) else f"{min(runs)}-{max(runs)}"
        band = f"mean; band ±1 sd of {n} runs"
    names = _names_title(hue_cols)
    legend_title = f"{names}\n{band}" if names and band else names or band or None
    if hue_cols or runs:
        _legend(fig, axes, legend_title, own_axes=ax is not None)
    if title:
        fig.suptitle(title)
    return _shown_once(fig)


# ------------------------------------------------------------- distributions per layer

_KINDS = ("ridge", "violin", "hist")


def _finite_values(array: Any, max_points: int, rng: np.random.Generator) -> np.ndarray:
    values = np.asarray(array, dtype=float).ravel()
    values = values[np.isfinite(values)]
    if values.size > max_points:  # a deterministic subsample keeps violins fast and figures repeatable
        values = rng.choice(values, max_points, replace=False)
    return values


def plot_layer_histograms(
    activations: Mapping[str, Any],
    *,
    kind: str = "ridge",
    layers: Sequence[str] | None = None,
    bins: int = 60,
    value_range: tuple[float, float] | None = None,
    xlabel: str = "activation value",
    max_points: int = 20_000,
    seed: int = 0,
    title: str | None = None,
) -> Figure:
    """The distribution of values in each layer, as in Glorot & Bengio (2010), figures 3-7.

    Args:
        activations: ``{layer name: array}`` from
            :func:`~course_utils.diagnostics.layer_activations` (or
            ``layer_gradients``, with ``xlabel="back-propagated gradient"``), in
            layer order; or ``{label: {layer name: array}}`` to compare
            configurations side by side (one panel per label, shared axes),
            e.g. standard versus normalized initialization.
        kind: ``"ridge"`` -- one normalised histogram per layer, stacked from
            the first layer (top) down, the shape of each easy to compare;
            ``"violin"`` -- one violin per layer; ``"hist"`` -- the layers'
            density histograms overlaid as lines (Glorot & Bengio's figure 6).
        layers: the layers to show (default: all; at most 12 evenly spaced for
            deeper nets, so the figure stays readable).
        bins: histogram bins.
        value_range: the value axis' range; default from the lowest 0.1 percentile to the highest
            99.9 percentile of the layers (a few outliers do not squash the rest).
        xlabel: what the values are (and their units).
        max_points: values per layer kept for drawing (a seeded subsample).
        seed: the subsample's seed.
        title: the figure's title.
    """
    kind = check_choice("kind", kind, _KINDS)
    bins = check_int("bins", bins, low=2)
    max_points = check_int("max_points", max_points, low=10)
    if not isinstance(activations, Mapping) or not activations:
        raise TypeError("activations must be a non-empty dict {layer name: array} (from "
                        "diagnostics.layer_activations) or {label: {layer name: array}}.")
    nested = all(isinstance(v, Mapping) for v in activations.values())
    panels = dict(activations) if nested else {"": activations}
    rng = np.random.default_rng(seed)
    data: dict[str, dict[str, np.ndarray]] = {}
    for label, acts in panels.items():
        names = list(acts)
        if layers is not None:
            unknown = [n for n in layers if n not in acts]
            if unknown:
                raise ValueError(f"layers {unknown} are not in the data; its layers are {names}.")
            names = list(layers)
        elif len(names) > 12:  # a ridge of 50 rows is unreadable: 12 evenly spaced layers, first and last included
            names = [names[i] for i in sorted({round(k) for k in np.linspace(0, len(names) - 1, 12)})]
        data[str(label)] = {human_name(n): _finite_values(acts[n], max_points, rng) for n in names}
    if value_range is None:
        # 0.1/99.9 percentiles per layer: tanh's saturation at +-1 stays in view, a few outliers do not rule
        quantiles = [np.percentile(v, [0.1, 99.9]) for acts in data.values() for v in acts.values() if v.size]
        low, high = (min(q[0] for q in quantiles), max(q[1] for q in quantiles)) if quantiles else (-1.0, 1.0)
        if high <= low:
            low, high = low - 1.0, high + 1.0
    else:
        low, high = (float(v) for v in value_range)
    edges = np.linspace(low, high, bins + 1)
    n_layers = max(len(a) for a in data.values())
    height = max(PANEL_SIZE[1], 0.45 * n_layers + 1.2) if kind == "ridge" else PANEL_SIZE[1]
    fig, axes = _figure(len(data), size=(PANEL_SIZE[0], height), sharey=kind != "hist")
    for panel, (label, acts) in zip(axes, data.items(), strict=True):
        names = list(acts)
        colors = _colors(names, schemes=False)  # layers, not schemes
        if kind == "ridge":
            for row, name in enumerate(names):
                counts, _ = np.histogram(acts[name], bins=edges)
                peak = counts.max() if counts.size and counts.max() > 0 else 1
                base = len(names) - 1 - row  # first layer on top
                curve = base + 0.9 * counts / peak
                panel.fill_between(edges[:-1], base, curve, step="post", color=colors[name], alpha=0.75)
                panel.step(edges[:-1], curve, where="post", color="0.2", linewidth=0.6)
            panel.set_yticks(range(len(names)), list(reversed(names)))
            panel.set_ylabel("layer (first at the top)")
            panel.set_xlim(low, high)
            panel.grid(axis="y", visible=False)
        elif kind == "violin":
            values = [acts[n] if acts[n].size else np.zeros(1) for n in names]
            parts = panel.violinplot(values, positions=range(len(names)), showextrema=False, showmedians=True,
                                     widths=0.85)
            for body, name in zip(parts["bodies"], names, strict=True):
                body.set_facecolor(colors[name])
                body.set_alpha(0.75)
            parts["cmedians"].set_color("0.15")
            panel.set_xticks(range(len(names)), names, rotation=45 if len(names) > 6 else 0, ha="right"
                             if len(names) > 6 else "center")
            panel.set_xlabel("layer")
            panel.set_ylabel(xlabel)
            margin = 0.05 * (high - low)
            panel.set_ylim(low - margin, high + margin)
        else:
            for i, name in enumerate(names):
                density, _ = np.histogram(acts[name], bins=edges, density=True)
                panel.step(edges[:-1], density, where="post", color=colors[name], label=name, linewidth=1.6,
                           linestyle=_LINESTYLES[i % len(_LINESTYLES)])
            panel.set_ylabel("density (1 / value unit)")
            panel.set_xlim(low, high)
            if len(data) == 1:  # the figure's only panel: beside it
                panel.legend(title="layer", fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1),
                             borderaxespad=0)
            else:
                _legend_clear_of_data(panel, "layer")
        if kind != "violin":
            panel.set_xlabel(xlabel)
        if label:
            panel.set_title(human_name(label))
    if title:
        fig.suptitle(title)
    return fig


# ------------------------------------------------------------- signal propagation


def _signal_results(results: Any) -> dict[str, pd.DataFrame]:
    if isinstance(results, pd.DataFrame):
        hue = _auto_hue(results) or [c for c in ("init", "activation") if c in results.columns]
        if not hue:
            return {"": results}
        labels = _group_labels(results, hue)
        return {str(k): part for k, part in results.groupby(labels, sort=False)}
    if isinstance(results, Mapping) and results and all(isinstance(v, pd.DataFrame) for v in results.values()):
        return {str(k): v for k, v in results.items()}
    raise TypeError("results must be a {label: DataFrame} dict of diagnostics.signal_propagation frames, "
                    f"or one such DataFrame; got {type(results).__name__}.")


def plot_signal_propagation(
    results: Any,
    stats: Sequence[str] = ("std", "grad_std"),
    *,
    theory: Mapping[str, pd.DataFrame] | None = None,
    log: bool = True,
    title: str | None = None,
) -> Figure:
    """Forward and backward signal through an untrained deep network, one line per configuration.

    Args:
        results: ``{label: frame}`` of :func:`~course_utils.diagnostics.signal_propagation`
            frames (``{"Xavier": sp("glorot_normal", ...), "He": sp("he_normal", ...)}``),
            or one frame (several configurations concatenated are split by their
            ``init``/``activation``/``framework`` columns).
        stats: the panels: by default the forward ``std`` of activations and the
            backward ``grad_std`` (dL/da, injected with std 1 at the top and
            carried down toward the input); ``preact_std``, ``frac_saturated``,
            ``weight_grad_std``, ... also work.
        theory: ``{label: frame}`` of :func:`~course_utils.diagnostics.signal_propagation_theory`,
            drawn dashed in the matching colour.
        log: logarithmic y axes for std-like panels: exponential vanishing or
            exploding shows as a straight line (Glorot & Bengio 2010, figure 3;
            He et al. 2015, figure 2).
        title: the figure's title.
    """
    frames = _signal_results(results)
    panels = _as_list(list(stats) if not isinstance(stats, str) else stats, "stats")
    for label, frame in frames.items():
        _check_frame(f"results[{label!r}]", frame, ["depth", *panels])
    theory = dict(theory or {})
    unknown = [k for k in theory if k not in frames]
    if unknown:
        raise ValueError(f"theory labels {unknown} match no result; the results' labels are {list(frames)}.")
    labels = list(frames)
    styles = _styles(labels)
    fig, axes = _figure(len(panels), ncols=min(len(panels), 2))
    for panel, column in zip(axes, panels, strict=True):
        is_fraction = column.startswith("frac_")
        for label in labels:
            frame = frames[label]
            line = _aggregate_lines(frame, "depth", column)
            panel.plot(line["depth"], line["mean"], label=human_name(label) or None, linewidth=2, markersize=3.5,
                       **styles[label])
            if label in theory and column in theory[label].columns:
                th = theory[label]
                panel.plot(th["depth"], th[column], color=styles[label]["color"], linestyle=(0, (4, 3)),
                           linewidth=1.4, alpha=0.9, label=f"{human_name(label)} (theory)" if label else "theory")
        use_log = log and not is_fraction
        if use_log:
            panel.set_yscale("log", nonpositive="mask")
        if is_fraction:
            panel.set_ylim(-0.02, 1.02)
        panel.set_xlabel(_layer_axis_label(next(iter(frames.values()))["depth"]))
        panel.set_ylabel(_label(column, use_log))
        panel.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        backward = "grad" in column
        panel.set_title("backward: gradients flow right to left" if backward else
                        "forward: signals flow left to right", fontsize="medium")
    if any(labels):
        _legend(fig, axes, None)
    if title:
        fig.suptitle(title)
    return fig


# ------------------------------------------------------------------------ grids

_AGGREGATES = ("mean", "median", "min", "max", "std")


def plot_heatmap(
    df: pd.DataFrame,
    row: str,
    col: str,
    value: str,
    *,
    agg: str = "mean",  # over the rows that share a (row, col) cell: seeds
    fmt: str = ".2f", annot: bool = True,  # the numbers written in the cells
    log: bool = False, cmap: str | None = None, center: float | None = None,  # the colour scale
    vmin: float | None = None, vmax: float | None = None,
    value_label: str | None = None, ax: Any = None, title: str | None = None,
) -> Figure:
    """A grid of results: ``value`` for every (``row``, ``col``) pair, aggregated over the rest (seeds).

    For sweeps such as initializer x depth -> final accuracy. Colours come
    from ``viridis`` (perceptually uniform and colour-blind safe) or, when
    ``center`` is given, the diverging ``vlag`` around it. ``log`` uses a
    logarithmic colour scale (for stds spanning orders of magnitude).
    Rows and columns keep their order of first appearance in ``df``.
    """
    df = _check_frame("df", df, [row, col, value], given_by={"row": row, "col": col, "value": value})
    agg = check_choice("agg", agg, _AGGREGATES)
    table = df.pivot_table(index=row, columns=col, values=value, aggfunc=agg, sort=False)
    table = table.reindex(index=list(dict.fromkeys(df[row])), columns=list(dict.fromkeys(df[col])))
    if table.empty or table.isna().all().all():
        raise ValueError(f"no values of {value!r} to draw for the pairs of {row!r} and {col!r}.")
    n_rows, n_cols = table.shape
    size = (max(PANEL_SIZE[0] + 1.0, 0.9 * n_cols + 4.0), max(3.0, 0.55 * n_rows + 1.8))
    fig, axes = _figure(1, size=size, ax=ax)
    panel = axes[0]
    norm = None
    if log:
        positive = table.to_numpy(dtype=float)
        positive = positive[np.isfinite(positive) & (positive > 0)]
        if positive.size == 0:
            raise ValueError(f"log=True needs positive values of {value!r}.")
        norm = LogNorm(vmin=vmin or positive.min(), vmax=vmax or positive.max())
    sns.heatmap(table.astype(float), ax=panel, annot=annot, fmt=fmt, cmap=cmap or ("vlag" if center is not None
                else "viridis"), center=center, norm=norm, vmin=None if log else vmin, vmax=None if log else vmax,
                linewidths=0.5, linecolor="white",
                cbar_kws={"label": _log_label(value_label) if value_label and log else value_label or _label(value, log)})
    panel.set_xlabel(_label(col))
    panel.set_ylabel(_label(row))
    panel.tick_params(axis="y", rotation=0)
    n_per_cell = df.groupby([row, col])[value].count()
    suffix = f" ({agg} of {int(n_per_cell.max())} runs)" if n_per_cell.max() > 1 else ""
    panel.set_title(title or f"{value_label or _label(value)}{suffix}")
    return _shown_once(fig)


def plot_images(images: Any, labels: Any = None, *, class_names: Sequence[str] | None = None,
                ncols: int = 10, title: str | None = None) -> Figure:
    """A grid of grey images (``(n, 28, 28)`` or flattened ``(n, 784)``), each titled by its class."""
    array = np.asarray(images, dtype=float)
    if array.ndim == 2:
        side = math.isqrt(array.shape[1])
        if side * side != array.shape[1]:
            raise ValueError(f"flattened images must have a square number of pixels (784 = 28x28); got {array.shape[1]}.")
        array = array.reshape(-1, side, side)
    if array.ndim != 3 or len(array) == 0:
        raise ValueError(f"images must have shape (n, height, width) or (n, pixels) with n >= 1; got {np.shape(images)}.")
    ncols = check_int("ncols", ncols, low=1)
    n = len(array)
    cols = min(ncols, n)
    fig, axes = _figure(n, ncols=cols, size=(1.25, 1.45))
    for i, panel in enumerate(axes):
        panel.imshow(array[i], cmap="gray_r")
        panel.set_xticks([])
        panel.set_yticks([])
        panel.grid(False)
        if labels is not None:
            label = int(np.asarray(labels)[i])
            panel.set_title(class_names[label] if class_names is not None else str(label), fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_lr_transfer(df: pd.DataFrame, best: pd.DataFrame | None = None, *, metric: str = "loss",
                     panels: Sequence[str] = ("framework", "parametrization"), hue: str = "width") -> Figure:
    """Loss against learning rate, one line per width, one panel per (framework, parametrization):
    the figure of Yang et al. 2021 (Tensor Programs V, Fig. 1 and 3).

    ``df`` is :func:`course_utils.mup.lr_sweep`'s frame (one row per run; lines are the mean over seeds,
    diverged runs left out); ``best`` (:func:`course_utils.mup.best_lrs`) marks each width's best rate,
    the geometric mean over seeds, with a triangle on the axis.
    """
    df = _check_frame("df", df, [*panels, hue, "lr", metric])
    keys = list(dict.fromkeys(map(tuple, df[list(panels)].itertuples(index=False))))
    fig, axes = _figure(len(keys), ncols=2, sharey=True)
    hues = sorted(df[hue].unique())
    styles = _styles([str(h) for h in hues], schemes=False)
    finite = df[np.isfinite(df[metric].astype(float))]
    top = float(finite[finite["lr"] == finite["lr"].min()][metric].max()) * 1.15
    low = float(finite[metric].min()) * 0.95
    for panel, key in zip(axes, keys, strict=True):
        part = finite.loc[(finite[list(panels)] == pd.Series(key, index=list(panels))).all(axis=1)]
        for h in hues:
            line = part[part[hue] == h].groupby("lr")[metric].mean()
            panel.plot(line.index, line.to_numpy(), label=human_name(h), **styles[str(h)])
            if best is not None:
                sel = best.loc[(best[list(panels)] == pd.Series(key, index=list(panels))).all(axis=1) & (best[hue] == h)]
                if len(sel):
                    panel.plot([float(np.exp(np.log(sel["best_lr"]).mean()))], [low], marker="v", markersize=11,
                               color=styles[str(h)]["color"], clip_on=False, linestyle="none")
        panel.set_xscale("log", base=2)
        panel.set_ylim(low, top)
        panel.set_xlabel("learning rate (Adam, log scale)")
        panel.set_ylabel(_label(metric))
        panel.set_title(" · ".join(human_name(k) for k in key))
    _legend(fig, axes, _label(hue))
    return fig

