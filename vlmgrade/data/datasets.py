"""Datasets: JSONL manifests (DESIGN.md) and the built-in scene datasets, both as `list[Sample]`.

A data name is either a built-in `NAME:SPLIT` (`scenes-short:test`) or a manifest path (a .jsonl file,
or a folder holding `manifest.jsonl`).
"""

from __future__ import annotations

import difflib
import json
import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from vlmgrade.core.errors import UserError
from vlmgrade.core.files import jsonl_objects, open_regular, read_bytes
from vlmgrade.core.fmt import describe_char, json_text, unprintable
from vlmgrade.core.types import Sample, SceneObject
from vlmgrade.data.scenes import layout as scenes

if TYPE_CHECKING:
    from PIL import Image

BUILTIN = {"scenes-short": "short", "scenes-long": "long"}
SCENE_IMAGE_SIZE = 128  # pixels of the built-in pictures; models resize to their own input size


def builtin_names() -> list[str]:
    return [f"{name}:{split}" for name in BUILTIN for split in scenes.SPLITS]


def describe(name: str) -> dict:
    """The data's name and version, recorded in run.json and scores.json: the scene generator's version
    for built-in data, the manifest's content hash otherwise (so edited data never ranks as the same)."""
    import hashlib

    base, _, split = name.partition(":")
    if base in BUILTIN:  # `scenes-short` is `scenes-short:test`, and is recorded so
        return {"name": f"{base}:{split or 'test'}", "version": f"scenes-v{scenes.VERSION}"}
    data = read_bytes(manifest_path(name), "manifest")
    return {"name": name, "version": "sha256:" + hashlib.sha256(data).hexdigest()[:16]}


def manifest_path(name: str) -> Path:
    """The manifest a data name that is not built in points at; UserError (one line, with the closest
    built-in name when it looks like a typo of one) when there is none."""
    path = Path(name)
    if path.is_dir():
        path = path / "manifest.jsonl"
    if not path.exists():
        close = difflib.get_close_matches(name, builtin_names(), n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]}?" if close else f" ({', '.join(builtin_names())})"
        raise UserError(f"unknown dataset {name!r}: not a manifest file or folder, nor a built-in{hint}")
    return path


def in_memory(samples: Iterable[Sample]) -> dict:
    """Name and version of samples handed over from Python: a hash of their ids, prefixes and references."""
    import hashlib

    digest = hashlib.sha256(json.dumps([[s.id, s.prefix, list(s.references)] for s in samples]).encode())
    return {"name": "in-memory", "version": "sha256:" + digest.hexdigest()[:16]}


def load_samples(name: str, limit: int | None = None) -> list[Sample]:
    """Resolve a data name to samples; raises UserError with one clear line on bad input."""
    return list(iter_samples(name, limit))


def iter_samples(name: str, limit: int | None = None) -> Iterator[Sample]:
    """Like load_samples, but built-in scenes are drawn one at a time (training reads 100k+ of them)."""
    if limit is not None and limit < 0:
        raise UserError("--limit must be zero or more")
    base, _, split = name.partition(":")
    if base in BUILTIN:
        return _builtin(base, split or "test", limit)
    return iter(load_manifest(manifest_path(name), limit))


def _builtin(base: str, split: str, limit: int | None) -> Iterator[Sample]:
    if split not in scenes.SPLITS:
        raise UserError(f"unknown split {split!r} of {base}; choose one of {', '.join(scenes.SPLITS)}")
    style = BUILTIN[base]
    n = scenes.SPLIT_SIZES[split] if limit is None else min(limit, scenes.SPLIT_SIZES[split])
    return (scene_sample(scenes.make_scene(split, i), style) for i in range(n))


def scene_sample(scene: scenes.Scene, style: str) -> Sample:
    text = scene.text(style)
    # The paper gives a beginning to complete only on test items; train and val items are whole texts.
    prefix = scenes.prefix_of(text, style, scene.id) if scene.id.startswith("test") else ""
    return Sample(id=scene.id, image=scenes.render(scene, SCENE_IMAGE_SIZE), prefix=prefix, references=(text,),
                  objects=scene.objects, meta={"setting": scene.setting, "data_version": scenes.VERSION})


