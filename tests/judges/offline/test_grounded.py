"""The grounded judge (version 3): every kind of wrong answer costs on the criterion that names it, and on
precision and grounded, the numbers users read."""

import random

import pytest

from tests.helpers import train_scenes
from vlmgrade.core.types import Caption, Sample, SceneObject
from vlmgrade.data.scenes import geometry
from vlmgrade.data.scenes import layout as scenes
from vlmgrade.judges.offline.claims import Claim, ObjectClaim, read_claims
from vlmgrade.judges.offline.grounded import builtin_rubric, check, judge

# A picture's annotations: a big red ball on the left, a small blue cup in the middle, two green frogs
# on the right, the small blue cup next to the ball, a small yellow star on top of the ball.
OBJECTS = (SceneObject("ball", "red", "big", "left", (0.05, 0.55, 0.27, 0.80)),
           SceneObject("cup", "blue", "small", "middle", (0.30, 0.66, 0.44, 0.80)),
           SceneObject("frog", "green", "small", "right", (0.72, 0.70, 0.84, 0.82)),
           SceneObject("frog", "green", "small", "right", (0.86, 0.75, 0.98, 0.87)),
           SceneObject("star", "yellow", "small", "left", (0.10, 0.43, 0.22, 0.555)))
CORRECT = ("We are at the park today. I see a big red ball, a small blue cup and two green frogs. "
           "The blue cup sits next to the red ball. The yellow star is on top of the red ball.")


def scores(text: str, prefix: str = "") -> dict:
    return check(text, prefix, OBJECTS)[0]


def test_the_annotations_make_the_correct_text_true():
    assert geometry.relation_holds(OBJECTS[1].box, "next to", OBJECTS[0].box)
    assert geometry.relation_holds(OBJECTS[4].box, "on top of", OBJECTS[0].box)
    s = scores(CORRECT)
    assert (s["hallucination"], s["attributes"], s["relations"], s["counts"], s["coverage"]) == (0, 1, 1, 1, 1)
    assert s["precision"] == 1 and s["grounded"] == 1 and s["fluency"] == 1


def test_claims_are_read_with_their_colour_size_number_position_and_relation():
    c = {str(x) for x in read_claims("Next to the box is a cat. Two big red balls are on the left. "
                                     "The cup is small and blue.")}
    assert c == {"cat next to box", "2 big red ball on the left", "small blue cup"}
    assert read_claims("A puppy and two kittens sit by a teddy bear.") == [
        Claim("object", (ObjectClaim("dog"),)), Claim("object", (ObjectClaim("cat", count=2),)),
        Claim("object", (ObjectClaim("teddy"),))]


@pytest.mark.parametrize(("wrong", "criterion"), [
    ("I see a big green ball, a small blue cup and two green frogs.", "attributes"),  # one wrong colour
    ("I see a big red ball, a small blue cup and two green frogs.", None),
])
def test_a_wrong_colour_costs_attributes_and_hallucination(wrong, criterion):
    s = scores(wrong)
    if criterion is None:
        assert s["attributes"] == 1 and s["hallucination"] == 0 and s["precision"] == 1
    else:  # the green ball is one false claim of three, and names no ball truly
        assert s["attributes"] < 1 and s["hallucination"] > 0 and s["precision"] == pytest.approx(2 / 3)
        assert s["coverage"] == pytest.approx(2 / 4) and s["grounded"] < scores(CORRECT)["grounded"]


def test_an_invented_object_outside_the_scene_kinds_is_a_hallucination():
    s = scores("I see a big red ball and a giraffe.")
    assert "giraffe" not in scenes.KINDS and s["hallucination"] == 0.5 and s["precision"] == 0.5
    assert scores("I see a big red ball and two cats.")["hallucination"] == 0.5


def test_repeating_true_claims_does_not_dilute_a_false_one():
    once = scores("I see a red ball. I see a purple kite.")
    thrice = scores("I see a red ball. I see a red ball. I see a red ball. I see a purple kite.")
    assert thrice["hallucination"] >= once["hallucination"] == 0.5
    assert thrice["precision"] == once["precision"] == 0.5


