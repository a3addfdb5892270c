import json
import subprocess
import sys

import pytest
import torch

from tests.helpers import child_env, write_train_config
from vlmgrade.core.errors import UserError
from vlmgrade.zoo.train import TrainConfig, train


def test_training_writes_a_loadable_model_and_lowers_validation_loss(tiny_model):
    summary = json.loads((tiny_model / "training.json").read_text())
    assert summary["steps"] == 8  # 64 samples / batch 16 = 4 steps per epoch, 2 epochs
    history = summary["history"]
    assert [h["epoch"] for h in history] == [1.0, 2.0]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert {p.name for p in tiny_model.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json"}
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["kind"] == "nanovlm" and config["aux_labels"][0].startswith("kind:")
    assert len(config["patch_kinds"]) >= 10 and len(config["patch_colors"]) >= 6  # the dense heads were trained


def test_patch_targets_name_the_object_drawn_at_each_patch_centre():
    """Per-patch supervision: the nearest (last drawn) object whose box holds the patch's centre, else none;
    an image with an object without a box is left out (-100) rather than taught "none" where one is."""
    import numpy as np

    from vlmgrade.core.types import SceneObject
    from vlmgrade.zoo.train import patch_targets

    kinds, colors = ["ball", "cup", "dog"], ["blue", "red"]
    far = SceneObject("ball", "red", "big", box=(0.0, 0.0, 0.5, 0.5))  # covers the top-left 2x2 of a 4x4 grid
    near = SceneObject("cup", "blue", "small", box=(0.3, 0.3, 0.7, 0.7))  # lower edge 0.7: drawn over the ball
    kind, color = patch_targets([near, far], kinds, colors, grid=4)
    grid = kind.reshape(4, 4)
    assert grid[0, 0] == 0 and grid[0, 1] == 0 and grid[1, 0] == 0  # ball
    assert grid[1, 1] == 1 and grid[2, 2] == 1  # cup, also where it covers the ball (centre 0.375, 0.375)
    assert grid[3, 3] == 3 and (kind == 3).sum() == 16 - 4 - 3  # none elsewhere
    assert color.reshape(4, 4)[1, 1] == 0 and color.reshape(4, 4)[0, 0] == 1
    unboxed = SceneObject("dog", "red")
    assert (np.stack(patch_targets([far, unboxed], kinds, colors, grid=4)) == -100).all()


def test_resume_continues_from_the_checkpoint(tmp_path):
    """A run stopped after 3 steps and resumed ends where an uninterrupted run ends, bit for bit."""
    from safetensors.torch import load_file

    whole = tmp_path / "whole"
    whole.mkdir()
    train(TrainConfig.load(write_train_config(whole, epochs=1)), progress=False)

    parts = tmp_path / "parts"
    parts.mkdir()
    train(TrainConfig.load(write_train_config(parts, epochs=1, max_steps=3)), progress=False)
    assert json.loads((parts / "model" / "checkpoint" / "state.json").read_text())["step"] == 3
    summary = train(TrainConfig.load(write_train_config(parts, epochs=1)), progress=False)
    assert summary["steps"] == 4
    a = load_file(str(whole / "model" / "model.safetensors"))
    b = load_file(str(parts / "model" / "model.safetensors"))
    assert all((a[k] == b[k]).all() for k in a)
    # the smoothed training loss resumes too (the stopped run also validated at its stop, step 3)
    records = [json.loads((root / "model" / "training.json").read_text()) for root in (whole, parts)]
    whole_run, resumed = ({h["step"]: h["train_loss"] for h in record["history"]} for record in records)
    assert whole_run[4] == resumed[4] and sorted(resumed) == [3, 4]


def test_bad_training_configs_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        TrainConfig.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("out: x\nlearning_rate: 3\n")
    with pytest.raises(UserError, match="unknown keys learning_rate"):
        TrainConfig.load(bad)
    bad.write_text("out: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        TrainConfig.load(bad)
    cfg = write_train_config(tmp_path, model={"preset": "mini", "image_size": 100})
    with pytest.raises(UserError, match="bad model config"):
        train(TrainConfig.load(cfg), progress=False)


def test_torchrun_trains_data_parallel_on_two_cpu_processes(tmp_path):
    """Two gloo processes each take half of every epoch: half the steps of a single process."""
    cfg = write_train_config(tmp_path, epochs=1, checkpoint_every=100)
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "vlmgrade", "train", str(cfg), "--quiet"],
                            capture_output=True, text=True, env=child_env(OMP_NUM_THREADS="1"), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "model" / "training.json").read_text())
    assert summary["steps"] == 2 and summary["images_seen"] == 64  # 64 samples / (16 per batch x 2 processes)


