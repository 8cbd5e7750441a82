"""Fusion: one calibrated risk from signal groups that were never labelled together.

risk = sigmoid(logit(base_rate) + sum of capped group terms). Each term is a log-likelihood ratio:
the text model's (calibrated on the text sets), the fitted behaviour model's groups (YelpChi), and
prior-weighted rules for signals with no labelled data here (device, IP, duplicates, links, e-mail,
text descriptors). Treating the groups as conditionally independent given fake/genuine is an
assumption, stated in docs/scoring.md; the caps bound what any one group can do when it is wrong.
Each term is exactly its reason's contribution.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Literal

from service.native import load
from service.scoring.behaviour import BehaviourModel
from service.scoring.features import DAY_S, HOUR_S, Features
from service.scoring.text_signals import describe_counts

# assess's terms, grouping, caps, sum and shown reasons in C (service/native/fusionkit.c): None
# when not built or turned off, and from CPython 3.12 on, whose sum() of floats compensates
# rounding errors (the C code adds as 3.11's does).
_NATIVE = load("fusionkit") if sys.version_info < (3, 12) else None

RiskLevel = Literal["low", "medium", "high"]
Decision = Literal["allow", "review", "reject"]


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message: str
    contribution: float


_NEW = object.__new__
# The slots' own setters: what the frozen dataclasses' __init__ reaches through object.__setattr__.
_SET_CODE = Reason.__dict__["code"].__set__
_SET_MESSAGE = Reason.__dict__["message"].__set__
_SET_CONTRIBUTION = Reason.__dict__["contribution"].__set__


def _reason(code: str, message: str, contribution: float) -> Reason:
    """``Reason(code, message, contribution)`` with its slots set directly: the same object at
    less than half the cost of the frozen dataclass's __init__ (no __post_init__ to skip)."""
    reason: Reason = _NEW(Reason)
    _SET_CODE(reason, code)
    _SET_MESSAGE(reason, message)
    _SET_CONTRIBUTION(reason, contribution)
    return reason


Term = tuple[str, str, float]
"""A reason while the risk is being summed: (code, message, contribution). Tuples, because a
frozen Reason costs about 1 us to build and each term used to be rebuilt two or three times."""


@dataclass(frozen=True, slots=True)
class Assessment:
    risk_score: float
    risk_level: RiskLevel
    decision: Decision
    reasons: tuple[Reason, ...]
    degraded: bool


_SET_ASSESSMENT = tuple(
    Assessment.__dict__[name].__set__
    for name in ("risk_score", "risk_level", "decision", "reasons", "degraded")
)


def _assessment(
    risk_score: float,
    risk_level: RiskLevel,
    decision: Decision,
    reasons: tuple[Reason, ...],
    degraded: bool,
) -> Assessment:
    """``Assessment(...)`` with its slots set directly (as _reason does for a Reason)."""
    a: Assessment = _NEW(Assessment)
    set_risk_score, set_risk_level, set_decision, set_reasons, set_degraded = _SET_ASSESSMENT
    set_risk_score(a, risk_score)
    set_risk_level(a, risk_level)
    set_decision(a, decision)
    set_reasons(a, reasons)
    set_degraded(a, degraded)
    return a


@dataclass(frozen=True, slots=True)
class PriorWeights:
    """Log-odds weights of the signals that have no labelled data here (documented, configurable).

    A weight is the log-likelihood ratio the signal adds at its reference strength; e.g.
    device_shared = 0.9 per doubling of the accounts seen on one device in 24 h beyond the first.
    """

    device_shared: float = 0.9
    device_velocity: float = 0.5
    ip_shared: float = 0.5
    network_shared: float = 0.25
    ip_velocity: float = 0.3
    duplicate_text: float = 1.2
    product_burst: float = 0.6
    linked_device: float = 2.0
    linked_account: float = 2.5
    linked_ip: float = 1.0
    disposable_email: float = 0.8
    dubious_name: float = 0.6
    account_new: float = 1.0
    headless: float = 1.5
    inconsistent_device: float = 0.4
    rating_without_text: float = 0.4
    excessive_punctuation: float = 0.35
    extreme_wording: float = 0.3
    repetitive_text: float = 0.3
    text_model: float = 1.0
    """Scales the text model's own log-likelihood ratio (1.0: taken as calibrated)."""


