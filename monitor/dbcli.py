"""`monitor db`: the database's schema, upgraded, shown, or (for
developers) given a new migration."""

from __future__ import annotations

from typing import Annotated

import typer

from monitor.clistate import say, state, user_errors

db_app = typer.Typer(no_args_is_help=True, help="Database maintenance.")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or upgrade the database schema (alembic upgrade head).

    Example: MONITOR_DATABASE_URL=sqlite:///data/monitor.db monitor db upgrade
    """
    from monitor.migrations import upgrade
    from monitor.migrations.schema import FIRST
    from monitor.store import Store

    with user_errors():
        store = Store(state(ctx).settings().database_url)
        try:
            found, now = upgrade(store.engine)
        finally:
            store.close()
    if found == now:
        say(f"database schema is up to date at revision {now}")
    elif found == "legacy":
        say(f"existing tables stamped as revision {FIRST}, schema now at {now}")
    else:
        say(f"database schema upgraded from {found or 'nothing'} to {now}")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Print the database's schema revision and the code's newest (head).

    Example: monitor db current
    """
    from monitor.migrations.schema import current

    with user_errors():
        schema = current(state(ctx).settings().database_url)
    say(schema.describe())
    raise typer.Exit(1 if schema.unknown else 0)


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
    say(f"wrote {path}")
