"""service/native/fusionkit.c does what its Python references in fusion.py and behaviour.py do.

scorecard is held to BehaviourModel.group_terms_python and finish to fusion._finish, value for
value and bit for bit (floats compared by their hex, so -0.0 and NaN count), on generated
features, terms and configs; and the Python paths are checked to be taken where the C one would
not give the same (non-float contributions, integer weights).
"""

from __future__ import annotations

import dataclasses
import math
import struct
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.scoring import fusion
from service.scoring.behaviour import BehaviourModel
from service.scoring.features import Features
from service.scoring.fusion import GROUP_OF, FusionConfig, Reason, Term
from service.scoring.text_signals import describe_counts
from tests.unit.test_native import built
from tests.unit.test_same_as_before import BEHAVIOUR, FEATURES


def native() -> ModuleType:
    module = built("fusionkit")
    assert isinstance(module, ModuleType)
    return module


def bits(x: object) -> object:
    return x.hex() if isinstance(x, float) else x


def reason_bits(reasons: list[Reason]) -> list[tuple[str, str, object]]:
    return [(r.code, r.message, bits(r.contribution)) for r in reasons]


# --- scorecard ------------------------------------------------------------------------------


def test_the_shipped_model_takes_the_c_path() -> None:
    native()
    assert BEHAVIOUR._native is not None


@settings(max_examples=500, deadline=None)
@given(FEATURES)
def test_scorecard_is_group_terms_python(features: Features) -> None:
    native()
    expected = BEHAVIOUR.group_terms_python(features)
    got = BEHAVIOUR.group_terms(features)
    assert list(got) == list(expected)
    assert [bits(v) for v in got.values()] == [bits(v) for v in expected.values()]


def model_of(edges: list[Any], weights: list[Any], center: Any, missing: Any) -> BehaviourModel:
    return BehaviourModel.from_dict(
        {
            "version": "t",
            "base_rate": 0.1,
            "offset": 0.0,
            "features": [
                {
                    "name": "account_reviews_before",
                    "group": "A",
                    "edges": edges,
                    "weights": weights,
                    "missing_weight": missing,
                    "center": center,
                },
                {
                    "name": "account_extreme_share_before",
                    "group": "B",
                    "edges": [0.5],
                    "weights": [-0.0, 0.0],
                    "missing_weight": -0.0,
                    "center": 0.0,
                },
                {
                    "name": "is_first_review",
                    "group": "A",
                    "edges": [0.5],
                    "weights": [0.25, -1.5],
                    "missing_weight": 0.0,
                    "center": 0.125,
                },
            ],
        }
    )


SPECIAL = st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 1e308, 5e-324])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.floats(-10, 10), SPECIAL), min_size=0, max_size=6),
    st.data(),
    FEATURES,
    st.one_of(st.none(), st.floats(allow_nan=True), st.integers(-5, 5)),
)
def test_scorecard_on_odd_tables(
    edges: list[float], data: st.DataObject, features: Features, value: float | None
) -> None:
    native()
    weights = data.draw(st.lists(st.one_of(st.floats(-3, 3), SPECIAL), min_size=len(edges) + 1))
    weights = weights[: len(edges) + 1]
    center = data.draw(st.one_of(st.floats(-1, 1), SPECIAL))
    missing = data.draw(st.one_of(st.floats(-1, 1), SPECIAL))
    model = model_of(edges, weights, center, missing)
    assert model._native is not None
    for f in (features, _with(features, account_reviews_before=value)):
        expected = model.group_terms_python(f)
        got = model.group_terms(f)
        assert [bits(v) for v in got.values()] == [bits(v) for v in expected.values()]


def _with(features: Features, **changes: object) -> Features:
    values = {name: getattr(features, name) for name in Features.__dataclass_fields__}
    return Features(**{**values, **changes})  # type: ignore[arg-type]


def test_integer_weights_or_edges_beyond_doubles_keep_the_python_path() -> None:
    native()
    assert model_of([1.5], [1, 2], 1, 0)._native is None  # int - int is an int
    assert model_of([2**60], [1.0, 2.0], 0.5, 0.0)._native is None
    assert model_of([3], [1.0, 2.0], 0.5, 0.0)._native is not None  # an int a double holds


