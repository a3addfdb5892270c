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
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vlmgrade.core.errors import UserError
from vlmgrade.core.types import Caption, Sample
from vlmgrade.judges import JudgeSpec
from vlmgrade.rubrics import Rubric, json_schema, render

if TYPE_CHECKING:
    from PIL import Image

JUDGE_IMAGE_MAX_SIDE = 512  # one high-detail tile: image tokens stay predictable


def image_data_url(image: Image.Image, max_side: int = JUDGE_IMAGE_MAX_SIDE) -> str:
    """The picture as a PNG data URL, shrunk (never enlarged) to fit max_side."""
    image = image.convert("RGB")
    if max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def build_messages(rubric: Rubric, sample: Sample, caption: Caption, force_image: bool = False,
                   second: Caption | None = None) -> list[dict]:
    """Chat messages for one judging job; a pairwise rubric's job shows `caption` as A and `second` as B."""
    system, prompt = render(rubric, sample, caption, second)
    messages: list[dict] = [{"role": "system", "content": system}] if system else []
    if (rubric.judge.image or force_image) and sample.image is not None:
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


@dataclass(frozen=True)
class Reply:
    """What a judge answered to one request."""

    text: str
    usage: dict[str, int | None]
    logprobs: list | None = None  # compact token logprobs when asked for and sent
    batch: str | None = None  # the Batch API batch that answered, if one did

    def __post_init__(self) -> None:
        # Every answer is made safe here, whatever path it came by (a direct call, a Batch API line, a local
        # model, the cache): this is the one type a judge answer is cached and written as, so an API key a
        # server echoes (in the text, in a logprobs token or alternative) reaches no file from any path.
        from vlmgrade.judges.llm.logprobs import kept_tokens

        text = redact(self.text)
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "logprobs", kept_tokens(self.logprobs, text))
        if self.batch is not None:
            object.__setattr__(self, "batch", redact(str(self.batch)))

    def to_cache(self) -> dict:
        return {"raw": self.text, "usage": self.usage, **({"logprobs": self.logprobs} if self.logprobs else {}),
                **({"batch": self.batch} if self.batch else {})}

    @classmethod
    def from_cache(cls, hit: dict) -> Reply:
        return cls(hit["raw"], hit.get("usage") or {}, hit.get("logprobs"), hit.get("batch"))


MAX_USAGE = 10_000_000  # tokens in one answer: a figure beyond is a server's mistake, not a bill
MAX_REPLY_CHARS = 1_000_000


def usage_of(usage: dict | None) -> dict[str, int | None]:
    """Token counts as the server gave them, where they are whole numbers from 0 to MAX_USAGE; anything
    else (negative, absurd, not a number) is None and costs nothing, so --max-cost stays meaningful."""
    usage = usage or {}
    out = {}
    for k in ("prompt_tokens", "completion_tokens", "total_tokens"):
        v = usage.get(k)
        out[k] = v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_USAGE else None
    return out


def redact(text: str) -> str:
    """The API key never reaches a file: a server that echoes it back (in an error, say) is cut off here."""
    key = os.environ.get("OPENAI_API_KEY") or ""
    return text.replace(key, "[redacted]") if len(key) >= 8 else text


# The HTTP connection pool under AsyncOpenAI looks at every connection it holds each time a request
# starts or ends, so one client carrying 256 requests at once spends more CPU in that scan than in the
# request itself. Requests are spread over clients ("lanes") of at most this many each.
REQUESTS_PER_CLIENT = 16


