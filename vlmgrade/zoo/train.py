"""`vlmgrade train CONFIG`: train a NanoVLM on a built-in dataset or a manifest.

The config is YAML (see zoo/nanovlm-mini-scenes/train.yaml). Training resumes from `<out>/checkpoint/`
when it exists, with the same data order, so an interrupted run loses at most `checkpoint_every` steps.
Under `torchrun` each process trains on its own shard of every epoch (DistributedDataParallel).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vlmgrade.core import distributed
from vlmgrade.core.errors import UserError
from vlmgrade.core.files import read_json, read_yaml
from vlmgrade.core.options import non_negative_number, nonnegative, positive, positive_number, seed
from vlmgrade.core.progress import Bar, start_bar, stderr_console

if TYPE_CHECKING:
    from types import ModuleType

    import torch

    from vlmgrade.core.types import Sample, SceneObject
    from vlmgrade.zoo.nanovlm import NanoVLM, NanoVLMConfig
    from vlmgrade.zoo.tokenizer import TextTokenizer


@dataclass
class TrainConfig:
    out: str
    train: str = "scenes-short:train"
    val: str = "scenes-short:val"
    model: dict = field(default_factory=lambda: {"preset": "mini"})
    train_size: int | None = None  # cap on training samples; None takes the whole split
    val_size: int | None = 500
    epochs: int = 1
    max_steps: int | None = None
    batch_size: int = 64
    lr: float = 1e-3  # the paper's learning rate
    weight_decay: float = 0.01
    warmup_steps: int = 200
    aux_weight: float = 0.0  # weight of the multi-label object loss on [CLS]; 0 disables it
    patch_aux_weight: float = 0.0  # weight of the per-patch kind and colour losses (needs boxes); 0 disables it
    tokenizer_vocab: int = 512
    checkpoint_every: int = 500
    # true: also keep each checkpoint's model as <out>/steps/step-NNNNNN (a ladder); a list of steps keeps
    # those steps only, each one a checkpoint whatever checkpoint_every says (a shipped ladder's rungs)
    keep_checkpoints: bool | list[int] = False
    # above 0: the saved model (each checkpoint's too) is an exponential moving average of the weights, each
    # step moving it 1 - decay of the way to the trained ones, the decay rising to ema_decay as (1 + step) /
    # (10 + step) (0.999, about the last 1,000 steps, from step 8,990); it smooths out a short training's noise
    ema_decay: float = 0.0
    save_dtype: str = "float32"
    seed: int = 0
    device: str = "auto"

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        raw = read_yaml(path, "training config")
        if not isinstance(raw, dict):
            raise UserError(f"training config {path} must be a YAML mapping")
        known = set(cls.__dataclass_fields__)
        unknown = set(raw) - known
        if unknown:
            raise UserError(f"training config {path}: unknown keys {', '.join(sorted(unknown))}")
        if "out" not in raw:
            raise UserError(f"training config {path}: 'out' (the output folder) is required")
        _check_values(raw, f"training config {path}")
        base = path.parent
        for key in ("out", "train", "val"):  # paths in a config are relative to the config file
            value = raw.get(key)
            if isinstance(value, str) and ":" not in value and not Path(value).is_absolute():
                raw[key] = str(base / value)
        return cls(**raw)


def _decay(value: object) -> float:
    number = non_negative_number(value)
    if number >= 1:
        raise ValueError(f"must be at least 0 and below 1 (0 turns the average off), got {value!r}")
    return number


# every number a config may hold, with the check a run would otherwise fail on minutes in (or never finish)
_VALUE_CHECKS = {"train_size": positive, "val_size": nonnegative, "epochs": positive, "max_steps": positive,
                 "batch_size": positive, "lr": positive_number, "weight_decay": non_negative_number,
                 "warmup_steps": nonnegative, "aux_weight": non_negative_number,
                 "patch_aux_weight": non_negative_number, "tokenizer_vocab": positive, "checkpoint_every": positive,
                 "seed": seed, "ema_decay": _decay}


_MAY_BE_NULL = {"train_size", "val_size", "max_steps"}  # null: the whole split, no cap on steps


def _check_values(raw: dict, where: str) -> None:
    """Each number checked and kept as the number it names: YAML reads `1e-3` (no dot) as text, which
    float() takes but `>` would not."""
    for key, check in _VALUE_CHECKS.items():
        if key not in raw:
            continue
        if raw[key] is None:
            if key in _MAY_BE_NULL:
                continue
            raise UserError(f"{where}: {key} must be a number, got null")
        try:  # every check refuses a bool: YAML's `true` is no number
            raw[key] = check(raw[key])
        except (TypeError, ValueError) as e:
            raise UserError(f"{where}: {key} {e}") from None
    keep = raw.get("keep_checkpoints")  # after max_steps is known to be a number or absent
    if keep is not None and not isinstance(keep, bool):
        if not isinstance(keep, list) or not keep:
            raise UserError(f"{where}: keep_checkpoints must be true, false or a non-empty list of steps, got {keep!r}")
        for step in keep:
            try:
                positive(step)
            except (TypeError, ValueError) as e:
                raise UserError(f"{where}: keep_checkpoints: each step {e}") from None
        if raw.get("max_steps") is not None:
            _check_kept_steps(keep, raw["max_steps"], where)


def _check_kept_steps(keep: list[int], last: int, where: str, what: str = "max_steps") -> None:
    """A kept step the run never reaches would be missing without a word: refused."""
    if max(keep) > last:
        raise UserError(f"{where}: keep_checkpoints asks for step {min(s for s in keep if s > last)}, past {what} "
                        f"({last})")


@dataclass
class TensorSet:
    """A training split held in memory: images (N,H,W,3) uint8, token ids (N,T), multi-hot aux targets
    (N,A), and per-patch kind and colour classes (N,P; -100 where unknown)."""

    images: np.ndarray
    tokens: np.ndarray
    aux: np.ndarray
    patch_kind: np.ndarray
    patch_color: np.ndarray


def aux_label_names(objects: list[tuple[SceneObject, ...]]) -> list[str]:
    kinds = sorted({o.name for objs in objects for o in objs})
    pairs = sorted({f"{o.name}:{o.color}" for objs in objects for o in objs})
    return [f"kind:{k}" for k in kinds] + [f"pair:{p}" for p in pairs]


def patch_targets(objs: Sequence[SceneObject], kinds: list[str], colors: list[str],
                  grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Per patch (row-major, grid x grid): the index of the kind and colour of the object drawn at the
    patch's centre (the nearest one, drawn last, where boxes overlap), len(kinds)/len(colors) for none;
    -100 (ignored) throughout when an object has no box or a label is unknown."""
    kind = np.full(grid * grid, len(kinds), dtype=np.int64)
    color = np.full(grid * grid, len(colors), dtype=np.int64)
    if any(o.box is None or o.name not in kinds or o.color not in colors for o in objs):
        return np.full_like(kind, -100), np.full_like(color, -100)
    centres = (np.arange(grid) + 0.5) / grid
    for o in sorted(objs, key=lambda o: o.box[3]):  # the drawing order: nearer objects (lower edge) last
        x0, y0, x1, y1 = o.box
        inside = ((centres[:, None] >= y0) & (centres[:, None] <= y1) & (centres[None, :] >= x0)
                  & (centres[None, :] <= x1)).reshape(-1)  # (grid*grid,), rows are y
        kind[inside], color[inside] = kinds.index(o.name), colors.index(o.color)
    return kind, color


