"""No setting's password or token, and no feed's credentials, is ever printed."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.logs import Redacting
from monitor.redact import redact_text, redact_url
from tests.conftest import FeedServer, Route, Smtp, write_watchlist
from tests.test_cli import monitor
from tests.test_service import start_service, wait_until


@pytest.mark.parametrize(
    ("url", "printed"),
    [
        ("smtp://user:s3cr3t@mail.example:587", "smtp://user:***@mail.example:587"),
        ("https://t0ken@hooks.example/x", "https://***@hooks.example/x"),
        ("https://feeds.example/f?token=abc&page=2", "https://feeds.example/f?token=***&page=2"),
        (
            "postgresql+psycopg://monitor:pw@db/monitor",
            "postgresql+psycopg://monitor:***@db/monitor",
        ),
        ("https://feeds.example/rss", "https://feeds.example/rss"),
        ("sqlite:///data/monitor.db", "sqlite:///data/monitor.db"),  # as written
        ("sqlite:///file:/srv/m.db?mode=ro&uri=true", "sqlite:///file:/srv/m.db?mode=ro&uri=true"),
    ],
)
def test_urls_are_printed_without_their_secrets(url: str, printed: str) -> None:
    assert redact_url(url) == printed
    assert redact_text(f"cannot connect to {url}: refused").count("s3cr3t") == 0


def test_a_logged_line_and_its_traceback_are_masked() -> None:
    record = logging.LogRecord(
        "m", logging.ERROR, "f", 1, "sending via %s", ("smtp://u:pw9@h",), None
    )
    try:
        raise ValueError("while talking to https://u:pw9@feeds.example/")
    except ValueError:
        record.exc_info = sys.exc_info()
    Redacting().filter(record)
    assert "pw9" not in record.getMessage() and "pw9" not in (record.exc_text or "")


def test_a_malformed_smtp_url_is_refused_without_its_password(workdir: Path) -> None:
    write_watchlist(workdir, [])
    bad = _monitor_with(workdir, MONITOR_SMTP_URL="http://user:hunter2@mail.example")
    assert bad.returncode == 1 and "hunter2" not in bad.stdout + bad.stderr
    assert bad.stderr.strip() == (
        "error: MONITOR_SMTP_URL must look like smtp://user:***@host:port, "
        "not http://user:***@mail.example"
    )


def _monitor_with(workdir: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MONITOR_DATABASE_URL": f"sqlite:///{workdir / 'monitor.db'}",
           "MONITOR_WATCHLISTS": str(workdir / "watchlists"), **environ}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", "poll"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_service_never_logs_a_password(
    workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    feed_server.routes["/f"] = Route(b"", 401)
    url = feed_server.url("/f").replace("http://", "http://reader:feedpass@")
    write_watchlist(workdir, [url])
    log = workdir / "service.log"
    service = start_service(
        workdir, smtp_server, log=log,
        smtp_url=f"smtp://analyst:mailpass@127.0.0.1:{smtp_server.port}",
        database_url=f"sqlite:///{workdir / 'monitor.db'}",
    )  # fmt: skip
    try:
        assert wait_until(lambda: "poll:" in log.read_text(encoding="utf-8"))
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(30)
    text = log.read_text(encoding="utf-8")
    assert "monitor running" in text and "http_401" in text
    assert "mailpass" not in text and "feedpass" not in text
    status = monitor(workdir, "status")
    assert url.replace("feedpass", "***") in status.stdout and "feedpass" not in status.stdout
