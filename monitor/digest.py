"""Digests and alerts: what goes in them (pure) and how they read (Jinja2).

A digest reads as a briefing (monitor.briefing): each story once, ranked,
then an index per rule. An alert's ``plan_sections`` group its matches by
rule, alert rules first, in the order the watchlist lists them.
``Renderer`` turns a plan into the HTML and text people read: HTML templates
are autoescaped, so nothing a feed says can become markup; the email's HTML
has its CSS inlined. A user's template that fails (syntax or runtime error)
is replaced by the built-in one, with one logged error line: a broken edit
never costs a digest.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from monitor.archive import FILE_TIME
from monitor.briefing import (
    EMAIL_BUDGETS,
    INDEX_HEADLINES,
    Story,
    briefing,
    feed_health,
    rule_index,
)
from monitor.events import EventGrouping, Told, joined
from monitor.language import language_name, language_of
from monitor.meaning import text_for_meaning
from monitor.redact import redact_url
from monitor.resources import builtin_templates
from monitor.stories import DEFAULT_THRESHOLD, Report, group
from monitor.trends import PeriodCount, Trend, compare_periods, sparkline
from monitor.types import DigestPlan, FeedReport, Snippet, StoredMatch
from monitor.watchlist import Watchlist

if TYPE_CHECKING:
    import css_inline
    from jinja2 import Environment

log = logging.getLogger(__name__)

# An email's HTML stays under this: Gmail clips a message past 102 KB.
EMAIL_BYTES = 100_000


@dataclass(frozen=True)
class Section:
    """One rule's matches in a digest."""

    rule: str
    name: str
    kind: str
    alert: bool
    matches: tuple[StoredMatch, ...]  # newest first


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str  # the email's HTML part (CSS inlined)
    page: str = ""  # the HTML file, when it differs from the email
    # A digest's notification (digest.notify): counts, the top headlines and
    # the link, short enough for any chat or push service.
    short: str = ""


@dataclass(frozen=True)
class DigestFigures:
    """What a digest shows beside its matches, read from the store first."""

    texts: Mapping[int, tuple[int, str]] = field(default_factory=dict)  # match -> (item, text)
    previous: Mapping[str, int] = field(default_factory=dict)  # per rule, the period before
    trend: Trend | None = None
    story_threshold: float = DEFAULT_THRESHOLD
    # Joins reports of one event in other words or languages; None: copies only.
    events: EventGrouping | None = None
    first: bool = False  # the watchlist's first digest
    compare: bool = False  # the period before was watched: its counts mean something


def story_ids(
    matches: Sequence[StoredMatch],
    texts: Mapping[int, tuple[int, str]],
    threshold: float = DEFAULT_THRESHOLD,
    events: EventGrouping | None = None,
) -> dict[int, int]:
    """Match id -> story number: matches of one item share a story, and so
    do items that are near copies of each other (monitor.stories) and,
    given ``events``, items that tell one event in other words or another
    language (monitor.events)."""
    items: dict[object, int] = {}
    reports: list[Report] = []
    item_of: dict[int, int] = {}
    for m in matches:
        item, text = texts.get(m.id, (None, m.snippet.text))
        key = item if item is not None else (m.item_title, m.item_url)
        if key not in items:
            items[key] = len(reports)
            reports.append(Report(m.item_title, text, m.sources, m.published_at or m.first_seen_at))
        item_of[m.id] = items[key]
    groups = group(reports, threshold)
    if events is not None:
        told = [Told(r, language_of(text_for_meaning(r.title, r.text))) for r in reports]
        groups = joined(groups, events.groups(told))
    story_of_item = {i: n for n, members in enumerate(groups) for i in members}
    return {match_id: story_of_item[i] for match_id, i in item_of.items()}


def plan_sections(watchlist: Watchlist, matches: Sequence[StoredMatch]) -> list[Section]:
    """An alert's matches grouped by rule; alert rules first, then the
    watchlist's order."""
    names = watchlist.rule_names
    alerts = watchlist.alert_rules
    by_rule: dict[str, list[StoredMatch]] = {}
    for match in matches:
        by_rule.setdefault(match.rule, []).append(match)
    return [
        Section(
            rule,
            names.get(rule, rule),
            by_rule[rule][0].kind,
            rule in alerts,
            tuple(sorted(by_rule[rule], key=lambda m: m.first_seen_at, reverse=True)),
        )
        for rule in sorted(by_rule, key=lambda rule: rule_rank(watchlist, rule))
    ]


def rule_rank(watchlist: Watchlist, rule: str) -> tuple[bool, int, str]:
    """Alert rules first, then the order of the watchlist file."""
    order = [e.id for e in watchlist.entities] + [t.id for t in watchlist.topics]
    position = order.index(rule) if rule in order else len(order)
    return rule not in watchlist.alert_rules, position, rule


