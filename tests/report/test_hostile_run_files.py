"""Issue 24 (run files): a tampered or damaged run folder is one line naming the file, exit 2, for every command
that reads it; and no JSON output ever holds NaN or Infinity (invalid JSON).

Before: a scores.json row with `"scale": [0, Infinity]` made `leaderboard --format json` print `Infinity`; a
NaN `n_unscored` or a `win_rate` without its baseline ended `leaderboard` in a traceback; a judgments.jsonl
line whose scores were text ended agree/compare/leaderboard/export in a TypeError, and one whose sample_id
was a number, whose raw reply was an object or whose scores were NaN was read without a word."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from vlmgrade.cli import main


def ok(s):
    return "there is a red ball and a blue cup."


def other(s):
    return "there is a green dog."


def _strict(text: str) -> object:
    def refuse(token: str) -> None:
        raise AssertionError(f"invalid JSON: {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def folder(make_run):
    return make_run({"a": ok, "b": other}, 12)


def _tamper(folder, key: str, value: object, row: int = 0) -> None:
    path = folder / "scores.json"
    scores = json.loads(path.read_text())
    if value is None:
        del scores["rows"][row][key]
    else:
        scores["rows"][row][key] = value
    path.write_text(json.dumps(scores))  # json.dumps writes NaN and Infinity as Python reads them


@pytest.mark.parametrize("key,value", [("mean", math.nan), ("scale", [0, math.inf]), ("n_unscored", math.nan),
                                       ("win_rate", math.inf), ("extra", -math.inf), ("ci_high", 1e308 * 10)])
@pytest.mark.parametrize("command", ["leaderboard", "compare", "export"])
def test_a_non_finite_figure_in_scores_json_is_one_line(folder, key, value, command, capsys, tmp_path):
    _tamper(folder, key, value)
    extra = ["--out", str(tmp_path / "ex")] if command == "export" else ["--format", "json"]
    capsys.readouterr()
    assert main([command, str(folder), *extra]) == 2
    captured = capsys.readouterr()
    assert "NaN" not in captured.out and "Infinity" not in captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "scores.json" in lines[0] and "not a finite number" in lines[0], lines


@pytest.mark.parametrize("key,value,says", [("win_rate", 0.5, "a win rate needs the 'baseline'"),
                                            ("n_unscored", -1, "n_unscored must be a whole number"),
                                            ("scale", [5, 1], "scale must be [low, high]"),
                                            ("rank", 1.5, "rank must be a whole number")])
def test_a_malformed_row_is_one_line(folder, key, value, says, capsys):
    _tamper(folder, key, value)
    assert main(["leaderboard", str(folder), "--format", "json"]) == 2
    err = capsys.readouterr().err
    assert says in err and "scores.json: row 1" in err, err


def test_json_outputs_turn_any_non_finite_figure_into_null():
    from vlmgrade.report.tables import render

    frame = pd.DataFrame([{"model": "a", "diff": math.inf, "p": math.nan, "n": 3}])
    frame.attrs["note"] = [math.inf, 1.0]
    data = _strict(render([], [], "json", frame))
    assert data == {"note": [None, 1.0], "rows": [{"model": "a", "diff": None, "p": None, "n": 3}]}


def test_leaderboard_and_compare_json_are_valid_json(folder, capsys):
    for args in (["leaderboard", str(folder)], ["compare", str(folder)], ["agree", str(folder), str(folder)]):
        capsys.readouterr()
        assert main([*args, "--format", "json"]) == 0
        assert _strict(capsys.readouterr().out)


BAD_LINES = {
    "scores as text": lambda r: {**r, "scores": {k: "high" for k in r["scores"]}},
    "scores NaN": lambda r: {**r, "scores": {k: math.nan for k in r["scores"]}},
    "scores a string": lambda r: {**r, "scores": "abc"},
    "sample_id a number": lambda r: {**r, "sample_id": 5},
    "model missing": lambda r: {k: v for k, v in r.items() if k != "model"},
    "repeat text": lambda r: {**r, "repeat": "a"},
    "raw an object": lambda r: {**r, "raw": {"a": 1}},
    "details text": lambda r: {**r, "details": "x"},
    "pair a number": lambda r: {**r, "pair": 5},
    "not JSON": None,
}


@pytest.mark.parametrize("damage", BAD_LINES)
@pytest.mark.parametrize("command", ["agree", "compare", "leaderboard", "export"])
def test_a_bad_judgments_line_is_one_line_naming_the_file_and_line(folder, damage, command, capsys, tmp_path):
    path = folder / "judgments.jsonl"
    lines = path.read_text().splitlines()
    lines[1] = "{not json" if BAD_LINES[damage] is None else json.dumps(BAD_LINES[damage](json.loads(lines[1])))
    path.write_text("\n".join(lines) + "\n")
    args = {"agree": [str(folder), str(folder)], "compare": [str(folder)], "leaderboard": [str(folder)],
            "export": [str(folder), "--out", str(tmp_path / "ex")]}[command]
    capsys.readouterr()
    assert main([command, *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{path}:2: " in err[0], err
