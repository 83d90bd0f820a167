"""HTTP fetching on httpcore: conditional GET with limits, as values.

``Fetcher.fetch`` never raises for anything a server can do: every outcome
is a ``Fetched``, ``NotModified`` or ``FeedFailure`` value with a stable
reason code. Redirects are followed by hand (at most five, never from https
to http), every connection's address passes the guard against internal
targets (monitor.connect), each host gets a bounded number of requests at
once, the whole exchange has one deadline, and the body is measured after
decompression, layer by layer (monitor.decode). HTTP_PROXY, HTTPS_PROXY and
NO_PROXY are honoured; the proxy's own address passes the guard like any
other (a proxy on an internal address needs MONITOR_ALLOW_HOSTS).

httpcore rather than urllib3 or httpx's Client (``python -m
benchmarks.clients``): a 304 costs httpcore and urllib3 the same CPU, about
twice http.client's and half of httpx's Client, and httpcore's public
network backend takes the guard and the deadline in the fetching thread,
and it reads past interim (1xx) answers.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote, urljoin, urlsplit

import certifi
import httpcore

from monitor.connect import GuardedBackend, deadline, deadline_passed, vetted_through_proxy
from monitor.decode import BodyDecoder, DecodeError
from monitor.errors import FeedError
from monitor.proxies import Proxies
from monitor.types import FeedFailure, Fetched, FetchOutcome, NotModified

MAX_REDIRECTS = 5
# The redirects followed (with a Location): 301, 302, 303, 307 and 308.
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# A feed that answers with only these has moved (RFC 9110 15.4.2, 15.4.9).
PERMANENT_REDIRECTS = frozenset({301, 308})
# Connections are kept alive between the polls of a cycle (a feed host
# often serves many of a watchlist's feeds), but only briefly: servers such
# as Apache close idle ones after 5 s, and a request racing that close
# would fail.
KEEPALIVE_SECONDS = 4.0
# A body is decoded this much at a time, and the size cap checked as it grows.
BODY_STEP = 64 * 1024
# A 304's or a redirect's body (none, or a short page) is read past, so that
# its connection can serve the next request; a longer one closes it instead.
DRAIN_BYTES = 64 * 1024


@dataclass(frozen=True)
class FetchPolicy:
    timeout: float  # total deadline, seconds, headers and body together
    max_bytes: int  # after decompression
    user_agent: str
    allow_hosts: frozenset[str] = frozenset()  # host or host:port let through the guard
    per_host: int = 2  # requests at once to one host
    connections: int = 10  # kept open between requests: at least the threads fetching


@dataclass(frozen=True)
class Target:
    """A URL as a request needs it: scheme, host (IDNA-encoded), port, the
    request target (path and query, percent-encoded) and its own headers."""

    scheme: str
    host: str
    port: int
    target: str
    headers: tuple[tuple[bytes, bytes], ...]  # Host, and Authorization from the URL's userinfo

    def url(self) -> httpcore.URL:
        return httpcore.URL(
            scheme=self.scheme.encode(), host=self.host.encode(), port=self.port,
            target=self.target.encode(),
        )  # fmt: skip


class Fetcher:
    """One HTTP client shared by the polls of a cycle (thread-safe)."""

    def __init__(self, policy: FetchPolicy, environ: Mapping[str, str] | None = None) -> None:
        self.policy = policy
        self._backend = GuardedBackend(policy.allow_hosts)
        self._tls = tls_context(os.environ if environ is None else environ)
        self._proxies = Proxies.from_environ(os.environ if environ is None else environ)
        self._direct = httpcore.ConnectionPool(
            ssl_context=self._tls,
            max_connections=max(policy.connections, policy.per_host),
            max_keepalive_connections=policy.connections,
            keepalive_expiry=KEEPALIVE_SECONDS,
            network_backend=self._backend,
        )
        self._via: dict[str, httpcore.HTTPProxy] = {}
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
        self._lock = threading.Lock()
        self._timeouts = {
            "timeout": {"connect": min(policy.timeout, 10.0), "read": policy.timeout,
                        "write": policy.timeout, "pool": policy.timeout}
        }  # fmt: skip

    def close(self) -> None:
        self._direct.close()
        for pool in self._via.values():
            pool.close()

    def fetch(
        self,
        url: str,
        now: datetime,
        etag: str | None = None,
        last_modified: str | None = None,
        known_hash: str | None = None,
    ) -> FetchOutcome:
        """The feed at ``url``, conditionally on the validators given; an
        identical body (``known_hash``) is NotModified too."""
        try:
            host = parse_target(url).host
        except FeedError as e:
            return FeedFailure(url, e.reason, e.message)
        with self._host_slot(host), deadline(self.policy.timeout):
            try:
                return self._follow(url, now, _conditional(etag, last_modified), known_hash)
            except Exception as e:  # a value for anything a server can do; a bug is raised again
                return _failure(url, e, self.policy.timeout)

    def _host_slot(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            if host not in self._hosts:
                self._hosts[host] = threading.BoundedSemaphore(self.policy.per_host)
            return self._hosts[host]

    def _follow(
        self,
        url: str,
        now: datetime,
        conditional: list[tuple[bytes, bytes]],
        known_hash: str | None,
    ) -> FetchOutcome:
        current, permanent = url, True
        for _ in range(MAX_REDIRECTS + 1):
            target = parse_target(current)
            with self._request(target, [*target.headers, *self._headers, *conditional]) as answer:
                location = _location(answer) if answer.status in REDIRECTS else None
                if location is None:
                    outcome = self._outcome(url, current, answer, now, known_hash)
                    moved = current != url and permanent
                    if moved and isinstance(outcome, Fetched | NotModified):
                        outcome = replace(outcome, moved_to=current)
                    return outcome
                _drain(answer)
            current = redirect_target(current, location)
            permanent = permanent and answer.status in PERMANENT_REDIRECTS
        raise FeedError("too_many_redirects", f"more than {MAX_REDIRECTS} redirects")

    @contextmanager
    def _request(
        self, target: Target, headers: list[tuple[bytes, bytes]]
    ) -> Iterator[httpcore.Response]:
        pool = self._pool_for(target)
        with ExitStack() as stack:
            for attempt in (1, 2):
                try:
                    answer = stack.enter_context(
                        pool.stream("GET", target.url(), headers=headers, extensions=self._timeouts)
                    )
                    break
                except httpcore.RemoteProtocolError as e:
                    # A kept-alive connection the server closed just as this
                    # request went out (its idle timeout ran out first): a
                    # GET is safe to send again, once, on a new connection.
                    if attempt == 2 or "without sending a response" not in str(e):
                        raise
            yield answer

    def _pool_for(self, target: Target) -> httpcore.ConnectionPool | httpcore.HTTPProxy:
        proxy = self._proxies.for_target(target.scheme, target.host, target.port)
        if proxy is None:
            return self._direct
        # The proxy connects to the target: checked here, as far as this
        # machine can resolve it (a name only the proxy resolves is its to refuse).
        vetted_through_proxy(target.host, target.port, self.policy.allow_hosts)
        with self._lock:
            if proxy not in self._via:
                self._via[proxy] = httpcore.HTTPProxy(
                    proxy_url=proxy,
                    ssl_context=self._tls,
                    max_connections=max(self.policy.connections, self.policy.per_host),
                    keepalive_expiry=KEEPALIVE_SECONDS,
                    network_backend=self._backend,
                )
            return self._via[proxy]

    def _outcome(
        self,
        url: str,
        final_url: str,
        answer: httpcore.Response,
        now: datetime,
        known_hash: str | None,
    ) -> FetchOutcome:
        max_age = cache_max_age(_header(answer, b"cache-control") or "")
        if answer.status == 304:
            _drain(answer)
            return NotModified(url, "http_304", max_age)
        if answer.status != 200:
            _drain(answer)
            retry = retry_after(_header(answer, b"retry-after"), now)
            reason = answer.extensions.get("reason_phrase", b"").decode("latin-1")
            message = f"HTTP {answer.status} {reason}".strip()
            return FeedFailure(url, f"http_{answer.status}", message, retry)
        body = self._read_body(answer)
        body_hash = hashlib.sha256(body).hexdigest()
        if known_hash == body_hash:
            return NotModified(url, "same_body", max_age)
        return Fetched(
            url=url,
            final_url=final_url,
            body=body,
            content_type=_header(answer, b"content-type") or "",
            etag=_header(answer, b"etag"),
            last_modified=_header(answer, b"last-modified"),
            body_hash=body_hash,
            max_age=max_age,
        )

    def _read_body(self, answer: httpcore.Response) -> bytes:
        try:
            decoder = BodyDecoder(_header(answer, b"content-encoding"))
        except DecodeError as e:
            raise FeedError("bad_encoding", str(e)) from e
        chunks: list[bytes] = []
        size, limit = 0, self.policy.max_bytes
        for raw in answer.iter_stream():
            for piece in decoder.decode(raw, BODY_STEP):
                size += len(piece)
                if size > limit:
                    raise FeedError("too_large", f"body larger than {limit} bytes")
                chunks.append(piece)
        return b"".join(chunks)


def tls_context(environ: Mapping[str, str]) -> ssl.SSLContext:
    """Verified TLS: the CA bundle in SSL_CERT_FILE or SSL_CERT_DIR when set
    (as OpenSSL reads them), else certifi's."""
    if environ.get("SSL_CERT_FILE") or environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(
            cafile=environ.get("SSL_CERT_FILE"), capath=environ.get("SSL_CERT_DIR")
        )
    return ssl.create_default_context(cafile=certifi.where())