@dataclass(frozen=True, slots=True)
class FusionConfig:
    base_rate: float = 0.04
    review_threshold: float = 0.5
    reject_threshold: float = 0.95
    medium_threshold: float = 0.2
    group_cap: float = 3.0
    """No group moves the log-odds by more than this, either way."""
    min_reason: float = 0.05
    """Terms smaller than this (in absolute value) are not listed as reasons."""
    weights: PriorWeights = field(default_factory=PriorWeights)


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


_LOGITS: dict[float, float] = {}


def _logit_of_constant(p: float) -> float:
    """``logit(p)`` of a value that repeats on every review (the base rate, the text prior):
    worked out once per value (a handful in a process)."""
    known = _LOGITS.get(p)
    if known is None:
        known = logit(p)
        if len(_LOGITS) < 64:
            _LOGITS[p] = known
    return known


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _doublings(count: int, free: int) -> float:
    """log2 of how far a count exceeds what is normal (free): 0 up to free, 1 at twice it."""
    return math.log2(count / free) if count > free else 0.0


def _duration(seconds: float) -> str:
    if seconds < HOUR_S:
        return f"{max(1, round(seconds / 60))} minutes"
    if seconds < 2 * DAY_S:
        return f"{seconds / HOUR_S:.1f} hours"
    return f"{seconds / DAY_S:.0f} days"


def text_terms(
    text: str | None, text_probability: float | None, text_prior: float, w: PriorWeights
) -> list[Reason]:
    """The text group: the model's log-likelihood ratio plus what a reader would notice."""
    return [Reason(*t) for t in _text_terms(text, text_probability, text_prior, w)]


def _text_terms(
    text: str | None, text_probability: float | None, text_prior: float, w: PriorWeights
) -> list[Term]:
    if not text:
        return []
    if text_probability is None:
        terms: list[Term] = []
    else:
        # logit(text_probability), inlined: the same clamp and the same operations.
        p = min(max(text_probability, 1e-6), 1 - 1e-6)
        llr = w.text_model * (math.log(p / (1 - p)) - _logit_of_constant(text_prior))
        if llr >= 0:
            message = f"text resembles known fake reviews ({text_probability:.2f})"
        else:
            message = f"text resembles genuine reviews (fake-text score {text_probability:.2f})"
        terms = [("TEXT_MODEL", message, llr)]
    # describe_text's fields, as a tuple (no TextSignals built).
    (
        n_words,
        exclamation_runs,
        exclamations,
        emoticons,
        _,
        extreme_share,
        top_word,
        top_word_repeats,
        distinct_share,
    ) = describe_counts(text)
    loud = exclamation_runs + emoticons
    if loud >= 2 or (exclamations >= 4 and n_words < 80):
        terms.append(
            (
                "TEXT_EXCESSIVE_PUNCTUATION",
                f"{exclamations} exclamation marks, "
                f"{exclamation_runs} runs like '!!!' and {emoticons} emoticons",
                w.excessive_punctuation * min(2.0, 1.0 + math.log2(max(1, loud) / 2 + 1) / 2),
            )
        )
    if n_words >= 5 and extreme_share >= 0.12:
        terms.append(
            (
                "TEXT_EXTREME",
                f"{extreme_share:.0%} of the words are superlatives or absolutes",
                w.extreme_wording * min(2.0, extreme_share / 0.12),
            )
        )
    if top_word_repeats >= 4 and distinct_share < 0.6:
        terms.append(
            (
                "TEXT_REPETITIVE",
                f"'{top_word}' repeated {top_word_repeats} times "
                f"({distinct_share:.0%} distinct words)",
                w.repetitive_text * min(2.0, top_word_repeats / 4),
            )
        )
    return terms


def rule_terms(f: Features, w: PriorWeights) -> list[Reason]:
    """Prior-weighted signals: device, network, duplicates, links, identity."""
    return [Reason(*t) for t in _rule_terms(f, w)]


