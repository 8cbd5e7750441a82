"""The image's layout run without Docker: what the Dockerfile copies, its ENV, CMD, HEALTHCHECK."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from service import launch
from tests.ops.conftest import ROOT
from tests.ops.test_dockerfile import NOT_IN_IMAGE, final_stage

# Makes the packages that only training and tests have unimportable, as they are in the image.
BLOCKER = "import sys\nfor name in {names!r}:\n    sys.modules[name] = None\n"


def image_env() -> dict[str, str]:
    """The final stage's ENV instructions (KEY=VALUE pairs)."""
    env = {}
    for keyword, args in final_stage():
        if keyword == "ENV":
            for pair in args.split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def lay_out_app(app: Path) -> None:
    """What the builder stage copies into /app: service/ and the default models."""
    shutil.copytree(ROOT / "service", app / "service", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("text-default", "behaviour-default"):
        source = ROOT / "model" / "artifacts" / name
        if source.is_dir():
            shutil.copytree(source, app / "model" / "artifacts" / name)


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.slow
def test_image_layout_serves_with_serving_dependencies_only(tmp_path: Path, redis_url: str) -> None:
    app, blocker = tmp_path / "app", tmp_path / "blocker"
    lay_out_app(app)
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER.format(names=sorted(NOT_IN_IMAGE)))
    before = files_under(app)
    port = launch.free_port()
    env = image_env()
    env.update(
        PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin",
        PYTHONPATH=f"{blocker}:{app}",
        HOME=str(tmp_path),
        UVICORN_PORT=str(port),
        UVICORN_HOST="127.0.0.1",
        REVIEWGUARD_REDIS_URL=redis_url,
        REVIEWGUARD_HMAC_KEY="test-only-key",
    )
    stage = dict(final_stage())
    cmd = json.loads(stage["CMD"])
    assert cmd[0] == "uvicorn"
    with (tmp_path / "stderr").open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", *cmd], cwd=app, env=env, stderr=stderr, stdout=stderr
        )
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if get(f"http://127.0.0.1:{port}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert proc.poll() is None, (tmp_path / "stderr").read_text()
        status, body = get(f"http://127.0.0.1:{port}/readyz")
        assert status == 200, body
        # The HEALTHCHECK exactly as the Dockerfile writes it.
        healthcheck = json.loads(stage["HEALTHCHECK"].split(" CMD ", 1)[1])
        assert healthcheck[0] == "python"
        probe = subprocess.run(
            [sys.executable, *healthcheck[1:]],
            env=env,
            capture_output=True,
            timeout=10,
            check=False,
        )
        assert probe.returncode == 0, probe.stderr
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/reviews/score",
            data=launch.SAMPLE_REVIEW.encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.load(response)
        assert 0 <= answer["risk_score"] <= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=int(env["UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN"]) + 5)
    # uvicorn re-raises the SIGTERM it handled, after a clean shutdown.
    log = (tmp_path / "stderr").read_text()
    assert returncode in {0, -signal.SIGTERM}, log
    assert "Application shutdown complete" in log
    # Nothing written beside the code: the image's root filesystem is read-only.
    assert files_under(app) == before
