"""`vlmgrade run` end to end: a tiny real NanoVLM, the real openai client, a scripted server on 127.0.0.1."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy import stats

from tests.helpers import PAPER, SECRET, child_env, json_reply, leases_expired, run_args
from vlmgrade.cli import main
from vlmgrade.judges.offline.grounded import builtin_rubric
from vlmgrade.testing.server import FakeOpenAI, Reply, body_digest, scripted_scores


def request_bodies(folder) -> list[dict]:
    """The request each judgment made, rebuilt from the run's own captions with the product's renderer."""
    from vlmgrade.core.types import Caption
    from vlmgrade.data.datasets import load_samples
    from vlmgrade.judges.llm.openai import build_messages
    from vlmgrade.rubrics import load_rubric

    rubric = load_rubric("nanovlm-paper")
    samples = {s.id: s for s in load_samples("scenes-short:test", 80)}
    out = []
    for line in (folder / "captions.jsonl").read_text().splitlines():
        c = json.loads(line)
        caption = Caption(c["id"], c["model"], c["text"])
        out.append({"model": "gpt-4o", "messages": build_messages(rubric, samples[c["id"]], caption)})
    return out


def run(tiny_model, server, out, *extra, n=40):
    return main(run_args(tiny_model, server.base_url, out, *extra, limit=n, max_new_tokens=8, rubric="nanovlm-paper"))


def test_scores_equal_what_the_server_returned(tiny_model, env, judge_server):
    server = judge_server(json_reply)
    assert run(tiny_model, server, env / "run1") == 0
    # identical rendered messages (same prefix, same completion) are one request
    distinct = len({body_digest(b) for b in server.requests})
    assert len(server.requests) == distinct and 20 <= distinct <= 40
    expected = [scripted_scores(b, PAPER) for b in request_bodies(env / "run1")]
    assert {body_digest(b) for b in server.answered} == {body_digest(b) for b in server.requests}
    served = {c: [e[c] for e in expected] for c in PAPER}
    scores = json.loads((env / "run1" / "scores.json").read_text())
    assert scores["judge"] == "openai:gpt-4o"
    rows = {r["criterion"]: r for r in scores["rows"]}
    assert set(rows) == set(PAPER)
    for c in PAPER:
        x = np.array(served[c], dtype=float)
        low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
        r = rows[c]
        assert (r["n"], r["n_unscored"], r["ci_method"]) == (40, 0, "t")
        assert r["mean"] == pytest.approx(x.mean()) and r["ci_low"] == pytest.approx(low)
        assert r["ci_high"] == pytest.approx(high)
    # structured output: the criteria were sent as a JSON schema
    schema = server.requests[0]["response_format"]["json_schema"]["schema"]
    assert schema["required"] == [*PAPER, "feedback"] and schema["properties"]["plot"]["maximum"] == 10

    generation = json.loads((env / "run1" / "run.json").read_text())["generation"][str(tiny_model)]
    assert generation["generated"] == 40 and generation["images_per_s"] > 0 and generation["tokens_per_s"] > 0
    assert generation["peak_memory_mb"] > 0 and (generation["device"], generation["dtype"]) == ("cpu", "float32")

    first_run = json.loads((env / "run1" / "run.json").read_text())
    # each job counted once: sent (the first one alone included) or answered by an identical request
    assert (first_run["requests_sent"], first_run["cache_hits"]) == (distinct, 40 - distinct)

    # the same command again pays for nothing
    assert run(tiny_model, server, env / "run2") == 0
    assert len(server.requests) == distinct
    assert json.loads((env / "run2" / "scores.json").read_text())["rows"] == scores["rows"]
    run_json = json.loads((env / "run2" / "run.json").read_text())
    assert (run_json["requests_sent"], run_json["cache_hits"], run_json["retries"]) == (0, 40, 0)

    for folder in ("run1", "run2"):
        names = {p.name for p in (env / folder).iterdir()}
        assert names == {"run.json", "captions.jsonl", "judgments.jsonl", "scores.json", "report.md", "report.html",
                         "plots"}
        lines = (env / folder / "judgments.jsonl").read_text().splitlines()
        assert len(lines) == 40 and set(json.loads(lines[0])) == {
            "sample_id", "model", "rubric", "repeat", "scores", "unscored_reason", "raw", "usage"}
    assert all(h == f"Bearer {SECRET}" for h in server.auth_headers)
    for path in [*env.rglob("*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_unparsable_and_out_of_scale_replies_are_unscored_with_a_reason(tiny_model, env, judge_server):
    def reply(body, count):
        n = int(body_digest(body), 16) % 4
        if n == 0:
            return Reply("I'd rather not grade this.")
        if n == 1:
            return Reply(json.dumps({**scripted_scores(body, PAPER), "grammar": 11, "feedback": ""}))
        if n == 2:  # not JSON, but a last-match parse finds every score
            return Reply("\n".join(f"{c.title()}: 7" for c in PAPER))
        return json_reply(body, count)

    server = judge_server(reply)  # about half end unscored by design: accepted, not exit 3
    assert run(tiny_model, server, env / "r", "--allow-unscored") == 0
    kinds = [int(body_digest(b), 16) % 4 for b in request_bodies(env / "r")]
    rows = json.loads((env / "r" / "scores.json").read_text())["rows"]
    unscored = kinds.count(0) + kinds.count(1)
    assert unscored > 0 and all(r["n_unscored"] == unscored and r["n"] == 40 - unscored for r in rows)
    judgments = [json.loads(x) for x in (env / "r" / "judgments.jsonl").read_text().splitlines()]
    reasons = {j["unscored_reason"] for j in judgments if j["unscored_reason"]}
    assert any(r.startswith("unparsable reply") for r in reasons)
    assert any("outside its scale 1-10" in r for r in reasons)
    assert all(v is None for j in judgments if j["unscored_reason"] for v in j["scores"].values())
    assert "## Unscored" in (env / "r" / "report.md").read_text()


def test_default_judge_without_credentials_is_grounded(tiny_model, env, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY")
    code = main(["run", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "6",
                 "--out", str(env / "g"), "--max-new-tokens", "8", "--quiet", "--ci", "bootstrap"])
    assert code == 0
    err = capsys.readouterr()
    assert "judging offline with the grounded judge" in err.err and "coverage" in err.out
    scores = json.loads((env / "g" / "scores.json").read_text())
    assert scores["judge"] == "grounded"
    assert {r["criterion"] for r in scores["rows"]} == {c.name for c in builtin_rubric().criteria}
    assert all(r["n"] + r["n_unscored"] == 6 for r in scores["rows"])
    # an interval from 2 samples up; below that a mean with no interval, and a method that says so
    # --ci bootstrap, except yes/no shares, which get the Wilson interval made for them
    assert all((r["ci_method"] in ("bootstrap", "wilson")) == (r["n"] >= 2) for r in scores["rows"])
    assert any(r["ci_method"] == "bootstrap" for r in scores["rows"])
    assert all(r["ci_low"] is None and r["ci_method"].startswith("none") for r in scores["rows"] if r["n"] < 2)


def test_a_killed_run_resumes_and_every_request_is_answered_once(tiny_model, env, monkeypatch):
    """Kill -9 once 20 judge requests are answered and the next ones hang; the rerun asks only the rest.
    The killed run held a lease on each hung request (judge timeout + 30 s: 90 s here); the rerun is made
    once they have expired, with the cache's clock moved on instead of waiting them out."""
    answered_first = 20

    def hold_after_first(body, count):
        return Reply(hang=60) if count > answered_first else json_reply(body, count)

    args = ["run", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "80", "--rubric",
            "nanovlm-paper", "--judge", "openai:gpt-4o", "--out", str(env / "k"), "--max-new-tokens", "8", "--quiet",
            "--concurrency", "8"]
    with FakeOpenAI(hold_after_first) as server:  # stopped before its port serves the rerun
        port = server.httpd.server_address[1]
        proc = subprocess.Popen([sys.executable, "-m", "vlmgrade", *args, "--judge-base-url", server.base_url],
                                env=child_env(), stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while not (len(server.answered) == answered_first and len(server.requests) > answered_first):
            assert time.time() < deadline and proc.poll() is None, "the run never reached the judge"
            time.sleep(0.05)
        time.sleep(1.0)  # let the client commit the answers it has read
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first = [body_digest(b) for b in server.answered]
    leases_expired(monkeypatch)
    with FakeOpenAI(json_reply, port=port) as server:  # same endpoint, so the same cache keys
        assert main(args + ["--judge-base-url", server.base_url]) == 0
        second = [body_digest(b) for b in server.answered]
    needed = {body_digest(b) for b in request_bodies(env / "k")}
    assert len(first) == answered_first and len(second) == len(needed) - answered_first
    assert sorted(first + second) == sorted(needed)  # every distinct request answered exactly once
    rows = json.loads((env / "k" / "scores.json").read_text())["rows"]
    assert all(r["n"] == 80 and r["n_unscored"] == 0 for r in rows)


def test_a_bar_drawn_from_the_event_loop_shows_counts_while_running_without_a_refresh_thread(monkeypatch):
    """The judging bar is redrawn by a task on the loop (rich's refresh thread would take the GIL from
    the loop ten times a second): counts appear while it runs, and no refresh thread exists."""
    import asyncio
    import io
    import threading

    from rich.console import Console

    from vlmgrade.core import progress

    screen = io.StringIO()
    monkeypatch.setattr(progress, "stderr_console", lambda: Console(file=screen, force_terminal=True, width=100))

    async def go():
        bar = progress.start_bar("judge", 10, on_loop=True)
        drawing = asyncio.ensure_future(bar.keep_drawn())
        threads = {type(t).__name__ for t in threading.enumerate()}
        seen = []
        for _ in range(10):
            bar.advance(1)
            await asyncio.sleep(progress.REFRESH_S * 1.5)  # at least one redraw after each step
            seen.append(screen.getvalue())
        drawing.cancel()
        bar.stop()
        return threads, seen

    threads, seen = asyncio.run(go())
    assert "_RefreshThread" not in threads
    assert "5/10" in seen[4] and "5/10" not in seen[3] and "10/10" in seen[9]


def test_run_json_keys_generation_by_label_with_its_source(tiny_model, tmp_path):
    from vlmgrade.cli import main

    assert main(["run", "--model", f"mine={tiny_model}", "--data", "scenes-short:test", "--limit", "2", "--judge",
                 "grounded", "--quiet", "--out", str(tmp_path / "o")]) == 0
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert run["models"] == ["mine"] and list(run["generation"]) == ["mine"]
    assert run["generation"]["mine"]["source"] == str(tiny_model) and run["generation"]["mine"]["generated"] == 2
