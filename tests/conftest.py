"""Real parts for the tests: an HTTP feed server and an SMTP server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from monitor.app import Worker
from monitor.clock import utc_now
from monitor.config import Settings
from tests.postgres import postgres_cluster, postgres_url  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent
# feedparser's own test corpus, kept beside the repository (../shared), not in it.
CORPUS = Path(
    os.environ.get("MONITOR_TEST_CORPUS") or ROOT.parent / "shared" / "corpus" / "feedparser"
)
needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(),
    reason=f"feedparser's corpus is not at {CORPUS} (set MONITOR_TEST_CORPUS to where it is)",
)


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # answer 304 when the client sends it back
    # Takes over the whole exchange, to misbehave: hang, drip, send forever.
    custom: Callable[[BaseHTTPRequestHandler], None] | None = None


class FeedServer:
    """Serves scripted responses and counts requests per path."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.posts: list[tuple[str, bytes]] = []  # webhooks received
        self.post_headers: list[dict[str, str]] = []  # their headers, in the same order
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.handle(self)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                with server.lock:
                    server.posts.append((self.path, self.rfile.read(length)))
                    server.post_headers.append(dict(self.headers.items()))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for p, _ in self.requests if p == path)

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.requests.append((request.path, dict(request.headers.items())))
            route = self.routes.get(request.path, Route(b"not found", 404))
        if route.custom is not None:
            with contextlib.suppress(OSError):  # the client hung up on us, as it should
                route.custom(request)
            return
        if route.etag and request.headers.get("If-None-Match") == route.etag:
            request.send_response(304)
            request.send_header("ETag", route.etag)
            request.end_headers()
            return
        request.send_response(route.status)
        headers = {"Content-Type": "application/rss+xml; charset=utf-8", **route.headers}
        if route.etag:
            headers["ETag"] = route.etag
        headers["Content-Length"] = str(len(route.body))
        for name, value in headers.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(route.body)


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


class MailSink:
    """An aiosmtpd handler that keeps every message it accepts.

    Tests script it to misbehave: ``replies`` maps a stage to the answer it
    gives instead of 250 ("MAIL", "RCPT", "RCPT <address>" for one recipient,
    "DATA"); ``drop_after_data`` takes a message in, then hangs up before the 250.
    """

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.received = threading.Condition()
        self.replies: dict[str, str] = {}
        self.drop_after_data = False
        self.dropped: list[EmailMessage] = []  # taken in, never acknowledged
        self.commands: list[str] = []  # "MAIL", "RCPT <address>", "DATA", in order

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.commands.append("MAIL")
        if reply := self.replies.get("MAIL"):
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.commands.append(f"RCPT {address}")
        if reply := self.replies.get(f"RCPT {address}") or self.replies.get("RCPT"):
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.commands.append("DATA")
        if reply := self.replies.get("DATA"):
            return reply
        message = message_from_bytes(envelope.content, policy=policy.default)
        if self.drop_after_data:
            self.dropped.append(message)  # type: ignore[arg-type]
            server.transport.abort()  # gone before the 250 is written
            return "250 OK"
        with self.received:
            self.messages.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
            self.received.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        with self.received:
            self.received.wait_for(lambda: len(self.messages) >= count, timeout)
            return [m for _, m in self.messages]

    def to(self, address: str) -> list[EmailMessage]:
        """The messages accepted for one envelope recipient."""
        with self.received:
            return [m for rcpt, m in self.messages if address in rcpt]


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    """Any user name; the password "secret" is right, anything else earns a 535."""
    ok = isinstance(data, LoginPassword) and data.password == b"secret"
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 235 or 535


@dataclass
class Smtp:
    sink: MailSink
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


def start_smtp(port: int) -> tuple[Smtp, Controller]:
    sink = MailSink()
    controller = Controller(
        sink, hostname="127.0.0.1", port=port,
        authenticator=_authenticate, auth_require_tls=False,
    )  # fmt: skip
    controller.start()
    return Smtp(sink, port), controller


@pytest.fixture
def smtp_server() -> Iterator[Smtp]:
    smtp, controller = start_smtp(free_port())
    yield smtp
    controller.stop()


def all_at_once(
    task: Callable[[Any], object], subjects: list[Any], timeout: float = 60
) -> list[BaseException]:
    """``task(subject)`` for every subject, each on its own thread, released
    together by a barrier; what they raised (an exception in a thread would
    otherwise be lost)."""
    barrier = threading.Barrier(len(subjects))
    errors: list[BaseException] = []

    def run(subject: Any) -> None:
        barrier.wait()
        try:
            task(subject)
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(subject,)) for subject in subjects]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return errors


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "watchlists").mkdir()
    return tmp_path


# A workdir whose tests run on another database than its SQLite file: filled
# by the ``database_url`` and ``postgres_workdir`` fixtures, read by make_settings.
DATABASE_URLS: dict[Path, str] = {}


def database_url_for(workdir: Path) -> str:
    return DATABASE_URLS.get(workdir, f"sqlite:///{workdir / 'monitor.db'}")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, workdir: Path) -> Iterator[str]:
    """Runs a test on each backend: the URL that ``make_settings(workdir)`` uses."""
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'monitor.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    DATABASE_URLS[workdir] = url
    yield url
    DATABASE_URLS.pop(workdir, None)


