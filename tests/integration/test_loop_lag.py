"""A busy worker (event-loop lag) is not a slow Redis: replies that arrived win, the breaker holds.

Each scenario runs on both event loops the service may run on (asyncio's and uvloop's): they
order due timers and socket reads differently within one turn of the loop.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvloop
from redis.asyncio import Redis

from service.breaker import CircuitBreaker
from service.features.mux import RedisMux, pack
from service.features.store import FeatureStore
from service.scorer import FraudScorer
from service.scoring.fusion import FusionConfig
from service.scoring.review import Account, Device, Review
from service.settings import DEFAULT_ARTIFACT_DIR
from service.text_model import TextModel
from tests.conftest import RedisServer

BUDGET_S = 0.02
BLOCK_S = 0.15  # the worker busy with something else, far past the budget

LOOPS = {"asyncio": asyncio.run, "uvloop": uvloop.run}
# ARGV[1] back after ARGV[2] ms of Redis's own time.
SLOW_ECHO = """
local function ms() local t = redis.call('TIME'); return t[1] * 1000 + t[2] / 1000 end
local stop = ms() + tonumber(ARGV[2])
while ms() < stop do end
return ARGV[1]
"""


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Awaitable[Any]], Any]:
    runner: Callable[[Awaitable[Any]], Any] = LOOPS[request.param]
    return runner


@pytest.fixture(scope="module")
def model() -> TextModel:
    return TextModel.load(DEFAULT_ARTIFACT_DIR)


def a_review(review_id: str) -> Review:
    return Review(
        review_id=review_id,
        product_id="p-1",
        rating=5,
        submitted_at=1_790_000_000.0,
        text="Solid kettle, boils fast, the handle stays cool.",
        account=Account(id="a-1", created_at=1_700_000_000.0, username="maria"),
        device=Device(fingerprint="fp-1", ip="198.51.100.7"),
    )


async def until_sent(mux: RedisMux) -> None:
    """Until the loop has written what is queued (the write happens one turn later)."""
    # The test needs to know the bytes left; nothing public says so, nor signals it.
    while mux._buffer:  # noqa: ASYNC110
        await asyncio.sleep(0)


def test_a_reply_waiting_in_the_socket_beats_a_deadline_passed_while_busy(
    own_redis: RedisServer, run: Callable[[Awaitable[Any]], Any]
) -> None:
    async def scenario() -> Any:
        mux = RedisMux.from_url(own_redis.url)
        assert mux is not None
        await mux.call("PING")
        loop = asyncio.get_running_loop()
        sent = loop.create_task(mux.send(pack(("ECHO", "mine")), loop.time() + BUDGET_S))
        await asyncio.sleep(0)
        await until_sent(mux)
        time.sleep(BLOCK_S)  # noqa: ASYNC251 (the point: the reply arrives, the deadline passes)
        try:
            return await sent
        finally:
            await mux.aclose()

    assert run(scenario()) == b"mine"


def test_a_reply_beats_a_deadline_passed_while_busy_reading_another_socket(
    own_redis: RedisServer, run: Callable[[Awaitable[Any]], Any]
) -> None:
    """The worker busy inside a socket callback (a request read, or the host taking the CPU
    then): libuv runs due timers before it polls the sockets again, so a deadline passed in
    the meantime came before the reply already waiting (seen as degraded answers in the bench)."""

    class Busy(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            time.sleep(BLOCK_S)  # the reply arrives, the deadline passes

    async def scenario() -> Any:
        mux = RedisMux.from_url(own_redis.url)
        assert mux is not None
        await mux.call("PING")
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        transport, _ = await loop.connect_accepted_socket(Busy, ours)
        command = pack(("EVAL", SLOW_ECHO, 0, "mine", 10))
        sent = loop.create_task(mux.send(command, loop.time() + BUDGET_S))
        await asyncio.sleep(0)
        await until_sent(mux)
        # Redis answers 10 ms after the command came, so the next poll finds only the other
        # socket ready, and the reply comes while that socket's callback runs.
        theirs.send(b"a request")
        try:
            return await sent
        finally:
            transport.close()
            theirs.close()
            await mux.aclose()

    assert run(scenario()) == b"mine"


def test_a_silent_redis_still_times_out_at_the_deadline(
    own_redis: RedisServer, run: Callable[[Awaitable[Any]], Any]
) -> None:
    async def scenario() -> float:
        mux = RedisMux.from_url(own_redis.url)
        assert mux is not None
        await mux.call("PING")
        own_redis.freeze()
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            with pytest.raises(TimeoutError):
                await mux.send(pack(("PING",)), start + BUDGET_S)
            return loop.time() - start
        finally:
            own_redis.thaw()
            await mux.aclose()

    waited = run(scenario())
    assert BUDGET_S - 0.002 <= waited < BUDGET_S + 0.5  # uvloop's timers tick in ms


def scorer_on(
    url: str, model: TextModel, breaker: CircuitBreaker
) -> tuple[FraudScorer, RedisMux, Redis]:
    mux = RedisMux.from_url(url)
    assert mux is not None
    redis = Redis.from_url(url)
    store = FeatureStore(redis, b"test-hmac-key", retention_s=3600, mux=mux)
    scorer = FraudScorer(store, model, None, FusionConfig(), budget_s=BUDGET_S, breaker=breaker)
    return scorer, mux, redis


def test_a_busy_worker_degrades_an_answer_but_does_not_open_the_breaker(
    own_redis: RedisServer, model: TextModel, run: Callable[[Awaitable[Any]], Any]
) -> None:
    async def scenario() -> tuple[list[str], str, list[str], str]:
        breaker = CircuitBreaker(failure_threshold=1, reset_s=60)
        scorer, mux, redis = scorer_on(own_redis.url, model, breaker)
        assert not (await scorer.score(a_review("warm"))).degraded
        own_redis.freeze()
        try:
            # Redis silent AND the worker busy past the deadline: degraded, breaker closed.
            loop = asyncio.get_running_loop()
            task = loop.create_task(scorer.score(a_review("lagged")))
            await asyncio.sleep(0)
            await until_sent(mux)
            time.sleep(BLOCK_S)  # noqa: ASYNC251 (the point: a busy worker)
            lagged = await task
            after_lag = breaker.state
            # Redis silent, the worker idle: a Redis timeout, which the breaker counts.
            slow = await scorer.score(a_review("slow"))
            after_slow = breaker.state
        finally:
            own_redis.thaw()
            await scorer.drain()
            await mux.aclose()
            await redis.aclose()
        return (
            [f"{r.code}: {r.message}" for r in lagged.reasons],
            after_lag,
            [f"{r.code}: {r.message}" for r in slow.reasons],
            after_slow,
        )

    lagged, after_lag, slow, after_slow = run(scenario())
    assert any(r.startswith("FEATURES_UNAVAILABLE") and "behind" in r for r in lagged), lagged
    assert after_lag == "closed"
    assert any(r.startswith("FEATURES_UNAVAILABLE") and "slower" in r for r in slow), slow
    assert after_slow == "open"
