"""Issue 24 (names): a model label, sample text or rubric name is data, never markup. A label holding a control
character (`--model $'a\\n# injected=SOURCE'`, a captions file's `model` with a newline, an escape sequence, a
bidi override, a byte that is not UTF-8) is refused at the door in one line; whatever does reach report.md,
report.html, a `--format md` table or the terminal is escaped there (no heading, no raw HTML, no link, no
escape sequence); a lone surrogate read in ("\\ud800" in JSON) becomes U+FFFD instead of failing the write.

Before: report.md carried `<script>` and a link from a model's name as they were, the title of `compare`'s
Markdown table started a heading from a newline in a name, the terminal passed escape sequences through, and a
caption holding "\\ud800" (or a label of argv bytes that are not UTF-8) ended the run in a traceback after
it was judged (UnicodeEncodeError writing report.md; matplotlib failing on the label)."""

from __future__ import annotations

import json
import re

import pytest

from vlmgrade.cli import main
from vlmgrade.data.datasets import load_samples

N = 3
HOSTILE = "m<script>alert(1)</script> `x` [click](http://evil.example) &amp; | ![i](http://evil.example/p.png)"


def _captions(tmp_path, rows: list[dict]) -> str:
    path = tmp_path / "caps.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _run(tmp_path, captions: str, *extra: str) -> int:
    return main(["run", "--captions", captions, "--data", "scenes-short:test", "--limit", str(N), "--judge",
                 "grounded", "--quiet", "--out", str(tmp_path / "r"), *extra])


@pytest.mark.parametrize("label", ["a\n# injected", "a\x1b[2Jb", "a\u202eb", "a\tb", "\udcff\udcfe"])
def test_a_model_label_with_a_control_character_is_refused_at_the_door(label, tmp_path, capsys):
    code = main(["run", "--model", f"{label}=nanovlm-tiny-scenes", "--data", "scenes-short:test", "--limit", "2",
                 "--judge", "grounded", "--quiet", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "\x1b" not in err, err
    assert "a label must be printable text on one line" in err and "--model" in err
    assert not (tmp_path / "r").exists()


def test_a_captions_file_label_with_a_newline_is_refused_naming_the_line(tmp_path, capsys):
    samples = load_samples("scenes-short:test", N)
    rows = [{"id": s.id, "model": "ok", "text": "a red ball"} for s in samples]
    rows.append({"id": samples[0].id, "model": "a\n# injected=FOLDER", "text": "a red ball"})
    assert _run(tmp_path, _captions(tmp_path, rows)) == 2
    err = capsys.readouterr().err
    assert re.search(r"caps\.jsonl:4: the model label .* holds U\+000A", err), err
    assert len(err.strip().splitlines()) == 1


def test_names_and_texts_reach_report_md_and_html_escaped(tmp_path):
    samples = load_samples("scenes-short:test", N)
    text = "a red ball <img src=x onerror=alert(2)>\n# injected heading\n<script>alert(3)</script>"
    rows = [{"id": s.id, "model": m, "text": text if m == HOSTILE else "a blue cup"}
            for s in samples for m in (HOSTILE, "plain")]
    assert _run(tmp_path, _captions(tmp_path, rows)) == 0
    md = (tmp_path / "r" / "report.md").read_text()
    assert not any(line.startswith("# injected") for line in md.splitlines())
    for line in md.splitlines():
        if line.startswith(("- models:", "- data:", "- judge:")):
            assert "``m<script>" in line or "<" not in line  # a code span: shown as written, never read as HTML
            continue
        assert not re.search(r"(?<!\\)(<[A-Za-z/!?]|&[#A-Za-z])", line), line  # no HTML tag, no entity
        assert "](http" not in line, line  # no link, no image (the report's own figures link to plots/)
    assert "\\<script\\>alert(1)\\</script\\>" in md  # shown, escaped: a Markdown viewer prints it as written
    html = (tmp_path / "r" / "report.html").read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_markdown_table_title_cannot_start_a_heading(tmp_path, capsys):
    samples = load_samples("scenes-short:test", N)
    rows = [{"id": s.id, "model": m, "text": "a red ball"} for s in samples for m in ("x", "y")]
    assert _run(tmp_path, _captions(tmp_path, rows)) == 0
    scores_path = tmp_path / "r" / "scores.json"  # a hand-edited file: names the door never saw
    scores = json.loads(scores_path.read_text())
    for row in scores["rows"]:
        row["model"] = {"x": "x\n# injected", "y": "y<b>"}.get(row["model"], row["model"])
    scores_path.write_text(json.dumps(scores))
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "r"), "--models", "x\n# injected", "y<b>"]) in (0, 2)
    out = capsys.readouterr().out
    assert not any(line.startswith("# injected") for line in out.splitlines()), out
    assert "<b>" not in out


def test_the_terminal_gets_no_escape_sequence_and_no_extra_line(capsys):
    from vlmgrade.report.terminal import print_rows

    print_rows(["model", "text"], [["m\x1b]0;pwned\x07", "a\nb\x1b[2Jc\u202ed"]])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert any("a b" in line for line in out.splitlines()), out


def test_a_lone_surrogate_in_a_caption_or_label_becomes_a_replacement_character(tmp_path, capsys):
    samples = load_samples("scenes-short:test", N)
    lines = [json.dumps({"id": s.id, "model": "m\ud800x", "text": "a red \udc80 ball"}) for s in samples]
    assert "\\ud800" in lines[0]  # JSON spells it as an escape: valid JSON, and no file can hold the character
    path = tmp_path / "caps.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert _run(tmp_path, str(path)) == 0, capsys.readouterr().err
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "m\ufffdx" in md and "a red \ufffd ball" in md
    assert json.loads((tmp_path / "r" / "captions.jsonl").read_text().splitlines()[0])["model"] == "m\ufffdx"
