"""When things happen, decided from values: pure, and ``now`` is passed in.

Durations in watchlists ("15m"), digest cron schedules in a time zone,
which digest slot is due, quiet hours, and when a failed delivery is tried
again (a feed's next poll is monitor.decide's). Nothing here reads the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

_DURATION_PART = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# No interval a watchlist names is longer: beyond it a number is a typo.
LONGEST_DURATION = timedelta(days=366)


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '1h30m', '2d' -> timedelta; ValueError otherwise."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION_PART.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15m, 1h30m, 2d)")
    total = timedelta()
    try:
        for number, unit in parts:
            total += timedelta(**{_UNITS[unit]: int(number)})
    except (OverflowError, ValueError):
        total = timedelta.max
    if total > LONGEST_DURATION:
        raise ValueError(f"{text!r} is longer than {LONGEST_DURATION.days} days")
    return total


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _crontab_weekdays(field: str) -> str:
    # crontab counts Sunday as 0 (and 7); APScheduler counts Monday as 0, so
    # numbers are turned into names, which both read the same way.
    return re.sub(r"(?<![/\d])([0-7])(?!\d)", lambda m: _DAY_NAMES[int(m.group(1))], field)


@dataclass(frozen=True)
class Cron:
    """A cron schedule in an IANA time zone.

    Five fields are standard crontab (minute hour day month weekday); six
    fields put seconds first, which tests and demos use for short periods.

    The fields describe wall-clock times in the zone. Across DST changes each
    wall time fires once: a time the clocks skip (02:30 on a spring-forward
    night) fires at the moment they jump, and a time that occurs twice
    (01:30 on a fall-back night) fires at its first occurrence only. So a daily
    digest comes once a day, never skipped and never twice.
    """

    expression: str
    timezone: str

    @property
    def trigger(self) -> CronTrigger:
        """The fields as a trigger over naive wall times (read as UTC, which has
        no DST): APScheduler's own zone handling repeats or loops in a fall-back
        hour, so turning wall times into instants is done here instead."""
        fields = self.expression.split()
        if len(fields) == 5:
            fields = ["0", *fields]
        if len(fields) != 6:
            raise ValueError(
                f"a cron schedule has 5 fields (minute hour day month weekday), got {len(fields)}"
            )
        second, minute, hour, day, month, weekday = fields
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_crontab_weekdays(weekday),
            timezone=UTC,
        )

    @cached_property
    def _wall_trigger(self) -> CronTrigger:
        return self.trigger

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def next_after(self, moment: datetime) -> datetime | None:
        """The first slot strictly after ``moment`` (aware), in UTC.

        UTC, not the zone: Python compares an aware time of a fall-back hour
        unequal to every time of another zone, so instants stay in UTC and are
        turned into the zone only to be shown."""
        zone = self.zone
        # Instants grow with wall times (see _instant), so the first wall slot
        # whose instant is after ``moment`` is the answer; in a fall-back hour
        # a few wall slots map to instants already past and are skipped.
        wall = moment.astimezone(zone).replace(tzinfo=UTC)
        while True:
            fire: datetime | None = self._wall_trigger.get_next_fire_time(
                None, wall + timedelta(microseconds=1)
            )
            if fire is None:
                return None
            instant = _instant(fire.replace(tzinfo=None), zone)
            if instant > moment:
                return instant
            wall = fire

    def latest_at_or_before(self, now: datetime) -> datetime | None:
        """The most recent slot at or before ``now`` (in UTC), looking back at most a year."""
        lookback = timedelta(seconds=1)
        while lookback <= timedelta(days=400):
            fire = self.next_after(now - lookback)
            if fire is not None and fire <= now:
                while (following := self.next_after(fire)) is not None and following <= now:
                    fire = following
                return fire
            lookback *= 2
        return None


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive wall time: its first occurrence when the
    clocks go back, the moment of the jump when they skip it."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # A skipped wall time: fold=0 reads it with the offset before the jump
    # (an instant after it), fold=1 with the offset after (an instant before).
    before = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    after = int(first.timestamp())
    offset = first.astimezone(zone).utcoffset()
    while after - before > 1:  # the jump: the first second with the new offset
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def due_digest_slot(cron: Cron, anchor: datetime, now: datetime) -> datetime | None:
    """The slot a digest is due for, if any.

    ``anchor`` is the previous digest's slot (or when the watchlist was first
    seen). Slots missed while the service was down collapse into the latest
    one: one catch-up digest, never one per missed slot.
    """
    slot = cron.latest_at_or_before(now)
    if slot is None or slot <= anchor:
        return None
    return slot


_CLOCK_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class QuietHours:
    """A daily window of wall-clock time ("22:00-07:00") in which alerts wait.

    The window may cross midnight. Wall time is compared, so it follows the
    zone's DST changes.
    """

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """'22:00-07:00' -> QuietHours; ValueError otherwise."""
        parts = [p.strip() for p in text.split("-")]
        clocks = [_CLOCK_TIME.match(p) for p in parts]
        if len(parts) != 2 or not all(clocks):
            raise ValueError(f"not a time window: {text!r} (use HH:MM-HH:MM, e.g. 22:00-07:00)")
        start, end = (time(int(m.group(1)), int(m.group(2))) for m in clocks if m)
        if start == end:
            raise ValueError(f"{text!r} starts and ends at the same time")
        return cls(start, end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def contains(self, moment: datetime, zone: str) -> bool:
        wall = moment.astimezone(ZoneInfo(zone)).time()
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end

    def ends_after(self, moment: datetime, zone: str) -> datetime:
        """When the window that holds ``moment`` ends (``moment`` if it holds none)."""
        if not self.contains(moment, zone):
            return moment
        return Cron(f"{self.end.minute} {self.end.hour} * * *", zone).next_after(moment) or moment


def delivery_retry_at(
    now: datetime, attempts: int, max_attempts: int, permanent: bool
) -> datetime | None:
    """When a failed delivery is tried again, or None when it is given up:
    at once for a permanent failure, else after ``max_attempts`` attempts.
    ``attempts`` counts this one; waits double from a minute, up to an hour."""
    if permanent or attempts >= max_attempts:
        return None
    return now + min(timedelta(minutes=1) * (1 << min(attempts - 1, 10)), timedelta(hours=1))


def parse_when(text: str, now: datetime) -> datetime:
    """'7d' or '24h' (that long ago), or an ISO date/time (UTC unless it says)."""
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (use e.g. 24h, 7d, 2026-11-20 or 2026-11-20T08:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
