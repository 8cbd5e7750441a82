"""The C accelerators (service/native/) are built where a compiler is, and equal their references.

Each C function is held here to the Python function it replaces on generated inputs; the shared
texts go through both in tests/unit/test_same_as_before.py and the tests of each accelerator.
"""

from __future__ import annotations

import shutil
import sysconfig

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service import native
from service.scoring.text_fingerprint import majority_vote

HAS_COMPILER = shutil.which(str(sysconfig.get_config_var("CC") or "cc").split()[0]) is not None


def built(name: str) -> object:
    module = native.load(name)
    if module is None:
        if not native.ENABLED:
            pytest.skip("REVIEWGUARD_NATIVE=0: the C accelerators are turned off")
        if not HAS_COMPILER:
            pytest.skip("no C compiler: the pure-Python implementations run instead")
        pytest.fail(f"service.native.{name} was not built (pip install -e . builds it)")
    return module


def test_every_accelerator_is_built_where_a_compiler_is() -> None:
    names = list(native.status())  # every service/native/*.c shipped
    assert {"simhash", "textsignals", "textkernel", "monitortext"} <= set(names)
    for name in names:
        assert built(name) is not None


@given(st.lists(st.binary(min_size=8, max_size=8), max_size=300))
def test_simhash_vote_equals_the_numpy_vote(hashes: list[bytes]) -> None:
    simhash = built("simhash")
    digests = b"".join(hashes)
    assert simhash.majority(digests) == majority_vote(digests, len(hashes))  # type: ignore[attr-defined]


def test_simhash_vote_ties_and_bounds() -> None:
    simhash = built("simhash")
    ones, zeros = b"\xff" * 8, b"\x00" * 8
    assert simhash.majority(ones + zeros) == 0  # type: ignore[attr-defined]  # a tie is not a majority
    assert simhash.majority(ones * 2 + zeros) == (1 << 64) - 1  # type: ignore[attr-defined]
    assert simhash.majority(b"") == 0  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="8-byte"):
        simhash.majority(b"\x01" * 9)  # type: ignore[attr-defined]
