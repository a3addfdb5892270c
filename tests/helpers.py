"""What several test modules share (no test module imports another): the repository root, the test API key,
the nanovlm-paper criteria, a tiny NanoVLM config, the arguments of a judged run, the real entry point in a
subprocess, scripted judge replies, and a clock that has moved on for the cache's leases."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

from vlmgrade.testing.server import Reply, scripted_scores

ROOT = Path(__file__).resolve().parent.parent
PAPER = ("grammar", "creativity", "consistency", "meaningfulness", "plot")  # the nanovlm-paper rubric's criteria
SECRET = "sk-test-DO-NOT-LEAK-4242"  # the API key every judged test uses; it must reach no file
TINY_MODEL = {"image_size": 32, "patch_size": 16, "stem_channels": 8, "encoder_layers": 1, "encoder_width": 32,
              "encoder_heads": 2, "decoder_layers": 2, "heads": 2, "head_size": 8, "max_text_len": 40,
              "image_tokens": "patches", "dropout": 0.0}
EOS = 1  # the end-of-text id of small_model()


# ------------------------------------------------------------------ models
def write_train_config(folder: Path, **overrides) -> Path:
    """A `vlmgrade train` config for a tiny NanoVLM on 64 scenes-short pictures (2 epochs of 4 steps)."""
    cfg = {"out": "model", "train": "scenes-short:train", "val": "scenes-short:val", "train_size": 64,
           "val_size": 16, "model": dict(TINY_MODEL), "epochs": 2, "batch_size": 16, "warmup_steps": 2,
           "aux_weight": 0.5, "patch_aux_weight": 0.5, "tokenizer_vocab": 300, "checkpoint_every": 3, "seed": 0,
           "device": "cpu"}
    cfg.update(overrides)
    path = folder / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def small_model(image_tokens: str = "patches", seed: int = 0, patch_embed: str = "conv"):
    """A random NanoVLM of 32x32 pictures, a 50-token vocabulary and a 32-token context, in eval mode."""
    import torch

    from vlmgrade.zoo.nanovlm import NanoVLM, NanoVLMConfig

    torch.manual_seed(seed)
    cfg = NanoVLMConfig(image_size=32, patch_size=16, stem_channels=8, encoder_width=32, encoder_heads=2,
                        decoder_layers=2, heads=2, head_size=8, vocab_size=50, max_text_len=32,
                        image_tokens=image_tokens, dropout=0.0, patch_embed=patch_embed)
    return NanoVLM(cfg).eval()


def distinct_completions(model, limit: int, max_new_tokens: int, data: str = "scenes-short:test") -> int:
    """How many distinct (beginning, completion) pairs `model` writes on the first samples: identical pairs
    render identical requests, and the judging stage asks the judge once for each (many test beginnings
    are the same opening sentence, and a tiny model often writes the same completion)."""
    from vlmgrade.core.types import GenerationParams
    from vlmgrade.data.datasets import load_samples
    from vlmgrade.zoo import load_captioner

    samples = load_samples(data, limit)
    captions = load_captioner(str(model), "cpu").caption(samples, GenerationParams(max_new_tokens=max_new_tokens))
    return len({(s.prefix, c.text) for s, c in zip(samples, captions)})


_TRAIN_SCENES: list = []


def train_scenes(n: int) -> list:
    """The first `n` scenes of the train split, each made once per session (a scene is a pure function of its
    split and index; several modules read thousands of them)."""
    from vlmgrade.data.scenes import layout

    while len(_TRAIN_SCENES) < n:
        _TRAIN_SCENES.append(layout.make_scene("train", len(_TRAIN_SCENES)))
    return _TRAIN_SCENES[:n]


# ------------------------------------------------------------------ the command line
def run_args(model, url: str, out, *extra: str, limit: int = 3, max_new_tokens: int = 4,
             rubric: str | None = None) -> list[str]:
    """`vlmgrade run` arguments for a quiet judged run of `model` on scenes-short:test against `url`."""
    return ["run", "--model", str(model), "--data", "scenes-short:test", "--limit", str(limit),
            *(["--rubric", rubric] if rubric else []), "--judge", "openai:gpt-4o", "--judge-base-url", url,
            "--out", str(out), "--max-new-tokens", str(max_new_tokens), "--quiet", *extra]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a `vlmgrade` subprocess: this one (the test's cache and key included), plus the
    checkout on PYTHONPATH."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real `vlmgrade` entry point in a subprocess; returns CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "vlmgrade", *args], capture_output=True, text=True, cwd=cwd,
                          env=child_env(), timeout=300)


class InProcess:
    """`vlmgrade ARGS` through `cli.main` in this process (no interpreter start per call), with the same
    returncode/stderr a subprocess gives; each test keeps one real subprocess for the entry point itself."""

    def __init__(self, capsys) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> subprocess.CompletedProcess:
        from vlmgrade.cli import main

        self.capsys.readouterr()
        code = main(list(args))
        captured = self.capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, captured.out, captured.err)


def assert_user_error(result: subprocess.CompletedProcess, needle: str) -> None:
    """Exit 2 with one line on stderr naming `needle`, and no traceback."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert needle in lines[0], lines[0]


# ------------------------------------------------------------------ scripted judges
def json_reply(body: dict, count: int) -> Reply:
    """The nanovlm-paper scores `scripted_scores` gives this request, as structured JSON."""
    return Reply(json.dumps({**scripted_scores(body, PAPER), "feedback": "Nice work."}))


def prompt_parts(body: dict) -> tuple[str, str]:
    """The beginning and the completion, from the rendered nanovlm-paper prompt."""
    prompt = body["messages"][-1]["content"]
    beginning, completion = re.search(r"\n\n(.*?) \*\*\* (.*?)\n\nGrade only", prompt, re.S).groups()
    return beginning.strip(), completion.strip()


# ------------------------------------------------------------------ time
def leases_expired(monkeypatch, after_s: float = 3600.0) -> None:
    """From now on the cache's wall clock reads `after_s` later: every lease a run took (a lease lasts the
    judge timeout + 30 s) has expired, as for a rerun that starts once they have, without waiting them out.
    Every reading moves by the same amount, so what this process itself claims keeps its length."""
    from vlmgrade.pipeline import cache

    class Later:
        def __getattr__(self, name: str):
            return getattr(time, name)

        @staticmethod
        def time() -> float:
            return time.time() + after_s

    monkeypatch.setattr(cache, "time", Later())


def write_captions(path: Path, n: int, model: str = "m") -> Path:
    """A captions.jsonl for the first `n` scenes-short:test samples, a distinct text each."""
    from vlmgrade.data.datasets import load_samples

    path.write_text("".join(json.dumps({"id": s.id, "model": model, "text": f"a red ball number {i}"}) + "\n"
                            for i, s in enumerate(load_samples("scenes-short:test", n))))
    return path


def cache_locking_judge(cache_path: Path, hold: float):
    """A scripted judge that, on its first request, has another connection take the cache's write lock for
    `hold` seconds, so that the answer's write meets a lock held elsewhere."""
    import sqlite3
    import threading

    def judge(body: dict, n: int) -> Reply:
        if n == 1:
            holder = sqlite3.connect(cache_path, check_same_thread=False)
            holder.execute("BEGIN EXCLUSIVE")
            threading.Timer(hold, holder.rollback).start()
        return json_reply(body, n)

    return judge
