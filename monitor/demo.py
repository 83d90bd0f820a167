"""`monitor demo`: the whole loop, offline, on the bundled sample feeds.

A local HTTP server serves monitor/samples/*.xml; a copy of the seed
watchlist points at it; one poll and one digest run against a fresh SQLite
database in a working directory, and the digest's path is returned.
"""

from __future__ import annotations

import functools
import logging
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from monitor.app import Worker
from monitor.channels.files import digest_file_name
from monitor.config import Settings
from monitor.errors import MonitorError
from monitor.resources import SEED, samples, seed_watchlists

log = logging.getLogger(__name__)


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".xml": "application/rss+xml"}  # noqa: RUF012 - the base class defines it so

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve a directory on 127.0.0.1 on a free port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _seed_watchlist(settings: Settings) -> Path:
    for candidate in (settings.watchlists / SEED, seed_watchlists() / SEED):
        if candidate.is_file():
            return candidate
    raise MonitorError(f"the seed watchlist {SEED} is not in {settings.watchlists}")


def run_demo(settings: Settings, workdir: Path | None = None) -> Path:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="monitor-demo-"))
    watchlists = workdir / "watchlists"
    watchlists.mkdir(parents=True, exist_ok=True)
    seed = yaml.safe_load(_seed_watchlist(settings).read_text(encoding="utf-8"))
    with serve_directory(samples()) as base_url:
        seed["feeds"] = [f"{base_url}/{p.name}" for p in sorted(samples().glob("*.xml"))]
        seed.setdefault("digest", {})["email"] = []
        seed.setdefault("alerts", {})["email"] = []
        (watchlists / SEED).write_text(yaml.safe_dump(seed, allow_unicode=True, sort_keys=False))
        host = base_url.removeprefix("http://")
        demo_settings = settings.model_copy(
            update={
                "database_url": f"sqlite:///{workdir / 'demo.db'}",
                "watchlists": watchlists,
                "output_dir": workdir / "digests",
                "allow_hosts": host,
                "smtp_url": None,
            }
        )
        with Worker(demo_settings) as worker:
            report = worker.poll(force=True)
            log.info("demo poll: %s", report.summary())
            watchlist = worker.watchlists.by_id[Path(SEED).stem]
            result = worker.digest_now(watchlist)
    if result.record is None:
        raise MonitorError("the demo digest was not created")
    return demo_settings.output_dir / watchlist.id / digest_file_name(result.record.scheduled_for)
