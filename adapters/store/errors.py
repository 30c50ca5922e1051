"""Store failures split by what they mean for the message that caused them.

A connection-level failure (the server is down, a connection was lost, a timeout) is an outage:
nothing is wrong with the data, so the caller waits and tries again. A refusal of the data itself
(``DataError``: a value too long, NaN in JSON, a NUL byte; ``IntegrityError``; a value the driver
cannot even send) is about one message: retrying cannot help, so the caller sets that message
aside with this reason and keeps the rest flowing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa

from billsync.errors import PermanentError, TransientError

#: How much of the database's own message a reason keeps.
MAX_DETAIL_CHARS = 300


class StoreUnavailable(TransientError):
    """The store cannot be reached or did not answer in time: an outage, not a data problem."""


class StoreRefused(PermanentError):
    """The store refused the data itself; the message says what and why."""


def is_refusal(exc: BaseException) -> bool:
    """True when ``exc`` is about the data written, not about reaching the store."""
    if isinstance(exc, (sa.DataError, sa.IntegrityError)):
        return True
    if isinstance(exc, sa.StatementError) and not isinstance(exc, sa.DBAPIError):
        return True  # the value failed in SQLAlchemy or the driver before it was sent
    return isinstance(exc, (ValueError, TypeError, UnicodeError, OverflowError))


def describe(exc: BaseException) -> str:
    """The failure's kind and first line, without the SQL and its parameters."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return f"{type(original).__name__}: {text[:MAX_DETAIL_CHARS]}"


@contextmanager
def translated() -> Iterator[None]:
    """Turn SQLAlchemy and driver errors inside the block into StoreRefused or
    StoreUnavailable."""
    try:
        yield
    except TransientError:
        raise  # StoreUnavailable, or an outside system's outage met inside (a completion read)
    except StoreRefused:
        raise
    except Exception as exc:
        if is_refusal(exc):
            raise StoreRefused(f"the store refused this message's data ({describe(exc)})") from exc
        if isinstance(exc, (sa.SQLAlchemyError, OSError)):
            raise StoreUnavailable(f"the store is unavailable ({describe(exc)})") from exc
        raise StoreRefused(f"merging this message failed ({describe(exc)})") from exc
