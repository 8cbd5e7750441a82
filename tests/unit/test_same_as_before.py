"""The faster scoring code gives exactly what the plain definitions it replaced gave.

Each `old_*` below is the earlier code, kept verbatim as the definition; the tests compare it with
the current code on every text of the shared data and on generated inputs (ASCII-heavy, since the
fast paths are ASCII ones, and arbitrary Unicode).
"""

from __future__ import annotations

import csv
import dataclasses
import hmac
import ipaddress
import math
import re
import unicodedata
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from service.features import keys
from service.features.calls import (
    ACCOUNT_CAP,
    BAND_CAP,
    BAND_LIMIT,
    CROWD_CAP,
    LONG_WINDOW_S,
    REVIEW_VALUES,
    Plan,
    ScriptCall,
    decode_replies,
    entity_record,
    plan_observe,
)
from service.monitoring.live import LiveProfile
from service.monitoring.metrics import MonitoringMetrics
from service.monitoring.profile import (
    BY_NAME,
    Histograms,
    ReferenceProfile,
    TextDescriptors,
    describe,
    observations,
)
from service.scorer import Scored, Verdict
from service.scoring.behaviour import BehaviourModel
from service.scoring.disposable_domains import DISPOSABLE_DOMAINS, is_disposable_domain
from service.scoring.features import (
    DAY_S,
    NO_CROWD,
    WEEK_S,
    AccountState,
    CrowdState,
    Features,
    ProductState,
    RawState,
    derive_features,
    to_ms,
)
from service.scoring.fusion import GROUP_OF, Assessment, FusionConfig, Reason, assess
from service.scoring.identity import (
    HEADLESS_MARKERS,
    Identity,
    _char_class,
    canonical_ip,
    email_parts,
    fallback_device_key,
    identify,
    inconsistency_cues,
    is_headless,
    keyed_hash,
    network_of,
    product_hash_short,
    username_dubiousness,
)
from service.scoring.review import Account, Device, Review
from service.scoring.text_fingerprint import (
    bands_of,
    is_near_duplicate,
    normalise,
    simhash_hex,
    simhash_of,
)
from service.scoring.text_signals import (
    _EXTREME_WORDS,
    _STOP_WORDS,
    EMOTICON,
    TextSignals,
    describe_text,
)
from service.settings import Settings
from tests.unit import fusion_before

ASCII_TEXT = st.text(alphabet=st.characters(max_codepoint=127), max_size=400)
ANY_TEXT = st.text(max_size=300)
# Review-like ASCII: words, digits, apostrophes, punctuation runs, emoticons, odd spacing.
_PIECES = (
    "Great", "HOTEL", "room", "don't", "rock'n'roll", "'tis", "it''s", "5", "x2",
    "under_score", "!!!", "?!", "!", ":)", ":-(", ";P", "=D", "<3", ":", ";", "=",
    "<", "-", ",", ".", " ", "  ", "\t", "\n", "\x1f", "never", "best", "the",
    "AMAZING", "amazing", "a", "I", "caf\u00e9", "\u00c9NORME", "\U0001f600", "\u2600",
    "\u27bf", "\u27c0", "\U0001faff", "\U0001fb00", "3", "D", "P", "p", ")", "(", "'",
)  # fmt: skip
REVIEW_TEXT = st.lists(st.sampled_from(_PIECES), max_size=60).map("".join)


def shared_texts(shared_data: Path) -> list[str]:
    texts: list[str] = []
    for name in ("ott_folds1-4.csv", "salminen_subset.csv"):
        with (shared_data / "text" / name).open(newline="", encoding="utf-8") as f:
            texts.extend(row["text"] for row in csv.DictReader(f))
    assert len(texts) > 7000
    return texts


# --- service/scoring/text_fingerprint.py --------------------------------------------------------

_OLD_WORD = re.compile(r"\w+", re.UNICODE)


def old_normalise(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.casefold())
    if not folded.isascii():
        folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _OLD_WORD.findall(folded)


@settings(max_examples=500, deadline=None)
@given(st.one_of(ASCII_TEXT, ANY_TEXT, REVIEW_TEXT))
def test_normalise_as_before(text: str) -> None:
    assert normalise(text) == old_normalise(text)


def test_normalise_every_ascii_character() -> None:
    text = "".join(map(chr, range(128))) * 2
    assert normalise(text) == old_normalise(text)


@pytest.mark.shared_data
def test_normalise_and_simhash_as_before_on_every_shared_text(shared_data: Path) -> None:
    from tests.unit.test_simhash_reference import reference_simhash

    for text in shared_texts(shared_data):
        assert normalise(text) == old_normalise(text)
        assert simhash_of(text) == reference_simhash(text)


# --- service/scoring/identity.py ----------------------------------------------------------------


def old_keyed_hash(key: bytes, kind: str, value: str, hex_len: int = 16) -> str:
    mac = hmac.new(key, kind.encode() + b"\x00" + value.encode("utf-8", "surrogatepass"), "sha256")
    return mac.hexdigest()[:hex_len]


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.sampled_from(["a", "r", "ip"]), ANY_TEXT)
def test_keyed_hash_as_before(key: bytes, kind: str, value: str) -> None:
    for hex_len in (8, 12, 16, 64):
        assert keyed_hash(key, kind, value, hex_len) == old_keyed_hash(key, kind, value, hex_len)