def test_scorecard_rejects_a_malformed_table() -> None:
    kit = native()
    f = BEHAVIOUR.features[0]
    with pytest.raises(ValueError, match="malformed"):
        kit.scorecard(f, ("name",), struct.pack("=3d", 5.0, 0.0, 0.0), 1)
    with pytest.raises(ValueError, match="whole number"):
        kit.scorecard(f, (), b"\x00" * 9, 1)


# --- finish ---------------------------------------------------------------------------------

CODES = st.sampled_from([*GROUP_OF, "OTHER", "OTHER_TOO", "FEATURES"])
CONTRIBUTIONS = st.one_of(
    st.floats(-4, 4),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 0.05, -0.05, 0.0495, 0.0005, -0.0005, 0.0015, 2.5, 3.0, 1e300]),
    st.integers(-3, 3).map(lambda k: k / 1000 + 0.0005),
)
TERMS = st.lists(st.tuples(CODES, st.sampled_from(["m", "n"]), CONTRIBUTIONS), max_size=70)
FINISH_CONFIGS = st.builds(
    FusionConfig,
    group_cap=st.one_of(st.just(3.0), st.floats(0, 5), st.sampled_from([0.0, -1.0, math.inf])),
    min_reason=st.one_of(st.just(0.05), st.floats(0, 1), st.sampled_from([0.0, -1.0])),
)


def python_finish(terms: list[Term], config: FusionConfig) -> tuple[object, list[Any]]:
    total, reasons = fusion._finish(list(terms), config)
    return bits(total + 0.0), reason_bits(reasons)  # sum() of nothing is the int 0


@settings(max_examples=2000, deadline=None)
@given(TERMS, FINISH_CONFIGS)
def test_finish_is_the_python_tail(terms: list[Term], config: FusionConfig) -> None:
    kit = native()
    got = kit.finish(list(terms), GROUP_OF, config.group_cap, config.min_reason, Reason)
    assert got is not None
    total, reasons = got
    assert all(type(r) is Reason for r in reasons)
    assert (bits(total), reason_bits(reasons)) == python_finish(terms, config)


def test_finish_leaves_non_float_contributions_to_python() -> None:
    kit = native()
    terms: list[Any] = [("TEXT_MODEL", "m", 1.0), ("DEVICE_HEADLESS", "m", 2)]
    assert kit.finish(terms, GROUP_OF, 3.0, 0.05, Reason) is None


def test_finish_reasons_are_whole_reasons() -> None:
    kit = native()
    _, reasons = kit.finish([("TEXT_MODEL", "m", 1.23456)], GROUP_OF, 3.0, 0.05, Reason)
    assert reasons == [Reason("TEXT_MODEL", "m", 1.235)]
    assert hash(reasons[0]) == hash(Reason("TEXT_MODEL", "m", 1.235))
    with pytest.raises(AttributeError):
        reasons[0].code = "X"  # type: ignore[misc]


# --- round3 ---------------------------------------------------------------------------------

NEAR_TIES = st.integers(-(10**12), 10**12).flatmap(
    lambda k: st.sampled_from(
        [
            k / 1000 + 0.0005,
            math.nextafter(k / 1000 + 0.0005, -math.inf),
            math.nextafter(k / 1000 + 0.0005, math.inf),
            (2 * k + 1) / 2000,
            math.nextafter((2 * k + 1) / 2000, math.inf),
            k / 1000,
        ]
    )
)


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=False),
        st.floats(-5, 5),
        st.floats(-2e9, 2e9),
        st.floats(-1e-3, 1e-3),
        NEAR_TIES,
        st.sampled_from([0.0, -0.0, math.inf, -math.inf, 2.0**30, 2.0**30 - 0.0005, 5e-324]),
    )
)
def test_round3_is_round(x: float) -> None:
    assert native().round3(x).hex() == round(x, 3).hex()


def test_round3_of_nan_is_nan() -> None:
    assert math.isnan(native().round3(math.nan))


# --- the terms: text_terms, rule_terms, behaviour_terms ------------------------------------
# Each held to its Python reference (fusion._text_terms, _rule_terms, _behaviour_terms): the same
# codes, the same messages character for character, the same contributions bit for bit.

