"""The command line: each command parses its arguments, calls one function, prints."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from monitor import __version__
from monitor.config import Settings
from monitor.errors import MonitorError, WatchlistError
from monitor.logs import configure

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help="Scheduled news monitoring: watchlists of entities and topics, alerts and digests.",
)
db_app = typer.Typer(no_args_is_help=True, help="Database maintenance.")
app.add_typer(db_app, name="db")
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class _State:
    overrides: ClassVar[dict[str, Any]] = {}


def settings() -> Settings:
    try:
        return Settings(**_State.overrides)
    except ValidationError as e:
        problems = "; ".join(
            f"MONITOR_{'_'.join(map(str, x['loc'])).upper()}: {x['msg']}" for x in e.errors()
        )
        raise MonitorError(f"invalid settings: {problems}") from e


@contextmanager
def user_errors() -> Iterator[None]:
    """User errors end in one line (or one per problem) and exit 1, never a traceback."""
    try:
        yield
    except WatchlistError as e:
        for diagnostic in e.diagnostics:
            err.print(str(diagnostic), markup=False)
        raise typer.Exit(1) from None
    except MonitorError as e:
        err.print(f"error: {e.message}", markup=False)
        raise typer.Exit(1) from None


@app.callback()
def root(
    database_url: Annotated[
        str | None, typer.Option(help="Overrides MONITOR_DATABASE_URL.")
    ] = None,
    watchlists: Annotated[Path | None, typer.Option(help="Overrides MONITOR_WATCHLISTS.")] = None,
    output_dir: Annotated[Path | None, typer.Option(help="Overrides MONITOR_OUTPUT_DIR.")] = None,
    templates: Annotated[Path | None, typer.Option(help="Overrides MONITOR_TEMPLATES.")] = None,
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        out.print(f"monitor {__version__}")
        raise typer.Exit()
    given = {
        "database_url": database_url,
        "watchlists": watchlists,
        "output_dir": output_dir,
        "templates": templates,
    }
    _State.overrides = {k: v for k, v in given.items() if v is not None}


def _worker() -> Any:
    from monitor.service import Worker

    return Worker(settings())


@app.command()
def run(
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Do not run: exit 0 if the database answers and the watchlists load, "
            "else 1 with the reason (a container health check).",
        ),
    ] = False,
) -> None:
    """Run the service until SIGTERM or SIGINT.

    Example: MONITOR_SMTP_URL=smtp://localhost:1025 monitor run
    Example: monitor run --check
    """
    from monitor import commands
    from monitor.service import run_service

    with user_errors():
        config = settings()
        if check:
            out.print(commands.health(config), markup=False)
            return
        configure(config.log_format)
        try:
            code = run_service(config)
        except MonitorError as e:
            # One log line, in the format asked for (JSON for collectors).
            logging.getLogger("monitor").error("%s", e.message)
            raise typer.Exit(1) from None
    raise typer.Exit(code)


@app.command()
def poll(
    all_feeds: Annotated[bool, typer.Option("--all", help="Poll every feed, due or not.")] = False,
    feed: Annotated[
        list[str] | None, typer.Option("--feed", help="Poll this feed URL (repeatable).")
    ] = None,
) -> None:
    """One poll cycle of the due feeds (or all, or the given ones).

    Example: monitor poll --feed https://en.yna.co.kr/RSS/northkorea.xml
    """
    with user_errors():
        worker = _worker()
        try:
            report = worker.poll(force=all_feeds, urls=feed)
        finally:
            worker.close()
    table = Table("feed", "outcome", "new items", "new matches", "message", box=None)
    for f in report.feeds:
        table.add_row(f.url, f.outcome, str(f.new_items), str(f.new_matches), f.message)
    if report.feeds:
        out.print(table)
    out.print(report.summary() if report.feeds else "no feed was due")


@app.command()
def digest(
    watchlist: Annotated[
        str | None, typer.Argument(help="Watchlist id (file name); all if omitted.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Report matches since WHEN (24h, 7d, 2026-11-20): not recorded, not mailed."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the text digest; record and send nothing.")
    ] = False,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Write HTML files here instead of MONITOR_OUTPUT_DIR."),
    ] = None,
) -> None:
    """Make a digest now of every match not yet reported, write it and mail it.

    Example: monitor digest dprk-russia --dry-run
    """
    from monitor import commands

    with user_errors():
        if out_dir is not None:
            _State.overrides["output_dir"] = out_dir
        worker = _worker()
        try:
            for line in commands.digest(worker, watchlist, since, dry_run):
                out.print(line, markup=False)
        finally:
            worker.close()


@app.command()
def validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or directories; MONITOR_WATCHLISTS if omitted."),
    ] = None,
) -> None:
    """Check watchlist files; print `file:line:col: message` per problem and exit 1 if any.

    Example: monitor validate watchlists/dprk-russia.yaml
    """
    from monitor import commands

    with user_errors():
        config = settings()
        lines, ok = commands.validate(paths or [config.watchlists], config)
    for line in lines:
        (out if ok else err).print(line, markup=False)
    raise typer.Exit(0 if ok else 1)


@app.command("test")
def test_watchlist(
    watchlist: Annotated[str, typer.Argument(help="Watchlist id or path to a watchlist file.")],
    text: Annotated[str | None, typer.Option(help="Text to match.")] = None,
    title: Annotated[str, typer.Option(help="Title to match with --text.")] = "",
    file: Annotated[Path | None, typer.Option(help="A feed, HTML or text file to match.")] = None,
    url: Annotated[str | None, typer.Option(help="A feed or page to fetch and match.")] = None,
    stored: Annotated[
        bool, typer.Option("--stored", help="Re-run against stored items; show what changes.")
    ] = False,
    since: Annotated[str, typer.Option(help="With --stored: items since WHEN (7d, 24h).")] = "7d",
    all_rules: Annotated[
        bool, typer.Option("--all", help="Show rules without any hit too.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Explain what a watchlist matches in a text, file or URL, rule by rule.

    Example: monitor test dprk-russia --text "North Korean troops reached Kursk"
    Example: monitor test dprk-russia --stored --since 7d
    """
    from monitor import commands

    with user_errors():
        if sum(x is not None for x in (text, file, url)) + stored != 1:
            raise MonitorError("give exactly one of --text, --file, --url or --stored")
        if stored:
            worker = _worker()
            try:
                for line in commands.stored_dry_run(worker, watchlist, since):
                    out.print(line, markup=False)
            finally:
                worker.close()
            return
        config = settings()
        documents = commands.documents_to_test(config, text, title, file, url)
        result = commands.explain(config, watchlist, documents, all_rules)
    if as_json:
        out.print(json.dumps(result.as_json(), ensure_ascii=False, indent=2), markup=False)
    else:
        for line in result.lines():
            out.print(line, markup=False)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Feeds (health, last and next poll), digests and counts.

    Example: monitor status --json
    """
    from monitor import commands

    with user_errors():
        worker = _worker()
        try:
            report = commands.status(worker)
        finally:
            worker.close()
    if as_json:
        out.print(json.dumps(report, ensure_ascii=False, indent=2, default=str), markup=False)
        return
    for line in commands.status_lines(report):
        out.print(line, markup=False)


@app.command()
def retry(
    recipient: Annotated[str | None, typer.Option(help="Only messages to this recipient.")] = None,
) -> None:
    """Send again the messages that failed for good, once their cause is fixed.

    A 5xx answer (a wrong password, an unknown address) fails a message at
    once; after fixing MONITOR_SMTP_URL or the address, this queues those
    messages again, with the same Message-ID, and delivers them.

    Example: monitor retry --recipient analyst@example.org
    """
    with user_errors():
        worker = _worker()
        try:
            queued = worker.store.requeue_failed(worker.clock(), recipient)
            report = worker.deliver() if queued else None
        finally:
            worker.close()
    out.print(f"{queued} failed messages queued again", markup=False)
    if report is not None:
        out.print(f"delivery: {report.summary()}", markup=False)


@app.command()
def matches(
    watchlist: Annotated[str | None, typer.Option(help="Only this watchlist.")] = None,
    since: Annotated[str, typer.Option(help="Since WHEN (24h, 7d, 2026-11-20).")] = "7d",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List stored matches.

    Example: monitor matches --watchlist dprk-russia --since 24h
    """
    from monitor import commands

    with user_errors():
        worker = _worker()
        try:
            rows = commands.matches(worker, watchlist, since)
        finally:
            worker.close()
    if as_json:
        out.print(json.dumps(rows, ensure_ascii=False, indent=2, default=str), markup=False)
        return
    for row in rows:
        rule = f"{row['watchlist']}/{row['rule']}"
        out.print(f"{row['first_seen_at']:%Y-%m-%d %H:%M}  {rule}  {row['title']}", markup=False)
    out.print(f"{len(rows)} matches", markup=False)


