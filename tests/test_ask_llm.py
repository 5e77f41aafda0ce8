"""The `llm` planner against a fake OpenAI-compatible chat server on 127.0.0.1 (no network).

The fake answers from a scripted queue and records every request, so each test says what the
"model" answers and checks what the planner sent: the prompt, the response format, the corrections
after an invalid answer, the retries after a failure, the cache."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import jsonschema_rs
import pytest

import remlite
from remlite.ask import llm
from remlite.ask.checks import check_plan
from remlite.ask.llm import LLMPlanner, parse_answer
from remlite.ask.plan import Plan
from remlite.ask.vocabulary import EdgeInfo, FieldInfo, TableInfo, Vocabulary, build
from remlite.errors import InvalidInput, PlannerError
from remlite.settings import Settings
from tests.fake_http import FakeEndpoint, serving

KEY = "sk-secret-7f3a9c"

CARRIERS = {
    "name": "carriers",
    "description": "Shipping companies",
    "properties": {"name": {"type": "string", "description": "company name"}, "country": {"type": "string"}},
    "key_field": "name",
    "indexed_fields": ["country"],
}
SHIPMENTS = {
    "name": "shipments",
    "properties": {
        "code": {"type": "string"},
        "status": {
            "type": "string", "enum": ["delayed", "delivered", "in_transit"], "description": "where the parcel is",
        },
        "notes": {"type": "string"},
        "shipped": {"type": "string", "format": "date-time"},
    },
    "key_field": "code",
    "indexed_fields": ["status", "shipped"],
    "text_fields": ["notes"],
}

DELAYED = {
    "stages": [{"kind": "filter", "table": "shipments", "where": [{"field": "status", "op": "=", "value": "delayed"}]}],
    "confidence": 0.9,
    "explanation": "Shipments whose status is delayed.",
}
CARRIERS_OF_DELAYED = {
    "stages": [
        {"kind": "filter", "table": "shipments", "where": [{"field": "status", "value": "delayed"}]},
        {"kind": "traverse", "direction": "out", "types": ["carried_by"], "table": "carriers"},
    ],
    "confidence": 0.85,
    "explanation": "Delayed shipments, then their carriers.",
}
USAGE = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}


# -- the fake server --------------------------------------------------------------------------------


class FakeChat(FakeEndpoint):
    """POST /v1/chat/completions. `script` holds the next answers: a dict (a plan, sent as the
    message's JSON content), a str (the content as is), an int (that HTTP status, its body quoting
    the Authorization header it got, as a careless server might), "sleep" (answer after 1 s) or
    "garbage" (200 with a body that is not a chat completion). Nothing scripted: 418."""

    script: ClassVar[list[Any]] = []
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        action = type(self).script.pop(0) if type(self).script else 418
        if action == "sleep":
            time.sleep(1.0)
            action = DELAYED
        if action == "garbage":
            return self._send(200, b"<html>gateway</html>")
        if isinstance(action, int):
            error = {"error": {"message": f"fake failure {action} for {self.headers.get('Authorization')}"}}
            return self._send(action, json.dumps(error).encode(), {"Retry-After": "0"})
        content = action if isinstance(action, str) else json.dumps(action)
        reply = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": USAGE,
        }
        self._send(200, json.dumps(reply).encode())


@pytest.fixture
def server() -> Iterator[str]:
    FakeChat.script, FakeChat.requests = [], []
    with serving(FakeChat) as url:
        yield url


def settings(url: str, tmp_path: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "path": tmp_path, "llm_base_url": url, "llm_api_key": KEY, "llm_model": "fake-model", "llm_timeout": 5.0,
    }
    return Settings(**{**values, **changes})


def planner(url: str, tmp_path: Path, **changes: Any) -> LLMPlanner:
    return LLMPlanner(settings(url, tmp_path, **changes), backoff=0.001)


@pytest.fixture
def shipping(db: remlite.Database) -> remlite.Database:
    db.register_schema(CARRIERS)
    db.register_schema(SHIPMENTS)
    dhl = db.insert("carriers", {"name": "DHL", "country": "DE"})
    ups = db.insert("carriers", {"name": "UPS", "country": "US"})
    rows = [("S1", "delayed", dhl), ("S2", "delivered", ups), ("S3", "delayed", dhl)]
    for code, status, carrier in rows:
        sid = db.insert("shipments", {"code": code, "status": status, "notes": f"parcel {code}",
                                      "shipped": "2025-01-02T00:00:00Z"})
        db.add_edges([(sid, carrier, "carried_by")])
    return db


@pytest.fixture
def vocabulary(shipping: remlite.Database) -> Vocabulary:
    return build(shipping)


def messages(request: dict[str, Any]) -> list[dict[str, str]]:
    return request["messages"]  # type: ignore[no-any-return]


# -- a valid plan ---------------------------------------------------------------------------------


def test_valid_plan_on_the_first_answer(server: str, tmp_path: Path, vocabulary: Vocabulary) -> None:
    FakeChat.script = [DELAYED]
    plan, usage = planner(server, tmp_path).plan("which shipments are delayed?", vocabulary, max_stages=3)
    assert plan.planner == "llm" and plan.kinds == ["filter"] and plan.confidence == 0.9
    assert plan.stages[0].where[0].value == "delayed"  # type: ignore[union-attr]
    assert usage == {**USAGE, "attempts": 1, "cached": 0}
    [request] = FakeChat.requests
    assert request["path"] == "/v1/chat/completions" and request["model"] == "fake-model"
    assert request["temperature"] == 0 and request["auth"] == f"Bearer {KEY}"
    form = request["response_format"]
    assert form["type"] == "json_schema" and form["json_schema"]["name"] == "plan"
    assert form["json_schema"]["strict"] is False
    schema = form["json_schema"]["schema"]
    text = json.dumps(schema)
    assert "#/$defs/Plan" not in text and "oneOf" not in text and "discriminator" not in text
    assert schema["$defs"]["FilterStage"]["properties"]["table"]["enum"] == sorted(vocabulary.tables)
    assert schema["$defs"]["TraverseStage"]["properties"]["types"]["items"]["enum"] == ["carried_by"]
    assert schema["properties"]["stages"]["maxItems"] == 3 and "planner" not in schema["properties"]
    system, user = messages(request)
    assert system["role"] == "system" and user["role"] == "user"
    assert user["content"].endswith("Question: which shipments are delayed?")


def test_fallback_plan_is_marked_llm_too(server: str, tmp_path: Path, vocabulary: Vocabulary) -> None:
    fallback = {"stages": [{"kind": "search", "text": "delayed", "table": "shipments"}]}
    FakeChat.script = [{**DELAYED, "fallback": fallback}]
    plan, _ = planner(server, tmp_path).plan("late parcels", vocabulary, max_stages=3)
    assert plan.planner == "llm" and plan.fallback is not None and plan.fallback.planner == "llm"


def test_prompt_holds_the_schemas_and_stays_compact(server: str, tmp_path: Path, vocabulary: Vocabulary) -> None:
    FakeChat.script = [DELAYED]
    planner(server, tmp_path).plan("which shipments are delayed?", vocabulary, max_stages=2)
    system, user = (m["content"] for m in messages(FakeChat.requests[0]))
    for text in ("shipments (", "carriers (", "where the parcel is", "carried_by: shipments -> carriers",
                 '"delayed"', "Shipping companies", "search text: notes", "time field shipped",
                 'key code e.g. ["S', "At most 2 stages"):
        assert text in user, text
    assert "shipments" not in system and "carried_by" not in system  # the examples use another schema
    for phrase in ("last week", "last N hours|days|weeks|months|years", "in March 2025", "traverse", "moments"):
        assert phrase in system
    assert len(vocabulary.tables) == 8  # the two tables and the six templates
    assert len(system) + len(user) < 8000


def made_up_vocabulary() -> Vocabulary:
    """The vocabulary of the worked examples' schema (llm.EXAMPLE_SCHEMA)."""

    def table(name: str, fields: list[FieldInfo], **options: Any) -> TableInfo:
        values: dict[str, Any] = {"description": "", "key_field": None, "searchable": (), "embedded": (),
                                  "moments": False, "count": 10, "words": frozenset(), "time_field": "created_at"}
        return TableInfo(name=name, fields={f.name: f for f in fields}, **{**values, **options})

    return Vocabulary(
        tables={
            "books": table("books", [FieldInfo("title", "string"), FieldInfo("genre", "string", indexed=True),
                                     FieldInfo("published", "timestamp", timestamp=True),
                                     FieldInfo("summary", "string")],
                           key_field="title", searchable=("summary",), time_field="published"),
            "authors": table("authors", [FieldInfo("name", "string"), FieldInfo("country", "string")],
                             key_field="name"),
            "readings": table("readings", [FieldInfo("start_time", "timestamp", indexed=True, timestamp=True),
                                           FieldInfo("end_time", "timestamp", indexed=True, timestamp=True),
                                           FieldInfo("people", "array", is_array=True)],
                              moments=True, time_field="start_time"),
        },
        edges={"written_by": EdgeInfo("written_by", 5, ("books",), ("authors",)),
               "about": EdgeInfo("about", 5, ("readings",), ("books",))},
        seq=0,
        schema_version=(),
    )


