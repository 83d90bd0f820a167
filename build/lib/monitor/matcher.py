"""Watchlists compiled into one Aho-Corasick automaton; items matched in one pass.

Every alias, exclude phrase and query term of every watchlist becomes a
pattern in a single automaton over normalised text, so the cost of matching
an item grows with its length and its hits, not with the number of rules.
Each raw occurrence is then checked for word boundaries and, for
case-sensitive aliases, against the original text. Entities hit when an
alias survives and no exclude phrase occurs in the item; topics are their
query tree evaluated over the occurrences. Pure: values in, values out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import ahocorasick

from monitor import query as q
from monitor.text import (
    Normalised,
    case_preserving,
    is_word_char,
    needs_boundary,
    normalise,
    normalise_with_offsets,
    word_index,
    word_starts,
)
from monitor.types import Field, Hit, Match
from monitor.watchlist import Entity, Topic, Watchlist


@dataclass(frozen=True)
class Pattern:
    """One distinct thing to look for, shared by every rule that uses it."""

    key: str  # normalised text fed to the automaton
    prefix: bool  # `word*`: no boundary needed after it
    case_sensitive: bool
    display: str  # as the user wrote it (first writer wins)

    @cached_property
    def exact(self) -> str:
        return case_preserving(self.display.rstrip("*"))

    @cached_property
    def left_boundary(self) -> bool:
        return needs_boundary(self.key[0])

    @cached_property
    def right_boundary(self) -> bool:
        return not self.prefix and needs_boundary(self.key[-1])


@dataclass(frozen=True)
class Occurrence:
    """A pattern found in a document, in normalised document offsets."""

    pattern: int
    start: int
    end: int


class Document:
    """An item's title and text, normalised and joined for one pass of the automaton."""

    def __init__(self, title: str, text: str) -> None:
        self.originals: dict[Field, str] = {"title": title, "text": text}
        self.normal_title = normalise(title)
        # A newline never survives normalisation, so no pattern spans the join.
        self.normal = self.normal_title + "\n" + normalise(text)
        self._offsets: dict[Field, Normalised] = {}

    def field_of(self, start: int) -> tuple[Field, int]:
        """Which field a document offset falls in, and the offset inside it."""
        if start < len(self.normal_title):
            return "title", start
        return "text", start - len(self.normal_title) - 1

    def original_span(self, start: int, end: int) -> tuple[Field, int, int]:
        name, local = self.field_of(start)
        if name not in self._offsets:
            self._offsets[name] = normalise_with_offsets(self.originals[name])
        first, last = self._offsets[name].original_span(local, local + end - start)
        return name, first, last

    def hit(self, occurrence: Occurrence, term: str) -> Hit:
        name, start, end = self.original_span(occurrence.start, occurrence.end)
        return Hit(term, name, start, end)

    @cached_property
    def word_starts(self) -> list[int]:
        return word_starts(self.normal)

    def word_range(self, occurrence: Occurrence) -> tuple[int, int]:
        starts = self.word_starts
        return word_index(starts, occurrence.start), word_index(starts, occurrence.end - 1)


@dataclass(frozen=True)
class _CompiledEntity:
    watchlist: str
    entity: Entity
    aliases: tuple[int, ...]  # pattern ids
    excludes: tuple[int, ...]
    contexts: tuple[tuple[int, ...], ...]  # per alias: patterns one of which must occur


@dataclass(frozen=True)
class _CompiledTopic:
    watchlist: str
    topic: Topic
    terms: dict[q.Term, int]  # leaf -> pattern id
    entities: dict[str, _CompiledEntity]  # @references


@dataclass(frozen=True)
class EntityExplanation:
    watchlist: str
    entity: Entity
    hits: tuple[Hit, ...]
    vetoed_by: tuple[Hit, ...]  # exclude phrases found
    out_of_context: tuple[Hit, ...] = ()  # alias hits dropped: none of their context words

    @property
    def matched(self) -> bool:
        return bool(self.hits) and not self.vetoed_by


@dataclass(frozen=True)
class TopicExplanation:
    watchlist: str
    topic: Topic
    evaluation: q.Evaluation

    @property
    def matched(self) -> bool:
        return self.evaluation.value

    @property
    def hits(self) -> tuple[Hit, ...]:
        return tuple(o.payload for o in self.evaluation.occurrences if isinstance(o.payload, Hit))


Explanation = EntityExplanation | TopicExplanation


@dataclass
class _Found:
    """Occurrences of one document, per pattern, after boundary checks."""

    document: Document
    by_pattern: dict[int, list[Occurrence]] = field(default_factory=dict)


