"""Who and what is behind a review: keyed hashes, device and network ids, account-name cues."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

from service.native import load
from service.scoring.disposable_domains import is_disposable_domain
from service.scoring.review import Device, Review
from service.scoring.text_fingerprint import simhash_of

# 64 bits of HMAC-SHA256 as hex: bounded key length whatever the id, and a collision among
# 10^8 ids is a ~3e-4 chance of merging two entities' counters (harmless).
ENTITY_HASH_HEX = 16
# Review ids only need to be unique within one entity's window set.
REVIEW_HASH_HEX = 12
PRODUCT_TAG_HEX = 8

HEADLESS_MARKERS = (
    "headlesschrome",
    "phantomjs",
    "puppeteer",
    "playwright",
    "selenium",
    "webdriver",
    "slimerjs",
    "htmlunit",
    "electron",
    "python-requests",
    "curl/",
    "wget/",
    "go-http-client",
    "scrapy",
)
_VERSION = re.compile(r"[\d._]+")
_SCREEN = re.compile(r"\s*(\d{1,6})\s*[x*,\u00d7]\s*(\d{1,6})(?:\s*[x*,\u00d7]\s*\d{1,3})?\s*")
_IANA_TIMEZONE = re.compile(r"[A-Za-z_]+(/[A-Za-z0-9_+\-]+)+")
# A dotted-quad IPv4 address exactly as ipaddress accepts it and prints it back (ASCII digits,
# no leading zeros, each part <= 255): the common case, answered without ipaddress.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
# Hex digits and colons only: an IPv6 text without an embedded IPv4 part or a scope id.
# Each group 1-4 digits; empty groups (from colons) are told apart by the parser.
_IPV6_PLAIN = re.compile(r"(?:[0-9A-Fa-f]{1,4}(?![0-9A-Fa-f])|:)+")
_ZERO_GROUPS = ("0",) * 8
_HEX_BASES = (16,) * 8
_IPV6_PADDED_FORMAT = ":%x:%x:%x:%x:%x:%x:%x:%x:"
_ZERO_RUNS = tuple(":0" * n + ":" for n in range(8, 1, -1))
_IPV4_MAPPED_HIGH = [0, 0, 0, 0, 0, 0xFFFF]
_NO_ADDRESS: tuple[None, None] = (None, None)
_SHA256_BLOCK = 64
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


@functools.lru_cache(maxsize=8)
def _hmac_sha256_pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """SHA-256 states after the inner and outer padded key (RFC 2104): computed once per key,
    so that each keyed hash only copies them (the key schedule is most of an HMAC's cost)."""
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\x00")
    return hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))


_KEYS_KEPT = 8
_KINDS_KEPT = 64
_KEYED_STATES: dict[bytes, dict[str, tuple[hashlib._Hash, hashlib._Hash]]] = {}
"""Per key, per kind: the inner state after the padded key and ``kind + "\\x00"``, and the outer
state after the padded key. A keyed hash then copies them, hashes its value and finishes: no key
schedule and no prefix per call. Bounded (a handful of keys and kinds are ever used)."""


def _keyed_states(key: bytes, kind: str) -> tuple[hashlib._Hash, hashlib._Hash]:
    inner_pad, outer_pad = _hmac_sha256_pads(key)
    inner = inner_pad.copy()
    inner.update(kind.encode() + b"\x00")
    by_kind = _KEYED_STATES.get(key)
    if by_kind is None and len(_KEYED_STATES) < _KEYS_KEPT:
        by_kind = _KEYED_STATES[key] = {}
    if by_kind is not None and len(by_kind) < _KINDS_KEPT:
        by_kind[kind] = (inner, outer_pad)
    return inner, outer_pad


# The C identity work (service/native/identity.c): keyed hashes, ASCII usernames, dotted quads
# and the Identity record itself. None when it is not built or REVIEWGUARD_NATIVE=0; the Python
# functions here stay the reference and the fallback.
_NATIVE = load("identity")
# Per key: the C states of each kind identify hashes, in the order of _NATIVE_KINDS. Bounded.
_NATIVE_KINDS = ("r", "a", "p", "fp", "dev", "ip", "net")
_NATIVE_STATES: dict[bytes, tuple[bytes, ...]] = {}
_NATIVE_KIND_STATES: dict[tuple[bytes, str], bytes] = {}


