"""One pipelined connection to a single Redis, shared by every review in flight (the hot path).

redis-py gives each command a connection from its pool, packs it in Python, writes it, waits
for its reply and hands the connection back: per review, that bookkeeping cost more worker CPU
than the Lua scripts cost Redis. Here every command of the hot path (the review's batch script,
the answer cache, the moderation record) is packed once, appended to one buffer that is written
once per turn of the event loop, and its reply is matched by order: Redis answers the commands
of one connection in the order it received them. Replies are parsed by hiredis, in C.

Only what the hot path needs: commands in, replies (or exceptions) out. Everything else (the
moderation API, monitoring, labels) keeps using redis-py. Redis Cluster keeps redis-py's
cluster pipeline; a URL this module does not understand keeps redis-py too (see ``from_url``).

Failure model, as the scorer's budget expects: a command whose reply is late is simply waited
for under the caller's timeout; its reply is discarded when it comes. A lost connection fails
every pending command at once, and the next command reconnects. A connection whose oldest
unanswered command is older than ``stale_after_s`` is dropped and replaced (a frozen or
partitioned server must not hold the connection forever), and at most ``max_pending`` commands
wait at once (beyond that, calls fail at once instead of queueing without bound).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from service.native import load

Arg = str | bytes | int | float

_NATIVE_PACK = getattr(load("featureedge"), "pack", None)


def pack(args: Sequence[Arg]) -> bytes:
    """One command in RESP, encoded as redis-py encodes it (UTF-8, ``%d`` ints, ``repr`` floats).

    In C when built (service/native/featureedge.c; ~1 µs against 2-6 µs for the commands posted
    after each answer); ``pack_python`` is the reference and packs what C leaves to it."""
    if _NATIVE_PACK is not None:
        packed: bytes | None = _NATIVE_PACK(args)
        if packed is not None:
            return packed
    return pack_python(args)


def pack_python(args: Sequence[Arg]) -> bytes:
    """``pack`` in Python: the reference, and every argument the C version leaves to it."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data: bytes
        if isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, bool):
            raise TypeError("a bool is not a Redis argument: send 0 or 1")
        elif isinstance(arg, int):
            data = b"%d" % arg
        elif isinstance(arg, float):
            data = repr(arg).encode()
        else:
            raise TypeError(f"cannot send {type(arg).__name__} to Redis")
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


# A deadline timer that runs this much after its time found the loop stalled (uvloop's clock
# ticks in milliseconds, hence not less).
LATE_S = 0.002
# How long a late deadline waits so that the loop reads its sockets once more.
LAST_POLL_S = 0.001


def _expire(future: asyncio.Future[Any], deadline: float) -> None:
    """The deadline of ``future``'s command. On time, it fails the command. Late (the worker
    was busy or off its CPU past the deadline), the reply may be waiting in the socket:
    libuv (uvloop) runs due timers before it polls the sockets in each turn, so the failure
    waits for a timer a turn later, after one more poll, and only a reply still missing then
    is a timeout."""
    if future.done():
        return
    loop = future.get_loop()
    if loop.time() - deadline > LATE_S:
        loop.call_later(LAST_POLL_S, _fail, future)
    else:
        _fail(future)


def _fail(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError("no reply from Redis before the deadline"))


def _error(message: str) -> ResponseError:
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message)
    return ResponseError(message)


class Posted:
    """Where the reply of a posted command goes (``RedisMux.post``): nobody awaits it.

    A result is handed to ``on_result`` (when given), a failure to ``on_error``. It stands in
    the pending queue where an awaited command has its future (it answers ``done()`` the same
    way), so one instance can serve every command whose result is of no interest.
    """

    __slots__ = ("on_error", "on_result")

    def __init__(
        self,
        on_error: Callable[[Exception], object],
        on_result: Callable[[Any], object] | None = None,
    ) -> None:
        self.on_error = on_error
        self.on_result = on_result

    def done(self) -> bool:
        return False

    def set_result(self, reply: Any) -> None:
        if self.on_result is not None:
            self.on_result(reply)

    def set_exception(self, exc: Exception) -> None:
        self.on_error(exc)


