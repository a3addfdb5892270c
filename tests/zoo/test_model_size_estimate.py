"""A NanoVLM config.json whose every field is within its limit can still multiply into hundreds of GB (width
8192, 64 layers, 128 heads): the whole model is estimated from the config and refused before any tensor is
allocated, in one line naming the estimate (field limits: tests/zoo/test_model_folders.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import child_env

HUGE = {"kind": "nanovlm", "encoder_width": 8192, "encoder_layers": 64, "encoder_heads": 128, "decoder_layers": 64,
        "heads": 128, "head_size": 64}

# `vlmgrade run --model FOLDER` in a child whose address space is capped at 8 GiB: a regression that does
# allocate the model fails there instead of taking this machine; it reports exit code, seconds and peak RSS.
CHILD = r"""
import io, contextlib, json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
from vlmgrade.cli import main
err, started = io.StringIO(), time.monotonic()
with contextlib.redirect_stderr(err):
    try:
        code = main(["run", "--model", sys.argv[1], "--data", "scenes-short:test", "--limit", "1", "--judge",
                     "grounded", "--out", sys.argv[2], "--quiet"])
    except BaseException as e:
        code = type(e).__name__
print(json.dumps({"code": code, "lines": err.getvalue().strip().splitlines(), "seconds": time.monotonic() - started,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _folder(tmp_path, config: dict):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    for name in ("tokenizer.json", "model.safetensors"):  # present, so that loading reaches the config
        (folder / name).write_text("")
    return folder


def test_a_config_of_in_range_fields_too_big_together_is_refused_before_allocation(tmp_path):
    folder = _folder(tmp_path, HUGE)
    done = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(tmp_path / "out")], capture_output=True,
                          text=True, env=child_env(OMP_NUM_THREADS="1"), timeout=300)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 2, result
    assert len(result["lines"]) == 1 and "Traceback" not in result["lines"][0], result
    assert "this config needs about 103.67 billion parameters (386.2 GiB as float32)" in result["lines"][0]
    assert "at most 2 billion parameters and 4 GiB are loaded" in result["lines"][0]
    assert result["seconds"] < 30, result  # mostly importing torch
    assert result["peak_mb"] < 1024, result  # the interpreter and torch; the old code reached the 8 GiB cap


def test_activations_are_estimated_too():
    from vlmgrade.zoo.nanovlm import NanoVLMConfig

    # few parameters, but 65,536 patches: the encoder's attention scores alone are 8 x 65,537^2 floats
    with pytest.raises(ValueError, match=r"GiB of activations for one image and 128 text tokens"):
        NanoVLMConfig(image_size=1024, patch_size=4)


@pytest.mark.parametrize("overrides", [
    {},
    {"encoder_layers": 3, "decoder_layers": 8, "heads": 8, "head_size": 16, "encoder_width": 512},
    {"patch_embed": "linear", "image_tokens": "patches", "aux_labels": ["a", "b"], "patch_kinds": ["x"],
     "patch_colors": ["r", "g"]},
    {"stem_channels": 6, "patch_size": 8, "image_size": 64, "heads": 3, "head_size": 5, "vocab_size": 77,
     "connector_expansion": 3, "max_text_len": 9},
    {"patch_embed": "cnn", "stem_channels": 64, "image_size": 96, "image_tokens": "patches", "patch_kinds": ["x"]},
    {"patch_embed": "cnn", "stem_channels": 12, "patch_size": 32, "image_size": 128},
])
def test_the_estimate_is_the_models_parameter_count(overrides):
    import torch

    from vlmgrade.zoo.nanovlm import NanoVLM, NanoVLMConfig, estimated_params

    cfg = NanoVLMConfig(**overrides)
    with torch.device("meta"):  # counted without memory
        model = NanoVLM(cfg)
    assert estimated_params(cfg) == model.num_params()


@pytest.mark.parametrize(("overrides", "message"), [
    ({"patch_embed": "cnn", "patch_size": 12, "image_size": 96}, "power of 2"),
    ({"patch_embed": "resnet"}, "patch_embed must be"),
])
def test_a_stem_that_cannot_be_built_is_refused(overrides, message):
    from vlmgrade.zoo.nanovlm import NanoVLMConfig

    with pytest.raises(ValueError, match=message):
        NanoVLMConfig(**overrides)
