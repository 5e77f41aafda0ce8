"""`llm`: a question becomes a plan through any OpenAI-compatible chat endpoint.

Why it is built this way:
- httpx directly rather than the openai SDK: the SDK is not a dependency (httpx is, for the
  embeddings endpoint), and one `POST {base_url}/chat/completions` is all a planner sends; OpenAI,
  Azure-style gateways, vLLM, Ollama and llama.cpp's server all answer it.
- The prompt is sent with every question, so it is compact: a fixed guide (the stage kinds as
  `remlite.ask.run` runs them, the time phrases of `remlite.ask.times`, six worked examples on a
  made-up schema, so the model copies the shape and not the names) and the tenant's vocabulary as
  terse text (one line a field: type, indexed, description, values seen; the edge types with the
  tables they join). For eight tables (two of a user's and the six templates) the messages are
  ~6,900 characters (the guide 4,700, the schemas and question 2,200; ~1,750 tokens), and the
  response schema ~3,500 more; the fixed guide comes first, so servers that cache prompt prefixes
  reuse it.
- Structured output: `response_format` `json_schema` (not strict) with the plan's JSON schema made
  plain enough for grammar-constrained servers: no recursive reference (one level of fallback),
  `anyOf` instead of a discriminator, `kind` required, optional fields absent rather than null,
  table names and edge types as enums. A server that
  rejects `json_schema` with a 400 (or 422) gets `json_object` instead, remembered by the planner.
- An answer is trusted only once it validates: `Plan.from_dict`, then against the vocabulary
  (`remlite.ask.checks.check_plan`: tables, fields, edge types and time phrases exist, at most `max_stages` stages, no
  traverse first). An invalid answer goes back to the model with the exact error, three answers
  in all; then PlannerError keeps the last one (truncated) in its details. Never a silent switch to
  the rules planner: the caller asked for the LLM.
- Timeouts (`settings.llm_timeout`), connection failures, 429 and 5xx are retried with exponential
  backoff (the server's Retry-After when longer) as the embeddings provider does; other statuses
  and the last failure are a PlannerError naming the URL and the status.
- Plans are cached per (question, schema versions, model, max_stages) in an LRU: a plan keeps its
  times as phrases ("last week"), resolved when it runs, so a cached plan stays right tomorrow.
- The API key goes only into the `Authorization` header: the planner's repr, the debug log line
  (logger `remlite.ask`) and every error message leave it out (a message quoting a server's answer
  has it scrubbed, in case the server echoes it).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import random
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, NamedTuple

import httpx
import orjson

from remlite.ask.checks import check_plan
from remlite.ask.plan import (
    Plan,
)
from remlite.errors import InvalidInput, PlannerError

if TYPE_CHECKING:
    from remlite.ask.vocabulary import Vocabulary
    from remlite.settings import Settings

log = logging.getLogger("remlite.ask")

MAX_ANSWERS = 3  # the first answer and two corrections
CACHE_SIZE = 512
ANSWER_KEPT = 2000  # characters of the last invalid answer a PlannerError keeps
_SYSTEM_FIELDS = ("created_at", "modified_at")
_CacheKey = tuple[str, tuple[tuple[str, int], ...], str, int]

_STAGES = (
    "You plan how to answer a question about a database. Reply with one JSON object only:\n"
    '{"stages": [stage, ...], "confidence": 0.0-1.0, "explanation": "one sentence", '
    '"fallback": {"stages": [...]} (optional)}\n'
    "Stages run in order, each on the rows of the one before; the last stage's rows are the answer.\n"
    '- {"kind": "lookup", "key": K, "fuzzy": false, "table": T}: records whose key field or name is K (any table '
    "unless T). fuzzy: true for a partial, misspelt or differently cased name.\n"
    '- {"kind": "filter", "table": T, "where": [{"field": F, "op": OP, "value": V}], "time": W, '
    '"from_previous": false, "order_by": F, "descending": false, "count": false, "group_by": F, "limit": 100}: '
    "rows of T matching every "
    "condition. OP: = != < <= > >= in (V a list) contains (an array field holds V) like (case-insensitive substring). "
    "from_previous: only the previous stage's rows (rows of T); with \"link_field\": F, instead the rows of T whose "
    "field F holds a previous row's key or id (tickets whose project is the project looked up). count: the number "
    "of rows instead (per group_by value).\n"
    '- {"kind": "search", "text": Q, "table": T, "mode": "hybrid", "where": [...], "time": W, "k": 10}: rows of T (a '
    "table with search text; none: all of them) about Q, best first. For topics and free text, not exact values.\n"
    '- {"kind": "traverse", "direction": "out", "types": [E], "depth": 1, "table": T}: records joined by edges of '
    "types E (all when empty) to the previous stage's rows; never the first stage. out: from the rows along edges "
    "(from -> to); in: against them; both. table: keep only rows of T.\n"
    '- {"kind": "moments", "table": T, "time": W, "where": [...], "tags": [], "people": [], "from_previous": false}: '
    "records of a moments table (events with a start and end) overlapping W, matching where, with every tag and "
    "person given; from_previous: only those linked to the previous rows (by an edge or a field holding their key).\n"
    "Only kind and the names in capitals are needed; leave the rest out for its default.\n"
    'W, a time window: {"phrase": P} or {"since": "2025-01-31", "until": "2025-02-28"} (either may be missing), '
    'with "field": F for a field other than the table\'s time field. P is one of: today, yesterday, this week, '
    "last week, this month, last month, this year, last year, last N hours|days|weeks|months|years, in March, "
    "in March 2025, in 2025. Keep relative times as phrases.\n"
    "Use only the tables, fields and edge types of the schema, and values as written in its values lists. Filter "
    "for exact criteria, lookup for a named record, search for the rest; add a search fallback when the stages may "
    "find nothing. confidence: how sure you are the plan answers the question.\n"
)

EXAMPLE_SCHEMA = """\
books (key title; search text: summary; time field published)
  title: string
  genre: string, indexed; values ["fantasy","history","poetry"]
  published: timestamp
  summary: string
