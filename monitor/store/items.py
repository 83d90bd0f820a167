"""Items: storing a changed feed's entries and their matches with the feed's
new values, in one transaction; retention; reading items back."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, update
from sqlalchemy import select as core_select
from sqlmodel import col, select

from monitor.freshness import sane_published
from monitor.identity import link_key
from monitor.store.db import MAX_KEY_CHARS, Database, chunks, core, stored_key
from monitor.store.feeds import Feeds
from monitor.store.tables import FeedRow, ItemRow, ItemSourceRow, MatchRow, PrunedKeyRow
from monitor.types import ArticleWanted, Entry, FeedChange, NewMatch, StoredItem


@dataclass(frozen=True)
class Saved:
    """What storing one changed feed added."""

    new_items: int
    new_matches: int
    by_watchlist: tuple[tuple[str, int], ...] = ()  # new matches per watchlist
    articles: tuple[ArticleWanted, ...] = ()  # new items whose article is to be read
    edited: int = 0  # items whose source changed their text (an edited post)


class Items:
    def __init__(self, db: Database, feeds: Feeds) -> None:
        self.db = db
        self.feeds = feeds

    def save(
        self,
        change: FeedChange,
        entries: Sequence[Entry],
        matches: Sequence[NewMatch],
        now: datetime,
        full_text: bool = False,
        edits: bool = False,
        backfill: frozenset[str] = frozenset(),
    ) -> Saved:
        """Store one changed feed in one transaction: new items, the links from
        the feed to all its items, the matches of the items this call created,
        and the feed's new values (its lease released). With ``full_text`` the
        new items' articles are wanted (those keyed in ``backfill`` as old
        news); with ``edits`` an item of this feed whose text changed takes
        the new text and the matches it gained."""
        if any(len(e.key) > MAX_KEY_CHARS for e in entries):
            entries = [replace(e, key=stored_key(e.key)) for e in entries]
            matches = [replace(m, item_key=stored_key(m.item_key)) for m in matches]
            backfill = frozenset(stored_key(k) for k in backfill)
        with self.db.connection() as c:
            feed_id = self._feed_id(c, change.url)
            keys = [e.key for e in entries]
            known, old_news = _item_ids(c, keys), _pruned(c, keys)
            known |= _rekeyed(c, [e for e in entries if e.key not in known], feed_id)
            old_news |= _old_news_by_legacy_key(c, entries)
            entries = [e for e in entries if e.key not in old_news]
            # Another feed's item with the same canonical link is this item too.
            known |= _carried_elsewhere(c, [e for e in entries if e.key not in known], feed_id)
            created: dict[str, int] = {}
            if fresh := [e for e in entries if e.key not in known]:
                # RETURNING yields only the rows this statement inserted: an
                # item another feed or worker stored first is linked, not re-matched.
                item = core(ItemRow).c
                inserted = c.execute(
                    self.db.insert_ignoring_duplicates(ItemRow).returning(item.key, item.id),
                    [_item_values(e, now, full_text, e.key in backfill) for e in fresh],
                )
                created = {key: item_id for key, item_id in inserted}
            ids = {**known, **created}
            if missing := [e.key for e in entries if e.key not in ids]:
                ids.update(_item_ids(c, missing))  # stored concurrently by another worker
            self._link_sources(c, feed_id, ids.values(), now)
            published = {e.key: e.published_at for e in entries}
            edited = _edited(c, entries, known) if edits else {}
            stored = self._insert_matches(c, {**created, **edited}, matches, published, now)
            self.feeds.apply(c, [change])
        articles = tuple(
            ArticleWanted(created[e.key], e, e.key in backfill)
            for e in entries
            if full_text and e.key in created and e.url
        )
        return Saved(len(created), len(stored), per_watchlist(stored), articles, len(edited))

    def _feed_id(self, c: Connection, url: str) -> int:
        feed = core(FeedRow).c
        found = c.execute(select(feed.id).where(feed.url == url)).scalar()
        if found is None:  # a feed polled by name that no watchlist follows yet
            defaults = FeedRow(url="").model_dump(exclude={"id", "url"})
            c.execute(self.db.insert_ignoring_duplicates(FeedRow), [{**defaults, "url": url}])
            found = c.execute(select(feed.id).where(feed.url == url)).scalar_one()
        return int(found)

    def _link_sources(
        self, c: Connection, feed_id: int, item_ids: Iterable[int], now: datetime
    ) -> None:
        values = [{"item_id": i, "feed_id": feed_id, "first_seen_at": now} for i in item_ids]
        if values:
            c.execute(self.db.insert_ignoring_duplicates(ItemSourceRow), values)

    def _insert_matches(
        self,
        c: Connection,
        created: dict[str, int],
        matches: Sequence[NewMatch],
        published: dict[str, datetime | None],
        now: datetime,
    ) -> list[dict[str, Any]]:
        # Only items this transaction created get matches: an item that
        # another feed (or worker) stored first was matched there.
        values = [
            match_values(
                created[m.item_key], m, sane_published(published.get(m.item_key), now), now
            )
            for m in matches
            if m.item_key in created
        ]
        if values:
            c.execute(self.db.insert_ignoring_duplicates(MatchRow), values)
        return values

    def known_keys(self, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` stored now or before retention removed them."""
        given = {stored_key(k): k for k in keys}
        with self.db.connection() as c:
            found = set(_item_ids(c, list(given))) | _pruned(c, list(given))
            return {given[k] for k in found}

    def prune(self, now: datetime, keep: timedelta, batch: int = 2000) -> int:
        """Remove items first seen before ``now - keep`` whose matches every
        digest and alert has reported, keeping their keys. Returns how many."""
        cutoff, removed = now - keep, 0
        pending = select(MatchRow.item_id).where(
            (col(MatchRow.digest_id).is_(None))
            | (col(MatchRow.alert) & col(MatchRow.alert_queued_at).is_(None))
        )
        while True:
            with self.db.connection() as c:
                rows = c.execute(
                    select(ItemRow.id, ItemRow.key)
                    .where(col(ItemRow.first_seen_at) < cutoff)
                    .where(col(ItemRow.id).not_in(pending))
                    .limit(batch)
                ).all()
                if not rows:
                    return removed
                ids = [item_id for item_id, _ in rows]
                c.execute(
                    self.db.insert_ignoring_duplicates(PrunedKeyRow),
                    [{"key": key, "pruned_at": now} for _, key in rows],
                )
                for table, column in (
                    (MatchRow, MatchRow.item_id),
                    (ItemSourceRow, ItemSourceRow.item_id),
                    (ItemRow, ItemRow.id),
                ):
                    c.execute(delete(core(table)).where(col(column).in_(ids)))
                removed += len(rows)

    def since(self, start: datetime, batch: int = 1000) -> Iterator[StoredItem]:
        """Items first seen after ``start``, oldest first, read in batches."""
        last_id = 0
        item = core(ItemRow).c
        while True:
            with self.db.connection() as c:
                rows = c.execute(
                    core_select(item.id, item.title, item.text, item.url, item.first_seen_at)
                    .where(item.first_seen_at > start, item.id > last_id)
                    .order_by(item.id)
                    .limit(batch)
                ).all()
            if not rows:
                return
            for row in rows:
                yield StoredItem(row.id, row.title, row.text, row.url, row.first_seen_at)
            last_id = rows[-1].id