class Matcher:
    """All rules of a set of watchlists, compiled once; reusable for any number of items."""

    def __init__(self, watchlists: Iterable[Watchlist]) -> None:
        self.watchlists = tuple(watchlists)
        self.patterns: list[Pattern] = []
        self._pattern_ids: dict[tuple[str, bool, bool], int] = {}
        self._entities: list[_CompiledEntity] = []
        self._topics: list[_CompiledTopic] = []
        self._rules_by_pattern: dict[int, set[int]] = defaultdict(set)  # -> rule index
        for watchlist in self.watchlists:
            self._compile(watchlist)
        self._automaton = self._build_automaton()

    # --- compiling ---

    def _pattern(self, written: str, case_sensitive: bool = False) -> int:
        prefix = written.endswith("*")
        key = normalise(written.rstrip("*").strip())
        identity = (key, prefix, case_sensitive)
        if identity not in self._pattern_ids:
            self._pattern_ids[identity] = len(self.patterns)
            self.patterns.append(Pattern(key, prefix, case_sensitive, written.strip()))
        return self._pattern_ids[identity]

    def _compile(self, watchlist: Watchlist) -> None:
        entities: dict[str, _CompiledEntity] = {}
        for entity in watchlist.entities:
            aliases = tuple(self._pattern(a.text, a.case_sensitive) for a in entity.aliases)
            excludes = tuple(self._pattern(text) for text in entity.exclude)
            contexts = tuple(
                tuple(self._pattern(word) for word in alias.context) for alias in entity.aliases
            )
            compiled = _CompiledEntity(watchlist.id, entity, aliases, excludes, contexts)
            entities[entity.id] = compiled
            self._index_rule(("entity", len(self._entities)), aliases)
            self._entities.append(compiled)
        for topic in watchlist.topics:
            leaves = q.leaves(topic.tree)
            terms = {
                leaf: self._pattern(leaf.text + ("*" if leaf.prefix else ""))
                for leaf in leaves
                if isinstance(leaf, q.Term)
            }
            refs = {
                leaf.entity: entities[leaf.entity]
                for leaf in leaves
                if isinstance(leaf, q.EntityRef)
            }
            compiled_topic = _CompiledTopic(watchlist.id, topic, terms, refs)
            used = list(terms.values()) + [p for e in refs.values() for p in e.aliases]
            self._index_rule(("topic", len(self._topics)), used)
            self._topics.append(compiled_topic)

    def _index_rule(self, rule: tuple[str, int], patterns: Iterable[int]) -> None:
        # A rule is only evaluated for documents where one of its patterns
        # occurs, so encode (kind, index) in one int: entities even, topics odd.
        code = rule[1] * 2 + (1 if rule[0] == "topic" else 0)
        for pattern in patterns:
            self._rules_by_pattern[pattern].add(code)

    def _build_automaton(self) -> ahocorasick.Automaton:
        automaton = ahocorasick.Automaton()
        by_key: dict[str, list[int]] = defaultdict(list)
        for index, pattern in enumerate(self.patterns):
            by_key[pattern.key].append(index)
        for key, ids in by_key.items():
            automaton.add_word(key, (len(key), tuple(ids)))
        if by_key:
            automaton.make_automaton()
        return automaton

    # --- matching ---

    def _find(self, title: str, text: str) -> _Found:
        document = Document(title, text)
        found = _Found(document)
        if not self.patterns:
            return found
        normal = document.normal
        for end_index, (length, ids) in self._automaton.iter(normal):
            start, end = end_index + 1 - length, end_index + 1
            for pattern_id in ids:
                pattern = self.patterns[pattern_id]
                if self._accepts(pattern, document, start, end):
                    stop = _word_end(normal, end) if pattern.prefix else end
                    found.by_pattern.setdefault(pattern_id, []).append(
                        Occurrence(pattern_id, start, stop)
                    )
        return found

    @staticmethod
    def _accepts(pattern: Pattern, document: Document, start: int, end: int) -> bool:
        normal = document.normal
        if pattern.left_boundary and start > 0 and is_word_char(normal[start - 1]):
            return False
        if pattern.right_boundary and end < len(normal) and is_word_char(normal[end]):
            return False
        if pattern.case_sensitive:
            name, first, last = document.original_span(start, end)
            written = case_preserving(document.originals[name][first:last])
            return written.startswith(pattern.exact) if pattern.prefix else written == pattern.exact
        return True

    def _candidates(self, found: _Found) -> tuple[list[_CompiledEntity], list[_CompiledTopic]]:
        codes = sorted({code for p in found.by_pattern for code in self._rules_by_pattern[p]})
        entities = [self._entities[c // 2] for c in codes if c % 2 == 0]
        topics = [self._topics[c // 2] for c in codes if c % 2 == 1]
        return entities, topics

    def explain(self, title: str, text: str, *, all_rules: bool = False) -> list[Explanation]:
        """Every rule's verdict with its evidence (only rules with any hit, unless all_rules)."""
        found = self._find(title, text)
        entities, topics = self._candidates(found)
        if all_rules:
            entities, topics = self._entities, self._topics
        out: list[Explanation] = [self._explain_entity(found, e) for e in entities]
        out += [self._explain_topic(found, t) for t in topics]
        return out

    def match(self, title: str, text: str) -> list[Match]:
        """The rules that match an item, each with the hits that made it match."""
        found = self._find(title, text)
        entities, topics = self._candidates(found)
        explanations: list[Explanation] = [self._explain_entity(found, e) for e in entities]
        # Most candidate topics fail on which terms occur at all; only the
        # rest pay for a full evaluation with positions and evidence.
        explanations += [self._explain_topic(found, t) for t in topics if self._may_match(found, t)]
        return [_to_match(e) for e in explanations if e.matched]

    def _may_match(self, found: _Found, topic: _CompiledTopic) -> bool:
        def present(leaf: q.Leaf) -> bool:
            if isinstance(leaf, q.Term):
                return topic.terms[leaf] in found.by_pattern
            entity = topic.entities[leaf.entity]
            if any(p in found.by_pattern for p in entity.excludes):
                return False
            return bool(self._aliases_in_context(found, entity)[0])

        return q.may_match(topic.topic.tree, present)

    def _explain_entity(self, found: _Found, entity: _CompiledEntity) -> EntityExplanation:
        in_context, out_of_context = self._aliases_in_context(found, entity)
        hits = self._hits(found, in_context)
        vetoes = self._hits(found, entity.excludes) if hits else ()
        dropped = self._hits(found, out_of_context)
        return EntityExplanation(entity.watchlist, entity.entity, hits, vetoes, dropped)

    @staticmethod
    def _aliases_in_context(found: _Found, entity: _CompiledEntity) -> tuple[list[int], list[int]]:
        """The entity's aliases that occur, split by whether their context is present."""
        present = found.by_pattern
        in_context, out_of_context = [], []
        for alias, context in zip(entity.aliases, entity.contexts, strict=True):
            if alias not in present:
                continue
            if not context or any(word in present for word in context):
                in_context.append(alias)
            else:
                out_of_context.append(alias)
        return in_context, out_of_context

    def _hits(self, found: _Found, pattern_ids: Sequence[int]) -> tuple[Hit, ...]:
        occurrences = sorted(
            (o for p in pattern_ids for o in found.by_pattern.get(p, ())), key=lambda o: o.start
        )
        return tuple(found.document.hit(o, self.patterns[o.pattern].display) for o in occurrences)

    def _explain_topic(self, found: _Found, topic: _CompiledTopic) -> TopicExplanation:
        document = found.document

        def occurrences(pattern_ids: Sequence[int], label: str | None) -> list[q.Occurrence]:
            out = []
            for pattern_id in pattern_ids:
                for o in found.by_pattern.get(pattern_id, ()):
                    first, last = document.word_range(o)
                    term = label or self.patterns[pattern_id].display
                    out.append(q.Occurrence(first, last, document.hit(o, term)))
            return out

        def lookup(leaf: q.Leaf) -> list[q.Occurrence]:
            if isinstance(leaf, q.Term):
                return occurrences([topic.terms[leaf]], str(leaf))
            entity = topic.entities[leaf.entity]
            if self._hits(found, entity.excludes):
                return []
            return occurrences(self._aliases_in_context(found, entity)[0], None)

        return TopicExplanation(topic.watchlist, topic.topic, q.evaluate(topic.topic.tree, lookup))


def _word_end(text: str, index: int) -> int:
    """Where the word running through ``index`` ends: a prefix hit covers its word."""
    while index < len(text) and is_word_char(text[index]):
        index += 1
    return index


def _to_match(explanation: Explanation) -> Match:
    kind: Literal["entity", "topic"]
    if isinstance(explanation, EntityExplanation):
        rule, kind, alert = explanation.entity.id, "entity", explanation.entity.alert
    else:
        rule, kind, alert = explanation.topic.id, "topic", explanation.topic.alert
    hits = tuple(sorted(set(explanation.hits), key=lambda h: (h.field != "title", h.start)))
    return Match(explanation.watchlist, rule, kind, hits, alert)
