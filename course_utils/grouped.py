"""Grouped training: K runs of the same MLP (other seeds, other initializers, other learning rates)
trained as one batched computation, each with the History it would have had alone.

Most of the course's training time is the same small network trained again and again for
another seed or another initializer, one tiny matrix product at a time, where the per-step
overhead (Python, the framework's dispatch, the optimizer's launch) dominates. Stacking the K
members' weights along a leading *group* axis turns K small products into one batched product
(``torch.baddbmm`` / ``tf.matmul`` on ``(K, batch, in) x (K, in, out)``) and K optimizer calls into
one, so the overhead is paid once per group step instead of once per member step
(measured in ``bench/RESULTS.md``, section "Grouped training").

What each member keeps, exactly as in a run of :func:`course_utils.training.train`:

* its initial weights: the K models are built by :func:`course_utils.models.build_mlp` (or given)
  and their weights stacked, so member k starts from the draw its solo model would have;
* its data order: members shuffle as their solo run with their seed would (PyTorch: a
  ``randperm`` per epoch from a generator seeded with the seed; Keras: the index order of
  ``model.fit``'s own shuffling, read from the same Keras data pipeline seeded the same way);
* its dropout masks: PyTorch: a generator per member seeded as the solo run seeds the global one;
  Keras: the model's own Dropout layers' seed generators;
* its optimizer state and learning rate: Adam is elementwise, so one Adam over the stacked weights
  is K independent Adams. With one learning rate for the group this is the same fused kernel
  that ``train`` uses; with per-member rates the same update is written out with the rate as a
  per-member scale (PyTorch's formula in both frameworks, as ``train`` runs Adam);
* its :class:`~course_utils.training.History`, the same fields as alone. ``seconds_per_epoch`` is
  the group's epoch time divided by K (each member's share); ``config["group_size"]`` says K.

Numbers agree with the solo runs to float32 rounding: PyTorch runs the solo run's own products
(mostly bit for bit); Keras's batched matmul sums in another order than ``Dense``'s (1e-7 per step;
``tests/test_grouped.py`` states the tolerance). In deep nets Adam grows such differences as it grows
any rounding difference (a 30-layer net, one epoch: ~2e-4 in PyTorch, percent-level in Keras, as two
machines would differ; ``bench/RESULTS.md``): the same statistics, not the same digits.

Supported: the MLPs of :func:`~course_utils.models.build_mlp` (dense + activation, optional
dropout, logits out), softmax cross-entropy, the optimizers of :data:`OPTIMIZERS` as ``train``
configures them (Adam's epsilon :data:`~course_utils.training.ADAM_EPSILON`, fused kernels,
momentum 0.9). Other models or settings raise a :class:`GroupingError` that says what to do instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _keras_training, _torch_training, config, frameworks, training
from ._validation import check_choice, check_int, check_number

__all__ = ["OPTIMIZERS", "Member", "GroupingError", "train_group", "train_models", "signature"]

#: The optimizers a group can use: elementwise updates, so one optimizer over the stacked weights is K
#: independent ones (RMSprop would be too, AdamW's weight decay too: not written out yet).
OPTIMIZERS = ("adam", "sgd", "momentum")

#: Adam's decay rates, the two frameworks' shared defaults (Kingma & Ba 2015).
_BETA_1, _BETA_2 = 0.9, 0.999


class GroupingError(ValueError):
    """Runs that cannot be trained as one group (other architecture, unsupported layer or setting)."""


@dataclass(frozen=True)
class Member:
    """One run of a group: its initializer, seed, learning rate and label.

    Attributes:
        init: registry name or Initializer for the weights (``build_mlp``'s ``init``).
        seed: seeds the weights (``build_mlp``), the data order and the dropout masks (``train``).
        lr: this member's learning rate; None = the group's ``lr``.
        label: kept in ``History.config["label"]``; None = ``"<init> seed <seed>"``.
        options: other ``build_mlp`` arguments for this member only (``output_init``, ``bias_init``,
            ...); arguments that change the architecture make the member ungroupable.
    """

    init: Any = "he_normal"
    seed: int = 0
    lr: float | None = None
    label: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def _as_member(i: int, spec: Any) -> Member:
    if isinstance(spec, Member):
        return spec
    if isinstance(spec, Mapping):
        spec = dict(spec)
        known = {k: spec.pop(k) for k in ("init", "seed", "lr", "label") if k in spec}
        opts = dict(spec.pop("options", {}))
        opts.update(spec)
        return Member(**known, options=opts)
    raise TypeError(f"specs[{i}] must be a grouped.Member or a dict such as {{'init': 'he_normal', 'seed': 0}}; "
                    f"got {type(spec).__name__}.")


# ------------------------------------------------------------------ architecture


def _torch_plan(model: Any) -> list[tuple[Any, ...]]:
    """The model as a list of steps: ("dense", module), ("act", module, key), ("dropout", p)."""
    nn = frameworks.torch().nn
    children = list(model.children()) if isinstance(model, nn.Sequential) else None
    if not children:
        raise GroupingError("grouped training takes torch.nn.Sequential MLPs such as models.build_mlp('torch', ...) "
                            f"builds; got {type(model).__name__}.")
    plan: list[tuple[Any, ...]] = []
    for m in children:
        if type(m) is nn.Linear:
            plan.append(("dense", m))
        elif type(m) is nn.Dropout:
            plan.append(("dropout", float(m.p)))
        elif not list(m.parameters()) and type(m).__module__.startswith("torch.nn.modules.activation") or (
                type(m) is nn.Identity):
            if type(m).__name__ == "Softmax":
                raise GroupingError("grouped training needs a model that outputs logits (build_mlp's "
                                    "output_activation=None); this one ends in a softmax.")
            plan.append(("act", m, repr(m)))
        else:
            raise GroupingError(f"grouped training supports dense, activation and dropout layers (build_mlp's MLPs); "
                                f"this model has a {type(m).__name__}. Train it with training.train.")
    return plan


def _keras_plan(model: Any) -> list[tuple[Any, ...]]:
    keras = frameworks.keras()
    layers = getattr(model, "layers", None)
    if not isinstance(model, keras.Sequential) or not layers:
        raise GroupingError("grouped training takes keras.Sequential MLPs such as models.build_mlp('keras', ...) "
                            f"builds; got {type(model).__name__}.")
    plan: list[tuple[Any, ...]] = []
    for layer in layers:
        kind = type(layer).__name__
        if kind == "Dense":
            act = getattr(layer.activation, "__name__", "?")
            if act != "linear":
                raise GroupingError(f"grouped training needs Dense layers without a built-in activation "
                                    f"(build_mlp's); layer {layer.name!r} has activation={act!r}.")
            plan.append(("dense", layer))
        elif kind == "Dropout":
            if layer.noise_shape is not None:
                raise GroupingError(f"dropout layer {layer.name!r} has a noise_shape: not supported in a group.")
            plan.append(("dropout", float(layer.rate), layer))
        elif kind in ("Activation", "LeakyReLU", "ReLU", "ELU"):
            if kind == "Activation" and getattr(layer.activation, "__name__", "") == "softmax":
                raise GroupingError("grouped training needs a model that outputs logits (build_mlp's "
                                    "output_activation=None); this one ends in a softmax.")
            key = kind + ":" + getattr(getattr(layer, "activation", None), "__name__", "") + ":" + str(
                getattr(layer, "negative_slope", ""))
            plan.append(("act", layer, key))
        elif kind == "Softmax":
            raise GroupingError("grouped training needs a model that outputs logits (build_mlp's "
                                "output_activation=None); this one ends in a softmax.")
        else:
            raise GroupingError(f"grouped training supports Dense, activation and Dropout layers (build_mlp's MLPs); "
                                f"this model has a {kind} ({layer.name!r}). Train it with training.train.")
    return plan


def signature(model: Any) -> tuple[Any, ...]:
    """What must be equal for two models to train in one group: framework and, layer by layer, the
    kind, the weight shapes, the activation and the dropout rate (never the weights' values)."""
    fw = frameworks.framework_of(model)
    plan = _torch_plan(model) if fw == "torch" else _keras_plan(model)
    out: list[Any] = [fw]
    for step in plan:
        if step[0] == "dense":
            m = step[1]
            if fw == "torch":
                out.append(("dense", tuple(m.weight.shape), m.bias is not None))
            else:
                out.append(("dense", tuple(m.kernel.shape), m.bias is not None))
        elif step[0] == "dropout":
            out.append(("dropout", step[1]))
        else:
            out.append(("act", step[2]))
    return tuple(out)


def _describe(sig: tuple[Any, ...]) -> str:
    parts = []
    for s in sig[1:]:
        if s[0] == "dense":
            parts.append(f"dense {s[1][0] if sig[0] == 'keras' else s[1][1]}->{s[1][1] if sig[0] == 'keras' else s[1][0]}")
        elif s[0] == "dropout":
            parts.append(f"dropout {s[1]}")
        else:
            parts.append(str(s[1]).split(":")[0].split("(")[0])
    return " | ".join(parts)


def _check_groupable(models: Sequence[Any], labels: Sequence[str]) -> str:
    if not models:
        raise GroupingError("a group needs at least one model.")
    fws = {frameworks.framework_of(m) for m in models}
    if len(fws) > 1:
        raise GroupingError(f"all members of a group must be of one framework; got {sorted(fws)}.")
    sigs = [signature(m) for m in models]
    for k, sig in enumerate(sigs[1:], 1):
        if sig != sigs[0]:
            first = next((j for j, (a, b) in enumerate(zip(sig[1:], sigs[0][1:], strict=False)) if a != b),
                         min(len(sig), len(sigs[0])) - 1)
            raise GroupingError(
                f"member {k} ({labels[k]!r}) has another architecture than member 0 ({labels[0]!r}): they differ at "
                f"layer {first + 1}.\n  member 0: {_describe(sigs[0])}\n  member {k}: {_describe(sig)}\n"
                "Members of one group share the architecture (and the data); put the others in another group, "
                "or train them with training.train.")
    return fws.pop()


# --------------------------------------------------------------------- public API


def train_group(
    framework: str,
    specs: Sequence[Any],
    data: Any,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    optimizer: str = "adam",
    validation: bool = True,
    record_steps: bool = False,
    progress: bool | None = None,
    threads: int | None = None,
    **mlp: Any,
) -> list[training.History]:
    """Build one :func:`~course_utils.models.build_mlp` model per member and train them as one group.

    Example: notebook 06's deep ReLU nets, two schemes x three seeds, one group::

        specs = [{"init": i, "seed": s} for i in ("he_normal", "glorot_normal") for s in (0, 1, 2)]
        hists = grouped.train_group("torch", specs, data, epochs=5, hidden=128, depth=30)

    Args:
        framework: ``"keras"`` or ``"torch"``.
        specs: one :class:`Member` (or dict with its fields; other keys are ``build_mlp`` arguments)
            per run.
        data: as :func:`course_utils.training.train` takes it.
        epochs, batch_size, validation, record_steps, progress: as ``train``'s.
        lr: the learning rate of members whose spec gives none.
        optimizer: one of :data:`OPTIMIZERS`, configured as ``train`` configures it.
        threads: PyTorch only: threads for the group (default: what ``train`` gives one member, so
            that each member's numbers are its solo run's to the last bit).
        **mlp: ``build_mlp`` arguments shared by all members (``hidden``, ``depth``, ``activation``,
            ``dropout``, ``n_classes``, ...); ``input_dim`` defaults to the data's features.

    Returns:
        One :class:`~course_utils.training.History` per spec, in order, as ``train`` would have returned
        for that member alone (to float32 reassociation).

    Raises:
        GroupingError: members whose architectures differ (the message shows both), or a model
        grouped training does not support.
    """
    from . import models

    if isinstance(specs, (str, bytes, Mapping)) or not isinstance(specs, Sequence) or not specs:
        raise TypeError("specs must be a non-empty list of grouped.Member or dicts, one per run.")
    members = [_as_member(i, s) for i, s in enumerate(specs)]
    mlp = dict(mlp)
    if "input_dim" not in mlp:
        x = training._unpack(data)[0]
        shape = np.shape(x)
        if len(shape) != 2:
            raise ValueError(f"grouped MLPs take flat inputs (n, features); x_train has shape {shape}. "
                             "Load the data with load_dataset(..., flatten=True).")
        mlp["input_dim"] = int(shape[1])
    for key in ("init", "seed"):
        if key in mlp:
            raise TypeError(f"{key} is per member: give it in each spec, not to train_group.")
    built = []
    labels = []
    for m in members:
        kwargs = {**mlp, **dict(m.options), "init": m.init, "seed": m.seed}
        built.append(models.build_mlp(framework, **kwargs))
        init_name = m.init if isinstance(m.init, str) else getattr(m.init, "label", str(m.init))
        labels.append(m.label if m.label is not None else f"{init_name} seed {m.seed}")
    return train_models(built, data, seeds=[m.seed for m in members],
                        lrs=[lr if m.lr is None else m.lr for m in members], labels=labels, epochs=epochs,
                        batch_size=batch_size, optimizer=optimizer, validation=validation, record_steps=record_steps,
                        progress=progress, threads=threads)


def train_models(
    models: Sequence[Any],
    data: Any,
    *,
    epochs: int,
    seeds: Sequence[int] | int = 0,
    lrs: Sequence[float] | float = 1e-3,
    labels: Sequence[str | None] | None = None,
    batch_size: int = 128,
    optimizer: str = "adam",
    validation: bool = True,
    record_steps: bool = False,
    progress: bool | None = None,
    threads: int | None = None,
) -> list[training.History]:
    """Train K built models of one architecture as one group, in place (as ``train`` trains one).

    ``seeds[k]`` and ``lrs[k]`` are what ``training.train(models[k], data, seed=..., lr=...)`` would be
    given. Returns one History per model. See :func:`train_group` for the rest.
    """
    if isinstance(models, (str, bytes)) or not isinstance(models, Sequence):
        raise TypeError("models must be a list of models of one architecture.")
    k = len(models)
    seeds = [seeds] * k if isinstance(seeds, (int, np.integer)) else list(seeds)
    lrs = [lrs] * k if isinstance(lrs, (int, float)) else list(lrs)
    labels = [None] * k if labels is None else list(labels)
    for name, seq in (("seeds", seeds), ("lrs", lrs), ("labels", labels)):
        if len(seq) != k:
            raise ValueError(f"{name} must have one entry per model ({k}); got {len(seq)}.")
    seeds = [check_int(f"seeds[{i}]", s, low=0, high=2**32 - 1) for i, s in enumerate(seeds)]
    lrs = [check_number(f"lrs[{i}]", v, low=0.0, low_inclusive=False) for i, v in enumerate(lrs)]
    epochs = check_int("epochs", epochs, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    if optimizer in training.OPTIMIZERS and optimizer not in OPTIMIZERS:
        raise GroupingError(f"grouped training supports the optimizers {OPTIMIZERS}; {optimizer!r} is not one yet. "
                            "Train these runs with training.train.")
    optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
    if threads is not None:
        threads = check_int("threads", threads, low=1)
    fw = _check_groupable(models, [lb or f"#{i}" for i, lb in enumerate(labels)])
    show = training.show_progress(progress)

    d = training._prepare(models[0], fw, data, "cross_entropy", validation)
    n = len(d.x)
    steps = math.ceil(n / batch_size)
    if fw == "torch":
        # the solo run's thread count: another would cut the sums and the optimizer's lanes elsewhere
        n_threads = training.torch_threads_for(models[0], d.x, batch_size) if threads is None else threads
    else:
        n_threads = config.n_threads()
    hists = []
    for i in range(k):
        cfg = {
            "framework": fw, "label": labels[i], "epochs": epochs, "batch_size": batch_size, "optimizer": optimizer,
            "lr": lrs[i], "seed": seeds[i], "loss": "cross_entropy", "n_train": n,
            "n_val": 0 if d.x_val is None else len(d.x_val), "steps_per_epoch": steps, "threads": n_threads,
        }
        if fw == "keras":
            cfg["steps_per_execution"] = steps
        cfg["group_size"] = k
        hists.append(training.History(framework=fw, config=cfg))
    bar = training._Bar(show, epochs * steps, f"{fw} group of {k}")
    try:
        if fw == "torch":
            _train_torch(models, d, hists, seeds, lrs, optimizer, epochs, batch_size, record_steps, bar, n_threads)
        else:
            _train_keras(models, d, hists, seeds, lrs, optimizer, epochs, batch_size, record_steps, bar)
    finally:
        bar.close()
        config.release_memory()
    for h in hists:
        h.epoch = list(range(1, epochs + 1))
        h.config["seconds_total"] = float(sum(h.seconds_per_epoch))
    return hists


# ------------------------------------------------------------------------ PyTorch


def _train_torch(models: Sequence[Any], d: Any, hists: list[training.History], seeds: list[int], lrs: list[float],
                 optimizer: str, epochs: int, bs: int, record_steps: bool, bar: Any, n_threads: int) -> None:
    torch = frameworks.torch()
    # Whatever calls frameworks.torch() (which re-applies the course's thread limit) runs before this
    # run's own thread count is set, as in training.train: a step on other threads sums otherwise.
    _group_linear()
    stacked = _torch_stack(torch, models)
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        _torch_loop(torch, models, stacked, d, hists, seeds, lrs, optimizer, epochs, bs, record_steps, bar)
    finally:
        torch.set_num_threads(previous)


def _torch_stack(torch: Any, models: Sequence[Any]) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """Stacked steps: ("dense", W (K, out, in), b (K, 1, out) or None, modules), ("act", module), ("dropout", p).

    W keeps PyTorch's own (out, in) layout and is used transposed, as ``nn.Linear`` uses its weight: the
    batched product then runs the same matrix kernel per member as the solo run (with a contiguous
    (in, out) copy, the 10-wide output layer's product summed in another order: 1e-5 apart)."""
    plans = [_torch_plan(m) for m in models]
    steps: list[tuple[Any, ...]] = []
    params: list[Any] = []
    for j, ref in enumerate(plans[0]):
        if ref[0] == "dense":
            wt = torch.stack([p[j][1].weight.detach() for p in plans]).requires_grad_()
            b = None
            if ref[1].bias is not None:
                b = torch.stack([p[j][1].bias.detach() for p in plans]).unsqueeze(1).contiguous().requires_grad_()
            steps.append(("dense", wt, b, [p[j][1] for p in plans]))
            params += [wt] + ([b] if b is not None else [])
        else:
            steps.append(ref)
    return steps, params


_GROUP_LINEAR: Any = None
#: Dense layers with fewer outputs than this get their weight gradient one member at a time (see
#: _group_linear): 10-wide output layers do; 128- and 512-wide hidden layers were exact batched.
_LOOP_BELOW = 32


def _group_linear() -> Any:
    """``baddbmm(b, x, W^T)`` over the group axis, with the backward that ``nn.Linear`` computes.

    Autograd's ``bmm`` backward gives the weight's gradient as ``(x^T g)^T``; ``nn.Linear``'s (``addmm``
    with a transposed weight) computes ``g^T x`` directly. The two sum alike but run other kernels, and
    for the 10-wide output layer they round differently (1e-8): in a deep net trained with Adam such a
    difference grows to percent-level within a few dozen steps. With the same products in the same
    layouts as the solo run, a member's numbers are the solo run's bit for bit (tests/test_grouped.py).
    One exception measured here (MKL, AMD EPYC): for a narrow layer (the 10 logits) the batched
    ``g^T x`` of 2+ members runs another kernel than the single product and differs by 5e-9, so such
    a layer's weight gradient is one ``mm`` per member (:data:`_LOOP_BELOW` outputs; a few small calls).
    """
    global _GROUP_LINEAR
    if _GROUP_LINEAR is not None:
        return _GROUP_LINEAR
    torch = frameworks.torch()

    class GroupLinear(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, w: Any, b: Any, loop_grad_w: bool) -> Any:
            ctx.save_for_backward(x, w)
            ctx.has_bias, ctx.loop_grad_w = b is not None, loop_grad_w
            wt = w.transpose(1, 2)
            return torch.bmm(x, wt) if b is None else torch.baddbmm(b, x, wt)

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            x, w = ctx.saved_tensors
            gx = torch.bmm(g, w) if ctx.needs_input_grad[0] else None  # nn.Linear: g @ W
            gw = None
            if ctx.needs_input_grad[1]:  # nn.Linear: g^T @ x
                gt = g.transpose(1, 2)
                gw = torch.stack([gt[k].mm(x[k]) for k in range(len(x))]) if ctx.loop_grad_w else torch.bmm(gt, x)
            gb = g.sum(1, keepdim=True) if ctx.has_bias and ctx.needs_input_grad[2] else None  # sum over the batch
            return gx, gw, gb, None

    _GROUP_LINEAR = GroupLinear
    return GroupLinear


def _torch_forward(torch: Any, steps: list[tuple[Any, ...]], h: Any, gens: list[Any] | None) -> Any:
    """h: (K, B, in); gens: per-member dropout generators (None: eval)."""
    for step in steps:
        kind = step[0]
        if kind == "dense":
            w, b = step[1], step[2]
            h = _group_linear().apply(h, w, b, w.shape[1] < _LOOP_BELOW)
        elif kind == "act":
            h = step[1](h)
        elif gens is not None and step[1] > 0:
            # What torch's CPU dropout does (Dropout.cpp, _dropout_impl): noise ~ Bernoulli(1 - p),
            # noise /= 1 - p, out = x * noise; here each member's noise from its own generator.
            p = step[1]
            noise = torch.empty_like(h)
            for k, g in enumerate(gens):
                noise[k].bernoulli_(1 - p, generator=g)
            noise.div_(1 - p)
            h = h * noise
    return h


#: A stacked parameter goes to the optimizer whole when each member's share is a multiple of this many
#: numbers: whole vector lanes (up to 64 floats wide), so the kernel computes every member's numbers
#: with the instructions its solo run uses.
_LANES = 64


class _OptimizerParams:
    """What the optimizer updates: stacked tensors where that gives each member its solo numbers, else
    each member's own views of them.

    A fused optimizer kernel runs its vector loop over a tensor and finishes the remainder with scalar
    code, and the two may round differently (fused multiply-add). A 10-wide bias alone is all
    remainder; stacked for 8 members, 80 numbers, it is mostly vector lanes: the last bit moved, and
    Adam grew that into percent-level differences in deep nets within an epoch. So a parameter whose
    member share is not whole lanes, or any parameter when members' learning rates differ (a parameter
    group per member) or the step runs on several threads (which cut a tensor where they like), is
    given as per-member views, one tensor per solo parameter. Through both, a member's numbers are its
    solo run's to the last bit (tests/test_grouped.py); whole stacked tensors save the per-tensor cost.
    """

    def __init__(self, params: list[Any], lrs: list[float], n_threads: int) -> None:
        k = len(lrs)
        whole = len(set(lrs)) == 1 and n_threads == 1
        self.stacked, self.split = [], []
        for p in params:
            (self.stacked if whole and p[0].numel() % _LANES == 0 else self.split).append(p)
        self.views = [[(p[j, 0] if p.dim() == 3 and p.shape[1] == 1 else p[j]).detach().requires_grad_()
                       for p in self.split] for j in range(k)]
        self.groups = ([{"params": self.stacked, "lr": lrs[0]}] if self.stacked else []) + [
            {"params": vs, "lr": lr} for vs, lr in zip(self.views, lrs, strict=True) if vs]

    def take_grads(self) -> None:
        """Hand each view its member's slice of the stacked gradient (the stacked ones have theirs)."""
        for j, views in enumerate(self.views):
            for view, p in zip(views, self.split, strict=True):
                view.grad = p.grad[j].view_as(view)


def _torch_loop(torch: Any, models: Sequence[Any], stacked: Any, d: Any, hists: list[training.History], seeds: list[int],
                lrs: list[float], optimizer: str, epochs: int, bs: int, record_steps: bool, bar: Any) -> None:
    F = torch.nn.functional
    k = len(models)
    steps, params = stacked
    targets = _OptimizerParams(params, lrs, torch.get_num_threads())
    opt = _torch_training.optimizer(torch, optimizer, targets.groups, lrs[0])  # train()'s own optimizer
    # train() seeds torch's global generator with the run's seed (it draws the dropout masks) and a
    # separate generator for the shuffling: one of each per member here.
    config.set_seed(seeds[0])
    drop_gens = [torch.Generator().manual_seed(s) for s in seeds]
    uniq = sorted(set(seeds))
    shuffles = {s: torch.Generator().manual_seed(s) for s in uniq}
    X, Y = torch.from_numpy(d.x), torch.from_numpy(d.y)
    n = len(X)
    n_steps = math.ceil(n / bs)
    shared = len(uniq) == 1
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        perms = {s: torch.randperm(n, generator=g) for s, g in shuffles.items()}
        order = torch.stack([perms[s] for s in seeds])  # (K, n)
        loss_sum = torch.zeros(k)
        correct = torch.zeros(k, dtype=torch.int64)
        losses = torch.zeros(n_steps, k) if record_steps else None
        for i, start in enumerate(range(0, n, bs)):
            idx = order[:, start:start + bs]
            if shared:
                xb = X.index_select(0, idx[0]).expand(k, -1, -1)
                yb = Y.index_select(0, idx[0]).expand(k, -1)
            else:
                xb = X[idx]
                yb = Y[idx]
            b = idx.shape[1]
            out = _torch_forward(torch, steps, xb, drop_gens)
            # one mean-reduced cross-entropy per member, as the solo run computes it (a flat loss with
            # reduction="none" and .mean(1) gives the same gradient but rounds the reported loss otherwise)
            per = torch.stack([F.cross_entropy(out[j], yb[j]) for j in range(k)])
            for p in params:
                p.grad = None
            per.sum().backward()  # members are independent: each one's gradient is that of its own mean loss
            targets.take_grads()
            opt.step()
            with torch.no_grad():
                lb = per.detach()
                loss_sum.add_(lb, alpha=b)
                correct += (out.argmax(-1) == yb).sum(1)
                if losses is not None:
                    losses[i] = lb
            bar.update(1)
        if d.x_val is not None:
            vl, va = _torch_evaluate(torch, steps, torch.from_numpy(d.x_val), torch.from_numpy(d.y_val), k)
        else:
            vl = va = [math.nan] * k
        seconds = (time.perf_counter() - t0) / k
        loss_l, correct_l = loss_sum.tolist(), correct.tolist()
        for j, h in enumerate(hists):
            h.loss.append(loss_l[j] / n)
            h.accuracy.append(correct_l[j] / n)
            h.val_loss.append(vl[j])
            h.val_accuracy.append(va[j])
            h.seconds_per_epoch.append(seconds)
            if losses is not None:
                h.step_loss = (h.step_loss or []) + losses[:, j].tolist()
        bar.epoch_end(epoch, epochs, {"loss": float(np.mean(loss_l)) / n})
    # Write the trained weights back: the models end trained, as after training.train.
    with torch.no_grad():
        for step in steps:
            if step[0] == "dense":
                for j, m in enumerate(step[3]):
                    m.weight.copy_(step[1][j])
                    if step[2] is not None:
                        m.bias.copy_(step[2][j, 0])
    for m in models:
        m.eval()


def _torch_evaluate(torch: Any, steps: list[tuple[Any, ...]], X: Any, Y: Any, k: int) -> tuple[list[float], list[float]]:
    F = torch.nn.functional
    total = torch.zeros(k, dtype=torch.float64)
    correct = torch.zeros(k, dtype=torch.int64)
    with torch.inference_mode():
        for start in range(0, len(X), training.VAL_BATCH_SIZE):
            xb, yb = X[start:start + training.VAL_BATCH_SIZE], Y[start:start + training.VAL_BATCH_SIZE]
            # the solo run's products and its mean loss per batch, member by member: the same numbers
            out = _torch_forward(torch, steps, xb.expand(k, -1, -1), None)
            per = torch.stack([F.cross_entropy(out[j], yb) for j in range(k)])
            total += per.double() * len(xb)
            correct += (out.argmax(-1) == yb).sum(1)
    return (total / len(X)).tolist(), (correct.double() / len(Y)).tolist()


# -------------------------------------------------------------------------- Keras


def _keras_orders(seed: int, n: int, bs: int, epochs: int) -> np.ndarray:
    """The example order of each epoch of ``model.fit(x, y, batch_size=bs, shuffle=True)`` after
    ``config.set_seed(seed)``, shape (epochs, n): read from Keras's own array pipeline fed with the
    indices 0..n-1 (its shuffle is ``tf.random.shuffle`` under the global seed, redrawn per epoch)."""
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    config.set_seed(seed)
    ds = ArrayDataAdapter(np.arange(n, dtype=np.int64), batch_size=bs, shuffle=True).get_tf_dataset()
    out = []
    for _ in range(epochs):
        out.append(np.concatenate([np.asarray(b[0] if isinstance(b, tuple) else b) for b in ds]))
    return np.stack(out)


def _train_keras(models: Sequence[Any], d: Any, hists: list[training.History], seeds: list[int], lrs: list[float],
                 optimizer: str, epochs: int, bs: int, record_steps: bool, bar: Any) -> None:
    keras = frameworks.keras()
    import tensorflow as tf  # loaded by frameworks.keras()

    k = len(models)
    n = len(d.x)
    plans = [_keras_plan(m) for m in models]
    uniq = sorted(set(seeds))
    orders = {s: _keras_orders(s, n, bs, epochs) for s in uniq}
    config.set_seed(seeds[0])
    steps: list[tuple[Any, ...]] = []
    variables: list[Any] = []
    for j, ref in enumerate(plans[0]):
        if ref[0] == "dense":
            w = keras.Variable(np.stack([np.asarray(p[j][1].kernel) for p in plans]), name=f"group_kernel_{j}")
            b = None
            if ref[1].bias is not None:
                b = keras.Variable(np.stack([np.asarray(p[j][1].bias) for p in plans])[:, None, :],
                                   name=f"group_bias_{j}")
            steps.append(("dense", w, b, [p[j][1] for p in plans]))
            variables += [w] + ([b] if b is not None else [])
        elif ref[0] == "dropout":
            steps.append(("dropout", ref[1], [p[j][2].seed_generator for p in plans]))
        else:
            steps.append(ref)
    one_lr = len(set(lrs)) == 1
    if one_lr:  # train()'s own optimizer over the stacked weights: elementwise, so K optimizers
        opt = _keras_training._keras_optimizer(keras, optimizer, lrs[0])
        if not tf.distribute.has_strategy() and hasattr(opt, "_all_reduce_sum_gradients"):
            opt._all_reduce_sum_gradients = list  # one replica (see _keras_training._prepare_keras_run)
        opt.build(variables)
        update = None
    else:
        update = _KerasScaled(tf, optimizer, variables, lrs)

    def forward(h: Any, training_mode: bool) -> Any:
        for step in steps:
            kind = step[0]
            if kind == "dense":
                h = tf.matmul(h, step[1].value) if h.shape.rank == 3 else tf.einsum("bi,kio->kbo", h, step[1].value)
                if step[2] is not None:
                    h = h + step[2].value
            elif kind == "act":
                h = step[1](h)
            elif training_mode and step[1] > 0:
                # Keras's Dropout: stateless dropout seeded by the layer's seed generator, per member
                h = tf.stack([keras.random.dropout(h[i], step[1], seed=step[2][i]) for i in range(k)])
        return h

    Xc = tf.constant(d.x)
    Yc = tf.constant(d.y)
    tvars = [v.value for v in variables]

    def one_step(idx: Any) -> tuple[Any, Any]:
        xb = tf.gather(Xc, idx)  # (K, B, in)
        yb = tf.gather(Yc, idx)
        with tf.GradientTape() as tape:
            logits = forward(xb, True)
            per = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yb, logits=logits), axis=1)
            total = tf.reduce_sum(per)
        grads = tape.gradient(total, tvars)
        if update is None:
            opt.apply_gradients(zip(grads, variables, strict=True))
        else:
            update.apply(grads)
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1), yb), tf.float32), axis=1)
        return per, correct

    @tf.function(jit_compile=False, reduce_retracing=True)
    def run_block(idx_blocks: Any) -> tuple[Any, Any, Any]:
        # idx_blocks: (steps, K, B); one graph call runs every full batch of the epoch
        m = tf.shape(idx_blocks)[0]
        losses = tf.TensorArray(tf.float32, size=m)
        loss_sum = tf.zeros([k])
        correct_sum = tf.zeros([k])
        bsz = tf.cast(tf.shape(idx_blocks)[2], tf.float32)
        for i in tf.range(m):
            per, correct = one_step(idx_blocks[i])
            losses = losses.write(i, per)
            loss_sum += per * bsz
            correct_sum += correct
        return losses.stack(), loss_sum, correct_sum

    @tf.function(jit_compile=False, reduce_retracing=True)
    def evaluate(x: Any, y: Any) -> tuple[Any, Any]:
        logits = forward(x, False)
        per = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.broadcast_to(y, [k, tf.shape(y)[0]]), logits=logits), axis=1)
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1), y), tf.float32), axis=1)
        return per, correct

    full = n // bs
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        order = np.stack([orders[s][epoch - 1] for s in seeds])  # (K, n)
        parts_loss, loss_sum, correct_sum = [], np.zeros(k), np.zeros(k)
        if full:
            blocks = order[:, :full * bs].reshape(k, full, bs).transpose(1, 0, 2)
            sl, ls, cs = run_block(tf.constant(blocks))
            parts_loss.append(sl.numpy())
            loss_sum += ls.numpy()
            correct_sum += cs.numpy()
        if n % bs:
            sl, ls, cs = run_block(tf.constant(order[:, full * bs:][None]))
            parts_loss.append(sl.numpy())
            loss_sum += ls.numpy()
            correct_sum += cs.numpy()
        bar.update(full + (1 if n % bs else 0))
        if d.x_val is not None:
            vt, vc = np.zeros(k), np.zeros(k)
            for s in range(0, len(d.x_val), training.VAL_BATCH_SIZE):
                xv, yv = d.x_val[s:s + training.VAL_BATCH_SIZE], d.y_val[s:s + training.VAL_BATCH_SIZE]
                per, correct = evaluate(tf.constant(xv), tf.constant(yv))
                vt += per.numpy().astype(np.float64) * len(xv)
                vc += correct.numpy()
            vl, va = list(vt / len(d.x_val)), list(vc / len(d.x_val))
        else:
            vl = va = [math.nan] * k
        seconds = (time.perf_counter() - t0) / k
        step_losses = np.concatenate(parts_loss) if parts_loss else np.zeros((0, k))
        for j, h in enumerate(hists):
            h.loss.append(float(loss_sum[j]) / n)
            h.accuracy.append(float(correct_sum[j]) / n)
            h.val_loss.append(float(vl[j]))
            h.val_accuracy.append(float(va[j]))
            h.seconds_per_epoch.append(seconds)
            if record_steps:
                h.step_loss = (h.step_loss or []) + [float(v) for v in step_losses[:, j]]
        bar.epoch_end(epoch, epochs, {"loss": float(loss_sum.mean()) / n})
    for step in steps:
        if step[0] == "dense":
            w = np.asarray(step[1])
            b = None if step[2] is None else np.asarray(step[2])
            for j, layer in enumerate(step[3]):
                layer.kernel.assign(w[j])
                if b is not None:
                    layer.bias.assign(b[j, 0])


