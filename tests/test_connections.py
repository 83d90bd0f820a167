"""The idle-connection pool's rules and the deadline's reach (connections
are made when first used; the network only where one is connected)."""

from __future__ import annotations

import os
import socket
import ssl
import time

import pytest

from monitor.connections import ConnectionPool, Deadline, Limits, Origin

A = Origin("http", "a.example", 80)
B = Origin("https", "b.example", 443)


def _pool(idle: int = 4, idle_seconds: float = 60.0) -> ConnectionPool:
    tls = ssl.create_default_context()
    return ConnectionPool(Limits(5.0, 5.0, frozenset({"127.0.0.1"}), tls, idle, idle_seconds))


def test_a_connection_put_back_serves_its_origin_only() -> None:
    pool = _pool()
    first, reused = pool.get(A)
    assert not reused
    pool.put(first)
    other, reused = pool.get(B)
    assert not reused and other is not first
    again, reused = pool.get(A)
    assert reused and again is first


def test_the_most_recently_used_connection_is_taken_first() -> None:
    pool = _pool()
    older, newer = pool.get(A)[0], pool.get(A)[0]
    pool.put(older)
    pool.put(newer)
    assert pool.get(A)[0] is newer
    assert pool.get(A)[0] is older
    assert not pool.get(A)[1]


def test_a_connection_idle_too_long_is_not_reused() -> None:
    pool = _pool(idle_seconds=0.05)
    connection, _ = pool.get(A)
    pool.put(connection)
    time.sleep(0.1)
    fresh, reused = pool.get(A)
    assert not reused and fresh is not connection


def test_beyond_the_limit_the_longest_idle_is_closed() -> None:
    pool = _pool(idle=2)
    a, b, c = pool.get(A)[0], pool.get(B)[0], pool.get(A)[0]
    for connection in (a, b, c):
        pool.put(connection)
        time.sleep(0.001)
    assert pool.get(B) == (b, True)
    assert pool.get(A) == (c, True)
    assert not pool.get(A)[1]  # a was closed to keep two


def test_a_connection_cut_before_it_is_made_is_never_made() -> None:
    """A deadline that passed while the name resolved (which nothing can
    interrupt) ends the connection as soon as its socket exists."""
    with socket.create_server(("127.0.0.1", 0)) as listening:
        connection = _pool().new(Origin("http", "127.0.0.1", listening.getsockname()[1]))
        connection.cut()
        with pytest.raises(TimeoutError):
            connection.connect()
    assert connection.sock is None


def test_a_connection_released_is_out_of_the_deadlines_reach() -> None:
    pool = _pool()
    kept, cut = pool.get(A)[0], pool.get(B)[0]
    deadline = Deadline()
    deadline.add(kept)
    deadline.add(cut)
    assert deadline.release(kept)
    deadline.expire()
    assert not kept.was_cut and cut.was_cut
    assert not deadline.release(cut)  # too late: it may be cut mid-response
    pool.put(cut)
    assert pool.get(B)[0] is not cut  # a cut connection is closed, not kept


def test_a_connection_that_cannot_be_made_leaves_no_socket_open() -> None:
    """A TLS handshake that fails (here: a server that never answers it)
    closes the socket at once, not when the collector gets to it."""
    limits = Limits(0.2, 0.2, frozenset({"127.0.0.1"}), ssl.create_default_context(), 4, 60.0)
    with socket.create_server(("127.0.0.1", 0)) as listening:
        connection = ConnectionPool(limits).new(
            Origin("https", "127.0.0.1", listening.getsockname()[1])
        )
        before = len(os.listdir("/proc/self/fd"))
        with pytest.raises(TimeoutError):
            connection.connect()
        assert len(os.listdir("/proc/self/fd")) == before
