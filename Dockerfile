# reviewguard serving image: only the online service, its serving dependencies and the default models.
# Build: docker build -t reviewguard:0.1.0 .
# Run:   docker run --rm -p 8000:8000 --read-only --tmpfs /tmp \
#          -e REDIS_URL=redis://host.docker.internal:6379/0 -e REVIEWGUARD_HMAC_KEY=... reviewguard:0.1.0
# ---- builder: resolve and install the serving dependencies (pyproject's [project].dependencies) ----
FROM python:3.11-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
COPY pyproject.toml ./
# Only the serving dependencies, never the train/dev extras and never the project itself: the final
# stage copies service/ and the default model as plain files.
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt
# The C accelerators (service/native/*.c, optional: the service runs without them, slower) are
# compiled here, in place; the final stage gets the built modules with service/ and no compiler.
COPY setup.py ./
COPY service/ ./service/
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* \
    && /opt/venv/bin/pip install --no-cache-dir "setuptools>=77" \
    && /opt/venv/bin/python setup.py --quiet build_ext --inplace \
    && /opt/venv/bin/pip uninstall --yes pip setuptools wheel \
    && rm -rf build \
    && mkdir -p /app && cp -r service /app/service
# The default models (text-default, and behaviour-default when present); .dockerignore lets in no other.
COPY model/artifacts/ /app/model/artifacts/
# Byte-compile now: the root filesystem is read-only at run time, so Python could not cache it then.
RUN /opt/venv/bin/python -m compileall -q /app/service /opt/venv/lib

# ---- final: slim runtime, non-root, nothing written outside /tmp ----
FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="reviewguard" \
      org.opencontainers.image.description="Review fraud scoring microservice" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 reviewguard \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
       --shell /usr/sbin/nologin reviewguard
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
WORKDIR /app
# WEB_CONCURRENCY (uvicorn workers) and REVIEWGUARD_ONNX_THREADS (ONNX Runtime intra-op threads) are
# sized from the container's CPU limit by whoever runs it; without them ONNX Runtime would size its
# pool from the host's cores. Keep WEB_CONCURRENCY x REVIEWGUARD_ONNX_THREADS <= the CPU limit.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    WEB_CONCURRENCY=1 \
    REVIEWGUARD_ONNX_THREADS=1 \
    OMP_NUM_THREADS=1 \
    UVICORN_HOST=0.0.0.0 \
    UVICORN_PORT=8000 \
    UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN=20 \
    UVICORN_ACCESS_LOG=false
USER 10001:10001
EXPOSE 8000
# /healthz only says the process answers (Redis is not part of it); slim images have no curl.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('UVICORN_PORT', '8000') + '/healthz', timeout=2)"]
CMD ["uvicorn", "--factory", "service.main:create_app"]
