"""Kubernetes-style failures: an exception carrying the `Status` body a real API server would send."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self) -> dict:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body

    @classmethod
    def not_found(cls, plural: str, name: str, message: str | None = None) -> ApiError:
        return cls(404, "NotFound", message or f'{plural} "{name}" not found', {"name": name, "kind": plural})

    @classmethod
    def already_exists(cls, plural: str, name: str) -> ApiError:
        return cls(409, "AlreadyExists", f'{plural} "{name}" already exists', {"name": name, "kind": plural})

    @classmethod
    def conflict(cls, plural: str, name: str, why: str) -> ApiError:
        return cls(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {plural} "{name}": {why}',
            {"name": name, "kind": plural},
        )

    @classmethod
    def invalid(cls, kind: str, name: str, message: str, field: str = "") -> ApiError:
        cause = {"reason": "FieldValueInvalid", "message": message, "field": field}
        return cls(
            422,
            "Invalid",
            f'{kind} "{name}" is invalid: {message}',
            {"name": name, "kind": kind, "causes": [cause]},
        )

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, "BadRequest", message)

    @classmethod
    def gone(cls, message: str) -> ApiError:
        return cls(410, "Expired", message)

    @classmethod
    def method_not_allowed(
        cls, message: str = "the server does not allow this method on the requested resource"
    ):
        return cls(405, "MethodNotAllowed", message)
