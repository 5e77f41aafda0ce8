"""Statement-level syntax: EXPLAIN and the three statements of the reference CLI that are not SQL.

    EXPLAIN <statement>
    LOOKUP 'key'
    SEARCH 'text' IN table [FIELD f] [MODE vector|text|hybrid] [WHERE condition] [LIMIT n]
    TRAVERSE FROM 'id' DEPTH n [DIRECTION out|in|both] [TYPE t]

They are read from sqlglot's tokens (so quoting, comments and line/column positions work as in
SQL); a SEARCH condition is parsed by the SQL parser with its position kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp
from sqlglot.tokens import Token, TokenType

from remlite.errors import QueryError
from remlite.query.dialect import error_at, parse_condition, parse_statements, tokenize

EXTENDED = ("LOOKUP", "SEARCH", "TRAVERSE")
MODES = ("vector", "text", "hybrid")
DIRECTIONS = ("out", "in", "both")


@dataclass
class Extended:
    kind: str  # lookup | search | traverse
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Statement:
    text: str
    explain: bool
    tree: exp.Expression | None = None
    extended: Extended | None = None
    analyzed: tuple[Any, Any] | None = None  # (schema signature, analysed Query), see engine
    prepared: tuple[Any, Any] | None = None  # (analysed Query, its prepared point get or None)


def blank(text: str, start: int, end: int) -> str:
    """`text` with [start, end) replaced by spaces (newlines kept), so positions stay valid."""
    return text[:start] + "".join(c if c == "\n" else " " for c in text[start:end]) + text[end:]


def parse(text: str) -> Statement:
    """One statement (an optional trailing ';' is fine; a second statement is an error)."""
    tokens = tokenize(text)
    if not tokens:
        raise QueryError("empty query")
    explain = False
    if tokens[0].text.upper() == "EXPLAIN":
        explain = True
        text = blank(text, tokens[0].start, tokens[0].end + 1)
        tokens = tokenize(text)
        if not tokens:
            raise error_at(text, len(text), "EXPLAIN needs a statement")
    if tokens[0].token_type == TokenType.VAR and tokens[0].text.upper() in EXTENDED:
        return Statement(text, explain, extended=_Reader(text, tokens).extended())
    trees = parse_statements(text)
    if not trees:
        raise QueryError("empty query")
    if len(trees) > 1:
        semis = [t for t in tokens if t.token_type == TokenType.SEMICOLON]
        raise error_at(text, semis[0].end + 1 if semis else None, "one statement at a time")
    return Statement(text, explain, tree=trees[0])


class _Reader:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        while self.tokens and self.tokens[-1].token_type == TokenType.SEMICOLON:
            self.tokens = self.tokens[:-1]
        self.i = 0

    def error(self, token: Token | None, message: str) -> QueryError:
        return error_at(self.text, token.start if token is not None else len(self.text.rstrip()), message)

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self, what: str) -> Token:
        token = self.peek()
        if token is None:
            raise self.error(None, f"expected {what} at the end of the statement")
        self.i += 1
        return token

    def word(self, *words: str) -> Token:
        token = self.next(" or ".join(words))
        if token.text.upper() not in words or token.token_type == TokenType.STRING:
            raise self.error(token, f"expected {' or '.join(words)}, found {token.text!r}")
        return token

    def value(self, what: str) -> str:
        token = self.next(what)
        if token.token_type == TokenType.STRING:
            return token.text
        if token.token_type in (TokenType.NUMBER, TokenType.VAR) or token.text.isidentifier():
            return token.text
        raise self.error(token, f"expected {what}, found {token.text!r}")

    def integer(self, what: str) -> int:
        token = self.next(what)
        if token.token_type != TokenType.NUMBER or not token.text.isdigit():
            raise self.error(token, f"expected {what} (a non-negative integer), found {token.text!r}")
        return int(token.text)

    def end(self) -> None:
        token = self.peek()
        if token is not None:
            if token.token_type == TokenType.SEMICOLON:
                raise self.error(token, "one statement at a time")
            raise self.error(token, f"unexpected {token.text!r}")

    def extended(self) -> Extended:
        kind = self.next("a statement").text.upper()
        if kind == "LOOKUP":
            out = Extended("lookup", {"key": self.value("a key")})
        elif kind == "SEARCH":
            out = self._search()
        else:
            out = self._traverse()
        self.end()
        return out

    def _search(self) -> Extended:
        args: dict[str, Any] = {"query": self.value("the search text"), "k": 10, "mode": "vector", "field": None}
        if self.peek() is None or self.peek().token_type != TokenType.IN:  # type: ignore[union-attr]
            raise self.error(self.peek(), "expected IN <table> after the search text")
        self.i += 1
        args["table"] = self.value("a table name")
        while self.peek() is not None:
            token = self.peek()
            word = token.text.upper()  # type: ignore[union-attr]
            if word == "FIELD" and token.token_type != TokenType.STRING:  # type: ignore[union-attr]
                self.i += 1
                args["field"] = self.value("a field name")
            elif word == "MODE" and token.token_type != TokenType.STRING:  # type: ignore[union-attr]
                self.i += 1
                mode_token = self.next("a mode")
                if mode_token.text.lower() not in MODES:
                    raise self.error(mode_token, f"MODE is one of {', '.join(MODES)}")
                args["mode"] = mode_token.text.lower()
            elif token.token_type == TokenType.WHERE:  # type: ignore[union-attr]
                self.i += 1
                args["where"] = self._condition()
            elif token.token_type == TokenType.LIMIT:  # type: ignore[union-attr]
                self.i += 1
                args["k"] = self.integer("a LIMIT")
                if args["k"] < 1:
                    raise self.error(self.tokens[self.i - 1], "LIMIT must be at least 1")
            else:
                raise self.error(token, f"unexpected {token.text!r}")  # type: ignore[union-attr]
        return Extended("search", args)

    def _condition(self) -> str:
        """The WHERE condition of SEARCH: tokens up to a LIMIT outside parentheses, or the end."""
        first = self.i
        depth = 0
        while self.i < len(self.tokens):
            token = self.tokens[self.i]
            if token.token_type == TokenType.L_PAREN:
                depth += 1
            elif token.token_type == TokenType.R_PAREN:
                depth -= 1
            elif depth == 0 and token.token_type == TokenType.LIMIT:
                break
            self.i += 1
        if self.i == first:
            raise self.error(self.peek(), "WHERE needs a condition")
        start, end = self.tokens[first].start, self.tokens[self.i - 1].end + 1
        # parse in place (everything else blanked) so errors point into the original text
        padded = blank(blank(self.text, 0, start), end, len(self.text))
        parse_condition(padded)
        return self.text[start:end]

    def _traverse(self) -> Extended:
        self.word("FROM")
        args: dict[str, Any] = {"start": self.value("a record id or key"), "direction": "out", "type": None}
        self.word("DEPTH")
        args["depth"] = self.integer("a depth")
        while self.peek() is not None:
            token = self.next("DIRECTION or TYPE")
            word = token.text.upper()
            if word == "DIRECTION":
                direction = self.next("out, in or both")
                if direction.text.lower() not in DIRECTIONS:
                    raise self.error(direction, "DIRECTION is out, in or both")
                args["direction"] = direction.text.lower()
            elif word == "TYPE":
                args["type"] = self.value("an edge type")
            else:
                raise self.error(token, f"unexpected {token.text!r}")
        return Extended("traverse", args)
