"""`vlmgrade data build`: a child-vocabulary dataset from images and their captions, written by an LLM.

After the NanoVLM paper's ShortDesc and LongDesc: each image's captions (COCO-style JSON, or a
manifest's `references`) go to an OpenAI-compatible LLM with an editable Jinja prompt
(prompts/data-build.jinja). Every answer is checked (word and sentence counts, no filler opening,
plain ASCII words); one that fails is asked again with the reason, up to `max_attempts` times, and
what still fails is listed in `rejected.jsonl`, never written. Every request goes through the cache
first, keyed by its whole body (the conversation so far included), so a rerun after a kill sends only
what was never answered.

Output: `OUT/images/` (copies), and `OUT/{train,val,test}/manifest.jsonl`: a seeded held-out test
split of `test` images (with `prefix`, the text's first 6-7 or 18-20 words), then 90/10 train/val
by image. `vlmgrade train` reads the result unchanged.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vlmgrade.core.errors import UserError
from vlmgrade.core.files import jsonl_objects, open_regular, read_json, read_text, regular_file
from vlmgrade.core.progress import progress_bar
from vlmgrade.data.scenes.layout import LONG_WORDS, PREFIX_WORDS, SHORT_WORDS
from vlmgrade.judges import JudgeSpec, open_judge
from vlmgrade.judges.llm.openai import Reply
from vlmgrade.judges.llm.ratelimit import RateLimiter
from vlmgrade.pipeline.cache import Cache, key_of
from vlmgrade.pipeline.cost import Price, dollars, estimate_prompt_tokens, load_prices

if TYPE_CHECKING:
    from vlmgrade.judges.protocol import LLMJudge

STYLES = {"short": {"words": SHORT_WORDS, "sentences": (2, 3)}, "long": {"words": LONG_WORDS, "sentences": (5, 6)}}
FILLERS = ("oh", "wow", "look", "hey", "ooh", "yay", "well", "so", "whoa", "aha", "hi", "hello")
PROMPT = Path(__file__).parent / "prompts" / "data-build.jinja"
TABLE = "data_build"  # cache table of the builder's answers
PENDING = "pending_data_batches"  # meta-table key of the builder's submitted, uncollected Batch API jobs
ANSWER_TOKENS = {"short": 60, "long": 150}  # completion estimate for --dry-run and --max-cost
MAX_PROMPT_BYTES = 1 << 20  # a prompt template larger than this is no prompt (64 MB of text takes 20 s to compile)
MAX_IMAGE_BYTES = 256 << 20  # as datasets.read_image: larger is no picture


@dataclass(frozen=True)
class BuildOptions:
    captions: str  # COCO-style captions JSON, or a manifest (file or folder) whose references are the captions
    out: str
    llm: JudgeSpec
    images: str | None = None  # the image folder of a COCO-style JSON
    style: str = "short"
    test: int = 0  # held-out test images
    seed: int = 0
    max_attempts: int = 3
    temperature: float = 0.7
    prompt: str | None = None  # a Jinja file replacing the built-in prompt
    concurrency: int = 16
    rpm: int | None = None
    tpm: int | None = None
    dry_run: bool = False
    max_cost: float | None = None
    price_table: str | None = None
    batch: bool = False  # through the Batch API: one round of batches per ask
    batch_poll_s: float = 10.0
    cache: str | None = None
    progress: bool = True


@dataclass(frozen=True)
class Image:
    id: str
    path: Path
    captions: tuple[str, ...]


@dataclass
class BuildReport:
    images: int = 0
    written: dict[str, int] = field(default_factory=dict)  # split -> items
    rejected: int = 0
    requests_sent: int = 0
    from_cache: int = 0
    asked_again: int = 0  # answers that failed a check and were asked for again
    cost_usd: float = 0.0
    est_requests: int = 0
    est_usd: float | None = None


def check(text: str, style: str) -> str | None:
    """Why an answer is out of spec, or None when it may be written."""
    spec = STYLES[style]
    words = text.split()
    if not words:
        return "empty answer"
    if not text.isascii() or not re.fullmatch(r"[A-Za-z0-9 ,.'!?\-\n]+", text):
        return "not plain English letters and punctuation"
    first = re.sub(r"[^a-z]", "", words[0].lower())
    if first in FILLERS:
        return f"starts with the filler {first!r}"
    lo, hi = spec["words"]
    if not lo <= len(words) <= hi:
        return f"{len(words)} words, not {lo}-{hi}"
    sentences = len([s for s in re.split(r"[.!?]+", text) if s.strip()])
    lo, hi = spec["sentences"]
    if not lo <= sentences <= hi:
        return f"{sentences} sentences, not {lo}-{hi}"
    return None


def read_images(captions: str, images: str | None) -> list[Image]:
    """Images with their captions, from a COCO-style JSON (with its image folder) or a manifest."""
    path = Path(captions)
    if path.is_dir() or path.suffix == ".jsonl":
        out = _manifest_images(path / "manifest.jsonl" if path.is_dir() else path)
    else:
        out = _coco_images(path, images)
    missing = [im.path for im in out if not im.path.exists()]
    if missing:
        raise UserError(f"image not found: {missing[0]} ({len(missing)} missing)")
    for im in out:  # said now, before anything is paid for: a FIFO or /dev/zero would hang or fill the disk later
        regular_file(im.path, "image", MAX_IMAGE_BYTES)
    return out


def _manifest_images(manifest: Path) -> list[Image]:
    if not manifest.exists():
        raise UserError(f"no manifest at {manifest}")
    out = []
    for where, row in jsonl_objects(manifest, "manifest"):
        refs = row.get("references") or []
        if "id" not in row or "image" not in row or not refs:
            raise UserError(f"{where}: needs 'id', 'image' and the captions in 'references'")
        out.append(Image(str(row["id"]), manifest.parent / row["image"], tuple(map(str, refs))))
    return out


def _coco_images(path: Path, images: str | None) -> list[Image]:
    """The images of a COCO-style captions JSON that have a caption, in its order (not checked on disk)."""
    data = read_json(path, "captions JSON")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or \
            not isinstance(data.get("annotations"), list):
        raise UserError(f"{path}: a COCO-style captions JSON needs 'images' and 'annotations' lists")
    if not images:
        raise UserError("a COCO-style captions JSON needs --images DIR (the folder of its file_name entries)")
    by_image: dict[str, list[str]] = {}
    for a in data["annotations"]:
        if not isinstance(a, dict) or "image_id" not in a or not isinstance(a.get("caption"), str):
            raise UserError(f"{path}: every annotation needs 'image_id' and a 'caption' string")
        by_image.setdefault(str(a["image_id"]), []).append(a["caption"].strip())
    out = []
    for im in data["images"]:
        if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
            raise UserError(f"{path}: every image needs 'id' and 'file_name'")
        if by_image.get(str(im["id"])):
            out.append(Image(str(im["id"]), Path(images) / im["file_name"], tuple(by_image[str(im["id"])])))
    return out


def first_messages(image: Image, opts: BuildOptions) -> list[dict]:
    from jinja2 import TemplateError

    from vlmgrade.core.sandbox import counted_steps, sandbox_environment

    source = Path(opts.prompt) if opts.prompt else PROMPT
    try:
        template = sandbox_environment().from_string(read_text(source, "prompt", MAX_PROMPT_BYTES))
        with counted_steps():
            text = template.render(captions=list(image.captions), style=opts.style, fillers=list(FILLERS),
                                   **{k: list(v) for k, v in STYLES[opts.style].items()})
    except TemplateError as e:
        raise UserError(f"prompt {source}: template error: {e}") from None
    return [{"role": "user", "content": text.strip()}]


def body_of(messages: list[dict], opts: BuildOptions) -> dict:
    return {"model": opts.llm.model, "messages": messages, "temperature": opts.temperature}


def ask_again(messages: list[dict], answer: str, reason: str) -> list[dict]:
    return messages + [{"role": "assistant", "content": answer},
                       {"role": "user", "content": f"That answer cannot be used: {reason}. Write the description "
                                                   "again, following every rule. Answer with the description only."}]


def build(opts: BuildOptions) -> BuildReport:
    if opts.style not in STYLES:
        raise UserError(f"--style must be short or long, not {opts.style!r}")
    images = read_images(opts.captions, opts.images)
    if not images:
        raise UserError(f"{opts.captions} has no image with captions")
    if opts.test >= len(images):
        raise UserError(f"--test {opts.test} leaves nothing to train on ({len(images)} images)")
    report = BuildReport(images=len(images))
    cache = Cache(opts.cache)
    try:
        price = load_prices(opts.price_table).get(opts.llm.model)
        first = {im.id: body_of(first_messages(im, opts), opts) for im in images}
        keys = {i: _key(opts, b) for i, b in first.items()}
        new = [i for i in first if cache.get(TABLE, keys[i]) is None]
        report.est_requests = len(new)
        prompt_tokens = sum(estimate_prompt_tokens(first[i]["messages"]) for i in new)
        report.est_usd = dollars(prompt_tokens, ANSWER_TOKENS[opts.style] * len(new), price, batch=opts.batch)
        if opts.dry_run:
            return report
        if opts.max_cost is not None and new:
            if report.est_usd is None:
                raise UserError(f"--max-cost needs a price for {opts.llm.model}; add it to a --price-table YAML")
            if report.est_usd > opts.max_cost:
                raise UserError(f"estimated cost ${report.est_usd:.4f} for {len(new)} first requests exceeds "
                                f"--max-cost ${opts.max_cost:g}; nothing was sent (see --dry-run)")
        texts, rejected = asyncio.run(_write_all(images, opts, cache, report, price))
    finally:
        cache.close()
    _write(images, texts, rejected, opts, report)
    return report


def _key(opts: BuildOptions, body: dict) -> str:
    return key_of({"endpoint": opts.llm.endpoint, "body": body, "kind": TABLE})


async def _write_all(images: list[Image], opts: BuildOptions, cache: Cache, report: BuildReport,
                     price: Price | None) -> tuple[dict[str, str], dict[str, str]]:
    """In rounds: every unfinished image's conversation asks once per round (from the cache, directly, or
    through the Batch API), its answer is checked, and a failed one gets the reason and asks again."""
    llm = open_judge(opts.llm, opts.concurrency)
    conversations = {im.id: first_messages(im, opts) for im in images}
    texts: dict[str, str] = {}
    rejected: dict[str, str] = {}
    open_ids = [im.id for im in images]
    with progress_bar(f"write {opts.style} texts with {opts.llm.label}", len(images), opts.progress) as bar:
        try:
            for attempt in range(opts.max_attempts):
                answers = await _answers({i: body_of(conversations[i], opts) for i in open_ids}, opts, llm, cache,
                                         report, price)
                still = []
                for i in open_ids:
                    answer = answers[i]
                    if isinstance(answer, Failure):  # not cached: a rerun asks again
                        rejected[i] = answer.reason
                    elif (reason := check(answer.strip(), opts.style)) is None:
                        texts[i] = answer.strip()
                    elif attempt + 1 < opts.max_attempts:
                        report.asked_again += 1
                        conversations[i] = ask_again(conversations[i], answer.strip(), reason)
                        still.append(i)
                        continue
                    else:
                        rejected[i] = reason
                    bar.advance(1)
                open_ids = still
        finally:
            await llm.close()
    return texts, rejected


@dataclass(frozen=True)
class Failure:
    reason: str


Keep = Callable[[str, Reply, bool], None]  # keep(key, reply, batch): count and cache one answer


async def _answers(bodies: dict[str, dict], opts: BuildOptions, llm: LLMJudge, cache: Cache, report: BuildReport,
                   price: Price | None) -> dict[str, str | Failure]:
    """image id -> answer text (or the failure) for one round's requests; every answer is cached at once."""
    keys = {i: _key(opts, b) for i, b in bodies.items()}
    hits = cache.get_many(TABLE, list(set(keys.values())))
    out: dict[str, str | Failure] = {i: Reply.from_cache(hits[k]).text for i, k in keys.items() if k in hits}
    report.from_cache += len(out)
    todo = {keys[i]: bodies[i] for i in bodies if i not in out}

    def keep(key: str, reply: Reply, batch: bool = False) -> None:
        report.requests_sent += 1
        report.cost_usd += dollars(reply.usage.get("prompt_tokens") or 0, reply.usage.get("completion_tokens") or 0,
                                   price, batch=batch) or 0.0
        cache.put(TABLE, key, reply.to_cache())  # committed now: a kill after this loses nothing

    got: dict[str, Reply | Failure] = {}
    if todo and opts.batch:
        got = await _batch_answers(todo, opts, llm, cache, keep)
    elif todo:
        got = await _direct_answers(todo, opts, llm, report, keep)
    for i, k in keys.items():
        if i not in out:
            answer = got.get(k, Failure("no answer"))
            out[i] = answer if isinstance(answer, Failure) else answer.text
    return out


