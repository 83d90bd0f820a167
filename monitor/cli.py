"""The command line: each command parses its arguments, calls one function, prints.

Modules are imported by the command that needs them: `monitor status` loads
the store and the watchlists, not the fetcher, the parser or the templates.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from monitor import __version__
from monitor.clistate import State, as_json, say, state, user_errors
from monitor.dbcli import db_app
from monitor.errors import MonitorError
from monitor.redact import redact_url
from monitor.sourcecli import add, opml_app

if TYPE_CHECKING:
    pass

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help="Scheduled news monitoring: watchlists of entities and topics, alerts and digests.",
)
app.add_typer(db_app, name="db")


def _version(value: bool) -> None:
    if value:
        say(f"monitor {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    database_url: Annotated[
        str | None, typer.Option(help="Overrides MONITOR_DATABASE_URL.")
    ] = None,
    watchlists: Annotated[Path | None, typer.Option(help="Overrides MONITOR_WATCHLISTS.")] = None,
    output_dir: Annotated[Path | None, typer.Option(help="Overrides MONITOR_OUTPUT_DIR.")] = None,
    templates: Annotated[Path | None, typer.Option(help="Overrides MONITOR_TEMPLATES.")] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_version
        ),
    ] = False,
) -> None:
    given = {
        "database_url": database_url,
        "watchlists": watchlists,
        "output_dir": output_dir,
        "templates": templates,
    }
    ctx.obj = State({k: v for k, v in given.items() if v is not None})


@app.command()
def run(
    ctx: typer.Context,
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
    from monitor.logs import configure
    from monitor.service import run_service

    with user_errors():
        config = state(ctx).settings(warn=not check)  # the check's answer is one line
        if check:
            from monitor.clock import utc_now

            say(commands.health(config, utc_now()))
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
    ctx: typer.Context,
    all_feeds: Annotated[bool, typer.Option("--all", help="Poll every feed, due or not.")] = False,
    feed: Annotated[
        list[str] | None, typer.Option("--feed", help="Poll this feed URL (repeatable).")
    ] = None,
) -> None:
    """One poll cycle of the due feeds (or all, or the given ones).

    Feeds that changed or failed are listed; the unchanged ones are counted.

    Example: monitor poll --feed https://en.yna.co.kr/RSS/northkorea.xml
    """
    from collections import Counter

    from monitor.terminal import progress
    from monitor.types import UNCHANGED

    with user_errors(), state(ctx).worker() as worker:
        followed = worker.watchlists.feeds
        if unknown := [url for url in feed or [] if url not in followed]:
            raise MonitorError(
                f"{unknown[0]} is in no watchlist: add it to one, or try it with "
                "`monitor test WATCHLIST --url URL`"
            )
        with progress("feeds polled") as shown:
            report = worker.poll(force=all_feeds, urls=feed, progress=shown)
    for f in report.feeds:
        if f.outcome not in UNCHANGED:
            news = f"{f.new_items} new items, {f.new_matches} new matches"
            say(f"{f.outcome:<14} {redact_url(f.url)}  " + (f.message if f.failed else news))
    if not report.feeds:
        say("no feed was due")
        return
    say(report.summary())
    unchanged = Counter(f.outcome for f in report.feeds if f.outcome in UNCHANGED)
    if unchanged:
        say("unchanged: " + ", ".join(f"{n} {outcome}" for outcome, n in sorted(unchanged.items())))
    if feed and report.failures:  # the feeds asked for by name did not answer
        raise typer.Exit(1)


@app.command()
def digest(
    ctx: typer.Context,
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
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Mail a preview to this one address now; record nothing.",
            metavar="ADDRESS",
        ),
    ] = None,
) -> None:
    """Make a digest now of every match not yet reported, write it and mail it.

    A preview (--dry-run, --to, --since) records nothing: the next digest
    still holds its matches.

    Example: monitor digest dprk-russia --dry-run
    Example: monitor digest dprk-russia --to me@example.org
    """
    from monitor import commands

    cli = state(ctx)
    if out_dir is not None:
        cli.overrides["output_dir"] = out_dir
        cli._settings = None
    with user_errors(), cli.worker() as worker:
        say(*commands.digest(worker, watchlist, since, dry_run, to))


@app.command()
def validate(
    ctx: typer.Context,
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
        config = state(ctx).settings()
        lines, ok = commands.validate(paths or [config.watchlists], config)
    say(*lines, err=not ok)
    raise typer.Exit(0 if ok else 1)


@app.command("test")
def test_watchlist(
    ctx: typer.Context,
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
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Explain what a watchlist matches in a text, file or URL, rule by rule.

    Example: monitor test dprk-russia --text "North Korean troops reached Kursk"
    Example: monitor test dprk-russia --stored --since 7d
    """
    from monitor import commands
    from monitor.clock import utc_now

    cli = state(ctx)
    with user_errors():
        if sum(x is not None for x in (text, file, url)) + stored != 1:
            raise MonitorError("give exactly one of --text, --file, --url or --stored")
        if stored:
            config = cli.settings()
            chosen = commands.find_watchlist(config, watchlist)
            start = commands.since_time(since, utc_now())
            with cli.reading() as (_, store):
                dry_run = commands.stored_dry_run(store, chosen, start)
            if json_output:
                as_json(dry_run.as_json())
            else:
                say(*dry_run.lines())
            return
        config = cli.settings()
        documents = commands.documents_to_test(config, text, title, file, url)
        result = commands.explain(config, watchlist, documents, all_rules)
    if json_output:
        as_json(result.as_json())
    else:
        say(*result.lines())


