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
import http.client
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpx

from monitor.connections import (
    ConnectFailed,
    Connection,
    ConnectionPool,
    Deadline,
    Limits,
    Origin,
    Watchdog,
)
from monitor.errors import FeedError
from monitor.types import FeedFailure, Fetched, FetchOutcome, NotModified

MAX_REDIRECTS = 5
# Connections are kept alive between the polls of a cycle (a feed host
# often serves many of a watchlist's feeds), but only briefly: servers such
# as Apache close idle ones after 5 s, and a request racing that close
# would fail.
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
    connections: int = 10  # kept open between requests: at least the threads fetching


@dataclass(frozen=True)
class _Target:
    """A URL as a request needs it: parsed, its host IDNA-encoded, its path
    percent-encoded, and its Host and Authorization headers."""

    origin: Origin
    path: str
    headers: tuple[tuple[bytes, bytes], ...]
    host: str  # for the per-host limit


# Feed URLs come back every cycle: each is parsed once (LRU).
TARGET_CACHE = 8192


@functools.lru_cache(maxsize=TARGET_CACHE)
def _target(url: str) -> _Target:
    try:
        guard_url(url)
        return _parsed_target(httpx.URL(url))  # percent-encodes the path, IDNA-encodes the host
    except (httpx.InvalidURL, ValueError) as e:  # an unclosed [, a host IDNA refuses
        raise FeedError("bad_url", f"not a URL that can be fetched: {e}") from e


def _parsed_target(parsed: httpx.URL) -> _Target:
    headers = [(b"Host", parsed.netloc)]  # IPv6 in brackets, no userinfo
    if parsed.username or parsed.password:
        # Basic credentials from the URL (``https://user:secret@host/feed``),
        # sent to that URL only: a redirect elsewhere has no userinfo of its own.
        pair = f"{parsed.username}:{parsed.password}".encode()
        headers.append((b"Authorization", b"Basic " + base64.b64encode(pair)))
    scheme = parsed.scheme
    port = parsed.port or (443 if scheme == "https" else 80)
    origin = Origin(scheme, parsed.raw_host.decode("ascii"), port)
    path = parsed.raw_path.decode("ascii")
    return _Target(origin, path, tuple(headers), parsed.host.lower())


def host_of(url: str) -> str:
    """The host whose limit a feed's requests count against (as the Fetcher
    reads the URL); "" for a URL it would not fetch."""
    try:
        return _target(url).host
    except FeedError:
        return ""


class _Answer:
    """A response and the connection it came on; its headers by lower-cased
    name, as latin-1 text (which gives back the exact bytes when a
    validator is sent again)."""

    def __init__(self, connection: Connection, response: http.client.HTTPResponse) -> None:
        self.connection = connection
        self.response = response
        self.status = response.status
        self.headers = {name.lower(): value for name, value in response.getheaders()}

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def reason(self) -> str:
        return self.response.reason or ""

    def location(self) -> str | None:
        """The Location header; UTF-8 when it decodes as such (as browsers read it)."""
        value = self.headers.get("location")
        if value is None:
            return None
        try:
            return value.encode("latin-1").decode("utf-8")
        except UnicodeError:
            return value

    @property
    def complete(self) -> bool:
        """Read to its end (not ended early by the server), on a connection
        the server keeps open."""
        response = self.response
        # http.client drops the connection's socket when the server said it
        # would close (HTTP/1.0, Connection: close, a body ending at EOF).
        return response.isclosed() and not response.length and self.connection.sock is not None

    def close(self) -> None:
        self.response.close()
        self.connection.close()


# A body is read this much at a time; each read is decompressed at once, so
# a gzip bomb is caught within about a thousand times this.
BODY_CHUNK = 64 * 1024


