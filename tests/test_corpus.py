"""feedparser's own test corpus, every file served over HTTP and polled twice.

The sweep runs with ``raise_errors=True``: an exception anywhere in the
pipeline fails the test instead of becoming an ``internal_error`` outcome.
"""

from __future__ import annotations

from pathlib import Path

import feedparser.mixin
import pytest

from monitor.parse import FEEDPARSER_URI_FUNCTIONS, UNCACHED_FEEDPARSER_FUNCTIONS, parse_feed
from monitor.types import Fetched
from tests.conftest import FeedServer, needs_corpus
from tests.corpus import SweepFigures, corpus_files, sweep

# Outcomes a corpus file may legitimately end in: the corpus holds error
# pages, redirects, compressed bodies that do not decompress and non-feeds.
EXPECTED_FAILURES = {
    "not_a_feed",
    "http_404",
    "http_302",
    "bad_encoding",
    "blocked_address",
    "too_many_redirects",
    "parse_error",
}

pytestmark = needs_corpus


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> SweepFigures:
    server = FeedServer()
    server.thread.start()
    try:
        return sweep(Path(tmp_path_factory.mktemp("corpus")), server)
    finally:
        server.httpd.shutdown()


def test_every_file_is_served_and_most_are_feeds(figures: SweepFigures) -> None:
    assert figures.files == len(corpus_files()) > 2000
    assert figures.outcomes["updated"] > 0.95 * figures.files
    assert figures.items_stored > 100


def test_failures_are_values_with_known_reasons(figures: SweepFigures) -> None:
    assert set(figures.errors) <= EXPECTED_FAILURES, figures.errors


def test_the_second_pass_stores_nothing_new(figures: SweepFigures) -> None:
    assert figures.second_pass_new_items == 0


def test_no_stored_field_of_the_sanitisation_cases_carries_script(figures: SweepFigures) -> None:
    assert figures.sanitize_items_checked > 50
    assert figures.sanitize_fields_with_script == []


def test_feedparser_parses_the_same_with_its_uri_functions_cached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """monitor.parse caches two of feedparser's URI functions; every corpus
    file must parse to the same entries, titles and errors without them."""
    # The cache is in place:
    assert set(UNCACHED_FEEDPARSER_FUNCTIONS) == set(FEEDPARSER_URI_FUNCTIONS)
    documents = [
        Fetched(f"u{n}", f"http://feeds.example/{path.name}", path.read_bytes(), "", None, None, "")
        for n, path in enumerate(corpus_files())
    ]
    cached = [parse_feed(document) for document in documents]
    for name, function in UNCACHED_FEEDPARSER_FUNCTIONS.items():
        monkeypatch.setattr(feedparser.mixin, name, function)
    uncached = [parse_feed(document) for document in documents]
    differing = [d.final_url for d, a, b in zip(documents, cached, uncached, strict=True) if a != b]
    assert differing == []
