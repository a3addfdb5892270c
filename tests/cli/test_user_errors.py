"""Every path or name a user types that does not exist: one line naming it, exit 2, no traceback, for every
command; from Python, a vlmgrade.UserError with the same line."""

from __future__ import annotations

import pytest

import vlmgrade
from vlmgrade.cli import main

RUN = ["run", "--model", "nanovlm-tiny-scenes", "--data", "scenes-short:test", "--limit", "2", "--quiet"]

# (argv, what the line must name)
CASES = [
    (["run", "--model", "nanovlm-tiny-scenes", "--data", "missing.jsonl", "--quiet"], "missing.jsonl"),
    (["run", "--model", "nanovlm-tiny-scenes", "--data", "scenes-shrt:test", "--quiet"], "scenes-shrt:test"),
    (["run", "--model", "nanovlm-tiny-scenes", "--data", "scenes-short:tset", "--quiet"], "tset"),
    (["run", "--model", "nanovlm-tiny-scenes", "--data", "no-folder/", "--quiet"], "no-folder/"),
    (RUN + ["--captions", "missing-captions.jsonl"], "missing-captions.jsonl"),
    (RUN + ["--rubric", "missing-rubric.yaml"], "missing-rubric.yaml"),
    (RUN + ["--rubric", "grounde"], "grounde"),
    (["run", "--model", "./missing-model", "--data", "scenes-short:test", "--quiet"], "./missing-model"),
    (["run", "--model", "nanovlm-tiny-scenez", "--data", "scenes-short:test", "--quiet"], "nanovlm-tiny-scenez"),
    (["run", "--model", "mine=./missing-model", "--data", "scenes-short:test", "--quiet"], "./missing-model"),
    (RUN + ["--price-table", "missing-prices.yaml"], "missing-prices.yaml"),
    (RUN + ["--rubric", "memorisation", "--train-data", "missing-train.jsonl"], "missing-train.jsonl"),
    (RUN + ["--judge", "hf:./missing-judge"], "./missing-judge"),
    (RUN + ["--judge", "groundd"], "groundd"),
    (["caption", "--model", "nanovlm-tiny-scenes", "--data", "missing.jsonl", "--out", "x.jsonl"], "missing.jsonl"),
    (["caption", "--model", "missing-model", "--data", "scenes-short:test", "--out", "x.jsonl"], "missing-model"),
    (["train", "missing-train.yaml"], "missing-train.yaml"),
    (["data", "export", "missing.jsonl", "--out", "exported"], "missing.jsonl"),
    (["data", "build", "missing-coco.json", "--images", "imgs", "--llm", "openai:x", "--base-url",
      "http://127.0.0.1:9", "--out", "built"], "missing-coco.json"),
    (["data", "build", "EXPORTED", "--llm", "openai:x", "--base-url", "http://127.0.0.1:9", "--out", "b",
      "--prompt", "missing-prompt.jinja", "--dry-run"], "missing-prompt.jinja"),
    (["rubric", "check", "missing-rubric.yaml"], "missing-rubric.yaml"),
    (["rubric", "check", "grounded", "--data", "missing.jsonl"], "missing.jsonl"),
    (["zoo", "show", "missing-card"], "missing-card"),
    (["runs", "missing-runs"], "missing-runs"),
    (["leaderboard", "missing-run"], "missing-run"),
    (["compare", "missing-run-a", "missing-run-b"], "missing-run-a"),
    (["agree", "missing-run-a", "missing-run-b"], "missing-run-a"),
    # places results cannot go, and values no option takes
    (RUN + ["--out", "a-file.txt", "--overwrite"], "a-file.txt"),
    (RUN + ["--out", ".", "--overwrite"], "--out ."),
    (RUN + ["--out", "a-file.txt/sub"], "a-file.txt"),
    (RUN + ["--out", "/proc/no-such-folder"], "/proc/no-such-folder"),
    (["caption", "--model", "nanovlm-tiny-scenes", "--data", "scenes-short:test", "--out", "/proc/c.jsonl"], "/proc"),
    (["data", "export", "scenes-short:test", "--out", "a-file.txt"], "a-file.txt"),
    (["run", "--model", "a=nanovlm-mini-scenes", "--model", "a=nanovlm-tiny-scenes", "--data", "scenes-short:test"],
     "labelled 'a'"),
    (RUN + ["--temperature", "inf"], "--temperature"),
    (RUN + ["--top-p", "7"], "--top-p"),
    (RUN + ["--seed", "99999999999999999999"], "--seed"),
    (RUN + ["--limit", "-1"], "--limit"),
    (["agree", "a", "b", "--seed", "-1"], "--seed"),
]


