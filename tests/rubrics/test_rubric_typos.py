"""A misspelt key anywhere in a rubric is refused with the valid keys and the closest one (issue 25)."""

import pytest

from vlmgrade.cli import main

BASE = {"top": "name: r\ncriteria:\n  clarity: {description: d, scale: [1, 10]}\nprompt: '{{ caption.text }}'\n"}


@pytest.mark.parametrize(("yaml_text", "expected"), [
    (BASE["top"] + "judge: {temprature: 0.5}\n",
     "judge: unknown key 'temprature' (did you mean 'temperature'?); valid keys: image, logprobs, model, temperature"),
    (BASE["top"] + "descripton: x\n", "unknown key 'descripton' (did you mean 'description'?); valid keys:"),
    ("name: r\ncriteria:\n  clarity: {description: d, scael: [1, 10]}\nprompt: x\n",
     "criterion 'clarity': unknown key 'scael' (did you mean 'scale'?); valid keys: better, controls, description, "
     "scale"),
    ("name: r\ncriteria:\n  clarity: {description: d, scale: [1, 10], beter: lower}\nprompt: x\n",
     "unknown key 'beter' (did you mean 'better'?)"),
    (BASE["top"] + "zzz: 1\n", "unknown key 'zzz'; valid keys:"),
])
def test_a_typo_at_any_level_names_the_key_the_valid_ones_and_the_closest(tmp_path, capsys, yaml_text, expected):
    path = tmp_path / "r.yaml"
    path.write_text(yaml_text)
    assert main(["rubric", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1, err


def test_a_template_typo_names_the_rubric_line_expression_and_the_fields_a_template_sees(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text("name: r\ncriteria:\n  clarity: {description: d, scale: [1, 10]}\n"
                    "prompt: |\n  Beginning: {{ sample.prefix }}\n  Text: {{ caption.txt }}\n")
    assert main(["rubric", "check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert ("rubric r: template line 2, {{ caption.txt }} uses an undefined variable: 'dict object' has no "
            "attribute 'txt'") in err
    assert "(did you mean caption.text?)" in err and "a template sees: sample.id, sample.prefix" in err
