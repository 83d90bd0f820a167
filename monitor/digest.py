"""Digests and alerts: what goes in them (pure) and how they read (Jinja2).

``plan_sections`` groups a window's matches by rule, alert rules first, in
the order the watchlist lists them. ``Renderer`` turns a plan into the HTML
and text people read; HTML templates are autoescaped, so nothing a feed
says can become markup.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from monitor.types import DigestPlan, FeedStatus, Snippet, StoredMatch
from monitor.watchlist import Watchlist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Section:
    """One rule's matches in a digest."""

    rule: str
    name: str
    kind: str
    alert: bool
    matches: tuple[StoredMatch, ...]


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def plan_sections(watchlist: Watchlist, matches: Sequence[StoredMatch]) -> list[Section]:
    """Matches grouped by rule; alert rules first, then the watchlist's order."""
    order = [e.id for e in watchlist.entities] + [t.id for t in watchlist.topics]
    names = watchlist.rule_names
    alerts = watchlist.alert_rules
    by_rule: dict[str, list[StoredMatch]] = {}
    for match in matches:
        by_rule.setdefault(match.rule, []).append(match)

    def rank(rule: str) -> tuple[bool, int, str]:
        return rule not in alerts, order.index(rule) if rule in order else len(order), rule

    return [
        Section(
            rule,
            names.get(rule, rule),
            by_rule[rule][0].kind,
            rule in alerts,
            tuple(sorted(by_rule[rule], key=lambda m: m.first_seen_at, reverse=True)),
        )
        for rule in sorted(by_rule, key=rank)
    ]


def unhealthy(feeds: Sequence[FeedStatus]) -> list[FeedStatus]:
    return [f for f in feeds if f.consecutive_errors > 0]


class Renderer:
    """Jinja2 templates from the user's templates directory."""

    def __init__(self, templates_dir: Path) -> None:
        self.env = Environment(
            loader=FileSystemLoader(str(templates_dir)),
            autoescape=lambda name: bool(name and name.endswith(".html.j2")),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["local"] = _local_time
        self.env.filters["bracket_hits"] = _bracket_hits

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(name).render(**context)

    def digest(self, plan: DigestPlan, watchlist: Watchlist) -> Rendered:
        sections = plan_sections(watchlist, plan.matches)
        context = {
            "plan": plan,
            "watchlist": watchlist,
            "sections": sections,
            "zone": plan.timezone,
            "items": len({(m.item_title, m.item_url) for m in plan.matches}),
            "failing_feeds": unhealthy(plan.feeds),
        }
        subject = self.render("digest_subject.txt.j2", **context).strip()
        return Rendered(
            subject,
            self.render("digest.txt.j2", **context),
            self.render("digest.html.j2", **context),
        )

    def alert(
        self, watchlist: Watchlist, matches: Sequence[StoredMatch], now: datetime
    ) -> Rendered:
        context = {
            "watchlist": watchlist,
            "sections": plan_sections(watchlist, matches),
            "matches": matches,
            "zone": watchlist.schedule.timezone,
            "now": now,
        }
        subject = self.render("alert_subject.txt.j2", **context).strip()
        return Rendered(
            subject,
            self.render("alert.txt.j2", **context),
            self.render("alert.html.j2", **context),
        )

    def index(self, watchlist: Watchlist, entries: Sequence[tuple[str, str]]) -> str:
        return self.render("index.html.j2", watchlist=watchlist, entries=entries)

    def check(self) -> list[str]:
        """Problems loading the templates, for `monitor validate`."""
        problems = []
        for name in self.env.list_templates(extensions=["j2"]):
            try:
                self.env.get_template(name)
            except TemplateError as e:
                problems.append(f"{name}: {e}")
        return problems


def _bracket_hits(snippet: Snippet) -> str:
    """A snippet for plain text: hits in [brackets]."""
    return "".join(f"[{piece}]" if hit else piece for piece, hit in snippet.pieces())


def _local_time(moment: datetime | None, zone: str, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).strftime(fmt)
