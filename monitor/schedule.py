"""When things happen, decided from values: pure, and ``now`` is passed in.

Durations in watchlists ("15m"), digest cron schedules in a time zone,
the next poll of a feed after success or failure, and which digest slot is
due. Nothing here reads the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

_DURATION_PART = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '1h30m', '2d' -> timedelta; ValueError otherwise."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION_PART.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15m, 1h30m, 2d)")
    total = timedelta()
    for number, unit in parts:
        total += timedelta(**{_UNITS[unit]: int(number)})
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
    """

    expression: str
    timezone: str

    @property
    def trigger(self) -> CronTrigger:
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
            timezone=ZoneInfo(self.timezone),
        )

    def next_after(self, moment: datetime) -> datetime | None:
        """The first slot strictly after ``moment`` (aware), in the schedule's zone."""
        fire: datetime | None = self.trigger.get_next_fire_time(
            None, moment + timedelta(microseconds=1)
        )
        return fire

    def latest_at_or_before(self, now: datetime) -> datetime | None:
        """The most recent slot at or before ``now``, looking back at most a year."""
        trigger = self.trigger
        lookback = timedelta(seconds=1)
        while lookback <= timedelta(days=400):
            fire = trigger.get_next_fire_time(None, now - lookback)
            if fire is not None and fire <= now:
                return _last_slot_from(trigger, fire, now)
            lookback *= 2
        return None


def _last_slot_from(trigger: CronTrigger, fire: datetime, now: datetime) -> datetime:
    while True:
        following: datetime | None
        following = trigger.get_next_fire_time(None, fire + timedelta(microseconds=1))
        if following is None or following > now:
            return fire
        fire = following


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


MAX_BACKOFF = timedelta(hours=6)


def next_poll_after_success(
    now: datetime, every: timedelta, server_hint: timedelta | None = None
) -> datetime:
    """A feed's next poll: its own interval, stretched (never shortened) by
    the server's Cache-Control/ttl hint, up to a cap."""
    wait = every
    if server_hint is not None:
        wait = max(every, min(server_hint, MAX_BACKOFF))
    return now + wait


@dataclass(frozen=True)
class FailureDecision:
    """What a failed poll does to a feed."""

    next_poll_at: datetime | None  # None: not polled on schedule until it is resumed
    status: str  # "active" (retrying with backoff), "paused" or "gone"
    newly_stopped: bool  # this failure paused or retired it: tell the operator, once


def after_failure(
    now: datetime,
    every: timedelta,
    consecutive_errors: int,
    reason: str,
    jitter: float,
    pause_after: int,
    retry_after: timedelta | None = None,
) -> FailureDecision:
    """410 Gone retires a feed at once; ``pause_after`` failures in a row pause
    it; anything less backs off and retries."""
    if reason == "http_410":
        return FailureDecision(None, "gone", True)
    if consecutive_errors >= pause_after:
        return FailureDecision(None, "paused", consecutive_errors == pause_after)
    wait = next_poll_after_failure(now, every, consecutive_errors, jitter, retry_after)
    return FailureDecision(wait, "active", False)


def next_poll_after_failure(
    now: datetime,
    every: timedelta,
    consecutive_errors: int,
    jitter: float,
    retry_after: timedelta | None = None,
) -> datetime:
    """Exponential backoff from the feed's interval, capped, with jitter in [0, 1)
    spreading retries by up to a tenth; a server's Retry-After wins if longer."""
    exponent = min(max(consecutive_errors - 1, 0), 16)
    wait = min(every * (1 << exponent), MAX_BACKOFF)
    wait += wait * 0.1 * jitter
    if retry_after is not None:
        wait = max(wait, min(retry_after, MAX_BACKOFF))
    return now + wait


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
