"""Shared fixtures: a tiny NanoVLM trained for a few steps with the real training loop; an isolated cache
and API key per test; a scripted judge on a loopback server. Shared values and helpers live in
tests/helpers.py."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# One intra-op thread per process (this one, and every process a test starts, inherit it), set before torch is
# imported: the models here are tiny, so a second thread buys little on a quiet machine, and on a busy one every
# parallel region waits for a descheduled thread (tests ran 5-40x slower). OMP_NUM_THREADS=N overrides it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from tests.helpers import SECRET, json_reply, write_train_config
from vlmgrade.testing.server import FakeOpenAI, Reply


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from vlmgrade.zoo.train import TrainConfig, train

    folder = tmp_path_factory.mktemp("tiny")
    train(TrainConfig.load(write_train_config(folder)), progress=False)
    return folder / "model"


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch, tmp_path) -> None:
    """Every test (and every process it starts) gets a fresh cache: nothing is served from another test's
    work, and nothing lands in the user's ~/.cache."""
    monkeypatch.setenv("VLMGRADE_CACHE", str(tmp_path / "cache.sqlite"))


@pytest.fixture
def env(monkeypatch, tmp_path) -> Path:
    """The test API key, no base URL from the environment; returns the test's temp folder."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return tmp_path


@pytest.fixture
def judge_server() -> Iterator[Callable[..., FakeOpenAI]]:
    """Start a scripted OpenAI-compatible judge on 127.0.0.1: `judge_server(reply, **FakeOpenAI options)`
    returns the running server (`.base_url`, `.requests`, `.answered`, ...); `reply(body, count) -> Reply`
    defaults to the nanovlm-paper scores of `json_reply`. Every server started is stopped at teardown; a test
    that stops or restarts a server itself uses `FakeOpenAI` as a context manager."""
    started: list[FakeOpenAI] = []

    def start(reply: Callable[[dict, int], Reply] = json_reply, **options) -> FakeOpenAI:
        server = FakeOpenAI(reply, **options).__enter__()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.__exit__(None, None, None)