def _rule_terms(f: Features, w: PriorWeights) -> list[Term]:
    terms: list[Term] = []
    if f.device_accounts_24h >= 2:
        terms.append(
            (
                "DEVICE_SHARED",
                f"device used by {f.device_accounts_24h} accounts in the last 24 h "
                f"({f.device_accounts_30d} in 30 days)",
                w.device_shared * math.log2(f.device_accounts_24h),
            )
        )
    elif f.device_accounts_30d >= 3:
        terms.append(
            (
                "DEVICE_SHARED",
                f"device used by {f.device_accounts_30d} accounts in the last 30 days",
                w.device_shared * 0.5 * math.log2(f.device_accounts_30d - 1),
            )
        )
    if f.device_reviews_1h >= 4 or f.device_reviews_24h >= 10:
        terms.append(
            (
                "VELOCITY_DEVICE",
                f"{f.device_reviews_1h} reviews from this device in the last hour, "
                f"{f.device_reviews_24h} in 24 h",
                w.device_velocity
                * max(_doublings(f.device_reviews_1h, 2), _doublings(f.device_reviews_24h, 5)),
            )
        )
    if f.ip_accounts_24h >= 3:
        terms.append(
            (
                "IP_SHARED",
                f"IP address used by {f.ip_accounts_24h} accounts in the last 24 h "
                f"({f.ip_accounts_1h} in the last hour)",
                w.ip_shared * _doublings(f.ip_accounts_24h, 1),
            )
        )
    elif f.net_accounts_24h >= 5:
        terms.append(
            (
                "IP_SHARED",
                f"IP network used by {f.net_accounts_24h} accounts in the last 24 h",
                w.network_shared * _doublings(f.net_accounts_24h, 2),
            )
        )
    if f.ip_reviews_1h >= 6 or f.net_reviews_1h >= 12:
        terms.append(
            (
                "VELOCITY_IP",
                f"{f.ip_reviews_1h} reviews from this IP address in the last hour "
                f"({f.net_reviews_1h} from its network)",
                w.ip_velocity
                * max(_doublings(f.ip_reviews_1h, 3), _doublings(f.net_reviews_1h, 6)),
            )
        )
    # A flood that pushes one way: on YelpChi, busy days alone carry no sign of fakes.
    if f.product_reviews_1h >= 4 and f.product_burst_ratio >= 2 and f.burst_extreme_share >= 0.75:
        terms.append(
            (
                "PRODUCT_BURST",
                f"product received {f.product_reviews_1h} reviews in the last hour and "
                f"{f.product_reviews_24h} in 24 h against a usual "
                f"{f.product_usual_per_24h:.1f} a day "
                f"({f.burst_extreme_share:.0%} of them 1 or 5 stars)",
                w.product_burst
                * (_doublings(round(f.product_burst_ratio), 1) + f.burst_extreme_share),
            )
        )
    if f.duplicate_accounts_7d >= 1:
        terms.append(
            (
                "DUPLICATE_TEXT",
                f"near-identical text posted by {f.duplicate_accounts_7d} other account"
                f"{'s' if f.duplicate_accounts_7d > 1 else ''} in the last 7 days",
                w.duplicate_text * (1 + math.log2(f.duplicate_accounts_7d)),
            )
        )
    if f.linked_account or f.linked_device or f.linked_ip:  # rare: the list only then
        linked = [
            name
            for name, is_linked in (
                ("account", f.linked_account),
                ("device", f.linked_device),
                ("IP network", f.linked_ip),
            )
            if is_linked
        ]
        terms.append(
            (
                "LINKED_TO_CONFIRMED_FRAUD",
                f"{', '.join(linked)} tied to reviews moderators confirmed fake",
                max(
                    w.linked_account * f.linked_account,
                    w.linked_device * f.linked_device,
                    w.linked_ip * f.linked_ip,
                )
                + 0.5 * (len(linked) - 1),
            )
        )
    if f.is_disposable_email:
        terms.append(
            (
                "ACCOUNT_DISPOSABLE_EMAIL",
                "e-mail domain is a disposable-mail service",
                w.disposable_email,
            )
        )
    if f.username_dubiousness >= 0.5:
        terms.append(
            (
                "ACCOUNT_DUBIOUS_NAME",
                f"username looks machine-generated (dubiousness {f.username_dubiousness:.2f})",
                w.dubious_name * f.username_dubiousness,
            )
        )
    if (
        f.account_age_s is not None
        and not f.is_account_age_from_first_seen
        and f.account_age_s < 7 * DAY_S
    ):
        strength = 1.0 if f.account_age_s < HOUR_S else 0.6 if f.account_age_s < DAY_S else 0.3
        terms.append(
            (
                "ACCOUNT_NEW",
                f"account created {_duration(f.account_age_s)} before this review",
                w.account_new * strength,
            )
        )
    if f.is_headless:
        terms.append(
            ("DEVICE_HEADLESS", "browser identifies itself as headless or automated", w.headless)
        )
    if f.is_inconsistent_device:
        terms.append(
            (
                "DEVICE_INCONSISTENT",
                "device's language, timezone or platform contradict each other",
                w.inconsistent_device,
            )
        )
    if f.is_rating_without_text:
        terms.append(
            (
                "RATING_WITHOUT_TEXT",
                f"{_stars(f)} rating with no comment at all",
                w.rating_without_text,
            )
        )
    return terms


