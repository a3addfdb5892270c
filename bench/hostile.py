"""Hostile input, each through the real CLI in its own process: exit code, the one line it printed, peak memory.

    python bench/hostile.py [--root CHECKOUT] [--only SUBSTRING]

`--root` runs another checkout's vlmgrade (a worktree of an older commit, say) on the same inputs, for a
before/after table; `--only` runs the cases whose label holds SUBSTRING. Each case has 300 s.

Builds each input in a temporary folder (pictures of 12000x12000 and 30000x30000 pixels that are a few
KB on disk, a FIFO as an image, an id that climbs out of the export folder, a model config that asks for
a million layers, config and tokenizer files linked to /dev/zero, a rubric YAML alias bomb, Jinja that
would loop 10**9 times, multiply a string to a gigabyte, recurse or nest loops 81 million steps deep,
rubric scales of NaN, inf and booleans, a reserved criterion name, a system prompt that is a list, a
cache of random bytes, a truncated cache and another program's SQLite file); and issue 24's later cases: a
model label with a newline, names carrying <script> and links into report.md, NaN and Infinity in a
scores.json, a lone surrogate in a caption, a 300-character sample id and ids that sanitise alike, damaged
cache rows, PNG text-chunk bombs, a bad judgments.jsonl line, a kill between the renames of a run folder
rewrite, a million-row captions file, a reply with 800 spaces after a criterion's name, '%0999999999d' % 1
and center(10**9) in a template, /dev/zero as a price table and as a prompt, a NanoVLM config of width 8192,
64 layers and 128 heads, a pairwise reply "a slight edge to B" and a server reporting usage 9,999,999. Each
row is the exit code, the last line on stderr (a traceback would show as its last line), the child's peak
RSS from wait4() and a note where the outcome is more than the exit (what a file holds). Last line: one JSON
object with every row.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], cwd: Path, capture: bool = False, code: str | None = None, timeout: float = 300.0,
        **env) -> dict:
    """`vlmgrade ARGS` (or `python -c CODE ARGS`) in a child: its exit, last stderr line, peak RSS and time
    (and its stdout with `capture`); killed after `timeout` seconds."""
    started = time.perf_counter()
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "vlmgrade", *args]
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, errors="replace",
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
                                 "VLMGRADE_CACHE": str(cwd / "cache.sqlite"), **env})
    texts: dict[str, str] = {}
    readers = [threading.Thread(target=lambda n=n, f=f: texts.__setitem__(n, f.read()))
               for n, f in (("err", proc.stderr), ("out", proc.stdout)) if f is not None]
    for t in readers:
        t.start()
    timed_out = False
    while True:  # wait4 (not Popen.wait): the child's own peak RSS comes with its exit
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - started > timeout:
            proc.kill()
            timed_out = True
            _, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for t in readers:
        t.join()
    err = texts.get("err", "")
    lines = [x for x in err.strip().splitlines() if x.strip()]
    return {"exit": "timeout" if timed_out else proc.returncode, "line": lines[-1][:200] if lines else "",
            "traceback": "Traceback" in err, "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "seconds": round(time.perf_counter() - started, 1), **({"stdout": texts.get("out", "")} if capture else {})}


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
    global ROOT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose vlmgrade runs (default: this)")
    parser.add_argument("--only", default="", help="run only the cases whose label holds this")
    opts = parser.parse_args()
    ROOT = opts.root.resolve()
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        if not opts.only:
            earlier_cases(d, rows)
        names_and_files(d, rows, opts.only)
        later_issue_24(d, rows, opts.only)
    width = max(map(len, rows))
    for label, r in rows.items():
        note = f"  [{r['note']}]" if r.get("note") else ""
        print(f"{label:<{width}}  exit {r['exit']}  {r['peak_rss_mb']:>5} MB  {r['seconds']:>5} s  {r['line']}{note}")
    print(json.dumps(rows))


def earlier_cases(d: Path, rows: dict[str, dict]) -> None:
    """Pictures, model files, rubric bombs and broken caches (issue 24, first cases)."""
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


# ---- issue 24, later cases: names, run files, caches and pictures ----

KILLED = """
import os, sys
from pathlib import Path
out = Path(sys.argv[1]).absolute()
real = os.rename
def rename(src, dst):  # killed as the new folder goes in, the old one already aside
    if Path(dst).absolute() == out and not out.exists():
        os._exit(9)
    real(src, dst)
