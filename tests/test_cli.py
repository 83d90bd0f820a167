"""The command line as a user runs it: real processes, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.store import Store
from tests.conftest import ROOT, FeedServer, Route, Smtp, write_watchlist
from tests.test_pipeline import DATA


def monitor(workdir: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """``monitor ARGS`` on ``workdir``'s files; ``settings`` are more MONITOR_*
    variables (overriding these)."""
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": f"sqlite:///{workdir / 'monitor.db'}",
        "MONITOR_WATCHLISTS": str(workdir / "watchlists"),
        "MONITOR_OUTPUT_DIR": str(workdir / "digests"),
        "MONITOR_TEMPLATES": str(ROOT / "templates"),
        "MONITOR_ALLOW_HOSTS": "127.0.0.1",
        **{f"MONITOR_{name.upper()}": value for name, value in settings.items()},
    }
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args],
        cwd=workdir, env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def test_poll_status_matches_and_digest(workdir: Path, feed_server: FeedServer) -> None:
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes(), etag='"1"')
    write_watchlist(workdir, [feed_server.url("/wire.xml")])

    polled = monitor(workdir, "poll")
    assert polled.returncode == 0, polled.stderr
    assert "1 feeds polled, 4 new items, 5 new matches, 0 failed" in polled.stdout
    assert "no feed was due" in monitor(workdir, "poll").stdout
    assert "http_304" in monitor(workdir, "poll", "--all").stdout

    status = json.loads(monitor(workdir, "status", "--json").stdout)
    [feed] = status["feeds"]
    assert (feed["title"], feed["consecutive_errors"], feed["items"]) == (
        "Example Wire: North Korea",
        0,
        4,
    )
    [digest] = status["digests"]
    assert (digest["timezone"], digest["unreported_matches"]) == ("Europe/Kyiv", 5)
    text_status = monitor(workdir, "status").stdout
    assert "Example Wire" not in text_status and feed_server.url("/wire.xml") in text_status
    assert "test-watch: last never" in text_status

    listed = json.loads(monitor(workdir, "matches", "--json").stdout)
    assert sorted(m["rule"] for m in listed) == ["dprk", "dprk", "kursk", "pact", "storm-corps"]

    dry = monitor(workdir, "digest", "test-watch", "--dry-run")
    assert dry.returncode == 0 and "Subject: Test watch: 5 matches" in dry.stdout
    assert not (workdir / "digests").exists()

    made = monitor(workdir, "digest")
    assert made.returncode == 0, made.stderr
    assert "test-watch: 5 matches ->" in made.stdout
    retried = monitor(workdir, "retry")
    assert (retried.returncode, retried.stdout) == (0, "0 failed messages queued again\n")
    again = monitor(workdir, "digest", "test-watch")
    assert "test-watch: 0 matches ->" in again.stdout  # everything was reported once
    since = monitor(workdir, "digest", "test-watch", "--since", "7d", "--out", str(workdir / "x"))
    assert "5 matches since" in since.stdout and list(
        (workdir / "x" / "test-watch").glob("since-*")
    )


def test_a_changed_watchlist_is_tried_on_stored_items(
    workdir: Path, feed_server: FeedServer
) -> None:
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes())
    path = write_watchlist(workdir, [feed_server.url("/wire.xml")])
    assert monitor(workdir, "poll").returncode == 0
    edited = path.read_text().replace("exclude: [Kursk submarine]", "exclude: []")
    edited = edited.replace(
        "aliases: [Storm Corps, 11th Corps, 폭풍군단]", "aliases: [Storm Corps]"
    )
    path.write_text(edited)
    result = monitor(workdir, "test", "test-watch", "--stored", "--since", "30d")
    assert result.returncode == 0, result.stderr
    assert "+ kursk: Kursk submarine families gather for anniversary" in result.stdout
    assert (
        "1 would start matching, 0 would stop" in result.stdout
    )  # Storm Corps is in the title too


def test_explain_as_text_and_json(workdir: Path) -> None:
    write_watchlist(workdir, [])
    args = [
        "test",
        "test-watch",
        "--title",
        "Kursk submarine",
        "--text",
        "Pyongyang and Moscow sign pact",
    ]
    text = monitor(workdir, *args)
    assert text.returncode == 0, text.stderr
    assert "miss test-watch/kursk (entity: Kursk)" in text.stdout
    assert 'vetoed by exclude "Kursk submarine" in title at 0-15' in text.stdout
    assert "HIT  test-watch/pact (topic: DPRK-Russia pact)" in text.stdout
    [document] = json.loads(monitor(workdir, *args, "--json").stdout)
    pact = next(r for r in document["rules"] if r["rule"] == "pact")
    assert pact["matched"] and pact["tree"]["op"] == "AND"


def test_explain_a_feed_file(workdir: Path) -> None:
    write_watchlist(workdir, [])
    result = monitor(workdir, "test", "test-watch", "--file", str(DATA / "wire.xml"))
    assert result.returncode == 0
    assert result.stdout.count("== ") == 4 and "4 documents, 5 rule hits" in result.stdout


def test_user_errors_are_one_line_and_exit_1(workdir: Path) -> None:
    cases = [
        (["test", "nope", "--text", "x"], "error: no watchlist 'nope'"),
        (["test", "test-watch"], "error: give exactly one of --text, --file, --url or --stored"),
        (["matches", "--since", "yesterday-ish"], "error: not a time: 'yesterday-ish'"),
        (["validate", "missing-dir"], "missing-dir: no such file or directory"),
    ]
    write_watchlist(workdir, [])
    for args, message in cases:
        result = monitor(workdir, *args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert result.stderr.strip().startswith(message), (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert monitor(workdir, "no-such-command").returncode == 2


def test_demo_runs_offline_and_writes_a_digest(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "demo", "--keep", str(tmp_path / "demo")],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().removeprefix("digest written: "))
    html = path.read_text(encoding="utf-8")
    assert path.is_file() and "<mark" in html
    assert (path.parent / "index.html").is_file()


def test_the_demo_anywhere_warns_of_no_missing_watchlist_folder(tmp_path: Path) -> None:
    """Run outside a checkout, the demo uses its own seed watchlist: it does
    not say that nothing is monitored."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["MONITOR_TEMPLATES"] = str(tmp_path / "no-such-templates")  # still said
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "demo", "--keep", str(tmp_path / "demo")],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "digest written:" in result.stdout
    assert "no watchlist folder" not in result.stderr
    assert "no templates folder" in result.stderr


