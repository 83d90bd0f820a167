"""The HTTP layer on the wire, against a real local server."""

from __future__ import annotations

import gzip
import ssl
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import ClassVar

import pytest
import trustme

from monitor.connect import vetted_address
from monitor.decode import BodyDecoder
from monitor.errors import FeedError
from monitor.fetch import (
    LONGEST_WAIT,
    Fetcher,
    FetchPolicy,
    cache_max_age,
    guard_url,
    redirect_target,
    retry_after,
)
from monitor.types import FeedFailure, Fetched, NotModified
from tests.conftest import FeedServer, Route, rss

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture
def fetcher(feed_server: FeedServer) -> Iterator[Fetcher]:
    policy = FetchPolicy(5.0, 1024 * 1024, "monitor-test/1", frozenset({"127.0.0.1"}))
    fetcher = Fetcher(policy)
    yield fetcher
    fetcher.close()


def test_conditional_get_turns_304_into_not_modified(
    feed_server: FeedServer, fetcher: Fetcher
) -> None:
    feed_server.routes["/feed"] = Route(
        rss(("1", "t", "d")),
        etag='"v1"',
        headers={"Last-Modified": "Tue, 24 Nov 2026 08:00:00 GMT"},
    )
    first = fetcher.fetch(feed_server.url("/feed"), NOW)
    assert isinstance(first, Fetched) and first.etag == '"v1"'
    second = fetcher.fetch(feed_server.url("/feed"), NOW, first.etag, first.last_modified)
    assert second == NotModified(feed_server.url("/feed"), "http_304")
    _, headers = feed_server.requests[-1]
    assert headers["If-None-Match"] == '"v1"'
    assert headers["If-Modified-Since"] == "Tue, 24 Nov 2026 08:00:00 GMT"
    assert headers["User-Agent"] == "monitor-test/1"


def test_an_identical_body_is_not_modified(feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.routes["/feed"] = Route(rss(("1", "t", "d")))
    first = fetcher.fetch(feed_server.url("/feed"), NOW)
    assert isinstance(first, Fetched)
    again = fetcher.fetch(feed_server.url("/feed"), NOW, known_hash=first.body_hash)
    assert isinstance(again, NotModified) and again.reason == "same_body"


def test_http_errors_are_values_with_retry_after(feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.routes["/busy"] = Route(b"slow down", 429, {"Retry-After": "120"})
    outcome = fetcher.fetch(feed_server.url("/busy"), NOW)
    assert isinstance(outcome, FeedFailure)
    assert (outcome.reason, outcome.retry_after) == ("http_429", timedelta(seconds=120))
    assert fetcher.fetch(feed_server.url("/missing"), NOW).reason == "http_404"  # type: ignore[union-attr]


def test_gzip_is_decompressed_and_measured_after(feed_server: FeedServer) -> None:
    body = b"<rss>" + b" " * 200_000 + b"</rss>"
    feed_server.routes["/gz"] = Route(gzip.compress(body), headers={"Content-Encoding": "gzip"})
    small = Fetcher(FetchPolicy(5.0, 100_000, "t", frozenset({"127.0.0.1"})))
    outcome = small.fetch(feed_server.url("/gz"), NOW)
    small.close()
    assert isinstance(outcome, FeedFailure) and outcome.reason == "too_large"


def test_redirects_are_followed_and_loops_cut(feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.routes["/old"] = Route(b"", 301, {"Location": "/new"})
    feed_server.routes["/new"] = Route(rss(("1", "t", "d")))
    outcome = fetcher.fetch(feed_server.url("/old"), NOW)
    assert isinstance(outcome, Fetched) and outcome.final_url == feed_server.url("/new")
    feed_server.routes["/loop"] = Route(b"", 302, {"Location": "/loop"})
    loop = fetcher.fetch(feed_server.url("/loop"), NOW)
    assert isinstance(loop, FeedFailure) and loop.reason == "too_many_redirects"
    assert feed_server.count("/loop") == 6


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "blocked_scheme"),
        ("http://127.0.0.1:9/feed", "blocked_address"),
        ("http://localhost:9/feed", "blocked_address"),
        ("http://169.254.169.254/latest/meta-data", "blocked_address"),
        ("http://10.1.2.3/feed", "blocked_address"),
        ("http://[::1]:9/feed", "blocked_address"),
        ("http://0.0.0.0:9/feed", "blocked_address"),
        ("http://[2002:7f00:1::]:9/feed", "blocked_address"),  # 6to4 of 127.0.0.1
        ("http://[2002:a9fe:a9fe::]/latest", "blocked_address"),  # 6to4 of 169.254.169.254
        ("http://[64:ff9b::7f00:1]:9/feed", "blocked_address"),  # NAT64 of 127.0.0.1
        ("http://[64:ff9b::a01:203]/feed", "blocked_address"),  # NAT64 of 10.1.2.3
        ("http://[::ffff:127.0.0.1]:9/feed", "blocked_address"),  # IPv4-mapped
        ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/feed", "blocked_address"),  # Teredo
        ("http://[::1/feed", "bad_url"),
    ],
)
def test_the_guard_refuses_internal_targets_before_connecting(url: str, reason: str) -> None:
    # Checked before any packet leaves: no traffic reaches these addresses.
    guarded = Fetcher(FetchPolicy(5.0, 1024, "t"))
    outcome = guarded.fetch(url, NOW)
    guarded.close()
    assert isinstance(outcome, FeedFailure) and outcome.reason == reason
    if reason == "blocked_address":  # the way out, for a feed that is meant to be local
        assert "MONITOR_ALLOW_HOSTS" in outcome.message, outcome.message


