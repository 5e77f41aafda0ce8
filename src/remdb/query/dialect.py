"""remdb's SQL dialect: PostgreSQL's, with `match(field, 'words')` as an ordinary function.

sqlglot's PostgreSQL parser reads MATCH as MySQL's `MATCH ... AGAINST`; remdb uses `match` for
BM25 full-text predicates, so the dialect drops that special parser. Parse errors become
QueryError with the line and column sqlglot reports.
"""

from __future__ import annotations

from typing import Any, ClassVar

import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import ParseError, TokenError

from remdb.errors import QueryError


class RemDialect(Postgres):
    class Parser(Postgres.Parser):
        FUNCTION_PARSERS: ClassVar[dict[str, Any]] = {
            k: v for k, v in Postgres.Parser.FUNCTION_PARSERS.items() if k != "MATCH"
        }


def _query_error(exc: Exception, text: str) -> QueryError:
    if isinstance(exc, ParseError) and exc.errors:
        first = exc.errors[0]
        description = first.get("description") or str(exc)
        return QueryError(
            f"cannot parse {text!r}: {description} (line {first.get('line')}, column {first.get('col')})",
            line=first.get("line"),
            col=first.get("col"),
        )
    return QueryError(f"cannot parse {text!r}: {exc}")


def parse_condition(text: str) -> exp.Expression:
    """Parse a boolean expression such as "status = 'active' AND priority > 3"."""
    if not isinstance(text, str) or not text.strip():
        raise QueryError("empty filter expression")
    try:
        tree = sqlglot.parse_one(text, dialect=RemDialect)
    except (ParseError, TokenError) as exc:
        raise _query_error(exc, text) from None
    if isinstance(tree, (exp.Select, exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop)):
        raise QueryError(f"expected a boolean expression, got a {tree.key.upper()} statement")
    return tree


def parse_statements(text: str) -> list[exp.Expression]:
    try:
        return [t for t in sqlglot.parse(text, dialect=RemDialect) if t is not None]
    except (ParseError, TokenError) as exc:
        raise _query_error(exc, text) from None
