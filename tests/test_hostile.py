"""Hostile input and odd servers: each is one clear line and exit 2, or an unscored judgment with its
reason; nothing hangs, nothing explodes, the key reaches no file."""

import json
import os
import re
import time

import pytest
from PIL import Image

from vlmgrade.cli import main
from vlmgrade.data.datasets import load_samples
from vlmgrade.testing.server import FakeOpenAI, Reply, scripted_scores

from .conftest import PAPER, SECRET

RUBRIC = """name: bad
criteria:
  {criteria}
prompt: |
  {prompt}
"""


def _rubric(tmp_path, criteria="fluency: {description: d, scale: [1, 5]}", prompt="{{ caption.text }}", **extra):
    text = RUBRIC.format(criteria=criteria, prompt=prompt) + "".join(f"{k}: {v}\n" for k, v in extra.items())
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("criteria, expected", [
    ("fluency: {description: d, scale: [.nan, 5]}", "finite numbers with lo < hi"),
    ("fluency: {description: d, scale: [1, .inf]}", "finite numbers with lo < hi"),
    ("fluency: {description: d, scale: [false, true]}", "finite numbers with lo < hi"),
    ("feedback: {description: d, scale: [1, 5]}", "'feedback' is reserved"),
    ("'<script>': {description: d, scale: [1, 5]}", "must be a word of letters"),
])
def test_bad_rubric_values_are_one_line_errors(tmp_path, capsys, criteria, expected):
    assert main(["rubric", "check", _rubric(tmp_path, criteria=criteria)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_system_must_be_a_string(tmp_path, capsys):
    assert main(["rubric", "check", _rubric(tmp_path, system="[a, b]")]) == 2
    assert "'system' must be a string" in capsys.readouterr().err


@pytest.mark.parametrize("prompt, expected", [
    ("{% for i in range(10**9) %}x{% endfor %}", "refused by the sandbox"),
    ("{{ 'x' * 1000000000 }}", "refused by the sandbox"),
    ("{% for i in range(9000) %}{% for j in range(9000) %}{% endfor %}{% endfor %}", "loop steps"),
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recursion"),
])
def test_templates_that_would_hang_or_explode_stop_with_one_line(tmp_path, capsys, prompt, expected):
    started = time.monotonic()
    assert main(["rubric", "check", _rubric(tmp_path, prompt=prompt)]) == 2
    assert time.monotonic() - started < 30
    assert expected in capsys.readouterr().err


def test_yaml_alias_bombs_are_refused(tmp_path, capsys):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]"
                                                     for p, c in zip("abcdefgh", "bcdefghi")]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert main(["rubric", "check", str(path)]) == 2
    assert "expands through its aliases" in capsys.readouterr().err


def _manifest(tmp_path, image_name):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"id": "a", "image": image_name, "prefix": "A"}) + "\n")
    return str(path)


def test_huge_pictures_and_fifos_are_refused_without_decoding(tmp_path, capsys, tiny_model):
    Image.new("1", (12000, 12000)).save(tmp_path / "huge.png")  # a few KB on disk
    assert (tmp_path / "huge.png").stat().st_size < 200_000
    args = ["run", "--model", str(tiny_model), "--judge", "grounded", "--quiet", "--out", str(tmp_path / "o"),
            "--data"]
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert main(args + [_manifest(tmp_path, "huge.png")]) == 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KB: nothing was decoded
    assert "is 12000x12000 pixels; at most 40,000,000 are decoded" in capsys.readouterr().err
    os.mkfifo(tmp_path / "pipe.png")
    assert main(args + [_manifest(tmp_path, "pipe.png")]) == 2
    assert "is not a regular file" in capsys.readouterr().err


def test_export_keeps_hostile_ids_inside_the_folder(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "p.png")
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "../../escape", "image": "p.png"}) + "\n")
    out = tmp_path / "deep" / "out"
    assert main(["data", "export", str(tmp_path / "m.jsonl"), "--out", str(out)]) == 0
    assert not (tmp_path / "escape.png").exists()
    assert [p.parent for p in out.rglob("*.png")] == [out / "images"]


def _captions(env, n=20):
    samples = load_samples("scenes-short:test", n)
    path = env / "caps.jsonl"
    path.write_text("".join(json.dumps({"id": s.id, "model": "m", "text": f"text number {i}"}) + "\n"
                            for i, s in enumerate(samples)))
    return ["run", "--captions", str(path), "--data", "scenes-short:test", "--limit", str(n), "--rubric",
            "nanovlm-paper", "--judge", "openai:gpt-4o", "--quiet", "--allow-unscored"]


def _ok(body):
    return Reply(json.dumps({**scripted_scores(body, PAPER), "feedback": "ok"}))


def test_a_judge_hanging_on_one_prompt_in_twenty_costs_one_timeout(env):
    def judge(body, n):
        return Reply(hang=30) if "text number 7" in json.dumps(body) else _ok(body)

    with FakeOpenAI(judge) as server:
        started = time.monotonic()
        assert main(_captions(env) + ["--judge-base-url", server.base_url, "--judge-timeout", "2",
                                      "--out", str(env / "r")]) == 0
        took = time.monotonic() - started
    assert took < 3 * 2 + 10, took
    judged = [json.loads(x) for x in (env / "r" / "judgments.jsonl").read_text().splitlines()]
    unscored = [j for j in judged if j["unscored_reason"]]
    assert len(judged) == 20 and len(unscored) == 1 and unscored[0]["unscored_reason"].startswith("timeout")



def test_a_deadline_bounds_the_whole_judging_stage(env):
    """Hung requests with a long per-request timeout: --deadline ends them all at once; they are unscored
    ("deadline"), the answered ones are scored, and a rerun asks only for the missing ones."""
    asked = []

    def judge(body, n):
        asked.append(json.dumps(body))
        return Reply(hang=60) if re.search(r"text number (3|8|13)\b", json.dumps(body)) else _ok(body)

    with FakeOpenAI(judge) as server:
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

def test_odd_replies_are_unscored_with_what_came_back_and_never_cached(env):
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

    with FakeOpenAI(judge) as server:
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
    for f in (env / "r").iterdir():
        assert SECRET not in f.read_text(errors="ignore"), f


def test_untrusted_model_configs_are_checked_before_allocation(tiny_model, tmp_path, capsys):
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "decoder_layers": 1_000_000}))
    args = ["caption", "--model", str(folder), "--data", "scenes-short:test", "--limit", "1", "--out",
            str(tmp_path / "c.jsonl"), "--quiet"]
    assert main(args) == 2
    assert "decoder_layers must be a whole number from 1 to 64" in capsys.readouterr().err
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "tokenizer.json").unlink()
    os.symlink("/dev/zero", folder / "tokenizer.json")
    assert main(args) == 2
    assert "is not a regular file" in capsys.readouterr().err
