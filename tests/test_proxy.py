"""HTTP_PROXY, HTTPS_PROXY and NO_PROXY, through a real forwarding proxy on
127.0.0.1 (plain requests in absolute form, https through CONNECT)."""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
import trustme

from monitor.fetch import Fetcher, FetchPolicy
from monitor.proxies import Proxies
from monitor.types import FeedFailure, Fetched, NotModified
from tests.conftest import FeedServer, Route, rss
from tests.test_fetch import _KeepAliveHandler, _serve

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


class Proxy:
    """A forwarding proxy: GET in absolute form is fetched and passed on,
    CONNECT opens a tunnel. Records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.asked.append(f"GET {self.path}")
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                request = Request(self.path, headers=headers)
                try:
                    with urlopen(request, timeout=5) as answer:
                        body, status, given = answer.read(), answer.status, answer.headers
                except HTTPError as e:
                    body, status, given = e.read(), e.code, e.headers
                self.send_response(status)
                for name, value in given.items():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_CONNECT(self) -> None:
                proxy.asked.append(f"CONNECT {self.path}")
                host, _, port = self.path.rpartition(":")
                upstream = socket.create_connection((host, int(port)), timeout=5)
                self.send_response(200, "Connection established")
                self.end_headers()
                _pipe(self.connection, upstream)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"


def _pipe(a: socket.socket, b: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while True:
            ready, _, _ = select.select([a, b], [], [], 5)
            if not ready:
                return
            for source in ready:
                data = source.recv(65536)
                if not data:
                    return
                (b if source is a else a).sendall(data)


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    proxy = Proxy()
    yield proxy
    proxy.httpd.shutdown()
    proxy.httpd.server_close()


def test_http_feeds_go_through_the_proxy_unless_no_proxy_says_otherwise(
    feed_server: FeedServer, proxy: Proxy
) -> None:
    feed_server.routes["/feed"] = Route(rss(("1", "Kursk", "x")), etag='"v1"')
    url = feed_server.url("/feed")
    allowed = frozenset({"127.0.0.1"})
    via = Fetcher(FetchPolicy(5.0, 1 << 20, "t", allowed), {"HTTP_PROXY": proxy.address})
    first = via.fetch(url, NOW)
    again = via.fetch(url, NOW, etag='"v1"')
    via.close()
    assert isinstance(first, Fetched) and isinstance(again, NotModified), (first, again)
    assert proxy.asked == [f"GET {url}"] * 2
    environ = {"http_proxy": f"http://{proxy.address}", "no_proxy": "127.0.0.1"}
    direct = Fetcher(FetchPolicy(5.0, 1 << 20, "t", allowed), environ)
    assert isinstance(direct.fetch(url, NOW), Fetched)
    direct.close()
    assert len(proxy.asked) == 2 and feed_server.count("/feed") == 3


def test_a_proxy_on_an_internal_address_must_be_allowed(
    feed_server: FeedServer, proxy: Proxy
) -> None:
    feed_server.routes["/feed"] = Route(rss(("1", "Kursk", "x")))
    url = feed_server.url("/feed")
    # The feed's host is allowed, the proxy's port is not.
    only_the_feed = frozenset({feed_server.host})
    fetcher = Fetcher(FetchPolicy(5.0, 1 << 20, "t", only_the_feed), {"HTTP_PROXY": proxy.address})
    outcome = fetcher.fetch(url, NOW)
    fetcher.close()
    assert isinstance(outcome, FeedFailure) and outcome.reason == "blocked_address", outcome
    assert "MONITOR_ALLOW_HOSTS" in outcome.message and proxy.asked == []


def test_an_internal_target_is_refused_before_the_proxy_is_asked(proxy: Proxy) -> None:
    fetcher = Fetcher(
        FetchPolicy(5.0, 1 << 20, "t", frozenset({proxy.address})), {"HTTP_PROXY": proxy.address}
    )
    outcome = fetcher.fetch("http://169.254.169.254/latest/meta-data", NOW)
    fetcher.close()
    assert isinstance(outcome, FeedFailure) and outcome.reason == "blocked_address", outcome
    assert proxy.asked == []


def test_https_feeds_tunnel_through_the_proxy_with_a_verified_certificate(
    tmp_path: Path, proxy: Proxy
) -> None:
    authority = trustme.CA()
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(context)
    server = _serve(_KeepAliveHandler, tls=context)
    url = f"https://localhost:{server.server_address[1]}/feed"
    environ = {"HTTPS_PROXY": f"http://{proxy.address}", "SSL_CERT_FILE": str(bundle)}
    allowed = frozenset({"localhost", proxy.address})
    fetcher = Fetcher(FetchPolicy(5.0, 1 << 20, "t", allowed), environ)
    try:
        outcome = fetcher.fetch(url, NOW)
    finally:
        fetcher.close()
        server.shutdown()
    assert isinstance(outcome, Fetched), outcome
    assert proxy.asked == [f"CONNECT localhost:{server.server_address[1]}"]


@pytest.mark.parametrize(
    ("environ", "url", "expected"),
    [
        ({}, "http://a.example/", None),
        ({"HTTP_PROXY": "proxy:3128"}, "http://a.example/", "http://proxy:3128"),
        ({"HTTP_PROXY": "http://p:1"}, "https://a.example/", None),  # https has its own
        ({"ALL_PROXY": "http://p:1"}, "https://a.example/", "http://p:1"),
        ({"http_proxy": "http://low:1", "HTTP_PROXY": "http://up:1"}, "http://a/", "http://low:1"),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": ".example"}, "http://a.example/", None),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "*"}, "http://a.example/", None),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "b.example"}, "http://a.example/", "http://p:1"),
    ],
)
def test_which_proxy(environ: dict[str, str], url: str, expected: str | None) -> None:
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    port = 443 if scheme == "https" else 80
    assert Proxies.from_environ(environ).for_target(scheme, host, port) == expected
