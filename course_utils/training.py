"""``train(model, data, ...) -> History``: one call, one result type, for Keras and PyTorch models.

The notebooks compare initializations by their learning curves, in both
frameworks, over several seeds; this module makes that one line and fast.
It validates the arguments and the data once, decides the framework once,
and hands the run to that framework's path -- ``_keras_training`` or
``_torch_training``, one set of function names written once per framework,
as Keras writes its backends:

* **Keras** models train through ``model.fit`` -- tuned: many steps per
  execution (``steps_per_execution``: one graph call runs a block of steps, so
  Python is entered once per block instead of once per batch), no per-batch
  printing, validation in large batches, Adam's update in one fused kernel,
  no XLA (slower on CPU, see ``bench/RESULTS.md``).
* **PyTorch** models train in a tight loop over tensors preloaded once (no
  ``DataLoader``: a ``randperm`` index per epoch and ``index_select`` per
  batch), with the optimizers' fused kernels, and with no
  ``.item()`` per step (running sums stay on the tensor side until the epoch ends).

Both return a :class:`History` with the same fields. The same seed on the same
machine gives the same History, seconds excepted (shuffling, dropout masks and
the weights sampled by Bayesian layers are all drawn from seeded generators;
see :func:`train` on TensorFlow's determinism).

The two frameworks run the same algorithm: optimizer hyper-parameters that the
frameworks default differently are set explicitly (see the constants below).
"""

from __future__ import annotations

import importlib
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import config, frameworks
from ._validation import check_choice, check_int, check_number

__all__ = [
    "OPTIMIZERS",
    "LOSSES",
    "History",
    "train",
    "evaluate",
    "adam_steps",
    "predict_logits",
    "show_progress",
    "forward_macs",
    "torch_threads_for",
    "parameter_names",
]

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")
LOSSES = ("cross_entropy", "mse")

#: SGD momentum of the "momentum" optimizer (the usual 0.9, Sutskever et al. 2013).
MOMENTUM = 0.9
#: Adam/AdamW epsilon, in PyTorch's meaning (added to sqrt of the bias-corrected second moment), for
#: both frameworks: the course's Keras Adam passes ``eps * sqrt(1 - beta_2^t)`` to TensorFlow's kernel
#: (``_keras_training.fused_adam_classes``), so the two take the same steps. The value is Keras's
#: default (PyTorch's is 1e-8). Stock ``keras.optimizers.Adam(epsilon=1e-7)`` is a different optimizer:
#: its epsilon is added before the bias correction and weighs 1/sqrt(1 - beta_2^t) times more
#: (about 32x at step 1, 3.2x at step 100).
ADAM_EPSILON = 1e-7
#: RMSprop's decay of the squared-gradient average: Keras's rho (PyTorch calls it alpha, default 0.99).
RMSPROP_RHO = 0.9
#: AdamW's decoupled weight decay (Loshchilov & Hutter 2019): PyTorch's default (Keras's is 0.004).
ADAMW_WEIGHT_DECAY = 0.01
#: Validation batch size: inference results do not depend on it, per-batch overhead does.
VAL_BATCH_SIZE = 1024
#: Keras steps per graph execution when not given: large enough that the per-call Python
#: overhead (~1 ms) is spread over many steps, small enough that the progress bar still moves
#: (measured in bench/RESULTS.md).
KERAS_STEPS_PER_EXECUTION = 64
#: PyTorch steps whose forward pass needs fewer multiply-adds than this run on one thread. Such small
#: matrix products gain little from a second thread on a quiet machine, and lose badly when the CPUs are
#: shared: OpenMP's threads spin-wait at every parallel region, and a descheduled one stalls the other
#: (the 784-512-10 MLP at batch 32, 2 threads on 2 busy CPUs: 10x slower than 1 thread; bench/RESULTS.md).
#: 2**26 (~67M) puts batch 32 x 400k weights on one thread and a small CNN at batch 128 on all of them.
TORCH_PARALLEL_MACS = 2**26
#: A progress bar advances at most this many times per epoch (each update costs a Python call).
_BAR_UPDATES_PER_EPOCH = 50


# ---------------------------------------------------------------------- History


