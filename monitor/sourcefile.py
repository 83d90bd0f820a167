"""Sources added to a watchlist file: ``monitor add`` and ``monitor opml``.

An analyst's file is edited the way they would edit it: the new entries are
appended to its ``feeds:`` list, written by ruamel.yaml in the list's own
indentation (its quoting makes any title or selector safe YAML), and every
other byte of the file stays as it was: comments, blank lines, key order,
anchors, flow style, line endings. (A full ruamel round trip re-indents
every other list of a file that mixes indentations, and respaces flow
lists: a diff of lines nobody touched.) The edited text must load with
``parse_watchlist`` and hold exactly the old sources plus the new ones
before it replaces the file, atomically; else nothing is written.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from monitor.discover import Discovery, NewSource, choose, discover, source_key, telegram_source
from monitor.errors import MonitorError, WatchlistError
from monitor.watchlist import (
    TELEGRAM_PREVIEW,
    FeedRef,
    Watchlist,
    load_all,
    load_file,
    parse_watchlist,
    read_source,
)
from monitor.yamlsource import YamlRefused, compose

if TYPE_CHECKING:
    from monitor.config import Settings


def watchlist_path(config: Settings, name: str) -> Path:
    """A watchlist file by id (in MONITOR_WATCHLISTS) or by path."""
    path = Path(name)
    if not path.suffix:
        path = config.watchlists / f"{name}.yaml"
        if not path.exists() and path.with_suffix(".yml").exists():
            path = path.with_suffix(".yml")
    if not path.is_file():
        raise MonitorError(f"no watchlist {name!r} (looked for {path})")
    return path


def ref_key(ref: FeedRef) -> str:
    return source_key(ref.kind, ref.channel or ref.url)


def describe_ref(ref: FeedRef) -> str:
    first = {"feed": "url", "telegram": "telegram", "page": "page"}[ref.kind]
    return f"{first}: {ref.channel or ref.url}"


# --- monitor add ------------------------------------------------------------------------


@dataclass(frozen=True)
class AddPlan:
    """What ``monitor add`` found: the source to add, or the entry that has it already."""

    source: NewSource | None
    present: FeedRef | None
    notes: tuple[str, ...]  # what was found, said before asking


def plan_add(
    config: Settings, path: Path, given: str, links: str | None, pick: int | None
) -> AddPlan:
    """The source behind ``given`` (a URL, a t.me link, @channel), fetched
    unless it is a channel; the file is checked first, so a broken file is
    said before anything is fetched."""
    current = load_file(path, config.timezone)
    source = telegram_source(given)
    notes: tuple[str, ...] = ()
    if source is not None and (links is not None or pick is not None):
        raise MonitorError("--links and --pick are for web pages, not Telegram channels")
    if source is None:
        url = given.strip() if "://" in given else f"https://{given.strip()}"
        if (ref := _present(current, NewSource("feed", url))) is not None:
            return AddPlan(None, ref, ())
        discovery = look_up(config, url, links)
        if links is not None and discovery.kind == "feed":
            raise MonitorError(f"{discovery.url} is a feed: --links is for web pages")
        notes = tuple(discovery_lines(discovery))
        source = choose(discovery, pick)
    return AddPlan(source, _present(current, source), notes)


def _present(watchlist: Watchlist, source: NewSource) -> FeedRef | None:
    return next((ref for ref in watchlist.feeds if ref_key(ref) == source.key), None)


def look_up(config: Settings, url: str, links: str | None) -> Discovery:
    """What ``url`` is, fetched by the project's own fetcher (its guard,
    limits and user agent). A source found at a URL that moved for good is
    written with its new URL."""
    from monitor.commands import fetch_one

    outcome = fetch_one(config, url)
    found = discover(outcome.body, outcome.content_type, outcome.final_url, links)
    return found if found.kind == "alternates" else replace(found, url=outcome.moved_to or url)


def discovery_lines(found: Discovery) -> Iterator[str]:
    if found.kind == "alternates":
        yield f"{found.url} lists {len(found.feeds)} feeds:"
        for n, feed in enumerate(found.feeds, 1):
            yield f"  {n}. {feed.title or '(no title)'}  {feed.url}"
        if len(found.feeds) > 1:
            yield "the first is taken; --pick N takes another"
    elif found.kind == "page" and found.links is not None:
        such_as = ", ".join(f"{s[:60]!r}" for s in found.samples)
        picks = f"{found.links!r} picks {found.link_count} links, such as {such_as}"
        if found.suggested:
            yield f"{found.url} lists no feed; as a page, its article links: {picks}"
            yield "that selector is a suggestion: check it, or give your own with --links"
        else:
            yield f"{found.url}: {picks}"


# --- adding to the file -------------------------------------------------------------------


@dataclass(frozen=True)
class Added:
    added: tuple[NewSource, ...]
    present: tuple[NewSource, ...]  # in the file already (or twice in what was given)


def add_sources(path: Path, sources: Sequence[NewSource], timezone: str) -> Added:
    """Append the sources that are not in the file yet; the file is
    replaced only by a text that loads and holds them all."""
    text = read_source(path)
    current = parse_watchlist(text, str(path), path.stem, timezone)
    known = {ref_key(ref) for ref in current.feeds}
    new: list[NewSource] = []
    present: list[NewSource] = []
    for source in sources:
        (present if source.key in known else new).append(source)
        known.add(source.key)
    if new:
        edited = with_sources(text, new)
        _check(edited, current, new, path, timezone)
        write_atomically(path, edited, crlf=b"\r\n" in path.read_bytes())
    return Added(tuple(new), tuple(present))


def _check(
    edited: str, current: Watchlist, new: list[NewSource], path: Path, timezone: str
) -> None:
    try:
        after = parse_watchlist(edited, str(path), path.stem, timezone)
    except WatchlistError as e:
        problem = e.diagnostics[0].message if e.diagnostics else e.message
        message = f"adding to {path} would make it invalid ({problem}): nothing written"
        raise MonitorError(message) from None
    kept, added = after.feeds[: len(current.feeds)], after.feeds[len(current.feeds) :]
    wanted = [(s.kind, _url(s), s.title or None, s.links) for s in new]
    if kept != current.feeds or [(r.kind, r.url, r.title, r.links) for r in added] != wanted:
        raise MonitorError(f"could not add to {path} safely, nothing written: add it by hand")


def _url(source: NewSource) -> str:
    return TELEGRAM_PREVIEW + source.target if source.kind == "telegram" else source.target


def write_atomically(path: Path, text: str, crlf: bool = False) -> None:
    """``text`` replaces the file at once (a temporary file beside it, then
    os.replace), with the file's permissions; a link is followed, not replaced."""
    target = path.resolve()
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\r\n" if crlf else "\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if target.exists():
            os.chmod(temporary, stat.S_IMODE(target.stat().st_mode))
        os.replace(temporary, target)
    except OSError as e:
        Path(temporary).unlink(missing_ok=True)
        raise MonitorError(f"cannot write {path}: {e.strerror or e}") from e


