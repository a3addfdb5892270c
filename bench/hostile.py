"""Hostile input, each through the real CLI in its own process: exit code, the one line it printed, peak memory.

    python bench/hostile.py

Builds each input in a temporary folder (pictures of 12000x12000 and 30000x30000 pixels that are a few
KB on disk, a FIFO as an image, an id that climbs out of the export folder, a model config that asks for
a million layers, config and tokenizer files linked to /dev/zero, a rubric YAML alias bomb, Jinja that
would loop 10**9 times, multiply a string to a gigabyte, recurse or nest loops 81 million steps deep,
rubric scales of NaN, inf and booleans, a reserved criterion name, a system prompt that is a list, a
cache of random bytes, a truncated cache and another program's SQLite file). Each row is the exit code,
the last line on stderr (a traceback would show as its last line) and the child's peak RSS from
wait4(). Last line: one JSON object with every row.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], cwd: Path, **env) -> dict:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "vlmgrade", *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
                                 "VLMGRADE_CACHE": str(cwd / "cache.sqlite"), **env})
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    lines = [x for x in err.strip().splitlines() if x.strip()]
    return {"exit": os.waitstatus_to_exitcode(status), "line": lines[-1] if lines else "",
            "traceback": "Traceback" in err, "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "seconds": round(time.perf_counter() - started, 1)}


def manifest(folder: Path, image: str, n: int = 1) -> str:
    path = folder / f"{Path(image).stem}.jsonl"
    path.write_text("".join(json.dumps({"id": f"s{i}", "image": image, "prefix": "We see"}) + "\n" for i in range(n)))
    return str(path)


def rubric(folder: Path, name: str, criteria: str = "fluency: {description: d, scale: [1, 5]}",
           prompt: str = "{{ caption.text }}", extra: str = "") -> str:
    path = folder / f"{name}.yaml"
    path.write_text(f"name: bad\ncriteria:\n  {criteria}\nprompt: |\n  {prompt}\n{extra}")
    return str(path)


def main() -> None:
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        # drawn in a child process: children forked from a parent that once held a 900 MB picture would
        # report that as their own peak (Linux keeps the high-water mark across exec)
        subprocess.run([sys.executable, "-c", "import sys; from PIL import Image\n"
                        "for side, name in ((6000, 'big'), (12000, 'huge'), (30000, 'bomb')):\n"
                        "    Image.new('1', (side, side)).save(f'{sys.argv[1]}/{name}.png')", str(d)], check=True)
        os.mkfifo(d / "pipe.png")
        caption = ["caption", "--model", "nanovlm-tiny-scenes", "--max-new-tokens", "8", "--quiet", "--out"]
        rows["image 6000x6000 (10 samples: decoded, shrunk)"] = run([*caption, str(d / "c0.jsonl"), "--data",
                                                                     manifest(d, "big.png", 10)], d)
        rows["image 12000x12000 (10 samples)"] = run([*caption, str(d / "c1.jsonl"), "--data",
                                                      manifest(d, "huge.png", 10)], d)
        rows["image 30000x30000"] = run([*caption, str(d / "c2.jsonl"), "--data", manifest(d, "bomb.png")], d)
        rows["image path is a FIFO"] = run([*caption, str(d / "c3.jsonl"), "--data", manifest(d, "pipe.png")], d)

        Image.new("RGB", (8, 8)).save(d / "p.png")
        (d / "escape.jsonl").write_text(json.dumps({"id": "../../../X", "image": "p.png"}) + "\n")
        rows["export id ../../../X"] = run(["data", "export", str(d / "escape.jsonl"), "--out", str(d / "a/b/out")], d)
        rows["export id ../../../X"]["written"] = sorted(str(p.relative_to(d)) for p in d.rglob("*X*.png"))

        model = d / "model"
        shutil.copytree(ROOT / "zoo" / "nanovlm-tiny-scenes", model, ignore=shutil.ignore_patterns("checkpoint"))
        config = json.loads((model / "config.json").read_text())
        (model / "config.json").write_text(json.dumps({**config, "decoder_layers": 1_000_000}))
        model_caption = ["caption", "--model", str(model), "--data", "scenes-short:test", "--limit", "1", "--quiet"]
        rows["config decoder_layers 1000000"] = run([*model_caption, "--out", str(d / "c4.jsonl")], d)
        (model / "config.json").unlink()
        os.symlink("/dev/zero", model / "config.json")
        rows["config.json -> /dev/zero"] = run([*model_caption, "--out", str(d / "c5.jsonl")], d)
        (model / "config.json").unlink()
        (model / "config.json").write_text(json.dumps(config))
        (model / "tokenizer.json").unlink()
        os.symlink("/dev/zero", model / "tokenizer.json")
        rows["tokenizer.json -> /dev/zero"] = run([*model_caption, "--out", str(d / "c6.jsonl")], d)

        bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]"
                                                        for p, c in zip("abcdefgh", "bcdefghi")]
        (d / "alias.yaml").write_text("\n".join(bomb) + "\n")
        rows["rubric YAML alias bomb"] = run(["rubric", "check", str(d / "alias.yaml")], d)
        templates = {"jinja range(10**9)": "{% for i in range(10**9) %}x{% endfor %}",
                     "jinja 'x' * 10**9": "{{ 'x' * 1000000000 }}",
                     "jinja recursion": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
                     "jinja nested loops 9000x9000": "{% for i in range(9000) %}{% for j in range(9000) %}"
                                                     "{% endfor %}{% endfor %}"}
        for i, (label, prompt) in enumerate(templates.items()):
            rows[label] = run(["rubric", "check", rubric(d, f"t{i}", prompt=prompt)], d)
        criteria = {"scale [NaN, 5]": "fluency: {description: d, scale: [.nan, 5]}",
                    "scale [1, inf]": "fluency: {description: d, scale: [1, .inf]}",
                    "scale [false, true]": "fluency: {description: d, scale: [false, true]}",
                    "criterion named feedback": "feedback: {description: d, scale: [1, 5]}",
                    "criterion named <script>": "'<script>': {description: d, scale: [1, 5]}"}
        for i, (label, text) in enumerate(criteria.items()):
            rows[label] = run(["rubric", "check", rubric(d, f"c{i}", criteria=text)], d)
        rows["system is a list"] = run(["rubric", "check", rubric(d, "s", extra="system: [a, b]\n")], d)

        judged = ["run", "--model", "nanovlm-tiny-scenes", "--data", "scenes-short:test", "--limit", "2", "--judge",
                  "grounded", "--quiet"]
        (d / "random.sqlite").write_bytes(os.urandom(65536))
        rows["cache of random bytes"] = run([*judged, "--out", str(d / "r1")], d,
                                            VLMGRADE_CACHE=str(d / "random.sqlite"))
        run([*judged, "--out", str(d / "r0")], d, VLMGRADE_CACHE=str(d / "whole.sqlite"))
        whole = (d / "whole.sqlite").read_bytes()
        (d / "truncated.sqlite").write_bytes(whole[: len(whole) // 3])
        rows["truncated cache"] = run([*judged, "--out", str(d / "r2")], d, VLMGRADE_CACHE=str(d / "truncated.sqlite"))
        foreign = sqlite3.connect(d / "foreign.sqlite")
        foreign.execute("CREATE TABLE accounts (id INTEGER, owner TEXT)")
        foreign.commit()
        foreign.close()
        rows["another program's database as cache"] = run([*judged, "--out", str(d / "r3")], d,
                                                          VLMGRADE_CACHE=str(d / "foreign.sqlite"))
    width = max(map(len, rows))
    for label, r in rows.items():
        print(f"{label:<{width}}  exit {r['exit']}  {r['peak_rss_mb']:>5} MB  {r['seconds']:>5} s  {r['line']}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
