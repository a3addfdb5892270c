"""Run folders built fast for the report tests: captions written here (no model), judged by the offline grounded
judge through the real `vlmgrade run`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from vlmgrade.cli import main
from vlmgrade.core.types import Sample
from vlmgrade.data.datasets import load_samples

Writer = Callable[[Sample], str]


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """`make_run({"model": writer, ...}, n=12, *flags)`: a run folder of those "models" on the first n
    scenes-short test samples, judged by `grounded`."""
    count = iter(range(1000))

    def build(models: dict[str, Writer], n: int = 12, *flags: str) -> Path:
        i = next(count)
        caps = tmp_path / f"caps{i}.jsonl"
        samples = load_samples("scenes-short:test", n)
        caps.write_text("".join(json.dumps({"id": s.id, "model": m, "text": write(s)}) + "\n"
                                for s in samples for m, write in models.items()))
        out = tmp_path / f"run{i}"
        assert main(["run", "--captions", str(caps), "--data", "scenes-short:test", "--limit", str(n), "--judge",
                     "grounded", "--out", str(out), "--quiet", *flags]) == 0
        return out

    return build