# --- the edit, as text ------------------------------------------------------------------


def with_sources(text: str, sources: Sequence[NewSource]) -> str:
    """``text`` with the sources appended to its ``feeds:`` list (made when
    there is none), every other byte kept."""
    try:
        root = compose(text)
    except YamlRefused as e:
        raise MonitorError(f"the file does not read as YAML: {e.problem.message}") from e
    if not isinstance(root, yaml.MappingNode) or root.flow_style:
        raise MonitorError("the file is no block mapping (key: value lines): add it by hand")
    text = text if text.endswith("\n") or not text else text + "\n"
    pair = next(((k, v) for k, v in root.value if k.value == "feeds"), None)
    entries = [s.entry() for s in sources]
    if pair is None:
        column = root.start_mark.column
        return text + " " * column + "feeds:\n" + _block(entries, column + 2, 2)
    key, feeds = pair
    if feeds.start_mark.index < key.end_mark.index:
        raise MonitorError("feeds: is an alias of a list written elsewhere: add it there by hand")
    if not isinstance(feeds, yaml.SequenceNode):
        raise MonitorError("feeds: is not a list")
    if not feeds.value:
        return _into_empty(text, key.start_mark.column, feeds, entries)
    if feeds.flow_style:
        return _insert(text, _end(feeds.value[-1]).index, ", " + _flow(entries))
    return _into_block(text, feeds, entries)


