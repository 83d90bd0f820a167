"""`monitor run` serves Prometheus metrics and, on request, logs one JSON object a line."""

from __future__ import annotations

import json
import signal
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import FeedServer, Route, Smtp, free_port, write_watchlist
from tests.test_pipeline import DATA
from tests.test_service import a_slot_just_past, start_service, wait_until

ANALYST = "analyst@example.org"


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the endpoint: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode("utf-8")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_running_service_serves_its_metrics_and_logs_json_lines(
    workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes(), etag='"1"')
    slow = threading.Event()  # a feed that answers only when the test says so

    def hang(request: BaseHTTPRequestHandler) -> None:
        slow.wait(20)
        request.send_response(304)
        request.end_headers()

    feed_server.routes["/slow.xml"] = Route(custom=hang)
    feeds = [feed_server.url("/wire.xml"), feed_server.url("/slow.xml")]
    write_watchlist(workdir, feeds, digest_email=ANALYST, timezone="UTC")
    port = free_port()
    service = start_service(workdir, smtp_server, metrics_port=str(port), log_format="json")
    try:
        # Both feeds are claimed at once; the wire is done, the slow feed is
        # being fetched: this worker holds its lease (the cycle's counts come
        # when the cycle ends).
        assert wait_until(lambda: feed_server.count("/slow.xml") == 1)
        assert wait_until(lambda: _get(port, "monitor_feed_leases_held") == 1)
        assert _get(port, "monitor_new_items_total") == 0
        slow.set()
        assert wait_until(lambda: _get(port, "monitor_new_items_total") == 4)
        # A digest slot passes: one digest, mailed and written.
        write_watchlist(
            workdir, feeds, digest_email=ANALYST, timezone="UTC", schedule=a_slot_just_past()
        )
        assert wait_until(lambda: len(smtp_server.sink.to(ANALYST)) == 1)
        assert wait_until(lambda: sum(v for (n, _), v in scrape(port).items()
                                      if n == "monitor_deliveries_total") == 2)  # fmt: skip
        after = scrape(port)
    finally:
        slow.set()
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=30)
    assert service.returncode == 0, output

    assert after[("monitor_polls_total", (("outcome", "updated"),))] == 1
    assert after[("monitor_polls_total", (("outcome", "http_304"),))] >= 1  # the slow one
    assert after[("monitor_fetch_seconds_count", ())] >= 2
    assert after[("monitor_fetch_seconds_sum", ())] > 0
    assert after[("monitor_new_items_total", ())] == 4
    assert after[("monitor_new_matches_total", (("watchlist", "test-watch"),))] == 5
    assert after[("monitor_digests_created_total", (("watchlist", "test-watch"),))] == 1
    assert after[("monitor_deliveries_total", (("channel", "email"), ("status", "sent")))] == 1
    assert after[("monitor_deliveries_total", (("channel", "file"), ("status", "sent")))] == 1
    assert after[("monitor_feed_leases_held", ())] == 0
    assert after[("monitor_outbox_pending", ())] == 0

    # MONITOR_LOG_FORMAT=json: every line the service wrote is one JSON object.
    lines = output.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert all(isinstance(r, dict) and set(r) >= {"time", "level", "logger", "message"}
               for r in records)  # fmt: skip
    messages = [r["message"] for r in records]
    assert any(m.startswith("monitor running:") and f":{port}/metrics" in m for m in messages)
    assert "poll: 2 feeds polled, 4 new items, 5 new matches, 0 failed" in messages
    assert messages[-1] == "stopped"


def _get(port: int, name: str) -> float | None:
    try:
        return scrape(port).get((name, ()))
    except OSError:  # not serving yet
        return None


def test_a_metrics_port_in_use_is_one_clear_error(workdir: Path, smtp_server: Smtp) -> None:
    write_watchlist(workdir, [])
    port = free_port()
    first = start_service(workdir, smtp_server, metrics_port=str(port))
    try:
        assert wait_until(lambda: _get(port, "monitor_outbox_pending") is not None)
        other = workdir / "other"
        (other / "watchlists").mkdir(parents=True)
        second = start_service(other, smtp_server, metrics_port=str(port))
        output, _ = second.communicate(timeout=60)
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert second.returncode == 1 and "Traceback" not in output, output
    [line] = output.strip().splitlines()
    assert f"cannot serve metrics on port {port}: Address already in use" in line
