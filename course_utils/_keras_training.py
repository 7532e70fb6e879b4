"""The Keras speed path of :func:`course_utils.training.train`: every private Keras detail in one file.

``train`` runs a Keras model through ``model.fit``, tuned (bench/RESULTS.md): Adam's
update in TensorFlow's fused kernel, a recording ``train_step`` for per-step
losses and gradient norms, two measures that keep a run's traced graphs from
staying alive in TensorFlow, and one traced step per architecture (a template
model that runs of the same architecture fit on their own values). They reach
into Keras's private attributes; a Keras upgrade can break them, and this is the
one file where it would. Measured with
Keras 3.15.1 on TensorFlow 2.21.0 (CPU):

=============================================  ===========================================  ==============
private attribute                              what the course does with it                 where
=============================================  ===========================================  ==============
``Optimizer._get_variable_index(variable)``    finds a weight's Adam slots                  fused Adam
``Adam._momentums``, ``Adam._velocities``      the slots the fused kernel updates in place  fused Adam
``Model._loss_tracker``                        the running loss Keras's own step updates    recorder
``Optimizer._all_reduce_sum_gradients``        replaced by the identity on one replica      graph leak
``Optimizer._var_key(variable)``               finds a weight's learning-rate factor        lr_multipliers
``optimizer.update_step``                      an instance's own step scaling the rate      lr_multipliers
``Model._compile_metrics``                     metric totals built eagerly                  graph leak
``model.train_step``, ``model.train_function``  an instance's own step (public, but undocumented as
                                               an instance attribute)                       recorder
=============================================  ===========================================  ==============

tests/test_training.py checks each (fused Adam step by step against ``torch.optim.Adam``/``AdamW``,
and its one intended difference from ``keras.optimizers.Adam``; no graph left registered after a run).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from . import config, frameworks, training
from .training import History, _Bar, _Data, _grad_groups

__all__ = ["ends_with_softmax", "fused_adam_classes", "output_shape", "predict", "run", "settings", "weight_params"]


def output_shape(model: Any, x: np.ndarray) -> tuple[Any, ...] | None:
    """The model's output shape, batch axis as None (None where Keras does not know it yet)."""
    try:
        return tuple(model.output_shape)
    except (AttributeError, ValueError, RuntimeError):
        return None


def ends_with_softmax(model: Any) -> bool:
    """True when the model outputs probabilities (built with output_activation="softmax")."""
    layers = getattr(model, "layers", [])
    return bool(layers) and type(layers[-1]).__name__ == "Softmax"


def weight_params(layer: Any) -> list[Any]:
    """A weight layer's weight matrices (not biases, not a Bayesian layer's rho)."""
    return [w for w in layer.trainable_weights if len(w.shape) >= 2 and "rho" not in w.path]


def settings(model: Any, x: np.ndarray, batch_size: int, steps: int, steps_per_execution: int | None,
             threads: int | None) -> dict[str, Any]:
    """This run's framework settings for ``History.config``: TensorFlow's thread pool is fixed when it
    starts (``COURSE_THREADS``), and a graph call runs a block of steps."""
    return {"threads": config.n_threads(),
            "steps_per_execution": min(steps, steps_per_execution or training.KERAS_STEPS_PER_EXECUTION)}


def predict(model: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    """The model's outputs in inference mode."""
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))

def _keras_optimizer(keras: Any, name: str, lr: float, lr_multipliers: list[tuple[Any, float]] | None = None) -> Any:
    opt = keras.optimizers
    fused = fused_adam_classes(keras)
    made = {
        "sgd": lambda: opt.SGD(learning_rate=lr),
        "momentum": lambda: opt.SGD(learning_rate=lr, momentum=training.MOMENTUM),
        "adam": lambda: fused.Adam(learning_rate=lr, epsilon=training.ADAM_EPSILON),
        "adamw": lambda: fused.AdamW(learning_rate=lr, epsilon=training.ADAM_EPSILON,
                                     weight_decay=training.ADAMW_WEIGHT_DECAY),
        "rmsprop": lambda: opt.RMSprop(learning_rate=lr, rho=training.RMSPROP_RHO),
    }[name]()
    if lr_multipliers:
        _scale_learning_rates(made, lr_multipliers)
    return made