authors (key name)
  name: string
  country: string; values ["France","Japan"]
readings (moments; time field start_time)
  start_time: timestamp, indexed
  end_time: timestamp, indexed
  people: array
edges (type: from -> to)
  written_by: books -> authors
  about: readings -> books
"""

# (question, plan) on EXAMPLE_SCHEMA, a made-up schema: the model copies their shape, not their names.
EXAMPLES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("fantasy books from last year", {
        "stages": [{"kind": "filter", "table": "books", "where": [{"field": "genre", "op": "=", "value": "fantasy"}],
                    "time": {"phrase": "last year"}}],
        "confidence": 0.9, "explanation": "Fantasy books published last year."}),
    ("who wrote Dune?", {
        "stages": [{"kind": "lookup", "key": "Dune", "table": "books"},
                   {"kind": "traverse", "direction": "out", "types": ["written_by"], "table": "authors"}],
        "confidence": 0.9, "explanation": "The book Dune, then its authors."}),
    ("how many books per genre", {
        "stages": [{"kind": "filter", "table": "books", "count": True, "group_by": "genre"}],
        "confidence": 0.95, "explanation": "Books counted by genre."}),
    ("Japanese authors who wrote about the sea", {
        "stages": [{"kind": "search", "text": "the sea", "table": "books", "k": 30},
                   {"kind": "traverse", "direction": "out", "types": ["written_by"], "table": "authors"},
                   {"kind": "filter", "table": "authors", "from_previous": True,
                    "where": [{"field": "country", "op": "=", "value": "Japan"}]}],
        "confidence": 0.8, "explanation": "Books about the sea, their authors, those from Japan."}),
    ("anything on tolkein", {
        "stages": [{"kind": "lookup", "key": "tolkein", "fuzzy": True}],
        "fallback": {"stages": [{"kind": "search", "text": "tolkein"}]},
        "confidence": 0.6, "explanation": "Records named like Tolkien, else a search."}),
    ("what did I read with Ana in March", {
        "stages": [{"kind": "moments", "table": "readings", "time": {"phrase": "in March"}, "people": ["Ana"]},
                   {"kind": "traverse", "direction": "out", "types": ["about"], "table": "books"}],
        "confidence": 0.8, "explanation": "Readings with Ana in March, then their books."}),
)

GUIDE = (
    _STAGES
    + "\nExamples on another schema:\n"
    + EXAMPLE_SCHEMA
    + "".join(f"Q: {question}\nA: {orjson.dumps(plan).decode()}\n" for question, plan in EXAMPLES)
)

CORRECTION = "That is not a valid plan: {error}\nReply with the corrected plan, one JSON object only."


class _Reply(NamedTuple):
    status: int
    body: bytes
    retry_after: str | None


class _Transient(Exception):
    """A timeout or connection failure: worth a retry."""


class LLMPlanner:
    """Plans from an OpenAI-compatible chat endpoint (`settings.llm_base_url`, `llm_model`,
    `llm_api_key`, `llm_timeout`); `Asker` keeps one while the settings stay the same."""

    def __init__(
        self,
        settings: Settings,
        *,
        max_retries: int = 2,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        base = settings.llm_base_url
        if not base:
            raise InvalidInput(
                "the llm planner needs an OpenAI-compatible endpoint: set REMLITE_LLM_BASE_URL (or OPENAI_BASE_URL)"
            )
        if not base.startswith(("http://", "https://")):
            raise InvalidInput(f"LLM base URL must start with http:// or https://, got {base!r}")
        self.settings = settings
        self.model = settings.llm_model
        self.url = base.rstrip("/") + "/chat/completions"
        self.timeout = float(settings.llm_timeout)
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.cache_size = cache_size
        self._key = settings.llm_api_key or None
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            self._headers["Authorization"] = f"Bearer {self._key}"
        self.json_object = False  # the server refused json_schema: ask for json_object
        self._cache: OrderedDict[_CacheKey, Plan] = OrderedDict()
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"LLMPlanner(model={self.model!r}, url={self.url!r})"

    def close(self) -> None:
        """Close the kept-alive HTTP connections (the planner stays usable; it reconnects)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def plan(self, question: str, vocabulary: Vocabulary, *, max_stages: int) -> tuple[Plan, dict[str, int]]:
        """The plan for `question` and the usage: `prompt_tokens`, `completion_tokens`,
        `total_tokens` summed over the answers, `attempts` (answers asked for) and `cached` (1 when
        the plan came from the cache and the LLM was not called)."""
        text = question.strip()
        key: _CacheKey = (text, vocabulary.schema_version, self.model, max_stages)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
        if cached is not None:
            return cached.model_copy(deep=True), _usage(cached=1)
        usage = _usage()
        messages: list[dict[str, str]] = [
            {"role": "system", "content": GUIDE},
            {"role": "user", "content": user_message(text, vocabulary, max_stages)},
        ]
        schema = response_schema(vocabulary, max_stages)
        answer, error = "", ""
        for attempt in range(1, MAX_ANSWERS + 1):
            answer, tokens = self._complete(messages, schema, attempt)
            for name, count in tokens.items():
                usage[name] += count
            usage["attempts"] = attempt
            try:
                plan = parse_answer(answer)
                check_plan(plan, vocabulary, max_stages)
            except InvalidInput as exc:
                error = exc.message
                messages += [
                    {"role": "assistant", "content": answer},
                    {"role": "user", "content": CORRECTION.format(error=error)},
                ]
                continue
            plan = _as_llm(plan)
            with self._lock:
                self._cache[key] = plan
                self._cache.move_to_end(key)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            return plan.model_copy(deep=True), usage
        raise PlannerError(
            self._scrub(f"the LLM planner ({self.model} at {self.url}) gave no valid plan in {MAX_ANSWERS} "
                        f"answers; last error: {error}"),
            url=self.url, attempts=MAX_ANSWERS, answer=self._scrub(_truncated(answer, ANSWER_KEPT)),
        )

    # -- one answer -------------------------------------------------------------------------------

    def _complete(
        self, messages: list[dict[str, str]], schema: dict[str, Any], attempt: int
    ) -> tuple[str, dict[str, int]]:
        """The model's answer text and its token counts."""
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": 0}
        if self.json_object:
            body["response_format"] = {"type": "json_object"}
        else:
            body["response_format"] = {
                "type": "json_schema", "json_schema": {"name": "plan", "schema": schema, "strict": False},
            }
        reply = self._send(body, attempt)
        if reply.status in (400, 422) and not self.json_object:
            body["response_format"] = {"type": "json_object"}
            reply = self._send(body, attempt)
            if 200 <= reply.status < 300:
                self.json_object = True
        if not 200 <= reply.status < 300:
            raise PlannerError(
                self._scrub(f"POST {self.url} failed with HTTP {reply.status}: {_snippet(reply.body)}"),
                url=self.url, status=reply.status,
            )
        try:
            data = orjson.loads(reply.body)
            message = data["choices"][0]["message"]
            content = message.get("content")
            if content is None:
                content = message.get("refusal") or ""
            usage = data.get("usage") or {}
            tokens = {name: _count(usage.get(name)) for name in ("prompt_tokens", "completion_tokens", "total_tokens")}
            tokens["total_tokens"] = tokens["total_tokens"] or tokens["prompt_tokens"] + tokens["completion_tokens"]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise PlannerError(
                self._scrub(f"POST {self.url} returned an unreadable chat completion ({type(exc).__name__}): "
                            f"{_snippet(reply.body)}"),
                url=self.url, status=reply.status,
            ) from None
        if not isinstance(content, str):
            content = orjson.dumps(content).decode()
        return content, tokens

    def _send(self, body: dict[str, Any], attempt: int) -> _Reply:
        """The server's reply to `body`: a success or a status not worth retrying; PlannerError
        after the last retry of a timeout, connection failure, 429 or 5xx."""
        raw = orjson.dumps(body)
        failure, status = "", None
        for tried in range(self.max_retries + 1):
            retry_after: str | None = None
            started = time.perf_counter()
            try:
                reply = self._post(raw)
            except _Transient as exc:
                failure, status = str(exc), None
                self._log(attempt, tried, None, None, started)
            else:
                self._log(attempt, tried, reply.status, reply.body, started)
                if not _retryable(reply.status):
                    return reply
                status, retry_after = reply.status, reply.retry_after
                failure = f"HTTP {reply.status}: {_snippet(reply.body)}"
            if tried < self.max_retries:
                time.sleep(self._delay(tried, retry_after))
        raise PlannerError(
            self._scrub(f"POST {self.url} failed after {self.max_retries + 1} tries; last error: {failure}"),
            url=self.url, status=status,
        )

    def _post(self, raw: bytes) -> _Reply:
        client = self._http()
        try:
            response = client.post(self.url, content=raw, headers=self._headers)
        except httpx.TimeoutException as exc:
            raise _Transient(f"timed out after {self.timeout:g} s ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise _Transient(f"connection failed ({type(exc).__name__}: {exc})") from None
        return _Reply(response.status_code, response.content, response.headers.get("retry-after"))

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout)
            return self._client

    def _delay(self, tried: int, retry_after: str | None) -> float:
        delay = self.backoff * (2**tried) * (1 + 0.25 * random.random())
        if retry_after:
            with contextlib.suppress(ValueError):  # an HTTP date: keep our own backoff
                delay = max(delay, float(retry_after))
        return min(delay, self.max_backoff)

    def _log(self, attempt: int, tried: int, status: int | None, body: bytes | None, started: float) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        tokens: Any = "-"
        if body is not None and status is not None and 200 <= status < 300:
            with contextlib.suppress(Exception):
                usage = orjson.loads(body).get("usage") or {}
                tokens = f"{_count(usage.get('prompt_tokens'))}+{_count(usage.get('completion_tokens'))}"
        log.debug(
            "llm planner: model=%s attempt=%d try=%d format=%s status=%s tokens=%s ms=%.1f",
            self.model, attempt, tried + 1, "json_object" if self.json_object else "json_schema",
            status if status is not None else "failed", tokens, (time.perf_counter() - started) * 1000,
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "[api key]") if self._key else text


