"""A model or judge folder that asks for its own code (auto_map) is refused with one line, whatever stdin
holds: a piped "y" must not run the folder's Python (issue 24, case 2)."""

import json
import subprocess
import sys

import pytest

from tests.helpers import child_env
from tests.zoo.test_hf import tiny_git


def evil_folder(tmp_path):
    """A tiny GIT model whose processor config points at a Python file in the folder that leaves a mark."""
    folder = tiny_git(tmp_path / "evil")
    mark = tmp_path / "code-ran"
    (folder / "evil_processing.py").write_text(f"open({str(mark)!r}, 'w').write('ran')\n"
                                               "from transformers import GitProcessor as EvilProcessor\n")
    config = folder / "processor_config.json"
    data = json.loads(config.read_text()) if config.exists() else {}
    data["auto_map"] = {"AutoProcessor": "evil_processing.EvilProcessor"}
    data["processor_class"] = "EvilProcessor"
    config.write_text(json.dumps(data))
    return folder, mark


@pytest.mark.parametrize("command", [["caption", "--model", "evil={folder}", "--data", "scenes-short:test",
                                      "--limit", "1", "--out", "{out}"],
                                     ["run", "--model", "nanovlm-tiny-scenes", "--judge", "hf:{folder}",
                                      "--rubric", "nanovlm-paper", "--data", "scenes-short:test", "--limit", "1",
                                      "--out", "{out}"]], ids=["captioner", "judge"])
def test_a_folder_that_wants_its_own_code_is_refused_even_with_yes_on_stdin(tmp_path, command):
    folder, mark = evil_folder(tmp_path)
    args = [a.format(folder=folder, out=tmp_path / "out") for a in command]
    done = subprocess.run([sys.executable, "-m", "vlmgrade", *args], input="y\ny\ny\n", capture_output=True,
                          text=True, timeout=300, env=child_env())
    assert done.returncode == 2, done.stderr
    errors = [x for x in done.stderr.splitlines() if x.startswith("vlmgrade: error")]
    assert len(errors) == 1 and "needs its own code" in errors[0] and "auto_map" in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not mark.exists()


def test_a_judge_folder_with_its_own_code_is_refused_before_any_model_is_loaded(tmp_path, monkeypatch, capsys):
    import vlmgrade.zoo
    from vlmgrade.cli import main

    folder, _ = evil_folder(tmp_path)

    def no_captioning(*args, **kwargs):
        raise AssertionError("a model was loaded to caption before the judge folder was checked")

    monkeypatch.setattr(vlmgrade.zoo, "load_captioner", no_captioning)
    assert main(["run", "--model", "nanovlm-tiny-scenes", "--judge", f"hf:{folder}", "--rubric", "nanovlm-paper",
                 "--data", "scenes-short:test", "--limit", "1", "--quiet", "--out", str(tmp_path / "out")]) == 2
    assert "needs its own code" in capsys.readouterr().err