os.rename = rename
from vlmgrade.cli import main
sys.exit(main(sys.argv[2:]))
"""


def captions_file(path: Path, rows: list[tuple[str, str, str]]) -> str:
    path.write_text("".join(json.dumps({"id": i, "model": m, "text": t}) + "\n" for i, m, t in rows))
    return str(path)


def ids(n: int) -> list[str]:
    return [f"test-{i:06d}" for i in range(n)]


def raw_html_lines(report: Path) -> int:
    """Lines of report.md holding an HTML tag or a link to a web address as markup (outside code spans)."""
    if not report.exists():
        return -1
    return sum(bool(re.search(r"(?<!\\)<(script|img)|\]\(http", line)) for line in report.read_text().splitlines()
               if not line.startswith(("- models:", "- data:", "- judge:")))


def png_with(path: Path, chunk_type: bytes, head: bytes, blocks: Iterable[bytes]) -> None:
    """An 8x8 PNG with one more chunk right after IHDR: `head` then `blocks` as its data, written (and its CRC
    and length taken) a block at a time, so this process never holds the chunk: its children would report
    that memory as their own peak."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    png = buf.getvalue()
    body = path.with_suffix(".body")
    crc, length = zlib.crc32(chunk_type + head), len(head)
    with body.open("wb") as f:
        f.write(head)
        for block in blocks:
            f.write(block)
            crc, length = zlib.crc32(block, crc), length + len(block)
    with path.open("wb") as out, body.open("rb") as f:
        out.write(png[:33] + struct.pack(">I", length) + chunk_type)
        shutil.copyfileobj(f, out)
        out.write(struct.pack(">I", crc) + png[33:])
    body.unlink()


def deflated_zeros(megabytes: int) -> Iterator[bytes]:
    z = zlib.compressobj(9)
    block = bytes(1 << 20)
    for _ in range(megabytes):
        yield z.compress(block)
    yield z.flush()


def names_and_files(d: Path, rows: dict[str, dict], only: str) -> None:
    """Issue 24, cases 1-9 of its third part: names into reports, run files, caches, pictures, big captions."""
    d = d / "names"
    d.mkdir()
    grounded = ["--data", "scenes-short:test", "--limit", "2", "--judge", "grounded", "--quiet"]
    cases = {
        "label with a newline (--model)": lambda: run(["run", "--model", "a\n# injected=nanovlm-tiny-scenes",
                                                       *grounded, "--out", str(d / "l1")], d),
        "names with <script> and links": lambda: _names_into_reports(d, grounded),
        "scores.json NaN/Infinity -> leaderboard json": lambda: _non_finite(d, grounded),
        "lone surrogate in a caption": lambda: run(["run", "--captions", captions_file(
            d / "sur.jsonl", [(i, "m\ud800", "a red \udc80 ball") for i in ids(2)]), *grounded, "--out",
            str(d / "s1")], d),
        "export id of 300 characters": lambda: _export(d, ["x" * 300]),
        "export ids a/b, a_b, a_b-<hash>, A_B": lambda: _export(d, ["a/b", "a_b", "a_b-" + hashlib.sha256(
            b"a/b").hexdigest()[:8], "A_B"]),
        "cache rows damaged": lambda: _damaged_cache(d, grounded),
        "PNG zTXt inflating to 512 MB": lambda: _png(d, "ztxt", b"zTXt", b"k\0\0", deflated_zeros(512)),
        "PNG 200 MB tEXt chunk": lambda: _png(d, "text", b"tEXt", b"k\0", (b"a" * (1 << 20) for _ in range(200))),
        "judgments.jsonl bad line -> agree": lambda: _bad_judgment(d, grounded),
        "kill between run folder renames -> runs": lambda: _killed_swap(d, grounded),
        "captions file of 10^6 rows --dry-run": lambda: _million(d),
    }
    for label, case in cases.items():
        if only in label:
            rows[label] = case()


def _names_into_reports(d: Path, grounded: list[str]) -> dict:
    hostile = "m<script>alert(1)</script> [x](http://evil.example)"
    caps = captions_file(d / "names.jsonl", [(i, m, "a ball <img src=x onerror=alert(2)>\n# injected")
                                             for i in ids(2) for m in (hostile, "plain")])
    result = run(["run", "--captions", caps, *grounded, "--out", str(d / "n1")], d)
    return {**result, "note": f"report.md lines with raw HTML or links: {raw_html_lines(d / 'n1' / 'report.md')}"}


def _non_finite(d: Path, grounded: list[str]) -> dict:
    caps = captions_file(d / "nf.jsonl", [(i, m, "a red ball") for i in ids(2) for m in ("a", "b")])
    run(["run", "--captions", caps, *grounded, "--out", str(d / "nf")], d)
    scores = json.loads((d / "nf" / "scores.json").read_text())
    scores["rows"][0]["scale"] = [0, float("inf")]
    (d / "nf" / "scores.json").write_text(json.dumps(scores))
    result = run(["leaderboard", str(d / "nf"), "--format", "json"], d, capture=True)
    out = result.pop("stdout")
    return {**result, "note": "stdout holds NaN/Infinity" if re.search(r"\b(NaN|Infinity)\b", out) else
            "stdout valid JSON" if out.strip() else "no stdout"}