def test_a_wrong_size_costs_attributes():
    assert scores("The red ball is big.")["attributes"] == 1
    assert scores("The red ball is small.")["attributes"] == 0.5  # the colour is right, the size is not


@pytest.mark.parametrize("wrong", ["The red ball is on the right.", "The red ball is to the right of the blue cup.",
                                   "The red ball is on top of the yellow star."])
def test_a_wrong_position_or_relation_costs_relations(wrong):
    right = wrong.replace("on the right", "on the left").replace("right of", "left of").replace(
        "The red ball is on top of the yellow star", "The yellow star is on top of the red ball")
    assert scores(right)["relations"] == 1 and scores(right)["precision"] == 1
    assert scores(wrong)["relations"] == 0 and scores(wrong)["precision"] == 0 and scores(wrong)["grounded"] == 0


def test_a_relation_or_position_about_an_absent_object_is_false_with_it():
    for text in ("The brown dog is next to the red ball.", "The red ball is next to the brown dog.",
                 "The brown dog is on the left."):
        s, _, verdicts = check(text, "", OBJECTS)
        assert [v["true"] for v in verdicts] == [False] and s["precision"] == 0 and s["grounded"] == 0, text


def test_negations_are_true_exactly_when_no_such_object_is_there_and_only_their_errors_count():
    for true in ("There is no dog.", "I do not see a cat or a dog.", "There are no purple cups.",
                 "The cup is not red.", "I can't find any kites.", "There is neither a dog nor a kite.",
                 "I see zero dogs.", "The kite is missing."):
        s, reasons, verdicts = check(true, "", OBJECTS)
        assert verdicts and all(v["true"] for v in verdicts), (true, verdicts)
        # a true negation is nearly free, so it buys no precision: padding a text with them changes nothing
        assert s["precision"] in (None, 1) and s["coverage"] == (0.25 if "cup is" in true else 0), true
    for false in ("There is no red ball.", "I don't see a cup.", "There are no frogs.", "The cup is not blue.",
                  "There is neither a ball nor a cup.", "The ball is missing."):
        s, _, verdicts = check(false, "", OBJECTS)
        assert s["precision"] < 1 and [v for v in verdicts if v["kind"] == "object" and not v["true"]], false
    padded = CORRECT + " There is no dog. There is no kite. There is no cat. There is no bus. There is no car."
    assert scores(padded) == scores(CORRECT) | {"fluency": scores(padded)["fluency"]}
    for true_english in ("It is not hard to see the red ball.", "No one is playing with the red ball."):
        assert scores(true_english)["precision"] == 1, true_english  # the negation does not reach the ball


def test_a_hedge_is_checked_as_the_disjunction_it_states():
    s, _, verdicts = check("Maybe there is a ball or a dog.", "", OBJECTS)
    assert [(v["kind"], v["true"]) for v in verdicts] == [("either", True)]
    assert s["precision"] is None and s["coverage"] == 0  # true, but it commits to neither kind
    assert scores("Maybe there is a dog or a cat.")["precision"] == 0  # false: it counts against the text
    assert scores("I see a red ball or a green ball.")["coverage"] == 0.25  # both options name the ball


def test_a_wrong_count_costs_counts():
    assert scores("I see two green frogs.")["counts"] == 1
    assert scores("I see three green frogs.")["counts"] == 0
    assert scores("I see two red balls.")["counts"] == 0


def test_degenerate_text_scores_0_with_the_reason_and_true_text_passes_the_gate():
    words = CORRECT.split()
    random.Random(0).shuffle(words)
    for text in (" ".join(words), "I see a red ball. " * 5, "ball cup frog star. ball frog.",
                 "I see a red ball, a red ball, a red ball and a red ball."):
        s, reasons, _ = check(text, "", OBJECTS)
        assert s["grounded"] == 0 and reasons["grounded"].startswith("degenerate text"), (text, s)
    assert check(CORRECT, "", OBJECTS)[1].get("grounded") is None