def _stars(f: Features) -> str:
    return "extreme" if f.is_extreme_rating else "star"


def behaviour_terms(f: Features, model: BehaviourModel) -> list[Reason]:
    """The fitted groups, each worded with the numbers that drove it."""
    return [Reason(*t) for t in _behaviour_terms(f, model)]


def _behaviour_terms(f: Features, model: BehaviourModel) -> list[Term]:
    """Each group's (code, message, term): _describe_group's wording, inlined for the groups the
    shipped model has (this runs on every review); _describe_group for any other."""
    terms: list[Term] = []
    for group, term in zip(model.groups, model.group_values(f), strict=True):
        if group == "ACCOUNT_HISTORY":
            n = f.account_reviews_before
            if term < 0:
                terms.append(
                    (
                        "ACCOUNT_ESTABLISHED",
                        f"account has {n} earlier review{'' if n == 1 else 's'}",
                        term,
                    )
                )
            elif f.is_first_review:
                terms.append(("ACCOUNT_FIRST_REVIEW", "first review by this account", term))
            else:
                terms.append((*_describe_group(group, term, f), term))
        elif group == "VELOCITY_ACCOUNT":
            n = f.account_reviews_24h
            terms.append(
                (
                    "VELOCITY_ACCOUNT" if term >= 0 else "ACCOUNT_PACE_ORDINARY",
                    f"account posted {n} review{'' if n == 1 else 's'} in the last 24 h "
                    f"({f.account_reviews_1h} in the last hour, {f.account_reviews_7d} in 7 days)",
                    term,
                )
            )
        elif group == "RATING":
            mean = f.product_mean_rating_before
            if mean is None:
                where = "on a product with no earlier ratings"
            else:
                where = f"{f.rating_deviation:.1f} stars from the product's mean of {mean:.1f}"
            terms.append(
                (
                    "RATING_DEVIATION" if term >= 0 else "RATING_TYPICAL",
                    (
                        "a 1- or 5-star rating, " + where
                        if f.is_extreme_rating
                        else "a 2- to 4-star rating, " + where
                    ),
                    term,
                )
            )
        elif group == "PRODUCT_PATTERN":
            n = f.product_reviews_before
            terms.append(
                (
                    "PRODUCT_PATTERN",
                    f"product has {n} earlier review{'' if n == 1 else 's'}, "
                    f"{f.product_reviews_24h} in the last 24 h against a usual "
                    f"{f.product_usual_per_24h:.1f} a day ({f.burst_extreme_share:.0%} of them "
                    "1 or 5 stars)",
                    term,
                )
            )
        else:
            terms.append((*_describe_group(group, term, f), term))
    return terms


