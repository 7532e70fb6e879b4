"""Reproducible: the course's key experiments give identical numbers when run again.

With the seed policy (``seed=`` on every builder/trainer, ``set_seed``), a
notebook run twice in one environment must show the same histories, tables
and claims. Each experiment below runs twice in one interpreter (re-running a
cell) and the whole script runs in two fresh interpreters (re-running the
notebook from a fresh kernel); all four fingerprints must be identical, bit
for bit (floats compared through their exact JSON repr, NaN included), except
wall-clock seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SCRIPT = r'''
import dataclasses, json, math
from course_utils import advice, data, diagnostics, experiments, models, training



def timing(key):
    return "seconds" in str(key)  # seconds_per_epoch, seconds_total, build_seconds, seconds: wall clock


def clean(value):
    """JSON-ready, timings dropped, floats kept exactly (repr round-trips)."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items() if not timing(k)}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "item") and not hasattr(value, "__len__"):
        value = value.item()
    if isinstance(value, float):
        return repr(value)  # 'nan' too
    return value


def frame(df):
    return clean(df.drop(columns=[c for c in df.columns if timing(c)]).to_dict(orient="list"))


def run_once():
    out = {}
    moons = data.two_moons(256, noise=0.2, seed=0)
    for fw in ("torch", "keras"):
        model = models.build_mlp(fw, 2, [16, 16], activation="tanh", init="glorot_uniform", n_classes=2, seed=3)
        hist = training.train(model, moons, epochs=2, batch_size=32, seed=3, record_steps=True,
                              record_grad_norms=True, progress=False)
        fields = dataclasses.asdict(hist)
        out[f"train_{fw}"] = clean(fields)
        out[f"logits_{fw}"] = clean(training.predict_logits(model, moons.x_test[:8]).tolist())
    out["signal_numpy"] = frame(diagnostics.signal_propagation("he_normal", "relu", depth=12, width=64,
                                                               n_samples=128, seed=1))
    out["signal_torch"] = frame(diagnostics.signal_propagation("glorot_normal", "tanh", depth=4, width=32,
                                                               n_samples=64, seed=1, framework="torch"))
    table = experiments.sweep(advice.signal_summary, {"init": ["he_normal", "lecun_normal"]}, seeds=[0, 1],
                              cache=False, progress=False, activation="relu", depth=6, width=32, n_samples=64)
    out["sweep_signal"] = frame(table)
    runs = experiments.sweep(experiments.train_mlp, {"init": ["he_normal"]}, seeds=[0], cache=False,
                             progress=False, framework="torch", dataset="fashion_mnist", n_train=200, hidden=32,
                             epochs=1, batch_size=64)
    out["sweep_train"] = frame(runs)
    return out


import sys

first = run_once()
second = run_once() if sys.argv[1:] == ["twice"] else first
print(json.dumps({"first": first, "second": second}, sort_keys=True))
'''


def _fingerprints(times: str) -> tuple[dict, dict]:
    env = dict(os.environ, COURSE_THREADS="1", COURSE_PROFILE="quick", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", SCRIPT, times], capture_output=True, text=True, env=env, cwd=REPO,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    return out["first"], out["second"]


def _diff(a: dict, b: dict) -> list[str]:
    return [k for k in sorted(set(a) | set(b)) if json.dumps(a.get(k), sort_keys=True) != json.dumps(b.get(k),
                                                                                                  sort_keys=True)]


def test_key_experiments_repeat_exactly_in_one_process_and_in_a_fresh_one():
    a1, a2 = _fingerprints("twice")
    assert set(a1) >= {"train_torch", "train_keras", "signal_numpy", "signal_torch", "sweep_signal", "sweep_train"}
    assert len(a1["train_keras"]["loss"]) == 2 and a1["train_keras"]["step_loss"], a1["train_keras"]
    assert not _diff(a1, a2), f"differs when the same cells run again in one kernel: {_diff(a1, a2)}"
    b1, _ = _fingerprints("once")
    assert not _diff(a1, b1), f"differs between two fresh kernels: {_diff(a1, b1)}"
