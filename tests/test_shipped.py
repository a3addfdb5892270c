"""The shipped model: small, documented, and it reads the picture (a quick version of bench/grounding.py)."""

import dataclasses
import json
import random

import pytest
import yaml

from vlmgrade.assets import zoo_dir
from vlmgrade.data import load_samples
from vlmgrade.judges.grounded import score_text
from vlmgrade.types import GenerationParams
from vlmgrade.zoo import find_card, load_captioner

FOLDER = zoo_dir() / "nanovlm-mini-scenes"


def test_shipped_model_is_small_fp16_and_documented():
    from safetensors import safe_open

    weights = FOLDER / "model.safetensors"
    assert weights.stat().st_size <= 25 * 2**20
    with safe_open(str(weights), "pt") as f:
        assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {"torch.float16"}
    card = find_card("nanovlm-mini-scenes")
    training = json.loads((FOLDER / "training.json").read_text())
    assert card.params == training["params"]
    assert card.extra["training"]["steps"] == training["steps"]
    assert card.extra["training"]["final_val_loss"] == pytest.approx(training["final_val_loss"], abs=1e-4)
    assert card.extra["training"]["config"] == "nanovlm-mini-scenes/train.yaml"
    assert yaml.safe_load((FOLDER / "train.yaml").read_text())["model"]["preset"] == "mini"


def _mention_stats(samples, captions):
    by_id = {s.id: s for s in samples}
    results = [score_text(c.text, by_id[c.sample_id].objects) for c in captions]
    mentions = sum(len(r.mentions) for r in results)
    bad = sum(r.absent + r.wrong_color for r in results)
    return bad / mentions, sum(r.coverage for r in results) / len(results)


def test_shipped_model_describes_what_it_sees():
    samples = load_samples("scenes-short:test", 40)
    captioner = load_captioner("nanovlm-mini-scenes", "cpu")
    captions = captioner.caption(samples, GenerationParams(max_new_tokens=40))
    hallucination, coverage = _mention_stats(samples, captions)
    assert hallucination <= 0.25 and coverage >= 0.5
    assert len({c.text for c in captions}) >= 0.8 * len(captions)
    images = [s.image for s in samples]
    random.Random(0).shuffle(images)
    shuffled = [dataclasses.replace(s, image=im) for s, im in zip(samples, images)]
    shuffled_captions = captioner.caption(shuffled, GenerationParams(max_new_tokens=40))
    shuffled_hallucination, _ = _mention_stats(samples, shuffled_captions)
    assert shuffled_hallucination >= max(2 * hallucination, 0.3)