ODD_FLOATS = st.sampled_from(
    [0.0, -0.0, 0.5, 0.12, 0.75, 2.0, 2.5, 3.5, 1e300, -1e300, math.inf, -math.inf, math.nan]
)
_TERM_FIELD_VALUES = {
    "int": st.one_of(st.integers(0, 14), st.integers(0, 400), st.integers(-3, 2**60)),
    "bool": st.booleans(),
    "float": st.one_of(st.floats(0, 4), st.floats(-1e4, 3e6), ODD_FLOATS, st.integers(0, 9)),
    "float | None": st.one_of(
        st.none(),
        st.floats(0, 1),
        st.floats(-10, 8 * 86400),
        st.sampled_from([0.0, 59.9, 90.0, 3599.0, 3600.0, 86399.0, 172800.0, 604799.0]),
        ODD_FLOATS,
    ),
}
TERM_FEATURES = st.builds(
    Features,
    **{f.name: _TERM_FIELD_VALUES[str(f.type)] for f in dataclasses.fields(Features)},
)
WEIGHTS = st.builds(
    fusion.PriorWeights,
    **{
        name: st.one_of(st.floats(-3, 3), ODD_FLOATS)
        for name in fusion.PriorWeights.__dataclass_fields__
    },
)


def term_bits(terms: list[Any]) -> list[tuple[object, object, object]]:
    return [(code, message, bits(contribution)) for code, message, contribution in terms]


def beyond_doubles(features: Features) -> bool:
    values = [getattr(features, f.name) for f in dataclasses.fields(Features)]
    huge_int = any(type(v) is int and abs(v) > 2**53 for v in values)
    return huge_int or features.product_burst_ratio >= 2**53


def python_or_error(call: Any, *args: Any) -> list[Any] | type[BaseException]:
    try:
        result: list[Any] = call(*args)
    except (OverflowError, ValueError) as exc:
        return type(exc)
    return result


@settings(max_examples=1500, deadline=None)
@given(TERM_FEATURES, st.one_of(st.just(fusion.PriorWeights()), WEIGHTS))
def test_rule_terms_are_the_python_ones(features: Features, w: fusion.PriorWeights) -> None:
    got = native().rule_terms(features, w)
    expected = python_or_error(fusion._rule_terms, features, w)
    if got is None:  # the C code leaves to Python what would raise there, and numbers past 2**53
        assert not isinstance(expected, list) or beyond_doubles(features)
    else:
        assert isinstance(expected, list)
        assert term_bits(got) == term_bits(expected)


class FixedGroups:
    """What _behaviour_terms reads of a model: its groups and their values for any features."""

    def __init__(self, groups: tuple[str, ...], values: tuple[float, ...]) -> None:
        self.groups, self.values = groups, values

    def group_values(self, features: Features) -> tuple[float, ...]:
        return self.values


@settings(max_examples=1000, deadline=None)
@given(
    TERM_FEATURES,
    st.one_of(
        st.none(),
        st.lists(st.one_of(st.floats(-3, 3), ODD_FLOATS), min_size=4, max_size=4).map(tuple),
    ),
)
def test_behaviour_terms_are_the_python_ones(
    features: Features, values: tuple[float, ...] | None
) -> None:
    groups = BEHAVIOUR.groups
    assert set(groups) == {"ACCOUNT_HISTORY", "VELOCITY_ACCOUNT", "RATING", "PRODUCT_PATTERN"}
    if values is None:
        values = BEHAVIOUR.group_values(features)
    got = native().behaviour_terms(features, groups, values)
    expected = fusion._behaviour_terms(features, FixedGroups(groups, values))  # type: ignore[arg-type]
    if got is None:
        assert beyond_doubles(features)
    else:
        assert term_bits(got) == term_bits(expected)


def test_behaviour_terms_leave_other_groups_to_python() -> None:
    f = _features_at_rest()
    kit = native()
    assert kit.behaviour_terms(f, ("RATING", "SOMETHING_NEW"), (0.5, 0.5)) is None
    assert kit.behaviour_terms(f, ("RATING",), (1,)) is None  # an int term
    assert kit.behaviour_terms(f, ("RATING",), (0.5,)) is not None


PUNCTUATION_TEXT = st.lists(
    st.sampled_from(["!", "!!!", " ", "great ", "best ", "never ", ":) ", "ok ", "food. ", "é "]),
    max_size=120,
).map("".join)


