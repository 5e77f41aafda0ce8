"""Check a parsed SELECT against remlite's dialect and resolve its names into a `Query`.

Everything outside the dialect is refused here with a QueryError pointing at it (DDL, writes,
subqueries, window functions, unknown functions, unknown or ambiguous columns); nothing reaches the
planner that it would have to ignore. Field references are rewritten into one canonical form, a
Column whose parts are (alias, *path), so later stages never resolve a name again.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from remlite.errors import QueryError, UnknownTable
from remlite.query.catalog import Catalog, Relation
from remlite.query.dialect import NotNative, error_at
from remlite.query.model import (
    _PLAIN,
    _REF_NODES,
    AGGREGATES,
    MAX_COUNT,
    SCALAR_FUNCTIONS,
    SCORE,
    SEMANTIC_FUNCTIONS,
    Item,
    OrderKey,
    Query,
    Semantic,
    Source,
    make_ref,
    output_name,
    ref_parts,
    split_and,
)
from remlite.query.predicate import field_path, literal_value


class Analyzer:
    def __init__(self, catalog: Catalog, text: str) -> None:
        self.catalog = catalog
        self.text = text
        self.sources: list[Source] = []
        self.semantic_allowed = False

    def error(self, node: exp.Expression | int | None, message: str) -> QueryError:
        return error_at(self.text, node, message)

    def not_native(self, node: exp.Expression | int | None, message: str) -> QueryError:
        """What the native planner does not run: DuckDB runs the statement (`query.passthrough`)."""
        return error_at(self.text, node, message, NotNative)

    # ---------------------------------------------------------------- entry
    def analyze(self, tree: exp.Expression) -> Query:
        if not isinstance(tree, exp.Select):
            kind = "a set operation" if isinstance(tree, exp.SetOperation) else tree.key.upper()
            error = self.not_native if isinstance(tree, exp.SetOperation) else self.error
            raise error(0, f"only SELECT (and LOOKUP, SEARCH, TRAVERSE, EXPLAIN) can run; this is {kind}")
        for key, value in tree.args.items():
            if value and key not in (
                "expressions",
                "from_",
                "joins",
                "where",
                "group",
                "having",
                "order",
                "limit",
                "offset",
                "distinct",
            ):
                node = value[0] if isinstance(value, list) else value
                what = "WITH (common table expressions)" if key == "with_" else key.upper().rstrip("_")
                raise self.not_native(node if isinstance(node, exp.Expression) else 0, f"{what} is not supported")
        self._check_nodes(tree)
        self._sources(tree)
        query = Query(self.text, self.sources, [])
        distinct = tree.args.get("distinct")
        if distinct is not None:
            if distinct.args.get("on") is not None:
                raise self.not_native(distinct.args["on"], "DISTINCT ON is not supported")
            query.distinct = True
        where = tree.args.get("where")
        self.semantic_allowed = True
        conjuncts = [self.rewrite(c, "WHERE") for c in split_and(where.this if where else None)]
        self.semantic_allowed = False
        query.semantic, query.conjuncts = self._semantic(conjuncts)
        query.items = self._items(tree.expressions, query.semantic is not None)
        names = [i.name for i in query.items]
        group = tree.args.get("group")
        if group is not None:
            for key in ("rollup", "cube", "grouping_sets"):
                if group.args.get(key):
                    raise self.not_native(group, f"GROUP BY {key.upper()} is not supported")
            query.group = [self._output_ref(g, query, "GROUP BY") for g in group.expressions]
        having = tree.args.get("having")
        if having is not None:
            query.having = self.rewrite(having.this, "HAVING")
        order = tree.args.get("order")
        if order is not None:
            query.order = [self._order_key(o, query, names) for o in order.expressions]
        query.placeholders = frozenset(p.name for p in tree.find_all(exp.Placeholder))
        limit, offset = self._count(tree.args.get("limit"), "LIMIT"), self._count(tree.args.get("offset"), "OFFSET")
        if isinstance(limit, exp.Placeholder):
            query.limit_param = limit
        else:
            query.limit = limit
        if isinstance(offset, exp.Placeholder):
            query.offset_param = offset
        else:
            query.offset = offset or 0
        query.aggregate = (
            bool(query.group)
            or query.having is not None
            or any(i.expr is not None and i.expr.find(*AGGREGATES) for i in query.items)
            or any(k.expr.find(*AGGREGATES) for k in query.order)
        )
        for conjunct in query.conjuncts:
            found = conjunct.find(*AGGREGATES)
            if found is not None:
                raise self.error(found, "aggregates are not allowed in WHERE (use HAVING)")
        if query.aggregate:
            self._check_grouping(query)
        if query.distinct:
            self._check_distinct_order(query, order.expressions if order is not None else [])
        self._check_times(query)
        return query

    def _check_distinct_order(self, query: Query, written: list[exp.Expression]) -> None:
        """PostgreSQL's rule: with SELECT DISTINCT, ORDER BY may only name what is selected (any
        other key would order the distinct rows by one arbitrary row of each)."""
        if any(item.star is not None for item in query.items):
            return
        selected = {item.expr.sql() for item in query.items if item.expr is not None}
        for key, node in zip(query.order, written, strict=True):
            if key.item is None and key.expr.sql() not in selected:
                raise self.error(node, "for SELECT DISTINCT, ORDER BY expressions must appear in the select list")

    def _check_times(self, query: Query) -> None:
        """A timestamp compared with a number is an error (DuckDB and PostgreSQL refuse it too):
        it compared microseconds, so `due > 5` matched every row."""
        nodes = [*query.conjuncts, query.having, *(s.on for s in query.sources)]
        for node in nodes:
            if node is None:
                continue
            for sub in node.find_all(exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between):
                sides = (
                    [sub.this, sub.args["low"], sub.args["high"]]
                    if isinstance(sub, exp.Between)
                    else [sub.left, sub.right]
                )
                times = [side for side in sides if self._is_time(side)]
                numbers = [side for side in sides if _is_number_literal(side)]
                if times and numbers:
                    raise self.error(
                        numbers[0],
                        f"cannot compare the timestamp {times[0].sql()} with the number {numbers[0].sql()}; "
                        "compare with a time such as '2026-01-31' or '2026-01-31T12:00:00Z'",
                    )

    def _is_time(self, node: exp.Expression) -> bool:
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Cast):
            return node.to.this in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ)
        parts = ref_parts(node)
        if parts is None:
            return False
        source = next((s for s in self.sources if s.alias == parts[0]), None)
        return source is not None and source.relation.is_timestamp(tuple(parts[1:]))

    # ---------------------------------------------------------------- checks
    def _check_nodes(self, tree: exp.Select) -> None:
        for node in tree.walk():
            if node is tree or isinstance(node, _PLAIN + _REF_NODES + AGGREGATES + SCALAR_FUNCTIONS):
                continue
            if isinstance(
                node,
                (
                    exp.From,
                    exp.Join,
                    exp.Table,
                    exp.TableAlias,
                    exp.Where,
                    exp.Group,
                    exp.Having,
                    exp.Order,
                    exp.Ordered,
                    exp.Limit,
                    exp.Offset,
                    exp.Alias,
                    exp.Placeholder,
                ),
            ):
                continue
            if isinstance(node, exp.Anonymous) and node.name.lower() in (*SEMANTIC_FUNCTIONS, "cosine"):
                continue
            raise self._unsupported(node)

    def _unsupported(self, node: exp.Expression) -> QueryError:
        if isinstance(node, exp.Window):
            return self.not_native(node, "window functions (OVER) are not supported")
        if isinstance(node, (exp.Subquery, exp.Select, exp.Exists)) or (
            isinstance(node, exp.In) and node.args.get("query")
        ):
            return self.not_native(node, "subqueries are not supported")
        if isinstance(node, exp.Anonymous):
            return self.not_native(node, f"unknown function {node.name}()")
        if isinstance(node, exp.Func):
            name = node.sql_name() if hasattr(node, "sql_name") else node.key.upper()
            return self.not_native(node, f"function {name}() is not supported")
        if isinstance(node, exp.Escape):
            return self.not_native(node, "LIKE ... ESCAPE is not supported (backslash escapes % and _)")
        return self.not_native(node, f"unsupported SQL: {node.sql(dialect='postgres')}")

    def _sources(self, tree: exp.Select) -> None:
        from_ = tree.args.get("from_")
        if from_ is None:
            raise self.not_native(0, "a SELECT needs FROM <table>")
        self.sources = [Source(*self._table(from_.this))]
        for join in tree.args.get("joins") or []:
            alias, relation = self._table(join.this)
            side, kind = (join.args.get("side") or "").upper(), (join.args.get("kind") or "").upper()
            if join.args.get("method") or kind not in ("", "INNER", "OUTER") or side not in ("", "LEFT"):
                raise self.not_native(join.this, "only INNER JOIN and LEFT JOIN ... ON are supported")
            if join.args.get("using") or join.args.get("on") is None:
                raise self.not_native(join.this, "a JOIN needs an ON condition (USING is not supported)")
            source = Source(alias, relation, "left" if side == "LEFT" else "inner")
            self.sources.append(source)
            source.on = self.rewrite(join.args["on"], "ON")

    def _table(self, node: exp.Expression) -> tuple[str, Relation]:
        if not isinstance(node, exp.Table) or not isinstance(node.this, exp.Identifier):
            raise self.not_native(node, "FROM and JOIN take table names (subqueries and functions are not supported)")
        alias_node = node.args.get("alias")
        if alias_node is not None and alias_node.args.get("columns"):
            raise self.error(alias_node, "column aliases on a table are not supported")
        alias = alias_node.name if alias_node is not None else node.name
        if any(s.alias == alias for s in self.sources):
            raise self.error(node, f"table name {alias} appears twice; give one an alias")
        try:
            return alias, self.catalog.resolve(node)
        except UnknownTable as exc:
            located = self.error(node, exc.message)
            raise UnknownTable(located.message, line=located.line, col=located.col) from None

    def _count(self, node: exp.Expression | None, what: str) -> int | exp.Placeholder | None:
        if node is None:
            return None
        value_node = node.args.get("expression")
        if isinstance(value_node, exp.Var) and value_node.name.upper() == "ALL":
            return None
        if isinstance(value_node, exp.Placeholder):
            return value_node
        value = literal_value(value_node) if value_node is not None else None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.error(value_node or node, f"{what} takes a non-negative integer")
        return min(value, MAX_COUNT)

    # ---------------------------------------------------------------- names
    def rewrite(self, node: exp.Expression, clause: str) -> exp.Expression:
        """A copy of `node` with every field reference in canonical form."""
        tree = node.copy()
        refs: list[exp.Expression] = []
        self._collect(tree, clause, refs)
        resolved = [self._resolve(ref) for ref in refs]
        for ref, new in zip(refs, resolved, strict=True):
            if ref is tree:
                return new
            ref.replace(new)
        return tree

    def _collect(self, node: exp.Expression, clause: str, refs: list[exp.Expression]) -> None:
        if (isinstance(node, exp.Dot) and isinstance(node.expression, exp.Anonymous)) or (
            isinstance(node, exp.Anonymous) and node.name.lower() in SEMANTIC_FUNCTIONS
        ):
            if not self.semantic_allowed:
                raise self.error(node, f"{node.sql(dialect='postgres')} is a WHERE predicate")
            return
        if isinstance(node, _REF_NODES):
            refs.append(node)
            return
        if isinstance(node, AGGREGATES) and clause in ("WHERE", "ON", "GROUP BY"):
            raise self.error(node, f"aggregates are not allowed in {clause}")
        if isinstance(node, exp.Star) and not isinstance(node.parent, exp.Count):
            raise self.error(node, "* is only allowed in the SELECT list and COUNT(*)")
        for child in node.iter_expressions():
            self._collect(child, clause, refs)

    def _resolve(self, node: exp.Expression) -> exp.Expression:
        raw = field_path(node)
        if raw is None:
            raise self.error(node, f"unsupported expression {node.sql(dialect='postgres')}")
        aliases = {s.alias: s for s in self.sources}
        if len(raw) > 1 and raw[0] in aliases:
            source, path = aliases[raw[0]], raw[1:]
        elif len(self.sources) == 1:
            source, path = self.sources[0], raw
        else:
            owners = [s for s in self.sources if s.relation.has_column(raw[0])]
            if len(owners) != 1:
                why = "is ambiguous" if owners else "is not a declared column of any table here"
                raise self.error(node, f"column {'.'.join(raw)} {why}; qualify it with a table name or alias")
            source, path = owners[0], raw
        if path == (SCORE,) and source is self.sources[0]:
            return make_ref((source.alias, SCORE), node)
        problem = source.relation.check_path(path)
        if problem:
            if len(raw) > 1 and raw[0] not in aliases:
                problem += f"; {raw[0]} is not a table or alias of this query ({', '.join(aliases)})"
            quoted = node.this if isinstance(node, exp.Column) else None
            if isinstance(quoted, exp.Identifier) and quoted.quoted and len(raw) == 1:
                problem += f"; \"{raw[0]}\" is a name in double quotes: write '{raw[0]}' for a string"
            raise self.error(node, f"unknown column: {problem}")
        return make_ref((source.alias, *path), node)

    def _semantic(self, conjuncts: list[exp.Expression]) -> tuple[Semantic | None, list[exp.Expression]]:
        found: list[Semantic] = []
        rest = []
        for conjunct in conjuncts:
            semantic = self._semantic_call(conjunct)
            if semantic is not None:
                found.append(semantic)
                continue
            for node in conjunct.walk():
                if self._semantic_call(node) is not None:
                    raise self.error(node, "similar(), match() and .cosine() must be AND-ed at the top of WHERE")
            rest.append(conjunct)
        if not found:
            return None, rest
        if len(self.sources) != 1 or self.sources[0].relation.is_view:
            raise self.error(found[0].node, "semantic predicates need a single registered table in FROM")
        if len(found) == 1:
            return found[0], rest
        modes = sorted(s.mode for s in found)
        if modes == ["text", "vector"] and len({s.text for s in found}) == 1 and len({s.field for s in found}) == 1:
            return Semantic("hybrid", found[0].field, found[0].text, found[0].node), rest
        raise self.error(found[1].node, "one semantic predicate per query (or similar() and match() on the same text)")

    def _semantic_call(self, node: exp.Expression) -> Semantic | None:
        if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Anonymous):
            call = node.expression
            if call.name.lower() != "cosine":
                raise self.error(call, f"unknown function {call.name}()")
            base = node.this
            path = (base.name,) if isinstance(base, exp.Identifier) else field_path(base)
            if not path:
                raise self.error(node, "cosine() needs a field: embedding.cosine('text')")
            if len(path) > 1 and path[0] == self.sources[0].alias:
                path = path[1:]
            name = ".".join(path)
            field_name = None if name == "embedding" else name
            field_name = self._semantic_field(base, field_name, "vector")
            return Semantic("vector", field_name, self._semantic_text(call, 1), node)
        if isinstance(node, exp.Anonymous) and node.name.lower() in SEMANTIC_FUNCTIONS:
            if len(node.expressions) != 2:
                raise self.error(node, f"{node.name}(field, 'text') takes two arguments")
            target = node.expressions[0]
            path = field_path(target)
            if not path or not isinstance(target, _REF_NODES):
                raise self.error(target, f"the first argument of {node.name}() is a field")
            if len(path) > 1 and path[0] == self.sources[0].alias:
                path = path[1:]
            text = self._semantic_text(node, 2)
            mode = "vector" if node.name.lower() == "similar" else "text"
            return Semantic(mode, self._semantic_field(target, ".".join(path), mode), text, node)
        return None

    def _semantic_field(self, node: exp.Expression, name: str | None, mode: str) -> str | None:
        """Check the field against the table's embedding (vector) or full-text (text) fields."""
        relation = self.sources[0].relation
        table = getattr(relation, "table", None)
        if table is None:
            return name
        fields = table.embedding_fields if mode == "vector" else table.searchable_text_fields
        what = "embedding_fields" if mode == "vector" else "full-text fields"
        if not fields:
            raise self.error(node, f"{relation.name} has no {what}")
        if name is not None and name not in fields:
            raise self.error(node, f"{relation.name}.{name} is not one of its {what}: {', '.join(fields)}")
        return name

    def _semantic_text(self, call: exp.Anonymous, arity: int) -> Any:
        if len(call.expressions) == arity and isinstance(call.expressions[-1], exp.Placeholder):
            return call.expressions[-1]  # bound per call (bind_query)
        value = literal_value(call.expressions[-1]) if len(call.expressions) == arity else None
        if not isinstance(value, str) or not value.strip():
            raise self.error(call, f"{call.name}() needs the query text as a string")
        return value

    # ---------------------------------------------------------------- select list and clauses
    def _items(self, expressions: list[exp.Expression], semantic: bool) -> list[Item]:
        items: list[Item] = []
        for node in expressions:
            if isinstance(node, exp.Star):
                items.append(Item("*", None, ""))
                continue
            if isinstance(node, exp.Column) and isinstance(node.this, exp.Star):
                alias = node.table
                if alias not in {s.alias for s in self.sources}:
                    raise self.error(node, f"{alias}.* names no table in FROM")
                items.append(Item(f"{alias}.*", None, alias))
                continue
            inner = node.this if isinstance(node, exp.Alias) else node
            items.append(Item(output_name(node), self.rewrite(inner, "SELECT")))
        seen: dict[str, int] = {}
        for item in items:
            if item.star is None:
                count = seen[item.name] = seen.get(item.name, 0) + 1
                if count > 1:
                    item.name = f"{item.name}_{count}"
        return items

    def _output_ref(self, node: exp.Expression, query: Query, clause: str) -> exp.Expression:
        """GROUP BY / ORDER BY may name an output column by position or by its alias."""
        if isinstance(node, exp.Literal) and not node.is_string:
            position = int(node.this) if node.this.isdigit() else 0
            if not 1 <= position <= len(query.items) or query.items[position - 1].expr is None:
                raise self.error(node, f"{clause} position {node.this} is not in the select list")
            return query.items[position - 1].expr.copy()  # type: ignore[union-attr]
        if isinstance(node, exp.Column) and len(node.parts) == 1:
            for item in query.items:
                if item.name == node.name and item.expr is not None and not self._is_column(node):
                    return item.expr.copy()
        return self.rewrite(node, clause)

    def _is_column(self, node: exp.Column) -> bool:
        return any(s.relation.has_column(node.name) for s in self.sources)

    def _order_key(self, node: exp.Ordered, query: Query, names: list[str]) -> OrderKey:
        desc = bool(node.args.get("desc"))
        nulls_first = bool(node.args.get("nulls_first"))
        target = node.this
        item = None
        if isinstance(target, exp.Literal) and not target.is_string:
            expr = self._output_ref(target, query, "ORDER BY")
            item = int(target.this) - 1
        elif isinstance(target, exp.Column) and len(target.parts) == 1 and target.name in names:
            item = names.index(target.name)
            expr = (
                query.items[item].expr.copy()
                if query.items[item].expr is not None
                else self.rewrite(target, "ORDER BY")
            )
        else:
            expr = self.rewrite(target, "ORDER BY")
        return OrderKey(expr, desc, nulls_first, item)

    def _check_grouping(self, query: Query) -> None:
        groups = {g.sql() for g in query.group}
        for item in query.items:
            if item.expr is None:
                raise self.error(0, "SELECT * cannot be combined with GROUP BY or aggregates")
            self._grouped(item.expr, groups)
        if query.having is not None:
            self._grouped(query.having, groups)
        for key in query.order:
            self._grouped(key.expr, groups)

    def _grouped(self, node: exp.Expression, groups: set[str]) -> None:
        if node.sql() in groups:
            return
        if isinstance(node, AGGREGATES):
            for child in node.iter_expressions():
                nested = child.find(*AGGREGATES)
                if nested is not None:
                    raise self.error(nested, "aggregates cannot be nested")
            return
        if ref_parts(node) is not None:
            raise self.error(node, f"column {'.'.join(ref_parts(node)[1:])} must appear in GROUP BY or in an aggregate")  # type: ignore[index]
        for child in node.iter_expressions():
            self._grouped(child, groups)


def _is_number_literal(node: exp.Expression) -> bool:
    while isinstance(node, (exp.Paren, exp.Neg)):
        node = node.this
    return isinstance(node, exp.Literal) and not node.is_string
