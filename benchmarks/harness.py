"""What every benchmark needs: a feed server in another process, a worker
on a fresh database with the seed watchlist's rules, a timed poll."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.corpus import feed
from monitor.app import Worker
from monitor.config import PROJECT_ROOT, Settings
from monitor.resources import SEED, seed_watchlists
from monitor.types import CycleReport


def bench_worker(
    base_url: str,
    names: list[str],
    workdir: Path,
    parse_processes: int,
    entities: str | None = None,
) -> Worker:
    """A worker on a fresh database watching the benchmark feeds with the
    seed's rules (or the ``entities:`` section given as YAML)."""
    watchlists = workdir / "watchlists"
    watchlists.mkdir()
    urls = [f"{base_url}/{name}" for name in names]
    (watchlists / "bench.yaml").write_text(seed_with_feeds(urls, entities), encoding="utf-8")
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'bench.db'}",
        watchlists=watchlists,
        output_dir=workdir / "digests",
        allow_hosts=base_url.removeprefix("http://"),
        parse_processes=parse_processes,
        _env_file=None,  # type: ignore[call-arg]
    )
    return Worker(settings)


def seed_with_feeds(urls: list[str], entities: str | None = None) -> str:
    """The seed watchlist reading ``urls`` (and with the ``entities:``
    section given as YAML, if given)."""
    seed = (seed_watchlists() / SEED).read_text(encoding="utf-8")
    head, _, rest = seed.partition("\nfeeds:\n")
    seed_feeds, _, tail = rest.partition("\nentities:\n")
    # The x- keys between feeds: and entities: hold anchors the rules use.
    anchors = seed_feeds[seed_feeds.find("\nx-") :] if "\nx-" in seed_feeds else ""
    feeds = "\n".join(f"  - {url}" for url in urls)
    return f"{head}\nfeeds:\n{feeds}{anchors}\nentities:\n{entities or tail}"


def timed_poll(worker: Worker) -> tuple[float, CycleReport]:
    start = time.perf_counter()
    report = worker.poll(force=True)
    elapsed = time.perf_counter() - start
    if report.failures:
        raise SystemExit(f"benchmark feeds failed: {report.failures[:3]}")
    return elapsed, report


SERVERS = {
    # keep-alive, ETag and 304 like nginx or a CDN (benchmarks/server.py)
    "static": ["-m", "benchmarks.server", "{directory}", "{port}"],
    # the standard library's: HTTP/1.0, a connection and a thread per request
    "http.server": ["-m", "http.server", "{port}", "--bind", "127.0.0.1", "-d", "{directory}"],
}


@contextmanager
def serve_in_another_process(directory: Path, server_name: str = "static") -> Iterator[str]:
    """A static file server in its own process, so serving costs the measured process nothing."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    arguments = [a.format(directory=directory, port=port) for a in SERVERS[server_name]]
    server = subprocess.Popen(
        [sys.executable, *arguments],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit("the benchmark's feed server did not start")


def write_corpus(directory: Path, feeds: int, items: int = 50) -> list[str]:
    """``feeds`` generated feeds of ``items`` items as files; their names."""
    directory.mkdir()
    names = [f"feed-{number}.xml" for number in range(feeds)]
    for number, name in enumerate(names):
        (directory / name).write_bytes(feed(number, items))
    return names
