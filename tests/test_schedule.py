"""Table tests for the polling policies: given state and outcome -> next check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.schedule import (
    MAX_BACKOFF,
    Cron,
    after_failure,
    format_duration,
    next_poll_after_success,
    parse_duration,
    parse_when,
)

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
EVERY = timedelta(minutes=15)


@pytest.mark.parametrize(
    ("errors", "reason", "retry_after", "jitter", "next_in", "status", "newly"),
    [
        (1, "timeout", None, 0.0, EVERY, "active", False),
        (2, "http_500", None, 0.0, 2 * EVERY, "active", False),
        (3, "http_500", None, 0.5, 4 * EVERY * 1.05, "active", False),
        (9, "http_500", None, 0.0, MAX_BACKOFF, "active", False),  # capped
        (1, "http_429", timedelta(hours=2), 0.0, timedelta(hours=2), "active", False),
        (1, "http_503", timedelta(days=3), 0.0, MAX_BACKOFF, "active", False),  # hint capped
        (1, "http_410", None, 0.0, None, "gone", True),
        (10, "http_500", None, 0.0, None, "paused", True),
        (11, "http_500", None, 0.0, None, "paused", False),  # told once, not every tick
    ],
)
def test_after_failure(
    errors: int,
    reason: str,
    retry_after: timedelta | None,
    jitter: float,
    next_in: timedelta | None,
    status: str,
    newly: bool,
) -> None:
    decision = after_failure(NOW, EVERY, errors, reason, jitter, 10, retry_after)
    expected = None if next_in is None else NOW + next_in
    assert (decision.next_poll_at, decision.status, decision.newly_stopped) == (
        expected,
        status,
        newly,
    )


@pytest.mark.parametrize(
    ("hint", "next_in"),
    [
        (None, EVERY),
        (timedelta(minutes=5), EVERY),  # a server cannot make us poll faster
        (timedelta(hours=1), timedelta(hours=1)),
        (timedelta(days=2), MAX_BACKOFF),
    ],
)
def test_next_poll_after_success(hint: timedelta | None, next_in: timedelta) -> None:
    assert next_poll_after_success(NOW, EVERY, hint) == NOW + next_in


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