def test_worked_examples_are_valid_plans_for_their_schema() -> None:
    made_up = made_up_vocabulary()
    validator = jsonschema_rs.validator_for(llm.response_schema(made_up, 3))
    assert 4 <= len(llm.EXAMPLES) <= 6
    for question, example in llm.EXAMPLES:
        check_plan(Plan.from_dict(example), made_up, 3)
        assert validator.is_valid(example), question  # the response schema accepts what the guide shows
        assert f"Q: {question}\nA: " in llm.GUIDE
    assert "books (key title" in llm.GUIDE
    wrong = [
        {"stages": [{"kind": "filter", "table": "shelves"}], "confidence": 1, "explanation": ""},
        {"stages": [{"kind": "teleport"}], "confidence": 1, "explanation": ""},
        {"stages": [{"table": "books"}], "confidence": 1, "explanation": ""},
        {"stages": [{"kind": "lookup", "key": "x"}] * 4, "confidence": 1, "explanation": ""},
        {"stages": [{"kind": "lookup", "key": "x"}], "confidence": 1, "explanation": "", "planner": "llm"},
    ]
    assert not any(validator.is_valid(plan) for plan in wrong)


# -- invalid answers ------------------------------------------------------------------------------


def test_invalid_json_then_a_valid_plan(server: str, tmp_path: Path, vocabulary: Vocabulary) -> None:
    FakeChat.script = ["Sure! Here is the plan you asked for.", DELAYED]
    plan, usage = planner(server, tmp_path).plan("which shipments are delayed?", vocabulary, max_stages=3)
    assert plan.kinds == ["filter"]
    assert usage == {"prompt_tokens": 200, "completion_tokens": 40, "total_tokens": 240, "attempts": 2, "cached": 0}
    assert len(FakeChat.requests) == 2
    *_, answered, correction = messages(FakeChat.requests[1])
    assert answered == {"role": "assistant", "content": "Sure! Here is the plan you asked for."}
    assert correction["role"] == "user" and "the answer is not JSON" in correction["content"]
    assert messages(FakeChat.requests[1])[:2] == messages(FakeChat.requests[0])


