"""What the CLI commands do, as functions returning values and lines to print.

The commands that only read (status, matches, test --stored) open the
database with ``reading``: nothing is created or migrated, and no service is
built. The others work through a ``Worker`` (monitor.app).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.config import Settings
from monitor.errors import MonitorError
from monitor.schedule import parse_when
from monitor.store import Store, sqlite_path
from monitor.targets import unset_notes
from monitor.watchlist import Watchlist, load_all, load_file

if TYPE_CHECKING:  # imported where used: `monitor status` loads neither
    from monitor.app import Worker
    from monitor.digest import Rendered
    from monitor.matcher import Explanation
    from monitor.types import Fetched


class NoDatabase(MonitorError):
    """Nothing has been stored yet: no database file, or no schema in it."""


@contextmanager
def reading(settings: Settings) -> Iterator[Store]:
    """The database as it is, for commands that only read: NoDatabase when
    there is none yet, SchemaError when its schema is not this version's."""
    from monitor.migrations import require_head
    from monitor.migrations.revision import EmptySchema

    path = sqlite_path(settings.database_url)
    if path is not None and not path.is_file():
        raise NoDatabase(f"no database at {path} yet: `monitor run` or `monitor poll` creates it")
    store = Store(settings.database_url, create_directory=False)
    try:
        try:
            require_head(store.engine)
        except EmptySchema as e:
            raise NoDatabase(e.message) from None
        yield store
    finally:
        store.close()


def since_time(text: str, now: datetime) -> datetime:
    try:
        return parse_when(text, now)
    except ValueError as e:
        raise MonitorError(str(e)) from e


# --- init ------------------------------------------------------------------------


def init_folder(directory: Path) -> Iterator[str]:
    """watchlists/ with the seed watchlist in ``directory``; nothing is overwritten."""
    import shutil

    from monitor.resources import SEED, seed_watchlists

    folder = directory / "watchlists"
    target = folder / SEED
    if target.exists():
        raise MonitorError(f"{target} exists already: nothing written")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(seed_watchlists() / SEED, target)
    except OSError as e:
        raise MonitorError(f"cannot write {target}: {e.strerror}") from e
    yield f"wrote {target}: a worked example (North Korean forces in Russia's war)"
    yield f"next: edit it, check it with `monitor validate {folder}`, then run `monitor run`"
    yield "(from another folder, set MONITOR_WATCHLISTS to this one)"


# --- validate and health --------------------------------------------------------


def validate(paths: Sequence[Path], config: Settings) -> tuple[list[str], bool]:
    from monitor.digest import Renderer

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
    notes = [f"warning: {n}" for n in unset_notes(result.watchlists, os.environ)]
    from monitor.text import counted

    return [
        *notes,
        f"ok: {counted(len(result.watchlists), 'watchlist')}, {counted(rules, 'rule')}",
    ], True


def find_watchlist(config: Settings, name: str) -> Watchlist:
    """A watchlist by id (from MONITOR_WATCHLISTS) or by file path."""
    path = Path(name)
    if not path.suffix:
        path = config.watchlists / f"{name}.yaml"
    if not path.exists():
        raise MonitorError(f"no watchlist {name!r} (looked for {path})")
    return load_file(path, config.timezone)


def health(config: Settings, now: datetime) -> str:
    """``monitor run --check``, the container's health check: a line saying
    all is well, or MonitorError with a one-line reason. Well means the
    database answers, at least one watchlist loads, and a ``monitor run`` on
    this host beat lately (it writes a heartbeat every
    MONITOR_HEARTBEAT_SECONDS: one that stopped, hangs or cannot write, as
    with a read-only database or a full disk, falls silent). A broken edit of
    one file does not make a worker unhealthy (the service keeps that file's
    last good version, and ``monitor validate`` names the problem)."""
    from monitor.migrations import require_head

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
    try:
        store = Store(config.database_url, create_directory=False)
        try:
            require_head(store.engine)
            beat = store.heartbeats.latest()
        finally:
            store.close()
    except MonitorError as e:
        raise MonitorError(f"unhealthy: {e.message}") from e
    window = timedelta(seconds=4 * config.heartbeat_seconds)
    if beat is None or now - beat > window:
        since = "never" if beat is None else f"not since {beat:%Y-%m-%d %H:%M:%S} UTC"
        raise MonitorError(
            f"unhealthy: the database answers, but no `monitor run` on this host beat in the "
            f"last {window.total_seconds():g} s ({since}): it stopped, hangs or cannot write"
        )
    broken = len({d.path for d in result.problems})
    note = f" ({broken} broken, see `monitor validate`)" if broken else ""
    count = len(result.watchlists)
    loads = "1 watchlist loads" if count == 1 else f"{count} watchlists load"
    return f"ok: the database answers, the service beats, {loads}{note}"


