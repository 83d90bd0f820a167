"""Digests: golden text, HTML files and index, and the email on a real SMTP server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest

from monitor.app import Worker
from monitor.schedule import Cron, due_digest_slot
from tests.conftest import (
    FeedServer,
    Route,
    Smtp,
    Workers,
    make_settings,
    needs_corpus,
    read_before,
    rss,
    write_watchlist,
)
from tests.golden import assert_golden
from tests.test_pipeline import DATA, Clock

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)  # 07:00 in Kyiv


def poll_wire(
    workers: Workers, workdir: Path, feed_server: FeedServer, clock: Clock, **settings: object
) -> Worker:
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes())
    write_watchlist(workdir, [feed_server.url("/wire.xml")], **settings)  # type: ignore[arg-type]
    worker = workers(make_settings(workdir), clock=clock, raise_errors=True)
    worker.poll()
    return worker


def test_digest_text_is_golden_and_html_is_written(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    clock = Clock(NOW - timedelta(hours=1))
    worker = poll_wire(workers, workdir, feed_server, clock)
    clock.now = NOW
    watchlist = worker.watchlists.by_id["test-watch"]
    result = worker.digest_now(watchlist)
    assert result.record is not None and result.record.match_count == 5
    [message] = [m for m in _sent(worker) if m.channel == "file"]
    assert_golden("digest.txt", message.body_text.replace(str(workdir), "WORKDIR"))
    html_file = workdir / "digests" / "test-watch" / "20261125T050000Z.html"
    html = html_file.read_text(encoding="utf-8")
    assert "<mark" in html and "Storm Corps" in html
    # In the digest's zone: a first digest says since when, each card when it was published.
    assert "since this watchlist started, 2026-11-25 06:00 EET" in html
    assert "published 24 Nov 11:00 EET" in html
    index = (workdir / "digests" / "test-watch" / "index.html").read_text(encoding="utf-8")
    assert 'href="20261125T050000Z.html"' in index
    worker.close()


def _sent(worker: Worker) -> list:  # type: ignore[type-arg]
    from sqlmodel import select

    from monitor.store.tables import OutboxRow

    with worker.store.session() as s:
        return list(s.exec(select(OutboxRow)))


def test_an_empty_period_says_so(workers: Workers, workdir: Path, feed_server: FeedServer) -> None:
    feed_server.routes["/quiet"] = Route(rss(("w", "Weather in Seoul", "Snow")))
    write_watchlist(workdir, [feed_server.url("/quiet")])
    worker = workers(make_settings(workdir), clock=Clock(NOW), raise_errors=True)
    worker.poll()
    result = worker.digest_now(worker.watchlists.by_id["test-watch"])
    assert result.record is not None and result.record.match_count == 0
    html = (workdir / "digests" / "test-watch" / "20261125T050000Z.html").read_text()
    assert "No new matches in this period" in html
    worker.close()


class _Texts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]


def test_feed_text_is_escaped_in_html(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    # Escaped twice: after HTML-to-text it is literal markup in the item's text.
    hostile = "North Korea &amp;lt;img src=x onerror=alert(1)&amp;gt;&amp;lt;script&amp;gt;"
    feed_server.routes["/x"] = Route(rss(("x", hostile, hostile)))
    write_watchlist(workdir, [feed_server.url("/x")])
    worker = workers(make_settings(workdir), clock=Clock(NOW), raise_errors=True)
    worker.poll()
    worker.digest_now(worker.watchlists.by_id["test-watch"])
    html = (workdir / "digests" / "test-watch" / "20261125T050000Z.html").read_text()
    parser = _Texts()
    parser.feed(html)
    assert "img" not in parser.tags and "script" not in parser.tags
    assert "onerror" not in parser.attributes
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;" in html
    worker.close()


def test_digest_and_alert_emails(
    workers: Workers, workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes())
    write_watchlist(
        workdir, [feed_server.url("/wire.xml")], alert=True,
        digest_email="analyst@example.org", alert_email="duty@example.org",
    )  # fmt: skip
    clock = Clock(NOW - timedelta(hours=1))
    settings = make_settings(workdir, smtp_url=smtp_server.url, alert_max_age="7d")
    worker = workers(settings, clock=clock, raise_errors=True)
    read_before(worker, feed_server, "/wire.xml")
    worker.poll(force=True)
    [alert] = smtp_server.sink.wait_for(1)
    assert alert["To"] == "duty@example.org"
    assert alert["Subject"] == "[alert] Test watch: Storm Corps (1 new)"
    worker.poll(force=True)  # nothing new: no second alert
    clock.now = NOW
    worker.digest_now(worker.watchlists.by_id["test-watch"])
    messages = smtp_server.sink.wait_for(2)
    assert len(messages) == 2
    digest = messages[1]
    assert digest["To"] == "analyst@example.org"
    assert digest["Subject"] == "Test watch: 5 matches · 2026-11-25"
    assert digest["Message-ID"].endswith("@localhost>") and digest["Date"]
    assert digest.get_content_type() == "multipart/alternative"
    text = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = digest.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "[11th Corps]" in text and "<mark" in html
    assert "watchlists/test-watch.yaml" in text
    worker.close()


def test_a_missed_schedule_makes_one_catch_up_digest(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    clock = Clock(datetime(2026, 11, 20, 3, 0, tzinfo=UTC))
    worker = poll_wire(workers, workdir, feed_server, clock)
    clock.now = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)  # 07:00 in Kyiv: on time
    [first] = [r.record for r in worker.due_digests()]
    assert first is not None and first.match_count == 5

    # Seen after that digest, before the service stops over two 07:00 slots.
    feed_server.routes["/wire.xml"] = Route(rss(("late-1", "Storm Corps at dusk", "x")))
    clock.now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    worker.poll(force=True)
    worker.close()

    clock.now = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)  # the 21st and 22nd were missed
    feed_server.routes["/wire.xml"] = Route(
        rss(("late-1", "Storm Corps at dusk", "x"), ("late-2", "Kursk at dawn", "y"))
    )
    worker = workers(make_settings(workdir), clock=clock, raise_errors=True)  # the restart
    worker.poll()
    results = worker.due_digests()
    [catch_up] = [r.record for r in results]  # one, not one per missed slot
    assert catch_up is not None
    assert catch_up.scheduled_for == datetime(2026, 11, 22, 5, 0, tzinfo=UTC)  # the latest
    assert (catch_up.window_start, catch_up.window_end) == (first.window_end, clock.now)
    titles = [
        m.item_title
        for m in worker.store.matches.between("test-watch", first.window_end, clock.now)
    ]
    assert catch_up.match_count == 2 and titles == ["Storm Corps at dusk", "Kursk at dawn"]
    html = (workdir / "digests" / "test-watch" / "20261122T050000Z.html").read_text()
    assert "Storm Corps at dusk" in html and "Kursk at dawn" in html
    assert worker.store.matches.unreported("test-watch") == []
    assert worker.due_digests() == []  # that slot is done
    clock.now = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    [following] = [r.record for r in worker.due_digests()]
    assert following is not None and following.match_count == 0  # back on schedule
    assert worker.store.counts()["digests"] == 3
    worker.close()


def test_due_digest_slot_in_the_watchlists_zone() -> None:
    cron = Cron("0 7 * * *", "Europe/Kyiv")
    anchor = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    assert due_digest_slot(cron, anchor, datetime(2026, 11, 25, 4, 59, tzinfo=UTC)) is None
    slot = due_digest_slot(cron, anchor, datetime(2026, 11, 25, 5, 0, tzinfo=UTC))
    assert slot == datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
    summer = due_digest_slot(
        cron, anchor - timedelta(days=200), datetime(2026, 7, 1, 4, 30, tzinfo=UTC)
    )
    assert summer == datetime(2026, 7, 1, 4, 0, tzinfo=UTC)  # 07:00 EEST


def test_alerts_and_digests_reach_notification_urls(
    workers: Workers, workdir: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The token-bearing URLs live in the environment; the watchlist names the variables.
    monkeypatch.setenv("TEST_HOOK_URL", f"json://{feed_server.host}/hook")
    monkeypatch.setenv("TEST_DIGEST_HOOK_URL", f"json://{feed_server.host}/digest-hook")
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes())
    path = write_watchlist(
        workdir, [feed_server.url("/wire.xml")], alert=True, notify="env:TEST_HOOK_URL"
    )
    digest_notify = "\n  notify: [env:TEST_DIGEST_HOOK_URL]\nalerts:\n"
    path.write_text(path.read_text("utf-8").replace("\nalerts:\n", digest_notify), "utf-8")
    worker = workers(
        make_settings(workdir, alert_max_age="7d"), clock=Clock(NOW), raise_errors=True
    )
    read_before(worker, feed_server, "/wire.xml")
    worker.poll(force=True)
    worker.poll(force=True)
    worker.digest_now(worker.watchlists.by_id["test-watch"])

    def received(hook: str) -> list[dict[str, str]]:
        return [json.loads(body) for at, body in feed_server.posts if at == hook]

    # The alert to alerts.notify; the digest, as its short form, to digest.notify only.
    [alert] = received("/hook")
    assert alert["title"] == "[alert] Test watch: Storm Corps (1 new)"
    assert "11th Corps" in alert["message"]
    [digest] = received("/digest-hook")
    assert digest["title"] == "Test watch: 5 matches · 2026-11-25"
    assert 0 < len(digest["message"].splitlines()) <= 12  # not the whole digest
    worker.close()


def test_an_unset_notification_variable_is_reported_at_load_and_fails_nothing(
    workers: Workers,
    workdir: Path,
    feed_server: FeedServer,
    smtp_server: Smtp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The seed names env:MONITOR_NOTIFY_DUTY: unset, it is said once when
    the watchlist loads, and the alert and digest mail go out as ever."""
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes())
    write_watchlist(
        workdir, [feed_server.url("/wire.xml")], alert=True, notify="env:NOT_SET_ANYWHERE",
        alert_email="duty@example.org", digest_email="analyst@example.org",
    )  # fmt: skip
    settings = make_settings(workdir, smtp_url=smtp_server.url, alert_max_age="7d")
    worker = workers(settings, clock=Clock(NOW), raise_errors=True)
    notes = [r.getMessage() for r in caplog.records if "NOT_SET_ANYWHERE" in r.getMessage()]
    assert notes == [
        f"{workdir / 'watchlists' / 'test-watch.yaml'}: alerts.notify env:NOT_SET_ANYWHERE: "
        "the variable is not set; those notifications are left out, the mail goes on"
    ]
    read_before(worker, feed_server, "/wire.xml")
    worker.poll(force=True)
    result = worker.digest_now(worker.watchlists.by_id["test-watch"])
    assert result.record is not None and result.record.match_count == 5
    assert worker.store.outbox.counts() == {"sent": 3}  # the alert, the digest, its page
    assert len(smtp_server.sink.wait_for(2)) == 2


