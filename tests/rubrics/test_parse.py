"""Reply parsing reads every reply in linear time (issue 24, item 1): a reply with thousands of spaces after a
criterion's name hung the old text fallback (cubic: 24.5 s for 800 spaces, and the reply was cached, so every
rerun hung too)."""

from __future__ import annotations

from tests.helpers import PAPER
from vlmgrade.rubrics import load_rubric, parse_reply


def test_a_long_gap_after_a_name_is_read_not_hung_on():
    rubric = load_rubric("nanovlm-paper")
    gap = " \t\n" * 7000  # 21,000 characters: hours for the old pattern, milliseconds now
    scores, reason = parse_reply(rubric, "".join(f"{c}{gap}x " for c in PAPER))
    assert reason.startswith("unparsable reply") and all(v is None for v in scores.values())
    scores, reason = parse_reply(rubric, "".join(f"{c}: {gap}" for c in PAPER) + "grammar: 7")
    assert reason.startswith("unparsable reply")  # the gap is too wide to join a name to a number


def test_the_plain_forms_judges_write_still_parse():
    rubric = load_rubric("nanovlm-paper")
    text = "**grammar**: 8\ncreativity = 6\nconsistency -> 7\nmeaningfulness:\t9\nplot: **5**"
    assert parse_reply(rubric, text) == ({"grammar": 8.0, "creativity": 6.0, "consistency": 7.0,
                                          "meaningfulness": 9.0, "plot": 5.0}, None)
    pairwise = load_rubric("nanovlm-pairwise")
    text = "grammar: A\ncreativity: **tie**\nconsistency = B\nmeaningfulness: \"A\"\nplot:B"
    assert parse_reply(pairwise, text) == (dict(zip(PAPER, [1.0, 0.5, 0.0, 1.0, 0.0])), None)