def test_unknown_table_is_sent_back_and_corrected(server: str, tmp_path: Path, vocabulary: Vocabulary) -> None:
    wrong = {"stages": [{"kind": "filter", "table": "parcels", "where": [{"field": "status", "value": "delayed"}]}],
             "confidence": 0.7, "explanation": "x"}
    FakeChat.script = [wrong, DELAYED]
    plan, usage = planner(server, tmp_path).plan("late parcels", vocabulary, max_stages=3)
    assert plan.stages[0].table == "shipments" and usage["attempts"] == 2  # type: ignore[union-attr]
    correction = messages(FakeChat.requests[1])[-1]["content"]
    assert "stage 1 (filter): no table 'parcels'" in correction and "shipments" in correction


def test_unknown_field_edge_type_and_stage_count_are_rejected(vocabulary: Vocabulary) -> None:
    def problems(data: dict[str, Any], max_stages: int = 3) -> str:
        with pytest.raises(InvalidInput) as info:
            check_plan(Plan.from_dict(data), vocabulary, max_stages)
        return info.value.message

    assert "has no field 'state'" in problems({"stages": [
        {"kind": "filter", "table": "shipments", "where": [{"field": "state", "value": "delayed"}]}]})
    assert "no edge type 'shipped_by'; edge types: carried_by" in problems({"stages": [
        {"kind": "lookup", "key": "S1"}, {"kind": "traverse", "types": ["shipped_by"]}]})
    assert "cannot be the first stage" in problems({"stages": [{"kind": "traverse"}]})
    assert "2 stages; at most 1" in problems({"stages": [{"kind": "lookup", "key": "S1"}, {"kind": "traverse"}]}, 1)
    assert "not a time phrase: 'next fortnight'" in problems({"stages": [
        {"kind": "filter", "table": "shipments", "time": {"phrase": "next fortnight"}}]})
    assert "'carriers' is not a moments table" in problems({"stages": [{"kind": "moments", "table": "carriers"}]})
    assert "'carriers' has no text to search" in problems({"stages": [
        {"kind": "search", "text": "x", "table": "carriers"}]})
    assert "has no field 'carrier_code'" in problems({"stages": [
        {"kind": "lookup", "key": "DHL"},
        {"kind": "filter", "table": "shipments", "from_previous": True, "link_field": "carrier_code"}]})
    assert "has no field 'status'" in problems({"stages": [
        {"kind": "moments", "table": "moments", "where": [{"field": "status", "value": "x"}]}]})
    assert "fallback stage 1 (filter): no table 'nope'" in problems(
        {"stages": [{"kind": "lookup", "key": "S1"}], "fallback": {"stages": [{"kind": "filter", "table": "nope"}]}})
    check_plan(Plan.from_dict(CARRIERS_OF_DELAYED), vocabulary, 2)
    check_plan(Plan.from_dict({"stages": [{"kind": "filter", "table": "shipments", "order_by": "created_at",
                                           "where": [{"field": "id", "op": "in", "value": ["x"]}],
                                           "time": {"field": "shipped", "since": "2025-01-01"}}]}), vocabulary, 1)


