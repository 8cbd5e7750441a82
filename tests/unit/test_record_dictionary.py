"""The committed dictionary of the moderation records is what model/record_dictionary.py builds."""

from __future__ import annotations

import zstandard

from model import record_dictionary
from service.moderation.models import RECORD_DICT_ID, RECORD_DICT_PATH, decode_scored


def test_the_committed_dictionary_is_rebuilt_byte_for_byte() -> None:
    from bench import gen_reviews

    shared_text = gen_reviews.SHARED_TEXT
    samples = record_dictionary.sample_records()
    assert shared_text == gen_reviews.SHARED_TEXT  # the stream's texts are left as they were
    assert len(samples) == record_dictionary.SAMPLES
    assert all(b'"t":""' in s for s in samples)  # no review text in any sample
    built = record_dictionary.build(samples)
    assert built == RECORD_DICT_PATH.read_bytes()
    assert zstandard.ZstdCompressionDict(built).dict_id() == record_dictionary.DICT_ID
    assert RECORD_DICT_ID == record_dictionary.DICT_ID


def test_samples_decode_as_records_and_the_dictionary_shrinks_them() -> None:
    samples = record_dictionary.sample_records(200, seed=5)  # another stream than the training's
    with_dict = zstandard.ZstdCompressor(
        level=1, dict_data=zstandard.ZstdCompressionDict(RECORD_DICT_PATH.read_bytes())
    )
    plain = zstandard.ZstdCompressor(level=1)
    for sample in samples:
        record = with_dict.compress(sample)
        assert decode_scored(record).review_id.startswith("sample-")
    assert sum(map(len, map(with_dict.compress, samples))) < 0.6 * sum(
        map(len, map(plain.compress, samples))
    )
