"""One judge registry: adding an offline scorer is one module and one YAML (plus its registry line), and no
module outside vlmgrade/judges/ tests a judge's name."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import vlmgrade
from vlmgrade.cli import main
from vlmgrade.data.datasets import load_samples
from vlmgrade.judges import JUDGE_KINDS, JudgeKind

PACKAGE = Path(vlmgrade.__file__).resolve().parent

SCORER = '''
from vlmgrade.core.types import Judgment
from vlmgrade.judges.protocol import kept


class LengthScorer:
    def judge_all(self, rubric, samples, captions, context):
        return [Judgment(c.sample_id, c.model, rubric.name, kept(rubric, {"words": float(len(c.text.split()))}))
                for c in captions]
'''
RUBRIC = '''
name: length
version: 1
description: Words per completion (offline).
criteria:
  words: {description: Words in the completion., scale: [0, 200]}
judge: {model: length}
prompt: "{{ caption.text }}"
'''


def test_a_new_offline_scorer_is_one_module_one_yaml_and_one_registry_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "length_scorer.py").write_text(SCORER)
    (tmp_path / "length.yaml").write_text(RUBRIC)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(JUDGE_KINDS, "length", JudgeKind("length", "length_scorer:LengthScorer", offline=True,
                                                         default_rubric=str(tmp_path / "length.yaml"),
                                                         usage="length"))
    captions = tmp_path / "caps.jsonl"
    captions.write_text("".join(json.dumps({"id": s.id, "model": "m", "text": "a b c"}) + "\n"
                                for s in load_samples("scenes-short:test", 3)))
    for judge in (["--judge", "length"], ["--rubric", str(tmp_path / "length.yaml"), "--judge", "grounded"]):
        out = tmp_path / f"run-{len(judge)}"
        assert main(["run", "--captions", str(captions), "--data", "scenes-short:test", "--limit", "3", "--quiet",
                     "--out", str(out), *judge]) == 0, capsys.readouterr().err
        rows = json.loads((out / "scores.json").read_text())["rows"]
        assert [(r["model"], r["criterion"], r["mean"], r["n"]) for r in rows] == [("m", "words", 3.0, 3)]
    sys.modules.pop("length_scorer", None)


def test_a_criterion_the_scorer_does_not_compute_is_a_rubric_error(tmp_path, capsys):
    rubric = tmp_path / "wrong.yaml"
    rubric.write_text(RUBRIC.replace("model: length", "model: grounded").replace("words:", "wordz:"))
    assert main(["run", "--model", "nanovlm-tiny-scenes", "--data", "scenes-short:test", "--limit", "1", "--quiet",
                 "--rubric", str(rubric), "--judge", "grounded", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "computes no wordz" in err and "hallucination" in err


def _names_a_judge(node: ast.AST) -> str | None:
    """A comparison of something with a registered judge's name, as a string constant."""
    if not isinstance(node, ast.Compare):
        return None
    for part in [node.left, *node.comparators]:
        values = part.elts if isinstance(part, (ast.Tuple, ast.List, ast.Set)) else [part]
        for v in values:
            if isinstance(v, ast.Constant) and v.value in JUDGE_KINDS:
                return v.value
    return None


def test_no_module_outside_judges_tests_a_judge_name():
    found = []
    for path in PACKAGE.rglob("*.py"):
        if "judges" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            name = _names_a_judge(node)
            if name:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} compares with {name!r}")
    assert not found, found
