"""The test Redis is real and private: what one test writes, Redis really holds."""

import redis


def test_private_redis_round_trip(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        client.set("rg:test:fixture", "1", ex=60)
        assert client.get("rg:test:fixture") == b"1"
        assert 0 < client.ttl("rg:test:fixture") <= 60
        client.delete("rg:test:fixture")