def test_a_redirect_to_an_internal_address_is_refused(feed_server: FeedServer) -> None:
    feed_server.routes["/jump"] = Route(b"", 302, {"Location": "http://169.254.169.254/meta"})
    allowed_port_only = Fetcher(FetchPolicy(5.0, 1024, "t", frozenset({feed_server.host})))
    outcome = allowed_port_only.fetch(feed_server.url("/jump"), NOW)
    allowed_port_only.close()
    assert isinstance(outcome, FeedFailure) and outcome.reason == "blocked_address"


def test_the_allowlist_is_exact_about_ports(feed_server: FeedServer) -> None:
    feed_server.routes["/f"] = Route(rss(("1", "t", "d")))
    other_port = Fetcher(FetchPolicy(5.0, 1024, "t", frozenset({"127.0.0.1:1"})))
    outcome = other_port.fetch(feed_server.url("/f"), NOW)
    other_port.close()
    assert isinstance(outcome, FeedFailure) and outcome.reason == "blocked_address"
    assert feed_server.count("/f") == 0


def test_guard_url_schemes() -> None:
    with pytest.raises(FeedError):
        guard_url("ftp://example.org/feed")
    guard_url("https://example.org/feed")


def test_retry_after_as_an_http_date() -> None:
    assert retry_after("Wed, 25 Nov 2026 08:05:00 GMT", NOW) == timedelta(minutes=5)
    assert retry_after("soon", NOW) is None


def test_waits_a_server_asks_for_are_bounded() -> None:
    """More seconds than a timedelta holds, or digits than int() reads, are a year."""
    assert retry_after("9" * 30, NOW) == LONGEST_WAIT
    assert retry_after("Fri, 31 Dec 9999 23:59:59 GMT", NOW) == LONGEST_WAIT
    assert cache_max_age("public, max-age=" + "9" * 5000) == LONGEST_WAIT
    assert cache_max_age("max-age=600") == timedelta(minutes=10)


def _hang(request: BaseHTTPRequestHandler) -> None:
    time.sleep(3)


def _drip(request: BaseHTTPRequestHandler) -> None:
    request.send_response(200)
    request.send_header("Content-Type", "application/rss+xml")
    request.end_headers()
    for _ in range(40):
        request.wfile.write(b" ")
        request.wfile.flush()
        time.sleep(0.1)


def _drip_headers(request: BaseHTTPRequestHandler) -> None:
    request.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for _ in range(40):
        request.wfile.write(b"X-Slow: 1\r\n")
        request.wfile.flush()
        time.sleep(0.1)


def _endless(request: BaseHTTPRequestHandler) -> None:
    request.send_response(200)
    request.send_header("Content-Type", "application/rss+xml")
    request.send_header("Content-Length", str(200 * 1024 * 1024))
    request.end_headers()
    chunk = b"<rss>" + b"x" * 65536
    for _ in range(200 * 16):
        request.wfile.write(chunk)


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [(_hang, "timeout"), (_drip, "timeout"), (_drip_headers, "timeout"), (_endless, "too_large")],
)
def test_misbehaving_servers_are_cut_off(
    feed_server: FeedServer, behaviour: Callable[[BaseHTTPRequestHandler], None], reason: str
) -> None:
    feed_server.routes["/bad"] = Route(custom=behaviour)
    impatient = Fetcher(FetchPolicy(1.0, 1024 * 1024, "t", frozenset({"127.0.0.1"})))
    started = time.monotonic()
    outcome = impatient.fetch(feed_server.url("/bad"), NOW)
    impatient.close()
    assert isinstance(outcome, FeedFailure) and outcome.reason == reason, outcome
    assert time.monotonic() - started < 3.0


