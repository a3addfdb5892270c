"""Probability-weighted scores (the G-Eval idea): the expectation of a criterion's score over the
judge's distribution at the token where it wrote that score, instead of the one token it sampled.

Needs the reply's token logprobs (`logprobs=True, top_logprobs=20`). Where a criterion's score token
cannot be found, or its alternatives hold no valid score, that criterion keeps its plain score.
"""

from __future__ import annotations

import math
import re
from typing import Any

from vlmgrade.rubrics import Rubric

Tokens = list[tuple[str, list[tuple[str, float]]]]  # (token, [(alternative, logprob), ...]) per position


def from_response(choice: Any) -> Tokens | None:
    """Compact token logprobs from an openai ChatCompletion choice; None when the endpoint sent none."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    return [(t.token, [(a.token, a.logprob) for a in (t.top_logprobs or [])] or [(t.token, t.logprob)])
            for t in content]


MAX_SCORE_CHARS = 6  # an alternative longer than this (spaces aside) is no score on any scale


def kept_tokens(tokens: Tokens | None, text: str) -> Tokens | None:
    """What of a reply's token logprobs is kept (cached, weighed): its tokens, when they spell its text exactly,
    each with the alternatives that could be a score (short numbers, all `weighted_scores` reads). The rest is
    dropped: a server may put anything in a token, the API key included, and a key spread over several tokens
    is no longer in `text` once that is redacted, so tokens that no longer spell it go (weighting needs that
    they do anyway)."""
    if not tokens:
        return None
    try:
        if "".join(tok for tok, _ in tokens) != text:
            return None
        return [(tok, [(alt, float(lp)) for alt, lp in alts if _score_like(alt)]) for tok, alts in tokens]
    except (TypeError, ValueError):  # not the shape `from_response` gives (a damaged cache entry)
        return None


def _score_like(alt: object) -> bool:
    return isinstance(alt, str) and len(alt.strip()) <= MAX_SCORE_CHARS and alt.strip().isdigit()


def _value_offset(text: str, criterion: str) -> int | None:
    """Character offset of the number a reply gives a criterion (JSON or `name: 7`), the last one."""
    matches = list(re.finditer(rf'"?{re.escape(criterion)}"?\s*[:=]\s*"?(\d)', text, re.I))
    return matches[-1].start(1) if matches else None


def weighted_scores(rubric: Rubric, text: str, tokens: Tokens, plain: dict) -> tuple[dict, list[str]]:
    """(scores, criteria that were weighted). Unweighted criteria keep their plain value."""
    spans, pos = [], 0
    for tok, _ in tokens:
        spans.append((pos, pos + len(tok)))
        pos += len(tok)
    if "".join(t for t, _ in tokens) != text:
        return dict(plain), []  # the tokens do not spell the reply: do not guess positions
    out, weighted = dict(plain), []
    for c in rubric.criteria:
        offset = _value_offset(text, c.name)
        if offset is None or plain.get(c.name) is None:
            continue
        index = next((i for i, (a, b) in enumerate(spans) if a <= offset < b), None)
        if index is None:
            continue
        mass, total = 0.0, 0.0
        for alt, logprob in tokens[index][1]:
            value = alt.strip()
            if value.isdigit() and c.lo <= int(value) <= c.hi:
                p = math.exp(logprob)
                mass += p
                total += p * int(value)
        if mass > 0:
            out[c.name] = total / mass
            weighted.append(c.name)
    return out, weighted