async def _batch_answers(todo: dict[str, dict], opts: BuildOptions, llm: LLMJudge, cache: Cache,
                         keep: Keep) -> dict[str, Reply | Failure]:
    """cache key -> reply (or the failure) through the Batch API; submitted batches are remembered in the
    cache's meta table, so a rerun collects them instead of paying twice."""
    from vlmgrade.judges.llm.batch import PendingBatches, run_batches

    pending = PendingBatches(load=lambda: (cache.get("meta", PENDING) or {}).get("batches", []),
                             save=lambda batches: cache.put("meta", PENDING, {"batches": batches}))

    def store(answers: dict[str, Reply]) -> None:
        for key, reply in answers.items():
            keep(key, reply, True)

    def submitted(batches: list[dict]) -> None:  # noted in the output folder before any wait, as a run does
        Path(opts.out).mkdir(parents=True, exist_ok=True)
        (Path(opts.out) / "batches.json").write_text(json.dumps(batches, indent=2) + "\n")

    answers, errors = await run_batches(llm.client, opts.llm.endpoint, todo, pending, submitted, store,
                                        opts.batch_poll_s)
    return {**answers, **{k: Failure(f"batch request failed: {e}") for k, e in errors.items()}}


async def _direct_answers(todo: dict[str, dict], opts: BuildOptions, llm: LLMJudge, report: BuildReport,
                          keep: Keep) -> dict[str, Reply | Failure]:
    """cache key -> reply (or the failure), `concurrency` requests at a time within the rate limits."""
    got: dict[str, Reply | Failure] = {}
    sem = asyncio.Semaphore(opts.concurrency)
    limiter = RateLimiter(opts.rpm, opts.tpm)

    async def fetch(key: str, body: dict) -> None:
        async with sem:
            await limiter.acquire(estimate_prompt_tokens(body["messages"]) + ANSWER_TOKENS[opts.style])
            try:
                reply = await llm.complete(body)
            except UserError:
                raise
            except Exception as e:  # noqa: BLE001 - this image is listed as failed, nothing is cached
                got[key] = Failure(f"request failed: {type(e).__name__}: {e}")
                return
        keep(key, reply, False)
        got[key] = reply
        if opts.max_cost is not None and report.cost_usd > opts.max_cost:
            raise UserError(f"stopped: cost reached ${report.cost_usd:.4f}, over --max-cost "
                            f"${opts.max_cost:g}; what was answered is cached, rerun with a higher limit to finish")

    await asyncio.gather(*(fetch(k, b) for k, b in todo.items()))
    return got


