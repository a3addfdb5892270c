"""Issue 25, item 3: per criterion a figure (the models' means with 95% intervals, and the paired differences to
the best model) as plots/<rubric>-<criterion>.png and .svg in the run folder, linked from report.md and embedded
in report.html; file names safe whatever the names; the same run draws the same bytes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from vlmgrade.analysis.controls import words_after
from vlmgrade.core.better import Better
from vlmgrade.core.types import ScoreRow
from vlmgrade.report.plots import criterion_figures, safe_stem, stems
from vlmgrade.rubrics import load_rubric

PNG = b"\x89PNG\r\n\x1a\n"


def ref(s):
    return words_after(s.references[0], s.prefix)


def fixed(s):
    return "there is a red ball."


def test_a_run_writes_a_png_and_an_svg_per_criterion_linked_and_embedded(make_run):
    folder = make_run({"ref": ref, "fixed": fixed, "a_b&c": fixed}, 8)
    criteria = [c.name for c in load_rubric("grounded").criteria]
    report, page = (folder / "report.md").read_text(), (folder / "report.html").read_text()
    for name in criteria:
        png, svg = folder / "plots" / f"grounded-{name}.png", folder / "plots" / f"grounded-{name}.svg"
        assert png.read_bytes().startswith(PNG)
        root = ET.fromstring(svg.read_bytes())
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert b"dc:date" not in svg.read_bytes()  # no timestamp: the same run writes the same file
        assert f"](plots/grounded-{name}.png)" in report and f"(plots/grounded-{name}.svg)" in report
        assert f"alt='grounded · {name}'" in page
    assert page.count("<div class='plot'><img") == len(criteria)
    assert page.count("src='data:image/png;base64,iVBORw0KGgo") == len(criteria)  # embedded: the page stands alone
    assert b"a_b&amp;c" in (folder / "plots" / "grounded-grounded.svg").read_bytes()  # names as written, escaped


def _rows(model_names, criterion="c/1", better="higher"):
    return [ScoreRow(m, "r b", criterion, 0.2 * i, 0.1 * i, 0.3 * i + 0.1, "t", 10, 0, better=Better.of(better),
                     scale=(0, 1))
            for i, m in enumerate(model_names)]


def test_the_same_figures_twice_are_the_same_bytes():
    rows = _rows(["m1", "$x$ model", "a" * 60])
    first, second = criterion_figures(rows, []), criterion_figures(rows, [])
    assert [(f.png, f.svg, f.web_png) for f in first] == [(f.png, f.svg, f.web_png) for f in second]
    assert b"$x$ model" in first[0].svg  # a name, not a formula


def test_file_names_are_safe_and_never_shared():
    for name in ("../../etc/passwd", ".hidden", "a b/c", "ünï", "", "x" * 300, "nul\0"):
        stem = safe_stem(name)
        assert stem and "/" not in stem and not stem.startswith(".") and len(stem) < 64
        assert all(ch.isalnum() and ch.isascii() or ch in "_-" for ch in stem)
    assert safe_stem("grounded") == "grounded"  # plain names stay as they are
    assert safe_stem("a b") != safe_stem("a_b")
    names = stems([("a-b", "c"), ("a", "b-c"), ("r", "x/y"), ("r", "x_y")])
    assert len(set(names.values())) == 4
