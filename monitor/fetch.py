"""HTTP fetching: conditional GET with limits, as values.

``Fetcher.fetch`` never raises for anything a server can do: every outcome
is a ``Fetched``, ``NotModified`` or ``FeedFailure`` value with a stable
reason code. Redirects are followed by hand (at most five, never from https
to http), every connection's address passes the guard against internal
targets, each host gets a bounded number of requests at once, and a
watchdog enforces one deadline on the whole exchange.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import heapq
import ipaddress
import itertools
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, cast
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from monitor.errors import FeedError
from monitor.types import FeedFailure, Fetched, FetchOutcome, NotModified

MAX_REDIRECTS = 5
KEEPALIVE_CONNECTIONS = 10
KEEPALIVE_SECONDS = 4.0
# A feed that answers with only these has moved (RFC 9110 15.4.2, 15.4.9).
PERMANENT_REDIRECTS = frozenset({301, 308})


@dataclass(frozen=True)
class FetchPolicy:
    timeout: float  # total deadline, seconds, headers and body together
    max_bytes: int  # after decompression
    user_agent: str
    allow_hosts: frozenset[str] = frozenset()  # host or host:port let through the guard
    per_host: int = 2  # requests at once to one host
    connections: int = 10  # at once in all: at least the threads fetching


class _Deadline:
    """The connections of one fetch, closed by a watchdog timer when its
    deadline passes: a server dripping headers or body one byte at a time
    never trips a per-read timeout, but it cannot outlast this."""

    def __init__(self) -> None:
        self.streams: list[httpcore.NetworkStream] = []
        self.lock = threading.Lock()
        self.expired = False
        self.finished = False  # the fetch ended first: nothing to cut off

    def add(self, stream: httpcore.NetworkStream) -> None:
        with self.lock:
            if self.expired:
                stream.close()
            self.streams.append(stream)

    def expire(self) -> None:
        with self.lock:
            if self.finished:
                return
            self.expired = True
            for stream in self.streams:
                stream.close()

    def finish(self) -> None:
        with self.lock:
            self.finished = True


class _Watchdog:
    """One thread that expires the deadlines of all fetches of a Fetcher: a
    timer thread per fetch would cost more than a 304 itself."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, _Deadline]] = []  # a heap
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def watch(self, deadline: _Deadline, seconds: float) -> None:
        due = time.monotonic() + seconds
        with self._wake:
            # Waking the thread only for a deadline earlier than all others
            # (with one timeout for all: when none is pending) spares a
            # thread switch per fetch.
            earliest = not self._due or due < self._due[0][0]
            heapq.heappush(self._due, (due, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fetch-watchdog")
                self._thread.daemon = True
                self._thread.start()
            if earliest:
                self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()

    def _run(self) -> None:
        with self._wake:
            while not self._stopped:
                while self._due and self._due[0][2].finished:
                    heapq.heappop(self._due)
                if not self._due:
                    self._wake.wait()
                    continue
                wait = self._due[0][0] - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._due)[2].expire()


class _Watch(threading.local):
    """The deadline of the fetch running on this thread, if any."""

    current: _Deadline | None = None


class _GuardedBackend(httpcore.SyncBackend):
    """Checks the address of every connection, redirects included, when it
    is made: a name that resolves to an internal address is refused even if
    it resolved elsewhere a moment ago."""

    def __init__(self, allow_hosts: frozenset[str], watch: _Watch) -> None:
        self.allow_hosts = allow_hosts
        self.watch = watch

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        address = vetted_address(host, port, self.allow_hosts)
        stream = super().connect_tcp(address, port, timeout, local_address, socket_options)
        return _WatchedStream(stream, self.watch)


class _WatchedStream(httpcore.NetworkStream):
    """A connection that answers to the deadline of whichever fetch is using
    it: kept alive, it serves one fetch after another, and each fetch's
    watchdog must be able to cut it off."""

    def __init__(self, stream: httpcore.NetworkStream, watch: _Watch) -> None:
        self._stream = stream
        self._watch = watch
        self._deadline: _Deadline | None = None
        self._watched()

    def _watched(self) -> None:
        current = self._watch.current
        if current is not None and current is not self._deadline:
            self._deadline = current
            current.add(self)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._watched()
        return self._stream.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._watched()
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        self._watched()
        secure = self._stream.start_tls(ssl_context, server_hostname, timeout)
        return _WatchedStream(secure, self._watch)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


@dataclass(frozen=True)
class _Target:
    """A URL as a request needs it: parsed, its host IDNA-encoded, and its
    Host and Authorization headers."""

    url: httpcore.URL
    headers: tuple[tuple[bytes, bytes], ...]
    host: str  # for the per-host limit


# Feed URLs come back every cycle: each is parsed once (LRU).
TARGET_CACHE = 8192


@functools.lru_cache(maxsize=TARGET_CACHE)
def _target(url: str) -> _Target:
    guard_url(url)
    parsed = httpx.URL(url)  # percent-encodes the path, IDNA-encodes the host
    host = parsed.raw_host
    port = parsed.port
    headers = [(b"Host", parsed.netloc)]  # IPv6 in brackets, no userinfo
    if parsed.username or parsed.password:
        # Basic credentials from the URL (``https://user:secret@host/feed``),
        # sent to that URL only: a redirect elsewhere has no userinfo of its own.
        pair = f"{parsed.username}:{parsed.password}".encode()
        headers.append((b"Authorization", b"Basic " + base64.b64encode(pair)))
    core_url = httpcore.URL(scheme=parsed.raw_scheme, host=host, port=port, target=parsed.raw_path)
    return _Target(core_url, tuple(headers), parsed.host.lower())


def host_of(url: str) -> str:
    """The host whose limit a feed's requests count against (as the Fetcher
    reads the URL); "" for a URL it would not fetch."""
    try:
        return _target(url).host
    except (FeedError, httpx.InvalidURL):
        return ""


class _Answer:
    """A response's status and headers (names lower-cased; values as latin-1
    text, which gives back the exact bytes when a validator is sent again)."""

    def __init__(self, response: httpcore.Response) -> None:
        self.response = response
        self.status = response.status
        self.headers = {name.lower(): value for name, value in response.headers}

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")

    @property
    def reason(self) -> str:
        phrase = self.response.extensions.get("reason_phrase", b"")
        return phrase.decode("ascii", errors="ignore") if isinstance(phrase, bytes) else ""

    def location(self) -> str | None:
        """The Location header; UTF-8 when it decodes as such (as browsers read it)."""
        value = self.headers.get(b"location")
        if value is None:
            return None
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("latin-1")


class _Body(httpx.SyncByteStream):
    """A 200's body as httpx reads it, so that its decoders undo the
    Content-Encoding (gzip, deflate)."""

    def __init__(self, response: httpcore.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        yield from cast(Iterable[bytes], self._response.stream)

    def close(self) -> None:
        self._response.close()


class Fetcher:
    """One HTTP client shared by the polls of a cycle (thread-safe)."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self._watch = _Watch()
        self._watchdog = _Watchdog()
        # Requests go to httpcore's pool, not through httpx: we follow
        # redirects by hand and want no cookies, auth or proxies, and httpx's
        # request and response layers cost a third of the CPU of a 304.
        # Connections are kept alive between the polls of a cycle (a feed
        # host often serves many of a watchlist's feeds), but only briefly:
        # servers such as Apache close idle ones after 5 s, and a request
        # racing that close would fail.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=policy.connections,
            max_keepalive_connections=min(KEEPALIVE_CONNECTIONS, policy.connections),
            keepalive_expiry=KEEPALIVE_SECONDS,
            network_backend=_GuardedBackend(policy.allow_hosts, self._watch),
        )
        timeout = httpx.Timeout(policy.timeout, connect=min(policy.timeout, 10.0))
        self._extensions = {"timeout": timeout.as_dict()}
        self._headers = (
            (b"User-Agent", policy.user_agent.encode("utf-8")),
            (
                b"Accept",
                b"application/rss+xml, application/atom+xml, application/xml;q=0.9, "
                b"text/xml;q=0.9, */*;q=0.5",
            ),
            (b"Accept-Encoding", b"gzip, deflate"),
        )
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._hosts_lock = threading.Lock()

    def close(self) -> None:
        self._watchdog.stop()
        self._pool.close()

    def _host_slot(self, host: str) -> threading.BoundedSemaphore:
        with self._hosts_lock:
            if host not in self._hosts:
                self._hosts[host] = threading.BoundedSemaphore(self.policy.per_host)
            return self._hosts[host]

    def fetch(
        self,
        url: str,
        now: datetime,
        etag: str | None = None,
        last_modified: str | None = None,
        known_hash: str | None = None,
    ) -> FetchOutcome:
        try:
            host = _target(url).host
        except (FeedError, httpx.InvalidURL) as e:
            return _failure(url, e)
        with self._host_slot(host):
            deadline = self._watch.current = _Deadline()
            self._watchdog.watch(deadline, self.policy.timeout)
            try:
                outcome = self._fetch_values(url, now, etag, last_modified, known_hash)
            finally:
                deadline.finish()
                self._watch.current = None
            if deadline.expired and isinstance(outcome, FeedFailure):
                return self._timeout(url)
            return outcome

    def _fetch_values(
        self,
        url: str,
        now: datetime,
        etag: str | None,
        last_modified: str | None,
        known_hash: str | None,
    ) -> FetchOutcome:
        deadline = time.monotonic() + self.policy.timeout
        try:
            return self._fetch(url, now, deadline, etag, last_modified, known_hash)
        except (httpcore.TimeoutException, httpx.TimeoutException):
            return self._timeout(url)
        except (FeedError, httpcore.ConnectError, httpx.DecodingError) as e:
            return _failure(url, e)
        except (
            httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol,
            httpx.HTTPError, httpx.InvalidURL,
        ) as e:  # fmt: skip
            return FeedFailure(url, "http_error", f"{type(e).__name__}: {e}")

    def _timeout(self, url: str) -> FeedFailure:
        message = f"no complete answer within {self.policy.timeout:g}s"
        return FeedFailure(url, "timeout", message)

    def _fetch(
        self,
        url: str,
        now: datetime,
        deadline: float,
        etag: str | None,
        last_modified: str | None,
        known_hash: str | None,
    ) -> FetchOutcome:
        conditional = []
        if etag:
            conditional.append((b"If-None-Match", _header_bytes(etag)))
        if last_modified:
            conditional.append((b"If-Modified-Since", _header_bytes(last_modified)))
        current, permanent = url, True
        for _ in range(MAX_REDIRECTS + 1):
            target = _target(current)
            headers = [*target.headers, *self._headers, *conditional]
            request = httpcore.Request(
                b"GET", target.url, headers=headers, extensions=self._extensions
            )
            answer = _Answer(self._send(request))
            try:
                location = answer.location() if answer.status in REDIRECTS else None
                if location is not None:
                    _drain(answer.response)
                    current = _redirect_target(current, location)
                    permanent = permanent and answer.status in PERMANENT_REDIRECTS
                    continue
                moved_to = current if current != url and permanent else None
                outcome = self._outcome(url, current, answer, now, deadline, known_hash)
                if moved_to and isinstance(outcome, Fetched | NotModified):
                    outcome = replace(outcome, moved_to=moved_to)
                return outcome
            finally:
                answer.response.close()
        raise FeedError("too_many_redirects", f"more than {MAX_REDIRECTS} redirects")

    def _send(self, request: httpcore.Request) -> httpcore.Response:
        try:
            return self._pool.handle_request(request)
        except (httpcore.RemoteProtocolError, httpcore.ReadError, httpcore.WriteError):
            # A kept-alive connection the server closed just as this request
            # went out (its idle timeout ran out first): a GET is safe to
            # send again, once, on a new connection.
            return self._pool.handle_request(request)

    def _outcome(
        self,
        url: str,
        final_url: str,
        answer: _Answer,
        now: datetime,
        deadline: float,
        known_hash: str | None,
    ) -> FetchOutcome:
        max_age = cache_max_age(answer.header(b"cache-control") or "")
        if answer.status == 304:
            _drain(answer.response)
            return NotModified(url, "http_304", max_age)
        if answer.status != 200:
            retry = retry_after(answer.header(b"retry-after"), now)
            message = f"HTTP {answer.status} {answer.reason}".strip()
            return FeedFailure(url, f"http_{answer.status}", message, retry)
        body = self._read_body(answer.response, deadline)
        body_hash = hashlib.sha256(body).hexdigest()
        if known_hash == body_hash:
            return NotModified(url, "same_body", max_age)
        return Fetched(
            url=url,
            final_url=final_url,
            body=body,
            content_type=answer.header(b"content-type") or "",
            etag=answer.header(b"etag"),
            last_modified=answer.header(b"last-modified"),
            body_hash=body_hash,
            max_age=max_age,
        )

    def _read_body(self, response: httpcore.Response, deadline: float) -> bytes:
        decoded = httpx.Response(response.status, headers=response.headers, stream=_Body(response))
        chunks: list[bytes] = []
        size = 0
        for chunk in decoded.iter_bytes():  # decompressed, so a gzip bomb counts in full
            size += len(chunk)
            if size > self.policy.max_bytes:
                limit = self.policy.max_bytes
                raise FeedError("too_large", f"body larger than {limit} bytes")
            if time.monotonic() > deadline:
                raise FeedError("timeout", f"body not complete within {self.policy.timeout:g}s")
            chunks.append(chunk)
        return b"".join(chunks)


# The redirects followed (with a Location): 301, 302, 303, 307 and 308.
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _failure(
    url: str, error: FeedError | httpcore.ConnectError | httpx.DecodingError | httpx.InvalidURL
) -> FeedFailure:
    if isinstance(error, FeedError):
        return FeedFailure(url, error.reason, error.message)
    if isinstance(error, httpcore.ConnectError):
        return FeedFailure(url, "connect_error", f"cannot connect: {error}")
    if isinstance(error, httpx.DecodingError):
        message = f"the body does not decode as its Content-Encoding says: {error}"
        return FeedFailure(url, "bad_encoding", message)
    return FeedFailure(url, "http_error", f"{type(error).__name__}: {error}")


def _header_bytes(value: str) -> bytes:
    """A validator as the server sent it (read as latin-1, see _Answer);
    one stored by an older version as UTF-8 text, as UTF-8."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


# A 304's or a redirect's body (none, or a short page) is read past, so that
# its connection can serve the next request; a longer one closes it instead.
DRAIN_BYTES = 64 * 1024


def _drain(response: httpcore.Response) -> None:
    size = 0
    for chunk in cast(Iterable[bytes], response.stream):
        size += len(chunk)
        if size > DRAIN_BYTES:
            return


def _redirect_target(current: str, location: str) -> str:
    target = urljoin(current, location)
    if urlsplit(current).scheme == "https" and urlsplit(target).scheme == "http":
        raise FeedError("insecure_redirect", f"refused redirect from https to {target}")
    return target


def guard_url(url: str) -> None:
    """Only http and https URLs with a host are fetched; addresses are checked
    when connecting (``vetted_address``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FeedError("blocked_scheme", f"only http and https are fetched, not {parts.scheme!r}")
    if not parts.hostname:
        raise FeedError("bad_url", f"no host in {url!r}")


def vetted_address(host: str, port: int, allow_hosts: frozenset[str]) -> str:
    """The address to connect to for ``host``: refused when, unless allowed,
    any address it resolves to is loopback, private, link-local, reserved or
    otherwise not global (cloud metadata services included)."""
    host = host.lower().strip("[]")
    if host in allow_hosts or f"{host}:{port}" in allow_hosts:
        return host
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise FeedError("dns_error", f"cannot resolve {host}: {e.strerror}") from e
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    for ip in addresses:
        if not ip.is_global or ip.is_multicast:
            raise FeedError("blocked_address", f"{host} resolves to internal address {ip}")
    return str(addresses[0])


_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.I)


def cache_max_age(header: str) -> timedelta | None:
    found = _MAX_AGE.search(header)
    return timedelta(seconds=int(found.group(1))) if found else None


def retry_after(header: str | None, now: datetime) -> timedelta | None:
    """Retry-After as seconds or as an HTTP date; None when absent or unreadable."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return timedelta(seconds=int(header))
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(when - now, timedelta(0))
