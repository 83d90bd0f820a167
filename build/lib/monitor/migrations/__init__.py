"""Schema migrations (alembic): the revisions in ``versions/``, the
environment (``env.py``) and, in ``schema``, the code that runs them;
``upgrade`` and ``require_head`` are what the rest of the program calls.

Alembic reports at INFO, as it is imported and each time it looks at a
database, which plugins and dialect it set up: noise in a worker's log on
every start. Quietened here, before any submodule imports alembic; what it
runs ("Running upgrade ...") stays.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

log = logging.getLogger(__name__)

# The advisory lock that serialises schema creation on PostgreSQL ("monitor").
SCHEMA_LOCK = 0x6D6F6E69746F72


def _not_every_start(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(("Context impl", "Will assume"))


logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
logging.getLogger("alembic.runtime.migration").addFilter(_not_every_start)


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Create or upgrade the schema to the code's; the revisions before and
    after. Workers starting together would race to migrate: on PostgreSQL
    they take the advisory lock SCHEMA_LOCK one at a time, and the later ones
    find it done. A database at head is found so without loading alembic."""
    from monitor.migrations.revision import at_head, newest
    from monitor.store.db import answering

    with answering(engine.url.render_as_string()), engine.connect() as connection:
        if at_head(connection):
            return newest(), newest()
    from monitor.migrations.schema import upgrade_schema

    with answering(engine.url.render_as_string()), engine.connect() as connection:
        found, now = upgrade_schema(connection, lock=SCHEMA_LOCK)
    if found != now:
        log.info("database schema upgraded from %s to %s", found or "nothing", now)
    return found, now


def require_head(engine: Engine) -> None:
    """For commands that only read: SchemaError (EmptySchema when there is
    none) unless the database is at the code's revision. Nothing is changed."""
    from monitor.migrations import revision
    from monitor.store.db import answering

    with answering(engine.url.render_as_string()), engine.connect() as connection:
        revision.require_head(connection)
