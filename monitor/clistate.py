"""What every command shares: the settings the root options set (kept in
typer's context), the worker or the database they open, and one line per
user error instead of a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer

from monitor.errors import MonitorError, WatchlistError
from monitor.redact import redact_text

if TYPE_CHECKING:
    from monitor.app import Worker
    from monitor.config import Settings
    from monitor.store import Store


@dataclass
class State:
    """What the root options set, for the command that runs (typer's context)."""

    overrides: dict[str, Any] = field(default_factory=dict)
    _settings: Settings | None = None

    def settings(self, warn: bool = True) -> Settings:
        """The settings, read once; what looks wrong in them said once, on
        stderr (``warn`` False: the command says it its own way)."""
        from pydantic import ValidationError

        from monitor.config import Settings

        if self._settings is None:
            try:
                self._settings = Settings(**self.overrides)
            except ValidationError as e:
                problems = "; ".join(
                    f"MONITOR_{'_'.join(map(str, x['loc'])).upper()}: {x['msg']}"
                    for x in e.errors()
                )
                raise MonitorError(f"invalid settings: {problems}") from e
            for warning in self._settings.warnings() if warn else ():
                say(f"warning: {warning}", err=True)
        return self._settings

    @contextmanager
    def worker(self) -> Iterator[Worker]:
        """The worker, for commands that poll, digest or deliver: closed however they end."""
        from monitor.app import Worker

        with Worker(self.settings()) as worker:
            yield worker

    @contextmanager
    def reading(self) -> Iterator[tuple[Settings, Store]]:
        """Settings and the database as it is, for commands that only read."""
        from monitor.commands import reading

        settings = self.settings()
        with reading(settings) as store:
            yield settings, store


def state(ctx: typer.Context) -> State:
    if not isinstance(ctx.obj, State):
        ctx.obj = State()
    return ctx.obj


@contextmanager
def user_errors() -> Iterator[None]:
    """User errors end in one line (or one per problem) and exit 1, never a traceback."""
    try:
        yield
    except WatchlistError as e:
        for diagnostic in e.diagnostics:
            typer.echo(str(diagnostic), err=True)
        raise typer.Exit(1) from None
    except MonitorError as e:
        typer.echo(f"error: {redact_text(e.message)}", err=True)
        raise typer.Exit(1) from None


def say(*lines: str, err: bool = False) -> None:
    for line in lines:
        typer.echo(line, err=err)


def as_json(value: Any) -> None:
    say(json.dumps(value, ensure_ascii=False, indent=2, default=str))