@pytest.mark.parametrize("size", [1, 31, 63, 64, 65, 128, 1000])
def test_keyed_hash_as_before_around_the_block_size(size: int) -> None:
    key = bytes(range(256))[:size] * (size // 256 + 1)
    assert keyed_hash(key, "a", "x" * size) == old_keyed_hash(key, "a", "x" * size)


def old_network_of(ip: str) -> str | None:
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def old_canonical_ip(ip: str) -> str | None:
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


_OCTETS = st.sampled_from(["0", "00", "01", "1", "9", "10", "99", "100", "199", "200", "249"])
_MORE_OCTETS = st.sampled_from(
    ["250", "255", "256", "260", "300", "999", "1000", "", "-1", "\u0661"]
)
IP_LIKE = st.one_of(
    st.ip_addresses().map(str),
    st.lists(st.one_of(_OCTETS, _MORE_OCTETS), min_size=3, max_size=5).map(".".join),
    st.tuples(
        st.sampled_from(["", " ", "\t", "\n"]),
        st.ip_addresses(v=4).map(str),
        st.sampled_from(["", " ", "\n", "x", "/24", ".", ":80"]),
    ).map("".join),
    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
    ASCII_TEXT,
    st.builds(  # IPv6 as people write it: padded, upper case, "::" anywhere, mapped, scoped
        lambda a, form, pad, upper, suffix: (
            (_ipv6_form(a, form, pad).upper() if upper else _ipv6_form(a, form, pad)) + suffix
        ),
        st.one_of(
            st.ip_addresses(v=6),
            st.ip_addresses(v=4).map(lambda a: ipaddress.IPv6Address(f"::ffff:{a}")),
            st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0xDB8]), min_size=8, max_size=8).map(
                lambda g: ipaddress.IPv6Address(":".join(f"{x:x}" for x in g))
            ),
        ),
        st.sampled_from(["compressed", "exploded", "plain", "every_run"]),
        st.booleans(),
        st.booleans(),
        st.sampled_from(["", "", "", ":", "::", ":1", "%eth0", "0", " ", "g"]),
    ),
    st.text(alphabet="0123456789abcdefABCDEF:.% ", max_size=45),
)


def _ipv6_form(address: ipaddress.IPv6Address, form: str, pad: bool) -> str:
    """A text of ``address``: ipaddress's forms, the groups without "::", or a "::" for some
    run of zero groups that need not be the longest (all are valid inputs)."""
    if form == "compressed":
        return address.compressed
    if form == "exploded":
        return address.exploded
    groups = [
        f"{int(address.exploded[i : i + 4], 16):{'04x' if pad else 'x'}}" for i in range(0, 39, 5)
    ]
    if form == "plain":
        return ":".join(groups)
    zero = [i for i, g in enumerate(groups) if int(g, 16) == 0]
    if not zero:
        return ":".join(groups)
    start = zero[-1]
    while start - 1 in zero:
        start -= 1
    return f"{':'.join(groups[:start])}::{':'.join(groups[zero[-1] + 1 :])}"


@settings(max_examples=1000, deadline=None)
@given(IP_LIKE)
def test_addresses_and_networks_as_before(ip: str) -> None:
    assert canonical_ip(ip) == old_canonical_ip(ip)
    assert network_of(ip) == old_network_of(ip)


def test_ipv6_texts_as_before() -> None:
    texts = [
        "::", "::1", "1::", "::0", "0::0", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1::8",
        "1:2:3:4:5:6:7:8", "1:0:0:2:0:0:0:3", "1:0:0:0:2:0:0:0", "0:0:1:0:0:1:0:0",
        "0000:0000:0000:0000:0000:ffff:0102:0304", "::ffff:102:304", "::FFFF:0:0",
        "::fffe:102:304", "0:0:0:0:1:ffff:102:304", "2001:DB8::0001", "2001:db8:0:0:1::",
        "1:2:3:4:5:6:7:8:9", "1::2::3", ":::", ":1::", "1::2:", "12345::", "::1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7", "1:2:3:4:5:6:7::8", "fe80::1%eth0", "fe80::1%", "::1.2.3.4",
        "::ffff:1.2.3.4", " 2001:db8::1 ", "2001:db8::1/64", "::g", ":", "", "::00000",
    ]  # fmt: skip
    for ip in texts:
        assert canonical_ip(ip) == old_canonical_ip(ip), ip
        assert network_of(ip) == old_network_of(ip), ip


def test_every_canonical_octet_as_before() -> None:
    for octet in [*map(str, range(300)), "00", "01", "099", "0255"]:
        for ip in (f"{octet}.1.2.3", f"1.2.3.{octet}"):
            assert canonical_ip(ip) == old_canonical_ip(ip)
            assert network_of(ip) == old_network_of(ip)


def old_username_dubiousness(name: str | None) -> float:
    if not name:
        return 0.0
    chars = [ch for ch in name.strip() if not ch.isspace()]
    if not chars:
        return 0.0
    classes = [_char_class(ch) for ch in chars]
    n = len(classes)
    digit_share = classes.count("d") / n
    longest = {"d": 0, "c": 0}
    run_class, run = "", 0
    switches = 0
    for i, cls in enumerate(classes):
        if cls == run_class:
            run += 1
        else:
            if i > 0 and {cls, run_class} & {"d", "o"}:
                switches += 1
            run_class, run = cls, 1
        if cls in longest:
            longest[cls] = max(longest[cls], run)
    digit_run = 0.0 if longest["d"] < 4 else min(1.0, longest["d"] / 8)
    consonant_run = 0.0 if longest["c"] < 4 else min(1.0, longest["c"] / 6)
    switch_rate = switches / n
    switchy = max(0.0, min(1.0, (switch_rate - 0.3) / 0.4))
    return (digit_share + digit_run + consonant_run + switchy) / 4


NAME_LIKE = st.one_of(
    ASCII_TEXT,
    ANY_TEXT,
    st.text(alphabet="aeiouyAEY bcdxkqzBXZ0123456789._-\t\x1c", max_size=30),
)


@settings(max_examples=1000, deadline=None)
@given(NAME_LIKE)
def test_username_dubiousness_as_before(name: str) -> None:
    assert username_dubiousness(name) == old_username_dubiousness(name)


