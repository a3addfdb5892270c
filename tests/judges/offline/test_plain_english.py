"""True text in plain English, in phrasings the scene grammar never uses, must be read as true claims and
score about as well as the reference: 150 hand-written phrasings (vlmgrade/testing/plain_english.yaml),
each filled from a test scene's annotations so that it is true of that picture."""

from __future__ import annotations

import random
from functools import lru_cache

import pytest

from vlmgrade.analysis.controls import words_after
from vlmgrade.data.datasets import load_samples
from vlmgrade.judges.offline.grounded import check
from vlmgrade.testing.plain_english import phrasings, plain_listing, sentence_rest, true_sentence

# the kind of claim each group of phrasings makes
INTENDED = {"listing": "object", "position": "position", "middle": "position", "relation": "relation",
            "count": "object", "attribute": "object", "negation": "object", "hedge": "either"}


@lru_cache(maxsize=1)
def scenes() -> list:
    return load_samples("scenes-short:test", 300)


def lead(sample) -> str:
    return sentence_rest(sample.references[0], sample.prefix)


def completion_for(index: int, group: str, relation: str, phrasing: str) -> tuple:
    """(sample, the plain sentence, the whole completion) for the first scene the phrasing can be true of."""
    rng = random.Random(index)
    for sample in scenes():
        sentence = true_sentence(group, relation, phrasing, sample.objects, rng)
        if sentence is not None:
            body = sentence if group == "listing" else f"I see {plain_listing(sample.objects, rng)}. {sentence}"
            return sample, sentence, f"{lead(sample)} {body}".strip()
    raise AssertionError(f"no test scene fits {phrasing!r}")


def test_there_are_at_least_150_phrasings_in_every_kind_of_claim():
    groups = {g for g, _, _ in phrasings()}
    assert len(phrasings()) >= 150
    assert groups == {"listing", "position", "middle", "relation", "count", "attribute", "negation", "hedge"}


@pytest.mark.parametrize(("index", "group", "relation", "phrasing"),
                         [(i, *p) for i, p in enumerate(phrasings())], ids=lambda v: str(v)[:40])
def test_true_plain_english_is_read_true_and_scores_like_the_reference(index, group, relation, phrasing):
    sample, sentence, completion = completion_for(index, group, relation, phrasing)
    _, _, alone = check(sentence, f"{sample.prefix} {lead(sample)}", sample.objects)
    assert alone and all(v["true"] for v in alone), (sentence, alone)  # read, and every claim true
    assert INTENDED[group] in {v["kind"] for v in alone}, (sentence, alone)  # as what it says
    mine, _, verdicts = check(completion, sample.prefix, sample.objects)
    reference, _, _ = check(words_after(sample.references[0], sample.prefix), sample.prefix, sample.objects)
    assert mine["grounded"] >= 0.8 * reference["grounded"], (completion, mine, verdicts)