def _export(d: Path, sample_ids: list[str]) -> dict:
    folder = d / f"export-{len(sample_ids)}"
    folder.mkdir()
    for i in range(len(sample_ids)):
        Image.new("RGB", (8, 8), (60 * i, 0, 0)).save(folder / f"p{i}.png")
    (folder / "m.jsonl").write_text("".join(json.dumps({"id": sid, "image": f"p{i}.png"}) + "\n"
                                            for i, sid in enumerate(sample_ids)))
    result = run(["data", "export", str(folder / "m.jsonl"), "--out", str(folder / "out")], d)
    images = folder / "out" / "images"
    files = {p.name.casefold() for p in images.iterdir()} if images.is_dir() else set()
    return {**result, "note": f"{len(sample_ids)} ids -> {len(files)} files (case-folded)"}


def _damaged_cache(d: Path, grounded: list[str]) -> dict:
    cache = d / "damaged.sqlite"
    run(["run", "--model", "nanovlm-tiny-scenes", *grounded, "--out", str(d / "dc0")], d, VLMGRADE_CACHE=str(cache))
    db = sqlite3.connect(cache)
    keys = [k for (k,) in db.execute("SELECT key FROM captions")]
    db.execute("UPDATE captions SET value = ? WHERE key = ?", (sqlite3.Binary(b"\xff\xfe garbage"), keys[0]))
    db.execute("UPDATE captions SET value = '{not json' WHERE key = ?", (keys[-1],))
    db.commit()
    db.close()
    return run(["run", "--model", "nanovlm-tiny-scenes", *grounded, "--out", str(d / "dc1")], d,
               VLMGRADE_CACHE=str(cache))


def _png(d: Path, name: str, chunk_type: bytes, head: bytes, blocks: Iterable[bytes]) -> dict:
    png_with(d / f"{name}.png", chunk_type, head, blocks)
    (d / f"{name}.jsonl").write_text(json.dumps({"id": "s", "image": f"{name}.png"}) + "\n")
    return run(["data", "export", str(d / f"{name}.jsonl"), "--out", str(d / f"{name}-out")], d)


def _bad_judgment(d: Path, grounded: list[str]) -> dict:
    caps = captions_file(d / "bj.jsonl", [(i, "m", "a red ball") for i in ids(2)])
    run(["run", "--captions", caps, *grounded, "--out", str(d / "bj")], d)
    path = d / "bj" / "judgments.jsonl"
    lines = path.read_text().splitlines()
    row = json.loads(lines[1])
    lines[1] = json.dumps({**row, "scores": {k: "high" for k in row["scores"]}})
    path.write_text("\n".join(lines) + "\n")
    return run(["agree", str(d / "bj"), str(d / "bj")], d)


def _killed_swap(d: Path, grounded: list[str]) -> dict:
    base = d / "runs"
    args = ["run", "--captions", captions_file(d / "ks.jsonl", [(i, "m", "a red ball") for i in ids(2)]), *grounded,
            "--overwrite", "--out", str(base / "r")]
    run(args, d)
    run([str(base / "r"), *args], d, code=KILLED)
    left = sorted(p.name for p in base.iterdir())
    result = run(["runs", str(base), "--format", "json"], d, capture=True)
    try:
        listed = [f"{r['run']} {r['status']}" for r in json.loads(result.pop("stdout"))["runs"]]
    except (ValueError, KeyError):
        listed = []
    return {**result, "note": f"after the kill: {', '.join(x.split('-')[0] for x in left)}; runs lists: "
                              f"{', '.join(listed) or 'nothing'}"}


def _million(d: Path) -> dict:
    with (d / "million.jsonl").open("w") as f:  # 1000 samples x 1000 models, 46 bytes a row: 46 MB
        for m in range(1000):
            f.writelines(f'{{"id":"{i}","model":"m{m}","text":"a"}}\n' for i in ids(1000))
    return run(["run", "--captions", str(d / "million.jsonl"), "--data", "scenes-short:test", "--judge", "grounded",
                "--dry-run", "--quiet"], d)


# ---- issue 24, the judge, template and file cases fixed before (kept here so they stay fixed) ----