# Feed URLs come back every cycle: each is parsed once (LRU).
TARGET_CACHE = 8192
# What may stand unencoded in a path or query (RFC 3986 pchar and "/?"),
# "%" included so that an escape already there stays as it is.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"


@functools.lru_cache(maxsize=TARGET_CACHE)
def parse_target(url: str) -> Target:
    """``url`` as a request needs it; FeedError (bad_url, blocked_scheme) when
    it cannot be fetched."""
    guard_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError) as e:  # an unclosed [, a bad port, a host IDNA refuses
        raise FeedError("bad_url", f"not a URL that can be fetched: {e}") from e
    scheme = parts.scheme
    default = 443 if scheme == "https" else 80
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != default:
        netloc += f":{port}"
    target = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_QUERY_SAFE)
    headers = [(b"Host", netloc.encode("ascii"))]
    if parts.username or parts.password:
        # Basic credentials from the URL (``https://user:secret@host/feed``),
        # sent to that URL only: a redirect elsewhere has no userinfo of its own.
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode()
        headers.append((b"Authorization", b"Basic " + base64.b64encode(pair)))
    return Target(scheme, host, port or default, target, tuple(headers))


def host_of(url: str) -> str:
    """The host whose limit a feed's requests count against; "" for a URL
    that would not be fetched."""
    try:
        return parse_target(url).host
    except FeedError:
        return ""