@dataclass
class History:
    """What one training run produced, the same fields for Keras and PyTorch.

    Attributes:
        framework: ``"keras"`` or ``"torch"``.
        epoch: 1..n.
        loss, accuracy: training loss and accuracy per epoch -- the mean over the
            epoch's batches, weighted by batch size, in training mode (dropout on),
            as Keras reports them. Accuracy is NaN for ``loss="mse"``. For Bayesian
            models the loss includes the weighted KL term.
        val_loss, val_accuracy: on the validation data after each epoch, in
            inference mode; NaN without validation data.
        seconds_per_epoch: wall-clock seconds of each epoch, validation included
            (the first Keras epoch also builds the graph).
        step_loss: the loss of every step (``record_steps=True``), else None.
        grad_norms: ``{layer name: [one value per epoch]}`` -- the mean over the
            epoch's steps of the L2 norm of the gradient of that layer's weight
            matrices (biases excluded) (``record_grad_norms=True``), else None.
        config: how the run was made (framework, optimizer, lr, seed, ...).
    """

    framework: str
    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds_per_epoch: list[float] = field(default_factory=list)
    step_loss: list[float] | None = None
    grad_norms: dict[str, list[float]] | None = None
    config: dict[str, Any] = field(default_factory=dict)

    METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds_per_epoch")

    def to_frame(self) -> Any:
        """A long DataFrame: one row per (epoch, metric) with columns
        ``framework, label, seed, epoch, metric, value`` (metrics as in :data:`METRICS`)."""
        import pandas as pd

        rows = []
        for metric in self.METRICS:
            for ep, value in zip(self.epoch, getattr(self, metric), strict=True):
                rows.append({"framework": self.framework, "label": self.config.get("label"),
                             "seed": self.config.get("seed"), "epoch": ep, "metric": metric, "value": float(value)})
        return pd.DataFrame(rows, columns=["framework", "label", "seed", "epoch", "metric", "value"])

    def final(self, metric: str = "val_accuracy") -> float:
        """The last epoch's value of ``metric``."""
        metric = check_choice("metric", metric, self.METRICS)
        return float(getattr(self, metric)[-1])

    def to_dict(self, *, include_seconds: bool = True) -> dict[str, Any]:
        """Plain lists and dicts (JSON-friendly); ``include_seconds=False`` drops the timings."""
        out = asdict(self)
        if not include_seconds:
            out.pop("seconds_per_epoch")
            out["config"] = {k: v for k, v in out["config"].items() if k != "seconds_total"}
        return out

    def same_as(self, other: History) -> bool:
        """True when two runs recorded exactly the same numbers (timings ignored; NaN equals NaN)."""

        def norm(value: Any) -> Any:
            if isinstance(value, float) and math.isnan(value):
                return "nan"
            if isinstance(value, dict):
                return {k: norm(v) for k, v in value.items()}
            if isinstance(value, list):
                return [norm(v) for v in value]
            return value

        return norm(self.to_dict(include_seconds=False)) == norm(other.to_dict(include_seconds=False))

    def __repr__(self) -> str:
        n = len(self.epoch)
        if not n:
            return f"History({self.framework}, no epochs)"
        return (f"History({self.framework}, {n} epoch(s): loss {self.loss[-1]:.4g}, accuracy {self.accuracy[-1]:.4g}, "
                f"val_loss {self.val_loss[-1]:.4g}, val_accuracy {self.val_accuracy[-1]:.4g}, "
                f"{sum(self.seconds_per_epoch):.1f} s)")


# ------------------------------------------------------------------------- data


@dataclass
class _Data:
    x: np.ndarray
    y: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None


def _unpack(data: Any) -> tuple[Any, Any, Any, Any]:
    if all(hasattr(data, a) for a in ("x_train", "y_train", "x_test", "y_test")):
        return data.x_train, data.y_train, data.x_test, data.y_test
    if isinstance(data, (tuple, list)) and len(data) in (2, 4):
        return (*data, None, None)[:4] if len(data) == 2 else tuple(data)
    raise TypeError(
        "data must be a Dataset from course_utils.data.load_dataset(...) or a tuple (x_train, y_train) or "
        f"(x_train, y_train, x_val, y_val); got {type(data).__name__}"
        + (f" of length {len(data)}" if isinstance(data, (tuple, list)) else "") + "."
    )


