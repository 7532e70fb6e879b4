"""plots.plot_images: a titled grid from flattened or square images; clear errors otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import plots


def test_grid_of_flattened_images_is_titled_by_class():
    images = np.random.default_rng(0).random((12, 784))
    fig = plots.plot_images(images, np.arange(12) % 10, class_names=[f"c{i}" for i in range(10)], ncols=6)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 12
    assert [ax.get_title() for ax in visible[:3]] == ["c0", "c1", "c2"]
    assert visible[0].images[0].get_array().shape == (28, 28)


def test_bad_images_are_explained():
    with pytest.raises(ValueError, match="square number of pixels"):
        plots.plot_images(np.zeros((2, 785)))
    with pytest.raises(ValueError, match="shape"):
        plots.plot_images(np.zeros((0, 28, 28)))
    with pytest.raises(ValueError, match="ncols"):
        plots.plot_images(np.zeros((2, 28, 28)), ncols=0)
