"""Delivery against a real SMTP server (aiosmtpd) scripted to fail at each stage,
alert batching and quiet hours, and header safety proven by re-parsing the bytes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from monitor import status as reports
from monitor.app import Worker
from monitor.channels.smtp import MAX_SUBJECT, SmtpConfig, SmtpSender, build_email, message_id
from monitor.errors import WatchlistError
from monitor.store.tables import OutboxRow
from monitor.types import OutboxMessage
from monitor.watchlist import LoadResult, load_file
from tests.conftest import (
    FeedServer,
    MailSink,
    Route,
    Smtp,
    Workers,
    free_port,
    make_settings,
    read_before,
    rss,
    start_smtp,
    write_watchlist,
)
from tests.test_pipeline import DATA, Clock

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)  # 07:00 in Kyiv
ANALYST = "analyst@example.org"
STAGE_NAMES = {"MAIL": "MAIL FROM", "RCPT": "RCPT TO", "DATA": "DATA"}


@dataclass(frozen=True)
class Row:
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime


def _loaded(worker: Worker) -> LoadResult:
    return LoadResult(tuple(worker.watchlists.by_id.values()), ())


def email_rows(worker: Worker) -> dict[str, Row]:
    """The email outbox rows by recipient."""
    with worker.store.session() as s:
        found = s.exec(select(OutboxRow).where(OutboxRow.channel == "email")).all()
        return {
            r.recipient: Row(r.status, r.attempts, r.last_error, r.next_attempt_at) for r in found
        }


def digest_worker(
    workers: Workers,
    workdir: Path,
    feed_server: FeedServer,
    smtp_url: str,
    recipients: list[str],
    **settings: object,
) -> tuple[Worker, Clock]:
    """A worker with the wire's five matches stored, due for a digest to ``recipients``."""
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes())
    write_watchlist(workdir, [feed_server.url("/wire.xml")], digest_email=", ".join(recipients))
    clock = Clock(NOW - timedelta(hours=1))
    worker = workers(
        make_settings(workdir, smtp_url=smtp_url, **settings), clock=clock, raise_errors=True
    )
    worker.poll()
    clock.now = NOW
    return worker, clock


def digest_now(worker: Worker) -> None:
    worker.digest_now(worker.watchlists.by_id["test-watch"])