@pytest.fixture
def postgres_workdir(request: pytest.FixtureRequest, workdir: Path) -> Iterator[Path]:
    """The workdir, with ``make_settings(workdir)`` pointing at a fresh PostgreSQL database."""
    DATABASE_URLS[workdir] = request.getfixturevalue("postgres_url")
    yield workdir
    DATABASE_URLS.pop(workdir, None)


@pytest.fixture(autouse=True)
def _backend_from_environment(request: pytest.FixtureRequest) -> Iterator[None]:
    """MONITOR_TEST_BACKEND=postgresql runs every test that builds its settings
    with make_settings(workdir) on PostgreSQL (the CLI and service tests, which
    start processes with their own SQLite URL, stay on SQLite)."""
    names = request.fixturenames
    if os.environ.get("MONITOR_TEST_BACKEND") != "postgresql" or "workdir" not in names:
        yield
        return
    workdir = request.getfixturevalue("workdir")
    if workdir not in DATABASE_URLS:
        DATABASE_URLS[workdir] = request.getfixturevalue("postgres_url")
    yield
    DATABASE_URLS.pop(workdir, None)


class Workers:
    """Makes workers for one test (as ``Worker(settings, clock, raise_errors)``)
    and closes every one when the test ends, passed or failed: no test leaves
    threads, processes or connections behind."""

    def __init__(self) -> None:
        self.made: list[Worker] = []

    def __call__(
        self, settings: Settings, clock: Callable[[], Any] = utc_now, raise_errors: bool = False
    ) -> Worker:
        worker = Worker(settings, clock=clock, raise_errors=raise_errors)
        self.made.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.made:
            worker.close()


@pytest.fixture
def workers() -> Iterator[Workers]:
    made = Workers()
    yield made
    made.close()


def make_settings(workdir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url_for(workdir),
        "watchlists": workdir / "watchlists",
        "output_dir": workdir / "digests",
        "templates": ROOT / "templates",
        "allow_hosts": "127.0.0.1",
        "fetch_timeout": 5.0,
        # Stories by words: the multilingual model costs seconds per digest;
        # the tests of stories across languages turn it on.
        "stories": "words",
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


def rss(
    *items: tuple[str, str, str], title: str = "Test wire", site: str = "news.example"
) -> bytes:
    """A small RSS 2.0 feed of (guid, title, description) items, each linked
    to https://<site>/<guid>."""
    body = "".join(
        f"<item><guid>{guid}</guid><title>{t}</title><link>https://{site}/{guid}</link>"
        f"<description>{d}</description><pubDate>Tue, 24 Nov 2026 08:00:00 GMT</pubDate></item>"
        for guid, t, d in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://news.example/</link><description>x</description>"
        f"{body}</channel></rss>"
    ).encode()


def read_before(worker: Worker, feed_server: FeedServer, *paths: str) -> None:
    """Has ``worker`` read the feeds at ``paths`` once, empty. A feed's first
    read is a backfill (old news: no alert, no spike), so a test of alerts
    starts, as a running service does, from feeds it already reads."""
    serving = {path: feed_server.routes[path] for path in paths}
    for path in paths:
        feed_server.routes[path] = Route(rss())
    worker.poll(force=True)
    feed_server.routes.update(serving)


SMALL_WATCHLIST = """\
title: Test watch
feeds:
{feeds}
entities:
  storm-corps:
    name: Storm Corps
    alert: {alert}
    aliases: [Storm Corps, 11th Corps, 폭풍군단]
  kursk:
    name: Kursk
    aliases: [Kursk, Курск*]
    exclude: [Kursk submarine]
  dprk:
    name: North Korea
    aliases: [North Korea, North Korean*, DPRK, Pyongyang]
topics:
  pact:
    name: DPRK-Russia pact
    query: '@dprk AND (Russia OR Moscow) AND (pact OR treaty OR "mutual assistance")'
digest:
  schedule: "{schedule}"
  timezone: Europe/Kyiv
  email: [{digest_email}]
alerts:
  email: [{alert_email}]
  notify: [{notify}]
"""


def write_watchlist(
    workdir: Path,
    feeds: list[str],
    *,
    name: str = "test-watch",
    alert: bool = False,
    schedule: str = "0 7 * * *",
    digest_email: str = "",
    alert_email: str = "",
    notify: str = "",
    timezone: str = "Europe/Kyiv",
    quiet_hours: str | None = None,
) -> Path:
    path = workdir / "watchlists" / f"{name}.yaml"
    text = SMALL_WATCHLIST.replace("timezone: Europe/Kyiv", f"timezone: {timezone}")
    if quiet_hours is not None:
        text += f'  quiet_hours: "{quiet_hours}"\n'
    text = text.format(
        feeds="\n".join(f"  - {url}" for url in feeds) or "  []",
        alert=str(alert).lower(),
        schedule=schedule,
        digest_email=digest_email,
        alert_email=alert_email,
        notify=notify,
    )
    if not feeds:
        text = text.replace("feeds:\n  []", "feeds: []")
    path.write_text(text, encoding="utf-8")
    return path
