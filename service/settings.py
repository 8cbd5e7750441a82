"""Settings of the online service, read from REVIEWGUARD_* environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ARTIFACT_DIR = ROOT / "model" / "artifacts" / "text-default"
DEFAULT_BEHAVIOUR_PATH = ROOT / "model" / "artifacts" / "behaviour-default" / "behaviour.json"


def _default_redis_url() -> str:
    # The conventional REDIS_URL of container platforms and `make run` is honoured too.
    return os.environ.get("REDIS_URL", "redis://localhost:6379/0")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REVIEWGUARD_", frozen=True)

    redis_url: str = Field(default_factory=_default_redis_url)
    # True when redis_url points at a Redis Cluster node.
    redis_cluster: bool = False
    # Connections per worker; a request that finds none free is answered degraded, not queued.
    redis_max_connections: int = Field(200, ge=1)
    # Scoring's own commands (the review's script, the answer cache, the moderation record) share
    # one pipelined connection per worker (single Redis; redis://, rediss://, unix:// URLs).
    # False: every command takes a pooled redis-py connection, as everything else does.
    redis_pipelined: bool = True
    # Budget for the whole Redis part of one scored review; past it the answer is degraded.
    redis_budget_ms: float = Field(50.0, gt=0)
    # Circuit breaker: after this many consecutive Redis failures, stop waiting on Redis ...
    breaker_failures: int = Field(5, ge=1)
    # ... first for this long, then let one probe through; each failed probe doubles the pause,
    # up to breaker_reset_s.
    breaker_first_reset_s: float = Field(0.25, gt=0)
    breaker_reset_s: float = Field(2.0, gt=0)

    text_model_dir: Path = DEFAULT_ARTIFACT_DIR
    behaviour_model_path: Path = DEFAULT_BEHAVIOUR_PATH
    onnx_threads: int = Field(1, ge=1)
    # Which engine runs the text model (service/text_model.py): "auto" runs the numpy kernel when
    # it recognises the graph and matches onnxruntime on the probes, else onnxruntime.
    text_engine: Literal["auto", "kernel", "onnxruntime"] = "auto"

    # HMAC key for personal data (IP, e-mail, device fingerprint). No default in production:
    # `make run` and the tests set a development key; the k8s Secret carries the real one.
    hmac_key: SecretStr = SecretStr("")
    retention_days: int = Field(30, ge=1, le=3650)

    # Prior share of fake reviews: the base rate the fusion starts from.
    base_rate: float = Field(0.04, gt=0, lt=1)
    medium_threshold: float = Field(0.2, ge=0, le=1)
    review_threshold: float = Field(0.5, ge=0, le=1)
    reject_threshold: float = Field(0.95, ge=0, le=1)
    # No signal group moves the log-odds by more than this.
    group_cap: float = Field(3.0, gt=0)
    # Overrides of the prior weights of unlabelled signals, as JSON: {"device_shared": 1.2}.
    fusion_weights: dict[str, float] = Field(default_factory=dict)
    moderation_lease_s: float = Field(300.0, gt=0)
    queue_rejects: bool = True

    # Comma-separated API keys; empty disables authentication.
    api_keys: SecretStr = SecretStr("")
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    max_batch: int = Field(1000, ge=1)

    # Monitoring (docs/monitoring.md): live profile, drift, data integrity, audit trail.
    monitoring_enabled: bool = True
    # Each pod adds its live counts to Redis this often; drift gauges are refreshed every ...
    monitoring_flush_s: float = Field(5.0, gt=0)
    drift_refresh_s: float = Field(60.0, gt=0)
    # Drift thresholds (Evidently's defaults) and the fewest live answers a flag needs.
    drift_psi_threshold: float = Field(0.1, gt=0)
    drift_js_threshold: float = Field(0.1, gt=0, le=1)
    drift_wasserstein_threshold: float = Field(0.1, gt=0)
    drift_min_samples: int = Field(1000, ge=1)
    # The audit stream keeps about this many decisions (each one is also kept by review id).
    audit_stream_maxlen: int = Field(1_000_000, ge=1)
