"""Table tests for time: durations, cron slots across DST, quiet hours, delivery retries."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.errors import WatchlistError
from monitor.schedule import (
    Cron,
    QuietHours,
    delivery_retry_at,
    due_digest_slot,
    format_duration,
    parse_duration,
    parse_when,
)
from monitor.watchlist import parse_watchlist
from tests.conftest import write_watchlist
from tests.test_cli import monitor

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
EVERY = timedelta(minutes=15)


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", EVERY),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
    ],
)
def test_durations(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta
    assert parse_duration(format_duration(delta)) == delta


@pytest.mark.parametrize("text", ["", "15", "m15", "1x", "5 parsecs"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_parse_when() -> None:
    assert parse_when("24h", NOW) == NOW - timedelta(days=1)
    assert parse_when("2026-11-20", NOW) == datetime(2026, 11, 20, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_when("yesterday", NOW)


def test_crontab_weekdays_count_sunday_as_zero() -> None:
    sunday = Cron("0 9 * * 0", "UTC").next_after(NOW)
    assert sunday is not None and sunday.weekday() == 6
    weekdays = Cron("0 9 * * 1-5", "UTC").next_after(datetime(2026, 11, 28, tzinfo=UTC))  # Sat
    assert weekdays is not None and weekdays.date().isoformat() == "2026-11-30"  # Monday


def test_cron_across_dst_in_kyiv() -> None:
    cron = Cron("0 7 * * *", "Europe/Kyiv")
    before = cron.next_after(datetime(2026, 10, 23, 12, 0, tzinfo=UTC))
    switch_day = cron.next_after(datetime(2026, 10, 24, 12, 0, tzinfo=UTC))  # clocks go back
    assert before == datetime(2026, 10, 24, 4, 0, tzinfo=UTC)  # 07:00 EEST
    assert switch_day == datetime(2026, 10, 25, 5, 0, tzinfo=UTC)  # 07:00 EET


# --- digest schedules across DST changes -----------------------------------------
# Each wall time fires once: a skipped one at the moment the clocks jump, a
# repeated one at its first occurrence. Spring forward: Kyiv 2026-03-29 03:00
# EET -> 04:00 EEST, New York 2026-03-08 02:00 EST -> 03:00 EDT. Fall back: Kyiv
# 2026-10-25 04:00 EEST -> 03:00 EET, New York 2026-11-01 02:00 EDT -> 01:00 EST.


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def slots(cron: Cron, start: datetime, end: datetime) -> list[datetime]:
    out: list[datetime] = []
    moment = start
    while (fire := cron.next_after(moment)) is not None and fire <= end:
        assert fire > moment  # always forward: no repeat, no loop
        out.append(fire.astimezone(UTC))
        moment = fire
    return out


@pytest.mark.parametrize(
    ("zone", "expression", "around", "expected"),
    [
        # in the spring gap: at the jump, once
        ("Europe/Kyiv", "30 3 * * *", utc(2026, 3, 28, 12), utc(2026, 3, 29, 1, 0)),
        ("America/New_York", "30 2 * * *", utc(2026, 3, 7, 12), utc(2026, 3, 8, 7, 0)),
        # just before and after the gap: unmoved
        ("Europe/Kyiv", "0 7 * * *", utc(2026, 3, 28, 12), utc(2026, 3, 29, 4, 0)),
        ("America/New_York", "0 7 * * *", utc(2026, 3, 7, 12), utc(2026, 3, 8, 11, 0)),
        # in the autumn fold: the first of the two
        ("Europe/Kyiv", "30 3 * * *", utc(2026, 10, 24, 12), utc(2026, 10, 25, 0, 30)),
        ("America/New_York", "30 1 * * *", utc(2026, 10, 31, 12), utc(2026, 11, 1, 5, 30)),
        ("Europe/Kyiv", "0 7 * * *", utc(2026, 10, 24, 12), utc(2026, 10, 25, 5, 0)),
        ("America/New_York", "0 7 * * *", utc(2026, 10, 31, 12), utc(2026, 11, 1, 12, 0)),
    ],
)
def test_a_daily_digest_across_dst(
    zone: str, expression: str, around: datetime, expected: datetime
) -> None:
    cron = Cron(expression, zone)
    three_days = slots(cron, around, around + timedelta(days=3))
    assert three_days[0] == expected
    assert len(three_days) == 3  # once a day: never twice, never skipped


@pytest.mark.parametrize(
    ("zone", "day", "slots_that_day"),
    [
        ("Europe/Kyiv", utc(2026, 3, 28, 22), 23),  # wall 03:00 is skipped: 23 hours
        ("America/New_York", utc(2026, 3, 8, 5), 23),
        ("Europe/Kyiv", utc(2026, 10, 24, 21), 24),  # wall 03:00 twice: fires once
        ("America/New_York", utc(2026, 11, 1, 4), 24),
    ],
)
def test_an_hourly_schedule_on_dst_days(zone: str, day: datetime, slots_that_day: int) -> None:
    # ``day`` is local midnight; the local day is 23 or 25 real hours long.
    cron = Cron("0 * * * *", zone)
    start = day - timedelta(seconds=1)
    fired = slots(cron, start, start + timedelta(hours=26))
    local_days = {f.astimezone(ZoneInfo(zone)).date() for f in fired[:slots_that_day]}
    assert len(local_days) == 1
    assert len(set(fired[:slots_that_day])) == slots_that_day
    assert fired[slots_that_day].astimezone(ZoneInfo(zone)).hour == 0  # next day


@pytest.mark.parametrize(
    ("zone", "expression", "now", "slot"),
    [
        # the fold's second 01:30 (EST) is not a new slot: the first one stays due
        ("America/New_York", "30 1 * * *", utc(2026, 11, 1, 6, 45), utc(2026, 11, 1, 5, 30)),
        ("Europe/Kyiv", "30 3 * * *", utc(2026, 10, 25, 1, 45), utc(2026, 10, 25, 0, 30)),
        # the gap's 02:30 came due when the clocks jumped
        ("America/New_York", "30 2 * * *", utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 7, 0)),
        ("America/New_York", "30 2 * * *", utc(2026, 3, 8, 6, 59), utc(2026, 3, 7, 7, 30)),
    ],
)
def test_the_due_slot_across_dst(zone: str, expression: str, now: datetime, slot: datetime) -> None:
    assert Cron(expression, zone).latest_at_or_before(now) == slot
    anchor = slot - timedelta(hours=1)
    assert due_digest_slot(Cron(expression, zone), anchor, now) == slot
    assert due_digest_slot(Cron(expression, zone), slot, now) is None  # done once


def test_status_shows_the_next_digest_in_the_watchlists_zone(workdir: Path) -> None:
    write_watchlist(workdir, [], timezone="America/New_York", schedule="0 7 * * *")
    result = monitor(workdir, "status")
    assert result.returncode == 0, result.stderr
    assert re.search(r"next \d{4}-\d\d-\d\d 07:00 E[SD]T \(America/New_York\)", result.stdout), (
        result.stdout
    )
    [digest] = json.loads(monitor(workdir, "status", "--json").stdout)["digests"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d 07:00:00-0[45]:00", digest["next_digest"])


def test_a_schedule_that_never_fires_is_a_watchlist_error() -> None:
    source = 'title: x\ndigest:\n  schedule: "0 7 30 2 *"\n'
    with pytest.raises(WatchlistError) as raised:
        parse_watchlist(source, "w.yaml", "w", "UTC")
    assert (
        str(raised.value) == "w.yaml:3:13: digest.schedule: '0 7 30 2 *' never fires (no such date)"
    )
    leap_day = parse_watchlist(source.replace("30 2", "29 2"), "w.yaml", "w", "UTC").schedule
    assert leap_day.next_after(NOW) == utc(2028, 2, 29, 7)


# --- quiet hours and delivery retries ----------------------------------------------


@pytest.mark.parametrize(
    ("window", "local", "quiet"),
    [
        ("22:00-07:00", "21:59", False),
        ("22:00-07:00", "22:00", True),
        ("22:00-07:00", "03:00", True),
        ("22:00-07:00", "06:59", True),
        ("22:00-07:00", "07:00", False),
        ("12:00-13:30", "13:00", True),
        ("12:00-13:30", "13:30", False),
    ],
)
def test_quiet_hours(window: str, local: str, quiet: bool) -> None:
    hours, minutes = map(int, local.split(":"))
    moment = datetime(2026, 11, 25, hours, minutes, tzinfo=ZoneInfo("Europe/Kyiv"))
    assert QuietHours.parse(window).contains(moment, "Europe/Kyiv") is quiet


def test_quiet_hours_end_in_the_zone() -> None:
    window = QuietHours.parse("22:00-07:00")
    night = utc(2026, 11, 24, 23)  # 01:00 in Kyiv
    assert window.ends_after(night, "Europe/Kyiv") == utc(2026, 11, 25, 5)
    assert window.ends_after(NOW, "Europe/Kyiv") == NOW  # 10:00: not quiet
    # Ending in the spring gap of New York: at the jump.
    gap = QuietHours.parse("22:00-02:30")
    assert gap.ends_after(utc(2026, 3, 8, 5), "America/New_York") == utc(2026, 3, 8, 7)


@pytest.mark.parametrize("text", ["22-07", "22:00-7", "22:00-24:00", "22:00 07:00", "07:00-07:00"])
def test_bad_quiet_hours(text: str) -> None:
    with pytest.raises(ValueError):
        QuietHours.parse(text)


def test_delivery_retries_back_off_to_a_limit() -> None:
    waits = [delivery_retry_at(NOW, attempt, 9, permanent=False) for attempt in range(1, 10)]
    minutes = [(w - NOW) / timedelta(minutes=1) for w in waits if w is not None]
    assert minutes == [1, 2, 4, 8, 16, 32, 60, 60]  # doubling, capped at an hour
    assert waits[-1] is None  # the ninth attempt was the last
    assert delivery_retry_at(NOW, 1, 9, permanent=True) is None