def _native_state(key: bytes, kind: str) -> bytes:
    state = _NATIVE_KIND_STATES.get((key, kind))
    if state is None:
        assert _NATIVE is not None
        state = _NATIVE.hmac_state(key, kind.encode() + b"\x00")
        if len(_NATIVE_KIND_STATES) < _KEYS_KEPT * _KINDS_KEPT:
            _NATIVE_KIND_STATES[key, kind] = state
    return state


def _native_states(key: bytes) -> tuple[bytes, ...]:
    states = _NATIVE_STATES.get(key)
    if states is None:
        states = tuple(_native_state(key, kind) for kind in _NATIVE_KINDS)
        if len(_NATIVE_STATES) < _KEYS_KEPT:
            _NATIVE_STATES[key] = states
    return states


def keyed_hash(key: bytes, kind: str, value: str, hex_len: int = ENTITY_HASH_HEX) -> str:
    """HMAC-SHA256 of ``value`` under ``key``, domain-separated by ``kind``, truncated to hex."""
    if _NATIVE is not None and 0 <= hex_len <= 64:
        text: str = _NATIVE.keyed_hex(_native_state(key, kind), value, hex_len)
        return text
    return keyed_hash_python(key, kind, value, hex_len)


def keyed_hash_python(key: bytes, kind: str, value: str, hex_len: int = ENTITY_HASH_HEX) -> str:
    """keyed_hash by hashlib: the reference for service/native/identity.c's keyed_hex."""
    by_kind = _KEYED_STATES.get(key)
    states = None if by_kind is None else by_kind.get(kind)
    inner_state, outer_state = _keyed_states(key, kind) if states is None else states
    inner = inner_state.copy()
    inner.update(value.encode("utf-8", "surrogatepass"))
    outer = outer_state.copy()
    outer.update(inner.digest())
    return outer.hexdigest()[:hex_len]


def _ipv6_hextets(text: str) -> list[int] | None:
    """The eight 16-bit groups of a plain textual IPv6 address (1-4 hex digits per group, at
    most one ``::`` standing for one or more zero groups), as ipaddress reads it; None for any
    other text (embedded IPv4, scope ids, anything invalid): ipaddress then decides."""
    if _IPV6_PLAIN.fullmatch(text) is None:
        return None
    high, double_colon, low = text.partition("::")
    if double_colon:
        high_groups = high.split(":") if high else []
        low_groups = low.split(":") if low else []
        zeros = 8 - len(high_groups) - len(low_groups)
        if zeros < 1:
            return None
        groups = [*high_groups, *_ZERO_GROUPS[:zeros], *low_groups]
    else:
        groups = text.split(":")
        if len(groups) != 8:
            return None
    if "" in groups:  # a lone leading or trailing colon, or a second "::"
        return None
    return list(map(int, groups, _HEX_BASES))


def _ipv6_text(groups: Sequence[int]) -> str:
    """The compressed form ipaddress prints: lower-case hex without leading zeros, the first
    of the longest runs of two or more zero groups as ``::``."""
    padded = _IPV6_PADDED_FORMAT % tuple(groups)
    if ":0:0:" not in padded:
        return padded[1:-1]
    for run in _ZERO_RUNS:  # longest first: the first found is the first longest run
        at = padded.find(run)
        if at >= 0:
            return f"{padded[1:at]}::{padded[at + len(run) : -1]}"
    raise AssertionError("unreachable: a run of two zero groups was found above")


def _read_ip(stripped: str) -> tuple[str, str] | None:
    """The canonical text and network of a dotted quad or a plain IPv6 text, read here
    (ipaddress objects cost microseconds each); None for every other text, ipaddress's to read."""
    if _CANONICAL_IPV4.fullmatch(stripped):
        return stripped, f"{stripped[: stripped.rindex('.')]}.0/24"
    groups = _ipv6_hextets(stripped)
    if groups is None:
        return None
    if groups[:6] == _IPV4_MAPPED_HIGH:
        high, low = groups[6], groups[7]
        quad = f"{high >> 8}.{high & 0xFF}.{low >> 8}"
        return f"{quad}.{low & 0xFF}", f"{quad}.0/24"
    return _ipv6_text(groups), f"{_ipv6_text((*groups[:4], 0, 0, 0, 0))}/64"


