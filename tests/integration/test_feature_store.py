"""The feature store against a real Redis and a real 3-node Redis Cluster."""

from __future__ import annotations

import asyncio
import csv
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis_asyncio

from service.features import calls
from service.features.measure import CountingConnection
from service.features.memory import MemoryFeatureState
from service.features.store import FeatureStore, FeaturesUnavailable
from service.scoring.review import Account, Device, Review
from tests.conftest import RedisServer

HMAC_KEY = b"test-hmac-key-not-a-secret"
T0 = 1_780_000_000.0

Client = redis_asyncio.Redis | redis_asyncio.RedisCluster


@pytest.fixture(params=["single", pytest.param("cluster", marks=pytest.mark.cluster)])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[Client]:
    """A flushed client of the single Redis or of the local Redis Cluster."""
    conn: Client
    if request.param == "single":
        conn = redis_asyncio.Redis.from_url(request.getfixturevalue("redis_url"))
    else:
        conn = redis_asyncio.RedisCluster.from_url(request.getfixturevalue("redis_cluster_url"))
    await conn.flushall()
    try:
        yield conn
    finally:
        await conn.aclose()


def make_sequence(seed: int, n: int) -> list[Review]:
    """Several accounts, devices, IPs and products; increasing times; some texts copied across
    accounts; some reviews re-sent (same review_id, same content) later in the sequence."""
    rng = random.Random(seed)
    texts = [
        "the room was clean and the staff were friendly would stay again",
        "terrible food cold fries and a rude waiter never coming back here",
        "best purchase ever highly recommend to everyone who needs one",
    ]
    reviews: list[Review] = []
    t = T0
    for i in range(n):
        if reviews and rng.random() < 0.15:
            reviews.append(rng.choice(reviews))
            continue
        t += rng.choice([0.0, 1.5, 60.0, 900.0, 3600.0, 20_000.0, 86_400.0])
        account = rng.randrange(8)
        text_choice = rng.random()
        text: str | None
        if text_choice < 0.4:
            text = rng.choice(texts) + ("!" if rng.random() < 0.5 else "")
        elif text_choice < 0.6:
            text = ""
        elif text_choice < 0.8:
            text = None
        else:
            text = f"unique words number {i} about product {rng.randrange(99)} and more here"
        device = Device(
            fingerprint=f"fp-{rng.randrange(4)}" if rng.random() < 0.7 else None,
            ip=rng.choice(["203.0.113.7", "203.0.113.9", "198.51.100.1", "2001:db8::1", None]),
            user_agent=rng.choice(["Mozilla/5.0 (Windows NT 10.0) Chrome/131.0", None]),
            accept_language="en-US",
            timezone="America/Chicago",
        )
        reviews.append(
            Review(
                review_id=f"r-{i}",
                product_id=f"p-{rng.randrange(3)}",
                rating=rng.randint(1, 5),
                submitted_at=t,
                account=Account(
                    id=f"a-{account}",
                    created_at=T0 - 86_400 * account if account % 2 else None,
                    username=f"user{account}",
                    email=f"user{account}@mailinator.com" if account == 3 else None,
                ),
                device=device,
                text=text,
            )
        )
    return reviews


@pytest.mark.parametrize("order", ["in time order", "shuffled"])
async def test_online_and_offline_give_identical_features(client: Client, order: str) -> None:
    """In time order (live traffic, a replayed backlog) and out of order (a late backlog mixed in:
    the same semantics on both sides, even where latest-sighting counts are not exact)."""
    store = FeatureStore(client, HMAC_KEY, retention_s=3 * 86400)
    memory = MemoryFeatureState(HMAC_KEY, retention_s=3 * 86400)
    sequence = make_sequence(seed=7, n=160)
    if order == "shuffled":
        random.Random(4).shuffle(sequence)
    for review in sequence:
        online = (await store.observe(review)).features
        offline = memory.observe(review)
        assert online == offline, review.review_id
    # the sequence exercised what it is meant to
    assert any(memory.observe(r).duplicate_accounts_7d > 0 for r in sequence)