class _KerasScaled:
    """The optimizer with a learning rate per member, for groups whose members' rates differ. The course's
    Keras formulas: Adam as ``train`` runs it (the fused kernel given ``eps * sqrt(1 - b2^t)``, which is
    PyTorch's update) ``w -= lr_k * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps * sqrt(1 - b2^t))``; SGD with momentum
    ``m = 0.9 m - lr_k * g``, ``w += m``; SGD ``w -= lr_k * g``."""

    def __init__(self, tf: Any, name: str, variables: list[Any], lrs: list[float]) -> None:
        self.tf, self.name, self.variables = tf, name, variables
        self.lr = tf.constant(np.asarray(lrs, dtype=np.float32).reshape(-1, 1, 1))
        self.t = tf.Variable(0.0, trainable=False)
        self.m = [tf.Variable(tf.zeros_like(v.value), trainable=False) for v in variables]
        self.v = [tf.Variable(tf.zeros_like(v.value), trainable=False) for v in variables] if name == "adam" else []

    def apply(self, grads: list[Any]) -> None:
        tf = self.tf
        if self.name == "sgd":
            for var, g in zip(self.variables, grads, strict=True):
                var.assign_sub(g * self.lr)
            return
        if self.name == "momentum":
            for var, m, g in zip(self.variables, self.m, grads, strict=True):
                m.assign(m * training.MOMENTUM - g * self.lr)
                var.assign_add(m)
            return
        self.t.assign_add(1.0)
        correction = tf.sqrt(1 - tf.pow(_BETA_2, self.t))
        lr_t = self.lr * correction / (1 - tf.pow(_BETA_1, self.t))
        for var, m, v, g in zip(self.variables, self.m, self.v, grads, strict=True):
            m.assign_add((g - m) * (1 - _BETA_1))
            v.assign_add((tf.square(g) - v) * (1 - _BETA_2))
            var.assign_sub(lr_t * m / (tf.sqrt(v) + training.ADAM_EPSILON * correction))


