"""Builds the zstd dictionary of the moderation records (service/moderation/records.zdict).

Every scored review leaves a record in Redis (service/moderation/models.py): a few hundred bytes
of JSON that every record repeats (keys, reason codes and their messages, the model version,
common numbers) around the review's own text and values. A dictionary of that skeleton lets zstd
write a record in about half the bytes and half the CPU of zstd alone.

The samples are records made by the scoring code itself (the in-memory feature state, the text
model and behaviour model of model/artifacts, fusion) from bench/gen_reviews.py's synthetic
stream with its generated sentences, never ../shared/data, and with the text left out of each
record: the dictionary holds nothing of any review's text. The same arguments give the same
bytes (tests/unit/test_record_dictionary.py holds the committed file to that).

Run from the repository root (it needs bench/):
  .venv/bin/python -m model.record_dictionary [--out service/moderation/records.zdict]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "service" / "moderation" / "records.zdict"
# The dictionary's ID, written in every frame it compressed: the next dictionary takes the next
# ID and the decoder keeps every ID a stored record may still use. zstd reserves IDs below 32768
# and from 2**31 on for registered dictionaries: this is in neither.
DICT_ID = 0x52470001
DICT_SIZE = 8192
SAMPLES = 4000
SEED = 11
START_S = 1_790_000_000.0
HMAC_KEY = b"record-dictionary-samples"


def sample_records(n: int = SAMPLES, seed: int = SEED) -> list[bytes]:
    """The JSON of n records (``record_json``) of a synthetic stream, text left out."""
    sys.path.insert(0, str(ROOT))
    from bench import gen_reviews
    from service.api.routes import to_review
    from service.api.schemas import ReviewIn
    from service.features.memory import MemoryFeatureState
    from service.moderation.models import record_json
    from service.recording import scored_review
    from service.scorer import Scored, Verdict
    from service.scoring.behaviour import BehaviourModel
    from service.scoring.fusion import FusionConfig, assess
    from service.settings import DEFAULT_ARTIFACT_DIR, Settings
    from service.text_model import TextModel

    # Generated sentences, not the shared data's texts, whatever is beside the checkout.
    shared_text, gen_reviews.SHARED_TEXT = gen_reviews.SHARED_TEXT, ROOT / "no-shared-text"
    try:
        bodies = gen_reviews.generate(n, seed=seed, now_s=START_S)
    finally:
        gen_reviews.SHARED_TEXT = shared_text
    settings = Settings(hmac_key="unused")
    classifier = TextModel.load(DEFAULT_ARTIFACT_DIR)
    behaviour = BehaviourModel.load(settings.behaviour_model_path)
    config = FusionConfig()
    state = MemoryFeatureState(HMAC_KEY)
    version = f"{classifier.version} / {behaviour.version}"
    out = []
    for i, body in enumerate(bodies):
        body["review_id"] = f"sample-{i}"
        review = to_review(ReviewIn.model_validate(body), START_S + i * 0.5)
        features = state.observe(review)
        probability = classifier.predict(review.text) if review.text else None
        a = assess(
            text=review.text,
            text_probability=probability,
            text_prior=classifier.train_prior,
            features=features,
            behaviour=behaviour,
            config=config,
        )
        verdict = Verdict(
            review.review_id, a.risk_score, a.risk_level, a.decision, a.reasons, version, False
        )
        scored = Scored(review, verdict, features, is_replay=False, text_probability=probability)
        out.append(record_json(dataclasses.replace(scored_review(scored), text="")))
    return out


def build(samples: list[bytes], size: int = DICT_SIZE, dict_id: int = DICT_ID) -> bytes:
    """The dictionary trained on the samples: fixed parameters, one thread (reproducible)."""
    chunks: list[bytes | bytearray | memoryview[int]] = list(samples)
    trained = zstandard.train_dictionary(
        size, chunks, k=200, d=8, dict_id=dict_id, level=1, threads=1
    )
    return bytes(trained.as_bytes())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = build(sample_records())
    args.out.write_bytes(data)
    print(f"{args.out}: {len(data)} bytes, id {DICT_ID}, sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