def _ip_and_network(ip: str) -> tuple[str, str | None] | None:
    """``(canonical_ip(ip), network_of(canonical_ip(ip)))``, or None if ``ip`` is not an address."""
    stripped = ip.strip()
    read = _read_ip(stripped)
    if read is not None:
        return read
    canonical = _canonical_ip_by_ipaddress(stripped)
    if canonical is None:
        return None
    return canonical, _network_by_ipaddress(canonical)


def _canonical_ip_by_ipaddress(stripped: str) -> str | None:
    try:
        address = ipaddress.ip_address(stripped)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def _network_by_ipaddress(stripped: str) -> str | None:
    try:
        address = ipaddress.ip_address(stripped)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def network_of(ip: str) -> str | None:
    """The /24 (IPv4) or /64 (IPv6) network of ``ip`` as text; None if it is not an address."""
    read = _read_ip(stripped := ip.strip())
    return _network_by_ipaddress(stripped) if read is None else read[1]


def canonical_ip(ip: str) -> str | None:
    read = _read_ip(stripped := ip.strip())
    return _canonical_ip_by_ipaddress(stripped) if read is None else read[0]


def fallback_device_key(device: Device) -> str | None:
    """The stable parts of a device when no fingerprint is sent: user agent without version
    numbers (browser family and OS survive updates), primary language, timezone, screen."""
    parts = [
        _VERSION.sub("", (device.user_agent or "").lower()).strip(),
        (device.accept_language or "").split(",")[0].split(";")[0].strip().lower(),
        (device.timezone or "").strip(),
        (device.screen or "").strip().lower(),
    ]
    if not any(parts):
        return None
    return "\x1f".join(parts)


# User agents, screens and timezones repeat across reviews (a few hundred distinct values in
# real traffic), so what each implies is worked out once per distinct text; the caches are
# bounded, and the texts are only ever compared, never kept beyond them.
_CUE_CACHE = 1024


@functools.lru_cache(maxsize=_CUE_CACHE)
def _user_agent_cues(user_agent: str) -> tuple[bool, bool, bool]:
    """(headless, names two incompatible platforms, a phone's user agent)."""
    ua = user_agent.lower()
    platforms = (
        ("windows nt" in ua)  # windows
        + ("iphone" in ua or "ipad" in ua)  # ios
        + ("android" in ua)
        + ("macintosh" in ua)  # mac
        + ("x11; linux" in ua)  # linux
    )
    return (
        any(marker in ua for marker in HEADLESS_MARKERS),
        platforms >= 2,
        "iphone" in ua or ("android" in ua and "mobile" in ua),
    )


def is_headless(user_agent: str | None) -> bool:
    return _user_agent_cues(user_agent or "")[0]


def _screen_size(screen: str | None) -> tuple[int, int] | None:
    if not screen:
        return None
    match = _SCREEN.fullmatch(screen)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


@functools.lru_cache(maxsize=_CUE_CACHE)
def _screen_cues(screen: str) -> tuple[bool, bool]:
    """(a short side over 1024 px, a bad screen) of a screen that was sent."""
    size = _screen_size(screen)
    return (
        size is not None and min(size) > 1024,
        size is None or not all(1 <= side <= 20000 for side in size),
    )


@functools.lru_cache(maxsize=_CUE_CACHE)
def _is_bad_timezone(timezone: str) -> bool:
    tz = timezone.strip()
    return bool(tz) and tz not in {"UTC", "GMT"} and _IANA_TIMEZONE.fullmatch(tz) is None


def inconsistency_cues(device: Device) -> tuple[str, ...]:
    """Claims of one device that cannot all be true (simple, documented cues only):

    - ``ua_two_platforms``: the user agent names two incompatible operating systems;
    - ``mobile_ua_desktop_screen``: a phone user agent with a screen whose short side > 1024 px;
    - ``bad_screen``: a screen that is sent but is not WxH with both sides in 1..20000;
    - ``bad_timezone``: a timezone that is sent but is neither ``UTC``/``GMT`` nor an IANA
      ``Area/Location`` name (spoofing tools often send offsets or garbage).
    """
    cues: list[str] = []
    _, two_platforms, is_phone_ua = _user_agent_cues(device.user_agent or "")
    if two_platforms:
        cues.append("ua_two_platforms")
    if device.screen:
        wide, bad = _screen_cues(device.screen)
        if wide and is_phone_ua:
            cues.append("mobile_ua_desktop_screen")
        if bad:
            cues.append("bad_screen")
    if device.timezone and _is_bad_timezone(device.timezone):
        cues.append("bad_timezone")
    return tuple(cues)


