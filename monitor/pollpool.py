"""Polling in other processes: fetch, parse and match.

feedparser is pure Python and holds the GIL, and so, on a quiet cycle of
304s, does HTTP: parsing a response's headers costs more than recording it.
Only other processes put the other cores to work. Each poll process has its
own Fetcher (its own connections, and its share of each host's limit),
fetches the feeds it is handed, parses and matches what changed, and sends
back only the outcome: bodies never cross, and the service's process keeps
the claims and every write (SQLite has one writer at a time; processes
writing on their own would queue on its lock).

Each process loads the matcher once per watchlist version from a file the
pool writes (sending it with every feed would double the traffic), and
skips the entries this worker stored from the same feed at its last poll,
which the pool remembers as 8-byte digests.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import itertools
import logging
import multiprocessing
import os
import pickle
import queue
import shutil
import tempfile
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from monitor.fetch import Fetcher, FetchPolicy, host_of
from monitor.matcher import Matcher
from monitor.parse import parse_feed
from monitor.store import NewMatch
from monitor.text import make_snippet
from monitor.types import Entry, FeedFailure, Fetched, FetchOutcome, Match, ParsedFeed, Snippet

log = logging.getLogger(__name__)


# Matches made with the parse, by entry key; None: matched after the store
# says which entries are new.
Premade = dict[str, tuple[NewMatch, ...]]


@dataclass(frozen=True)
class PollJob:
    """What a poll process needs to poll one feed."""

    url: str  # the feed's name (its URL in the watchlist)
    fetch_url: str  # where it is fetched from (they differ after a move)
    now: datetime
    etag: str | None
    last_modified: str | None
    body_hash: str | None


@dataclass(frozen=True)
class Polled:
    """A poll's result. A feed fetched anew comes with its parse (and, from
    a poll process, without its body); ``parsed`` None: parse it here."""

    outcome: FetchOutcome
    fetch_seconds: float | None  # how long the request took (None: none was made)
    parsed: ParsedFeed | FeedFailure | None = None
    premade: Premade | None = None


def matches_of(matcher: Matcher, entry: Entry) -> list[NewMatch]:
    return [
        NewMatch(entry.key, match, snippet_of(entry, match))
        for match in matcher.match(entry.title, entry.text)
    ]


def snippet_of(entry: Entry, match: Match) -> Snippet:
    """The excerpt shown with a match: from the text when the text hit,
    else the start of the text (the title is shown anyway)."""
    spans = [(h.start, h.end) for h in match.hits if h.field == "text"]
    text, inside = make_snippet(entry.text, spans)
    return Snippet(text, tuple(inside))


def key_digest(key: str) -> bytes:
    """8 bytes standing for an entry key in the pool's memory of stored
    entries. Two keys sharing one only cost a check against the store."""
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()


def _digests(packed: bytes) -> set[bytes]:
    return {packed[i : i + 8] for i in range(0, len(packed), 8)}


# --- in a poll process ---------------------------------------------------------

# The matcher last loaded, and the file it came from.
_loaded_matcher: tuple[str, Matcher] | None = None
_loading = threading.Lock()


def _matcher_from(path: str) -> Matcher:
    global _loaded_matcher
    with _loading:
        if _loaded_matcher is None or _loaded_matcher[0] != path:
            with open(path, "rb") as file:  # written by this worker, in its own directory
                _loaded_matcher = (path, pickle.load(file))
        return _loaded_matcher[1]


def parse_and_match(
    fetched: Fetched, matcher_file: str, skip: bytes
) -> tuple[ParsedFeed | FeedFailure, Premade]:
    """Parse, then match every entry whose key's digest is not in ``skip``
    (entries this worker stored from the feed before, as key_digest values
    end to end)."""
    parsed = parse_feed(fetched)
    if isinstance(parsed, FeedFailure):
        return parsed, {}
    matcher = _matcher_from(matcher_file)
    stored = _digests(skip)
    made = {
        e.key: tuple(matches_of(matcher, e))
        for e in parsed.entries
        if key_digest(e.key) not in stored
    }
    return parsed, made


def poll_remotely(fetcher: Fetcher, job: PollJob, matcher_file: str, skip: bytes) -> Polled:
    """The job's feed fetched and, if it changed, parsed and matched; its
    body is dropped (the service's process needs only what came of it)."""
    started = time.monotonic()
    outcome = fetcher.fetch(
        job.fetch_url, job.now, job.etag, job.last_modified, known_hash=job.body_hash
    )
    seconds = time.monotonic() - started
    if not isinstance(outcome, Fetched):
        return Polled(outcome, seconds)
    parsed, premade = parse_and_match(outcome, matcher_file, skip)
    return Polled(replace(outcome, body=b""), seconds, parsed, premade)


class RemoteBug(Exception):
    """A bug met in a poll process (not a feed problem), with its traceback."""


# Messages cross as pickles of lists of plain tuples through a pipe, written
# and read with the C pickler, a batch at a time each way: a quiet cycle of
# 500 304s would otherwise spend more on messages than on the requests.
_PICKLE = pickle.HIGHEST_PROTOCOL
READY = "ready"  # a poll process's first message: started, its modules imported
STOP = "stop"  # the last message either way

# One job as it crosses: (job id, the job, the matcher's file, skip digests).
_Job = tuple[int, PollJob, str, bytes]


def _serve(connection: Connection, policy: FetchPolicy, threads: int) -> None:
    """A poll process (see _Server)."""
    _Server(connection, policy).serve(threads)


class _Server:
    """A poll process's work: its threads poll the jobs as they arrive, and
    one more sends their results back, as many at once as are ready.

    A job for a host that has all its requests at once out waits in that
    host's queue, not on a thread: the thread that finishes one of the
    host's polls takes it next. Threads blocked on a busy host would leave
    the other hosts' feeds waiting, and each hand-over of a blocked slot
    wakes threads for nothing."""

    def __init__(self, connection: Connection, policy: FetchPolicy) -> None:
        self.connection = connection
        self.fetcher = Fetcher(policy)
        self.per_host = policy.per_host
        self._hosts = threading.Lock()
        self._busy: dict[str, int] = {}  # host -> its polls running
        self._parked: dict[str, collections.deque[_Job]] = {}  # host -> its jobs waiting
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._outbox: list[tuple[int, Polled | RemoteBug]] = []
        self._outbox_lock = threading.Lock()
        self._sending = False

    def serve(self, threads: int) -> None:
        workers = [threading.Thread(target=self._work, daemon=True) for _ in range(threads)]
        self.connection.send_bytes(pickle.dumps(READY, _PICKLE))
        for thread in workers:
            thread.start()
        while True:
            try:
                message = pickle.loads(self.connection.recv_bytes())
            except EOFError:  # the service went away
                break
            if message == STOP:
                break
            for job in message:
                self.jobs.put(job)
        for _ in workers:
            self.jobs.put(None)
        for thread in workers:
            thread.join()
        self.fetcher.close()

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            host = host_of(job[1].fetch_url)
            with self._hosts:
                if self._busy.get(host, 0) >= self.per_host:
                    self._parked.setdefault(host, collections.deque()).append(job)
                    continue
                self._busy[host] = self._busy.get(host, 0) + 1
            next_job: _Job | None = job
            while next_job is not None:
                self._poll(next_job)
                next_job = self._next_of(host)

    def _next_of(self, host: str) -> _Job | None:
        """The host's next waiting job (its slot kept for it), or None (the
        slot given back)."""
        with self._hosts:
            waiting = self._parked.get(host)
            if waiting:
                return waiting.popleft()
            self._parked.pop(host, None)
            self._busy[host] -= 1
            if not self._busy[host]:
                del self._busy[host]
            return None

    def _poll(self, job: _Job) -> None:
        job_id, poll_job, matcher_file, skip = job
        result: Polled | RemoteBug
        try:
            result = poll_remotely(self.fetcher, poll_job, matcher_file, skip)
        except Exception as e:
            result = RemoteBug(f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
        self._send((job_id, result))

    def _send(self, answer: tuple[int, Polled | RemoteBug]) -> None:
        """Sends the answer, with any others that finish meanwhile. The
        thread that finds no send under way sends, until the outbox is
        empty; the others only leave theirs in it. A sender thread would
        have to be woken for every answer, which cost more than the send."""
        with self._outbox_lock:
            self._outbox.append(answer)
            if self._sending:
                return
            self._sending = True
        while True:
            with self._outbox_lock:
                answers, self._outbox = self._outbox, []
                if not answers:
                    self._sending = False
                    return
            try:
                self.connection.send_bytes(_pickled(answers))
            except OSError:  # the service went away; this process ends with it
                return


def _pickled(answers: list[tuple[int, Polled | RemoteBug]]) -> bytes:
    """The answers as one message. One that cannot be pickled (a bug) is
    sent as a RemoteBug in its place: left out, its feed would never end
    and the cycle would wait for it for ever."""
    try:
        return pickle.dumps(answers, _PICKLE)
    except Exception:
        return pickle.dumps([(job_id, _sendable(result)) for job_id, result in answers], _PICKLE)


def _sendable(result: Polled | RemoteBug) -> Polled | RemoteBug:
    try:
        pickle.dumps(result, _PICKLE)
    except Exception as e:
        return RemoteBug(f"the poll's result could not be sent back: {type(e).__name__}: {e}")
    return result


# --- in the service's process -------------------------------------------------

# Where the results of a batch of jobs arrive: (job, its result). DIED: the
# process ended with the job in hand (killed, out of memory, a crash).
DIED = "died"
# A batch's results are handed over together: one hand-over per message,
# not one per job, so the thread taking them is woken once.
Results = Callable[[list[tuple[PollJob, "Polled | RemoteBug | str"]]], None]

# How long a new poll process may take to import its modules.
START_SECONDS = 60.0


class _Process:
    """One poll process, and the jobs it has in hand."""

    def __init__(self, context: Any, policy: FetchPolicy, threads: int) -> None:
        here, there = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(there, policy, threads), name="monitor-poll", daemon=True
        )
        self._connection: Connection = here
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[PollJob, Results]] = {}
        self._ready = threading.Event()
        self.alive = True
        self.started = False  # it said READY
        self.process.start()
        there.close()
        threading.Thread(target=self._read, name="monitor-poll-results", daemon=True).start()

    def wait_started(self) -> bool:
        self._ready.wait(START_SECONDS)
        return self.started

    def send(self, jobs: list[_Job], results: Results) -> bool:
        """Hand over the jobs (``results`` is given their results); False if
        this process has ended."""
        message = pickle.dumps(jobs, _PICKLE)
        with self._lock:
            if not self.alive:
                return False
            for job_id, job, _, _ in jobs:
                self._pending[job_id] = (job, results)
            try:
                self._connection.send_bytes(message)
            except OSError:
                for job_id, *_ in jobs:
                    del self._pending[job_id]
                return False
        return True

    def _read(self) -> None:
        try:
            if pickle.loads(self._connection.recv_bytes()) == READY:
                self.started = True
                self._ready.set()
            while True:
                answers = pickle.loads(self._connection.recv_bytes())
                with self._lock:
                    destined = [(*self._pending.pop(i), result) for i, result in answers]
                _hand_over(destined)
        except (EOFError, OSError):
            pass  # it ended, or was closed
        with self._lock:
            self.alive = False
            orphans = [(job, results, DIED) for job, results in self._pending.values()]
            self._pending.clear()
        self._ready.set()
        _hand_over(orphans)

    def close(self) -> None:
        with self._lock, contextlib.suppress(OSError):
            self._connection.send_bytes(pickle.dumps(STOP, _PICKLE))
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._connection.close()