def test_answer_shapes_models_produce(vocabulary: Vocabulary) -> None:
    fenced = "```json\n" + json.dumps(DELAYED) + "\n```"
    assert parse_answer(fenced).kinds == ["filter"]
    assert parse_answer(json.dumps({"plan": DELAYED})).kinds == ["filter"]
    assert parse_answer("Here it is: " + json.dumps(DELAYED) + " Hope it helps.").kinds == ["filter"]
    nulls = {"stages": [{"kind": "lookup", "key": "S1", "table": None, "limit": None, "fuzzy": None}],
             "fallback": None, "confidence": 0.5, "explanation": "x", "planner": "rules"}
    plan = parse_answer(json.dumps(nulls))
    assert plan.stages[0].limit == 10 and plan.fallback is None  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="not a valid plan"):
        parse_answer(json.dumps({"stages": [{"kind": "teleport"}]}))


def test_always_invalid_raises_planner_error_after_three_answers(
    server: str, tmp_path: Path, vocabulary: Vocabulary
) -> None:
    long_wrong = json.dumps({"stages": [{"kind": "filter", "table": "parcels"}], "explanation": "x" * 5000})
    FakeChat.script = [long_wrong] * 3
    with pytest.raises(PlannerError) as info:
        planner(server, tmp_path).plan("late parcels", vocabulary, max_stages=3)
    error = info.value
    assert "gave no valid plan in 3 answers" in error.message and "no table 'parcels'" in error.message
    assert "fake-model" in error.message and server in error.message
    assert error.details["attempts"] == 3 and error.details["answer"].startswith('{"stages"')
    assert len(error.details["answer"]) <= llm.ANSWER_KEPT + 1
    assert error.http_status == 502 and error.exit_code == 13 and error.code == "planner_error"
    assert error.to_dict()["error"]["code"] == "planner_error"
    assert len(FakeChat.requests) == 3 and len(messages(FakeChat.requests[2])) == 6


# -- the endpoint -----------------------------------------------------------------------------------


def test_json_schema_refused_with_400_falls_back_to_json_object(
    server: str, tmp_path: Path, vocabulary: Vocabulary
) -> None:
    FakeChat.script = [400, DELAYED, CARRIERS_OF_DELAYED]
    chat = planner(server, tmp_path)
    plan, usage = chat.plan("which shipments are delayed?", vocabulary, max_stages=3)
    assert plan.kinds == ["filter"] and usage["attempts"] == 1
    formats = [r["response_format"]["type"] for r in FakeChat.requests]
    assert formats == ["json_schema", "json_object"] and chat.json_object
    chat.plan("carriers of delayed shipments", vocabulary, max_stages=3)
    assert FakeChat.requests[2]["response_format"] == {"type": "json_object"}  # remembered
    assert "JSON" in messages(FakeChat.requests[1])[0]["content"]  # json_object needs the word in the prompt