def collect(samples: Iterable[Sample], image_size: int, total: int | None = None, label: str = "",
            progress: bool = False) -> tuple[np.ndarray, list[str], list[tuple[SceneObject, ...]]]:
    """One pass over (possibly generated) samples: stacked images at the model's size, texts, objects;
    with `progress`, a bar counts them (drawing 60,000 scenes takes minutes before the first step)."""
    from vlmgrade.zoo.nanovlm import image_array

    images, texts, objects = [], [], []
    bar = start_bar(f"draw {label}", total or 0, enabled=progress and bool(total))
    for s in samples:
        if not s.references:
            bar.stop()
            raise UserError(f"training sample {s.id!r} has no reference text")
        images.append(image_array(s.image, image_size))
        texts.append(s.references[0])
        objects.append(s.objects)
        bar.advance()
    bar.stop()
    if not images:
        raise UserError("the training data is empty")
    return np.stack(images), texts, objects


def to_tensor_set(images: np.ndarray, texts: list[str], objects: list[tuple[SceneObject, ...]], tok: TextTokenizer,
                  mcfg: NanoVLMConfig) -> TensorSet:
    index = {name: i for i, name in enumerate(mcfg.aux_labels)}
    tokens = np.full((len(texts), mcfg.max_text_len), tok.pad_id, dtype=np.int64)
    aux = np.zeros((len(texts), max(1, len(index))), dtype=np.float32)
    grid = mcfg.image_size // mcfg.patch_size
    patch_kind = np.full((len(texts), grid * grid), -100, dtype=np.int64)
    patch_color = np.full_like(patch_kind, -100)
    for i, (text, objs) in enumerate(zip(texts, objects)):
        ids = tok.target(text)[:mcfg.max_text_len]
        tokens[i, : len(ids)] = ids
        for o in objs:
            for key in (f"kind:{o.name}", f"pair:{o.name}:{o.color}"):
                if key in index:
                    aux[i, index[key]] = 1.0
        if mcfg.patch_kinds:
            patch_kind[i], patch_color[i] = patch_targets(objs, mcfg.patch_kinds, mcfg.patch_colors, grid)
    return TensorSet(images, tokens, aux, patch_kind, patch_color)


