"""Each running service's last sign of life, which ``monitor run --check`` reads."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from monitor.store.db import Database, core
from monitor.store.tables import HeartbeatRow

# Beats older than this are forgotten (a service that stopped long ago).
KEPT = timedelta(days=1)


class Heartbeats:
    def __init__(self, db: Database, owner: str) -> None:
        self.db = db
        self.owner = owner  # this process's name: host:pid:random

    def beat(self, now: datetime) -> None:
        """This service is alive and can write; old beats are forgotten."""
        row = core(HeartbeatRow).c
        with self.db.connection() as c:
            found = c.execute(
                update(core(HeartbeatRow)).where(row.worker == self.owner).values(beat_at=now)
            )
            if not found.rowcount:
                values = {"worker": self.owner, "host": socket.gethostname(), "beat_at": now}
                c.execute(self.db.insert_ignoring_duplicates(HeartbeatRow), [values])
            c.execute(delete(core(HeartbeatRow)).where(row.beat_at < now - KEPT))

    def latest(self, host: str | None = None) -> datetime | None:
        """The newest beat of a service on ``host`` (this machine by default)."""
        row = core(HeartbeatRow).c
        query = select(func.max(row.beat_at)).where(row.host == (host or socket.gethostname()))
        with self.db.connection() as c:
            value: datetime | None = c.execute(query).scalar()
            return value
