"""Notification URLs through Apprise (Slack, Telegram, Matrix, ntfy, JSON
webhooks, ...), each message cut to what its service takes."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from monitor.errors import DeliveryError


class NotifySender:
    """Notification URLs through Apprise (Slack, Telegram, Matrix, ntfy,
    JSON webhooks, ...). A watchlist may name ``env:VARIABLE`` instead of the
    URL, so tokens stay in the environment rather than in the file."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self.environ = environ

    def resolve(self, reference: str) -> str:
        if not reference.startswith("env:"):
            return reference
        name = reference.removeprefix("env:")
        url = self.environ.get(name)
        if not url:
            raise DeliveryError(f"environment variable {name} is not set", permanent=True)
        return url

    def send(self, reference: str, title: str, body: str, idempotency_key: str = "") -> None:
        """Deliver one notification, cut to the service's limits (``fit``).
        Webhooks (json://, xml://, form://) carry ``idempotency_key`` as an
        Idempotency-Key header, so a receiver can drop the copy a retry after
        a lost answer sends again."""
        url = self.resolve(reference)
        if idempotency_key and urlsplit(url).scheme in WEBHOOK_SCHEMES:
            # Apprise sends a query parameter written "+Name=value" as a header.
            separator = "&" if "?" in url else "?"
            url += f"{separator}{urlencode({'+Idempotency-Key': idempotency_key})}"
        import apprise  # loaded with the first notification, not with every command

        plugin = apprise.Apprise.instantiate(url)
        notifier = apprise.Apprise()
        if plugin is None or not notifier.add(plugin):
            raise DeliveryError(
                f"{reference}: not a notification URL Apprise knows", permanent=True
            )
        title, body = fit(title, body, Limits.of(plugin))
        if not notifier.notify(title=title, body=body):
            raise DeliveryError(f"{reference}: the notification service did not accept it")


WEBHOOK_SCHEMES = frozenset({"json", "jsons", "xml", "xmls", "form", "forms"})


# --- what a service takes --------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """A notification service's limits in characters, as its Apprise plugin
    declares them. Past them Apprise, by default, sends the message whole
    and the service cuts or refuses it (ntfy, Slack, Telegram, Discord)."""

    body: int
    title: int  # 0: the service has no title; Apprise writes it atop the body
    # The title counts against the body's limit (ntfy, Discord); ``reserve``
    # is what Apprise keeps free beside it when it sizes a message itself.
    shared: bool = False
    reserve: int = 0

    @classmethod
    def of(cls, plugin: Any) -> Limits:
        """From an Apprise plugin (an instance: some compute their limit
        from the URL, e.g. Mastodon's)."""
        shared = bool(getattr(plugin, "overflow_amalgamate_title", False))
        reserve = int(getattr(plugin, "overflow_max_display_count_width", 0)) + int(
            getattr(plugin, "overflow_buffer", 0)
        )
        return cls(int(plugin.body_maxlen), int(plugin.title_maxlen), shared, reserve)


def fit(title: str, body: str, limits: Limits) -> tuple[str, str]:
    """The title and body cut so that the service takes them as they are:
    whole lines of the body, a last line saying how many were cut, and the
    body's last line when it is a link (``cut``)."""
    title = " ".join(title.split())
    if limits.title > 0:
        title = cut_line(title, min(limits.title, limits.body // 2))
        room = limits.body - (len(title) + limits.reserve if limits.shared and title else 0)
    else:
        # No title field: Apprise sends "title\r\nbody" as the body.
        title = cut_line(title, limits.body // 2)
        room = limits.body - (len(title) + 2 if title else 0)
    return title, cut(body, max(room, 1))


_LINK = re.compile(r"https?://\S")


def cut(text: str, limit: int) -> str:
    """``text`` when it has at most ``limit`` characters. Otherwise as many
    of its first lines as fit whole, then "… (cut: N more lines)", then its
    last line if that holds a link (the digest's or the page's), so that the
    rest can be read there. A first line too long to fit is cut at a word
    rather than leaving the note alone."""
    text = text.strip()
    if len(text) <= limit:
        return text
    lines = text.splitlines()
    # With the link kept at the end, or, when even that does not fit, without.
    ways = [(lines[:-1], lines[-1:])] if len(lines) > 1 and _LINK.search(lines[-1]) else []
    for head, ending in [*ways, (lines, [])]:
        kept = _kept(head, ending, limit)
        if kept is None:
            continue
        dropped = sum(1 for line in head[kept:] if line.strip())
        after = [_note(dropped), *ending]
        room = limit - sum(len(t) + 1 for t in after)
        if kept == 0 and room >= 2:
            return "\n".join([cut_line(head[0], room), *after])
        return "\n".join([*head[:kept], *after])
    return text[:limit]  # a limit shorter than the note itself


def _kept(head: list[str], ending: list[str], limit: int) -> int | None:
    """How many of the first lines fit with the note and ``ending`` after
    them; None when not even the note and the ending fit."""
    # left[k]: the lines with text among head[k:], those cut when k are kept
    left = [0] * (len(head) + 1)
    for k in range(len(head) - 1, -1, -1):
        left[k] = left[k + 1] + bool(head[k].strip())
    fixed = sum(len(t) + 1 for t in ending)
    kept, size = None, 0  # size: the kept lines with their newlines
    for k in range(len(head) + 1):
        size += len(head[k - 1]) + 1 if k else 0
        # Each line kept adds at least one character and takes at most one
        # off the note's count: past the first that overflows, all do.
        if size + len(_note(left[k])) + fixed > limit:
            break
        kept = k
    return kept


def _note(lines: int) -> str:
    return f"… (cut: {lines} more line{'s' if lines != 1 else ''})"


def cut_line(line: str, limit: int) -> str:
    """One line in at most ``limit`` characters, ending with "…" when cut,
    at a space when there is one in its last fifth."""
    if len(line) <= limit:
        return line
    if limit <= 1:
        return line[:limit]
    start = line[: limit - 1]
    space = start.rfind(" ")
    if space >= (limit - 1) * 4 // 5:
        start = start[:space]
    return start.rstrip() + "…"
