"""`monitor run` as a real process: scheduled polls, alerts, digests, reloads, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import FeedServer, Route, Smtp, write_watchlist
from tests.test_pipeline import DATA

ROOT = Path(__file__).resolve().parent.parent


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def start_service(workdir: Path, smtp: Smtp) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": f"sqlite:///{workdir / 'monitor.db'}",
        "MONITOR_WATCHLISTS": str(workdir / "watchlists"),
        "MONITOR_OUTPUT_DIR": str(workdir / "digests"),
        "MONITOR_TEMPLATES": str(ROOT / "templates"),
        "MONITOR_SMTP_URL": smtp.url,
        "MONITOR_ALLOW_HOSTS": "127.0.0.1",
        "MONITOR_POLL_TICK_SECONDS": "0.5",
        "MONITOR_DIGEST_TICK_SECONDS": "0.5",
        "MONITOR_DELIVER_TICK_SECONDS": "0.5",
        "MONITOR_RELOAD_SECONDS": "0.3",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "run"],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def test_the_service_alerts_digests_reloads_and_stops_on_sigterm(
    workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes(), etag='"1"')
    path = write_watchlist(
        workdir, [feed_server.url("/wire.xml")], alert=True, schedule="*/3 * * * * *",
        digest_email="analyst@example.org", alert_email="duty@example.org",
    )  # fmt: skip
    service = start_service(workdir, smtp_server)
    try:
        sink = smtp_server.sink
        assert wait_until(lambda: any(m["To"] == "analyst@example.org" for m in sink.wait_for(0)))
        subjects = [m["Subject"] for m in sink.wait_for(0)]
        assert subjects.count("[alert] Test watch: Storm Corps (1 new)") == 1
        digests = [m for m in sink.wait_for(0) if m["To"] == "analyst@example.org"]
        assert digests[0]["Subject"].startswith("Test watch: 5 matches")

        # A broken edit keeps the last good version in force.
        path.write_text(path.read_text() + "\n  bad: [unclosed\n", encoding="utf-8")
        before = len(sink.wait_for(0))
        assert wait_until(lambda: len(sink.wait_for(0)) > before)  # digests keep coming
    finally:
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=30)
    assert service.returncode == 0, output
    assert "the last good version stays in force" in output
    assert f"{path}:" in output and "invalid YAML" in output
    assert "poll: 1 feeds polled, 4 new items, 5 new matches, 0 failed" in output
    assert "Traceback" not in output
    assert output.rstrip().endswith("stopped")
    assert feed_server.count("/wire.xml") >= 1
    assert (workdir / "digests" / "test-watch" / "index.html").exists()
