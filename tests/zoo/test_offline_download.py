"""--download with no way to the Hub fails in seconds with one line and advice that works (issue 25)."""

import socket
import time

from vlmgrade.cli import main


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed once the block ends: a connection there is refused at once


def test_download_without_network_fails_in_seconds_with_advice(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for proxy in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    start = time.monotonic()
    assert main(["caption", "--model", "someorg/some-git-model", "--download", "--data", "scenes-short:test",
                 "--limit", "1", "--out", str(tmp_path / "c.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert time.monotonic() - start < 10
    assert len(err.splitlines()) == 1 and "cannot reach 127.0.0.1" in err
    assert "hf download someorg/some-git-model" in err
    assert "pass --download" not in err  # it was passed: the advice must be something else


def test_download_with_hub_offline_set_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["caption", "--model", "someorg/some-git-model", "--download", "--data", "scenes-short:test",
                 "--limit", "1", "--out", str(tmp_path / "c.jsonl")]) == 2
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err
