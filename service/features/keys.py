"""Redis key names of the feature state: versioned, hash-tagged per entity, bounded in length."""

from __future__ import annotations

PREFIX = "rg:v1"
# Crowd kinds: entities whose reviews and distinct accounts are counted.
DEVICE = "d"
IP = "ip"
NET = "n"


def account_events(account_h: str) -> str:
    return f"{PREFIX}:{{a:{account_h}}}:ev"


def account_flag(account_h: str) -> str:
    return f"{PREFIX}:{{a:{account_h}}}:f"


def crowd_events(kind: str, entity_h: str) -> str:
    return f"{PREFIX}:{{{kind}:{entity_h}}}:ev"


def crowd_accounts(kind: str, entity_h: str) -> str:
    return f"{PREFIX}:{{{kind}:{entity_h}}}:acc"


def crowd_flag(kind: str, entity_h: str) -> str:
    return f"{PREFIX}:{{{kind}:{entity_h}}}:f"


def crowd_keys(kind: str, entity_h: str) -> tuple[str, str, str]:
    """``crowd_events``, ``crowd_accounts`` and ``crowd_flag`` of one entity, made together."""
    tag = f"{PREFIX}:{{{kind}:{entity_h}}}"
    return f"{tag}:ev", f"{tag}:acc", f"{tag}:f"


def product_ratings(product_h: str) -> list[str]:
    """One ZSET per star rating: exact rating histograms over any window by ZCOUNT alone."""
    ratings = f"{PREFIX}:{{p:{product_h}}}:r"
    return [f"{ratings}1", f"{ratings}2", f"{ratings}3", f"{ratings}4", f"{ratings}5"]


def text_band(band: str) -> str:
    """A SimHash band bucket; each bucket is its own hash tag, spreading buckets over a cluster."""
    return f"{PREFIX}:{{t:{band}}}"


def review_record(review_h: str) -> str:
    """The review's entity hashes (for moderator feedback) and its cached answer."""
    return f"{PREFIX}:{{r:{review_h}}}"
