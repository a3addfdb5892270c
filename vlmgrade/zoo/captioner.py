"""Captioners: batched caption generation for zoo models, on CUDA when there is one, else CPU.

Every captioner returns what the model wrote *after* the sample's prefix; the prefix itself is excluded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from vlmgrade.core.devices import pick_device, pick_dtype
from vlmgrade.core.errors import UserError
from vlmgrade.core.types import Caption, GenerationParams, Sample

OnBatch = Callable[[list[Caption]], None]  # called with each batch's captions as soon as they exist


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")


class Captioner(Protocol):
    """What every MODEL_KINDS loader returns (NanoVLMCaptioner, HFCaptioner); `stats` counts the images,
    new tokens and seconds its `caption` calls spent."""

    name: str
    model: object
    device: str
    stats: dict

    def caption(self, samples: Sequence[Sample], params: GenerationParams | None = None, batch_size: int = 32,
                on_batch: OnBatch | None = None) -> list[Caption]: ...


def refuse_pickle(folder: Path, allow_pickle: bool) -> Path | None:
    """The pickle checkpoint to load when a folder has no safetensors; UserError unless the user opted in."""
    if any(folder.glob("*.safetensors")):
        return None
    pickles = sorted(p for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if not pickles:
        return None
    if not allow_pickle:
        raise UserError(f"{folder} holds only a pickle checkpoint ({pickles[0].name}); vlmgrade loads safetensors. "
                        "Convert it, or pass --allow-pickle to load it with torch.load(weights_only=True)")
    return pickles[0]


@dataclass
class NanoVLMCaptioner:
    name: str
    model: object
    tokenizer: object
    device: str

    stats: dict = field(default_factory=lambda: {"images": 0, "tokens": 0, "seconds": 0.0})

    @classmethod
    def load(cls, name: str, folder: Path, device: str = "auto", dtype: str = "auto",
             allow_pickle: bool = False) -> NanoVLMCaptioner:
        import pickle

        from safetensors import SafetensorError

        from vlmgrade.zoo.nanovlm import TOKENIZER_NAME, NanoVLM
        from vlmgrade.zoo.tokenizer import TextTokenizer

        device = pick_device(device)
        torch_dtype = pick_dtype(dtype, device)
        pickled = refuse_pickle(folder, allow_pickle)
        needed = ["config.json", TOKENIZER_NAME] + ([] if pickled else ["model.safetensors"])
        for item in needed:
            if not (folder / item).exists():
                raise UserError(f"model folder {folder} lacks {item}")
        try:
            model = NanoVLM.from_pretrained(folder, device=device, weights=pickled)
            tokenizer = TextTokenizer.load(folder / TOKENIZER_NAME)
        except (SafetensorError, ValueError, KeyError, RuntimeError, OSError, pickle.UnpicklingError) as e:
            raise UserError(f"cannot load model from {folder}: {str(e).splitlines()[0]}") from None
        return cls(name, model.to(torch_dtype), tokenizer, device)

    def caption(self, samples: Sequence[Sample], params: GenerationParams | None = None, batch_size: int = 32,
                on_batch: OnBatch | None = None) -> list[Caption]:
        from vlmgrade.zoo.nanovlm import PromptTooLong, image_to_tensor

        params = params or GenerationParams()
        size = self.model.config.image_size
        dtype = next(self.model.parameters()).dtype
        started = time.perf_counter()
        prompts = {s.id: self.tokenizer.prompt(s.prefix) for s in samples}
        # batches of similar prompt length waste little on padding
        ordered = sorted(samples, key=lambda s: len(prompts[s.id]))
        texts: dict[str, str] = {}
        for start in range(0, len(ordered), batch_size):
            batch = ordered[start:start + batch_size]
            img = image_to_tensor([s.image for s in batch], size).to(self.device, dtype)
            try:
                # one seed per batch keeps sampling reproducible for a given batch size
                new = self.model.generate(img, [prompts[s.id] for s in batch], self.tokenizer.eos_id,
                                          max_new_tokens=params.max_new_tokens, temperature=params.temperature,
                                          top_k=params.top_k, top_p=params.top_p,
                                          seed=params.seed + start)
            except PromptTooLong as e:
                which = next(s.id for s in batch if len(prompts[s.id]) == e.length)
                raise UserError(f"sample {which}: its prefix is {e.length} tokens, and {self.name} reads at most "
                                f"{e.context} (prefix included); shorten the prefix or use a model with a longer "
                                "context") from None
            record_batch(self, batch, [(self.tokenizer.decode(ids).strip(), len(ids)) for ids in new], params, texts,
                         on_batch)
        return finish(self, samples, texts, params, started)


def record_batch(captioner: Captioner, batch: Sequence[Sample], decoded: list[tuple[str, int]],
                 params: GenerationParams, texts: dict[str, str], on_batch: OnBatch | None) -> None:
    """Keep one batch's (text, new tokens) per sample, count its tokens, and hand its captions on."""
    made = []
    for s, (text, n_tokens) in zip(batch, decoded):
        texts[s.id] = text
        captioner.stats["tokens"] += n_tokens
        made.append(Caption(s.id, captioner.name, text, params))
    if on_batch:
        on_batch(made)


def finish(captioner: Captioner, samples: Sequence[Sample], texts: dict[str, str], params: GenerationParams,
           started: float) -> list[Caption]:
    """The captions in sample order, with the images and seconds added to the captioner's stats."""
    captioner.stats["images"] += len(samples)
    captioner.stats["seconds"] += time.perf_counter() - started
    return [Caption(s.id, captioner.name, texts[s.id], params) for s in samples]


def load_nanovlm(label: str, kind: str, where: Path | str, device: str = "auto", dtype: str = "auto",
                 allow_pickle: bool = False, download: bool = False) -> NanoVLMCaptioner:
    """The MODEL_KINDS loader of NanoVLM folders (never downloaded: they ship or are trained here)."""
    return NanoVLMCaptioner.load(label, Path(where), device, dtype, allow_pickle)