def old_inconsistency_cues(device: Device) -> tuple[str, ...]:
    cues: list[str] = []
    ua = (device.user_agent or "").lower()
    platforms = {
        "windows": "windows nt" in ua,
        "ios": "iphone" in ua or "ipad" in ua,
        "android": "android" in ua,
        "mac": "macintosh" in ua,
        "linux": "x11; linux" in ua,
    }
    if sum(platforms.values()) >= 2:
        cues.append("ua_two_platforms")
    size = None
    if device.screen:
        match = re.fullmatch(
            r"\s*(\d{1,6})\s*[x*,\u00d7]\s*(\d{1,6})(?:\s*[x*,\u00d7]\s*\d{1,3})?\s*",
            device.screen,
        )
        size = None if match is None else (int(match.group(1)), int(match.group(2)))
    is_phone_ua = "iphone" in ua or ("android" in ua and "mobile" in ua)
    if size is not None and is_phone_ua and min(size) > 1024:
        cues.append("mobile_ua_desktop_screen")
    if device.screen and (size is None or not all(1 <= side <= 20000 for side in size)):
        cues.append("bad_screen")
    tz = (device.timezone or "").strip()
    if (
        tz
        and tz not in {"UTC", "GMT"}
        and re.fullmatch(r"[A-Za-z_]+(/[A-Za-z0-9_+\-]+)+", tz) is None
    ):
        cues.append("bad_timezone")
    return tuple(cues)


_UA_PARTS = st.sampled_from(
    ["Windows NT 10.0", "iPhone", "iPad", "Android 14", "Mobile", "Macintosh", "X11; Linux", "x"]
)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(_UA_PARTS, max_size=4).map("; ".join),
    st.one_of(
        st.none(),
        st.sampled_from(["1920x1080", "390x844", "2048 x 2732", "0x0", "99999x1", "1x1x24"]),
        st.text(alphabet="0123456789x* ,\u00d7\u0661", max_size=14),
    ),
    st.one_of(
        st.none(),
        st.sampled_from(["UTC", "GMT", "Europe/Berlin", "America/Argentina/Salta", "+02:00"]),
        ASCII_TEXT,
    ),
)
def test_inconsistency_cues_as_before(ua: str, screen: str | None, tz: str | None) -> None:
    device = Device(user_agent=ua, screen=screen, timezone=tz)
    assert inconsistency_cues(device) == old_inconsistency_cues(device)


def old_is_headless(user_agent: str | None) -> bool:
    ua = (user_agent or "").lower()
    return any(marker in ua for marker in HEADLESS_MARKERS)


def old_is_disposable_domain(domain: str) -> bool:
    domain = domain.strip().lower().rstrip(".")
    parts = domain.split(".")
    return any(".".join(parts[i:]) in DISPOSABLE_DOMAINS for i in range(len(parts) - 1))


def old_identify(review: Review, hmac_key: bytes) -> Identity:
    device = review.device
    fingerprint = (device.fingerprint or "").strip()
    if fingerprint:
        device_h: str | None = old_keyed_hash(hmac_key, "fp", fingerprint)
    else:
        fallback = fallback_device_key(device)
        device_h = None if fallback is None else old_keyed_hash(hmac_key, "dev", fallback)
    ip = old_canonical_ip(device.ip) if device.ip else None
    net = old_network_of(ip) if ip else None
    parts = email_parts(review.account.email)
    name = review.account.username or (parts[0] if parts else None)
    return Identity(
        review_h=old_keyed_hash(hmac_key, "r", review.review_id, 12),
        account_h=old_keyed_hash(hmac_key, "a", review.account.id),
        product_h=old_keyed_hash(hmac_key, "p", review.product_id),
        device_h=device_h,
        has_fingerprint=bool(fingerprint),
        ip_h=None if ip is None else old_keyed_hash(hmac_key, "ip", ip),
        net_h=None if net is None else old_keyed_hash(hmac_key, "net", net),
        simhash=simhash_of(review.text),
        is_headless=old_is_headless(device.user_agent),
        is_inconsistent_device=bool(old_inconsistency_cues(device)),
        is_disposable_email=parts is not None and old_is_disposable_domain(parts[1]),
        username_dubiousness=old_username_dubiousness(name),
    )


_DOMAINS = st.one_of(
    st.sampled_from(
        [
            "gmail.com", "MAILINATOR.com", "x.mailinator.com.", "a.b.yopmail.com", "com",
            "mailinator", ".mailinator.com", "mailinator..com", "..", ".", "", " Gmx.DE ",
        ]
    ),
    st.sampled_from(sorted(DISPOSABLE_DOMAINS)),
    st.text(alphabet="abm.-", max_size=12),
    ANY_TEXT,
)  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(_DOMAINS)
def test_disposable_domains_as_before(domain: str) -> None:
    assert is_disposable_domain(domain) == old_is_disposable_domain(domain)