def _item_ids(c: Connection, keys: Sequence[str]) -> dict[str, int]:
    item = core(ItemRow).c
    found: dict[str, int] = {}
    for chunk in chunks(keys):
        found.update(
            (k, i) for k, i in c.execute(select(item.key, item.id).where(item.key.in_(chunk)))
        )
    return found


def _rekeyed(c: Connection, entries: Sequence[Entry], feed_id: int) -> dict[str, int]:
    """Entry key -> the item this feed carries under the entry's old key
    (before guids were scoped to their feed), now given the new one."""
    legacy = {stored_key(e.legacy_key): e.key for e in entries if e.legacy_key}
    if not legacy:
        return {}
    item, source = core(ItemRow).c, core(ItemSourceRow).c
    ours = select(source.item_id).where(source.feed_id == feed_id)
    found: dict[str, int] = {}
    for chunk in chunks(sorted(legacy)):
        rows = c.execute(
            core_select(item.key, item.id).where(item.key.in_(chunk), item.id.in_(ours))
        )
        for old_key, item_id in rows:
            c.execute(update(core(ItemRow)).where(item.id == item_id).values(key=legacy[old_key]))
            found[legacy[old_key]] = item_id
    return found


def _old_news_by_legacy_key(c: Connection, entries: Sequence[Entry]) -> set[str]:
    """Entry keys whose old key retention removed: old news, as under the new key."""
    legacy = {stored_key(e.legacy_key): e.key for e in entries if e.legacy_key}
    return {legacy[k] for k in _pruned(c, list(legacy))}


