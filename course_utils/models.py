"""Model builders for Keras 3 and PyTorch: one spec, two frameworks, one initializer registry.

Every builder takes ``framework="keras"|"torch"`` and builds the same network
in either framework -- the same layers, the same sizes, the same names, and
weights drawn from the same :mod:`course_utils.initializers` scheme -- so a
notebook can show one experiment side by side:

* :func:`build_mlp` -- a plain fully connected network, shallow or 50+ layers deep;
* :func:`build_cnn` -- a small convolutional network for 28x28 images;
* :func:`build_rnn` -- a simple RNN or an LSTM with separate input and
  recurrent initializers (the copy and adding problems of notebook 08);
* :func:`build_residual_mlp` -- residual blocks whose branch output layers can
  start at zero, so each block starts as the identity;
* :func:`build_plain_cnn` -- a deep plain CNN (no shortcut, no normalization), notebook 13;
* :func:`build_deep_residual_mlp` -- a deep residual MLP whose branches start as they are, at zero,
  behind a zero scalar (SkipInit) or Fixup-scaled, with or without BatchNorm/LayerNorm (notebook 13);
* :func:`build_bayesian_mlp` with :func:`bayesian_dense` -- Bayes by Backprop
  (Blundell et al. 2015): every weight a Gaussian ``N(mu, softplus(rho)^2)``.

Conventions shared by every builder:

* Initializers are given by registry name (``"he_normal"``) or as an
  :class:`~course_utils.initializers.Initializer` (``initializers.get("he_normal",
  negative_slope=0.01)``); bias initializers likewise.
* ``seed`` makes a build repeatable: the same seed gives the same weights
  (Keras draws through ``keras.random`` with one int seed per layer derived
  from ``seed``; PyTorch through one ``torch.Generator`` seeded with ``seed``).
  The two frameworks' random streams differ, so Keras and PyTorch builds hold
  different draws *of the same distribution*.
* Layers carry explicit names, identical in both frameworks: ``hidden_1``,
  ``act_1``, ``dropout_1``, ..., ``output``. :func:`weight_layers` lists the
  layers holding weights, in order, as ``(name, layer)``.
* Outputs are logits (no softmax) unless ``output_activation`` is given;
  :func:`course_utils.training.train` expects logits.
* Inputs: Keras and PyTorch models take the same NumPy arrays -- ``(n,
  features)`` for MLPs, ``(n, 28, 28)`` or ``(n, 28, 28, channels)`` images for
  CNNs (the PyTorch model moves channels first itself), ``(n, time, features)``
  sequences for RNNs.

Neither TensorFlow nor PyTorch is imported until a builder runs.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import numbers
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import activations, config, frameworks
from ._validation import check_choice, check_int, check_number, check_shape
from .activations import ACTIVATIONS, LEAKY_RELU_SLOPE, OUTPUT_ACTIVATIONS
from .frameworks import input_shape_of, weight_layers

__all__ = [
    "ACTIVATIONS",
    "OUTPUT_ACTIVATIONS",
    "CELLS",
    "LEAKY_RELU_SLOPE",
    "DEFAULT_TARGET_SIGMA",
    "DEFAULT_PRIOR_SIGMA",
    "build_mlp",
    "build_cnn",
    "build_rnn",
    "build_residual_mlp",
    "build_bayesian_mlp",
    "build_plain_cnn",
    "build_deep_residual_mlp",
    "fixup_scale",
    "RESIDUAL_REMEDIES",
    "NORMS",
    "bayesian_dense",
    "bayesian_layers",
    "kl_divergence",
    "weight_layers",
    "weight_shapes",
    "input_shape_of",
]

#: Recurrent cells of :func:`build_rnn`.
CELLS = ("rnn", "lstm")

#: Initial posterior std of Bayesian layers: the same default as ``initializers.posterior_initializers``,
#: small next to He's std for 784 inputs (0.05) so training starts near the deterministic network.
DEFAULT_TARGET_SIGMA = 1e-3
#: Std of the Gaussian prior N(0, sigma_p^2) on every weight of a Bayesian layer (Blundell et al. 2015
#: use a scale mixture; a single unit Gaussian keeps the KL in closed form).
DEFAULT_PRIOR_SIGMA = 1.0


# --------------------------------------------------------------------------- checks


def _init(argument: str, value: Any) -> Any:
    """A registry Initializer from a name or an Initializer; errors name the argument."""
    from . import initializers

    if isinstance(value, initializers.Initializer):
        return value
    if not isinstance(value, str):
        raise TypeError(
            f"{argument} must be an initializer name such as 'he_normal' or an Initializer from "
            f"course_utils.initializers.get(...); got {type(value).__name__} {value!r}."
        )
    try:
        return initializers.get(value)
    except ValueError as err:
        raise ValueError(f"{argument}: {err}") from None


def _inits(init: Any, bias_init: Any, output_init: Any) -> tuple[Any, Any, Any]:
    """A builder's hidden-kernel, bias and output-kernel Initializers; ``output_init=None`` means ``init``."""
    w_init = _init("init", init)
    return w_init, _init("bias_init", bias_init), w_init if output_init is None else _init("output_init", output_init)


def _sizes(argument: str, hidden: Any, depth: int | None) -> list[int]:
    """Hidden layer widths from an int (one layer, or ``depth`` layers) or a list of ints."""
    if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
        width = check_int(argument, hidden, low=1)
        n = 1 if depth is None else check_int("depth", depth, low=1)
        return [width] * n
    if depth is not None:
        raise ValueError(f"depth= repeats one width; give {argument} as an int (e.g. 256), not {hidden!r}.")
    if isinstance(hidden, (list, tuple)):
        if len(hidden) == 0:
            return []
        try:
            return list(check_shape(argument, tuple(hidden)))
        except TypeError:
            pass
    raise TypeError(
        f"{argument} must be an int (one hidden layer of that width) or a list of ints such as "
        f"[256, 256]; got {hidden!r}."
    )


def _activation(argument: str, value: Any, allowed: Sequence[str] = ACTIVATIONS) -> str:
    return check_choice(argument, value, tuple(allowed))


def _seed(seed: Any) -> int:
    return check_int("seed", seed, low=0, high=2**32 - 1)


def _layer_seed(seed: int, i: int) -> int:
    """An independent int seed for the i-th random tensor of a build (Keras draws with an int seed are
    stateless: two layers given the same int would get the same weights)."""
    return int(np.random.SeedSequence([seed, i]).generate_state(1)[0] % (2**31 - 1))


def _keras_init(init: Any, seed: int) -> Any:
    kw = {"seed": seed} if "seed" in inspect.signature(init.to_keras).parameters else {}
    return init.to_keras(**kw)


def _torch_generator(seed: int) -> Any:
    torch = frameworks.torch()
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------ torch building blocks


@functools.cache
def _torch_classes() -> SimpleNamespace:
    """PyTorch module classes of this file, defined on first use (torch is imported lazily)."""
    torch = frameworks.torch()
    nn = torch.nn
    F = torch.nn.functional

    class ToChannelsFirst(nn.Module):
        """(n, H, W) or (n, H, W, C) images -> (n, C, H, W), so both frameworks take the same arrays."""

        def forward(self, x):
            return x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)

    class Recurrent(nn.Module):
        """``nn.RNN``/``nn.LSTM`` (batch first) and a dense ``output`` on the last step or on every step."""

        def __init__(self, cell: str, input_dim: int, units: int, n_outputs: int, activation: str,
                     return_sequences: bool) -> None:
            super().__init__()
            if cell == "lstm":
                self.rnn = nn.LSTM(input_dim, units, batch_first=True)
            else:
                self.rnn = nn.RNN(input_dim, units, nonlinearity=activation, batch_first=True)
            self.output = nn.Linear(units, n_outputs)
            self.return_sequences = return_sequences

        def forward(self, x):
            seq, _ = self.rnn(x)
            return self.output(seq if self.return_sequences else seq[:, -1])

    class BayesianLinear(nn.Module):
        """Bayes-by-Backprop dense layer (Blundell et al. 2015), PyTorch layout ``(out, in)``.

        Each weight is ``N(mu, sigma^2)`` with ``sigma = softplus(rho)``; in training
        mode every forward pass draws ``w = mu + sigma * eps``, ``eps ~ N(0, 1)``
        (the reparameterisation trick); in eval mode it uses ``mu`` unless
        ``sample_at_eval`` is True. :meth:`kl` is ``KL(q || N(0, prior_sigma^2))``.
        """

        def __init__(self, in_features: int, out_features: int, prior_sigma: float, kl_weight: float | None) -> None:
            super().__init__()
            self.in_features, self.out_features = in_features, out_features
            self.weight_mu = nn.Parameter(torch.empty(out_features, in_features))
            self.weight_rho = nn.Parameter(torch.empty(out_features, in_features))
            self.bias_mu = nn.Parameter(torch.empty(out_features))
            self.bias_rho = nn.Parameter(torch.empty(out_features))
            self.prior_sigma = prior_sigma
            self.kl_weight = kl_weight
            self.sample_at_eval = False

        @property
        def weight(self):  # the posterior mean: what "the weights" of a deterministic layer would be
            return self.weight_mu

        def forward(self, x):
            if self.training or self.sample_at_eval:
                w = self.weight_mu + F.softplus(self.weight_rho) * torch.randn_like(self.weight_mu)
                b = self.bias_mu + F.softplus(self.bias_rho) * torch.randn_like(self.bias_mu)
            else:
                w, b = self.weight_mu, self.bias_mu
            return F.linear(x, w, b)

        def kl(self):
            total = 0.0
            for mu, rho in ((self.weight_mu, self.weight_rho), (self.bias_mu, self.bias_rho)):
                total = total + _gaussian_kl(torch, mu, F.softplus(rho), self.prior_sigma)
            return total

        def extra_repr(self) -> str:
            return f"in_features={self.in_features}, out_features={self.out_features}, prior_sigma={self.prior_sigma}"

    return SimpleNamespace(ToChannelsFirst=ToChannelsFirst, Recurrent=Recurrent,
                           BayesianLinear=BayesianLinear)


