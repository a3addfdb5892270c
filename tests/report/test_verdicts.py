"""Issue 25, item 1: report.md and report.html open with the verdicts: per criterion, which model is better, the
paired difference with its 95% interval and Holm p (or "not separated"), the judge, what the criterion measures,
and the judge controls' outcome."""

from __future__ import annotations

import re
from html import escape

from vlmgrade.analysis.controls import words_after
from vlmgrade.core.types import Judgment
from vlmgrade.report.tables import contestants, verdicts


def ref(s):
    return words_after(s.references[0], s.prefix)


def fixed(s):
    return "there is a red ball."


def _opening(folder, lines=8) -> str:
    return "\n".join((folder / "report.md").read_text().splitlines()[:lines])


def test_report_md_opens_with_the_better_model_the_difference_its_interval_and_holm_p(make_run):
    folder = make_run({"ref": ref, "fixed": fixed}, 12)
    opening = _opening(folder)
    line = next(x for x in opening.splitlines() if x.startswith("- **grounded**"))
    assert "judge `grounded`" in line
    assert re.search(r"ref is better than fixed: ref - fixed \+\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\], Holm p [\d.e-]+, "
                     r"n=12$", line), line
    report = (folder / "report.md").read_text()
    assert "F1 of precision and coverage" in opening  # the criterion's description, from its rubric
    assert "hallucination (lower is better)" in report.split("| model |")[0]
    assert "Judge controls: not run" in report.split("| model |")[0]


def test_models_that_write_the_same_are_not_separated(make_run):
    folder = make_run({"ref": ref, "copy": ref}, 12)
    line = next(x for x in _opening(folder).splitlines() if x.startswith("- **grounded**"))
    assert "ref and copy are not separated: ref - copy +0.000" in line
    assert "is better than" not in (folder / "report.md").read_text().split("| model |")[0]


def test_with_three_models_the_best_is_compared_with_each_other_one(make_run):
    folder = make_run({"ref": ref, "fixed": fixed, "copy": ref}, 12)
    line = next(x for x in _opening(folder).splitlines() if x.startswith("- **grounded**"))
    assert line.count("Holm p") == 2
    assert "ref is best; better than fixed (ref - fixed +" in line and "not separated from copy" in line
    html = (folder / "report.html").read_text()
    assert html.index("<h2>Verdicts") < html.index("<h2>Scores")  # the page opens with them too
    assert "ref is best; better than fixed" in html


def test_the_verdicts_carry_the_judge_controls_and_picture_checks(make_run):
    folder = make_run({"ref": ref, "fixed": fixed}, 12, "--controls")
    opening = (folder / "report.md").read_text().split("| model |")[0]
    block = opening.split("- **grounded**")[1].split("\n- **")[0]
    assert "judge controls" in block or "does not discriminate" in block
    assert "fixed does NOT beat the constant text on grounded" in block
    assert "Judge controls: not run" not in opening
    assert "judge controls" in (folder / "report.html").read_text().split("<h2>Scores")[0]


def test_the_sample_browser_shows_the_beginning_and_references_beside_each_text(make_run):
    from vlmgrade.data.datasets import load_samples

    folder = make_run({"ref": ref, "fixed": fixed}, 3)
    page = (folder / "report.html").read_text()
    for s in load_samples("scenes-short:test", 3):
        row = page.split(f"alt='{s.id}'")[1].split("</tr>")[0]
        assert f"reference: {escape(s.references[0])}" in row
        assert row.count(f"<span class='prefix'>{escape(s.prefix)}</span>") == 3  # beside the id, and each model's
        assert f"<b>ref</b>: <span class='prefix'>{escape(s.prefix)}</span> {escape(ref(s))}" in row


def _j(sample: str, model: str, value: float) -> Judgment:
    return Judgment(sample, model, "r", {"bad": value})


def test_lower_is_better_picks_the_lowest_mean_and_holm_covers_the_rubric():
    rows = [{"model": m, "rubric": "r", "criterion": "bad", "mean": mean, "ci_low": mean, "ci_high": mean, "n": 20,
             "better": "lower"} for m, mean in (("a", 0.5), ("b", 0.1), ("c", 0.45))]
    judgments = [_j(f"s{i}", m, base + 0.01 * (i % 3)) for i in range(20) for m, base in (("a", 0.5), ("b", 0.1),
                                                                                         ("c", 0.45))]
    (v,) = verdicts(contestants(rows, judgments))
    assert v.best == "b" and [x.other for x in v.versus] == ["c", "a"]  # others by mean, the runner-up first
    assert all(x.separated and x.diff < 0 for x in v.versus)
    assert all(x.p_holm >= x.p for x in v.versus)
    assert v.sentence().startswith("b is best; better than c (b - c -0.350")
