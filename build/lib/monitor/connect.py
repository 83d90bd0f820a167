"""How the Fetcher's connections are made and held to time: an httpcore
network backend.

httpcore makes every connection through its network backend and does every
read and write through the stream the backend returned. Ours adds two
things there and nothing else:

- the address guard: a host is resolved once, every address it resolves to
  is checked (no loopback, private, link-local, reserved or other non-global
  address unless the host is allowed), and the connection goes to the
  address that was checked, so a name cannot resolve differently between
  the check and the connect;
- one deadline for a whole fetch (its redirects included): each read, write
  or TLS handshake waits at most the time the fetch has left, so a server
  that drips its headers or body a byte at a time is cut off when the time
  is up, in the thread doing the fetch.

Resolving a name cannot be interrupted: it takes what the system's resolver
takes.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore

from monitor.errors import FeedError

_local = threading.local()


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every exchange on this thread inside the block ends within ``seconds``."""
    _local.until = time.monotonic() + seconds
    try:
        yield
    finally:
        _local.until = None


def deadline_passed() -> bool:
    until = getattr(_local, "until", None)
    return until is not None and time.monotonic() >= until


def _time_left(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` cut to the time the fetch under way has left; ``expired``
    raised when none is left."""
    until: float | None = getattr(_local, "until", None)
    if until is None:
        return timeout
    left = until - time.monotonic()
    if left <= 0:
        raise expired("the fetch's deadline passed")
    return left if timeout is None else min(timeout, left)


class GuardedBackend(httpcore.NetworkBackend):
    """Connections through the address guard, as deadline-bound streams."""

    def __init__(self, allow_hosts: frozenset[str]) -> None:
        self.allow_hosts = allow_hosts
        self._plain = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        address = vetted_address(host, port, self.allow_hosts)
        stream = self._plain.connect_tcp(
            address,
            port,
            _time_left(timeout, httpcore.ConnectTimeout),
            local_address=local_address,
            socket_options=socket_options,
        )
        return DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise FeedError("bad_url", "feeds are fetched over TCP only")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class DeadlineStream(httpcore.NetworkStream):
    """A connection's stream whose every wait is cut to the time left to the
    fetch using it: a kept-alive connection serves fetches one after the
    other, each under its own deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = _time_left(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


def vetted_address(host: str, port: int, allow_hosts: frozenset[str]) -> str:
    """The address to connect to for ``host``: refused when, unless allowed,
    any address it resolves to is loopback, private, link-local, reserved or
    otherwise not global (cloud metadata services included)."""
    host = host.lower().strip("[]")
    if host in allow_hosts or f"{host}:{port}" in allow_hosts:
        return host
    addresses = resolve(host, port)
    for ip in addresses:
        for address in (ip, *embedded_ipv4(ip)):
            if not address.is_global or address.is_multicast:
                inside = "" if address == ip else f" (which carries {address})"
                raise FeedError(
                    "blocked_address",
                    f"{host} resolves to internal address {ip}{inside}; MONITOR_ALLOW_HOSTS "
                    "lets a host through",
                )
    return str(addresses[0])


NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries and routes to: mapped
    (::ffff:a.b.c.d), 6to4 (2002::/16), Teredo and NAT64 (64:ff9b::/96). Each
    is checked like the address itself: 2002:7f00:1:: is 127.0.0.1."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo is not None:
        found += list(ip.teredo)
    if any(ip in network for network in NAT64):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def vetted_through_proxy(host: str, port: int, allow_hosts: frozenset[str]) -> None:
    """A target reached through a proxy passes the guard like any other when
    this machine can resolve it; one only the proxy resolves is let through."""
    try:
        vetted_address(host, port, allow_hosts)
    except FeedError as e:
        if e.reason != "dns_error":
            raise


def resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise FeedError("dns_error", f"cannot resolve {host}: {e.strerror}") from e
    except UnicodeError as e:
        raise FeedError("bad_url", f"not a host name: {host!r}") from e
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