def reference_texts(name: str, limit: int | None = None) -> list[str]:
    """The reference texts of a dataset without its pictures (built-in scenes are not drawn): what the
    memorisation check indexes."""
    base, _, split = name.partition(":")
    if base in BUILTIN:
        if split not in scenes.SPLITS:
            raise UserError(f"unknown split {split!r} of {base}; choose one of {', '.join(scenes.SPLITS)}")
        n = scenes.SPLIT_SIZES[split] if limit is None else min(limit, scenes.SPLIT_SIZES[split])
        return [scenes.make_scene(split, i).text(BUILTIN[base]) for i in range(n)]
    path = Path(name) / "manifest.jsonl" if Path(name).is_dir() else Path(name)
    if not path.exists():
        raise UserError(f"unknown dataset {name!r}: not a manifest file or folder, nor a built-in")
    texts = []
    for _, row in jsonl_objects(path, "manifest"):
        refs = row.get("references") or []
        texts += [r for r in refs if isinstance(r, str)]
        if limit is not None and len(texts) >= limit:
            return texts[:limit]
    return texts


MAX_NAME_CHARS = 100  # of a file name made from a sample id (file systems allow 255 bytes)


def safe_name(sample_id: str) -> str:
    """A file name from a sample id: path separators and dots at the start cannot climb out of a folder, and
    it is at most MAX_NAME_CHARS long; an id that had to change gets a hash of itself, so two ids that
    sanitise alike get two names (`export` also makes the names it writes unique, whatever case the file
    system folds)."""
    import re

    name = re.sub(r"[^A-Za-z0-9_.-]", "_", sample_id).lstrip(".") or "sample"
    if name != sample_id or len(name) > MAX_NAME_CHARS:
        name = f"{name[:MAX_NAME_CHARS - 17]}-{_digest(sample_id)[:16]}"
    return name


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _unique_names(ids: Iterable[str]) -> dict[str, str]:
    """{id: file name} with no two names equal, not even ignoring case (macOS and Windows fold it): a name taken
    already (by an id that sanitised to it, or that was it) gets the id's full hash instead."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for sid in ids:
        name = safe_name(sid)
        if name.casefold() in taken:
            name = f"{name[:MAX_NAME_CHARS - 66]}-{_digest(sid)}"  # the whole hash: ids differ, so do these
        taken.add(name.casefold())
        names[sid] = name
    return names


MAX_IMAGE_PIXELS = 40_000_000  # refused before decoding: a 140 KB PNG can claim 12000x12000 pixels
MAX_IMAGE_SIDE = 1024  # kept in memory at most this big: every model and judge reads 512 px or less


MAX_PNG_TEXT = 1 << 20  # bytes of text chunks (tEXt, zTXt, iTXt) a PNG may carry: PIL reads them whole
MAX_PNG_CHUNKS = 100_000  # a 256 MB PNG in 8 KB chunks has 32,768


def read_image(image_path: Path, where: str) -> Image.Image:
    """An RGB picture, refused (one line) when it is no regular file, not an image, or too many pixels
    to decode, or a PNG with more text in it than a picture needs; shrunk to MAX_IMAGE_SIDE so 10 large
    photos never hold gigabytes."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings(), open_regular(image_path, f"{where}: image", max_bytes=256 << 20) as f:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is checked below
            _check_png(f, image_path, where)
            with Image.open(f) as im:  # the checked file itself, not the path again (it may have been swapped)
                if im.size[0] * im.size[1] > MAX_IMAGE_PIXELS:
                    raise UserError(f"{where}: image {image_path} is {im.size[0]}x{im.size[1]} pixels; at most "
                                    f"{MAX_IMAGE_PIXELS:,} are decoded")
                im.draft("RGB", (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))  # JPEG: decode at a reduced scale
                image = im.convert("RGB")
    except Image.DecompressionBombError:
        raise UserError(f"{where}: image {image_path} has too many pixels to decode (at most "
                        f"{MAX_IMAGE_PIXELS:,})") from None
    except (UnidentifiedImageError, OSError, EOFError) as e:
        raise UserError(f"{where}: cannot read image {image_path}: {type(e).__name__}") from None
    except (ValueError, SyntaxError, struct.error, zlib.error) as e:  # PIL's words for a damaged or hostile file
        if "MAX_TEXT" in str(e):  # a zTXt or iTXt chunk inflating past PIL's limit, caught a megabyte in
            raise UserError(f"{where}: image {image_path} carries a compressed PNG text chunk that inflates to over "
                            f"{MAX_PNG_TEXT:,} bytes; refused (strip its metadata)") from None
        raise UserError(f"{where}: cannot read image {image_path}: {' '.join(str(e).split())[:200]}") from None
    if max(image.size) > MAX_IMAGE_SIDE:
        image.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
    return image


