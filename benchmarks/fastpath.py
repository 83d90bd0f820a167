"""python -m benchmarks.fastpath: would a faster parser store what feedparser stores?

Issue 8 asks for an optional fast parse path, adopted only if a sweep of the
feedparser corpus (../shared/corpus/feedparser) shows identical stored items.
Each candidate's output is mapped to ``Entry`` values by monitor.parse's own
helpers (``_entry``: identity_key, html_to_text, clean_text, _absolute, _date;
unique_keys, _ttl; the same invalid-character-reference retry), so that only
the parser differs. The "pre-checked" column measures a subset rule: plain()
sends only simple UTF-8 XML to the candidate, the rest (and any raise) to
feedparser. Evaluation only: nothing here is wired into monitor.
"""

from __future__ import annotations

import gzip
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import fastfeedparser  # type: ignore[import-untyped]
import feedparser_rs

from benchmarks.corpus import feed
from monitor import parse as mp
from monitor.identity import unique_keys
from monitor.text import clean_text
from monitor.types import FeedFailure, Fetched, ParsedFeed
from tests.conftest import CORPUS
from tests.corpus import corpus_files, route_for

Result = ParsedFeed | FeedFailure | str  # a str is the exception a candidate raised
Raw = tuple[str, Any, list[Any]]  # (version, feed mapping, entry mappings)
Counts = Counter[tuple[str, str]]  # (column, kind) -> files
BASE = "http://localhost:8097/tests"
GENERATED = 200


def _rs(body: bytes) -> Raw:
    # Bytes, never str: given a str that starts with http, both candidates fetch it.
    parsed = feedparser_rs.parse(body, sanitize_html=False, resolve_relative_uris=False)
    return parsed.get("version") or "", parsed.feed, list(parsed.entries)


def _struct(value: str | None) -> time.struct_time | None:
    """fastfeedparser gives ISO 8601 strings; _date wants feedparser's UTC struct_time."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)  # naive means UTC, as timegm will read it
    return (moment.astimezone(UTC) if moment.tzinfo else moment).timetuple()


def _fast_entry(raw: Any) -> dict[str, Any]:
    return {
        "title": raw.get("title") or "",
        "summary": raw.get("description") or "",
        "content": raw.get("content") or [],
        "link": raw.get("link"),
        "id": raw.get("id"),
        "published_parsed": _struct(raw.get("published")),
        "updated_parsed": _struct(raw.get("updated")),
    }


def _fast(body: bytes) -> Raw:
    parsed = fastfeedparser.parse(body)  # raises ValueError on what is not a feed
    return "fastfeedparser", parsed.feed, [_fast_entry(raw) for raw in parsed.entries]


CANDIDATES: dict[str, Callable[[bytes], Raw]] = {"feedparser-rs": _rs, "fastfeedparser": _fast}


def _raw(parser: Callable[[bytes], Raw], body: bytes) -> Raw:
    """parse_feed's retry: drop character references to no character, parse once more."""
    try:
        return parser(body)
    except Exception:
        cleaned = mp._INVALID_CHAR_REF.sub(mp._drop_invalid_reference, body)
        if cleaned == body:
            raise
        return parser(cleaned)


def stored(parser: Callable[[bytes], Raw], fetched: Fetched) -> Result:
    """What parse_feed would return had ``parser`` been its parser."""
    try:
        version, feed_info, raws = _raw(parser, fetched.body)
        if not version and not raws:
            return FeedFailure(fetched.url, "not_a_feed", "")
        entries = tuple(unique_keys(mp._entry(raw, fetched.final_url) for raw in raws))
        title = clean_text(mp._plain(feed_info.get("title") or ""))
        return ParsedFeed(title=title, entries=entries, ttl=mp._ttl(feed_info.get("ttl")))
    except Exception as error:
        return f"{type(error).__name__}: {error}"


def fast_path(parser: Callable[[bytes], Raw], fetched: Fetched) -> Result:
    """The subset rule as a product would run it: the candidate behind plain()."""
    return stored(parser, fetched) if plain(fetched) else mp.parse_feed(fetched)


