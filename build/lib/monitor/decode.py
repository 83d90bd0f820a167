"""A response body's Content-Encoding undone, each layer bounded as it goes.

httpcore hands over the body as it came; zlib undoes gzip and deflate. What
zlib leaves to its caller is the bound: asked for everything, it inflates a
1 KB body stacked as "gzip, gzip" into gigabytes in one call. Here every
layer gives at most ``step`` bytes at a time to the next, so the caller,
counting what comes out, stops a bomb within one step of its limit.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

# More layers than this is no server's honest answer (urllib3 stops at 5 too).
MAX_LAYERS = 5
GZIP_MAGIC = b"\x1f\x8b"


class DecodeError(Exception):
    """The body does not decode as its Content-Encoding says."""


class _Layer:
    """One content coding being undone: gzip (of one or more members) or
    deflate (zlib-wrapped, as RFC 9110 says, or raw, as some servers send)."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._z = self._new()
        self._started = False

    def _new(self, raw: bool = False) -> Any:
        if self.coding in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)

    def pieces(self, data: bytes, step: int) -> Iterator[bytes]:
        """What ``data`` decodes to, at most ``step`` bytes at a time."""
        out = self._first(data, step) if not self._started else self._inflate(data, step)
        while True:
            if out:  # capped at step: more may be waiting, with or without input left
                yield out
                out = self._inflate(self._z.unconsumed_tail, step)
            elif self._z.unconsumed_tail:
                out = self._inflate(self._z.unconsumed_tail, step)
            elif self._another_member():
                rest, self._z = self._z.unused_data, self._new()
                out = self._inflate(rest, step)
            else:
                return

    def _another_member(self) -> bool:
        """Another gzip member follows the one ended (RFC 1952 allows several)."""
        return (
            self.coding != "deflate" and self._z.eof and self._z.unused_data.startswith(GZIP_MAGIC)
        )

    def _first(self, data: bytes, step: int) -> bytes:
        self._started = True
        try:
            return self._inflate(data, step)
        except DecodeError:
            if self.coding != "deflate":
                raise
            self._z = self._new(raw=True)
            return self._inflate(data, step)

    def _inflate(self, data: bytes, step: int) -> bytes:
        try:
            return bytes(self._z.decompress(data, step))
        except zlib.error as e:
            raise DecodeError(f"{self.coding}: {e}") from e


class BodyDecoder:
    """The codings of a Content-Encoding header, undone last applied first."""

    def __init__(self, content_encoding: str | None) -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > MAX_LAYERS:
            raise DecodeError(f"{len(codings)} content encodings stacked (at most {MAX_LAYERS})")
        unknown = [c for c in codings if c not in ("gzip", "x-gzip", "deflate")]
        if unknown:
            raise DecodeError(f"unknown content encoding {unknown[0]!r}")
        self._layers = [_Layer(c) for c in reversed(codings)]

    def decode(self, data: bytes, step: int) -> Iterator[bytes]:
        """What a chunk of the body decodes to, at most ``step`` bytes at a time."""
        if not self._layers:
            yield data
            return
        yield from _through(self._layers, data, step)


def _through(layers: list[_Layer], data: bytes, step: int) -> Iterator[bytes]:
    first, rest = layers[0], layers[1:]
    for piece in first.pieces(data, step):
        if rest:
            yield from _through(rest, piece, step)
        else:
            yield piece
