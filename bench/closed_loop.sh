#!/bin/bash
# One app, one closed-loop wrk run: requests per second, the worker's CPU per request and (full
# path) the Redis server's CPU per request.
# A quicker A/B probe than `make bench` (e.g. REVIEWGUARD_NATIVE=0 vs 1, alternated).
#   bench/closed_loop.sh full|ceiling|ceiling-lean [SECONDS] [CONNECTIONS]
# Worker on core 0; a private redis-server (port $BENCH_REDIS_PORT, default 6391, flushed first)
# and wrk on core 1; the bench's request stream (bench/gen_reviews.py, generated once).
set -euo pipefail
cd "$(dirname "$0")/.."
APP=${1:-full}; DUR=${2:-8}; CONNS=${3:-8}
PORT=${BENCH_REDIS_PORT:-6391}; HTTP_PORT=${BENCH_HTTP_PORT:-8777}
PY=.venv/bin/python
BODIES=bench/results/closed-loop-bodies.jsonl
mkdir -p bench/results
if ! redis-cli -p "$PORT" ping >/dev/null 2>&1; then
    redis-server --port "$PORT" --save '' --appendonly no --daemonize yes >/dev/null
    sleep 0.3
    taskset -cp 1 "$(pgrep -f "redis-server.*:$PORT")" >/dev/null
fi
redis-cli -p "$PORT" flushall >/dev/null
[ -f "$BODIES" ] || $PY -c "
import sys; sys.path.insert(0, '.')
from pathlib import Path
from bench.gen_reviews import generate, write_bodies
write_bodies(Path('$BODIES'), generate(20000))"
case $APP in
    full) FACTORY=service.main:create_app ;;
    ceiling) FACTORY=bench.ceiling:create_ceiling_app ;;
    ceiling-lean) FACTORY=bench.ceiling:create_lean_ceiling_app ;;
    *) echo "usage: $0 full|ceiling|ceiling-lean [SECONDS] [CONNECTIONS]" >&2; exit 2 ;;
esac
export REVIEWGUARD_REDIS_URL=redis://127.0.0.1:$PORT/0 REVIEWGUARD_HMAC_KEY=bench-only-not-secret
taskset -c 0 $PY -m uvicorn --factory $FACTORY --host 127.0.0.1 --port "$HTTP_PORT" \
    --no-access-log --log-level warning > bench/results/closed-loop-server.log 2>&1 &
SERVER=$!
trap 'kill -INT $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 150); do curl -sf "localhost:$HTTP_PORT/healthz" >/dev/null && break; sleep 0.2; done
export BENCH_BODIES=$BODIES BENCH_RATE=0 BENCH_THREADS=1 BENCH_PHASE=c BENCH_OUT=bench/results/closed-loop-wrk.txt
WRK=(taskset -c 1 wrk -t1 "-c$CONNS" --timeout 2s -s bench/wrk/score.lua "http://127.0.0.1:$HTTP_PORT")
"${WRK[@]}" -d3s >/dev/null  # warm-up
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
REDIS_PID=$(redis-cli -p "$PORT" info server | tr -d '\r' | awk -F: '/^process_id/ {print $2}')
T0=$(cpu $SERVER); R0=$(cpu "$REDIS_PID")
REQ=$("${WRK[@]}" "-d${DUR}s" | awk '/requests in/ {print $1}')
T1=$(cpu $SERVER); R1=$(cpu "$REDIS_PID")
python3 -c "
r, hz = $REQ, $(getconf CLK_TCK)
c, rc = ($T1 - $T0) / hz, ($R1 - $R0) / hz
print(f'$APP: {r/$DUR:.0f} req/s, worker CPU {c/$DUR*100:.0f}%, {c/r*1e6:.0f} us/req;'
      f' Redis CPU {rc/$DUR*100:.0f}%, {rc/r*1e6:.0f} us/req')"
