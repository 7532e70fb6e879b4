"""advice.guide_support: the decision guide's margin rule, on grids whose answer is known."""

import numpy as np
import pandas as pd
import pytest

from course_utils import advice

#: A guide to test against (the rule, not the course's current GUIDE, is under test here).
TEXTBOOK = {"relu": (("he_normal",), "."), "tanh": (("glorot_normal",), "."), "selu": (("lecun_normal",), ".")}


def grid(losses, seeds=6, noise=0.01, seed=0):
    """A synthetic grid: {activation: {scheme: mean loss}}, one row per seed, small per-seed noise."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame([{"activation": act, "init": s, "seed": k, "final_train_loss": m + noise * rng.standard_normal()}
                         for act, row in losses.items() for s, m in row.items() for k in range(seeds)])


def test_a_grid_that_agrees_supports_every_row():
    table = grid({"relu": {"he_normal": 0.5, "glorot_normal": 1.2}, "tanh": {"glorot_normal": 0.60, "orthogonal": 0.58}})
    support = advice.guide_support(table, guide=TEXTBOOK).set_index("activation")
    assert support["supported"].all()
    assert support.loc["relu", "best"] == "he_normal" and support.loc["relu", "ties"] == ["he_normal"]
    assert support.loc["tanh", "best"] == "orthogonal" and set(support.loc["tanh", "ties"]) == {"orthogonal", "glorot_normal"}


def test_the_course_guide_is_the_default():
    table = grid({"tanh": {"glorot_normal": 0.9, "orthogonal": 0.5}})
    assert advice.guide_support(table).iloc[0]["guide_first"] == advice.GUIDE["tanh"][0][0]


def test_the_row_fails_when_the_grid_stops_supporting_it():
    """He for ReLU 0.3 nats behind Glorot: the guide's ReLU row is no longer supported."""
    table = grid({"relu": {"he_normal": 0.9, "glorot_normal": 0.6}, "tanh": {"glorot_normal": 0.6, "orthogonal": 0.6}})
    support = advice.guide_support(table, guide=TEXTBOOK).set_index("activation")
    assert not support.loc["relu", "supported"] and support.loc["relu", "excess"] == pytest.approx(0.3, abs=0.03)
    assert support.loc["tanh", "supported"]


def test_a_seed_coin_flip_is_not_support():
    """LeCun ahead in half the seeds and behind in the others (mean excess 0.02): the interval's upper end
    is far above the margin, so the row is not supported however close the means are."""
    flips = [0.4, -0.35, 0.3, -0.3, 0.35, -0.3]
    table = pd.DataFrame([{"activation": "selu", "init": s, "seed": k, "final_train_loss": 0.8 + (d if s == "lecun_normal" else 0)}
                          for k, d in enumerate(flips) for s in ("lecun_normal", "glorot_normal")])
    row = advice.guide_support(table, guide=TEXTBOOK).iloc[0]
    assert row["best"] == "glorot_normal" and row["excess"] == pytest.approx(np.mean(flips))
    assert row["excess_high"] > advice.GUIDE_MARGIN and not row["supported"]


def test_below_three_seeds_the_interval_is_the_spread():
    assert advice.seed_interval([1.0, 3.0]) == (2.0, 1.0, 3.0)
    mean, low, high = advice.seed_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and low == pytest.approx(2 - 4.303 / 3 ** 0.5, abs=1e-3) and high > 3.0
    with pytest.raises(ValueError, match="at least one"):
        advice.seed_interval([])


def test_friendly_errors():
    with pytest.raises(ValueError, match="missing"):
        advice.guide_support(pd.DataFrame({"activation": ["relu"]}))
    with pytest.raises(ValueError, match="not in the grid"):
        advice.guide_support(grid({"relu": {"glorot_normal": 0.5}}), guide=TEXTBOOK)
