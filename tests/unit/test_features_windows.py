"""Window counts of the replay state against a plain reference model (hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from service.features.memory import MemoryFeatureState
from service.scoring.features import DAY_S, HOUR_S, WEEK_S
from service.scoring.review import Account, Device, Review

KEY = b"unit-test-key"
RETENTION_S = 60 * DAY_S
T0 = 1_700_000_000
GAPS_S = [0, 1, 1800, 3599, 3600, 3601, 23 * HOUR_S, DAY_S, DAY_S + 1]


@dataclass(frozen=True)
class Op:
    resend: int | None  # index of an earlier op to send again, else a new review
    gap_s: int
    account: int
    device: int
    ip: int
    product: int
    rating: int


ops = st.lists(
    st.builds(
        Op,
        resend=st.none() | st.integers(0, 40),
        gap_s=st.sampled_from(GAPS_S),
        account=st.integers(0, 3),
        device=st.integers(0, 2),
        ip=st.integers(0, 3),
        product=st.integers(0, 1),
        rating=st.integers(1, 5),
    ),
    min_size=1,
    max_size=40,
)


def in_window(ts: int, t: int, window_s: int) -> bool:
    return t - window_s < ts <= t


class Reference:
    """What the features mean, computed the slow, obvious way from every recorded review."""

    def __init__(self) -> None:
        self.recorded: dict[str, Review] = {}

    def record(self, review: Review) -> None:
        self.recorded.setdefault(review.review_id, review)

    def others(self, review: Review) -> list[Review]:
        return [
            r
            for r in self.recorded.values()
            if r.review_id != review.review_id and r.submitted_at <= review.submitted_at
        ]

    def count(self, review: Review, same: str, window_s: int) -> int:
        t = int(review.submitted_at)
        return sum(
            1
            for r in self.recorded.values()
            if _entity(r, same) == _entity(review, same)
            and _entity(r, same) is not None
            and in_window(int(r.submitted_at), t, window_s)
        )

    def accounts(self, review: Review, same: str, window_s: int) -> int:
        """Distinct accounts by their latest sighting on the entity (the documented semantics)."""
        last_seen: dict[str, int] = {}
        for r in self.recorded.values():
            if _entity(r, same) == _entity(review, same) and _entity(r, same) is not None:
                prev = last_seen.get(r.account.id, -1)
                last_seen[r.account.id] = max(prev, int(r.submitted_at))
        t = int(review.submitted_at)
        return sum(1 for ts in last_seen.values() if in_window(ts, t, window_s))


def _entity(review: Review, kind: str) -> str | None:
    if kind == "account":
        return review.account.id
    if kind == "product":
        return review.product_id
    if kind == "device":
        return review.device.fingerprint
    if kind == "ip":
        return review.device.ip
    # the /24 network: ips 10.0.0.1 and 10.0.0.2 share one, 10.0.9.1 is another
    assert review.device.ip is not None
    return review.device.ip.rsplit(".", 1)[0]


def build(ops_: list[Op]) -> list[Review]:
    reviews: list[Review] = []
    t = T0
    for i, op in enumerate(ops_):
        if op.resend is not None and op.resend < len(reviews):
            reviews.append(reviews[op.resend])
            continue
        t += op.gap_s
        ip = ["10.0.0.1", "10.0.0.2", "10.0.9.1", "10.0.9.2"][op.ip]
        reviews.append(
            Review(
                review_id=f"r{i}",
                product_id=f"p{op.product}",
                rating=op.rating,
                submitted_at=float(t),
                account=Account(id=f"a{op.account}"),
                device=Device(fingerprint=f"d{op.device}", ip=ip),
            )
        )
    return reviews


@settings(max_examples=150, deadline=None)
@given(ops)
def test_window_counts_match_the_reference(ops_: list[Op]) -> None:
    state = MemoryFeatureState(KEY, retention_s=RETENTION_S)
    ref = Reference()
    for review in build(ops_):
        f = state.observe(review)
        ref.record(review)
        assert f.account_reviews_1h == ref.count(review, "account", HOUR_S)
        assert f.account_reviews_24h == ref.count(review, "account", DAY_S)
        assert f.account_reviews_7d == ref.count(review, "account", WEEK_S)
        assert f.device_reviews_1h == ref.count(review, "device", HOUR_S)
        assert f.device_reviews_24h == ref.count(review, "device", DAY_S)
        assert f.ip_reviews_1h == ref.count(review, "ip", HOUR_S)
        assert f.ip_reviews_24h == ref.count(review, "ip", DAY_S)
        assert f.net_reviews_24h == ref.count(review, "net", DAY_S)
        assert f.product_reviews_1h == ref.count(review, "product", HOUR_S)
        assert f.product_reviews_24h == ref.count(review, "product", DAY_S)
        assert f.device_accounts_24h == ref.accounts(review, "device", DAY_S)
        assert f.device_accounts_30d == ref.accounts(review, "device", 30 * DAY_S)
        assert f.ip_accounts_1h == ref.accounts(review, "ip", HOUR_S)
        assert f.net_accounts_24h == ref.accounts(review, "net", DAY_S)

        earlier = ref.others(review)
        mine = [r for r in earlier if r.account.id == review.account.id]
        assert f.account_reviews_before == len(mine)
        assert f.is_first_review == (not mine)
        assert f.account_product_reviews_before == sum(
            r.product_id == review.product_id for r in mine
        )
        if mine:
            mean = sum(r.rating for r in mine) / len(mine)
            assert f.account_mean_rating_before == mean
            share = sum(r.rating in (1, 5) for r in mine) / len(mine)
            assert f.account_extreme_share_before == share
        else:
            assert f.account_mean_rating_before is None
        product = [r for r in earlier if r.product_id == review.product_id]
        assert f.product_reviews_before == len(product)
        if product:
            mean = sum(r.rating for r in product) / len(product)
            assert f.product_mean_rating_before == mean
            assert f.rating_deviation == abs(review.rating - mean)
        else:
            assert f.product_mean_rating_before is None
        day = [
            r
            for r in ref.recorded.values()
            if r.product_id == review.product_id
            and in_window(int(r.submitted_at), int(review.submitted_at), DAY_S)
        ]
        assert f.burst_extreme_share == sum(r.rating in (1, 5) for r in day) / len(day)
        first_seen = min(int(r.submitted_at) for r in [*mine, review])
        assert f.account_age_s == int(review.submitted_at) - first_seen


@settings(max_examples=60, deadline=None)
@given(ops)
def test_sending_a_review_again_changes_no_later_feature(ops_: list[Op]) -> None:
    """Re-sends interleaved anywhere: every first sighting reads as with no re-sends at all."""
    reviews = build(ops_)
    with_resends = MemoryFeatureState(KEY, retention_s=RETENTION_S)
    without = MemoryFeatureState(KEY, retention_s=RETENTION_S)
    seen: set[str] = set()
    for review in reviews:
        again = with_resends.observe(review)
        if review.review_id in seen:
            continue
        seen.add(review.review_id)
        assert again == without.observe(review)
