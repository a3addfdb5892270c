"""`vlmgrade run --captions FILE`: judge captions written elsewhere; no model is loaded."""

import json
import random

from vlmgrade.cli import main
from vlmgrade.data.datasets import load_samples


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_captions_from_a_file_are_judged_without_a_model(env, capsys):
    samples = load_samples("scenes-short:test", 8)
    rows = []
    for s in samples:
        rest = s.references[0][len(s.prefix):].strip()
        words = rest.split()
        random.Random(s.id).shuffle(words)
        rows += [{"id": s.id, "model": "reference", "text": rest},
                 {"id": s.id, "model": "salad", "text": " ".join(words)}]
    path = _write(env / "caps.jsonl", rows)
    assert main(["run", "--captions", str(path), "--data", "scenes-short:test", "--limit", "8", "--judge", "grounded",
                 "--out", str(env / "r"), "--quiet"]) == 0
    run = json.loads((env / "r" / "run.json").read_text())
    assert run["generation"] == {} and run["models"] == ["reference", "salad"]
    assert {k: run["data"][k] for k in ("name", "version")} == {"name": "scenes-short:test", "version": "scenes-v2.1"}
    assert len(run["data"]["samples"]) == 16  # the hash of the sample-id set
    means = {r["model"]: r["mean"] for r in json.loads((env / "r" / "scores.json").read_text())["rows"]
             if r["criterion"] == "grounded"}
    assert means["reference"] > 0.5 > 2 * means["salad"]
    judged = [json.loads(x) for x in (env / "r" / "judgments.jsonl").read_text().splitlines()]
    assert all("claims" in j["details"] for j in judged)
    assert "✗" in (env / "r" / "report.html").read_text()  # wrong claims are shown


def test_unknown_ids_and_malformed_files_are_one_line_errors(env, capsys):
    base = ["run", "--data", "scenes-short:test", "--limit", "3", "--judge", "grounded", "--quiet", "--out",
            str(env / "o")]
    cases = [([{"id": "nope", "model": "m", "text": "a"}], "sample id 'nope' is not in the run's data"),
             ([{"id": "test-000000", "text": "a"}], "each line needs 'id', 'model' and 'text'"),
             ("not json\n", "not valid JSON")]
    for content, needle in cases:
        path = env / "bad.jsonl"
        path.write_text(content) if isinstance(content, str) else _write(path, content)
        assert main([*base, "--captions", str(path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    assert main(base) == 2
    assert "nothing to judge" in capsys.readouterr().err
