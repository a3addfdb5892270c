"""report.html stays small: each picture once, the models side by side."""

import json

from vlmgrade.cli import main
from vlmgrade.data.datasets import load_samples


def test_report_html_stays_small_for_40_samples_and_two_models(env):
    samples = load_samples("scenes-short:test", 40)
    rows = []
    for s in samples:
        rest = s.references[0][len(s.prefix):].strip()
        rows += [{"id": s.id, "model": "copy", "text": rest}, {"id": s.id, "model": "half",
                                                                 "text": " ".join(rest.split()[:5])}]
    caps = env / "caps.jsonl"
    caps.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["run", "--captions", str(caps), "--data", "scenes-short:test", "--limit", "40", "--judge",
                 "grounded", "--out", str(env / "r"), "--quiet"]) == 0
    html = (env / "r" / "report.html").read_text()
    assert len(html.encode()) < 200_000, len(html.encode())
    assert html.count("<img class='thumb'") == 40  # each picture once, the models side by side