def _carried_elsewhere(c: Connection, entries: Sequence[Entry], feed_id: int) -> dict[str, int]:
    """Entry key -> the item another feed carries under the same canonical
    link. Within one feed, two guids with one link stay two items (a live
    blog's updates share its address)."""
    links = {e.key: stored_key(k) for e in entries if (k := link_key(e.url))}
    if not links:
        return {}
    item, source = core(ItemRow).c, core(ItemSourceRow).c
    ours = select(source.item_id).where(source.feed_id == feed_id)
    found: dict[str, int] = {}
    for chunk in chunks(sorted(set(links.values()))):
        rows = c.execute(
            core_select(item.link_key, func.min(item.id))
            .where(item.link_key.in_(chunk), item.id.not_in(ours))
            .group_by(item.link_key)
        )
        found.update((key, item_id) for key, item_id in rows)
    return {entry_key: found[link] for entry_key, link in links.items() if link in found}


def _pruned(c: Connection, keys: Sequence[str]) -> set[str]:
    pruned = core(PrunedKeyRow).c
    found: set[str] = set()
    for chunk in chunks(keys):
        found.update(c.scalars(select(pruned.key).where(pruned.key.in_(chunk))))
    return found


def _item_values(
    entry: Entry, now: datetime, full_text: bool = False, old_news: bool = False
) -> dict[str, Any]:
    return {
        "key": entry.key,
        "title": entry.title,
        "text": entry.text,
        "url": entry.url,
        "link_key": stored_key(k) if (k := link_key(entry.url)) else None,
        "published_at": entry.published_at,
        "first_seen_at": now,
        "note": entry.note,
        "article_state": "wanted" if full_text and entry.url else None,
        "old_news": old_news,
    }


def per_watchlist(stored: Iterable[dict[str, Any]]) -> tuple[tuple[str, int], ...]:
    """How many of the stored match values each watchlist got."""
    by_watchlist: dict[str, int] = {}
    for value in stored:
        by_watchlist[value["watchlist"]] = by_watchlist.get(value["watchlist"], 0) + 1
    return tuple(sorted(by_watchlist.items()))


def _edited(c: Connection, entries: Sequence[Entry], known: dict[str, int]) -> dict[str, int]:
    """Entry key -> item id of the known items whose title or text the source
    changed, given the new ones. Their matches are inserted as for a new item:
    a rule already matched is not matched twice."""
    item = core(ItemRow).c
    mine = {e.key: e for e in entries if e.key in known}
    changed: dict[str, int] = {}
    for chunk in chunks(sorted(mine)):
        rows = c.execute(core_select(item.key, item.title, item.text).where(item.key.in_(chunk)))
        for key, title, text in rows:
            entry = mine[key]
            if (entry.title, entry.text) != (title, text):
                changed[key] = known[key]
    for key, item_id in changed.items():
        entry = mine[key]
        c.execute(
            update(core(ItemRow))
            .where(item.id == item_id)
            .values(title=entry.title, text=entry.text, note=entry.note)
        )
    return changed


def match_values(
    item_id: int, new: NewMatch, dated_at: datetime | None, now: datetime
) -> dict[str, Any]:
    match = new.match
    return {
        "item_id": item_id,
        "watchlist": match.watchlist,
        "rule": match.rule,
        "kind": match.kind,
        "terms": json.dumps(list(match.terms), ensure_ascii=False),
        "fields": ",".join(match.fields),
        "snippet": new.snippet.text,
        "spans": json.dumps([list(span) for span in new.snippet.spans]),
        "alert": match.alert and not new.backfill,
        "backfill": new.backfill,
        "dated_at": dated_at,
        "first_seen_at": now,
    }