def _decompressed(path: Path, body: bytes) -> bytes:
    try:
        if path.suffix == ".gz":
            return gzip.decompress(body)
        if path.suffix == ".z":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)  # deflate without a header
    except (OSError, EOFError, zlib.error):
        pass
    return body


def corpus() -> list[Fetched]:
    fetched = []
    for path in corpus_files():
        url = f"{BASE}/{path.relative_to(CORPUS).as_posix()}"
        headers = {k.lower(): v for k, v in route_for(path, BASE).headers.items()}
        body = _decompressed(path, path.read_bytes())
        fetched.append(Fetched(url, url, body, headers["content-type"], None, None, "h"))
    return fetched


_DECLARED = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"']([\w.:-]+)", re.I)
_NOT_XML_ENTITY = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)")
_RISKY = (b"\x00", b"<!DOCTYPE", b"<!ENTITY", b"base64")
_XML_TYPES = ("application/xml", "application/rss+xml", "application/atom+xml", "text/xml")


def plain(fetched: Fetched) -> bool:
    """The subset rule's pre-check: UTF-8 XML needing none of feedparser's recovery (no other
    charset, NUL, DOCTYPE, entity beyond XML's five or bare &, base64); the rest to feedparser."""
    body = fetched.body
    kind, _, charset = fetched.content_type.lower().partition("charset=")
    declared = _DECLARED.match(body)
    return (
        kind.strip().startswith(_XML_TYPES)
        and charset.strip(' "') in ("", "utf-8")
        and (declared is None or declared.group(1).lower() == b"utf-8")
        and not any(marker in body for marker in _RISKY)
        and not _NOT_XML_ENTITY.search(body)
        and body.decode("utf-8", "replace").encode() == body
    )


def generated() -> list[Fetched]:
    urls = (f"https://news.example/{n}/feed.xml" for n in range(GENERATED))
    return [Fetched(u, u, feed(n), "application/xml", None, None, "h") for n, u in enumerate(urls)]


def classify(reference: Result, candidate: Result) -> str:
    if isinstance(candidate, str):
        parsed = isinstance(reference, ParsedFeed)
        return "error, feedparser parsed it" if parsed else "error, both fail"
    if isinstance(reference, FeedFailure) and isinstance(candidate, FeedFailure):
        return "identical"
    if isinstance(reference, FeedFailure):
        return "candidate-only success"
    if isinstance(candidate, FeedFailure):
        return "candidate-only failure"
    return "identical" if reference == candidate else "differing"