def _device_cues(device: Device) -> tuple[bool, bool]:
    """``(is_headless(device.user_agent), bool(inconsistency_cues(device)))``."""
    headless, two_platforms, is_phone_ua = _user_agent_cues(device.user_agent or "")
    if two_platforms:
        return headless, True
    screen = device.screen
    if screen:
        wide, bad = _screen_cues(screen)
        if bad or (wide and is_phone_ua):
            return headless, True
    timezone = device.timezone
    return headless, timezone is not None and _is_bad_timezone(timezone)


def email_parts(email: str | None) -> tuple[str, str] | None:
    if not email or "@" not in email:
        return None
    local, _, domain = email.strip().rpartition("@")
    if not local or not domain:
        return None
    return local, domain.lower()


def _char_class(ch: str) -> str:
    if ch.isdigit():
        return "d"
    if ch.lower() in "aeiouy":
        return "v"
    if ch.isalpha():
        return "c"
    return "o"


_ASCII_CHAR_CLASS = str.maketrans({c: _char_class(chr(c)) for c in range(128)})


def username_dubiousness(name: str | None) -> float:
    """0..1: how machine-made a username looks (see username_dubiousness_python)."""
    if _NATIVE is not None and name:
        score: float | None = _NATIVE.dubiousness(name)  # None unless the name is ASCII
        if score is not None:
            return score
    return username_dubiousness_python(name)


def username_dubiousness_python(name: str | None) -> float:
    """0..1: how machine-made a username looks. The mean of four cues, each 0..1:

    - digit share of the characters;
    - a run of 4+ digits (``jane83920471``), scaled by its length up to 8;
    - a run of 4+ consonants (``xkqzt``), the mark of random letters, scaled up to 6;
    - character-class switches per character (``a1b2c3``), above 0.3.
    Empty or missing names give 0 (no evidence).
    """
    if not name:
        return 0.0
    if name.isascii():
        return _ascii_username_dubiousness(name)
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


def _ascii_username_dubiousness(name: str) -> float:
    """``username_dubiousness`` of an ASCII name by string searches instead of a walk: the classes
    by one translate (str.split drops the same whitespace as isspace); a switch is a change of
    class once vowels and consonants are one class, and each such pair of two different classes
    is counted by str.count (two of them never overlap); the longest runs only matter up to their
    caps, so "is there a run of k" is asked for k = 4 up to the cap."""
    classes = "".join(name.split()).translate(_ASCII_CHAR_CLASS)
    n = len(classes)
    if not n:
        return 0.0
    coarse = classes.replace("v", "c")
    switches = (
        coarse.count("cd")
        + coarse.count("dc")
        + coarse.count("co")
        + coarse.count("oc")
        + coarse.count("do")
        + coarse.count("od")
    )
    digit_run = consonant_run = 0.0
    if "dddd" in classes:
        longest = 4
        while longest < 8 and "d" * (longest + 1) in classes:
            longest += 1
        digit_run = min(1.0, longest / 8)
    if "cccc" in classes:
        longest = 4
        while longest < 6 and "c" * (longest + 1) in classes:
            longest += 1
        consonant_run = min(1.0, longest / 6)
    digit_share = classes.count("d") / n
    switch_rate = switches / n
    switchy = max(0.0, min(1.0, (switch_rate - 0.3) / 0.4))
    return (digit_share + digit_run + consonant_run + switchy) / 4


@dataclass(frozen=True, slots=True)
class Identity:
    """The hashed ids of one review and its pure, state-free cues (nothing raw in here)."""

    review_h: str
    account_h: str
    product_h: str
    device_h: str | None
    has_fingerprint: bool
    ip_h: str | None
    net_h: str | None
    simhash: int | None
    is_headless: bool
    is_inconsistent_device: bool
    is_disposable_email: bool
    username_dubiousness: float


if _NATIVE is not None:
    _NATIVE.record_type(Identity, tuple(field.name for field in fields(Identity)))

# Domains repeat (a few providers carry most addresses): the answer is kept per domain, bounded.
_is_disposable_domain = functools.lru_cache(maxsize=_CUE_CACHE)(is_disposable_domain)


