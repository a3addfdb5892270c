"""Issue 24 (data): `data export` names each picture safely and uniquely whatever the ids, and a manifest's PNG
that carries a text-chunk bomb is refused in one line with bounded memory.

Before: a 300-character id ended `data export` in OSError (file name too long); the ids "a/b" and
"a_b-c14cddc0" (what "a/b" sanitised to) shared one picture, so one sample was exported with another's
image; a PNG whose zTXt or iTXt chunk inflates past PIL's limit ended in a ValueError traceback, and one with
a 200 MB tEXt chunk read it whole (650 MB) before that same traceback."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import subprocess
import sys
import zlib

import pytest
from PIL import Image

from tests.helpers import child_env
from vlmgrade.cli import main
from vlmgrade.data.datasets import load_samples

LONGEST = 100  # characters of a picture's file name (datasets.MAX_NAME_CHARS), before .png


def _manifest(tmp_path, ids: list[str]) -> str:
    rows = []
    for i, sid in enumerate(ids):
        Image.new("RGB", (8, 8), (40 * i, 255 - 40 * i, 7)).save(tmp_path / f"p{i}.png")
        rows.append({"id": sid, "image": f"p{i}.png"})
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_a_300_character_id_is_exported_under_a_bounded_name(tmp_path, capsys):
    ids = ["x" * 300, "y" * 100, "z" * 99]
    assert main(["data", "export", _manifest(tmp_path, ids), "--out", str(tmp_path / "out")]) == 0
    names = [p.name for p in (tmp_path / "out" / "images").iterdir()]
    assert len(names) == 3 and all(len(n) <= LONGEST + len(".png") for n in names), names
    assert [s.id for s in load_samples(str(tmp_path / "out" / "manifest.jsonl"))] == ids


def test_ids_that_sanitise_alike_get_files_of_their_own(tmp_path):
    crafted = "a_b-" + hashlib.sha256(b"a/b").hexdigest()[:8]  # what the old code named "a/b"'s picture
    ids = ["a/b", "a_b", crafted, "A_B", "a_b-" + hashlib.sha256(b"a/b").hexdigest()[:16]]
    assert main(["data", "export", _manifest(tmp_path, ids), "--out", str(tmp_path / "out")]) == 0
    names = [p.name for p in (tmp_path / "out" / "images").iterdir()]
    assert len({n.casefold() for n in names}) == len(ids), names  # unique even where the file system folds case
    exported = load_samples(str(tmp_path / "out" / "manifest.jsonl"))
    originals = load_samples(str(tmp_path / "m.jsonl"))
    assert [s.id for s in exported] == ids
    for before, after in zip(originals, exported):  # each sample kept its own picture
        assert before.image.tobytes() == after.image.tobytes(), before.id


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_with(chunk: bytes, after_image_data: bool = False) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    png = buf.getvalue()
    at = png.rfind(b"IEND") - 4 if after_image_data else 8 + 25  # before IEND, or right after IHDR
    return png[:at] + chunk + png[at:]


def _bomb(size: int = 64 << 20) -> bytes:
    """About size/1000 bytes that inflate to `size` (compressed a megabyte at a time: never held whole)."""
    z = zlib.compressobj(9)
    block = bytes(1 << 20)
    return b"".join(z.compress(block) for _ in range(size >> 20)) + z.flush()


BOMB = _bomb()
PNGS = {
    "zTXt bomb": lambda: _png_with(_chunk(b"zTXt", b"k\0\0" + BOMB)),
    "iTXt bomb": lambda: _png_with(_chunk(b"iTXt", b"k\0\1\0\0\0" + BOMB)),
    "zTXt bomb after the image data": lambda: _png_with(_chunk(b"zTXt", b"k\0\0" + BOMB), after_image_data=True),
    "3 MB tEXt": lambda: _png_with(_chunk(b"tEXt", b"k\0" + b"a" * (3 << 20))),
    "many small tEXt": lambda: _png_with(b"".join(_chunk(b"tEXt", b"k\0" + b"a" * 60_000) for _ in range(40))),
    "bad chunk checksum": lambda: _png_with(_chunk(b"zTXt", b"k\0\0" + BOMB)[:-4] + b"\0\0\0\0"),
}


@pytest.mark.parametrize("kind", PNGS)
def test_a_png_text_chunk_bomb_is_one_line(kind, tmp_path):
    (tmp_path / "p.png").write_bytes(PNGS[kind]())
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "s", "image": "p.png"}) + "\n")
    code = ("import json, re, sys\nfrom vlmgrade.cli import main\ncode = main(sys.argv[1:])\n"  # VmHWM: this
            "peak = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]) / 1024\n"  # process's
            "print(json.dumps({'code': code, 'peak_mb': peak}))")  # own peak (ru_maxrss keeps the parent's across exec)
    done = subprocess.run([sys.executable, "-c", code, "data", "export", str(tmp_path / "m.jsonl"), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, env=child_env(), timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    lines = done.stderr.strip().splitlines()
    assert result["code"] == 2 and len(lines) == 1 and "p.png" in lines[0], (result, lines)
    assert result["peak_mb"] < 200, result


def test_a_png_with_ordinary_metadata_still_reads(tmp_path):
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "a camera")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>" + "m" * 50_000 + "</x:xmpmeta>", zip=True)
    Image.new("RGB", (16, 16), (1, 2, 3)).save(tmp_path / "p.png", pnginfo=info)
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "s", "image": "p.png"}) + "\n")
    assert load_samples(str(tmp_path / "m.jsonl"))[0].image.getpixel((0, 0)) == (1, 2, 3)