def _cut_short(request: BaseHTTPRequestHandler) -> None:
    request.send_response(200)
    request.send_header("Content-Length", "1000")
    request.end_headers()
    request.wfile.write(b"<rss><channel><title>a part")
    request.close_connection = True


def test_a_body_cut_short_of_its_content_length_is_not_a_feed(
    feed_server: FeedServer, fetcher: Fetcher
) -> None:
    feed_server.routes["/short"] = Route(custom=_cut_short)
    outcome = fetcher.fetch(feed_server.url("/short"), NOW)
    assert isinstance(outcome, FeedFailure) and outcome.reason == "http_error", outcome
    assert "Content-Length" in outcome.message


def _latin1_headers(request: BaseHTTPRequestHandler) -> None:
    body = rss(("1", "t", "d"))
    request.wfile.write(
        b'HTTP/1.1 200 OK\r\nETag: "caf\xe9"\r\nX-Served-By: M\xfcnchen\r\n'
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def test_header_bytes_beyond_ascii_are_kept_as_sent(
    feed_server: FeedServer, fetcher: Fetcher
) -> None:
    """Servers send latin-1 (or UTF-8) bytes in headers: the feed is read,
    and its validator goes back byte for byte."""
    feed_server.routes["/latin"] = Route(custom=_latin1_headers)
    outcome = fetcher.fetch(feed_server.url("/latin"), NOW)
    assert isinstance(outcome, Fetched) and outcome.etag == '"caf\xe9"', outcome
    fetcher.fetch(feed_server.url("/latin"), NOW, etag=outcome.etag)
    # http.server reads header bytes as latin-1 too: one byte E9, not UTF-8's C3 A9
    assert feed_server.requests[-1][1]["If-None-Match"] == '"caf\xe9"'


def _early_hints(request: BaseHTTPRequestHandler) -> None:
    body = rss(("1", "t", "d"))
    request.wfile.write(
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        b'HTTP/1.1 200 OK\r\nETag: "e1"\r\nContent-Length: '
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def test_interim_responses_are_read_past(feed_server: FeedServer, fetcher: Fetcher) -> None:
    feed_server.routes["/hints"] = Route(custom=_early_hints)
    outcome = fetcher.fetch(feed_server.url("/hints"), NOW)
    assert isinstance(outcome, Fetched) and outcome.etag == '"e1"', outcome


def test_a_gzip_bomb_is_refused(feed_server: FeedServer, fetcher: Fetcher) -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))  # 64 KiB on the wire
    feed_server.routes["/bomb"] = Route(bomb, headers={"Content-Encoding": "gzip"})
    outcome = fetcher.fetch(feed_server.url("/bomb"), NOW)
    assert isinstance(outcome, FeedFailure) and outcome.reason == "too_large"


def test_an_https_to_http_redirect_is_refused() -> None:
    with pytest.raises(FeedError) as caught:
        redirect_target("https://a.example/feed", "http://a.example/feed")
    assert caught.value.reason == "insecure_redirect"


def test_credentials_stay_with_their_origin(feed_server: FeedServer, fetcher: Fetcher) -> None:
    other = f"http://localhost:{feed_server.host.split(':')[1]}/landing"
    feed_server.routes["/private"] = Route(b"", 302, {"Location": other})
    feed_server.routes["/landing"] = Route(rss(("1", "t", "d")))
    both = Fetcher(FetchPolicy(5.0, 1024 * 1024, "t", frozenset({"127.0.0.1", "localhost"})))
    outcome = both.fetch(f"http://user:secret@{feed_server.host}/private", NOW)
    both.close()
    assert isinstance(outcome, Fetched)
    first, second = feed_server.requests[-2][1], feed_server.requests[-1][1]
    assert first["Authorization"].startswith("Basic ")
    assert "Authorization" not in second


def test_only_a_chain_of_permanent_redirects_is_a_move(
    feed_server: FeedServer, fetcher: Fetcher
) -> None:
    feed_server.routes["/a"] = Route(b"", 301, {"Location": "/b"})
    feed_server.routes["/b"] = Route(b"", 308, {"Location": "/c"})
    feed_server.routes["/c"] = Route(rss(("1", "t", "d")))
    feed_server.routes["/x"] = Route(b"", 301, {"Location": "/y"})
    feed_server.routes["/y"] = Route(b"", 302, {"Location": "/c"})
    moved = fetcher.fetch(feed_server.url("/a"), NOW)
    assert isinstance(moved, Fetched) and moved.moved_to == feed_server.url("/c")
    temporary = fetcher.fetch(feed_server.url("/x"), NOW)
    assert isinstance(temporary, Fetched) and temporary.moved_to is None
    direct = fetcher.fetch(feed_server.url("/c"), NOW)
    assert isinstance(direct, Fetched) and direct.moved_to is None


