"""Mentions over time (pure): the digest's period comparison, the 14-day
trend chart, and spikes (a rule mentioned far more than usual).

The store counts matches per rule in small UTC buckets; everything here
takes those counts and ``now`` and decides, so it is tested without a clock
or a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

TREND_DAYS = 14


# --- this period against the previous one ---------------------------------------


@dataclass(frozen=True)
class PeriodCount:
    """One rule's mentions in this digest's period and in the one before."""

    rule: str
    name: str
    now: int
    before: int
    alert: bool = False

    @property
    def change(self) -> str:
        """One of "up", "down", "same"."""
        return "up" if self.now > self.before else "down" if self.now < self.before else "same"

    @property
    def arrow(self) -> str:
        return {"up": "▲", "down": "▼", "same": "="}[self.change]


def compare_periods(
    rules: Sequence[tuple[str, str, bool]], now: Mapping[str, int], before: Mapping[str, int]
) -> list[PeriodCount]:
    """Every rule (id, name, alert) mentioned in either period, in the given order."""
    return [
        PeriodCount(rule, name, now.get(rule, 0), before.get(rule, 0), alert)
        for rule, name, alert in rules
        if now.get(rule, 0) or before.get(rule, 0)
    ]


# --- mentions per rule per day ---------------------------------------------------


@dataclass(frozen=True)
class TrendRow:
    rule: str
    name: str
    counts: tuple[int, ...]  # one per day of Trend.days

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def peak(self) -> int:
        return max(self.counts, default=0)


@dataclass(frozen=True)
class Trend:
    """Mentions per rule per local day, the last day being today."""

    days: tuple[date, ...]
    rows: tuple[TrendRow, ...]
    zone: str

    @property
    def peak(self) -> int:
        """The highest day of any rule: every bar is drawn against it."""
        return max((row.peak for row in self.rows), default=0)

    def height(self, count: int, full: int) -> int:
        """A bar's height for ``count`` when the peak is ``full`` high; a day
        with any mention is at least 1 high, so it is never invisible."""
        if count <= 0 or self.peak <= 0:
            return 0
        return max(1, round(count * full / self.peak))


def trend_start(now: datetime, zone: str, days: int = TREND_DAYS) -> datetime:
    """Local midnight at the start of the first day shown, as an aware datetime."""
    first = now.astimezone(ZoneInfo(zone)).date() - timedelta(days=days - 1)
    return datetime.combine(first, time(0), ZoneInfo(zone))


def daily_trend(
    buckets: Iterable[tuple[str, datetime, int]],
    rules: Sequence[tuple[str, str]],
    now: datetime,
    zone: str,
    days: int = TREND_DAYS,
) -> Trend:
    """Counts per (rule, UTC bucket start) added up into the local days that
    end with today; one row per (rule id, name) in ``rules`` that has any."""
    tz = ZoneInfo(zone)
    first = trend_start(now, zone, days).date()
    shown = tuple(first + timedelta(days=i) for i in range(days))
    per_rule: dict[str, list[int]] = {}
    for rule, start, count in buckets:
        index = (start.astimezone(tz).date() - first).days
        if 0 <= index < days:
            per_rule.setdefault(rule, [0] * days)[index] += count
    rows = tuple(TrendRow(r, n, tuple(per_rule[r])) for r, n in rules if any(per_rule.get(r, ())))
    return Trend(shown, rows, zone)


# --- spikes -----------------------------------------------------------------------


@dataclass(frozen=True)
class SpikePolicy:
    """When a rule's mentions count as a spike."""

    window: timedelta = timedelta(hours=6)  # "14 mentions in 6 h"
    baseline: timedelta = timedelta(days=7)  # what "usual" is measured over, before the window
    factor: float = 4.0  # mentions must exceed factor x usual
    min_mentions: int = 5  # and be at least this many

    def baseline_start(self, now: datetime) -> datetime:
        return now - self.window - self.baseline


@dataclass(frozen=True)
class Spike:
    rule: str
    name: str
    mentions: int  # in the last window
    usual: float  # mentions in one window, on average over the baseline
    window: timedelta

    @property
    def hours(self) -> str:
        hours = self.window.total_seconds() / 3600
        return f"{hours:g} h"

    @property
    def usual_text(self) -> str:
        """Rounded as a person would say it: "1", "0.3", "12"."""
        return f"{self.usual:.0f}" if self.usual >= 10 else f"{self.usual:.1f}".removesuffix(".0")

    def line(self) -> str:
        return f"{self.name}: {self.mentions} mentions in {self.hours}, usual {self.usual_text}"


def find_spikes(
    recent: Mapping[str, int],
    earlier: Mapping[str, int],
    names: Mapping[str, str],
    policy: SpikePolicy,
) -> list[Spike]:
    """Rules whose ``recent`` count (the last window) exceeds ``factor`` times
    their usual count per window, measured on ``earlier`` (the baseline span
    before it). A usual count under one is taken as one, so a rule that is
    seldom mentioned needs ``factor`` mentions and ``min_mentions`` to spike."""
    windows = policy.baseline / policy.window
    spikes = []
    for rule, mentions in sorted(recent.items()):
        usual = earlier.get(rule, 0) / windows
        if mentions >= policy.min_mentions and mentions > policy.factor * max(usual, 1.0):
            spikes.append(Spike(rule, names.get(rule, rule), mentions, usual, policy.window))
    return spikes


_LEVELS = "▁▂▃▄▅▆▇█"


def sparkline(counts: Sequence[int], peak: int) -> str:
    """Counts as block characters for plain text ("·" for a day without any)."""
    if peak <= 0:
        return "·" * len(counts)
    top = len(_LEVELS) - 1
    return "".join(_LEVELS[min(top, c * top // peak)] if c else "·" for c in counts)
