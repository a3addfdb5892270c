"""The model zoo: cards (zoo/*.yaml) and `load_captioner`, which turns a model name into a Captioner.

A model name is a card name (`nanovlm-mini-scenes`), a local folder (its kind read from config.json),
or a hub id (GIT/BLIP through transformers; needs the weights in the local Hugging Face cache).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from vlmgrade.core.assets import zoo_dir
from vlmgrade.core.errors import UserError
from vlmgrade.core.files import read_json

if TYPE_CHECKING:
    from vlmgrade.zoo.captioner import Captioner
    from vlmgrade.zoo.nanovlm import NanoVLMConfig


@dataclass(frozen=True)
class Card:
    name: str
    kind: str  # "nanovlm", "git", "blip"
    source: str  # a folder beside the card, a hub id, or "preset:<name>" for an untrained architecture
    params: int
    description: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def trainable_only(self) -> bool:
        return self.source.startswith("preset:")

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "params": self.params, "source": self.source,
                "description": self.description, **self.extra}


def cards() -> list[Card]:
    out = []
    for path in sorted(zoo_dir().glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        known = {"name", "kind", "source", "params", "description"}
        out.append(Card(name=raw["name"], kind=raw["kind"], source=str(raw["source"]), params=int(raw["params"]),
                        description=str(raw.get("description", "")).strip(),
                        extra={k: v for k, v in raw.items() if k not in known}))
    return sorted(out, key=lambda c: c.name)  # by name: "git-base" before "git-base-coco" (file names sort otherwise)


def nanovlm_config(card: Card) -> NanoVLMConfig:
    """The architecture a NanoVLM card names: its preset, or the config.json of its folder."""
    from vlmgrade.zoo.nanovlm import NanoVLMConfig, preset

    if card.trainable_only:
        return preset(card.source.split(":", 1)[1])
    raw = read_json(zoo_dir() / card.source / "config.json", "model config")
    return NanoVLMConfig.from_dict({k: v for k, v in raw.items() if k != "kind"})


def find_card(name: str) -> Card | None:
    return next((c for c in cards() if c.name == name), None)


# Model kinds: kind -> "module:function(label, kind, where, device, dtype, allow_pickle, download)" returning a
# captioner (an object with `caption(samples, params, batch_size, on_batch=None) -> [Caption]`). To add a kind,
# write that function and register it here; HF_MODEL_TYPES routes a transformers config.json's `model_type` to it.
MODEL_KINDS = {"nanovlm": "vlmgrade.zoo.captioner:load_nanovlm",
               **{kind: "vlmgrade.zoo.hf:load_hf"
                  for kind in ("git", "blip", "blip-2", "vision-encoder-decoder", "image-text-to-text")}}
HF_MODEL_TYPES = {"git": "git", "blip": "blip", "blip-2": "blip-2", "vision-encoder-decoder": "vision-encoder-decoder"}


def _hf_kind(model_type: str) -> str | None:
    """The kind of a transformers model_type: a named one, else `image-text-to-text` for any model that
    transformers' AutoModelForImageTextToText loads."""
    if model_type in HF_MODEL_TYPES:
        return HF_MODEL_TYPES[model_type]
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return "image-text-to-text" if model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES else None


def split_label(name: str) -> tuple[str, str]:
    """`LABEL=SOURCE` -> (LABEL, SOURCE); a plain name is its own label."""
    label, sep, source = name.partition("=")
    if sep and label and "/" not in label and source:
        return label, source
    return name, name


def _kind_of(config: object, where: str) -> str:
    if not isinstance(config, dict):
        raise UserError(f"{where}: its config.json must be a JSON object, got {type(config).__name__}")
    model_type = config.get("model_type")
    kind = config.get("kind") or (_hf_kind(model_type) if isinstance(model_type, str) else None)
    if not isinstance(kind, str) or kind not in MODEL_KINDS:
        named = f"kind {config['kind']!r}" if config.get("kind") else f"model_type {model_type!r}"
        raise UserError(f"{where}: {named} is not a supported kind (supported: nanovlm, "
                        f"{', '.join(HF_MODEL_TYPES)} and any image-text-to-text model of transformers); see the "
                        "README's 'Adding a model kind'")
    return kind


