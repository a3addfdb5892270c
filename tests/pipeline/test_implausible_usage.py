"""A judge server that reports absurd token usage (9,999,999 per reply) is not billed: such usage is set aside,
the request counted at its estimate, and the run says how many replies it set aside (run.json and a warning
line). Before, 16 such replies cost $2,000 in run.json, and --max-cost 1 stopped the run after one."""

from __future__ import annotations

import json

import pytest

from tests.helpers import PAPER
from vlmgrade.cli import main
from vlmgrade.data.datasets import load_samples
from vlmgrade.pipeline.ledger import MAX_REPLY_TOKENS, plausible_usage
from vlmgrade.testing.server import Reply, body_digest

N = 16
HUGE = {"prompt_tokens": 9_999_999, "completion_tokens": 9_999_999, "total_tokens": 19_999_998}
SCORES = json.dumps({**{c: 5 for c in PAPER}, "feedback": "ok"})


def _run(env, server, *extra: str) -> int:
    captions = env / "caps.jsonl"
    captions.write_text("".join(json.dumps({"id": s.id, "model": "m", "text": f"caption number {i}"}) + "\n"
                                for i, s in enumerate(load_samples("scenes-short:test", N))))
    return main(["run", "--captions", str(captions), "--data", "scenes-short:test", "--limit", str(N), "--rubric",
                 "nanovlm-paper", "--judge", "openai:gpt-4o", "--judge-base-url", server.base_url,
                 "--out", str(env / "r"), "--quiet", *extra])


def test_absurd_usage_is_counted_at_the_estimate_and_flagged(env, capsys, judge_server):
    server = judge_server(lambda body, n: Reply(SCORES, usage=HUGE))
    assert _run(env, server, "--max-cost", "1") == 0  # the old ledger stopped here at $125
    run = json.loads((env / "r" / "run.json").read_text())
    assert run["requests_sent"] == N and run["implausible_usage"] == N
    estimate = run["estimate"]
    assert run["usage"] == {"prompt_tokens": estimate["est_prompt_tokens"],
                            "completion_tokens": estimate["est_completion_tokens"],
                            "total_tokens": estimate["est_prompt_tokens"] + estimate["est_completion_tokens"]}
    assert run["cost_usd"] == pytest.approx(estimate["est_usd"], abs=1e-6) and run["cost_usd"] < 0.1
    assert f"vlmgrade: warning: {N} replies reported implausible usage; counted at the estimate" in \
        capsys.readouterr().err
    judged = [json.loads(line) for line in (env / "r" / "judgments.jsonl").read_text().splitlines()]
    assert all(j["usage"]["prompt_tokens"] == 9_999_999 for j in judged)  # the server's own words stay on record


def test_only_the_implausible_replies_are_set_aside(env, capsys, judge_server):
    def reply(body, n):  # by the request, not its arrival: about half report absurd usage
        return Reply(SCORES, usage=HUGE) if int(body_digest(body), 16) % 2 else Reply(SCORES)

    server = judge_server(reply)
    assert _run(env, server) == 0
    run = json.loads((env / "r" / "run.json").read_text())
    huge = sum(int(body_digest(b), 16) % 2 for b in server.requests)
    assert 0 < huge < N and run["implausible_usage"] == huge
    assert run["usage"]["completion_tokens"] == 20 * (N - huge) + huge * run["estimate"]["est_completion_tokens"] // N
    assert f"{huge} replies reported implausible usage" in capsys.readouterr().err


def test_plain_usage_is_counted_as_reported_and_no_warning_is_shown(env, capsys, judge_server):
    server = judge_server(lambda body, n: Reply(SCORES))
    assert _run(env, server) == 0
    run = json.loads((env / "r" / "run.json").read_text())
    assert run["usage"] == {"prompt_tokens": 100 * N, "completion_tokens": 20 * N, "total_tokens": 120 * N}
    assert "implausible_usage" not in run and "implausible" not in capsys.readouterr().err


@pytest.mark.parametrize("usage, plausible", [
    ({"prompt_tokens": 10 * 300 + 1000, "completion_tokens": 2 * 400}, True),
    ({"prompt_tokens": 10 * 300 + 1001, "completion_tokens": 10}, False),
    ({"prompt_tokens": 10, "completion_tokens": 2 * 400 + 1}, False),
    ({"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 4000 + 800 + 1}, False),
    ({"prompt_tokens": None, "completion_tokens": None}, True),  # no figures: nothing to set aside
    ({}, True),
])
def test_the_ceilings(usage, plausible):
    assert plausible_usage(usage, (300, 120), 400) is plausible


def test_a_flat_ceiling_holds_whatever_the_estimate():
    assert plausible_usage({"prompt_tokens": MAX_REPLY_TOKENS}, (10**7, 100), None)
    assert not plausible_usage({"prompt_tokens": MAX_REPLY_TOKENS + 1}, (10**7, 100), None)
    assert not plausible_usage({"completion_tokens": MAX_REPLY_TOKENS + 1}, (100, 100), None)