# ---------------------------------------------------------------- experiments.sweep

#: train_mlp arguments that may differ inside one group (everything else must be equal).
_PER_MEMBER = ("init", "seed", "lr", "output_init", "bias_init")
#: Largest group sweep forms: beyond 16 members the speed-up per run has flattened (bench/RESULTS.md)
#: while the memory of the stacked weights and activations keeps growing.
MAX_GROUP = 16


#: Frameworks whose groups give each member its solo run's numbers to the last bit (tests/test_grouped.py):
#: experiments.sweep groups their runs unless told not to.
EXACT_FRAMEWORKS = ("torch",)


def sweep_groups(fn: Any, tasks: Sequence[tuple[int, Mapping[str, Any]]], done: Any,
                 frameworks_: Sequence[str] | None = None) -> list[int]:
    """Run the sweep's uncached ``experiments.train_mlp`` calls that share everything but
    ``init``/``seed``/``lr``/``output_init``/``bias_init`` as groups; call ``done(i, record)`` for each.
    ``frameworks_``: group only these frameworks' runs (``None``: every framework).

    Returns the task indices left to run one at a time: every task when ``fn`` is not ``train_mlp``,
    the calls alone in their group, and groups that cannot be grouped (an optimizer grouped training
    lacks, a model it does not support).
    """
    import inspect

    from . import experiments

    if fn is not experiments.train_mlp:
        return [i for i, _ in tasks]
    defaults = {k: p.default for k, p in inspect.signature(fn).parameters.items()
                if p.default is not inspect.Parameter.empty}
    buckets: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for i, call in tasks:
        full = {**defaults, **call}
        key = repr(sorted((k, repr(v)) for k, v in full.items() if k not in _PER_MEMBER))
        buckets.setdefault(key, []).append((i, full))
    left: list[int] = []
    for members in buckets.values():
        for start in range(0, len(members), MAX_GROUP):
            chunk = members[start:start + MAX_GROUP]
            fw = frameworks.check_framework(chunk[0][1]["framework"])
            if len(chunk) < 2 or chunk[0][1]["optimizer"] not in OPTIMIZERS or (frameworks_ is not None and fw not in frameworks_):
                left += [i for i, _ in chunk]
                continue
            try:
                records = _train_mlp_group([c for _, c in chunk])
            except GroupingError:
                left += [i for i, _ in chunk]
                continue
            for (i, _), record in zip(chunk, records, strict=True):
                done(i, record)
    return sorted(left)


