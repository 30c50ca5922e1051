"""The simulator's error type: one Salesforce API error, with its HTTP status and error code.

Routes raise :class:`ApiError`; the WSGI layer renders it in Salesforce's REST envelope
(``[{"message", "errorCode", "fields"}]``) and collections render it as ``statusCode`` entries.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A Salesforce error: ``status`` (HTTP), ``error_code`` (e.g. ``REQUIRED_FIELD_MISSING``)."""

    def __init__(
        self, status: int, error_code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields or []

    def rest_body(self) -> list[dict[str, Any]]:
        """The REST API body: a list with one error."""
        body: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields:
            body["fields"] = self.fields
        return [body]

    def collection_entry(self) -> dict[str, Any]:
        """The error as an sObject Collections result entry uses it (``statusCode``)."""
        return {"statusCode": self.error_code, "message": self.message, "fields": self.fields}


def not_found(message: str = "The requested resource does not exist") -> ApiError:
    """404 NOT_FOUND, as for an unknown object, route or record."""
    return ApiError(404, "NOT_FOUND", message)


def bad_request(code: str, message: str, fields: list[str] | None = None) -> ApiError:
    """A 400 error with the given code."""
    return ApiError(400, code, message, fields)