def _gaussian_kl(ops: Any, mu: Any, sigma: Any, prior_sigma: float) -> Any:
    """Sum over weights of KL(N(mu, sigma^2) || N(0, prior_sigma^2)), in closed form:
    ``log(prior_sigma / sigma) + (sigma^2 + mu^2) / (2 prior_sigma^2) - 1/2``.

    ``ops`` is ``torch`` or ``keras.ops`` (both spell log, square and sum the same way).
    """
    var_p = prior_sigma**2
    return ops.sum(math.log(prior_sigma) - ops.log(sigma) + (ops.square(sigma) + ops.square(mu)) / (2.0 * var_p) - 0.5)


@functools.cache
def _keras_classes() -> SimpleNamespace:
    """Keras layer classes of this file, defined on first use (Keras is imported lazily)."""
    keras = frameworks.keras()

    @keras.saving.register_keras_serializable(package="course_utils", name="BayesianDense")
    class BayesianDense(keras.layers.Layer):
        """Bayes-by-Backprop dense layer (Blundell et al. 2015), Keras layout ``(in, out)``.

        Each weight is ``N(mu, sigma^2)`` with ``sigma = softplus(rho)``; a training
        call draws ``w = mu + sigma * eps``, ``eps ~ N(0, 1)``, and adds
        ``kl_weight * KL(q || N(0, prior_sigma^2))`` to the model's losses
        (``model.losses``); an inference call uses ``mu``.
        """

        def __init__(self, units: int, mean_init: Any = "he_normal", bias_init: Any = "zeros",
                     target_sigma: float = DEFAULT_TARGET_SIGMA, prior_sigma: float = DEFAULT_PRIOR_SIGMA,
                     kl_weight: float | None = None, seed: int = 0, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.units = units
            self.mean_init, self.bias_init = _init("mean_init", mean_init), _init("bias_init", bias_init)
            self.target_sigma, self.prior_sigma, self.kl_weight = target_sigma, prior_sigma, kl_weight
            self.seed = seed
            self.sample_at_eval = False
            self.seed_generator = keras.random.SeedGenerator(_layer_seed(seed, 2))

        def build(self, input_shape):
            from .initializers import posterior_rho

            n_in = int(input_shape[-1])
            rho = keras.initializers.Constant(posterior_rho(self.target_sigma))
            self.kernel_mu = self.add_weight(shape=(n_in, self.units), name="kernel_mu",
                                             initializer=_keras_init(self.mean_init, _layer_seed(self.seed, 0)))
            self.kernel_rho = self.add_weight(shape=(n_in, self.units), name="kernel_rho", initializer=rho)
            self.bias_mu = self.add_weight(shape=(self.units,), name="bias_mu",
                                           initializer=_keras_init(self.bias_init, _layer_seed(self.seed, 1)))
            self.bias_rho = self.add_weight(shape=(self.units,), name="bias_rho", initializer=rho)

        @property
        def kernel(self):  # the posterior mean, where code expects a Dense layer's kernel
            return self.kernel_mu

        def call(self, inputs, training=None):
            ops = keras.ops
            if training or self.sample_at_eval:
                eps_w = keras.random.normal(ops.shape(self.kernel_mu), seed=self.seed_generator)
                eps_b = keras.random.normal(ops.shape(self.bias_mu), seed=self.seed_generator)
                w = self.kernel_mu + ops.softplus(self.kernel_rho) * eps_w
                b = self.bias_mu + ops.softplus(self.bias_rho) * eps_b
            else:
                w, b = self.kernel_mu, self.bias_mu
            if training and self.kl_weight:
                self.add_loss(self.kl_weight * self.kl())
            return ops.matmul(inputs, w) + b

        def kl(self):
            ops = keras.ops
            return (_gaussian_kl(ops, self.kernel_mu, ops.softplus(self.kernel_rho), self.prior_sigma)
                    + _gaussian_kl(ops, self.bias_mu, ops.softplus(self.bias_rho), self.prior_sigma))

        def compute_output_shape(self, input_shape):
            return (*input_shape[:-1], self.units)

        def get_config(self):
            cfg = super().get_config()
            cfg.update(units=self.units, mean_init=self.mean_init.name, bias_init=self.bias_init.name,
                       target_sigma=self.target_sigma, prior_sigma=self.prior_sigma, kl_weight=self.kl_weight,
                       seed=self.seed)
            return cfg

    return SimpleNamespace(BayesianDense=BayesianDense)


def __getattr__(name: str) -> Any:
    # models.BayesianDense (Keras) and models.BayesianLinear (torch), defined when first asked for.
    if name == "BayesianDense":
        return _keras_classes().BayesianDense
    if name == "BayesianLinear":
        return _torch_classes().BayesianLinear
    raise AttributeError(f"module 'course_utils.models' has no attribute {name!r}")


# ---------------------------------------------------------------- shared helpers


def _torch_init_linear(module: Any, init: Any, bias_init: Any, generator: Any) -> Any:
    """Fill a torch Linear/Conv's weight and bias from registry initializers; return the module."""
    init.apply_torch_(module.weight, generator=generator)
    if module.bias is not None:
        bias_init.apply_torch_(module.bias, generator=generator)
    return module


def _keras_dense(units: int, init: Any, bias_init: Any, seed: int, i: int, name: str) -> Any:
    layers = frameworks.keras().layers
    return layers.Dense(units, kernel_initializer=_keras_init(init, _layer_seed(seed, 2 * i)),
                        bias_initializer=_keras_init(bias_init, _layer_seed(seed, 2 * i + 1)), name=name)


def _finish_torch(model: Any, input_shape: tuple[int, ...]) -> Any:
    # Same attribute as a Keras model's, so error messages and diagnostics can say what input fits.
    model.input_shape = (None, *input_shape)
    return model


# ------------------------------------------------------- sequential networks by rule
# build_mlp, build_cnn and build_bayesian_mlp validate their arguments, describe the network once as a
# framework-neutral list of LayerSpec, and hand it to one realiser per framework: "the same layers with the
# same names in both frameworks" holds by construction. Residual and recurrent networks, where the two
# frameworks really differ (a functional graph, fused recurrent cells), keep code of their own below.


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a sequential network, before it belongs to a framework.

    ``kind`` is one of ``input``, ``channels`` (Keras adds a missing channel axis, PyTorch moves
    channels first), ``dense``, ``conv``, ``bayesian`` (see :func:`bayesian_dense`), ``activation``,
    ``dropout``, ``pool`` (2x2 max-pooling) and ``flatten``. ``size`` is the units (dense, bayesian),
    output channels (conv), rate (dropout), activation name, or input shape (input, channels);
    ``fan_in`` the inputs per unit that PyTorch's constructors need; ``index`` picks the layer's
    independent seeds (Keras draws with int seeds derived from the build's seed and this index).
    """

    name: str
    kind: str
    size: Any = None
    fan_in: int = 0
    init: Any = None
    bias_init: Any = None
    index: int = 0
    options: tuple[tuple[str, Any], ...] = ()


def _realise_keras(spec: Sequence[LayerSpec], seed: int, model_name: str) -> Any:
    keras = frameworks.keras()
    L = keras.layers
    layers: list[Any] = []
    for ls in spec:
        if ls.kind == "input":
            layers.append(keras.Input(ls.size, name="input"))
        elif ls.kind == "channels" and len(ls.size) == 2:
            layers.append(L.Reshape((*ls.size, 1), name="add_channel"))
        elif ls.kind == "dense":
            layers.append(_keras_dense(ls.size, ls.init, ls.bias_init, seed, ls.index, ls.name))
        elif ls.kind == "conv":
            layers.append(L.Conv2D(ls.size, dict(ls.options)["kernel_size"], padding="same", name=ls.name,
                                   kernel_initializer=_keras_init(ls.init, _layer_seed(seed, 2 * ls.index)),
                                   bias_initializer=_keras_init(ls.bias_init, _layer_seed(seed, 2 * ls.index + 1))))
        elif ls.kind == "bayesian":
            layers.append(_bayesian_from_spec("keras", ls, seed))
        elif ls.kind == "activation":
            layers.append(activations.keras_layer(ls.size, ls.name))
        elif ls.kind == "dropout":
            layers.append(L.Dropout(ls.size, seed=_layer_seed(seed, ls.index), name=ls.name))
        elif ls.kind == "pool":
            layers.append(L.MaxPooling2D(2, name=ls.name))
        elif ls.kind == "flatten":
            layers.append(L.Flatten(name=ls.name))
    return keras.Sequential(layers, name=model_name)


def _realise_torch(spec: Sequence[LayerSpec], seed: int, model_name: str) -> Any:
    nn = frameworks.torch().nn
    g = _torch_generator(seed)
    mods: list[tuple[str, Any]] = []
    for ls in spec:
        if ls.kind == "channels":
            mods.append(("to_channels_first", _torch_classes().ToChannelsFirst()))
        elif ls.kind == "dense":
            mods.append((ls.name, _torch_init_linear(nn.Linear(ls.fan_in, ls.size), ls.init, ls.bias_init, g)))
        elif ls.kind == "conv":
            conv = nn.Conv2d(ls.fan_in, ls.size, dict(ls.options)["kernel_size"], padding="same")
            mods.append((ls.name, _torch_init_linear(conv, ls.init, ls.bias_init, g)))
        elif ls.kind == "bayesian":
            mods.append((ls.name, _bayesian_from_spec("torch", ls, seed)))
        elif ls.kind == "activation":
            mods.append((ls.name, activations.torch_module(ls.size)))
        elif ls.kind == "dropout":
            mods.append((ls.name, nn.Dropout(ls.size)))
        elif ls.kind == "pool":
            mods.append((ls.name, nn.MaxPool2d(2)))
        elif ls.kind == "flatten":
            mods.append((ls.name, nn.Flatten()))
    return _finish_torch(nn.Sequential(OrderedDict(mods)), tuple(spec[0].size))


_REALISE = {"keras": _realise_keras, "torch": _realise_torch}  # one function name, one per framework


def _realise(fw: str, spec: Sequence[LayerSpec], seed: int, model_name: str) -> Any:
    """Build ``spec`` (its first entry the input) in framework ``fw``, drawing every weight from ``seed``."""
    config.set_seed(seed)
    return _REALISE[fw](spec, seed, model_name)


def _dense_stack(widths: Sequence[int], act: str, init: Any, bias_init: Any, *, dropout: float = 0.0,
                 kind: str = "dense", first_index: int = 1, name: str = "hidden_{}", act_name: str = "act_{}",
                 options: tuple[tuple[str, Any], ...] = ()) -> list[LayerSpec]:
    """``widths[0] -> widths[1] -> ...``: a dense (or Bayesian) layer and its activation per width, and
    dropout after each activation when ``dropout`` > 0."""
    out: list[LayerSpec] = []
    for j, (n_in, units) in enumerate(itertools.pairwise(widths)):
        i = first_index + j
        out += [LayerSpec(name.format(j + 1), kind, units, n_in, init, bias_init, i, options),
                LayerSpec(act_name.format(j + 1), "activation", act)]
        if dropout:
            out.append(LayerSpec(f"dropout_{j + 1}", "dropout", dropout, index=10_000 + i))
    return out


# ----------------------------------------------------------------------- build_mlp


def build_mlp(
    framework: str,
    input_dim: int,
    hidden: int | Sequence[int],
    activation: str = "relu",
    init: Any = "he_normal",
    bias_init: Any = "zeros",
    dropout: float = 0.0,
    n_classes: int = 10,
    output_init: Any = None,
    seed: int = 0,
    output_activation: str | None = None,
    *,
    depth: int | None = None,
) -> Any:
    """A fully connected network ``input_dim -> hidden... -> n_classes``.

    Layers, named alike in both frameworks::

        hidden_1 (dense) -> act_1 -> [dropout_1] -> ... -> hidden_L -> act_L -> [dropout_L] -> output

    Each dense layer computes ``z = W x + b``; ``init`` draws every hidden ``W``,
    ``output_init`` (default: ``init``) the output layer's, ``bias_init`` every
    ``b``. The output layer gives logits unless ``output_activation`` is set.

    Args:
        framework: ``"keras"`` or ``"torch"``.
        input_dim: features per example (784 for flattened 28x28 images).
        hidden: one width (one hidden layer, or ``depth`` layers of it) or a list of widths;
            ``[]`` gives logistic regression.
        activation: one of :data:`ACTIVATIONS`.
        init, bias_init, output_init: registry names or ``Initializer`` objects.
        dropout: dropout rate after each hidden activation (0 = none).
        n_classes: output units.
        seed: the same seed gives the same weights.
        output_activation: ``None`` (logits), ``"softmax"`` or one of :data:`ACTIVATIONS`.
        depth: with an int ``hidden``, the number of hidden layers: ``build_mlp("torch", 784, 256,
            "tanh", depth=50)`` is a 50-layer network (Glorot & Bengio 2010, He et al. 2015).

    Returns:
        A ``keras.Sequential`` or a ``torch.nn.Sequential``.
    """
    fw = frameworks.check_framework(framework)
    input_dim = check_int("input_dim", input_dim, low=1)
    sizes = _sizes("hidden", hidden, depth)
    act = _activation("activation", activation)
    out_act = None if output_activation is None else _activation("output_activation", output_activation,
                                                                 OUTPUT_ACTIVATIONS)
    dropout = check_number("dropout", dropout, low=0.0, high=1.0, high_inclusive=False)
    n_classes = check_int("n_classes", n_classes, low=1)
    w_init, b_init, o_init = _inits(init, bias_init, output_init)
    seed = _seed(seed)
    widths = [input_dim, *sizes]
    spec = [LayerSpec("input", "input", (input_dim,)),
            *_dense_stack(widths, act, w_init, b_init, dropout=dropout),
            LayerSpec("output", "dense", n_classes, widths[-1], o_init, b_init, 0)]
    if out_act:
        spec.append(LayerSpec("output_act", "activation", out_act))
    return _realise(fw, spec, seed, "mlp")


# ----------------------------------------------------------------------- build_cnn


def build_cnn(
    framework: str,
    input_shape: Sequence[int] = (28, 28),
    channels: Sequence[int] = (16, 32),
    kernel_size: int = 3,
    activation: str = "relu",
    init: Any = "he_normal",
    bias_init: Any = "zeros",
    dense: Sequence[int] = (),
    dropout: float = 0.0,
    n_classes: int = 10,
    output_init: Any = None,
    seed: int = 0,
) -> Any:
    """A small CNN: ``[conv (same padding) -> act -> 2x2 max-pool] per entry of channels -> flatten ->
    [dense -> act] per entry of dense -> [dropout] -> output``.

    Names: ``conv_1, act_1, pool_1, ..., flatten, hidden_1, dense_act_1, ..., output``.
    ``input_shape`` is ``(H, W)`` (grayscale) or ``(H, W, C)``: both frameworks take
    the same channels-last arrays; the PyTorch model moves channels first inside
    (``to_channels_first``), the Keras model adds a missing channel axis
    (``add_channel``). Convolution kernels are drawn in each framework's layout
    (Keras ``(kh, kw, in, out)``, PyTorch ``(out, in, kh, kw)``) with the same
    fans, ``fan_in = in * kh * kw``.
    """
    fw = frameworks.check_framework(framework)
    shape = check_shape("input_shape", input_shape, min_dims=2)
    if len(shape) > 3:
        raise ValueError(f"input_shape must be (height, width) or (height, width, channels); got {shape!r}.")
    chans = list(check_shape("channels", tuple(channels)))
    k = check_int("kernel_size", kernel_size, low=1)
    act = _activation("activation", activation)
    dense_sizes = _sizes("dense", list(dense), None)
    dropout = check_number("dropout", dropout, low=0.0, high=1.0, high_inclusive=False)
    n_classes = check_int("n_classes", n_classes, low=1)
    w_init, b_init, o_init = _inits(init, bias_init, output_init)
    seed = _seed(seed)
    h, w = shape[0], shape[1]
    in_ch = shape[2] if len(shape) == 3 else 1
    for i in range(len(chans)):
        if h < 2 or w < 2:
            raise ValueError(
                f"input_shape {shape} is too small for {len(chans)} conv blocks (each halves the size); "
                f"use fewer channels entries, e.g. channels={tuple(chans[:i])}."
            )
        h, w = h // 2, w // 2
    flat = h * w * chans[-1]
    spec = [LayerSpec("input", "input", shape), LayerSpec("channels", "channels", shape)]
    for i, (c_in, c) in enumerate(itertools.pairwise([in_ch, *chans]), 1):
        spec += [LayerSpec(f"conv_{i}", "conv", c, c_in, w_init, b_init, i, (("kernel_size", k),)),
                 LayerSpec(f"act_{i}", "activation", act), LayerSpec(f"pool_{i}", "pool")]
    spec.append(LayerSpec("flatten", "flatten"))
    spec += _dense_stack([flat, *dense_sizes], act, w_init, b_init, first_index=101, act_name="dense_act_{}")
    if dropout:
        spec.append(LayerSpec("dropout", "dropout", dropout, index=10_000))
    spec.append(LayerSpec("output", "dense", n_classes, [flat, *dense_sizes][-1], o_init, b_init, 0))
    return _realise(fw, spec, seed, "cnn")


# ----------------------------------------------------------------------- build_rnn


def build_rnn(
    framework: str,
    cell: str = "rnn",
    input_dim: int = 1,
    units: int = 64,
    n_outputs: int = 1,
    *,
    kernel_init: Any = "glorot_uniform",
    recurrent_init: Any = "orthogonal",
    bias_init: Any = "zeros",
    output_init: Any = "glorot_uniform",
    activation: str = "tanh",
    return_sequences: bool = False,
    forget_bias: float = 1.0,
    seq_len: int | None = None,
    seed: int = 0,
) -> Any:
    """A one-layer recurrent network: ``rnn`` (Elman) or ``lstm``, then a dense ``output`` layer.

    Simple RNN: ``h_t = act(W x_t + U h_{t-1} + b)``; ``kernel_init`` draws ``W``,
    ``recurrent_init`` draws ``U`` (``"orthogonal"``: Saxe et al. 2014;
    ``"identity"``: the IRNN of Le et al. 2015, with ``activation="relu"``).
    LSTM: the four gates' matrices stacked in the order ``i, f, c, o`` (the same
    in both frameworks) are drawn as one matrix, like Keras does; the forget
    gate's bias is then set to ``forget_bias`` (Gers et al. 2000, Jozefowicz et
    al. 2015; 1 by default, as Keras's ``unit_forget_bias``).

    ``output`` reads the last step (``return_sequences=False``: one prediction
    per sequence, e.g. the adding problem with ``n_outputs=1`` and loss="mse")
    or every step (``True``: e.g. the copy problem with ``n_outputs`` symbols and
    cross-entropy per step). Inputs are ``(n, time, input_dim)`` in both frameworks.

    PyTorch keeps two bias vectors (``bias_ih`` and ``bias_hh``) where Keras keeps
    one; ``bias_init`` fills ``bias_ih`` and ``bias_hh`` starts at zero, so their
    sum -- all the network ever uses -- equals Keras's bias.
    """
    fw = frameworks.check_framework(framework)
    cell = check_choice("cell", cell, CELLS)
    input_dim = check_int("input_dim", input_dim, low=1)
    units = check_int("units", units, low=1)
    n_outputs = check_int("n_outputs", n_outputs, low=1)
    act = _activation("activation", activation, ("tanh", "relu") if cell == "rnn" else ("tanh",))
    k_init, r_init = _init("kernel_init", kernel_init), _init("recurrent_init", recurrent_init)
    b_init, o_init = _init("bias_init", bias_init), _init("output_init", output_init)
    forget_bias = check_number("forget_bias", forget_bias)
    if seq_len is not None:
        seq_len = check_int("seq_len", seq_len, low=1)
    if not isinstance(return_sequences, bool):
        raise TypeError(f"return_sequences must be True or False; got {return_sequences!r}.")
    seed = _seed(seed)

    if fw == "keras":
        keras = frameworks.keras()
        L = keras.layers
        config.set_seed(seed)
        kw = dict(kernel_initializer=_keras_init(k_init, _layer_seed(seed, 0)),
                  recurrent_initializer=_keras_init(r_init, _layer_seed(seed, 1)),
                  bias_initializer=_keras_init(b_init, _layer_seed(seed, 2)),
                  return_sequences=return_sequences, name="rnn")
        rnn = L.LSTM(units, unit_forget_bias=False, **kw) if cell == "lstm" else L.SimpleRNN(units, activation=act, **kw)
        model = keras.Sequential([keras.Input((seq_len, input_dim), name="input"), rnn,
                                  _keras_dense(n_outputs, o_init, b_init, seed, 2, "output")], name=cell)
        if cell == "lstm":
            bias = rnn.cell.bias
            b = np.asarray(bias.numpy())
            b[units:2 * units] = forget_bias  # gate order i, f, c, o
            bias.assign(b)
        return model

    torch = frameworks.torch()
    config.set_seed(seed)
    g = _torch_generator(seed)
    model = _torch_classes().Recurrent(cell, input_dim, units, n_outputs, act, return_sequences)
    rnn = model.rnn
    k_init.apply_torch_(rnn.weight_ih_l0, generator=g)
    r_init.apply_torch_(rnn.weight_hh_l0, generator=g)
    b_init.apply_torch_(rnn.bias_ih_l0, generator=g)
    with torch.no_grad():
        rnn.bias_hh_l0.zero_()  # Keras has one bias; this one stays zero so the sum matches it
        if cell == "lstm":
            rnn.bias_ih_l0[units:2 * units] = forget_bias
    _torch_init_linear(model.output, o_init, b_init, g)
    return _finish_torch(model, (seq_len, input_dim))


# ------------------------------------------------------------- build_residual_mlp


def build_residual_mlp(
    framework: str,
    input_dim: int,
    width: int = 128,
    n_blocks: int = 4,
    activation: str = "relu",
    init: Any = "he_normal",
    bias_init: Any = "zeros",
    branch_depth: int = 2,
    zero_branch_output: bool = True,
    n_classes: int = 10,
    output_init: Any = None,
    seed: int = 0,
) -> Any:
    """A residual MLP: ``stem -> n_blocks x [h <- h + branch(h)] -> activation -> output``.

    ``stem``: dense ``input_dim -> width`` and the activation. A block's branch is
    ``branch_depth`` dense layers of ``width`` with the activation between them
    (``block_b_dense_1, block_b_act_1, ..., block_b_out``); there is no activation
    on the identity path, so when ``block_b_out`` starts at zero
    (``zero_branch_output=True``: zero kernel and bias) every block starts as the
    identity and the deep network starts as the shallow ``stem -> output``
    (as Goyal et al. 2017's zero-gamma and Fixup's zero last layer, Zhang et al.
    2019; SkipInit, De & Smith 2020, reaches the same start with a learnable
    scalar at 0 on each branch). Its gradient is not zero: ``block_b_out`` learns at once, and the
    inner layers as soon as it has moved. With ``zero_branch_output=False`` every
    dense layer is drawn from ``init`` and the signal's variance grows with the
    number of blocks.
    """
    fw, input_dim, width, n_blocks, branch_depth, act, n_classes = _residual_args(
        framework, input_dim, width, n_blocks, branch_depth, activation, n_classes, min_blocks=0, min_branch_depth=1)
    w_init, b_init, o_init = _inits(init, bias_init, output_init)
    if not isinstance(zero_branch_output, bool):
        raise TypeError(f"zero_branch_output must be True or False; got {zero_branch_output!r}.")
    return _residual_net(fw, input_dim, width, n_blocks, branch_depth, act, n_classes, w_init, b_init, o_init, b_init,
                         _seed(seed), zero_last_dense=zero_branch_output, name="residual_mlp", torch_add=False)


# ------------------------------------------------------------------ Bayes by Backprop


def bayesian_dense(
    framework: str,
    in_features: int,
    units: int,
    *,
    mean_init: Any = "he_normal",
    bias_init: Any = "zeros",
    target_sigma: float = DEFAULT_TARGET_SIGMA,
    prior_sigma: float = DEFAULT_PRIOR_SIGMA,
    kl_weight: float | None = None,
    seed: int = 0,
    name: str | None = None,
) -> Any:
    """One variational dense layer (Bayes by Backprop, Blundell et al. 2015, "Weight Uncertainty in
    Neural Networks").

    Every weight (and bias) is a Gaussian ``q = N(mu, sigma^2)`` with
    ``sigma = softplus(rho) = log(1 + e^rho)`` (positive whatever the optimiser does).
    Initialization is two choices: ``mu`` from any registry scheme (``mean_init``:
    He, Glorot, ...; as ``sigma -> 0`` the layer is the ordinary dense layer), and
    ``rho = log(e^target_sigma - 1)`` so every sigma starts at ``target_sigma``.

    A training pass samples ``w = mu + sigma * eps`` (``eps ~ N(0, 1)``, the
    reparameterisation trick); an inference pass uses ``mu`` (set the layer's
    ``sample_at_eval = True`` to sample there too). ``layer.kl()`` is
    ``KL(q || p)`` to the prior ``p = N(0, prior_sigma^2)``, in closed form
    (see :func:`kl_divergence`). The loss to minimise is the negative ELBO per
    example, ``NLL + kl_weight * KL`` with ``kl_weight = 1 / n_train``;
    ``kl_weight=None`` lets :func:`course_utils.training.train` set it from the
    data. Keras adds the term itself (``model.losses``); for PyTorch ``train``
    adds it.

    Returns a Keras ``BayesianDense`` layer or a torch ``BayesianLinear`` module.
    """
    fw = frameworks.check_framework(framework)
    in_features = check_int("in_features", in_features, low=1)
    units = check_int("units", units, low=1)
    m_init, b_init = _init("mean_init", mean_init), _init("bias_init", bias_init)
    target_sigma = check_number("target_sigma", target_sigma, low=0.0, low_inclusive=False)
    prior_sigma = check_number("prior_sigma", prior_sigma, low=0.0, low_inclusive=False)
    if kl_weight is not None:
        kl_weight = check_number("kl_weight", kl_weight, low=0.0)
    seed = _seed(seed)
    if fw == "keras":
        frameworks.keras()
        layer = _keras_classes().BayesianDense(units, m_init, b_init, target_sigma, prior_sigma, kl_weight, seed,
                                               name=name)
        layer.build((None, in_features))
        return layer
    from .initializers import get, posterior_rho

    g = _torch_generator(seed)
    layer = _torch_classes().BayesianLinear(in_features, units, prior_sigma, kl_weight)
    rho = get("constant", value=posterior_rho(target_sigma))
    m_init.apply_torch_(layer.weight_mu, generator=g)
    rho.apply_torch_(layer.weight_rho)
    b_init.apply_torch_(layer.bias_mu, generator=g)
    rho.apply_torch_(layer.bias_rho)
    return layer


def build_bayesian_mlp(
    framework: str,
    input_dim: int,
    hidden: int | Sequence[int],
    activation: str = "relu",
    init: Any = "he_normal",
    bias_init: Any = "zeros",
    n_classes: int = 10,
    target_sigma: float = DEFAULT_TARGET_SIGMA,
    prior_sigma: float = DEFAULT_PRIOR_SIGMA,
    kl_weight: float | None = None,
    output_init: Any = None,
    seed: int = 0,
    *,
    depth: int | None = None,
) -> Any:
    """An MLP of Bayesian dense layers (see :func:`bayesian_dense`), named as :func:`build_mlp`'s:
    ``hidden_1 -> act_1 -> ... -> output``, every dense layer variational.

    ``init`` draws the posterior means of the hidden layers (``output_init``, default
    ``init``, the output layer's), ``target_sigma`` sets every initial posterior std,
    ``prior_sigma`` the prior, ``kl_weight`` the weight of the KL term per example
    (``None``: ``1 / n_train``, set by ``training.train``).
    """
    fw = frameworks.check_framework(framework)
    input_dim = check_int("input_dim", input_dim, low=1)
    sizes = _sizes("hidden", hidden, depth)
    act = _activation("activation", activation)
    n_classes = check_int("n_classes", n_classes, low=1)
    w_init, b_init, o_init = _inits(init, bias_init, output_init)
    seed = _seed(seed)
    options = (("target_sigma", target_sigma), ("prior_sigma", prior_sigma), ("kl_weight", kl_weight))
    widths = [input_dim, *sizes]
    spec = [LayerSpec("input", "input", (input_dim,)),
            *_dense_stack(widths, act, w_init, b_init, kind="bayesian", first_index=0, options=options),
            LayerSpec("output", "bayesian", n_classes, widths[-1], o_init, b_init, len(sizes), options)]
    return _realise(fw, spec, seed, "bayesian_mlp")


def _bayesian_from_spec(fw: str, ls: LayerSpec, seed: int) -> Any:
    return bayesian_dense(fw, ls.fan_in, ls.size, mean_init=ls.init, bias_init=ls.bias_init,
                          seed=_layer_seed(seed, ls.index), name=ls.name, **dict(ls.options))


def bayesian_layers(model: Any, framework: str | None = None) -> list[tuple[str, Any]]:
    """The Bayesian (variational) layers of a model, in order, as ``(name, layer)``."""
    fw = framework or frameworks.framework_of(model)
    # BayesianDense and BayesianLinear, alike: a layer whose weights are a distribution has a KL term
    return [(name, layer) for name, layer in weight_layers(model, fw) if callable(getattr(layer, "kl", None))]


def kl_divergence(model: Any) -> Any:
    """``KL(q || p)`` summed over every Bayesian layer of ``model``: a scalar tensor of its framework.

    For each weight, ``KL(N(mu, sigma^2) || N(0, sigma_p^2)) = log(sigma_p / sigma)
    + (sigma^2 + mu^2) / (2 sigma_p^2) - 1/2`` (Blundell et al. 2015, eq. 2 with a
    Gaussian prior). Zero for a model without Bayesian layers.
    """
    fw = frameworks.framework_of(model)
    return sum((layer.kl() for _, layer in bayesian_layers(model, fw)), _ZERO[fw]())


# ------------------------------------------------------------------- walking models


def weight_shapes(model: Any) -> list[tuple[str, tuple[int, ...]]]:
    """``(name, shape)`` of each weight layer's main kernel, in **Keras layout** for both frameworks.

    Dense ``(in, out)``, convolution ``(kh, kw, in, out)``, recurrent input kernel
    ``(in, gates * units)``, Bayesian layers their mean ``(in, out)``; a PyTorch
    weight ``(out, in, ...)`` is reported transposed, so a Keras build and a PyTorch
    build of the same spec give equal lists.
    """
    fw = frameworks.framework_of(model)
    return [(name, _KERAS_LAYOUT_SHAPE[fw](layer)) for name, layer in weight_layers(model, fw)]


def _torch_kernel_shape(layer: Any) -> tuple[int, ...]:
    s = tuple(int(d) for d in next(p for p in layer.parameters(recurse=False) if p.ndim >= 2).shape)
    return (*s[2:], s[1], s[0])  # (out, in, ...) -> (..., in, out)


def _keras_kernel_shape(layer: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in next(w for w in layer.trainable_weights if len(w.shape) >= 2).shape)


# one function name, one per framework: a layer's main kernel shape in Keras layout; a scalar zero
_KERAS_LAYOUT_SHAPE = {"keras": _keras_kernel_shape, "torch": _torch_kernel_shape}
_ZERO = {"keras": lambda: frameworks.keras().ops.zeros(()), "torch": lambda: frameworks.torch().zeros(())}


# ------------------------------------------------------------------ build_plain_cnn (notebook 13)


def build_plain_cnn(
    framework: str,
    input_shape: Sequence[int] = (28, 28),
    depth: int = 12,
    channels: int = 8,
    kernel_size: int = 3,
    activation: str = "relu",
    init: Any = "he_normal",
    bias_init: Any = "zeros",
    pool_after: Sequence[int] | None = None,
    n_classes: int = 10,
    output_init: Any = None,
    seed: int = 0,
) -> Any:
    """A deep *plain* CNN (no shortcut, no normalization): ``depth`` convolutions of ``channels`` filters.

    ``conv_1 -> act_1 -> [pool] -> conv_2 -> act_2 -> ... -> conv_depth -> act_depth -> flatten -> output``,
    same padding, a 2x2 max-pool after each conv whose number is in ``pool_after``
    (default ``(1, depth // 2)``: 28x28 images are convolved at 14x14 for the first
    half and 7x7 for the second, which keeps a 20-layer network cheap on a CPU).
    This is the network He et al. (2015, figure 3) and Simonyan & Zisserman (2015)
    trained deep without normalization: whether it trains depends on ``init``.
    Every conv has ``fan_in = c_in * kh * kw`` (Keras layout ``(kh, kw, c_in, c_out)``,
    PyTorch ``(c_out, c_in, kh, kw)``: see ``initializers.compute_fans``).
    """
    fw = frameworks.check_framework(framework)
    shape = check_shape("input_shape", input_shape, min_dims=2)
    if len(shape) > 3:
        raise ValueError(f"input_shape must be (height, width) or (height, width, channels); got {shape!r}.")
    depth = check_int("depth", depth, low=1)
    channels = check_int("channels", channels, low=1)
    k = check_int("kernel_size", kernel_size, low=1)
    act = _activation("activation", activation)
    n_classes = check_int("n_classes", n_classes, low=1)
    w_init, b_init, o_init = _inits(init, bias_init, output_init)
    seed = _seed(seed)
    pools = sorted({1, max(1, depth // 2)}) if pool_after is None else sorted(set(pool_after))
    for p in pools:
        check_int("pool_after entries", p, low=1, high=depth)
    h, w = shape[0], shape[1]
    for _ in pools:
        if h < 2 or w < 2:
            raise ValueError(f"input_shape {shape} is too small for {len(pools)} poolings (each halves the size); "
                             "give fewer pool_after entries.")
        h, w = h // 2, w // 2
    in_ch = shape[2] if len(shape) == 3 else 1
    spec = [LayerSpec("input", "input", shape), LayerSpec("channels", "channels", shape)]
    c_in = in_ch
    for i in range(1, depth + 1):
        spec += [LayerSpec(f"conv_{i}", "conv", channels, c_in, w_init, b_init, i, (("kernel_size", k),)),
                 LayerSpec(f"act_{i}", "activation", act)]
        if i in pools:
            spec.append(LayerSpec(f"pool_{i}", "pool"))
        c_in = channels
    flat = h * w * channels
    spec += [LayerSpec("flatten", "flatten"), LayerSpec("output", "dense", n_classes, flat, o_init, b_init, 0)]
    return _realise(fw, spec, seed, "plain_cnn")


# --------------------------------------------------------- build_deep_residual_mlp (notebook 13)

#: What :func:`build_deep_residual_mlp` does to each residual branch at the start.
RESIDUAL_REMEDIES = ("none", "zero", "skipinit", "fixup")
#: Normalization layers :func:`build_deep_residual_mlp` can put in its branches.
NORMS = ("none", "batchnorm", "layernorm")
_NORM_EPSILON = 1e-5  # PyTorch's default; Keras's is 1e-3: set equal so both frameworks compute the same


def fixup_scale(n_blocks: int, branch_depth: int) -> float:
    """Fixup's factor on a branch's inner weights: ``L ** (-1 / (2 m - 2))`` (Zhang et al. 2019, eq. 2/rule 2).

    ``L`` residual branches of ``m`` layers each; with He weights scaled by it, the
    sum of the ``L`` branches' contributions to the output's change per SGD step stays
    ``O(1)`` whatever ``L``. ``m = 2``: ``1 / sqrt(L)``.
    """
    n_blocks = check_int("n_blocks", n_blocks, low=1)
    branch_depth = check_int("branch_depth", branch_depth, low=2)
    return float(n_blocks ** (-1.0 / (2 * branch_depth - 2)))


@functools.cache
def _residual_torch_classes() -> SimpleNamespace:
    torch = frameworks.torch()
    nn = torch.nn

    class Add(nn.Module):
        """``h + z``, a module so that hooks (``diagnostics.residual_stream``) see the residual stream."""

        def forward(self, h, z):
            return h + z

    class Scale(nn.Module):
        """One learnable scalar times the branch (SkipInit/ReZero: starts at 0; Fixup's multiplier: at 1)."""

        def __init__(self, value: float) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.tensor(float(value)))

        def forward(self, z):
            return self.scale * z

    class ResidualMLP(nn.Module):
        """stem -> blocks [h <- add(h, scale(branch(h)))] -> head_act -> output (names as in the Keras build).

        The one residual MLP of both builders: a block's norm, scale and add modules are optional
        (``build_residual_mlp`` has none of them: ``h + branch(h)``)."""

        def __init__(self, layout: list[tuple[str, Any]], n_blocks: int, branch_depth: int) -> None:
            super().__init__()
            for name, module in layout:
                self.add_module(name, module)
            self.n_blocks, self.branch_depth = n_blocks, branch_depth

        def forward(self, x):
            h = self.stem_act(self.stem(x))
            for b in range(1, self.n_blocks + 1):
                z = h
                for j in range(1, self.branch_depth + 1):
                    name = f"block_{b}_dense_{j}" if j < self.branch_depth else f"block_{b}_out"
                    z = getattr(self, name)(z)
                    norm = getattr(self, f"block_{b}_norm_{j}", None)
                    if norm is not None:
                        z = norm(z)
                    if j < self.branch_depth:
                        z = getattr(self, f"block_{b}_act_{j}")(z)
                scale, add = getattr(self, f"block_{b}_scale", None), getattr(self, f"block_{b}_add", None)
                z = z if scale is None else scale(z)
                h = h + z if add is None else add(h, z)
            return self.output(self.head_act(h))

    return SimpleNamespace(Add=Add, Scale=Scale, ResidualMLP=ResidualMLP)


@functools.cache
def _residual_keras_classes() -> SimpleNamespace:
    keras = frameworks.keras()

    @keras.saving.register_keras_serializable(package="course_utils", name="BranchScale")
    class BranchScale(keras.layers.Layer):
        """One learnable scalar times the branch (SkipInit/ReZero: starts at 0; Fixup's multiplier: at 1)."""

        def __init__(self, value: float = 0.0, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.value = float(value)

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(), name="scale",
                                         initializer=keras.initializers.Constant(self.value))

        def call(self, inputs):
            return self.scale * inputs

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "value": self.value}

    return SimpleNamespace(BranchScale=BranchScale)


def build_deep_residual_mlp(
    framework: str,
    input_dim: int,
    width: int = 64,
    n_blocks: int = 16,
    branch_depth: int = 2,
    activation: str = "relu",
    init: Any = "he_normal",
    bias_init: Any = "zeros",
    remedy: str = "none",
    norm: str = "none",
    n_classes: int = 10,
    output_init: Any = None,
    seed: int = 0,
) -> Any:
    """A deep residual MLP with a choice of how its branches start: ``stem -> n_blocks x
    [h <- h + branch(h)] -> activation -> output``.

    A branch is ``branch_depth`` dense layers (``block_b_dense_1, ..., block_b_out``),
    each followed by a normalization layer ``block_b_norm_j`` when ``norm`` is
    ``"batchnorm"`` or ``"layernorm"``, with the activation between them (the ResNet
    v1 branch: ``dense -> norm -> act -> dense -> norm``), and the block's sum is the
    layer ``block_b_add``. Every dense layer is drawn from ``init``; ``remedy`` then
    changes the start:

    * ``"none"``: nothing -- the standard initialization, whose forward variance grows
      geometrically with the blocks (He: ``x3`` per two-layer branch);
    * ``"zero"``: the branch's last layer starts at zero -- its last normalization scale
      when ``norm`` is set (zero-gamma, Goyal et al. 2017), else its last dense layer
      (notebook 03's ``build_residual_mlp(zero_branch_output=True)``);
    * ``"skipinit"``: a learnable scalar ``block_b_scale`` multiplies the branch and
      starts at 0 (SkipInit, De & Smith 2020; ReZero, Bachlechner et al. 2020);
    * ``"fixup"``: Fixup (Zhang et al. 2019): the inner layers' weights times
      :func:`fixup_scale` ``= L^(-1/(2m-2))``, the branch's last layer and the classifier
      ``output`` at zero, and a learnable multiplier ``block_b_scale`` starting at 1.
      (Fixup's scalar biases are left out: every dense layer here has a per-unit bias.)

    Normalization layers use ``epsilon = 1e-5`` and, for batch norm, a running-average
    momentum of 0.1 in PyTorch's convention (Keras ``momentum=0.9``), equal in both frameworks.
    """
    fw, input_dim, width, n_blocks, branch_depth, act, n_classes = _residual_args(
        framework, input_dim, width, n_blocks, branch_depth, activation, n_classes, min_blocks=1, min_branch_depth=2)
    remedy = check_choice("remedy", remedy, RESIDUAL_REMEDIES)
    norm = check_choice("norm", norm, NORMS)
    if remedy == "fixup" and norm != "none":
        raise ValueError("remedy='fixup' is an initialization for networks WITHOUT normalization (Zhang et al. "
                         "2019); use remedy='zero' (zero last normalization scale) with norm=" f"{norm!r}.")
    w_init, b_init, o_init = _inits(init, bias_init, output_init)
    zeros = _init("zeros", "zeros")
    out_b_init = b_init
    if remedy == "fixup":
        o_init = out_b_init = zeros
    zero_last_dense = remedy == "fixup" or (remedy == "zero" and norm == "none")
    zero_last_gamma = remedy == "zero" and norm != "none"
    scale_value = {"skipinit": 0.0, "fixup": 1.0}.get(remedy)
    inner = fixup_scale(n_blocks, branch_depth) if remedy == "fixup" else 1.0
    return _residual_net(fw, input_dim, width, n_blocks, branch_depth, act, n_classes, w_init, b_init, o_init,
                         out_b_init, _seed(seed), zero_last_dense=zero_last_dense, zero_last_gamma=zero_last_gamma,
                         norm=norm, scale_value=scale_value, inner=inner, name="deep_residual_mlp")


def _residual_args(framework: str, input_dim: Any, width: Any, n_blocks: Any, branch_depth: Any, activation: Any,
                   n_classes: Any, *, min_blocks: int, min_branch_depth: int) -> tuple[Any, ...]:
    """The residual builders' shared arguments, checked (the deep builder needs a block and a two-layer branch)."""
    return (frameworks.check_framework(framework), check_int("input_dim", input_dim, low=1),
            check_int("width", width, low=1), check_int("n_blocks", n_blocks, low=min_blocks),
            check_int("branch_depth", branch_depth, low=min_branch_depth), _activation("activation", activation),
            check_int("n_classes", n_classes, low=1))


def _residual_net(fw: str, input_dim: int, width: int, n_blocks: int, branch_depth: int, act: str, n_classes: int,
                  w_init: Any, b_init: Any, o_init: Any, out_b_init: Any, seed: int, *, zero_last_dense: bool,
                  zero_last_gamma: bool = False, norm: str = "none", scale_value: float | None = None,
                  inner: float = 1.0, name: str, torch_add: bool = True) -> Any:
    """The residual MLP of both builders (validated arguments), drawn in one order in both frameworks:
    ``stem``, then each block's dense layers, then ``output``.

    ``zero_last_dense``: each branch's last dense layer (kernel and bias) starts at zero;
    ``zero_last_gamma``: its last normalization scale does; ``scale_value``: a learnable scalar
    ``block_b_scale`` times the branch, starting there (None: no scalar); ``inner``: the branch's other
    dense kernels are multiplied by it after the draw (Fixup). ``torch_add``: the block's sum is a module
    ``block_b_add`` in PyTorch too (Keras always has its ``Add`` layer); ``build_residual_mlp``'s PyTorch
    model has none, so its module list is what notebook 03 shows.
    """
    zeros = _init("zeros", "zeros")
    last_w, last_b = (zeros, zeros) if zero_last_dense else (w_init, b_init)
    if fw == "keras":
        keras = frameworks.keras()
        L = keras.layers
        config.set_seed(seed)

        def norm_layer(name: str, gamma_zero: bool) -> Any:
            gamma = "zeros" if gamma_zero else "ones"
            if norm == "batchnorm":
                return L.BatchNormalization(momentum=0.9, epsilon=_NORM_EPSILON, gamma_initializer=gamma, name=name)
            return L.LayerNormalization(epsilon=_NORM_EPSILON, gamma_initializer=gamma, name=name)

        x = keras.Input((input_dim,), name="input")
        h = activations.keras_layer(act, "stem_act")(_keras_dense(width, w_init, b_init, seed, 1, "stem")(x))
        inner_layers = []
        i = 2
        for b in range(1, n_blocks + 1):
            z = h
            for j in range(1, branch_depth + 1):
                last = j == branch_depth
                if last:
                    layer = _keras_dense(width, last_w, last_b, seed, i, f"block_{b}_out")
                else:
                    layer = _keras_dense(width, w_init, b_init, seed, i, f"block_{b}_dense_{j}")
                    inner_layers.append(layer)
                z = layer(z)
                i += 1
                if norm != "none":
                    z = norm_layer(f"block_{b}_norm_{j}", last and zero_last_gamma)(z)
                if not last:
                    z = activations.keras_layer(act, f"block_{b}_act_{j}")(z)
            if scale_value is not None:
                z = _residual_keras_classes().BranchScale(scale_value, name=f"block_{b}_scale")(z)
            h = L.Add(name=f"block_{b}_add")([h, z])
        out = _keras_dense(n_classes, o_init, out_b_init, seed, 0, "output")(
            activations.keras_layer(act, "head_act")(h))
        model = keras.Model(x, out, name=name)
        if inner != 1.0:
            for layer in inner_layers:
                layer.kernel.assign(layer.kernel * inner)
        return model

    torch = frameworks.torch()
    nn = torch.nn
    config.set_seed(seed)
    g = _torch_generator(seed)
    C = _residual_torch_classes()

    def norm_module(gamma_zero: bool) -> Any:
        m = nn.BatchNorm1d(width, eps=_NORM_EPSILON, momentum=0.1) if norm == "batchnorm" else nn.LayerNorm(
            width, eps=_NORM_EPSILON)
        if gamma_zero:
            nn.init.zeros_(m.weight)
        return m

    layout: list[tuple[str, Any]] = [
        ("stem", _torch_init_linear(nn.Linear(input_dim, width), w_init, b_init, g)),
        ("stem_act", activations.torch_module(act)),
    ]
    for b in range(1, n_blocks + 1):
        for j in range(1, branch_depth + 1):
            last = j == branch_depth
            if last:
                layout.append((f"block_{b}_out", _torch_init_linear(nn.Linear(width, width), last_w, last_b, g)))
            else:
                lin = _torch_init_linear(nn.Linear(width, width), w_init, b_init, g)
                if inner != 1.0:
                    with torch.no_grad():
                        lin.weight.mul_(inner)
                layout.append((f"block_{b}_dense_{j}", lin))
            if norm != "none":
                layout.append((f"block_{b}_norm_{j}", norm_module(last and zero_last_gamma)))
            if not last:
                layout.append((f"block_{b}_act_{j}", activations.torch_module(act)))
        if scale_value is not None:
            layout.append((f"block_{b}_scale", C.Scale(scale_value)))
        if torch_add:
            layout.append((f"block_{b}_add", C.Add()))
    layout += [("head_act", activations.torch_module(act)),
               ("output", _torch_init_linear(nn.Linear(width, n_classes), o_init, out_b_init, g))]
    model = C.ResidualMLP(layout, n_blocks, branch_depth)
    return _finish_torch(model, (input_dim,))


# ------------------------------------------------------------ a small decoder-only transformer (notebook 14)
# GPT-2's architecture as nanoGPT writes it (pre-LayerNorm blocks, causal self-attention, a 4x GELU MLP),
# with the same module names in both frameworks: wte, wpe, h_1..h_L (each: ln_1, attn_c_attn, attn_c_proj,
# ln_2, mlp_c_fc, mlp_c_proj), ln_f, lm_head. The LM head is not tied to wte (nanoGPT ties them).
# Attention is written out (no fused kernel) in both frameworks so that its logits can be read.

TRANSFORMER_INITS = ("gpt2", "gpt2_unscaled", "default")
_RESIDUAL_PROJECTIONS = ("attn_c_proj", "mlp_c_proj")
GPT2_STD = 0.02


def gpt2_std(name: str, n_layer: int, scaled: bool = True) -> float:
    """The standard deviation GPT-2's scheme (nanoGPT) gives weight ``name``: 0.02, and
    ``0.02 / sqrt(2 n_layer)`` for the residual output projections (``attn_c_proj``, ``mlp_c_proj``)
    when ``scaled``."""
    n_layer = check_int("n_layer", n_layer, low=1)
    if scaled and name in _RESIDUAL_PROJECTIONS:
        return GPT2_STD / math.sqrt(2 * n_layer)
    return GPT2_STD


@functools.cache
def _transformer_torch_classes() -> SimpleNamespace:
    torch = frameworks.torch()
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        """x + attn(ln_1(x)), then x + mlp(ln_2(x)) (pre-LayerNorm, GPT-2)."""

        def __init__(self, d_model: int, n_head: int, block_size: int) -> None:
            super().__init__()
            self.n_head = n_head
            self.ln_1 = nn.LayerNorm(d_model, eps=1e-5)
            self.attn_c_attn = nn.Linear(d_model, 3 * d_model)
            self.attn_c_proj = nn.Linear(d_model, d_model)
            self.ln_2 = nn.LayerNorm(d_model, eps=1e-5)
            self.mlp_c_fc = nn.Linear(d_model, 4 * d_model)
            self.mlp_c_proj = nn.Linear(4 * d_model, d_model)
            self.register_buffer("mask", torch.tril(torch.ones(block_size, block_size, dtype=torch.bool)),
                                 persistent=False)

        def traced(self, x):
            """(output, the attention logits q.k/sqrt(d_head) before the mask)."""
            b, t, d = x.shape
            hd = d // self.n_head
            q, k, v = self.attn_c_attn(self.ln_1(x)).split(d, dim=-1)
            q, k, v = (z.view(b, t, self.n_head, hd).transpose(1, 2) for z in (q, k, v))
            logits = q @ k.transpose(-2, -1) / math.sqrt(hd)
            att = F.softmax(logits.masked_fill(~self.mask[:t, :t], float("-inf")), dim=-1)
            y = (att @ v).transpose(1, 2).reshape(b, t, d)
            x = x + self.attn_c_proj(y)
            x = x + self.mlp_c_proj(F.gelu(self.mlp_c_fc(self.ln_2(x))))
            return x, logits

        def forward(self, x):
            return self.traced(x)[0]

    class TransformerLM(nn.Module):
        def __init__(self, vocab_size: int, d_model: int, n_layer: int, n_head: int, block_size: int) -> None:
            super().__init__()
            self.block_size, self.n_layer = block_size, n_layer
            self.wte = nn.Embedding(vocab_size, d_model)
            self.wpe = nn.Embedding(block_size, d_model)
            for i in range(1, n_layer + 1):
                self.add_module(f"h_{i}", Block(d_model, n_head, block_size))
            self.ln_f = nn.LayerNorm(d_model, eps=1e-5)
            self.lm_head = nn.Linear(d_model, vocab_size)

        def blocks(self) -> list:
            return [getattr(self, f"h_{i}") for i in range(1, self.n_layer + 1)]

        def embed(self, idx):
            idx = idx.long()
            return self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))

        def forward(self, idx):
            x = self.embed(idx)
            for block in self.blocks():
                x = block(x)
            return self.lm_head(self.ln_f(x))

    return SimpleNamespace(Block=Block, TransformerLM=TransformerLM)


@functools.cache
def _transformer_keras_classes() -> SimpleNamespace:
    keras = frameworks.keras()
    ops, layers = keras.ops, keras.layers

    class TokenAndPosition(layers.Layer):
        """wte(idx) + wpe(position)."""

        def __init__(self, vocab_size: int, d_model: int, block_size: int, inits: tuple, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.wte = layers.Embedding(vocab_size, d_model, embeddings_initializer=inits[0], name="wte")
            self.wpe = layers.Embedding(block_size, d_model, embeddings_initializer=inits[1], name="wpe")

        def build(self, input_shape):
            self.wte.build(input_shape)
            self.wpe.build((input_shape[1],))

        def call(self, idx):
            return self.wte(idx) + self.wpe(ops.arange(ops.shape(idx)[1]))[None]

        def compute_output_shape(self, input_shape):
            return (*input_shape, self.wte.output_dim)

    class Block(layers.Layer):
        """x + attn(ln_1(x)), then x + mlp(ln_2(x)) (pre-LayerNorm, GPT-2)."""

        def __init__(self, d_model: int, n_head: int, inits: dict, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.d_model, self.n_head = d_model, n_head
            self.ln_1 = layers.LayerNormalization(epsilon=1e-5, name="ln_1")
            self.ln_2 = layers.LayerNormalization(epsilon=1e-5, name="ln_2")
            sizes = {"attn_c_attn": 3 * d_model, "attn_c_proj": d_model, "mlp_c_fc": 4 * d_model,
                     "mlp_c_proj": d_model}
            for name, units in sizes.items():
                setattr(self, name, layers.Dense(units, name=name, **inits[name]))

        def build(self, input_shape):
            d = self.d_model
            self.ln_1.build(input_shape)
            self.ln_2.build(input_shape)
            self.attn_c_attn.build(input_shape)
            self.attn_c_proj.build((*input_shape[:-1], d))
            self.mlp_c_fc.build(input_shape)
            self.mlp_c_proj.build((*input_shape[:-1], 4 * d))

        def traced(self, x):
            b, t = ops.shape(x)[0], ops.shape(x)[1]
            d, h = self.d_model, self.n_head
            hd = d // h
            qkv = self.attn_c_attn(self.ln_1(x))
            q, k, v = (ops.transpose(ops.reshape(qkv[..., i * d:(i + 1) * d], (b, t, h, hd)), (0, 2, 1, 3))
                       for i in range(3))
            logits = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(hd)
            causal = ops.tril(ops.ones((t, t), dtype="bool"))
            att = ops.softmax(ops.where(causal, logits, -1e9), axis=-1)
            y = ops.reshape(ops.transpose(ops.matmul(att, v), (0, 2, 1, 3)), (b, t, d))
            x = x + self.attn_c_proj(y)
            x = x + self.mlp_c_proj(keras.activations.gelu(self.mlp_c_fc(self.ln_2(x)), approximate=False))
            return x, logits

        def call(self, x):
            return self.traced(x)[0]

        def compute_output_shape(self, input_shape):
            return input_shape

    return SimpleNamespace(TokenAndPosition=TokenAndPosition, Block=Block)


def _transformer_args(vocab_size: Any, d_model: Any, n_layer: Any, n_head: Any, block_size: Any,
                      init_scheme: Any) -> tuple[int, int, int, int, int, str]:
    vocab_size = check_int("vocab_size", vocab_size, low=2)
    d_model = check_int("d_model", d_model, low=1)
    n_layer = check_int("n_layer", n_layer, low=1)
    n_head = check_int("n_head", n_head, low=1)
    block_size = check_int("block_size", block_size, low=1)
    init_scheme = check_choice("init_scheme", init_scheme, TRANSFORMER_INITS)
    if d_model % n_head:
        raise ValueError(f"d_model ({d_model}) must be a multiple of n_head ({n_head}): each head gets "
                         f"d_model / n_head dimensions. Try n_head={math.gcd(d_model, n_head)}.")
    return vocab_size, d_model, n_layer, n_head, block_size, init_scheme


def build_transformer_lm(
    framework: str,
    vocab_size: int,
    d_model: int = 64,
    n_layer: int = 2,
    n_head: int = 4,
    block_size: int = 64,
    init_scheme: str = "gpt2",
    seed: int = 0,
) -> Any:
    """A decoder-only (GPT-2-style, pre-LayerNorm) character language model; logits ``(batch, time, vocab)``.

    Input: ``(batch, time)`` token ids (integers, or floats holding integers, as
    :func:`course_utils.training.train` passes them), ``time <= block_size``.

    ``init_scheme``:

    * ``"gpt2"``: GPT-2's scheme as nanoGPT writes it: every Linear/Dense and both
      embeddings ``N(0, 0.02)``, biases 0, LayerNorm weight 1 and bias 0, and the residual
      output projections (``attn_c_proj``, ``mlp_c_proj``) ``N(0, 0.02 / sqrt(2 n_layer))``;
    * ``"gpt2_unscaled"``: the same without the ``1 / sqrt(2 n_layer)``;
    * ``"default"``: each framework's defaults, which differ: Keras ``Dense`` Glorot uniform
      (bias 0) and ``Embedding`` uniform(-0.05, 0.05); PyTorch ``Linear`` uniform(+-1/sqrt(fan_in))
      (weight and bias) and ``Embedding`` ``N(0, 1)``.
    """
    fw = frameworks.check_framework(framework)
    vocab_size, d_model, n_layer, n_head, block_size, init_scheme = _transformer_args(
        vocab_size, d_model, n_layer, n_head, block_size, init_scheme)
    seed = _seed(seed)
    gpt2 = init_scheme != "default"
    scaled = init_scheme == "gpt2"
    if fw == "torch":
        torch = frameworks.torch()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the defaults draw from the global generator
            model = _transformer_torch_classes().TransformerLM(vocab_size, d_model, n_layer, n_head, block_size)
        if gpt2:
            g = _torch_generator(seed)
            with torch.no_grad():
                for name, p in model.named_parameters():
                    leaf = name.split(".")[-2]
                    if p.ndim == 2:  # Linear weights and embeddings
                        p.normal_(0.0, gpt2_std(leaf, n_layer, scaled), generator=g)
                    elif leaf.startswith("ln"):
                        p.fill_(1.0 if name.endswith("weight") else 0.0)
                    else:
                        p.zero_()
        return _finish_torch(model, (block_size,))
    keras = frameworks.keras()
    C = _transformer_keras_classes()
    counter = iter(range(10**6))

    def normal(name: str) -> Any:
        return keras.initializers.RandomNormal(0.0, gpt2_std(name, n_layer, scaled), seed=_layer_seed(seed, next(counter)))

    def uniform_default() -> Any:  # keras.layers.Embedding's default, seeded
        return keras.initializers.RandomUniform(-0.05, 0.05, seed=_layer_seed(seed, next(counter)))

    def dense(name: str) -> dict[str, Any]:
        if gpt2:
            return {"kernel_initializer": normal(name), "bias_initializer": "zeros"}
        return {"kernel_initializer": keras.initializers.GlorotUniform(seed=_layer_seed(seed, next(counter)))}

    idx = keras.Input((block_size,), name="tokens")
    emb = (normal("wte"), normal("wpe")) if gpt2 else (uniform_default(), uniform_default())
    x = C.TokenAndPosition(vocab_size, d_model, block_size, emb, name="embed")(idx)
    for i in range(1, n_layer + 1):
        inits = {n: dense(n) for n in ("attn_c_attn", "attn_c_proj", "mlp_c_fc", "mlp_c_proj")}
        x = C.Block(d_model, n_head, inits, name=f"h_{i}")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="ln_f")(x)
    out = keras.layers.Dense(vocab_size, name="lm_head", **dense("lm_head"))(x)
    return keras.Model(idx, out, name=f"transformer_{n_layer}x{d_model}_{init_scheme}")


def transformer_trace(model: Any, x: Any, y: Any = None) -> dict[str, Any]:
    """Read a :func:`build_transformer_lm` model at ``x`` (token ids ``(batch, time)``), in inference mode.

    Returns ``{"residual_var": [...], "attn_logit_std": [...], "logits": array}``: the residual
    stream's variance (over batch, positions and channels) after the embeddings and after each
    block (``n_layer + 1`` numbers), the standard deviation of each block's attention logits
    ``q.k / sqrt(d_head)`` (``n_layer`` numbers; causal positions only), and the output logits;
    with next-character targets ``y`` (``(batch, time)``), also ``"loss"``: the mean cross-entropy (nats).
    """
    fw = frameworks.framework_of(model)
    x = np.asarray(x)
    t = x.shape[1]
    causal = np.tril(np.ones((t, t), dtype=bool))
    variances: list[float] = []
    logit_stds: list[float] = []
    if fw == "torch":
        torch = frameworks.torch()
        with frameworks.eval_mode(model), torch.inference_mode():
            h = model.embed(torch.as_tensor(x))
            variances.append(float(h.double().var()))
            for block in model.blocks():
                h, logits = block.traced(h)
                variances.append(float(h.double().var()))
                logit_stds.append(float(logits.double().numpy()[..., causal].std()))
            out = model.lm_head(model.ln_f(h)).numpy()
    else:
        keras = frameworks.keras()
        h = model.get_layer("embed")(x.astype("int32"))
        variances.append(float(np.var(keras.ops.convert_to_numpy(h).astype(np.float64))))
        i = 1
        while True:
            try:
                block = model.get_layer(f"h_{i}")
            except ValueError:
                break
            h, logits = block.traced(h)
            variances.append(float(np.var(keras.ops.convert_to_numpy(h).astype(np.float64))))
            logit_stds.append(float(keras.ops.convert_to_numpy(logits).astype(np.float64)[..., causal].std()))
            i += 1
        out = keras.ops.convert_to_numpy(model.get_layer("lm_head")(model.get_layer("ln_f")(h)))
    result = {"residual_var": variances, "attn_logit_std": logit_stds, "logits": out}
    if y is not None:
        z = out.astype(np.float64)
        top = z.max(axis=-1, keepdims=True)
        log_norm = np.log(np.exp(z - top).sum(axis=-1)) + top[..., 0]
        picked = np.take_along_axis(z, np.asarray(y, dtype=np.int64)[..., None], axis=-1)[..., 0]
        result["loss"] = float(np.mean(log_norm - picked))
    return result
