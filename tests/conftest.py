"""Shared fixtures: a tiny NanoVLM trained for a few steps with the real training loop; an isolated
cache and API key per test; the argument list of a judged run against a loopback server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PAPER = ("grammar", "creativity", "consistency", "meaningfulness", "plot")  # the nanovlm-paper rubric's criteria
SECRET = "sk-test-DO-NOT-LEAK-4242"  # the API key every judged test uses; it must reach no file
TINY_MODEL = {"image_size": 32, "patch_size": 16, "stem_channels": 8, "encoder_layers": 1, "encoder_width": 32,
              "encoder_heads": 2, "decoder_layers": 2, "heads": 2, "head_size": 8, "max_text_len": 40,
              "image_tokens": "patches", "dropout": 0.0}


def write_train_config(folder: Path, **overrides) -> Path:
    cfg = {"out": "model", "train": "scenes-short:train", "val": "scenes-short:val", "train_size": 64,
           "val_size": 16, "model": dict(TINY_MODEL), "epochs": 2, "batch_size": 16, "warmup_steps": 2,
           "aux_weight": 0.5, "patch_aux_weight": 0.5, "tokenizer_vocab": 300, "checkpoint_every": 3, "seed": 0,
           "device": "cpu"}
    cfg.update(overrides)
    path = folder / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from vlmgrade.zoo.train import TrainConfig, train

    folder = tmp_path_factory.mktemp("tiny")
    train(TrainConfig.load(write_train_config(folder)), progress=False)
    return folder / "model"


def run_cli(*args: str, cwd: Path | None = None):
    """Run the real `vlmgrade` entry point in a subprocess; returns CompletedProcess."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "vlmgrade", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch, tmp_path) -> None:
    """Every test (and every process it starts) gets a fresh cache: nothing is served from another test's
    work, and nothing lands in the user's ~/.cache."""
    monkeypatch.setenv("VLMGRADE_CACHE", str(tmp_path / "cache.sqlite"))


@pytest.fixture
def env(monkeypatch, tmp_path) -> Path:
    """The test API key, no base URL from the environment; returns the test's temp folder."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return tmp_path


def run_args(model, url: str, out, *extra: str, limit: int = 3, max_new_tokens: int = 4,
             rubric: str | None = None) -> list[str]:
    """`vlmgrade run` arguments for a quiet judged run of `model` on scenes-short:test against `url`."""
    return ["run", "--model", str(model), "--data", "scenes-short:test", "--limit", str(limit),
            *(["--rubric", rubric] if rubric else []), "--judge", "openai:gpt-4o", "--judge-base-url", url,
            "--out", str(out), "--max-new-tokens", str(max_new_tokens), "--quiet", *extra]


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
