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

    def add(self, reply: Reply, batch: bool = False) -> None:
        for k in self.usage:
            self.usage[k] += reply.usage.get(k) or 0
        self.cost_usd += dollars(reply.usage.get("prompt_tokens") or 0, reply.usage.get("completion_tokens") or 0,
                                 self.price, batch=batch) or 0.0

    def to_dict(self) -> dict:
        out = {"requests_sent": self.requests_sent, "cache_hits": self.cache_hits, "retries": self.retries,
               "failed_requests": self.failed_requests, "usage": dict(self.usage),
               "cost_usd": round(self.cost_usd, 6)}
        if self.batch_requests:
            out.update(batch_requests=self.batch_requests, batches=self.batches)
        if self.unsaved:
            out["unsaved_in_cache"] = self.unsaved
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