def test_a_broken_file_costs_only_itself(workdir: Path, feed_server: FeedServer) -> None:
    """An alias bomb beside a good watchlist: every command goes on with the
    good one and names the broken file in one line, at once."""
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes())
    write_watchlist(workdir, [feed_server.url("/wire.xml")])
    bomb = "x-a: &a [k, k, k, k, k, k, k, k, k]\n" + "".join(
        f"x-{b}: &{b} [*{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}]\n"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    )
    (workdir / "watchlists" / "bomb.yaml").write_text(bomb, encoding="utf-8")
    polled = monitor(workdir, "poll")
    assert polled.returncode == 0 and "4 new items" in polled.stdout, polled.stderr
    with closing(Store(f"sqlite:///{workdir / 'monitor.db'}")) as store:
        store.heartbeats.beat(datetime.now(UTC))  # as a running service does
    check = monitor(workdir, "run", "--check")
    assert check.returncode == 0 and "(1 broken, see `monitor validate`)" in check.stdout
    status = monitor(workdir, "status")
    assert status.returncode == 0, status.stderr
    assert "Watchlist problem: " in status.stdout and "bomb.yaml:1:" in status.stdout
    validated = monitor(workdir, "validate")
    assert validated.returncode == 1
    assert validated.stderr.strip().startswith(str(workdir / "watchlists" / "bomb.yaml") + ":")
    for result in (polled, check, status, validated):
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql+psycopg://monitor:pw@127.0.0.1:1/monitor",
            "error: the database at postgresql+psycopg://monitor:***@127.0.0.1:1/monitor does not "
            "answer: ",
        ),
        (
            "mysql://monitor:pw@db.example/monitor",
            "error: no database driver for 'mysql://monitor:***@db.example/monitor'",
        ),
        ("not a url", "error: MONITOR_DATABASE_URL 'not a url' is not a database URL"),
        ("sqlite:////proc/no-such/monitor.db", "error: cannot make /proc/no-such for the database"),
    ],
    ids=["unreachable", "no-driver", "garbage", "unwritable"],
)
@pytest.mark.parametrize("command", ["poll", "status", "matches"])
def test_a_database_url_that_cannot_work_is_one_line(
    workdir: Path, url: str, message: str, command: str
) -> None:
    write_watchlist(workdir, [])
    env = {**os.environ, "MONITOR_DATABASE_URL": url,
           "MONITOR_WATCHLISTS": str(workdir / "watchlists")}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli", command],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if command != "poll" and url.startswith("sqlite"):
        assert result.returncode == 0  # nothing stored yet: status and matches say so
        return
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "pw" not in result.stderr


