"""torchrun: two CPU processes caption (and run) what one process does, and the run is reported once. The
torchrun processes are the point; the one-process reference runs in this process."""

import json
import subprocess
import sys

from tests.helpers import child_env
from vlmgrade.cli import main


def torchrun(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`vlmgrade ARGS` on two gloo processes of one thread each."""
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "vlmgrade", *args], capture_output=True, text=True,
                          env=child_env(OMP_NUM_THREADS="1", **env), timeout=300)


def test_torchrun_two_process_captioning_equals_one_process(tiny_model, tmp_path):
    args = ["caption", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "7",
            "--max-new-tokens", "6", "--batch-size", "2", "--quiet"]
    single = tmp_path / "one.jsonl"
    assert main([*args, "--out", str(single)]) == 0
    double = tmp_path / "two.jsonl"
    # a cache of its own: the two processes must generate, not read what the single one cached
    result = torchrun(*args, "--out", str(double), VLMGRADE_CACHE=str(tmp_path / "c2"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert double.read_text() == single.read_text() and len(single.read_text().splitlines()) == 7


def test_torchrun_run_captions_on_two_processes_and_reports_once(tiny_model, tmp_path, monkeypatch):
    args = ["run", "--model", str(tiny_model), "--data", "scenes-short:test", "--limit", "7", "--judge", "grounded",
            "--max-new-tokens", "6", "--batch-size", "2", "--quiet"]
    monkeypatch.setenv("VLMGRADE_CACHE", str(tmp_path / "c1.sqlite"))
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    result = torchrun(*args, "--out", str(tmp_path / "two"), VLMGRADE_CACHE=str(tmp_path / "c2.sqlite"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "two" / "captions.jsonl").read_text() == (tmp_path / "one" / "captions.jsonl").read_text()
    run = json.loads((tmp_path / "two" / "run.json").read_text())
    assert run["generation"][str(tiny_model)]["ranks"] == 2
