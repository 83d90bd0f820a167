"""The topic query language: parse to a tree, evaluate against occurrences.

    query    := or
    or       := and ("OR" and)*
    and      := near (["AND"] near)*          adjacent terms are ANDed
    near     := unary ("NEAR/n" unary)*        within n words, either order
    unary    := ("NOT" | "-") unary | primary
    primary  := term | term* | "phrase" | @entity | "(" or ")"

Precedence is NOT > NEAR > AND > OR. Operators are upper case; lower-case
"and", "or", "not" are ordinary words. Pure: no I/O, no matching. The caller
supplies, for each leaf, where it occurs (``Occurrence`` values), and
``evaluate`` returns the truth of every node, which doubles as the
explanation of a match.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from monitor.errors import QuerySyntaxError


@dataclass(frozen=True)
class Term:
    text: str  # as written, without quotes or the trailing *
    prefix: bool  # `word*`
    phrase: bool  # written in quotes
    position: int  # offset in the query, for messages

    def __str__(self) -> str:
        body = f'"{self.text}"' if self.phrase else self.text
        return body + ("*" if self.prefix else "")


@dataclass(frozen=True)
class EntityRef:
    entity: str
    position: int

    def __str__(self) -> str:
        return f"@{self.entity}"


@dataclass(frozen=True)
class Not:
    child: Node

    def __str__(self) -> str:
        return f"NOT {self.child}"


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]

    def __str__(self) -> str:
        return "(" + " AND ".join(map(str, self.children)) + ")"


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]

    def __str__(self) -> str:
        return "(" + " OR ".join(map(str, self.children)) + ")"


@dataclass(frozen=True)
class Near:
    left: Node
    right: Node
    distance: int  # at most this many words between the two sides

    def __str__(self) -> str:
        return f"({self.left} NEAR/{self.distance} {self.right})"


Leaf = Term | EntityRef
Node = Term | EntityRef | Not | And | Or | Near


@dataclass(frozen=True)
class Token:
    kind: str  # LPAREN RPAREN AND OR NOT MINUS NEAR PHRASE TERM ENTITY END
    text: str
    position: int


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<LPAREN>\()
  | (?P<RPAREN>\))
  | (?P<NEAR>NEAR/(?P<distance>\d+)(?=[\s()"“”]|$))
  | (?P<PHRASE>["“”](?P<phrase>[^"“”]*)["“”]\*?)
  | (?P<ENTITY>@[\w.-]+)
  | (?P<MINUS>-(?=[^\s-]))
  | (?P<WORD>[^\s()"“”]+)
    """,
    re.VERBOSE,
)
_OPERATORS = {"AND", "OR", "NOT"}


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(query):
        found = _TOKEN.match(query, position)
        if found is None:  # an unterminated phrase is the only way here
            raise QuerySyntaxError("unterminated quoted phrase", position)
        kind = found.lastgroup or ""
        text = found.group()
        if kind == "WORD":
            kind = text if text in _OPERATORS else "TERM"
        if kind != "space":
            tokens.append(Token(kind, text, position))
        position = found.end()
    tokens.append(Token("END", "", len(query)))
    return tokens


_STARTS_OPERAND = {"TERM", "PHRASE", "ENTITY", "LPAREN", "NOT", "MINUS"}


# Parentheses and NOTs nest at most this deep: deeper is no one's query, and
# the parser (and every walk of the tree) recurses once a level.
MAX_DEPTH = 32


class _Parser:
    def __init__(self, query: str) -> None:
        self.tokens = tokenize(query)
        self.index = 0
        self.depth = 0

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QuerySyntaxError(
                f"nested deeper than {MAX_DEPTH} levels (parentheses and NOTs)",
                self.current.position,
            )

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.current
        self.index += 1
        return token

    def parse(self) -> Node:
        if self.current.kind == "END":
            raise QuerySyntaxError("empty query: expected a term", 0)
        node = self.parse_or()
        if self.current.kind != "END":
            raise self.expected("an operator or the end of the query")
        return node

    def expected(self, what: str) -> QuerySyntaxError:
        token = self.current
        found = "the end of the query" if token.kind == "END" else repr(token.text)
        return QuerySyntaxError(f"expected {what}, found {found}", token.position)

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.current.kind == "OR":
            self.advance()
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self) -> Node:
        children = [self.parse_near()]
        while self.current.kind == "AND" or self.current.kind in _STARTS_OPERAND:
            if self.current.kind == "AND":
                self.advance()
            children.append(self.parse_near())
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_near(self) -> Node:
        node = self.parse_unary()
        while self.current.kind == "NEAR":
            token = self.advance()
            distance = int(token.text.split("/", 1)[1])
            right = self.parse_unary()
            for side in (node, right):
                if isinstance(side, Not):
                    raise QuerySyntaxError(
                        "NEAR needs terms on both sides, not NOT", token.position
                    )
            node = Near(node, right, distance)
        return node

    def parse_unary(self) -> Node:
        if self.current.kind in ("NOT", "MINUS"):
            self.advance()
            self.deeper()
            node = Not(self.parse_unary())
            self.depth -= 1
            return node
        return self.parse_primary()

    def parse_primary(self) -> Node:
        token = self.current
        if token.kind == "LPAREN":
            self.advance()
            self.deeper()
            node = self.parse_or()
            if self.current.kind != "RPAREN":
                raise self.expected("')'")
            self.advance()
            self.depth -= 1
            return node
        if token.kind in ("TERM", "PHRASE", "ENTITY"):
            self.advance()
            return _leaf(token)
        raise self.expected("a term, a quoted phrase, @entity or '('")


