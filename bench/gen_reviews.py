"""A seeded stream of realistic review requests: many accounts, devices, IPs, products; bursts.

Organic traffic: accounts (mostly old, some new) review products chosen by a Zipf-like popularity,
from their usual device and IP most of the time; texts are real review texts from ../shared/data
(Salminen product reviews and Ott hotel reviews) when present, else generated sentences; a few
reviews have an empty text ("") or none (null). Bursts (about a tenth of the stream, contiguous):
a ring of new accounts with throw-away e-mails behind one or two devices and one /24 floods one
product with 5-star near-copies of one text: hot keys in Redis and the fraud signals lit up.

Addresses come from the benchmarking range 198.18.0.0/15 (RFC 2544) and 2001:db8::/32 (RFC 3849).
`submitted_at` is left out, as in the synchronous flow: the service stamps each review with now.
Each body's review_id is the placeholder `@RID@`; the load generator puts a unique id in each.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED_TEXT = ROOT.parent / "shared" / "data" / "text"
RID = "@RID@"

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Version/17.6 Safari/605",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Edg/131.0",
)
HEADLESS_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/131.0"
LANGS_TZ = (
    ("en-US", "America/Chicago"),
    ("en-US", "America/New_York"),
    ("en-GB", "Europe/London"),
    ("de-DE", "Europe/Berlin"),
    ("fr-FR", "Europe/Paris"),
    ("es-ES", "Europe/Madrid"),
    ("en-IN", "Asia/Kolkata"),
    ("pt-BR", "America/Sao_Paulo"),
)
SCREENS = ("1920x1080", "1366x768", "2560x1440", "390x844", "412x915", "1440x900")
MAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "gmx.de")
THROWAWAY_DOMAINS = ("mailinator.com", "guerrillamail.com", "10minutemail.com", "yopmail.com")
FIRST_NAMES = (
    "maria", "john", "wei", "fatima", "olga", "james", "aiko", "carlos", "amina", "lucas",
    "sofia", "noah", "priya", "omar", "emma", "liam", "chen", "zara", "ivan", "nora",
)  # fmt: skip
SYNTH_WORDS = (
    "the", "battery", "lasts", "about", "two", "days", "and", "screen", "is", "bright", "but",
    "case", "scratches", "easily", "shipping", "was", "fast", "price", "fair", "quality", "good",
    "handle", "feels", "solid", "lid", "stiff", "would", "buy", "again", "not", "worth", "it",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class StreamShape:
    accounts: int = 30_000
    products: int = 3_000
    devices: int = 36_000
    ips: int = 24_000
    burst_share: float = 0.10
    new_account_share: float = 0.08
    empty_text_share: float = 0.04
    null_text_share: float = 0.02


def load_texts(max_texts: int = 8000, seed: int = 7) -> list[str]:
    """Real review texts from the shared data, or generated sentences when it is absent."""
    texts: list[str] = []
    for name in ("salminen_subset.csv", "ott_folds1-4.csv"):
        path = SHARED_TEXT / name
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as f:
                texts.extend(row["text"] for row in csv.DictReader(f) if row.get("text"))
    rng = random.Random(seed)
    if not texts:
        for _ in range(max_texts):
            n = rng.randint(8, 80)
            texts.append(" ".join(rng.choice(SYNTH_WORDS) for _ in range(n)).capitalize() + ".")
    rng.shuffle(texts)
    return texts[:max_texts]


def _iso(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))


def _ipv4(n: int) -> str:
    # 198.18.0.0/15: 131,072 addresses reserved for benchmarking.
    return f"198.{18 + (n >> 16) % 2}.{(n >> 8) & 255}.{n & 255}"


def _ip(rng: random.Random, n: int) -> str:
    if rng.random() < 0.1:
        return f"2001:db8:{n % 65536:x}::{rng.randint(1, 65535):x}"
    return _ipv4(n)


class _World:
    def __init__(self, shape: StreamShape, rng: random.Random, now_s: float) -> None:
        self.shape = shape
        self.rng = rng
        self.now_s = now_s
        # Zipf-like product popularity: a few products get most reviews.
        self.product_weights = [1.0 / (i + 1) ** 1.05 for i in range(shape.products)]
        self.product_cum = _cumulative(self.product_weights)
        self.accounts = [self._account(i) for i in range(shape.accounts)]
        self.ring_seq = 0

    def _account(self, i: int) -> dict[str, Any]:
        rng, shape = self.rng, self.shape
        is_new = rng.random() < shape.new_account_share
        age_s = rng.uniform(60, 86_400) if is_new else rng.uniform(7 * 86_400, 6 * 365 * 86_400)
        name = f"{rng.choice(FIRST_NAMES)}{rng.choice(('', '.', '_'))}{rng.randint(1, 9999)}"
        domain = rng.choice(THROWAWAY_DOMAINS if rng.random() < 0.02 else MAIL_DOMAINS)
        lang, tz = rng.choice(LANGS_TZ)
        return {
            "id": f"a-{i:06d}",
            "created_at": _iso(self.now_s - age_s),
            "username": name,
            "email": f"{name}@{domain}",
            "device": f"{rng.getrandbits(64):016x}" if i < shape.devices else None,
            "ip": _ip(rng, rng.randrange(shape.ips)),
            "ua": rng.choice(USER_AGENTS),
            "lang": lang,
            "tz": tz,
            "screen": rng.choice(SCREENS),
        }

    def product(self) -> str:
        x = self.rng.random() * self.product_cum[-1]
        lo, hi = 0, len(self.product_cum) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.product_cum[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        return f"p-{lo:05d}"


def _cumulative(weights: list[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


def _text(rng: random.Random, texts: list[str], shape: StreamShape) -> str | None:
    x = rng.random()
    if x < shape.null_text_share:
        return None
    if x < shape.null_text_share + shape.empty_text_share:
        return ""
    return rng.choice(texts)


def _organic(world: _World, texts: list[str]) -> dict[str, Any]:
    rng = world.rng
    acc = rng.choice(world.accounts)
    device: dict[str, Any] = {
        "user_agent": acc["ua"],
        "accept_language": acc["lang"],
        "timezone": acc["tz"],
        "screen": acc["screen"],
    }
    # Mostly the usual device and network; sometimes another one (travel, a phone on mobile data).
    if acc["device"] is not None:
        device["fingerprint"] = (
            acc["device"] if rng.random() < 0.85 else f"{rng.getrandbits(64):016x}"
        )
    device["ip"] = acc["ip"] if rng.random() < 0.8 else _ip(rng, rng.randrange(world.shape.ips))
    rating = rng.choices((1, 2, 3, 4, 5), weights=(8, 5, 10, 27, 50))[0]
    return {
        "review_id": RID,
        "product_id": world.product(),
        "rating": rating,
        "text": _text(rng, texts, world.shape),
        "account": {
            "id": acc["id"],
            "created_at": acc["created_at"],
            "username": acc["username"],
            "email": acc["email"],
        },
        "device": device,
    }


def _burst(world: _World, texts: list[str]) -> list[dict[str, Any]]:
    """One fraud ring: new accounts, shared devices and /24, one product, near-copies of a text."""
    rng = world.rng
    world.ring_seq += 1
    ring = world.ring_seq
    size = rng.randint(8, 40)
    devices = [f"{rng.getrandbits(64):016x}" for _ in range(rng.randint(1, 2))]
    net = rng.randrange(256)
    product = world.product() if rng.random() < 0.5 else f"p-ring-{ring:04d}"
    base = rng.choice(texts) or "Amazing product!!! Best purchase ever!!!"
    ua = HEADLESS_UA if rng.random() < 0.3 else rng.choice(USER_AGENTS)
    out = []
    for k in range(size):
        name = f"user{rng.randint(10_000_000, 99_999_999)}"
        tail = rng.choice(("Love it!!!", "5 stars!", ""))
        text = base if rng.random() < 0.6 else f"{base} {tail}"
        out.append(
            {
                "review_id": RID,
                "product_id": product,
                "rating": 5,
                "text": text,
                "account": {
                    "id": f"a-ring{ring:04d}-{k:02d}",
                    "created_at": _iso(world.now_s - rng.uniform(60, 3600)),
                    "username": name,
                    "email": f"{name}@{rng.choice(THROWAWAY_DOMAINS)}",
                },
                "device": {
                    "fingerprint": rng.choice(devices),
                    "ip": f"198.19.{net}.{rng.randint(1, 254)}",
                    "user_agent": ua,
                    "accept_language": "en-US",
                    "timezone": "America/Chicago",
                },
            }
        )
    return out


def generate(
    n: int, seed: int = 1, shape: StreamShape | None = None, now_s: float | None = None
) -> list[dict[str, Any]]:
    """n request bodies in stream order (bursts contiguous); review_id is the placeholder."""
    shape = shape or StreamShape()
    rng = random.Random(seed)
    world = _World(shape, rng, time.time() if now_s is None else now_s)
    texts = load_texts(seed=seed)
    out: list[dict[str, Any]] = []
    while len(out) < n:
        if rng.random() < shape.burst_share / 20:  # a burst averages ~24 reviews
            out.extend(_burst(world, texts))
        else:
            out.append(_organic(world, texts))
    return out[:n]


def body_lines(bodies: list[dict[str, Any]]) -> Iterator[str]:
    for body in bodies:
        yield json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def write_bodies(path: Path, bodies: list[dict[str, Any]]) -> None:
    """One JSON body per line, for the wrk script (JSON escapes every newline inside strings)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for line in body_lines(bodies):
            f.write(line)
            f.write("\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    write_bodies(args.out, generate(args.n, args.seed))


if __name__ == "__main__":
    main()
