"""The topic query language: parse to a tree, evaluate against occurrences.

    query    := or
    or       := and ("OR" and)*
    and      := near (["AND"] near)*          adjacent terms are ANDed
    near     := unary (["NOT"] ("NEAR/n" | "AFTER/n") unary)*
                                             within n words: either order, or after
    unary    := ("NOT" | "-") unary | primary
    primary  := term | term* | "phrase" | @entity | "(" or ")"
              | "SENTENCE(" or ")" | "PARAGRAPH(" or ")"

Precedence is NOT > NEAR > AND > OR. Operators are upper case; lower-case
"and", "or", "not", "near", "sentence" are ordinary words. Pure: no I/O, no
matching. The caller supplies, for each leaf, where it occurs
(``Occurrence`` values: words, sentence, paragraph), and ``evaluate``
returns the truth of every node, which doubles as the explanation of a match.

Scope: ``SENTENCE(q)`` holds when ``q`` holds within one sentence (NOT
inside included: ``SENTENCE(missile* -test)`` is a sentence with a missile
and no test), ``PARAGRAPH(q)`` within one paragraph; ``a NEAR/n b`` needs
both sides in one sentence; ``a AFTER/n b`` needs ``a`` to follow ``b``.
``a NOT NEAR/n b`` holds where ``a`` occurs with no ``b`` within n words of
it in its sentence, ``a NOT AFTER/n b`` where no ``b`` comes just before it
(its evidence is those occurrences of ``a``): "troops" that are not "Russian
troops", where a NOT would veto the whole sentence. The caller decides what
a sentence is (the matcher: the title is one, and the text's are
``monitor.sentences``').
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
class _Proximity:
    left: Node
    right: Node
    distance: int  # at most this many words between the two sides
    after: bool = False  # AFTER/n: the left side follows the right

    _PREFIX = ""  # a class constant, not a field: it has no annotation

    @property
    def operator(self) -> str:
        return f"{self._PREFIX}{'AFTER' if self.after else 'NEAR'}/{self.distance}"

    def __str__(self) -> str:
        return f"({self.left} {self.operator} {self.right})"


class Near(_Proximity):
    """Both sides, within ``distance`` words of each other in one sentence."""


class NotNear(_Proximity):
    """The occurrences of ``left`` with no ``right`` within ``distance`` words
    of them (before them, with ``after``) in their sentence."""

    _PREFIX = "NOT "


@dataclass(frozen=True)
class Sentence:
    """The child holds within one sentence."""

    child: Node
    position: int

    def __str__(self) -> str:
        return "SENTENCE" + _grouped(self.child)


@dataclass(frozen=True)
class Paragraph:
    """The child holds within one paragraph."""

    child: Node
    position: int

    def __str__(self) -> str:
        return "PARAGRAPH" + _grouped(self.child)


def _grouped(node: Node) -> str:
    text = str(node)
    return text if isinstance(node, And | Or | Near | NotNear) else f"({text})"


Leaf = Term | EntityRef
Scope = Sentence | Paragraph
Node = Term | EntityRef | Not | And | Or | Near | NotNear | Sentence | Paragraph


@dataclass(frozen=True)
class Token:
    kind: str  # LPAREN RPAREN AND OR NOT MINUS NEAR SCOPE PHRASE TERM ENTITY END
    text: str
    position: int


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<LPAREN>\()
  | (?P<RPAREN>\))
  | (?P<NEAR>(?:NEAR|AFTER)/(?P<distance>\d+)(?=[\s()"“”]|$))
  | (?P<SCOPE>(?:SENTENCE|PARAGRAPH)(?=\s*\())
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


_STARTS_OPERAND = {"TERM", "PHRASE", "ENTITY", "LPAREN", "NOT", "MINUS", "SCOPE"}
_SCOPES: dict[str, type[Sentence] | type[Paragraph]] = {
    "SENTENCE": Sentence,
    "PARAGRAPH": Paragraph,
}


# Parentheses, scopes and NOTs nest at most this deep: deeper is no one's query, and
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
        while self.current.kind == "NEAR" or self.at_not_near():
            apart = self.current.kind == "NOT"
            if apart:
                self.advance()
            token = self.advance()
            name, distance_text = token.text.split("/", 1)
            distance, after = int(distance_text), name == "AFTER"
            right = self.parse_unary()
            for side in (node, right):
                if isinstance(side, Not):
                    raise QuerySyntaxError(
                        f"{name} needs terms on both sides, not NOT", token.position
                    )
            kind = NotNear if apart else Near
            node = kind(node, right, distance, after)
        return node

    def at_not_near(self) -> bool:
        """NOT followed by NEAR/n or AFTER/n: the two are one operator."""
        return self.current.kind == "NOT" and self.tokens[self.index + 1].kind == "NEAR"

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
            return self.parse_group()
        if token.kind == "SCOPE":
            self.advance()  # the tokenizer saw the "(" that follows
            node = _SCOPES[token.text](self.parse_group(), token.position)
            if can_match_nothing(node.child):
                raise QuerySyntaxError(
                    f"{token.text}(…) needs a term to look for, not only NOT", token.position
                )
            return node
        if token.kind in ("TERM", "PHRASE", "ENTITY"):
            self.advance()
            return _leaf(token)
        raise self.expected("a term, a quoted phrase, @entity or '('")

    def parse_group(self) -> Node:
        self.advance()  # "("
        self.deeper()
        node = self.parse_or()
        if self.current.kind != "RPAREN":
            raise self.expected("')'")
        self.advance()
        self.depth -= 1
        return node


def _leaf(token: Token) -> Leaf:
    if token.kind == "ENTITY":
        return EntityRef(token.text[1:], token.position)
    for name in ("NEAR", "AFTER"):
        if token.kind == "TERM" and (
            token.text == name or token.text.upper().startswith(name + "/")
        ):
            raise QuerySyntaxError(
                f"{name} needs a distance in words, as in {name}/5", token.position
            )
    if token.kind == "TERM" and token.text == "@":
        raise QuerySyntaxError("@ needs an entity id, as in @dprk", token.position)
    if token.kind == "TERM" and token.text in _SCOPES:
        raise QuerySyntaxError(
            f"{token.text} needs its terms in parentheses, as in {token.text}(a AND b)",
            token.position,
        )
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
    if isinstance(node, Not | Sentence | Paragraph):
        return leaves(node.child)
    if isinstance(node, Near | NotNear):
        return leaves(node.left) + leaves(node.right)
    return [leaf for child in node.children for leaf in leaves(child)]


@dataclass(frozen=True)
class Occurrence:
    """Where a leaf occurs: a word range (for NEAR), its sentence and
    paragraph (for scope, NEAR) and an opaque payload."""

    first_word: int
    last_word: int  # inclusive
    payload: object = None
    sentence: int = 0  # any numbering, one number per sentence of the item
    paragraph: int = 0


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
    return _evaluate(node, lookup)


def _evaluate(node: Node, lookup: Lookup) -> Evaluation:
    if isinstance(node, Term | EntityRef):
        found = tuple(lookup(node))
        return Evaluation(node, bool(found), found)
    if isinstance(node, Not):
        inner = _evaluate(node.child, lookup)
        return Evaluation(node, not inner.value, (), (inner,))
    if isinstance(node, Near):
        return _evaluate_near(node, lookup)
    if isinstance(node, NotNear):
        return _evaluate_not_near(node, lookup)
    if isinstance(node, Sentence | Paragraph):
        return _evaluate_scope(node, lookup)
    children = tuple(_evaluate(child, lookup) for child in node.children)
    combine = all if isinstance(node, And) else any
    value = combine(child.value for child in children)
    evidence = tuple(o for c in children if c.value for o in c.occurrences) if value else ()
    return Evaluation(node, value, evidence, children)


def _evaluate_near(node: Near, lookup: Lookup) -> Evaluation:
    left, right = _evaluate(node.left, lookup), _evaluate(node.right, lookup)
    pairs = [
        (a, b)
        for a in left.occurrences
        for b in right.occurrences
        if _close(a, b, node.distance, node.after)
    ]
    evidence = tuple(dict.fromkeys(o for pair in pairs for o in pair))
    return Evaluation(node, bool(pairs), evidence, (left, right))


def _evaluate_not_near(node: NotNear, lookup: Lookup) -> Evaluation:
    left, right = _evaluate(node.left, lookup), _evaluate(node.right, lookup)
    alone = tuple(
        a
        for a in left.occurrences
        if not any(_close(a, b, node.distance, node.after) for b in right.occurrences)
    )
    return Evaluation(node, bool(alone), alone, (left, right))


def _close(a: Occurrence, b: Occurrence, distance: int, after: bool) -> bool:
    """``a`` within ``distance`` words of ``b`` in one sentence (and after it)."""
    if a.sentence != b.sentence or words_between(a, b) > distance:
        return False
    return not after or b.last_word < a.first_word


def _unit(node: Scope, occurrence: Occurrence) -> int:
    return occurrence.sentence if isinstance(node, Sentence) else occurrence.paragraph


def _evaluate_scope(node: Scope, lookup: Lookup) -> Evaluation:
    """True when the child holds with only one sentence's (paragraph's)
    occurrences; the evidence is every such unit's, the child shown is the
    first unit's, or, when none holds, the child over the whole item."""
    known = {leaf: tuple(lookup(leaf)) for leaf in leaves(node.child)}  # asked once each
    # Each leaf's occurrences by unit, sorted out once rather than per unit.
    by_unit: dict[int, dict[Leaf, list[Occurrence]]] = {}
    for leaf, found in known.items():
        for o in found:
            by_unit.setdefault(_unit(node, o), {}).setdefault(leaf, []).append(o)
    held = []
    for unit in sorted(by_unit):
        here = by_unit[unit]

        def within(leaf: Leaf, here: dict[Leaf, list[Occurrence]] = here) -> list[Occurrence]:
            return here.get(leaf, [])

        inner = _evaluate(node.child, within)
        if inner.value:
            held.append(inner)
    if not held:
        return Evaluation(node, False, (), (_evaluate(node.child, known.__getitem__),))
    evidence = tuple(dict.fromkeys(o for inner in held for o in inner.occurrences))
    return Evaluation(node, True, evidence, (held[0],))