def guard_url(url: str) -> None:
    """Only http and https URLs with a host are fetched; addresses are checked
    when connecting (monitor.connect)."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError as e:
        raise FeedError("bad_url", f"not a URL that can be fetched: {e}") from e
    if parts.scheme not in ("http", "https"):
        raise FeedError("blocked_scheme", f"only http and https are fetched, not {parts.scheme!r}")
    if not hostname:
        raise FeedError("bad_url", f"no host in {url!r}")


def redirect_target(current: str, location: str) -> str:
    target = urljoin(current, location)
    if urlsplit(current).scheme == "https" and urlsplit(target).scheme == "http":
        raise FeedError("insecure_redirect", f"refused redirect from https to {target}")
    return target


def _conditional(etag: str | None, last_modified: str | None) -> list[tuple[bytes, bytes]]:
    headers = []
    if etag:
        headers.append((b"If-None-Match", _header_bytes(etag)))
    if last_modified:
        headers.append((b"If-Modified-Since", _header_bytes(last_modified)))
    return headers


def _header_bytes(value: str) -> bytes:
    """A validator as the server sent it (read as latin-1, see _header);
    one stored by an older version as UTF-8 text, as UTF-8."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _header(answer: httpcore.Response, name: bytes) -> str | None:
    """A response header as latin-1 text, which gives back the exact bytes
    when a validator is sent again."""
    for key, value in answer.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _location(answer: httpcore.Response) -> str | None:
    """The Location header; UTF-8 when it decodes as such (as browsers read it)."""
    value = _header(answer, b"location")
    if value is None:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _drain(answer: httpcore.Response) -> None:
    """Read past a short body, so that the connection can serve the next
    request; a longer one is left, and the connection closed with it."""
    size = 0
    for chunk in answer.iter_stream():
        size += len(chunk)
        if size > DRAIN_BYTES:
            break


_FAILURES: tuple[tuple[type[Exception], str, str], ...] = (
    (httpcore.TimeoutException, "timeout", ""),
    (httpcore.ConnectError, "connect_error", "cannot connect: "),
    (httpcore.ProxyError, "proxy_error", "the proxy refused: "),
    (DecodeError, "bad_encoding", "the body does not decode as its Content-Encoding says: "),
    # A broken answer (a bad status line, a short chunk, a body shorter than
    # its Content-Length), a reset, or a header value h11 refuses to send.
    (httpcore.ProtocolError, "http_error", ""),
    (httpcore.NetworkError, "http_error", ""),
    (httpcore.UnsupportedProtocol, "bad_url", ""),
)


def _failure(url: str, error: Exception, timeout: float) -> FeedFailure:
    """A failure as a value; a bug (anything else) is raised again."""
    if deadline_passed() or isinstance(error, TimeoutError):
        return FeedFailure(url, "timeout", f"no complete answer within {timeout:g}s")
    if isinstance(error, FeedError):
        return FeedFailure(url, error.reason, error.message)
    for kind, reason, prefix in _FAILURES:
        if isinstance(error, kind):
            return FeedFailure(url, reason, f"{prefix}{_described(error)}"[:500])
    raise error


def _described(error: Exception) -> str:
    text = str(error) or type(error).__name__
    if "peer closed connection without sending complete message body" in text:
        return f"the body ended before its Content-Length ({text})"
    return text


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