def _fmt_shape(shape: Sequence[Any]) -> str:
    return "(" + ", ".join("n" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


def _check_x(name: str, x: Any, expected: tuple[Any, ...] | None) -> np.ndarray:
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != np.bool_:
        raise TypeError(f"{name} must hold numbers; got dtype {arr.dtype}.")
    if arr.ndim < 2 or len(arr) == 0:
        raise ValueError(f"{name} must be a batch of examples, shape (n, ...) with n >= 1; got shape {arr.shape}.")
    if expected is not None:
        want = expected[1:]
        got = arr.shape[1:]
        fits = len(want) == len(got) and all(w is None or w == g for w, g in zip(want, got, strict=True))
        if not fits:
            hint = ""
            if all(w is not None for w in want) and math.prod(want) == math.prod(got):
                hint = (" Reshape it: x.reshape(len(x), " + ", ".join(str(w) for w in want) + ")"
                        + (" or load_dataset(..., flatten=True)." if len(want) == 1 else "."))
            raise ValueError(
                f"{name} has shape {arr.shape}, but this model expects inputs of shape {_fmt_shape(expected)} "
                f"(n examples of shape {_fmt_shape(want)}).{hint}"
            )
    return np.ascontiguousarray(arr, dtype=np.float32)


def _check_y(name: str, y: Any, n: int, out_shape: tuple[Any, ...] | None, loss: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim == 0 or len(arr) != n:
        raise ValueError(f"{name} must hold one target per example ({n}); got shape {arr.shape}.")
    if loss == "mse":
        if not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{name} must hold numbers for loss='mse'; got dtype {arr.dtype}.")
        arr = arr.astype(np.float32)
        if out_shape is not None and all(d is not None for d in out_shape[1:]):
            want = (n, *out_shape[1:])
            if arr.size != math.prod(want):
                raise ValueError(f"{name} has shape {arr.shape}, but the model's outputs have shape "
                                 f"{_fmt_shape(out_shape)}: expected targets of shape {want}.")
            arr = arr.reshape(want)
        return np.ascontiguousarray(arr)
    if not np.issubdtype(arr.dtype, np.integer):
        hint = " (one-hot rows? use y.argmax(axis=1))" if arr.ndim == 2 else ""
        raise TypeError(
            f"{name} must hold integer class indices for loss='cross_entropy'; got dtype {arr.dtype}{hint}. "
            "Convert with y.astype('int64'), or use loss='mse' for real-valued targets."
        )
    if out_shape is not None:
        n_classes = out_shape[-1]
        want = (n, *out_shape[1:-1])
        if arr.shape != want and all(d is not None for d in want):
            raise ValueError(f"{name} has shape {arr.shape}, but the model's outputs {_fmt_shape(out_shape)} "
                             f"need class indices of shape {want}.")
        if n_classes is not None and arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            raise ValueError(f"{name} holds class indices from {arr.min()} to {arr.max()}, but the model has "
                             f"{n_classes} outputs (classes 0..{n_classes - 1}). Build it with n_classes="
                             f"{int(arr.max()) + 1}.")
    return np.ascontiguousarray(arr, dtype=np.int64)


def forward_macs(model: Any, x: Any) -> int:
    """Multiply-adds of one PyTorch forward pass per example, from the weight layers' shapes.

    A weight layer with matrices of ``p`` entries producing outputs at ``s``
    positions (1 for dense, ``H*W`` for a 2-D convolution, ``T`` steps for a
    recurrent layer) costs ``p * s`` multiply-adds per example. Measured with
    one forward pass on two examples of ``x`` in inference mode.
    """
    torch = frameworks.torch()
    x = np.ascontiguousarray(np.asarray(x)[:2], dtype=np.float32)
    total = [0]

    def hook(module: Any, _inputs: Any, output: Any) -> None:
        while isinstance(output, (tuple, list)):
            output = output[0]
        p = sum(w.numel() for w in module.parameters(recurse=False) if w.ndim >= 2)
        units = output.shape[1] if output.ndim > 2 and isinstance(module, torch.nn.modules.conv._ConvNd) else (
            output.shape[-1])
        positions = max(1, output[0].numel() // max(1, units))
        total[0] += p * positions

    layers = [m for _, m in frameworks.weight_layers(model, "torch")]
    with frameworks.Hooks(layers, hook), frameworks.eval_mode(model), torch.no_grad():
        model(torch.from_numpy(x))
    return int(total[0])


def torch_threads_for(model: Any, x: Any, batch_size: int) -> int:
    """Threads :func:`train` gives a PyTorch run: 1 when a step's forward pass needs fewer than
    :data:`TORCH_PARALLEL_MACS` multiply-adds (``batch_size * forward_macs``), else
    ``config.n_threads()`` (all usable CPUs, or ``COURSE_THREADS``). A deterministic rule, not a
    timing: the thread count changes the order of floating-point sums, so it must not vary between
    two runs that should give the same History."""
    n = config.n_threads()
    if n == 1:
        return 1
    return 1 if batch_size * forward_macs(model, x) < TORCH_PARALLEL_MACS else n


def _prepare(model: Any, fw: str, data: Any, loss: str, validation: bool) -> _Data:
    x, y, xv, yv = _unpack(data)
    expected = frameworks.input_shape_of(model, fw)
    x = _check_x("x_train", x, expected)
    out_shape = _path(fw).output_shape(model, x)
    y = _check_y("y_train", y, len(x), out_shape, loss)
    if validation and xv is not None and yv is not None:
        xv = _check_x("x_val", xv, expected)
        yv = _check_y("y_val", yv, len(xv), out_shape, loss)
    else:
        xv = yv = None
    return _Data(x, y, xv, yv)


# --------------------------------------------------------------------- progress


def show_progress(progress: bool | None = None) -> bool:
    """Whether train() draws a progress bar: ``progress`` if given, else ``COURSE_PROGRESS`` (``1`` or
    ``0``) if set, else yes in a notebook or a terminal, no under the quick profile (tests, CI) or when
    output goes to a file. The book sets ``COURSE_PROGRESS=0``: a saved page would show each bar frozen
    at 0%, since the bar's widget state is not stored."""
    if progress is not None:
        if not isinstance(progress, bool):
            raise TypeError(f"progress must be True, False or None (automatic); got {progress!r}.")
        return progress
    env = os.environ.get("COURSE_PROGRESS", "").strip()
    if env:
        if env not in ("0", "1"):
            raise ValueError(f"COURSE_PROGRESS must be 1 (progress bars) or 0 (none); got {env!r}. "
                             "Unset it for the automatic choice.")
        return env == "1"
    if config.is_quick():
        return False
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _Bar:
    """A tqdm.auto bar over a run's steps, or nothing.

    In a notebook the bar is a widget shown with a display id; when the run
    ends, that output is replaced by the bar's plain-text final line (``keras
    adam: 100%|##########| 60/60 [00:02<00:00, ...]``) and the widget is closed.
    A notebook saved afterwards holds text, not a widget reference, so it
    reopens showing what ran, with or without saved widget state (and in the
    static book). In a terminal, tqdm's own text bar is left as it is.
    """

    def __init__(self, enabled: bool, total: int, desc: str) -> None:
        self.bar, self.handle = None, None
        if enabled:
            from tqdm.auto import tqdm
            from tqdm.notebook import tqdm_notebook

            if issubclass(tqdm, tqdm_notebook):
                from IPython.display import display

                self.bar = tqdm(total=total, desc=desc, unit="step", leave=True, mininterval=0.5, display=False)
                self.handle = display(self.bar.container, display_id=True)
            else:
                self.bar = tqdm(total=total, desc=desc, unit="step", leave=True, mininterval=0.5)

    def update(self, n: int) -> None:
        if self.bar is not None and n > 0:
            self.bar.update(n)

    def epoch_end(self, epoch: int, epochs: int, logs: dict[str, float]) -> None:
        if self.bar is not None:
            shown = {k: f"{v:.4g}" for k, v in logs.items() if not math.isnan(v)}
            self.bar.set_postfix(epoch=f"{epoch}/{epochs}", **shown, refresh=False)

    def close(self) -> None:
        if self.bar is None:
            return
        self.bar.close()
        if self.handle is not None:
            line = self.bar.format_meter(**{**self.bar.format_dict, "ncols": None})
            self.handle.update({"text/plain": line}, raw=True)
            for widget in (*self.bar.container.children, self.bar.container):
                widget.close()
        self.bar = None


# ---------------------------------------------------------------------- helpers


def _path(fw: str) -> Any:
    """The framework's training path: ``_keras_training`` or ``_torch_training``, one set of function
    names (``output_shape``, ``ends_with_softmax``, ``weight_params``, ``settings``, ``run``, ``predict``)
    written once per framework, as Keras writes its backends."""
    return importlib.import_module(f"._{fw}_training", __package__)


def _grad_groups(model: Any, fw: str) -> list[tuple[str, list[Any]]]:
    """Per weight layer, the parameters whose gradient norm is recorded: weight matrices, not biases,
    not a Bayesian layer's rho."""
    weight_params = _path(fw).weight_params
    groups = [(name, weight_params(layer)) for name, layer in frameworks.weight_layers(model, fw)]
    return [(name, params) for name, params in groups if params]


def _set_kl_weights(model: Any, fw: str, n_train: int) -> list[tuple[Any, Any]]:
    """Give every Bayesian layer without a kl_weight the per-example weight 1/n_train; return what to restore."""
    from . import models

    changed = []
    for _, layer in models.bayesian_layers(model, fw):
        if layer.kl_weight is None:
            changed.append((layer, None))
            layer.kl_weight = 1.0 / n_train
    return changed


def parameter_names(model: Any, framework: str | None = None) -> dict[str, Any]:
    """``{"<layer>.weight": weight, "<layer>.bias": bias, ...}`` for every weight layer: the names
    :func:`train`'s ``lr_multipliers`` takes, the same in both frameworks (a Keras ``kernel`` is
    the ``weight``)."""
    fw = frameworks.framework_of(model) if framework is None else framework
    out: dict[str, Any] = {}
    for name, layer in frameworks.weight_layers(model, fw):
        weight = getattr(layer, "kernel" if fw == "keras" else "weight", None)
        bias = getattr(layer, "bias", None)
        for kind, p in (("weight", weight), ("bias", bias)):
            if p is not None:
                out[f"{name}.{kind}"] = p
    return out


def _lr_multipliers(model: Any, fw: str, given: Mapping[str, float] | None) -> list[tuple[Any, float]]:
    """``lr_multipliers`` checked and resolved to ``[(parameter, factor), ...]``."""
    if given is None:
        return []
    if not isinstance(given, Mapping):
        raise TypeError("lr_multipliers must be a dict {parameter name: factor}, e.g. {'hidden_2.weight': 0.25}; "
                        f"got {type(given).__name__}.")
    params = parameter_names(model, fw)
    out = []
    for name, factor in given.items():
        if name not in params:
            raise ValueError(f"lr_multipliers names {name!r}, which this model does not have; its parameters are "
                             f"{', '.join(params)}.")
        out.append((params[name], check_number(f"lr_multipliers[{name!r}]", factor, low=0.0, low_inclusive=False)))
    return out


# ------------------------------------------------------------------------ train


def train(
    model: Any,
    data: Any,
    *,
    epochs: int,
    batch_size: int = 128,
    optimizer: str = "adam",
    lr: float = 1e-3,
    seed: int = 0,
    loss: str = "cross_entropy",
    validation: bool = True,
    record_steps: bool = False,
    record_grad_norms: bool = False,
    progress: bool | None = None,
    steps_per_execution: int | None = None,
    threads: int | None = None,
    label: str | None = None,
    lr_multipliers: Mapping[str, float] | None = None,
) -> History:
    """Train ``model`` (Keras or PyTorch) on ``data`` and return its :class:`History`.

    Args:
        model: a Keras model or ``torch.nn.Module`` giving logits (e.g. from
            :mod:`course_utils.models`); ``output_activation="softmax"`` models are
            recognised and trained on log-probabilities.
        data: a ``Dataset`` (its test split validates) or ``(x_train, y_train)``
            or ``(x_train, y_train, x_val, y_val)`` NumPy arrays. Class labels are
            integers; ``loss="mse"`` takes real targets shaped like the outputs.
        epochs, batch_size: at least 1.
        optimizer: one of :data:`OPTIMIZERS` (``"momentum"`` is SGD with momentum 0.9),
            with hyper-parameters set equal in both frameworks.
        lr: learning rate.
        seed: seeds shuffling, dropout and Bayesian weight noise (and Python/NumPy).
        loss: ``"cross_entropy"`` (softmax cross-entropy on logits) or ``"mse"``.
        validation: evaluate on the validation data after each epoch.
        record_steps: keep every step's loss in ``History.step_loss``.
        record_grad_norms: keep per-layer gradient norms in ``History.grad_norms``.
        progress: a tqdm progress bar; None = automatic (:func:`show_progress`).
        steps_per_execution: Keras only: steps per graph call (default
            :data:`KERAS_STEPS_PER_EXECUTION`).
        threads: PyTorch only: threads for this run (default :func:`torch_threads_for`: one
            thread for small steps, all usable CPUs for large ones); restored afterwards.
            TensorFlow's thread pool is fixed when it starts (``COURSE_THREADS``).
        label: a name for this run, kept in ``History.config["label"]`` (plots use it).
        lr_multipliers: per-parameter learning-rate factors, ``{"hidden_2.weight": 0.25, ...}``
            (names as :func:`parameter_names` gives them; the rest train at ``lr``): PyTorch
            gets one optimizer parameter group per factor, Keras scales the learning rate
            per variable. How :mod:`course_utils.mup` gives hidden layers ``lr / width multiplier``.

    Determinism: the same seed gives the same History on the same machine (same
    thread count). PyTorch's CPU kernels are deterministic as used here.
    TensorFlow's are too once oneDNN's reordering optimisations are off, which
    :func:`course_utils.frameworks.keras` does (``TF_ENABLE_ONEDNN_OPTS=0``)
    before TensorFlow is imported; ``tests/test_training.py`` checks both.

    Raises:
        ValueError/TypeError naming the argument: unknown optimizer or loss,
        ``epochs < 1``, ``batch_size < 1``, data whose shape does not fit the
        model (the message gives the expected shape), labels out of range.
    """
    fw = frameworks.framework_of(model)
    epochs = check_int("epochs", epochs, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
    lr = check_number("lr", lr, low=0.0, low_inclusive=False)
    seed = check_int("seed", seed, low=0, high=2**32 - 1)
    loss = check_choice("loss", loss, LOSSES)
    for name, flag in (("validation", validation), ("record_steps", record_steps),
                       ("record_grad_norms", record_grad_norms)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False; got {flag!r}.")
    if steps_per_execution is not None:
        steps_per_execution = check_int("steps_per_execution", steps_per_execution, low=1)
    if threads is not None:
        threads = check_int("threads", threads, low=1)
    if label is not None and not isinstance(label, str):
        raise TypeError(f"label must be a string or None; got {label!r}.")
    multipliers = _lr_multipliers(model, fw, lr_multipliers)
    show = show_progress(progress)

    d = _prepare(model, fw, data, loss, validation)
    n = len(d.x)
    steps = math.ceil(n / batch_size)
    path = _path(fw)
    cfg = {
        "framework": fw, "label": label, "epochs": epochs, "batch_size": batch_size, "optimizer": optimizer,
        "lr": lr, "seed": seed, "loss": loss, "n_train": n, "n_val": 0 if d.x_val is None else len(d.x_val),
        "steps_per_epoch": steps, **path.settings(model, d.x, batch_size, steps, steps_per_execution, threads),
    }
    if lr_multipliers:
        cfg["lr_multipliers"] = {name: float(v) for name, v in lr_multipliers.items()}
    hist = History(framework=fw, config=cfg)
    bar = _Bar(show, epochs * steps, label or f"{fw} {optimizer}")
    restore = _set_kl_weights(model, fw, n)
    try:
        path.run(model, d, hist, bar, record_steps, record_grad_norms, lr_multipliers=multipliers)
    finally:
        bar.close()
        for layer, value in restore:
            layer.kl_weight = value
        config.release_memory()  # a run's batches and graphs are freed; give their pages back
    hist.epoch = list(range(1, epochs + 1))
    cfg["seconds_total"] = float(sum(hist.seconds_per_epoch))
    return hist


# ------------------------------------------------------------------ evaluation


def predict_logits(model: Any, x: Any, *, batch_size: int = VAL_BATCH_SIZE) -> np.ndarray:
    """The model's outputs for ``x`` (inference mode: dropout off, Bayesian layers at their means)."""
    batch_size = check_int("batch_size", batch_size, low=1)
    return _predict(model, frameworks.framework_of(model), x, batch_size)


def _predict(model: Any, fw: str, x: Any, batch_size: int) -> np.ndarray:
    return _path(fw).predict(model, _check_x("x", x, frameworks.input_shape_of(model, fw)), batch_size)


#: What :func:`adam_steps` can run: the course's optimizer in each framework, and stock Keras.
ADAM_VARIANTS = ("torch", "keras", "keras_stock")


def adam_steps(gradients: Any, w0: Any, *, variant: str = "torch", optimizer: str = "adam",
               lr: float = 1e-3) -> np.ndarray:
    """The weights after each of ``len(gradients)`` optimizer steps from ``w0``, fed the given gradients.

    ``variant``: ``"torch"`` (``torch.optim.Adam``/``AdamW`` as :func:`train` builds them), ``"keras"``
    (the course's Keras Adam/AdamW, which takes PyTorch's steps: see
    ``_keras_training.fused_adam_classes``), or ``"keras_stock"`` (``keras.optimizers.Adam``/``AdamW``
    with the same epsilon, :data:`ADAM_EPSILON`, which Keras adds before the bias correction, the
    "epsilon hat" of Kingma & Ba 2015, section 2). Same weights and gradients in, so the variants can
    be compared step by step. Returns an array of shape ``(steps, *w0.shape)``, float32.
    """
    variant = check_choice("variant", variant, ADAM_VARIANTS)
    optimizer = check_choice("optimizer", optimizer, ("adam", "adamw"))
    lr = check_number("lr", lr, low=0.0, low_inclusive=False)
    w0 = np.asarray(w0, dtype=np.float32)
    grads = [np.asarray(g, dtype=np.float32) for g in gradients]
    if not grads or any(g.shape != w0.shape for g in grads):
        raise ValueError(f"gradients must be a non-empty sequence of arrays of the weights' shape {w0.shape}; "
                         f"got shapes {[g.shape for g in grads][:3]}.")
    out = []
    if variant == "torch":
        torch = frameworks.torch()
        param = torch.nn.Parameter(torch.tensor(w0))
        opt = _path("torch").optimizer(torch, optimizer, [param], lr)
        for g in grads:
            param.grad = torch.tensor(g)
            opt.step()
            out.append(param.detach().numpy().copy())
        return np.stack(out)
    from . import _keras_training

    keras = frameworks.keras()
    import tensorflow as tf  # loaded by frameworks.keras()

    var = keras.Variable(w0)
    if variant == "keras":
        opt = _keras_training._keras_optimizer(keras, optimizer, lr)
    elif optimizer == "adam":
        opt = keras.optimizers.Adam(learning_rate=lr, epsilon=ADAM_EPSILON)
    else:
        opt = keras.optimizers.AdamW(learning_rate=lr, epsilon=ADAM_EPSILON, weight_decay=ADAMW_WEIGHT_DECAY)
    for g in grads:
        opt.apply_gradients([(tf.constant(g), var)])
        out.append(np.asarray(var).copy())
    return np.stack(out)


def evaluate(model: Any, x: Any, y: Any, *, loss: str = "cross_entropy") -> dict[str, float]:
    """``{"loss": ..., "accuracy": ...}`` of ``model`` on ``(x, y)`` in inference mode (accuracy NaN for mse)."""
    loss = check_choice("loss", loss, LOSSES)
    fw = frameworks.framework_of(model)
    logits = _predict(model, fw, x, VAL_BATCH_SIZE)
    y = _check_y("y", y, len(logits), (None, *logits.shape[1:]), loss)
    probs = _path(fw).ends_with_softmax(model)
    if loss == "mse":
        return {"loss": float(np.mean((logits.astype(np.float64) - y) ** 2)), "accuracy": math.nan}
    z = logits.astype(np.float64).reshape(-1, logits.shape[-1])
    t = y.reshape(-1)
    if probs:
        logp = np.log(np.clip(z, 1e-12, None))
    else:
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    nll = -logp[np.arange(len(t)), t]
    return {"loss": float(nll.mean()), "accuracy": float((z.argmax(axis=1) == t).mean())}


# Keep the environment variable documented in one place: course_utils.frameworks sets it before
# TensorFlow starts; if a learner imported TensorFlow first, determinism of Keras runs is not promised.
_ONEDNN_VAR = "TF_ENABLE_ONEDNN_OPTS"


def keras_deterministic() -> bool:
    """True when TensorFlow runs with oneDNN's reordering optimisations off (the setting that makes
    Keras runs repeatable bit for bit on CPU)."""
    return os.environ.get(_ONEDNN_VAR) == "0"
