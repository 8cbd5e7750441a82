"""A modest, hand-written list of well-known disposable (throw-away) e-mail services."""

from __future__ import annotations

DISPOSABLE_DOMAINS: frozenset[str] = frozenset(
    {
        "10minutemail.com",
        "10minutemail.net",
        "20minutemail.com",
        "33mail.com",
        "anonbox.net",
        "burnermail.io",
        "discard.email",
        "dispostable.com",
        "emailondeck.com",
        "fakeinbox.com",
        "fakemail.net",
        "getairmail.com",
        "getnada.com",
        "guerrillamail.biz",
        "guerrillamail.com",
        "guerrillamail.de",
        "guerrillamail.info",
        "guerrillamail.net",
        "guerrillamail.org",
        "guerrillamailblock.com",
        "harakirimail.com",
        "incognitomail.org",
        "jetable.org",
        "mailcatch.com",
        "maildrop.cc",
        "mailexpire.com",
        "mailinator.com",
        "mailinator.net",
        "mailnesia.com",
        "mailnull.com",
        "mintemail.com",
        "mohmal.com",
        "mytemp.email",
        "mytrashmail.com",
        "nada.email",
        "sharklasers.com",
        "spam4.me",
        "spambog.com",
        "spamgourmet.com",
        "tempail.com",
        "temp-mail.io",
        "temp-mail.org",
        "tempmail.com",
        "tempmail.net",
        "tempmailo.com",
        "tempr.email",
        "throwawaymail.com",
        "trashmail.com",
        "trashmail.de",
        "trashmail.net",
        "yopmail.com",
        "yopmail.fr",
        "yopmail.net",
    }
)


def is_disposable_domain(domain: str) -> bool:
    """True for a listed domain or any subdomain of one (``x.mailinator.com``)."""
    domain = domain.strip().lower().rstrip(".")
    while "." in domain:  # the domain, then each parent that still has a dot
        if domain in DISPOSABLE_DOMAINS:
            return True
        domain = domain[domain.index(".") + 1 :]
    return False