def rules_in_order(watchlist: Watchlist) -> list[tuple[str, str, bool]]:
    """(id, name, alert) of every rule, alert rules first."""
    names, alerts = watchlist.rule_names, watchlist.alert_rules
    ordered = sorted(names, key=lambda rule: rule_rank(watchlist, rule))
    return [(rule, names[rule], rule in alerts) for rule in ordered]


def digest_context(
    plan: DigestPlan, watchlist: Watchlist, figures: DigestFigures, page_url: str = ""
) -> dict[str, Any]:
    """The variables the digest templates receive (documented in digest.html.j2)."""
    story_of = story_ids(plan.matches, figures.texts, figures.story_threshold, figures.events)
    rules = rules_in_order(watchlist)
    stories = [_glossed(s) for s in briefing(plan.matches, story_of, rules)]
    now_counts: dict[str, int] = {}
    for m in plan.matches:
        now_counts[m.rule] = now_counts.get(m.rule, 0) + 1
    counts: list[PeriodCount] = compare_periods(rules, now_counts, figures.previous)
    health = feed_health(plan.feeds, [f.url for f in watchlist.feeds], plan.window_start)
    return {
        "plan": plan,
        "watchlist": watchlist,
        "stories": stories,
        "index": rule_index(stories, rules),
        "zone": plan.timezone,
        "items": len({(m.item_title, m.item_url) for m in plan.matches}),
        "counts": counts,
        "first": figures.first,
        "compare": figures.compare and not figures.first,
        "trend": figures.trend,
        "quiet_rules": _quiet_rules(figures.trend, rules),
        "health": health,
        "kinds": watchlist.source_kinds,
        "failing_feeds": list(health.failing),
        "page_url": page_url,
        "medium": "page",
        "full": len(stories),  # stories shown as cards; the next `lines` as one line each
        "lines": 0,
        "per_rule": len(stories),  # headlines per rule in the index
    }


def _glossed(story: Story) -> Story:
    """The story with its headline's language, when not English, and then
    the first English headline among its other reports as a gloss."""
    language = _foreign(_headline_and_lead(story.lead))
    if not language:
        return story
    english = (m for m in story.also if m.item_title and not _foreign(_headline_and_lead(m)))
    return replace(story, language=language, gloss=next((m.item_title for m in english), ""))


def _headline_and_lead(match: StoredMatch) -> str:
    return f"{match.item_title}. {match.snippet.text}"


def _foreign(text: str) -> str:
    """The language of a headline when it is not English, else ""."""
    code = language_of(text)
    return "" if code == "en" else code


def _quiet_rules(trend: Trend | None, rules: Sequence[tuple[str, str, bool]]) -> list[str]:
    """The names of the rules the trend has no mention of: listed, not drawn."""
    drawn = {row.rule for row in trend.rows} if trend else set()
    return [name for rule, name, _ in rules if rule not in drawn]


def email_context(context: dict[str, Any], full: int, lines: int) -> dict[str, Any]:
    return {**context, "medium": "email", "full": full, "lines": lines,
            "per_rule": INDEX_HEADLINES}  # fmt: skip


@functools.cache
def _inliner() -> css_inline.CSSInliner:
    import css_inline

    return css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def inline_css(html: str) -> str:
    """<style> rules moved into style attributes (mail clients drop <style>);
    @media rules (dark mode, phones) stay in a <style> for those that read it."""
    return _inliner().inline(html)