def _describe_group(group: str, term: float, f: Features) -> tuple[str, str]:
    if group == "ACCOUNT_HISTORY":
        if term < 0:
            return (
                "ACCOUNT_ESTABLISHED",
                f"account has {_plural(f.account_reviews_before, 'earlier review')}",
            )
        if f.is_first_review:
            return ("ACCOUNT_FIRST_REVIEW", "first review by this account")
        extremes = (
            f" ({f.account_extreme_share_before:.0%} of them 1 or 5 stars)"
            if f.account_extreme_share_before is not None
            else ""
        )
        return (
            "ACCOUNT_THIN_HISTORY",
            f"account has only {_plural(f.account_reviews_before, 'earlier review')}{extremes}",
        )
    if group == "VELOCITY_ACCOUNT":
        pace = (
            f"account posted {_plural(f.account_reviews_24h, 'review')} in the last 24 h "
            f"({f.account_reviews_1h} in the last hour, {f.account_reviews_7d} in 7 days)"
        )
        return ("VELOCITY_ACCOUNT", pace) if term >= 0 else ("ACCOUNT_PACE_ORDINARY", pace)
    if group == "RATING":
        if f.product_mean_rating_before is None:
            where = "on a product with no earlier ratings"
        else:
            where = (
                f"{f.rating_deviation:.1f} stars from the product's mean "
                f"of {f.product_mean_rating_before:.1f}"
            )
        code = "RATING_DEVIATION" if term >= 0 else "RATING_TYPICAL"
        return (code, f"{_rating_words(f)}, {where}")
    if group == "PRODUCT_PATTERN":
        return (
            "PRODUCT_PATTERN",
            f"product has {_plural(f.product_reviews_before, 'earlier review')}, "
            f"{f.product_reviews_24h} in the last 24 h against a usual "
            f"{f.product_usual_per_24h:.1f} a day ({f.burst_extreme_share:.0%} of them "
            f"1 or 5 stars)",
        )
    return (group, f"{group.lower().replace('_', ' ')} pattern")


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _rating_words(f: Features) -> str:
    return "a 1- or 5-star rating" if f.is_extreme_rating else "a 2- to 4-star rating"


# Signals that share a cause share a cap: a device seen on many accounts is usually also a fast one.
GROUP_OF: dict[str, str] = {
    "TEXT_MODEL": "text",
    "TEXT_EXCESSIVE_PUNCTUATION": "text",
    "TEXT_EXTREME": "text",
    "TEXT_REPETITIVE": "text",
    "RATING_WITHOUT_TEXT": "text",
    "DEVICE_SHARED": "device",
    "VELOCITY_DEVICE": "device",
    "DEVICE_HEADLESS": "device",
    "DEVICE_INCONSISTENT": "device",
    "IP_SHARED": "network",
    "VELOCITY_IP": "network",
    "ACCOUNT_DISPOSABLE_EMAIL": "identity",
    "ACCOUNT_DUBIOUS_NAME": "identity",
    "ACCOUNT_NEW": "identity",
    "ACCOUNT_FIRST_REVIEW": "behaviour",
    "ACCOUNT_THIN_HISTORY": "behaviour",
    "ACCOUNT_ESTABLISHED": "behaviour",
    "VELOCITY_ACCOUNT": "behaviour",
    "ACCOUNT_PACE_ORDINARY": "behaviour",
    "RATING_TYPICAL": "behaviour",
    "RATING_DEVIATION": "behaviour",
    "PRODUCT_PATTERN": "behaviour",
}


def cap(terms: list[Reason], limit: float) -> list[Reason]:
    """Cap a group's total at +-limit, scaling its terms alike so each stays its share."""
    total = sum(t.contribution for t in terms)
    if abs(total) <= limit or total == 0:
        return terms
    scale = limit / abs(total)
    return [Reason(t.code, t.message, t.contribution * scale) for t in terms]


_CONTRIBUTION = itemgetter(2)


def _cap(terms: list[Term], limit: float) -> list[Term]:
    """``cap`` of terms: the same sums and products."""
    total = sum(map(_CONTRIBUTION, terms))
    if abs(total) <= limit or total == 0:
        return terms
    scale = limit / abs(total)
    return [(code, message, contribution * scale) for code, message, contribution in terms]


def _finish(terms: list[Term], config: FusionConfig) -> tuple[float, list[Reason]]:
    """The tail of assess: the terms grouped (groups in order of first appearance) and each group
    capped; the sum of the kept contributions in that order; the reasons shown (at least
    min_reason, rounded) by descending contribution. The reference for fusionkit.finish."""
    by_group: dict[str, list[Term]] = {}
    for term in terms:
        code = term[0]
        group = GROUP_OF.get(code, code)
        members = by_group.get(group)
        if members is None:
            by_group[group] = [term]
        else:
            members.append(term)
    group_cap = config.group_cap
    kept: list[Term] = []
    for members in by_group.values():
        # A lone term within the cap is what _cap returns it as (sum([x]) is 0 + x, and both
        # 0.0 and -0.0 are within it): most groups have one term.
        if len(members) == 1 and abs(members[0][2]) <= group_cap:
            kept.append(members[0])
        else:
            kept += _cap(members, group_cap)
    min_reason = config.min_reason
    shown = [
        (code, message, round(contribution, 3))
        for code, message, contribution in kept
        if abs(contribution) >= min_reason
    ]
    # Descending and stable: a reverse sort keeps equal contributions in their order, as sorting
    # on the negated contribution did (-0.0 and 0.0 are equal either way; NaN is never shown).
    shown.sort(key=_CONTRIBUTION, reverse=True)
    reasons = [_reason(code, message, contribution) for code, message, contribution in shown]
    return sum(map(_CONTRIBUTION, kept)), reasons


