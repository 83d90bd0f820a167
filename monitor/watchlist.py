"""Watchlist files: YAML in, validated ``Watchlist`` values out.

Every problem in a file is reported at once, each as ``file:line:col:
message`` pointing at the offending YAML node (or inside a topic query). A
file is loaded whole or not at all, so a broken edit never half-applies.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    ValidationError,
)

from monitor import query as q
from monitor.errors import Diagnostic, QuerySyntaxError, WatchlistError
from monitor.queryparse import parse as parse_query
from monitor.schedule import Cron, QuietHours, parse_duration
from monitor.watchlistspec import (
    DEFAULT_MIN_SIMILARITY,
    DatelineUse,
    EntitySpec,
    ExcludeScope,
    FeedSpec,
    TopicSpec,
    WatchlistSpec,
)
from monitor.yamlsource import MAX_BYTES, Located, Path_, YamlRefused, compose

DEFAULT_POLL_EVERY = timedelta(minutes=15)
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


# --- the values the rest of the program sees ---------------------------------


@dataclass(frozen=True)
class Alias:
    text: str
    case_sensitive: bool = False
    # A Hangul alias, which otherwise matches inside words (particles attach
    # to them), only where no Hangul comes right before it: 평양 (Pyongyang),
    # 평양에서, 9·19평양, not inside 태평양 (the Pacific).
    word_start: bool = False
    # An ambiguous alias ("NIS") counts only when one of these also occurs in
    # the item; empty means it always counts.
    context: tuple[str, ...] = ()

    @property
    def prefix(self) -> bool:
        return self.text.endswith("*")

    @property
    def stem(self) -> str:
        return self.text.rstrip("*").strip()


@dataclass(frozen=True)
class Entity:
    id: str
    name: str
    aliases: tuple[Alias, ...]
    exclude: tuple[str, ...]
    alert: bool
    exclude_scope: ExcludeScope = "sentence"
    dateline: DatelineUse = "ignore"


@dataclass(frozen=True)
class Topic:
    id: str
    name: str
    query: str
    tree: q.Node
    alert: bool
    dateline: DatelineUse = "ignore"  # for the query's terms and @entity mentions alike
    # The meaning check (monitor.meaningcheck): example sentences, and the
    # cosine an item must reach; both empty/None for a keyword-only topic.
    about: tuple[str, ...] = ()
    min_similarity: float | None = None


# What a source is read as: a feed (RSS, Atom, JSON Feed), a Telegram
# channel's public preview, or a page whose new links become items.
SourceKind = Literal["feed", "telegram", "page"]
TELEGRAM_PREVIEW = "https://t.me/s/"


@dataclass(frozen=True)
class FeedRef:
    # The source's identity: the feed's URL, the page's URL, or the channel's
    # preview URL (https://t.me/s/NAME, wherever MONITOR_TELEGRAM_URL reads it).
    url: str
    every: timedelta
    title: str | None = None  # the watchlist's name for it, over the feed's own
    kind: SourceKind = "feed"
    links: str | None = None  # page: the CSS selector of the links that become items
    full_text: bool = False  # each new item's article is fetched and matched too

    @property
    def channel(self) -> str | None:
        """A Telegram source's channel name."""
        return self.url.removeprefix(TELEGRAM_PREVIEW) if self.kind == "telegram" else None

    @property
    def kind_name(self) -> str:
        """What the source is, as the health report says it."""
        name = {"feed": "feed", "telegram": "Telegram channel", "page": "page"}[self.kind]
        return name + (", full text" if self.full_text else "")


@dataclass(frozen=True)
class Watchlist:
    id: str  # the file name without .yaml
    path: str
    title: str
    description: str
    feeds: tuple[FeedRef, ...]
    entities: tuple[Entity, ...]
    topics: tuple[Topic, ...]
    schedule: Cron
    digest_email: tuple[str, ...]
    alert_email: tuple[str, ...]
    alert_notify: tuple[str, ...]
    alert_quiet_hours: QuietHours | None = None  # in the schedule's zone
    # Where a digest's short form goes (digest.notify); last, with a default,
    # so that a Watchlist built by position elsewhere keeps its meaning.
    digest_notify: tuple[str, ...] = ()

    @property
    def rule_names(self) -> dict[str, str]:
        names = {e.id: e.name for e in self.entities}
        names.update({t.id: t.name for t in self.topics})
        return names

    @property
    def source_kinds(self) -> dict[str, str]:
        """URL -> what the source is (FeedRef.kind_name)."""
        return {f.url: f.kind_name for f in self.feeds}

    @property
    def feed_titles(self) -> dict[str, str]:
        """URL -> the name this watchlist gives the feed (``title:``), where it gives one."""
        return {f.url: f.title for f in self.feeds if f.title}

    @property
    def alert_rules(self) -> frozenset[str]:
        rules = [e.id for e in self.entities if e.alert] + [t.id for t in self.topics if t.alert]
        return frozenset(rules)


# --- loading -------------------------------------------------------------------