def test_a_body_that_does_not_decode_is_bad_encoding(
    feed_server: FeedServer, fetcher: Fetcher
) -> None:
    feed_server.routes["/bad-gzip"] = Route(
        b"not gzip at all", headers={"Content-Encoding": "gzip"}
    )
    outcome = fetcher.fetch(feed_server.url("/bad-gzip"), NOW)
    assert isinstance(outcome, FeedFailure) and outcome.reason == "bad_encoding"


class _KeepAliveHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with persistent connections; records each request's client port."""

    protocol_version = "HTTP/1.1"
    ports: ClassVar[list[tuple[str, int]]] = []

    def do_GET(self) -> None:
        self.ports.append((self.path, self.client_address[1]))
        if self.path == "/drip-headers":
            _drip_headers(self)
            self.close_connection = True
            return
        if self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/feed")
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"moved on\n")
            return
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.end_headers()
            return
        _send_feed(self, etag='"v1"')

    def log_message(self, format: str, *args: object) -> None:
        pass


def _send_feed(handler: BaseHTTPRequestHandler, etag: str | None = None) -> None:
    body = rss(("1", "t", "d"))
    handler.send_response(200)
    if etag:
        handler.send_header("ETag", etag)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _serve(
    handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None
) -> ThreadingHTTPServer:
    """A threaded HTTP/1.1 server on a free port of 127.0.0.1, already serving."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_polls_share_a_connection_and_each_keeps_its_deadline() -> None:
    """A kept-alive connection serves 200, 304 and redirect in turn; when it
    then starts dripping, the fetch using it is cut off at its own deadline
    (the connection was opened under an earlier fetch's)."""
    _KeepAliveHandler.ports = []
    server = _serve(_KeepAliveHandler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    fetcher = Fetcher(FetchPolicy(1.0, 1024 * 1024, "t", frozenset({"127.0.0.1"})))
    try:
        assert isinstance(fetcher.fetch(f"{base}/feed", NOW), Fetched)
        assert isinstance(fetcher.fetch(f"{base}/feed", NOW, etag='"v1"'), NotModified)
        assert isinstance(fetcher.fetch(f"{base}/moved", NOW), Fetched)
        started = time.monotonic()
        cut = fetcher.fetch(f"{base}/drip-headers", NOW)
        elapsed = time.monotonic() - started
    finally:
        fetcher.close()
        server.shutdown()
    paths = [path for path, _ in _KeepAliveHandler.ports]
    assert paths == ["/feed", "/feed", "/moved", "/feed", "/drip-headers"]
    assert len({port for _, port in _KeepAliveHandler.ports}) == 1  # one connection for all
    assert isinstance(cut, FeedFailure) and cut.reason == "timeout", cut
    assert elapsed < 3.0


def test_https_feeds_share_a_verified_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLS through the guarded, watched connections: the certificate is
    verified (a throwaway CA, trusted through SSL_CERT_FILE as OpenSSL reads
    it), and two fetches share one connection."""
    authority = trustme.CA()
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    _KeepAliveHandler.ports = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(context)
    server = _serve(_KeepAliveHandler, tls=context)
    url = f"https://localhost:{server.server_address[1]}/feed"
    untrusting = Fetcher(FetchPolicy(5.0, 1024 * 1024, "t", frozenset({"localhost"})))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    fetcher = Fetcher(FetchPolicy(5.0, 1024 * 1024, "t", frozenset({"localhost"})))
    try:
        refused = untrusting.fetch(url, NOW)
        first = fetcher.fetch(url, NOW)
        second = fetcher.fetch(url, NOW, etag='"v1"')
    finally:
        untrusting.close()
        fetcher.close()
        server.shutdown()
    assert isinstance(refused, FeedFailure) and "CERTIFICATE_VERIFY_FAILED" in refused.message
    assert isinstance(first, Fetched) and first.etag == '"v1"'
    assert isinstance(second, NotModified)
    assert len({port for path, port in _KeepAliveHandler.ports if path == "/feed"}) == 1


class _BadChunksHandler(BaseHTTPRequestHandler):
    """Says its body is chunked, sends it plain, and keeps the connection."""

    protocol_version = "HTTP/1.1"
    ports: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        self.ports.append(self.client_address[1])
        if self.path == "/feed":
            _send_feed(self)
            return
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"<rss>\r\n" + b"x" * 20000 + b"</rss>\r\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_connection_left_mid_response_is_not_used_again() -> None:
    """The broken answer fails its own feed only: the next feed of the host
    gets a new connection, not the rest of that body as its status line."""
    _BadChunksHandler.ports = []
    server = _serve(_BadChunksHandler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    fetcher = Fetcher(FetchPolicy(5.0, 1024 * 1024, "t", frozenset({"127.0.0.1"})))
    try:
        broken = fetcher.fetch(f"{base}/bad-chunks", NOW)
        fine = fetcher.fetch(f"{base}/feed", NOW)
    finally:
        fetcher.close()
        server.shutdown()
    assert isinstance(broken, FeedFailure) and broken.reason == "http_error", broken
    assert isinstance(fine, Fetched), fine
    assert len(set(_BadChunksHandler.ports)) == 2


class _ForgetfulHandler(BaseHTTPRequestHandler):
    """Keeps connections alive, then hangs up on the second request of a
    connection without answering: a server whose idle timeout ran out just
    as the client reused the connection."""

    protocol_version = "HTTP/1.1"
    ports: ClassVar[list[int]] = []

    def handle(self) -> None:
        self.served = 0
        super().handle()

    def do_GET(self) -> None:
        self.ports.append(self.client_address[1])
        self.served += 1
        if self.served > 1:
            self.close_connection = True
            return
        _send_feed(self)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_kept_alive_connection_closed_under_a_request_is_not_a_failure() -> None:
    _ForgetfulHandler.ports = []
    server = _serve(_ForgetfulHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}/feed"
    fetcher = Fetcher(FetchPolicy(5.0, 1024 * 1024, "t", frozenset({"127.0.0.1"})))
    try:
        first = fetcher.fetch(url, NOW)
        second = fetcher.fetch(url, NOW)
    finally:
        fetcher.close()
        server.shutdown()
    assert isinstance(first, Fetched) and isinstance(second, Fetched), second
    ports = _ForgetfulHandler.ports
    assert len(ports) == 3 and ports[0] == ports[1] != ports[2]  # sent again, on a new one


def test_stacked_encodings_are_bounded_layer_by_layer(feed_server: FeedServer) -> None:
    """``gzip, gzip``: a body of a few hundred bytes that inflates to 64 MB in
    its inner layer is cut off at the limit, with no layer's output held
    whole (tracemalloc sees the fetch's own allocations)."""
    inner = gzip.compress(b"\0" * (64 * 1024 * 1024))
    bomb = gzip.compress(inner)
    assert len(bomb) < 1024
    feed_server.routes["/stacked"] = Route(bomb, headers={"Content-Encoding": "gzip, gzip"})
    fetcher = Fetcher(FetchPolicy(5.0, 1024 * 1024, "t", frozenset({"127.0.0.1"})))
    tracemalloc.start()
    try:
        outcome = fetcher.fetch(feed_server.url("/stacked"), NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        fetcher.close()
    assert isinstance(outcome, FeedFailure) and outcome.reason == "too_large", outcome
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


@pytest.mark.parametrize(
    ("encoding", "reason"),
    [("gzip, gzip, gzip, gzip, gzip, gzip", "bad_encoding"), ("br", "bad_encoding")],
)
def test_encodings_that_cannot_be_undone_are_bad_encoding(
    feed_server: FeedServer, fetcher: Fetcher, encoding: str, reason: str
) -> None:
    feed_server.routes["/enc"] = Route(b"whatever", headers={"Content-Encoding": encoding})
    outcome = fetcher.fetch(feed_server.url("/enc"), NOW)
    assert isinstance(outcome, FeedFailure) and outcome.reason == reason, outcome


def test_a_decoder_never_gives_more_than_a_step_at_a_time() -> None:
    body = gzip.compress(gzip.compress(b"x" * 10_000_000))
    decoder = BodyDecoder("gzip, gzip")
    pieces = [len(p) for p in decoder.decode(body, 65536)]
    assert sum(pieces) == 10_000_000 and max(pieces) <= 65536


def test_an_address_that_carries_a_public_ipv4_passes_the_guard() -> None:
    """NAT64 of 8.8.8.8 is how an IPv6-only network reaches it: not internal."""
    assert vetted_address("64:ff9b::808:808", 80, frozenset()) == "64:ff9b::808:808"
