"""The outbox: messages queued in the transaction that decides them, then
taken one at a time for sending and settled (sent, retried, failed)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, update
from sqlalchemy.engine import CursorResult
from sqlmodel import Session, col, func, select

from monitor.store.db import Database, core, storable
from monitor.store.tables import DigestRow, MatchRow, OutboxRow
from monitor.types import OutboxDraft, OutboxMessage

CHANNELS = ("file", "email", "notify")


class TakenMeanwhile(Exception):
    """Rolls back a transaction whose rows another worker changed first."""


def queue_drafts(
    db: Database,
    c: Connection,
    drafts: Sequence[OutboxDraft],
    now: datetime,
    digest_id: int | None = None,
    not_before: datetime | None = None,
) -> None:
    """Queue ``drafts`` in the caller's transaction (their keys make queueing
    twice harmless), to be sent from ``not_before`` on, else at once."""
    if not drafts:
        return
    values = [
        {**storable(d.__dict__), "digest_id": digest_id, "status": "pending", "attempts": 0,
         "next_attempt_at": not_before or now, "created_at": now}
        for d in drafts
    ]  # fmt: skip
    c.execute(db.insert_ignoring_duplicates(OutboxRow), values)


class Outbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    def queue(
        self, drafts: Sequence[OutboxDraft], now: datetime, not_before: datetime | None = None
    ) -> None:
        """Queue messages that belong to no digest, to be sent from
        ``not_before`` on (quiet hours), else at once."""
        with self.db.connection() as c:
            queue_drafts(self.db, c, drafts, now, None, not_before)

    def queue_alerts(
        self,
        match_ids: Sequence[int],
        drafts: Sequence[OutboxDraft],
        now: datetime,
        before_commit: Callable[[], None] = lambda: None,
    ) -> bool:
        """Queue alert messages and mark their matches, in one transaction.
        False (nothing done) when another worker has queued any of them since
        they were read: the rest come round at the next cycle."""
        match = core(MatchRow).c
        try:
            with self.db.connection() as c:
                marked = c.execute(
                    update(core(MatchRow))
                    .where(match.id.in_(list(match_ids)), match.alert_queued_at.is_(None))
                    .values(alert_queued_at=now)
                )
                if cast(CursorResult[Any], marked).rowcount != len(set(match_ids)):
                    raise TakenMeanwhile
                queue_drafts(self.db, c, drafts, now)
                before_commit()
        except TakenMeanwhile:
            return False
        return True

    def claim(
        self, now: datetime, lease: timedelta, channels: Iterable[str] = CHANNELS
    ) -> OutboxMessage | None:
        """Take the oldest due message of ``channels`` for ``lease``: its next
        attempt moves past the lease in this short transaction, so no other
        thread or worker sends it meanwhile, and if this process dies it is
        due again once the lease ends."""
        with self.db.session() as s:
            row = s.exec(
                select(OutboxRow)
                .where(OutboxRow.status == "pending")
                .where(col(OutboxRow.channel).in_(list(channels)))
                .where(col(OutboxRow.next_attempt_at) <= now)
                .order_by(col(OutboxRow.next_attempt_at), col(OutboxRow.id))
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            row.next_attempt_at = now + lease
            return _message(row)

    def mark_sent(self, message_id: int, now: datetime) -> None:
        with self.db.session() as s:
            row = s.get_one(OutboxRow, message_id)
            if row.status != "pending":
                return  # settled already (a lease ran out and another worker sent it)
            row.status, row.sent_at, row.attempts = "sent", now, row.attempts + 1
            row.last_error = None
            _settle_digest(s, row)

    def mark_failed(
        self, message_id: int, error: str, now: datetime, retry_at: datetime | None
    ) -> int:
        """A failed attempt: retried at ``retry_at``, or failed for good when None.
        Returns the number of attempts made so far."""
        with self.db.session() as s:
            row = s.get_one(OutboxRow, message_id)
            if row.status != "pending":
                return row.attempts
            row.attempts += 1
            row.last_error = error
            if retry_at is None:
                row.status = "failed"
                _settle_digest(s, row)
            else:
                row.next_attempt_at = retry_at
            return row.attempts

    def requeue_failed(self, now: datetime, recipient: str | None = None) -> int:
        """Put messages given up on back in the queue (the cause, such as a
        wrong SMTP password, was fixed), with their attempts counted afresh;
        they keep their Message-ID. Returns how many."""
        with self.db.session() as s:
            query = select(OutboxRow).where(OutboxRow.status == "failed")
            if recipient is not None:
                query = query.where(OutboxRow.recipient == recipient)
            rows = s.exec(query).all()
            for row in rows:
                row.status, row.attempts, row.next_attempt_at = "pending", 0, now
                if row.digest_id is not None:
                    s.get_one(DigestRow, row.digest_id).status = "queued"
            return len(rows)

    def failed(self, limit: int = 20) -> list[tuple[OutboxMessage, str]]:
        """The latest messages given up on, with the reason, newest first."""
        with self.db.session() as s:
            rows = s.exec(
                select(OutboxRow)
                .where(OutboxRow.status == "failed")
                .order_by(col(OutboxRow.id).desc())
                .limit(limit)
            ).all()
            return [(_message(r), r.last_error or "") for r in rows]

    def pending_on(self, channel: str) -> int:
        """Messages of ``channel`` waiting to be sent (mail waiting for SMTP)."""
        outbox = core(OutboxRow).c
        query = select(func.count()).where(outbox.status == "pending", outbox.channel == channel)
        with self.db.connection() as c:
            return int(c.execute(query).scalar_one())

    def counts(self) -> dict[str, int]:
        """Messages by status (pending, sent, failed)."""
        outbox = core(OutboxRow).c
        with self.db.connection() as c:
            rows = c.execute(select(outbox.status, func.count()).group_by(outbox.status))
            return {key: count for key, count in rows}


def _settle_digest(s: Session, row: OutboxRow) -> None:
    if row.digest_id is None:
        return
    statuses = set(s.exec(select(OutboxRow.status).where(OutboxRow.digest_id == row.digest_id)))
    if "pending" not in statuses:
        digest = s.get_one(DigestRow, row.digest_id)
        digest.status = "failed" if statuses == {"failed"} else "delivered"


def _message(row: OutboxRow) -> OutboxMessage:
    return OutboxMessage(
        row.id or 0,
        row.kind,
        row.watchlist,
        row.channel,
        row.recipient,
        row.subject,
        row.body_text,
        row.body_html,
        row.idempotency_key,
        row.attempts,
    )
