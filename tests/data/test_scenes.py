import json

import numpy as np
import pytest

from tests.helpers import train_scenes as first_train_scenes
from vlmgrade.core.errors import UserError
from vlmgrade.data.datasets import export, load_samples
from vlmgrade.data.scenes import layout as scenes

N = 300


@pytest.fixture(scope="module")
def train_scenes():
    return first_train_scenes(N)


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


def test_wording_varies(train_scenes):
    assert len({s.short for s in train_scenes}) == N
    openings = {" ".join(s.short.split()[:4]) for s in train_scenes}
    assert len(openings) >= 15


def test_scenes_have_many_kinds_colours_sizes_and_free_boxes(train_scenes):
    objs = [o for s in train_scenes for o in s.objects]
    assert len(scenes.KINDS) >= 24 and {o.name for o in objs} == set(scenes.KINDS)
    assert len(scenes.COLORS) >= 8 and {o.color for o in objs} == set(scenes.COLORS)
    assert {o.size for o in objs} == set(scenes.SIZES)
    assert all(3 <= len(s.objects) <= 7 for s in train_scenes)
    assert any(len({(o.name, o.color) for o in s.objects}) < len(s.objects) for s in train_scenes)  # repeats
    assert all(0 <= o.box[0] < o.box[2] <= 1 and 0 <= o.box[1] < o.box[3] <= 1 for o in objs)
    assert len({round(o.box[0], 2) for o in objs}) > 50  # placed freely, not in three slots


def test_many_sentence_patterns_and_a_wide_vocabulary():
    import re

    texts = [s.short for s in first_train_scenes(1000)]
    masked = set(scenes.KINDS) | set(scenes.PLURALS.values()) | set(scenes.COLORS) | set(scenes.SIZES)
    patterns, vocabulary = set(), set()
    for text in texts:
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            words = re.findall(r"[a-z]+|[,.]", sentence.lower())
            vocabulary.update(w for w in words if w.isalpha())
            patterns.add(" ".join("X" if w in masked else w for w in words))
    assert len(patterns) >= 600 and len(vocabulary) >= 250
    fillers = ("oh", "wow", "look")
    assert not any(t.split()[0].strip(",.!").lower() in fillers for t in texts)


def test_splits_are_disjoint_and_test_novel_holds_compositions_never_trained_on():
    def layouts(split, n):
        made = first_train_scenes(n) if split == "train" else (scenes.make_scene(split, i) for i in range(n))
        return {(s.setting, s.objects) for s in made}

    train, val, test = layouts("train", 2000), layouts("val", 300), layouts("test", 300)
    assert not (train & val) and not (train & test) and not (val & test)
    # v2.1: disjoint by composition (kinds, colours, sizes), not just by layout
    def compositions(found):
        return {scenes.composition(objects) for _, objects in found}

    assert not compositions(train) & (compositions(val) | compositions(test))
    assert len(scenes.HELD_PAIRS) >= 0.1 * len(scenes.KINDS) * len(scenes.COLORS) and scenes.HELD_KIND_PAIRS
    assert not any(scenes.is_novel(objects) for _, objects in train | val | test)
    novel = [scenes.make_scene("test-novel", i) for i in range(200)]
    assert all(scenes.is_novel(s.objects) for s in novel)
    assert any(any((o.name, o.color) in scenes.HELD_PAIRS for o in s.objects) for s in novel)
    assert any(any(p <= {o.name for o in s.objects} for p in scenes.HELD_KIND_PAIRS) for s in novel)


def test_test_items_carry_the_papers_prefix():
    short = load_samples("scenes-short:test", limit=40) + load_samples("scenes-short:test-novel", limit=10)
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


def test_a_position_or_relation_is_stated_only_about_an_object_its_words_pick_out_uniquely(train_scenes):
    from vlmgrade.data.scenes.texts import facts

    checked = 0
    for scene in train_scenes:
        for fact in facts(scene.objects):
            if fact[0] in ("position", "relation"):
                for o in fact[1:] if fact[0] == "position" else (fact[1], fact[3]):
                    same = [p for p in scene.objects if (p.name, p.color) == (o.name, o.color)]
                    assert len(same) == 1, (scene.id, fact)
                    checked += 1
    assert checked > 500
