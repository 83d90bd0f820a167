from __future__ import annotations

import pytest

from monitor import query as q
from monitor.errors import QuerySyntaxError
from monitor.queryparse import parse


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a b", "(a AND b)"),
        ("a OR b c", "(a OR (b AND c))"),
        ("a AND NOT b", "(a AND NOT b)"),
        ("a -b", "(a AND NOT b)"),
        ("a NEAR/3 b OR c", "((a NEAR/3 b) OR c)"),
        ("a NEAR/3 b c", "((a NEAR/3 b) AND c)"),
        ("a NOT NEAR/1 b c", "((a NOT NEAR/1 b) AND c)"),
        ("a AFTER/2 b", "(a AFTER/2 b)"),
        ("a NOT AFTER/0 b NOT AFTER/0 c", "((a NOT AFTER/0 b) NOT AFTER/0 c)"),
        ("a NOT AFTER/0 (b NOT AFTER/0 c)", "(a NOT AFTER/0 (b NOT AFTER/0 c))"),
        ("a NOT NEAR/1 (b OR c) NEAR/4 d", "((a NOT NEAR/1 (b OR c)) NEAR/4 d)"),
        ("a NOT b", "(a AND NOT b)"),
        ('"mutual assistance" treaty*', '("mutual assistance" AND treaty*)'),
        ("@dprk AND (Russia OR Moscow)", "(@dprk AND (Russia OR Moscow))"),
        ("KN-23 OR Hwasong*", "(KN-23 OR Hwasong*)"),
        ("“smart quotes” or and", '("smart quotes" AND or AND and)'),
    ],
)
def test_parse_precedence_and_forms(text: str, tree: str) -> None:
    assert str(parse(text)) == tree


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("a AND", 5, "expected a term"),
        ("(a OR b", 7, "expected ')'"),
        ("a )", 2, "found ')'"),
        ('"open phrase', 0, "unterminated"),
        ("a NEAR/2 NOT b", 2, "NEAR needs terms"),
        ("-a NOT NEAR/2 b", 7, "NEAR needs terms"),
        ("a NOT NEAR b", 6, "NEAR needs a distance"),
        ("a AFTER b", 2, "AFTER needs a distance"),
        ("a AFTER/1 -b", 2, "AFTER needs terms on both sides"),
        ("", 0, "empty query"),
        ("OR b", 0, "found 'OR'"),
    ],
)
def test_syntax_errors_say_where_and_what(text: str, position: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(text)
    assert caught.value.position == position
    assert message in caught.value.message


def occurrences(**words: list[int]) -> q.Lookup:
    def lookup(leaf: q.Leaf) -> list[q.Occurrence]:
        name = leaf.text if isinstance(leaf, q.Term) else leaf.entity
        return [q.Occurrence(w, w) for w in words.get(name, [])]

    return lookup


@pytest.mark.parametrize(
    ("text", "words", "expected"),
    [
        ("a AND b", {"a": [0], "b": [5]}, True),
        ("a AND b", {"a": [0]}, False),
        ("a OR b", {"b": [1]}, True),
        ("a NOT b", {"a": [0], "b": [3]}, False),
        ("a NOT b", {"a": [0]}, True),
        ("a NEAR/2 b", {"a": [0], "b": [3]}, True),  # two words between
        ("a NEAR/2 b", {"a": [0], "b": [4]}, False),
        ("a NEAR/2 b", {"a": [9], "b": [7]}, True),  # either order
        ("(a OR c) NEAR/1 b", {"c": [5], "b": [7]}, True),
    ],
)
def test_evaluate(text: str, words: dict[str, list[int]], expected: bool) -> None:
    assert q.evaluate(parse(text), occurrences(**words)).value is expected


def test_evaluation_keeps_the_truth_of_every_node() -> None:
    result = q.evaluate(parse("a AND (b OR c)"), occurrences(a=[0], c=[2]))
    assert [child.value for child in result.children] == [True, True]
    assert [c.value for c in result.children[1].children] == [False, True]
    assert len(result.occurrences) == 2


def test_pure_negation_is_recognised() -> None:
    assert q.can_match_nothing(parse("NOT a"))
    assert not q.can_match_nothing(parse("a NOT b"))


# --- scope: SENTENCE(…), PARAGRAPH(…), and NEAR within a sentence ---------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("SENTENCE(a b) OR c", "(SENTENCE(a AND b) OR c)"),
        ("SENTENCE (a)", "SENTENCE(a)"),
        (
            "PARAGRAPH(@dprk SENTENCE(x NEAR/3 y)) z",
            "(PARAGRAPH(@dprk AND SENTENCE(x NEAR/3 y)) AND z)",
        ),
        ("a -SENTENCE(b c)", "(a AND NOT SENTENCE(b AND c))"),
        ("sentence (a b)", "(sentence AND (a AND b))"),  # lower case: an ordinary word
    ],
)
def test_parse_scopes(text: str, tree: str) -> None:
    assert str(parse(text)) == tree


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("a SENTENCE b", 2, "SENTENCE needs its terms in parentheses, as in SENTENCE(a AND b)"),
        ("a PARAGRAPH", 2, "PARAGRAPH needs its terms in parentheses"),
        ("x SENTENCE(NOT a)", 2, "SENTENCE(…) needs a term to look for, not only NOT"),
        ("PARAGRAPH(-a -b) x", 0, "PARAGRAPH(…) needs a term to look for"),
        ("SENTENCE(a OR b", 15, "expected ')', found the end of the query"),
        ("SENTENCE()", 9, "expected a term, a quoted phrase, @entity or '(', found ')'"),
        ("SENTENCE(a) NEAR/2 NOT b", 12, "NEAR needs terms on both sides"),
    ],
)
def test_scope_syntax_errors_say_where_and_what(text: str, position: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(text)
    assert (caught.value.position, message in caught.value.message) == (position, True)


def placed(**words: list[tuple[int, int, int]]) -> q.Lookup:
    """Occurrences given as (word, sentence, paragraph)."""

    def lookup(leaf: q.Leaf) -> list[q.Occurrence]:
        name = leaf.text if isinstance(leaf, q.Term) else leaf.entity
        return [q.Occurrence(w, w, None, s, p) for w, s, p in words.get(name, [])]

    return lookup


@pytest.mark.parametrize(
    ("text", "words", "expected"),
    [
        ("SENTENCE(a b)", {"a": [(0, 0, 0)], "b": [(3, 0, 0)]}, True),
        ("SENTENCE(a b)", {"a": [(0, 0, 0)], "b": [(3, 1, 0)]}, False),
        ("SENTENCE(a b)", {"a": [(0, 0, 0), (9, 1, 0)], "b": [(3, 1, 0)]}, True),
        ("SENTENCE(a OR b)", {"b": [(3, 4, 2)]}, True),
        ("SENTENCE(a -b)", {"a": [(0, 0, 0)], "b": [(3, 0, 0)]}, False),
        ("SENTENCE(a -b)", {"a": [(0, 0, 0), (8, 1, 0)], "b": [(3, 0, 0)]}, True),
        ("PARAGRAPH(a b)", {"a": [(0, 0, 0)], "b": [(3, 1, 0)]}, True),
        ("PARAGRAPH(a b)", {"a": [(0, 1, 0)], "b": [(3, 2, 1)]}, False),
        (
            "PARAGRAPH(SENTENCE(a b) c)",
            {"a": [(0, 1, 1)], "b": [(1, 1, 1)], "c": [(5, 2, 1)]},
            True,
        ),
        (
            "PARAGRAPH(SENTENCE(a b) c)",
            {"a": [(0, 1, 1)], "b": [(1, 1, 1)], "c": [(5, 2, 2)]},
            False,
        ),
        ("a NEAR/5 b", {"a": [(0, 0, 0)], "b": [(2, 1, 0)]}, False),  # two words, next sentence
        ("a NOT NEAR/1 b", {"a": [(3, 0, 0)], "b": [(2, 0, 0)]}, False),  # "Russian troops"
        ("a NOT NEAR/1 b", {"a": [(3, 0, 0)], "b": [(4, 0, 0)]}, False),  # b after a: either side
        ("a NOT AFTER/1 b", {"a": [(3, 0, 0)], "b": [(4, 0, 0)]}, True),  # "troops, Ukrainian…"
        ("a NOT AFTER/1 b", {"a": [(3, 0, 0)], "b": [(1, 0, 0)]}, False),
        ("a NOT AFTER/1 b", {"a": [(3, 0, 0)], "b": [(0, 0, 0)]}, True),  # two words between
        ("a AFTER/1 b", {"a": [(3, 0, 0)], "b": [(4, 0, 0)]}, False),
        ("a AFTER/1 b", {"a": [(3, 0, 0)], "b": [(2, 0, 0)]}, True),
        ("a AFTER/1 b", {"a": [(3, 0, 0)], "b": [(2, 1, 0)]}, False),  # another sentence
        # "North Korean and Russian troops": a Russian after "and" does not count.
        (
            "t NOT AFTER/0 (r NOT AFTER/0 and)",
            {"t": [(3, 0, 0)], "r": [(2, 0, 0)], "and": [(1, 0, 0)]},
            True,
        ),
        ("t NOT AFTER/0 (r NOT AFTER/0 and)", {"t": [(3, 0, 0)], "r": [(2, 0, 0)]}, False),
        (
            "PARAGRAPH(c (a OR d) NOT NEAR/0 b)",
            {"a": [(3, 0, 0)], "b": [(2, 0, 0)], "d": [(7, 1, 0)], "c": [(9, 1, 0)]},
            True,
        ),
        (
            "PARAGRAPH(c (a OR d) NOT NEAR/0 b)",
            {"a": [(3, 0, 0)], "b": [(2, 0, 0)], "d": [(7, 1, 1)], "c": [(9, 1, 0)]},
            False,
        ),
        ("a NOT NEAR/1 b", {"a": [(3, 0, 0)], "b": [(0, 0, 0)]}, True),  # two words between
        ("a NOT NEAR/1 b", {"a": [(3, 0, 0)], "b": [(2, 1, 0)]}, True),  # the sentence before
        ("a NOT NEAR/1 b", {"a": [(3, 0, 0), (9, 0, 0)], "b": [(2, 0, 0)]}, True),  # once alone
        ("a NOT NEAR/1 b", {"b": [(2, 0, 0)]}, False),
        ("a NOT NEAR/1 b", {"a": [(3, 0, 0)]}, True),
        (
            "SENTENCE(c (a NOT NEAR/0 b))",
            {"a": [(3, 0, 0), (9, 1, 0)], "b": [(2, 0, 0)], "c": [(0, 0, 0)]},
            False,
        ),
        (
            "SENTENCE(c (a NOT NEAR/0 b))",
            {"a": [(3, 0, 0), (9, 1, 0)], "b": [(2, 0, 0)], "c": [(7, 1, 0)]},
            True,
        ),
        ("a NEAR/5 b", {"a": [(0, 0, 0), (7, 1, 0)], "b": [(9, 1, 0)]}, True),
        ("NOT SENTENCE(a b) c", {"a": [(0, 0, 0)], "b": [(3, 1, 0)], "c": [(5, 1, 0)]}, True),
    ],
)
def test_evaluate_scope(
    text: str, words: dict[str, list[tuple[int, int, int]]], expected: bool
) -> None:
    assert q.evaluate(parse(text), placed(**words)).value is expected


def test_not_near_gives_as_evidence_only_the_occurrences_left_alone() -> None:
    result = q.evaluate(
        parse("troops NOT NEAR/1 Russian"),
        placed(troops=[(3, 0, 0), (9, 0, 0)], Russian=[(2, 0, 0)]),
    )
    assert [o.first_word for o in result.occurrences] == [9]
    assert [child.value for child in result.children] == [True, True]


def test_a_scope_shows_the_sentence_that_held_or_else_the_whole_item() -> None:
    tree = parse("SENTENCE(a b)")
    held = q.evaluate(tree, placed(a=[(0, 0, 0), (5, 1, 0)], b=[(6, 1, 0), (9, 2, 0)]))
    assert held.value
    [inner] = held.children
    assert [o.first_word for o in inner.occurrences] == [5, 6]
    assert [o.first_word for o in held.occurrences] == [5, 6]
    failed = q.evaluate(tree, placed(a=[(0, 0, 0)], b=[(9, 2, 0)]))
    assert not failed.value and failed.occurrences == ()
    [whole] = failed.children
    assert [c.value for c in whole.children] == [True, True]


def test_a_scope_asks_for_each_leaf_once() -> None:
    asked: list[str] = []
    inner = placed(a=[(w, w, 0) for w in range(20)], b=[(w, w, 0) for w in range(20)])

    def lookup(leaf: q.Leaf) -> list[q.Occurrence]:
        asked.append(str(leaf))
        return list(inner(leaf))

    assert q.evaluate(parse("SENTENCE(a b)"), lookup).value
    assert sorted(asked) == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "scoped"),
    [("a b", False), ("a NEAR/2 b", True), ("a -SENTENCE(b)", True), ("PARAGRAPH(a)", True)],
)
def test_is_scoped(text: str, scoped: bool) -> None:
    assert q.is_scoped(parse(text)) is scoped


def test_may_and_must_read_a_scope_as_its_inside() -> None:
    def present(leaf: q.Leaf) -> bool:
        return str(leaf) in {"a", "b"}

    assert q.may_match(parse("SENTENCE(a b)"), present)
    assert not q.may_match(parse("SENTENCE(a c)"), present)
    assert not q.must_match(parse("SENTENCE(a b)"), present)  # depends on where
    assert q.may_match(parse("b -SENTENCE(a b)"), present)
    assert q.can_match_nothing(parse("NOT SENTENCE(a b)"))


def test_not_near_may_match_whenever_its_left_side_occurs() -> None:
    def present(leaf: q.Leaf) -> bool:
        return str(leaf) in {"a", "b"}

    assert q.may_match(parse("a NOT NEAR/1 b"), present)
    assert q.may_match(parse("a NOT NEAR/1 c"), present)
    assert not q.may_match(parse("c NOT NEAR/1 a"), present)
    assert not q.must_match(parse("a NOT NEAR/1 c"), present)  # depends on where
    assert q.is_scoped(parse("a NOT NEAR/1 c"))
