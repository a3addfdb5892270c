"""A normal install, used from where a user stands: a wheel built from the checkout, installed into a fresh
virtual environment, run from another folder. Before, `pip install .` gave an empty zoo and no rubrics."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.helpers import ROOT

SHIPPED = ("pyproject.toml", "setup.py", "README.md", "vlmgrade", "zoo", "rubrics")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv holding the wheel (its dependencies come from this environment's site-packages, added as
    a plain path so that the checkout's editable install is not seen); returns its bin folder."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in SHIPPED:  # a copy: building in the checkout would leave build/ and egg-info behind
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, source / name)
    shutil.rmtree(source / "vlmgrade" / "__pycache__", ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(source),
                    "-w", str(work / "dist")], check=True, capture_output=True, cwd=work)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], check=True, capture_output=True, text=True).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next((work / "dist").glob("vlmgrade-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", str(wheel)], check=True, capture_output=True)
    return venv / "bin"


def _run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OPENAI_API_KEY", "OPENAI_BASE_URL")}
    return subprocess.run([str(bin_dir / "vlmgrade"), *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)


def test_the_wheel_runs_from_another_folder_with_its_zoo_and_rubrics(installed, tmp_path):
    where = subprocess.run([str(installed / "python"), "-c", "import vlmgrade; print(vlmgrade.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert str(installed.parent) in where  # the wheel's package, not the checkout's

    cards = json.loads(_run(installed, "zoo", "list", "--json", cwd=tmp_path).stdout)
    assert {"nanovlm-mini-scenes", "nanovlm-tiny-scenes"} <= {c["name"] for c in cards}

    listed = _run(installed, "rubric", "list", cwd=tmp_path)
    assert listed.returncode == 0
    assert all(f"{name}  v" in listed.stdout for name in ("grounded", "nanovlm-paper", "references", "memorisation"))

    run = _run(installed, "run", "--model", "nanovlm-tiny-scenes", "--data", "scenes-short:test", "--limit", "3",
               "--quiet", "--out", "r", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    rows = json.loads((tmp_path / "r" / "scores.json").read_text())["rows"]
    grounded = next(r for r in rows if r["criterion"] == "grounded")
    assert grounded["model"] == "nanovlm-tiny-scenes" and grounded["n"] == 3