class _Protocol(asyncio.Protocol):
    def __init__(self, mux: RedisMux) -> None:
        self._mux = mux
        self._reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but have its methods
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        pending = self._mux._pending
        while True:
            reply = reader.gets()
            if reply is False:
                return
            if not pending:  # a reply nobody asked for: the stream is out of step
                self._mux._drop(self, RedisConnectionError("unexpected reply from Redis"))
                return
            future, _ = pending.popleft()
            if future.done():  # its caller gave up (timeout): the reply is dropped
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(_error(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._mux._drop(self, RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}"))


class RedisMux:
    """Commands to one Redis over one pipelined connection; replies matched by order."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 6379,
        unix_path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout_s: float = 1.0,
        stale_after_s: float = 2.0,
        max_pending: int = 10_000,
        post_delay_s: float = 0.002,
    ) -> None:
        self._host, self._port, self._unix_path = host, port, unix_path
        self._db, self._username, self._password = db, username, password
        self._ssl = ssl_context
        self._connect_timeout_s = connect_timeout_s
        self._stale_after_s = stale_after_s
        self._max_pending = max_pending
        self._post_delay_s = post_delay_s
        # Each command sent and not yet answered: where its reply goes, and when it was sent.
        self._pending: deque[tuple[asyncio.Future[Any] | Posted, float]] = deque()
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._buffer: list[bytes] = []
        self._flush_scheduled = False
        self._late_flush: asyncio.TimerHandle | None = None
        self._closed = False

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisMux | None:
        """A mux for ``redis://``, ``rediss://`` or ``unix://`` URLs; None for anything else."""
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if set(query) - {"db", "ssl_cert_reqs"}:
            return None  # options this module does not implement: leave it to redis-py
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        db = int(query.get("db", "0"))
        if parts.scheme == "unix":
            return cls(unix_path=unquote(parts.path), db=db, username=username, password=password,
                       **options)  # fmt: skip
        if parts.scheme not in ("redis", "rediss"):
            return None
        path_db = parts.path.strip("/")
        if path_db:
            db = int(path_db)
        context = None
        if parts.scheme == "rediss":
            context = ssl.create_default_context()
            if query.get("ssl_cert_reqs", "required").lower() in ("none", "cert_none"):
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            db=db,
            username=username,
            password=password,
            ssl_context=context,
            **options,
        )

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def call(self, *args: Arg) -> Any:
        """Send one command and wait for its reply (a Redis error reply raises)."""
        return await self.send(pack(args))

    async def send(self, packed: bytes, deadline: float | None = None) -> Any:
        """Send one packed command (see ``pack``) and wait for its reply.

        ``deadline`` (event-loop time): past it, ``TimeoutError``. The deadline fails the
        command's future, not the waiting task: a reply read in the same turn of the loop
        (a worker busy past the deadline while the reply waited in the socket) still wins,
        which cancelling the task (``asyncio.timeout``) would lose; and a deadline that finds
        the loop stalled fails the command only after the loop has read its sockets once more
        (``_expire``).
        """
        if self._protocol is None:
            if deadline is None:
                await self._connect()
            else:
                async with asyncio.timeout_at(deadline):
                    await self._connect()
        future = self._command(packed)
        if deadline is None:
            return await future
        handle = future.get_loop().call_at(deadline, _expire, future, deadline)
        try:
            return await future
        finally:
            handle.cancel()

    def post(self, packed: bytes, slot: Posted) -> None:
        """Send one packed command without waiting for its reply: ``slot`` receives it.

        For writes made after answering (the answer cache, the moderation record): no future,
        no task. It is written with the next awaited command, or ``post_delay_s`` later when
        none comes. Raises ``RedisConnectionError`` at once when not connected or when too many
        commands wait; a lost connection later hands that error to ``slot.on_error``.
        """
        self._enqueue(packed, slot)

    async def sync(self) -> None:
        """Wait until every command sent so far is answered (replies come in order)."""
        if self._protocol is not None and self._pending:
            await self.send(pack(("PING",)))

    def _command(self, packed: bytes) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._enqueue(packed, future)
        return future

    def _enqueue(self, packed: bytes, slot: asyncio.Future[Any] | Posted) -> None:
        if self._protocol is None:
            raise RedisConnectionError("not connected to Redis")
        now = time.monotonic()
        pending = self._pending
        if pending and now - pending[0][1] > self._stale_after_s:
            self._drop(self._protocol, RedisConnectionError("Redis stopped answering"))
            raise RedisConnectionError("Redis stopped answering: reconnecting")
        if len(pending) >= self._max_pending:
            raise RedisConnectionError(f"{len(pending)} commands already wait for Redis")
        pending.append((slot, now))
        self._buffer.append(packed)
        if self._flush_scheduled:
            return
        if isinstance(slot, Posted):
            # Nobody waits for it: it leaves with the next awaited command's write, or after
            # post_delay_s, one write (and one read of replies) saved per review under load.
            if self._late_flush is None:
                self._late_flush = asyncio.get_running_loop().call_later(
                    self._post_delay_s, self._flush
                )
            return
        self._flush_scheduled = True
        asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._late_flush is not None:
            self._late_flush.cancel()
            self._late_flush = None
        protocol, buffer = self._protocol, self._buffer
        if not buffer:
            return
        self._buffer = []
        if protocol is None or protocol.transport is None:
            return  # the commands' futures were failed when the connection dropped
        protocol.transport.write(b"".join(buffer) if len(buffer) > 1 else buffer[0])

    async def _connect(self) -> None:
        if self._closed:
            raise RedisConnectionError("the Redis connection is closed")
        if self._connecting is not None:
            await asyncio.shield(self._connecting)
            return
        loop = asyncio.get_running_loop()
        self._connecting = loop.create_future()
        try:
            await self._open(loop)
            self._connecting.set_result(None)
        except BaseException as exc:
            failure = (
                exc
                if isinstance(exc, RedisConnectionError)
                else RedisConnectionError(f"cannot connect to Redis: {type(exc).__name__} {exc}")
            )
            self._connecting.set_exception(failure)
            self._connecting.exception()  # retrieved: waiters raise it themselves
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise failure from exc
        finally:
            self._connecting = None

    async def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        protocol = _Protocol(self)
        if self._unix_path is not None:
            connecting = loop.create_unix_connection(lambda: protocol, self._unix_path)
        else:
            connecting = loop.create_connection(
                lambda: protocol, self._host, self._port, ssl=self._ssl
            )
        async with asyncio.timeout(self._connect_timeout_s):
            await connecting
            self._protocol = protocol
            hello: list[asyncio.Future[Any]] = []
            if self._password is not None:
                auth: tuple[Arg, ...] = (self._username, self._password) if self._username else (
                    self._password,
                )  # fmt: skip
                hello.append(self._command(pack(("AUTH", *auth))))
            if self._db:
                hello.append(self._command(pack(("SELECT", self._db))))
            try:
                for reply in hello:
                    await reply
            except BaseException:
                self._drop(protocol, RedisConnectionError("Redis refused AUTH or SELECT"))
                raise

    def _drop(self, protocol: _Protocol, exc: Exception) -> None:
        """Forget a connection and fail what waits on it (once per connection)."""
        if self._protocol is not protocol:
            return
        self._protocol = None
        self._buffer = []
        pending, self._pending = self._pending, deque()
        for future, _ in pending:
            if not future.done():
                future.set_exception(exc)
        if protocol.transport is not None:
            protocol.transport.abort()

    async def aclose(self) -> None:
        self._closed = True
        if self._protocol is not None:
            self._drop(self._protocol, RedisConnectionError("the Redis connection is closed"))
