"""The commands a user types, through the real entry point once per test (in-process for the rest): zoo list,
caption, data export, and the one-line exit 2 of unknown names, missing or corrupt pictures and broken model
folders or configs."""

import json

import pytest

from tests.helpers import InProcess, assert_user_error, run_cli, write_train_config


def test_zoo_list_json_has_the_paper_presets_and_the_shipped_model():
    result = run_cli("zoo", "list", "--json")
    assert result.returncode == 0, result.stderr
    cards = {c["name"]: c for c in json.loads(result.stdout)}
    assert 4.0e6 <= cards["nanovlm-mini"]["params"] <= 6.5e6
    assert 13e6 <= cards["nanovlm-base"]["params"] <= 19e6
    assert 21e6 <= cards["nanovlm-large"]["params"] <= 29e6
    assert cards["nanovlm-mini-scenes"]["kind"] == "nanovlm"
    assert all({"name", "kind", "params", "source"} <= set(c) for c in cards.values())
    names = list(cards)
    assert names == sorted(names)  # by name: a family's base name before its checkpoints


def test_zoo_alone_lists_the_cards(capsys):
    from vlmgrade.cli import main

    assert main(["zoo"]) == 0
    assert "nanovlm-cnn-wide-scenes" in capsys.readouterr().out


def test_caption_writes_completions_without_the_prefix(tiny_model, tmp_path):
    out = tmp_path / "caps.jsonl"
    result = run_cli("caption", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "5",
                     "--max-new-tokens", "6", "--batch-size", "2", "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"test-{i:06d}" for i in range(5)]
    assert all(set(r) == {"id", "model", "text"} and r["model"] == str(tiny_model) for r in rows)
    assert "grounded judge, grounded" in result.stdout and "n=" in result.stdout


def test_data_export_cli(tmp_path):
    result = run_cli("data", "export", "scenes-short:val", "--out", str(tmp_path / "d"), "--limit", "3")
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "d" / "manifest.jsonl").read_text().splitlines()) == 3
    assert len(list((tmp_path / "d" / "images").iterdir())) == 3


@pytest.fixture
def manifest(tmp_path):
    from vlmgrade.cli import main

    assert main(["data", "export", "scenes-short:test", "--out", str(tmp_path / "m"), "--limit", "2"]) == 0
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
