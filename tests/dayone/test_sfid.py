"""The id algorithm: 15- and 18-character ids of one record are one id; case matters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billsync.sfid import InvalidSalesforceId, canonical, canonical_or_none, checksum, short

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ids15 = st.text(alphabet=ALNUM, min_size=15, max_size=15)


def test_known_ids_from_salesforce_documentation() -> None:
    # CASESAFEID examples: an all-digit tail has no upper case, so the suffix is AAA.
    assert canonical("001000000000001") == "001000000000001AAA"
    assert canonical("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert canonical("001a0000006vm9r") == "001a0000006vm9rAAA"


@given(ids15)
def test_the_18_character_form_extends_the_15(id15: str) -> None:
    full = canonical(id15)
    assert len(full) == 18 and full.startswith(id15)
    assert canonical(full) == full  # idempotent
    assert short(full) == id15


@given(ids15)
def test_the_suffix_is_read_without_case(id15: str) -> None:
    full = canonical(id15)
    assert canonical(full[:15] + full[15:].lower()) == full


@given(ids15, ids15)
def test_distinct_15s_give_distinct_18s_even_by_case(a: str, b: str) -> None:
    assert (canonical(a) == canonical(b)) == (a == b)
    # ... and the 18-character forms differ even to a system that ignores case
    if a != b and a.upper() == b.upper():
        assert canonical(a).upper() != canonical(b).upper()


@given(ids15, st.text(alphabet=ALNUM, min_size=3, max_size=3))
def test_a_wrong_suffix_is_refused(id15: str, suffix: str) -> None:
    if suffix.upper() == checksum(id15):
        assert canonical(id15 + suffix) == id15 + checksum(id15)
    else:
        with pytest.raises(InvalidSalesforceId):
            canonical(id15 + suffix)


@pytest.mark.parametrize("bad", ["", "001", "001000000000001AA", "001000000000001'--", 15, None])
def test_non_ids_are_refused(bad: object) -> None:
    assert canonical_or_none(bad) is None
