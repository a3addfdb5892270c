"""A server that echoes the API key back where a judge answer is kept (logprobs tokens, their alternatives, a
Batch API output line): the key reaches neither the cache nor the run folder, by any path. Batch answers over
the size cap, or empty, are unscored with the reason and not cached."""

import json
import os
import re
import sqlite3
from pathlib import Path

from tests.helpers import PAPER, SECRET, run_args
from vlmgrade.cli import main
from vlmgrade.judges.llm.batch import MAX_LINE_BYTES
from vlmgrade.judges.llm.openai import MAX_REPLY_CHARS
from vlmgrade.testing.server import Reply, scripted_scores

HALVES = (SECRET[: len(SECRET) // 2], SECRET[len(SECRET) // 2:])  # the key spread over two tokens


def leaked(tmp_path: Path) -> list[str]:
    """Every file of the test's folder (the cache, its WAL, the run folders) holding the key or a half of it."""
    found = []
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {s!r}" for s in (SECRET, *HALVES) if s.encode() in data]
    return found


def scores_text(body: dict, feedback: str = "ok") -> str:
    return json.dumps({**scripted_scores(body, PAPER), "feedback": feedback})


def tokens(pieces: list[str], extra_alternative: str) -> list[dict]:
    """logprobs.content entries for `pieces`, each offering `extra_alternative` besides itself."""
    return [{"token": p, "logprob": -0.1, "top_logprobs": [{"token": p, "logprob": -0.1},
                                                           {"token": extra_alternative, "logprob": -3.0}]}
            for p in pieces]


def echoing_logprobs(body: dict, count: int) -> Reply:
    """The key as an alternative of every token; for some requests also as extra tokens that do not spell the
    reply, or written in the reply itself and so spread over two of its tokens."""
    text = scores_text(body)
    pieces = re.findall(r"\d+|[^\d]+", text)
    if count % 3 == 1:
        return Reply(text, logprobs=tokens(pieces + [SECRET], SECRET))
    if count % 3 == 2:
        head, tail = text[:-2], text[-2:]
        text = head + f' {HALVES[0]}{HALVES[1]}' + tail
        return Reply(text, logprobs=tokens(re.findall(r"\d+|[^\d]+", head) + [f" {HALVES[0]}", HALVES[1]]
                                           + [tail], SECRET))
    return Reply(text, logprobs=tokens(pieces, SECRET))


def test_a_key_echoed_in_logprobs_reaches_no_file(tiny_model, env, judge_server):
    server = judge_server(echoing_logprobs)
    assert main(run_args(tiny_model, server.base_url, env / "w", "--judge-logprobs", "--allow-unscored",
                         limit=6, max_new_tokens=6, rubric="nanovlm-paper")) == 0
    assert len(server.answered) >= 3
    assert leaked(env) == []
    judged = [json.loads(x) for x in (env / "w" / "judgments.jsonl").read_text().splitlines()]
    assert any(j["weighted"] for j in judged)  # the clean replies are still weighted by their logprobs


def echoing_batch(body: dict, count: int) -> Reply:
    """Request 1 echoes the key in its answer, 2 answers over the size cap, 3 answers nothing, 4 writes a line
    over the line cap (read no further than its head)."""
    if count == 1:
        return Reply(scores_text(body, feedback=f"your key is {SECRET}"))
    if count == 2:
        return Reply(scores_text(body, feedback="x" * (MAX_REPLY_CHARS + 10)))
    if count == 3:
        return Reply("")
    if count == 4:
        return Reply(scores_text(body, feedback="y" * MAX_LINE_BYTES))
    return Reply(scores_text(body))


def test_batch_lines_echoing_the_key_oversized_or_empty(tiny_model, env, judge_server):
    server = judge_server(echoing_batch)
    assert main(run_args(tiny_model, server.base_url, env / "b", "--batch", "--batch-poll", "0.05",
                         "--allow-unscored", limit=8, max_new_tokens=6, rubric="nanovlm-paper")) == 0
    asked = len(server.batch_bodies)
    assert asked >= 5
    assert leaked(env) == []
    judged = [json.loads(x) for x in (env / "b" / "judgments.jsonl").read_text().splitlines()]
    reasons = [j["unscored_reason"] or "" for j in judged]
    assert any(f"at most {MAX_REPLY_CHARS:,} are kept" in r for r in reasons), reasons
    assert any("batch answer empty" in r for r in reasons), reasons
    assert any(f"batch answer line over {MAX_LINE_BYTES:,} bytes" in r for r in reasons), reasons
    assert any("[redacted]" in j["raw"] for j in judged if j["raw"])
    with sqlite3.connect(os.environ["VLMGRADE_CACHE"]) as db:
        cached = [json.loads(v) for (v,) in db.execute("SELECT value FROM judgments")]
    assert len(cached) == asked - 3  # the oversized and the empty answers are not kept: a rerun asks again
    assert all(c["raw"].strip() and len(c["raw"]) <= MAX_REPLY_CHARS for c in cached)
