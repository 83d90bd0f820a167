"""Explanations of matches as text and JSON, for `monitor test` (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor import query as q
from monitor.matcher import EntityExplanation, Explanation, Matcher, TopicExplanation
from monitor.meaning import Encoder, text_for_meaning
from monitor.meaningcheck import about_note, judged, score
from monitor.types import Hit


def describe_hit(hit: Hit) -> str:
    return f'"{hit.term}" in {hit.field} at {hit.start}-{hit.end}'


def explanation_lines(explanation: Explanation, about: dict[str, str] | None = None) -> list[str]:
    """``about``: the meaning check's note by topic id (monitor.meaningcheck)."""
    verdict = "HIT " if explanation.matched else "miss"
    if isinstance(explanation, EntityExplanation):
        entity = explanation.entity
        lines = [f"{verdict} {explanation.watchlist}/{entity.id} (entity: {entity.name})"]
        lines += [f"       alias {describe_hit(h)}" for h in explanation.hits]
        lines += [f"       vetoed by exclude {describe_hit(h)}" for h in explanation.vetoed_by]
        lines += [
            f"       ignored alias {describe_hit(h)}: none of its context words occur"
            for h in explanation.out_of_context
        ]
        lines += [
            f"       ignored alias {describe_hit(h)}: an exclude in its sentence"
            f"{' (exclude_scope: item)' if explanation.entity.exclude_scope == 'item' else ''}"
            for h in explanation.vetoed
        ]
        lines += [
            f"       ignored alias {describe_hit(h)}: only in the dateline, the place of filing"
            for h in explanation.in_dateline
        ]
        return lines
    topic = explanation.topic
    lines = [f"{verdict} {explanation.watchlist}/{topic.id} (topic: {topic.name})"]
    if about and topic.id in about:
        lines.append(f"       {about[topic.id]}")
    return lines + _tree_lines(explanation.evaluation, depth=1)


def _tree_lines(evaluation: q.Evaluation, depth: int) -> list[str]:
    node = evaluation.node
    mark = "✓" if evaluation.value else "✗"
    indent = "      " + "  " * depth
    if isinstance(node, q.Term | q.EntityRef):
        where = _where(evaluation)
        return [f"{indent}{mark} {node}" + (f"  [{where}]" if where else "")]
    label = _operator(node)
    if isinstance(node, q.NotNear) and evaluation.value:
        # The left side lists every occurrence; these are the ones that count.
        label += f"  [kept {_where(evaluation)}]"
    lines = [f"{indent}{mark} {label}"]
    for child in evaluation.children:
        lines += _tree_lines(child, depth + 1)
    return lines


def _hits(evaluation: q.Evaluation) -> list[Hit]:
    return [o.payload for o in evaluation.occurrences if isinstance(o.payload, Hit)]


def _where(evaluation: q.Evaluation) -> str:
    return ", ".join(f"{h.field} {h.start}-{h.end}" for h in _hits(evaluation))


def _operator(node: q.Node) -> str:
    if isinstance(node, q.Near | q.NotNear):
        return node.operator
    return type(node).__name__.upper()


def explanation_json(
    explanation: Explanation, about: dict[str, str] | None = None
) -> dict[str, Any]:
    base: dict[str, Any] = {"watchlist": explanation.watchlist, "matched": explanation.matched}
    if isinstance(explanation, EntityExplanation):
        return base | {
            "rule": explanation.entity.id,
            "kind": "entity",
            "hits": [_hit_json(h) for h in explanation.hits],
            "vetoed_by": [_hit_json(h) for h in explanation.vetoed_by],
            "out_of_context": [_hit_json(h) for h in explanation.out_of_context],
            "vetoed": [_hit_json(h) for h in explanation.vetoed],
            "in_dateline": [_hit_json(h) for h in explanation.in_dateline],
        }
    assert isinstance(explanation, TopicExplanation)
    return (
        base
        | {
            "rule": explanation.topic.id,
            "kind": "topic",
            "query": explanation.topic.query,
            "hits": [_hit_json(h) for h in explanation.hits],
            "tree": _tree_json(explanation.evaluation),
        }
        | (
            {"about": about[explanation.topic.id]}
            if about and explanation.topic.id in about
            else {}
        )
    )


def _hit_json(hit: Hit) -> dict[str, Any]:
    return {"term": hit.term, "field": hit.field, "start": hit.start, "end": hit.end}


def _tree_json(evaluation: q.Evaluation) -> dict[str, Any]:
    node = evaluation.node
    hits = [_hit_json(h) for h in _hits(evaluation)]
    if isinstance(node, q.Term | q.EntityRef):
        return {"leaf": str(node), "value": evaluation.value, "hits": hits}
    kept = {"kept": hits} if isinstance(node, q.NotNear) else {}
    return {
        "op": _operator(node),
        "value": evaluation.value,
        "children": [_tree_json(c) for c in evaluation.children],
    } | kept


def about_notes(
    matcher: Matcher,
    explained: Sequence[tuple[tuple[str, str], Sequence[Explanation]]],
    encoder: Encoder,
) -> tuple[dict[str, str], ...]:
    """Per (title, text) and its explanations, per about-topic id: its
    similarity against its threshold and what the meaning check does."""
    texts = [text_for_meaning(title, text) for (title, text), _ in explained]
    scores = score(matcher.about_topics, texts, encoder)
    notes: list[dict[str, str]] = []
    for row, (text, (_, explanations)) in enumerate(zip(texts, explained, strict=True)):
        entity = any(isinstance(e, EntityExplanation) and e.matched for e in explanations)
        keyword = {
            e.topic.id for e in explanations if isinstance(e, TopicExplanation) and e.matched
        }
        notes.append({
            topic.id: about_note(
                scores[column][row] if judged(text) else None,
                topic.min_similarity or 0.0, topic.id in keyword, entity,
            )
            for column, (_, topic) in enumerate(matcher.about_topics)
        })  # fmt: skip
    return tuple(notes)