def _scale_learning_rates(optimizer: Any, lr_multipliers: list[tuple[Any, float]]) -> None:
    """Give each variable its own learning rate, ``lr * factor``: an instance ``update_step`` that
    scales the rate Keras hands it (TensorFlow's optimizer calls ``self.update_step(grad, var, lr)``
    once per variable, with the ``tf.Variable`` inside each Keras variable, whence ``_var_key``)."""
    factor = {optimizer._var_key(v): f for v, f in lr_multipliers}
    base = optimizer.update_step

    def update_step(gradient: Any, variable: Any, learning_rate: Any) -> Any:
        f = factor.get(optimizer._var_key(variable), 1.0)
        return base(gradient, variable, learning_rate if f == 1.0 else learning_rate * f)

    optimizer.update_step = update_step


_FUSED: Any = None


def fused_adam_classes(keras: Any) -> Any:
    """Keras's Adam and AdamW with PyTorch's update, done by TensorFlow's fused ``ResourceApplyAdam`` kernel.

    PyTorch's Adam (Kingma & Ba 2015, Algorithm 1) adds epsilon to the bias-corrected second moment::

        w -= lr * m_hat / (sqrt(v_hat) + eps),   m_hat = m / (1 - b1^t),  v_hat = v / (1 - b2^t)

    Keras's ``keras.optimizers.Adam`` (and TensorFlow's kernel) add it before the correction, the
    paper's "epsilon hat" (Section 2)::

        w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)

    which is PyTorch's update with ``eps / sqrt(1 - b2^t)`` in place of ``eps``: with b2 = 0.999 the
    same ``eps`` weighs about 32x more in Keras at step 1, 3.2x at step 100, 1.3x at step 1,000.
    These classes pass ``eps * sqrt(1 - b2^t)`` to the kernel at step t, so that
    ``lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps*sqrt(1-b2^t)) = lr * m_hat / (sqrt(v_hat) + eps)``:
    ``epsilon`` means what PyTorch's ``eps`` means, and a Keras run and a PyTorch run with the same
    epsilon take the same steps (tests/test_training.py: parameters equal after each step to float32
    rounding, for Adam and AdamW; AdamW's decoupled decay ``w -= lr * wd * w`` comes first in both).

    One kernel per weight instead of about a dozen elementwise graph ops: about a quarter of a CPU
    training step for the 784-512-10 MLP (bench/RESULTS.md). Sparse gradients (``tf.IndexedSlices``,
    from embeddings) are made dense for the kernel; ``amsgrad=True`` is refused (no fused kernel).
    """
    global _FUSED
    if _FUSED is not None:
        return _FUSED
    import tensorflow as tf  # loaded by frameworks.keras() already

    def update_step(self: Any, gradient: Any, variable: Any, learning_rate: Any) -> Any:
        if self.amsgrad:
            raise ValueError("the course's fused Adam has no AMSGrad; use keras.optimizers.Adam(amsgrad=True) "
                             "(whose epsilon is Keras's 'epsilon hat', not PyTorch's eps)")
        if isinstance(gradient, tf.IndexedSlices):  # the fused kernel takes dense gradients only
            gradient = tf.convert_to_tensor(gradient)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        beta_2_power = tf.pow(beta_2, step)
        i = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[i].handle, v=self._velocities[i].handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=beta_2_power, lr=tf.cast(learning_rate, dtype),
            beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype) * tf.sqrt(1 - beta_2_power),  # PyTorch's eps: see above
            grad=tf.cast(gradient, dtype), use_locking=False)

    doc = fused_adam_classes.__doc__
    adam = type("FusedAdam", (keras.optimizers.Adam,), {"update_step": update_step, "__doc__": doc})
    adamw = type("FusedAdamW", (keras.optimizers.AdamW,), {"update_step": update_step, "__doc__": doc})
    from types import SimpleNamespace

    _FUSED = SimpleNamespace(Adam=adam, AdamW=adamw)
    return _FUSED


