"""The meaning check of ``about:`` topics: keyword matches held against
what the topic is about.

A topic that gives ``about:`` sentences and ``min_similarity`` has its
keyword matches checked: an item whose title and lead come out further from
every ``about`` sentence than the threshold loses the match. And an item
that names one of the watchlist's entities, without the topic's words, gains
the topic when it comes close enough: its match says so in its terms
("about: 0.62 ≥ 0.40") beside the entity's hits.

Only candidates are embedded (items with a keyword match of an about-topic,
or with a match of an entity of its watchlist), in one batch per parsed
body, so a watchlist without ``about:`` costs nothing here. The model does
not know Ukrainian (a Ukrainian report and its English version come out at
about 0.5, unrelated texts up to 0.45): an item read as Ukrainian is left as
its keywords matched it, neither dropped nor added.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from monitor.language import language_of
from monitor.meaning import Encoder, Vectors, similarities, text_for_meaning
from monitor.types import Entry, Hit, Match, NewMatch, Snippet
from monitor.watchlist import Topic

# Languages the model cannot judge: the keywords decide alone.
UNJUDGED = frozenset({"uk"})

AboutTopic = tuple[str, Topic]
"""(watchlist id, a topic of it with ``about:``)."""

SnippetOf = Callable[[Entry, Match], Snippet]
LanguageOf = Callable[[str], str]


@dataclass(frozen=True)
class Checked:
    """One body's matches after the meaning check."""

    matches: tuple[NewMatch, ...]
    candidates: int = 0  # entries embedded
    dropped: int = 0  # keyword matches below their threshold
    added: int = 0  # topic matches by entity and meaning


def similarity_line(similarity: float, threshold: float) -> str:
    """How a similarity is shown against its threshold: "about: 0.62 ≥ 0.40"."""
    sign = "≥" if similarity >= threshold else "<"
    return f"about: {similarity:.2f} {sign} {threshold:.2f}"


def about_note(similarity: float | None, threshold: float, keyword: bool, entity: bool) -> str:
    """What the check does with one topic of one text, as ``monitor test``
    says it; ``similarity`` None: the text is read as Ukrainian, not judged."""
    if similarity is None:
        return "about: not judged (read as Ukrainian: the keywords decide)"
    line = similarity_line(similarity, threshold)
    close = similarity >= threshold
    if keyword:
        return f"{line}: {'kept' if close else 'the keyword match is dropped'}"
    if entity and close:
        return f"{line}: matches by meaning (names an entity of the watchlist)"
    return line


def judged(text: str, language: LanguageOf = language_of) -> bool:
    """Whether the model can judge a text (its language is not Ukrainian)."""
    return language(text) not in UNJUDGED


def check_meaning(
    about: Sequence[AboutTopic],
    entries: Sequence[Entry],
    matches: Sequence[NewMatch],
    encoder: Encoder,
    snippet_of: SnippetOf,
    language: LanguageOf = language_of,
) -> Checked:
    """``matches`` (the keyword matches of ``entries``) with each about-topic's
    below its threshold dropped, and the topic added to entries that name an
    entity of its watchlist and reach it."""
    by_entry: dict[str, list[NewMatch]] = {}
    for new in matches:
        by_entry.setdefault(new.item_key, []).append(new)
    candidates = candidates_of(about, entries, matches)
    to_judge = [e for e in candidates if judged(_text(e), language)]
    if not to_judge:
        return Checked(tuple(matches), len(candidates))
    scores = score(about, [_text(e) for e in to_judge], encoder)
    out: list[NewMatch] = list(matches)
    dropped = added = 0
    for row, entry in enumerate(to_judge):
        for column, (watchlist, topic) in enumerate(about):
            similarity = float(scores[column][row])
            own = by_entry.get(entry.key, [])
            verdict = _verdict(watchlist, topic, own, similarity, entry, snippet_of)
            if verdict is _DROP:
                out = [m for m in out if not _is_topic_match(m, entry.key, watchlist, topic)]
                dropped += 1
            elif isinstance(verdict, NewMatch):
                out.append(verdict)
                added += 1
    return Checked(tuple(out), len(candidates), dropped, added)


def candidates_of(
    about: Sequence[AboutTopic], entries: Sequence[Entry], matches: Sequence[NewMatch]
) -> list[Entry]:
    """The entries the check embeds."""
    keys = {m.item_key for m in matches if _concerns(about, m.match)}
    return [e for e in entries if e.key in keys]


def score(about: Sequence[AboutTopic], texts: Sequence[str], encoder: Encoder) -> list[list[float]]:
    """Per about-topic, per text: the cosine to its closest ``about`` sentence.
    The texts are embedded in one batch, each topic's sentences once per encoder."""
    vectors = encoder.embed(list(texts))
    return [similarities(vectors, about_vectors(encoder, t.about)).tolist() for _, t in about]


_ABOUT_CACHE: weakref.WeakKeyDictionary[Encoder, dict[tuple[str, ...], Vectors]] = (
    weakref.WeakKeyDictionary()
)


def about_vectors(encoder: Encoder, sentences: tuple[str, ...]) -> Vectors:
    """A topic's ``about`` sentences embedded, once per encoder."""
    cache = _ABOUT_CACHE.setdefault(encoder, {})
    if sentences not in cache:
        cache[sentences] = encoder.embed(list(sentences))
    return cache[sentences]


# --- deciding one (entry, topic) --------------------------------------------------

_DROP = object()


def _verdict(
    watchlist: str,
    topic: Topic,
    own: list[NewMatch],
    similarity: float,
    entry: Entry,
    snippet_of: SnippetOf,
) -> object:
    """_DROP, a NewMatch to add, or None (leave as it is)."""
    threshold = topic.min_similarity
    assert threshold is not None  # an about-topic has one (monitor.watchlist)
    if any(_is_topic_match(m, entry.key, watchlist, topic) for m in own):
        return _DROP if similarity < threshold else None
    entity_hits = [
        h for m in own if m.match.kind == "entity" and m.match.watchlist == watchlist
        for h in m.match.hits
    ]  # fmt: skip
    if not entity_hits or similarity < threshold:
        return None
    return _meaning_match(watchlist, topic, entry, entity_hits, similarity, snippet_of)


def _meaning_match(
    watchlist: str,
    topic: Topic,
    entry: Entry,
    entity_hits: list[Hit],
    similarity: float,
    snippet_of: SnippetOf,
) -> NewMatch:
    assert topic.min_similarity is not None
    hits = tuple(dict.fromkeys(entity_hits))
    evidence = Match(watchlist, topic.id, "topic", hits, topic.alert)
    # The similarity goes first among the terms, at no place in the text
    # (a span of nothing where the first entity hit starts).
    first = hits[0]
    shown = similarity_line(similarity, topic.min_similarity)
    line = Hit(shown, first.field, first.start, first.start)
    match = Match(watchlist, topic.id, "topic", (line, *hits), topic.alert)
    return NewMatch(entry.key, match, snippet_of(entry, evidence))


def _concerns(about: Sequence[AboutTopic], match: Match) -> bool:
    """Whether a match makes its entry a candidate of some about-topic."""
    for watchlist, topic in about:
        if match.watchlist != watchlist:
            continue
        if match.kind == "entity" or match.rule == topic.id:
            return True
    return False


def _is_topic_match(new: NewMatch, key: str, watchlist: str, topic: Topic) -> bool:
    match = new.match
    return (
        new.item_key == key
        and match.kind == "topic"
        and match.watchlist == watchlist
        and match.rule == topic.id
    )


def _text(entry: Entry) -> str:
    return text_for_meaning(entry.title, entry.text)
