"""Hostile rubrics: bad values, templates that would hang or explode, YAML alias bombs; each is one clear line
and exit 2 (hostile pictures: tests/data/test_hostile_data.py; odd servers: tests/judges/llm/test_odd_servers.py;
untrusted model configs: tests/zoo/test_model_folders.py)."""

import time

import pytest

from vlmgrade.cli import main

RUBRIC = """name: bad
criteria:
  {criteria}
prompt: |
  {prompt}
"""


def _rubric(tmp_path, criteria="fluency: {description: d, scale: [1, 5]}", prompt="{{ caption.text }}", **extra):
    text = RUBRIC.format(criteria=criteria, prompt=prompt) + "".join(f"{k}: {v}\n" for k, v in extra.items())
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("criteria, expected", [
    ("fluency: {description: d, scale: [.nan, 5]}", "finite numbers with lo < hi"),
    ("fluency: {description: d, scale: [1, .inf]}", "finite numbers with lo < hi"),
    ("fluency: {description: d, scale: [false, true]}", "finite numbers with lo < hi"),
    ("feedback: {description: d, scale: [1, 5]}", "'feedback' is reserved"),
    ("'<script>': {description: d, scale: [1, 5]}", "must be a word of letters"),
])
def test_bad_rubric_values_are_one_line_errors(tmp_path, capsys, criteria, expected):
    assert main(["rubric", "check", _rubric(tmp_path, criteria=criteria)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_system_must_be_a_string(tmp_path, capsys):
    assert main(["rubric", "check", _rubric(tmp_path, system="[a, b]")]) == 2
    assert "'system' must be a string" in capsys.readouterr().err


@pytest.mark.parametrize("prompt, expected", [
    ("{% for i in range(10**9) %}x{% endfor %}", "refused by the sandbox"),
    ("{{ 'x' * 1000000000 }}", "refused by the sandbox"),
    ("{% for i in range(9000) %}{% for j in range(9000) %}{% endfor %}{% endfor %}", "loop steps"),
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recursion"),
])
def test_templates_that_would_hang_or_explode_stop_with_one_line(tmp_path, capsys, prompt, expected):
    started = time.monotonic()
    assert main(["rubric", "check", _rubric(tmp_path, prompt=prompt)]) == 2
    assert time.monotonic() - started < 30
    assert expected in capsys.readouterr().err


def test_yaml_alias_bombs_are_refused(tmp_path, capsys):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]"
                                                     for p, c in zip("abcdefgh", "bcdefghi")]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert main(["rubric", "check", str(path)]) == 2
    assert "expands through its aliases" in capsys.readouterr().err