class OpenAIJudge:
    """Sends chat-completions bodies (built by `request_body`) to an OpenAI-compatible endpoint, up to
    `concurrency` at once."""

    def __init__(self, spec: JudgeSpec, timeout: float = 120.0, max_retries: int = 6, concurrency: int = 1) -> None:
        from openai import AsyncOpenAI

        self.spec = spec
        # a local server needs no key, but the client insists on one; this placeholder is never stored
        key = os.environ.get("OPENAI_API_KEY") or "no-key"
        lanes = max(1, math.ceil(concurrency / REQUESTS_PER_CLIENT))
        self.clients = [AsyncOpenAI(api_key=key, base_url=spec.base_url, timeout=timeout, max_retries=max_retries)
                        for _ in range(lanes)]
        self.client = self.clients[0]  # for the Batch API and other one-off calls
        self._in_flight = [0] * lanes
        self.structured = True
        self.logprobs = True
        self.retries = RetryCounter()
        client_log = logging.getLogger("openai._base_client")
        client_log.setLevel(logging.INFO)
        client_log.propagate = False  # the bar shows retries; the log lines would break it
        client_log.addHandler(self.retries)

    def _as_supported(self, body: dict) -> dict:
        """The body less what this endpoint has shown it does not support."""
        drop = (() if self.structured else ("response_format",)) + (() if self.logprobs else ("logprobs",
                                                                                               "top_logprobs"))
        return {k: v for k, v in body.items() if k not in drop}

    async def complete(self, body: dict) -> Reply:
        """The reply to one request body; raises UserError for failures no retry can fix."""
        # the least busy lane: with the caller's own limit of `concurrency`, none carries more than its share
        lane = min(range(len(self.clients)), key=self._in_flight.__getitem__)
        self._in_flight[lane] += 1
        try:
            return await self._complete(self.clients[lane], body)
        finally:
            self._in_flight[lane] -= 1

    async def _complete(self, client: Any, body: dict) -> Reply:
        import openai

        from vlmgrade.judges.llm.logprobs import from_response

        try:
            try:
                response = await client.chat.completions.create(**self._as_supported(body))
            except openai.BadRequestError as e:
                if "logprobs" in str(e) and self.logprobs and "logprobs" in body:
                    self.logprobs = False  # this endpoint has no logprobs: plain scores from now on
                elif self.structured and "response_format" in str(e):
                    self.structured = False  # this endpoint has no structured output: ask plainly from now on
                else:
                    raise
                response = await client.chat.completions.create(**self._as_supported(body))
        except openai.AuthenticationError:
            raise UserError(f"the judge at {self.spec.endpoint} rejected the API key (401)") from None
        except openai.PermissionDeniedError:
            raise UserError(f"the judge at {self.spec.endpoint} refused access to {self.spec.model} (403)") from None
        except openai.NotFoundError:
            raise UserError(f"the judge at {self.spec.endpoint} has no model {self.spec.model!r} (404)") from None
        except openai.APIConnectionError:
            raise UserError(f"cannot reach the judge at {self.spec.endpoint} (after retries)") from None
        if not hasattr(response, "choices"):  # e.g. an HTML page with status 200 from a proxy
            raise ValueError(f"the server did not answer with a chat completion: {redact(str(response))[:120]!r}")
        choice = response.choices[0] if response.choices else None
        text = redact((choice.message.content or "") if choice else "")
        if len(text) > MAX_REPLY_CHARS:
            raise ValueError(f"a reply of {len(text)} characters (at most {MAX_REPLY_CHARS:,} are kept)")
        usage = usage_of(response.usage.model_dump() if response.usage else None)
        asked = "logprobs" in self._as_supported(body)
        return Reply(text, usage, from_response(choice) if choice and asked else None)

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        logging.getLogger("openai._base_client").removeHandler(self.retries)


def request_body(spec: JudgeSpec, rubric: Rubric, messages: list[dict], temperature: float | None = None,
                 logprobs: bool = False) -> dict:
    """The one chat-completions body for a judging job: sent as is by a direct call, written as is into a
    Batch API line, and hashed (with the endpoint) into the cache key."""
    t = rubric.judge.temperature if temperature is None else temperature
    body = {"model": spec.model, "messages": messages, "temperature": t, "max_tokens": max_tokens(rubric),
            "response_format": response_format(rubric)}
    if logprobs:
        body.update(logprobs=True, top_logprobs=20)
    return body


def max_tokens(rubric: Rubric) -> int:
    """Room for the rubric's answer: a score and some words per criterion, and a few sentences of feedback;
    a judge that rambles is cut off there instead of billing thousands of tokens."""
    return 200 + 40 * len(rubric.criteria)


def response_format(rubric: Rubric) -> dict:
    """Structured output: the rubric's criteria as a strict JSON schema."""
    name = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in rubric.name)[:64] or "rubric"
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": json_schema(rubric)}}
