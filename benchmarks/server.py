"""A static feed server that answers like the servers feeds live on.

``python -m http.server`` speaks HTTP/1.0: it closes the connection after
every response, starts a thread per request and sends no ETag, so on a
2-core machine it costs the measured process as much CPU as a 304 itself.
Feed hosts (nginx, CDNs) keep connections alive, send ETag and
Last-Modified and answer conditional requests with 304. This one does
the same on asyncio, with the files' bytes read again only when their
size or mtime changes.

    python -m benchmarks.server DIRECTORY PORT
"""

from __future__ import annotations

import asyncio
import sys
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path


class Files:
    """The directory's files, re-read when they change on disk (checked on every request)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self._cache: dict[str, tuple[int, int, bytes, str, str]] = {}

    def get(self, name: str) -> tuple[bytes, str, str, int] | None:
        """Body, ETag, Last-Modified and mtime in seconds; None when absent."""
        path = self.directory / name
        if path.parent != self.directory:
            return None
        try:
            stat = path.stat()
        except OSError:
            return None
        cached = self._cache.get(name)
        if cached is None or cached[:2] != (stat.st_mtime_ns, stat.st_size):
            etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
            modified = formatdate(stat.st_mtime, usegmt=True)
            cached = (stat.st_mtime_ns, stat.st_size, path.read_bytes(), etag, modified)
            self._cache[name] = cached
        return cached[2], cached[3], cached[4], int(cached[0] // 1_000_000_000)


def _not_modified(headers: dict[str, str], etag: str, mtime: int) -> bool:
    if "if-none-match" in headers:  # RFC 9110 13.1.3: it takes precedence
        return etag in (tag.strip() for tag in headers["if-none-match"].split(","))
    since = headers.get("if-modified-since")
    if since is None:
        return False
    try:
        return mtime <= parsedate_to_datetime(since).timestamp()
    except (TypeError, ValueError):
        return False


def respond(files: Files, target: str, headers: dict[str, str]) -> bytes:
    found = files.get(target.lstrip("/").split("?", 1)[0])
    if found is None:
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    body, etag, modified, mtime = found
    head = f"ETag: {etag}\r\nLast-Modified: {modified}\r\n"
    if _not_modified(headers, etag, mtime):
        return f"HTTP/1.1 304 Not Modified\r\n{head}\r\n".encode()
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
        f"Content-Length: {len(body)}\r\n{head}\r\n"
    ).encode() + body


async def _serve_connection(
    files: Files, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            try:
                request = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = request.decode("latin-1").split("\r\n")
            _method, target, version = [*lines[0].split(" "), "", ""][:3]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            writer.write(respond(files, target, headers))
            await writer.drain()
            if version != "HTTP/1.1" or headers.get("connection", "").lower() == "close":
                return
    finally:
        writer.close()


async def serve(directory: Path, port: int) -> None:
    files = Files(directory)
    server = await asyncio.start_server(
        lambda r, w: _serve_connection(files, r, w), "127.0.0.1", port, backlog=1024
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1]), int(sys.argv[2])))