def _keras_callbacks(keras: Any, hist: History, bar: _Bar, steps: int, recorder: Any) -> list[Any]:
    class CourseCallback(keras.callbacks.Callback):
        """Times epochs, moves the progress bar, collects what the recording train_step wrote."""

        async_safe = True  # touches no model state: Keras may keep dispatching callbacks asynchronously

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()
            self.done = 0

        def on_train_batch_end(self, batch, logs=None):
            bar.update(batch + 1 - self.done)
            self.done = batch + 1

        def on_epoch_end(self, epoch, logs=None):
            hist.seconds_per_epoch.append(time.perf_counter() - self.t0)
            if recorder is not None:
                recorder.collect()
            logs = logs or {}
            bar.update(steps - self.done)
            bar.epoch_end(epoch + 1, hist.config["epochs"], {k: float(v) for k, v in logs.items()
                                                             if k in ("loss", "val_loss", "val_accuracy")})

    return [CourseCallback()]


class _KerasRecorder:
    """A train_step that also writes each step's loss and per-layer gradient norms into TF variables."""

    def __init__(self, model: Any, steps: int, record_steps: bool, record_grads: bool) -> None:
        import tensorflow as tf  # loaded by frameworks.keras() already

        self.tf, self.model, self.steps = tf, model, steps
        self.record_steps, self.record_grads = record_steps, record_grads
        self.groups = _grad_groups(model, "keras") if record_grads else []
        index = {id(w): i for i, w in enumerate(model.trainable_weights)}
        self.group_index = [[index[id(w)] for w in ws] for _, ws in self.groups]
        self.step = tf.Variable(0, dtype=tf.int32, trainable=False)
        self.losses = tf.Variable(tf.zeros([steps]), trainable=False)
        self.norm_sum = tf.Variable(tf.zeros([max(1, len(self.groups))]), trainable=False)
        self.step_loss: list[float] = []
        self.grad_norms: dict[str, list[float]] = {name: [] for name, _ in self.groups}

    def train_step(self, data: Any) -> Any:
        tf, model = self.tf, self.model
        x, y = data[0], data[1]
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
        weights = model.trainable_weights
        grads = tape.gradient(loss, weights)
        model.optimizer.apply_gradients(zip(grads, weights, strict=True))
        model._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])  # what Keras's own step does
        if self.record_steps:
            self.losses.scatter_nd_update(tf.reshape(self.step, [1, 1]), tf.reshape(loss, [1]))
        if self.group_index:
            norms = [tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(grads[i])) for i in idx])) for idx in self.group_index]
            self.norm_sum.assign_add(tf.stack(norms))
        self.step.assign_add(1)
        return model.compute_metrics(x, y, y_pred)

    def collect(self) -> None:
        n = int(self.step.numpy())
        if self.record_steps:
            self.step_loss.extend(float(v) for v in self.losses.numpy()[:n])
        sums = self.norm_sum.numpy()
        for k, (name, _) in enumerate(self.groups):
            self.grad_norms[name].append(float(sums[k]) / max(n, 1))
        self.step.assign(0)
        self.norm_sum.assign(self.tf.zeros_like(self.norm_sum))