def assert_one_line_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Every delivery problem is one line, without a traceback."""
    records = [r for r in caplog.records if r.name == "monitor.delivery.outbox"]
    assert records
    for record in records:
        assert "\n" not in record.getMessage() and record.exc_info is None
    assert "Traceback" not in caplog.text


# --- SMTP failures -----------------------------------------------------------


@pytest.mark.parametrize("stage", ["MAIL", "RCPT", "DATA"])
@pytest.mark.parametrize("reply", ["421 4.3.2 Service shutting down", "451 4.3.0 Try again later"])
def test_a_4xx_at_any_stage_is_retried_with_backoff(
    workers: Workers,
    workdir: Path,
    feed_server: FeedServer,
    smtp_server: Smtp,
    caplog: pytest.LogCaptureFixture,
    stage: str,
    reply: str,
) -> None:
    sink = smtp_server.sink
    worker, clock = digest_worker(workers, workdir, feed_server, smtp_server.url, [ANALYST])
    sink.replies[stage] = reply
    digest_now(worker)
    row = email_rows(worker)[ANALYST]
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error == f"SMTP {STAGE_NAMES[stage]} answered {reply}"
    assert row.next_attempt_at == NOW + timedelta(minutes=1)

    tried = len(sink.commands)
    clock.now = NOW + timedelta(seconds=59)
    worker.deliver()
    assert len(sink.commands) == tried  # not before its backoff is over
    clock.now = NOW + timedelta(minutes=1)
    worker.deliver()
    row = email_rows(worker)[ANALYST]
    assert (row.status, row.attempts) == ("pending", 2)
    assert row.next_attempt_at == clock.now + timedelta(minutes=2)  # doubled

    del sink.replies[stage]  # the server recovers
    clock.now += timedelta(minutes=2)
    assert worker.deliver().sent == 1
    assert (email_rows(worker)[ANALYST].status, len(sink.to(ANALYST))) == ("sent", 1)
    assert sink.to(ANALYST)[0]["Subject"] == "Test watch: 5 matches · 2026-11-25"
    assert_one_line_logs(caplog)
    assert "retrying at 2026-11-25 05:01:00 UTC" in caplog.text
    worker.close()


def test_retries_stop_at_the_limit_and_the_reason_is_kept(
    workers: Workers,
    workdir: Path,
    feed_server: FeedServer,
    smtp_server: Smtp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker, clock = digest_worker(
        workers, workdir, feed_server, smtp_server.url, [ANALYST], delivery_attempts=3
    )
    smtp_server.sink.replies["MAIL"] = "451 4.3.0 Try again later"
    digest_now(worker)  # attempt 1
    for wait in (1, 2):  # attempts 2 and 3, after 1 and 2 minutes
        clock.now += timedelta(minutes=wait)
        worker.deliver()
    row = email_rows(worker)[ANALYST]
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.last_error == "SMTP MAIL FROM answered 451 4.3.0 Try again later"
    clock.now += timedelta(hours=2)
    tried = len(smtp_server.sink.commands)
    worker.deliver()
    assert len(smtp_server.sink.commands) == tried  # given up: never tried again
    assert "gave up after 3 attempts" in caplog.text
    assert_one_line_logs(caplog)
    worker.close()


@pytest.mark.parametrize(
    ("stage", "reply"),
    [
        ("MAIL", "550 5.7.1 Sender rejected"),
        ("RCPT", "550 5.1.1 No such user"),
        ("DATA", "554 5.6.0 Message refused"),
    ],
)
def test_a_5xx_fails_the_row_at_once_with_the_reason(
    workers: Workers,
    workdir: Path,
    feed_server: FeedServer,
    smtp_server: Smtp,
    caplog: pytest.LogCaptureFixture,
    stage: str,
    reply: str,
) -> None:
    worker, clock = digest_worker(workers, workdir, feed_server, smtp_server.url, [ANALYST])
    smtp_server.sink.replies[stage] = reply
    digest_now(worker)
    row = email_rows(worker)[ANALYST]
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error == f"SMTP {STAGE_NAMES[stage]} answered {reply}"
    assert worker.store.digests.last("test-watch").status == "delivered"  # type: ignore[union-attr]
    clock.now += timedelta(hours=2)
    tried = len(smtp_server.sink.commands)
    worker.deliver()
    assert len(smtp_server.sink.commands) == tried
    assert f"failed for good: SMTP {STAGE_NAMES[stage]} answered {reply}" in caplog.text
    assert_one_line_logs(caplog)
    worker.close()


@pytest.mark.parametrize(("password", "status"), [("wrong", "failed"), ("secret", "sent")])
def test_smtp_authentication(
    workers: Workers,
    workdir: Path,
    feed_server: FeedServer,
    smtp_server: Smtp,
    password: str,
    status: str,
) -> None:
    url = f"smtp://monitor:{password}@127.0.0.1:{smtp_server.port}"
    worker, _ = digest_worker(workers, workdir, feed_server, url, [ANALYST])
    digest_now(worker)
    row = email_rows(worker)[ANALYST]
    assert row.status == status
    if status == "failed":
        assert row.last_error is not None and row.last_error.startswith("SMTP AUTH answered 535")
        assert "MONITOR_SMTP_URL" in row.last_error and "wrong" not in row.last_error
        assert smtp_server.sink.to(ANALYST) == []
    else:
        assert len(smtp_server.sink.to(ANALYST)) == 1
    worker.close()


def test_each_recipient_has_its_own_result_and_is_never_sent_twice(
    workers: Workers, workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    sink = smtp_server.sink
    accepts, refuses, defers = ANALYST, "gone@example.org", "busy@example.org"
    worker, clock = digest_worker(
        workers, workdir, feed_server, smtp_server.url, [accepts, refuses, defers]
    )
    sink.replies[f"RCPT {refuses}"] = "550 5.1.1 No such user"
    sink.replies[f"RCPT {defers}"] = "450 4.2.1 Mailbox busy"
    digest_now(worker)
    rows = email_rows(worker)
    assert {k: (r.status, r.attempts) for k, r in rows.items()} == {
        accepts: ("sent", 1),
        refuses: ("failed", 1),
        defers: ("pending", 1),
    }
    assert rows[refuses].last_error == "SMTP RCPT TO answered 550 5.1.1 No such user"

    del sink.replies[f"RCPT {defers}"]
    for _ in range(3):  # the retry, and later runs with nothing due
        clock.now += timedelta(minutes=5)
        worker.deliver()
    assert [len(sink.to(a)) for a in (accepts, refuses, defers)] == [1, 0, 1]
    rcpts = [c for c in sink.commands if c.startswith("RCPT")]
    assert rcpts.count(f"RCPT {accepts}") == 1  # the retry never went to who had accepted
    assert email_rows(worker)[defers].status == "sent"
    status = reports.status(worker.store, _loaded(worker), worker.clock())
    assert status["outbox"] == {"sent": 3, "failed": 1}  # the file and two emails; one refused
    failed = f"failed: digest email to {refuses}: SMTP RCPT TO answered 550 5.1.1 No such user"
    assert f"  {failed}" in list(reports.status_lines(status))
    worker.close()


def test_a_connection_dropped_before_the_250_is_retried_with_the_same_message_id(
    workers: Workers, workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    sink = smtp_server.sink
    worker, clock = digest_worker(workers, workdir, feed_server, smtp_server.url, [ANALYST])
    sink.drop_after_data = True
    digest_now(worker)
    row = email_rows(worker)[ANALYST]
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error is not None and "closed the connection" in row.last_error
    assert len(sink.dropped) == 1  # the server had it, but never said so

    sink.drop_after_data = False
    clock.now += timedelta(minutes=1)
    worker.deliver()
    [delivered] = sink.to(ANALYST)
    assert email_rows(worker)[ANALYST].status == "sent"
    # At least once: the retry is a second copy, recognisable as the same message.
    assert delivered["Message-ID"] == sink.dropped[0]["Message-ID"]
    worker.close()


def test_an_unreachable_server_keeps_the_message_until_it_is_back(
    workers: Workers, workdir: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens here yet
    worker, clock = digest_worker(
        workers, workdir, feed_server, f"smtp://127.0.0.1:{port}", [ANALYST]
    )
    digest_now(worker)
    row = email_rows(worker)[ANALYST]
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error is not None and "ConnectionRefusedError" in row.last_error
    assert_one_line_logs(caplog)

    smtp, controller = start_smtp(port)
    try:
        clock.now += timedelta(minutes=1)
        worker.deliver()
        assert len(smtp.sink.to(ANALYST)) == 1
        assert email_rows(worker)[ANALYST].status == "sent"
    finally:
        controller.stop()
        worker.close()


def test_concurrent_senders_send_each_message_once(
    workers: Workers, workdir: Path, database_url: str, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    # Four workers (threads here, replicas in production) deliver the same
    # outbox at once, on SQLite and on PostgreSQL: each message goes out once.
    recipients = [f"reader{i}@example.org" for i in range(12)]
    worker, clock = digest_worker(workers, workdir, feed_server, smtp_server.url, recipients)
    worker.digests.make(worker.watchlists.by_id["test-watch"], NOW, NOW)
    workers = [worker] + [
        workers(make_settings(workdir, smtp_url=smtp_server.url), clock=clock) for _ in range(3)
    ]
    with ThreadPoolExecutor(len(workers)) as pool:
        reports = list(pool.map(lambda w: w.deliver(), workers))
    assert sum(r.sent for r in reports) == len(recipients) + 1  # and the HTML file
    assert [len(smtp_server.sink.to(r)) for r in recipients] == [1] * len(recipients)
    assert {r.status for r in email_rows(worker).values()} == {"sent"}
    for w in workers:
        w.close()


# --- alerts --------------------------------------------------------------------


def test_a_burst_of_50_matches_is_one_alert_per_recipient(
    workers: Workers,
    workdir: Path,
    feed_server: FeedServer,
    smtp_server: Smtp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_HOOK_URL", f"json://{feed_server.host}/hook")
    items = [(f"b{i}", f"Storm Corps unit {i} seen", "Near the front.") for i in range(50)]
    feed_server.routes["/burst"] = Route(rss(*items))
    recipients = ["duty@example.org", "desk@example.org"]
    write_watchlist(
        workdir, [feed_server.url("/burst")], alert=True,
        alert_email=", ".join(recipients), notify="env:TEST_HOOK_URL",
    )  # fmt: skip
    worker = workers(
        make_settings(workdir, smtp_url=smtp_server.url), clock=Clock(NOW), raise_errors=True
    )
    read_before(worker, feed_server, "/burst")
    report = worker.poll(force=True)
    assert report.new_matches == 50
    emails = smtp_server.sink.wait_for(2, timeout=5)
    hooks = [body for path, body in feed_server.posts if path == "/hook"]
    print(f"\nburst: 50 matches -> {len(emails)} alert emails, {len(hooks)} webhook posts")
    assert [len(smtp_server.sink.to(r)) for r in recipients] == [1, 1]
    assert len(emails) == 2 and len(hooks) == 1
    # The webhook carries the outbox row's key, for the receiver to drop a retry's copy.
    posts = zip(feed_server.posts, feed_server.post_headers, strict=True)
    [hook_headers] = [headers for (path, _), headers in posts if path == "/hook"]
    assert hook_headers["Idempotency-Key"].startswith("alert:")
    assert emails[0]["Subject"] == "[alert] Test watch: Storm Corps (50 new)"
    text = emails[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert all(f"Storm Corps unit {i} seen" in text for i in range(50))
    worker.poll(force=True)  # nothing new: nothing more
    assert len(smtp_server.sink.wait_for(0)) == 2
    worker.close()


def test_quiet_hours_hold_alerts_until_the_window_ends(
    workers: Workers, workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    feed_server.routes["/wire"] = Route(rss(("q1", "Storm Corps moves at night", "x")))
    feed_server.routes["/broken"] = Route(b"oops", status=500)
    write_watchlist(
        workdir, [feed_server.url("/wire"), feed_server.url("/broken")], alert=True,
        alert_email="duty@example.org", quiet_hours="22:00-07:00",
    )  # fmt: skip
    clock = Clock(datetime(2026, 11, 24, 21, 0, tzinfo=UTC))  # 23:00 in Kyiv
    worker = workers(
        make_settings(workdir, smtp_url=smtp_server.url, pause_after=1),
        clock=clock,
        raise_errors=True,
    )
    read_before(worker, feed_server, "/wire")
    worker.poll(force=True)  # a match and a paused feed, in quiet hours
    assert smtp_server.sink.to("duty@example.org") == []
    assert len(worker.store.matches.unqueued_alerts()) == 1

    clock.now = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 03:00
    feed_server.routes["/wire"] = Route(
        rss(("q1", "Storm Corps moves at night", "x"), ("q2", "Storm Corps at dawn", "y"))
    )
    worker.poll(force=True)
    clock.now = datetime(2026, 11, 25, 4, 59, tzinfo=UTC)  # 06:59
    worker.poll()
    worker.deliver()
    assert smtp_server.sink.to("duty@example.org") == []

    clock.now = NOW  # 07:00: the window is over
    worker.poll()
    worker.deliver()
    messages = smtp_server.sink.to("duty@example.org")
    subjects = sorted(m["Subject"] for m in messages)
    assert subjects == [
        "[alert] Test watch: Storm Corps (2 new)",  # both held matches, in one alert
        f"[feed paused] Test watch: {feed_server.url('/broken')}",
    ]
    digest_now(worker)  # and every alert is in the digest too
    html = (workdir / "digests" / "test-watch" / "20261125T050000Z.html").read_text()
    assert "Storm Corps moves at night" in html and "Storm Corps at dawn" in html
    worker.close()


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ("25:00-07:00", "not a time window: '25:00-07:00' (use HH:MM-HH:MM, e.g. 22:00-07:00)"),
        ("22:00", "not a time window: '22:00' (use HH:MM-HH:MM, e.g. 22:00-07:00)"),
        ("07:00-07:00", "'07:00-07:00' starts and ends at the same time"),
    ],
)
def test_bad_quiet_hours_are_reported_at_file_line_col(
    workdir: Path, window: str, message: str
) -> None:
    path = write_watchlist(workdir, [], quiet_hours=window)
    lines = path.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "quiet_hours" in text)
    column = lines[line - 1].index('"') + 1
    with pytest.raises(WatchlistError) as raised:
        load_file(path)
    assert [str(d) for d in raised.value.diagnostics] == [
        f"{path}:{line}:{column}: alerts.quiet_hours: {message}"
    ]


# --- header safety -------------------------------------------------------------

EXPECTED_HEADERS = {
    "Subject", "From", "To", "Date", "Message-ID", "List-Id", "X-Monitor-Watchlist",
    "Auto-Submitted", "MIME-Version", "Content-Type",
}  # fmt: skip
HOSTILE_TITLES = [
    "Kursk\r\nBcc: evil@example.org",
    "Kursk\nBcc: evil@example.org",
    "=?UTF-8?Q?=0A?=Bcc: evil@example.org",
    "=?utf-8?b?DQpCY2M6IGV2aWxAZXhhbXBsZS5vcmc=?= tail",  # \r\nBcc: ... in base64
    "Kursk\u2028Bcc: evil@example.org",
    "Kursk\u2029Bcc: evil@example.org",
    "Kursk\u0085Bcc: evil@example.org",
    "Kursk\x0bBcc:\x0cevil@example.org\x1c\x1d\x1e\x00",
    "Storm Corps " * 900,  # about 10 KB
    "Курськ " * 1500,  # 10 KB of non-ASCII: encoded words, folded
]


def headers_of(raw: bytes) -> tuple[set[str], EmailMessage]:
    parsed = message_from_bytes(raw, policy=policy.default)
    return set(parsed.keys()), parsed  # type: ignore[return-value]


def hostile_message(subject: str) -> OutboxMessage:
    return OutboxMessage(
        1, "digest", "test-watch", "email", ANALYST, subject, "text", "<p>html</p>",
        "digest:test-watch:2026-11-25T05:00:00+00:00:email:analyst@example.org", 0,
    )  # fmt: skip


def test_the_header_check_catches_an_injected_header() -> None:
    # The check below must be able to fail: a raw Bcc line is seen.
    names, parsed = headers_of(b"Subject: x\r\nBcc: evil@example.org\r\nTo: a@example.org\r\n\r\n")
    assert "Bcc" in names and parsed["Bcc"] == "evil@example.org"


@pytest.mark.parametrize("title", HOSTILE_TITLES, ids=range(len(HOSTILE_TITLES)))
def test_a_hostile_title_is_one_bounded_subject_line(title: str) -> None:
    email = build_email(hostile_message(f"Test watch: {title}"), "monitor@localhost", NOW)
    for raw in (email.as_bytes(), email.as_bytes(policy=email.policy.clone(linesep="\r\n"))):
        names, parsed = headers_of(raw)
        assert names == EXPECTED_HEADERS
        assert len(parsed.get_all("Subject") or []) == 1
        subject = str(parsed["Subject"])
        assert len(subject) <= MAX_SUBJECT and subject.startswith("Test watch: ")
        assert not any(c in subject for c in "\r\n\x0b\x0c\x1c\x1d\x1e\x00\x85\u2028\u2029")
        assert "=?" not in subject  # no encoded word survives to be decoded again
        assert parsed["To"] == ANALYST


def test_a_hostile_watchlist_title_reaches_the_server_as_one_subject(
    workers: Workers, workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    worker, _ = digest_worker(workers, workdir, feed_server, smtp_server.url, [ANALYST])
    path = workdir / "watchlists" / "test-watch.yaml"
    hostile = r"Watch\r\nBcc: evil@example.org =?UTF-8?Q?=0A?=Bcc: evil@example.org\u2028X: y"
    path.write_text(
        path.read_text().replace("title: Test watch", f'title: "{hostile}"'), encoding="utf-8"
    )
    assert worker.reload()
    assert "\n" in worker.watchlists.by_id["test-watch"].title  # YAML made real newlines
    digest_now(worker)
    [(rcpts, message)] = smtp_server.sink.messages
    assert rcpts == [ANALYST]  # the envelope: one recipient, whatever the headers say
    names, parsed = headers_of(message.as_bytes())
    assert names == EXPECTED_HEADERS
    assert str(parsed["Subject"]).startswith("Watch Bcc: evil@example.org = ?UTF-8?Q?=0A?=Bcc:")
    worker.close()


def test_the_sender_gives_the_envelope_not_the_headers() -> None:
    # A message whose headers name others still goes to the one row's recipient.
    smtp, controller = start_smtp(free_port())
    try:
        email = build_email(hostile_message("x"), "monitor@localhost", NOW)
        email["Cc"] = "other@example.org"
        SmtpSender(SmtpConfig.from_url(smtp.url)).send(email, ANALYST)
        assert [rcpts for rcpts, _ in smtp.sink.messages] == [[ANALYST]]
    finally:
        controller.stop()


def test_messages_failed_for_good_are_sent_again_once_the_cause_is_fixed(
    workers: Workers, workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    worker, _ = digest_worker(workers, workdir, feed_server, smtp_server.url, [ANALYST])
    smtp_server.sink.replies["RCPT"] = "550 5.1.1 No such user"
    digest_now(worker)
    assert email_rows(worker)[ANALYST].status == "failed"
    del smtp_server.sink.replies["RCPT"]  # the address was fixed on the server's side
    assert worker.store.outbox.requeue_failed(worker.clock(), recipient="someone@else.org") == 0
    assert worker.store.outbox.requeue_failed(worker.clock(), recipient=ANALYST) == 1
    worker.deliver()
    [mail] = smtp_server.sink.wait_for(1)
    row = email_rows(worker)[ANALYST]
    assert (row.status, row.attempts) == ("sent", 1)
    with worker.store.session() as s:
        key = s.exec(select(OutboxRow.idempotency_key).where(OutboxRow.channel == "email")).one()
    assert mail["Message-ID"] == message_id(key, worker.settings.mail_from)  # as first built
    assert worker.store.outbox.requeue_failed(worker.clock()) == 0  # nothing failed any more
    worker.close()


def test_mail_without_smtp_waits_in_the_outbox_and_goes_out_once_it_is_set(
    workers: Workers, workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes())
    write_watchlist(
        workdir, [feed_server.url("/wire.xml")], alert=True,
        digest_email=ANALYST, alert_email="duty@example.org",
    )  # fmt: skip
    clock = Clock(NOW)
    # The sample wire's items are a day and a half old by NOW: still news here.
    without = workers(make_settings(workdir, alert_max_age="7d"), clock=clock, raise_errors=True)
    read_before(without, feed_server, "/wire.xml")
    without.poll(force=True)  # an alert for the Storm Corps
    without.digest_now(without.watchlists.by_id["test-watch"])
    rows = email_rows(without)
    assert {to: row.status for to, row in rows.items()} == {
        ANALYST: "pending",
        "duty@example.org": "pending",
    }
    assert all(row.attempts == 0 for row in rows.values())  # never tried, never failed
    report = reports.status(without.store, _loaded(without), clock(), mail=False)
    assert report["mail_waiting_for_smtp"] == 2
    lines = list(reports.status_lines(report))
    assert any(line.startswith("Mail: 2 messages wait for MONITOR_SMTP_URL") for line in lines)
    assert report["digests"][0]["last_status"] == "queued"  # not "delivered"
    with_smtp = workers(make_settings(workdir, smtp_url=smtp_server.url), clock=clock)
    assert with_smtp.deliver().sent == 2
    assert [len(smtp_server.sink.to(a)) for a in (ANALYST, "duty@example.org")] == [1, 1]


def test_a_message_over_the_servers_size_limit_goes_cut_to_fit_not_lost(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    """A server announcing SIZE 8000 (Postfix announces its 10 MB the same
    way): the digest goes as its text, cut to fit and saying so, with its
    Message-ID; the alert beside it goes whole."""
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port(), data_size_limit=8_000)
    controller.start()
    try:
        worker, _ = digest_worker(
            workers, workdir, feed_server, f"smtp://127.0.0.1:{controller.port}", [ANALYST]
        )
        digest_now(worker)
        [message] = sink.wait_for(1)
    finally:
        controller.stop()
    body = message.get_body(("plain",))
    assert body is not None and "to fit the mail server's limit of 8,000 bytes" in (
        body.get_content()
    )
    assert len(message.as_bytes()) < 8_000 and message.get_body(("html",)) is None
    assert email_rows(worker)[ANALYST].status == "sent"
