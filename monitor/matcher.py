"""Watchlists compiled into one Aho-Corasick automaton; items matched in one pass.

Every alias, exclude phrase and query term of every watchlist becomes a
pattern in a single automaton over normalised text, so the cost of matching
an item grows with its length and its hits, not with the number of rules.
Each raw occurrence is then checked for word boundaries and, for
case-sensitive aliases, against the original text. An entity hits when one
of its alias mentions counts: its context words occur in the item, no exclude
phrase stands in its sentence (or anywhere, with ``exclude_scope: item``),
and it is not inside the text's leading dateline (unless ``dateline:
count``). Topics are their query tree evaluated over the occurrences, with
the sentence and paragraph of each for SENTENCE(…), PARAGRAPH(…) and NEAR/n,
and without the dateline's unless the topic says ``dateline: count``.

Sentences and the dateline cost something, so they are found only for the
items a rule needs them for: a scoped query that may match, an exclude next
to an alias, a mention near the start of the text. Pure: values in, values out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import ahocorasick

from monitor import query as q
from monitor.document import Document, Occurrence, veto
from monitor.text import (
    case_preserving,
    is_hangul,
    is_word_char,
    joins_word,
    needs_boundary,
    normalise,
)
from monitor.types import Hit, Match
from monitor.watchlist import Entity, Topic, Watchlist


@dataclass(frozen=True)
class Pattern:
    """One distinct thing to look for, shared by every rule that uses it."""

    key: str  # normalised text fed to the automaton
    prefix: bool  # `word*`: no boundary needed after it
    case_sensitive: bool
    word_start: bool  # Hangul: no Hangul directly before it
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
class _CompiledEntity:
    index: int  # in Matcher._entities
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
    scoped: bool  # the query needs sentences and paragraphs (SENTENCE, PARAGRAPH, NEAR)


@dataclass(frozen=True)
class EntityExplanation:
    watchlist: str
    entity: Entity
    hits: tuple[Hit, ...]  # the alias mentions that count
    vetoed_by: tuple[Hit, ...]  # exclude phrases that vetoed a mention
    out_of_context: tuple[Hit, ...] = ()  # alias hits dropped: none of their context words
    vetoed: tuple[Hit, ...] = ()  # alias hits dropped: an exclude in their sentence (or item)
    in_dateline: tuple[Hit, ...] = ()  # alias hits dropped: only the place of filing

    @property
    def matched(self) -> bool:
        return bool(self.hits)


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


@dataclass(frozen=True)
class _Mentions:
    """An entity's alias occurrences in one document, sorted by whether they count."""

    counted: list[Occurrence]
    vetoed: list[Occurrence]  # an exclude phrase in their sentence (or the item)
    vetoes: list[Occurrence]  # the exclude occurrences that vetoed them
    in_dateline: list[Occurrence]
    out_of_context: list[int]  # alias pattern ids whose context words are absent


@dataclass
class _Found:
    """Occurrences of one document, per pattern, after boundary checks."""

    document: Document
    by_pattern: dict[int, list[Occurrence]] = field(default_factory=dict)
    # (entity index, whether the dateline counts) -> the entity's mentions
    mentions: dict[tuple[int, bool], _Mentions] = field(default_factory=dict)