def _prepare_keras_run(model: Any, d: _Data) -> None:
    """Keep a Keras run from leaving its graphs behind in TensorFlow for the life of the process.

    Measured here (keras-team/keras#17458: "clear_session() does not help"), each ``fit`` of a fresh
    model kept its traced train step alive, about 10 MB for the 784-512-10 MLP, so a notebook that
    trains dozens of models climbs towards Binder's 2 GB. Two things held it:

    - Keras's TensorFlow optimizer sums the gradients over replicas with
      ``replica_context.all_reduce``, whose gradient TensorFlow registers under a new global name
      (``CustomGradient-N``) that references the traced step's graph and is never unregistered. On
      one device (no ``tf.distribute`` strategy) that sum is over one replica: the identity. This
      run's optimizer skips it then.
    - Optimizer slots and metric totals created during tracing, each behind a ``tf.cond`` whose
      branch functions stay registered in TensorFlow's context. They are built here, eagerly.

    Tested: no function and no gradient stays registered after a run (tests/test_training.py).
    """
    import tensorflow as tf  # loaded by frameworks.keras() already

    optimizer = model.optimizer
    if not tf.distribute.has_strategy() and hasattr(optimizer, "_all_reduce_sum_gradients"):
        optimizer._all_reduce_sum_gradients = list  # one replica: the all-reduce sum is the identity
    if not (model.built and model.trainable_variables):
        return  # fit builds an unbuilt model itself
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    metrics = getattr(model, "_compile_metrics", None)  # Keras 3's CompileMetrics; absent if none compiled
    if metrics is not None and not metrics.built and d.y is not None:
        shape = getattr(model, "output_shape", None)
        if isinstance(shape, tuple) and all(isinstance(n, int) for n in shape[1:]):
            metrics.build(d.y[:1], np.zeros((1, *shape[1:]), dtype=np.float32))  # shapes only, no forward pass


def _compile(keras: Any, model: Any, cfg: dict[str, Any], probs: bool,
             lr_multipliers: list[tuple[Any, float]] | None = None) -> None:
    if cfg["loss"] == "cross_entropy":
        loss_obj = keras.losses.SparseCategoricalCrossentropy(from_logits=not probs)
        metrics = ["accuracy"]
    else:
        loss_obj, metrics = keras.losses.MeanSquaredError(), []
    model.compile(optimizer=_keras_optimizer(keras, cfg["optimizer"], cfg["lr"], lr_multipliers), loss=loss_obj, metrics=metrics,
                  steps_per_execution=cfg["steps_per_execution"],
                  jit_compile=False)  # XLA makes this CPU training several times slower (bench/RESULTS.md)


# ------------------------------------------------------------------ one traced step per architecture
# Keras traces a new model's train step on its first fit: 0.2-1 CPU s (a 30-layer MLP: about 1 s of a
# 10-epoch run's 3.5 s), paid again by every model of a sweep. A private template per architecture and
# training setup keeps its traced step: a run copies its model's variables in (weights, normalization
# statistics, dropout seed states), resets the template's optimizer, fits the template and copies the
# variables back. The same graph on the same values: the run's numbers are those of fitting the model
# itself, to the last bit (tests/test_training.py), at a fraction of the CPU.

#: How many templates a kernel keeps (least recently used dropped): each holds its traced functions.
MAX_TEMPLATES = 8
_TEMPLATES: dict[str, Any] = {}
#: Layer classes a template may hold: Keras's own, whose config says everything the layer does (a custom
#: layer's config might not, and its clone would then train another model).
_STOCK = "keras.src.layers."


def _template_key(model: Any, cfg: dict[str, Any], probs: bool) -> str | None:
    """What a template must share with the model: the layers' configs (without names, initializers and
    seeds, whose values are copied in), the variables' shapes and the compile and fit settings."""
    import json

    try:
        layers = frameworks.flat_layers(model, "keras")
        if not layers or not all(type(layer).__module__.startswith(_STOCK) for layer in layers):
            return None
        if type(model).__name__ not in ("Sequential", "Functional") or not (model.built and model.variables):
            return None  # an unbuilt model gets its variables during fit: nothing to copy in before

        def strip(obj: Any) -> Any:
            if isinstance(obj, dict):
                return {k: strip(v) for k, v in obj.items()
                        if k not in ("name", "kernel_initializer", "bias_initializer", "seed")}
            if isinstance(obj, list):
                return [strip(v) for v in obj]
            return obj

        arch = strip(model.get_config())
        shapes = [(tuple(v.shape), str(v.dtype)) for v in model.variables]
    except Exception:  # noqa: BLE001 - a model Keras cannot describe trains as before, without a template
        return None
    setup = {k: cfg[k] for k in ("optimizer", "loss", "steps_per_execution")}
    return json.dumps([arch, shapes, setup, probs], sort_keys=True, default=str)


