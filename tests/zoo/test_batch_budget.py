"""Each row of a batch generates exactly what it would alone: its own token budget, its own stop.

Before the fix, the budget `max_text_len - longest prompt` applied to every row, so one long prefix
cut short (or emptied) every other caption in its batch, and the cut captions were cached (the captioning
stage's side: tests/pipeline/test_caption_cache.py).
"""

from dataclasses import replace

import pytest
import torch

from tests.helpers import EOS, small_model
from vlmgrade.core.errors import UserError
from vlmgrade.core.types import GenerationParams
from vlmgrade.data.datasets import builtin_names, load_samples
from vlmgrade.zoo import load_captioner

SHIPPED = "nanovlm-mini-scenes"
SHIPPED_LONG = "nanovlm-mini-scenes-long"  # scenes-long prefixes need its 128-token context
PER_SPLIT = 24


@pytest.fixture(scope="module")
def shipped():
    return load_captioner(SHIPPED, "cpu")


@pytest.fixture(scope="module")
def shipped_long():
    return load_captioner(SHIPPED_LONG, "cpu")


def test_rows_keep_their_own_budget_when_prompts_differ_in_length():
    model = small_model()  # max_text_len 32
    img = torch.randn(3, 3, 32, 32)
    prompts = [[2, 5], [2] + [4] * 29, [2, 7, 9]]  # the middle one (30 tokens) leaves room for 2 only
    batched = model.generate(img, prompts, EOS, max_new_tokens=20)
    alone = [model.generate(img[i:i + 1], [p], EOS, max_new_tokens=20)[0] for i, p in enumerate(prompts)]
    assert batched == alone
    assert len(batched[1]) <= 2 and max(len(batched[0]), len(batched[2])) > 2  # the short ones were not cut to 2
    assert model.generate(img, prompts, EOS, max_new_tokens=20, use_cache=False) == batched


def test_a_prompt_longer_than_the_context_is_refused():
    from vlmgrade.zoo.nanovlm import PromptTooLong

    model = small_model()
    with pytest.raises(PromptTooLong, match="32"):
        model.generate(torch.randn(2, 3, 32, 32), [[2, 5], [2] * 32], EOS, max_new_tokens=4)


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_split_captions_the_same_at_batch_sizes_1_and_32(shipped, shipped_long, name):
    shipped = shipped_long if name.startswith("scenes-long") else shipped
    samples = load_samples(name, PER_SPLIT)
    params = GenerationParams(max_new_tokens=48)
    one = shipped.caption(samples, params, batch_size=1)
    many = shipped.caption(samples, params, batch_size=32)
    assert [c.text for c in one] == [c.text for c in many]
    assert all(c.text for c in one)


def test_a_prefix_too_long_for_the_model_is_one_clear_error(shipped):
    sample = load_samples("scenes-long:test", 1)[0]
    sample = replace(sample, prefix=sample.references[0])  # a whole long text: longer than 48 tokens
    with pytest.raises(UserError, match=f"sample {sample.id}: its prefix is \\d+ tokens, and {SHIPPED} reads at most"):
        shipped.caption([sample], GenerationParams())


def test_training_and_captioning_prepare_pixels_the_same_way():
    import numpy as np

    from vlmgrade.zoo.nanovlm import NanoVLMConfig, image_to_tensor
    from vlmgrade.zoo.train import _batch, collect, to_tensor_set

    samples = load_samples("scenes-short:train", 6)
    images, texts, objects = collect(samples, 96)
    tensors = to_tensor_set(images, texts, objects, _Tok(), NanoVLMConfig(image_size=96, max_text_len=8))
    seen_in_training, _, _ = _batch(tensors, np.arange(6), "cpu", torch)
    seen_when_captioning = image_to_tensor([s.image for s in samples], 96)
    assert seen_in_training.shape == (6, 3, 96, 96)
    assert torch.equal(seen_in_training, seen_when_captioning)


class _Tok:
    """Just enough tokenizer for to_tensor_set."""

    pad_id = 0

    def target(self, text: str) -> list[int]:
        return [1 + len(w) for w in text.split()]
