"""Bad CLI input: exact big integers (issue 9, fault 15) and inputs that printed tracebacks (fault 18).

Every case must exit non-zero with exactly one stderr line starting `error:`, and leave the database as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import remlite
from remlite import errors
from remlite.cli.app import app
from remlite.storage.engine import COLUMN_FAMILIES

NOTES = {"name": "notes", "properties": {"title": {"type": "string"}, "n": {}}, "indexed_fields": ["n"]}
BIG = "123456789012345678901234567890"
REM_SCRIPT = Path(sys.executable).parent / "remlite"

runner = CliRunner(env={"REMLITE_PATH": None, "REMLITE_TENANT": None})


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "db"
    with remlite.connect(path) as db:
        db.register_schema(NOTES)
        first = db.insert("notes", {"title": "a", "n": 1})
        second = db.insert("notes", {"title": "b", "n": 2})
        db.add_edge(first, second, "links")
    return path


def rem(root: Path, *args: str, input: str | bytes | None = None) -> Result:
    return runner.invoke(app, [*args, "--path", str(root)], input=input)


def _snapshot(root: Path) -> dict[str, list[tuple[bytes, bytes]]]:
    with remlite.connect(root) as db:
        return {name: list(db._core.store.iter_prefix(name, b"")) for name in COLUMN_FAMILIES}


def assert_one_error_line(result: Result, exc_type: type[errors.RemliteError] | None = None) -> None:
    assert result.exit_code != 0, result.output
    if exc_type is not None:
        assert result.exit_code == exc_type.exit_code, result.stderr
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output


def _ids(root: Path) -> list[str]:
    with remlite.connect(root) as db:
        return [r["id"] for r in db.list("notes")]


# ------------------------------------------------------------------ fault 15: integers beyond 64 bits


@pytest.mark.parametrize("number", [BIG, "-" + BIG, "18446744073709551616", "-9223372036854775809"])
def test_cli_refuses_integer_beyond_64_bits(root: Path, number: str) -> None:
    before = _snapshot(root)
    result = rem(root, "insert", "notes", f'{{"title": "big", "n": {number}}}')
    assert_one_error_line(result, errors.ValidationError)
    assert "'n'" in result.stderr
    assert _snapshot(root) == before


@pytest.mark.parametrize("number", ["9223372036854775807", "-9223372036854775808", "1234567890123456789"])
def test_cli_keeps_64_bit_integers_exact(root: Path, number: str) -> None:
    result = rem(root, "insert", "notes", f'{{"title": "big", "o": {{"n": {number}}}}}')
    assert result.exit_code == 0, result.stderr
    with remlite.connect(root) as db:
        assert db.get(result.stdout.strip())["o"]["n"] == int(number)


def test_cli_batch_refuses_integer_beyond_64_bits(root: Path) -> None:
    before = _snapshot(root)
    lines = '{"title": "ok", "n": 3}\n{"title": "big", "n": ' + BIG + "}\n"
    assert_one_error_line(rem(root, "insert", "notes", "--batch", input=lines), errors.ValidationError)
    assert _snapshot(root) == before


def test_cli_update_and_edge_props_refuse_integer_beyond_64_bits(root: Path) -> None:
    first, second = _ids(root)
    before = _snapshot(root)
    assert_one_error_line(rem(root, "update", first, f'{{"n": {BIG}}}'), errors.ValidationError)
    assert_one_error_line(
        rem(root, "edge", "add", first, second, "links", "--props", f'{{"w": {BIG}}}'), errors.ValidationError
    )
    assert _snapshot(root) == before


def test_cli_float_literals_stay_floats(root: Path) -> None:
    result = rem(root, "insert", "notes", '{"title": "f", "o": [1.5, 1234567890123456789.5, 1e300]}')
    assert result.exit_code == 0, result.stderr
    with remlite.connect(root) as db:
        assert db.get(result.stdout.strip())["o"] == [1.5, 1234567890123456789.5, 1e300]


# ------------------------------------------------------------------ fault 18: inputs that printed tracebacks


def test_cli_wal_huge_after_and_limit(root: Path) -> None:
    for option in ("--after", "--limit"):
        assert_one_error_line(rem(root, "wal", option, "99999999999999999999999"), errors.InvalidInput)


def test_cli_schema_add_binary_file(root: Path, tmp_path: Path) -> None:
    binary = tmp_path / "schema.json"
    binary.write_bytes(b"\xff\xfe\x00\x01garbage")
    before = _snapshot(root)
    assert_one_error_line(rem(root, "schema", "add", str(binary)), errors.SchemaError)
    assert _snapshot(root) == before


def test_cli_schema_add_file_name_too_long(root: Path) -> None:
    before = _snapshot(root)
    assert_one_error_line(rem(root, "schema", "add", "x" * 5000 + ".json"), errors.SchemaError)
    assert_one_error_line(rem(root, "schema", "add", "(" * 3000), errors.SchemaError)
    assert _snapshot(root) == before


def test_cli_ingest_file_name_too_long_is_an_error(root: Path) -> None:
    """A path ingest cannot read is an error (as a missing one is), without a traceback, and the
    message stays readable (the path shortened)."""
    assert_one_error_line(rem(root, "ingest", "(" * 3000), errors.NotFound)
    result = rem(root, "ingest", "(" * 3000, "--json")
    assert result.exit_code == 5 and "File name too long" in result.stdout
    assert len(json.loads(result.stdout)["error"]["message"]) < 400


def test_cli_schema_add_yaml_alias_bomb(root: Path, tmp_path: Path) -> None:
    bomb = ["name: bomb", 'a: &a ["x","x","x","x","x","x","x","x","x"]']
    for previous, level in zip("abcdefgh", "bcdefghi", strict=True):
        bomb.append(f"{level}: &{level} [" + ",".join([f"*{previous}"] * 9) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(bomb) + "\n")
    assert_one_error_line(rem(root, "schema", "add", str(path)), errors.SchemaError)


def test_cli_schema_add_name_with_newline(root: Path) -> None:
    assert_one_error_line(rem(root, "schema", "add", "-", "--name", "bad\n", input='{"properties": {}}'))


@pytest.mark.skipif(not REM_SCRIPT.exists(), reason="the rem console script is not installed")
@pytest.mark.parametrize(
    "args",
    [("schema", "add", "-"), ("insert", "notes", "--batch")],
    ids=["schema-add", "insert-batch"],
)
def test_cli_binary_stdin_through_the_installed_script(root: Path, args: tuple[str, ...]) -> None:
    """A real process: CliRunner's stdin is already text, so it cannot show a decoding error."""
    env = {k: v for k, v in os.environ.items() if k not in ("REMLITE_PATH", "REMLITE_TENANT")}
    env["PYTHONIOENCODING"] = "utf-8:strict"  # what a UTF-8 locale gives (the C locale would escape the bytes)
    before = _snapshot(root)
    done = subprocess.run(
        [str(REM_SCRIPT), *args, "--path", str(root)],
        input=b"\xff\xfe\x00\x01\x80garbage\n",
        env=env,
        capture_output=True,
        timeout=120,
    )
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode != 0
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    assert _snapshot(root) == before


def test_cli_reembed_unknown_provider_is_one_error_line(root: Path) -> None:
    """The progress bar is off when stderr is no terminal: it used to leave a blank line first."""
    assert_one_error_line(rem(root, "reembed", "resources", "--provider", "nope"))
