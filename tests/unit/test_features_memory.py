"""The in-memory replay state: sorted-set semantics and feedback links, without Redis."""

from __future__ import annotations

from service.features.memory import MemoryFeatureState, SortedSet
from service.scoring.review import Account, Device, Review

KEY = b"unit-test-key"


def test_sorted_set_orders_by_score_then_member_like_redis() -> None:
    zset = SortedSet()
    assert zset.add(5, "b", "NX") and zset.add(5, "a", "NX") and zset.add(1, "z", "NX")
    assert not zset.add(9, "a", "NX")  # NX never updates
    assert zset.range_between(0, 5) == ["z", "a", "b"] and zset.range_between(1, 5) == ["a", "b"]
    assert not zset.add(3, "b", "GT") and zset.scores["b"] == 5  # GT never lowers
    assert not zset.add(7, "b", "GT") and zset.scores["b"] == 7
    assert zset.count(1, 7) == 2  # (1, 7]
    assert zset.newest(7, 0, 2) == ["b", "a"]
    zset.keep_newest(2)
    assert zset.range_between(0, 10) == ["a", "b"]
    zset.remove_le(5)
    assert zset.range_between(0, 10) == ["b"]
    assert zset.first_after(0) == 7 and zset.first_after(7) is None


def test_confirmed_fraud_links_in_memory_as_in_redis() -> None:
    state = MemoryFeatureState(KEY)
    fake = Review("f", "p", 5, 0.0, Account(id="bad"), Device(fingerprint="x", ip="192.0.2.1"))
    state.observe(fake)
    assert not state.link_confirmed_fraud("unknown")
    assert state.link_confirmed_fraud("f")
    other = state.observe(
        Review("g", "p", 5, 1.0, Account(id="new"), Device(fingerprint="x", ip="192.0.2.200"))
    )
    assert other.linked_device and other.linked_ip and not other.linked_account
    again = state.observe(Review("h", "q", 5, 2.0, Account(id="bad")))
    assert again.linked_account and not again.linked_device


def test_same_product_history_of_an_account() -> None:
    state = MemoryFeatureState(KEY)
    for i, product in enumerate(["p", "q", "p"]):
        f = state.observe(Review(f"r{i}", product, 1 + i, 10.0 * i, Account(id="a")))
    assert f.account_product_reviews_before == 1
    assert f.account_reviews_before == 2
    assert f.account_mean_rating_before == 1.5
    future = state.observe(Review("r9", "z", 3, 100.0, Account(id="b", created_at=500.0)))
    assert future.account_age_s == 0.0  # created "after" the review: clamped, not negative
