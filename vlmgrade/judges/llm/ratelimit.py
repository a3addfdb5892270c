"""Client-side request and token budgets per minute (`--rpm`, `--tpm`), besides `--concurrency`.

A sliding 60-second window: a request waits until both the count of requests and the sum of their
estimated tokens in the last minute leave room for it. The server's own 429s are still handled by
the openai client's retries; this keeps a run from provoking them.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque


class RateLimiter:
    def __init__(self, rpm: int | None = None, tpm: int | None = None, window: float = 60.0) -> None:
        self.rpm, self.tpm, self.window = rpm, tpm, window
        self.sent: deque[tuple[float, int]] = deque()  # (time, tokens) of requests in the window
        self.lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        if not self.rpm and not self.tpm:
            return
        async with self.lock:  # one waiter at a time keeps the order fair
            while True:
                now = time.monotonic()
                while self.sent and now - self.sent[0][0] >= self.window:
                    self.sent.popleft()
                used = sum(t for _, t in self.sent)
                fits_rpm = not self.rpm or len(self.sent) < self.rpm
                fits_tpm = not self.tpm or used + tokens <= self.tpm or not self.sent
                if fits_rpm and fits_tpm:
                    self.sent.append((now, tokens))
                    return
                await asyncio.sleep(max(0.01, self.window - (now - self.sent[0][0])))
