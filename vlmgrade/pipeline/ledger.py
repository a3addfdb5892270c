"""What judging did and cost (`Ledger`, recorded in run.json), and the refusals that stop a run (`Refusals`):
the bookkeeping of the judging stage, apart from how requests are sent."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from vlmgrade.core.errors import UserError
from vlmgrade.judges.llm.openai import Reply
from vlmgrade.pipeline.cost import Price, dollars

if TYPE_CHECKING:
    from vlmgrade.pipeline.plan import Estimate


# The most tokens one reply may plausibly report. A server that says 9,999,999 tokens per reply (a bug, a
# proxy's placeholder, a hostile endpoint) would otherwise bill $375 for 16 requests and trip --max-cost:
# such usage is set aside and the request counted at its estimate instead.
MAX_REPLY_TOKENS = 1_000_000  # whatever the estimate, no one reply reports more
PROMPT_SLACK = 10  # tokenizers, chat templates and image token schemes differ, but not tenfold...
PROMPT_EXTRA = 1_000  # ...nor by more than a server's own system prompt on a short request
COMPLETION_SLACK = 2  # a reply cannot outrun max_tokens; twice it leaves room for servers that count oddly


def plausible_usage(usage: dict, estimate: tuple[int, int], max_tokens: int | None) -> bool:
    """Whether a reply's reported tokens fit its request: prompt tokens within PROMPT_SLACK times the
    estimate (plus PROMPT_EXTRA), completion tokens within COMPLETION_SLACK times max_tokens, the total
    within both, and none above MAX_REPLY_TOKENS."""
    prompt_cap = min(PROMPT_SLACK * estimate[0] + PROMPT_EXTRA, MAX_REPLY_TOKENS)
    completion_cap = min(COMPLETION_SLACK * max_tokens, MAX_REPLY_TOKENS) if max_tokens else MAX_REPLY_TOKENS
    caps = {"prompt_tokens": prompt_cap, "completion_tokens": completion_cap,
            "total_tokens": min(prompt_cap + completion_cap, MAX_REPLY_TOKENS)}
    return all((usage.get(k) or 0) <= cap for k, cap in caps.items())


@dataclass
class Ledger:
    """What judging did and cost; run.json records it."""

    price: Price | None = None
    requests_sent: int = 0
    cache_hits: int = 0
    retries: int = 0
    failed_requests: int = 0
    batch_requests: int = 0
    batches: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0,
                                                           "total_tokens": 0})
    cost_usd: float = 0.0
    unsaved: int = 0  # answers that could not be written to the cache (kept in the run folder)
    implausible_usage: int = 0  # replies whose reported tokens were set aside for the estimate

    def add(self, reply: Reply, estimate: tuple[int, int], max_tokens: int | None, batch: bool = False) -> None:
        """Count a reply's tokens and cost; usage beyond what its request could take counts at `estimate`
        (prompt, completion tokens) instead. The judgment keeps the server's own figures."""
        usage = reply.usage
        if not plausible_usage(usage, estimate, max_tokens):
            self.implausible_usage += 1
            usage = {"prompt_tokens": estimate[0], "completion_tokens": estimate[1], "total_tokens": sum(estimate)}
        for k in self.usage:
            self.usage[k] += usage.get(k) or 0
        self.cost_usd += dollars(usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0,
                                 self.price, batch=batch) or 0.0

    def implausible_line(self) -> str | None:
        """The warning a run prints when any reply's usage was set aside."""
        if not self.implausible_usage:
            return None
        return f"{self.implausible_usage} replies reported implausible usage; counted at the estimate"

    def to_dict(self) -> dict:
        out = {"requests_sent": self.requests_sent, "cache_hits": self.cache_hits, "retries": self.retries,
               "failed_requests": self.failed_requests, "usage": dict(self.usage),
               "cost_usd": round(self.cost_usd, 6)}
        if self.batch_requests:
            out.update(batch_requests=self.batch_requests, batches=self.batches)
        if self.unsaved:
            out["unsaved_in_cache"] = self.unsaved
        if self.implausible_usage:
            out["implausible_usage"] = self.implausible_usage
        return out


def server_message(error: Exception) -> str:
    """The server's own words from an API error (its JSON `error.message`), else the exception's text."""
    from vlmgrade.judges.llm.openai import redact

    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body["error"] if isinstance(body.get("error"), dict) else body
        if inner.get("message"):
            return redact(str(inner["message"]))[:500]
    return redact(str(error).splitlines()[0])[:500] if str(error) else type(error).__name__


class Refusals:
    """Client errors (4xx other than 429) that no retry fixes: one on the first request, or IN_A_ROW
    of the same status with nothing answered between, stop the run with the server's message."""

    IN_A_ROW = 5

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.in_a_row = 0
        self.status: int | None = None
        self.message = ""
        self.stop_reason: str | None = None

    def failed(self, error: Exception) -> None:
        status = getattr(error, "status_code", None)
        if not isinstance(status, int) or not 400 <= status < 500 or status == 429:
            self.in_a_row, self.status = 0, None
            return
        self.in_a_row = self.in_a_row + 1 if status == self.status else 1
        self.status, self.message = status, server_message(error)
        self.stop_reason = f"HTTP {status}: {self.message}"

    def answered(self) -> None:
        self.in_a_row, self.status, self.stop_reason = 0, None, None

    def check(self, first: bool = False) -> None:
        if self.stop_reason and (first or self.in_a_row >= self.IN_A_ROW):
            count = "its first request" if first else f"{self.in_a_row} requests in a row"
            raise UserError(f"the judge at {self.endpoint} refused {count} with {self.stop_reason}; stopped "
                            "(captions and any answers are cached)")


@dataclass(frozen=True)
class Timings:
    caption_s: float
    judge_s: float
    total_s: float


@dataclass(frozen=True)
class RunStats:
    """What a run did, for run.json and the closing lines: the judging ledger, the plan's estimate, each
    model's generation figures, timings, and whether LLM scores are probability-weighted."""

    ledger: Ledger
    estimate: Estimate
    generation: dict[str, dict]
    timings: Timings
    weighted: bool

    def to_dict(self) -> dict:
        return {**self.ledger.to_dict(), "estimate": self.estimate.to_dict(), "generation": self.generation,
                "timings": {k: round(v, 3) for k, v in asdict(self.timings).items()}, "weighted": self.weighted}