def test_a_stopped_training_is_an_evaluable_model_at_every_checkpoint(tmp_path):
    """Issue 25: stop a training after its first checkpoint and grade what it wrote."""
    from vlmgrade.cli import main

    # 4 steps, a checkpoint every 2: steps/step-000002 is the model as a kill after the first checkpoint leaves it
    cfg = write_train_config(tmp_path, epochs=1, train_size=64, checkpoint_every=2, keep_checkpoints=True)
    subprocess.run([sys.executable, "-m", "vlmgrade", "train", str(cfg)], check=True, capture_output=True)
    out = tmp_path / "model"
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json", "training.json",
                                               "checkpoint", "steps", "loss.png"}
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p["step"] for p in json.loads((out / "training.json").read_text())["train_curve"]] == [2, 4]
    first = json.loads((out / "steps" / "step-000002" / "training.json").read_text())
    assert (first["steps"], first["planned_steps"], first["complete"]) == (2, 4, False)
    assert main(["run", "--model", f"mine={out / 'steps' / 'step-000002'}", "--data", "scenes-short:test",
                 "--limit", "3", "--judge", "grounded", "--out", str(tmp_path / "r"), "--quiet"]) == 0
    rows = json.loads((tmp_path / "r" / "scores.json").read_text())["rows"]
    assert {r["model"] for r in rows} == {"mine"} and all(r["n"] + r["n_unscored"] == 3 for r in rows)


def test_a_list_of_kept_steps_keeps_those_models_exactly_as_the_run_made_them(tmp_path):
    """keep_checkpoints: [3, 6] keeps the models of steps 3 and 6 only, bit for bit the ones a run that keeps
    every step has there: where checkpoints fall does not change the training (a shipped rung reproduces)."""
    from safetensors.torch import load_file

    every = tmp_path / "every"
    listed = tmp_path / "listed"
    every.mkdir()
    listed.mkdir()
    train(TrainConfig.load(write_train_config(every, checkpoint_every=1, keep_checkpoints=True)), progress=False)
    train(TrainConfig.load(write_train_config(listed, checkpoint_every=100, keep_checkpoints=[3, 6])), progress=False)
    kept = listed / "model" / "steps"
    assert sorted(p.name for p in kept.iterdir()) == ["step-000003", "step-000006"]
    for step in ("step-000003", "step-000006"):
        a, b = (load_file(str(root / "model" / "steps" / step / "model.safetensors")) for root in (every, listed))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        assert json.loads((kept / step / "training.json").read_text())["steps"] == int(step[5:])
    final = [load_file(str(root / "model" / "model.safetensors")) for root in (every, listed)]
    assert all(torch.equal(final[0][k], final[1][k]) for k in final[0])


