"""The exceptions of apiconn: one class per case of the component's error variant
(``wit/connector.wit``) plus :class:`HostError`. Messages are masked: no secret value
of the config appears in them."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiconnError",
    "ConfigError",
    "AuthError",
    "HttpStatusError",
    "TransportError",
    "LimitError",
    "ResponseError",
    "NonCompliantRecordError",
    "DirtyRecordsError",
    "InternalError",
    "HostError",
]


class ApiconnError(Exception):
    """Base class: every failure of a connector."""

    kind = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # Spark and multiprocessing send exceptions between processes.
        return (type(self), (self.message,), self.__dict__.copy())


class ConfigError(ApiconnError):
    """The config is wrong. ``problems``: every ``(path, message)`` at once."""

    kind = "config"

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems: list[tuple[str, str]] = [tuple(p) for p in (problems or [])]  # type: ignore[misc]


class AuthError(ApiconnError):
    """Credentials were refused, or a token could not be obtained."""

    kind = "auth"


class HttpStatusError(ApiconnError):
    """The server answered with a failure status after retries; ``status`` is the code."""

    kind = "http-status"

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class TransportError(ApiconnError):
    """A request could not be sent or its response not read (connection, DNS, TLS,
    timeout, refused by the egress policy)."""

    kind = "transport"


class LimitError(ApiconnError):
    """A limit was reached: ``max_requests``, response size, memory, CPU time."""

    kind = "limit"


class ResponseError(ApiconnError):
    """A response could not be used: not JSON, wrong shape, a loop."""

    kind = "response"


class NonCompliantRecordError(ApiconnError):
    """A record breaks the flat-record rules."""

    kind = "non-compliant-record"


class DirtyRecordsError(ApiconnError):
    """More records failed ``fields`` conversion than ``dirty_records`` allows."""

    kind = "dirty-records"


class InternalError(ApiconnError):
    """A bug in the component, or a trap: the connector stopped."""

    kind = "internal"


class HostError(ApiconnError):
    """The host failed: loading or starting the component, converting records, I/O."""

    kind = "host"
