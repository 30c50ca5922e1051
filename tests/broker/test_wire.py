"""What the guard refuses before kombu decodes anything, and how store errors are classified
(no broker needed)."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa

from adapters.broker.wire import refusal, shown
from adapters.store.errors import StoreRefused, StoreUnavailable, translated


@pytest.mark.parametrize(
    ("headers", "content_type", "encoding", "size", "fragment"),
    [
        ({"compression": "application/x-bz2"}, "application/json", "utf-8", 10, "compressed"),
        ({}, "application/x-python-serialize", "binary", 10, "content type"),
        ({}, "application/x-yaml", None, 10, "content type"),
        ({}, "\udcff\udcfe/json", None, 10, "content type"),
        ({}, "application/json", "utf-16", 10, "content encoding"),
        ({}, "application/json", "utf-8", 2_000_000, "over the"),
    ],
)
def test_refused_deliveries(
    headers: dict[str, str], content_type: str, encoding: str | None, size: int, fragment: str
) -> None:
    reason = refusal(headers, content_type, encoding, size, 1_048_576)
    assert reason is not None and fragment in reason
    assert reason.isascii() and "\x00" not in reason


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [("application/json", "utf-8"), ("application/json", "binary"), (None, None), ("", "")],
)
def test_billsyncs_own_deliveries_pass(content_type: str | None, encoding: str | None) -> None:
    assert refusal({}, content_type, encoding, 100, 1_048_576) is None


def test_shown_values_are_printable_ascii() -> None:
    assert shown("\udcff\x00é" * 100).isascii()
    assert len(shown("x" * 1000)) < 100


def _dbapi(kind: type[sa.DBAPIError]) -> sa.DBAPIError:
    return kind("INSERT ...", {"secret": "value"}, Exception("value too long for type"))


@pytest.mark.parametrize("kind", [sa.DataError, sa.IntegrityError])
def test_refusals_of_the_data_are_one_messages_fault(kind: type[sa.DBAPIError]) -> None:
    with pytest.raises(StoreRefused, match="value too long") as caught, translated():
        raise _dbapi(kind)
    assert "INSERT" not in str(caught.value) and "secret" not in str(caught.value)


@pytest.mark.parametrize("kind", [sa.OperationalError, sa.InterfaceError, sa.ProgrammingError])
def test_connection_level_errors_are_an_outage(kind: type[sa.DBAPIError]) -> None:
    with pytest.raises(StoreUnavailable), translated():
        raise _dbapi(kind)


def test_a_value_the_driver_cannot_send_is_refused() -> None:
    with pytest.raises(StoreRefused), translated():
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