@app.command()
def tune(
    ctx: typer.Context,
    watchlist: Annotated[str, typer.Argument(help="Watchlist id or path to a watchlist file.")],
    labels: Annotated[
        Path, typer.Option(help="Labelled items (YAML): id, title, summary, expect, must_not.")
    ],
    cap: Annotated[int, typer.Option(help="Ids listed per rule wrongly hit or missed.")] = 10,
) -> None:
    """Per-rule precision, recall and F1 of a watchlist on labelled items.

    Each item lists in `expect` the rules it must hit; every other rule must
    not, unless the item gives `must_not` (then only those must not).

    Example: monitor tune dprk-russia --labels tests/data/matching/reports-a.yaml
    """
    from monitor import commands, tune

    with user_errors():
        chosen = commands.find_watchlist(state(ctx).settings(), watchlist)
        try:
            source = labels.read_text(encoding="utf-8")
        except OSError as e:
            raise MonitorError(f"{labels}: cannot read: {e.strerror or e}") from None
        items = tune.parse_labels(source, str(labels), tune.rule_ids(chosen))
        if not any(topic.about for topic in chosen.topics):
            say(tune.table(tune.score(chosen, items).values(), cap=cap))
            return
        from monitor.meaning import SentenceEncoder  # loaded only for about-topics

        encoder = SentenceEncoder()
        say("With the meaning check of the about-topics:")
        say(tune.table(tune.score(chosen, items, encoder).values(), cap=cap))
        say("", tune.thresholds_table(chosen, tune.about_thresholds(chosen, items, encoder)))


@app.command()
def status(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Feeds (health, last and next poll), digests and counts.

    Example: monitor status --json
    """
    from monitor import commands
    from monitor import status as reports
    from monitor.clock import utc_now
    from monitor.watchlist import load_all

    cli = state(ctx)
    with user_errors():
        config = cli.settings()
        loaded = load_all([config.watchlists], config.timezone)
        mail = bool(config.smtp_url)
        try:
            with cli.reading() as (_, store):
                report = reports.status(store, loaded, utc_now(), mail)
        except commands.NoDatabase:
            report = reports.status(None, loaded, utc_now())
    if json_output:
        as_json(report)
    else:
        say(*reports.status_lines(report))


@app.command()
def retry(
    ctx: typer.Context,
    recipient: Annotated[str | None, typer.Option(help="Only messages to this recipient.")] = None,
) -> None:
    """Send again the messages that failed for good, once their cause is fixed.

    A 5xx answer (a wrong password, an unknown address) fails a message at
    once; after fixing MONITOR_SMTP_URL or the address, this queues those
    messages again, with the same Message-ID, and delivers them.

    Example: monitor retry --recipient analyst@example.org
    """
    with user_errors(), state(ctx).worker() as worker:
        queued = worker.store.outbox.requeue_failed(worker.clock(), recipient)
        report = worker.deliver() if queued else None
    say(f"{queued} failed messages queued again")
    if report is not None:
        say(f"delivery: {report.summary()}")


@app.command()
def matches(
    ctx: typer.Context,
    watchlist: Annotated[str | None, typer.Option(help="Only this watchlist.")] = None,
    since: Annotated[str, typer.Option(help="Since WHEN (24h, 7d, 2026-11-20).")] = "7d",
    json_output: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List stored matches.

    Example: monitor matches --watchlist dprk-russia --since 24h
    """
    from monitor import commands
    from monitor import status as reports
    from monitor.clock import utc_now
    from monitor.watchlist import watchlist_files

    now = utc_now()
    cli = state(ctx)
    with user_errors():
        start = commands.since_time(since, now)
        config = cli.settings()
        known = (
            [p.stem for p in watchlist_files(config.watchlists)]
            if config.watchlists.exists()
            else []
        )
        if watchlist is not None and watchlist not in known:
            listed = ", ".join(known) or "none"
            raise MonitorError(f"no watchlist {watchlist!r} (the watchlists are: {listed})")
        try:
            with cli.reading() as (_, store):
                rows = reports.matches(store, [watchlist] if watchlist else known, start, now)
        except commands.NoDatabase:
            rows = []  # nothing stored yet
    if json_output:
        as_json(rows)
        return
    for row in rows:
        rule = f"{row['watchlist']}/{row['rule']}"
        say(f"{row['first_seen_at']:%Y-%m-%d %H:%M}  {rule}  {row['title']}")
    say(f"{len(rows)} matches")


@app.command()
def init(
    directory: Annotated[
        Path, typer.Argument(help="Where to write watchlists/ (the current folder if omitted).")
    ] = Path("."),
) -> None:
    """Write a starter watchlists/ folder: the seed watchlist, to edit.

    Example: monitor init ~/monitoring && cd ~/monitoring && monitor validate
    """
    from monitor.commands import init_folder

    with user_errors():
        say(*init_folder(directory))


@app.command()
def demo(
    ctx: typer.Context,
    keep: Annotated[
        Path | None, typer.Option(help="Keep the demo's database and digests in this directory.")
    ] = None,
) -> None:
    """Run the whole loop offline on bundled sample feeds and print the digest's path.

    Example: monitor demo
    """
    from monitor.demo import run_demo
    from monitor.logs import configure

    with user_errors():
        configure("text")
        settings = state(ctx).settings(warn=False)
        for warning in settings.warnings(own_watchlist=True):
            say(f"warning: {warning}", err=True)
        path = run_demo(settings, keep)
    say(f"digest written: {path}")


# Kept in their own module: sources into and out of watchlist files.
app.command()(add)
app.add_typer(opml_app, name="opml")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
