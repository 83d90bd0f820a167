"""`monitor status` and `monitor matches`: what the store and the
watchlists say, as values and as the lines printed. Both only read: they
open the database without building the service or migrating."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.redact import redact_url
from monitor.store import Store
from monitor.targets import unset_notes
from monitor.watchlist import LoadResult


def status(
    store: Store | None, loaded: LoadResult, now: datetime, mail: bool = True
) -> dict[str, Any]:
    """Feeds, digests and counts; with no database yet (``store`` None), what
    the watchlists set up, none of it polled."""
    kinds = {url: kind for w in loaded.watchlists for url, kind in w.source_kinds.items()}
    known = store.feeds.statuses() if store is not None else []
    feeds = [f.__dict__ for f in known if f.url in kinds]
    feeds += [_never_polled(url) for url in kinds if url not in {f.url for f in known}]
    articles = store.articles.states() if store is not None else {}
    feeds = [{**f, "kind": kinds[f["url"]], "articles": articles.get(f["url"], {})} for f in feeds]
    digests = []
    for watchlist in loaded.watchlists:
        last = store.digests.last(watchlist.id) if store is not None else None
        upcoming = watchlist.schedule.next_after(now)
        if upcoming is not None:  # shown in the watchlist's zone, as the analyst reads it
            upcoming = upcoming.astimezone(watchlist.schedule.zone)
        digests.append(
            {
                "watchlist": watchlist.id,
                "schedule": watchlist.schedule.expression,
                "timezone": watchlist.schedule.timezone,
                "last_digest": last.scheduled_for if last else None,
                "last_status": last.status if last else None,
                "next_digest": upcoming,
                "unreported_matches": (
                    store.matches.count_unreported(watchlist.id) if store is not None else 0
                ),
            }
        )
    return {
        "now": now,
        "database": "ok" if store is not None else "none yet",
        "feeds": feeds,
        "digests": digests,
        "counts": store.counts() if store is not None else {},
        "outbox": store.outbox.counts() if store is not None else {},
        # Without MONITOR_SMTP_URL, mail waits in the outbox for it.
        "mail_waiting_for_smtp": (
            store.outbox.pending_on("email") if store is not None and not mail else 0
        ),
        "failed_messages": [
            {"kind": m.kind, "channel": m.channel, "recipient": m.recipient, "error": error}
            for m, error in (store.outbox.failed() if store is not None else [])
        ],
        "watchlist_problems": [str(p) for p in loaded.problems],
        "watchlist_notes": unset_notes(loaded.watchlists, os.environ),
    }


def _never_polled(url: str) -> dict[str, Any]:
    from monitor.types import FeedStatus

    return FeedStatus(url, None, None, None, None, 0, None, None, 0).__dict__


# How `monitor status` heads each kind of source, in its order.
_KIND_HEADINGS = {"feed": "Feeds:", "Telegram channel": "Telegram channels:", "page": "Pages:"}


def status_lines(report: dict[str, Any]) -> Iterator[str]:
    by_heading: dict[str, list[dict[str, Any]]] = {}
    for f in report["feeds"]:
        heading = _KIND_HEADINGS[f.get("kind", "feed").split(",")[0]]
        by_heading.setdefault(heading, []).append(f)
    for heading in sorted(by_heading, key=list(_KIND_HEADINGS.values()).index):
        yield heading
        for f in by_heading[heading]:
            yield from _feed_lines(f)
    if not by_heading:
        yield "Feeds:"
        yield "  (none)"
    yield "Digests:"
    for d in report["digests"]:
        yield (
            f"  {d['watchlist']}: last {_when(d['last_digest'])} ({d['last_status'] or '-'}); "
            f"next {d['next_digest']:%Y-%m-%d %H:%M %Z} ({d['timezone']}); "
            f"{d['unreported_matches']} matches waiting"
        )
    yield from _store_lines(report)
    yield from (f"Watchlist problem: {p}" for p in report["watchlist_problems"])
    yield from (f"Watchlist note: {n}" for n in report["watchlist_notes"])


def _feed_lines(f: dict[str, Any]) -> Iterator[str]:
    health = (
        "ok"
        if not f["consecutive_errors"]
        else f"FAILING x{f['consecutive_errors']} ({f['last_error_reason']})"
    )
    full_text = " (full text)" if f.get("kind", "").endswith("full text") else ""
    yield f"  {redact_url(f['url'])}{full_text}"
    polls = f"last poll {_when(f['last_polled_at'])}; next {_when(f['next_poll_at'])}"
    yield f"      {health}; {f['items']} items; {polls}"
    if f["last_error"]:
        yield f"      last error: {f['last_error']}"
    if articles := f.get("articles"):
        yield "      articles: " + ", ".join(
            f"{articles[state]} {words}"
            for state, words in (("done", "read"), ("wanted", "to read"), ("failed", "failed"))
            if state in articles
        )


def _store_lines(report: dict[str, Any]) -> Iterator[str]:
    if report["database"] != "ok":
        yield "Counts: nothing stored yet (no database: `monitor run` or `monitor poll` makes it)"
    else:
        yield "Counts: " + ", ".join(f"{v} {k}" for k, v in report["counts"].items())
    if report["outbox"]:
        yield "Outbox: " + ", ".join(f"{v} {k}" for k, v in sorted(report["outbox"].items()))
    if waiting := report["mail_waiting_for_smtp"]:
        yield (
            f"Mail: {waiting} messages wait for MONITOR_SMTP_URL; they go out once it is set "
            "(`monitor retry` or the running service sends them)"
        )
    for m in report["failed_messages"]:
        yield f"  failed: {m['kind']} {m['channel']} to {m['recipient']}: {m['error']}"


def _when(moment: Any) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def matches(
    store: Store, names: Sequence[str], start: datetime, now: datetime
) -> list[dict[str, Any]]:
    rows = []
    for name in names:
        for m in store.matches.between(name, start, now):
            rows.append(
                {
                    "watchlist": m.watchlist,
                    "rule": m.rule,
                    "kind": m.kind,
                    "title": m.item_title,
                    "url": m.item_url,
                    "terms": list(m.terms),
                    "fields": list(m.fields),
                    "snippet": m.snippet.text,
                    "sources": list(m.sources),
                    "first_seen_at": m.first_seen_at,
                }
            )
    return rows
