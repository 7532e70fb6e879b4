"""The character-text loader (course_utils.data.text) and the transformer builder (notebook 14)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_utils import models
from course_utils.data import DataFallbackWarning
from course_utils.data import text as T


def test_kjv_verses_drops_headings_and_numbers():
    raw = "\nGenesis 1\n\n  1 In the beginning God created the heaven and the earth.\n  2 And the earth.\n"
    assert T.kjv_verses(raw) == "In the beginning God created the heaven and the earth.\nAnd the earth.\n"


def test_missing_package_falls_back_with_a_warning(tmp_path):
    with pytest.warns(DataFallbackWarning, match="stand-in"):
        t = T.load_text(data_file=tmp_path / "bible.data")
    assert t.fallback and t.vocab_size > 30 and len(t.text) > 20_000
    with pytest.raises(T.TextUnavailableError, match="apt-get install bible-kjv-text"):
        T.load_text(data_file=tmp_path / "bible.data", fallback=False)


def test_a_damaged_file_is_refused(tmp_path):
    bad = tmp_path / "bible.data"
    bad.write_bytes(b"EC02 not the bible")
    with pytest.raises(T.TextUnavailableError, match="SHA-256"):
        T.load_text(data_file=bad, fallback=False)


@pytest.mark.skipif(not T.KJV_DATA.exists(), reason="bible-kjv-text is not installed")
def test_kjv_loads_verified():
    t = T.load_text(fallback=False)
    assert t.sha256 == T.KJV_TEXT_SHA256 and len(t.text) == T.KJV_CHARS and t.vocab_size == 63
    assert t.text.startswith("In the beginning God created the heaven and the earth.\n")


def test_windows_are_shifted_by_one_and_round_trip():
    t = T._make("the quick brown fox jumps over the lazy dog\n" * 10, "test", "none", fallback=False)
    x, y = t.windows(8, 5, seed=3)
    assert x.shape == y.shape == (5, 8) and x.dtype == np.int64
    assert np.array_equal(x[:, 1:], y[:, :-1])
    assert t.decode(t.encode("lazy dog")) == "lazy dog"
    with pytest.raises(ValueError, match="not in this text's vocabulary"):
        t.encode("Z")
    with pytest.raises(ValueError, match="no window"):
        t.windows(8, 1, start=0, stop=5)


def test_gpt2_std_scales_only_the_residual_projections():
    assert models.gpt2_std("mlp_c_fc", 8) == 0.02
    assert math.isclose(models.gpt2_std("attn_c_proj", 8), 0.02 / 4)
    assert models.gpt2_std("mlp_c_proj", 8, scaled=False) == 0.02


def test_bad_arguments_say_what_to_do():
    with pytest.raises(ValueError, match="multiple of n_head"):
        models.build_transformer_lm("torch", 10, d_model=30, n_head=4)
    with pytest.raises(ValueError, match="init_scheme"):
        models.build_transformer_lm("torch", 10, init_scheme="xavier")


@pytest.mark.parametrize("fw", ["torch", "keras"])
def test_builder_names_shapes_and_gpt2_stds(fw):
    m = models.build_transformer_lm(fw, 11, d_model=16, n_layer=2, n_head=2, block_size=8, seed=0)
    x = np.random.default_rng(0).integers(0, 11, size=(3, 8))
    tr = models.transformer_trace(m, x)
    assert tr["logits"].shape == (3, 8, 11)
    assert len(tr["residual_var"]) == 3 and len(tr["attn_logit_std"]) == 2
    if fw == "torch":
        w = {n: p.detach().numpy() for n, p in m.named_parameters()}
        proj, fc = w["h_1.mlp_c_proj.weight"], w["h_2.attn_c_attn.weight"]
        assert np.all(w["h_1.ln_1.weight"] == 1) and np.all(w["h_1.mlp_c_fc.bias"] == 0)
    else:
        proj = m.get_layer("h_1").mlp_c_proj.kernel.numpy()
        fc = m.get_layer("h_2").attn_c_attn.kernel.numpy()
    assert abs(proj.std() / (0.02 / 2) - 1) < 0.1 and abs(fc.std() / 0.02 - 1) < 0.1
    again = models.transformer_trace(models.build_transformer_lm(fw, 11, 16, 2, 2, 8, seed=0), x)
    assert np.allclose(again["logits"], tr["logits"])


@pytest.mark.parametrize("fw", ["torch", "keras"])
def test_unscaled_residual_stream_grows_with_depth_and_scaled_does_not(fw):
    x = np.random.default_rng(0).integers(0, 20, size=(4, 16))

    def growth(scheme, depth):
        tr = models.transformer_trace(models.build_transformer_lm(fw, 20, 32, depth, 2, 16, scheme, seed=1), x)
        return tr["residual_var"][-1] / tr["residual_var"][0]

    assert growth("gpt2_unscaled", 8) / growth("gpt2_unscaled", 2) > 2.0
    assert 0.75 < growth("gpt2", 8) / growth("gpt2", 2) < 1.33
