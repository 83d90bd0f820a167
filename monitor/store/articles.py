"""Articles of items whose source reads full text: stored when read,
recorded when they failed, and found again for their one retry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy import select as core_select

from monitor.freshness import sane_published
from monitor.store.db import Database, core
from monitor.store.items import match_values, per_watchlist
from monitor.store.tables import FeedRow, ItemRow, ItemSourceRow, MatchRow
from monitor.types import ArticleWanted, Entry, NewMatch

# Reads of one article: the first, and one retry at the source's next poll.
ARTICLE_TRIES = 2


class Articles:
    def __init__(self, db: Database) -> None:
        self.db = db

    def read(
        self, wanted: ArticleWanted, text: str, matches: Sequence[NewMatch], now: datetime
    ) -> tuple[tuple[str, int], ...]:
        """The item takes its text with the article; the matches the article
        added are stored (a rule matched already is not matched twice).
        Returns the new matches per watchlist."""
        item = core(ItemRow).c
        published = sane_published(wanted.entry.published_at, now)
        values = [match_values(wanted.item_id, m, published, now) for m in matches]
        with self.db.connection() as c:
            c.execute(
                update(core(ItemRow))
                .where(item.id == wanted.item_id)
                .values(text=text, article_state="done", article_error=None)
            )
            if not values:
                return ()
            # RETURNING: only the rows inserted are the article's own news.
            match = core(MatchRow).c
            inserted = c.execute(
                self.db.insert_ignoring_duplicates(MatchRow).returning(match.watchlist), values
            ).all()
        return per_watchlist({"watchlist": w} for (w,) in inserted)

    def failed(self, wanted: ArticleWanted, reason: str) -> None:
        """Recorded on its item; read again at its source's next poll, once."""
        item = core(ItemRow).c
        with self.db.connection() as c:
            c.execute(
                update(core(ItemRow))
                .where(item.id == wanted.item_id)
                .values(
                    article_state="failed",
                    article_tries=item.article_tries + 1,
                    article_error=reason[:500],
                )
            )

    def to_retry(self, feed_url: str, limit: int = 20) -> list[ArticleWanted]:
        """The source's items whose article failed once, or was never read
        (a worker stopped before it), to read again."""
        item, source, feed = core(ItemRow).c, core(ItemSourceRow).c, core(FeedRow).c
        statement = (
            core_select(
                item.id, item.key, item.title, item.text, item.url, item.published_at,
                item.note, item.old_news, item.article_tries,
            )
            .join(core(ItemSourceRow), source.item_id == item.id)
            .join(core(FeedRow), feed.id == source.feed_id)
            .where(
                feed.url == feed_url,
                item.article_state.in_(("wanted", "failed")),
                item.article_tries < ARTICLE_TRIES,
                item.url.is_not(None),
            )
            .order_by(item.id)
            .limit(limit)
        )  # fmt: skip
        with self.db.connection() as c:
            rows = c.execute(statement).all()
        return [
            ArticleWanted(
                row.id,
                Entry(row.key, row.title, row.text, row.url, row.published_at, note=row.note),
                row.old_news,
                row.article_tries,
            )
            for row in rows
        ]

    def states(self) -> dict[str, dict[str, int]]:
        """Feed URL -> how many of its items' articles are in each state."""
        item, source, feed = core(ItemRow).c, core(ItemSourceRow).c, core(FeedRow).c
        statement = (
            core_select(feed.url, item.article_state, func.count())
            .join(core(ItemSourceRow), source.item_id == item.id)
            .join(core(FeedRow), feed.id == source.feed_id)
            .where(item.article_state.is_not(None))
            .group_by(feed.url, item.article_state)
        )
        out: dict[str, dict[str, int]] = {}
        with self.db.connection() as c:
            for url, state, n in c.execute(statement):
                out.setdefault(url, {})[state] = n
        return out