def test_fluency_is_reported_beside_grounded_not_inside_it():
    plain = "Over on the left there's a large red ball, and two little frogs sit on the right."
    s = scores(plain)
    assert s["precision"] == 1 and s["grounded"] == pytest.approx(2 * 0.5 / 1.5)  # 2 of 4 kinds
    assert 0 < s["fluency"] <= 1


def test_a_stuttered_word_costs_fluency_and_english_doublings_do_not():
    from vlmgrade.judges.offline.fluency import fluency

    assert fluency("The red dog is right right of the yellow plane.")[0] < 1  # a model wrote this
    assert fluency("The red dog is right of the yellow plane.")[0] == 1
    assert fluency("It is very very big, so so red.")[0] == 1


def test_a_caption_past_the_word_limit_is_judged_on_its_first_part_and_says_so():
    from vlmgrade.judges.offline.grounded import MAX_WORDS

    s, reasons, _ = check("I see a big red ball. " * 1000 + "There is a dog.", "", OBJECTS)
    assert reasons["truncated"] == f"judged on the first {MAX_WORDS} of 6004 words" and s["hallucination"] == 0


def test_a_text_that_names_nothing_is_scored_and_scores_low():
    s, reasons, _ = check("We are at the park today. It is a happy day.", "", OBJECTS)
    assert s["coverage"] == 0 and s["grounded"] == 0 and s["fluency"] == 1
    assert s["precision"] is None and reasons["precision"] == "no claim"
    assert scores(CORRECT)["grounded"] > 0.5


def test_coverage_leaves_out_what_the_prefix_named():
    prefix = "I see a big red ball and"
    assert scores("a blue cup.", prefix)["coverage"] == pytest.approx(1 / 3)  # cup of cup, frog, star
    assert scores("a red ball.", prefix)["coverage"] == 0


def test_criteria_with_nothing_to_check_are_unscored_alone_with_their_reason():
    j = judge(Sample("s", None, objects=OBJECTS), Caption("s", "m", "I see a red ball."))
    assert j.unscored_reason is None and set(j.scores) == {c.name for c in builtin_rubric().criteria}
    assert j.scores["counts"] is None and j.details["unscored"]["counts"] == "no number claim"
    assert j.scores["hallucination"] == 0 and j.details["claims"][0] == {"claim": "red ball", "kind": "object",
                                                                        "true": True}
    no_boxes = tuple(SceneObject(o.name, o.color) for o in OBJECTS)
    j = judge(Sample("s", None, objects=no_boxes), Caption("s", "m", "The red ball is big and on the left."))
    assert j.scores["relations"] is None and j.details["unscored"]["relations"] == "the annotations have no boxes"
    assert j.scores["attributes"] == 1  # the colour is checked; without annotated sizes, "big" is not
    assert [v["kind"] for v in j.details["claims"]] == ["position"] and j.details["claims"][0]["true"] is None
    assert j.scores["precision"] is None  # the one claim needs boxes the annotations lack


def test_every_position_relation_and_count_the_references_state_is_true_of_the_boxes():
    stated = {"position": 0, "relation": 0, "object": 0}
    for scene in train_scenes(5000):
        for text in (scene.short, scene.long):
            s, _, verdicts = check(text, "", scene.objects)
            wrong = [v for v in verdicts if not v["true"]]
            assert not wrong and s["grounded"] > 0, (scene.id, text, wrong)
            for v in verdicts:
                stated[v["kind"]] = stated.get(v["kind"], 0) + 1
    assert min(stated.values()) > 300, stated


def test_text_with_no_words_is_degenerate_not_fluent_and_says_so():
    """A step-10 model wrote '........', 'tttttttt' and replacement characters: fluency 1.0 before."""
    for junk in ("." * 24, "t" * 30, "\ufffd" * 12, "yyyyyyyyyyTheTheThe", ":::::999999"):
        j = judge(Sample("s", None, objects=OBJECTS), Caption("s", "m", junk))
        assert j.scores["fluency"] == 0 and j.scores["grounded"] == 0, junk
        assert "in no word" in j.details["notes"]["grounded"] and "fluency" not in j.details["unscored"], junk
