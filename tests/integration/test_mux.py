"""The hot path's pipelined connection, against real redis-server processes (frozen, killed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis_asyncio
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from service.features.mux import Posted, RedisMux, pack
from tests.conftest import RedisServer


@pytest.fixture
async def mux(own_redis: RedisServer) -> AsyncIterator[RedisMux]:
    connection = RedisMux.from_url(own_redis.url, connect_timeout_s=1.0)
    assert connection is not None
    yield connection
    await connection.aclose()


@pytest.mark.parametrize(
    "args",
    [
        ("SET", "k", "v"),
        ("EVALSHA", "ab" * 20, 2, "rg:{a:1}:ev", "rg:{a:1}:f", 1795794053135, -7, 0),
        ("SET", "ключ", "значение 😀", "EX", 30),
        ("SET", b"\x00\xff\r\n", b""),
        ("ZADD", "z", 0.1, "a", 1e300, "b", -2.5e-7, "c", 12345678901234567890, "d"),
    ],
)
async def test_pack_sends_the_bytes_redis_py_sends(args: tuple[object, ...]) -> None:
    expected = b"".join(Connection().pack_command(*args))
    assert pack(args) == expected  # type: ignore[arg-type]


async def test_pack_refuses_what_redis_py_refuses() -> None:
    with pytest.raises(TypeError):
        pack(("SET", "k", True))
    with pytest.raises(TypeError):
        pack(("SET", "k", None))  # type: ignore[arg-type]


async def test_concurrent_commands_get_their_own_replies(mux: RedisMux) -> None:
    n = 2000
    replies = await asyncio.gather(*(mux.call("ECHO", f"value-{i}") for i in range(n)))
    assert replies == [f"value-{i}".encode() for i in range(n)]
    counts = await asyncio.gather(*(mux.call("INCR", "counter") for _ in range(300)))
    assert sorted(counts) == list(range(1, 301))
    assert mux.pending == 0


async def test_error_replies_raise_and_keep_the_stream_in_step(mux: RedisMux) -> None:
    await mux.call("SET", "text", "not a number")
    results = await asyncio.gather(
        mux.call("ECHO", "before"),
        mux.call("INCR", "text"),
        mux.call("EVALSHA", "0" * 40, 0),
        mux.call("ECHO", "after"),
        return_exceptions=True,
    )
    assert results[0] == b"before"
    assert isinstance(results[1], ResponseError) and not isinstance(results[1], NoScriptError)
    assert isinstance(results[2], NoScriptError)
    assert results[3] == b"after"
    nested = await mux.call("EVAL", "return {1, 'two', {3, false}}", 0)
    assert nested == [1, b"two", [3, None]]


async def test_a_killed_server_fails_what_waits_and_a_restarted_one_is_used_again(
    own_redis: RedisServer, mux: RedisMux
) -> None:
    assert await mux.call("PING") == b"PONG"
    own_redis.freeze()
    waiting = asyncio.gather(*(mux.call("ECHO", str(i)) for i in range(5)), return_exceptions=True)
    await asyncio.sleep(0.05)
    assert mux.pending == 5
    assert own_redis.proc is not None
    own_redis.proc.kill()  # SIGKILL works on a stopped process
    own_redis.proc.wait()
    failures = await asyncio.wait_for(waiting, 2.0)
    assert all(isinstance(f, RedisConnectionError) for f in failures)
    assert mux.pending == 0
    with pytest.raises(RedisConnectionError):
        await mux.call("PING")  # refused: nobody listens
    own_redis.start()
    assert await mux.call("PING") == b"PONG"


async def test_a_late_reply_is_dropped_and_a_stale_connection_replaced(
    own_redis: RedisServer,
) -> None:
    mux = RedisMux.from_url(own_redis.url, connect_timeout_s=1.0, stale_after_s=0.3)
    assert mux is not None
    try:
        await mux.call("SET", "x", "1")
        own_redis.freeze()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await mux.call("GET", "x")
        own_redis.thaw()
        # The late reply to GET arrives and is discarded; the next command gets its own reply.
        assert await mux.call("ECHO", "mine") == b"mine"
        own_redis.freeze()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await mux.call("GET", "x")
        await asyncio.sleep(0.35)
        with pytest.raises(RedisConnectionError, match="stopped answering"):
            await mux.call("GET", "x")
        own_redis.thaw()
        assert await mux.call("GET", "x") == b"1"  # over a new connection
    finally:
        own_redis.thaw()
        await mux.aclose()


async def test_at_most_max_pending_commands_wait(own_redis: RedisServer) -> None:
    mux = RedisMux.from_url(own_redis.url, max_pending=3)
    assert mux is not None
    try:
        await mux.call("PING")
        own_redis.freeze()
        waiting = [asyncio.ensure_future(mux.call("ECHO", str(i))) for i in range(3)]
        await asyncio.sleep(0.05)
        with pytest.raises(RedisConnectionError, match="already wait"):
            await mux.call("PING")
        own_redis.thaw()
        assert await asyncio.gather(*waiting) == [b"0", b"1", b"2"]
    finally:
        own_redis.thaw()
        await mux.aclose()


async def test_password_and_database_come_from_the_url(own_redis: RedisServer) -> None:
    admin = redis_asyncio.Redis(port=own_redis.port)
    await admin.config_set("requirepass", "s3cret:/@")
    try:
        url = f"redis://:s3cret%3A%2F%40@127.0.0.1:{own_redis.port}/3"
        mux = RedisMux.from_url(url)
        assert mux is not None
        await mux.call("SET", "in-db-3", "yes")
        await mux.aclose()
        check = redis_asyncio.Redis(port=own_redis.port, password="s3cret:/@", db=3)
        assert await check.get("in-db-3") == b"yes"
        await check.aclose()
        wrong = RedisMux.from_url(f"redis://:nope@127.0.0.1:{own_redis.port}/0")
        assert wrong is not None
        with pytest.raises(RedisConnectionError, match="WRONGPASS"):
            await wrong.call("PING")
        await wrong.aclose()
    finally:
        await admin.execute_command("AUTH", "s3cret:/@")
        await admin.config_set("requirepass", "")
        await admin.aclose()


def test_urls_it_does_not_understand_are_left_to_redis_py() -> None:
    assert RedisMux.from_url("redis://h:1/0?socket_timeout=3") is None
    assert RedisMux.from_url("redis+sentinel://h:1/0") is None
    assert RedisMux.from_url("rediss://h:6380/2?ssl_cert_reqs=none") is not None
    assert RedisMux.from_url("unix:///run/redis.sock?db=1") is not None


async def test_posted_commands_hand_their_replies_and_errors_to_their_slots(
    mux: RedisMux,
) -> None:
    await mux.call("SET", "text", "not a number")
    results: list[object] = []
    errors: list[Exception] = []
    slot = Posted(errors.append, results.append)
    mux.post(pack(("INCR", "n")), slot)
    mux.post(pack(("INCR", "text")), slot)  # an error reply
    mux.post(pack(("INCR", "n")), Posted(errors.append))  # result of no interest
    assert await mux.call("ECHO", "awaited in between") == b"awaited in between"
    mux.post(pack(("GET", "n")), slot)
    await mux.sync()
    assert results == [1, b"2"]
    assert len(errors) == 1 and isinstance(errors[0], ResponseError)
    assert mux.pending == 0


async def test_posting_needs_a_connection_and_a_lost_one_fails_the_posted(
    own_redis: RedisServer, mux: RedisMux
) -> None:
    errors: list[Exception] = []
    with pytest.raises(RedisConnectionError, match="not connected"):
        mux.post(pack(("PING",)), Posted(errors.append))
    assert await mux.call("PING") == b"PONG"
    own_redis.freeze()
    for i in range(4):
        mux.post(pack(("SET", f"k{i}", "v")), Posted(errors.append))
    await asyncio.sleep(0.05)
    assert mux.pending == 4
    assert own_redis.proc is not None
    own_redis.proc.kill()
    own_redis.proc.wait()
    for _ in range(100):
        if len(errors) == 4:
            break
        await asyncio.sleep(0.01)
    assert len(errors) == 4 and all(isinstance(e, RedisConnectionError) for e in errors)
    assert mux.pending == 0


async def test_a_posted_command_leaves_with_the_next_awaited_one_or_soon_after(
    own_redis: RedisServer,
) -> None:
    mux = RedisMux.from_url(own_redis.url, post_delay_s=0.05)
    reader = redis_asyncio.Redis.from_url(own_redis.url)
    assert mux is not None
    errors: list[Exception] = []
    try:
        await mux.call("PING")
        mux.post(pack(("SET", "early", "1")), Posted(errors.append))
        assert await mux.call("GET", "early") == b"1"  # written with the awaited GET
        mux.post(pack(("SET", "alone", "1")), Posted(errors.append))
        await asyncio.sleep(0.01)
        assert await reader.get("alone") is None  # held back for a while ...
        await asyncio.sleep(0.1)
        assert await reader.get("alone") == b"1"  # ... not forever
        assert errors == [] and mux.pending == 0
    finally:
        await mux.aclose()
        await reader.aclose()