def test_a_moving_average_is_the_saved_model_and_leaves_the_training_itself_unchanged(tmp_path):
    """ema_decay: the run trains exactly as without it (its checkpoint's raw weights are the plain run's, bit for
    bit), publishes the average of the step weights (folded by hand from a plain run that keeps every step;
    decay 0.1 leaves the random start a 0.1^8 share), and resumes mid-run to the same average."""
    from safetensors.torch import load_file

    roots = {name: tmp_path / name for name in ("plain", "averaged", "parts")}
    for root in roots.values():
        root.mkdir()
    fast = {"lr": 0.01}  # steps big enough that the average stands clearly apart from the last step
    train(TrainConfig.load(write_train_config(roots["plain"], checkpoint_every=1, keep_checkpoints=True, **fast)),
          progress=False)
    summary = train(TrainConfig.load(write_train_config(roots["averaged"], ema_decay=0.1, **fast)), progress=False)
    assert summary["steps"] == 8
    assert summary["weights"] == "moving average, ema_decay 0.1 (at its last step 0.1, about the last 1 steps)"

    def weights(root, *parts):
        return load_file(str(root.joinpath("model", *parts, "model.safetensors")))

    ckpt = roots["averaged"] / "model" / "checkpoint"
    named = json.loads((ckpt / "state.json").read_text())["files"]
    assert named == {"model": "model-000008.safetensors", "optimizer": "optimizer-000008.pt",
                     "average": "average-000008.safetensors"}
    assert sorted(p.name for p in ckpt.iterdir()) == sorted([*named.values(), "state.json", "tokenizer.json"])
    raw = load_file(str(ckpt / named["model"]))
    plain, average = weights(roots["plain"]), weights(roots["averaged"])
    assert all(torch.equal(plain[k], raw[k]) for k in plain)
    expected = weights(roots["plain"], "steps", "step-000001")
    for step in range(2, 9):
        now = weights(roots["plain"], "steps", f"step-{step:06d}")
        expected = {k: 0.1 * expected[k] + 0.9 * now[k] for k in now}
    gap = max(float((average[k] - expected[k]).abs().max()) for k in expected)
    moved = max(float((plain[k] - expected[k]).abs().max()) for k in expected)  # an average, not the last step
    assert gap < 1e-6 and moved > 1e-4, (gap, moved)

    train(TrainConfig.load(write_train_config(roots["parts"], ema_decay=0.1, max_steps=3, **fast)), progress=False)
    train(TrainConfig.load(write_train_config(roots["parts"], ema_decay=0.1, **fast)), progress=False)
    resumed = weights(roots["parts"])
    assert all(torch.equal(average[k], resumed[k]) for k in average)


def test_moving_average_settings_that_cannot_work_are_user_errors(tmp_path):
    for bad in (1, 1.5, -0.1, True, "high", None):
        with pytest.raises(UserError, match="ema_decay"):
            TrainConfig.load(write_train_config(tmp_path, ema_decay=bad))
    train(TrainConfig.load(write_train_config(tmp_path, max_steps=3)), progress=False)
    with pytest.raises(UserError, match="holds no current moving average"):  # a plain run resumed with an average
        train(TrainConfig.load(write_train_config(tmp_path, ema_decay=0.99)), progress=False)


def test_a_stale_or_other_moving_average_is_never_resumed(tmp_path):
    """An average from before a stretch trained without one would be stale, and one made with another decay
    mislabelled: both refused when resuming; a stretch without one removes the old average's file."""
    train(TrainConfig.load(write_train_config(tmp_path, ema_decay=0.5, max_steps=3)), progress=False)
    with pytest.raises(UserError, match="made with ema_decay 0.5, not 0.9"):
        train(TrainConfig.load(write_train_config(tmp_path, ema_decay=0.9)), progress=False)
    train(TrainConfig.load(write_train_config(tmp_path, max_steps=6)), progress=False)  # on without an average
    ckpt = tmp_path / "model" / "checkpoint"
    assert not list(ckpt.glob("average*")) and json.loads((ckpt / "state.json").read_text())["ema_decay"] is None
    with pytest.raises(UserError, match="holds no current moving average"):
        train(TrainConfig.load(write_train_config(tmp_path, ema_decay=0.5)), progress=False)


def test_numbers_yaml_reads_as_text_are_taken_and_a_null_where_none_may_be_is_refused(tmp_path):
    """YAML reads `1e-3` (no dot) as text: the config keeps the number it names (it crashed on `>` before);
    null is refused for a setting that has no 'none' meaning, taken for train_size and max_steps."""
    path = write_train_config(tmp_path)
    path.write_text(path.read_text() + "lr: 1e-3\nema_decay: 5e-1\nmax_steps: null\n")
    cfg = TrainConfig.load(path)
    assert (cfg.lr, cfg.ema_decay, cfg.max_steps) == (0.001, 0.5, None)
    for key in ("lr", "batch_size", "seed"):
        with pytest.raises(UserError, match=f"{key} must be a number, got null"):
            TrainConfig.load(write_train_config(tmp_path, **{key: None}))