def _check_png(f: BinaryIO, image_path: Path, where: str) -> None:
    """Walk a PNG's chunk headers (seeking past the data, reading nothing else) and refuse one whose text chunks
    hold more than MAX_PNG_TEXT bytes: PIL reads a text chunk whole, and inflates a compressed one, before
    any size check of ours. Other files are left to PIL. The file is back at its start afterwards."""
    if f.read(8) != b"\x89PNG\r\n\x1a\n":
        f.seek(0)
        return
    text = 0
    for _ in range(MAX_PNG_CHUNKS):
        head = f.read(8)
        if len(head) < 8:
            break
        length, kind = struct.unpack(">I4s", head)
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            text += length
            if text > MAX_PNG_TEXT:
                raise UserError(f"{where}: image {image_path} carries over {MAX_PNG_TEXT:,} bytes of PNG text chunks "
                                f"({kind.decode()}); refused (strip its metadata)")
        if kind == b"IEND":
            break
        f.seek(length + 4, 1)  # the data and its CRC
    else:
        raise UserError(f"{where}: image {image_path} has over {MAX_PNG_CHUNKS:,} PNG chunks; refused")
    f.seek(0)


def load_manifest(path: Path, limit: int | None = None) -> list[Sample]:
    samples: list[Sample] = []
    seen: set[str] = set()
    for where, row in jsonl_objects(path, "manifest"):
        if limit is not None and len(samples) >= limit:
            break
        if "id" not in row or "image" not in row:
            raise UserError(f"{where}: each line needs at least 'id' and 'image'")
        sid = str(row["id"])
        bad = unprintable(sid)
        if bad is not None:  # an id is shown in every report and terminal line, and names a file on export
            raise UserError(f"{where}: sample id {sid[:80]!r} holds {describe_char(bad)}; an id must be printable "
                            "text on one line")
        if sid in seen:
            raise UserError(f"{where}: duplicate id {sid!r}")
        seen.add(sid)
        image = read_image(path.parent / str(row["image"]), where)
        refs = row.get("references") or []
        if isinstance(refs, str) or not all(isinstance(r, str) for r in refs):
            raise UserError(f"{where}: 'references' must be a list of strings")
        objects = tuple(_scene_object(o, where) for o in row.get("objects") or [])
        samples.append(Sample(id=sid, image=image, prefix=str(row.get("prefix") or ""), references=tuple(refs),
                              objects=objects, meta={k: v for k, v in row.items() if k not in _FIELDS}))
    return samples


_FIELDS = {"id", "image", "prefix", "references", "objects"}


def _scene_object(o: object, where: str) -> SceneObject:
    """One manifest object: `name` and `color`; optional `size` (small|big), `position` and `box`."""
    if not isinstance(o, dict) or not isinstance(o.get("name"), str) or not isinstance(o.get("color"), str):
        raise UserError(f"{where}: each of 'objects' needs 'name' and 'color' (optional 'size', 'position', 'box')")
    size = o.get("size") or ""
    if size not in ("", "small", "big"):
        raise UserError(f"{where}: object size must be 'small' or 'big', not {size!r}")
    box = o.get("box")
    if box is not None:
        ok = (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)
              and 0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1)
        if not ok:
            raise UserError(f"{where}: object box must be [x0, y0, x1, y1], fractions with x0 < x1 and y0 < y1")
        box = tuple(float(v) for v in box)
    return SceneObject(o["name"].lower(), o["color"].lower(), size, str(o.get("position") or ""), box)


def export(name: str, out: Path, limit: int | None = None) -> Path:
    """Write a dataset as `manifest.jsonl` plus `images/<id>.png` (a safe, unique name per id); returns the
    manifest path."""
    samples = load_samples(name, limit)
    names = _unique_names(s.id for s in samples)
    (out / "images").mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.jsonl"
    with manifest.open("w") as f:
        for s in samples:
            rel = f"images/{names[s.id]}.png"  # an id like ../../X never writes outside --out
            try:
                s.image.save(out / rel)
            except OSError as e:
                raise UserError(f"cannot write {out / rel}: {e.strerror or e}") from None
            row = {"id": s.id, "image": rel, "prefix": s.prefix, "references": list(s.references),
                   "objects": [o.to_dict() for o in s.objects], **s.meta}
            f.write(json_text(row) + "\n")
    return manifest