def _native_terms(
    text: str | None,
    text_probability: float | None,
    text_prior: float,
    features: Features | None,
    behaviour: BehaviourModel | None,
    config: FusionConfig,
) -> list[Term] | None:
    """assess's terms from fusionkit's text_terms, rule_terms and behaviour_terms (the same
    tuples as _text_terms, _rule_terms and _behaviour_terms give); None where one of them leaves
    the work to the Python code (a value of a type it does not take, a group it has no wording
    for)."""
    native = _NATIVE
    assert native is not None
    w = config.weights
    terms: list[Term] | None
    if not text:
        terms = []
    else:
        logit_prior = 0.0 if text_probability is None else _logit_of_constant(text_prior)
        terms = native.text_terms(describe_counts(text), text_probability, logit_prior, w)
        if terms is None:
            return None
    if features is not None:
        rules = native.rule_terms(features, w)
        if rules is None:
            return None
        terms += rules
        if behaviour is not None:
            groups = native.behaviour_terms(
                features, behaviour.groups, behaviour.group_values(features)
            )
            if groups is None:
                return None
            terms += _cap(groups, config.group_cap)
    return terms


def assess(
    *,
    text: str | None,
    text_probability: float | None,
    text_prior: float,
    features: Features | None,
    behaviour: BehaviourModel | None,
    config: FusionConfig,
    missing: str | None = None,
) -> Assessment:
    """Fuse everything known about one review into a risk, a decision and its reasons."""
    w = config.weights
    terms = (
        None
        if _NATIVE is None
        else _native_terms(text, text_probability, text_prior, features, behaviour, config)
    )
    if terms is None:
        terms = _text_terms(text, text_probability, text_prior, w)
        if features is not None:
            terms += _rule_terms(features, w)
            if behaviour is not None:
                terms += _cap(_behaviour_terms(features, behaviour), config.group_cap)
    offset = behaviour.offset if features is not None and behaviour is not None else 0.0
    done = (
        None
        if _NATIVE is None
        else _NATIVE.finish(terms, GROUP_OF, config.group_cap, config.min_reason, Reason)
    )
    total, reasons = _finish(terms, config) if done is None else done
    log_odds = _logit_of_constant(config.base_rate) + offset + total
    # sigmoid(log_odds), inlined.
    if log_odds >= 0:
        risk = 1.0 / (1.0 + math.exp(-log_odds))
    else:
        z = math.exp(log_odds)
        risk = z / (1.0 + z)
    degraded = features is None
    if degraded:
        reasons.append(
            _reason(
                "FEATURES_UNAVAILABLE",
                f"behaviour features unavailable ({missing or 'store not reached'}): "
                "scored from the text alone",
                0.0,
            )
        )
    # level() and decide(), inlined.
    if risk >= config.review_threshold:
        risk_level: RiskLevel = "high"
        decision: Decision = "reject" if risk >= config.reject_threshold else "review"
    else:
        risk_level = "medium" if risk >= config.medium_threshold else "low"
        decision = "reject" if risk >= config.reject_threshold else "allow"
    return _assessment(round(risk, 4), risk_level, decision, tuple(reasons), degraded)


def level(risk: float, config: FusionConfig) -> RiskLevel:
    if risk >= config.review_threshold:
        return "high"
    return "medium" if risk >= config.medium_threshold else "low"


def decide(risk: float, config: FusionConfig) -> Decision:
    if risk >= config.reject_threshold:
        return "reject"
    return "review" if risk >= config.review_threshold else "allow"