def load_file(path: Path, default_timezone: str = "UTC") -> Watchlist:
    """Load and validate one watchlist file; raises WatchlistError with every problem."""
    name = str(path)
    source = read_source(path)
    return parse_watchlist(source, name, path.stem, default_timezone)


def read_source(path: Path) -> str:
    """A watchlist file's text. Only a regular file is read (a FIFO named
    *.yaml would block for ever), and a link only to a file in the same
    folder; no error repeats the file's content."""
    name = str(path)
    try:
        target = path.resolve(strict=True)
        status = target.stat()
        if not stat.S_ISREG(status.st_mode):
            raise WatchlistError([Diagnostic(name, 1, 1, "not a regular file: not read")])
        if path.is_symlink() and target.parent != path.parent.resolve():
            message = "a link to a file outside its folder: not read"
            raise WatchlistError([Diagnostic(name, 1, 1, message)])
        if status.st_size > MAX_BYTES:
            message = f"larger than {MAX_BYTES // 1024} KB: not read"
            raise WatchlistError([Diagnostic(name, 1, 1, message)])
        return target.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise WatchlistError([Diagnostic(name, 1, 1, "not UTF-8 text")]) from e
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise WatchlistError([Diagnostic(name, 1, 1, f"cannot read file: {reason}")]) from e


def parse_watchlist(source: str, name: str, watchlist_id: str, default_timezone: str) -> Watchlist:
    located = Located(source)
    try:
        root = compose(source)
        if root is None or not isinstance(root, yaml.MappingNode):
            not_a_mapping = "a watchlist is a YAML mapping (key: value)"
            raise WatchlistError([Diagnostic(name, 1, 1, not_a_mapping)])
        data = located.build(root)
    except YamlRefused as e:
        problem = e.problem
        raise WatchlistError(
            [Diagnostic(name, problem.line, problem.column, problem.message)]
        ) from e
    problems = [Diagnostic(name, p.line, p.column, p.message) for p in located.problems]
    if not _RULE_ID.match(watchlist_id):
        problems.append(
            Diagnostic(name, 1, 1, f"file name {watchlist_id!r}: use lower-case letters, digits, -")
        )
    # Top-level keys starting with "x-" are the file's own (notes, anchors).
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}
    trees = _parse_queries(data, name, located, problems)
    try:
        spec = WatchlistSpec.model_validate(data)
    except ValidationError as e:
        problems += [_diagnostic(located, name, err) for err in e.errors()]
        raise WatchlistError(sorted(problems, key=_position)) from e
    watchlist = _build(spec, trees, name, watchlist_id, default_timezone, located, problems)
    if problems:
        raise WatchlistError(sorted(problems, key=_position))
    return watchlist


def _position(diagnostic: Diagnostic) -> tuple[int, int]:
    return diagnostic.line, diagnostic.column


def _diagnostic(located: Located, name: str, error: Any) -> Diagnostic:
    path: Path_ = tuple(p for p in error["loc"] if not _is_union_branch(p))
    mark = located.mark(path)
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    where = ".".join(str(p) for p in path)
    message = _MODEL_NAMES.sub("", str(error["msg"]).removeprefix("Value error, "))
    if error["type"] == "extra_forbidden":
        message = f"unknown key {path[-1]!r}"
        if len(path) == 1:
            message += " (keys starting with x- are left alone, for notes and anchors)"
    return Diagnostic(name, line, col, f"{where}: {message}" if where else message)


def _is_union_branch(part: Any) -> bool:
    # pydantic names the branch of a union it tried ("str", "AliasSpec")
    return isinstance(part, str) and part in _BRANCHES


# The names pydantic gives the branches of a union in an error's location.
_BRANCHES = frozenset({"str", "int", "AliasSpec", "FeedSpec"})
# The models' own names, in pydantic's messages, said as a person would.
_MODEL_NAMES = re.compile(r" or instance of \w+Spec")


def _build(
    spec: WatchlistSpec,
    trees: dict[str, q.Node],
    name: str,
    watchlist_id: str,
    default_timezone: str,
    located: Located,
    problems: list[Diagnostic],
) -> Watchlist:
    def problem(path: Path_, message: str) -> None:
        mark = located.mark(path)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problems.append(Diagnostic(name, line, col, message))

    for rule_id in [*spec.entities, *spec.topics]:
        if not _RULE_ID.match(rule_id):
            section = "entities" if rule_id in spec.entities else "topics"
            problem((section, rule_id), f"rule id {rule_id!r}: use lower-case letters, digits, -")
    for rule_id in set(spec.entities) & set(spec.topics):
        problem(("topics", rule_id), f"{rule_id!r} is both an entity and a topic")
    for rule_id, t in spec.topics.items():
        if t.min_similarity is not None and t.about is None:
            needs = "min_similarity needs about: (the sentences to compare with)"
            problem(("topics", rule_id, "min_similarity"), f"topics.{rule_id}.{needs}")
    entities = tuple(_entity(rule_id, s) for rule_id, s in spec.entities.items())
    topics = tuple(
        _topic(rule_id, t, trees[rule_id]) for rule_id, t in spec.topics.items() if rule_id in trees
    )
    schedule = Cron(spec.digest.schedule, spec.digest.timezone or default_timezone)
    return Watchlist(
        id=watchlist_id,
        path=name,
        title=spec.title or watchlist_id,
        description=spec.description.strip(),
        feeds=tuple(_feed(f) for f in spec.feeds),
        entities=entities,
        topics=topics,
        schedule=schedule,
        digest_email=tuple(spec.digest.email),
        alert_email=tuple(spec.alerts.email),
        alert_notify=tuple(spec.alerts.notify),
        alert_quiet_hours=QuietHours.parse(w) if (w := spec.alerts.quiet_hours) else None,
        digest_notify=tuple(spec.digest.notify),
    )