class Matcher:
    """All rules of a set of watchlists, compiled once; reusable for any number of items."""

    def __init__(self, watchlists: Iterable[Watchlist]) -> None:
        self.watchlists = tuple(watchlists)
        self.patterns: list[Pattern] = []
        self._pattern_ids: dict[tuple[str, bool, bool, bool], int] = {}
        self._entities: list[_CompiledEntity] = []
        self._topics: list[_CompiledTopic] = []
        self._rules_by_pattern: dict[int, set[int]] = defaultdict(set)  # -> rule index
        for watchlist in self.watchlists:
            self._compile(watchlist)
        self._automaton = self._build_automaton()
        # The topics with a meaning check (monitor.meaningcheck), by watchlist
        # id: empty for keyword-only watchlists, which then load no model.
        self.about_topics: tuple[tuple[str, Topic], ...] = tuple(
            (w.id, t) for w in self.watchlists for t in w.topics if t.about
        )

    # --- compiling ---

    def _pattern(self, written: str, case_sensitive: bool = False, word_start: bool = False) -> int:
        prefix = written.endswith("*")
        key = normalise(written.rstrip("*").strip())
        identity = (key, prefix, case_sensitive, word_start)
        if identity not in self._pattern_ids:
            self._pattern_ids[identity] = len(self.patterns)
            self.patterns.append(Pattern(key, prefix, case_sensitive, word_start, written.strip()))
        return self._pattern_ids[identity]

    def _compile(self, watchlist: Watchlist) -> None:
        entities: dict[str, _CompiledEntity] = {}
        for entity in watchlist.entities:
            aliases = tuple(
                self._pattern(a.text, a.case_sensitive, a.word_start) for a in entity.aliases
            )
            excludes = tuple(self._pattern(text) for text in entity.exclude)
            contexts = tuple(
                tuple(self._pattern(word) for word in alias.context) for alias in entity.aliases
            )
            index = len(self._entities)
            compiled = _CompiledEntity(index, watchlist.id, entity, aliases, excludes, contexts)
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
            scoped = q.is_scoped(topic.tree)
            compiled_topic = _CompiledTopic(watchlist.id, topic, terms, refs, scoped)
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
        before = normal[start - 1] if start > 0 else " "
        if pattern.word_start and is_hangul(before):
            return False
        if pattern.left_boundary and joins_word(before):
            return False
        if pattern.right_boundary and end < len(normal) and joins_word(normal[end]):
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
        count_dateline = topic.topic.dateline == "count"

        def present(leaf: q.Leaf) -> bool:
            if isinstance(leaf, q.Term):
                occurrences = found.by_pattern.get(topic.terms[leaf])
                if not occurrences:
                    return False
                # One pattern's occurrences come in order, and the dateline is
                # one span after the title: some are outside it unless the
                # first and the last both are inside.
                in_dateline = found.document.in_dateline
                return (
                    count_dateline
                    or not in_dateline(occurrences[0].start)
                    or not in_dateline(occurrences[-1].start)
                )
            entity = topic.entities[leaf.entity]
            return bool(self._mentions(found, entity, count_dateline).counted)

        return q.may_match(topic.topic.tree, present)

    @staticmethod
    def _term_occurrences(found: _Found, topic: _CompiledTopic, leaf: q.Term) -> list[Occurrence]:
        occurrences = found.by_pattern.get(topic.terms[leaf], [])
        if topic.topic.dateline == "count" or not occurrences:
            return occurrences
        # The title's come first, the dateline's may follow: look at each
        # (cheap: only the first characters of the text can be a dateline).
        in_dateline = found.document.in_dateline
        return [o for o in occurrences if not in_dateline(o.start)]

    def _explain_entity(self, found: _Found, entity: _CompiledEntity) -> EntityExplanation:
        mentions = self._mentions(found, entity, entity.entity.dateline == "count")
        return EntityExplanation(
            entity.watchlist,
            entity.entity,
            hits=self._hits_of(found, mentions.counted),
            vetoed_by=self._hits_of(found, mentions.vetoes),
            out_of_context=self._hits(found, mentions.out_of_context),
            vetoed=self._hits_of(found, mentions.vetoed),
            in_dateline=self._hits_of(found, mentions.in_dateline),
        )

    def _mentions(self, found: _Found, entity: _CompiledEntity, count_dateline: bool) -> _Mentions:
        """Which of the entity's alias mentions count (cached per document)."""
        key = (entity.index, count_dateline)
        if key not in found.mentions:
            found.mentions[key] = self._sort_mentions(found, entity, count_dateline)
        return found.mentions[key]

    def _sort_mentions(
        self, found: _Found, entity: _CompiledEntity, count_dateline: bool
    ) -> _Mentions:
        document = found.document
        in_context, out_of_context = self._aliases_in_context(found, entity)
        mentions = _in_order([found.by_pattern[p] for p in in_context])
        in_dateline: list[Occurrence] = []
        if not count_dateline and mentions:
            # The title comes first: the dateline's mentions may follow its.
            outside: list[Occurrence] = []
            for o in mentions:
                (in_dateline if document.in_dateline(o.start) else outside).append(o)
            mentions = outside
        present = found.by_pattern
        excludes = _in_order([present[p] for p in entity.excludes if p in present])
        kept = veto(document, mentions, excludes, entity.entity.exclude_scope)
        return _Mentions(kept.counted, kept.vetoed, kept.vetoes, in_dateline, out_of_context)

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
        return self._hits_of(found, occurrences)

    def _hits_of(self, found: _Found, occurrences: Iterable[Occurrence]) -> tuple[Hit, ...]:
        return tuple(found.document.hit(o, self.patterns[o.pattern].display) for o in occurrences)

    def _explain_topic(self, found: _Found, topic: _CompiledTopic) -> TopicExplanation:
        document = found.document
        count_dateline = topic.topic.dateline == "count"

        def placed(found_here: Iterable[Occurrence], label: str | None) -> list[q.Occurrence]:
            out = []
            for o in found_here:
                first, last = document.word_range(o)
                sentence, paragraph = document.scope_of(o.start) if topic.scoped else (0, 0)
                hit = document.hit(o, label or self.patterns[o.pattern].display)
                out.append(q.Occurrence(first, last, hit, sentence, paragraph))
            return out

        def lookup(leaf: q.Leaf) -> list[q.Occurrence]:
            if isinstance(leaf, q.Term):
                return placed(self._term_occurrences(found, topic, leaf), str(leaf))
            entity = topic.entities[leaf.entity]
            return placed(self._mentions(found, entity, count_dateline).counted, None)

        return TopicExplanation(topic.watchlist, topic.topic, q.evaluate(topic.topic.tree, lookup))


def _in_order(lists: list[list[Occurrence]]) -> list[Occurrence]:
    """Occurrences of several patterns by start (each pattern's come in order)."""
    if len(lists) == 1:
        return list(lists[0])
    return sorted((o for found in lists for o in found), key=lambda o: o.start)


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
