"""Where a watchlist's messages go: its notification targets, an
``env:NAME`` among them whose variable is unset being left out (and said
once when the watchlist loads) so that it fails nothing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from monitor.watchlist import Watchlist

# The two sections that name notification targets: digests go to one, alerts,
# spike alerts and feed notices to the other.
NotifyKind = Literal["alerts", "digest"]
NOTIFY_KINDS: tuple[NotifyKind, ...] = ("digest", "alerts")


def notify_targets(
    watchlist: Watchlist, environ: Mapping[str, str], kind: NotifyKind = "alerts"
) -> list[str]:
    """The targets of ``kind.notify`` that can be sent to: an ``env:NAME``
    whose variable is unset is left out (reported when the watchlist loads),
    so that it fails nothing and the mail goes on."""
    unset = unset_references(watchlist, environ, kind)
    return [t for t in _targets(watchlist, kind) if t not in unset]


def unset_references(
    watchlist: Watchlist, environ: Mapping[str, str], kind: NotifyKind = "alerts"
) -> list[str]:
    """The ``env:NAME`` targets of ``kind.notify`` whose variable is unset or empty."""
    return [
        t for t in _targets(watchlist, kind)
        if t.startswith("env:") and not environ.get(t.removeprefix("env:"))
    ]  # fmt: skip


def unset_notes(watchlists: Iterable[Watchlist], environ: Mapping[str, str]) -> list[str]:
    """One line for each notification target whose variable is unset, naming
    the section it is written in."""
    return [
        f"{w.path}: {kind}.notify {target}: the variable is not set; those notifications "
        "are left out, the mail goes on"
        for w in watchlists
        for kind in NOTIFY_KINDS
        for target in unset_references(w, environ, kind)
    ]


def _targets(watchlist: Watchlist, kind: NotifyKind) -> tuple[str, ...]:
    return watchlist.digest_notify if kind == "digest" else watchlist.alert_notify
