"""GIT and BLIP baselines through `transformers`, with the same captioning contract as NanoVLM.

The prefix is given to the model as the start of its text (GIT: after [CLS]; BLIP: after its BOS),
and only the tokens the model adds are returned. Samples are batched by prompt length, so no padding
enters a prompt. Weights load from a local folder or the local Hugging Face cache; vlmgrade never
downloads at run time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vlmgrade.devices import pick_device, pick_dtype
from vlmgrade.errors import UserError
from vlmgrade.types import Caption, GenerationParams, Sample
from vlmgrade.zoo.captioner import OnBatch, finish, record_batch, refuse_pickle


@dataclass
class HFCaptioner:
    name: str
    kind: str  # "git" or "blip"
    model: object
    processor: object
    device: str

    stats: dict = field(default_factory=lambda: {"images": 0, "tokens": 0, "seconds": 0.0})

    @classmethod
    def load(cls, name: str, kind: str, where: Path | str, device: str = "auto", dtype: str = "auto",
             allow_pickle: bool = False, download: bool = False) -> HFCaptioner:
        from transformers import AutoProcessor, BlipForConditionalGeneration, GitForCausalLM

        device = pick_device(device)
        torch_dtype = pick_dtype(dtype, device)
        model_cls = GitForCausalLM if kind == "git" else BlipForConditionalGeneration
        # safetensors only, unless the user opted into a pickle checkpoint (transformers then reads it
        # with torch.load(weights_only=True))
        pickled = refuse_pickle(Path(where), allow_pickle) if Path(str(where)).is_dir() else None
        try:
            processor = AutoProcessor.from_pretrained(str(where), local_files_only=not download)
            model = model_cls.from_pretrained(str(where), local_files_only=not download,
                                              use_safetensors=pickled is None, dtype=torch_dtype)
        except (OSError, ValueError) as e:
            from vlmgrade.zoo import download_hint

            hint = (f"not in the local Hugging Face cache: {download_hint(str(where))}"
                    if not Path(str(where)).exists() else str(e).splitlines()[0])
            raise UserError(f"cannot load {kind} model {where}: {hint}") from None
        return cls(name, kind, model.to(device).eval(), processor, device)

    def _context(self) -> int | None:
        """Text positions the model has (GIT: its own; BLIP: its text decoder's)."""
        config = getattr(self.model.config, "text_config", None) or self.model.config
        return getattr(config, "max_position_embeddings", None)

    def _prompt(self, prefix: str) -> list[int]:
        tok = self.processor.tokenizer
        ids = tok(prefix, add_special_tokens=False).input_ids if prefix else []
        if self.kind == "git":
            return [tok.cls_token_id, *ids]
        # BLIP replaces the first token by its BOS and drops a trailing [SEP] itself; give it both
        return [tok.cls_token_id, *ids, tok.sep_token_id]

    def caption(self, samples: Sequence[Sample], params: GenerationParams | None = None, batch_size: int = 16,
                on_batch: OnBatch | None = None) -> list[Caption]:
        import torch

        params = params or GenerationParams()
        started = time.perf_counter()
        dtype = next(self.model.parameters()).dtype
        texts: dict[str, str] = {}
        prompts = {s.id: self._prompt(s.prefix) for s in samples}
        context = self._context()
        for s in samples:
            if context and len(prompts[s.id]) >= context:
                raise UserError(f"sample {s.id}: its prefix is {len(prompts[s.id])} tokens, and {self.name} reads at "
                                f"most {context} (prefix included); shorten the prefix")
        by_length: dict[int, list[Sample]] = {}
        for s in samples:
            by_length.setdefault(len(prompts[s.id]), []).append(s)
        sampling = {"do_sample": True, "temperature": params.temperature, "top_k": params.top_k or None,
                    "top_p": params.top_p} if params.temperature > 0 else {"do_sample": False}
        for group in by_length.values():
            for start in range(0, len(group), batch_size):
                batch = group[start:start + batch_size]
                pixels = self.processor(images=[s.image for s in batch], return_tensors="pt").pixel_values
                input_ids = torch.tensor([prompts[s.id] for s in batch], device=self.device)
                if params.temperature > 0:
                    torch.manual_seed(params.seed + start)
                with torch.no_grad():
                    out = self.model.generate(pixel_values=pixels.to(self.device, dtype), input_ids=input_ids,
                                              max_new_tokens=params.max_new_tokens, **sampling)
                given = input_ids.shape[1] - (1 if self.kind == "blip" else 0)  # BLIP dropped the [SEP]
                decode = self.processor.tokenizer.decode
                record_batch(self, batch, [(decode(row[given:], skip_special_tokens=True).strip(), len(row) - given)
                                           for row in out], params, texts, on_batch)
        return finish(self, samples, texts, params, started)


def load_hf(label: str, kind: str, where, device: str = "auto", dtype: str = "auto", allow_pickle: bool = False,
            download: bool = False) -> HFCaptioner:
    """The MODEL_KINDS loader of GIT and BLIP models (folders or hub ids)."""
    return HFCaptioner.load(label, kind, where, device, dtype, allow_pickle, download)