# --- digest -----------------------------------------------------------------


def digest(
    worker: Worker, name: str | None, since: str | None, dry_run: bool, to: str | None = None
) -> Iterator[str]:
    """``monitor digest``: make and record each digest now, or (``since``,
    ``dry_run``, ``to``) a preview that records nothing."""
    from monitor.channels.files import digest_file_name
    from monitor.watchlistspec import is_email_address

    if to is not None and not is_email_address(to):
        raise MonitorError(f"--to {to!r} is not an email address")
    if to is not None and worker.deliverer.sender is None:
        raise MonitorError(
            "MONITOR_SMTP_URL is not set, so a preview cannot be mailed: `--dry-run` prints it"
        )

    watchlists = (
        [find_watchlist(worker.settings, name)] if name else list(worker.watchlists.by_id.values())
    )
    if not watchlists:
        raise MonitorError(f"no watchlists in {worker.settings.watchlists}")
    for watchlist in watchlists:
        if since is not None or dry_run or to is not None:
            yield from _preview(worker, watchlist, since, dry_run, to)
            continue
        result = worker.digest_now(watchlist)
        if result.record is None:
            yield f"{watchlist.id}: a digest for this moment exists already"
            continue
        slot = result.record.scheduled_for
        path = worker.settings.output_dir / watchlist.id / digest_file_name(slot)
        yield f"{watchlist.id}: {result.record.match_count} matches -> {path}"


def _preview(
    worker: Worker, watchlist: Watchlist, since: str | None, dry_run: bool, to: str | None
) -> Iterator[str]:
    """A digest that is rendered but not recorded, so the matches in it stay
    for the next real one: printed (--dry-run), mailed to one address (--to)
    or written apart (--since)."""
    from monitor.channels.files import digest_file_name
    from monitor.types import DigestRecord

    now = worker.clock()
    if since is not None:
        start = since_time(since, now)
        found = worker.store.matches.between(watchlist.id, start, now)
    else:
        start = worker.digests.window_start(watchlist, now)
        found = worker.store.matches.unreported(watchlist.id)
    record = DigestRecord(0, watchlist.id, now, start, now, "preview", len(found))
    rendered = worker.digests.render(watchlist, record, found, now)
    if dry_run:
        yield f"Subject: {rendered.subject}\n\n{rendered.text}"
        return
    if to is not None:
        _mail_preview(worker, watchlist, rendered, to, now)
        yield (
            f"{watchlist.id}: a preview of {len(found)} matches since {start:%Y-%m-%d %H:%M} UTC "
            f"sent to {to}; nothing recorded: the next digest still holds them"
        )
        return
    path = worker.settings.output_dir / watchlist.id / f"since-{digest_file_name(now)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(rendered.html, encoding="utf-8")
    yield f"{watchlist.id}: {len(found)} matches since {start:%Y-%m-%d %H:%M} UTC -> {path}"


def _mail_preview(
    worker: Worker, watchlist: Watchlist, rendered: Rendered, to: str, now: datetime
) -> None:
    """Sent now, not through the outbox: the person who asked waits for the
    answer, and a preview that fails is not worth retrying later."""
    from monitor.channels.smtp import build_email
    from monitor.errors import DeliveryError
    from monitor.types import OutboxMessage

    sender = worker.deliverer.sender
    assert sender is not None  # checked by digest()
    message = OutboxMessage(
        0, "preview", watchlist.id, "email", to, f"[preview] {rendered.subject}",
        rendered.text, rendered.html, f"preview:{watchlist.id}:{now.isoformat()}", 0,
    )  # fmt: skip
    try:
        sender.send(build_email(message, worker.settings.mail_from, now), to)
    except DeliveryError as e:
        raise MonitorError(f"the preview was not sent to {to}: {e.message}") from e


# --- test (explain) -----------------------------------------------------------


@dataclass(frozen=True)
class Document:
    label: str
    title: str
    text: str