def test_500_and_429_are_retried(server: str, tmp_path: Path, vocabulary: Vocabulary) -> None:
    FakeChat.script = [500, 429, DELAYED]
    plan, usage = planner(server, tmp_path).plan("which shipments are delayed?", vocabulary, max_stages=3)
    assert plan.kinds == ["filter"] and usage["attempts"] == 1 and usage["total_tokens"] == 120
    assert len(FakeChat.requests) == 3


def test_5xx_gives_up_after_bounded_retries(server: str, tmp_path: Path, vocabulary: Vocabulary) -> None:
    FakeChat.script = [503] * 5
    with pytest.raises(PlannerError, match=r"after 3 tries.*HTTP 503") as info:
        planner(server, tmp_path).plan("x", vocabulary, max_stages=3)
    assert f"{server}/chat/completions" in info.value.message and info.value.details["status"] == 503
    assert len(FakeChat.requests) == 3 and KEY not in str(info.value)


def test_401_fails_at_once_without_the_key(server: str, tmp_path: Path, vocabulary: Vocabulary) -> None:
    FakeChat.script = [401]
    with pytest.raises(PlannerError, match="HTTP 401") as info:
        planner(server, tmp_path).plan("x", vocabulary, max_stages=3)
    error = info.value
    assert FakeChat.requests[0]["auth"] == f"Bearer {KEY}"  # sent, and the server's body quoted it back
    assert KEY not in str(error) and KEY not in json.dumps(error.to_dict()) and "[api key]" in error.message
    assert error.details == {"url": f"{server}/chat/completions", "status": 401}
    assert len(FakeChat.requests) == 1


def test_unreadable_completion(server: str, tmp_path: Path, vocabulary: Vocabulary) -> None:
    FakeChat.script = ["garbage"]
    with pytest.raises(PlannerError, match="unreadable chat completion"):
        planner(server, tmp_path).plan("x", vocabulary, max_stages=3)


def test_timeout_is_retried_then_a_planner_error(server: str, tmp_path: Path, vocabulary: Vocabulary) -> None:
    FakeChat.script = ["sleep", DELAYED]
    plan, _ = planner(server, tmp_path, llm_timeout=0.2).plan("a", vocabulary, max_stages=3)
    assert plan.kinds == ["filter"] and len(FakeChat.requests) == 2
    FakeChat.script = ["sleep"] * 3
    started = time.monotonic()
    with pytest.raises(PlannerError, match=r"after 3 tries; last error: timed out after 0.2 s") as info:
        planner(server, tmp_path, llm_timeout=0.2).plan("b", vocabulary, max_stages=3)
    assert time.monotonic() - started < 3 and server in info.value.message


def test_connection_refused_and_missing_endpoint(tmp_path: Path, vocabulary: Vocabulary) -> None:
    with pytest.raises(PlannerError, match="connection failed"):
        LLMPlanner(settings("http://127.0.0.1:9/v1", tmp_path), max_retries=0).plan("x", vocabulary, max_stages=3)
    with pytest.raises(InvalidInput, match="REMLITE_LLM_BASE_URL"):
        LLMPlanner(Settings(path=tmp_path))
    with pytest.raises(InvalidInput, match="http:// or https://"):
        LLMPlanner(settings("ftp://example.com", tmp_path))


# -- the cache --------------------------------------------------------------------------------------


def test_same_question_is_planned_once_until_the_schemas_change(
    server: str, tmp_path: Path, shipping: remlite.Database
) -> None:
    chat = planner(server, tmp_path)
    before = build(shipping)
    FakeChat.script = [DELAYED, DELAYED, DELAYED]
    first, usage = chat.plan("which shipments are delayed?", before, max_stages=3)
    again, cached = chat.plan("  which shipments are delayed? ", before, max_stages=3)
    assert again == first and usage["cached"] == 0 and len(FakeChat.requests) == 1
    assert cached == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "attempts": 0, "cached": 1}
    again.stages.clear()  # a caller changing its copy does not change the cache
    assert chat.plan("which shipments are delayed?", before, max_stages=3)[0] == first
    chat.plan("which shipments are delayed?", before, max_stages=2)  # another limit: another plan
    assert len(FakeChat.requests) == 2
    shipping.register_schema({**SHIPMENTS, "properties": {**SHIPMENTS["properties"], "weight": {"type": "number"}}})
    after = build(shipping)
    assert after.schema_version != before.schema_version
    _, usage = chat.plan("which shipments are delayed?", after, max_stages=3)
    assert usage["cached"] == 0 and len(FakeChat.requests) == 3


