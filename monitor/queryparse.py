"""The topic query language, read into a tree (``monitor.query``).

    query    := or
    or       := and ("OR" and)*
    and      := near (["AND"] near)*          adjacent terms are ANDed
    near     := unary (["NOT"] ("NEAR/n" | "AFTER/n") unary)*
                                             within n words: either order, or after
    unary    := ("NOT" | "-") unary | primary
    primary  := term | term* | "phrase" | @entity | "(" or ")"
              | "SENTENCE(" or ")" | "PARAGRAPH(" or ")"

Precedence is NOT > NEAR > AND > OR. Operators are upper case; lower-case
"and", "or", "not", "near", "sentence" are ordinary words. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitor.errors import QuerySyntaxError
from monitor.query import (
    And,
    EntityRef,
    Leaf,
    Near,
    Node,
    Not,
    NotNear,
    Or,
    Paragraph,
    Sentence,
    Term,
    can_match_nothing,
)


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
