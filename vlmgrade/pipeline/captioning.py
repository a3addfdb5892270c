"""The captioning stage, shared by `vlmgrade caption` and `vlmgrade run`: captions from the cache, the
rest generated in batches (each torchrun rank its share) and cached batch by batch, so a killed run
resumes without generating twice."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from vlmgrade.core import distributed
from vlmgrade.core.options import EngineOptions
from vlmgrade.core.progress import progress_bar
from vlmgrade.core.types import Caption, GenerationParams, Sample
from vlmgrade.pipeline.cache import Cache, CacheWriter, file_digest, image_digest, key_of

if TYPE_CHECKING:
    from vlmgrade.zoo.captioner import Captioner

# Part of every caption key. Bumped to 2 when batched NanoVLM generation stopped sharing one token
# budget across a batch: captions cached before could be cut short and must not be served.
CAPTION_KEY_VERSION = 2


def model_identity(name: str) -> str:
    """A hash of the weights when they are local files, else the hub id: part of each caption's key."""
    from vlmgrade.zoo import resolve, split_label

    _, where = resolve(split_label(name)[1])
    if isinstance(where, Path):
        weights = sorted(where.glob("*.safetensors"))
        if weights:
            return ":".join(file_digest(w)[:32] for w in weights)
    return str(where)


def caption_keys(model: str, samples: list[Sample], params: GenerationParams) -> dict[str, str]:
    identity = model_identity(model)
    return {s.id: key_of({"version": CAPTION_KEY_VERSION, "model": identity, "params": asdict(params),
                          "image": image_digest(s.image), "prefix": s.prefix}) for s in samples}


def caption_stage(model: str, samples: list[Sample], params: GenerationParams, engine: EngineOptions, device: str,
                  cache: Cache, progress: bool = True, title: str | None = None) -> tuple[list[Caption], dict]:
    """Captions of every sample (in sample order) on every rank, and what generation cost: the device
    actually used, images/s, tokens/s, peak memory."""
    from vlmgrade.zoo import load_captioner, split_label

    label = split_label(model)[0]  # checked at the door (runner.prepare, `vlmgrade caption`)
    keys = caption_keys(model, samples, params)
    # a damaged cache row (no text) is a miss, left out by the cache itself: generated again
    found = {k: v["text"] for k, v in cache.get_many("captions", list(keys.values())).items()}
    distributed.barrier()  # every rank has read the same cache before any rank writes to it
    missing = [s for s in samples if keys[s.id] not in found]
    mine = distributed.shard(missing)
    stats: dict = {"cached": len(samples) - len(missing), "generated": len(missing)}
    if mine:
        captioner = load_captioner(model, device, engine.dtype, engine.allow_pickle, engine.download)
        # Written as judgments are: on a thread of its own, waiting out a lock another process holds (LOCK_WAIT_S)
        # while generation goes on, so a locked cache neither stops the run nor loses what was captioned.
        writer = CacheWriter(cache, owner=f"captions-{model}", lease_s=0.0, table="captions")
        with progress_bar(title or f"caption {model}", len(mine), progress and distributed.is_main()) as bar:
            def store(made: list[Caption]) -> None:
                found.update({keys[c.sample_id]: c.text for c in made})  # the run's, whatever the cache does
                for c in made:
                    writer.store(keys[c.sample_id], {"text": c.text})
                bar.advance(len(made))

            try:
                captioner.caption(mine, params, engine.batch_size, on_batch=store)
            finally:
                _close_writer(writer, bar)
        stats.update(_throughput(captioner))
        if writer.unsaved:
            stats["unsaved_in_cache"] = writer.unsaved
    if distributed.world()[1] > 1:
        found.update(dict(distributed.gather(list(found.items()))))
        stats["ranks"] = distributed.world()[1]
    return [Caption(s.id, label, found[keys[s.id]], params) for s in samples], stats


