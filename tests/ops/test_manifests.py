"""The Kubernetes manifests, checked offline: schemas, checkov, yamllint, the design's rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from service.settings import Settings
from tests.ops.conftest import (
    K8S,
    KUBERNETES_VERSIONS,
    OVERLAYS,
    SECRET_TEMPLATE,
    run,
    tool,
)

Doc = dict[str, Any]
SECRET_KEYS = {"hmac-key", "api-keys", "redis-url"}
CLUSTER_SCOPED = {"Namespace"}


def only(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    found = [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def app_deployment(docs: list[Doc]) -> Doc:
    return only(docs, "Deployment", "reviewguard")


def app_container(docs: list[Doc]) -> Doc:
    containers = app_deployment(docs)["spec"]["template"]["spec"]["containers"]
    (container,) = [c for c in containers if c["name"] == "reviewguard"]
    assert isinstance(container, dict)
    return container


def env_value(container: Doc, name: str) -> str:
    values = [e["value"] for e in container.get("env", []) if e["name"] == name and "value" in e]
    assert len(values) == 1, f"{name} is not set once as a plain value"
    return str(values[0])


def cpu_cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def workloads(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] in {"Deployment", "StatefulSet", "DaemonSet"}]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.slow
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_validate_strictly_against_kubernetes(
    rendered_files: dict[str, Path], version: str
) -> None:
    files = [str(p) for p in rendered_files.values()] + [str(SECRET_TEMPLATE)]
    result = run(tool("kubernetes-validate"), "--strict", "--quiet", "-k", version, *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_finds_nothing() -> None:
    result = run(tool("yamllint"), "--strict", "-c", str(K8S / ".yamllint.yaml"), str(K8S))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_checkov_passes_and_every_skip_has_a_reason(rendered_files: dict[str, Path]) -> None:
    files = [*rendered_files.values(), SECRET_TEMPLATE]
    args = [a for f in files for a in ("-f", str(f))]
    result = run(
        tool("checkov"), "--skip-download", "--framework", "kubernetes", "-o", "json", *args
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == [], failed
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 100  # it did look at the manifests
    for check in report["results"]["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment") or ""
        assert len(reason) > 20 and reason != "No comment provided", check["check_id"]
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_disruption_budget_leaves_room_below_the_autoscaler_minimum(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    docs = rendered[overlay]
    hpa, pdb = only(docs, "HorizontalPodAutoscaler"), only(docs, "PodDisruptionBudget")
    deployment = app_deployment(docs)
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert (
        1 <= pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    )
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert matches(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    # The HPA owns the replica count: an apply must not reset it.
    assert "replicas" not in deployment["spec"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_prestop_and_graceful_shutdown_fit_in_the_grace_period(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    docs = rendered[overlay]
    pod = app_deployment(docs)["spec"]["template"]["spec"]
    container = app_container(docs)
    pre_stop_s = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful_s = int(env_value(container, "UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN"))
    assert pre_stop_s > 0 and graceful_s > 0
    # At least a second of slack for the lifespan's shutdown (closing Redis) before SIGKILL.
    assert pre_stop_s + graceful_s + 1 <= pod["terminationGracePeriodSeconds"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_mean_what_the_design_says(rendered: dict[str, list[Doc]], overlay: str) -> None:
    container = app_container(rendered[overlay])
    port_names = {p["name"] for p in container["ports"]}
    paths = {}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        http = container[probe]["httpGet"]
        assert http["port"] in port_names
        paths[probe] = http["path"]
    assert paths == {
        "startupProbe": "/readyz",
        "readinessProbe": "/readyz",
        "livenessProbe": "/healthz",
    }
    # Redis is in none of them: an outage must neither restart pods nor empty the Service.
    probes = json.dumps([container[p] for p in paths]).lower()
    assert "redis" not in probes and "exec" not in probes
    # The startup probe gives the model time to load before liveness can restart the pod.
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 30


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_requests_limits_and_a_restricted_security_context(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    for workload in workloads(rendered[overlay]):
        pod = workload["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] >= 10000
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        writable = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for container in pod["containers"]:
            res = container["resources"]
            for resource in ("cpu", "memory"):
                assert resource in res["requests"] and resource in res["limits"]
            assert cpu_cores(res["requests"]["cpu"]) <= cpu_cores(res["limits"]["cpu"])
            sec = container["securityContext"]
            assert sec["readOnlyRootFilesystem"] is True
            assert sec["allowPrivilegeEscalation"] is False
            assert sec["capabilities"]["drop"] == ["ALL"]
            assert {m["name"] for m in container.get("volumeMounts", [])} <= writable


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_threads_fit_the_cpu_limit_and_tmp_is_writable(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    container = app_container(rendered[overlay])
    workers = int(env_value(container, "WEB_CONCURRENCY"))
    threads = int(env_value(container, "REVIEWGUARD_ONNX_THREADS"))
    assert workers * threads <= cpu_cores(container["resources"]["limits"]["cpu"])
    assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_network_policy_spread_and_scraping_point_at_the_pods(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    docs = rendered[overlay]
    template = app_deployment(docs)["spec"]["template"]
    labels = template["metadata"]["labels"]
    container = app_container(docs)
    (port,) = [p for p in container["ports"] if p["name"] == "http"]
    service = only(docs, "Service", "reviewguard")
    assert matches(service["spec"]["selector"], labels)
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    policy = only(docs, "NetworkPolicy", "reviewguard")
    assert matches(policy["spec"]["podSelector"]["matchLabels"], labels)
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert {53, 6379} <= egress_ports
    spread = template["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} >= {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    }
    assert all(matches(c["labelSelector"]["matchLabels"], labels) for c in spread)
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == port["containerPort"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_configuration_names_only_real_settings(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    docs = rendered[overlay]
    fields = {f"REVIEWGUARD_{name.upper()}" for name in Settings.model_fields}
    config = only(docs, "ConfigMap")
    container = app_container(docs)
    names = set(config["data"]) | {e["name"] for e in container["env"]}
    ours = {n for n in names if n.startswith("REVIEWGUARD_")}
    assert ours and ours <= fields, ours - fields
    refs = container["envFrom"][0]["configMapRef"]["name"]
    assert refs == config["metadata"]["name"]
    for obj in docs:
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"].get("namespace"), obj["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_come_from_one_secret_with_the_documented_keys(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    container = app_container(rendered[overlay])
    refs = [e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e]
    assert {r["key"] for r in refs} == SECRET_KEYS
    assert len({r["name"] for r in refs}) == 1
    secrets = [d for d in rendered[overlay] if d["kind"] == "Secret"]
    if overlay == "production":
        # No secret is committed: production expects the Secret to exist, made from the template.
        assert secrets == []
        assert refs[0]["name"] == "reviewguard-secrets"
    else:
        assert [s["metadata"]["name"] for s in secrets] == [refs[0]["name"]]
        assert set(secrets[0]["data"]) == SECRET_KEYS


def test_secret_template_holds_placeholders_only() -> None:
    template = yaml.safe_load(SECRET_TEMPLATE.read_text())
    assert template["kind"] == "Secret"
    assert template["metadata"]["name"] == "reviewguard-secrets"
    values = template["stringData"]
    assert set(values) == SECRET_KEYS
    assert all("REPLACE-ME" in v for v in values.values())


def test_dev_redis_is_where_the_dev_secret_points(rendered: dict[str, list[Doc]]) -> None:
    import base64

    docs = rendered["dev"]
    secret = only(docs, "Secret")
    url = urlsplit(base64.b64decode(secret["data"]["redis-url"]).decode())
    service = only(docs, "Service", url.hostname)
    assert service["spec"]["ports"][0]["port"] == url.port
    redis_pod = only(docs, "Deployment", "redis")["spec"]["template"]
    assert matches(service["spec"]["selector"], redis_pod["metadata"]["labels"])
    args = redis_pod["spec"]["containers"][0]["args"]
    # No persistence in dev: a restart starts empty, as the design allows.
    assert args[args.index("--save") + 1] == "" and args[args.index("--appendonly") + 1] == "no"