def _entity(rule_id: str, spec: EntitySpec) -> Entity:
    aliases = tuple(
        Alias(a.text, a.case_sensitive, a.word_start, tuple(a.context)) for a in spec.aliases
    )
    return Entity(
        rule_id,
        spec.name or rule_id,
        aliases,
        tuple(spec.exclude),
        spec.alert,
        spec.exclude_scope,
        spec.dateline,
    )


def _topic(rule_id: str, spec: TopicSpec, tree: q.Node) -> Topic:
    about = tuple(sentence.strip() for sentence in spec.about or ())
    threshold = spec.min_similarity
    if about and threshold is None:
        threshold = DEFAULT_MIN_SIMILARITY
    name, query = spec.name or rule_id, spec.query.strip()
    return Topic(rule_id, name, query, tree, spec.alert, spec.dateline, about, threshold)


def _feed(spec: FeedSpec) -> FeedRef:
    every = parse_duration(spec.every) if spec.every else DEFAULT_POLL_EVERY
    title = spec.title.strip() or None if spec.title else None
    if spec.telegram is not None:
        return FeedRef(TELEGRAM_PREVIEW + spec.telegram, every, title, "telegram")
    if spec.page is not None:
        return FeedRef(spec.page, every, title, "page", spec.links, spec.full_text)
    assert spec.url is not None
    return FeedRef(spec.url, every, title, full_text=spec.full_text)


def _parse_queries(
    data: dict[str, Any], name: str, located: Located, problems: list[Diagnostic]
) -> dict[str, q.Node]:
    """Parse every topic query of the raw data, so that query errors are
    reported together with the schema's."""
    topics, entities = data.get("topics"), data.get("entities")
    entity_ids = set(entities) if isinstance(entities, dict) else set()
    trees: dict[str, q.Node] = {}
    for rule_id, topic in topics.items() if isinstance(topics, dict) else ():
        text = topic.get("query") if isinstance(topic, dict) else None
        if not isinstance(text, str):
            continue
        errors: list[tuple[int, str]] = []
        tree = _check_query(text, entity_ids, errors)
        path: Path_ = ("topics", str(rule_id), "query")
        for offset, message in errors:
            line, col = located.offset_in_scalar(path, offset)
            problems.append(Diagnostic(name, line, col, f"topics.{rule_id}.query: {message}"))
        if tree is not None:
            trees[str(rule_id)] = tree
    return trees


def _check_query(text: str, entity_ids: set[str], errors: list[tuple[int, str]]) -> q.Node | None:
    try:
        tree = parse_query(text)
    except QuerySyntaxError as e:
        errors.append((e.position, e.message))
        return None
    for leaf in q.leaves(tree):
        if isinstance(leaf, q.EntityRef) and leaf.entity not in entity_ids:
            errors.append((leaf.position, f"no entity {leaf.entity!r} in this watchlist"))
    if q.can_match_nothing(tree):
        errors.append((0, "matches items with no hits at all; add a term to look for"))
    return None if errors else tree


def watchlist_files(directory: Path) -> list[Path]:
    """The watchlist files of a directory, in a stable order."""
    if directory.is_file():
        return [directory]
    return sorted(p for p in directory.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


@dataclass(frozen=True)
class LoadResult:
    watchlists: tuple[Watchlist, ...]
    problems: tuple[Diagnostic, ...]


def load_all(paths: list[Path], default_timezone: str = "UTC") -> LoadResult:
    """Load every file; broken files are reported, the good ones returned."""
    loaded: list[Watchlist] = []
    problems: list[Diagnostic] = []
    for path in paths:
        for file in watchlist_files(path):
            try:
                loaded.append(load_file(file, default_timezone))
            except WatchlistError as e:
                problems.extend(e.diagnostics)
            except Exception as e:  # a bug: the file costs itself, never the others
                problems.append(unreadable(file, e))
    return LoadResult(tuple(loaded), tuple(problems))


def unreadable(path: Path, error: Exception) -> Diagnostic:
    """A file that failed to load for a reason that is a bug of ours."""
    return Diagnostic(str(path), 1, 1, f"could not be loaded ({type(error).__name__}): a bug")
