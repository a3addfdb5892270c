"""Cost control: dry runs, --max-cost, token and dollar accounting, vision judging (the rate limiter's
spacing: tests/judges/llm/test_openai.py)."""

import json

import pytest

from tests.helpers import distinct_completions, run_args
from vlmgrade.cli import main
from vlmgrade.pipeline.cost import dollars, load_prices
from vlmgrade.testing.server import Reply

REPLY = json.dumps({"grammar": 5, "creativity": 5, "consistency": 5, "meaningfulness": 5, "plot": 5,
                    "feedback": "ok"})


def args(model, url, out, *extra, n="10"):
    return run_args(model, url, out, *extra, limit=int(n), max_new_tokens=6, rubric="nanovlm-paper")


def test_dry_run_sends_nothing_and_prints_an_estimate(tiny_model, env, capsys, judge_server):
    server = judge_server(lambda b, n: Reply(REPLY))
    assert main(args(tiny_model, server.base_url, env / "d", "--dry-run", "--repeats", "3")) == 0
    assert server.requests == []
    out = capsys.readouterr().out
    to_send = 3 * distinct_completions(tiny_model, 10, 6)  # identical requests are sent once
    assert f"dry run, nothing sent: 30 judge requests, {30 - to_send} from cache, {to_send} to send" in out
    assert "cost $" in out
    assert not (env / "d").exists()


def test_max_cost_refuses_before_sending_and_run_json_records_cost(tiny_model, env, capsys, judge_server):
    server = judge_server(lambda b, n: Reply(REPLY))
    assert main(args(tiny_model, server.base_url, env / "r", "--max-cost", "0.000001")) == 2
    assert server.requests == []
    assert "exceeds --max-cost" in capsys.readouterr().err
    assert main(args(tiny_model, server.base_url, env / "r", "--max-cost", "1")) == 0
    sent = len(server.requests)
    run = json.loads((env / "r" / "run.json").read_text())
    price = load_prices()["gpt-4o"]
    assert run["usage"]["prompt_tokens"] == 100 * sent and run["usage"]["completion_tokens"] == 20 * sent
    assert run["cost_usd"] == pytest.approx(dollars(100 * sent, 20 * sent, price))
    assert run["estimate"]["to_send"] == sent and run["estimate"]["est_usd"] > 0


def test_picture_rubric_and_judge_image_flag_send_a_bounded_picture(tiny_model, env, judge_server):
    import base64
    import io

    from PIL import Image

    def reply(body, n):
        return Reply(json.dumps({"faithfulness": 7, "detail": 6, "grammar": 5, "creativity": 5, "consistency": 5,
                                 "meaningfulness": 5, "plot": 5, "feedback": ""}))

    server = judge_server(reply)
    assert main(args(tiny_model, server.base_url, env / "p", "--rubric", "picture-consistency", n="2")) == 0
    assert main(args(tiny_model, server.base_url, env / "q", "--judge-image", n="2")) == 0
    with_image = [b for b in server.requests if isinstance(b["messages"][-1]["content"], list)]
    # run p: nanovlm-paper without the picture, picture-consistency with it; run q: --judge-image, all with it
    without_image = distinct_completions(tiny_model, 2, 6)  # 1 when both samples read the same
    assert len(server.requests) == 4 + without_image and len(with_image) == 4
    url = with_image[0]["messages"][-1]["content"][1]["image_url"]["url"]
    assert max(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size) <= 512
    rows = json.loads((env / "p" / "scores.json").read_text())["rows"]
    assert {(r["rubric"], r["criterion"], r["mean"]) for r in rows if r["rubric"] == "picture-consistency"} == {
        ("picture-consistency", "faithfulness", 7.0), ("picture-consistency", "detail", 6.0)}
