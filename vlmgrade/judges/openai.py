"""The LLM judge: GPT-4o or any OpenAI-compatible server (vLLM, Ollama, llama.cpp, Azure-style gateways).

Requests go through `AsyncOpenAI`, whose own retry (429 with Retry-After, 5xx, dropped connections)
and timeout machinery we use rather than our own. Structured output (a JSON schema built from the
rubric's criteria) is asked for first; an endpoint that rejects `response_format` is asked again
without it, and the reply is parsed by `rubric.parse_reply` either way.
"""

from __future__ import annotations

import base64
import io
import logging
import os
from dataclasses import dataclass

from vlmgrade.errors import UserError
from vlmgrade.rubric import Rubric, json_schema, render
from vlmgrade.types import Caption, Sample


@dataclass(frozen=True)
class JudgeSpec:
    """What `--judge` names. `model` is None for the grounded judge."""

    kind: str  # "openai" or "grounded"
    model: str | None = None
    base_url: str | None = None

    @property
    def label(self) -> str:
        return "grounded" if self.kind == "grounded" else f"openai:{self.model}"

    @property
    def endpoint(self) -> str:
        return self.base_url or "https://api.openai.com/v1"


def parse_judge(spec: str | None, base_url: str | None = None) -> tuple[JudgeSpec, str | None]:
    """The judge to use and, when the default was changed for lack of credentials, a note saying so."""
    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    if spec is None:
        if not os.environ.get("OPENAI_API_KEY") and not base_url:
            return JudgeSpec("grounded"), ("no OPENAI_API_KEY or OPENAI_BASE_URL set: judging offline with the "
                                           "grounded judge; set OPENAI_API_KEY (or --judge-base-url) and pass "
                                           "--judge openai:gpt-4o --rubric nanovlm-paper to grade with GPT-4o")
        return JudgeSpec("openai", "gpt-4o", base_url), None
    if spec == "grounded":
        return JudgeSpec("grounded"), None
    kind, _, model = spec.partition(":")
    if kind != "openai" or not model:
        raise UserError(f"unknown judge {spec!r}: use openai:MODEL (e.g. openai:gpt-4o) or grounded")
    if not os.environ.get("OPENAI_API_KEY") and not base_url:
        raise UserError(f"--judge {spec} needs OPENAI_API_KEY (or a --judge-base-url for a local server)")
    return JudgeSpec("openai", model, base_url), None


JUDGE_IMAGE_MAX_SIDE = 512  # one high-detail tile: image tokens stay predictable


def image_data_url(image, max_side: int = JUDGE_IMAGE_MAX_SIDE) -> str:
    """The picture as a PNG data URL, shrunk (never enlarged) to fit max_side."""
    image = image.convert("RGB")
    if max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def build_messages(rubric: Rubric, sample: Sample, caption: Caption, force_image: bool = False) -> list[dict]:
    system, prompt = render(rubric, sample, caption)
    messages: list[dict] = [{"role": "system", "content": system}] if system else []
    if (rubric.judge.get("image") or force_image) and sample.image is not None:
        content = [{"type": "text", "text": prompt},
                   {"type": "image_url", "image_url": {"url": image_data_url(sample.image)}}]
        messages.append({"role": "user", "content": content})
    else:
        messages.append({"role": "user", "content": prompt})
    return messages


class RetryCounter(logging.Handler):
    """Counts the openai client's own 'Retrying request' log records, for the progress bar."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Retrying request"):
            self.count += 1


class OpenAIJudge:
    def __init__(self, spec: JudgeSpec, timeout: float = 120.0, max_retries: int = 6) -> None:
        from openai import AsyncOpenAI

        self.spec = spec
        # a local server needs no key, but the client insists on one; this placeholder is never stored
        key = os.environ.get("OPENAI_API_KEY") or "no-key"
        self.client = AsyncOpenAI(api_key=key, base_url=spec.base_url, timeout=timeout, max_retries=max_retries)
        self.structured = True
        self.logprobs = True
        self.retries = RetryCounter()
        client_log = logging.getLogger("openai._base_client")
        client_log.setLevel(logging.INFO)
        client_log.propagate = False  # the bar shows retries; the log lines would break it
        client_log.addHandler(self.retries)

    async def complete(self, rubric: Rubric, messages: list[dict], temperature: float | None = None,
                       logprobs: bool = False) -> tuple[str, dict, list | None]:
        """The reply text, token usage and (when asked for and sent) token logprobs; raises UserError
        for failures no retry can fix."""
        import openai

        from vlmgrade.judges.logprobs import from_response

        params = request_params(self.spec, rubric, temperature)
        if logprobs and self.logprobs:
            params.update(logprobs=True, top_logprobs=20)
        schema = response_format(rubric)
        try:
            try:
                if self.structured:
                    response = await self.client.chat.completions.create(messages=messages, response_format=schema,
                                                                         **params)
                else:
                    response = await self.client.chat.completions.create(messages=messages, **params)
            except openai.BadRequestError as e:
                if "logprobs" in str(e) and "logprobs" in params:
                    self.logprobs = False  # this endpoint has no logprobs: plain scores from now on
                    params = {k: v for k, v in params.items() if k not in ("logprobs", "top_logprobs")}
                elif self.structured and "response_format" in str(e):
                    self.structured = False  # this endpoint has no structured output: ask plainly from now on
                else:
                    raise
                extra = {"response_format": schema} if self.structured else {}
                response = await self.client.chat.completions.create(messages=messages, **params, **extra)
        except openai.AuthenticationError:
            raise UserError(f"the judge at {self.spec.endpoint} rejected the API key (401)") from None
        except openai.PermissionDeniedError:
            raise UserError(f"the judge at {self.spec.endpoint} refused access to {self.spec.model} (403)") from None
        except openai.NotFoundError:
            raise UserError(f"the judge at {self.spec.endpoint} has no model {self.spec.model!r} (404)") from None
        except openai.APIConnectionError:
            raise UserError(f"cannot reach the judge at {self.spec.endpoint} (after retries)") from None
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content or "") if choice else ""
        usage = response.usage.model_dump() if response.usage else {}
        tokens = from_response(choice) if choice and "logprobs" in params else None
        return text, {k: usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}, tokens

    async def close(self) -> None:
        await self.client.close()
        logging.getLogger("openai._base_client").removeHandler(self.retries)


def request_params(spec: JudgeSpec, rubric: Rubric, temperature: float | None) -> dict:
    """Model and sampling parameters of a request (part of the cache key)."""
    t = rubric.judge.get("temperature", 0.0) if temperature is None else temperature
    return {"model": spec.model, "temperature": t}


def response_format(rubric: Rubric) -> dict:
    """Structured output: the rubric's criteria as a strict JSON schema."""
    name = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in rubric.name)[:64] or "rubric"
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": json_schema(rubric)}}
