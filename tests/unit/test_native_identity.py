"""service/native/identity.c does what the Python reference in service/scoring/identity.py does.

Keyed hashes are held to hashlib's HMAC-SHA256 (by the x86 SHA extensions where the CPU has them,
and by the portable C code), usernames and dotted quads to the Python functions, and identify to
identify_python on generated reviews (IPv4, IPv6, missing fields, Unicode names and addresses).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Iterator
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.scoring.identity import (
    Identity,
    _read_ip,
    identify,
    identify_python,
    keyed_hash,
    keyed_hash_python,
    username_dubiousness,
    username_dubiousness_python,
)
from service.scoring.review import Account, Device, Review
from tests.unit.test_native import built
from tests.unit.test_same_as_before import IDENTIFIED_REVIEWS, IP_LIKE, NAME_LIKE

KEYS = st.one_of(
    st.sampled_from([b"k", b"", b"\x00" * 64, b"\xff" * 65, bytes(range(100))]),
    st.binary(max_size=200),
)
KINDS = st.one_of(st.sampled_from(["r", "a", "p", "fp", "dev", "ip", "net", ""]), st.text())
# Values around the block boundaries (the prefix is 1-4 bytes), and any text, lone surrogates too.
VALUES = st.one_of(
    st.integers(0, 200).map(lambda n: "x" * n),
    st.text(),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xE0FF), max_size=40),
)


def native() -> ModuleType:
    module = built("identity")
    assert isinstance(module, ModuleType)
    return module


@pytest.fixture(params=[True, False], ids=["sha-extensions", "portable"])
def sha_path(request: pytest.FixtureRequest) -> Iterator[bool]:
    module = native()
    used = module.use_sha_extensions(request.param)
    if request.param and not used:
        pytest.skip("this CPU has no SHA extensions")
    try:
        yield used
    finally:
        module.use_sha_extensions(True)


def reference_hmac(key: bytes, kind: str, value: str, hex_len: int) -> str:
    message = kind.encode("utf-8", "surrogatepass") + b"\x00"
    message += value.encode("utf-8", "surrogatepass")
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:hex_len]


@settings(max_examples=300, deadline=None)
@given(KEYS, KINDS, VALUES, st.integers(0, 64))
def test_keyed_hex_is_hmac_sha256(key: bytes, kind: str, value: str, hex_len: int) -> None:
    module = native()
    for sha_extensions in (True, False):
        module.use_sha_extensions(sha_extensions)
        try:
            kind_bytes = kind.encode("utf-8", "surrogatepass")
            state = module.hmac_state(key, kind_bytes + b"\x00")
            got = module.keyed_hex(state, value, hex_len)
        finally:
            module.use_sha_extensions(True)
        assert got == reference_hmac(key, kind, value, hex_len)
        if kind.isascii():
            assert got == keyed_hash_python(key, kind, value, hex_len)


@pytest.mark.parametrize("size", range(0, 200))
def test_keyed_hash_every_length(sha_path: bool, size: int) -> None:
    value = "\u00e9" * (size // 2) + "a" * (size % 2)
    for key in (b"k", b"x" * 64, b"y" * 65):
        for hex_len in (0, 1, 12, 16, 63, 64, 65, 100, -1):
            assert keyed_hash(key, "net", value, hex_len) == keyed_hash_python(
                key, "net", value, hex_len
            )


def test_keyed_hex_rejects_what_it_cannot_answer() -> None:
    module = native()
    state = module.hmac_state(b"k", b"a\x00")
    with pytest.raises(ValueError, match="hex_len"):
        module.keyed_hex(state, "x", 65)
    with pytest.raises(ValueError, match="hex_len"):
        module.keyed_hex(state, "x", -1)
    with pytest.raises(ValueError, match="state"):
        module.keyed_hex(b"short", "x", 16)
    with pytest.raises(TypeError):
        module.keyed_hex(state, b"x", 16)
    with pytest.raises(TypeError):
        module.hmac_state("k", b"a\x00")


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        NAME_LIKE,
        st.text(alphabet=st.characters(max_codepoint=127), max_size=40),
        st.text(alphabet="0123456789", max_size=12),
        st.text(alphabet="bcdfgxz", max_size=12),
    )
)
def test_dubiousness_of_ascii_names(name: str) -> None:
    got = native().dubiousness(name)
    if not name.isascii():
        assert got is None
        return
    expected = username_dubiousness_python(name)
    assert got == expected
    assert username_dubiousness(name) == expected


def test_dubiousness_of_every_ascii_character() -> None:
    for code in range(128):
        for name in (chr(code), f"ab{chr(code)}12", f"{chr(code) * 9}x"):
            assert native().dubiousness(name) == username_dubiousness_python(name)


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        IP_LIKE,
        st.text(alphabet="0123456789.", max_size=18),
        st.ip_addresses(v=4).map(str),
    )
)
def test_ipv4_network_of_canonical_quads_only(text: str) -> None:
    read = _read_ip(text)
    expected = read[1] if read is not None and ":" not in text else None
    assert native().ipv4_network(text) == expected


IDENTITY_VALUES = st.tuples(
    st.text(),
    st.text(),
    st.text(),
    st.one_of(st.none(), st.text()),
    st.booleans(),
    st.one_of(st.none(), st.text()),
    st.one_of(st.none(), st.text()),
    st.one_of(st.none(), st.integers(0, 2**64 - 1)),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.floats(0, 1),
)


@given(IDENTITY_VALUES)
def test_new_record_is_the_dataclass(values: tuple[object, ...]) -> None:
    made = native().new_record(*values)
    expected = Identity(*values)  # type: ignore[arg-type]
    assert type(made) is Identity
    assert made == expected
    assert repr(made) == repr(expected)
    assert hash(made) == hash(expected)
    assert dataclasses.astuple(made) == values
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.review_h = "x"  # type: ignore[misc]


def test_new_record_wants_one_value_per_field() -> None:
    with pytest.raises(TypeError):
        native().new_record("too", "few")


def test_record_type_takes_slot_classes_only() -> None:
    module = native()

    @dataclasses.dataclass
    class NoSlots:
        x: int = 0

    class Property:
        @property
        def x(self) -> int:
            return 0

    for cls in (NoSlots, Property):
        with pytest.raises(ValueError, match="slot"):
            module.record_type(cls, ("x",))
    with pytest.raises(ValueError, match="slots class"):
        module.record_type(int, ())
    with pytest.raises(AttributeError):
        module.record_type(Identity, ("no_such_field",))
    # Still the Identity record after the refusals.
    values = ("r", "a", "p", None, False, None, None, None, False, False, False, 0.0)
    assert module.new_record(*values) == Identity(*values)


@settings(max_examples=1000, deadline=None)
@given(IDENTIFIED_REVIEWS, st.sampled_from([b"k", b"\x00" * 64, bytes(range(100))]))
def test_identify_equals_the_python_reference(review: Review, key: bytes) -> None:
    got = identify(review, key)
    expected = identify_python(review, key)
    assert got == expected
    assert repr(got) == repr(expected)


UNICODE_NAMES = st.text(
    alphabet=st.characters(categories=("L", "N", "P", "Zs", "M")), min_size=1, max_size=20
)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(st.none(), st.just(""), UNICODE_NAMES),
    st.one_of(
        st.none(),
        st.tuples(UNICODE_NAMES, st.sampled_from(["gmail.com", "MAILINATOR.COM", "例え.jp"])).map(
            "@".join
        ),
        UNICODE_NAMES,
    ),
    st.one_of(st.none(), st.just(""), st.ip_addresses().map(str), IP_LIKE),
    st.one_of(st.none(), st.just(""), st.just(" "), UNICODE_NAMES),
)
def test_identify_with_unicode_and_missing_fields(
    username: str | None, email: str | None, ip: str | None, fingerprint: str | None
) -> None:
    review = Review(
        "r\u00e9-1",
        "p-\u65e5",
        3,
        1_790_000_000.0,
        Account("a-\U0001f600", username=username, email=email),
        Device(fingerprint=fingerprint, ip=ip, user_agent=None, screen=None),
        text=None,
    )
    for key in (b"k", bytes(range(70))):
        assert identify(review, key) == identify_python(review, key)