def _write(images: list[Image], texts: dict[str, str], rejected: dict[str, str], opts: BuildOptions,
           report: BuildReport) -> None:
    """Splits by image, decided before any answer is read, so a rerun puts every image where it was."""
    out = Path(opts.out)
    order = [im.id for im in images]
    random.Random(opts.seed).shuffle(order)
    n_val = max(1, round(0.1 * (len(order) - opts.test))) if len(order) - opts.test > 1 else 0
    split_of = {i: "test" for i in order[: opts.test]}
    split_of.update({i: "val" for i in order[opts.test: opts.test + n_val]})
    split_of.update({i: "train" for i in order[opts.test + n_val:]})
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
    for im in images:
        if im.id not in texts:
            continue
        name = f"{re.sub(r'[^A-Za-z0-9_.-]', '_', im.id)}{im.path.suffix or '.png'}"
        with open_regular(im.path, "image", MAX_IMAGE_BYTES) as src, (out / "images" / name).open("wb") as dst:
            shutil.copyfileobj(src, dst)  # through the checked opener: a file swapped for a FIFO since is refused
        split = split_of[im.id]
        text = texts[im.id]
        row = {"id": im.id, "image": f"../images/{name}", "references": [text], "captions": list(im.captions)}
        if split == "test":
            lo, hi = PREFIX_WORDS[opts.style]
            row["prefix"] = " ".join(text.split()[: lo + random.Random(f"{opts.seed}/{im.id}").randint(0, hi - lo)])
        rows[split].append(row)
    for split, items in rows.items():
        (out / split).mkdir(parents=True, exist_ok=True)
        (out / split / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
        report.written[split] = len(items)
    (out / "rejected.jsonl").write_text("".join(json.dumps({"id": i, "reason": r}) + "\n"
                                                for i, r in sorted(rejected.items())))
    report.rejected = len(rejected)
