"""Interactive explorers (ipywidgets) with a static fallback.

:func:`signal_explorer` shows how a signal travels forward, and its gradient
backward, through an untrained deep network of ``depth`` square dense layers
of ``width`` units -- the experiment of Glorot & Bengio (2010, section 4.2)
and He et al. (2015, section 2.2). Sliders choose the depth, the width, the
initialization (a registry scheme, or ``random_normal`` with a chosen std)
and the activation; each move redraws the per-layer standard deviation of
the activations (forward) and of the back-propagated gradients (backward),
computed in NumPy by :func:`course_utils.diagnostics.signal_propagation` and
drawn by :func:`course_utils.plots.plot_signal_propagation`, with the
mean-field prediction of :func:`~course_utils.diagnostics.signal_propagation_theory`
dashed.

One call, three situations::

    widgets.signal_explorer()                    # in JupyterLab: sliders + figure
    widgets.signal_explorer(interactive=False)   # a static figure (nbval, the book, slides)
    widgets.signal_figure(depth=50, init="glorot_normal", activation="tanh")  # the figure alone

Outside a Jupyter kernel, or without ipywidgets, ``signal_explorer`` falls back
to the static figure, so a notebook runs the same everywhere. Nothing here
imports TensorFlow or PyTorch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from . import diagnostics, initializers, plots
from ._validation import check_choice, check_int, check_number

__all__ = [
    "DEFAULT_INITS",
    "WIDTHS",
    "MAX_DEPTH",
    "widgets_available",
    "explorer_samples",
    "max_depth_for",
    "signal_figure",
    "signal_explorer",
]

#: The schemes offered by the explorer's menu by default: the fixed-scale draws of notebook 04, the
#: variance-scaling family of 05-07, orthogonal (08), sparse (09) and the two framework defaults.
#: Recurrent-only schemes are left out (they need a cell, not a square dense layer).
DEFAULT_INITS: tuple[str, ...] = (
    "random_normal",
    "random_uniform",
    "legacy_uniform",
    "torch_default_linear",
    "keras_default_dense",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "orthogonal",
    "sparse",
)
#: Widths the width slider offers (powers of two keep the slider's steps even on a log scale).
WIDTHS: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
#: The depth slider's end: deep enough to see exponential trends (Glorot & Bengio used 5 layers,
#: He et al. 22-30), short enough to redraw in about a second.
MAX_DEPTH = 100
#: Activations a layer's forward std is drawn for; every name of diagnostics.ACTIVATIONS.
ACTIVATIONS: tuple[str, ...] = tuple(diagnostics.ACTIVATIONS)
#: The explorer keeps n_samples x width x depth near this many activations (8 bytes each: ~13 MB),
#: which redraws in about 0.3 s on one free core at the defaults (256 units, 30 layers, 256 samples).
_ELEMENT_BUDGET = 256 * 256 * 30
#: Weights drawn per redraw at most (depth x width^2): drawing them dominates a deep, wide redraw
#: (100 layers of 512 units took 4 s of sampling on a loaded core), so at width 512 the depth
#: slider stops at 25 layers while narrower networks keep all 100.
_WEIGHT_BUDGET = 256 * 256 * MAX_DEPTH
#: Fewest samples per redraw: 32 x width values per layer still estimate a std to about 1% at width 64.
_MIN_SAMPLES = 32
#: Most samples per redraw: more only smooths a curve that is already smooth.
_MAX_SAMPLES = 256
#: The std slider's range for random_normal, in powers of ten: 1e-3 (vanishes at any width) to
#: 10^0.5 = 3.2 (explodes or saturates at any width).
_STD_LOG_RANGE = (-3.0, 0.5)
#: Smallest range of a log-scale panel (see _readable_log_axes).
_LOG_FLOOR = (0.1, 10.0)


def widgets_available() -> bool:
    """True when ipywidgets can be shown: ipywidgets imports and we run inside a Jupyter kernel.

    A plain ``python`` process, a terminal IPython, or a kernel without
    ipywidgets gets False (and the explorers draw a static figure instead).
    """
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def explorer_samples(depth: int, width: int) -> int:
    """How many input samples a redraw uses: about ``_ELEMENT_BUDGET / (depth * width)``, within [32, 256].

    The std of ``n_samples x width`` values per layer is what is plotted, so
    wide layers need fewer samples for the same precision, and deep ones would
    otherwise make the slider slow.
    """
    depth = check_int("depth", depth, low=1)
    width = check_int("width", width, low=1)
    return int(min(_MAX_SAMPLES, max(_MIN_SAMPLES, _ELEMENT_BUDGET // (depth * width))))


def max_depth_for(width: int) -> int:
    """The depth slider's end at ``width``: :data:`MAX_DEPTH`, or fewer layers so that
    ``depth * width**2`` stays within the weight budget (a redraw within about a second)."""
    width = check_int("width", width, low=1)
    return int(max(1, min(MAX_DEPTH, _WEIGHT_BUDGET // (width * width))))


def _resolve_init(init: Any, std: float | None) -> Any:
    """The Initializer for ``init`` (a name or Initializer), or ``random_normal(std)`` when ``std`` is given."""
    if std is not None:
        std = check_number("std", std, low=0.0, low_inclusive=False)
        if init not in (None, "random_normal"):
            raise ValueError(
                f"std={std:g} sets the std of random_normal; it cannot be combined with init={init!r}. "
                "Pass either init=<scheme name> or std=<number> (for random_normal)."
            )
        return initializers.get("random_normal", std=std)
    if init is None:
        raise ValueError("give an initializer, init='he_normal' (any name in initializers.names()), or a std.")
    return initializers.get(init)


def _theory_or_none(initializer: Any, activation: str, depth: int, width: int, input_std: float) -> Any:
    """The mean-field prediction, or None where it does not apply (weights whose mean is not zero)."""
    if initializer.expected_mean((width, width)) != 0:
        return None
    return diagnostics.signal_propagation_theory(initializer, activation, depth, width, input_std=input_std)


def _summary_line(frame: Any, depth: int) -> str:
    """One short line for the title: how much the forward and backward std changed across the network."""
    ratios = diagnostics.signal_ratios(frame) if depth > 1 else {"forward_ratio": 1.0, "backward_ratio": 1.0}
    forward, backward = ratios["forward_ratio"], ratios["backward_ratio"]

    def word(r: float) -> str:
        if not math.isfinite(r):
            return "inf/NaN: overflowed"
        verdict = "vanished" if r < 0.1 else "exploded" if r > 10 else "kept"
        return f"x{r:.2g}, {verdict}"

    return f"layer 1 \u2192 {depth}: forward std {word(forward)}; gradient std ({depth} \u2192 1) {word(backward)}"


def _readable_log_axes(fig: Any) -> None:
    """Let every log-scale panel span at least 0.1 to 10.

    A healthy network's std wanders by a few percent; on an axis zoomed to that
    range the wobble looks like a trend (and the ticks read 9x10^-1). Fixing
    the floor at a decade each side of 1 shows "flat" as flat, and keeps the
    scale steady while a slider moves.
    """
    for ax in fig.axes:
        if ax.get_yscale() == "log":
            low, high = ax.get_ylim()
            ax.set_ylim(min(low, _LOG_FLOOR[0]), max(high, _LOG_FLOOR[1]))


def _legend_inside(fig: Any) -> None:
    """One setting needs only "measured" and "theory": a small legend in the first panel, clear of the title."""
    for legend in list(fig.legends):
        legend.remove()
    handles, labels = fig.axes[0].get_legend_handles_labels()
    if labels:
        fig.axes[0].legend(handles, ["measured" if "theory" not in lab else "mean-field theory" for lab in labels],
                           fontsize="small", loc="best")


def signal_figure(
    depth: int = 30,
    width: int = 256,
    init: Any = "he_normal",
    std: float | None = None,
    activation: str = "relu",
    *,
    n_samples: int | None = None,
    seed: int = 0,
    input_std: float = 1.0,
    stats: Sequence[str] = ("std", "grad_std"),
    theory: bool = True,
    title: str | None = None,
) -> Any:
    """The explorer's figure for one setting: per-layer forward and backward std of an untrained deep network.

    Args:
        depth, width: ``depth`` square, bias-free dense layers of ``width`` units.
        init: a registry name (``initializers.names()``) or an Initializer; ignored
            in favour of ``random_normal(std)`` when ``std`` is given.
        std: the std of ``random_normal`` weights (``init`` must then be left at
            ``"random_normal"`` or None).
        activation: one of ``diagnostics.ACTIVATIONS``.
        n_samples: input samples (default: :func:`explorer_samples`, so a redraw stays near a second).
        seed: the weights', inputs' and injected gradient's seed.
        input_std: std of the Gaussian inputs.
        stats: the panels (columns of :func:`~course_utils.diagnostics.signal_propagation`):
            forward ``std`` and backward ``grad_std`` by default; ``frac_saturated``
            (sigmoid/tanh) and ``frac_zero`` (ReLU) also work.
        theory: draw the mean-field prediction dashed (skipped for weights with a non-zero mean).
        title: the figure's title (default: the setting and a one-line verdict).

    Returns:
        The matplotlib Figure; its ``signal_frame`` attribute holds the measured DataFrame.
    """
    if std is not None and init == "he_normal":  # the default init yields to an explicit std
        init = None
    initializer = _resolve_init(init, std)
    activation = check_choice("activation", activation, ACTIVATIONS)
    depth = check_int("depth", depth, low=1)
    width = check_int("width", width, low=1)
    if n_samples is None:
        n_samples = explorer_samples(depth, width)
    frame = diagnostics.signal_propagation(initializer, activation, depth, width, n_samples=n_samples, seed=seed,
                                           input_std=input_std)
    label = str(frame["init"].iloc[0])
    th = _theory_or_none(initializer, activation, depth, width, input_std) if theory else None
    if title is None:
        title = f"{plots.human_name(label)}, {activation}, {depth} layers of {width}\n{_summary_line(frame, depth)}"
    fig = plots.plot_signal_propagation({label: frame}, stats=tuple(stats),
                                        theory={label: th} if th is not None else None, title=title)
    _readable_log_axes(fig)
    _legend_inside(fig)
    fig.signal_frame = frame
    return fig


def _controls(depth: int, width: int, init_name: str, std: float, activation: str, inits: Sequence[str],
              activations: Sequence[str], theory: bool) -> dict[str, Any]:
    import ipywidgets as w

    style = {"description_width": "80px"}
    if width not in WIDTHS:
        widths = tuple(sorted({*WIDTHS, width}))
    else:
        widths = WIDTHS
    return {
        "depth": w.IntSlider(value=min(depth, max_depth_for(width)), min=1, max=max_depth_for(width),
                             description="depth",
                             continuous_update=False, style=style),
        "width": w.SelectionSlider(options=widths, value=width, description="width", continuous_update=False,
                                   style=style),
        "init": w.Dropdown(options=list(inits), value=init_name, description="init", style=style),
        "std": w.FloatLogSlider(value=std, base=10, min=_STD_LOG_RANGE[0], max=_STD_LOG_RANGE[1], step=0.05,
                                description="std", readout_format=".3g", continuous_update=False, style=style,
                                disabled=init_name != "random_normal"),
        "activation": w.Dropdown(options=list(activations), value=activation, description="activation",
                                 style=style),
        "theory": w.Checkbox(value=theory, description="mean-field theory (dashed)", indent=False),
    }


def signal_explorer(
    depth: int = 30,
    width: int = 256,
    init: Any = "he_normal",
    std: float | None = None,
    activation: str = "relu",
    *,
    inits: Sequence[str] | None = None,
    activations: Sequence[str] | None = None,
    stats: Sequence[str] = ("std", "grad_std"),
    theory: bool = True,
    seed: int = 0,
    interactive: bool | None = None,
) -> Any:
    """Sliders for depth, width, initialization (scheme or std) and activation, redrawing the signal's statistics.

    Each change recomputes :func:`~course_utils.diagnostics.signal_propagation`
    (NumPy; about 0.3-1 s) and redraws forward activation std and backward
    gradient std per layer, with the mean-field prediction dashed. The depth
    slider ends at :data:`MAX_DEPTH` layers, or at :func:`max_depth_for` the
    chosen width when the layers are wide (25 layers at width 512).

    Args:
        depth, width, init, std, activation: the starting setting (as in :func:`signal_figure`).
            ``std`` selects ``random_normal`` with that std; the std slider is
            active whenever the menu shows ``random_normal``.
        inits: the schemes offered in the menu (default :data:`DEFAULT_INITS`);
            notebooks narrow it to their topic, e.g. ``["glorot_normal", "he_normal"]``.
        activations: the activations offered (default: all of ``diagnostics.ACTIVATIONS``).
        stats: the panels (see :func:`signal_figure`).
        theory: start with the mean-field prediction shown.
        seed: the seed of every redraw.
        interactive: True -- the widget (raises if ipywidgets cannot be shown);
            False -- the static figure at the starting setting; None (default) --
            the widget inside a Jupyter kernel with ipywidgets, else the figure.

    Returns:
        An ``ipywidgets.VBox`` (Jupyter displays it) or, static, the matplotlib Figure.
    """
    if std is not None and init == "he_normal":
        init = None
    initializer = _resolve_init(init, std)  # validates init/std before anything is drawn
    activation = check_choice("activation", activation, ACTIVATIONS)
    depth = check_int("depth", depth, low=1, high=MAX_DEPTH)
    width = check_int("width", width, low=1)
    menu = list(DEFAULT_INITS if inits is None else inits)
    for name in menu:
        initializers.get(name)  # an unknown name fails now, with the registry's message
    acts = [check_choice("activations", a, ACTIVATIONS) for a in (activations or ACTIVATIONS)]
    if activation not in acts:
        raise ValueError(f"activation={activation!r} is not among the offered activations {acts}.")
    if interactive is None:
        interactive = widgets_available()
    if not interactive:
        return signal_figure(depth, width, initializer, activation=activation, stats=stats, theory=theory, seed=seed)
    if not widgets_available():
        raise RuntimeError("interactive=True needs ipywidgets inside a Jupyter kernel; use interactive=False "
                           "for a static figure.")
    return _build_widget(initializer, depth, width, activation, menu, acts, stats, theory, seed)


def _build_widget(initializer: Any, depth: int, width: int, activation: str, menu: list[str], acts: list[str],
                  stats: Sequence[str], theory: bool, seed: int) -> Any:
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    name = initializer.name
    start_std = float(initializer.params.get("std", 0.05)) if name == "random_normal" else 0.05
    if name not in menu:
        menu = [name, *menu]
    controls = _controls(depth, width, name, start_std, activation, menu, acts, theory)
    status = w.HTML()
    out = w.Output(layout=w.Layout(min_height="420px"))
    # Only random_normal's std is adjustable in the menu; other schemes keep the parameters given (or defaults).
    custom = {name: initializer} if name != "random_normal" else {}

    busy = []  # non-empty while a redraw runs: clamping the depth below must not start a second one

    def redraw(_change: Any = None) -> None:
        if busy:
            return
        busy.append(True)
        try:
            _redraw()
        finally:
            busy.clear()

    def _redraw() -> None:
        controls["depth"].max = max_depth_for(controls["width"].value)  # clamps the depth's value too
        controls["std"].disabled = controls["init"].value != "random_normal"
        scheme = controls["init"].value
        chosen = (initializers.get("random_normal", std=controls["std"].value) if scheme == "random_normal"
                  else custom.get(scheme, scheme))
        start = time.perf_counter()
        with out:
            out.clear_output(wait=True)
            try:
                fig = signal_figure(controls["depth"].value, controls["width"].value, chosen,
                                    activation=controls["activation"].value, stats=stats,
                                    theory=controls["theory"].value, seed=seed)
            except ValueError as err:  # e.g. sparse's k larger than a narrow width: say so, keep the sliders
                status.value = f"<span style='color:#b00'>{err}</span>"
                return
            plt.close(fig)  # pyplot must not show it again at the end of the callback; display() shows it once
            display(fig)
        status.value = f"<small>redrawn in {time.perf_counter() - start:.2f} s</small>"

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    rows = [w.HBox([controls["depth"], controls["width"]]),
            w.HBox([controls["init"], controls["std"]]),
            w.HBox([controls["activation"], controls["theory"]]),
            status, out]
    return w.VBox(rows)