async def test_caps_behave_the_same_online_and_offline(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tiny caps, so that trimming to the newest entries happens all the time on both sides."""
    monkeypatch.setattr(calls, "ACCOUNT_CAP", 3)
    monkeypatch.setattr(calls, "CROWD_CAP", 4)
    monkeypatch.setattr(calls, "BAND_CAP", 2)
    monkeypatch.setattr(calls, "BAND_LIMIT", 1)
    store = FeatureStore(client, HMAC_KEY)
    memory = MemoryFeatureState(HMAC_KEY)
    for review in make_sequence(seed=21, n=120):
        assert (await store.observe(review)).features == memory.observe(review)


async def test_fifty_concurrent_reviews_from_one_device_count_exactly_fifty(
    client: Client,
) -> None:
    store = FeatureStore(client, HMAC_KEY)
    reviews = [
        Review(
            review_id=f"c-{i}",
            product_id="p-1",
            rating=5,
            submitted_at=T0,
            account=Account(id=f"a-{i}"),
            device=Device(fingerprint="one-device", ip="192.0.2.10"),
        )
        for i in range(50)
    ]
    observations = await asyncio.gather(*(store.observe(r) for r in reviews))
    # atomic: each review saw a distinct count, 1..50
    assert sorted(o.features.device_reviews_1h for o in observations) == list(range(1, 51))
    assert sorted(o.features.ip_accounts_24h for o in observations) == list(range(1, 51))
    again = await asyncio.gather(*(store.observe(r) for r in reviews))
    assert {o.features.device_reviews_24h for o in again} == {50}
    assert {o.features.device_accounts_30d for o in again} == {50}
    assert {o.features.product_reviews_1h for o in again} == {50}


async def snapshot(conn: Client) -> dict[bytes, Any]:
    """Every key's type and content (not its TTL)."""
    state: dict[bytes, Any] = {}
    for key in [k async for k in conn.scan_iter(match="rg:*")]:
        kind = await conn.type(key)
        if kind == b"zset":
            state[key] = await conn.zrange(key, 0, -1, withscores=True)
        elif kind == b"hash":
            state[key] = await conn.hgetall(key)
        else:
            state[key] = await conn.get(key)
    return state


async def test_scoring_the_same_review_again_changes_nothing(client: Client) -> None:
    store = FeatureStore(client, HMAC_KEY)
    sequence = make_sequence(seed=3, n=30)
    for review in sequence:
        await store.observe(review)
    before = await snapshot(client)
    for review in sequence:
        await store.observe(review)
    assert await snapshot(client) == before
    first = (await store.observe(sequence[-1])).features
    assert (await store.observe(sequence[-1])).features == first


async def test_every_key_has_a_ttl_bounded_length_and_no_raw_personal_data(
    client: Client,
) -> None:
    retention_s = 5 * 86400
    store = FeatureStore(client, HMAC_KEY, retention_s=retention_s)
    sequence = make_sequence(seed=11, n=60)
    long_id = "x" * 5000
    sequence.append(
        Review(
            review_id=long_id,
            product_id=long_id,
            rating=1,
            submitted_at=T0 + 99,
            account=Account(id=long_id, email="someone.private@example.org"),
            device=Device(fingerprint=long_id, ip="10.1.2.3"),
            text="",
        )
    )
    for review in sequence:
        await store.observe(review)
    await store.store_answer(sequence[0].review_id, b'{"risk_score": 0.5}')
    assert await store.link_confirmed_fraud(sequence[1].review_id)
    raw_values = {"someone.private@example.org", "10.1.2.3", "203.0.113.7", "2001:db8::1"}
    for review in sequence:
        raw_values |= {review.account.id, review.review_id, review.product_id}
        raw_values |= {v for v in (review.device.fingerprint, review.account.email) if v}
    state = await snapshot(client)
    assert len(state) > 20
    for key, value in state.items():
        ttl = await client.ttl(key)
        assert 0 < ttl <= retention_s, key
        assert len(key) <= 64, key
        text = key.decode() + repr(value)
        for raw in raw_values:
            assert raw not in text, (key, raw)


async def test_cached_answer_comes_back_with_the_features(client: Client) -> None:
    store = FeatureStore(client, HMAC_KEY)
    review = make_sequence(seed=1, n=1)[0]
    assert (await store.observe(review)).cached_answer is None
    await store.store_answer(review.review_id, b"answer-1")
    observation = await store.observe(review)
    assert observation.cached_answer == b"answer-1"


async def test_confirmed_fraud_links_device_network_and_account(client: Client) -> None:
    store = FeatureStore(client, HMAC_KEY)
    assert not await store.link_confirmed_fraud("never-seen")
    fake = Review(
        review_id="fake-1",
        product_id="p",
        rating=5,
        submitted_at=T0,
        account=Account(id="bad"),
        device=Device(fingerprint="fp-bad", ip="198.51.100.20"),
    )
    await store.observe(fake)
    assert not (await store.observe(fake)).features.linked_device
    assert await store.link_confirmed_fraud("fake-1")

    async def features_of(account: str, fingerprint: str, ip: str) -> tuple[bool, bool, bool]:
        f = (
            await store.observe(
                Review(
                    review_id=f"{account}-{fingerprint}-{ip}",
                    product_id="p",
                    rating=5,
                    submitted_at=T0 + 60,
                    account=Account(id=account),
                    device=Device(fingerprint=fingerprint, ip=ip),
                )
            )
        ).features
        return f.linked_account, f.linked_device, f.linked_ip

    assert await features_of("bad", "fp-other", "192.0.2.1") == (True, False, False)
    assert await features_of("fresh", "fp-bad", "192.0.2.1") == (False, True, False)
    # same /24 network, another address
    assert await features_of("fresh2", "fp-other2", "198.51.100.99") == (False, False, True)
    assert await features_of("fresh3", "fp-other3", "192.0.2.2") == (False, False, False)


async def test_script_cache_flush_is_recovered_from(redis_url: str) -> None:
    async with redis_asyncio.Redis.from_url(redis_url) as conn:
        store = FeatureStore(conn, HMAC_KEY)
        review = make_sequence(seed=5, n=1)[0]
        first = await store.observe(review)
        await conn.script_flush()
        assert (await store.observe(review)).features == first.features


async def _observe_with(
    server: RedisServer, action: Callable[[FeatureStore], Awaitable[object]]
) -> None:
    async with redis_asyncio.Redis.from_url(server.url, socket_timeout=0.2) as conn:
        await action(FeatureStore(conn, HMAC_KEY))


async def test_redis_down_or_frozen_becomes_features_unavailable(own_redis: RedisServer) -> None:
    review = make_sequence(seed=2, n=1)[0]
    own_redis.stop()
    with pytest.raises(FeaturesUnavailable):
        await _observe_with(own_redis, lambda store: store.observe(review))
    own_redis.start()
    with own_redis.frozen(), pytest.raises(FeaturesUnavailable):  # the client's timeout fires
        await _observe_with(own_redis, lambda store: store.observe(review))


async def test_one_round_trip_per_scored_review(redis_url: str) -> None:
    pool = redis_asyncio.ConnectionPool.from_url(redis_url, connection_class=CountingConnection)
    async with redis_asyncio.Redis(connection_pool=pool) as conn:
        store = FeatureStore(conn, HMAC_KEY)
        await store.load_scripts()
        await conn.ping()  # the connection's set-up is not the review's traffic
        full = [r for r in make_sequence(seed=9, n=40) if r.text and r.device.ip]
        assert full
        for review in full[:10]:
            CountingConnection.sends = 0
            await store.observe(review)
            assert CountingConnection.sends == 1
    await pool.aclose()


async def test_history_older_than_retention_is_dropped(client: Client) -> None:
    retention_s = 2 * 86400
    store = FeatureStore(client, HMAC_KEY, retention_s=retention_s)

    def review(i: int, at_s: float) -> Review:
        return Review(f"old-{i}", "p", 5, T0 + at_s, Account(id="a"), Device(fingerprint="f"))

    await store.observe(review(0, 0))
    assert (await store.observe(review(1, 86_400))).features.account_reviews_before == 1
    late = (await store.observe(review(2, 2.5 * 86_400))).features
    assert late.account_reviews_before == 1  # review 0 is past retention, review 1 is not
    assert late.device_accounts_30d == 1 and late.product_reviews_before == 1


@pytest.mark.shared_data
@pytest.mark.slow
async def test_yelp_replay_online_equals_offline(client: Client, shared_data: Path) -> None:
    """The way the behaviour model is fitted (offline) and evaluated (online): one day at a
    time, record the whole day, then read every review of it."""
    with (shared_data / "behavior" / "yelpchi.csv").open() as fh:
        rows = sorted(csv.DictReader(fh), key=lambda row: row["date"])[:600]
    retention_s = 3650 * 86400
    store = FeatureStore(client, HMAC_KEY, retention_s=retention_s)
    memory = MemoryFeatureState(HMAC_KEY, retention_s=retention_s)
    reviews = [
        Review(
            review_id=f"y{i}",
            product_id=row["product_id"],
            rating=int(row["rating"]),
            submitted_at=datetime.fromisoformat(row["date"]).replace(tzinfo=UTC).timestamp(),
            account=Account(id=row["user_id"]),
        )
        for i, row in enumerate(rows)
    ]
    for _, day in groupby(reviews, key=lambda r: r.submitted_at):
        day_reviews = list(day)
        for r in day_reviews:
            await store.observe(r)
            memory.observe(r)
        for r in day_reviews:
            assert (await store.observe(r)).features == memory.observe(r)


async def reads_per_node(nodes: list[redis_asyncio.Redis]) -> list[int]:
    """Read events each server has processed (INFO stats), this INFO's own read included."""
    return [int((await node.info("stats"))["total_reads_processed"]) for node in nodes]


@pytest.mark.cluster
async def test_on_a_cluster_one_round_trip_per_node(redis_cluster_url: str) -> None:
    conn = redis_asyncio.RedisCluster.from_url(redis_cluster_url)
    await conn.initialize()
    nodes = [redis_asyncio.Redis(host=n.host, port=n.port) for n in conn.get_nodes()]
    try:
        store = FeatureStore(conn, HMAC_KEY)
        await store.load_scripts()
        full = [r for r in make_sequence(seed=9, n=40) if r.text and r.device.ip]
        await store.observe(full[0])  # opens a connection to every node
        idle = [
            b - a for a, b in zip(*[await reads_per_node(nodes) for _ in range(2)], strict=True)
        ]
        per_review = []
        for review in full[1:11]:
            before = await reads_per_node(nodes)
            await store.observe(review)
            after = await reads_per_node(nodes)
            per_review.append([b - a - i for a, b, i in zip(before, after, idle, strict=True)])
        # the pipeline is split by node: each node reads its part of one review at most once
        assert all(0 <= reads <= 1 for node_reads in per_review for reads in node_reads)
        assert max(sum(node_reads) for node_reads in per_review) >= 2  # tags do spread
    finally:
        for node in nodes:
            await node.aclose()
        await conn.aclose()


async def test_product_histogram_at_the_window_edges_matches_memory(redis_url: str) -> None:
    """The product script skips counts its first entry rules out (none, later than t, inside the
    hour or the day): at the windows' exact edges, with entries later than t (a late backlog) and
    review hashes sent again, its replies are memory's, reply for reply."""
    from service.features import keys
    from service.features.store import SCRIPT_DIR

    conn = redis_asyncio.Redis.from_url(redis_url)
    await conn.flushall()
    sha = await conn.script_load((SCRIPT_DIR / "product.lua").read_text())
    memory = MemoryFeatureState(HMAC_KEY)
    retention_ms, hour, day = 3 * 86_400_000, 3_600_000, 86_400_000
    t0 = 1_780_000_000_000
    offsets = [0, hour, hour - 1, hour + 1, day, day - 1, day + 1, retention_ms,
               retention_ms - 1, retention_ms + 1, 5, 2 * day]  # fmt: skip
    rng = random.Random(11)
    product_keys = tuple(keys.product_ratings("p" * 32))
    sent: list[str] = []
    try:
        for i in range(400):
            late = rng.choice([0, 0, day, 4 * day])
            t = t0 + rng.choice(offsets) * rng.choice([1, 1, 2, 3]) + late
            review_h = rng.choice(sent) if sent and rng.random() < 0.1 else f"{i:012x}"
            sent.append(review_h)
            call = calls.ScriptCall(
                "product", product_keys, (t, review_h, rng.randint(1, 5), retention_ms, 86400)
            )
            online = await conn.evalsha(sha, len(call.keys), *call.keys, *call.args)
            assert [int(x) for x in online] == memory._product(call), (i, t)
    finally:
        await conn.aclose()


async def test_the_batch_leaves_what_the_scripts_one_by_one_leave(redis_url: str) -> None:
    """The batch script rebuilds each script's arguments from the review's own values and its
    constants: its replies, and every key, value and TTL it leaves, are those of the plan's calls
    sent one by one (as on a Cluster), on two databases."""
    from service.features.calls import plan_observe
    from service.scoring.identity import identify

    base = redis_url.rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url
    conns = [redis_asyncio.Redis.from_url(f"{base}/{db}") for db in (7, 8)]
    retention_s = 3 * 86400
    try:
        for conn in conns:
            await conn.flushdb()
        batched, one_by_one = (FeatureStore(c, HMAC_KEY, retention_s=retention_s) for c in conns)
        for review in make_sequence(seed=5, n=120):
            plan = plan_observe(review, identify(review, HMAC_KEY), retention_s)
            calls = [(c.script, c.keys, c.args) for c in plan.calls]
            assert await batched._run_batch(plan) == await one_by_one._run_pipeline(calls)

        async def state(conn: redis_asyncio.Redis) -> dict[bytes, Any]:
            found: dict[bytes, Any] = {}
            for key in sorted(await conn.keys("*")):
                kind = await conn.type(key)
                value: Any = (
                    await conn.zrange(key, 0, -1, withscores=True)
                    if kind == b"zset"
                    else await conn.hgetall(key)
                    if kind == b"hash"
                    else await conn.get(key)
                )
                found[key] = (kind, value, await conn.ttl(key))
            return found

        left, right = await state(conns[0]), await state(conns[1])
        assert len(left) > 100
        assert {k: v[:2] for k, v in left.items()} == {k: v[:2] for k, v in right.items()}
        assert all(v[2] > 0 and abs(v[2] - right[k][2]) <= 2 for k, v in left.items())
    finally:
        for conn in conns:
            await conn.aclose()


async def test_sets_are_trimmed_back_to_their_cap_by_one_review_in_sixteen(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trimming waits for a review whose hash ends in "0" (calls.trims): between two such
    reviews a crowd set grows past its cap by the reviews in between, and the next one brings it
    back to exactly the cap; features stay the replay state's throughout."""
    from service.features import keys
    from service.scoring.identity import identify

    monkeypatch.setattr(calls, "CROWD_CAP", 5)
    conn = redis_asyncio.Redis.from_url(redis_url)
    await conn.flushall()
    store = FeatureStore(conn, HMAC_KEY)
    memory = MemoryFeatureState(HMAC_KEY)
    device = Device(fingerprint="one-busy-device")
    events_key = ""
    since_trim, trimmed_at_cap = 0, 0
    try:
        for i in range(200):
            review = Review(
                review_id=f"busy-{i}",
                product_id="p",
                rating=4,
                submitted_at=T0 + i,
                account=Account(id=f"a-{i % 7}"),
                device=device,
            )
            identity = identify(review, HMAC_KEY)
            assert identity.device_h is not None
            events_key = keys.crowd_keys(keys.DEVICE, identity.device_h)[0]
            assert (await store.observe(review)).features == memory.observe(review)
            size = await conn.zcard(events_key)
            if calls.trims(identity.review_h):
                assert size == min(5, i + 1)
                trimmed_at_cap += 1
                since_trim = 0
            else:
                since_trim += 1
                assert size <= 5 + since_trim
        assert trimmed_at_cap >= 5  # the sequence exercised what it is meant to
    finally:
        await conn.aclose()
