"""Issue 23: MNIST's offline-fallback warning is shown once per kernel and dataset, without a source line.

A notebook that loads MNIST in a cell and again through ``experiments.cached_dataset`` (notebook 11) used to
print the 10-line warning twice, the second ending in a line of course_utils source.
"""

from __future__ import annotations

import linecache
import shutil
import warnings

from test_data import fallback_cache

from course_utils import data


def test_fallback_warning_once_per_kernel_without_source_line(tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(fallback_cache(), folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # what a kernel does: show each warning once per place
        for subset in (2_000, 3_000, None):  # a notebook cell, then course_utils' own loads
            ds = data.load_dataset("mnist", subset=subset, data_dir=folder, sources=("fallback",))
            assert ds.is_fallback
        data.load_dataset("mnist", subset=5_000, data_dir=folder, sources=("fallback",))  # more than it has
        data.load_dataset("mnist", subset=6_000, data_dir=folder, sources=("fallback",))
    fallback = [w for w in caught if issubclass(w.category, data.DataFallbackWarning)]
    assert len(fallback) == 3, [str(w.message)[:80] for w in fallback]
    assert "NOT the full MNIST" in str(fallback[0].message) and "subset=5,000" in str(fallback[1].message)
    for w in fallback:
        assert linecache.getline(w.filename, w.lineno) == "", "no line of course_utils source under the warning"
        assert "\n  " + "data.load_dataset" not in warnings.formatwarning(w.message, w.category, w.filename,
                                                                          w.lineno)


def test_fallback_warning_not_repeated_after_the_filters_change(tmp_path):
    """Importing Keras or TensorFlow changes the warning filters (which empties Python's own registries);
    the second load of notebook 11, after Keras has trained, must stay quiet all the same."""
    folder = tmp_path / "data"
    shutil.copytree(fallback_cache(), folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        data.load_dataset("mnist", subset=2_000, data_dir=folder, sources=("fallback",))
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="some.framework")  # a framework import
        data.load_dataset("mnist", subset=2_000, data_dir=folder, sources=("fallback",), flatten=True)
    assert len([w for w in caught if issubclass(w.category, data.DataFallbackWarning)]) == 1
