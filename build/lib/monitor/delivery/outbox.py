"""Sending what the outbox holds: take a message (a short transaction), send
it with no transaction open, record the outcome (another one). A 4xx answer,
a timeout or an unreachable server is retried with backoff; a 5xx answer
fails that message for good; a recipient who accepted is never sent it again."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.channels.files import Archive
from monitor.channels.notify import NotifySender
from monitor.channels.smtp import MailSender, build_email, clean_header
from monitor.delivery.faults import Faults
from monitor.errors import DeliveryError
from monitor.schedule import delivery_retry_at
from monitor.store import Store
from monitor.types import DeliveryReport, OutboxMessage
from monitor.watchlist import Watchlist

log = logging.getLogger(__name__)


@dataclass
class Deliverer:
    store: Store
    archive: Archive
    mail_from: str
    sender: MailSender | None = None  # None: MONITOR_SMTP_URL is not set
    notifier: NotifySender = field(default_factory=NotifySender)
    max_attempts: int = 8
    # How long a message taken for sending is kept from other senders; a
    # process that dies while sending leaves it to be retried after this.
    lease: timedelta = timedelta(minutes=5)
    faults: Faults = field(default_factory=Faults)
    _told_mail_waits: bool = False

    def deliver(
        self, clock: Callable[[], datetime], watchlists: Mapping[str, Watchlist]
    ) -> DeliveryReport:
        """Send every due message, one at a time."""
        sent = retrying = failed = 0
        outcomes: list[tuple[str, str]] = []
        # Without SMTP, mail waits in the outbox (monitor status says so) and
        # goes out once MONITOR_SMTP_URL is set: it is never tried, nor dropped.
        channels = ("file", "notify", "email") if self.sender else ("file", "notify")
        while (message := self.store.outbox.claim(clock(), self.lease, channels)) is not None:
            now = clock()
            try:
                self._send(message, now, watchlists)
            except DeliveryError as e:
                attempts = message.attempts + 1
                retry_at = delivery_retry_at(now, attempts, self.max_attempts, e.permanent)
                self.store.outbox.mark_failed(message.id, e.message, now, retry_at)
                _log_failure(message, e, attempts, retry_at)
                retrying, failed = retrying + (retry_at is not None), failed + (retry_at is None)
                outcomes.append((message.channel, "retrying" if retry_at else "failed"))
                continue
            if message.channel == "email":
                self.faults.at("after-smtp-250")
            self.store.outbox.mark_sent(message.id, now)
            sent += 1
            outcomes.append((message.channel, "sent"))
        self._say_if_mail_waits()
        return DeliveryReport(sent, retrying, failed, tuple(outcomes))

    def _say_if_mail_waits(self) -> None:
        """Once per process: mail is waiting for SMTP to be configured."""
        if self.sender is not None or self._told_mail_waits:
            return
        if waiting := self.store.outbox.pending_on("email"):
            log.warning(
                "%d email messages wait in the outbox: MONITOR_SMTP_URL is not set", waiting
            )
            self._told_mail_waits = True

    def _send(
        self, message: OutboxMessage, now: datetime, watchlists: Mapping[str, Watchlist]
    ) -> None:
        if message.channel == "file":
            self.archive.write(
                message.recipient, message.body_html, watchlists.get(message.watchlist)
            )
        elif message.channel == "email":
            assert self.sender is not None  # email is claimed only with SMTP set
            try:
                email = build_email(message, self.mail_from, now)
            except (ValueError, TypeError, UnicodeError) as e:
                raise DeliveryError(f"cannot build the message: {e}", permanent=True) from e
            self.sender.send(email, message.recipient)
        elif message.channel == "notify":
            self.notifier.send(
                message.recipient,
                clean_header(message.subject),
                message.body_text,
                message.idempotency_key,
            )
        else:
            raise DeliveryError(f"unknown channel {message.channel!r}", permanent=True)


def _log_failure(
    message: OutboxMessage, error: DeliveryError, attempts: int, retry_at: datetime | None
) -> None:
    """One line per failed attempt, no traceback: what, to whom, why, what next."""
    what = f"{message.kind} {message.channel} to {message.recipient} (outbox {message.id})"
    if retry_at is not None:
        log.warning(
            "%s failed, attempt %d, retrying at %s: %s",
            *(what, attempts, retry_at.strftime("%Y-%m-%d %H:%M:%S UTC"), error.message),
        )
    elif error.permanent:
        log.error("%s failed for good: %s", what, error.message)
    else:
        log.error("%s failed; gave up after %d attempts: %s", what, attempts, error.message)