@app.command()
def demo(
    keep: Annotated[
        Path | None, typer.Option(help="Keep the demo's database and digests in this directory.")
    ] = None,
) -> None:
    """Run the whole loop offline on bundled sample feeds and print the digest's path.

    Example: monitor demo
    """
    from monitor.demo import run_demo

    with user_errors():
        configure("text")
        path = run_demo(settings(), keep)
    out.print(f"digest written: {path}", markup=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the database schema (alembic upgrade head).

    Example: MONITOR_DATABASE_URL=sqlite:///data/monitor.db monitor db upgrade
    """
    from monitor.migrations.schema import FIRST
    from monitor.store import Store

    with user_errors():
        store = Store(settings().database_url)
        try:
            found, now = store.create_schema()
        finally:
            store.close()
    if found == now:
        out.print(f"database schema is up to date at revision {now}", markup=False)
    elif found == "legacy":
        out.print(f"existing tables stamped as revision {FIRST}, schema now at {now}", markup=False)
    else:
        out.print(f"database schema upgraded from {found or 'nothing'} to {now}", markup=False)


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision and the code's newest (head).

    Example: monitor db current
    """
    from monitor.migrations.schema import current

    with user_errors():
        state = current(settings().database_url)
    out.print(state.describe(), markup=False)
    raise typer.Exit(1 if state.unknown else 0)


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Option("-m", "--message", help="What the revision does.")],
    empty: Annotated[
        bool, typer.Option("--empty", help="Write an empty revision to fill in by hand.")
    ] = False,
) -> None:
    """For developers: write a migration that brings the schema to the models
    (alembic revision --autogenerate, against a scratch SQLite database at head).
    Review it, then run the tests.

    Example: monitor db revision -m "add feed.language"
    """
    from monitor.migrations.schema import new_revision

    with user_errors():
        path = new_revision(message, empty)
    out.print(f"wrote {path}", markup=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
