"""A local 3-node Redis Cluster for the integration tests marked ``cluster``."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_until_ping


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    while True:
        port = random.randint(20000, 50000)
        if _is_free(port) and _is_free(port + 10000):
            return port


class LocalCluster:
    """Three ``redis-server --cluster-enabled yes`` primaries on free ports, no replicas."""

    def __init__(self, workdir: Path) -> None:
        server = shutil.which("redis-server")
        cli = shutil.which("redis-cli")
        if server is None or cli is None:
            pytest.fail("redis-server / redis-cli not on PATH: apt-get install redis-server")
        self.server, self.cli = server, cli
        self.workdir = workdir
        self.ports: list[int] = []
        while len(self.ports) < 3:
            port = free_cluster_port()
            if port not in self.ports:
                self.ports.append(port)
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> None:
        for port in self.ports:
            node_dir = self.workdir / str(port)
            node_dir.mkdir()
            self.procs.append(
                subprocess.Popen(
                    [
                        self.server,
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        str(node_dir),
                    ],
                    stdout=subprocess.DEVNULL,
                )
            )
        for port in self.ports:
            wait_until_ping(port)
        subprocess.run(
            [
                self.cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )
        self._wait_until_ok()

    def _wait_until_ok(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            states = [
                subprocess.run(
                    [self.cli, "-p", str(port), "cluster", "info"],
                    capture_output=True,
                    text=True,
                    timeout=5,
                ).stdout
                for port in self.ports
            ]
            if all("cluster_state:ok" in state for state in states):
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the local Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.1)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=10)
        self.procs = []


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A startup-node URL of a private 3-node Redis Cluster for this test run."""
    cluster = LocalCluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster.url
    finally:
        cluster.stop()
