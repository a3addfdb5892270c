"""Failures that say so: a judge refusing every request stops the run early with its own message; runs
never share a folder; a non-empty --out is refused; most judgments unscored exits 3."""

import json
import subprocess
import sys
import threading

from tests.helpers import PAPER, ROOT, cache_locking_judge, child_env, leases_expired, run_args, write_captions
from vlmgrade.cli import main
from vlmgrade.testing.server import Reply, scripted_scores


def pinned(body, n):
    return Reply(json.dumps({"error": {"message": "Server is pinned to model X; requested gpt-4o",
                                       "type": "invalid_request_error"}}), status=400)


def test_a_judge_refusing_every_request_stops_the_run_with_its_message(tiny_model, env, capsys, judge_server):
    server = judge_server(pinned)
    code = main(run_args(tiny_model, server.base_url, env / "r", limit=12, max_new_tokens=6, rubric="nanovlm-paper"))
    sent = len(server.requests)
    err = capsys.readouterr().err
    assert code == 2 and sent <= 10, sent
    assert "Server is pinned to model X; requested gpt-4o" in err and "HTTP 400" in err
    assert "Traceback" not in err


def test_a_refusal_after_answers_stops_after_a_few_in_a_row(tiny_model, env, capsys, judge_server):
    def later(body, n):
        return Reply(json.dumps({c: 5 for c in ("grammar", "creativity", "consistency", "meaningfulness",
                                                "plot")} | {"feedback": "ok"})) if n < 2 else pinned(body, n)

    server = judge_server(later)
    code = main(run_args(tiny_model, server.base_url, env / "r", "--concurrency", "1", limit=30,
                         max_new_tokens=8, rubric="nanovlm-paper"))
    sent = len(server.requests)
    assert code == 2 and sent <= 2 + 5, sent
    assert "refused 5 requests in a row with HTTP 400" in capsys.readouterr().err


