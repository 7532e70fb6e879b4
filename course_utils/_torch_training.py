"""The PyTorch path of :func:`course_utils.training.train`: the same function names as ``_keras_training``.

A tight loop over tensors preloaded once (no ``DataLoader``: a ``randperm`` index per
epoch and ``index_select`` per batch), the optimizers' fused kernels, and no
``.item()`` per step (running sums stay on the tensor side until the epoch ends).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from . import config, frameworks, training
from .training import History, _Bar, _Data, _fmt_shape, _grad_groups, torch_threads_for

__all__ = ["ends_with_softmax", "optimizer", "output_shape", "predict", "run", "settings", "weight_params"]


def output_shape(model: Any, x: np.ndarray) -> tuple[Any, ...] | None:
    """The model's output shape, batch axis as None, by one forward pass on two examples
    (in eval mode and without gradients, so no random state is touched)."""
    torch = frameworks.torch()
    try:
        with frameworks.eval_mode(model), torch.no_grad():
            out = model(torch.from_numpy(x[:2]))
    except (RuntimeError, ValueError, TypeError, IndexError) as err:
        shape = getattr(model, "input_shape", None)
        want = f"inputs of shape {_fmt_shape(shape)}" if shape else "other inputs"
        raise ValueError(f"x_train of shape {x.shape} does not fit this model, which expects {want}: {err}") from None
    if isinstance(out, (tuple, list)):
        raise TypeError("train() needs a model that returns one tensor (logits); this one returns a "
                        f"{type(out).__name__}.")
    return (None, *out.shape[1:])


def ends_with_softmax(model: Any) -> bool:
    """True when the model outputs probabilities (built with output_activation="softmax")."""
    mods = list(model.modules())
    return type(mods[-1]).__name__ == "Softmax" if mods else False


def weight_params(layer: Any) -> list[Any]:
    """A weight layer's weight matrices (not biases, not a Bayesian layer's rho)."""
    return [p for name, p in layer.named_parameters(recurse=False) if p.ndim >= 2 and "rho" not in name
            and p.requires_grad]


def settings(model: Any, x: np.ndarray, batch_size: int, steps: int, steps_per_execution: int | None,
             threads: int | None) -> dict[str, Any]:
    """This run's framework settings for ``History.config``: its thread count (:func:`torch_threads_for`)."""
    return {"threads": threads or torch_threads_for(model, x, batch_size)}


