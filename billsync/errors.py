"""billsync's one error hierarchy, split by what the caller must do.

Adapters translate vendor exceptions (requests, simple-salesforce, amqp, SQLAlchemy) into these;
nothing else catches vendor exceptions. ``TransientError`` means "try again later" and
``PermanentError`` means "do not retry: fail now with this reason".
"""

from __future__ import annotations


class BillsyncError(Exception):
    """Root of every error billsync raises on purpose."""


class ConfigError(BillsyncError):
    """The configuration is missing or wrong; the message says which setting and how to fix it."""


class TransientError(BillsyncError):
    """A failure that may succeed on retry: timeouts, 5xx, 429, lost connections.

    ``retry_after`` carries a server's ``Retry-After`` hint in seconds, when it gave one.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QuotaExhausted(TransientError):
    """An outside system's quota is spent (Salesforce's daily API limit, REQUEST_LIMIT_EXCEEDED).

    Entities wait for it without counting a failed attempt: a spent quota comes back on its own,
    so it must never send an entity to ``failed``.
    """


class PermanentError(BillsyncError):
    """A failure that will not go away by retrying: a rule, a 4xx that is not 408/429."""


class RuleViolation(PermanentError):
    """An entity breaks a rule of SPEC §3; the message is for the person who fixes it."""


class RemoteRejected(PermanentError):
    """The remote system refused a request for good (4xx); ``status`` and ``errors`` say why."""

    def __init__(self, message: str, *, status: int, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors or []


class NotFound(RemoteRejected):
    """The remote system has no record with that id (404)."""


class AuthenticationFailed(PermanentError):
    """Credentials were refused at login: retrying with the same ones cannot help."""


class WriteNotAllowed(PermanentError):
    """billsync tried to write a Salesforce object outside its allowlist (SPEC §1)."""


class InvalidMessage(PermanentError):
    """A queued message cannot be parsed or does not match the message schema."""
