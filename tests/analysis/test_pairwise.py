"""Pairwise rubrics: three models of known order, a scripted judge with a known position bias."""

import hashlib
import json
import random
import re

from tests.helpers import PAPER
from vlmgrade.analysis.controls import continuation
from vlmgrade.analysis.pairwise import bradley_terry
from vlmgrade.cli import main
from vlmgrade.data.datasets import load_samples
from vlmgrade.rubrics import load_rubric, parse_reply
from vlmgrade.testing.server import Reply

N = 60
BIAS = 0.30  # the share of sample-pairs on which the scripted judge answers "A" whatever it reads
ACCURACY = 0.8  # otherwise it names the better text on this share of sample-pair x criterion, the worse one else


def _captions(samples):
    """good: the reference continuation; mid: its first half; bad: its words shuffled."""
    rows, level = [], {}
    for s in samples:
        good = continuation(s)
        words = good.split()
        mid = " ".join(words[: len(words) // 2])
        shuffled = words[:]
        random.Random(s.id).shuffle(shuffled)
        for model, text, rank in (("good", good, 2), ("mid", mid, 1), ("bad", " ".join(shuffled), 0)):
            rows.append({"id": s.id, "model": model, "text": text})
            level[text] = rank
    return rows, level


def _draw(*parts: str) -> float:
    return int(hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:8], 16) / 2**32


def biased_pairs(samples, rows) -> set:
    """Exactly BIAS of the sample-pairs (as unordered text pairs), chosen by hash: the judge says A on them."""
    by_sample = {}
    for r in rows:
        by_sample.setdefault(r["id"], []).append(r["text"])
    pairs = [frozenset((a, b)) for texts in by_sample.values() for i, a in enumerate(texts) for b in texts[i + 1:]]
    pairs.sort(key=lambda p: _draw(*sorted(p)))
    return set(pairs[: round(BIAS * len(pairs))])


def scripted_judge(level: dict, biased: set):
    def reply(body, n):
        prompt = body["messages"][-1]["content"]
        a, b = re.search(r"Student A wrote:\n(.*?)\n\nStudent B wrote:\n(.*?)\n\nFor each", prompt, re.S).groups()
        a, b = a.strip(), b.strip()
        if frozenset((a, b)) in biased:
            verdicts = {c: "A" for c in PAPER}
        else:
            verdicts = {}
            for c in PAPER:  # the same verdict about the content in both orders
                right = _draw(c, *sorted((a, b))) < ACCURACY
                better_is_a = level[a] > level[b]
                verdicts[c] = "A" if better_is_a == right else "B"
        return Reply(json.dumps({**verdicts, "feedback": "ok"}))

    return reply


def test_bradley_terry_recovers_the_order_and_the_position_bias(env, capsys, judge_server):
    samples = load_samples("scenes-short:test", N)
    rows, level = _captions(samples)
    path = env / "caps.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    biased = biased_pairs(samples, rows)
    server = judge_server(scripted_judge(level, biased))
    assert main(["run", "--captions", str(path), "--data", "scenes-short:test", "--limit", str(N), "--rubric",
                 "nanovlm-pairwise", "--judge", "openai:gpt-4o", "--judge-base-url", server.base_url,
                 "--baseline", "mid", "--out", str(env / "r"), "--quiet"]) == 0
    assert len(server.requests) == N * 3 * 2  # three pairs per sample, each in both orders
    scores = json.loads((env / "r" / "scores.json").read_text())
    summary = scores["pairwise"]["nanovlm-pairwise"]
    assert summary["n_pairs"] == N * 3 and summary["n_verdicts"] == N * 3 * len(PAPER)
    assert abs(summary["position_bias"] - BIAS) <= 0.05, summary
    for criterion in PAPER:
        mine = {r["model"]: r for r in scores["rows"] if r["criterion"] == criterion}
        assert all(r["pairwise"] and "bradley-terry" in r["ci_method"] for r in mine.values())
        assert mine["good"]["mean"] > mine["mid"]["mean"] > mine["bad"]["mean"], criterion
        assert mine["good"]["ci_low"] > mine["bad"]["ci_high"], criterion  # the extreme pair is separated
        assert mine["good"]["win_rate"] > 0.5 > mine["bad"]["win_rate"]
        assert mine["good"]["win_ci_low"] <= mine["good"]["win_rate"] <= mine["good"]["win_ci_high"]
        assert mine["mid"]["win_rate"] is None and mine["mid"]["baseline"] == "mid"
    err = capsys.readouterr().err
    assert "position bias 0.30" in err
    html = (env / "r" / "report.html").read_text()
    assert "<h2>Pairwise</h2>" in html and "Position bias" in html
    assert "## Pairwise rubrics" in (env / "r" / "report.md").read_text()
    assert main(["leaderboard", str(env / "r"), "--format", "json"]) == 0
    board = json.loads(capsys.readouterr().out)["rows"]
    ranks = {r["model"]: r["rank"] for r in board if r["criterion"] == "grammar"}
    assert ranks["good"] == 1 and ranks["bad"] > 1


def test_a_judge_without_position_bias_has_none_and_a_sweep_stays_finite():
    wins = [[0, 40, 40], [0, 0, 30], [0, 10, 0]]  # model 0 wins every comparison
    import numpy as np

    s = bradley_terry(np.array(wins, dtype=float))
    assert np.all(np.isfinite(s)) and abs(s.sum()) < 1e-9
    assert s[0] > s[1] > s[2]


def test_pairwise_replies_parse_with_a_fallback_and_unscored_reasons():
    rubric = load_rubric("nanovlm-pairwise")
    scores, reason = parse_reply(rubric, json.dumps({c: v for c, v in zip(PAPER, ["A", "b", "tie", "A", "B"])}))
    assert reason is None and scores == dict(zip(PAPER, [1.0, 0.0, 0.5, 1.0, 0.0]))
    text = "grammar: A\ncreativity: tie\nconsistency: B\nmeaningfulness: **A**\nplot = B"
    assert parse_reply(rubric, text) == (dict(zip(PAPER, [1.0, 0.5, 0.0, 1.0, 0.0])), None)
    scores, reason = parse_reply(rubric, "A is better overall")
    assert all(v is None for v in scores.values()) and reason.startswith("unparsable reply: no verdict")


def test_a_pairwise_rubric_needs_two_models_and_a_known_baseline(env, tiny_model, capsys):
    base = ["run", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "2", "--rubric",
            "nanovlm-pairwise", "--judge", "openai:gpt-4o", "--judge-base-url", "http://127.0.0.1:9/v1", "--quiet",
            "--max-new-tokens", "3", "--out", str(env / "o")]
    assert main(base) == 2
    assert "is pairwise: it needs captions of at least two models" in capsys.readouterr().err
    assert main(base + ["--baseline", "nobody"]) == 2
    assert "--baseline nobody: not one of the models" in capsys.readouterr().err


def test_every_pairwise_row_counts_the_verdicts_left_unscored():
    """Issue 23, item 7: rows said n_unscored 0 while the summary counted the verdicts left out."""
    from vlmgrade.analysis.pairwise import pairwise_rows
    from vlmgrade.core.types import Judgment

    rubric = load_rubric("nanovlm-pairwise")
    judged = []
    for i in range(6):  # two models, both orders; on samples 0 and 1 one order has no verdict for grammar
        for a, b, verdict in (("m1", "m2", 1.0), ("m2", "m1", 0.0)):
            scores = {c: verdict for c in PAPER}
            if i < 2 and a == "m2":
                scores["grammar"] = None
            judged.append(Judgment(f"s{i}", f"{a} vs {b}", rubric.name, scores, pair=(a, b)))
    rows, summary = pairwise_rows(judged, rubric, ["m1", "m2"])
    left_out = {(r.model, r.criterion): r.n_unscored for r in rows}
    assert summary.unscored == 2
    assert left_out[("m1", "grammar")] == left_out[("m2", "grammar")] == 2
    assert all(v == 0 for (_, c), v in left_out.items() if c != "grammar")
