"""Probability-weighted scores equal the expectation of the distributions the server served."""

import json
import math
import re

import pytest

from tests.helpers import PAPER, run_args
from vlmgrade.cli import main
from vlmgrade.testing.server import Reply

# per criterion: the distribution over score tokens at its position (plus junk the expectation ignores)
DISTS = {"grammar": {"6": 0.2, "7": 0.5, "8": 0.3}, "creativity": {"3": 0.6, "4": 0.4},
         "consistency": {"9": 0.7, "10": 0.2, "x": 0.1}, "meaningfulness": {"5": 1.0},
         "plot": {"2": 0.25, "4": 0.25, "6": 0.5}}
EXPECTED = {c: sum(int(k) * p for k, p in d.items() if k.isdigit()) / sum(p for k, p in d.items() if k.isdigit())
            for c, d in DISTS.items()}
PLAIN = {c: int(max((k for k in d if k.isdigit()), key=d.get)) for c, d in DISTS.items()}


def logprob_reply(body, count, with_logprobs=True):
    text = json.dumps({**PLAIN, "feedback": "ok"})
    if not with_logprobs or not body.get("logprobs"):
        return Reply(text)
    content, criterion = [], None
    for tok in re.findall(r"\d+|[^\d]+", text):
        names = re.findall(r'"(\w+)"', tok)
        if tok.isdigit() and criterion:
            top = [{"token": k, "logprob": math.log(p)} for k, p in DISTS[criterion].items()]
            content.append({"token": tok, "logprob": math.log(DISTS[criterion][tok]), "top_logprobs": top})
        else:
            content.append({"token": tok, "logprob": -0.01, "top_logprobs": [{"token": tok, "logprob": -0.01}]})
        criterion = names[-1] if names else criterion
    return Reply(text, logprobs=content)


def run(model, url, out, *extra):
    return main(run_args(model, url, out, *extra, limit=6, max_new_tokens=6, rubric="nanovlm-paper"))


def test_weighted_means_equal_the_served_expectations(tiny_model, env, judge_server):
    server = judge_server(logprob_reply)
    assert run(tiny_model, server.base_url, env / "w", "--judge-logprobs") == 0
    assert all(b["logprobs"] is True and b["top_logprobs"] == 20 for b in server.requests)
    sent = len(server.requests)
    assert run(tiny_model, server.base_url, env / "w2", "--judge-logprobs") == 0  # from the cache
    assert len(server.requests) == sent
    for folder in ("w", "w2"):
        rows = {r["criterion"]: r for r in json.loads((env / folder / "scores.json").read_text())["rows"]}
        for c in PAPER:
            assert rows[c]["mean"] == pytest.approx(EXPECTED[c]) and rows[c]["n"] == 6
    line = json.loads((env / "w" / "judgments.jsonl").read_text().splitlines()[0])
    assert line["plain_scores"] == {c: float(v) for c, v in PLAIN.items()} and sorted(line["weighted"]) == sorted(PAPER)
    assert json.loads((env / "w" / "scores.json").read_text())["weighted"] is True  # labelled everywhere
    assert "probability-weighted" in (env / "w" / "report.md").read_text()
    assert "probability-weighted" in (env / "w" / "report.html").read_text()


def test_endpoints_without_logprobs_fall_back_to_plain_scores(tiny_model, env, judge_server):
    server = judge_server(lambda b, n: logprob_reply(b, n, with_logprobs=False))
    assert run(tiny_model, server.base_url, env / "p", "--judge-logprobs") == 0
    rows = {r["criterion"]: r for r in json.loads((env / "p" / "scores.json").read_text())["rows"]}
    assert all(rows[c]["mean"] == PLAIN[c] for c in PAPER)
    line = json.loads((env / "p" / "judgments.jsonl").read_text().splitlines()[0])
    assert line["weighted"] == [] and line["scores"] == line["plain_scores"]
