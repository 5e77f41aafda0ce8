"""Tests of the `remlite` shell. Each command runs through Typer's CliRunner (two end-to-end cases run
the installed `remlite` script) and its effect is checked through the library on the same path."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

import remlite
from remlite import errors
from remlite.cli.app import app
from remlite.serve.keys import KeyStore

NOTES: dict[str, Any] = {
    "name": "notes",
    "type": "object",
    "properties": {"title": {"type": "string"}, "body": {"type": "string"}, "stars": {"type": "integer", "minimum": 0}},
    "required": ["title"],
    "json_schema_extra": {"indexed_fields": ["stars"]},
}
PEOPLE: dict[str, Any] = {
    "name": "people",
    "type": "object",
    "properties": {"email": {"type": "string"}, "name": {"type": "string"}, "city": {"type": "string"}},
    "required": ["email", "name"],
    "key_field": "email",
    "indexed_fields": ["city"],
}
PEOPLE_YAML = """\
name: people
type: object
properties:
  email: {type: string}
  name: {type: string}
  city: {type: string}
required: [email, name]
json_schema_extra:
  key_field: email
  indexed_fields: [city]
"""
PERSON_MODEL = """\
from pydantic import BaseModel, ConfigDict


class Person(BaseModel):
    model_config = ConfigDict(json_schema_extra={"key_field": "email", "indexed_fields": ["city"]})

    email: str
    name: str
    city: str | None = None
