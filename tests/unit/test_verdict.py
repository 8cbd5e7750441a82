"""The answer's JSON: built once per verdict, the same bytes as its field-by-field form."""

from __future__ import annotations

import orjson
from hypothesis import given, settings

from service.scorer import Verdict
from tests.unit.factories import VERDICTS, answer_fields


@settings(max_examples=500, deadline=None)
@given(VERDICTS)
def test_the_body_is_the_answer_field_by_field(verdict: Verdict) -> None:
    assert verdict.body == orjson.dumps(answer_fields(verdict))
    assert verdict.to_dict() == orjson.loads(orjson.dumps(answer_fields(verdict)))
    again = Verdict.from_dict(verdict.to_dict(), verdict.body)
    assert again.body == verdict.body