def _cut(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def difference(reference: Result, candidate: Result) -> tuple[str, object, object]:
    """The first field in which two results differ."""
    if not (isinstance(reference, ParsedFeed) and isinstance(candidate, ParsedFeed)):
        return "outcome", _outcome(reference), _outcome(candidate)
    if reference.title != candidate.title or reference.ttl != candidate.ttl:
        return "feed.title/ttl", (reference.title, reference.ttl), (candidate.title, candidate.ttl)
    if len(reference.entries) != len(candidate.entries):
        return "entries", len(reference.entries), len(candidate.entries)
    for mine, theirs in zip(reference.entries, candidate.entries, strict=True):
        for name in ("title", "text", "url", "published_at", "key"):
            if getattr(mine, name) != getattr(theirs, name):
                return f"entry.{name}", getattr(mine, name), getattr(theirs, name)
    return "?", reference, candidate


def _outcome(result: Result) -> str:
    if isinstance(result, ParsedFeed):
        return f"{len(result.entries)} entries"
    return result.reason if isinstance(result, FeedFailure) else f"raised {result}"


def items_per_second(parse: Callable[[Fetched], Result], feeds: list[Fetched]) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        results = [parse(f) for f in feeds]
        best = min(best, time.perf_counter() - started)
    return sum(len(r.entries) for r in results if isinstance(r, ParsedFeed)) / best


def _spread(examples: dict[tuple[str, str], str]) -> list[str]:
    """Up to 10 lines, one (directory, field) pair each, taking each directory in turn."""
    rank: Counter[str] = Counter()
    ranked = []
    for (folder, _), line in examples.items():
        rank[folder] += 1
        ranked.append((rank[folder], folder, line))
    return [line for *_, line in sorted(ranked)][:10]


def sweep(name: str, feeds: dict[str, list[Fetched]], reference: Mapping[str, Result]) -> Counts:
    parser = CANDIDATES[name]
    counts: Counts = Counter()
    examples: dict[tuple[str, str], str] = {}  # the first per (directory, field)
    for label, batch in feeds.items():
        for fetched in batch:
            theirs = stored(parser, fetched)
            kind = classify(reference[fetched.url], theirs)
            counts[label, kind] += 1
            if kind not in SAFE and label != "pre-checked":  # a raise falls back: not shown
                field, mine, other = difference(reference[fetched.url], theirs)
                short = fetched.url.removeprefix(f"{BASE}/")
                line = f"  {short}  [{field}]  {_cut(mine)}  vs  {_cut(other)}"
                examples.setdefault((short.split("/")[0], field), line)
    _table(name, feeds, counts)
    print(f"  examples, one per (directory, field); {len(examples)} such pairs differ:")
    print("\n".join(_spread(examples)) or "  none")
    return counts


SAFE = ("identical", "error, both fail", "error, feedparser parsed it")  # a raise falls back
KINDS = ("identical", "differing", *SAFE[1:], "candidate-only success", "candidate-only failure")


def _table(name: str, feeds: dict[str, list[Fetched]], counts: Counts) -> None:
    print(f"\n== {name} ==")
    print(f"  {'':32}" + "".join(f"{label:>14}" for label in feeds))
    print(f"  {'files compared':32}" + "".join(f"{len(b):>14}" for b in feeds.values()))
    for kind in KINDS:
        print(f"  {kind:32}" + "".join(f"{counts[label, kind]:>14}" for label in feeds))


def _unsafe(counts: Counts, feeds: dict[str, list[Fetched]], label: str) -> int:
    """Files whose stored items would change: a raise falls back to feedparser, so is safe."""
    return len(feeds[label]) - sum(counts[label, kind] for kind in SAFE)


def verdict(name: str, counts: Counts, feeds: dict[str, list[Fetched]]) -> str:
    every, checked, made = (
        _unsafe(counts, feeds, k) for k in ("corpus", "pre-checked", "generated")
    )
    if every == made == 0:
        return f"verdict {name}: adopt (identical stored items on every file; raises fall back)"
    if checked == made == 0:
        return f"verdict {name}: adopt behind plain() (identical on every file it lets through)"
    return (
        f"verdict {name}: do not adopt (stored items differ on {every} of "
        f"{len(feeds['corpus'])} corpus files, and on {checked} of the "
        f"{len(feeds['pre-checked'])} that pass the plain() pre-check)"
    )


def main() -> None:
    every = corpus()
    checked = [f for f in every if plain(f)]
    feeds = {"corpus": every, "pre-checked": checked, "generated": generated()}
    reference = {f.url: mp.parse_feed(f) for batch in feeds.values() for f in batch}
    stored_items = sum(len(r.entries) for r in reference.values() if isinstance(r, ParsedFeed))
    print(f"feedparser stores {stored_items} items from {len(reference)} files")
    print("pre-checked: the corpus files plain() sends to the candidate (the rest: feedparser)")
    counts = {name: sweep(name, feeds, reference) for name in CANDIDATES}
    batch = feeds["generated"]
    baseline = items_per_second(mp.parse_feed, batch)
    print(f"\nparse time, generated corpus ({len(batch)} feeds x 50 items, parse + map to Entry;")
    print("candidates behind plain(), which passes every generated feed; best of 3):")
    print(f"  {'feedparser':16}{baseline:>10,.0f} items/s  1.00x")
    for name, parser in CANDIDATES.items():
        rate = items_per_second(partial(fast_path, parser), batch)
        print(f"  {name:16}{rate:>10,.0f} items/s  {rate / baseline:.2f}x")
    print()
    for name, result in counts.items():
        print(verdict(name, result, feeds))


if __name__ == "__main__":
    main()
