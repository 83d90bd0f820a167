"""Whole processes, as a cron user runs them: `monitor poll --all` of local
feeds against bare urllib + feedparser in one process, a second run with
nothing changed against the first, and `monitor status` against
`python -c "import sqlalchemy"`. Every figure includes the process's own
start-up, imports and exit: what someone waiting at a terminal sees. The
package's bytecode is compiled first, as an installed package's is (this
machine's PYTHONDONTWRITEBYTECODE would otherwise make every run compile it).

    python -m benchmarks.cron [FEEDS]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from benchmarks.harness import seed_with_feeds, serve_in_another_process, write_corpus
from monitor.config import PROJECT_ROOT

Row = tuple[str, float, float]  # label, value, ratio to the row's baseline

BARE = """
import io, sys, urllib.request
import feedparser
items = 0
for url in sys.argv[1:]:
    with urllib.request.urlopen(url) as response:
        items += len(feedparser.parse(io.BytesIO(response.read())).entries)
print(items)
"""


def bare_urllib_feedparser(urls: list[str]) -> tuple[float, int]:
    """Seconds for one process to fetch and parse every feed, and entries read."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", BARE, *urls], capture_output=True, text=True, check=True
    )
    return time.perf_counter() - start, int(done.stdout)


def _monitor(workdir: Path, base_url: str, *args: str) -> float:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")},
        "MONITOR_DATABASE_URL": f"sqlite:///{workdir / 'cron.db'}",
        "MONITOR_WATCHLISTS": str(workdir / "watchlists"),
        "MONITOR_OUTPUT_DIR": str(workdir / "digests"),
        "MONITOR_ALLOW_HOSTS": base_url.removeprefix("http://"),
    }
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args],
        cwd=workdir, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"monitor {' '.join(args)} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - start


def _watchlist(workdir: Path, urls: list[str]) -> None:
    (workdir / "watchlists").mkdir()
    (workdir / "watchlists" / "cron.yaml").write_text(seed_with_feeds(urls), encoding="utf-8")


def _startup(command: list[str], cwd: Path, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return median(times)


def run(feeds: int = 200, items: int = 50) -> tuple[list[Row], list[Row], list[Row]]:
    """(ingest rates, re-run costs, start-up times), each with its ratios."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(PROJECT_ROOT / "monitor")], check=True
    )
    with tempfile.TemporaryDirectory(prefix="monitor-cron-") as temporary:
        workdir = Path(temporary)
        names = write_corpus(workdir / "feeds", feeds, items)
        with serve_in_another_process(workdir / "feeds") as base_url:
            urls = [f"{base_url}/{name}" for name in names]
            bare_seconds, bare_items = bare_urllib_feedparser(urls)
            _watchlist(workdir, urls)
            first = _monitor(workdir, base_url, "poll", "--all")
            second = median(_monitor(workdir, base_url, "poll", "--all") for _ in range(3))
        env_status = [sys.executable, "-m", "monitor.cli", "--database-url",
                      f"sqlite:///{workdir / 'cron.db'}", "--watchlists",
                      str(workdir / "watchlists"), "status"]  # fmt: skip
        sqlalchemy = _startup([sys.executable, "-c", "import sqlalchemy"], workdir)
        status = _startup(env_status, workdir)
    bare_rate, monitor_rate = bare_items / bare_seconds, bare_items / first
    ingest = [
        ("bare urllib + feedparser.parse, 1 process (baseline)", bare_rate, 1.0),
        ("monitor poll --all, first run", monitor_rate, monitor_rate / bare_rate),
    ]
    rerun = [
        ("monitor poll --all, first run (baseline)", first * 1000, 1.0),
        ("monitor poll --all again, nothing changed (median of 3)", second * 1000, second / first),
    ]
    startup = [
        ('python -c "import sqlalchemy" (baseline)', sqlalchemy * 1000, 1.0),
        ("monitor status (median of 5)", status * 1000, status / sqlalchemy),
    ]
    return ingest, rerun, startup


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    for table in run(count):
        for label, value, ratio in table:
            print(f"{label:<60}{value:>10.0f}{ratio:>8.3f}")
