"""The Batch API: submitted once, picked up again after a kill, answers land in the cache."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.helpers import PAPER, child_env, run_args
from vlmgrade.cli import main
from vlmgrade.testing.server import Reply, body_digest, scripted_scores


def reply(body, count):
    return Reply(json.dumps({**scripted_scores(body, PAPER), "feedback": "ok"}))


def test_batch_run_killed_after_submitting_resumes_the_same_batch(tiny_model, tmp_path, monkeypatch, judge_server):
    """The killed run is a process of its own; the rerun that picks its batch up runs in this one."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server = judge_server(reply, batch_delay=3600)
    args = ["run", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "30", "--rubric",
            "nanovlm-paper", "--judge", "openai:gpt-4o", "--judge-base-url", server.base_url, "--out",
            str(tmp_path / "b"), "--max-new-tokens", "6", "--quiet", "--batch", "--batch-poll", "0.2"]
    proc = subprocess.Popen([sys.executable, "-m", "vlmgrade", *args], env=child_env(), stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not server.batches:
        assert time.time() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() else "timeout"
        time.sleep(0.05)
    time.sleep(1.0)  # the batch id is recorded; the client is polling now
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(server.batches) == 1
    batch = next(iter(server.batches.values()))
    batch["_ready_at"] = 0  # the batch finishes while nobody is watching
    assert main(args) == 0
    assert len(server.batches) == 1 and server.requests == []  # no second batch, no direct request
    served = {body_digest(b): scripted_scores(b, PAPER) for b in server.batch_bodies}
    assert batch["request_counts"]["total"] == len(served) <= 30
    run = json.loads((tmp_path / "b" / "run.json").read_text())
    assert run["batches"] == [batch["id"]] and run["requests_sent"] == 0
    assert json.loads((tmp_path / "b" / "batches.json").read_text())[0]["id"] == batch["id"]
    judgments = [json.loads(x) for x in (tmp_path / "b" / "judgments.jsonl").read_text().splitlines()]
    by_raw_scores = [j["scores"] for j in judgments]
    rows = {r["criterion"]: r for r in json.loads((tmp_path / "b" / "scores.json").read_text())["rows"]}
    for c in PAPER:
        assert rows[c]["n"] == 30
        assert rows[c]["mean"] == pytest.approx(np.mean([s[c] for s in by_raw_scores]))
    assert {json.dumps(s, sort_keys=True) for s in by_raw_scores} <= {
        json.dumps({c: float(v) for c, v in s.items()}, sort_keys=True) for s in served.values()}


def test_a_batch_line_and_a_direct_request_carry_the_same_body(tiny_model, env, monkeypatch, judge_server):
    """Both come from `request_body`, and so does the cache key: one job, one body, whichever way it goes."""
    server = judge_server(reply)
    monkeypatch.setenv("VLMGRADE_CACHE", str(env / "direct.sqlite"))
    assert main(run_args(tiny_model, server.base_url, env / "d", "--judge-logprobs")) == 0
    monkeypatch.setenv("VLMGRADE_CACHE", str(env / "batch.sqlite"))
    assert main(run_args(tiny_model, server.base_url, env / "b", "--judge-logprobs", "--batch",
                         "--batch-poll", "0.05")) == 0
    direct, batched = server.requests, server.batch_bodies
    assert len(direct) == len(batched) >= 1
    key = lambda b: json.dumps(b["messages"], sort_keys=True)  # noqa: E731
    assert sorted(direct, key=key) == sorted(batched, key=key)
    assert set(direct[0]) == {"model", "messages", "temperature", "max_tokens", "response_format", "logprobs",
                              "top_logprobs"}


def test_the_batch_bar_counts_each_judgment_once(tiny_model, tmp_path, monkeypatch, judge_server):
    """Issue 25: a finished batch was counted by its request counts and again by its answers (160/80)."""
    import vlmgrade.pipeline.dispatch as dispatch
    from vlmgrade.core.progress import Bar

    seen: list[tuple[int, int]] = []

    class Recording(Bar):
        def __init__(self, total):
            super().__init__()
            self.total = total

        def set(self, done, **fields):
            seen.append((done, self.total))

    class Context:
        def __init__(self, description, total, *a, **k):
            self.bar = Recording(total)

        def __enter__(self):
            return self.bar

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(dispatch, "progress_bar", Context)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server = judge_server(reply, batch_delay=0.5)
    args = ["run", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "8", "--rubric",
            "nanovlm-paper", "--judge", "openai:gpt-4o", "--judge-base-url", server.base_url, "--out",
            str(tmp_path / "b"), "--max-new-tokens", "4", "--quiet", "--batch", "--batch-poll", "0.2"]
    assert main(args) == 0
    batch_bars = [(done, total) for done, total in seen if total == 8]
    assert batch_bars and all(done <= total for done, total in batch_bars) and batch_bars[-1] == (8, 8), seen
