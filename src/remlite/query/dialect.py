"""remlite's SQL dialect: PostgreSQL's, with `match(field, 'words')` as an ordinary function.

sqlglot's PostgreSQL parser reads MATCH as MySQL's `MATCH ... AGAINST`; remlite uses `match` for
BM25 full-text predicates, so the dialect drops that special parser. Every error becomes a
QueryError whose `line` and `col` (both 1-based) point at the first character of the offending
token or expression in the query text.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from remlite.errors import QueryError

MAX_NESTING = 256  # levels of a query's expression tree; a deep one would exhaust Python's stack


def _positional(parser: Any) -> exp.Expression:
    # `?` is named after its offset in the text, then numbered in text order by `normalize`
    # (the tree's own order is not the text's: sqlglot keeps LIMIT before WHERE).
    token = parser._prev
    node = parser.expression(exp.Placeholder(this=f"@{token.start}"))
    node.meta.update(line=token.line, col=token.col, start=token.start, end=token.end)
    return node


class RemDialect(Postgres):
    class Parser(Postgres.Parser):
        FUNCTION_PARSERS: ClassVar[dict[str, Any]] = {
            k: v for k, v in Postgres.Parser.FUNCTION_PARSERS.items() if k != "MATCH"
        }
        PLACEHOLDER_PARSERS: ClassVar[dict[Any, Any]] = {
            **Postgres.Parser.PLACEHOLDER_PARSERS,
            TokenType.PLACEHOLDER: _positional,
        }


_DIALECT = RemDialect()


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def node_start(node: exp.Expression | None) -> int | None:
    """The offset of the first character of an expression, from the token positions sqlglot keeps."""
    if node is None:
        return None
    starts = [n.meta["start"] for n in node.walk() if isinstance(getattr(n, "_meta", None), dict) and "start" in n.meta]
    return min(starts) if starts else None


class NotNative(QueryError):
    """A statement the native planner does not run; `remlite.query.passthrough` runs it in DuckDB."""


def error_at(
    text: str | None, node: exp.Expression | int | None, message: str, kind: type[QueryError] = QueryError
) -> QueryError:
    """A QueryError (or `kind`) pointing at `node` (an expression or a character offset) in `text`."""
    offset = node if isinstance(node, int) else node_start(node)
    if text is None or offset is None:
        return kind(message)
    line, col = line_col(text, offset)
    return kind(f"{message} (line {line}, column {col})", line=line, col=col)


def _parse_error(exc: Exception, text: str) -> QueryError:
    if isinstance(exc, ParseError) and exc.errors:
        first = exc.errors[0]
        description = _describe(first.get("description") or str(exc))
        line, col, highlight = first.get("line"), first.get("col"), first.get("highlight") or ""
        if isinstance(line, int) and isinstance(col, int):
            if highlight and "\n" not in highlight:
                col = max(1, col - len(highlight) + 1)  # sqlglot reports the token's last column
            return QueryError(f"cannot parse the query: {description} (line {line}, column {col})", line=line, col=col)
        return QueryError(f"cannot parse the query: {description}")
    return QueryError(f"cannot parse the query: {exc}")


def _describe(description: str) -> str:
    """sqlglot's "Required keyword: 'this' missing for <class '...Where'>" as "incomplete WHERE"."""
    if description.startswith("Required keyword") and "<class '" in description:
        name = description.rsplit(".", 1)[-1].rstrip("'>")
        if name in ("EQ", "NEQ", "GT", "GTE", "LT", "LTE", "Like", "ILike", "Is", "In", "Between"):
            return "incomplete comparison"
        return (
            f"incomplete {name.upper() if name in ('Where', 'Select', 'From', 'Order', 'Group', 'And', 'Or') else name}"
        )
    return description


def tokenize(text: str) -> list[Token]:
    """sqlglot tokens of `text` (comments dropped); an unterminated string or quote is a QueryError."""
    tokenizer = _DIALECT.tokenizer()
    try:
        return tokenizer.tokenize(text)
    except TokenError:
        start = getattr(getattr(tokenizer, "_core", None), "_start", None)
        raise error_at(
            text, start if isinstance(start, int) else None, "cannot read the query: unterminated string or quoted name"
        ) from None


def _check_tokens(text: str, tokens: list[Token]) -> None:
    """sqlglot quietly accepts `a,, b`; remlite refuses anything it would have to skip."""
    for prev, token in itertools.pairwise(tokens):
        if prev.token_type == TokenType.COMMA and token.token_type == TokenType.COMMA:
            raise error_at(text, token.start, "unexpected ','")


def normalize(tree: exp.Expression) -> exp.Expression:
    """sqlglot writes `x IS NOT NULL`, `x NOT LIKE p` and `x NOT ILIKE p` as the positive node
    with `negate=True`; remlite's stages expect them wrapped in NOT, like NOT IN and NOT BETWEEN.
    `?` placeholders are numbered #1, #2, ... in the order they appear in the text."""

    def unnegate(node: exp.Expression) -> exp.Expression:
        if isinstance(node, (exp.Is, exp.Like, exp.ILike)) and node.args.get("negate"):
            positive = node.copy()
            positive.set("negate", None)
            return exp.Not(this=positive)
        return node

    positional = sorted(
        (n for n in tree.find_all(exp.Placeholder) if n.name.startswith("@")), key=lambda n: int(n.name[1:])
    )
    for number, node in enumerate(positional, start=1):
        node.set("this", f"#{number}")
    if not any(isinstance(n, (exp.Is, exp.Like, exp.ILike)) and n.args.get("negate") for n in tree.walk()):
        return tree
    return tree.transform(unnegate)


def parse_condition(text: str) -> exp.Expression:
    """Parse a boolean expression such as "status = 'active' AND priority > 3"."""
    if not isinstance(text, str) or not text.strip():
        raise QueryError("empty filter expression")
    _check_tokens(text, tokenize(text))
    try:
        tree = _bounded(normalize(sqlglot.parse_one(text, dialect=RemDialect)))
    except (ParseError, TokenError) as exc:
        raise _parse_error(exc, text) from None
    except RecursionError:
        raise _too_deep() from None
    if isinstance(tree, (exp.Query, exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Command)):
        raise error_at(text, 0, f"expected a boolean expression, got a {tree.key.upper()} statement")
    return tree


def parse_statements(text: str) -> list[exp.Expression]:
    """Every statement of `text` (separated by ';'), as sqlglot trees."""
    if not isinstance(text, str) or not text.strip():
        raise QueryError("empty query")
    _check_tokens(text, tokenize(text))
    try:
        return [_bounded(normalize(t)) for t in sqlglot.parse(text, dialect=RemDialect) if t is not None]
    except (ParseError, TokenError) as exc:
        raise _parse_error(exc, text) from None
    except RecursionError:
        raise _too_deep() from None


def _too_deep() -> QueryError:
    return QueryError(f"the query nests expressions or parentheses too deeply (at most {MAX_NESTING} levels)")


def _bounded(tree: exp.Expression) -> exp.Expression:
    """Refuse a tree deeper than MAX_NESTING: every later stage (analysis, planning, the predicate
    compiler, DuckDB's SQL) recurses over it, and Python's recursion limit is about 1,000 frames."""
    depths = {id(tree): 0}
    for node in tree.walk():  # breadth-first, without recursion
        if node is not tree:
            depth = depths[id(node)] = depths[id(node.parent)] + 1
            if depth > MAX_NESTING:
                raise _too_deep()
    return tree
