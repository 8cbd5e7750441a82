"""Behaviour features of one review: the single definition shared by the online store and replay."""

from __future__ import annotations

from dataclasses import dataclass

HOUR_S = 3600
DAY_S = 86400
WEEK_S = 7 * DAY_S


@dataclass(frozen=True, slots=True)
class Features:
    """Every behaviour feature of one review, as of its ``submitted_at``.

    Conventions, once for all fields:

    - A window "1h / 24h / 7d / 30d" is the half-open interval (t - w, t] on ``submitted_at``
      (t = this review's time, in whole milliseconds), so reviews at the same instant as this one
      (Yelp: the same day) are inside it, whichever was recorded first.
    - ``*_reviews_<w>`` and ``*_accounts_<w>`` counts INCLUDE the current review / account.
      ``*_before`` values EXCLUDE the current review and cover everything at or before t that is
      still retained (history is kept for the retention period, default 30 days: "so far" means
      "within retention").
    - Distinct-account counts use each account's latest sighting on that entity.
    - A missing input (no device, no IP, no text) gives zero counts and ``has_* = False``.
    """

    # --- account -------------------------------------------------------------------------------
    account_age_s: float | None
    """Seconds from ``account.created_at`` (else from the account's first retained review) to t;
    never negative. None only if neither is known (cannot happen once the review is recorded)."""
    is_account_age_from_first_seen: bool
    """True when ``account_age_s`` was measured from the first retained review, not created_at."""
    account_reviews_before: int
    """The account's other reviews at or before t (within retention)."""
    account_reviews_1h: int
    account_reviews_24h: int
    account_reviews_7d: int
    is_first_review: bool
    """``account_reviews_before == 0``."""
    account_product_reviews_before: int
    """The account's other reviews of this same product at or before t."""
    account_mean_rating_before: float | None
    """Mean star rating of the account's earlier reviews; None if there are none."""
    account_extreme_share_before: float | None
    """Share of 1- and 5-star ratings among the account's earlier reviews; None if none."""
    account_rating_deviation_before: float | None
    """Mean |rating - 3| of the account's earlier reviews (0..2); None if none. High: an account
    that only ever gives extremes."""
    is_disposable_email: bool
    """The e-mail's domain is a known disposable-mail service."""
    username_dubiousness: float
    """0..1: how random / digit-heavy the username (else the e-mail's local part) looks."""

    # --- device --------------------------------------------------------------------------------
    has_device: bool
    """A device id was available: the fingerprint, else the fallback from user agent etc."""
    has_fingerprint: bool
    """The caller sent a client-side device fingerprint (not the fallback id)."""
    device_accounts_24h: int
    device_accounts_30d: int
    device_reviews_1h: int
    device_reviews_24h: int
    is_headless: bool
    """The user agent names a headless / automation browser (HeadlessChrome, PhantomJS, ...)."""
    is_inconsistent_device: bool
    """The device's claims contradict each other (see ``identity.inconsistency_cues``)."""

    # --- network -------------------------------------------------------------------------------
    has_ip: bool
    ip_accounts_1h: int
    ip_accounts_24h: int
    ip_reviews_1h: int
    ip_reviews_24h: int
    net_accounts_1h: int
    """Distinct accounts from the IP's /24 (IPv4) or /64 (IPv6) network."""
    net_accounts_24h: int
    net_reviews_1h: int
    net_reviews_24h: int

    # --- product -------------------------------------------------------------------------------
    product_reviews_before: int
    """The product's other reviews at or before t (within retention): how early this review is."""
    product_reviews_1h: int
    product_reviews_24h: int
    product_usual_per_24h: float
    """The product's own usual rate: its reviews in (t - retention, t - 24h] per day of that
    period it was observed (at least one day)."""
    product_burst_ratio: float
    """``product_reviews_24h / (product_usual_per_24h + 1)``: > 1 means busier than usual."""
    burst_extreme_share: float
    """Share of 1- and 5-star ratings among the product's reviews in the last 24h (incl. this)."""
    product_mean_rating_before: float | None
    """Mean rating of the product's other reviews at or before t; None if none."""
    rating_deviation: float
    """|rating - product_mean_rating_before| (0 when there is no mean yet)."""
    is_extreme_rating: bool
    """The rating is 1 or 5 stars."""

    # --- text ----------------------------------------------------------------------------------
    has_text: bool
    """The review has non-empty text (None and "" both give False)."""
    is_rating_without_text: bool
    """The reviewer wrote nothing: text == "" (None means the caller has no text: False)."""
    duplicate_accounts_7d: int
    """Distinct OTHER accounts that posted a near-duplicate text (SimHash, Hamming distance
    <= 3 over word shingles) in the last 7 days. Texts too short to fingerprint give 0."""

    # --- links to confirmed fraud (written by moderator feedback) ------------------------------
    linked_device: bool
    linked_ip: bool
    """The IP or its /24 (/64) network is tied to a review moderators confirmed fake."""
    linked_account: bool
