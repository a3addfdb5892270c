import json

import pytest

from .conftest import run_cli, write_train_config


def assert_user_error(result, needle: str):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert needle in lines[0], lines[0]


class InProcess:
    """`vlmgrade ARGS` through `cli.main` in this process (no interpreter start per call), with the same
    returncode/stderr a subprocess gives; each test keeps one real subprocess for the entry point itself."""

    def __init__(self, capsys) -> None:
        self.capsys = capsys

    def __call__(self, *args: str):
        import subprocess

        from vlmgrade.cli import main

        self.capsys.readouterr()
        code = main(list(args))
        captured = self.capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, captured.out, captured.err)


def test_zoo_list_json_has_the_paper_presets_and_the_shipped_model():
    result = run_cli("zoo", "list", "--json")
    assert result.returncode == 0, result.stderr
    cards = {c["name"]: c for c in json.loads(result.stdout)}
    assert 4.0e6 <= cards["nanovlm-mini"]["params"] <= 6.5e6
    assert 13e6 <= cards["nanovlm-base"]["params"] <= 19e6
    assert 21e6 <= cards["nanovlm-large"]["params"] <= 29e6
    assert cards["nanovlm-mini-scenes"]["kind"] == "nanovlm"
    assert all({"name", "kind", "params", "source"} <= set(c) for c in cards.values())


def test_zoo_card_params_match_the_architectures():
    from vlmgrade.zoo import cards
    from vlmgrade.zoo.nanovlm import NanoVLM, preset

    for card in cards():
        if card.trainable_only:
            assert NanoVLM(preset(card.source.split(":")[1])).num_params() == card.params


def test_caption_writes_completions_without_the_prefix(tiny_model, tmp_path):
    out = tmp_path / "caps.jsonl"
    result = run_cli("caption", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "5",
                     "--max-new-tokens", "6", "--batch-size", "2", "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"test-{i:06d}" for i in range(5)]
    assert all(set(r) == {"id", "model", "text"} and r["model"] == str(tiny_model) for r in rows)
    assert "grounded judge, grounded" in result.stdout and "n=" in result.stdout


def test_caption_text_is_what_the_model_wrote_after_the_prefix(tiny_model):
    from vlmgrade.core.types import GenerationParams
    from vlmgrade.data.datasets import load_samples
    from vlmgrade.zoo import load_captioner
    from vlmgrade.zoo.nanovlm import image_to_tensor

    samples = load_samples("scenes-short:test", 3)
    cap = load_captioner(str(tiny_model), "cpu")
    captions = cap.caption(samples, GenerationParams(max_new_tokens=8))
    for s, c in zip(samples, captions):
        prompt = cap.tokenizer.prompt(s.prefix)
        img = image_to_tensor([s.image], cap.model.config.image_size)
        ids = cap.model.generate(img, [prompt], cap.tokenizer.eos_id, max_new_tokens=8)[0]
        assert c.text == cap.tokenizer.decode(ids).strip()
        assert not c.text.startswith(s.prefix)


def test_data_export_cli(tmp_path):
    result = run_cli("data", "export", "scenes-short:val", "--out", str(tmp_path / "d"), "--limit", "3")
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "d" / "manifest.jsonl").read_text().splitlines()) == 3
    assert len(list((tmp_path / "d" / "images").iterdir())) == 3


@pytest.fixture
def manifest(tmp_path):
    run_cli("data", "export", "scenes-short:test", "--out", str(tmp_path / "m"), "--limit", "2")
    return tmp_path / "m"


def test_unknown_model_and_dataset_exit_2(tiny_model, tmp_path, capsys):
    out = str(tmp_path / "o.jsonl")
    cli = InProcess(capsys)
    assert_user_error(run_cli("caption", "--model", "no-such-model", "--data", "scenes-short:test", "--out", out),
                      "unknown model 'no-such-model'")
    assert_user_error(cli("caption", "--model", str(tiny_model), "--data", "nope:test", "--out", out),
                      "unknown dataset")
    assert_user_error(cli("caption", "--model", "nanovlm-base", "--data", "scenes-short:test", "--out", out),
                      "architecture without trained weights")
    assert_user_error(cli("data", "export", "scenes-short:dev", "--out", out), "unknown split")


