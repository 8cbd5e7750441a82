"""Who and what is behind a review: keyed hashes, device and network ids, account-name cues."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from dataclasses import dataclass

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


def keyed_hash(key: bytes, kind: str, value: str, hex_len: int = ENTITY_HASH_HEX) -> str:
    """HMAC-SHA256 of ``value`` under ``key``, domain-separated by ``kind``, truncated to hex."""
    inner_pad, outer_pad = _hmac_sha256_pads(key)
    inner = inner_pad.copy()
    inner.update(kind.encode() + b"\x00" + value.encode("utf-8", "surrogatepass"))
    outer = outer_pad.copy()
    outer.update(inner.digest())
    return outer.hexdigest()[:hex_len]


def network_of(ip: str) -> str | None:
    """The /24 (IPv4) or /64 (IPv6) network of ``ip`` as text; None if it is not an address."""
    if _CANONICAL_IPV4.fullmatch(stripped := ip.strip()):
        return f"{stripped[: stripped.rindex('.')]}.0/24"
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def canonical_ip(ip: str) -> str | None:
    if _CANONICAL_IPV4.fullmatch(stripped := ip.strip()):
        return stripped
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


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


def is_headless(user_agent: str | None) -> bool:
    ua = (user_agent or "").lower()
    return any(marker in ua for marker in HEADLESS_MARKERS)


def _screen_size(screen: str | None) -> tuple[int, int] | None:
    if not screen:
        return None
    match = _SCREEN.fullmatch(screen)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def inconsistency_cues(device: Device) -> tuple[str, ...]:
    """Claims of one device that cannot all be true (simple, documented cues only):

    - ``ua_two_platforms``: the user agent names two incompatible operating systems;
    - ``mobile_ua_desktop_screen``: a phone user agent with a screen whose short side > 1024 px;
    - ``bad_screen``: a screen that is sent but is not WxH with both sides in 1..20000;
    - ``bad_timezone``: a timezone that is sent but is neither ``UTC``/``GMT`` nor an IANA
      ``Area/Location`` name (spoofing tools often send offsets or garbage).
    """
    cues: list[str] = []
    ua = (device.user_agent or "").lower()
    platforms = (
        ("windows nt" in ua)  # windows
        + ("iphone" in ua or "ipad" in ua)  # ios
        + ("android" in ua)
        + ("macintosh" in ua)  # mac
        + ("x11; linux" in ua)  # linux
    )
    if platforms >= 2:
        cues.append("ua_two_platforms")
    size = _screen_size(device.screen)
    is_phone_ua = "iphone" in ua or ("android" in ua and "mobile" in ua)
    if size is not None and is_phone_ua and min(size) > 1024:
        cues.append("mobile_ua_desktop_screen")
    if device.screen and (size is None or not all(1 <= side <= 20000 for side in size)):
        cues.append("bad_screen")
    tz = (device.timezone or "").strip()
    if tz and tz not in {"UTC", "GMT"} and _IANA_TIMEZONE.fullmatch(tz) is None:
        cues.append("bad_timezone")
    return tuple(cues)


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
_CLASS_RUN = re.compile(r"d+|v+|c+|o+")


def username_dubiousness(name: str | None) -> float:
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
    """``username_dubiousness`` of an ASCII name, by runs of classes instead of characters: the
    classes by one translate (str.split drops the same whitespace as isspace), runs by a regex."""
    classes = "".join(name.split()).translate(_ASCII_CHAR_CLASS)
    n = len(classes)
    if not n:
        return 0.0
    longest_digits = longest_consonants = switches = 0
    previous = ""
    for run in _CLASS_RUN.findall(classes):
        cls = run[0]
        if previous and (cls in "do" or previous in "do"):
            switches += 1
        if cls == "d":
            longest_digits = max(longest_digits, len(run))
        elif cls == "c":
            longest_consonants = max(longest_consonants, len(run))
        previous = cls
    digit_share = classes.count("d") / n
    digit_run = 0.0 if longest_digits < 4 else min(1.0, longest_digits / 8)
    consonant_run = 0.0 if longest_consonants < 4 else min(1.0, longest_consonants / 6)
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


def identify(review: Review, hmac_key: bytes) -> Identity:
    device = review.device
    fingerprint = (device.fingerprint or "").strip()
    if fingerprint:
        device_h: str | None = keyed_hash(hmac_key, "fp", fingerprint)
    else:
        fallback = fallback_device_key(device)
        device_h = None if fallback is None else keyed_hash(hmac_key, "dev", fallback)
    ip = canonical_ip(device.ip) if device.ip else None
    net = network_of(ip) if ip else None
    parts = email_parts(review.account.email)
    name = review.account.username or (parts[0] if parts else None)
    return Identity(
        review_h=keyed_hash(hmac_key, "r", review.review_id, REVIEW_HASH_HEX),
        account_h=keyed_hash(hmac_key, "a", review.account.id),
        product_h=keyed_hash(hmac_key, "p", review.product_id),
        device_h=device_h,
        has_fingerprint=bool(fingerprint),
        ip_h=None if ip is None else keyed_hash(hmac_key, "ip", ip),
        net_h=None if net is None else keyed_hash(hmac_key, "net", net),
        simhash=simhash_of(review.text),
        is_headless=is_headless(device.user_agent),
        is_inconsistent_device=bool(inconsistency_cues(device)),
        is_disposable_email=parts is not None and is_disposable_domain(parts[1]),
        username_dubiousness=username_dubiousness(name),
    )


def product_hash_short(product_h: str) -> str:
    """The product part of an account's review entries: short, only compared per account."""
    return product_h[:PRODUCT_TAG_HEX]
