"""Hostile data: a picture that would take gigabytes to decode and a FIFO in place of a picture are refused
without decoding (one line, exit 2); ids that climb out of the export folder stay inside it."""

import json
import os
import resource

from PIL import Image

from vlmgrade.cli import main


def _manifest(tmp_path, image_name):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"id": "a", "image": image_name, "prefix": "A"}) + "\n")
    return str(path)


def test_huge_pictures_and_fifos_are_refused_without_decoding(tmp_path, capsys, tiny_model):
    Image.new("1", (12000, 12000)).save(tmp_path / "huge.png")  # a few KB on disk
    assert (tmp_path / "huge.png").stat().st_size < 200_000
    args = ["run", "--model", str(tiny_model), "--judge", "grounded", "--quiet", "--out", str(tmp_path / "o"),
            "--data"]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert main(args + [_manifest(tmp_path, "huge.png")]) == 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KB: nothing was decoded
    assert "is 12000x12000 pixels; at most 40,000,000 are decoded" in capsys.readouterr().err
    os.mkfifo(tmp_path / "pipe.png")
    assert main(args + [_manifest(tmp_path, "pipe.png")]) == 2
    assert "is not a regular file" in capsys.readouterr().err


def test_export_keeps_hostile_ids_inside_the_folder(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "p.png")
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "../../escape", "image": "p.png"}) + "\n")
    out = tmp_path / "deep" / "out"
    assert main(["data", "export", str(tmp_path / "m.jsonl"), "--out", str(out)]) == 0
    assert not (tmp_path / "escape.png").exists()
    assert [p.parent for p in out.rglob("*.png")] == [out / "images"]
