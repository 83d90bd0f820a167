from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.errors import WatchlistError
from monitor.live import changes
from monitor.targets import notify_targets, unset_notes
from monitor.watchlist import Watchlist, load_file, parse_watchlist

ROOT = Path(__file__).resolve().parent.parent


def problems(source: str) -> list[str]:
    with pytest.raises(WatchlistError) as caught:
        parse_watchlist(source, "w.yaml", "w", "UTC")
    return [str(d) for d in caught.value.diagnostics]


def test_the_seed_watchlist_is_valid_and_complete() -> None:
    seed = load_file(ROOT / "watchlists" / "dprk-russia.yaml")
    ids = {e.id for e in seed.entities} | {t.id for t in seed.topics}
    assert {
        "storm-corps", "kursk", "dprk", "kim-jong-un", "putin", "lavrov",
        "nato-secretary-general", "nis", "dprk-russia-pact", "dprk-troops-in-war",
        "vladivostok", "blue-house-raid", "dprk-missiles-ukraine", "foreign-fighters-russia",
    } <= ids  # fmt: skip
    nis = next(e for e in seed.entities if e.id == "nis")
    assert [a.text for a in nis.aliases if a.case_sensitive] == ["NIS"]
    assert seed.schedule.timezone == "Europe/Kyiv"
    assert len(seed.feeds) >= 6


def test_every_problem_is_reported_at_once_with_its_position() -> None:
    source = """\
title: broken
feeds:
  - ftp://example.org/feed
  - url: https://example.org/rss
    every: 5 parsecs
entities:
  a:
    aliases: []
  b:
    aliases: [B]
    colour: red
topics:
  t:
    query: >
      @b AND (x OR
      y AND @missing)
  u:
    query: "NOT foo"
digest:
  timezone: Mars/Olympus
"""
    assert problems(source) == [
        "w.yaml:3:5: feeds.0.url: a feed or page URL must start with http:// or https://",
        "w.yaml:5:12: feeds.1.every: not a duration: '5 parsecs' (use e.g. 30s, 15m, 1h30m, 2d)",
        "w.yaml:8:14: entities.a.aliases: List should have at least 1 item after validation, not 0",
        "w.yaml:11:13: entities.b.colour: unknown key 'colour'",
        "w.yaml:16:13: topics.t.query: no entity 'missing' in this watchlist",
        "w.yaml:18:12: topics.u.query: matches items with no hits at all; add a term to look for",
        "w.yaml:20:13: digest.timezone: unknown time zone 'Mars/Olympus'"
        " (use an IANA name like Europe/Kyiv)",
    ]


@pytest.mark.parametrize(
    ("query", "column", "message"),
    [
        ("'@a AND (b OR'", 25, "expected a term, a quoted phrase, @entity or '(', found the end"),
        ("'@a b ) c'", 18, "expected an operator or the end of the query, found ')'"),
        ('"@a NEAR/2 NOT b"', 16, "NEAR needs terms on both sides, not NOT"),
    ],
)
def test_a_query_syntax_error_points_into_the_query(query: str, column: int, message: str) -> None:
    source = f"entities:\n  a:\n    aliases: [A]\ntopics:\n  t:\n    query: {query}\n"
    [problem] = problems(source)
    assert problem.startswith(f"w.yaml:6:{column}: topics.t.query: {message}")


def test_yaml_syntax_error() -> None:
    [problem] = problems("title: [unclosed\nentities: {}\n")
    assert problem.startswith("w.yaml:2:") and "invalid YAML" in problem


def test_bad_cron_is_reported() -> None:
    [problem] = problems('digest:\n  schedule: "61 * * * *"\n')
    assert problem.startswith("w.yaml:2:13: digest.schedule:") and "61" in problem


