from __future__ import annotations

import pytest

from monitor import query as q
from monitor.errors import QuerySyntaxError


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a b", "(a AND b)"),
        ("a OR b c", "(a OR (b AND c))"),
        ("a AND NOT b", "(a AND NOT b)"),
        ("a -b", "(a AND NOT b)"),
        ("a NEAR/3 b OR c", "((a NEAR/3 b) OR c)"),
        ("a NEAR/3 b c", "((a NEAR/3 b) AND c)"),
        ('"mutual assistance" treaty*', '("mutual assistance" AND treaty*)'),
        ("@dprk AND (Russia OR Moscow)", "(@dprk AND (Russia OR Moscow))"),
        ("KN-23 OR Hwasong*", "(KN-23 OR Hwasong*)"),
        ("“smart quotes” or and", '("smart quotes" AND or AND and)'),
    ],
)
def test_parse_precedence_and_forms(text: str, tree: str) -> None:
    assert str(q.parse(text)) == tree


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("a AND", 5, "expected a term"),
        ("(a OR b", 7, "expected ')'"),
        ("a )", 2, "found ')'"),
        ('"open phrase', 0, "unterminated"),
        ("a NEAR/2 NOT b", 2, "NEAR needs terms"),
        ("", 0, "empty query"),
        ("OR b", 0, "found 'OR'"),
    ],
)
def test_syntax_errors_say_where_and_what(text: str, position: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        q.parse(text)
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
    assert q.evaluate(q.parse(text), occurrences(**words)).value is expected


def test_evaluation_keeps_the_truth_of_every_node() -> None:
    result = q.evaluate(q.parse("a AND (b OR c)"), occurrences(a=[0], c=[2]))
    assert [child.value for child in result.children] == [True, True]
    assert [c.value for c in result.children[1].children] == [False, True]
    assert len(result.occurrences) == 2


def test_pure_negation_is_recognised() -> None:
    assert q.can_match_nothing(q.parse("NOT a"))
    assert not q.can_match_nothing(q.parse("a NOT b"))