# -- the prompt -----------------------------------------------------------------------------------


def user_message(question: str, vocabulary: Vocabulary, max_stages: int) -> str:
    """The per-question part of the prompt: the tenant's schemas, the stage limit, the question."""
    return (
        f"Schema:\n{describe_schemas(vocabulary)}\n"
        f"At most {max_stages} stage{'s' if max_stages > 1 else ''} (a fallback too).\n"
        f"Question: {question}"
    )


def describe_schemas(vocabulary: Vocabulary) -> str:
    """`vocabulary.describe()` as terse text: a line a table (rows, key, search text, time field,
    moments, description) and a line a field; every table also has `id`, `created_at` and
    `modified_at`, said once."""
    data = vocabulary.describe()
    lines: list[str] = []
    for table in data["tables"]:
        facts = [f"{table['rows']} rows" if table["rows"] else "empty"]
        if table.get("key_field"):
            info = vocabulary.tables.get(table["name"])
            samples = info.key_samples[:3] if info is not None else ()
            shown = f" e.g. {orjson.dumps(list(samples)).decode()}" if samples else ""
            facts.append(f"key {table['key_field']}{shown}")
        if table.get("searchable_text"):
            facts.append("search text: " + ", ".join(table["searchable_text"]))
        if table.get("moments"):
            facts.append("moments")
        if table.get("default_time_field") not in (None, "created_at"):
            facts.append(f"time field {table['default_time_field']}")
        description = _truncated(" ".join(str(table.get("description") or "").split()), 160)
        lines.append(f"{table['name']} ({'; '.join(facts)})" + (f": {description}" if description else ""))
        for field in table["fields"]:
            if field["name"] in _SYSTEM_FIELDS and field.get("description") == "set by remlite":
                continue
            line = f"  {field['name']}: {field['type']}" + (", indexed" if field.get("indexed") else "")
            if field.get("description"):
                line += " - " + _truncated(" ".join(str(field["description"]).split()), 120)
            if field.get("values"):
                line += "; values " + orjson.dumps(field["values"]).decode()
            lines.append(line)
    lines.append("(every table also has id, and created_at and modified_at timestamps)")
    edges = data["edge_types"]
    if edges:
        lines.append("edges (type: from -> to)")
        for edge in edges:
            lines.append(f"  {edge['type']}: {', '.join(edge['from']) or '?'} -> {', '.join(edge['to']) or '?'}")
    else:
        lines.append("edges: none")
    return "\n".join(lines)