class _Body(httpx.SyncByteStream):
    """A 200's body as httpx reads it, so that its decoders undo the
    Content-Encoding (gzip, deflate)."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self._response.read(BODY_CHUNK):
            yield chunk
        if self._response.length:  # http.client lets a short body pass
            raise FeedError("http_error", "the body ended before its Content-Length")


class Fetcher:
    """One HTTP client shared by the polls of a cycle (thread-safe)."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self._watchdog = Watchdog()
        # No cookies, auth or proxies: redirects are followed by hand, and
        # credentials come from the feed's own URL only.
        self._pool = ConnectionPool(
            Limits(
                timeout=policy.timeout,
                connect_timeout=min(policy.timeout, 10.0),
                allow_hosts=policy.allow_hosts,
                tls=httpx.create_ssl_context(),  # certifi, or SSL_CERT_FILE
                idle=policy.connections,
                idle_seconds=KEEPALIVE_SECONDS,
            )
        )
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
        except FeedError as e:
            return _failure(url, e)
        with self._host_slot(host):
            deadline = Deadline()
            self._watchdog.watch(deadline, self.policy.timeout)
            try:
                outcome = self._fetch_values(url, now, deadline, etag, last_modified, known_hash)
            finally:
                deadline.finish()
            # Cut off, whatever came of it: what was read may be a part.
            if deadline.expired:
                return self._timeout(url)
            return outcome

    def _fetch_values(
        self,
        url: str,
        now: datetime,
        deadline: Deadline,
        etag: str | None,
        last_modified: str | None,
        known_hash: str | None,
    ) -> FetchOutcome:
        try:
            return self._fetch(url, now, deadline, etag, last_modified, known_hash)
        except TimeoutError:
            return self._timeout(url)
        except (FeedError, ConnectFailed, httpx.DecodingError) as e:
            return _failure(url, e)
        except (http.client.HTTPException, OSError, ValueError, UnicodeError) as e:
            # A broken response (bad status line, too many headers, a short
            # chunk), a connection reset, or a header value http.client
            # refuses to send.
            return FeedFailure(url, "http_error", f"{type(e).__name__}: {e}")

    def _timeout(self, url: str) -> FeedFailure:
        message = f"no complete answer within {self.policy.timeout:g}s"
        return FeedFailure(url, "timeout", message)

    def _fetch(
        self,
        url: str,
        now: datetime,
        deadline: Deadline,
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
            answer = self._send(target, [*target.headers, *self._headers, *conditional], deadline)
            try:
                location = answer.location() if answer.status in REDIRECTS else None
                if location is None:
                    outcome = self._outcome(url, current, answer, now, known_hash)
                else:
                    _drain(answer.response)
            except BaseException:  # the connection may be mid-response: not reused
                answer.close()
                raise
            self._done_with(answer, deadline)
            if location is None:
                if current != url and permanent and isinstance(outcome, Fetched | NotModified):
                    outcome = replace(outcome, moved_to=current)
                return outcome
            current = _redirect_target(current, location)
            permanent = permanent and answer.status in PERMANENT_REDIRECTS
        raise FeedError("too_many_redirects", f"more than {MAX_REDIRECTS} redirects")

    def _send(
        self, target: _Target, headers: list[tuple[bytes, bytes]], deadline: Deadline
    ) -> _Answer:
        connection, reused = self._pool.get(target.origin)
        try:
            return _exchange(connection, target.path, headers, deadline)
        except ConnectionError:
            if not reused or deadline.expired:
                raise
        # A kept-alive connection the server closed just as this request
        # went out (its idle timeout ran out first): a GET is safe to send
        # again, once, on a new connection.
        return _exchange(self._pool.new(target.origin), target.path, headers, deadline)

    def _done_with(self, answer: _Answer, deadline: Deadline) -> None:
        """The answer's connection kept for the next request when it is
        clean (read to its end, and out of the deadline's reach before the
        deadline passed), closed otherwise."""
        if answer.complete and deadline.release(answer.connection):
            self._pool.put(answer.connection)
        else:
            answer.close()

    def _outcome(
        self,
        url: str,
        final_url: str,
        answer: _Answer,
        now: datetime,
        known_hash: str | None,
    ) -> FetchOutcome:
        max_age = cache_max_age(answer.header("cache-control") or "")
        if answer.status == 304:
            _drain(answer.response)
            return NotModified(url, "http_304", max_age)
        if answer.status != 200:
            retry = retry_after(answer.header("retry-after"), now)
            message = f"HTTP {answer.status} {answer.reason}".strip()
            return FeedFailure(url, f"http_{answer.status}", message, retry)
        body = self._read_body(answer)
        body_hash = hashlib.sha256(body).hexdigest()
        if known_hash == body_hash:
            return NotModified(url, "same_body", max_age)
        return Fetched(
            url=url,
            final_url=final_url,
            body=body,
            content_type=answer.header("content-type") or "",
            etag=answer.header("etag"),
            last_modified=answer.header("last-modified"),
            body_hash=body_hash,
            max_age=max_age,
        )

    def _read_body(self, answer: _Answer) -> bytes:
        # httpx needs only the Content-Encoding (as bytes: other headers may
        # hold any latin-1 text, which it would refuse as str).
        encoding = answer.header("content-encoding")
        headers = [(b"Content-Encoding", encoding.encode("latin-1"))] if encoding else []
        decoded = httpx.Response(answer.status, headers=headers, stream=_Body(answer.response))
        chunks: list[bytes] = []
        size = 0
        for chunk in decoded.iter_bytes():  # decompressed, so a gzip bomb counts in full
            size += len(chunk)
            if size > self.policy.max_bytes:
                limit = self.policy.max_bytes
                raise FeedError("too_large", f"body larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def _exchange(
    connection: Connection, path: str, headers: list[tuple[bytes, bytes]], deadline: Deadline
) -> _Answer:
    """A GET on the connection (made first if new), under the fetch's
    deadline; the connection is closed if it fails."""
    deadline.add(connection)
    try:
        if connection.sock is None:
            connection.connect()
        connection.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        return _Answer(connection, connection.getresponse())
    except BaseException:
        connection.close()
        raise


# The redirects followed (with a Location): 301, 302, 303, 307 and 308.
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _failure(url: str, error: FeedError | ConnectFailed | httpx.DecodingError) -> FeedFailure:
    if isinstance(error, FeedError):
        return FeedFailure(url, error.reason, error.message)
    if isinstance(error, ConnectFailed):
        return FeedFailure(url, "connect_error", f"cannot connect: {error}")
    message = f"the body does not decode as its Content-Encoding says: {error}"
    return FeedFailure(url, "bad_encoding", message)


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


def _drain(response: http.client.HTTPResponse) -> None:
    size = 0
    while size <= DRAIN_BYTES and (chunk := response.read(DRAIN_BYTES + 1 - size)):
        size += len(chunk)


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


_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.I)


# Longer waits a server asks for (max-age, Retry-After) are taken as this.
LONGEST_WAIT = timedelta(days=365)


def _wait(digits: str) -> timedelta:
    """Seconds as a server wrote them, however many digits it sent."""
    return min(timedelta(seconds=int(digits)), LONGEST_WAIT) if len(digits) < 10 else LONGEST_WAIT


def cache_max_age(header: str) -> timedelta | None:
    found = _MAX_AGE.search(header)
    return _wait(found.group(1)) if found else None


def retry_after(header: str | None, now: datetime) -> timedelta | None:
    """Retry-After as seconds or as an HTTP date; None when absent or unreadable."""
    if not header:
        return None
    header = header.strip()
    if header.isdecimal():
        return _wait(header)
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(when - now, timedelta(0)), LONGEST_WAIT)
