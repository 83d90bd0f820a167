"""The outbox: digests and alerts are queued as rows, then delivered.

Queueing happens in the same transaction that records the digest (or marks
the alert's matches), so a crash never loses a message; each row has an
idempotency key, so queueing twice is harmless, and a stable Message-ID.
Delivery reads pending rows, does the network or file I/O outside any
transaction, and records the result per row.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import smtplib
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import apprise

from monitor.digest import Rendered, Renderer
from monitor.errors import ConfigError, DeliveryError
from monitor.pipeline import FeedReport
from monitor.store import DigestRecord, OutboxDraft, OutboxMessage, Store
from monitor.types import DigestPlan, FeedStatus, StoredMatch
from monitor.watchlist import Watchlist

log = logging.getLogger(__name__)


# --- email ---------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: bool  # smtps://: TLS from the first byte
    starttls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """smtp://user:pass@host:port, smtps://..., ?starttls=true"""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError(f"MONITOR_SMTP_URL must look like smtp://user:pass@host:port: {url}")
        options = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            tls=tls,
            starttls=options.get("starttls") in ("1", "true", "yes"),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class MailSender(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class SmtpSender:
    """Sends one message per connection: simple, and a failure touches one row."""

    def __init__(self, config: SmtpConfig, timeout: float = 30.0) -> None:
        self.config = config
        self.timeout = timeout

    def send(self, message: EmailMessage) -> None:
        try:
            with self._connect() as smtp:
                if self.config.username:
                    smtp.login(self.config.username, self.config.password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as e:
            codes = [code for code, _ in e.recipients.values()]
            raise DeliveryError(
                f"recipient refused: {e.recipients}", permanent=_permanent(codes)
            ) from e
        except smtplib.SMTPResponseException as e:
            text = (
                e.smtp_error.decode(errors="replace")
                if isinstance(e.smtp_error, bytes)
                else e.smtp_error
            )
            raise DeliveryError(
                f"SMTP {e.smtp_code} {text}", permanent=_permanent([e.smtp_code])
            ) from e
        except (smtplib.SMTPException, OSError) as e:
            raise DeliveryError(f"SMTP {type(e).__name__}: {e}") from e

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.tls:
            return smtplib.SMTP_SSL(
                c.host, c.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        smtp = smtplib.SMTP(c.host, c.port, timeout=self.timeout)
        if c.starttls:
            smtp.starttls(context=ssl.create_default_context())
        return smtp


class NotifySender:
    """Notification URLs through Apprise (Slack, Telegram, Matrix, ntfy,
    JSON webhooks, ...). A watchlist may name ``env:VARIABLE`` instead of the
    URL, so tokens stay in the environment rather than in the file."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self.environ = environ

    def resolve(self, reference: str) -> str:
        if not reference.startswith("env:"):
            return reference
        name = reference.removeprefix("env:")
        url = self.environ.get(name)
        if not url:
            raise DeliveryError(f"environment variable {name} is not set", permanent=True)
        return url

    def send(self, reference: str, title: str, body: str) -> None:
        notifier = apprise.Apprise()
        if not notifier.add(self.resolve(reference)):
            raise DeliveryError(
                f"{reference}: not a notification URL Apprise knows", permanent=True
            )
        if not notifier.notify(title=title, body=body):
            raise DeliveryError(f"{reference}: the notification service did not accept it")


def _permanent(codes: Sequence[int]) -> bool:
    return bool(codes) and all(500 <= code < 600 for code in codes)


_UNSAFE_IN_HEADER = re.compile("[\x00-\x1f\x7f\u0085\u2028\u2029]+")
MAX_SUBJECT = 200


def clean_header(value: str, limit: int = MAX_SUBJECT) -> str:
    """One bounded line: no CR/LF or other separators, no encoded-word openers.

    Feed titles end up in Subject lines; a title must never add a header.
    """
    value = _UNSAFE_IN_HEADER.sub(" ", value)
    value = value.replace("=?", "= ?")
    value = re.sub(r"\s+", " ", value).strip()
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def message_id(idempotency_key: str, mail_from: str) -> str:
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    domain = mail_from.rsplit("@", 1)[-1] if "@" in mail_from else "monitor.localhost"
    return f"<{digest}@{clean_header(domain, 100).replace(' ', '')}>"


def build_email(message: OutboxMessage, mail_from: str, now: datetime) -> EmailMessage:
    email = EmailMessage()
    email["Subject"] = clean_header(message.subject)
    email["From"] = mail_from
    email["To"] = clean_header(message.recipient, 320)
    email["Date"] = format_datetime(now)
    email["Message-ID"] = message_id(message.idempotency_key, mail_from)
    email["List-Id"] = f"<{message.watchlist}.monitor>"
    email["X-Monitor-Watchlist"] = message.watchlist
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.body_text)
    email.add_alternative(message.body_html, subtype="html")
    return email


# --- queueing and delivering ------------------------------------------------


def digest_plan(
    watchlist: Watchlist,
    record: DigestRecord,
    matches: Sequence[StoredMatch],
    feeds: Sequence[FeedStatus],
) -> DigestPlan:
    return DigestPlan(
        watchlist=watchlist.id,
        title=watchlist.title,
        scheduled_for=record.scheduled_for,
        window_start=record.window_start,
        window_end=record.window_end,
        timezone=watchlist.schedule.timezone,
        matches=tuple(matches),
        feeds=tuple(feeds),
    )


def digest_file_name(scheduled_for: datetime) -> str:
    return scheduled_for.strftime("%Y%m%dT%H%M%SZ") + ".html"


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    retrying: int
    failed: int

    def summary(self) -> str:
        return f"{self.sent} delivered, {self.retrying} to retry, {self.failed} failed"


@dataclass
class Outbox:
    store: Store
    renderer: Renderer
    output_dir: Path
    mail_from: str
    sender: MailSender | None = None
    max_attempts: int = 8
    notifier: NotifySender = field(default_factory=NotifySender)

    # --- queueing ---

    def queue_digest(
        self, watchlist: Watchlist, scheduled_for: datetime, now: datetime
    ) -> DigestRecord | None:
        """Make the digest of one slot: it takes every match no digest has
        reported yet, renders them and queues file and email in one
        transaction. None when this slot already has a digest."""
        previous = self.store.last_digest(watchlist.id)
        window_start = (
            previous.window_end if previous else self.store.watchlist_anchor(watchlist.id, now)
        )
        feeds = tuple(self.store.feed_statuses())
        base = f"digest:{watchlist.id}:{scheduled_for.isoformat()}"

        def compose(record: DigestRecord, matches: list[StoredMatch]) -> list[OutboxDraft]:
            plan = digest_plan(watchlist, record, matches, feeds)
            rendered = self.renderer.digest(plan, watchlist)
            file_name = f"{watchlist.id}/{digest_file_name(scheduled_for)}"
            drafts = [
                OutboxDraft(f"{base}:file", "digest", watchlist.id, "file", file_name,
                            rendered.subject, rendered.text, rendered.html)
            ]  # fmt: skip
            drafts += self._email_drafts(
                base, "digest", watchlist, watchlist.digest_email, rendered
            )
            return drafts + self._notify_drafts(base, "digest", watchlist, rendered)

        record = DigestRecord(0, watchlist.id, scheduled_for, window_start, now, "queued", 0)
        return self.store.create_digest(record, compose, now)

    def _notify_drafts(
        self, base: str, kind: str, watchlist: Watchlist, rendered: Rendered
    ) -> list[OutboxDraft]:
        return [
            OutboxDraft(
                f"{base}:notify:{target}", kind, watchlist.id, "notify", target,
                rendered.subject, rendered.text, "",
            )
            for target in watchlist.alert_notify
        ]  # fmt: skip

    def _email_drafts(
        self,
        base: str,
        kind: str,
        watchlist: Watchlist,
        recipients: Sequence[str],
        rendered: Rendered,
    ) -> list[OutboxDraft]:
        if not recipients:
            return []
        if self.sender is None:
            log.warning("%s: %s email not sent: MONITOR_SMTP_URL is not set", watchlist.id, kind)
            return []
        subject, text, html = rendered.subject, rendered.text, rendered.html
        return [
            OutboxDraft(f"{base}:email:{to}", kind, watchlist.id, "email", to, subject, text, html)
            for to in recipients
        ]

    def queue_alerts(self, watchlists: Mapping[str, Watchlist], now: datetime) -> int:
        """Batch every not-yet-alerted alert match into one alert per watchlist."""
        pending = self.store.unqueued_alerts()
        by_watchlist: dict[str, list[int]] = {}
        queued = 0
        for match in pending:
            by_watchlist.setdefault(match.watchlist, []).append(match.id)
        for watchlist_id, ids in by_watchlist.items():
            watchlist = watchlists.get(watchlist_id)
            matches = [m for m in pending if m.watchlist == watchlist_id]
            drafts: list[OutboxDraft] = []
            if watchlist is not None:
                rendered = self.renderer.alert(watchlist, matches, now)
                base = f"alert:{watchlist_id}:{min(ids)}-{max(ids)}:{len(ids)}"
                drafts = self._email_drafts(
                    base, "alert", watchlist, watchlist.alert_email, rendered
                ) + self._notify_drafts(base, "alert", watchlist, rendered)
            self.store.queue_alerts(ids, drafts, now)
            queued += len(drafts)
        return queued

    def queue_feed_alert(
        self, watchlists: Iterable[Watchlist], report: FeedReport, now: datetime
    ) -> int:
        """One message to the alert recipients of every watchlist that follows
        a feed, when the feed was paused or is gone: once, not once per tick."""
        following = [w for w in watchlists if any(f.url == report.url for f in w.feeds)]
        queued = 0
        for watchlist in following:
            context = {"watchlist": watchlist, "report": report, "now": now}
            rendered = Rendered(
                self.renderer.render("feed_problem_subject.txt.j2", **context).strip(),
                self.renderer.render("feed_problem.txt.j2", **context),
                self.renderer.render("feed_problem.html.j2", **context),
            )
            base = f"feed:{report.url}:{report.stopped}:{now.isoformat()}"
            drafts = self._email_drafts(base, "feed", watchlist, watchlist.alert_email, rendered)
            drafts += self._notify_drafts(base, "feed", watchlist, rendered)
            self.store.queue(drafts, now)
            queued += len(drafts)
        return queued

    # --- delivering ---

    def deliver(self, now: datetime, watchlists: Mapping[str, Watchlist]) -> DeliveryReport:
        sent = retrying = failed = 0
        for message in self.store.pending_messages(now):
            try:
                self._deliver_one(message, now, watchlists)
            except DeliveryError as e:
                retry_at = self._retry_at(message, e, now)
                self.store.mark_failed(message.id, e.message, now, retry_at)
                log.warning("delivery of %s to %s failed: %s", message.kind, message.recipient, e)
                retrying, failed = retrying + (retry_at is not None), failed + (retry_at is None)
                continue
            self.store.mark_sent(message.id, now)
            sent += 1
        return DeliveryReport(sent, retrying, failed)

    def _retry_at(
        self, message: OutboxMessage, error: DeliveryError, now: datetime
    ) -> datetime | None:
        if error.permanent or message.attempts + 1 >= self.max_attempts:
            return None
        return now + min(timedelta(minutes=1) * (1 << message.attempts), timedelta(hours=1))

    def _deliver_one(
        self, message: OutboxMessage, now: datetime, watchlists: Mapping[str, Watchlist]
    ) -> None:
        if message.channel == "file":
            self._write_file(message, watchlists.get(message.watchlist))
        elif message.channel == "email":
            if self.sender is None:
                raise DeliveryError("MONITOR_SMTP_URL is not set")
            self.sender.send(build_email(message, self.mail_from, now))
        elif message.channel == "notify":
            self.notifier.send(message.recipient, clean_header(message.subject), message.body_text)
        else:
            raise DeliveryError(f"unknown channel {message.channel!r}", permanent=True)

    def _write_file(self, message: OutboxMessage, watchlist: Watchlist | None) -> None:
        path = self.output_dir / message.recipient
        try:
            _write_atomically(path, message.body_html)
            if watchlist is not None:
                self.write_index(watchlist)
        except OSError as e:
            raise DeliveryError(f"cannot write {path}: {e}") from e

    def write_index(self, watchlist: Watchlist) -> Path:
        directory = self.output_dir / watchlist.id
        files = sorted(
            (p.name for p in directory.glob("*.html") if p.name != "index.html"), reverse=True
        )
        entries = [(name, _label(name)) for name in files]
        index = directory / "index.html"
        _write_atomically(index, self.renderer.index(watchlist, entries))
        return index


def _label(file_name: str) -> str:
    try:
        when = datetime.strptime(file_name.removesuffix(".html"), "%Y%m%dT%H%M%SZ")
    except ValueError:
        return file_name
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _write_atomically(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(content, encoding="utf-8")
    os.replace(temporary, path)