def test_two_runs_started_together_keep_two_whole_folders(tiny_model, env, monkeypatch):
    monkeypatch.setenv("VLMGRADE_RUNS", str(env / "runs"))
    codes = []
    args = ["run", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "2", "--judge", "grounded",
            "--max-new-tokens", "3", "--quiet"]
    threads = [threading.Thread(target=lambda: codes.append(main(args))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    folders = sorted((env / "runs").iterdir())
    assert codes == [0, 0] and len(folders) == 2
    for f in folders:
        assert {"run.json", "scores.json", "judgments.jsonl", "captions.jsonl", "report.html"} <= {
            p.name for p in f.iterdir()}
        assert json.loads((f / "run.json").read_text())["run"] == f.name


def test_a_non_empty_out_is_refused_unless_the_same_run_or_overwrite(tiny_model, env, capsys):
    args = ["run", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "2", "--judge", "grounded",
            "--max-new-tokens", "3", "--quiet", "--out", str(env / "r")]
    assert main(args) == 0
    assert main(args) == 0  # the same run again: a resume
    other = [a if a != "2" else "3" for a in args]
    assert main(other) == 2
    assert "is not empty and holds another run" in capsys.readouterr().err
    (env / "r" / "run.json").write_text("{broken")  # the same run, its record unreadable: said so, not "another run"
    assert main(args) == 2
    assert "holds a run.json that cannot be read" in capsys.readouterr().err
    assert main(other + ["--overwrite"]) == 0
    capsys.readouterr()
    assert main(["runs", str(env), "--format", "json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [(r["run"], r["status"], r["data"]) for r in runs] == [("r", "complete", "scenes-short:test")]


def test_a_crash_while_rewriting_a_run_folder_leaves_the_old_one_whole(tiny_model, env, monkeypatch, capsys):
    import vlmgrade.report.html

    args = ["run", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "2", "--judge", "grounded",
            "--max-new-tokens", "3", "--quiet", "--out", str(env / "r")]
    assert main(args) == 0
    before = {str(p.relative_to(env / "r")): p.read_bytes() for p in (env / "r").rglob("*") if p.is_file()}

    def crash(*a, **k):
        raise KeyboardInterrupt  # a kill half way through writing: scores.json and run.json are already out

    monkeypatch.setattr(vlmgrade.report.html, "render_html", crash)
    try:
        main(args[:6] + ["3"] + args[7:] + ["--overwrite"])
    except KeyboardInterrupt:
        pass
    after = {str(p.relative_to(env / "r")): p.read_bytes() for p in (env / "r").rglob("*") if p.is_file()}
    assert after == before  # the old folder, whole
    assert not [p for p in env.iterdir() if p.name.startswith(".r.")]  # no staging folder left behind


def test_identical_runs_sharing_a_cache_send_each_request_once(env, judge_server):
    from vlmgrade.data.datasets import load_samples

    samples = load_samples("scenes-short:test", 12)
    caps = env / "caps.jsonl"
    caps.write_text("".join(json.dumps({"id": s.id, "model": "m", "text": f"a red ball number {i}"}) + "\n"
                            for i, s in enumerate(samples)))

    def judge(body, n):
        return Reply(json.dumps({**scripted_scores(body, PAPER), "feedback": "ok"}))

    server = judge_server(judge, latency=0.3)
    procs = [subprocess.Popen([sys.executable, "-m", "vlmgrade", "run", "--captions", str(caps), "--data",
                               "scenes-short:test", "--limit", "12", "--rubric", "nanovlm-paper", "--judge",
                               "openai:gpt-4o", "--judge-base-url", server.base_url, "--concurrency", "4",
                               "--quiet", "--out", str(env / f"r{i}")], cwd=ROOT, env=child_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(3)]
    results = [p.communicate(timeout=300) for p in procs]
    bodies = [json.dumps(b, sort_keys=True) for b in server.requests]
    assert [p.returncode for p in procs] == [0, 0, 0], [r[1] for r in results]
    assert len(bodies) == len(set(bodies)) == 12  # three runs, each request sent once
    scores = [json.loads((env / f"r{i}" / "scores.json").read_text())["rows"] for i in range(3)]
    assert scores[0] == scores[1] == scores[2]


def test_leases_in_one_exchange_answer_hold_expire_and_release(env):
    """What a claim sees in each state, many keys to a transaction: an answer is returned, another owner's
    live lease keeps the key, an expired one is taken over, and each owner releases only its own."""
    import time

    from vlmgrade.pipeline.cache import Cache

    cache = Cache(env / "leases.sqlite")
    cache.put("judgments", "answered", {"raw": "{}"})
    assert cache.exchange("judgments", "b", 60, claims=["held"]) == {"held": (True, None)}
    cache.exchange("judgments", "c", 0.2, claims=["stale"])
    time.sleep(0.3)  # c's lease has run out
    got = cache.exchange("judgments", "a", 60, claims=["answered", "held", "stale", "free"])
    assert got == {"answered": (False, {"raw": "{}"}), "held": (False, None), "stale": (True, None),
                   "free": (True, None)}
    cache.exchange("judgments", "a", 60, releases=["held"])  # not a's lease: b keeps it
    assert cache.exchange("judgments", "a", 60, claims=["held"])["held"] == (False, None)
    cache.exchange("judgments", "b", 60, answers=[("held", {"raw": "yes"})])  # the answer ends b's lease
    assert cache.exchange("judgments", "a", 60, claims=["held"])["held"] == (False, {"raw": "yes"})
    assert cache.count("leases") == 2  # a's on stale and free
    cache.exchange("judgments", "a", 60, releases=["stale", "free"])
    assert cache.count("leases") == 0
    cache.close()


def _locking_judge(env, hold: float):
    """A judge that holds the cache's write lock for `hold` seconds on its first request, and a run's arguments."""
    import time

    caps = write_captions(env / "caps.jsonl", 6)
    args = ["run", "--captions", str(caps), "--data", "scenes-short:test", "--limit", "6", "--rubric",
            "nanovlm-paper", "--judge", "openai:gpt-4o", "--concurrency", "1", "--quiet"]
    return cache_locking_judge(env / "cache.sqlite", hold), args, time


def test_a_cache_locked_by_another_process_is_waited_out_with_the_wait_shown(env, monkeypatch, capsys,
                                                                            judge_server):
    from vlmgrade.pipeline import cache

    monkeypatch.setattr(cache, "BUSY_TIMEOUT_S", 0.5)
    judge, args, time = _locking_judge(env, hold=4.0)
    server = judge_server(judge)
    assert main(args + ["--judge-base-url", server.base_url, "--out", str(env / "r")]) == 0
    assert "another process holds its lock" in capsys.readouterr().err
    first = len(server.requests)
    assert main(args + ["--judge-base-url", server.base_url, "--out", str(env / "r2")]) == 0
    assert len(server.requests) == first == 6  # every answer reached the cache once the lock was gone


def test_a_cache_locked_for_good_loses_no_answer(env, monkeypatch, capsys, judge_server):
    """Past the wait, the write is given up: the run still finishes with every judgment scored and says
    which answers the cache lacks; a rerun asks only for those. The leases the first run could not drop
    with its answers (judge timeout + 30 s: 90 s here) have expired when the rerun starts: the cache's
    clock is moved on instead of waiting them out."""
    from vlmgrade.pipeline import cache

    monkeypatch.setattr(cache, "BUSY_TIMEOUT_S", 0.3)
    monkeypatch.setattr(cache, "LOCK_WAIT_S", 1.0)
    judge, args, time = _locking_judge(env, hold=3.0)
    server = judge_server(judge)
    assert main(args + ["--judge-base-url", server.base_url, "--out", str(env / "r")]) == 0
    err = capsys.readouterr().err
    assert "cache writes to" in err and "failed (database is locked)" in err and "Traceback" not in err
    judged = [json.loads(x) for x in (env / "r" / "judgments.jsonl").read_text().splitlines()]
    assert len(judged) == 6 and not any(j["unscored_reason"] for j in judged)
    unsaved = json.loads((env / "r" / "run.json").read_text())["unsaved_in_cache"]
    assert unsaved >= 1
    first = len(server.requests)
    time.sleep(3.0)  # the lock is gone
    leases_expired(monkeypatch)
    assert main(args + ["--judge-base-url", server.base_url, "--out", str(env / "r2")]) == 0
    assert 1 <= len(server.requests) - first <= unsaved