_USER_AGENTS = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile",
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Mobile Safari/537.36",
            "Mozilla/5.0 (Linux; Android 14; SM-X910) AppleWebKit/537.36 Safari/537.36",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 HeadlessChrome/131.0",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Version/17.6",
        ]
    ),
    st.lists(
        st.one_of(_UA_PARTS, st.sampled_from([*HEADLESS_MARKERS, "HeadlessChrome/120", "Curl/8"])),
        max_size=4,
    ).map("; ".join),
    ANY_TEXT,
)
_OPTIONAL_TEXT = st.one_of(st.none(), st.just(""), st.just("  "), ASCII_TEXT)
IDENTIFIED_REVIEWS = st.builds(
    Review,
    review_id=ASCII_TEXT,
    product_id=ANY_TEXT,
    rating=st.integers(1, 5),
    submitted_at=st.just(1_790_000_000.0),
    account=st.builds(
        Account,
        id=ANY_TEXT,
        username=st.one_of(st.none(), NAME_LIKE),
        email=st.one_of(
            st.none(),
            st.tuples(st.one_of(st.just(""), NAME_LIKE), _DOMAINS).map("@".join),
            ASCII_TEXT,
        ),
    ),
    device=st.builds(
        Device,
        fingerprint=_OPTIONAL_TEXT,
        ip=st.one_of(st.none(), IP_LIKE),
        user_agent=_USER_AGENTS,
        accept_language=_OPTIONAL_TEXT,
        timezone=st.one_of(  # mostly consistent devices, so that each cue decides alone
            st.sampled_from(["UTC", " GMT ", "Europe/Berlin", "America/Sao_Paulo"]),
            st.sampled_from([None, "", "+02:00"]),
            ASCII_TEXT,
        ),
        screen=st.one_of(
            st.sampled_from(["1920x1080", "390x844", "412 x 915", "2048x2732", "1440X900"]),
            st.sampled_from([None, "", "0x0", "99999x1"]),
            st.text(alphabet="0123456789x* ,\u00d7", max_size=12),
        ),
    ),
    text=st.one_of(st.none(), REVIEW_TEXT),
)


@settings(max_examples=1000, deadline=None)
@given(IDENTIFIED_REVIEWS, st.sampled_from([b"k", b"\x00" * 64, bytes(range(100))]))
def test_identify_as_before(review: Review, key: bytes) -> None:
    assert identify(review, key) == old_identify(review, key)
    assert is_headless(review.device.user_agent) == old_is_headless(review.device.user_agent)
    assert inconsistency_cues(review.device) == old_inconsistency_cues(review.device)


# --- service/scoring/text_signals.py and service/monitoring/profile.py --------------------------

_OLD_SIGNAL_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
_OLD_EXCLAIM_RUN = re.compile(r"[!?]{2,}")
_OLD_ASCII_UPPER = re.compile(r"[A-Z]")
_OLD_EMOTICON = re.compile(r"(?::|;|=)-?[)(DPp]|<3|[\U0001F300-\U0001FAFF\u2600-\u27BF]")


def old_describe_text(text: str) -> TextSignals:
    words = _OLD_SIGNAL_WORD.findall(text.lower())
    content = [w for w in words if len(w) > 2 and w not in _STOP_WORDS]
    if text.isascii():
        letters = sum(map(len, words)) - sum(w.count("'") for w in words)
        upper = len(_OLD_ASCII_UPPER.findall(text))
    else:
        letters = sum(1 for c in text if c.isalpha())
        upper = sum(1 for c in text if c.isupper())
    counts = Counter(content)
    top_word, top_repeats = counts.most_common(1)[0] if counts else ("", 0)
    has_emoticon_chars = not text.isascii() or any(c in text for c in ":;=<")
    return TextSignals(
        n_chars=len(text),
        n_words=len(words),
        exclamation_runs=len(_OLD_EXCLAIM_RUN.findall(text)),
        exclamations=text.count("!"),
        emoticons=len(_OLD_EMOTICON.findall(text)) if has_emoticon_chars else 0,
        uppercase_share=upper / letters if letters >= 20 else 0.0,
        extreme_share=sum(1 for w in words if w in _EXTREME_WORDS) / len(words) if words else 0.0,
        top_word=top_word,
        top_word_repeats=top_repeats,
        distinct_share=len(counts) / len(content) if content else 1.0,
    )


_OLD_LETTERS = re.compile(r"[^\W\d_]+")


def old_describe(text: str, vocabulary: frozenset[str] | None) -> TextDescriptors:
    words = _OLD_LETTERS.findall(text.lower())
    letters = sum(map(len, words))
    visible = sum(map(len, text.split()))
    per_100 = 100 / max(1, len(text))
    oov: float | None = None
    if vocabulary and words:
        known = sum(1 for _ in filter(vocabulary.__contains__, words))
        oov = 1 - known / len(words)
    emoticons = 0
    if not text.isascii() or ":" in text or ";" in text or "=" in text or "<" in text:
        emoticons = len(_OLD_EMOTICON.findall(text))
    return TextDescriptors(
        length=len(text),
        nonletter_share=(visible - letters) / visible if visible else 0.0,
        exclamation_density=text.count("!") * per_100,
        emoji_density=emoticons * per_100,
        oov_share=oov,
    )


VOCABULARY = frozenset(["great", "hotel", "room", "the", "best", "don", "never", "caf"])


@settings(max_examples=1000, deadline=None)
@given(st.one_of(ASCII_TEXT, ANY_TEXT, REVIEW_TEXT))
def test_text_descriptions_as_before(text: str) -> None:
    assert EMOTICON.findall(text) == _OLD_EMOTICON.findall(text)
    assert describe_text(text) == old_describe_text(text)
    for vocabulary in (None, VOCABULARY):
        assert describe(text, vocabulary) == old_describe(text, vocabulary)


def test_text_descriptions_of_every_ascii_character() -> None:
    text = "".join(map(chr, range(128))) * 2
    assert describe_text(text) == old_describe_text(text)
    assert describe(text, VOCABULARY) == old_describe(text, VOCABULARY)


@pytest.mark.shared_data
def test_text_descriptions_as_before_on_every_shared_text(shared_data: Path) -> None:
    texts = shared_texts(shared_data)
    vocabulary = frozenset(w for text in texts[::3] for w in _OLD_LETTERS.findall(text.lower()))
    for text in texts:
        assert describe_text(text) == old_describe_text(text)
        assert describe(text, vocabulary) == old_describe(text, vocabulary)


# --- service/scoring/fusion.py and behaviour.py (the earlier fusion: tests/unit/fusion_before.py) -

