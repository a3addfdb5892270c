"""What `--judge` names: a registered kind, with a model and an endpoint for the kinds that send requests."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vlmgrade.core.errors import UserError
from vlmgrade.judges.registry import DEFAULT_OFFLINE, JUDGE_KINDS, JudgeKind

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
DEFAULT_LLM = ("openai", "gpt-4o")  # the judge with credentials and no --judge


@dataclass(frozen=True)
class JudgeSpec:
    """A judge to use: `model` is None for an offline kind."""

    kind: str
    model: str | None = None
    base_url: str | None = None

    @property
    def declared(self) -> JudgeKind:
        return JUDGE_KINDS[self.kind]

    @property
    def offline(self) -> bool:
        return self.declared.offline

    @property
    def label(self) -> str:
        return self.kind if self.model is None else f"{self.kind}:{self.model}"

    @property
    def public_endpoint(self) -> str:
        """The endpoint as records and reports show it: without user, password, query or fragment (a gateway's
        URL may carry a key in any of them)."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.endpoint)
        if not parts.scheme or not parts.netloc:
            return self.endpoint
        host = parts.hostname or ""
        path = parts.path.rstrip("/")  # http://host/v1/ and http://host/v1 are one server
        return urlunsplit((parts.scheme.lower(), host + (f":{parts.port}" if parts.port else ""), path, "", ""))

    @property
    def endpoint(self) -> str:
        """What the cache keys and run records name as the server: a local model is its own endpoint."""
        if self.declared.local:
            return self.label
        return self.base_url or OPENAI_DEFAULT_URL


def _credentials(base_url: str | None) -> bool:
    return bool(os.environ.get("OPENAI_API_KEY") or base_url)


def _check_local_model(model: str) -> None:
    """A local judge is a folder, or a hub id already in the Hugging Face cache: said now, in one line, not
    after captioning (and not after minutes of retries against a hub that cannot be reached)."""
    if model.startswith((".", "/", "~")) or Path(model).expanduser().exists():
        if not Path(model).expanduser().is_dir():
            raise UserError(f"judge model folder not found: {model}")
        from vlmgrade.core.files import model_folder

        model_folder(Path(model).expanduser(), "judge model")  # its own code (auto_map) is refused before captioning
        return
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(model, "config.json")
    except ValueError:  # not a valid repo id either
        raise UserError(f"judge model {model!r}: not a folder, nor a hub id") from None
    if not isinstance(cached, str):
        raise UserError(f"judge model {model} is not in the local Hugging Face cache: `hf download {model}` where "
                        "there is network, or give a local folder")


def parse_judge(text: str | None, base_url: str | None = None,
                flags: tuple[str, str] = ("--judge", "--judge-base-url")) -> tuple[JudgeSpec, str | None]:
    """The judge to use and, when the default was changed for lack of credentials, a note saying so; `flags`
    names the judge and base-URL flags of the command asking, for its messages."""
    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    if text is None:
        if not _credentials(base_url):
            return JudgeSpec(DEFAULT_OFFLINE), (
                f"no OPENAI_API_KEY or OPENAI_BASE_URL set: judging offline with the {DEFAULT_OFFLINE} judge; set "
                "OPENAI_API_KEY (or --judge-base-url) and pass --judge openai:gpt-4o --rubric nanovlm-paper to "
                "grade with GPT-4o")
        return JudgeSpec(DEFAULT_LLM[0], DEFAULT_LLM[1], base_url), None
    name, _, model = text.partition(":")
    kind = JUDGE_KINDS.get(name)
    if kind is None or kind.offline == bool(model):
        forms = ", ".join(k.usage for k in JUDGE_KINDS.values())
        raise UserError(f"unknown judge {text!r}: use {forms} (e.g. openai:gpt-4o)")
    if kind.offline:
        return JudgeSpec(name), None
    if kind.local:
        _check_local_model(model)
    if kind.needs_credentials and not _credentials(base_url):
        raise UserError(f"{flags[0]} {text} needs OPENAI_API_KEY (or a {flags[1]} for a local server)")
    return JudgeSpec(name, model, None if kind.local else base_url), None