@pytest.mark.parametrize(("argv", "named"), CASES, ids=[" ".join(a[:1] + [n]) for a, n in CASES])
def test_a_missing_path_or_name_is_one_line_and_exit_2(argv, named, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    if "EXPORTED" in argv:  # a real dataset to build from, so that only the named path is missing
        assert main(["data", "export", "scenes-short:test", "--out", "exported", "--limit", "2"]) == 0
        argv = [str(tmp_path / "exported" / "manifest.jsonl") if a == "EXPORTED" else a for a in argv]
    (tmp_path / "a-file.txt").write_text("precious\n")
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own checks exit rather than return
        code = e.code
    assert code == 2
    assert (tmp_path / "a-file.txt").read_text() == "precious\n"  # never replaced, even with --overwrite
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("vlmgrade: error:")]
    assert len(errors) == 1 and named in errors[0], err
    assert "Traceback" not in err and all(line.startswith("vlmgrade: ") for line in err.splitlines())


API_CASES = [
    ({"data": "scenes-shrt:test"}, "scenes-shrt:test"),
    ({"data": "missing.jsonl"}, "missing.jsonl"),
    ({"models": ["nanovlm-tiny-scenez"]}, "nanovlm-tiny-scenez"),
    ({"rubrics": ["missing-rubric.yaml"]}, "missing-rubric.yaml"),
    ({"captions": ["missing-captions.jsonl"]}, "missing-captions.jsonl"),
    ({"price_table": "missing-prices.yaml"}, "missing-prices.yaml"),
]


@pytest.mark.parametrize(("given", "named"), API_CASES, ids=[n for _, n in API_CASES])
def test_the_api_raises_the_same_user_error(given, named, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    options = {"models": ["nanovlm-tiny-scenes"], "limit": 2, "judge": "grounded", **given}
    with pytest.raises(vlmgrade.UserError) as raised:
        vlmgrade.evaluate(**options)
    argv = ["run", "--judge", "grounded", "--limit", "2", "--quiet", "--data", options.get("data", "scenes-short:test")]
    for key, flag in (("models", "--model"), ("rubrics", "--rubric"), ("captions", "--captions")):
        for value in options.get(key, ()):
            argv += [flag, value]
    if "price_table" in options:
        argv += ["--price-table", options["price_table"]]
    assert main(argv) == 2
    assert f"vlmgrade: error: {raised.value}" in capsys.readouterr().err.splitlines()
    assert named in str(raised.value)


@pytest.mark.parametrize(("label", "named"), [("two\nlines", "a control character"), ("", "1 to"), (7, "must be text")])
def test_a_bad_label_in_a_models_dict_is_refused_at_the_door(label, named, tmp_path):
    """evaluate(models={label: ...}) checks its labels as --model LABEL=SOURCE does, before any model loads."""
    with pytest.raises(vlmgrade.UserError, match=named):
        vlmgrade.evaluate(models={label: "nanovlm-tiny-scenes"}, limit=2, judge="grounded", out=str(tmp_path / "o"))


BAD_TRAINING_VALUES = ["batch_size: 0", "lr: abc", "lr: .nan", "epochs: -1", "seed: -3", "aux_weight: true",
                       "keep_checkpoints: [0]", "keep_checkpoints: yes please", "keep_checkpoints: []",
                       "max_steps: 20\nkeep_checkpoints: [25]"]


@pytest.mark.parametrize("value", BAD_TRAINING_VALUES)
def test_a_bad_number_in_a_training_config_is_one_line_before_any_work(value, tmp_path, capsys):
    config = tmp_path / "train.yaml"
    config.write_text(f"out: model\n{value}\n")
    assert main(["train", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vlmgrade: error: training config") and value.split(":")[0] in err[0]
    assert not (tmp_path / "model").exists()
