"""Image-to-text models through `transformers`, with the same captioning contract as NanoVLM.

Five kinds, each giving the prefix to the model as the start of its text and returning only what the
model adds:
- `git`: after [CLS]; `blip`: after its BOS (a trailing [SEP], which BLIP drops itself);
- `vision-encoder-decoder` (ViT-GPT2 and the like): after the decoder's start token;
- `blip-2` and `image-text-to-text` (any other model transformers' AutoModelForImageTextToText knows:
  LLaVA, PaliGemma, Idefics, ...): the processor builds the input from the image and a text. With a chat
  template that text is a user turn asking for a description (INSTRUCTION) and the prefix opens the
  answer; without one it is the processor's image token followed by the prefix. When the language model
  is an encoder-decoder (BLIP-2 with Flan-T5), the prefix is its input and the whole output is new.
Samples are batched by prompt length, so no padding enters a prompt. Weights load from a local folder
or the local Hugging Face cache; vlmgrade downloads only with --download.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vlmgrade.core.devices import pick_device, pick_dtype
from vlmgrade.core.errors import UserError
from vlmgrade.core.types import Caption, GenerationParams, Sample
from vlmgrade.zoo.captioner import OnBatch, finish, record_batch, refuse_pickle

if TYPE_CHECKING:
    from transformers import BaseImageProcessor, PreTrainedTokenizerBase, ProcessorMixin

INSTRUCTION = "Describe this picture."

# kind -> the transformers class that loads it
MODEL_CLASSES = {"git": "GitForCausalLM", "blip": "BlipForConditionalGeneration",
                 "blip-2": "Blip2ForConditionalGeneration", "vision-encoder-decoder": "VisionEncoderDecoderModel",
                 "image-text-to-text": "AutoModelForImageTextToText"}
ID_PROMPTS = ("git", "blip", "vision-encoder-decoder")  # kinds whose prompt vlmgrade builds as token ids


def _processors(kind: str, where: str,
                download: bool) -> tuple[ProcessorMixin | None, PreTrainedTokenizerBase, BaseImageProcessor]:
    """(processor or None, tokenizer, image processor). Vision-encoder-decoder folders often ship the two
    halves without a processor config, so they are loaded apart."""
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    # never a folder's own code (`auto_map`): transformers would otherwise ask on stdin, and a piped "y" runs it
    local = {"local_files_only": not download, "trust_remote_code": False}
    if kind == "vision-encoder-decoder":
        return (None, AutoTokenizer.from_pretrained(where, **local), AutoImageProcessor.from_pretrained(where, **local))
    processor = AutoProcessor.from_pretrained(where, **local)
    if not hasattr(processor, "tokenizer") or not hasattr(processor, "image_processor"):
        raise UserError(f"{where}: its processor ({type(processor).__name__}) does not read images")
    return processor, processor.tokenizer, processor.image_processor


@dataclass
class HFCaptioner:
    name: str
    kind: str  # a key of MODEL_CLASSES
    model: object
    processor: object  # None for vision-encoder-decoder models (tokenizer and image_processor apart)
    device: str
    tokenizer: object = None
    image_processor: object = None

    stats: dict = field(default_factory=lambda: {"images": 0, "tokens": 0, "seconds": 0.0})

    @classmethod
    def load(cls, name: str, kind: str, where: Path | str, device: str = "auto", dtype: str = "auto",
             allow_pickle: bool = False, download: bool = False) -> HFCaptioner:
        import transformers

        device = pick_device(device)
        torch_dtype = pick_dtype(dtype, device)
        model_cls = getattr(transformers, MODEL_CLASSES[kind])
        # safetensors only, unless the user opted into a pickle checkpoint (transformers then reads it
        # with torch.load(weights_only=True))
        if Path(str(where)).is_dir():
            from vlmgrade.core.files import model_folder

            model_folder(Path(str(where)), "model")  # transformers opens its files: no FIFO, no /dev/zero
        pickled = refuse_pickle(Path(where), allow_pickle) if Path(str(where)).is_dir() else None
        if download and not Path(str(where)).exists():
            from vlmgrade.zoo import check_hub_reachable

            check_hub_reachable(str(where))  # seconds, not the hub client's minutes of retries
        try:
            processor, tokenizer, image_processor = _processors(kind, str(where), download)
            # never a folder's own code: transformers would otherwise ask on stdin, and a piped "y" runs it
            model = model_cls.from_pretrained(str(where), local_files_only=not download, trust_remote_code=False,
                                              use_safetensors=pickled is None, dtype=torch_dtype)
        except (OSError, ValueError) as e:
            from vlmgrade.zoo import download_hint

            hint = (f"not in the local Hugging Face cache: {download_hint(str(where))}"
                    if not Path(str(where)).exists() and not download else str(e).splitlines()[0])
            raise UserError(f"cannot load {kind} model {where}: {hint}") from None
        if kind not in ID_PROMPTS:
            tokenizer.padding_side = "left"  # prompts whose image tokens differ in number are padded on the left
        return cls(name, kind, model.to(device).eval(), processor, device, tokenizer, image_processor)

    def _context(self) -> int | None:
        """Text positions the model has (GIT: its own; BLIP: its text decoder's; the others: their LM's)."""
        config = self.model.config
        config = getattr(config, "text_config", None) or getattr(config, "decoder", None) or config
        return getattr(config, "max_position_embeddings", None)

    def _lm_is_encoder_decoder(self) -> bool:
        config = getattr(self.model.config, "text_config", None) or self.model.config
        return self.kind not in ID_PROMPTS and bool(getattr(config, "is_encoder_decoder", False))

    def _prompt(self, prefix: str) -> list[int] | str:
        """Token ids (git, blip, vision-encoder-decoder) or the text the processor expands (the others)."""
        tok = self.tokenizer
        if self.kind not in ID_PROMPTS:
            if getattr(self.processor, "chat_template", None):
                turn = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": INSTRUCTION}]}]
                return self.processor.apply_chat_template(turn, add_generation_prompt=True) + prefix
            image_token = getattr(self.processor, "image_token", None) or ""
            return f"{image_token}{prefix}" if self.kind != "blip-2" else prefix  # BLIP-2 adds its own
        ids = tok(prefix, add_special_tokens=False).input_ids if prefix else []
        if self.kind == "git":
            return [tok.cls_token_id, *ids]
        if self.kind == "vision-encoder-decoder":
            return [self.model.config.decoder_start_token_id, *ids]
        # BLIP replaces the first token by its BOS and drops a trailing [SEP] itself; give it both
        return [tok.cls_token_id, *ids, tok.sep_token_id]

    def _inputs(self, batch: Sequence[Sample], prompts: dict) -> tuple[dict, int]:
        """generate()'s inputs for one batch of equal-length prompts, and how many leading output tokens
        are the prompt (not new text)."""
        import torch

        dtype = next(self.model.parameters()).dtype
        images = [s.image for s in batch]
        if self.kind in ID_PROMPTS:
            pixels = self.image_processor(images=images, return_tensors="pt").pixel_values.to(self.device, dtype)
            ids = torch.tensor([prompts[s.id] for s in batch], device=self.device)
            if self.kind == "vision-encoder-decoder":
                return {"pixel_values": pixels, "decoder_input_ids": ids}, ids.shape[1]
            given = ids.shape[1] - (1 if self.kind == "blip" else 0)  # BLIP drops the [SEP]
            return {"pixel_values": pixels, "input_ids": ids}, given
        encoded = self.processor(images=images, text=[prompts[s.id] for s in batch], return_tensors="pt",
                                 padding=True, add_special_tokens=self.kind == "blip-2")
        inputs = {k: (v.to(self.device, dtype) if v.is_floating_point() else v.to(self.device))
                  for k, v in encoded.items() if hasattr(v, "to")}
        return inputs, 0 if self._lm_is_encoder_decoder() else inputs["input_ids"].shape[1]

    def _length(self, prompt: list[int] | str) -> int:
        return len(prompt) if isinstance(prompt, list) else len(self.tokenizer(prompt).input_ids)

    def caption(self, samples: Sequence[Sample], params: GenerationParams | None = None, batch_size: int = 16,
                on_batch: OnBatch | None = None) -> list[Caption]:
        import torch

        params = params or GenerationParams()
        started = time.perf_counter()
        texts: dict[str, str] = {}
        prompts = {s.id: self._prompt(s.prefix) for s in samples}
        lengths = {s.id: self._length(prompts[s.id]) for s in samples}
        context = self._context()
        for s in samples:
            if context and lengths[s.id] >= context:
                raise UserError(f"sample {s.id}: its prefix is {lengths[s.id]} tokens, and {self.name} reads at "
                                f"most {context} (prefix included); shorten the prefix")
        by_length: dict[int, list[Sample]] = {}
        for s in samples:
            by_length.setdefault(lengths[s.id], []).append(s)
        sampling = {"do_sample": True, "temperature": params.temperature, "top_k": params.top_k or None,
                    "top_p": params.top_p} if params.temperature > 0 else {"do_sample": False}
        decode = self.tokenizer.decode
        for group in by_length.values():
            for start in range(0, len(group), batch_size):
                batch = group[start:start + batch_size]
                inputs, given = self._inputs(batch, prompts)
                if params.temperature > 0:
                    torch.manual_seed(params.seed + start)
                with torch.no_grad():
                    out = self.model.generate(**inputs, max_new_tokens=params.max_new_tokens, **sampling)
                record_batch(self, batch, [(decode(row[given:], skip_special_tokens=True).strip(), len(row) - given)
                                           for row in out], params, texts, on_batch)
        return finish(self, samples, texts, params, started)


def load_hf(label: str, kind: str, where: Path | str, device: str = "auto", dtype: str = "auto",
            allow_pickle: bool = False, download: bool = False) -> HFCaptioner:
    """The MODEL_KINDS loader of every transformers kind (folders or hub ids)."""
    return HFCaptioner.load(label, kind, where, device, dtype, allow_pickle, download)
