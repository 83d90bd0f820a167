"""One small exception tree; each class has a default message.

Only the boundaries (watchlist loading, fetching, storing, delivering) raise
these, wrapping the underlying error with ``raise ... from e``. Anything else
that escapes is a bug and is allowed to crash loudly.
"""

from __future__ import annotations

from dataclasses import dataclass


class MonitorError(Exception):
    """Base class of every error this package raises on purpose."""

    default = "monitor error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default)

    @property
    def message(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a user's file, located for an editor to jump to."""

    path: str
    line: int  # 1-based
    column: int  # 1-based
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


class WatchlistError(MonitorError):
    """A watchlist file is invalid; carries every problem found, not just the first."""

    default = "invalid watchlist"

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics) or self.default)


class QuerySyntaxError(MonitorError):
    """A topic query does not parse; ``position`` is the 0-based offset in the query."""

    default = "query syntax error"

    def __init__(self, message: str, position: int) -> None:
        self.position = position
        super().__init__(message)


class FeedError(MonitorError):
    """Fetching or parsing one feed failed; ``reason`` is machine-readable."""

    default = "feed error"

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class DeliveryError(MonitorError):
    """A message could not be delivered; ``permanent`` says whether to retry."""

    default = "delivery failed"

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        self.permanent = permanent
        super().__init__(message)


class ConfigError(MonitorError):
    """A setting is missing or malformed."""

    default = "invalid setting"
