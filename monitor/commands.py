"""What the CLI commands do, as functions returning values and lines to print."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from monitor.config import Settings
from monitor.deliver import digest_file_name, digest_plan
from monitor.digest import Renderer
from monitor.errors import MonitorError
from monitor.explain import explanation_json, explanation_lines
from monitor.fetch import Fetcher, FetchPolicy
from monitor.matcher import Explanation, Matcher
from monitor.parse import parse_feed
from monitor.schedule import parse_when
from monitor.service import Worker, sqlite_path, utc_now
from monitor.store import DigestRecord, Store
from monitor.text import html_to_text
from monitor.types import FeedFailure, Fetched
from monitor.watchlist import Watchlist, load_all, load_file

# --- validate ---------------------------------------------------------------


def validate(paths: Sequence[Path], config: Settings) -> tuple[list[str], bool]:
    missing = [p for p in paths if not p.exists()]
    if missing:
        return [f"{p}: no such file or directory" for p in missing], False
    result = load_all(list(paths), config.timezone)
    template_problems = Renderer(config.templates_dir).check()
    lines = [str(d) for d in result.problems] + [f"template {t}" for t in template_problems]
    if lines:
        return lines, False
    if not result.watchlists:
        return [f"no watchlist files (*.yaml) in {', '.join(map(str, paths))}"], False
    rules = sum(len(w.entities) + len(w.topics) for w in result.watchlists)
    return [f"ok: {len(result.watchlists)} watchlists, {rules} rules"], True


def find_watchlist(worker_or_config: Settings, name: str) -> Watchlist:
    """A watchlist by id (from MONITOR_WATCHLISTS) or by file path."""
    path = Path(name)
    if not path.suffix:
        path = worker_or_config.watchlists / f"{name}.yaml"
    if not path.exists():
        raise MonitorError(f"no watchlist {name!r} (looked for {path})")
    return load_file(path, worker_or_config.timezone)


# --- health check -------------------------------------------------------------


def health(config: Settings) -> str:
    """``monitor run --check``, the container's health check: a line saying
    all is well, or MonitorError with a one-line reason. Well means the
    database answers and at least one watchlist loads; a broken edit of one
    file does not make a worker unhealthy (the service keeps that file's last
    good version, and ``monitor validate`` names the problem)."""
    if not config.watchlists.is_dir():
        raise MonitorError(f"unhealthy: no watchlist directory {config.watchlists}")
    result = load_all([config.watchlists], config.timezone)
    if not result.watchlists:
        reason = (
            str(result.problems[0])
            if result.problems
            else f"no watchlist files (*.yaml) in {config.watchlists}"
        )
        raise MonitorError(f"unhealthy: no watchlist loads: {reason}")
    path = sqlite_path(config.database_url)
    if path is not None and not path.exists():  # do not create it: `monitor run` does
        raise MonitorError(f"unhealthy: no database at {path}")
    store = Store(config.database_url)
    try:
        store.ping()
    except SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise MonitorError(f"unhealthy: the database does not answer: {reason}") from e
    finally:
        store.close()
    broken = len({d.path for d in result.problems})
    note = f" ({broken} broken, see `monitor validate`)" if broken else ""
    count = len(result.watchlists)
    loads = "1 watchlist loads" if count == 1 else f"{count} watchlists load"
    return f"ok: the database answers, {loads}{note}"


# --- digest -----------------------------------------------------------------


def digest(worker: Worker, name: str | None, since: str | None, dry_run: bool) -> Iterator[str]:
    watchlists = (
        [find_watchlist(worker.settings, name)] if name else list(worker.watchlists.by_id.values())
    )
    if not watchlists:
        raise MonitorError(f"no watchlists in {worker.settings.watchlists}")
    for watchlist in watchlists:
        if since is not None or dry_run:
            yield from _preview(worker, watchlist, since, dry_run)
            continue
        result = worker.digest_now(watchlist)
        if result.record is None:
            yield f"{watchlist.id}: a digest for this moment exists already"
            continue
        path = (
            worker.settings.output_dir
            / watchlist.id
            / digest_file_name(result.record.scheduled_for)
        )
        yield f"{watchlist.id}: {result.record.match_count} matches -> {path}"


def _preview(
    worker: Worker, watchlist: Watchlist, since: str | None, dry_run: bool
) -> Iterator[str]:
    """A digest that is rendered but not recorded: --since and --dry-run."""
    now = worker.clock()
    if since is not None:
        try:
            start = parse_when(since, now)
        except ValueError as e:
            raise MonitorError(str(e)) from e
        found = worker.store.matches_between(watchlist.id, start, now)
    else:
        previous = worker.store.last_digest(watchlist.id)
        start = (
            previous.window_end if previous else worker.store.watchlist_anchor(watchlist.id, now)
        )
        found = worker.store.unreported_matches(watchlist.id)
    record = DigestRecord(0, watchlist.id, now, start, now, "preview", len(found))
    plan = digest_plan(watchlist, record, found, worker.store.feed_statuses())
    figures = worker.outbox.digest_figures(watchlist, start, now)
    rendered = worker.outbox.renderer.digest(plan, watchlist, figures)
    if dry_run:
        yield f"Subject: {rendered.subject}\n\n{rendered.text}"
        return
    path = worker.settings.output_dir / watchlist.id / f"since-{digest_file_name(now)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(rendered.html, encoding="utf-8")
    yield f"{watchlist.id}: {len(found)} matches since {start:%Y-%m-%d %H:%M} UTC -> {path}"


# --- test (explain) -----------------------------------------------------------


@dataclass(frozen=True)
class Document:
    label: str
    title: str
    text: str


@dataclass(frozen=True)
class ExplainResult:
    items: tuple[tuple[Document, tuple[Explanation, ...]], ...]

    def lines(self) -> Iterator[str]:
        for document, explanations in self.items:
            yield f"== {document.label}: {document.title[:100]}"
            if not explanations:
                yield "   no rule has any hit"
            for explanation in explanations:
                yield from explanation_lines(explanation)
            yield ""
        hits = sum(1 for _, ex in self.items for e in ex if e.matched)
        yield f"{len(self.items)} documents, {hits} rule hits"

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {
                "label": d.label,
                "title": d.title,
                "rules": [explanation_json(e) for e in ex],
            }
            for d, ex in self.items
        ]


def documents_to_test(
    config: Settings, text: str | None, title: str, file: Path | None, url: str | None
) -> list[Document]:
    if text is not None:
        return [Document("text", title, text)]
    if file is not None:
        try:
            body = file.read_bytes()
        except OSError as e:
            raise MonitorError(f"cannot read {file}: {e.strerror}") from e
        return _documents_from_bytes(str(file), body, "")
    assert url is not None
    policy = FetchPolicy(
        config.fetch_timeout, config.max_body_bytes, config.user_agent, config.allowed_hosts
    )
    fetcher = Fetcher(policy)
    try:
        outcome = fetcher.fetch(url, utc_now())
    finally:
        fetcher.close()
    if isinstance(outcome, FeedFailure):
        raise MonitorError(f"{url}: {outcome.reason}: {outcome.message}")
    assert isinstance(outcome, Fetched)
    return _documents_from_bytes(url, outcome.body, outcome.content_type)


def _documents_from_bytes(label: str, body: bytes, content_type: str) -> list[Document]:
    fetched = Fetched(label, label, body, content_type, None, None, "")
    parsed = parse_feed(fetched)
    if not isinstance(parsed, FeedFailure) and parsed.entries:
        return [Document(e.url or e.key, e.title, e.text) for e in parsed.entries]
    text = body.decode("utf-8", errors="replace")
    return [Document(label, "", html_to_text(text) if "<" in text else text)]


def explain(
    config: Settings, name: str, documents: Sequence[Document], all_rules: bool
) -> ExplainResult:
    matcher = Matcher([find_watchlist(config, name)])
    return ExplainResult(
        tuple((d, tuple(matcher.explain(d.title, d.text, all_rules=all_rules))) for d in documents)
    )


def stored_dry_run(worker: Worker, name: str, since: str) -> Iterator[str]:
    """What a (changed) watchlist file would match in the stored items, against
    what is stored for it now: a dry run before an edit goes live."""
    watchlist = find_watchlist(worker.settings, name)
    try:
        start = parse_when(since, worker.clock())
    except ValueError as e:
        raise MonitorError(str(e)) from e
    matcher = Matcher([watchlist])
    before = worker.store.matched_rules(watchlist.id, start)
    after: set[tuple[int, str]] = set()
    titles: dict[int, str] = {}
    matched_before = {item_id for item_id, _ in before}
    for item in worker.store.items_since(start):
        found = matcher.match(item.title, item.text)
        after.update((item.id, match.rule) for match in found)
        if found or item.id in matched_before:
            titles[item.id] = item.title
    gained, lost = sorted(after - before), sorted(before - after)
    for item_id, rule in gained:
        yield f"+ {rule}: {titles.get(item_id, item_id)}"
    for item_id, rule in lost:
        yield f"- {rule}: {titles.get(item_id, item_id)}"
    yield (
        f"{watchlist.id} since {start:%Y-%m-%d %H:%M} UTC: {len(after)} matches with this file, "
        f"{len(before)} stored; {len(gained)} would start matching, {len(lost)} would stop"
    )


# --- status and matches -----------------------------------------------------


def status(worker: Worker) -> dict[str, Any]:
    now = worker.clock()
    feeds = [f.__dict__ for f in worker.store.feed_statuses() if f.url in worker.watchlists.feeds]
    digests = []
    for watchlist in worker.watchlists.by_id.values():
        last = worker.store.last_digest(watchlist.id)
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
                "unreported_matches": len(worker.store.unreported_matches(watchlist.id)),
            }
        )
    return {
        "now": now,
        "feeds": feeds,
        "digests": digests,
        "counts": worker.store.counts(),
        "outbox": worker.store.outbox_counts(),
        "failed_messages": [
            {"kind": m.kind, "channel": m.channel, "recipient": m.recipient, "error": error}
            for m, error in worker.store.failed_messages()
        ],
        "watchlist_problems": [str(p) for p in worker.watchlists.problems],
    }


def status_lines(report: dict[str, Any]) -> Iterator[str]:
    yield "Feeds:"
    for f in report["feeds"]:
        health = (
            "ok"
            if not f["consecutive_errors"]
            else f"FAILING x{f['consecutive_errors']} ({f['last_error_reason']})"
        )
        yield f"  {f['url']}"
        polls = f"last poll {_when(f['last_polled_at'])}; next {_when(f['next_poll_at'])}"
        yield f"      {health}; {f['items']} items; {polls}"
        if f["last_error"]:
            yield f"      last error: {f['last_error']}"
    if not report["feeds"]:
        yield "  (none)"
    yield "Digests:"
    for d in report["digests"]:
        yield (
            f"  {d['watchlist']}: last {_when(d['last_digest'])} ({d['last_status'] or '-'}); "
            f"next {d['next_digest']:%Y-%m-%d %H:%M %Z} ({d['timezone']}); "
            f"{d['unreported_matches']} matches waiting"
        )
    counts = report["counts"]
    yield "Counts: " + ", ".join(f"{v} {k}" for k, v in counts.items())
    if report["outbox"]:
        yield "Outbox: " + ", ".join(f"{v} {k}" for k, v in sorted(report["outbox"].items()))
    for m in report["failed_messages"]:
        yield f"  failed: {m['kind']} {m['channel']} to {m['recipient']}: {m['error']}"
    for problem in report["watchlist_problems"]:
        yield f"Watchlist problem: {problem}"


def _when(moment: Any) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def matches(worker: Worker, watchlist: str | None, since: str) -> list[dict[str, Any]]:
    now = worker.clock()
    try:
        start = parse_when(since, now)
    except ValueError as e:
        raise MonitorError(str(e)) from e
    names = [watchlist] if watchlist else sorted(worker.watchlists.by_id)
    rows = []
    for name in names:
        for m in worker.store.matches_between(name, start, now):
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