def test_validate_command_exits_1_with_file_line_col(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("entities:\n  a:\n    aliases: A\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "validate", str(bad)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == f"{bad}:3:14: entities.a.aliases: Input should be a valid list"
    assert "Traceback" not in result.stderr


def test_validate_command_accepts_the_seed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "validate", str(ROOT / "watchlists")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: 1 watchlist, ")


def test_an_empty_context_word_is_reported_where_it_is_written() -> None:
    source = """\
entities:
  nis:
    aliases:
      - text: NIS
        context: [Korea, "*"]
"""
    assert problems(source) == [
        "w.yaml:5:18: entities.nis.aliases.0.context: a context word needs at least one letter",
    ]


def test_word_start_is_refused_on_an_alias_that_does_not_start_with_hangul() -> None:
    source = """\
entities:
  p:
    aliases:
      - text: 평양
        word_start: true
      - text: Pyongyang
        word_start: true
"""
    assert problems(source) == [
        "w.yaml:6:9: entities.p.aliases.1: word_start is for an alias that starts with Hangul"
        " (평양): other scripts keep words apart already",
    ]


GOOD = "entities:\n  kursk:\n    aliases: [Kursk]\n"
BOMB = "x-a: &a [k, k, k, k, k, k, k, k, k]\n" + "".join(
    f"x-{b}: &{b} [*{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}]\n"
    for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (BOMB + GOOD, "w.yaml:1:"),  # 478-odd bytes that stand for 9**9 values
        ("x-a: &a [*a]\n" + GOOD, "w.yaml:1:6: an alias that contains itself"),
        ("? [a, b]\n: 1\n" + GOOD, "w.yaml:1:3: a key must be a plain value"),
        (GOOD + "title: a\x00b\n", "w.yaml:4:9: character U+0000 is not allowed"),
        (GOOD + "title: a\x07b\n", "w.yaml:4:9: character U+0007 is not allowed"),
        ("title: !!python/name:os.system\n" + GOOD, "w.yaml:1:8: YAML tag"),
        ("_notes: hi\n" + GOOD, "w.yaml:1:9: _notes: unknown key '_notes' (keys starting with x-"),
        (
            GOOD + "  kursk:\n    aliases: [Moscow]\n",
            "w.yaml:4:3: 'kursk' is given twice (first at line 2)",
        ),
        (
            "entities:\n  kursk:\n    aliases: [Kursk]\n    _todo: later\n",
            "w.yaml:4:12: entities.kursk._todo: unknown key '_todo'",
        ),
        (
            "feeds:\n  - url: https://a.example/f\n    every: 99999999999999d\n" + GOOD,
            "w.yaml:3:12: feeds.0.every: '99999999999999d' is longer than 366 days",
        ),
        ("a: " + "[" * 2000 + "]" * 2000 + "\n" + GOOD, "invalid YAML: exceeded maximum nesting"),
        ("x" * (1024 * 1024 + 1), "w.yaml:1:1: larger than 1024 KB"),
        (
            GOOD + "topics:\n  t:\n    query: '" + "(" * 200 + "Kursk" + ")" * 200 + "'\n",
            "nested deeper than 32 levels",
        ),
        (
            GOOD + "topics:\n  t:\n    query: 'Kursk AND " + "NOT " * 1000 + "x'\n",
            "nested deeper than 32 levels",
        ),
        (
            GOOD + "topics:\n  t:\n    query: 'merger NEAR/ acquisition'\n",
            "w.yaml:6:20: topics.t.query: NEAR needs a distance in words",
        ),
        (GOOD + "topics:\n  t:\n    query: 'a NEAR/x b'\n", "NEAR needs a distance in words"),
        (GOOD + "topics:\n  t:\n    query: 'x AND @'\n", "w.yaml:6:19: topics.t.query: @ needs"),
        (GOOD + "topics:\n  t:\n    query: '-'\n", "the term '-' has no letter or digit"),
        ("entities:\n  k:\n    aliases: [12345]\n", "Input should be a valid dictionary"),
    ],
    ids=lambda value: value[:24] if isinstance(value, str) else value,
)
def test_hostile_and_mistaken_files_are_one_located_line_each(source: str, expected: str) -> None:
    found = problems(source)
    assert any(line.startswith(expected) or expected in line for line in found), found
    assert not any("_Spec" in line or "instance of" in line for line in found), found


def test_a_merge_key_shares_settings_and_x_keys_hold_the_anchors() -> None:
    watchlist = parse_watchlist(
        "x-common: &common\n  alert: true\n  aliases: [Kursk]\n"
        "entities:\n  kursk:\n    <<: *common\n    name: Kursk region\n",
        "w.yaml", "w", "UTC",
    )  # fmt: skip
    [kursk] = watchlist.entities
    assert (kursk.name, kursk.alert, [a.text for a in kursk.aliases]) == (
        "Kursk region", True, ["Kursk"],
    )  # fmt: skip


def test_only_regular_files_of_the_folder_are_read(tmp_path: Path) -> None:
    folder = tmp_path / "watchlists"
    folder.mkdir()
    secret = tmp_path / "secret.yaml"
    secret.write_text("title: hunter2-do-not-print\n" + GOOD, encoding="utf-8")
    (folder / "outside.yaml").symlink_to(secret)
    fifo = folder / "pipe.yaml"
    os.mkfifo(fifo)
    (folder / "inside.yaml").symlink_to(folder / "real.yml")
    (folder / "real.yml").write_text(GOOD, encoding="utf-8")
    messages = {}
    for name in ("outside.yaml", "pipe.yaml"):
        with pytest.raises(WatchlistError) as caught:
            load_file(folder / name)  # returns at once: a FIFO is never opened
        messages[name] = str(caught.value)
    assert messages == {
        "outside.yaml": f"{folder / 'outside.yaml'}:1:1: a link to a file outside its folder: "
        "not read",
        "pipe.yaml": f"{folder / 'pipe.yaml'}:1:1: not a regular file: not read",
    }
    assert load_file(folder / "inside.yaml").entities[0].id == "kursk"
    result = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "validate", str(folder)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1 and "hunter2" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_reload_says_what_it_added_changed_and_removed() -> None:
    def watchlist(name: str, rules: int) -> Watchlist:
        entities = "".join(f"  e{n}:\n    aliases: [Alias{n}]\n" for n in range(rules))
        text = f"feeds: [https://example.org/{name}.xml]\nentities:\n{entities}"
        return parse_watchlist(text, f"{name}.yaml", name, "UTC")

    before = {"a": watchlist("a", 1), "b": watchlist("b", 1), "c": watchlist("c", 1)}
    after = {"a": watchlist("a", 1), "b": watchlist("b", 3), "d": watchlist("d", 2)}
    assert changes(before, after) == (
        "added d (2 rules, 1 feed); changed b (3 rules, 1 feed); removed c; in force: a, b, d"
    )
    assert changes(after, after) == "in force: a, b, d"
    assert changes(after, {}) == "removed a, b, d; in force: none"


def test_digest_notify_is_its_own_list_checked_like_alerts_notify() -> None:
    source = """\
digest:
  notify: [env:DIGEST_HOOK, "ntfy://ntfy.sh/morning"]
alerts:
  notify: [env:DUTY_HOOK]
"""
    watchlist = parse_watchlist(source, "w.yaml", "w", "UTC")
    assert watchlist.digest_notify == ("env:DIGEST_HOOK", "ntfy://ntfy.sh/morning")
    assert watchlist.alert_notify == ("env:DUTY_HOOK",)
    environ = {"DIGEST_HOOK": "json://localhost/d", "DUTY_HOOK": "json://localhost/a"}
    assert notify_targets(watchlist, environ) == ["env:DUTY_HOOK"]
    assert notify_targets(watchlist, environ, "alerts") == ["env:DUTY_HOOK"]
    assert notify_targets(watchlist, environ, "digest") == [
        "env:DIGEST_HOOK", "ntfy://ntfy.sh/morning",
    ]  # fmt: skip
    [problem] = problems("digest:\n  notify: [analyst@example.org]\n")
    assert problem == (
        "w.yaml:2:11: digest.notify: 'analyst@example.org': use a notification URL "
        "(e.g. ntfy://topic) or env:VARIABLE"
    )


def test_an_unset_variable_is_reported_under_the_section_that_names_it() -> None:
    source = "digest:\n  notify: [env:DIGEST_HOOK]\nalerts:\n  notify: [env:DUTY_HOOK]\n"
    watchlist = parse_watchlist(source, "w.yaml", "w", "UTC")
    tail = ": the variable is not set; those notifications are left out, the mail goes on"
    assert unset_notes([watchlist], {}) == [
        f"w.yaml: digest.notify env:DIGEST_HOOK{tail}",
        f"w.yaml: alerts.notify env:DUTY_HOOK{tail}",
    ]
    assert unset_notes([watchlist], {"DUTY_HOOK": "json://localhost/a"}) == [
        f"w.yaml: digest.notify env:DIGEST_HOOK{tail}"
    ]
    assert notify_targets(watchlist, {}, "digest") == []


ABOUT_BASE = """\
entities:
  dprk: {aliases: [North Korea]}
topics:
  troops:
    query: "@dprk AND troops"
"""


def test_about_sentences_and_threshold_reach_the_topic() -> None:
    source = ABOUT_BASE + "    about: [North Korean soldiers fight for Russia]\n"
    topic = parse_watchlist(source, "w.yaml", "w", "UTC").topics[0]
    assert topic.about == ("North Korean soldiers fight for Russia",)
    assert topic.min_similarity == 0.4  # the default, when about: is given
    given = parse_watchlist(source + "    min_similarity: 0.55\n", "w.yaml", "w", "UTC")
    assert given.topics[0].min_similarity == 0.55
    plain = parse_watchlist(ABOUT_BASE, "w.yaml", "w", "UTC").topics[0]
    assert (plain.about, plain.min_similarity) == ((), None)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("    min_similarity: 0.5\n", "w.yaml:6:21: topics.troops.min_similarity needs about:"),
        ("    about: []\n", "w.yaml:6:12: topics.troops.about: List should have at least 1 item"),
        ('    about: ["  "]\n', "w.yaml:6:12: topics.troops.about: an about: sentence"),
        ("    about: [a]\n    min_similarity: 1.5\n", "w.yaml:7:21: topics.troops.min_similarity"),
        ("    about: [a]\n    min_similarity: 0\n", "w.yaml:7:21: topics.troops.min_similarity"),
        ("    about: " + str(["s"] * 21) + "\n", "w.yaml:6:12: topics.troops.about: List should"),
    ],
)
def test_a_bad_about_or_threshold_is_reported_at_file_line_col(extra: str, expected: str) -> None:
    found = problems(ABOUT_BASE + extra)
    assert len(found) == 1 and found[0].startswith(expected), found
