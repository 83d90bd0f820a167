"""Trends, period counts and spikes: pure, with the clock passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.trends import (
    SpikePolicy,
    compare_periods,
    daily_trend,
    find_spikes,
    sparkline,
    trend_start,
)

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)


def test_buckets_add_up_into_local_days_ending_today() -> None:
    # 18:30 UTC is already the next day in Kolkata (UTC+5:30), not in UTC.
    late = datetime(2026, 11, 24, 18, 30, tzinfo=UTC)
    buckets = [("a", late, 2), ("a", late - timedelta(minutes=15), 1), ("b", NOW, 4)]
    buckets.append(("a", NOW - timedelta(days=20), 9))  # before the chart: left out
    trend = daily_trend(buckets, [("a", "A"), ("b", "B"), ("c", "C")], NOW, "Asia/Kolkata")
    assert len(trend.days) == 14 and str(trend.days[-1]) == "2026-11-25"
    a, b = trend.rows  # "c" has no mentions: no row
    assert (a.counts[-1], a.counts[-2], a.total) == (2, 1, 3)
    assert b.counts[-1] == 4 and trend.peak == 4
    assert [trend.height(n, 40) for n in (0, 1, 4)] == [0, 10, 40]
    assert trend_start(NOW, "UTC") == datetime(2026, 11, 12, tzinfo=UTC)


def test_periods_compare_up_and_down_in_rule_order() -> None:
    rules = [("s", "Storm Corps", True), ("k", "Kursk", False), ("q", "Quiet", False)]
    counts = compare_periods(rules, {"s": 5, "k": 1}, {"s": 2, "k": 3})
    assert [(c.name, c.change, c.arrow) for c in counts] == [
        ("Storm Corps", "up", "▲"),
        ("Kursk", "down", "▼"),
    ]


def test_a_spike_is_a_burst_over_the_rules_own_baseline() -> None:
    policy = SpikePolicy(timedelta(hours=6), timedelta(days=7), factor=4.0, min_mentions=5)
    # 28 mentions over 7 days is 1 per 6 hours: 14 now is a spike, 4 is not.
    [spike] = find_spikes({"s": 14, "k": 4}, {"s": 28, "k": 0}, {"s": "Storm Corps"}, policy)
    assert spike.line() == "Storm Corps: 14 mentions in 6 h, usual 1"
    # A busy rule needs more than factor x its own usual count.
    assert find_spikes({"b": 30}, {"b": 280}, {}, policy) == []
    assert [s.rule for s in find_spikes({"b": 41}, {"b": 280}, {}, policy)] == ["b"]
    assert find_spikes({"n": 4}, {}, {}, policy) == []  # under min_mentions


def test_sparkline_for_plain_text() -> None:
    assert sparkline([0, 1, 4, 8], 8) == "·▁▄█"
    assert sparkline([0, 0], 0) == "··"