def _leaf(token: Token) -> Leaf:
    if token.kind == "ENTITY":
        return EntityRef(token.text[1:], token.position)
    if token.kind == "TERM" and token.text.upper().startswith("NEAR/"):
        raise QuerySyntaxError("NEAR needs a distance in words, as in NEAR/5", token.position)
    if token.kind == "TERM" and token.text == "@":
        raise QuerySyntaxError("@ needs an entity id, as in @dprk", token.position)
    prefix = token.text.endswith("*")
    text = token.text.rstrip("*")
    if token.kind == "PHRASE":
        text = text[1:-1].strip()
    if not text.strip("*"):
        raise QuerySyntaxError("a wildcard needs letters before the *", token.position)
    if not any(char.isalnum() for char in text):
        what = "phrase" if token.kind == "PHRASE" else "term"
        raise QuerySyntaxError(
            f"the {what} {token.text!r} has no letter or digit: it can never match",
            token.position,
        )
    return Term(text, prefix, token.kind == "PHRASE", token.position)


def parse(query: str) -> Node:
    """Parse a topic query; raises QuerySyntaxError with the offending offset."""
    return _Parser(query).parse()


def leaves(node: Node) -> list[Leaf]:
    """Every term and entity reference in the tree, left to right."""
    if isinstance(node, Term | EntityRef):
        return [node]
    if isinstance(node, Not):
        return leaves(node.child)
    if isinstance(node, Near):
        return leaves(node.left) + leaves(node.right)
    return [leaf for child in node.children for leaf in leaves(child)]


@dataclass(frozen=True)
class Occurrence:
    """Where a leaf occurs: a word range (for NEAR) and an opaque payload."""

    first_word: int
    last_word: int  # inclusive
    payload: object = None


@dataclass(frozen=True)
class Evaluation:
    """The truth of one node of the tree, with the evidence and its children."""

    node: Node
    value: bool
    occurrences: tuple[Occurrence, ...]  # the evidence that made it true
    children: tuple[Evaluation, ...] = ()


Lookup = Callable[[Leaf], Sequence[Occurrence]]


def evaluate(node: Node, lookup: Lookup) -> Evaluation:
    """Evaluate ``node`` given where each leaf occurs."""
    if isinstance(node, Term | EntityRef):
        found = tuple(lookup(node))
        return Evaluation(node, bool(found), found)
    if isinstance(node, Not):
        inner = evaluate(node.child, lookup)
        return Evaluation(node, not inner.value, (), (inner,))
    if isinstance(node, Near):
        return _evaluate_near(node, lookup)
    children = tuple(evaluate(child, lookup) for child in node.children)
    combine = all if isinstance(node, And) else any
    value = combine(child.value for child in children)
    evidence = tuple(o for c in children if c.value for o in c.occurrences) if value else ()
    return Evaluation(node, value, evidence, children)


def _evaluate_near(node: Near, lookup: Lookup) -> Evaluation:
    left, right = evaluate(node.left, lookup), evaluate(node.right, lookup)
    pairs = [
        (a, b)
        for a in left.occurrences
        for b in right.occurrences
        if words_between(a, b) <= node.distance
    ]
    evidence = tuple(dict.fromkeys(o for pair in pairs for o in pair))
    return Evaluation(node, bool(pairs), evidence, (left, right))


def may_match(node: Node, present: Callable[[Leaf], bool]) -> bool:
    """False only when ``node`` cannot match, knowing just which leaves occur
    (not where): a cheap test that spares most items a full evaluation.
    NEAR is read as AND, which it implies."""
    if isinstance(node, Term | EntityRef):
        return present(node)
    if isinstance(node, Not):
        return not must_match(node.child, present)
    if isinstance(node, Near):
        return may_match(node.left, present) and may_match(node.right, present)
    combine = all if isinstance(node, And) else any
    return combine(may_match(child, present) for child in node.children)


def must_match(node: Node, present: Callable[[Leaf], bool]) -> bool:
    """True only when ``node`` matches whatever the positions: the dual of may_match."""
    if isinstance(node, Term | EntityRef):
        return present(node)
    if isinstance(node, Not):
        return not may_match(node.child, present)
    if isinstance(node, Near):
        return False  # depends on positions
    combine = all if isinstance(node, And) else any
    return combine(must_match(child, present) for child in node.children)


def words_between(a: Occurrence, b: Occurrence) -> int:
    """How many words lie strictly between two occurrences (0 when they overlap)."""
    if a.last_word < b.first_word:
        return b.first_word - a.last_word - 1
    if b.last_word < a.first_word:
        return a.first_word - b.last_word - 1
    return 0


def can_match_nothing(node: Node) -> bool:
    """True when the query is satisfied by an item with no hits at all (pure negation)."""
    return evaluate(node, lambda leaf: ()).value