@settings(max_examples=1500, deadline=None)
@given(
    st.one_of(PUNCTUATION_TEXT, st.text(min_size=1, max_size=200)),
    st.one_of(st.none(), st.floats(0, 1), st.sampled_from([0.0, 1.0, 1e-7, 0.5, math.nan])),
    st.floats(0.01, 0.99),
    st.one_of(st.just(fusion.PriorWeights()), WEIGHTS),
)
def test_text_terms_are_the_python_ones(
    text: str, probability: float | None, prior: float, w: fusion.PriorWeights
) -> None:
    if not text:
        return
    logit_prior = 0.0 if probability is None else fusion._logit_of_constant(prior)
    got = native().text_terms(describe_counts(text), probability, logit_prior, w)
    expected = fusion._text_terms(text, probability, prior, w)
    assert got is not None
    assert term_bits(got) == term_bits(expected)


def _features_at_rest() -> Features:
    """Nothing fires: zero counts, no flags, no account age."""
    values: dict[str, object] = {
        f.name: False if str(f.type) == "bool" else 0 for f in dataclasses.fields(Features)
    }
    return Features(**{**values, "account_age_s": None})  # type: ignore[arg-type]


def test_values_of_other_types_leave_the_terms_to_python() -> None:
    kit = native()
    rest = _features_at_rest()
    assert kit.rule_terms(rest, fusion.PriorWeights()) == []
    young = _with(rest, account_age_s=90.0)
    assert kit.rule_terms(young, fusion.PriorWeights()) == fusion._rule_terms(
        young, fusion.PriorWeights()
    )
    assert kit.rule_terms(_with(young, account_age_s=90), fusion.PriorWeights()) == (
        fusion._rule_terms(young, fusion.PriorWeights())
    )  # an int where a float is expected: the same, as Python gives it
    assert kit.rule_terms(_with(rest, device_accounts_24h=True), fusion.PriorWeights()) is None
    assert kit.rule_terms(_with(rest, device_accounts_24h=3.0), fusion.PriorWeights()) is None
    assert kit.rule_terms(_with(rest, is_headless=1), fusion.PriorWeights()) is None
    int_weight = fusion.PriorWeights(headless=2)  # type: ignore[arg-type]
    assert kit.rule_terms(_with(rest, is_headless=True), int_weight) is None
    counts = describe_counts("fine food")
    assert kit.text_terms(counts, 1, 0.0, fusion.PriorWeights()) is None  # an int probability


@settings(max_examples=1000, deadline=None)
@given(
    TERM_FEATURES,
    st.one_of(st.none(), st.just(""), PUNCTUATION_TEXT),
    st.one_of(st.none(), st.floats(0, 1)),
    st.sampled_from([None, BEHAVIOUR]),
    st.one_of(st.just(fusion.PriorWeights()), WEIGHTS),
)
def test_assess_is_the_same_with_and_without_the_c_terms(
    features: Features,
    text: str | None,
    probability: float | None,
    behaviour: BehaviourModel | None,
    w: fusion.PriorWeights,
) -> None:
    native()
    config = FusionConfig(weights=w)

    def run() -> object:
        try:
            a = fusion.assess(
                text=text,
                text_probability=probability,
                text_prior=0.3,
                features=features,
                behaviour=behaviour,
                config=config,
            )
        except (OverflowError, ValueError) as exc:
            return type(exc)
        return (bits(a.risk_score), a.decision, reason_bits(list(a.reasons)))

    with_c = run()
    kept = fusion._NATIVE
    fusion._NATIVE = None
    try:
        without = run()
    finally:
        fusion._NATIVE = kept
    assert with_c == without


NEAR_DECIMAL_TIES = st.integers(-(10**9), 10**9).flatmap(
    lambda k: st.sampled_from(
        [
            (2 * k + 1) / 2,
            (2 * k + 1) / 20,
            (2 * k + 1) / 200,
            (2 * k + 1) / 2000,
            math.nextafter((2 * k + 1) / 20, math.inf),
            math.nextafter((2 * k + 1) / 200, -math.inf),
            k / 100 + 0.005,
            k / 10 + 0.05,
        ]
    )
)


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.floats(),
        st.floats(-5, 5),
        st.floats(-2e9, 2e9),
        st.floats(-1e-3, 1e-3),
        NEAR_DECIMAL_TIES,
        st.sampled_from([0.0, -0.0, 2.0**30, 2.0**52, 2.0**52 + 1, 1e300, 5e-324, -0.004]),
    ),
    st.integers(0, 3),
)
def test_messages_print_numbers_as_format_does(x: float, precision: int) -> None:
    kit = native()
    assert kit.fixed(x, precision, False) == format(x, f".{precision}f")
    assert kit.fixed(x, 0, True) == format(x, ".0%")