def download_hint(hub_id: str) -> str:
    """The command that fetches a hub model with the huggingface_hub installed here."""
    import shutil

    # `hf` is the CLI of current huggingface_hub releases; the older `huggingface-cli` only where that is all there is
    old_only = shutil.which("huggingface-cli") and not shutil.which("hf")
    command = "huggingface-cli download" if old_only else "hf download"
    return f"`{command} {hub_id}` where there is network, or pass --download"


def check_hub_reachable(hub_id: str, timeout: float = 3.0) -> None:
    """Refuse --download in seconds when the Hub (or the proxy to it) cannot be reached: the hub client
    would otherwise retry for minutes before failing."""
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise UserError(f"--download {hub_id}: HF_HUB_OFFLINE is set; unset it, or fetch the model elsewhere with "
                        f"{download_hint(hub_id).split(' where')[0]} and copy the Hugging Face cache here")
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    target = urlparse(proxy if proxy and endpoint.scheme == "https" else endpoint.geturl())
    host, port = target.hostname or "huggingface.co", target.port or (443 if target.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        from huggingface_hub.constants import HF_HUB_CACHE

        raise UserError(f"--download {hub_id}: cannot reach {host}:{port} ({e.strerror or e}); on a machine with "
                        f"network run {download_hint(hub_id).split(' where')[0]}, then copy its cache "
                        f"({HF_HUB_CACHE}) to the same place here (or point HF_HOME at it)") from None


def resolve(name: str, download: bool = False) -> tuple[str, Path | str]:
    """(kind, folder or hub id) for a model name (or LABEL=SOURCE); UserError when it names nothing loadable.
    A hub id is routed by the `model_type` of its config.json in the local Hugging Face cache (fetched
    only with `download`)."""
    _, name = split_label(name)
    card = find_card(name)
    if card is not None:
        if card.trainable_only:
            raise UserError(f"{name} is an architecture without trained weights; train it with "
                            f"`vlmgrade train CONFIG` and pass the output folder as --model")
        folder = zoo_dir() / card.source
        return card.kind, folder if folder.is_dir() else card.source
    path = Path(name)
    if path.is_dir():
        config = path / "config.json"
        if not config.exists():
            raise UserError(f"model folder {path} has no config.json")
        return _kind_of(read_json(config, "model config"), f"model folder {path}"), path
    if path.exists():
        raise UserError(f"--model {name}: expected a model folder, got a file")
    if "/" in name and not name.startswith((".", "/")):
        from huggingface_hub import try_to_load_from_cache
        from huggingface_hub.errors import HFValidationError
        from huggingface_hub.utils import validate_repo_id

        try:
            validate_repo_id(name)
        except HFValidationError:
            # a label holds no "/" (a folder path may hold "="): "my/run=zoo-model" is read as one name
            hint = "; a LABEL in LABEL=SOURCE cannot contain '/'" if "=" in name else ""
            raise UserError(f"unknown model {name!r}: not a zoo card, a model folder, or a hub id "
                            f"(owner/name){hint}") from None
        cached = try_to_load_from_cache(name, "config.json")
        if not isinstance(cached, str) and download:
            from huggingface_hub import hf_hub_download

            check_hub_reachable(name)
            try:
                cached = hf_hub_download(name, "config.json")
            except Exception as e:  # noqa: BLE001 - network and hub errors all end in one line
                raise UserError(f"cannot download {name}: {str(e).splitlines()[0]}") from None
        if not isinstance(cached, str):
            raise UserError(f"hub model {name} is not in the local Hugging Face cache: {download_hint(name)}")
        return _kind_of(read_json(Path(cached), "model config"), f"hub model {name}"), name
    known = ", ".join(c.name for c in cards() if not c.trainable_only)
    raise UserError(f"unknown model {name!r}: not a zoo card ({known}), a model folder, or a hub id")


def load_captioner(name: str, device: str = "auto", dtype: str = "auto", allow_pickle: bool = False,
                   download: bool = False) -> Captioner:
    """The captioner for a model name (or LABEL=SOURCE: its captions then carry LABEL)."""
    label, source = split_label(name)
    kind, where = resolve(source, download)
    module, _, function = MODEL_KINDS[kind].partition(":")
    return getattr(import_module(module), function)(label, kind, where, device, dtype, allow_pickle, download)
