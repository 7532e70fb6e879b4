"""Every initialization scheme of the course in one registry.

Each scheme has a NumPy reference (the truth the tests hold the frameworks
against) and thin Keras and PyTorch adapters::

    from course_utils import initializers as inits
    init = inits.get("he_normal")
    w = init.sample((784, 256), seed=0)            # NumPy, Keras layout (in, out)
    layer = keras.layers.Dense(256, kernel_initializer=init.to_keras(seed=0))
    init.apply_torch_(torch_linear.weight)         # PyTorch layout (out, in), in place
    init.expected_std((784, 256))                  # sqrt(2 / 784)

``names()`` lists the schemes, ``table()`` compares them across frameworks,
``describe_model_init(model)`` says what a model was initialized with.
Importing this module loads neither TensorFlow nor PyTorch.
"""

from __future__ import annotations

from ._bayes import posterior_initializers, posterior_rho, posterior_sigma, sample_posterior, softplus
from ._core import (
    DISTRIBUTIONS,
    LAYOUTS,
    MODES,
    TRUNCATED_NORMAL_STD,
    Constant,
    DeltaOrthogonal,
    Identity,
    Initializer,
    KerasDefaultRecurrent,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    Sparse,
    SparseTorch,
    TorchDefaultLinear,
    TorchDefaultRecurrent,
    TruncatedNormal,
    VarianceScaling,
    compute_fans,
    variance_formula,
)
from ._describe import describe_model_init, identify_init
from ._gain import NONLINEARITIES, calculate_gain
from ._lsuv import lsuv_
from ._registry import REGISTRY, SchemeInfo, get, names
from ._table import table

__all__ = [
    "DISTRIBUTIONS",
    "LAYOUTS",
    "MODES",
    "TRUNCATED_NORMAL_STD",
    "REGISTRY",
    "SchemeInfo",
    "Constant",
    "DeltaOrthogonal",
    "Identity",
    "Initializer",
    "KerasDefaultRecurrent",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "Sparse",
    "SparseTorch",
    "TorchDefaultLinear",
    "TorchDefaultRecurrent",
    "TruncatedNormal",
    "VarianceScaling",
    "NONLINEARITIES",
    "calculate_gain",
    "compute_fans",
    "describe_model_init",
    "get",
    "identify_init",
    "lsuv_",
    "names",
    "posterior_initializers",
    "posterior_rho",
    "posterior_sigma",
    "sample_posterior",
    "softplus",
    "table",
    "variance_formula",
]
