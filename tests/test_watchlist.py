from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.errors import WatchlistError
from monitor.watchlist import load_file, parse_watchlist

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
        "w.yaml:3:5: feeds.0.url: a feed URL must start with http:// or https://",
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
    assert result.stdout.startswith("ok: 1 watchlists")


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