class Renderer:
    """Jinja2 templates from the user's templates directory, falling back to
    the built-in ones when a user's template is missing or fails. Jinja2 is
    loaded with the first message: a poll that alerts nobody never loads it."""

    def __init__(
        self, templates_dir: Path, builtin_dir: Path | None = None, public_url: str = ""
    ) -> None:
        self.templates_dir = templates_dir
        self.public_url = public_url  # MONITOR_PUBLIC_URL: where digest pages are served
        self.builtin_dir = builtin_dir or builtin_templates()
        self._reported: set[str] = set()  # failures logged for the current message

    @functools.cached_property
    def env(self) -> Environment:
        return _environment(self.templates_dir)

    @functools.cached_property
    def builtin(self) -> Environment | None:
        same = self.templates_dir.resolve() == self.builtin_dir.resolve()
        return None if same else _environment(self.builtin_dir)

    def render(self, name: str, **context: Any) -> str:
        try:
            return self.env.get_template(name).render(**context)
        except Exception as e:  # a user's template can fail in any way: never lose a digest
            if self.builtin is None:
                raise
            reason = " ".join(f"{type(e).__name__}: {e}".split())[:300]
            if name not in self._reported:  # one line per message, not per rendering
                self._reported.add(name)
                log.error("template %s failed, the built-in one was used: %s", name, reason)
            return self.builtin.get_template(name).render(**context)

    def digest(
        self, plan: DigestPlan, watchlist: Watchlist, figures: DigestFigures | None = None
    ) -> Rendered:
        """The digest's page (every story in full) and its email, whose HTML
        stays under EMAIL_BYTES (Gmail clips a message past 102 KB, hiding
        its end): the top stories in full, the next as one-line links, the
        rest counted, with a link to the page when MONITOR_PUBLIC_URL is set."""
        self._reported.clear()
        page_url = self.page_url(watchlist, plan.scheduled_for)
        context = digest_context(plan, watchlist, figures or DigestFigures(), page_url)
        subject = self.render("digest_subject.txt.j2", **context).strip()
        for full, lines in EMAIL_BUDGETS:
            email = email_context(context, full, lines)
            html = inline_css(self.render("digest.html.j2", **email))
            if len(html.encode()) <= EMAIL_BYTES:
                break
        return Rendered(
            subject,
            self.render("digest.txt.j2", **email),
            html,
            self.render("digest.html.j2", **context),
            self.render("digest_short.txt.j2", **email).strip(),
        )

    def page_url(self, watchlist: Watchlist, scheduled_for: datetime) -> str:
        """The digest's page under MONITOR_PUBLIC_URL, or "" when unset."""
        if not self.public_url:
            return ""
        name = scheduled_for.strftime(FILE_TIME) + ".html"
        return f"{self.public_url.rstrip('/')}/{quote(watchlist.id)}/{name}"

    def alert(
        self, watchlist: Watchlist, matches: Sequence[StoredMatch], now: datetime
    ) -> Rendered:
        sections = plan_sections(watchlist, matches)
        return self._message("alert", watchlist, now, sections=sections, matches=matches)

    def spike(self, watchlist: Watchlist, spikes: Sequence[Any], now: datetime) -> Rendered:
        return self._message("spike", watchlist, now, spikes=spikes)

    def feed_problem(self, watchlist: Watchlist, report: FeedReport, now: datetime) -> Rendered:
        """A notice that a feed was paused or is gone (its text part as the
        plain templates say it, the HTML as written: it has no CSS to inline)."""
        context = {"watchlist": watchlist, "report": report, "now": now}
        return Rendered(
            self.render("feed_problem_subject.txt.j2", **context).strip(),
            self.render("feed_problem.txt.j2", **context),
            self.render("feed_problem.html.j2", **context),
        )

    def _message(self, kind: str, watchlist: Watchlist, now: datetime, **values: Any) -> Rendered:
        """Subject, text and inlined HTML from the ``kind`` templates."""
        context = {"watchlist": watchlist, "zone": watchlist.schedule.timezone, "now": now}
        context.update(values)
        subject = self.render(f"{kind}_subject.txt.j2", **context).strip()
        return Rendered(
            subject,
            self.render(f"{kind}.txt.j2", **context),
            inline_css(self.render(f"{kind}.html.j2", **context)),
        )

    def index(self, watchlist: Watchlist, entries: Sequence[Any]) -> str:
        return self.render("index.html.j2", watchlist=watchlist, entries=entries)

    def check(self) -> list[str]:
        """Problems loading the templates, for `monitor validate`."""
        from jinja2 import TemplateError

        problems = []
        for name in self.env.list_templates(extensions=["j2"]):
            try:
                self.env.get_template(name)
            except TemplateError as e:
                problems.append(f"{name}: {e}")
        return problems


def _environment(directory: Path) -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(str(directory)),
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["local"] = _local_time
    env.filters["bracket_hits"] = _bracket_hits
    env.filters["safe_url"] = safe_url
    env.filters["sanitize"] = sanitize
    env.filters["spark"] = sparkline
    env.filters["redact"] = redact_url
    env.filters["language_name"] = language_name
    return env


def safe_url(url: str | None) -> str:
    """``url`` when it is http(s), else "": only those may become a link."""
    if not url:
        return ""
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return ""
    return url if scheme in ("http", "https") else ""


def sanitize(markup: str) -> str:
    """Feed HTML made safe to show (nh3): no script, style, event handler or
    javascript: URL survives. Use as ``{{ html | sanitize | safe }}``."""
    import nh3

    return nh3.clean(markup, url_schemes={"http", "https", "mailto"})


def _bracket_hits(snippet: Snippet) -> str:
    """A snippet for plain text: hits in [brackets]."""
    return "".join(f"[{piece}]" if hit else piece for piece, hit in snippet.pieces())


def _local_time(moment: datetime | None, zone: str, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).strftime(fmt)
