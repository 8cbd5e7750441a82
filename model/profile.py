"""`python -m model profile`: the reference profile of a text artifact, for drift monitoring.

Held-out labelled texts run through the real scoring path: the artifact's ONNX model gives the text
score, a synthetic but ordinary behaviour stream (service/features/memory.py, the Lua scripts'
semantics in Python) gives each review its behaviour features, and the service's fusion, with the
configured thresholds, gives the fused risk, the reasons and the decision. Every monitored quantity
(service/monitoring/profile.py) is binned with the bins the service uses live. The profile also
carries the training vocabulary (for the out-of-vocabulary share) and integrity constraints.

Writes reference_profile.json into the artifact folder and adds a `reference_profile` key (file,
sha256, sample size, data) at the end of manifest.json, leaving the rest of the manifest as it was.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from model.data import DEFAULT_DATA_DIR, default_training_files, load_labelled_csv
from service.features.memory import MemoryFeatureState
from service.monitoring.profile import (
    PROFILE_NAME,
    Histograms,
    ReferenceProfile,
    canonical_bytes,
    observations,
    sha256,
    summary,
    words_of,
)
from service.scoring.behaviour import BehaviourModel
from service.scoring.fusion import FusionConfig, assess
from service.scoring.review import Account, Device, Review
from service.settings import DEFAULT_ARTIFACT_DIR, DEFAULT_BEHAVIOUR_PATH, Settings
from service.text_model import MANIFEST_NAME, TextModel

DAY_S = 86400
START_S = 1_767_225_600.0  # 2026-01-01: the synthetic stream's first day
_FIRST = ("anna", "ben", "carla", "dev", "emma", "farid", "grace", "hugo", "ines", "jon", "kai")
_LAST = ("smith", "lopez", "nguyen", "kowalski", "okafor", "berg", "rossi", "tanaka", "silva")
_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
)
REVIEWS_PER_DAY = 200
_STARS = (1, 2, 3, 4, 5)
_STAR_WEIGHTS = (0.08, 0.05, 0.10, 0.25, 0.52)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=DEFAULT_ARTIFACT_DIR, help="artifact folder")
    parser.add_argument(
        "--data",
        type=Path,
        action="append",
        help=f"labelled CSV (text, label), as for `model train`; repeatable "
        f"(default: every CSV in {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--share", type=float, default=0.2, help="share of each file's rows taken (default 0.2)"
    )
    parser.add_argument("--max-rows", type=int, default=4000, help="cap on rows (default 4000)")
    parser.add_argument("--vocabulary-size", type=int, default=30000)
    parser.add_argument("--behaviour", type=Path, default=DEFAULT_BEHAVIOUR_PATH)
    parser.add_argument("--seed", type=int, default=0)


def held_out(texts: Sequence[str], share: float) -> list[str]:
    """A deterministic share of the rows, chosen by a hash of the text (stable across runs)."""
    cut = int(share * 2**32)
    return [t for t in texts if int(hashlib.sha256(t.encode()).hexdigest()[:8], 16) < cut]


def vocabulary(texts: Sequence[str], size: int, min_count: int = 2) -> frozenset[str]:
    counts = Counter(w for t in texts for w in set(words_of(t)))
    return frozenset(w for w, n in counts.most_common(size) if n >= min_count)


def synthetic_reviews(
    texts: Sequence[str], seed: int, start_s: float = START_S, prefix: str = ""
) -> Iterator[Review]:
    """Ordinary traffic: returning accounts of all ages, own devices and addresses, popular
    products, the usual star mix, REVIEWS_PER_DAY a day; no rings, no bursts."""
    rng = random.Random(seed)
    n = len(texts)
    n_accounts = max(1, n // 2)
    span_s = n / REVIEWS_PER_DAY * DAY_S
    times = sorted(start_s + rng.random() * span_s for _ in range(n))
    created = [start_s - rng.uniform(2 * DAY_S, 3 * 365 * DAY_S) for _ in range(n_accounts)]
    for i, (text, t) in enumerate(zip(texts, times, strict=True)):
        a = min(n_accounts - 1, int(rng.paretovariate(1.2)) - 1 + rng.randrange(n_accounts) // 2)
        name = f"{_FIRST[a % len(_FIRST)]}.{_LAST[a % len(_LAST)]}{a % 97}"
        yield Review(
            review_id=f"{prefix}profile-{i}",
            product_id=f"{prefix}p-{min(299, int(rng.paretovariate(0.8)))}",
            rating=rng.choices(_STARS, _STAR_WEIGHTS)[0],
            submitted_at=t,
            text=text,
            account=Account(
                id=f"{prefix}a-{a}", created_at=created[a], username=name, email=f"{name}@mail.test"
            ),
            device=Device(
                fingerprint=f"{prefix}fp-{a}",
                ip=f"{11 + a % 180}.{a * 37 % 256}.{a * 101 % 256}.{a % 250 + 1}",
                user_agent=_AGENTS[a % len(_AGENTS)],
                accept_language="en-US,en;q=0.9",
                timezone="America/Chicago",
            ),
        )


def build_profile(
    texts: Sequence[str],
    model: TextModel,
    behaviour: BehaviourModel | None,
    config: FusionConfig,
    vocab: frozenset[str],
    seed: int,
) -> tuple[Histograms, dict[str, Any]]:
    probabilities = model.predict_many(texts)
    state = MemoryFeatureState(b"reference-profile")
    histograms = Histograms()
    for review, p in zip(synthetic_reviews(texts, seed), probabilities, strict=True):
        features = state.observe(review)
        a = assess(
            text=review.text,
            text_probability=p,
            text_prior=model.train_prior,
            features=features,
            behaviour=behaviour,
            config=config,
        )
        for name, value in observations(
            text=review.text,
            text_probability=p,
            risk=a.risk_score,
            decision=a.decision,
            reasons=a.reasons,
            vocabulary=vocab,
        ):
            histograms.add(name, value)
    lengths = [len(t) for t in texts]
    integrity = {
        "text": {"missing_rate": 0.0, "length_min": min(lengths), "length_max": max(lengths)},
        "text_score": {"min": 0.0, "max": 1.0},
        "rating": {"values": list(_STARS)},
        "text_length_summary": summary([float(x) for x in lengths]),
        "text_score_summary": summary(probabilities),
    }
    return histograms, integrity


def run(args: argparse.Namespace) -> int:
    model = TextModel.load(args.model)
    manifest_path = args.model / MANIFEST_NAME
    manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
    paths: list[Path] = args.data or default_training_files()
    if not paths:
        print(f"no CSV given and none in {DEFAULT_DATA_DIR}", file=sys.stderr)
        return 2
    files = [load_labelled_csv(p) for p in paths]
    trained_on = {d.get("sha256") for d in manifest.get("training_data", [])}
    texts: list[str] = []
    for f in files:
        texts.extend(held_out(f.texts, args.share))
    rng = random.Random(args.seed)
    rng.shuffle(texts)
    texts = [t for t in texts[: args.max_rows] if t]
    vocab = vocabulary([t for f in files for t in f.texts], args.vocabulary_size)
    behaviour = BehaviourModel.load(args.behaviour) if args.behaviour.is_file() else None
    config = _fusion_config()
    histograms, integrity = build_profile(texts, model, behaviour, config, vocab, args.seed)
    in_training = [f.name for f in files if f.sha256 in trained_on]
    meta = {
        "text_model_version": model.version,
        "behaviour_model_version": behaviour.version if behaviour else "none",
        "n_reviews": len(texts),
        "data": [{"file": f.name, "sha256": f.sha256} for f in files],
        "share": args.share,
        "seed": args.seed,
        "data_in_training_set": in_training,
        "behaviour_stream": "synthetic ordinary traffic (model/profile.py synthetic_reviews)",
        "fusion": {
            "base_rate": config.base_rate,
            "review_threshold": config.review_threshold,
            "reject_threshold": config.reject_threshold,
        },
    }
    profile = ReferenceProfile(histograms, vocab, integrity, meta)
    data = profile.to_json()
    payload = json.dumps(data, indent=1, sort_keys=True) + "\n"
    (args.model / PROFILE_NAME).write_text(payload, encoding="utf-8")
    decisions = dict(
        zip(("allow", "review", "reject"), histograms.counts["decision"], strict=False)
    )
    manifest["reference_profile"] = {
        "file": PROFILE_NAME,
        "sha256": sha256(payload.encode()),
        "content_sha256": sha256(canonical_bytes(data)),
        "n_reviews": len(texts),
        "vocabulary_size": len(vocab),
        "decisions": decisions,
        "data_in_training_set": in_training,
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if in_training:
        print(
            f"warning: {', '.join(in_training)} trained this model: the text score is in-sample "
            "there (sharper than on new traffic); pass --data with texts it has not seen",
            file=sys.stderr,
        )
    print(json.dumps(manifest["reference_profile"], indent=2))
    return 0


def _fusion_config() -> FusionConfig:
    # The service's own thresholds (REVIEWGUARD_* honoured), so the decision rates match it.
    from service.main import fusion_config

    return fusion_config(Settings())
