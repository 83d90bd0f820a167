"""What to send (pure): the outbox drafts of a digest, an alert, a spike alert
or a feed notice, made from the rendered message and the watchlist's
recipients. Each draft's idempotency key names what it reports and to whom,
so queueing it twice is harmless and a resent copy keeps its Message-ID.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from monitor.channels.files import digest_file_name
from monitor.digest import Rendered
from monitor.types import (
    DigestPlan,
    DigestRecord,
    FeedReport,
    FeedStatus,
    OutboxDraft,
    StoredMatch,
)
from monitor.watchlist import Watchlist


def named(watchlist: Watchlist, matches: Sequence[StoredMatch]) -> list[StoredMatch]:
    """The matches with their sources called as the watchlist calls its
    feeds (a feed's ``title:``), where it names them."""
    titles = watchlist.feed_titles

    def renamed(m: StoredMatch) -> StoredMatch:
        pairs = zip(m.sources, m.source_urls, strict=True)
        return replace(m, sources=tuple(titles.get(url, name) for name, url in pairs))

    return [renamed(m) if titles.keys() & set(m.source_urls) else m for m in matches]


def named_feeds(watchlist: Watchlist, feeds: Sequence[FeedStatus]) -> list[FeedStatus]:
    titles = watchlist.feed_titles
    return [replace(f, title=titles[f.url]) if f.url in titles else f for f in feeds]


def digest_plan(
    watchlist: Watchlist,
    record: DigestRecord,
    matches: Sequence[StoredMatch],
    feeds: Sequence[FeedStatus],
) -> DigestPlan:
    matches, feeds = named(watchlist, matches), named_feeds(watchlist, feeds)
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


def digest_drafts(
    watchlist: Watchlist, scheduled_for: datetime, rendered: Rendered, notify: Sequence[str] = ()
) -> list[OutboxDraft]:
    """The digest's page in the archive, its email to each digest recipient
    (queued whether or not mail can be sent yet: it waits in the outbox until
    MONITOR_SMTP_URL is set) and its short form to each ``notify`` target
    (``notify_targets(watchlist, environ, "digest")``).

    A target the watchlist does not list under digest.notify is left out: a
    chat or push service named for alerts is never sent a digest."""
    base = f"digest:{watchlist.id}:{scheduled_for.isoformat()}"
    page = OutboxDraft(
        f"{base}:file", "digest", watchlist.id, "file",
        f"{watchlist.id}/{digest_file_name(scheduled_for)}",
        rendered.subject, rendered.text, rendered.page or rendered.html,
    )  # fmt: skip
    emails = email_drafts(base, "digest", watchlist, watchlist.digest_email, rendered)
    targets = [t for t in notify if t in watchlist.digest_notify]
    short = replace(rendered, text=short_text(rendered))
    return [page, *emails, *notify_drafts(base, "digest", watchlist, short, targets)]


# Lines of the digest's text a notification carries when its template gives
# no short form.
SHORT_LINES = 10


def short_text(rendered: Rendered) -> str:
    """A digest's notification body: its short form (counts, top headlines,
    the link), or else the first lines of its text. The whole digest, tens of
    KB, is cut or refused by chat and push services."""
    if rendered.short.strip():
        return rendered.short.strip()
    lines = rendered.text.strip().splitlines()
    head = "\n".join(lines[:SHORT_LINES]).rstrip()
    rest = sum(1 for line in lines[SHORT_LINES:] if line.strip())
    return f"{head}\n… ({rest} more lines in the digest)" if rest else head


def alert_drafts(
    watchlist: Watchlist, match_ids: Sequence[int], rendered: Rendered, notify: Sequence[str] = ()
) -> list[OutboxDraft]:
    """One alert for a batch of matches, to the alert recipients."""
    base = f"alert:{watchlist.id}:{min(match_ids)}-{max(match_ids)}:{len(match_ids)}"
    return _to_alert_recipients(base, "alert", watchlist, rendered, notify)


def spike_drafts(
    watchlist: Watchlist,
    rules: Sequence[str],
    now: datetime,
    rendered: Rendered,
    notify: Sequence[str] = (),
) -> list[OutboxDraft]:
    """One alert for the rules that spiked now (once per rule and hour)."""
    base = f"spike:{watchlist.id}:{','.join(rules)}:{now:%Y%m%dT%H}"
    return _to_alert_recipients(base, "alert", watchlist, rendered, notify)


def feed_notice_drafts(
    watchlist: Watchlist,
    report: FeedReport,
    now: datetime,
    rendered: Rendered,
    notify: Sequence[str] = (),
) -> list[OutboxDraft]:
    """A notice that a feed was paused or is gone."""
    base = f"feed:{report.url}:{report.stopped}:{now.isoformat()}"
    return _to_alert_recipients(base, "feed", watchlist, rendered, notify)


def _to_alert_recipients(
    base: str, kind: str, watchlist: Watchlist, rendered: Rendered, notify: Sequence[str]
) -> list[OutboxDraft]:
    """To alerts.email and the ``notify`` targets listed under alerts.notify
    (a digest.notify target is sent the digests' summaries, not alerts)."""
    emails = email_drafts(base, kind, watchlist, watchlist.alert_email, rendered)
    targets = [t for t in notify if t in watchlist.alert_notify]
    return emails + notify_drafts(base, kind, watchlist, rendered, targets)


def email_drafts(
    base: str,
    kind: str,
    watchlist: Watchlist,
    recipients: Sequence[str],
    rendered: Rendered,
) -> list[OutboxDraft]:
    subject, text, html = rendered.subject, rendered.text, rendered.html
    return [
        OutboxDraft(f"{base}:email:{to}", kind, watchlist.id, "email", to, subject, text, html)
        for to in recipients
    ]


def notify_drafts(
    base: str, kind: str, watchlist: Watchlist, rendered: Rendered, targets: Sequence[str]
) -> list[OutboxDraft]:
    return [
        OutboxDraft(
            f"{base}:notify:{target}", kind, watchlist.id, "notify", target,
            rendered.subject, rendered.text, "",
        )
        for target in targets
    ]  # fmt: skip


def quiet_until(watchlist: Watchlist, now: datetime) -> datetime:
    """When alerts of a watchlist may go out: ``now``, or the end of its quiet hours."""
    window = watchlist.alert_quiet_hours
    return window.ends_after(now, watchlist.schedule.timezone) if window else now