def prompt_size(vocabulary: Vocabulary, max_stages: int = 3, question: str = "") -> int:
    """Characters of the prompt for a question (both messages; the response schema aside)."""
    return len(GUIDE) + len(user_message(question, vocabulary, max_stages))


# -- the response schema ----------------------------------------------------------------------------

_STAGE_DEFS = ("LookupStage", "FilterStage", "SearchStage", "TraverseStage", "MomentsStage")


@functools.cache
def _plain_plan_schema() -> dict[str, Any]:
    """Plan's JSON schema made plain for grammar-constrained servers: no recursion (the fallback is
    a plan without a fallback), `anyOf` stages instead of a discriminator, `kind` required, no
    titles, descriptions or defaults, optional fields not nullable (an absent key is the default),
    no `planner` (this planner sets it). The stages and their parts stay in `$defs`, shared by the
    plan and its fallback."""
    full = Plan.model_json_schema()

    def plain(node: Any) -> Any:
        if isinstance(node, list):
            return [plain(item) for item in node]
        if not isinstance(node, dict):
            return node
        options = node.get("anyOf")
        if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
            return plain(next(o for o in options if o != {"type": "null"}))  # optional: leave it out
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("title", "description", "default", "discriminator"):
                continue
            if key == "const":
                out["enum"] = [value]
            elif key == "oneOf":
                out["anyOf"] = plain(value)
            elif key == "properties":
                out[key] = {name: plain(spec) for name, spec in value.items()}
            else:
                out[key] = plain(value)
        if not out:  # a condition's value: any JSON value, spelt out (some grammars want a type)
            return {"anyOf": [{"type": t} for t in ("string", "number", "boolean", "null")]
                    + [{"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "number"}]}}]}
        if "kind" in out.get("properties", {}):
            out["required"] = ["kind", *[r for r in out.get("required", []) if r != "kind"]]
        return out

    defs = {name: plain(spec) for name, spec in full["$defs"].items() if name != "Plan"}
    plan = plain(full["$defs"]["Plan"])
    del plan["properties"]["planner"]
    plan["required"] = ["stages", "confidence", "explanation"]
    fallback = copy.deepcopy(plan)
    del fallback["properties"]["fallback"]
    fallback["required"] = ["stages"]
    plan["properties"]["fallback"] = fallback
    plan["$defs"] = defs
    assert "#/$defs/Plan" not in orjson.dumps(plan).decode()
    return plan  # type: ignore[no-any-return]


def response_schema(vocabulary: Vocabulary, max_stages: int) -> dict[str, Any]:
    """The plain plan schema for this vocabulary: at most `max_stages` stages, table names and edge
    types as enums (a grammar-constrained server can then name nothing else)."""
    schema = copy.deepcopy(_plain_plan_schema())
    tables = sorted(vocabulary.tables)
    edge_types = sorted(vocabulary.edges)
    schema["properties"]["stages"]["maxItems"] = max_stages
    schema["properties"]["fallback"]["properties"]["stages"]["maxItems"] = max_stages
    for name in _STAGE_DEFS:
        properties = schema["$defs"][name]["properties"]
        if tables and "table" in properties:
            properties["table"]["enum"] = tables
        if edge_types and "types" in properties:
            properties["types"]["items"]["enum"] = edge_types
    return schema


# -- reading and checking an answer -------------------------------------------------------------


def parse_answer(answer: str) -> Plan:
    """The plan in a model's answer (JSON, perhaps in a code fence or wrapped as {"plan": ...});
    null values of optional keys are dropped (some models write every key); InvalidInput says why
    it is not a plan."""
    text = answer.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        start, end = text.find("{"), text.rfind("}")
        try:
            data = orjson.loads(text[start : end + 1]) if 0 <= start < end else None
        except orjson.JSONDecodeError:
            data = None
        if data is None:
            raise InvalidInput(f"the answer is not JSON ({exc}); reply with one JSON object") from None
    if isinstance(data, dict) and "stages" not in data and len(data) == 1:
        inner = next(iter(data.values()))
        if isinstance(inner, dict) and "stages" in inner:
            data = inner
    if isinstance(data, dict):
        data.pop("planner", None)
    return Plan.from_dict(_without_nulls(data))


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None or k == "value"}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


# -- small helpers ----------------------------------------------------------------------------------


def _as_llm(plan: Plan) -> Plan:
    fallback = _as_llm(plan.fallback) if plan.fallback is not None else None
    return plan.model_copy(update={"planner": "llm", "fallback": fallback})


def _usage(cached: int = 0) -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "attempts": 0, "cached": cached}


def _count(value: Any) -> int:
    return value if type(value) is int and value >= 0 else 0


def _retryable(status: int) -> bool:
    """Request timeout, rate limit and server errors are worth another try; other 4xx are not."""
    return status in (408, 429) or status >= 500


def _snippet(body: bytes, limit: int = 300) -> str:
    return _truncated(body.decode("utf-8", "replace").strip(), limit)


def _truncated(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
