"""Property tests for the order-preserving key codec: round trip and sort order."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remlite.errors import InvalidInput
from remlite.storage import codec

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FLOATS = st.floats(allow_nan=False)
TIMESTAMPS = st.integers(min_value=-(2**62), max_value=2**62).map(codec.Timestamp)
SCALARS = st.one_of(st.none(), st.booleans(), INT64, FLOATS, TIMESTAMPS, st.text(), st.binary())


def type_rank(value: object) -> int:
    if value is None:
        return 0
    if value is False:
        return 1
    if value is True:
        return 2
    if isinstance(value, codec.Timestamp):
        return 4
    if isinstance(value, (int, float)):
        return 3
    if isinstance(value, str):
        return 5
    return 6


def sort_key(value: object) -> tuple[int, object]:
    if isinstance(value, str):
        return (5, value.encode())  # UTF-8 byte order == code point order
    if isinstance(value, (bool, type(None))):
        return (type_rank(value), 0)
    return (type_rank(value), value)


@settings(max_examples=400)
@given(SCALARS)
def test_round_trip(value: object) -> None:
    decoded = codec.decode_tuple(codec.encode(value))
    assert len(decoded) == 1
    assert decoded[0] == value or (isinstance(value, float) and value == 0 and decoded[0] == 0)
    assert type_rank(decoded[0]) == type_rank(value)


@settings(max_examples=400)
@given(SCALARS, SCALARS)
def test_order_matches_value_order(a: object, b: object) -> None:
    ka, kb = sort_key(a), sort_key(b)
    ea, eb = codec.encode(a), codec.encode(b)
    if ka[0] != kb[0]:
        assert (ea < eb) == (ka[0] < kb[0])
    elif ka[1] == kb[1]:
        assert ea == eb
    else:
        assert (ea < eb) == (ka[1] < kb[1])  # type: ignore[operator]


@settings(max_examples=300)
@given(st.lists(st.tuples(st.text(), INT64), min_size=2, max_size=20))
def test_tuples_sort_element_by_element(pairs: list[tuple[str, int]]) -> None:
    encoded = sorted(codec.encode_tuple(s, i) for s, i in pairs)
    expected = sorted(pairs, key=lambda p: (p[0].encode(), p[1]))
    assert [tuple(codec.decode_tuple(e)) for e in encoded] == expected


@settings(max_examples=200)
@given(st.integers(min_value=2**53 - 100, max_value=2**63 - 1), st.integers(min_value=1, max_value=1000))
def test_large_integers_stay_exact_and_ordered(n: int, step: int) -> None:
    m = min(n + step, 2**63 - 1)
    assert codec.decode_tuple(codec.encode(n)) == [n]
    if m > n:
        assert codec.encode(n) < codec.encode(m)


def test_ints_and_floats_share_one_number_order() -> None:
    values = [-math.inf, -1e300, -3, -2.5, -0.0, 0, 1e-300, 2, 2.5, 3, 2**53, 2**53 + 1, 1e300, math.inf]
    encoded = [codec.encode(v) for v in values]
    assert encoded[4] == encoded[5]  # -0.0 == 0
    assert encoded == sorted(encoded)
    assert codec.encode(3) == codec.encode(3.0)


@given(
    st.datetimes(timezones=st.just(UTC)),
    st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=3650)),
)
def test_timestamps_order_by_instant(moment: datetime, delta: timedelta) -> None:
    later = moment + delta if moment.year < 9990 else moment
    a, b = codec.Timestamp.from_datetime(moment), codec.Timestamp.from_datetime(later)
    assert (codec.encode(a) < codec.encode(b)) == (moment < later)
    assert codec.Timestamp.parse(moment.isoformat()) == a
    assert a.to_datetime() == moment


def test_timestamp_offsets_normalise_to_utc() -> None:
    assert codec.Timestamp.parse("2025-01-01T02:00:00+02:00") == codec.Timestamp.parse("2025-01-01T00:00:00Z")


def test_strings_with_nul_bytes_are_prefix_free() -> None:
    values = ["a", "a\x00", "a\x00b", "ab", "a\x01"]
    encoded = [codec.encode(v) for v in values]
    assert sorted(encoded) == [codec.encode(v) for v in sorted(values, key=str.encode)]
    for x in encoded:
        for y in encoded:
            assert x == y or not y.startswith(x)


@pytest.mark.parametrize("bad", [float("nan"), 2**63, -(2**63) - 1, [1], {"a": 1}, object()])
def test_unencodable_values_are_clear_errors(bad: object) -> None:
    with pytest.raises(InvalidInput):
        codec.encode(bad)


@pytest.mark.parametrize("data", [b"\x06abc", b"\x04\x00", b"\x99", b"\x06a\x00\x05"])
def test_malformed_keys_are_clear_errors(data: bytes) -> None:
    with pytest.raises(InvalidInput, match="malformed key"):
        codec.decode_tuple(data)


def test_prefix_end() -> None:
    assert codec.prefix_end(b"ab") == b"ac"
    assert codec.prefix_end(b"a\xff") == b"b"
    assert codec.prefix_end(b"\xff\xff") is None