def may_match(node: Node, present: Callable[[Leaf], bool], scoped: bool = False) -> bool:
    """False only when ``node`` cannot match, knowing just which leaves occur
    (not where): a cheap test that spares most items a full evaluation.
    NEAR is read as AND, which it implies. Inside a scope (``scoped``) a NOT
    may hold whatever occurs: its word elsewhere in the item is not in the
    sentence that counts."""
    if isinstance(node, Term | EntityRef):
        return present(node)
    if isinstance(node, Not):
        return scoped or not must_match(node.child, present)
    if isinstance(node, Near):
        return may_match(node.left, present, True) and may_match(node.right, present, True)
    if isinstance(node, NotNear):
        return may_match(node.left, present, True)
    if isinstance(node, Sentence | Paragraph):
        return may_match(node.child, present, True)
    combine = all if isinstance(node, And) else any
    return combine(may_match(child, present, scoped) for child in node.children)


def must_match(node: Node, present: Callable[[Leaf], bool]) -> bool:
    """True only when ``node`` matches whatever the positions: the dual of may_match."""
    if isinstance(node, Term | EntityRef):
        return present(node)
    if isinstance(node, Not):
        return not may_match(node.child, present)
    if isinstance(node, Near | NotNear | Sentence | Paragraph):
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


def is_scoped(node: Node) -> bool:
    """Whether evaluating ``node`` needs sentences and paragraphs (scope or NEAR)."""
    if isinstance(node, Near | NotNear | Sentence | Paragraph):
        return True
    if isinstance(node, Term | EntityRef):
        return False
    if isinstance(node, Not):
        return is_scoped(node.child)
    return any(is_scoped(child) for child in node.children)


def can_match_nothing(node: Node) -> bool:
    """True when the query is satisfied by an item with no hits at all (pure negation)."""
    return evaluate(node, lambda leaf: ()).value
