import json

import numpy as np
import pytest

from vlmgrade import scenes
from vlmgrade.data import export, load_samples
from vlmgrade.errors import UserError
from vlmgrade.judges.grounded import score_text

N = 300


@pytest.fixture(scope="module")
def train_scenes():
    return [scenes.make_scene("train", i) for i in range(N)]


def test_scenes_are_deterministic():
    a, b = scenes.make_scene("val", 7), scenes.make_scene("val", 7)
    assert a == b
    assert np.array_equal(scenes.render_array(a), scenes.render_array(b))
    assert scenes.make_scene("val", 7, seed=1) != a


def test_texts_stay_within_word_and_sentence_counts(train_scenes):
    for s in train_scenes:
        assert 20 <= scenes.word_count(s.short) <= 25, s.short
        assert 2 <= scenes.sentence_count(s.short) <= 3, s.short
        assert 60 <= scenes.word_count(s.long) <= 70, s.long
        assert 5 <= scenes.sentence_count(s.long) <= 6, s.long


def test_texts_are_true_to_their_annotations(train_scenes):
    for s in train_scenes:
        for text in (s.short, s.long):
            result = score_text(text, s.objects)
            assert result.hallucination == 0.0, (text, s.objects)
            assert result.coverage == 1.0, (text, s.objects)
        assert s.setting in s.short.lower() and s.setting in s.long.lower()  # the setting is named


def test_wording_varies(train_scenes):
    assert len({s.short for s in train_scenes}) == N
    openings = {" ".join(s.short.split()[:4]) for s in train_scenes}
    assert len(openings) >= 15


def test_scenes_have_several_kinds_colours_sizes_positions(train_scenes):
    objs = [o for s in train_scenes for o in s.objects]
    assert {o.name for o in objs} == set(scenes.KINDS)
    assert {o.color for o in objs} == set(scenes.COLORS)
    assert {o.size for o in objs} == set(scenes.SIZES)
    assert {o.position for o in objs} == set(scenes.SLOTS)
    assert all(2 <= len(s.objects) <= 3 for s in train_scenes)


def test_splits_are_disjoint_by_picture_content():
    def layouts(split, n):
        return {(s.setting, s.objects) for s in (scenes.make_scene(split, i) for i in range(n))}

    train, val, test = layouts("train", 2000), layouts("val", 300), layouts("test", 300)
    assert not (train & val) and not (train & test) and not (val & test)


def test_test_items_carry_the_papers_prefix():
    short = load_samples("scenes-short:test", limit=40)
    long = load_samples("scenes-long:test", limit=40)
    assert all(6 <= len(s.prefix.split()) <= 7 for s in short)
    assert all(18 <= len(s.prefix.split()) <= 20 for s in long)
    assert all(s.references[0].startswith(s.prefix) for s in short + long)
    assert all(s.prefix == "" for s in load_samples("scenes-short:train", limit=5))


def test_export_round_trips_through_the_manifest_format(tmp_path):
    manifest = export("scenes-long:test", tmp_path, limit=5)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"test-{i:06d}" for i in range(5)]
    assert all((tmp_path / r["image"]).exists() and r["objects"][0]["name"] and r["objects"][0]["color"] for r in rows)
    original, loaded = load_samples("scenes-long:test", 5), load_samples(str(tmp_path), None)
    for a, b in zip(original, loaded):
        assert (a.id, a.prefix, a.references, a.objects) == (b.id, b.prefix, b.references, b.objects)
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))


def test_bad_data_names_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="unknown dataset"):
        load_samples("no-such-data")
    with pytest.raises(UserError, match="unknown split"):
        load_samples("scenes-short:dev")