def test_a_sqlite_folder_that_did_not_exist_is_made_and_said(workdir: Path) -> None:
    write_watchlist(workdir, [])
    env = {**os.environ, "MONITOR_DATABASE_URL": f"sqlite:///{workdir / 'new' / 'm.db'}",
           "MONITOR_WATCHLISTS": str(workdir / "watchlists")}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "poll"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0
    assert f"made {workdir / 'new'} for the database: it did not exist" in result.stderr


def test_commands_say_what_they_did_or_could_not(workdir: Path, feed_server: FeedServer) -> None:
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes())
    feed_server.routes["/gone.xml"] = Route(b"gone", 410)
    feed_server.routes["/down.xml"] = Route(b"oops", 500)
    urls = [feed_server.url(p) for p in ("/wire.xml", "/gone.xml", "/down.xml")]
    write_watchlist(workdir, urls)
    assert monitor(workdir, "--version").stdout.startswith("monitor ")
    assert monitor(workdir, "poll").returncode == 0  # a failing feed is no failed command...
    named = monitor(workdir, "poll", "--feed", urls[2])
    assert named.returncode == 1 and "http_500" in named.stdout  # ...but one asked for by name
    stranger = monitor(workdir, "poll", "--feed", "https://elsewhere.example/rss")
    assert stranger.returncode == 1
    assert stranger.stderr.startswith("error: https://elsewhere.example/rss is in no watchlist")
    counts = json.loads(monitor(workdir, "status", "--json").stdout)["counts"]
    assert counts["feeds"] == 3  # it was not kept as a feed
    # Gone stays gone for --all; named, it is asked again.
    assert feed_server.count("/gone.xml") == 1
    monitor(workdir, "poll", "--all")
    assert feed_server.count("/gone.xml") == 1
    monitor(workdir, "poll", "--feed", urls[1])
    assert feed_server.count("/gone.xml") == 2
    unknown = monitor(workdir, "matches", "--watchlist", "nope")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "error: no watchlist 'nope' (the watchlists are: test-watch)"
    dry = json.loads(monitor(workdir, "test", "test-watch", "--stored", "--json").stdout)
    assert (dry["watchlist"], dry["stored"], dry["gained"], dry["lost"]) == (
        "test-watch",
        5,
        [],
        [],
    )