def _close_writer(writer: CacheWriter, bar) -> None:  # noqa: ANN001 - a progress bar
    """Wait for the captions queued to be written (or given up), saying so when a lock makes that slow."""
    import threading

    done = threading.Event()
    closing = threading.Thread(target=lambda: (writer.close(), done.set()), daemon=True)
    closing.start()
    shown = 0.0
    while not done.wait(1.0):
        waited = writer.waited()
        if waited >= 2 and (not shown or waited - shown >= 10):  # said once, then every 10 s
            shown = waited
            bar.print(f"waiting {waited:.0f} s for the cache {writer.cache.path}: another process holds its lock")
    if writer.unsaved:
        bar.print(f"vlmgrade: warning: {writer.unsaved} caption writes to {writer.cache.path} failed "
                  f"({writer.reason}); the captions are in this run, and a rerun would generate them again")


def _throughput(captioner: Captioner) -> dict:
    import resource

    import torch

    st = captioner.stats
    seconds = max(st["seconds"], 1e-9)
    if str(captioner.device).startswith("cuda"):
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:  # the process's peak resident memory (Linux reports KiB)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"device": str(captioner.device),
            "dtype": str(next(captioner.model.parameters()).dtype).replace("torch.", ""),
            "images_per_s": round(st["images"] / seconds, 2), "tokens_per_s": round(st["tokens"] / seconds, 1),
            "tokens": st["tokens"], "seconds": round(st["seconds"], 3), "peak_memory_mb": round(peak_mb, 1)}


MAX_LABEL_CHARS = 300  # a model's label is a name in every table and report, not a text
MAX_CAPTION_ROWS = 200_000  # rows per --captions file: judged by `grounded`, 1.2 GB and 10 min (2 CPUs)


def check_label(label: str, where: str) -> str:
    """A model's label as every table, report and terminal line will show it: printable text of a sane length.
    A newline, a tab, an escape sequence, a bidi override or a lone surrogate is refused in one line."""
    from vlmgrade.core.errors import UserError
    from vlmgrade.core.fmt import describe_char, printable, unprintable

    bad = unprintable(label)
    if bad is not None:
        raise UserError(f"{where}: the model label {printable(label)[:80]!r} holds {describe_char(bad)}; a label must "
                        "be printable text on one line")
    if not label.strip() or len(label) > MAX_LABEL_CHARS:
        raise UserError(f"{where}: a model label must be 1 to {MAX_LABEL_CHARS} characters, not {len(label)}")
    return label


def read_captions(path: Path, samples: list[Sample], max_rows: int | None = None) -> list[Caption]:
    """Captions written elsewhere (captions.jsonl: `id`, `model`, `text`), for the samples of the run's data.
    Read a line at a time, at most `max_rows` (default MAX_CAPTION_ROWS) of them: a larger file is refused in
    one line before it is held (a million rows took 4.8 GB before one was judged)."""
    from vlmgrade.core.errors import UserError
    from vlmgrade.core.files import jsonl_objects

    max_rows = MAX_CAPTION_ROWS if max_rows is None else max_rows
    known = {s.id for s in samples}
    captions, seen = [], set()
    labels: set[str] = set()
    for where, row in jsonl_objects(path, "captions"):
        if len(captions) >= max_rows:
            raise UserError(f"{where}: more than {max_rows:,} captions; a run judges at most {max_rows:,} (split the "
                            "file by model and run each part, or pass --limit with fewer samples)")
        if not all(isinstance(row.get(k), str) for k in ("id", "model", "text")):
            raise UserError(f"{where}: each line needs 'id', 'model' and 'text' (strings)")
        if row["id"] not in known:
            raise UserError(f"{where}: sample id {row['id']!r} is not in the run's data (check --data and --limit)")
        if row["model"] not in labels:
            labels.add(check_label(row["model"], where))
        if (row["id"], row["model"]) in seen:
            raise UserError(f"{where}: a second caption of {row['id']!r} by {row['model']!r}")
        seen.add((row["id"], row["model"]))
        captions.append(Caption(row["id"], row["model"], row["text"]))
    if not captions:
        raise UserError(f"captions file {path} is empty")
    return captions
