"""Shared test settings: quick profile, a headless matplotlib, quiet TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("COURSE_PROFILE", "quick")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


@pytest.fixture
def repo() -> Path:
    return REPO