def _lr(step: int, total: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _batch(ts: TensorSet, idx: np.ndarray, device: torch.device,
           torch: ModuleType) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    from vlmgrade.zoo.nanovlm import pixels_to_input

    img = pixels_to_input(torch.from_numpy(ts.images[idx]).to(device))  # (B, 3, H, W)
    tokens = ts.tokens[idx]
    width = int((tokens != tokens[:, -1:]).any(0).nonzero()[0].max()) + 2 if tokens.size else 1
    tokens = torch.from_numpy(tokens[:, :width]).to(device)  # (B, T): trailing all-padding columns cut
    targets = {name: torch.from_numpy(getattr(ts, name)[idx]).to(device)
               for name in ("aux", "patch_kind", "patch_color")}  # (B, A), (B, P), (B, P)
    return img, tokens, targets


def _loss(model: torch.nn.Module, img: torch.Tensor, tokens: torch.Tensor, targets: dict[str, torch.Tensor],
          pad_id: int, cfg: TrainConfig) -> torch.Tensor:
    import torch.nn.functional as F

    logits, aux = model(img, tokens[:, :-1])  # (B, T-1, V)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1), ignore_index=pad_id)
    if "cls" in aux and cfg.aux_weight > 0:
        loss = loss + cfg.aux_weight * F.binary_cross_entropy_with_logits(aux["cls"], targets["aux"])
    for name in ("patch_kind", "patch_color"):
        if name in aux and cfg.patch_aux_weight > 0:
            # a mean over the known patches, 0 when a batch has none: no NaN, and no branch on the data,
            # so every DDP rank computes the same graph
            target = targets[name].reshape(-1)
            summed = F.cross_entropy(aux[name].flatten(0, 1), target, ignore_index=-100, reduction="sum")
            loss = loss + cfg.patch_aux_weight * summed / (target >= 0).sum().clamp(min=1)
    return loss


def evaluate_loss(model: NanoVLM, ts: TensorSet, pad_id: int, batch_size: int, device: torch.device) -> float:
    """Mean text cross-entropy per token on a split (no auxiliary term), in eval mode."""
    import torch
    import torch.nn.functional as F

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(ts.tokens), batch_size):
            img, tokens, _ = _batch(ts, np.arange(start, min(start + batch_size, len(ts.tokens))), device, torch)
            logits, _ = model(img, tokens[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1),
                                   ignore_index=pad_id, reduction="sum")
            total += loss.item()
            count += int((tokens[:, 1:] != pad_id).sum())
    model.train()
    return total / max(1, count)


def train(cfg: TrainConfig, progress: bool = True) -> dict:
    import torch

    torch.set_flush_denormal(True)  # denormals slowed CPU training by ~40% after a few minutes
    rank, world = distributed.world()
    device = torch.device(distributed.setup(cfg.device))
    out = Path(cfg.out)
    torch.manual_seed(cfg.seed)
    run = _start(cfg, rank, world, device, out / "checkpoint", progress)
    while run.step < run.total:
        _epoch(run)
    run.bar.stop()
    summary = _finish(run, out)
    distributed.teardown()
    return summary


