"""`monitor add` and `monitor opml`: sources into and out of watchlist files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from monitor.clistate import say, state, user_errors
from monitor.errors import MonitorError


def add(
    ctx: typer.Context,
    watchlist: Annotated[str, typer.Argument(help="Watchlist id or path to a watchlist file.")],
    url: Annotated[str, typer.Argument(help="A feed, a web page, a t.me link or @channel.")],
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Add without asking (needed when stdin is not a terminal)."
        ),
    ] = False,
    links: Annotated[
        str | None,
        typer.Option(
            help="Follow the page as a page: source, its links picked by this CSS selector.",
            metavar="SELECTOR",
        ),
    ] = None,
    pick: Annotated[
        int | None,
        typer.Option(
            help="Take the N-th feed the page lists (default: the first).", min=1, metavar="N"
        ),
    ] = None,
) -> None:
    """Add a source to a watchlist file: a feed, a page's feed, a page, a Telegram channel.

    A page's feeds are found in its <link rel="alternate">; a page without
    any becomes a page: source, with a suggested selector of its article
    links to check (or give --links). It asks before writing (--yes does
    not; without a terminal it refuses unless --yes). The file keeps its
    comments and layout, and is not written if the result would not load.

    Example: monitor add dprk-russia https://www.nknews.org/

    Example: monitor add dprk-russia @some_channel --yes

    Example: monitor add dprk-russia https://mil.example/en/news --links "article h2 a"
    """
    import sys

    from monitor import sourcefile

    with user_errors():
        config = state(ctx).settings()
        path = sourcefile.watchlist_path(config, watchlist)
        plan = sourcefile.plan_add(config, path, url, links, pick)
        say(*plan.notes)
        if plan.present is not None or plan.source is None:
            assert plan.present is not None
            say(f"already in {path}: {sourcefile.describe_ref(plan.present)}; nothing changed")
            return
        entry = plan.source.describe()
        if not yes and not (sys.stdin is not None and sys.stdin.isatty()):
            raise MonitorError(
                f"not added ({entry}): stdin is not a terminal to ask on; --yes adds without asking"
            )
        if not yes and not typer.confirm(f"add to {path}: {entry}?", default=True):
            say("nothing written")
            raise typer.Exit(1)
        result = sourcefile.add_sources(path, [plan.source], config.timezone)
    if result.added:
        say(f"added to {path}: {entry}")
    else:  # added by someone else while we asked
        say(f"already in {path}: {entry}; nothing changed")


opml_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Feed lists as OPML, to and from feed readers.",
)


@opml_app.command("import")
def opml_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="An OPML file (1.0 or 2.0).")],
    watchlist: Annotated[str, typer.Argument(help="Watchlist id or path to a watchlist file.")],
) -> None:
    """Add every feed of an OPML file (in any category) that the watchlist lacks.

    Each feed keeps its OPML title as title:. Outlines that are no feeds
    (links, invalid URLs) are listed as skipped, with the reason. The file
    keeps its comments and layout, and is not written if the result would
    not load.

    Example: monitor opml import subscriptions.opml dprk-russia
    """
    from monitor import sourcefile

    with user_errors():
        config = state(ctx).settings()
        path = sourcefile.watchlist_path(config, watchlist)
        result = sourcefile.import_opml(config, file, path)
    say(*result.lines(path))


@opml_app.command("export")
def opml_export(
    ctx: typer.Context,
    watchlists: Annotated[
        list[str] | None, typer.Argument(help="Watchlist ids or paths; all if omitted.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Write the watchlists' sources as OPML 2.0, a category per watchlist.

    Feeds are outlines with xmlUrl; Telegram channels and pages, which no
    feed reader can follow, are type="link" outlines with their url.

    Example: monitor opml export dprk-russia -o dprk-russia.opml
    """
    from monitor import sourcefile

    with user_errors():
        config = state(ctx).settings()
        text, count, sources = sourcefile.export_opml(config, watchlists or [])
        if output is None:
            typer.echo(text, nl=False)
            return
        sourcefile.write_atomically(output, text)
    say(f"wrote {output}: {sources} sources of {count} watchlists")
