"""Notification channels: digests' short form to digest.notify, alerts to
alerts.notify, every message cut to its service's limit; on a real local
webhook server through Apprise."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import apprise
import pytest

from monitor import compose
from monitor.channels.notify import Limits, NotifySender, cut, fit
from monitor.digest import Rendered
from monitor.targets import notify_targets
from tests.conftest import FeedServer, Route, Workers, make_settings, rss, write_watchlist
from tests.test_pipeline import Clock

NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)  # 07:00 in Kyiv
LINK = "https://digests.example.org/test-watch/2026-11-25.html"


def hooks(feed_server: FeedServer, path: str) -> list[dict[str, str]]:
    return [json.loads(body) for p, body in feed_server.posts if p.startswith(path)]


def with_digest_notify(path: Path, targets: str) -> None:
    """The test watchlist with a digest.notify list beside its alerts.notify."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("\nalerts:\n", f"\n  notify: [{targets}]\nalerts:\n"), "utf-8")


def test_digests_go_short_to_digest_notify_and_alerts_to_alerts_notify(
    workers: Workers, workdir: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_DUTY_HOOK", f"json://{feed_server.host}/duty")
    monkeypatch.setenv("TEST_DIGEST_HOOK", f"json://{feed_server.host}/digest")
    feed_server.routes["/wire"] = Route(rss())
    path = write_watchlist(
        workdir, [feed_server.url("/wire")], alert=True, notify="env:TEST_DUTY_HOOK"
    )
    with_digest_notify(path, "env:TEST_DIGEST_HOOK")
    worker = workers(make_settings(workdir), clock=Clock(NOW), raise_errors=True)
    worker.poll()  # a feed's first read is old news, alerted to nobody
    feed_server.routes["/wire"] = Route(rss(("a1", "Storm Corps moves north", "x")))
    worker.poll(force=True)
    assert [h["title"] for h in hooks(feed_server, "/duty")] == [
        "[alert] Test watch: Storm Corps (1 new)"
    ]
    assert hooks(feed_server, "/digest") == []  # a digest target is sent no alert

    # Every target that can be sent to is offered: the digest keeps its own.
    watchlist = worker.watchlists.by_id["test-watch"]
    offered = notify_targets(watchlist, os.environ) + notify_targets(
        watchlist, os.environ, "digest"
    )
    whole = "\n".join(f"* headline {n}: " + "words " * 40 for n in range(300))  # ~75 KB
    short = f"Test watch: 300 matches in 300 stories\n* headline 0\n{LINK}"
    rendered = Rendered("Test watch: 300 matches · 2026-11-25", whole, "<p>x</p>", short=short)
    drafts = compose.digest_drafts(watchlist, NOW, rendered, offered)
    notify = [d for d in drafts if d.channel == "notify"]
    assert [d.recipient for d in notify] == ["env:TEST_DIGEST_HOOK"]
    worker.store.outbox.queue(notify, NOW)
    worker.deliver()
    [digest] = hooks(feed_server, "/digest")
    assert digest["title"] == "Test watch: 300 matches · 2026-11-25"
    assert digest["message"] == short
    assert len(hooks(feed_server, "/duty")) == 1  # still only the alert
    worker.close()


def test_a_digest_without_a_short_form_sends_its_first_lines() -> None:
    text = "\n".join(["Test watch", "Digest for 24-25 Nov", "", *(f"line {n}" for n in range(30))])
    body = compose.short_text(Rendered("Test watch: 30 matches", text, ""))
    assert body.splitlines() == [
        "Test watch", "Digest for 24-25 Nov", "", *(f"line {n}" for n in range(7)),
        "… (23 more lines in the digest)",
    ]  # fmt: skip


def test_an_unset_digest_notify_variable_is_reported_at_load_under_its_section(
    workers: Workers, workdir: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_watchlist(workdir, [feed_server.url("/wire")])
    with_digest_notify(path, "env:DIGEST_HOOK_NOT_SET")
    worker = workers(make_settings(workdir), clock=Clock(NOW), raise_errors=True)
    notes = [r.getMessage() for r in caplog.records if "DIGEST_HOOK_NOT_SET" in r.getMessage()]
    assert notes == [
        f"{path}: digest.notify env:DIGEST_HOOK_NOT_SET: the variable is not set; "
        "those notifications are left out, the mail goes on"
    ]
    worker.close()


# --- each message within its service's limit --------------------------------------


def test_the_limits_are_the_ones_the_services_plugin_declares() -> None:
    ntfy = Limits.of(apprise.Apprise.instantiate("ntfy://ntfy.sh/duty"))
    assert (ntfy.body, ntfy.title, ntfy.shared) == (7800, 200, True)  # title counts in
    telegram = Limits.of(apprise.Apprise.instantiate("tgram://123456789:abcdefg_hijklmnop/42/"))
    assert (telegram.body, telegram.title) == (4096, 0)  # no title: it goes in the body


def test_a_long_alert_is_cut_to_ntfys_limit_at_a_line_with_the_link_last() -> None:
    ntfy = Limits.of(apprise.Apprise.instantiate("ntfy://ntfy.sh/duty"))
    lines = [f"* Storm Corps unit {n} seen near Kursk, " + "x" * 60 for n in range(200)]
    title, body = fit("[alert] Test watch: Storm Corps (200 new)", "\n".join([*lines, LINK]), ntfy)
    assert len(title) + len(body) <= ntfy.body
    *kept, note, last = body.splitlines()
    assert kept == lines[: len(kept)] and len(kept) > 50  # whole lines, as many as fit
    assert note == f"… (cut: {200 - len(kept)} more lines)" and last == LINK


def test_cut_keeps_whole_lines_and_says_how_many_went() -> None:
    text = "first line\nsecond line\nthird line\nfourth line"
    assert cut(text, len(text)) == text
    assert cut(text, 44) == "first line\nsecond line\n… (cut: 2 more lines)"
    assert cut(text, 43) == "first line\n… (cut: 3 more lines)"
    # A link on the last line stays, for the rest to be read there.
    linked = text + "\nhttp://x.org/d"
    assert cut(linked, 47) == "first line\n… (cut: 3 more lines)\nhttp://x.org/d"
    # A first line too long for the limit is cut at a word, not dropped whole.
    long = "word " * 40 + "\nnext"
    assert cut(long, 60) == "word word word word word word word…\n… (cut: 2 more lines)"
    assert all(len(cut(text, n)) <= n for n in range(0, 60))


def test_a_webhook_body_over_the_limit_arrives_cut_with_its_idempotency_key(
    feed_server: FeedServer,
) -> None:
    # The json:// plugin takes 32,768 characters; this alert has ~60,000.
    lines = [f"* item {n}: " + "y" * 100 for n in range(550)]
    body = "\n".join([*lines, LINK])
    NotifySender({}).send(f"json://{feed_server.host}/hook", "[alert] big", body, "alert:w:1-550")
    [received] = hooks(feed_server, "/hook")
    message = received["message"]
    assert len(message) <= 32768 and message.endswith(f"more lines)\n{LINK}")
    assert message.startswith("* item 0: ") and "* item 200: " in message
    [headers] = feed_server.post_headers
    assert headers["Idempotency-Key"] == "alert:w:1-550"