# --- issue 7: stories, trends, health, archive, templates, spikes, XSS ----------


def test_digest_files_carry_the_chart_health_and_an_atom_feed(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    import feedparser

    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes())
    feed_server.routes["/down.xml"] = Route(b"broken", status=500)
    write_watchlist(workdir, [feed_server.url("/wire.xml"), feed_server.url("/down.xml")])
    clock = Clock(NOW - timedelta(days=2))
    worker = workers(make_settings(workdir), clock=clock, raise_errors=True)
    worker.poll()
    worker.digest_now(worker.watchlists.by_id["test-watch"])  # two days ago
    clock.now = NOW
    feed_server.routes["/wire.xml"] = Route(rss(("n1", "Storm Corps moves east", "Kursk")))
    worker.poll(force=True)
    worker.digest_now(worker.watchlists.by_id["test-watch"])
    directory = workdir / "digests" / "test-watch"
    page = (directory / "20261125T050000Z.html").read_text()
    # One chart on one scale, a row for each rule mentioned in 14 days.
    assert page.count('<svg class="chart"') == 1 and page.count('<text class="rule"') == 4
    email = next(m for m in _sent(worker) if m.channel == "file" and "20261125" in m.recipient)
    text = email.body_text
    assert "1 of 2 feeds could not be read" in text.split("\n\n")[0]  # said at the top
    assert "Feed health:" in text and "failing, http_500 since 2026-11-23" in text
    assert "Storm Corps: 1 story, 1 match" in text
    # The period before (four to two days ago) predates the watchlist: nothing to compare.
    assert "(before:" not in text
    # 14 days, one mark a day, counted by publication (23 and 24 Nov), not
    # by when each was first seen (23 and 25 Nov).
    assert "···········▄▄·  Storm Corps (2)" in text
    parsed = feedparser.parse((directory / "feed.xml").read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10" and len(parsed.entries) == 2
    assert parsed.entries[0].link.endswith("20261125T050000Z.html")  # newest first
    assert "Test watch" in parsed.entries[0].title
    assert "Storm Corps moves east" in parsed.entries[0].content[0].value
    worker.close()


def test_a_broken_user_template_falls_back_to_the_built_in_one(
    workers: Workers, workdir: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    from tests.conftest import ROOT

    user = workdir / "my-templates"
    shutil.copytree(ROOT / "templates", user)
    (user / "digest.html.j2").write_text("{% for story in %}broken", encoding="utf-8")
    (user / "digest.txt.j2").write_text("{{ plan.no_such_thing.deeper }}", encoding="utf-8")
    (user / "digest_subject.txt.j2").write_text("My own subject\n", encoding="utf-8")
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes())
    write_watchlist(workdir, [feed_server.url("/wire.xml")])
    settings = make_settings(workdir, templates=user)
    worker = workers(settings, clock=Clock(NOW), raise_errors=True)
    worker.poll()
    with caplog.at_level("ERROR", logger="monitor.digest"):
        result = worker.digest_now(worker.watchlists.by_id["test-watch"])
    assert result.record is not None and result.record.match_count == 5  # not missed
    [message] = [m for m in _sent(worker) if m.channel == "file"]
    assert message.subject == "My own subject"  # the templates that work are the user's
    assert "== Top stories ==" in message.body_text  # built-in text
    assert '<svg class="chart"' in message.body_html  # built-in HTML
    lines = sorted(r.getMessage() for r in caplog.records)
    assert len(lines) == 2, lines  # one line per broken template, not one per rendering
    assert lines[1].startswith("template digest.txt.j2 failed, the built-in one was used:")
    assert "TemplateSyntaxError" in lines[0] and "\n" not in lines[0]
    worker.close()


class _Unsafe(HTMLParser):
    """What must never come out of a feed into a digest."""

    BAD_TAGS: ClassVar[set[str]] = {"script", "iframe", "form", "object", "embed", "frame", "base"}

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.styles = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.styles += tag == "style"
        if tag in self.BAD_TAGS:
            self.found.append(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{tag}[{name}]")
            squeezed = "".join((value or "").split()).lower()
            if name in ("href", "src", "action") and squeezed.startswith(
                ("javascript:", "data:", "vbscript:")
            ):
                self.found.append(f"{tag}[{name}={value}]")


@needs_corpus
def test_no_feed_in_the_sanitize_corpus_gets_markup_into_a_digest() -> None:
    import hashlib

    from monitor.compose import digest_plan
    from monitor.digest import DigestFigures, Renderer
    from monitor.parse import parse_feed
    from monitor.types import DigestRecord, Fetched, Snippet, StoredMatch
    from monitor.watchlist import parse_watchlist
    from tests.conftest import CORPUS, ROOT

    watchlist = parse_watchlist("title: X\nentities:\n  a:\n    aliases: [x]\n", "x", "x", "UTC")
    renderer = Renderer(ROOT / "templates")
    record = DigestRecord(1, "x", NOW, NOW - timedelta(days=1), NOW, "q", 0)
    files = sorted((CORPUS / "wellformed" / "sanitize").glob("*.xml"))
    assert len(files) > 700
    matches: list[StoredMatch] = []
    for path in files:
        body = path.read_bytes()
        url = f"http://feeds.example/{path.name}"
        fetched = Fetched(url, url, body, "application/xml", None, None,
                          hashlib.sha256(body).hexdigest())  # fmt: skip
        parsed = parse_feed(fetched)
        for entry in getattr(parsed, "entries", ()):
            matches.append(
                StoredMatch(len(matches) + 1, "x", "a", "entity", ("x",), ("text",),
                            Snippet(entry.text[:240], ((0, min(3, len(entry.text))),)),
                            NOW, entry.title, entry.url, entry.published_at,
                            (getattr(parsed, "title", "") or url,))
            )  # fmt: skip
    assert len(matches) > 550
    # One digest per 100 entries: every entry of every file, rendered and parsed.
    for start in range(0, len(matches), 100):
        plan = digest_plan(watchlist, record, matches[start : start + 100], ())
        rendered = renderer.digest(plan, watchlist, DigestFigures(story_threshold=1.0))
        for html in (rendered.html, rendered.page):
            parser = _Unsafe()
            parser.feed(html)
            assert parser.found == [], parser.found[:5]
            assert parser.styles == 1  # ours, for dark mode; none from a feed


def test_a_spike_raises_one_alert_per_spike(
    workers: Workers, workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    def burst(tag: str, count: int) -> Route:
        return Route(rss(*((f"{tag}-{i}", f"Storm Corps report {tag} {i}", "x")
                           for i in range(count))))  # fmt: skip

    write_watchlist(workdir, [feed_server.url("/f")], alert_email="duty@example.org")
    clock = Clock(NOW - timedelta(days=3))
    settings = make_settings(
        workdir, smtp_url=smtp_server.url, spike_baseline_days=2, alert_max_age="7d"
    )
    worker = workers(settings, clock=clock, raise_errors=True)
    watchlists = worker.watchlists.by_id
    feed_server.routes["/f"] = burst("old", 1)  # the first read: old news, not the usual
    worker.poll()
    clock.now = NOW - timedelta(hours=1)
    feed_server.routes["/f"] = burst("a", 6)
    worker.poll(force=True)  # the poll that brings the burst raises the alert
    [mail] = smtp_server.sink.wait_for(1)
    assert mail["Subject"] == "[spike] Test watch: Storm Corps" and mail["To"] == "duty@example.org"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "* Storm Corps: 6 mentions in 6 h, usual 0" in text
    # Still spiking an hour later: the same spike, not a second alert.
    assert worker.alerts.queue_spike_alerts(watchlists, NOW) == 0
    assert worker.alerts.queue_spike_alerts(watchlists, NOW + timedelta(hours=1)) == 0
    # Quiet for longer than a window, then a new burst: a new spike.
    assert worker.alerts.queue_spike_alerts(watchlists, NOW + timedelta(hours=8)) == 0
    clock.now = NOW + timedelta(hours=9)
    feed_server.routes["/f"] = burst("b", 7)
    worker.poll(force=True)
    assert len(smtp_server.sink.wait_for(2)) == 2
    assert worker.alerts.queue_spike_alerts(watchlists, clock.now) == 0
    worker.close()


def test_a_rule_without_history_cannot_spike(
    workers: Workers, workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    """A new watchlist's first read brings 30 old mentions: old news, no
    spike; a burst the next hour, with no week behind it to say what is
    usual, is no spike either."""
    write_watchlist(workdir, [feed_server.url("/f")], alert_email="duty@example.org")
    feed_server.routes["/f"] = Route(rss(*((f"o{i}", f"Storm Corps {i}", "x") for i in range(30))))
    clock = Clock(NOW - timedelta(hours=2))
    settings = make_settings(workdir, smtp_url=smtp_server.url, alert_max_age="7d")
    worker = workers(settings, clock=clock, raise_errors=True)
    assert worker.poll().new_matches == 30
    clock.now = NOW - timedelta(hours=1)
    feed_server.routes["/f"] = Route(rss(*((f"n{i}", f"Storm Corps {i}", "x") for i in range(9))))
    assert worker.poll(force=True).new_matches == 9
    assert worker.alerts.queue_spike_alerts(worker.watchlists.by_id, NOW) == 0
    assert smtp_server.sink.wait_for(0) == []
    worker.close()


def test_daily_counts_come_from_the_store_in_utc_buckets(workdir: Path) -> None:
    from monitor.migrations import upgrade
    from monitor.store import Store
    from monitor.types import Entry, Hit, Match, NewMatch, Snippet
    from tests.storing import save

    store = Store(f"sqlite:///{workdir / 'b.db'}")
    upgrade(store.engine)
    match = Match("w", "s", "entity", (Hit("S", "title", 0, 1),), False)
    for minute, key in ((7, "a"), (14, "b"), (16, "c")):
        at = NOW + timedelta(minutes=minute)
        entry = Entry(key, "S", "", None, None)
        save(store, "http://f", [entry], [NewMatch(key, match, Snippet(""))], at, at)
    buckets = store.matches.buckets("w", NOW - timedelta(days=1), NOW + timedelta(hours=1))
    assert sorted(buckets) == [("s", NOW, 2), ("s", NOW + timedelta(minutes=15), 1)]
    assert store.matches.rule_counts("w", NOW, NOW + timedelta(minutes=14)) == {"s": 2}
    assert sorted(i for i, _ in store.matches.texts("w").values()) == [1, 2, 3]
    store.close()


def test_a_feeds_title_in_the_watchlist_names_it_in_digests_and_alerts(
    workers: Workers, workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes())
    url = feed_server.url("/wire.xml")
    path = write_watchlist(workdir, [url], alert=True, alert_email="duty@example.org")
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            f"  - {url}\n", f"  - url: {url}\n    title: Pyongyang desk\n"
        ),
        encoding="utf-8",
    )
    clock = Clock(NOW - timedelta(hours=1))
    worker = workers(make_settings(workdir, alert_max_age="7d"), clock=clock, raise_errors=True)
    read_before(worker, feed_server, "/wire.xml")
    worker.poll(force=True)
    clock.now = NOW
    worker.digest_now(worker.watchlists.by_id["test-watch"])
    sent = {m.kind: m for m in _sent(worker) if m.channel in ("file", "email")}
    for kind in ("alert", "digest"):
        assert "Pyongyang desk" in sent[kind].body_text, sent[kind].body_text
        assert "Example Wire" not in sent[kind].body_text  # the feed's own title
    worker.close()
