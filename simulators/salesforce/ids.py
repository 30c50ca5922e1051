"""Salesforce-style record ids: 15-character case-sensitive ids and their 18-character form.

An id is a 3-character key prefix naming the object, a 2-character pod, a reserved character and a
9-character base-62 counter; the 18-character form appends a checksum that encodes the case of the
first 15 characters, so that case-insensitive systems can tell ids apart (``billsync.sfid`` holds
the algorithm). The simulator issues 18-character ids and accepts either form on input, as
Salesforce does.
"""

from __future__ import annotations

import random
import re

from billsync.sfid import canonical_or_none, checksum

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ID_PATTERN = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")
COUNTER_WIDTH = 9


def to_18(record_id: str) -> str | None:
    """The canonical 18-character id, or None when ``record_id`` is not a well-formed id (an
    18-character one must carry its upper-case checksum)."""
    if not isinstance(record_id, str) or not ID_PATTERN.match(record_id):
        return None
    return canonical_or_none(record_id)


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(BASE62[remainder])
    return "".join(reversed(digits))


class IdFactory:
    """Issues unique, deterministic ids per key prefix (the same seed gives the same ids)."""

    def __init__(self, seed: int = 0) -> None:
        rng = random.Random(seed)
        self._pod = BASE62[rng.randrange(10, 62)] + BASE62[rng.randrange(62)]
        self._start = rng.randrange(62**4, 62**5)
        self._counters: dict[str, int] = {}

    def new_id(self, key_prefix: str) -> str:
        """A fresh 18-character id with the object's key prefix."""
        count = self._counters.get(key_prefix, 0) + 1
        self._counters[key_prefix] = count
        id15 = key_prefix + self._pod + "0" + _base62(self._start + count, COUNTER_WIDTH)
        return id15 + checksum(id15)