@dataclass
class _Run:
    """One training run's moving parts, shared by its steps, epochs and checkpoints."""

    cfg: TrainConfig
    model: NanoVLM  # the bare model: checkpoints, validation, gradient clipping
    net: torch.nn.Module  # what a step calls: the model, or its DistributedDataParallel wrapper under torchrun
    opt: torch.optim.Optimizer
    tok: TextTokenizer
    train_set: TensorSet
    val_set: TensorSet
    device: torch.device
    ckpt: Path
    rank: int
    world: int
    per_epoch: int
    total: int
    bar: Bar
    step: int
    started: float
    history: list[dict]
    plain_log: bool
    last_log: float
    loss_avg: float | None = None
    curve: list[dict] = field(default_factory=list)  # the smoothed training loss at each checkpoint
    ema: NanoVLM | None = None  # the moving average of the weights, when the config asks for one

    @property
    def saved(self) -> NanoVLM:
        """The model a checkpoint publishes and validation measures: the average when there is one."""
        return self.ema if self.ema is not None else self.model

    @property
    def main(self) -> bool:
        return self.rank == 0


def _known_size(name: str, limit: int | None) -> int | None:
    """How many samples a data name yields, when known without reading it (a built-in split), for the bar."""
    from vlmgrade.data.scenes.layout import SPLIT_SIZES

    base, _, split = name.partition(":")
    size = SPLIT_SIZES.get(split) if base.startswith("scenes-") else None
    return min(size, limit) if size and limit else size or limit


def _prepare_data(cfg: TrainConfig, ckpt: Path, progress: bool = False) -> tuple[TensorSet, TensorSet, TextTokenizer,
                                                                                 NanoVLMConfig]:
    """Both splits in memory, the tokenizer (the checkpoint's when resuming, else trained on the training
    texts) and the model's config, with the auxiliary heads the config's loss weights ask for."""
    from vlmgrade.data.datasets import iter_samples
    from vlmgrade.zoo.nanovlm import NanoVLMConfig, preset
    from vlmgrade.zoo.tokenizer import TextTokenizer

    model_spec = dict(cfg.model)
    name = model_spec.pop("preset", None)
    try:
        size = (preset(name, **model_spec) if name else NanoVLMConfig(**model_spec)).image_size
    except (TypeError, ValueError) as e:
        raise UserError(f"bad model config: {e}") from None
    train_images, train_texts, train_objects = collect(iter_samples(cfg.train, cfg.train_size), size,
                                                       _known_size(cfg.train, cfg.train_size), cfg.train, progress)
    val_images, val_texts, val_objects = collect(iter_samples(cfg.val, cfg.val_size), size,
                                                 _known_size(cfg.val, cfg.val_size), cfg.val, progress)
    if (ckpt / "tokenizer.json").exists():
        tok = TextTokenizer.load(ckpt / "tokenizer.json")
    else:
        tok = TextTokenizer.train(train_texts, cfg.tokenizer_vocab)
    heads = {"aux_labels": aux_label_names(train_objects) if cfg.aux_weight > 0 else []}
    if cfg.patch_aux_weight > 0:
        heads["patch_kinds"] = sorted({o.name for objs in train_objects for o in objs})
        heads["patch_colors"] = sorted({o.color for objs in train_objects for o in objs})
    mcfg = preset(name, **model_spec, vocab_size=tok.vocab_size, **heads) if name else \
        NanoVLMConfig(**model_spec, vocab_size=tok.vocab_size, **heads)
    train_set = to_tensor_set(train_images, train_texts, train_objects, tok, mcfg)
    val_set = to_tensor_set(val_images, val_texts, val_objects, tok, mcfg)
    return train_set, val_set, tok, mcfg


