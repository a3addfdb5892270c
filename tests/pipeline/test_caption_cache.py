"""The captioning stage over batches of mixed prefixes: a long prefix leaves the other captions in its
batch whole, and whole captions are what the cache keeps (captions cut by the old shared budget, stored
under the old key, are not served)."""

from dataclasses import replace

import pytest

from vlmgrade.core.options import EngineOptions
from vlmgrade.core.types import GenerationParams
from vlmgrade.data.datasets import load_samples
from vlmgrade.pipeline.cache import Cache, image_digest, key_of
from vlmgrade.pipeline.captioning import caption_stage, model_identity
from vlmgrade.zoo import load_captioner

SHIPPED = "nanovlm-mini-scenes"


@pytest.fixture(scope="module")
def shipped():
    return load_captioner(SHIPPED, "cpu")


def long_prefix_sample(captioner):
    """A picture given a beginning that leaves room for only a few tokens (its long description, cut there)."""
    long = load_samples("scenes-long:test", 1)[0]
    words = long.references[0].split()
    n = max(k for k in range(1, len(words)) if len(captioner.tokenizer.prompt(" ".join(words[:k])))
            <= captioner.model.config.max_text_len - 4)
    return replace(long, id="long-prefix", prefix=" ".join(words[:n]))


def test_long_prefix_in_a_batch_leaves_the_other_captions_whole_and_cached(shipped, tmp_path):
    normal = load_samples("scenes-short:test", 15)
    mixed = normal[:7] + [long_prefix_sample(shipped)] + normal[7:]
    params = GenerationParams(max_new_tokens=48)
    alone = {c.sample_id: c.text for c in shipped.caption(mixed, params, batch_size=1)}
    cache = Cache(tmp_path / "cache.sqlite")
    try:
        with_long, _ = caption_stage(SHIPPED, mixed, params, EngineOptions(batch_size=8), "cpu", cache, False)
        assert {c.sample_id: c.text for c in with_long} == alone
        # the normal data afterwards: every caption from the cache, and each one whole
        again, stats = caption_stage(SHIPPED, normal, params, EngineOptions(batch_size=8), "cpu", cache, False)
    finally:
        cache.close()
    assert stats == {"cached": 15, "generated": 0}
    assert {c.sample_id: c.text for c in again} == {s.id: alone[s.id] for s in normal}


def test_captions_cached_by_the_old_key_are_not_served(shipped, tmp_path):
    samples = load_samples("scenes-short:test", 3)
    params = GenerationParams(max_new_tokens=48)
    identity = model_identity(SHIPPED)
    cache = Cache(tmp_path / "cache.sqlite")
    try:  # what the broken code stored: a cut caption under the key without a version
        cache.put_many("captions", [(key_of({"model": identity, "params": params.__dict__,
                                             "image": image_digest(s.image), "prefix": s.prefix}), {"text": "a"})
                                    for s in samples])
        captions, stats = caption_stage(SHIPPED, samples, params, EngineOptions(), "cpu", cache, False)
    finally:
        cache.close()
    assert stats["generated"] == 3
    assert [c.text for c in captions] == [c.text for c in shipped.caption(samples, params)]
    assert all(c.text != "a" for c in captions)
