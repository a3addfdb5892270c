"""Bad input to `vlmgrade run` and `rubric check`: one line on stderr, exit 2, nothing computed is lost."""

import json

import pytest

from tests.helpers import json_reply, run_args
from vlmgrade.cli import main
from vlmgrade.testing.server import Reply

GOOD = """name: custom
version: 2
criteria:
  fluency: {description: Reads smoothly, scale: [1, 5]}
prompt: "Rate {{ caption.text }} after '{{ sample.prefix }}'."
"""


def one_line_exit_2(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


@pytest.mark.parametrize(("text", "needle"), [
    ("name: x\ncriteria: [unclosed\n", "not valid YAML"),
    ("name: x\nprompt: hi\n", "missing required key 'criteria'"),
    ("name: x\ncriteria: {a: {scale: [5, 1]}}\nprompt: hi\n", "needs scale: [lo, hi]"),
    ("name: x\ncriteria: {a: {scale: [1, 5]}}\nprompt: '{% for %}'\n", "template syntax error"),
    ("name: x\ncriteria: {a: {scale: [1, 5]}}\nprompt: '{{ sample.nope }}'\n", "undefined variable"),
    ("name: x\ncriteria: {a: {scale: [1, 5]}}\nprompt: '{{ caption.__class__.__mro__ }}'\n", "refused by the sandbox"),
    ("name: x\ncriteria: {a: {scale: [1, 5]}}\nprompt: \"{{ ''.__class__.__mro__[1].__subclasses__() }}\"\n",
     "refused by the sandbox"),
])
def test_bad_rubrics_exit_2_with_one_line(tmp_path, capsys, text, needle):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    one_line_exit_2(capsys, ["rubric", "check", str(path)], needle)


def test_custom_rubric_checks_and_runs(tiny_model, env, capsys, judge_server):
    path = env / "custom.yaml"
    path.write_text(GOOD)
    assert main(["rubric", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert '"fluency"' in out and "Rate " in out and '"maximum": 5' in out

    def reply(body, count):
        return Reply('{"fluency": 4, "feedback": "ok"}')

    server = judge_server(reply)
    assert main(run_args(tiny_model, server.base_url, env / "r", "--rubric", str(path))) == 0
    rows = json.loads((env / "r" / "scores.json").read_text())["rows"]
    assert [(r["rubric"], r["criterion"], r["mean"], r["n"]) for r in rows] == [("custom", "fluency", 4.0, 3)]


def test_image_rubrics_send_the_picture(tiny_model, env, judge_server):
    import base64
    import io

    from PIL import Image

    from vlmgrade.data.datasets import load_samples

    path = env / "seeing.yaml"
    path.write_text(GOOD.replace("name: custom", "name: seeing") + "judge: {model: gpt-4o, image: true}\n")
    server = judge_server(lambda body, count: Reply('{"fluency": 3, "feedback": ""}'))
    assert main(run_args(tiny_model, server.base_url, env / "r", "--rubric", str(path))) == 0
    contents = [body["messages"][-1]["content"] for body in server.requests]
    pictures = {s.image.tobytes() for s in load_samples("scenes-short:test", 3)}
    sent = set()
    for parts in contents:
        url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
        sent.add(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).tobytes())
    assert len(contents) == 3 and sent == pictures


def test_unknown_names_exit_2(tiny_model, env, capsys):
    url = "http://127.0.0.1:9/v1"
    one_line_exit_2(capsys, run_args(tiny_model, url, env / "o", "--rubric", "nope"), "unknown rubric 'nope'")
    one_line_exit_2(capsys, run_args("nope-model", url, env / "o"), "unknown model 'nope-model'")
    one_line_exit_2(capsys, run_args("a/b/c", url, env / "o"), "unknown model 'a/b/c'")  # not a hub id either
    one_line_exit_2(capsys, run_args(f"my/label={tiny_model}", url, env / "o"), "cannot contain '/'")
    one_line_exit_2(capsys, run_args(tiny_model, url, env / "o", "--judge", "claude:x"), "unknown judge")
    one_line_exit_2(capsys, ["run", "--model", str(tiny_model), "--data", "scenes-short:test", "--judge", "grounded",
                             "--rubric", "nanovlm-paper", "--quiet"], "needs an LLM judge")


def test_unreachable_judge_and_rejected_key_exit_2_and_keep_captions(tiny_model, env, capsys, monkeypatch,
                                                                      judge_server):
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # timeout, retries, concurrency
    monkeypatch.setattr("vlmgrade.judges.llm.openai.OpenAIJudge.__init__.__defaults__", (5.0, 1, 1))
    one_line_exit_2(capsys, run_args(tiny_model, f"http://127.0.0.1:{port}/v1", env / "o"), "cannot reach the judge")

    def reject(body, count):
        return Reply("bad key", status=401)

    one_line_exit_2(capsys, run_args(tiny_model, judge_server(reject).base_url, env / "o"), "rejected the API key")
    from vlmgrade.pipeline.cache import Cache

    assert Cache(env / "cache.sqlite").count("captions") == 3  # generation was kept for the next try
    assert main(run_args(tiny_model, judge_server(json_reply).base_url, env / "o")) == 0
    assert "judge requests sent" in capsys.readouterr().err
