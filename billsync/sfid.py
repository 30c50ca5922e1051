"""Salesforce record ids: the 15-character case-sensitive form and its 18-character form.

Salesforce shows 15-character ids in URLs and reports and returns 18-character ids from its APIs;
both name the same record. The last three characters of the 18-character form encode which of
the first fifteen are upper case, so that systems that ignore case can still tell ids apart.
billsync keys every entity by the 18-character form (``canonical``), so a 15-character id copied
from a browser and the 18-character id of a change event meet in one sync record. Ids stay
case-sensitive: ``...7a`` and ``...7A`` are two records, with two different suffixes.

Pure functions, no I/O: the algorithm is the one Salesforce documents for ``CASESAFEID()``.
"""

from __future__ import annotations

import re
from typing import Any, Final

CHECKSUM_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
ID_RE: Final = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
#: Fields of synced records that hold Salesforce ids (they are normalised like record ids).
REFERENCE_FIELDS: Final = frozenset(
    {
        "Id",
        "AccountId",
        "ContactId",
        "ParentId",
        "MasterRecordId",
        "Pricebook2Id",
        "Subscription_Invoice_Recipient__c",
        "Usage_Invoice_Recipient__c",
    }
)


class InvalidSalesforceId(ValueError):
    """Not a Salesforce id: wrong length, characters, or an 18-character suffix that does not
    match its first fifteen characters."""


def checksum(id15: str) -> str:
    """The three-character suffix of a 15-character id (its upper-case pattern, 5 bits each)."""
    suffix = []
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix.append(CHECKSUM_ALPHABET[bits])
    return "".join(suffix)


def is_id_shaped(value: object) -> bool:
    """True for 15 or 18 letters and digits (the suffix is not checked)."""
    return isinstance(value, str) and bool(ID_RE.match(value))


def canonical(value: str) -> str:
    """The 18-character form of a 15- or 18-character id; InvalidSalesforceId otherwise.

    An 18-character id must carry the suffix of its first fifteen characters (compared without
    case, as Salesforce does: the suffix alphabet has one case); the result carries the
    canonical upper-case suffix.
    """
    if not is_id_shaped(value):
        shown = str(value)[:40]
        raise InvalidSalesforceId(f"{shown!r} is not a Salesforce id (15 or 18 letters and digits)")
    id15 = value[:15]
    full = id15 + checksum(id15)
    if len(value) == 18 and value[15:].upper() != full[15:]:
        raise InvalidSalesforceId(
            f"{value!r} is not a Salesforce id: its last three characters should be {full[15:]!r}"
        )
    return full


def canonical_or_none(value: object) -> str | None:
    """``canonical(value)``, or None for anything that is not a valid id."""
    if not isinstance(value, str):
        return None
    try:
        return canonical(value)
    except InvalidSalesforceId:
        return None


def short(value: str) -> str:
    """The 15-character form (what Salesforce shows in URLs)."""
    return canonical(value)[:15]


def canonical_references(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with every id-holding field (``REFERENCE_FIELDS``) in its 18-character form.

    A value that is not a valid id is left as it is: the rules judge it and say what is wrong.
    """
    if not REFERENCE_FIELDS.intersection(fields):
        return fields
    out = dict(fields)
    for name in REFERENCE_FIELDS.intersection(fields):
        full = canonical_or_none(out[name])
        if full is not None:
            out[name] = full
    return out
