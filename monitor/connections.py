"""The Fetcher's HTTP/1.1 connections: made through the address guard, kept
alive between polls, and cut off by the deadline of whichever fetch uses one.

Built on the standard library's http.client: a quiet cycle is hundreds of
conditional GETs answered by 304, and there a request and its response's
head cost about half as much CPU through http.client as through httpcore
and h11. This module adds what http.client leaves to its caller: vetting
each connection's address when it is made, verified TLS, a pool of idle
connections per origin, and a watchdog that ends an exchange at its
deadline however slowly the server drips.
"""

from __future__ import annotations

import contextlib
import heapq
import http.client
import ipaddress
import itertools
import socket
import ssl
import threading
import time
from dataclasses import dataclass

from monitor.errors import FeedError


class ConnectFailed(Exception):
    """The connection (TCP, or its TLS handshake) could not be made."""


@dataclass(frozen=True)
class Origin:
    """Where a connection goes: scheme, host (IDNA-encoded, no brackets) and port."""

    scheme: str
    host: str
    port: int


@dataclass(frozen=True)
class Limits:
    """How connections are made and kept."""

    timeout: float  # each read or write
    connect_timeout: float
    allow_hosts: frozenset[str]  # host or host:port let through the guard
    tls: ssl.SSLContext
    idle: int  # connections kept open between requests, at most
    idle_seconds: float  # and for how long each


class FinalResponse(http.client.HTTPResponse):
    """A response read past interim ones: http.client skips a 100 Continue
    itself but would take a 103 Early Hints (sent by some CDNs before the
    answer, on the same connection) for the answer."""

    def _read_status(self) -> tuple[str, int, str]:
        while True:
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 100 < status < 200 or status == 101:
                return version, status, reason
            http.client._read_headers(self.fp)  # type: ignore[attr-defined]


class Connection(http.client.HTTPConnection):
    """One connection to an origin, made when first used."""

    response_class = FinalResponse

    def __init__(self, origin: Origin, limits: Limits) -> None:
        super().__init__(origin.host, origin.port, timeout=limits.timeout)
        self.origin = origin
        self._limits = limits
        self._socket: socket.socket | None = None  # what ``cut`` shuts down
        self.was_cut = False  # by a deadline: never used again
        self.idle_since = 0.0

    def connect(self) -> None:
        limits = self._limits
        address = vetted_address(self.host, self.port, limits.allow_hosts)
        try:
            raw = socket.create_connection((address, self.port), limits.connect_timeout)
            self._attach(raw)
            raw.settimeout(limits.timeout)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.origin.scheme == "https":
                secure = limits.tls.wrap_socket(
                    raw, server_hostname=self.host, do_handshake_on_connect=False
                )
                self._attach(secure)
                secure.do_handshake()
            self.sock = self._socket
        except BaseException as e:
            if self._socket is not None:
                self._socket.close()
            if isinstance(e, OSError) and not isinstance(e, TimeoutError):
                raise ConnectFailed(str(e)) from e  # refused, unreachable, an untrusted certificate
            raise

    def _attach(self, sock: socket.socket) -> None:
        """The socket ``cut`` shuts down from now on. A deadline that passed
        while it was being made (resolving a name cannot be interrupted)
        ends the connection here."""
        self._socket = sock
        if self.was_cut:
            raise TimeoutError("the deadline passed while connecting")

    def cut(self) -> None:
        """Ends the exchange under way from another thread: a read or write
        blocked on this connection returns at once, and one not yet
        connected never will be. Shut down, not closed: a closed
        descriptor's number can be reused while the other thread still
        holds it."""
        self.was_cut = True
        if self._socket is not None:
            with contextlib.suppress(OSError):  # not connected, or closed already
                socket.socket.shutdown(self._socket, socket.SHUT_RDWR)


class ConnectionPool:
    """Idle connections by origin, the most recently used taken first."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._idle: dict[Origin, list[Connection]] = {}
        self._count = 0
        self._lock = threading.Lock()

    def get(self, origin: Origin) -> tuple[Connection, bool]:
        """A connection to the origin, and whether it served a request before."""
        stale: list[Connection] = []
        now = time.monotonic()
        found = None
        with self._lock:
            idle = self._idle.get(origin)
            while idle:
                connection = idle.pop()
                self._count -= 1
                # Servers close idle connections (Apache after 5 s); one
                # idle longer than that would likely fail under a request.
                fresh = now - connection.idle_since <= self.limits.idle_seconds
                if fresh and not connection.was_cut:
                    found = connection
                    break
                stale.append(connection)
            if idle is not None and not idle:
                del self._idle[origin]
        for connection in stale:
            connection.close()
        if found is not None:
            return found, True
        return self.new(origin), False

    def new(self, origin: Origin) -> Connection:
        """A connection not used before (made when first used)."""
        return Connection(origin, self.limits)

    def put(self, connection: Connection) -> None:
        """Keeps a connection whose last response was read in full (one a
        deadline cut off is closed instead)."""
        if connection.was_cut:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        evicted = None
        with self._lock:
            self._idle.setdefault(connection.origin, []).append(connection)
            self._count += 1
            if self._count > self.limits.idle:
                evicted = self._oldest()
        if evicted is not None:
            evicted.close()

    def _oldest(self) -> Connection:
        origin = min(self._idle, key=lambda o: self._idle[o][0].idle_since)
        idle = self._idle[origin]
        oldest = idle.pop(0)
        if not idle:
            del self._idle[origin]
        self._count -= 1
        return oldest

    def close(self) -> None:
        with self._lock:
            idle = [c for connections in self._idle.values() for c in connections]
            self._idle.clear()
            self._count = 0
        for connection in idle:
            connection.close()


class Deadline:
    """The connections of one fetch, cut off by a watchdog when its deadline
    passes: a server dripping headers or body one byte at a time never
    trips a per-read timeout, but it cannot outlast this."""

    def __init__(self) -> None:
        self.connections: list[Connection] = []
        self.lock = threading.Lock()
        self.expired = False
        self.finished = False  # the fetch ended first: nothing to cut off

    def add(self, connection: Connection) -> None:
        with self.lock:
            self.connections.append(connection)
            if self.expired:
                connection.cut()

    def release(self, connection: Connection) -> bool:
        """Takes the connection out of this deadline's reach, for another
        fetch to use; False if the deadline passed (it may be cut)."""
        with self.lock:
            if self.expired:
                return False
            self.connections.remove(connection)
            return True

    def expire(self) -> None:
        with self.lock:
            if self.finished:
                return
            self.expired = True
            for connection in self.connections:
                connection.cut()

    def finish(self) -> None:
        with self.lock:
            self.finished = True


class Watchdog:
    """One thread that expires the deadlines of all fetches of a Fetcher: a
    timer thread per fetch would cost more than a 304 itself."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Deadline]] = []  # a heap
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def watch(self, deadline: Deadline, seconds: float) -> None:
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
