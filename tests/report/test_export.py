"""Issue 25, item 2: `vlmgrade export RUN... --out DIR` writes what a paper takes: a booktabs table (names escaped,
the best bold only where separated from the runner-up), the per-sample table and the tidy score rows; LaTeX from
`leaderboard` and `compare` too; bad input is one line and exit 2."""

from __future__ import annotations

import csv
import json
import re

from vlmgrade.analysis.controls import words_after
from vlmgrade.cli import main
from vlmgrade.report.folder import load_run
from vlmgrade.report.tables import contestants, latex_escape, verdicts

ODD = "a_b&c"  # a model name LaTeX would choke on


def ref(s):
    return words_after(s.references[0], s.prefix)


def fixed(s):
    return "there is a red ball."


def _cells(table: str) -> tuple[list[str], list[list[str]]]:
    """The header and body cells of a one-tabular table.tex."""
    lines = table.split("\\midrule\n")[1].split("\n\\bottomrule")[0].splitlines()
    header = table.split("\\toprule\n")[1].split("\n")[0]
    return header.removesuffix(" \\\\").split(" & "), [line.removesuffix(" \\\\").split(" & ") for line in lines]


def test_export_writes_a_booktabs_table_bold_only_where_separated(make_run, tmp_path, capsys):
    folder = make_run({"ref": ref, ODD: fixed}, 12)
    assert main(["export", str(folder), "--out", str(tmp_path / "paper")]) == 0
    table = (tmp_path / "paper" / "table.tex").read_text()
    assert "\\begin{tabular}" in table and "\\toprule" in table and "\\midrule" in table and "\\bottomrule" in table
    assert table.index("\\toprule") < table.index("\\midrule") < table.index("\\bottomrule")
    header, body = _cells(table)
    assert [row[0] for row in body] == ["ref", r"a\_b\&c"]
    assert all(len(row) == len(header) for row in body)
    run = load_run(folder)
    found = {v.criterion: v for v in verdicts(contestants(run.rows, run.judgment_records))}
    for i, name in enumerate(header[1:], 1):
        criterion = name.split(" ")[0]
        bold = [row[0] for row in body if row[i].startswith("\\textbf{")]
        separated = found[criterion].runner_up is not None and found[criterion].runner_up.separated
        assert bold == (["ref"] if separated else []), (criterion, bold)
    assert found["grounded"].runner_up.separated  # so the table has a bold cell ...
    assert not found["relations"].versus  # ... and a column without one (a_b&c makes no such claim)
    assert re.search(r"\\textbf\{\d\.\d\d\} \{\\scriptsize \[\d\.\d\d, \d\.\d\d\]\}", table)
    assert "wrote" in capsys.readouterr().err


def test_no_bold_when_nothing_is_separated(make_run, tmp_path):
    folder = make_run({"ref": ref, "copy": ref}, 12)
    assert main(["export", str(folder), "--out", str(tmp_path / "paper")]) == 0
    assert "\\textbf" not in (tmp_path / "paper" / "table.tex").read_text()


def test_samples_have_a_row_per_sample_and_model_without_the_controls(make_run, tmp_path):
    from vlmgrade.data.datasets import load_samples

    folder = make_run({"ref": ref, ODD: fixed}, 6, "--controls")
    assert main(["export", str(folder), "--out", str(tmp_path / "paper")]) == 0
    with (tmp_path / "paper" / "samples.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 * 2
    assert {r["model"] for r in rows} == {"ref", ODD}
    first = load_samples("scenes-short:test", 1)[0]
    assert (rows[0]["sample_id"], rows[0]["prefix"], json.loads(rows[0]["references"])) == (
        first.id, first.prefix, list(first.references))
    assert rows[0]["text"] == ref(first) and float(rows[0]["grounded/grounded"]) > 0.5
    assert rows[1]["grounded/attributes"] == "" and rows[1]["grounded/attributes unscored"]  # unscored, with why
    lines = (tmp_path / "paper" / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 12 and json.loads(lines[1])["grounded/attributes"] is None
    with (tmp_path / "paper" / "scores.csv").open(newline="") as f:
        scores = list(csv.DictReader(f))
    assert len(scores) == len(load_run(folder).rows)  # every score row, the controls' marked
    assert {"run", "model", "rubric", "criterion", "mean", "ci_low", "ci_high", "n", "control"} <= set(scores[0])


def test_bad_input_is_one_line_and_exit_2(make_run, tmp_path, capsys):
    folder = make_run({"ref": ref, "fixed": fixed}, 3)
    (tmp_path / "file").write_text("x")
    for args in (["export", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")],
                 ["export", str(tmp_path / "file"), "--out", str(tmp_path / "o")],
                 ["export", str(folder), "--out", str(tmp_path / "file")],
                 ["export", str(folder), "--out", str(tmp_path / "file" / "below")]):
        capsys.readouterr()
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("vlmgrade: error:") and err.count("\n") == 1, err


def test_leaderboard_and_compare_speak_latex(make_run, capsys):
    folder = make_run({"ref": ref, ODD: fixed}, 12)
    capsys.readouterr()
    for args in (["leaderboard", str(folder)], ["compare", str(folder)]):
        assert main([*args, "--format", "latex"]) == 0
        out = capsys.readouterr().out
        assert "\\toprule" in out and "\\midrule" in out and out.rstrip().endswith("\\end{tabular}")
        assert "\\%" in out or args[0] == "leaderboard"  # compare's "95% CI" header, escaped
    assert main(["leaderboard", str(folder), "--format", "latex"]) == 0
    assert "a\\_b\\&c" in capsys.readouterr().out


def test_latex_escape_covers_every_special_character():
    assert latex_escape("& % $ # _ { } ~ ^ \\") == (r"\& \% \$ \# \_ \{ \} \textasciitilde{} \textasciicircum{} "
                                                   r"\textbackslash{}")
    assert latex_escape("a\nb") == "a b"