def test_cache_is_bounded(server: str, tmp_path: Path, vocabulary: Vocabulary) -> None:
    chat = LLMPlanner(settings(server, tmp_path), cache_size=2)
    FakeChat.script = [DELAYED] * 4
    for question in ("a", "b", "c", "a"):
        chat.plan(question, vocabulary, max_stages=3)
    assert len(FakeChat.requests) == 4 and len(chat._cache) == 2


# -- settings, the key ------------------------------------------------------------------------------


def test_openai_variables_are_fallbacks(server: str, tmp_path: Path, vocabulary: Vocabulary) -> None:
    env = {"REMLITE_PATH": str(tmp_path), "OPENAI_BASE_URL": server + "/", "OPENAI_API_KEY": "sk-openai-1"}
    chat = LLMPlanner(Settings.from_env(env))
    assert chat.url == f"{server}/chat/completions" and chat.model == "gpt-4o-mini"
    FakeChat.script = [DELAYED]
    chat.plan("x", vocabulary, max_stages=3)
    assert FakeChat.requests[0]["auth"] == "Bearer sk-openai-1" and FakeChat.requests[0]["model"] == "gpt-4o-mini"
    ours = {**env, "REMLITE_LLM_BASE_URL": "http://127.0.0.1:9/v2", "REMLITE_LLM_API_KEY": "sk-remlite",
            "REMLITE_LLM_MODEL": "m2", "REMLITE_LLM_TIMEOUT": "7"}
    chosen = Settings.from_env(ours)
    assert (chosen.llm_base_url, chosen.llm_api_key, chosen.llm_model, chosen.llm_timeout) == (
        "http://127.0.0.1:9/v2", "sk-remlite", "m2", 7.0)
    assert LLMPlanner(chosen).timeout == 7.0


def test_key_never_in_repr_or_log(
    server: str, tmp_path: Path, vocabulary: Vocabulary, caplog: pytest.LogCaptureFixture
) -> None:
    chat = planner(server, tmp_path)
    assert KEY not in repr(chat) and "fake-model" in repr(chat)
    FakeChat.script = [500, "not json", DELAYED]
    with caplog.at_level(logging.DEBUG, logger="remlite.ask"):
        chat.plan("which shipments are delayed?", vocabulary, max_stages=3)
    lines = [r.getMessage() for r in caplog.records if r.name == "remlite.ask"]
    assert len(lines) == 3 and all("model=fake-model" in line for line in lines)
    assert "status=500" in lines[0] and "attempt=2" in lines[2] and "tokens=100+20" in lines[2]
    assert KEY not in caplog.text


# -- through the database ----------------------------------------------------------------------------


def test_plan_and_ask_through_the_database(
    server: str, shipping: remlite.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMLITE_LLM_BASE_URL", server)
    monkeypatch.setenv("REMLITE_LLM_API_KEY", KEY)
    monkeypatch.setenv("REMLITE_LLM_MODEL", "fake-model")
    FakeChat.script = [CARRIERS_OF_DELAYED, DELAYED]
    plan = shipping.plan("who carries the delayed shipments?", planner="llm")
    assert plan.planner == "llm" and plan.kinds == ["filter", "traverse"]
    answer = shipping.ask("who carries the delayed shipments?", planner="llm")  # the cached plan
    assert [r["name"] for r in answer.rows] == ["DHL"] and answer.rows[0]["_hits"] == 2
    assert answer.plan.planner == "llm" and answer.usage is not None and answer.usage["cached"] == 1
    assert answer.explanation == "Delayed shipments, then their carriers." and len(FakeChat.requests) == 1
    answer = shipping.ask("which shipments are delayed?")  # configured: the llm planner by default
    assert sorted(r["code"] for r in answer.rows) == ["S1", "S3"] and answer.usage is not None
    assert answer.usage["attempts"] == 1 and answer.plan.planner == "llm"
    assert shipping.plan("which shipments are delayed?", planner="rules").planner == "rules"
    assert len(FakeChat.requests) == 2
