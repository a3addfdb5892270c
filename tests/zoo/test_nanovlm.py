import pytest
import torch

from tests.helpers import EOS, small_model
from vlmgrade.zoo.nanovlm import PRESETS, WEIGHTS_NAME, NanoVLM, image_to_tensor, preset

PROMPTS = [[2, 5, 7, 9], [2], [2, 11, 3], [2, 4, 4, 4, 4, 8]]


@pytest.mark.parametrize(("name", "lo", "hi"), [("mini", 5.0e6, 6.0e6), ("base", 15e6, 17e6), ("large", 24e6, 26e6)])
def test_presets_match_paper_sizes_and_encoder_shares(name, lo, hi):
    from vlmgrade.zoo.nanovlm import component_shares

    cfg = preset(name)
    assert (cfg.image_size, cfg.patch_size, cfg.n_patches) == (224, 16, 196)
    assert cfg.decoder_width == PRESETS[name]["heads"] * PRESETS[name]["head_size"]
    shares = component_shares(cfg)
    assert lo <= NanoVLM(cfg).num_params() == shares["params"] <= hi
    assert 0.70 <= shares["encoder"] <= 0.78  # the paper's 70-78%
    assert shares["connector"] <= 0.14 and shares["decoder"] <= 0.212  # the paper: 6-14% and 16-21%


def test_preset_image_size_is_configurable():
    assert preset("mini", image_size=96).n_patches == 36
    with pytest.raises(ValueError):
        preset("mini", image_size=100)
    with pytest.raises(ValueError):
        preset("huge")


@pytest.mark.parametrize("image_tokens", ["cls", "patches"])
def test_greedy_with_and_without_kv_cache_is_identical(image_tokens):
    model = small_model(image_tokens)
    img = torch.randn(4, 3, 32, 32)
    cached = model.generate(img, PROMPTS, EOS, max_new_tokens=12)
    uncached = model.generate(img, PROMPTS, EOS, max_new_tokens=12, use_cache=False)
    assert cached == uncached
    assert any(len(seq) > 0 for seq in cached)


@pytest.mark.parametrize("patch_embed", ["conv", "cnn"])
def test_batched_generation_equals_one_at_a_time(patch_embed):
    model = small_model(patch_embed=patch_embed)
    img = torch.randn(4, 3, 32, 32)
    batched = model.generate(img, PROMPTS, EOS, max_new_tokens=10)
    single = [model.generate(img[i:i + 1], [p], EOS, max_new_tokens=10)[0] for i, p in enumerate(PROMPTS)]
    assert batched == single


def _with_eos_bias(model: NanoVLM, bias: float) -> NanoVLM:
    """Replace the (tied) head by one with a bias towards EOS, so stopping can be steered."""
    head = torch.nn.Linear(model.config.decoder_width, model.config.vocab_size)
    with torch.no_grad():
        head.weight.copy_(model.tok.weight)
        head.bias.zero_()
        head.bias[EOS] = bias
    model.head = head
    return model


def test_generation_stops_at_end_of_text():
    img = torch.randn(4, 3, 32, 32)
    certain = _with_eos_bias(small_model(), 100.0)
    assert certain.generate(img, PROMPTS, EOS, max_new_tokens=8) == [[], [], [], []]
    likely = _with_eos_bias(small_model(), 3.5)
    rows = likely.generate(img, PROMPTS, EOS, max_new_tokens=20, temperature=1.0, seed=1)
    assert all(EOS not in row and len(row) <= 20 for row in rows)
    assert len({len(row) for row in rows}) > 1  # rows stop independently


def test_sampling_is_reproducible_by_seed_and_top_k_1_is_greedy():
    model = small_model()
    img = torch.randn(4, 3, 32, 32)
    a = model.generate(img, PROMPTS, EOS, max_new_tokens=10, temperature=1.0, top_p=0.9, seed=3)
    b = model.generate(img, PROMPTS, EOS, max_new_tokens=10, temperature=1.0, top_p=0.9, seed=3)
    c = model.generate(img, PROMPTS, EOS, max_new_tokens=10, temperature=1.5, seed=4)
    assert a == b and a != c
    greedy = model.generate(img, PROMPTS, EOS, max_new_tokens=10)
    assert model.generate(img, PROMPTS, EOS, max_new_tokens=10, temperature=1.0, top_k=1, seed=9) == greedy


@pytest.mark.parametrize("patch_embed", ["conv", "cnn"])
def test_save_load_round_trip(tmp_path, patch_embed):
    model = small_model(patch_embed=patch_embed)
    img = torch.randn(4, 3, 32, 32)
    model.save_pretrained(tmp_path / "m")
    loaded = NanoVLM.from_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    assert loaded.config == model.config
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    assert loaded.generate(img, PROMPTS, EOS, max_new_tokens=10) == model.generate(img, PROMPTS, EOS, max_new_tokens=10)
    model.save_pretrained(tmp_path / "half", dtype=torch.float16)
    half, full = ((tmp_path / d / "model.safetensors").stat().st_size for d in ("half", "m"))
    assert half < 0.6 * full
    # readable as the umask allows, like config.json beside it (safetensors' save_file made it 0600)
    weights_mode, config_mode = ((tmp_path / "m" / f).stat().st_mode & 0o777 for f in (WEIGHTS_NAME, "config.json"))
    assert weights_mode == config_mode


def test_image_to_tensor_resizes_and_scales():
    from PIL import Image

    x = image_to_tensor([Image.new("RGB", (64, 48), (255, 0, 0))], 32)
    assert x.shape == (1, 3, 32, 32)
    assert torch.allclose(x[0, 0], torch.ones(32, 32)) and torch.allclose(x[0, 1], -torch.ones(32, 32))
