"""For people: the README's Python example runs as written, its YAML blocks load, and every command's --help
ends with an example (report.html's size: tests/report/test_html.py)."""

import re
import subprocess
import sys

import yaml

from tests.helpers import ROOT, child_env
from vlmgrade.cli import main
from vlmgrade.cli.parser import build_parser

README = (ROOT / "README.md").read_text()


def test_the_readme_python_example_runs_offline(tmp_path, monkeypatch):
    block = re.search(r"## Python API\n.*?```python\n(.*?)```", README, re.S).group(1)
    monkeypatch.setenv("VLMGRADE_RUNS", str(tmp_path / "runs"))
    result = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600, env=child_env())
    assert result.returncode == 0, result.stderr
    assert "grounded" in result.stdout and "rank" in result.stdout
    assert len(list((tmp_path / "runs").iterdir())) == 1


def test_every_yaml_block_in_the_readme_loads():
    blocks = re.findall(r"```yaml\n(.*?)```", README, re.S)
    assert blocks
    for block in blocks:
        assert isinstance(yaml.safe_load(block), dict)


def test_the_readme_rubric_example_is_a_valid_rubric(tmp_path, capsys):
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", README, re.S) if "criteria:" in b)
    path = tmp_path / "rubric.yaml"
    path.write_text(block)
    assert main(["rubric", "check", str(path)]) == 0


def test_every_command_help_ends_with_an_example():
    parser = build_parser()
    commands = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"][0]
    for name, sub in commands.choices.items():
        nested = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
        for child in (nested[0].choices.values() if nested else [sub]):
            text = child.format_help().rstrip()
            assert text.rfind("example:") > text.rfind("options:"), (name, text[-200:])
            assert text.rsplit("example:", 1)[1].strip().startswith("vlmgrade "), (name, text[-200:])
