"""The model zoo: cards (zoo/*.yaml) and `load_captioner`, which turns a model name into a Captioner.

A model name is a card name (`nanovlm-mini-scenes`), a local folder (its kind read from config.json),
or a hub id (GIT/BLIP through transformers; needs the weights in the local Hugging Face cache).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vlmgrade.assets import zoo_dir
from vlmgrade.errors import UserError
from vlmgrade.files import read_json


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
    return out


def nanovlm_config(card: Card):
    """The architecture a NanoVLM card names: its preset, or the config.json of its folder."""
    from vlmgrade.zoo.nanovlm import NanoVLMConfig, preset

    if card.trainable_only:
        return preset(card.source.split(":", 1)[1])
    raw = read_json(zoo_dir() / card.source / "config.json", "model config")
    return NanoVLMConfig.from_dict({k: v for k, v in raw.items() if k != "kind"})


def find_card(name: str) -> Card | None:
    return next((c for c in cards() if c.name == name), None)


def resolve(name: str) -> tuple[str, Path | str]:
    """(kind, folder or hub id) for a model name; UserError when it names nothing loadable."""
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
        raw = read_json(config, "model config")
        kind = raw.get("kind") or raw.get("model_type")
        if kind not in ("nanovlm", "git", "blip"):
            raise UserError(f"model folder {path}: unsupported kind {kind!r} (nanovlm, git or blip)")
        return kind, path
    if path.exists():
        raise UserError(f"--model {name}: expected a model folder, got a file")
    if "/" in name and not name.startswith((".", "/")):
        kind = "blip" if "blip" in name.lower() else "git" if "git" in name.lower() else ""
        if kind:
            return kind, name
    known = ", ".join(c.name for c in cards() if not c.trainable_only)
    raise UserError(f"unknown model {name!r}: not a zoo card ({known}), a model folder, or a GIT/BLIP hub id")


def load_captioner(name: str, device: str = "auto", dtype: str = "auto", allow_pickle: bool = False):
    kind, where = resolve(name)
    if kind == "nanovlm":
        from vlmgrade.zoo.captioner import NanoVLMCaptioner

        return NanoVLMCaptioner.load(name, Path(where), device, dtype, allow_pickle)
    from vlmgrade.zoo.hf import HFCaptioner

    return HFCaptioner.load(name, kind, where, device, dtype, allow_pickle)
