"""The alembic environment, loaded by alembic (never imported): runs the
migrations on the connection that monitor.migrations hands over, inside the
caller's transaction, or on MONITOR_DATABASE_URL when alembic is run directly.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import monitor.store.tables  # noqa: F401 (the models, in SQLModel.metadata)
from monitor.store.db import UTCDateTime, engine_for


def render_item(kind: str, obj: Any, _context: AutogenContext) -> str | Literal[False]:
    """New revisions spell column types in plain SQLAlchemy, so that a
    revision keeps meaning what it meant when the models change."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if kind == "type" and isinstance(obj, AutoString):
        return "sa.String()" if obj.length is None else f"sa.String(length={obj.length})"
    return False


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        # SQLite alters most things by copying the table: autogenerate writes
        # batch operations, which are plain ALTERs on PostgreSQL.
        render_as_batch=True,
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    given = context.config.attributes.get("connection")
    if isinstance(given, Connection):
        run(given)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        from monitor.config import Settings

        url = Settings().database_url
    engine = engine_for(url)
    try:
        with engine.begin() as connection:
            run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("monitor's migrations run against a database, not as SQL scripts")
main()
