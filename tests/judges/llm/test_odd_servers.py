"""Odd servers: a judge hanging on one prompt costs one timeout, a --deadline bounds the whole judging stage,
and empty, HTML or refused replies are unscored with what came back, never cached; the key reaches no file."""

import json
import re
import time

from tests.helpers import PAPER, SECRET
from vlmgrade.cli import main
from vlmgrade.data.datasets import load_samples
from vlmgrade.testing.server import Reply, scripted_scores


def _captions(env, n=20):
    samples = load_samples("scenes-short:test", n)
    path = env / "caps.jsonl"
    path.write_text("".join(json.dumps({"id": s.id, "model": "m", "text": f"text number {i}"}) + "\n"
                            for i, s in enumerate(samples)))
    return ["run", "--captions", str(path), "--data", "scenes-short:test", "--limit", str(n), "--rubric",
            "nanovlm-paper", "--judge", "openai:gpt-4o", "--quiet", "--allow-unscored"]


def _ok(body):
    return Reply(json.dumps({**scripted_scores(body, PAPER), "feedback": "ok"}))


def test_a_judge_hanging_on_one_prompt_in_twenty_costs_one_timeout(env, judge_server):
    def judge(body, n):
        return Reply(hang=30) if "text number 7" in json.dumps(body) else _ok(body)

    server = judge_server(judge)
    started = time.monotonic()
    assert main(_captions(env) + ["--judge-base-url", server.base_url, "--judge-timeout", "2",
                                  "--out", str(env / "r")]) == 0
    took = time.monotonic() - started
    assert took < 3 * 2 + 10, took
    judged = [json.loads(x) for x in (env / "r" / "judgments.jsonl").read_text().splitlines()]
    unscored = [j for j in judged if j["unscored_reason"]]
    assert len(judged) == 20 and len(unscored) == 1 and unscored[0]["unscored_reason"].startswith("timeout")


def test_a_deadline_bounds_the_whole_judging_stage(env, judge_server):
    """Hung requests with a long per-request timeout: --deadline ends them all at once; they are unscored
    ("deadline"), the answered ones are scored, and a rerun asks only for the missing ones."""
    asked = []

    def judge(body, n):
        asked.append(json.dumps(body))
        return Reply(hang=60) if re.search(r"text number (3|8|13)\b", json.dumps(body)) else _ok(body)

    server = judge_server(judge)
    started = time.monotonic()
    assert main(_captions(env) + ["--judge-base-url", server.base_url, "--judge-timeout", "60",
                                  "--deadline", "3", "--out", str(env / "r")]) == 0
    took = time.monotonic() - started
    assert took < 3 + 10, took
    judged = [json.loads(x) for x in (env / "r" / "judgments.jsonl").read_text().splitlines()]
    unscored = [j for j in judged if j["unscored_reason"]]
    assert len(judged) == 20 and len(unscored) == 3
    assert all(j["unscored_reason"].startswith("deadline: --deadline 3 s passed") for j in unscored)
    first = len(asked)
    assert main(_captions(env) + ["--judge-base-url", server.base_url, "--judge-timeout", "1",
                                  "--out", str(env / "r2")]) == 0
    assert len(asked) - first == 3  # only the unanswered ones were asked again


def test_odd_replies_are_unscored_with_what_came_back_and_never_cached(env, judge_server):
    def judge(body, n):
        text = json.dumps(body)
        if "text number 1\\n" in text or "text number 1 " in text:
            return Reply("")  # empty: not cached
        if "text number 2" in text:
            return Reply(raw=b"<html><body>Gateway says hello</body></html>")
        if "text number 3" in text:
            return Reply(json.dumps({"error": {"message": f"bad header Authorization: Bearer {SECRET}"}}),
                         status=400)
        return Reply(_ok(body).content, usage={"prompt_tokens": -5000, "completion_tokens": 10**12})

    server = judge_server(judge)
    args = _captions(env) + ["--judge-base-url", server.base_url]
    assert main(args + ["--out", str(env / "r")]) == 0
    first = len(server.requests)
    assert main(args + ["--out", str(env / "r2")]) == 0
    again = server.requests[first:]
    reasons = {j["unscored_reason"] for j in map(json.loads, (env / "r" / "judgments.jsonl").read_text().splitlines())
               if j["unscored_reason"]}
    assert any(r.startswith("empty reply") for r in reasons)
    assert any("did not answer with a chat completion" in r and "Gateway says hello" in r for r in reasons)
    assert any("[redacted]" in r for r in reasons)
    assert len(again) == 3  # the empty, the HTML and the refused ones are asked again; the rest came from the cache
    run = json.loads((env / "r" / "run.json").read_text())
    assert run["cost_usd"] >= 0 and run["usage"]["prompt_tokens"] >= 0
    for f in (p for p in (env / "r").rglob("*") if p.is_file()):
        assert SECRET not in f.read_text(errors="ignore"), f
