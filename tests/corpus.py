"""The feedparser test corpus (../shared/corpus/feedparser) served over HTTP
with the headers each file's comment names, and swept through the pipeline.

`python -m tests.corpus` prints the sweep's figures; tests/test_corpus.py
asserts on them.
"""

from __future__ import annotations

import re
import resource
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlmodel import select

from monitor.app import Worker
from monitor.store.tables import FeedRow, ItemRow, ItemSourceRow
from tests.conftest import CORPUS, FeedServer, Route, make_settings

_HEADER = re.compile(r"^Header:\s*([\w-]+):\s*(.*?)\s*$", re.M)
_COMMENT = re.compile(rb"<!--(.*?)-->", re.S)


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "LICENSE")


def route_for(path: Path, base: str) -> Route:
    """The response a file stands for: its own bytes, with the status and
    headers its leading comment names (compressed files with their encoding)."""
    body = path.read_bytes()
    comment = _COMMENT.search(body[:2000])
    headers: dict[str, str] = {}
    status = 200
    for name, value in _HEADER.findall(comment.group(1).decode("latin-1") if comment else ""):
        if name.lower() == "status":
            status = int(value)
            continue
        headers[name] = value.replace("http://localhost:8097/tests/", f"{base}/")
    if path.suffix == ".gz":
        headers["Content-Encoding"] = "gzip"
    elif path.suffix == ".z":
        headers["Content-Encoding"] = "deflate"
    headers.setdefault("Content-type", "application/xml")
    etag = headers.pop("ETag", None)
    return Route(body, status, headers, etag)


def serve_corpus(server: FeedServer) -> list[str]:
    urls = []
    for path in corpus_files():
        relative = path.relative_to(CORPUS).as_posix()
        server.routes[f"/{relative}"] = route_for(path, f"http://{server.host}")
        urls.append(server.url(f"/{relative}"))
    # A target the http_redirect_to_304 case points at.
    server.routes["/-/return-304.xml"] = Route(b"", 304)
    return urls


@dataclass
class SweepFigures:
    files: int = 0
    items_stored: int = 0
    second_pass_new_items: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    sanitize_items_checked: int = 0
    sanitize_fields_with_script: list[str] = field(default_factory=list)
    seconds: float = 0.0
    peak_rss_mb: float = 0.0

    @property
    def errors(self) -> dict[str, int]:
        return {k: v for k, v in sorted(self.outcomes.items()) if k not in SUCCESS}

    def lines(self) -> list[str]:
        script = len(self.sanitize_fields_with_script)
        return [
            f"files served: {self.files}",
            f"items stored: {self.items_stored}",
            f"second pass, new items: {self.second_pass_new_items}",
            f"outcomes, first pass: {dict(sorted(self.outcomes.items()))}",
            f"errors by reason: {self.errors}",
            f"sanitisation items checked: {self.sanitize_items_checked}, "
            f"with script in a stored field: {script}",
            f"time: {self.seconds:.1f} s for both passes; peak RSS {self.peak_rss_mb:.0f} MB",
        ]


SUCCESS = frozenset({"updated", "same_body", "http_304"})
_SCRIPT = re.compile(r"<\s*script|javascript\s*:|\bon\w+\s*=", re.I)


def sweep(workdir: Path, server: FeedServer) -> SweepFigures:
    urls = serve_corpus(server)
    (workdir / "watchlists").mkdir(exist_ok=True)
    watchlist = {
        "feeds": urls,
        "entities": {"anything": {"aliases": ["the", "feed", "script", "javascript"]}},
    }
    (workdir / "watchlists" / "corpus.yaml").write_text(yaml.safe_dump(watchlist), "utf-8")
    now = datetime(2026, 11, 25, tzinfo=UTC)
    started = time.monotonic()
    settings = make_settings(workdir, fetch_timeout=10.0)
    worker = Worker(settings, clock=lambda: now, raise_errors=True)
    figures = SweepFigures(files=len(urls))
    first = worker.poll(urls=urls)
    figures.outcomes = Counter(f.outcome for f in first.feeds)
    figures.items_stored = first.new_items
    now += timedelta(hours=1)
    second = worker.poll(urls=urls)
    figures.second_pass_new_items = second.new_items
    with worker.store.session() as s:
        rows = s.exec(
            select(ItemRow, FeedRow.url)
            .join(ItemSourceRow, ItemSourceRow.item_id == ItemRow.id)
            .join(FeedRow, FeedRow.id == ItemSourceRow.feed_id)
            .where(FeedRow.url.contains("/sanitize/"))  # type: ignore[attr-defined]
        ).all()
    figures.sanitize_items_checked = len(rows)
    for item, url in rows:
        for name in ("title", "text", "url"):
            value = getattr(item, name) or ""
            if _SCRIPT.search(value):
                figures.sanitize_fields_with_script.append(f"{url} {name}: {value[:80]!r}")
    worker.close()
    figures.seconds = time.monotonic() - started
    # The parser processes count too: their peak, next to this process's.
    processes = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    peaks = (resource.getrusage(who).ru_maxrss for who in processes)
    figures.peak_rss_mb = max(peaks) / 1024
    return figures


def main() -> None:
    server = FeedServer()
    server.thread.start()
    try:
        with tempfile.TemporaryDirectory() as directory:
            figures = sweep(Path(directory), server)
    finally:
        server.httpd.shutdown()
    print("\n".join(figures.lines()))
    for line in figures.sanitize_fields_with_script[:20]:
        print("  ", line)
    sys.exit(1 if figures.sanitize_fields_with_script else 0)


if __name__ == "__main__":
    main()
