from vlmgrade.judges.grounded import find_mentions, judge, score_text
from vlmgrade.types import Caption, Sample, SceneObject

OBJECTS = (SceneObject("ball", "red", "big", "left"), SceneObject("cup", "blue", "small", "right"))


def test_mentions_take_attributive_and_predicate_colours():
    nouns = {"ball", "cup", "hat", "box"}
    assert find_mentions("I see a big red ball and a blue cup.", nouns) == [("ball", "red"), ("cup", "blue")]
    assert find_mentions("The hat in the middle is purple.", nouns) == [("hat", "purple")]
    assert find_mentions("The cup is small and blue. Two boxes!", nouns) == [("cup", "blue"), ("box", None)]
    assert find_mentions("The ball is next to the cup.", nouns) == [("ball", None), ("cup", None)]


def test_true_text_scores_zero_hallucination_and_full_coverage():
    r = score_text("I see a red ball and a small blue cup. The ball is big.", OBJECTS)
    assert r.hallucination == 0.0 and r.coverage == 1.0 and len(r.mentions) == 3


def test_absent_objects_and_wrong_colours_are_hallucinations():
    r = score_text("I see a green ball, a blue cup and a yellow kite.", OBJECTS)
    assert [m.verdict for m in r.mentions] == ["wrong_color", "ok", "absent"]
    assert r.hallucination == 2 / 3 and r.absent == 1 and r.wrong_color == 1
    assert r.coverage == 1.0  # both real objects were named, one in the wrong colour


def test_partial_coverage_and_uncoloured_mentions():
    r = score_text("There is a ball.", OBJECTS)
    assert r.hallucination == 0.0 and r.coverage == 0.5


def test_judge_marks_texts_without_mentions_unscored_with_a_reason():
    sample = Sample("s1", image=None, objects=OBJECTS)
    j = judge(sample, Caption("s1", "m", "It is a sunny day."))
    assert j.scores["hallucination"] is None and j.unscored_reason == "text mentions no known object"
    j = judge(Sample("s2", image=None), Caption("s2", "m", "a red ball"))
    assert j.unscored_reason == "sample has no object annotations"
    j = judge(sample, Caption("s1", "m", "a red ball and a red cup"))
    assert j.scored and j.scores == {"hallucination": 0.5, "coverage": 1.0}
