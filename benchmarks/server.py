"""A static feed server that answers like the servers feeds live on.

``python -m http.server`` speaks HTTP/1.0: it closes the connection after
every response, starts a thread per request and sends no ETag, so on a
2-core machine it costs the measured process as much CPU as a 304 itself.
Feed hosts (nginx, CDNs) keep connections alive, send ETag and
Last-Modified and answer conditional requests with 304. This one does
the same on asyncio.

    python -m benchmarks.server DIRECTORY PORT
"""

from __future__ import annotations

import asyncio
import sys
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path


class Files:
    """The directory's files; ETag and Last-Modified from each one's size and
    mtime, checked on every request. Bodies are read when sent, not kept:
    the server's memory must not count in a benchmark's peak."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()

    def validators(self, name: str) -> tuple[Path, str, str, int] | None:
        """The file, its ETag, Last-Modified and mtime in seconds; None when absent."""
        path = self.directory / name
        if path.parent != self.directory:
            return None
        try:
            stat = path.stat()
        except OSError:
            return None
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
        return path, etag, formatdate(stat.st_mtime, usegmt=True), int(stat.st_mtime)


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
    found = files.validators(target.lstrip("/").split("?", 1)[0])
    if found is None:
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    path, etag, modified, mtime = found
    head = f"ETag: {etag}\r\nLast-Modified: {modified}\r\n"
    if _not_modified(headers, etag, mtime):
        return f"HTTP/1.1 304 Not Modified\r\n{head}\r\n".encode()
    try:
        body = path.read_bytes()
    except OSError:
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    kind = "text/html; charset=utf-8" if path.suffix == ".html" else "application/rss+xml"
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n{head}\r\n"
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