def _start(cfg: TrainConfig, rank: int, world: int, device: torch.device, ckpt: Path, progress: bool) -> _Run:
    """Data, model and optimizer, resumed from the checkpoint when there is one, and the progress bar."""
    import torch

    from vlmgrade.zoo.nanovlm import NanoVLM

    train_set, val_set, tok, mcfg = _prepare_data(cfg, ckpt, progress and rank == 0)
    model = NanoVLM(mcfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
    ema = _average_of(model) if cfg.ema_decay > 0 else None
    resumed = _Resumed(0, 0.0, [], [], None)
    if (ckpt / "state.json").exists():
        resumed = _load_checkpoint(ckpt, model, opt, device, ema, cfg.ema_decay)
    step = resumed.step
    net: torch.nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    per_epoch = max(1, len(train_set.tokens) // (cfg.batch_size * world))
    total = min(cfg.max_steps or per_epoch * cfg.epochs, per_epoch * cfg.epochs)
    if isinstance(cfg.keep_checkpoints, list):  # epochs x data may end the run before max_steps would
        _check_kept_steps(cfg.keep_checkpoints, total, "training config", "the run's last step (epochs x data)")
    main = rank == 0
    bar = start_bar("train", total, enabled=progress and main, done=step, fields=("loss",))
    run = _Run(cfg, model, net, opt, tok, train_set, val_set, device, ckpt, rank, world, per_epoch, total, bar,
               step, started=time.time() - resumed.elapsed, history=resumed.history,
               # without a terminal (logs, CI, nohup) a live bar shows nothing, so print a plain line each minute
               plain_log=main and progress and not bar.live, last_log=time.time(), curve=resumed.curve, ema=ema,
               loss_avg=resumed.loss_avg)
    net.train()
    return run


def _epoch(run: _Run) -> None:
    """The rest of the current epoch (all of it unless resuming mid-epoch), each rank on its own shard of
    the epoch's order; then, at the epoch's end or the run's, the validation loss and a checkpoint."""
    import torch

    cfg = run.cfg
    epoch, within = divmod(run.step, run.per_epoch)
    n = len(run.train_set.tokens)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch)).numpy()
    shard = perm[run.rank::run.world]
    for b in range(within, run.per_epoch):
        if run.step >= run.total:
            break
        _step(run, shard[b * cfg.batch_size:(b + 1) * cfg.batch_size])
        if run.plain_log and time.time() - run.last_log > 60:
            _log_plain(run)
        if run.main and (run.step % cfg.checkpoint_every == 0 or _kept(cfg, run.step)):
            _checkpoint(run)
    if run.step % run.per_epoch == 0 or run.step >= run.total:
        _validate(run)


def _step(run: _Run, idx: np.ndarray) -> None:
    """One optimizer step on the samples `idx`, with the scheduled learning rate; updates the smoothed loss."""
    import torch

    for g in run.opt.param_groups:
        g["lr"] = _lr(run.step, run.total, run.cfg)
    img, tokens, targets = _batch(run.train_set, idx, run.device, torch)
    loss = _loss(run.net, img, tokens, targets, run.tok.pad_id, run.cfg)
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
    run.opt.step()
    run.step += 1
    if run.ema is not None:
        _update_average(run.ema, run.model, _decay_at(run.step, run.cfg.ema_decay))
    run.loss_avg = loss.item() if run.loss_avg is None else 0.98 * run.loss_avg + 0.02 * loss.item()
    run.bar.set(run.step, loss=f"{run.loss_avg:.3f}")


def _average_of(model: NanoVLM) -> NanoVLM:
    """A copy of `model` to hold the moving average of its weights (tied weights stay tied)."""
    import copy

    average = copy.deepcopy(model).eval()
    for p in average.parameters():
        p.requires_grad_(False)
    return average


def _update_average(average: NanoVLM, model: NanoVLM, decay: float) -> None:
    """Move the average 1 - decay of the way to the model's weights."""
    import torch

    with torch.no_grad():
        torch._foreach_lerp_(list(average.parameters()), list(model.parameters()), 1.0 - decay)


def _log_plain(run: _Run) -> None:
    """The plain progress line printed each minute when no live bar is drawn."""
    cfg, world, step, total = run.cfg, run.world, run.step, run.total
    run.last_log = time.time()
    rate = (step * cfg.batch_size * world) / max(1e-9, run.last_log - run.started)
    run.bar.print(f"step {step}/{total}  loss {run.loss_avg:.4f}  {rate:.0f} img/s  "
                  f"ETA {(total - step) * cfg.batch_size * world / max(rate, 1e-9) / 60:.1f} min")


