"""Schema migrations (alembic): the revisions in ``versions/``, the
environment (``env.py``) and, in ``schema``, the code that runs them.

Alembic reports at INFO, as it is imported and each time it looks at a
database, which plugins and dialect it set up: noise in a worker's log on
every start. Quietened here, before any submodule imports alembic; what it
runs ("Running upgrade ...") stays.
"""

from __future__ import annotations

import logging


def _not_every_start(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(("Context impl", "Will assume"))


logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
logging.getLogger("alembic.runtime.migration").addFilter(_not_every_start)