@functools.lru_cache(maxsize=4 * _CUE_CACHE)
def _device_text_cues(
    user_agent: str | None, screen: str | None, timezone: str | None
) -> tuple[bool, bool]:
    """``_device_cues`` of a device with these texts (the only ones it reads): one cache look-up
    where _device_cues makes three (user agent, screen and timezone combinations repeat too)."""
    return _device_cues(Device(user_agent=user_agent, screen=screen, timezone=timezone))


def identify(review: Review, hmac_key: bytes) -> Identity:
    """Who and what is behind a review: identify_python's answer, by service/native/identity.c."""
    native = _NATIVE
    if native is None:
        return identify_python(review, hmac_key)
    states = _NATIVE_STATES.get(hmac_key) or _native_states(hmac_key)
    keyed_hex = native.keyed_hex
    device = review.device
    account = review.account
    fingerprint = device.fingerprint
    if fingerprint and (fingerprint := fingerprint.strip()):
        device_h: str | None = keyed_hex(states[3], fingerprint, ENTITY_HASH_HEX)
    else:
        fallback = fallback_device_key(device)
        device_h = None if fallback is None else keyed_hex(states[4], fallback, ENTITY_HASH_HEX)
    ip_h = net_h = None
    if device.ip:
        stripped = device.ip.strip()
        net = native.ipv4_network(stripped)
        if net is not None:
            ip_h = keyed_hex(states[5], stripped, ENTITY_HASH_HEX)
            net_h = keyed_hex(states[6], net, ENTITY_HASH_HEX)
        else:
            read = _ip_and_network(stripped)
            if read is not None:
                ip_h = keyed_hex(states[5], read[0], ENTITY_HASH_HEX)
                if read[1] is not None:
                    net_h = keyed_hex(states[6], read[1], ENTITY_HASH_HEX)
    parts = email_parts(account.email)
    name = account.username or (parts[0] if parts else None)
    headless, inconsistent = _device_text_cues(device.user_agent, device.screen, device.timezone)
    dubiousness = native.dubiousness(name) if name else 0.0
    new_identity: Callable[..., Identity] = native.new_record
    return new_identity(
        keyed_hex(states[0], review.review_id, REVIEW_HASH_HEX),  # review_h
        keyed_hex(states[1], account.id, ENTITY_HASH_HEX),  # account_h
        keyed_hex(states[2], review.product_id, ENTITY_HASH_HEX),  # product_h
        device_h,
        bool(fingerprint),  # has_fingerprint
        ip_h,
        net_h,
        simhash_of(review.text),
        headless,  # is_headless
        inconsistent,  # is_inconsistent_device
        parts is not None and _is_disposable_domain(parts[1]),  # is_disposable_email
        username_dubiousness_python(name) if dubiousness is None else dubiousness,
    )


def identify_python(review: Review, hmac_key: bytes) -> Identity:
    """identify in Python: the reference for the C path above, and what runs without it."""
    device = review.device
    account = review.account
    fingerprint = (device.fingerprint or "").strip()
    if fingerprint:
        device_h: str | None = keyed_hash_python(hmac_key, "fp", fingerprint)
    else:
        fallback = fallback_device_key(device)
        device_h = None if fallback is None else keyed_hash_python(hmac_key, "dev", fallback)
    ip, net = (_ip_and_network(device.ip) or _NO_ADDRESS) if device.ip else _NO_ADDRESS
    parts = email_parts(account.email)
    name = account.username or (parts[0] if parts else None)
    headless, inconsistent = _device_cues(device)
    return Identity(  # positionally: keyword arguments cost more
        keyed_hash_python(hmac_key, "r", review.review_id, REVIEW_HASH_HEX),  # review_h
        keyed_hash_python(hmac_key, "a", account.id),  # account_h
        keyed_hash_python(hmac_key, "p", review.product_id),  # product_h
        device_h,
        bool(fingerprint),  # has_fingerprint
        None if ip is None else keyed_hash_python(hmac_key, "ip", ip),  # ip_h
        None if net is None else keyed_hash_python(hmac_key, "net", net),  # net_h
        simhash_of(review.text),
        headless,  # is_headless
        inconsistent,  # is_inconsistent_device
        parts is not None and is_disposable_domain(parts[1]),  # is_disposable_email
        username_dubiousness_python(name),
    )


def product_hash_short(product_h: str) -> str:
    """The product part of an account's review entries: short, only compared per account."""
    return product_h[:PRODUCT_TAG_HEX]