def test_poll_shows_its_progress_in_a_terminal_only(workdir: Path, feed_server: FeedServer) -> None:
    """At a terminal: feeds done of due, erased at the end. In a pipe (cron's
    mail, a log): only the lines the command prints."""
    for n in range(3):
        feed_server.routes[f"/wire-{n}.xml"] = Route((DATA / "wire.xml").read_bytes())
    write_watchlist(workdir, [feed_server.url(f"/wire-{n}.xml") for n in range(3)])
    piped = monitor(workdir, "poll", "--all")
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
    controller, terminal = pty.openpty()
    env = {
        **os.environ,
        "TERM": "xterm",
        "COLUMNS": "100",
        "MONITOR_DATABASE_URL": f"sqlite:///{workdir / 'monitor.db'}",
        "MONITOR_WATCHLISTS": str(workdir / "watchlists"),
        "MONITOR_TEMPLATES": str(ROOT / "templates"),
        "MONITOR_ALLOW_HOSTS": "127.0.0.1",
    }
    with subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "poll", "--all"],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=terminal, text=True,
    ) as process:  # fmt: skip
        os.close(terminal)
        shown = b""
        while chunk := _read_some(controller):
            shown += chunk
        stdout = process.stdout.read() if process.stdout else ""
    os.close(controller)
    assert process.returncode == 0
    screen = shown.decode("utf-8", "replace")
    assert "feeds polled" in screen and "3/3" in screen, screen
    assert "3 feeds polled, 0 new items" in stdout  # the report itself is not on the terminal


def _read_some(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: the other end closed
        return b""


def test_a_digest_preview_goes_to_one_address_and_uses_up_nothing(
    workdir: Path, feed_server: FeedServer, smtp_server: Smtp
) -> None:
    feed_server.routes["/wire.xml"] = Route((DATA / "wire.xml").read_bytes())
    write_watchlist(workdir, [feed_server.url("/wire.xml")], digest_email="team@example.org")
    assert monitor(workdir, "poll").returncode == 0
    smtp = {"smtp_url": smtp_server.url}

    no_smtp = monitor(workdir, "digest", "test-watch", "--to", "me@example.org")
    assert no_smtp.returncode == 1 and no_smtp.stderr == (
        "error: MONITOR_SMTP_URL is not set, so a preview cannot be mailed: `--dry-run` prints it\n"
    )
    typo = monitor(workdir, "digest", "test-watch", "--to", "me at example", **smtp)
    assert typo.returncode == 1 and "'me at example' is not an email address" in typo.stderr

    preview = monitor(workdir, "digest", "test-watch", "--to", "me@example.org", **smtp)
    assert preview.returncode == 0, preview.stderr
    assert "test-watch: a preview of 5 matches since " in preview.stdout
    assert "sent to me@example.org; nothing recorded" in preview.stdout
    [(recipients, message)] = smtp_server.sink.messages
    assert recipients == ["me@example.org"] and message["To"] == "me@example.org"
    assert message["Subject"].startswith("[preview] Test watch: 5 matches")
    assert not (workdir / "digests").exists()  # no page, no outbox row, no digest

    made = monitor(workdir, "digest", "test-watch", **smtp)
    assert "test-watch: 5 matches ->" in made.stdout, made.stderr  # the real one has them all
    assert [m["To"] for _, m in smtp_server.sink.messages] == ["me@example.org", "team@example.org"]


def test_a_missing_watchlists_or_templates_folder_is_said_once(workdir: Path) -> None:
    """A typo in --watchlists or MONITOR_TEMPLATES: the command runs on (with
    nothing to watch, or the built-in templates) and says why, once."""
    status = monitor(
        workdir, "status", watchlists=str(workdir / "nope"), templates=str(workdir / "gone")
    )
    assert status.returncode == 0, status.stderr
    assert status.stderr.splitlines() == [
        f"warning: no templates folder {workdir / 'gone'} (MONITOR_TEMPLATES): the built-in "
        "templates are used",
        f"warning: no watchlist folder {workdir / 'nope'} (MONITOR_WATCHLISTS): nothing is "
        "monitored; `monitor init` writes a starter one",
    ]