BEHAVIOUR = BehaviourModel.load(Settings().behaviour_model_path)
_FIELD_VALUES = {
    "int": st.integers(0, 300),
    "bool": st.booleans(),
    "float": st.one_of(st.floats(0, 10), st.floats(0, 3e6)),
    "float | None": st.one_of(st.none(), st.floats(0, 5), st.floats(0, 3e6)),
}
FEATURES = st.builds(
    Features, **{f.name: _FIELD_VALUES[str(f.type)] for f in dataclasses.fields(Features)}
)
CONFIGS = st.sampled_from([FusionConfig(), FusionConfig(group_cap=1.0, min_reason=0.2)])


def old_group_terms(model: BehaviourModel, features: Features) -> dict[str, float]:
    terms = dict.fromkeys(model.groups, 0.0)
    for f in model.features:
        terms[f.group] += f.term(getattr(features, f.name))
    return terms


def as_before(a: Assessment, old: fusion_before.Assessment) -> bool:
    fields = (a.risk_score, a.risk_level, a.decision, a.degraded)
    reasons = [(r.code, r.message, r.contribution) for r in a.reasons]
    old_reasons = [(r.code, r.message, r.contribution) for r in old.reasons]
    return fields == (old.risk_score, old.risk_level, old.decision, old.degraded) and (
        reasons == old_reasons
    )


@settings(max_examples=1000, deadline=None)
@given(
    FEATURES,
    st.one_of(st.none(), st.just(""), REVIEW_TEXT),
    st.one_of(st.none(), st.floats(0, 1)),
    st.floats(0.01, 0.99),
    st.sampled_from([None, BEHAVIOUR]),
    CONFIGS,
)
def test_assess_as_before(
    features: Features,
    text: str | None,
    probability: float | None,
    prior: float,
    behaviour: BehaviourModel | None,
    config: FusionConfig,
) -> None:
    assert BEHAVIOUR.group_terms(features) == old_group_terms(BEHAVIOUR, features)
    for f in (features, None):
        kwargs = {
            "text": text,
            "text_probability": probability,
            "text_prior": prior,
            "features": f,
            "behaviour": behaviour,
            "config": config,
            "missing": None if f else "timeout",
        }
        assert as_before(assess(**kwargs), fusion_before.assess(**kwargs))  # type: ignore[arg-type]


def test_binned_term_is_the_inlined_one() -> None:
    f = BEHAVIOUR.features[0]
    for value in (None, -1.0, *f.edges, 1e9):
        expected = (
            f.missing_weight - f.center
            if value is None
            else f.weights[bisect_right(f.edges, float(value))] - f.center
        )
        assert f.term(value) == expected


@pytest.mark.shared_data
def test_assess_as_before_on_every_shared_text(shared_data: Path) -> None:
    features = Features(
        **{f.name: False if str(f.type) == "bool" else 1 for f in dataclasses.fields(Features)}
    )
    for i, text in enumerate(shared_texts(shared_data)):
        kwargs = {
            "text": text,
            "text_probability": (i % 101) / 100,
            "text_prior": 0.3,
            "features": features,
            "behaviour": BEHAVIOUR,
            "config": FusionConfig(),
        }
        assert as_before(assess(**kwargs), fusion_before.assess(**kwargs))  # type: ignore[arg-type]


# --- service/monitoring/live.py -----------------------------------------------------------------


def old_observe(
    scored: Scored, pending: Counter[str], m: MonitoringMetrics, reference: ReferenceProfile
) -> None:
    """LiveProfile.observe and _check_integrity as they were (max length from the reference)."""
    if scored.is_replay:
        return
    verdict, review = scored.verdict, scored.review
    for name, value in observations(
        text=review.text,
        text_probability=scored.text_probability,
        risk=verdict.risk_score,
        decision=verdict.decision,
        reasons=verdict.reasons,
        vocabulary=reference.vocabulary,
    ):
        pending[f"{name}:{BY_NAME[name].bin_of(value)}"] += 1
    m.integrity_checked.inc()
    present = {
        "text": review.text is not None,
        "account.created_at": review.account.created_at is not None,
        "account.username": bool(review.account.username),
        "account.email": bool(review.account.email),
        "device.fingerprint": bool(review.device.fingerprint),
        "device.ip": bool(review.device.ip),
        "device.user_agent": bool(review.device.user_agent),
        "device.accept_language": bool(review.device.accept_language),
        "device.timezone": bool(review.device.timezone),
    }
    for name, is_present in present.items():
        if not is_present:
            m.integrity_missing.labels(name).inc()
    max_length = int(reference.integrity["text"]["length_max"])
    if review.text and len(review.text) > max_length:
        m.integrity_violations.labels("text", "longer_than_reference").inc()
    p = scored.text_probability
    if p is not None and not (math.isfinite(p) and 0.0 <= p <= 1.0):
        m.integrity_violations.labels("text_score", "out_of_range").inc()
    if not 1 <= review.rating <= 5:
        m.integrity_violations.labels("rating", "unexpected_value").inc()