# Matcher files kept: the one in force and the one a cycle may still be using.
KEPT_MATCHER_FILES = 2


def _hand_over(destined: Sequence[tuple[PollJob, Results, Polled | RemoteBug | str]]) -> None:
    """Each result to whoever sent its job, a list per receiver."""
    batches: dict[Results, list[tuple[PollJob, Polled | RemoteBug | str]]] = {}
    for job, results, result in destined:
        batches.setdefault(results, []).append((job, result))
    for results, batch in batches.items():
        results(batch)


class PollPool:
    """Processes that poll feeds (see the module's docstring), started with
    the first jobs or by ``start``."""

    def __init__(self, processes: int, policy: FetchPolicy, threads: int) -> None:
        self.processes = processes
        # Each host's limit is shared out: every process may send
        # per_host // processes requests at once to a host; with fewer slots
        # than processes, all of a host's feeds go to one process instead.
        self._by_host = policy.per_host < processes
        share = policy.per_host if self._by_host else policy.per_host // processes
        # Threads enough for the fetches the service would run itself.
        self._threads = max(1, -(-threads // processes))
        self._policy = replace(policy, per_host=share, connections=max(10, self._threads))
        self._running: list[_Process | None] = [None] * processes
        self._turn = itertools.count()
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._unavailable = False
        self._directory: str | None = None
        # The matchers whose files processes may be reading, newest first:
        # the one in force and the one before (a cycle running as it changed).
        self._matcher_files: list[tuple[Matcher, str]] = []
        self._versions = 0
        # Feed URL -> the digests of its entries' keys at its last stored
        # poll (8 bytes a key: 2,000 feeds of 50 entries take under 1 MB).
        self._stored_keys: dict[str, bytes] = {}

    @property
    def running(self) -> int:
        """How many of its processes are up."""
        return sum(1 for process in self._running if process is not None and process.alive)

    @property
    def pids(self) -> list[int]:
        """The process ids of those up."""
        return [p.process.pid for p in self._running if p is not None and p.alive]

    @property
    def available(self) -> bool:
        """False once processes proved unable to start here."""
        return not self._unavailable

    def send(self, jobs: Iterable[PollJob], matcher: Matcher, results: Results) -> list[PollJob]:
        """Hand the jobs to the processes; ``results`` is given their results,
        in lists as they arrive.
        Returns the jobs no process could take (processes cannot start
        here): the caller polls those itself."""
        matcher_file = self._file_of(matcher)
        shares: dict[int, list[_Job]] = {}
        for job in jobs:
            skip = self._stored_keys.get(job.url, b"")
            shares.setdefault(self._index_for(job), []).append(
                (next(self._ids), job, matcher_file, skip)
            )
        refused: list[PollJob] = []
        for index, share in shares.items():
            for _attempt in (1, 2):  # a process found dead is replaced once
                process = self._process(index)
                if process is not None and process.send(share, results):
                    break
            else:
                refused += [job for _, job, _, _ in share]
        return refused

    def start(self) -> None:
        """Start every process now rather than with the first jobs (they
        then stay for the life of the pool)."""
        for index in range(self.processes):
            if self._process(index) is None:
                return

    def remember(self, url: str, keys: Iterable[str]) -> None:
        """The keys of the feed's entries, now stored."""
        self._stored_keys[url] = b"".join({key_digest(key) for key in keys})

    def _index_for(self, job: PollJob) -> int:
        if self._by_host:
            host = host_of(job.fetch_url)
            return zlib.crc32(host.encode("utf-8", "surrogatepass")) % self.processes
        return next(self._turn) % self.processes

    def _process(self, index: int) -> _Process | None:
        with self._lock:
            if self._unavailable:
                return None
            process = self._running[index]
            if process is not None and process.alive:
                return process
            if process is not None:
                process.close()
            # spawn, not fork: the service has threads, and a forked child
            # can inherit a lock some other thread held.
            context = multiprocessing.get_context("spawn")
            try:
                process = _Process(context, self._policy, self._threads)
                started = process.wait_started()
            except (OSError, RuntimeError) as e:  # no semaphores, no __main__ to import
                log.debug("a poll process could not start: %s", e)
                started, process = False, None
            if not started:
                # It never got as far as its first message: processes cannot
                # start here (no importable __main__, a sandbox). Polling in
                # the service's process is slower, not wrong.
                if process is not None:
                    process.close()
                self._give_up()
                return None
            self._running[index] = process
            return process

    def _give_up(self) -> None:
        if not self._unavailable:
            log.warning("poll processes cannot start here; polling in this process")
        self._unavailable = True
        for process in self._running:
            if process is not None:
                process.close()
        self._running = [None] * self.processes

    def _file_of(self, matcher: Matcher) -> str:
        with self._lock:
            for known, path in self._matcher_files:
                if known is matcher:
                    return path
            if self._directory is None:
                self._directory = tempfile.mkdtemp(prefix="monitor-matchers-")
            self._versions += 1
            path = os.path.join(self._directory, f"matcher-{self._versions}.pickle")
            with open(path, "wb") as file:
                pickle.dump(matcher, file, protocol=pickle.HIGHEST_PROTOCOL)
            self._matcher_files.insert(0, (matcher, path))
            for _, older in self._matcher_files[KEPT_MATCHER_FILES:]:
                os.remove(older)
            del self._matcher_files[KEPT_MATCHER_FILES:]
            return path

    def close(self) -> None:
        with self._lock:
            for process in self._running:
                if process is not None:
                    process.close()
            self._running = [None] * self.processes

    def cleanup(self) -> None:
        """Close, and remove the matcher files."""
        self.close()
        with self._lock:
            if self._directory is not None:
                shutil.rmtree(self._directory, ignore_errors=True)
            self._directory, self._matcher_files = None, []