def _train_mlp_group(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``experiments.train_mlp(**call)`` for each call, trained as one group: the same records
    (metrics and seconds, each run's seconds its share of the group's) to float32 reassociation."""
    import statistics

    from . import experiments, models

    c = calls[0]
    fw = frameworks.check_framework(c["framework"])
    ds = experiments.cached_dataset(c["dataset"], c["n_train"])
    built, build_s = [], []
    for call in calls:
        t0 = time.perf_counter()
        built.append(models.build_mlp(fw, ds.x_train.shape[1], call["hidden"], call["activation"], call["init"],
                                      bias_init=call["bias_init"], dropout=call["dropout"], n_classes=ds.n_classes,
                                      output_init=call["output_init"], seed=call["seed"], depth=call["depth"]))
        build_s.append(time.perf_counter() - t0)
    flush = fw == "torch" and c["flush_denormal"]  # as train_mlp: subnormals as zero during the run
    torch = frameworks.torch() if flush else None
    t0 = time.perf_counter()
    if flush:
        torch.set_flush_denormal(True)
    try:
        hists = train_models(built, ds, epochs=c["epochs"], seeds=[x["seed"] for x in calls],
                             lrs=[x["lr"] for x in calls], batch_size=c["batch_size"], optimizer=c["optimizer"],
                             progress=False)
        finals = [training.evaluate(m, ds.x_train, ds.y_train)["loss"] if c["train_loss"] else None for m in built]
    finally:
        if flush:
            torch.set_flush_denormal(False)
    share = (time.perf_counter() - t0) / len(calls)
    records = []
    for hist, build, final in zip(hists, build_s, finals, strict=True):
        # the same metrics as experiments.train_mlp returns
        out = {"val_accuracy": hist.val_accuracy[-1], "val_loss": hist.val_loss[-1], "loss": hist.loss[-1],
               "accuracy": hist.accuracy[-1], "seconds_per_epoch": statistics.median(hist.seconds_per_epoch),
               "build_seconds": build}
        if c["train_loss"]:
            out["final_train_loss"] = final
        out["history"] = {"epoch": hist.epoch, "val_accuracy": hist.val_accuracy, "val_loss": hist.val_loss,
                          "loss": hist.loss, "accuracy": hist.accuracy, "seconds_per_epoch": hist.seconds_per_epoch}
        records.append({"metrics": {k: experiments._jsonable(v) for k, v in out.items()}, "seconds": share + build})
    return records