def _validate(run: _Run) -> None:
    """The validation loss, added to the history; the main process reports it and saves a checkpoint."""
    val = evaluate_loss(run.saved, run.val_set, run.tok.pad_id, 128, run.device)
    epoch = run.step / run.per_epoch
    run.history.append({"epoch": epoch, "step": run.step, "train_loss": run.loss_avg, "val_loss": val})
    if run.main:
        run.bar.print(f"epoch {epoch:.2f}  step {run.step}  train loss {run.loss_avg:.4f}  val loss {val:.4f}")
        _checkpoint(run)


def _checkpoint(run: _Run) -> None:
    if not run.curve or run.curve[-1]["step"] != run.step:  # an epoch's end may also be a checkpoint step
        run.curve.append({"step": run.step, "train_loss": run.loss_avg})
    _save_checkpoint(run)
    # the output folder is an evaluable model at every checkpoint, so a stopped training can be graded
    out = run.ckpt.parent
    _save_model(run, out, complete=False)
    if run.cfg.keep_checkpoints is True or _kept(run.cfg, run.step):
        _save_model(run, out / "steps" / f"step-{run.step:06d}", complete=False)


def _kept(cfg: TrainConfig, step: int) -> bool:
    """Whether `step` is one of the steps a list in keep_checkpoints names."""
    return isinstance(cfg.keep_checkpoints, list) and step in cfg.keep_checkpoints


def _summary(run: _Run, complete: bool) -> dict:
    cfg, history = run.cfg, run.history
    return {"steps": run.step, "planned_steps": run.total, "complete": complete,
            "images_seen": run.step * cfg.batch_size * run.world, "train_seconds": round(time.time() - run.started),
            "final_val_loss": history[-1]["val_loss"] if history else None, "history": history,
            "train_curve": run.curve,
            "params": run.model.num_params(), "train_data": cfg.train, "train_size": len(run.train_set.tokens),
            "seed": cfg.seed,
            "weights": _weights(run)}


def _weights(run: _Run) -> str:
    """Which weights a saved model holds, and for an average the decay its last step used (the decay rises
    to the config's as (1 + step) / (10 + step): 0.999 is reached only after 8,990 steps)."""
    if run.ema is None:
        return "last step"
    last = _decay_at(run.step, run.cfg.ema_decay)
    return f"moving average, ema_decay {run.cfg.ema_decay} (at its last step {last:.4g}, about the last " \
           f"{1 / (1 - last):.0f} steps)"


def _decay_at(step: int, decay: float) -> float:
    """The decay the average moves with after `step` steps: low at first, so the random start fades fast."""
    return min(decay, (1 + step) / (10 + step))


