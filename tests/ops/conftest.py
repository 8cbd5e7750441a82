"""Fixtures for the offline checks of image and manifests: checker binaries, rendered overlays."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
K8S = ROOT / "k8s"
OVERLAYS = ("dev", "production")
SECRET_TEMPLATE = K8S / "overlays" / "production" / "secret.template.yaml"
# The Kubernetes minor versions the manifests are validated against: 1.34 is the oldest we target
# (lifecycle.preStop.sleep is GA there), 1.37 the newest that kubernetes-validate ships schemas for.
KUBERNETES_VERSIONS = ("1.34.0", "1.37.0")
TOOLS_BIN = Path(os.environ.get("REVIEWGUARD_TOOLS_BIN", ROOT / ".venv-tools" / "bin"))


def tool(name: str) -> str:
    """Path of a checker from the tools venv; fail (never skip) when it is missing."""
    path = TOOLS_BIN / name
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"{path} is missing: run `make tools` (make test does it) to install the checkers"
        )
    return str(path)


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def render(overlay: str) -> str:
    result = run(tool("kubectl"), "kustomize", str(K8S / "overlays" / overlay))
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="session")
def rendered_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each overlay built with kustomize into a file of its own."""
    out = tmp_path_factory.mktemp("k8s")
    files = {}
    for overlay in OVERLAYS:
        path = out / f"{overlay}.yaml"
        path.write_text(render(overlay))
        files[overlay] = path
    return files


@pytest.fixture(scope="session")
def rendered(rendered_files: dict[str, Path]) -> dict[str, list[dict[str, Any]]]:
    """Each overlay's objects, parsed."""
    return {
        overlay: [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        for overlay, path in rendered_files.items()
    }
