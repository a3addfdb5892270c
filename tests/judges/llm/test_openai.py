"""The OpenAI-compatible judge's transport: the openai client's own retries (rate limits, server errors,
dropped connections), requests spread over several clients, and the rate limiter's spacing."""

import asyncio
import json
import time

from tests.helpers import distinct_completions, json_reply, run_args
from vlmgrade.cli import main
from vlmgrade.judges.llm.ratelimit import RateLimiter
from vlmgrade.testing.server import Reply, body_digest, scripted_scores


def test_rate_limits_server_errors_and_dropped_connections_are_retried(tiny_model, env, judge_server):
    seen: dict[str, int] = {}

    def reply(body, count):
        d = body_digest(body)
        seen[d] = seen.get(d, 0) + 1
        if seen[d] == 1:
            kind = int(d, 16) % 3
            if kind == 0:
                return Reply("slow down", status=429, headers={"retry-after": "0"})
            if kind == 1:
                return Reply("boom", status=500)
            return Reply(drop=True)
        return json_reply(body, count)

    server = judge_server(reply)
    assert main(run_args(tiny_model, server.base_url, env / "r", limit=12, max_new_tokens=8,
                         rubric="nanovlm-paper")) == 0
    distinct = distinct_completions(tiny_model, 12, 8)
    assert len(server.requests) == 2 * distinct and len(server.answered) == distinct
    run_json = json.loads((env / "r" / "run.json").read_text())
    assert run_json["retries"] == distinct and run_json["requests_sent"] == distinct
    assert all(r["n"] == 12 for r in json.loads((env / "r" / "scores.json").read_text())["rows"])


def test_many_requests_at_once_are_spread_over_clients_and_each_gets_its_own_answer(env, judge_server):
    """The judge splits `concurrency` over several clients (one connection pool per REQUESTS_PER_CLIENT),
    the least busy first: 40 requests in flight sit 14/13/13 on three clients, never 40 on one, and
    every reply still goes back to the request that asked."""
    from vlmgrade.judges import JudgeSpec
    from vlmgrade.judges.llm.openai import REQUESTS_PER_CLIENT, OpenAIJudge

    criteria = ("grammar", "plot")

    def judge(body, count):
        return Reply(json.dumps(scripted_scores(body, criteria)))

    bodies = [{"model": "gpt-4o", "messages": [{"role": "user", "content": f"story {i}"}]} for i in range(40)]
    server = judge_server(judge, latency=0.5)

    async def go():
        judge_ = OpenAIJudge(JudgeSpec("openai", "gpt-4o", server.base_url), concurrency=40)
        assert len(judge_.clients) == -(-40 // REQUESTS_PER_CLIENT) == 3
        pending = asyncio.gather(*(judge_.complete(b) for b in bodies))
        await asyncio.sleep(0.2)  # every call has taken its lane; none is answered (the server waits 0.5 s)
        in_flight = list(judge_._in_flight)
        replies = await pending
        await judge_.close()
        return in_flight, replies, list(judge_._in_flight)

    in_flight, replies, after = asyncio.run(go())
    assert sorted(in_flight) == [13, 13, 14] and after == [0, 0, 0]
    assert [json.loads(r.text) for r in replies] == [scripted_scores(b, criteria) for b in bodies]
    assert server.received == 40


def test_rate_limiter_spaces_requests():
    async def elapsed(limiter: RateLimiter, requests: int, tokens: int) -> float:
        start = time.monotonic()
        for _ in range(requests):
            await limiter.acquire(tokens)
        return time.monotonic() - start

    # 5 requests at 2 per half second: two full waits; 3 x 60 tokens at 100 per half second: two as well
    assert 1.0 <= asyncio.run(elapsed(RateLimiter(rpm=2, window=0.5), 5, 10)) < 2.0
    assert 1.0 <= asyncio.run(elapsed(RateLimiter(tpm=100, window=0.5), 3, 60)) < 2.0
