"""Sealed files (`remlite.storage.sealed`): what an encrypted export is written as."""

from __future__ import annotations

import io
import os

import pytest

from remlite.errors import EncryptionError
from remlite.storage.sealed import MAGIC, SealedWriter, read_sealed

MARKER = b"MARKER-7f3a"


class _Kept(io.BytesIO):
    def close(self) -> None:  # the writer closes its file; the test still reads the bytes
        pass


def _sealed(data: bytes, segment: int = 64) -> bytes:
    buffer = _Kept()
    writer = SealedWriter(buffer, "pass phrase", segment=segment)
    for at in range(0, len(data), 50):
        writer.write(data[at : at + 50])
    writer.close()
    return buffer.getvalue()


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 1000])
def test_round_trip_of_any_size(size: int) -> None:
    data = os.urandom(size // 2) + MARKER * (size // 22)
    sealed = _sealed(data)
    assert sealed.startswith(MAGIC) and (MARKER not in sealed)
    assert read_sealed(io.BytesIO(sealed), "pass phrase").read() == data


def test_a_wrong_passphrase_or_any_damage_is_an_error() -> None:
    sealed = _sealed(MARKER * 40)
    with pytest.raises(EncryptionError, match="wrong passphrase"):
        read_sealed(io.BytesIO(sealed), "another")
    with pytest.raises(EncryptionError, match="give its passphrase"):
        read_sealed(io.BytesIO(sealed), None)
    for cut in (len(sealed) - 1, len(sealed) - 100, 40):
        with pytest.raises(EncryptionError):
            read_sealed(io.BytesIO(sealed[:cut]), "pass phrase")
    flipped = bytearray(sealed)
    flipped[-5] ^= 1
    with pytest.raises(EncryptionError, match="damaged"):
        read_sealed(io.BytesIO(bytes(flipped)), "pass phrase")
    with pytest.raises(EncryptionError, match="after its last segment"):
        read_sealed(io.BytesIO(sealed + b"x"), "pass phrase")


def test_a_file_cut_at_a_segment_boundary_is_not_a_shorter_file() -> None:
    sealed = _sealed(b"a" * 200, segment=64)  # segments of 64, 64, 64, then the last (8 bytes)
    last = 4 + 8 + 16  # its length prefix, its bytes and tag
    with pytest.raises(EncryptionError, match="cut short"):
        read_sealed(io.BytesIO(sealed[:-last]), "pass phrase")