"""
COMMON_OPTIONS = ("--path", "--tenant", "--json")
REM_SCRIPT = Path(sys.executable).parent / "remlite"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"

# Unset so a developer's own REMLITE_PATH / REMLITE_TENANT never leak into a test.
runner = CliRunner(env={"REMLITE_PATH": None, "REMLITE_TENANT": None})


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "db"


@pytest.fixture
def notes_root(root: Path) -> Path:
    with remlite.connect(root) as db:
        db.register_schema(NOTES)
        db.register_schema(PEOPLE)
    return root


def rem(root: Path, *args: str, input: str | None = None, env: dict[str, str | None] | None = None) -> Result:
    """Run `remlite ARGS --path ROOT` in-process."""
    return runner.invoke(app, [*args, "--path", str(root)], input=input, env=env)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def jsonl(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def assert_user_error(result: Result, exc_type: type[errors.RemliteError]) -> None:
    """Exit code of the error class, exactly one `error:` line on stderr, no traceback anywhere."""
    assert result.exit_code == exc_type.exit_code, result.output
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output


def rows_via_library(root: Path, table: str) -> list[dict[str, Any]]:
    with remlite.connect(root) as db:
        return db.list(table, limit=None)


# --------------------------------------------------------------------------- init / version
def test_version() -> None:
    result = ok(runner.invoke(app, ["--version"]))
    assert result.stdout.strip() == f"remlite {remlite.__version__}"


def test_init_creates_the_database_with_templates(root: Path) -> None:
    result = ok(rem(root, "init"))
    assert str(root / "default") in result.stdout and "tenant:   default" in result.stdout
    info = json.loads(ok(rem(root, "init", "--json")).stdout)
    with remlite.connect(root) as db:
        names = [s["name"] for s in db.schemas()]
        assert set(db.templates()) <= set(names)
    assert info == {"path": str(root / "default"), "tenant": "default", "tables": names}


def test_path_and_tenant_come_from_the_environment(tmp_path: Path) -> None:
    root = tmp_path / "envdb"
    env = {"REMLITE_PATH": str(root), "REMLITE_TENANT": "acme"}
    ok(runner.invoke(app, ["schema", "add", "-"], input=json.dumps(NOTES), env=env))
    rid = ok(runner.invoke(app, ["insert", "notes", '{"title": "hi"}'], env=env)).stdout.strip()
    with remlite.connect(root, "acme") as db:
        assert db.get(rid)["title"] == "hi"
    with remlite.connect(root, "default") as db:
        assert "notes" not in [s["name"] for s in db.schemas()]


# --------------------------------------------------------------------------- schema
def _assert_people_registered(root: Path, name: str = "people") -> None:
    with remlite.connect(root) as db:
        described = db.schema(name)
    assert described["key_field"] == "email" and described["indexed_fields"] == ["city"]


def test_schema_add_yaml_file(root: Path, tmp_path: Path) -> None:
    source = tmp_path / "people.yaml"
    source.write_text(PEOPLE_YAML)
    result = ok(rem(root, "schema", "add", str(source)))
    assert result.stdout.startswith("registered people (version 1, key email, indexed city)")
    _assert_people_registered(root)


def test_schema_add_json_file_with_name(root: Path, tmp_path: Path) -> None:
    source = tmp_path / "people.json"
    source.write_text(json.dumps(PEOPLE))
    described = json.loads(ok(rem(root, "schema", "add", str(source), "--name", "contacts", "--json")).stdout)
    assert described["name"] == "contacts"
    _assert_people_registered(root, "contacts")


@pytest.mark.parametrize("text", [PEOPLE_YAML, json.dumps(PEOPLE)], ids=["yaml", "json"])
def test_schema_add_from_stdin(root: Path, text: str) -> None:
    ok(rem(root, "schema", "add", "-", input=text))
    _assert_people_registered(root)


def test_schema_add_module_model(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "remcli_people_model.py").write_text(PERSON_MODEL)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the CLI may add the cwd; undo it afterwards
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "remcli_people_model", raising=False)
    ok(rem(root, "schema", "add", "remcli_people_model:Person", "--name", "people"))
    _assert_people_registered(root)


@pytest.mark.skipif(not REM_SCRIPT.exists(), reason="the rem console script is not installed")
def test_schema_add_module_model_from_cwd_end_to_end(root: Path, tmp_path: Path) -> None:
    """The installed script imports `module:Model` from the current directory, like `python -m`."""
    (tmp_path / "remcli_cwd_model.py").write_text(PERSON_MODEL)
    env = {k: v for k, v in os.environ.items() if k not in ("REMLITE_PATH", "REMLITE_TENANT", "PYTHONPATH")}
    done = subprocess.run(
        [str(REM_SCRIPT), "schema", "add", "remcli_cwd_model:Person", "--path", str(root)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    _assert_people_registered(root, "person")


def test_schema_list_show_templates(notes_root: Path) -> None:
    with remlite.connect(notes_root) as db:
        db.insert("notes", {"title": "a"})
        schemas, notes, templates = db.schemas(), db.schema("notes"), db.templates()
    assert jsonl(ok(rem(notes_root, "schema", "list", "--json")).stdout) == schemas
    human = ok(rem(notes_root, "schema", "list")).stdout
    assert all(s["name"] in human for s in schemas)
    assert json.loads(ok(rem(notes_root, "schema", "show", "notes", "--json")).stdout) == notes
    assert json.loads(ok(rem(notes_root, "schema", "show", "notes")).stdout) == notes  # pretty JSON
    assert jsonl(ok(rem(notes_root, "schema", "templates", "--json")).stdout) == templates
    assert ok(rem(notes_root, "schema", "templates")).stdout.split() == templates


def test_schema_drop(notes_root: Path) -> None:
    with remlite.connect(notes_root) as db:
        db.insert("notes", {"title": "a"})
    declined = rem(notes_root, "schema", "drop", "notes", input="n\n")
    assert declined.exit_code == 1
    with remlite.connect(notes_root) as db:
        assert db.count("notes") == 1
    assert json.loads(ok(rem(notes_root, "schema", "drop", "notes", "--yes", "--json")).stdout)["rows_removed"] == 1
    ok(rem(notes_root, "schema", "drop", "people", input="y\n"))
    with remlite.connect(notes_root) as db:
        names = [s["name"] for s in db.schemas()]
    assert "notes" not in names and "people" not in names


def test_schema_drop_template_needs_force(notes_root: Path) -> None:
    assert_user_error(rem(notes_root, "schema", "drop", "moments", "--yes"), errors.SchemaError)
    ok(rem(notes_root, "schema", "drop", "moments", "--force", "--yes"))
    with remlite.connect(notes_root) as db:
        assert "moments" not in [s["name"] for s in db.schemas()]


# --------------------------------------------------------------------------- insert
def test_insert_prints_the_id(notes_root: Path) -> None:
    rid = ok(rem(notes_root, "insert", "notes", '{"title": "hello", "stars": 3}')).stdout.strip()
    with remlite.connect(notes_root) as db:
        record = db.get(rid)
    assert record["title"] == "hello" and record["stars"] == 3
    as_json = json.loads(ok(rem(notes_root, "insert", "notes", '{"title": "again"}', "--json")).stdout)
    assert as_json["table"] == "notes" and uuid.UUID(as_json["id"])


def test_insert_batch_from_stdin_in_several_chunks(notes_root: Path) -> None:
    lines = [json.dumps({"title": f"note {i}", "stars": i}) for i in range(25)]
    lines.insert(3, "")  # blank lines are skipped
    result = ok(rem(notes_root, "insert", "notes", "--batch", "--chunk-size", "7", input="\n".join(lines) + "\n"))
    assert re.fullmatch(r"inserted 25 rows into notes in [\d.]+ s \([\d,]+ rows/s\)\n", result.stdout), result.stdout
    rows = rows_via_library(notes_root, "notes")
    assert sorted(r["stars"] for r in rows) == list(range(25))


def test_insert_batch_progress_on_a_terminal(notes_root: Path) -> None:
    """With a terminal on stderr the progress bar is drawn there; stdout still has only the summary."""
    text = "".join(json.dumps({"title": f"n{i}"}) + "\n" for i in range(30))
    result = ok(
        rem(notes_root, "insert", "notes", "--batch", "--chunk-size", "10", input=text, env={"TTY_COMPATIBLE": "1"})
    )
    assert result.stdout.startswith("inserted 30 rows into notes") and result.stdout.count("\n") == 1
    assert "notes" in result.stderr  # the bar's description: "validating notes" / "inserting notes"
    with remlite.connect(notes_root) as db:
        assert db.count("notes") == 30


def test_insert_batch_from_file_json_summary(notes_root: Path, tmp_path: Path) -> None:
    source = tmp_path / "people.jsonl"
    source.write_text("".join(json.dumps({"email": f"p{i}@x", "name": f"P{i}"}) + "\n" for i in range(10)))
    summary = json.loads(ok(rem(notes_root, "insert", "people", "--batch", "--file", str(source), "--json")).stdout)
    assert summary["table"] == "people" and summary["inserted"] == 10 and summary["rows_per_second"] >= 0
    with remlite.connect(notes_root) as db:
        assert db.count("people") == 10 and db.lookup("p7@x")[0]["name"] == "P7"


def test_insert_batch_bad_json_line_writes_nothing(notes_root: Path) -> None:
    text = '{"title": "a"}\n{"title": "b"}\n{"title": oops}\n{"title": "d"}\n'
    result = rem(notes_root, "insert", "notes", "--batch", "--chunk-size", "1", input=text)
    assert_user_error(result, errors.InvalidInput)
    assert "line 3" in result.stderr
    assert rows_via_library(notes_root, "notes") == []


def test_insert_batch_invalid_record_in_a_later_chunk_writes_nothing(notes_root: Path) -> None:
    text = "".join(json.dumps({"title": f"n{i}"}) + "\n" for i in range(6)) + '{"stars": 1}\n'
    result = rem(notes_root, "insert", "notes", "--batch", "--chunk-size", "2", input=text)
    assert_user_error(result, errors.ValidationError)
    assert "line 7" in result.stderr and "title" in result.stderr
    assert rows_via_library(notes_root, "notes") == []


def test_insert_batch_missing_file(notes_root: Path, tmp_path: Path) -> None:
    assert_user_error(rem(notes_root, "insert", "notes", "--file", str(tmp_path / "nope.jsonl")), errors.InvalidInput)


# --------------------------------------------------------------------------- reads and changes
def test_get_and_include_deleted(notes_root: Path) -> None:
    with remlite.connect(notes_root) as db:
        rid = db.insert("notes", {"title": "x", "body": "[bold]not markup[/bold]"})
        expected = db.get(rid)
    assert json.loads(ok(rem(notes_root, "get", rid, "--json")).stdout) == expected
    assert json.loads(ok(rem(notes_root, "get", rid)).stdout) == expected
    with remlite.connect(notes_root) as db:
        db.delete(rid)
    assert_user_error(rem(notes_root, "get", rid), errors.NotFound)
    assert json.loads(ok(rem(notes_root, "get", rid, "--include-deleted", "--json")).stdout)["deleted_at"]


def test_lookup(notes_root: Path) -> None:
    with remlite.connect(notes_root) as db:
        rid = db.insert("people", {"email": "ann@x.io", "name": "Ann"})
        expected = db.lookup("ann@x.io")
    found = jsonl(ok(rem(notes_root, "lookup", "ann@x.io", "--json")).stdout)
    assert found == expected and found[0]["id"] == rid and found[0]["_table"] == "people"
    assert rid in ok(rem(notes_root, "lookup", "Ann")).stdout
    assert ok(rem(notes_root, "lookup", "nobody", "--json")).stdout == ""


def test_update(notes_root: Path) -> None:
    with remlite.connect(notes_root) as db:
        rid = db.insert("notes", {"title": "x", "stars": 1})
    printed = json.loads(ok(rem(notes_root, "update", rid, '{"stars": 5}', "--json")).stdout)
    with remlite.connect(notes_root) as db:
        stored = db.get(rid)
    assert stored["stars"] == 5 and stored["title"] == "x" and printed == stored
    assert_user_error(rem(notes_root, "update", rid, '{"stars": -1}'), errors.ValidationError)


def test_delete_soft_then_hard(notes_root: Path) -> None:
    with remlite.connect(notes_root) as db:
        rid = db.insert("notes", {"title": "x"})
    assert ok(rem(notes_root, "delete", rid)).stdout.strip() == f"deleted {rid}"
    with remlite.connect(notes_root) as db:
        assert db.count("notes") == 0 and db.get(rid, include_deleted=True)["deleted_at"]
    assert json.loads(ok(rem(notes_root, "delete", rid, "--hard", "--json")).stdout) == {
        "id": rid,
        "deleted": True,
        "hard": True,
    }
    with remlite.connect(notes_root) as db, pytest.raises(errors.NotFound):
        db.get(rid, include_deleted=True)


def test_list_pages_with_limit_and_after(notes_root: Path) -> None:
    with remlite.connect(notes_root) as db:
        for i in range(5):
            db.insert("notes", {"title": f"n{i}", "stars": i})
        everything = db.list("notes", limit=None)
    first = jsonl(ok(rem(notes_root, "list", "notes", "--limit", "2", "--json")).stdout)
    second = jsonl(ok(rem(notes_root, "list", "notes", "--limit", "2", "--after", first[-1]["id"], "--json")).stdout)
    rest = jsonl(ok(rem(notes_root, "list", "notes", "--after", second[-1]["id"], "--json")).stdout)
    assert first + second + rest == everything
    human = ok(rem(notes_root, "list", "notes", "--limit", "2"))
    assert first[0]["id"] in human.stdout and f"--after {first[-1]['id']}" in human.stderr


def test_count(notes_root: Path) -> None:
    with remlite.connect(notes_root) as db:
        db.insert_batch("notes", [{"title": str(i)} for i in range(3)])
        expected = db.count("notes")
    assert ok(rem(notes_root, "count", "notes")).stdout.strip() == str(expected) == "3"
    assert json.loads(ok(rem(notes_root, "count", "notes", "--json")).stdout) == {"table": "notes", "count": 3}


def test_wal(notes_root: Path) -> None:
    with remlite.connect(notes_root) as db:
        db.insert("notes", {"title": "x"})
        last = db.last_seq
        expected = db.wal(last - 2, 5)
    entries = jsonl(ok(rem(notes_root, "wal", "--after", str(last - 2), "--limit", "5", "--json")).stdout)
    assert entries == expected and entries[-1]["op"] == "put" and entries[-1]["seq"] == last
    assert "notes" in ok(rem(notes_root, "wal")).stdout


def test_truncate_wal(notes_root: Path) -> None:
    with remlite.connect(notes_root) as db:
        for i in range(4):
            db.insert("notes", {"title": str(i)})
        last = db.last_seq
    report = json.loads(ok(rem(notes_root, "truncate-wal", "--keep", "2", "--json")).stdout)
    assert report == {"removed": last - 2, "first_seq": last - 1, "last_seq": last}
    assert [e["seq"] for e in jsonl(ok(rem(notes_root, "wal", "--json")).stdout)] == [last - 1, last]
    gone = rem(notes_root, "wal", "--after", "0")
    assert gone.exit_code == 11 and "truncated" in gone.output and len(gone.output.strip().splitlines()) == 1
    assert "removed 0 entries" in ok(rem(notes_root, "truncate-wal", "--before", "1")).stdout
    assert rem(notes_root, "truncate-wal").exit_code == 2  # neither --keep nor --before


def test_check(notes_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with remlite.connect(notes_root) as db:
        db.insert("notes", {"title": "x"})
        report = db.check()
    assert json.loads(ok(rem(notes_root, "check", "--json")).stdout) == report
    assert ok(rem(notes_root, "check")).stdout.startswith("ok: ")
    bad = {**report, "ok": False, "problems": ["notes: counter says 2, rows say 1"]}
    monkeypatch.setattr(remlite.Database, "check", lambda self: bad)
    result = rem(notes_root, "check")
    assert result.exit_code == 1 and "counter says 2" in result.stdout
    assert rem(notes_root, "check", "--json").exit_code == 1


# --------------------------------------------------------------------------- --json everywhere
def command_tree() -> dict[str, Any]:
    """Every command and group by its full name (`remlite schema add`), from the click tree."""
    found: dict[str, Any] = {}

    def walk(command: Any, prefix: str) -> None:
        for name, sub in command.commands.items():
            found[f"{prefix} {name}"] = sub
            if hasattr(sub, "commands"):
                walk(sub, f"{prefix} {name}")

    walk(typer.main.get_command(app), "remlite")
    return found


def leaf_commands() -> dict[str, Any]:
    return {name: cmd for name, cmd in command_tree().items() if not hasattr(cmd, "commands")}


# Commands without one tenant or one result: the server serves every tenant and prints a log; a
# key list or revocation is about the root's keys, not one tenant's data.
WITHOUT = {
    "remlite serve": {"--tenant", "--json"},
    "remlite mcp": {"--json"},  # speaks MCP's JSON-RPC on stdout
    "remlite key list": {"--tenant"},
    "remlite key revoke": {"--tenant"},
}


def test_every_command_has_the_common_options() -> None:
    for name, command in leaf_commands().items():
        opts = {opt for param in command.params for opt in param.opts}
        assert set(COMMON_OPTIONS) - WITHOUT.get(name, set()) <= opts, name


GROUPS = ("schema", "index", "edge", "key")  # commands with subcommands: `remlite GROUP SUB`


def test_json_output_parses_on_every_command(notes_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMLITE_EMBED_PROVIDER", "hash")
    with remlite.connect(notes_root) as db:
        rid = db.insert("people", {"email": "ann@x.io", "name": "Ann"})
        gone = db.insert("notes", {"title": "to delete"})
        other = db.insert("people", {"email": "bob@x.io", "name": "Bob"})
        db.insert("moments", {"name": "standup", "start_time": "2025-10-01T10:00:00Z"})
        db.insert("resources", {"uri": "file:///hello.md", "content": "hello semantic world"})
    (tmp_path / "extra.json").write_text(json.dumps({**NOTES, "name": "extra"}))
    cases: list[tuple[list[str], str | None, bool]] = [  # (args, stdin, many documents)
        (["init"], None, False),
        (["schema", "add", str(tmp_path / "extra.json")], None, False),
        (["schema", "list"], None, True),
        (["schema", "show", "notes"], None, False),
        (["schema", "templates"], None, True),
        (["insert", "notes", '{"title": "t"}'], None, False),
        (["insert", "notes", "--batch"], '{"title": "b1"}\n{"title": "b2"}\n', False),
        (["get", rid], None, False),
        (["lookup", "ann@x.io"], None, True),
        (["update", rid, '{"city": "Oslo"}'], None, False),
        (["list", "notes"], None, True),
        (["count", "notes"], None, False),
        (["wal"], None, True),
        (["check"], None, False),
        (["repair"], None, False),
        (["truncate-wal", "--keep", "1000"], None, False),
        (["delete", gone], None, False),
        (["schema", "drop", "extra", "--yes"], None, False),
        (["search", "hello world", "--table", "resources", "--mode", "hybrid"], None, True),
        (["reembed", "resources", "--provider", "hash"], None, False),
        (["index", "status"], None, True),
        (["index", "rebuild", "resources"], None, False),
        (["ingest", str(tmp_path / "extra.json")], None, False),
        (["export", "notes", "--output", str(tmp_path / "notes.jsonl"), "--format", "jsonl"], None, False),
        (["import", "notes", str(tmp_path / "notes.jsonl")], None, False),
        (["edge", "add", rid, other, "knows"], None, False),
        (["edge", "list", rid], None, True),
        (["traverse", rid], None, True),
        (["path", rid, other], None, True),
        (["moments", "--since", "2025-01-01"], None, True),
        (["edge", "rm", rid, other, "knows"], None, False),
        (["query", "SELECT name FROM people ORDER BY name"], None, True),
        (["ask", "people named Ann"], None, False),
        (["ask", "people named Ann", "--plan"], None, False),
        (["key", "create", "--read-only"], None, False),
        (["key", "list"], None, False),
        (["stats"], None, False),
        (["compact"], None, False),
        (["purge"], None, False),
        (["backup", str(tmp_path / "bk")], None, False),
    ]
    for args, stdin, many in cases:
        result = ok(rem(notes_root, *args, "--json", input=stdin))
        lines = result.stdout.splitlines()
        docs = [json.loads(line) for line in lines]
        assert docs and (many or len(docs) == 1), (args, result.stdout)
    key_id = KeyStore(notes_root).list()[0]["id"]
    assert json.loads(ok(rem(notes_root, "key", "revoke", key_id, "--json")).stdout)["revoked_at"]
    restored = runner.invoke(app, ["restore", str(tmp_path / "bk"), "--path", str(tmp_path / "restored"), "--json"])
    assert json.loads(ok(restored).stdout)["seq"] > 0
    names = {" ".join(["remlite", *args[: 2 if args[0] in GROUPS else 1]]) for args, _, _ in cases}
    names |= {"remlite key revoke", "remlite serve", "remlite mcp"}  # revoke: just above; servers: no result
    names |= {"remlite restore"}  # just above (into a new root)
    names |= {"remlite key rotate-passphrase"}  # its --json: tests/test_encryption.py (an encrypted database)
    names |= {f"remlite {c}" for c in ("replicate", "replication status", "replication forget", "replication promote")}
    # their --json: tests/test_replication.py::test_the_cli_replicates_and_reports (a served primary)
    assert names == set(leaf_commands()), "add a --json case for every command"


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["count", "nope"], errors.UnknownTable),
        (["list", "nope"], errors.UnknownTable),
        (["schema", "show", "nope"], errors.UnknownTable),
        (["get", "00000000-0000-4000-8000-000000000000"], errors.NotFound),
        (["delete", "00000000-0000-4000-8000-000000000000"], errors.NotFound),
        (["get", "not-an-id"], errors.NotFound),  # read as a natural key or name: none has it
        (["delete", "not-an-id"], errors.InvalidId),
        (["insert", "notes", "{bad json"], errors.InvalidInput),
        (["update", "00000000-0000-4000-8000-000000000000", "[1,"], errors.InvalidInput),
        (["insert", "notes", '{"stars": 2}'], errors.ValidationError),
        (["insert", "notes"], errors.InvalidInput),
        (["schema", "add", "no_such_module_xyz:Model"], errors.SchemaError),
    ],
)
def test_errors_are_one_line_with_the_error_exit_code(
    notes_root: Path, args: list[str], error: type[errors.RemliteError]
) -> None:
    assert_user_error(rem(notes_root, *args), error)
    as_json = rem(notes_root, *args, "--json")
    assert_user_error(as_json, error)
    assert json.loads(as_json.stdout)["error"]["code"] == error.code


def test_exit_codes_match_the_error_classes() -> None:
    assert (errors.InvalidInput.exit_code, errors.ValidationError.exit_code, errors.NotFound.exit_code) == (2, 3, 5)


@pytest.mark.skipif(not REM_SCRIPT.exists(), reason="the rem console script is not installed")
def test_end_to_end_batch_and_error_through_the_installed_script(notes_root: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REMLITE_PATH", "REMLITE_TENANT")}

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        command = [str(REM_SCRIPT), *args, "--path", str(notes_root)]
        return subprocess.run(command, input=stdin, env=env, capture_output=True, text=True, timeout=120)

    loaded = run("insert", "notes", "--batch", stdin="".join(f'{{"title": "n{i}"}}\n' for i in range(100)))
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.startswith("inserted 100 rows into notes")
    failed = run("get", "00000000-0000-4000-8000-000000000000")
    assert failed.returncode == errors.NotFound.exit_code
    assert failed.stderr.startswith("error: no record") and failed.stderr.count("\n") == 1
    with remlite.connect(notes_root) as db:
        assert db.count("notes") == 100


# --------------------------------------------------------------------------- docs
def doc_sections() -> dict[str, str]:
    """docs/cli.md split at headings: heading text (without # and backticks) -> section text."""
    sections: dict[str, str] = {}
    heading = ""
    for line in DOCS.read_text().splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip().replace("`", "")
            sections[heading] = ""
        else:
            sections[heading] = sections.get(heading, "") + line + "\n"
    return sections


def test_every_command_and_option_is_documented() -> None:
    sections = doc_sections()
    common = next((text for title, text in sections.items() if title.lower() == "common options"), "")
    for option in COMMON_OPTIONS:
        assert option in common, f"{option} missing from the 'Common options' section of docs/cli.md"
    for name, command in command_tree().items():
        section = next((text for title, text in sections.items() if title.split(" [")[0].strip() == name), None)
        assert section is not None, f"docs/cli.md has no '### `{name}`' section"
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--") and opt not in (*COMMON_OPTIONS, "--help"):
                    assert opt in section, f"docs/cli.md: {name} does not mention {opt}"


def test_docs_mention_every_exit_code() -> None:
    text = DOCS.read_text()
    for cls in (getattr(errors, name) for name in errors.__all__):
        assert f"`{cls.__name__}`" in text and f"| {cls.exit_code} " in text, cls.__name__


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("REMLITE_PATH", raising=False)
    monkeypatch.delenv("REMLITE_TENANT", raising=False)
    yield