def test_missing_and_corrupt_images_exit_2(tiny_model, manifest, tmp_path, capsys):
    out = str(tmp_path / "o.jsonl")
    cli = InProcess(capsys)
    first = sorted((manifest / "images").iterdir())[0]
    first.write_bytes(b"not a png at all")
    assert_user_error(run_cli("caption", "--model", str(tiny_model), "--data", str(manifest), "--out", out),
                      "cannot read image")
    first.unlink()
    assert_user_error(cli("caption", "--model", str(tiny_model), "--data", str(manifest), "--out", out),
                      "image not found")
    (manifest / "manifest.jsonl").write_text("{not json\n")
    assert_user_error(cli("caption", "--model", str(tiny_model), "--data", str(manifest), "--out", out),
                      "not valid JSON")


def test_bad_model_folders_and_configs_exit_2(tiny_model, tmp_path, capsys):
    import shutil

    cli = InProcess(capsys)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / "model.safetensors").write_bytes(b"garbage")
    out = str(tmp_path / "o.jsonl")
    assert_user_error(run_cli("caption", "--model", str(broken), "--data", "scenes-short:test", "--limit", "2",
                              "--out", out), "cannot load model")
    (broken / "config.json").write_text("{")
    assert_user_error(cli("caption", "--model", str(broken), "--data", "scenes-short:test", "--limit", "2",
                          "--out", out), "not valid JSON")
    bad = tmp_path / "bad.yaml"
    bad.write_text("out: x\nepochs: [1\n")
    assert_user_error(cli("train", str(bad)), "not valid YAML")
    cfg = write_train_config(tmp_path, train="missing-manifest.jsonl")
    assert_user_error(cli("train", str(cfg)), "unknown dataset")


def test_torchrun_two_process_captioning_equals_one_process(tiny_model, tmp_path):
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    args = ["caption", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "7",
            "--max-new-tokens", "6", "--batch-size", "2", "--quiet"]
    single = tmp_path / "one.jsonl"
    assert run_cli(*args, "--out", str(single)).returncode == 0
    double = tmp_path / "two.jsonl"
    # a cache of its own: the two processes must generate, not read what the single one cached
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "VLMGRADE_CACHE": str(tmp_path / "c2")}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "vlmgrade", *args, "--out", str(double)], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert double.read_text() == single.read_text() and len(single.read_text().splitlines()) == 7


def test_pickle_checkpoints_are_refused_unless_opted_in(tiny_model, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model, folder)
    state = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    out = tmp_path / "o.jsonl"
    args = ["caption", "--model", str(folder), "--data", "scenes-short:test", "--limit", "3", "--max-new-tokens", "5",
            "--out", str(out), "--quiet"]
    assert_user_error(run_cli(*args), "holds only a pickle checkpoint (pytorch_model.bin)")
    assert run_cli(*args, "--allow-pickle").returncode == 0
    reference = tmp_path / "ref.jsonl"
    assert run_cli(*args[:-3], "--out", str(reference), "--quiet", "--model", str(tiny_model)).returncode == 0
    assert out.read_text().replace(str(folder), "M") == reference.read_text().replace(str(tiny_model), "M")


def test_torchrun_run_captions_on_two_processes_and_reports_once(tiny_model, tmp_path):
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    args = ["run", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "7", "--judge", "grounded",
            "--max-new-tokens", "6", "--batch-size", "2", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, "-m", "vlmgrade", *args, "--out", str(tmp_path / "one")],
                            env={**env, "VLMGRADE_CACHE": str(tmp_path / "c1.sqlite")}, capture_output=True)
    assert single.returncode == 0
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "vlmgrade", *args, "--out", str(tmp_path / "two")], capture_output=True, text=True,
                            env={**env, "VLMGRADE_CACHE": str(tmp_path / "c2.sqlite")}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "two" / "captions.jsonl").read_text() == (tmp_path / "one" / "captions.jsonl").read_text()
    run = json.loads((tmp_path / "two" / "run.json").read_text())
    assert run["generation"][str(tiny_model)]["ranks"] == 2
