"""Captioners: batched caption generation for zoo models, on CUDA when there is one, else CPU.

Every captioner returns what the model wrote *after* the sample's prefix; the prefix itself is excluded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vlmgrade.errors import UserError
from vlmgrade.types import Caption, GenerationParams, Sample

Progress = Callable[[int], None]  # called with the number of samples just finished


def pick_device(spec: str = "auto") -> str:
    import torch

    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {spec}: CUDA is not available on this machine")
    return spec


@dataclass
class NanoVLMCaptioner:
    name: str
    model: object
    tokenizer: object
    device: str

    @classmethod
    def load(cls, name: str, folder: Path, device: str = "auto") -> NanoVLMCaptioner:
        from safetensors import SafetensorError

        from vlmgrade.zoo.nanovlm import TOKENIZER_NAME, NanoVLM
        from vlmgrade.zoo.tokenizer import TextTokenizer

        device = pick_device(device)
        for needed in ("config.json", "model.safetensors", TOKENIZER_NAME):
            if not (folder / needed).exists():
                raise UserError(f"model folder {folder} lacks {needed}")
        try:
            model = NanoVLM.from_pretrained(folder, device=device)
            tokenizer = TextTokenizer.load(folder / TOKENIZER_NAME)
        except (SafetensorError, ValueError, KeyError, RuntimeError, OSError) as e:
            raise UserError(f"cannot load model from {folder}: {str(e).splitlines()[0]}") from None
        return cls(name, model, tokenizer, device)

    def caption(self, samples: Sequence[Sample], params: GenerationParams | None = None, batch_size: int = 32,
                progress: Progress | None = None) -> list[Caption]:
        params = params or GenerationParams()
        from vlmgrade.zoo.nanovlm import image_to_tensor

        size = self.model.config.image_size
        out: list[Caption] = []
        for start in range(0, len(samples), batch_size):
            batch = samples[start:start + batch_size]
            img = image_to_tensor([s.image for s in batch], size).to(self.device)
            prompts = [self.tokenizer.prompt(s.prefix) for s in batch]
            # one seed per batch position keeps sampling reproducible for a given batch size
            new = self.model.generate(img, prompts, self.tokenizer.eos_id, max_new_tokens=params.max_new_tokens,
                                      temperature=params.temperature, top_k=params.top_k, top_p=params.top_p,
                                      seed=params.seed + start)
            for s, ids in zip(batch, new):
                out.append(Caption(s.id, self.name, self.tokenizer.decode(ids).strip(), params))
            if progress:
                progress(len(batch))
        return out


def generate_captions(captioner, samples: Sequence[Sample], params: GenerationParams, batch_size: int,
                      show_progress: bool = True) -> list[Caption]:
    """Caption all samples with a progress bar (done/total, rate, ETA) on stderr."""
    from vlmgrade.progress import progress_bar

    with progress_bar(f"caption {captioner.name}", len(samples), show_progress) as bar:
        return captioner.caption(samples, params, batch_size, progress=bar.advance)
