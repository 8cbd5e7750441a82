"""Pure cues of a review's identity and text: hashing, networks, devices, names, near-duplicates."""

from __future__ import annotations

import pytest

from service.features.memory import MemoryFeatureState
from service.scoring.disposable_domains import is_disposable_domain
from service.scoring.identity import (
    fallback_device_key,
    identify,
    inconsistency_cues,
    is_headless,
    keyed_hash,
    network_of,
    username_dubiousness,
)
from service.scoring.review import Account, Device, Review
from service.scoring.text_fingerprint import bands_of, is_near_duplicate, simhash_of

KEY = b"unit-test-key"
CHROME_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0.0.0"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile"


def test_keyed_hash_depends_on_key_and_kind_and_has_fixed_length() -> None:
    a = keyed_hash(KEY, "ip", "203.0.113.7")
    assert len(a) == 16 and a != keyed_hash(b"other", "ip", "203.0.113.7")
    assert a != keyed_hash(KEY, "fp", "203.0.113.7")
    assert len(keyed_hash(KEY, "a", "x" * 100_000)) == 16


@pytest.mark.parametrize(
    ("ip", "net"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        (" 203.0.113.1 ", "203.0.113.0/24"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.3", "198.51.100.0/24"),
        ("not an ip", None),
        ("", None),
    ],
)
def test_network_is_the_24_or_64(ip: str, net: str | None) -> None:
    assert network_of(ip) == net


def test_fallback_device_id_survives_browser_updates_but_not_other_screens() -> None:
    device = Device(user_agent=CHROME_WIN, accept_language="en-US,en;q=0.9", timezone="UTC")
    updated = Device(
        user_agent=CHROME_WIN.replace("131.0.0.0", "132.0.1.2"),
        accept_language="en-US",
        timezone="UTC",
    )
    assert fallback_device_key(device) == fallback_device_key(updated)
    other = Device(user_agent=CHROME_WIN, accept_language="de-DE", timezone="UTC")
    assert fallback_device_key(device) != fallback_device_key(other)
    assert fallback_device_key(Device()) is None
    review = Review("r", "p", 5, 0.0, Account(id="a"), device=updated)
    identity = identify(review, KEY)
    assert identity.device_h is not None and not identity.has_fingerprint
    with_fp = identify(Review("r", "p", 5, 0.0, Account(id="a"), Device(fingerprint="f")), KEY)
    assert with_fp.has_fingerprint and with_fp.device_h != identity.device_h


@pytest.mark.parametrize(
    ("ua", "headless"),
    [
        (CHROME_WIN, False),
        (CHROME_WIN.replace("Chrome/", "HeadlessChrome/"), True),
        ("Mozilla/5.0 (Unknown; Linux x86_64) PhantomJS/2.1.1 Safari/538.1", True),
        ("python-requests/2.31", True),
        (None, False),
    ],
)
def test_headless_browsers_are_named(ua: str | None, headless: bool) -> None:
    assert is_headless(ua) is headless


def test_inconsistent_device_cues() -> None:
    assert inconsistency_cues(Device(user_agent=IPHONE, screen="390x844")) == ()
    assert inconsistency_cues(Device(user_agent=IPHONE, screen="2560x1440")) == (
        "mobile_ua_desktop_screen",
    )
    assert "ua_two_platforms" in inconsistency_cues(
        Device(user_agent="Mozilla/5.0 (Windows NT 10.0; Android 13) Mobile")
    )
    assert inconsistency_cues(Device(screen="0x0")) == ("bad_screen",)
    assert inconsistency_cues(Device(timezone="America/Chicago")) == ()
    assert inconsistency_cues(Device(timezone="+05:00")) == ("bad_timezone",)


def test_username_dubiousness_orders_names_as_a_person_would() -> None:
    plain = username_dubiousness("jane.miller")
    some_digits = username_dubiousness("jane83")
    machine = username_dubiousness("jane83920471")
    random_ = username_dubiousness("xkq7z2vbt9w")
    assert plain == 0.0
    assert plain < some_digits < machine
    assert random_ > some_digits
    assert all(0 <= v <= 1 for v in (plain, some_digits, machine, random_))
    assert username_dubiousness(None) == 0.0


def test_disposable_domains_and_their_subdomains() -> None:
    assert is_disposable_domain("mailinator.com")
    assert is_disposable_domain("Box.Mailinator.COM")
    assert not is_disposable_domain("gmail.com")
    assert not is_disposable_domain("com")
    review = Review("r", "p", 5, 0.0, Account(id="a", email="jane839@MAILINATOR.com"))
    identity = identify(review, KEY)
    assert identity.is_disposable_email
    assert identity.username_dubiousness > 0  # the e-mail's local part stands in for a name


def test_simhash_catches_copies_not_different_reviews() -> None:
    base = "The room was clean and the staff were friendly, would stay again at this hotel"
    copy = "the room was CLEAN, and the staff were friendly!!! Would stay again at this hotel."
    other = "Terrible food, cold fries and a rude waiter, never coming back to this place again"
    a, b, c = simhash_of(base), simhash_of(copy), simhash_of(other)
    assert a is not None and b is not None and c is not None
    assert is_near_duplicate(a, b) and not is_near_duplicate(a, c)
    assert len(set(bands_of(a)) & set(bands_of(b))) >= 1
    assert simhash_of("Great hotel!") is None  # too short to call a copy
    assert simhash_of("") is None and simhash_of(None) is None


def test_duplicate_text_counts_other_accounts_within_seven_days() -> None:
    state = MemoryFeatureState(KEY)
    text = "Amazing product, best purchase ever, highly recommend it to all my friends"

    def post(i: int, account: str, at_s: float, words: str = text) -> int:
        review = Review(f"r{i}", "p", 5, 1_700_000_000 + at_s, Account(id=account), text=words)
        return state.observe(review).duplicate_accounts_7d

    assert post(0, "a", 0) == 0
    assert post(1, "a", 60) == 0  # the same account again is not another account
    assert post(2, "b", 120) == 1
    assert post(3, "c", 180, text.upper() + "!!") == 2
    assert post(4, "d", 240, "completely different words about a hotel room and its pool") == 0
    assert post(5, "e", 8 * 86400) == 0  # a week later the earlier copies are out of the window


def test_rating_without_text_and_missing_text_differ() -> None:
    state = MemoryFeatureState(KEY)
    empty = state.observe(Review("r1", "p", 1, 0.0, Account(id="a"), text=""))
    absent = state.observe(Review("r2", "p", 1, 0.0, Account(id="b"), text=None))
    assert empty.is_rating_without_text and not empty.has_text
    assert not absent.is_rating_without_text and not absent.has_text


def test_account_age_prefers_created_at() -> None:
    state = MemoryFeatureState(KEY)
    t = 1_700_000_000.0
    created = state.observe(Review("r1", "p", 5, t, Account(id="a", created_at=t - 2580)))
    assert created.account_age_s == 2580 and not created.is_account_age_from_first_seen
    state.observe(Review("r2", "p", 5, t, Account(id="b")))
    later = state.observe(Review("r3", "q", 5, t + 7200, Account(id="b")))
    assert later.account_age_s == 7200 and later.is_account_age_from_first_seen


def test_product_burst_against_its_own_usual_rate() -> None:
    state = MemoryFeatureState(KEY)
    t = 1_700_000_000.0
    n = 0
    for day in range(10):  # two reviews a day for ten days ...
        for k in range(2):
            n += 1
            state.observe(Review(f"q{n}", "p", 4, t + day * 86400 + k, Account(id=f"u{n}")))
    usual = state.observe(Review("x0", "p", 4, t + 10 * 86400, Account(id="x0")))
    assert usual.product_usual_per_24h == pytest.approx(2.0, rel=0.15)
    assert usual.product_burst_ratio < 1
    for i in range(1, 12):  # ... then a flood of 5-star reviews within an hour
        burst = state.observe(Review(f"x{i}", "p", 5, t + 10 * 86400 + i, Account(id=f"x{i}")))
    assert burst.product_reviews_1h == 12
    assert burst.product_burst_ratio > 3
    assert burst.burst_extreme_share == pytest.approx(11 / 12)
    assert burst.product_mean_rating_before is not None
    assert burst.rating_deviation == pytest.approx(5 - burst.product_mean_rating_before)
