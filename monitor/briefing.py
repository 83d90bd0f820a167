"""A digest read as a briefing (pure): each story once, the stories that
matter first, and per rule only an index of them.

A story is one item, or near copies of one report across outlets (grouped
by monitor.stories), with every rule it hit. Stories rank by whether they
hit an alert rule, then by how many independent outlets carried them, then
by how recent they are. Each rule's section lists the headlines of its
stories and links to their cards, so a story that hits five rules is shown
once, not five times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from monitor.freshness import StoryTime, story_time
from monitor.types import FeedStatus, StoredMatch

# The stories an email shows in full, and as one-line links, tried in turn
# until the email fits its size (monitor.digest.EMAIL_BYTES).
EMAIL_BUDGETS = ((15, 150), (10, 80), (6, 40), (4, 15), (3, 0), (1, 0))
INDEX_HEADLINES = 5  # per rule in an email's index; the page lists them all


@dataclass(frozen=True)
class Story:
    """One story of a digest, once, with every rule it hit."""

    number: int  # its card's anchor: #story-<number>
    matches: tuple[StoredMatch, ...]  # every match, of every rule
    reports: tuple[StoredMatch, ...]  # one per item, the earliest first
    rules: tuple[str, ...]  # the names of the rules it hit, in the digest's order
    alert: bool  # it hit an alert rule
    language: str = ""  # its headline's language when not English ("ru", "ko")
    gloss: str = ""  # another report's English headline, when its own is not

    @property
    def lead(self) -> StoredMatch:
        return self.reports[0]

    @property
    def time(self) -> StoryTime:
        """When the lead report was published, or first seen when its feed
        gave no believable time."""
        return story_time(self.lead.published_at, self.lead.first_seen_at)

    @property
    def latest(self) -> datetime:
        return max(story_time(m.published_at, m.first_seen_at).at for m in self.reports)

    @property
    def sources(self) -> tuple[str, ...]:
        """Every outlet that carried it, the lead's first."""
        return tuple(dict.fromkeys(s for m in self.reports for s in m.sources))

    @property
    def also(self) -> tuple[StoredMatch, ...]:
        """The other reports: "also reported by"."""
        return self.reports[1:]

    @property
    def also_outlets(self) -> tuple[tuple[str, int, str | None], ...]:
        """The outlets of the other reports, each once: (name, reports, the
        first report's link)."""
        counted: dict[str, list[StoredMatch]] = {}
        for m in self.also:
            counted.setdefault(", ".join(m.sources) or "another feed", []).append(m)
        return tuple((name, len(ms), ms[0].item_url) for name, ms in counted.items())

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for m in self.matches for t in m.terms))

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for m in self.matches for f in m.fields))


@dataclass(frozen=True)
class RuleEntry:
    """One rule in the digest's index: its counts and its stories' headlines."""

    rule: str
    name: str
    alert: bool
    matches: int
    stories: tuple[Story, ...]  # in the briefing's order


@dataclass(frozen=True)
class Health:
    """What the digest says about its feeds."""

    feeds: int  # the watchlist's feeds
    failing: tuple[FeedStatus, ...]  # failing, paused or gone
    unchecked: tuple[FeedStatus, ...]  # not read successfully in the period

    @property
    def all_checked(self) -> bool:
        return not self.failing and not self.unchecked


def briefing(
    matches: Sequence[StoredMatch],
    story_of: Mapping[int, int],
    rules: Sequence[tuple[str, str, bool]],
    languages: Mapping[int, str] | None = None,
) -> list[Story]:
    """The stories of ``matches`` (``story_of``: match id -> story), each
    once, ranked. ``rules`` are (id, name, alert) in the digest's order;
    ``languages``: match id -> language of its item, where known."""
    order = {rule: i for i, (rule, _, _) in enumerate(rules)}
    names = {rule: name for rule, name, _ in rules}
    alerts = {rule for rule, _, alert in rules if alert}
    grouped: dict[int, list[StoredMatch]] = {}
    for m in sorted(matches, key=lambda m: (m.first_seen_at, m.id)):
        grouped.setdefault(story_of.get(m.id, -m.id), []).append(m)
    stories = [
        _story(members, order, names, alerts, languages or {}) for members in grouped.values()
    ]
    stories.sort(key=lambda s: (not s.alert, -len(s.sources), -s.latest.timestamp(), s.lead.id))
    return [_numbered(s, n) for n, s in enumerate(stories, 1)]


def _story(
    members: list[StoredMatch],
    order: Mapping[str, int],
    names: Mapping[str, str],
    alerts: set[str],
    languages: Mapping[int, str],
) -> Story:
    reports: dict[tuple[str, str | None], StoredMatch] = {}
    for m in members:  # one per item: an item's matches of several rules are one report
        reports.setdefault((m.item_title, m.item_url), m)
    hit = sorted({m.rule for m in members}, key=lambda r: (order.get(r, len(order)), r))
    lead = next(iter(reports.values()))
    return Story(
        0,
        tuple(members),
        tuple(reports.values()),
        tuple(names.get(r, r) for r in hit),
        any(r in alerts for r in hit),
        languages.get(lead.id, ""),
    )


def _numbered(story: Story, number: int) -> Story:
    return replace(story, number=number)


def rule_index(stories: Sequence[Story], rules: Sequence[tuple[str, str, bool]]) -> list[RuleEntry]:
    """Each rule that matched, in the digest's order, with its stories."""
    entries = []
    for rule, name, alert in rules:
        hit = [s for s in stories if any(m.rule == rule for m in s.matches)]
        if hit:
            count = sum(1 for s in hit for m in s.matches if m.rule == rule)
            entries.append(RuleEntry(rule, name, alert, count, tuple(hit)))
    return entries


def feed_health(feeds: Sequence[FeedStatus], urls: Sequence[str], window_start: datetime) -> Health:
    """The health of the watchlist's feeds (``urls``) over a digest's period."""
    followed = set(urls)
    ours = [f for f in feeds if f.url in followed]
    failing = [f for f in ours if f.consecutive_errors > 0 or f.status != "active"]
    unchecked = [
        f
        for f in ours
        if f not in failing and (f.last_success_at is None or f.last_success_at < window_start)
    ]
    return Health(len(urls), tuple(failing), tuple(unchecked))