_MAYBE = st.one_of(st.none(), st.just(""), st.sampled_from(["x", "198.51.100.7", "Europe/Oslo"]))
REVIEWS = st.builds(
    Review,
    review_id=st.just("r"),
    product_id=st.just("p"),
    rating=st.integers(0, 6),
    submitted_at=st.just(1.0),
    account=st.builds(
        Account,
        id=st.just("a"),
        created_at=st.one_of(st.none(), st.just(1.0)),
        username=_MAYBE,
        email=_MAYBE,
    ),
    device=st.builds(
        Device,
        fingerprint=_MAYBE,
        ip=_MAYBE,
        user_agent=_MAYBE,
        accept_language=_MAYBE,
        timezone=_MAYBE,
    ),
    text=st.one_of(st.none(), st.just(""), REVIEW_TEXT),
)
REASONS = st.lists(
    st.builds(
        Reason,
        code=st.sampled_from([*GROUP_OF, "OTHER"]),
        message=st.just("m"),
        contribution=st.floats(-4, 4),
    ),
    max_size=8,
).map(tuple)
SCORED = st.builds(
    Scored,
    review=REVIEWS,
    verdict=st.builds(
        Verdict,
        review_id=st.just("r"),
        risk_score=st.floats(0, 1),
        risk_level=st.just("low"),
        decision=st.sampled_from(["allow", "review", "reject", "other"]),
        reasons=REASONS,
        model_version=st.just("m"),
        degraded=st.booleans(),
    ),
    features=st.none(),
    is_replay=st.booleans(),
    text_probability=st.one_of(st.none(), st.floats(-0.5, 1.5), st.just(math.nan)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(SCORED, max_size=20))
def test_live_profile_counts_as_before(batch: list[Scored]) -> None:
    reference = ReferenceProfile(
        histograms=Histograms(),
        vocabulary=VOCABULARY,
        integrity={"text": {"length_max": 40}},
        meta={},
    )
    old_registry, new_registry = CollectorRegistry(), CollectorRegistry()
    old_metrics = MonitoringMetrics.for_registry(old_registry)
    live = LiveProfile(reference, MonitoringMetrics.for_registry(new_registry))
    pending: Counter[str] = Counter()
    for scored in batch:
        old_observe(scored, pending, old_metrics, reference)
        live.observe(scored)
    assert live.take() == dict(pending)
    assert exposed(new_registry) == exposed(old_registry)


def exposed(registry: CollectorRegistry) -> list[bytes]:
    """The /metrics text less the creation times (each registry's own)."""
    return [x for x in generate_latest(registry).splitlines() if b"_created" not in x]


# --- service/features/calls.py (decode_replies) and features.py (count_duplicate_accounts) ------


def old_decode_replies(
    plan: Plan, identity: Identity, replies: Sequence[Any]
) -> tuple[RawState, bytes | None]:
    def ints(reply: Any) -> list[int]:
        return [int(x) for x in reply]

    def text_of(value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    a = ints(replies[0])
    account = AccountState(
        reviews_before=a[0],
        reviews_1h=a[1],
        reviews_24h=a[2],
        reviews_7d=a[3],
        product_reviews_before=a[4],
        rating_sum_before=a[5],
        extreme_before=a[6],
        distance3_sum_before=a[7],
        first_ms=None if a[8] < 0 else a[8],
        linked=bool(a[9]),
    )
    p = ints(replies[1])
    product = ProductState(
        per_rating_le_t=(p[0], p[1], p[2], p[3], p[4]),
        reviews_1h=p[5],
        reviews_24h=p[6],
        extreme_24h=p[7],
        baseline_reviews=p[8],
        first_ms=None if p[9] < 0 else p[9],
    )
    crowds: dict[str, CrowdState] = {}
    index = 2
    for kind in plan.crowd_kinds:
        c = ints(replies[index])
        crowds[kind] = CrowdState(c[0], c[1], c[2], c[3], c[4], bool(c[5]))
        index += 1
    candidates: list[tuple[str, str]] = []
    for _ in range(plan.band_count):
        for member in replies[index]:
            text = text_of(member)
            candidates.append((text[:16], text[16:]))
        index += 1
    answer = replies[index] if plan.has_record else None
    if identity.simhash is None:
        duplicates = 0
    else:
        duplicates = len(
            {
                account_h
                for account_h, simhash in candidates
                if account_h != identity.account_h
                and is_near_duplicate(identity.simhash, int(simhash, 16))
            }
        )
    raw = RawState(
        account=account,
        device=crowds.get(keys.DEVICE, NO_CROWD),
        ip=crowds.get(keys.IP, NO_CROWD),
        net=crowds.get(keys.NET, NO_CROWD),
        product=product,
        duplicate_accounts_7d=duplicates,
    )
    if answer is not None and not isinstance(answer, bytes):
        answer = text_of(answer).encode()
    return raw, answer


OWN_ACCOUNT = "a" * 16
_ACCOUNTS = st.sampled_from([OWN_ACCOUNT, "b" * 16, "c" * 16, "0123456789abcdef"])


@st.composite
def plans_and_replies(draw: st.DrawFn) -> tuple[Plan, Identity, list[Any]]:
    simhash = draw(st.one_of(st.none(), st.integers(0, 2**64 - 1)))
    kinds = draw(st.sampled_from([(), (keys.DEVICE,), (keys.DEVICE, keys.IP, keys.NET)]))
    identity = Identity(
        "r" * 12, OWN_ACCOUNT, "p" * 16, "d", True, "i", "n", simhash, False, False, False, 0.0
    )
    band_count = 0 if simhash is None else 4
    counts = st.lists(st.integers(-2, 10**13), min_size=10, max_size=10)
    replies: list[Any] = [draw(counts), draw(counts)]
    crowd_count = st.one_of(  # integers, and the bulk strings a RESP2 client may give
        st.integers(0, 9), st.integers(0, 9).map(lambda n: str(n).encode()), st.just(10**15)
    )
    replies += [draw(st.lists(crowd_count, min_size=6, max_size=6)) for _ in kinds]
    near = st.integers(0, 63).map(lambda bit: (simhash or 0) ^ (1 << bit))
    member = st.builds(
        lambda account, h, as_bytes: (
            (account + f"{h:016x}").encode() if as_bytes else account + f"{h:016x}"
        ),
        _ACCOUNTS,
        st.one_of(st.just(simhash or 0), near, st.integers(0, 2**64 - 1)),
        st.booleans(),
    )
    shared = draw(st.lists(member, max_size=6))  # the same members in several buckets
    for _ in range(band_count):
        some = st.one_of(member, st.sampled_from(shared)) if shared else member
        replies.append(draw(st.lists(some)))
    replies.append(draw(st.one_of(st.none(), st.binary(max_size=8), st.text(max_size=8))))
    plan = Plan((), tuple(kinds), band_count, True)
    return plan, identity, replies


@settings(max_examples=1000, deadline=None)
@given(plans_and_replies())
def test_decode_replies_as_before(case: tuple[Plan, Identity, list[Any]]) -> None:
    plan, identity, replies = case
    assert decode_replies(plan, identity, replies) == old_decode_replies(plan, identity, replies)


# --- service/scoring/features.py (derive_features) ----------------------------------------------


def old_derive_features(
    review: Review, identity: Identity, raw: RawState, retention_s: int
) -> Features:
    """The one definition of every feature, from the review, its identity and raw state at t."""
    t_ms = to_ms(review.submitted_at)
    acc = raw.account
    before = acc.reviews_before
    age_from_first_seen = review.account.created_at is None
    if not age_from_first_seen:
        assert review.account.created_at is not None
        age_s: float | None = max(0.0, review.submitted_at - review.account.created_at)
    elif acc.first_ms is not None:
        age_s = max(0, t_ms - acc.first_ms) / 1000
    else:
        age_s = None

    prod = raw.product
    product_le_t = sum(prod.per_rating_le_t)
    product_before = max(0, product_le_t - 1)
    rating_sum_le_t = sum((i + 1) * n for i, n in enumerate(prod.per_rating_le_t))
    product_mean = (rating_sum_le_t - review.rating) / product_before if product_before else None
    retention_ms = retention_s * 1000
    first_ms = t_ms if prod.first_ms is None else max(prod.first_ms, t_ms - retention_ms)
    observed_ms = t_ms - first_ms
    baseline_days = max(1.0, (observed_ms - DAY_S * 1000) / (DAY_S * 1000))
    usual = prod.baseline_reviews / baseline_days

    has_text = bool(review.text)
    return Features(
        account_age_s=age_s,
        is_account_age_from_first_seen=age_from_first_seen,
        account_reviews_before=before,
        account_reviews_1h=acc.reviews_1h,
        account_reviews_24h=acc.reviews_24h,
        account_reviews_7d=acc.reviews_7d,
        is_first_review=before == 0,
        account_product_reviews_before=acc.product_reviews_before,
        account_mean_rating_before=acc.rating_sum_before / before if before else None,
        account_extreme_share_before=acc.extreme_before / before if before else None,
        account_rating_deviation_before=acc.distance3_sum_before / before if before else None,
        is_disposable_email=identity.is_disposable_email,
        username_dubiousness=identity.username_dubiousness,
        has_device=identity.device_h is not None,
        has_fingerprint=identity.has_fingerprint,
        device_accounts_24h=raw.device.accounts_24h,
        device_accounts_30d=raw.device.accounts_30d,
        device_reviews_1h=raw.device.reviews_1h,
        device_reviews_24h=raw.device.reviews_24h,
        is_headless=identity.is_headless,
        is_inconsistent_device=identity.is_inconsistent_device,
        has_ip=identity.ip_h is not None,
        ip_accounts_1h=raw.ip.accounts_1h,
        ip_accounts_24h=raw.ip.accounts_24h,
        ip_reviews_1h=raw.ip.reviews_1h,
        ip_reviews_24h=raw.ip.reviews_24h,
        net_accounts_1h=raw.net.accounts_1h,
        net_accounts_24h=raw.net.accounts_24h,
        net_reviews_1h=raw.net.reviews_1h,
        net_reviews_24h=raw.net.reviews_24h,
        product_reviews_before=product_before,
        product_reviews_1h=prod.reviews_1h,
        product_reviews_24h=prod.reviews_24h,
        product_usual_per_24h=usual,
        product_burst_ratio=prod.reviews_24h / (usual + 1),
        burst_extreme_share=prod.extreme_24h / prod.reviews_24h if prod.reviews_24h else 0.0,
        product_mean_rating_before=product_mean,
        rating_deviation=abs(review.rating - product_mean) if product_mean is not None else 0.0,
        rating_deviation_signed=review.rating - product_mean if product_mean is not None else 0.0,
        account_history_days=max(0, t_ms - acc.first_ms) / (DAY_S * 1000)
        if acc.first_ms is not None
        else 0.0,
        is_extreme_rating=review.rating in (1, 5),
        has_text=has_text,
        is_rating_without_text=review.text == "",
        duplicate_accounts_7d=raw.duplicate_accounts_7d,
        linked_device=raw.device.linked,
        linked_ip=raw.ip.linked or raw.net.linked,
        linked_account=acc.linked,
    )


_COUNT = st.integers(0, 40)
_FIRST_MS = st.one_of(st.none(), st.integers(1_700_000_000_000, 1_790_000_001_000))
CROWD_STATES = st.builds(CrowdState, _COUNT, _COUNT, _COUNT, _COUNT, _COUNT, st.booleans())
RAW_STATES = st.builds(
    RawState,
    account=st.builds(
        AccountState, _COUNT, _COUNT, _COUNT, _COUNT, _COUNT, _COUNT, _COUNT, _COUNT,
        _FIRST_MS, st.booleans(),
    ),
    device=st.one_of(st.just(NO_CROWD), CROWD_STATES),
    ip=st.one_of(st.just(NO_CROWD), CROWD_STATES),
    net=st.one_of(st.just(NO_CROWD), CROWD_STATES),
    product=st.builds(
        ProductState, st.tuples(_COUNT, _COUNT, _COUNT, _COUNT, _COUNT), _COUNT, _COUNT, _COUNT,
        _COUNT, _FIRST_MS,
    ),
    duplicate_accounts_7d=_COUNT,
)  # fmt: skip
IDENTITIES = st.builds(
    Identity,
    st.just("r" * 12), st.just("a" * 16), st.just("p" * 16), st.one_of(st.none(), st.just("d")),
    st.booleans(), st.one_of(st.none(), st.just("i")), st.one_of(st.none(), st.just("n")),
    st.one_of(st.none(), st.integers(0, 2**64 - 1)), st.booleans(), st.booleans(), st.booleans(),
    st.floats(0, 1),
)  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(
    st.builds(
        Review,
        review_id=st.just("r"),
        product_id=st.just("p"),
        rating=st.integers(0, 6),
        submitted_at=st.floats(1_700_000_000.0, 1_790_000_001.0),
        account=st.builds(
            Account, id=st.just("a"), created_at=st.one_of(st.none(), st.floats(0, 1.8e9))
        ),
        text=st.one_of(st.none(), st.just(""), st.just("x")),
    ),
    IDENTITIES,
    RAW_STATES,
    st.sampled_from([86400, 7 * 86400, 30 * 86400]),
)
def test_derive_features_as_before(
    review: Review, identity: Identity, raw: RawState, retention_s: int
) -> None:
    assert derive_features(review, identity, raw, retention_s) == old_derive_features(
        review, identity, raw, retention_s
    )


# --- service/features/calls.py (plan_observe) and keys.py ---------------------------------------


def old_product_ratings(product_h: str) -> list[str]:
    return [f"{keys.PREFIX}:{{p:{product_h}}}:r{stars}" for stars in range(1, 6)]


# (keys.product_ratings, which changed with it, replaced by old_product_ratings above)
def old_plan_observe(review: Review, identity: Identity, retention_s: int) -> Plan:
    t_ms = to_ms(review.submitted_at)
    retention_ms = retention_s * 1000
    ttl_s = retention_s
    product8 = product_hash_short(identity.product_h)
    rating = min(5, max(1, review.rating))
    calls = [
        ScriptCall(
            "account",
            (keys.account_events(identity.account_h), keys.account_flag(identity.account_h)),
            (
                t_ms,
                f"{identity.review_h}{product8}{rating}",
                product8,
                retention_ms,
                ACCOUNT_CAP,
                ttl_s,
            ),
        ),
        ScriptCall(
            "product",
            tuple(old_product_ratings(identity.product_h)),
            (t_ms, identity.review_h, rating, retention_ms, ttl_s),
        ),
    ]
    kinds: list[str] = []
    long_ms = min(LONG_WINDOW_S, retention_s) * 1000
    for kind, entity_h in (
        (keys.DEVICE, identity.device_h),
        (keys.IP, identity.ip_h),
        (keys.NET, identity.net_h),
    ):
        if entity_h is None:
            continue
        kinds.append(kind)
        calls.append(
            ScriptCall(
                "crowd",
                (
                    keys.crowd_events(kind, entity_h),
                    keys.crowd_accounts(kind, entity_h),
                    keys.crowd_flag(kind, entity_h),
                ),
                (
                    t_ms,
                    identity.review_h,
                    identity.account_h,
                    retention_ms,
                    ttl_s,
                    long_ms,
                    CROWD_CAP,
                ),
            )
        )
    bands: tuple[str, ...] = ()
    if identity.simhash is not None:
        bands = bands_of(identity.simhash)
        window_s = min(WEEK_S, retention_s)
        member = identity.account_h + simhash_hex(identity.simhash)
        for band in bands:
            calls.append(
                ScriptCall(
                    "band",
                    (keys.text_band(band),),
                    (t_ms, member, window_s * 1000, window_s, BAND_CAP, BAND_LIMIT),
                )
            )
    calls.append(
        ScriptCall(
            "review", (keys.review_record(identity.review_h),), (entity_record(identity), ttl_s)
        )
    )
    return Plan(tuple(calls), tuple(kinds), len(bands), True)


@settings(max_examples=1000, deadline=None)
@given(
    st.builds(
        Review,
        review_id=st.just("r"),
        product_id=st.just("p"),
        rating=st.integers(-1, 7),
        submitted_at=st.floats(1_700_000_000.0, 1_790_000_001.0),
        account=st.just(Account("a")),
    ),
    IDENTITIES,
    st.sampled_from([3600, 86400, 7 * 86400, 30 * 86400, 60 * 86400]),
)
def test_plan_observe_as_before(review: Review, identity: Identity, retention_s: int) -> None:
    plan = plan_observe(review, identity, retention_s)
    # The calls as before, but for the review hash the band calls now also take (it decides
    # when they trim); the plan also carries the review's own values now (the batch's
    # argument), which are the calls' own arguments, each once.
    before = old_plan_observe(review, identity, retention_s)
    calls = tuple(
        dataclasses.replace(c, args=(*c.args, identity.review_h)) if c.script == "band" else c
        for c in before.calls
    )
    assert dataclasses.replace(plan, values=()) == dataclasses.replace(before, calls=calls)
    own = dict(zip(REVIEW_VALUES, plan.values, strict=True))
    assert plan.calls[0].args[0] == own["t_ms"] and plan.calls[-1].args[0] == own["entity_record"]
    assert plan.calls[1].args[:3] == (own["t_ms"], own["review_h"], own["rating"])
    assert all(c.args[1] == own["band_member"] for c in plan.calls if c.script == "band")


@given(st.sampled_from([keys.DEVICE, keys.IP, keys.NET]), ANY_TEXT)
def test_crowd_keys_are_the_three_keys(kind: str, entity_h: str) -> None:
    assert keys.crowd_keys(kind, entity_h) == (
        keys.crowd_events(kind, entity_h),
        keys.crowd_accounts(kind, entity_h),
        keys.crowd_flag(kind, entity_h),
    )
    assert keys.product_ratings(entity_h) == old_product_ratings(entity_h)
