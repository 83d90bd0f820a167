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
import signal
import smtplib
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import partial
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import apprise

from monitor.archive import FEED_ENTRIES, archive_entry, atom_feed
from monitor.config import Settings
from monitor.digest import DigestFigures, Rendered, Renderer
from monitor.errors import ConfigError, DeliveryError
from monitor.pipeline import FeedReport
from monitor.schedule import delivery_retry_at
from monitor.store import DigestRecord, OutboxDraft, OutboxMessage, Store
from monitor.stories import DEFAULT_THRESHOLD
from monitor.trends import Spike, SpikePolicy, daily_trend, find_spikes, trend_start
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
    def send(self, message: EmailMessage, recipient: str) -> None: ...


# The SMTP stage each kind of refusal comes from, for the logged reason.
_STAGES: dict[type[smtplib.SMTPResponseException], str] = {
    smtplib.SMTPConnectError: "greeting",
    smtplib.SMTPHeloError: "HELO",
    smtplib.SMTPAuthenticationError: "AUTH",
    smtplib.SMTPSenderRefused: "MAIL FROM",
    smtplib.SMTPDataError: "DATA",
}


class SmtpSender:
    """Sends one message to one recipient per connection: each outbox row is
    one recipient, so a refusal or a failure touches that row only and a
    retry never reaches someone who already accepted the message."""

    def __init__(self, config: SmtpConfig, timeout: float = 30.0) -> None:
        self.config = config
        self.timeout = timeout

    def send(self, message: EmailMessage, recipient: str) -> None:
        """Raises DeliveryError, ``permanent`` for a 5xx answer; 4xx answers,
        timeouts, refused or dropped connections are worth retrying."""
        try:
            with self._connect() as smtp:
                if self.config.username:
                    smtp.login(self.config.username, self.config.password or "")
                # The envelope is given, not read from the headers: a header
                # can never add a recipient.
                smtp.send_message(message, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as e:
            code, text = next(iter(e.recipients.values()), (0, b""))
            raise DeliveryError(_reply("RCPT TO", code, text), permanent=_permanent(code)) from e
        except smtplib.SMTPResponseException as e:
            stage = next((name for t, name in _STAGES.items() if isinstance(e, t)), "SMTP")
            reason = _reply(stage, e.smtp_code, e.smtp_error)
            if isinstance(e, smtplib.SMTPAuthenticationError):
                reason += " (check the user and password in MONITOR_SMTP_URL)"
            raise DeliveryError(reason, permanent=_permanent(e.smtp_code)) from e
        except smtplib.SMTPServerDisconnected as e:
            # Possibly after the message was taken: a retry may deliver a
            # second copy, with the same Message-ID, rather than none.
            raise DeliveryError(f"the SMTP server closed the connection: {e}") from e
        except (smtplib.SMTPException, OSError) as e:
            where = f"{self.config.host}:{self.config.port}"
            raise DeliveryError(f"SMTP server {where}: {type(e).__name__}: {e}") from e

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


def _reply(stage: str, code: int, text: bytes | str) -> str:
    """An SMTP answer as one line for a log and the outbox row."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return f"SMTP {stage} answered {code} {clean_header(text, 200)}".rstrip()


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

    def send(self, reference: str, title: str, body: str, idempotency_key: str = "") -> None:
        """Deliver one notification. Webhooks (json://, xml://, form://) carry
        ``idempotency_key`` as an Idempotency-Key header, so a receiver can
        drop the copy a retry after a lost answer sends again."""
        url = self.resolve(reference)
        if idempotency_key and urlsplit(url).scheme in WEBHOOK_SCHEMES:
            # Apprise sends a query parameter written "+Name=value" as a header.
            separator = "&" if "?" in url else "?"
            url += f"{separator}{urlencode({'+Idempotency-Key': idempotency_key})}"
        notifier = apprise.Apprise()
        if not notifier.add(url):
            raise DeliveryError(
                f"{reference}: not a notification URL Apprise knows", permanent=True
            )
        if not notifier.notify(title=title, body=body):
            raise DeliveryError(f"{reference}: the notification service did not accept it")


WEBHOOK_SCHEMES = frozenset({"json", "jsons", "xml", "xmls", "form", "forms"})


def _permanent(code: int) -> bool:
    return 500 <= code < 600


_UNSAFE_IN_HEADER = re.compile("[\x00-\x1f\x7f\u0085\u2028\u2029]+")
MAX_SUBJECT = 200


def clean_header(value: str, limit: int = MAX_SUBJECT) -> str:
    """One bounded line: no CR/LF or other separators, no encoded-word openers.

    Every header value built from feed or watchlist data goes through here:
    a title must never add a header. The email package of Python 3.11.7
    decodes ``=?UTF-8?Q?=0A?=`` into a raw newline when it folds a header
    (CVE-2024-6923), so an encoded-word opener is broken up here, on every
    Python, instead of relying on it.
    """
    value = value.encode("utf-8", errors="replace").decode("utf-8")  # lone surrogates
    value = _UNSAFE_IN_HEADER.sub(" ", value)
    value = value.replace("=?", "= ?")
    value = re.sub(r"\s+", " ", value).strip()
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def message_id(idempotency_key: str, mail_from: str) -> str:
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    domain = parseaddr(mail_from)[1].rsplit("@", 1)[-1] if "@" in mail_from else ""
    domain = re.sub(r"[^A-Za-z0-9.-]", "", domain) or "monitor.localhost"
    return f"<{digest}@{domain}>"


def build_email(message: OutboxMessage, mail_from: str, now: datetime) -> EmailMessage:
    """The message for one outbox row. Same row, same Message-ID: a resent
    copy is recognisable as the same message."""
    email = EmailMessage()
    list_id = re.sub(r"[^A-Za-z0-9-]", "-", message.watchlist)
    email["Subject"] = clean_header(message.subject)
    email["From"] = clean_header(mail_from, 320)
    email["To"] = clean_header(message.recipient, 320)
    email["Date"] = format_datetime(now)
    email["Message-ID"] = message_id(message.idempotency_key, mail_from)
    email["List-Id"] = f"<{list_id}.monitor>"
    email["X-Monitor-Watchlist"] = list_id
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.body_text)
    email.add_alternative(message.body_html, subtype="html")
    return email


FAULT_STEPS = ("before-outbox-commit", "before-send", "after-smtp-250")


def crash(step: str) -> None:
    """Die at once, as kill -9 or a power cut would: no cleanup, no commit,
    no flush. Only MONITOR_FAULT (tests) gets here."""
    os.write(2, f"MONITOR_FAULT: killed at {step}\n".encode())
    os.kill(os.getpid(), signal.SIGKILL)
    os._exit(137)  # pragma: no cover - SIGKILL does not return


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


def outbox_options(settings: Settings) -> dict[str, Any]:
    """The Outbox fields that come from settings (story threshold, spikes):
    ``Outbox(..., **outbox_options(settings))``."""
    return {
        "story_threshold": settings.story_threshold,
        "spikes": SpikePolicy(
            window=timedelta(hours=settings.spike_window_hours),
            baseline=timedelta(days=settings.spike_baseline_days),
            factor=settings.spike_factor,
            min_mentions=settings.spike_min_mentions,
        ),
    }


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    retrying: int
    failed: int
    outcomes: tuple[tuple[str, str], ...] = ()  # (channel, sent|retrying|failed) per attempt

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
    # How long a message taken for sending is kept from other senders; a
    # process that dies while sending leaves it to be retried after this.
    lease: timedelta = timedelta(minutes=5)
    fault: str | None = None  # MONITOR_FAULT: die at this step (tests)
    story_threshold: float = DEFAULT_THRESHOLD  # MONITOR_STORY_THRESHOLD
    spikes: SpikePolicy = field(default_factory=SpikePolicy)  # MONITOR_SPIKE_*

    def _fault(self, step: str) -> None:
        if self.fault == step:
            crash(step)

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
        figures = self.digest_figures(watchlist, window_start, now)
        base = f"digest:{watchlist.id}:{scheduled_for.isoformat()}"

        def compose(record: DigestRecord, matches: list[StoredMatch]) -> list[OutboxDraft]:
            plan = digest_plan(watchlist, record, matches, feeds)
            rendered = self.renderer.digest(plan, watchlist, figures)
            file_name = f"{watchlist.id}/{digest_file_name(scheduled_for)}"
            drafts = [
                OutboxDraft(f"{base}:file", "digest", watchlist.id, "file", file_name,
                            rendered.subject, rendered.text, rendered.page or rendered.html)
            ]  # fmt: skip
            drafts += self._email_drafts(
                base, "digest", watchlist, watchlist.digest_email, rendered
            )
            return drafts + self._notify_drafts(base, "digest", watchlist, rendered)

        record = DigestRecord(0, watchlist.id, scheduled_for, window_start, now, "queued", 0)
        fault = partial(self._fault, "before-outbox-commit")
        made = self.store.create_digest(record, compose, now, before_commit=fault)
        if made is not None:
            self._fault("before-send")
        return made

    def digest_figures(
        self, watchlist: Watchlist, window_start: datetime, now: datetime
    ) -> DigestFigures:
        """What a digest shows beside its matches, read before the digest's
        transaction (which cannot read on another connection): item texts for
        grouping stories, the previous period's counts, the 14-day trend. A
        match stored in between is still reported, grouped on its snippet."""
        zone = watchlist.schedule.timezone
        start = trend_start(now, zone)
        rules = [(rule, name) for rule, name in watchlist.rule_names.items()]
        # The period before, as long as this one: [start, window_start).
        tick = timedelta(microseconds=1)
        before = (window_start - (now - window_start) - tick, window_start - tick)
        return DigestFigures(
            texts=self.store.match_texts(watchlist.id),
            previous=self.store.rule_counts(watchlist.id, *before),
            trend=daily_trend(self.store.match_buckets(watchlist.id, start, now), rules, now, zone),
            story_threshold=self.story_threshold,
        )

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
        """Batch every not-yet-alerted alert match into one alert per watchlist
        and recipient. In a watchlist's quiet hours its matches stay unqueued,
        so the first cycle after the window queues them all as one alert."""
        pending = self.store.unqueued_alerts()
        by_watchlist: dict[str, list[StoredMatch]] = {}
        queued = 0
        for match in pending:
            by_watchlist.setdefault(match.watchlist, []).append(match)
        for watchlist_id, matches in by_watchlist.items():
            watchlist = watchlists.get(watchlist_id)
            if watchlist is not None and _quiet_until(watchlist, now) > now:
                continue
            ids = [m.id for m in matches]
            drafts: list[OutboxDraft] = []
            if watchlist is not None:  # a deleted watchlist: marked, nothing to send
                rendered = self.renderer.alert(watchlist, matches, now)
                base = f"alert:{watchlist_id}:{min(ids)}-{max(ids)}:{len(ids)}"
                drafts = self._email_drafts(
                    base, "alert", watchlist, watchlist.alert_email, rendered
                ) + self._notify_drafts(base, "alert", watchlist, rendered)
            fault = partial(self._fault, "before-outbox-commit")
            if self.store.queue_alerts(ids, drafts, now, before_commit=fault):
                queued += len(drafts)
                self._fault("before-send")
        return queued

    def queue_spike_alerts(self, watchlists: Mapping[str, Watchlist], now: datetime) -> int:
        """One alert per watchlist whose rules are mentioned far more than
        usual (``spikes``), once per spike: a spike seen again within one window
        of the last time is the same spike, extended, not alerted again.
        Returns how many messages were queued. Meant to run after each poll."""
        queued = 0
        for watchlist in watchlists.values():
            found = self._spikes(watchlist, now)
            if not found:
                continue
            since = now - self.spikes.window
            ongoing = self.store.ongoing_spikes(watchlist.id, since)
            new = [s for s in found if s.rule not in ongoing]
            drafts: list[OutboxDraft] = []
            if new:
                rendered = self.renderer.spike(watchlist, new, now)
                base = f"spike:{watchlist.id}:{','.join(s.rule for s in new)}:{now:%Y%m%dT%H}"
                to = watchlist.alert_email
                drafts = self._email_drafts(base, "alert", watchlist, to, rendered)
                drafts += self._notify_drafts(base, "alert", watchlist, rendered)
            self.store.record_spikes(
                watchlist.id,
                [(s.rule, s.mentions, s.usual) for s in new],
                [s.rule for s in found if s.rule in ongoing],
                drafts, now, since, _quiet_until(watchlist, now),
            )  # fmt: skip
            queued += len(drafts)
        return queued

    def _spikes(self, watchlist: Watchlist, now: datetime) -> list[Spike]:
        policy = self.spikes
        recent = self.store.rule_counts(watchlist.id, now - policy.window, now)
        # An alert rule already sends every match as it comes: a spike alert
        # would repeat the burst the analyst has just been sent.
        recent = {rule: n for rule, n in recent.items() if rule not in watchlist.alert_rules}
        if not recent:
            return []
        start, end = policy.baseline_start(now), now - policy.window
        earlier = self.store.rule_counts(watchlist.id, start, end)
        return find_spikes(recent, earlier, watchlist.rule_names, policy)

    def queue_feed_alert(
        self, watchlists: Iterable[Watchlist], report: FeedReport, now: datetime
    ) -> int:
        """One message to the alert recipients of every watchlist that follows
        a feed, when the feed was paused or is gone: once, not once per tick,
        and not before the watchlist's quiet hours end."""
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
            self.store.queue(drafts, now, not_before=_quiet_until(watchlist, now))
            queued += len(drafts)
        return queued

    # --- delivering ---

    def deliver(
        self, clock: Callable[[], datetime], watchlists: Mapping[str, Watchlist]
    ) -> DeliveryReport:
        """Send every due message, one at a time: take it (a short transaction),
        send it with no transaction open, record the outcome (another one)."""
        sent = retrying = failed = 0
        outcomes: list[tuple[str, str]] = []
        while (message := self.store.claim_message(clock(), self.lease)) is not None:
            now = clock()
            try:
                self._deliver_one(message, now, watchlists)
            except DeliveryError as e:
                attempts = message.attempts + 1
                retry_at = delivery_retry_at(now, attempts, self.max_attempts, e.permanent)
                self.store.mark_failed(message.id, e.message, now, retry_at)
                _log_failure(message, e, attempts, retry_at)
                retrying, failed = retrying + (retry_at is not None), failed + (retry_at is None)
                outcomes.append((message.channel, "retrying" if retry_at else "failed"))
                continue
            if message.channel == "email":
                self._fault("after-smtp-250")
            self.store.mark_sent(message.id, now)
            sent += 1
            outcomes.append((message.channel, "sent"))
        return DeliveryReport(sent, retrying, failed, tuple(outcomes))

    def _deliver_one(
        self, message: OutboxMessage, now: datetime, watchlists: Mapping[str, Watchlist]
    ) -> None:
        if message.channel == "file":
            self._write_file(message, watchlists.get(message.watchlist))
        elif message.channel == "email":
            if self.sender is None:
                raise DeliveryError("MONITOR_SMTP_URL is not set")
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
        self.write_feed(watchlist, files[:FEED_ENTRIES])
        return index

    def write_feed(self, watchlist: Watchlist, files: Sequence[str]) -> Path:
        """digests/<watchlist>/feed.xml: the latest digests as an Atom feed."""
        directory = self.output_dir / watchlist.id
        entries = []
        for name in files:
            path = directory / name
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            entries.append(archive_entry(name, path.read_text(encoding="utf-8"), modified))
        feed = directory / "feed.xml"
        now = entries[0].updated if entries else datetime.fromtimestamp(0, UTC)
        _write_atomically(feed, atom_feed(watchlist.id, watchlist.title, entries, now))
        return feed


def _quiet_until(watchlist: Watchlist, now: datetime) -> datetime:
    """When alerts of a watchlist may go out: ``now``, or the end of its quiet hours."""
    window = watchlist.alert_quiet_hours
    return window.ends_after(now, watchlist.schedule.timezone) if window else now


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
