"""Shared fixtures: a tiny NanoVLM trained for a few steps with the real training loop."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TINY_MODEL = {"image_size": 32, "patch_size": 16, "stem_channels": 8, "encoder_layers": 1, "encoder_width": 32,
              "encoder_heads": 2, "decoder_layers": 2, "heads": 2, "head_size": 8, "max_text_len": 40,
              "image_tokens": "patches", "dropout": 0.0}


def write_train_config(folder: Path, **overrides) -> Path:
    cfg = {"out": "model", "train": "scenes-short:train", "val": "scenes-short:val", "train_size": 64,
           "val_size": 16, "model": dict(TINY_MODEL), "epochs": 2, "batch_size": 16, "warmup_steps": 2,
           "aux_weight": 0.5, "tokenizer_vocab": 300, "checkpoint_every": 3, "seed": 0, "device": "cpu"}
    cfg.update(overrides)
    path = folder / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from vlmgrade.train import TrainConfig, train

    folder = tmp_path_factory.mktemp("tiny")
    train(TrainConfig.load(write_train_config(folder)), progress=False)
    return folder / "model"


def run_cli(*args: str, cwd: Path | None = None):
    """Run the real `vlmgrade` entry point in a subprocess; returns CompletedProcess."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "vlmgrade", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)