def predict(model: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    """The model's outputs in inference mode, in batches."""
    torch = frameworks.torch()
    with frameworks.eval_mode(model), torch.inference_mode():
        X = torch.from_numpy(x)
        return torch.cat([model(X[s:s + batch_size]) for s in range(0, len(X), batch_size)]).numpy()


def optimizer(torch: Any, name: str, params: list[Any], lr: float,
              lr_multipliers: list[tuple[Any, float]] | None = None) -> Any:
    optim = torch.optim
    if lr_multipliers:  # one parameter group per factor, each with its own lr (as mup's MuAdam builds them)
        factor = {id(p): f for p, f in lr_multipliers}
        groups: dict[float, list[Any]] = {}
        for p in params:
            groups.setdefault(factor.get(id(p), 1.0), []).append(p)
        params = [{"params": ps, "lr": lr * f} for f, ps in groups.items()]
    # fused: one kernel per update for all parameters (about 5x less CPU than the default per-parameter
    # loop for Adam on the 784-512-10 MLP); RMSprop has no fused CPU kernel, so multi-tensor foreach.
    fused = {"fused": True}
    return {
        "sgd": lambda: optim.SGD(params, lr=lr, **fused),
        "momentum": lambda: optim.SGD(params, lr=lr, momentum=training.MOMENTUM, **fused),
        "adam": lambda: optim.Adam(params, lr=lr, eps=training.ADAM_EPSILON, **fused),
        "adamw": lambda: optim.AdamW(params, lr=lr, eps=training.ADAM_EPSILON, weight_decay=training.ADAMW_WEIGHT_DECAY,
                                     **fused),
        "rmsprop": lambda: optim.RMSprop(params, lr=lr, alpha=training.RMSPROP_RHO, foreach=True),
    }[name]()


def _loss_fn(torch: Any, loss: str, probs: bool) -> Any:
    F = torch.nn.functional
    if loss == "mse":
        return F.mse_loss
    if probs:  # the model ends in a softmax: cross-entropy on log-probabilities
        return lambda out, y: F.nll_loss(torch.log(out.clamp_min(1e-12)).flatten(0, -2), y.flatten())
    return lambda out, y: F.cross_entropy(out.flatten(0, -2), y.flatten())


def _evaluate(torch: Any, model: Any, X: Any, Y: Any, loss_fn: Any, classify: bool) -> tuple[float, float]:
    """Mean loss and accuracy over (X, Y) in inference mode, in large batches."""
    total = torch.zeros((), dtype=torch.float64)
    correct = torch.zeros((), dtype=torch.int64)
    with frameworks.eval_mode(model), torch.inference_mode():
        for start in range(0, len(X), training.VAL_BATCH_SIZE):
            xb, yb = X[start:start + training.VAL_BATCH_SIZE], Y[start:start + training.VAL_BATCH_SIZE]
            out = model(xb)
            total += loss_fn(out, yb).double() * len(xb)
            if classify:
                correct += (out.argmax(-1) == yb).sum()
    acc = float(correct) / Y.numel() if classify else math.nan
    return float(total) / len(X), acc


def run(model: Any, d: _Data, hist: History, bar: _Bar, record_steps: bool, record_grads: bool,
        lr_multipliers: list[tuple[Any, float]] | None = None) -> None:
    """Train ``model`` as ``hist.config`` says, filling ``hist`` (the PyTorch half of :func:`training.train`)."""
    from . import models

    torch = frameworks.torch()
    # Everything that may call frameworks.torch() (which re-applies the course's thread limit) happens
    # before this run's own thread count is set.
    bayes = [layer for _, layer in models.bayesian_layers(model, "torch")]
    groups = _grad_groups(model, "torch") if record_grads else []
    probs = ends_with_softmax(model)
    previous = torch.get_num_threads()
    torch.set_num_threads(hist.config["threads"])
    try:
        _loop(torch, model, d, hist, bar, record_steps, bayes, groups, probs, lr_multipliers)
    finally:
        torch.set_num_threads(previous)
    if not record_grads:
        hist.grad_norms = None


def _loop(torch: Any, model: Any, d: _Data, hist: History, bar: _Bar, record_steps: bool, bayes: list[Any],
                groups: list[tuple[str, list[Any]]], probs: bool,
                lr_multipliers: list[tuple[Any, float]] | None = None) -> None:
    cfg = hist.config
    config.set_seed(cfg["seed"])  # torch's global generator: dropout masks, Bayesian weight noise
    shuffle = torch.Generator().manual_seed(cfg["seed"])
    X, Y = torch.from_numpy(d.x), torch.from_numpy(d.y)  # shares the NumPy memory: no copy
    Xv = Yv = None
    if d.x_val is not None:
        Xv, Yv = torch.from_numpy(d.x_val), torch.from_numpy(d.y_val)
    classify = cfg["loss"] == "cross_entropy"
    loss_fn = _loss_fn(torch, cfg["loss"], probs)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = optimizer(torch, cfg["optimizer"], params, cfg["lr"], lr_multipliers)
    group_params = [p for _, ps in groups for p in ps]
    group_sizes = [len(ps) for _, ps in groups]
    n, bs, steps = len(X), cfg["batch_size"], cfg["steps_per_epoch"]
    bar_every = max(1, steps // training._BAR_UPDATES_PER_EPOCH)
    step_loss: list[float] = []
    grad_norms: dict[str, list[float]] = {name: [] for name, _ in groups}
    model.train()
    for epoch in range(1, cfg["epochs"] + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=shuffle)
        # Running sums stay tensors: reading them (.item()) every step would wait for each step to finish.
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.int64)
        losses = torch.zeros(steps) if record_steps else None
        norm_sum = torch.zeros(len(groups)) if groups else None
        last = 0
        for i, idx in enumerate(perm.split(bs)):
            xb, yb = X.index_select(0, idx), Y.index_select(0, idx)
            out = model(xb)
            batch_loss = loss_fn(out, yb)
            for layer in bayes:  # negative ELBO per example: NLL + KL / n_train (Blundell et al. 2015)
                batch_loss = batch_loss + layer.kl_weight * layer.kl()
            opt.zero_grad(set_to_none=True)
            batch_loss.backward()
            if groups:
                sq = torch.stack(torch._foreach_norm([p.grad for p in group_params])).square()
                norm_sum += torch.stack([s.sum() for s in sq.split(group_sizes)]).sqrt()
            opt.step()
            with torch.no_grad():
                lb = batch_loss.detach()
                loss_sum.add_(lb, alpha=len(idx))
                if classify:
                    correct += (out.argmax(-1) == yb).sum()
                if losses is not None:
                    losses[i] = lb
            if i - last + 1 >= bar_every:
                bar.update(i + 1 - last)
                last = i + 1
        bar.update(steps - last)
        hist.loss.append(float(loss_sum) / n)
        hist.accuracy.append(float(correct) / Y.numel() if classify else math.nan)
        if Xv is not None:
            vl, va = _evaluate(torch, model, Xv, Yv, loss_fn, classify)
        else:
            vl = va = math.nan
        hist.val_loss.append(vl)
        hist.val_accuracy.append(va)
        if losses is not None:
            step_loss.extend(losses.tolist())
        for k, (name, _) in enumerate(groups):
            grad_norms[name].append(float(norm_sum[k]) / steps)
        hist.seconds_per_epoch.append(time.perf_counter() - t0)
        bar.epoch_end(epoch, cfg["epochs"], {"loss": hist.loss[-1], "val_loss": vl, "val_accuracy": va})
    model.eval()
    hist.step_loss = step_loss if record_steps else None
    hist.grad_norms = grad_norms
