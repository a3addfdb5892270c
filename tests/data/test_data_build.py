"""`vlmgrade data build`: captions rewritten by an LLM on loopback, out-of-spec answers asked again or
rejected, a killed build resumed without asking twice, and `vlmgrade train` on the result."""

import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

from PIL import Image

from tests.helpers import ROOT, child_env, write_train_config
from vlmgrade.cli import main
from vlmgrade.data.builder import BuildOptions, _key, check
from vlmgrade.judges import JudgeSpec
from vlmgrade.testing.server import Reply

COLOURS = ["red", "blue", "green", "yellow", "pink"]
THINGS = ["ball", "dog", "cup", "car", "hat"]


def coco_fixture(folder, n=20):
    """n images x 5 captions, COCO style."""
    (folder / "img").mkdir()
    images, annotations = [], []
    for i in range(n):
        colour, thing = COLOURS[i % 5], THINGS[(i // 5) % 5]
        Image.new("RGB", (32, 32), (40 * (i % 6), 20 * (i % 12), 200 - 9 * i)).save(folder / "img" / f"{i:03d}.png")
        images.append({"id": 100 + i, "file_name": f"{i:03d}.png"})
        annotations += [{"image_id": 100 + i, "caption": f"A {colour} {thing} seen from angle {k}."} for k in range(5)]
    path = folder / "captions.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    return path


def good_text(colour, thing):
    return (f"I see a {colour} {thing} on the floor today. The {colour} {thing} is little and it is very "
            f"pretty to me.")


def scripted_llm(body, n):
    """In spec, except: images with a red thing first answer with a filler opening (then comply), and images
    with a pink thing always answer 40 words (rejected)."""
    first = body["messages"][0]["content"]
    colour, thing = re.search(r"- A (\w+) (\w+) seen", first).groups()
    again = len(body["messages"]) > 1
    if colour == "pink":
        return Reply(" ".join(["The"] + ["big"] * 38 + ["ball."]))
    if colour == "red" and not again:
        return Reply("Wow! " + good_text(colour, thing))
    return Reply(good_text(colour, thing))


def _digest(body):
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def test_the_checks_name_what_is_wrong():
    assert check(good_text("red", "ball"), "short") is None
    assert check("Oh, " + good_text("red", "ball"), "short") == "starts with the filler 'oh'"
    assert "words, not 20-25" in check("A red ball. It is big.", "short")
    assert check(good_text("red", "ball").replace("ball", "bäll"), "short").startswith("not plain")
    assert "sentences, not 2-3" in check(" ".join(["A red ball."] * 8), "short")


def test_build_writes_only_in_spec_texts_and_train_runs_on_it(env, capsys, judge_server):
    captions = coco_fixture(env)
    out = env / "built"
    server = judge_server(scripted_llm)
    args = ["data", "build", str(captions), "--images", str(env / "img"), "--style", "short", "--llm",
            "openai:gpt-4o-mini", "--base-url", server.base_url, "--test", "4", "--out", str(out), "--quiet"]
    assert main(args + ["--dry-run"]) == 0
    assert "20 first requests to send" in capsys.readouterr().out and server.requests == []
    assert main(args) == 0
    sent = len(server.requests)
    err = capsys.readouterr().err
    # 4 red images asked twice, 4 pink ones three times and rejected, 12 others once
    assert sent == 12 + 4 * 2 + 4 * 3
    assert "rejected 4" in err and "asked again 12" in err
    rows = {split: [json.loads(x) for x in (out / split / "manifest.jsonl").read_text().splitlines()]
            for split in ("train", "val", "test")}
    written = [r for items in rows.values() for r in items]
    assert len(written) == 16 and all(check(r["references"][0], "short") is None for r in written)
    assert not any("pink" in r["references"][0] for r in written)
    assert len([json.loads(x) for x in (out / "rejected.jsonl").read_text().splitlines()]) == 4
    assert all(r["prefix"] and r["references"][0].startswith(r["prefix"]) and 6 <= len(r["prefix"].split()) <= 7
               for r in rows["test"])
    assert len(rows["val"]) >= 1 and len(rows["train"]) + len(rows["val"]) + len(rows["test"]) == 16
    assert main(args) == 0  # a rerun pays nothing
    assert server.requests[sent:] == []
    config = write_train_config(env, train=str(out / "train"), val=str(out / "val"), train_size=64, val_size=16,
                                tokenizer_vocab=120, epochs=1)
    assert main(["train", str(config)]) == 0
    assert (env / "model" / "model.safetensors").exists()


def test_a_killed_build_resumes_without_asking_twice(env, judge_server):
    captions = coco_fixture(env)
    out = env / "built"
    cache = os.environ["VLMGRADE_CACHE"]
    def args(url):
        return ["data", "build", str(captions), "--images", str(env / "img"), "--llm", "openai:gpt-4o-mini",
                "--base-url", url, "--out", str(out), "--concurrency", "2", "--quiet"]

    server = judge_server(scripted_llm, latency=0.15)  # one server: the endpoint is part of every key
    proc = subprocess.Popen([sys.executable, "-m", "vlmgrade", *args(server.base_url)], cwd=ROOT, env=child_env())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if os.path.exists(cache):
            with sqlite3.connect(cache) as db:
                tables = {r[0] for r in db.execute("select name from sqlite_master")}
                if "data_build" in tables and db.execute("select count(*) from data_build").fetchone()[0] >= 8:
                    break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first_run = list(server.requests)
    opts = BuildOptions(captions=str(captions), out=str(out), llm=JudgeSpec("openai", "gpt-4o-mini", server.base_url))
    with sqlite3.connect(cache) as db:
        cached = {r[0] for r in db.execute("select key from data_build")}
    answered_before = {_key(opts, b) for b in first_run} & cached
    assert 8 <= len(answered_before) < 32
    assert main(args(server.base_url)) == 0
    second_run = server.requests[len(first_run):]
    assert not {_key(opts, b) for b in second_run} & answered_before  # nothing answered and kept is asked again
    assert len({_digest(b) for b in second_run}) == len(second_run)
    assert len(answered_before) + len(second_run) >= 32  # and every needed answer was got
    assert len((out / "train" / "manifest.jsonl").read_text().splitlines()) + \
        len((out / "val" / "manifest.jsonl").read_text().splitlines()) == 16


def test_a_build_through_the_batch_api_asks_again_in_rounds(env, capsys, judge_server):
    captions = coco_fixture(env)
    server = judge_server(scripted_llm)
    assert main(["data", "build", str(captions), "--images", str(env / "img"), "--llm", "openai:gpt-4o-mini",
                 "--base-url", server.base_url, "--out", str(env / "b"), "--batch", "--batch-poll", "0.05",
                 "--quiet"]) == 0
    assert server.requests == [] and len(server.batch_bodies) == 12 + 4 * 2 + 4 * 3
    assert len(server.batches) == 3  # one round per ask
    assert "rejected 4" in capsys.readouterr().err