def _save_model(run: _Run, folder: Path, complete: bool) -> dict:
    """The model as `vlmgrade run --model` loads it (config, weights, tokenizer) and its training.json,
    written beside and renamed into place, so a kill mid-write leaves the previous model whole."""
    import torch

    summary = _summary(run, complete)
    dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(run.cfg.save_dtype)
    staging = folder / ".saving"
    run.saved.save_pretrained(staging, run.tok, dtype=dtype)
    (staging / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    for name in ("model.safetensors", "tokenizer.json", "config.json", "training.json"):
        os.replace(staging / name, folder / name)
    staging.rmdir()
    if folder == run.ckpt.parent:
        _loss_curve(summary, folder / "loss.png")
    return summary


def _loss_curve(summary: dict, path: Path) -> None:
    """The smoothed training loss at each checkpoint and the validation loss at each epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    train = [p for p in summary["train_curve"] if p["train_loss"] is not None]
    ax.plot([p["step"] for p in train], [p["train_loss"] for p in train],
            label="train (smoothed, text + auxiliary losses)")
    ax.plot([h["step"] for h in summary["history"]], [h["val_loss"] for h in summary["history"]], "o-",
            label="validation (text only" + (", of the moving average)" if summary["weights"] != "last step" else ")"))
    ax.set_xlabel("step")
    ax.set_ylabel("loss per token")
    ax.set_title(f"{summary['steps']} of {summary['planned_steps']} steps")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path.with_suffix(".tmp.png"))
    plt.close(fig)
    os.replace(path.with_suffix(".tmp.png"), path)


def _finish(run: _Run, out: Path) -> dict:
    """The run's summary; the main process saves the model and the summary (training.json) in `out`."""
    if run.main:
        return _save_model(run, out, complete=True)
    return _summary(run, complete=True)


def _save_checkpoint(run: _Run) -> None:
    """The run's state in <out>/checkpoint/: the weights, the optimizer and the average under names that carry
    the step, then state.json, which names them. Writing state.json (by rename) is the one moment the checkpoint
    moves on: a kill at any other point leaves the previous state.json naming the previous step's files whole."""
    import torch
    from safetensors.torch import save_file

    ckpt, step = run.ckpt, run.step
    ckpt.mkdir(parents=True, exist_ok=True)
    files = {"model": f"model-{step:06d}.safetensors", "optimizer": f"optimizer-{step:06d}.pt"}
    if run.ema is not None:  # full precision, like the model: the average resumes exactly
        files["average"] = f"average-{step:06d}.safetensors"
    writers = {"model": lambda path: save_file(run.model.saved_state(), str(path)),
               "optimizer": lambda path: torch.save(run.opt.state_dict(), path),
               "average": lambda path: save_file(run.ema.saved_state(), str(path))}
    for part, name in files.items():  # beside, then renamed: the same step saved twice never leaves half a file
        writers[part](ckpt / f"{name}.tmp")
        os.replace(ckpt / f"{name}.tmp", ckpt / name)
    run.tok.save(str(ckpt / "tokenizer.json"))  # the same all run long
    state = {"step": step, "elapsed": time.time() - run.started, "history": run.history, "curve": run.curve,
             "loss_avg": run.loss_avg, "files": files, "ema_decay": run.cfg.ema_decay if run.ema is not None else None}
    (ckpt / "state.tmp").write_text(json.dumps(state))
    os.replace(ckpt / "state.tmp", ckpt / "state.json")
    for old in ckpt.iterdir():  # earlier steps' files (and an earlier average, should this run have none)
        if old.suffix in (".safetensors", ".pt") and old.name not in files.values():
            old.unlink()


@dataclass(frozen=True)
class _Resumed:
    step: int
    elapsed: float
    history: list[dict]
    curve: list[dict]
    loss_avg: float | None


def _load_checkpoint(ckpt: Path, model: NanoVLM, opt: torch.optim.Optimizer, device: torch.device,
                     ema: NanoVLM | None, decay: float) -> _Resumed:
    """The state state.json names. An average is taken only if it was made with the decay asked for now: one
    from before a stretch trained without it would be stale, one made with another decay would be mislabelled."""
    import torch
    from safetensors.torch import load_file

    meta = read_json(ckpt / "state.json", "checkpoint state")
    if "files" in meta:
        files, made_with = meta["files"], meta.get("ema_decay")
    else:  # written before state.json named its files: fixed names, and an average there taken as asked for
        files, made_with = {"model": "model.safetensors", "optimizer": "optimizer.pt"}, None
        if (ckpt / "average.safetensors").exists():
            files["average"], made_with = "average.safetensors", decay
    model.load_saved_state(load_file(str(ckpt / files["model"]), device=str(device)))
    if ema is not None:
        if made_with is None:
            raise UserError(f"{ckpt} holds no current moving average (its last stretch trained with ema_decay 0): "
                            "resume with ema_decay: 0, or delete the checkpoint to start again")
        if made_with != decay:
            raise UserError(f"{ckpt}'s moving average was made with ema_decay {made_with}, not {decay}: resume with "
                            f"ema_decay: {made_with}, or delete the checkpoint to start again")
        ema.load_saved_state(load_file(str(ckpt / files["average"]), device=str(device)))
    opt.load_state_dict(torch.load(ckpt / files["optimizer"], map_location=device, weights_only=True))
    stderr_console().print(f"resuming from step {meta['step']} ({ckpt})")
    return _Resumed(meta["step"], meta["elapsed"], meta["history"], meta.get("curve", []), meta.get("loss_avg"))