def _template(keras: Any, model: Any, cfg: dict[str, Any], probs: bool, d: _Data) -> Any:
    """The template for this model and setup, made on first use (None where the model may not have one)."""
    key = _template_key(model, cfg, probs) if MAX_TEMPLATES > 0 else None
    if key is None:
        return None
    tmpl = _TEMPLATES.pop(key, None)
    if tmpl is None:
        try:
            tmpl = keras.models.clone_model(model)
        except Exception:  # noqa: BLE001
            return None
        if [tuple(v.shape) for v in tmpl.variables] != [tuple(v.shape) for v in model.variables]:
            return None
        _compile(keras, tmpl, cfg, probs)
        _prepare_keras_run(tmpl, d)
        while len(_TEMPLATES) >= MAX_TEMPLATES:
            _TEMPLATES.pop(next(iter(_TEMPLATES)))
    _TEMPLATES[key] = tmpl  # most recently used last
    return tmpl


def forget_templates() -> None:
    """Drop every template (and with them their traced functions)."""
    _TEMPLATES.clear()


def _copy(targets: list[Any], sources: list[Any]) -> None:
    for target, source in zip(targets, sources, strict=True):
        target.assign(source)


def _load_template(tmpl: Any, model: Any, lr: float) -> None:
    """The template as the model would start its fit: its values, a fresh optimizer at this rate."""
    _copy(tmpl.variables, model.variables)
    for v in tmpl.optimizer.variables:  # the step count, the rate and every slot, as just built
        v.assign(np.zeros(v.shape, dtype=v.dtype))
    tmpl.optimizer.learning_rate = lr


def run(model: Any, d: _Data, hist: History, bar: _Bar, record_steps: bool, record_grads: bool,
        lr_multipliers: list[tuple[Any, float]] | None = None) -> None:
    """Train ``model`` as ``hist.config`` says, filling ``hist`` (the Keras half of :func:`training.train`)."""
    keras = frameworks.keras()
    cfg = hist.config
    probs = ends_with_softmax(model)
    # Made before the seed is set: building a template draws initial weights, which must not move the
    # random state the run's shuffling starts from.
    tmpl = None
    if not (record_steps or record_grads or lr_multipliers):
        tmpl = _template(keras, model, cfg, probs, d)
    config.set_seed(cfg["seed"])
    _compile(keras, model, cfg, probs, lr_multipliers)
    _prepare_keras_run(model, d)
    recorder = None
    if record_steps or record_grads:
        recorder = _KerasRecorder(model, cfg["steps_per_epoch"], record_steps, record_grads)
        model.train_step = recorder.train_step  # an instance attribute: Keras's fit picks it up
        model.train_function = None
    trainer = model
    if tmpl is not None:
        _load_template(tmpl, model, cfg["lr"])
        trainer = tmpl
    val = (d.x_val, d.y_val) if d.x_val is not None else None
    try:
        out = trainer.fit(d.x, d.y, batch_size=cfg["batch_size"], epochs=cfg["epochs"], verbose=0, shuffle=True,
                          validation_data=val, validation_batch_size=training.VAL_BATCH_SIZE,
                          callbacks=_keras_callbacks(keras, hist, bar, cfg["steps_per_epoch"], recorder))
    finally:
        if recorder is not None:
            del model.train_step
            model.train_function = None
        if tmpl is not None:  # the model ends trained, its optimizer where the template's is
            _copy(model.variables, tmpl.variables)
            if len(model.optimizer.variables) == len(tmpl.optimizer.variables):
                _copy(model.optimizer.variables, tmpl.optimizer.variables)
    logs = out.history
    n_ep = cfg["epochs"]
    nan = [math.nan] * n_ep
    hist.loss = [float(v) for v in logs["loss"]]
    hist.accuracy = [float(v) for v in logs.get("accuracy", nan)]
    hist.val_loss = [float(v) for v in logs.get("val_loss", nan)]
    hist.val_accuracy = [float(v) for v in logs.get("val_accuracy", nan)]
    if recorder is not None:
        hist.step_loss = recorder.step_loss if record_steps else None
        hist.grad_norms = recorder.grad_norms if record_grads else None


