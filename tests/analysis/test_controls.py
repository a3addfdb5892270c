"""Judge controls: a judge that reads the text passes them; one that answers at random is flagged."""

import json

from tests.helpers import PAPER, prompt_parts, run_args
from vlmgrade.analysis.controls import control_captions
from vlmgrade.cli import main
from vlmgrade.data.datasets import load_samples
from vlmgrade.judges.offline.fluency import fluency
from vlmgrade.testing.server import Reply, scripted_scores

N = 30


def rule_judge(samples):
    """Prefers fluent text (not degenerate: judges/offline/fluency.py) that agrees with a picture having this
    beginning."""
    by_prefix: dict[str, list[set]] = {}
    for c in control_captions(samples):
        if c.model == "reference":
            prefix = next(s.prefix for s in samples if s.id == c.sample_id)
            by_prefix.setdefault(prefix, []).append(set(c.text.lower().split()))

    def reply(body, n):
        beginning, completion = prompt_parts(body)
        words = set(completion.lower().split())
        fit = max((len(words & ref) / len(words | ref) for ref in by_prefix.get(beginning, [])), default=0.0)
        fluent, degenerate = fluency(completion, beginning)
        quality = 0.0 if degenerate else fluent or 0.0
        scores = {c: round(1 + 9 * quality) for c in PAPER}
        scores["consistency"] = round(1 + 9 * quality * fit)
        return Reply(json.dumps({**scores, "feedback": "ok"}))

    return reply


def random_judge(body, n):
    return Reply(json.dumps({**scripted_scores(body, PAPER), "feedback": "ok"}))


def test_a_judge_that_reads_the_text_passes_every_control(tiny_model, env, capsys, judge_server):
    samples = load_samples("scenes-short:test", N)
    server = judge_server(rule_judge(samples))
    assert main(run_args(tiny_model, server.base_url, env / "r", "--controls", limit=N, rubric="nanovlm-paper")) == 0
    scores = json.loads((env / "r" / "scores.json").read_text())
    checks = scores["controls"]["checks"]
    assert {(c["criterion"], c["control"]) for c in checks} == {(c, "shuffled") for c in PAPER} | {
        (c, "empty") for c in PAPER if c != "consistency"} | {("consistency", "other")}
    assert all(c["passes"] and c["n"] == N for c in checks), checks
    assert scores["controls"]["flags"] == []
    means = {(r["model"], r["criterion"]): r["mean"] for r in scores["rows"] if r.get("control")}
    worse = max(means[("other", "consistency")], means[("shuffled", "consistency")])
    assert means[("reference", "consistency")] > worse
    assert "does not discriminate" not in capsys.readouterr().err
    assert {r["model"] for r in scores["rows"] if not r.get("control")} == {str(tiny_model)}


def test_a_judge_that_answers_at_random_is_flagged_on_every_criterion(tiny_model, env, capsys, judge_server):
    server = judge_server(random_judge)
    assert main(run_args(tiny_model, server.base_url, env / "r", "--controls", limit=N,
                         rubric="nanovlm-paper")) == 0  # the verdict is data, not a failure
    err = capsys.readouterr().err
    for criterion in PAPER:
        assert f"the judge does not discriminate on {criterion} (nanovlm-paper" in err
    html = (env / "r" / "report.html").read_text()
    assert all(f"the judge does not discriminate on {c}" in html for c in PAPER)
    board = main(["leaderboard", str(env / "r"), "--format", "json"])
    assert board == 0 and '"reference"' not in capsys.readouterr().out  # controls are no contestants


def test_controls_are_cached_and_counted_in_dry_runs(tiny_model, env, capsys, judge_server):
    server = judge_server(random_judge)
    assert main(run_args(tiny_model, server.base_url, env / "d", "--controls-limit", "5", "--dry-run",
                         limit=10, rubric="nanovlm-paper")) == 0
    assert "35 judge requests" in capsys.readouterr().out  # 10 captions + 5 controls x 5 samples
    assert main(run_args(tiny_model, server.base_url, env / "r", "--controls-limit", "5", limit=10,
                         rubric="nanovlm-paper")) == 0
    sent = len(server.requests)
    assert main(run_args(tiny_model, server.base_url, env / "r2", "--controls-limit", "5", limit=10,
                         rubric="nanovlm-paper")) == 0
    assert len(server.requests) == sent  # the rerun pays for nothing