PAPER = ("grammar", "creativity", "consistency", "meaningfulness", "plot")
HUGE_USAGE = {"prompt_tokens": 9_999_999, "completion_tokens": 9_999_999, "total_tokens": 19_999_998}
HUGE_NANOVLM = {"encoder_width": 8192, "encoder_layers": 64, "encoder_heads": 128, "decoder_layers": 64,
                "heads": 128, "head_size": 64}


def later_issue_24(d: Path, rows: dict[str, dict], only: str) -> None:
    """A judge's odd replies through a scripted server, template bombs, /dev/zero as inputs, a huge config."""
    from vlmgrade.testing.server import FakeOpenAI, Reply

    d = d / "judged"
    d.mkdir()
    scores = json.dumps({**{c: 5 for c in PAPER}, "feedback": "ok"})
    replies = {
        "reply: 800 spaces after each criterion name": lambda: Reply("".join(f"{c}{' ' * 800}x " for c in PAPER)),
        "pairwise reply 'a slight edge to B'": lambda: Reply(json.dumps({**{c: "a slight edge to B" for c in PAPER},
                                                                         "feedback": "ok"})),
        "server reports usage 9,999,999": lambda: Reply(scores, usage=HUGE_USAGE),
    }
    for label, reply in replies.items():
        if only not in label:
            continue
        with FakeOpenAI(lambda body, n, reply=reply: reply()) as server:
            rows[label] = _judged(d, label, server.base_url)
    grounded = ["--data", "scenes-short:test", "--limit", "2", "--judge", "grounded", "--quiet"]
    cases = {
        "jinja '%0999999999d' % 1": lambda: run(["rubric", "check", rubric(d, "pct",
                                                                           prompt="{{ '%0999999999d' % 1 }}")], d),
        "jinja 'x'|center(10**9)": lambda: run(["rubric", "check", rubric(d, "ctr",
                                                                          prompt="{{ 'x'|center(10**9) }}")], d),
        "--price-table /dev/zero": lambda: run(["run", "--captions", captions_file(
            d / "pt.jsonl", [(i, "m", "a red ball") for i in ids(2)]), *grounded, "--price-table", "/dev/zero",
            "--out", str(d / "pt")], d),
        "data build --prompt /dev/zero": lambda: _build_prompt(d),
        "NanoVLM config width 8192, 64 layers, 128 heads": lambda: _huge_config(d),
    }
    for label, case in cases.items():
        if only in label:
            rows[label] = case()


def _judged(d: Path, label: str, url: str) -> dict:
    """A run judged through the scripted server at `url` (two models, two samples), with a note of what it wrote."""
    pairwise = "pairwise" in label
    out = d / hashlib.sha256(label.encode()).hexdigest()[:8]
    caps = captions_file(out.with_suffix(".jsonl"), [(i, m, f"{m} wrote about a red ball") for i in ids(2)
                                                     for m in ("m1", "m2")])
    result = run(["run", "--captions", caps, "--data", "scenes-short:test", "--limit", "2", "--rubric",
                  "nanovlm-pairwise" if pairwise else "nanovlm-paper", "--judge", "openai:gpt-4o", "--judge-base-url",
                  url, "--quiet", "--allow-unscored", "--out", str(out), *(["--baseline", "m1"] if pairwise else [])],
                 d, OPENAI_API_KEY="sk-bench-0000")
    try:
        judged = [json.loads(x) for x in (out / "judgments.jsonl").read_text().splitlines()]
        record = json.loads((out / "run.json").read_text())
    except OSError:
        return {**result, "note": "no run folder"}
    unscored = sum(j["unscored_reason"] is not None for j in judged)
    return {**result, "note": f"{unscored} of {len(judged)} judgments unscored; cost ${record.get('cost_usd', 0):.4f}"}


def _build_prompt(d: Path) -> dict:
    Image.new("RGB", (8, 8)).save(d / "b.png")
    (d / "b.jsonl").write_text(json.dumps({"id": "b", "image": "b.png", "references": ["a red ball"]}) + "\n")
    return run(["data", "build", str(d / "b.jsonl"), "--llm", "openai:gpt-4o", "--base-url", "http://127.0.0.1:9/v1",
                "--prompt", "/dev/zero", "--out", str(d / "built"), "--dry-run"], d, OPENAI_API_KEY="sk-bench-0000")


def _huge_config(d: Path) -> dict:
    model = d / "huge-model"
    shutil.copytree(ROOT / "zoo" / "nanovlm-tiny-scenes", model, ignore=shutil.ignore_patterns("checkpoint"))
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, **HUGE_NANOVLM}))
    return run(["caption", "--model", str(model), "--data", "scenes-short:test", "--limit", "1", "--quiet", "--out",
                str(d / "huge.jsonl")], d)


if __name__ == "__main__":
    main()