def _into_block(text: str, feeds: yaml.SequenceNode, entries: list[dict[str, str]]) -> str:
    dash = feeds.start_mark.column
    first = feeds.value[0].start_mark
    offset = first.column - dash if first.line == feeds.start_mark.line else 2
    end = _end(feeds.value[-1])
    # After the line the last entry ends on (its comment included); a block
    # scalar ends at the start of the line after it.
    line = end.line if end.column == 0 and end.index > 0 else end.line + 1
    return _insert(text, _line_start(text, line), _block(entries, dash, max(offset, 2)))


def _into_empty(
    text: str, column: int, feeds: yaml.SequenceNode, entries: list[dict[str, str]]
) -> str:
    """``feeds: []`` becomes a block list on the lines after it (a ``[]``
    alone on its line gives that line to the list)."""
    before, after = text[: feeds.start_mark.index], text[feeds.end_mark.index :]
    line = feeds.start_mark.line + 1
    if after.startswith("\n"):
        before = before.rstrip(" \t")
        if before.endswith("\n"):
            after, line = after[1:], line - 1
    text = before + after
    return _insert(text, _line_start(text, line), _block(entries, column + 2, 2))


def _end(node: yaml.Node) -> Any:
    """Where a node's own text ends (a block collection's end mark lies past
    the blank lines and comments after it); an alias is written where its
    key is."""
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        key, value = node.value[-1]
        return max(key.end_mark, _end(value), key=lambda mark: mark.index)
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return _end(node.value[-1])
    return node.end_mark


def _line_start(text: str, line: int) -> int:
    at = 0
    for _ in range(line):
        found = text.find("\n", at)
        if found < 0:
            return len(text)
        at = found + 1
    return at


def _insert(text: str, at: int, piece: str) -> str:
    return text[:at] + piece + text[at:]


def _block(entries: list[dict[str, str]], dash: int, offset: int) -> str:
    """The entries as block list items, the dash at column ``dash``, the
    content ``offset`` after it."""
    writer = _writer()
    writer.indent(mapping=2, sequence=offset, offset=0)
    out = io.StringIO()
    writer.dump([CommentedMap(e) for e in entries], out)
    return "".join(" " * dash + line for line in out.getvalue().splitlines(keepends=True))


def _flow(entries: list[dict[str, str]]) -> str:
    """The entries as flow mappings ({url: ...}), comma-separated."""
    writer = _writer()
    writer.default_flow_style = True
    pieces = []
    for entry in entries:
        out = io.StringIO()
        writer.dump(CommentedMap(entry), out)
        pieces.append(out.getvalue().strip())
    return ", ".join(pieces)


def _writer() -> YAML:
    writer = YAML(typ="rt")
    writer.width = 1_000_000  # never folded: a URL or a title stays on its line
    return writer


# --- monitor opml -------------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    added: tuple[NewSource, ...]
    present: tuple[NewSource, ...]
    skipped: tuple[tuple[str, str], ...]  # (what, why)

    def lines(self, path: Path) -> Iterator[str]:
        yield from (f"skipped {what}: {why}" for what, why in self.skipped)
        yield (
            f"{path}: {len(self.added)} added, {len(self.present)} already there, "
            f"{len(self.skipped)} skipped"
        )


def import_opml(config: Settings, opml_file: Path, path: Path) -> Imported:
    from monitor.opml import read_opml

    try:
        data = opml_file.read_bytes()
    except OSError as e:
        raise MonitorError(f"cannot read {opml_file}: {e.strerror or e}") from e
    found = read_opml(data)
    result = add_sources(path, found.sources, config.timezone)
    skipped = tuple((s.what, s.reason) for s in found.skipped)
    return Imported(result.added, result.present, skipped)


def export_opml(config: Settings, names: Sequence[str]) -> tuple[str, int, int]:
    """OPML of the named watchlists' sources (all when none are named):
    (the text, how many watchlists, how many sources). Every file must load:
    an export that silently left one out would look complete."""
    from monitor.opml import write_opml

    if names:
        watchlists = [load_file(watchlist_path(config, n), config.timezone) for n in names]
    else:
        if not config.watchlists.is_dir():
            raise MonitorError(f"no watchlist directory {config.watchlists}")
        result = load_all([config.watchlists], config.timezone)
        if result.problems:
            raise WatchlistError(list(result.problems))
        watchlists = list(result.watchlists)
    if not watchlists:
        raise MonitorError(f"no watchlist files (*.yaml) in {config.watchlists}")
    sources = sum(len(w.feeds) for w in watchlists)
    return write_opml(watchlists), len(watchlists), sources
