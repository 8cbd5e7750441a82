"""The answer's JSON: built once per verdict, the same bytes as its field-by-field form."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings

from service.scorer import Verdict
from tests.unit.factories import VERDICTS


def answer(verdict: Verdict) -> dict[str, Any]:
    """The answer field by field, as the HTTP contract lists it."""
    return {
        "review_id": verdict.review_id,
        "risk_score": verdict.risk_score,
        "risk_level": verdict.risk_level,
        "decision": verdict.decision,
        "reasons": [
            {"code": r.code, "message": r.message, "contribution": r.contribution}
            for r in verdict.reasons
        ],
        "model_version": verdict.model_version,
        "degraded": verdict.degraded,
    }


@settings(max_examples=500, deadline=None)
@given(VERDICTS)
def test_the_body_is_the_answer_field_by_field(verdict: Verdict) -> None:
    assert verdict.body == orjson.dumps(answer(verdict))
    assert verdict.to_dict() == orjson.loads(orjson.dumps(answer(verdict)))
    again = Verdict.from_dict(verdict.to_dict(), verdict.body)
    assert again.body == verdict.body
