"""A pairwise verdict is read only when it is exactly A, B or tie (any case, perhaps quoted or in bold) as the
whole JSON value or the whole value after the criterion's name. "a slight edge to B", "a tie", "A or B", "A/B"
were read as A (the text fallback matched their first letter); now the reply is unscored with the value
shown, through a real run as in parsing alone."""

from __future__ import annotations

import json
import time

import pytest

from tests.helpers import PAPER
from vlmgrade.cli import main
from vlmgrade.data.datasets import load_samples
from vlmgrade.rubrics import load_rubric, parse_reply
from vlmgrade.testing.server import Reply, body_digest

NOT_VERDICTS = ["a slight edge to B", "a tie", "A or B", "A/B", "between A and B", "A, B", "B (narrowly)", "neither",
                "A or tie", "b-ish"]


def _rest(first: str) -> dict[str, str]:
    return {c: (first if i == 0 else "A") for i, c in enumerate(PAPER)}


@pytest.mark.parametrize("value", NOT_VERDICTS)
def test_a_value_that_is_not_exactly_a_verdict_leaves_the_reply_unscored(value):
    rubric = load_rubric("nanovlm-pairwise")
    as_json = json.dumps({**_rest(value), "feedback": "close call"})
    as_text = "\n".join(f"{c}: {v}" for c, v in _rest(value).items())
    for reply in (as_json, as_text, f"```json\n{as_json}\n```"):
        scores, reason = parse_reply(rubric, reply)
        assert all(v is None for v in scores.values()), (reply, scores)
        assert reason == f"unusable verdict for grammar: {json.dumps(value)} (A, B or tie expected)", reason


@pytest.mark.parametrize("reply, grammar", [
    ('{"grammar": "A", "creativity": "b", "consistency": "TIE", "meaningfulness": "\\"A\\"", "plot": "**B**"}', 1.0),
    ("grammar: 'B'\ncreativity: **tie**\nconsistency = B\nmeaningfulness: \"A\"\nplot:B", 0.0),
    ("- **grammar**: tie.\n- **creativity**: A\n- **consistency**: B\n- **meaningfulness**: A\n- **plot**: A\n", 0.5),
    ("grammar: A, creativity: B; consistency: tie, meaningfulness: A, plot: b", 1.0),
    ('{"grammar": "A", "creativity": "B", "consistency": "tie", "meaningfulness": "A", "plot": "B",}', 1.0),
    ("grammar: B\r\ncreativity: B\r\nconsistency: B\r\nmeaningfulness: B\r\nplot: B\r\n", 0.0),
])
def test_whole_verdicts_in_the_forms_judges_write_still_parse(reply, grammar):
    scores, reason = parse_reply(load_rubric("nanovlm-pairwise"), reply)
    assert reason is None and scores["grammar"] == grammar and None not in scores.values()


def test_the_last_word_on_a_criterion_counts():
    rubric = load_rubric("nanovlm-pairwise")
    first = "\n".join(f"{c}: B" for c in PAPER)
    scores, reason = parse_reply(rubric, first + "\nOn reflection, grammar: a slight edge to A")
    assert reason == 'unusable verdict for grammar: "a slight edge to A" (A, B or tie expected)'
    scores, reason = parse_reply(rubric, first + "\nOn reflection, grammar: A")
    assert reason is None and scores["grammar"] == 1.0


def test_a_reply_with_no_verdict_keeps_its_reason_and_parsing_stays_linear():
    rubric = load_rubric("nanovlm-pairwise")
    scores, reason = parse_reply(rubric, "A is better overall")
    assert reason.startswith("unparsable reply: no verdict (A, B or tie) for grammar")
    started = time.monotonic()
    scores, reason = parse_reply(rubric, "grammar:" * 20_000 + " \t" * 20_000 + "A or B")
    assert time.monotonic() - started < 1 and all(v is None for v in scores.values())


def test_a_run_leaves_hedged_verdicts_unscored_instead_of_reading_a(env, judge_server):
    samples = load_samples("scenes-short:test", 6)
    rows = [{"id": s.id, "model": m, "text": f"{m} caption {i}"} for i, s in enumerate(samples) for m in ("m1", "m2")]
    captions = env / "caps.jsonl"
    captions.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def reply(body, count):  # by the request, not its arrival: a third of them hedge on grammar
        pick = int(body_digest(body), 16)
        if pick % 3:
            return Reply(json.dumps({**_rest("A"), "feedback": "ok"}))
        hedge = NOT_VERDICTS[pick // 3 % len(NOT_VERDICTS)]
        text = json.dumps({**_rest(hedge), "feedback": "ok"}) if pick % 2 else \
            "\n".join(f"{c}: {v}" for c, v in _rest(hedge).items())
        return Reply(text)

    server = judge_server(reply)
    assert main(["run", "--captions", str(captions), "--data", "scenes-short:test", "--limit", "6", "--rubric",
                 "nanovlm-pairwise", "--judge", "openai:gpt-4o", "--judge-base-url", server.base_url,
                 "--baseline", "m1", "--out", str(env / "r"), "--quiet", "--allow-unscored"]) == 0
    judged = [json.loads(line) for line in (env / "r" / "judgments.jsonl").read_text().splitlines()]
    hedged = [j for j in judged if any(h in j["raw"] for h in NOT_VERDICTS)]
    assert hedged and len(hedged) < len(judged)
    for j in hedged:
        assert all(v is None for v in j["scores"].values()), j
        assert j["unscored_reason"].startswith("unusable verdict for grammar: "), j
    assert all(j["scores"]["grammar"] == 1.0 for j in judged if j not in hedged)
