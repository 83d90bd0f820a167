"""The idle-connection pool's rules, without a network (connections are
made when first used)."""

from __future__ import annotations

import ssl
import time

from monitor.connections import ConnectionPool, Limits, Origin

A = Origin("http", "a.example", 80)
B = Origin("https", "b.example", 443)


def _pool(idle: int = 4, idle_seconds: float = 60.0) -> ConnectionPool:
    tls = ssl.create_default_context()
    return ConnectionPool(Limits(5.0, 5.0, frozenset(), tls, idle, idle_seconds))


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
