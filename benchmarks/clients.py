"""python -m benchmarks.clients: CPU per request of the HTTP clients we could build on.

One thread, one kept-alive connection to a local feed server in another
process (benchmarks/server.py), the same conditional GET each time: a 304,
then a 200 with a generated 81 KB feed read to its end. Prints CPU
microseconds per request for the standard library's http.client (the
floor), urllib3 and httpx (through its Client and straight on httpcore),
and for monitor's own Fetcher, which is httpcore with the address guard,
the deadline and the size cap. The figures decided which client the
Fetcher is built on (see the module docstring of monitor/fetch).
"""

from __future__ import annotations

import http.client
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpcore
import httpx
import urllib3

from benchmarks.harness import serve_in_another_process, write_corpus
from monitor.fetch import Fetcher, FetchPolicy

REQUESTS = 2000


def cpu_per_request(request: Callable[[], None], count: int = REQUESTS) -> float:
    """CPU microseconds per call, after a warm-up that opens the connection."""
    for _ in range(20):
        request()
    start = time.process_time()
    for _ in range(count):
        request()
    return (time.process_time() - start) / count * 1e6


def candidates(url: str, etag: str | None) -> dict[str, Callable[[], None]]:
    headers = {"If-None-Match": etag} if etag else {}
    parts = urllib3.util.parse_url(url)
    raw = http.client.HTTPConnection(parts.host or "", parts.port)
    pool = urllib3.PoolManager()
    client = httpx.Client()
    core = httpcore.ConnectionPool()
    fetcher = Fetcher(
        FetchPolicy(
            timeout=30,
            max_bytes=20 << 20,
            user_agent="bench",
            allow_hosts=frozenset({f"{parts.host}:{parts.port}"}),
        )
    )
    now = datetime.now(UTC)

    def stdlib() -> None:
        raw.request("GET", parts.path or "/", headers=headers)
        raw.getresponse().read()

    def with_urllib3() -> None:
        pool.request("GET", url, headers=headers, preload_content=True)

    def with_httpx() -> None:
        client.get(url, headers=headers).read()

    def with_httpcore() -> None:
        core.request("GET", url, headers=list(headers.items()))

    def with_fetcher() -> None:
        fetcher.fetch(url, now, etag)

    return {
        "http.client (standard library)": stdlib,
        "urllib3 PoolManager": with_urllib3,
        "httpx Client": with_httpx,
        "httpcore ConnectionPool": with_httpcore,
        "monitor Fetcher (httpcore + guard + deadline + cap)": with_fetcher,
    }


def run() -> list[tuple[str, float, float]]:
    """(client, CPU µs per 304, CPU µs per 200 of 81 KB) for each candidate."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="monitor-clients-") as temporary:
        directory = Path(temporary) / "feeds"
        [name] = write_corpus(directory, 1)
        with serve_in_another_process(directory) as base_url:
            url = f"{base_url}/{name}"
            etag = urllib3.request("GET", url).headers["ETag"]
            for label in candidates(url, etag):
                not_modified = cpu_per_request(candidates(url, etag)[label])
                full = cpu_per_request(candidates(url, None)[label], REQUESTS // 4)
                rows.append((label, not_modified, full))
    return rows


if __name__ == "__main__":
    print(f"{'CPU per request, µs':<56}{'304':>8}{'200 81 KB':>12}")
    for label, not_modified, full in run():
        print(f"{label:<56}{not_modified:>8.0f}{full:>12.0f}")