@dataclass(frozen=True)
class ExplainResult:
    items: tuple[tuple[Document, tuple[Explanation, ...]], ...]
    # Per document: the about-topics' similarity notes, by topic id.
    about: tuple[dict[str, str], ...] = ()

    def notes(self, index: int) -> dict[str, str]:
        return self.about[index] if index < len(self.about) else {}

    def lines(self) -> Iterator[str]:
        from monitor.explain import explanation_lines

        for index, (document, explanations) in enumerate(self.items):
            yield f"== {document.label}: {document.title[:100]}"
            if not explanations:
                yield "   no rule has any hit"
            for explanation in explanations:
                yield from explanation_lines(explanation, self.notes(index))
            yield ""
        hits = sum(1 for _, ex in self.items for e in ex if e.matched)
        yield f"{len(self.items)} documents, {hits} rule hits"

    def as_json(self) -> list[dict[str, Any]]:
        from monitor.explain import explanation_json

        return [
            {
                "label": d.label,
                "title": d.title,
                "rules": [explanation_json(e, self.notes(index)) for e in ex],
            }
            for index, (d, ex) in enumerate(self.items)
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
    outcome = fetch_one(config, url)
    return _documents_from_bytes(url, outcome.body, outcome.content_type)


def fetch_one(config: Settings, url: str) -> Fetched:
    """``url`` fetched once, through the service's guard and limits; a
    failure is a MonitorError in words."""
    from monitor.app import fetch_policy
    from monitor.clock import utc_now
    from monitor.fetch import Fetcher
    from monitor.types import FeedFailure, Fetched

    fetcher = Fetcher(fetch_policy(config))
    try:
        outcome = fetcher.fetch(url, utc_now())
    finally:
        fetcher.close()
    if isinstance(outcome, FeedFailure):
        raise MonitorError(f"cannot fetch {url}: {outcome.message}")
    assert isinstance(outcome, Fetched)  # no validators sent: no 304
    return outcome


def _documents_from_bytes(label: str, body: bytes, content_type: str) -> list[Document]:
    from monitor.parse import parse_feed
    from monitor.text import html_to_text
    from monitor.types import FeedFailure, Fetched

    parsed = parse_feed(Fetched(label, label, body, content_type, None, None, ""))
    if not isinstance(parsed, FeedFailure) and parsed.entries:
        return [Document(e.url or e.key, e.title, e.text) for e in parsed.entries]
    text = body.decode("utf-8", errors="replace")
    return [Document(label, "", html_to_text(text, lines=True) if "<" in text else text)]


def explain(
    config: Settings, name: str, documents: Sequence[Document], all_rules: bool
) -> ExplainResult:
    from monitor.matcher import Matcher

    matcher = Matcher([find_watchlist(config, name)])
    explained = tuple(
        (d, tuple(matcher.explain(d.title, d.text, all_rules=all_rules))) for d in documents
    )
    if not matcher.about_topics:
        return ExplainResult(explained)
    from monitor.explain import about_notes
    from monitor.meaning import SentenceEncoder  # the model loads only for about-topics

    documents_explained = [((d.title, d.text), ex) for d, ex in explained]
    notes = about_notes(matcher, documents_explained, SentenceEncoder())
    return ExplainResult(explained, notes)


@dataclass(frozen=True)
class DryRun:
    """What a watchlist file would match in the stored items against what is
    stored for it now: (rule, title) gained and lost."""

    watchlist: str
    since: datetime
    matches: int  # with this file
    stored: int
    gained: tuple[tuple[str, str], ...]
    lost: tuple[tuple[str, str], ...]

    def lines(self) -> Iterator[str]:
        yield from (f"+ {rule}: {title}" for rule, title in self.gained)
        yield from (f"- {rule}: {title}" for rule, title in self.lost)
        yield (
            f"{self.watchlist} since {self.since:%Y-%m-%d %H:%M} UTC: {self.matches} matches "
            f"with this file, {self.stored} stored; {len(self.gained)} would start matching, "
            f"{len(self.lost)} would stop"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "watchlist": self.watchlist,
            "since": self.since.isoformat(),
            "matches": self.matches,
            "stored": self.stored,
            "gained": [{"rule": r, "title": t} for r, t in self.gained],
            "lost": [{"rule": r, "title": t} for r, t in self.lost],
        }


def stored_dry_run(store: Store, watchlist: Watchlist, start: datetime) -> DryRun:
    """What a (changed) watchlist file would match in the stored items, against
    what is stored for it now: a dry run before an edit goes live."""
    from monitor.matcher import Matcher

    matcher = Matcher([watchlist])
    before = store.matches.rules_of_items(watchlist.id, start)
    after: set[tuple[int, str]] = set()
    titles: dict[int, str] = {}
    matched_before = {item_id for item_id, _ in before}
    for item in store.items.since(start):
        found = matcher.match(item.title, item.text)
        after.update((item.id, match.rule) for match in found)
        if found or item.id in matched_before:
            titles[item.id] = item.title

    def named(pairs: set[tuple[int, str]]) -> tuple[tuple[str, str], ...]:
        return tuple((rule, titles.get(item, str(item))) for item, rule in sorted(pairs))

    return DryRun(
        watchlist.id, start, len(after), len(before), named(after - before), named(before - after)
    )
