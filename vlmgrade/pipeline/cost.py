"""Judge cost: a YAML price table, token estimates before a run, and dollars for what a run used.

Estimates need no tokenizer: about four characters a token for text (OpenAI's rule of thumb), a
fixed count per attached image (the picture is sent at most 512 px, one high-detail tile), and a reply
length from the rubric's criteria. They are for budgeting, not billing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from vlmgrade.core.errors import UserError
from vlmgrade.core.files import read_text

IMAGE_TOKENS = 255  # 85 base + 170 for one 512 px tile (OpenAI's high-detail accounting)
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Price:
    input: float  # USD per million prompt tokens
    output: float  # USD per million completion tokens


def load_prices(path: str | Path | None = None) -> dict[str, Price]:
    path = Path(path) if path else Path(__file__).with_name("prices.yaml")
    text = read_text(path, "price table", max_bytes=1 << 20)  # not found, a FIFO or /dev/zero: one line
    try:
        raw = yaml.safe_load(text) or {}
        return {str(k): Price(float(v["input"]), float(v["output"])) for k, v in raw.items()}
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as e:
        raise UserError(f"bad price table {path}: {e}") from None


def estimate_prompt_tokens(messages: list[dict]) -> int:
    tokens = 0
    for m in messages:
        content = m["content"]
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for p in parts:
            tokens += IMAGE_TOKENS if p["type"] == "image_url" else len(p["text"]) // CHARS_PER_TOKEN + 1
        tokens += 4  # per-message overhead of the chat format
    return tokens


def estimate_completion_tokens(n_criteria: int) -> int:
    return 12 * n_criteria + 60  # a JSON object of scores plus a sentence or two of feedback


def dollars(prompt_tokens: int, completion_tokens: int, price: Price | None, batch: bool = False) -> float | None:
    if price is None:
        return None
    usd = (prompt_tokens * price.input + completion_tokens * price.output) / 1e6
    return usd / 2 if batch else usd
