"""The export file format (docs/EXPORT-FORMAT.md) without a server."""

from __future__ import annotations

import json
import os
import stat
import struct

import pytest

from netvault.lifecycle import portable
from netvault.errors import Conflict, ExitCode, Tampered, UsageError

PW = "correct horse battery"
FAST = {"n": 2 ** 14, "r": 8, "p": 1}


def _blob(plain: bytes = b'{"format":"netvault-export","x":1}') -> bytes:
    return portable.encrypt(plain, PW, **FAST)


def test_round_trip_and_layout():
    blob = _blob()
    assert blob[:8] == b"NVEXPORT" and blob[8] == 1
    (hlen,) = struct.unpack(">H", blob[9:11])
    header = json.loads(blob[11:11 + hlen])
    assert header["kdf"] == "scrypt" and header["cipher"] == "aes-256-gcm"
    assert (header["n"], header["r"], header["p"]) == (2 ** 14, 8, 1)
    assert b"netvault-export" not in blob  # the JSON is not in the file in clear
    assert portable.decrypt(blob, PW) == b'{"format":"netvault-export","x":1}'
    assert portable.open_export(blob, PW) == {"format": "netvault-export", "x": 1}
    assert _blob() != blob  # fresh salt and nonce each time


def test_wrong_passphrase_is_exit_4():
    with pytest.raises(portable.WrongPassphrase) as exc:
        portable.decrypt(_blob(), PW + "x")
    assert exc.value.exit_code == ExitCode.PERMISSION_DENIED


@pytest.mark.parametrize("where", ["version-byte", "header-nonce", "ciphertext", "tag"])
def test_any_modified_byte_is_refused(where):
    blob = bytearray(_blob())
    (hlen,) = struct.unpack(">H", blob[9:11])
    header = json.loads(blob[11:11 + hlen])
    if where == "version-byte":
        blob[8] ^= 0x01
        with pytest.raises(UsageError):  # version 0: not a version this reads
            portable.decrypt(bytes(blob), PW)
        return
    if where == "header-nonce":
        i = blob.index(header["nonce"].encode(), 11)
        blob[i] = ord("A") if blob[i] != ord("A") else ord("B")
    elif where == "ciphertext":
        blob[11 + hlen + 3] ^= 0x40
    else:
        blob[-1] ^= 0x01
    with pytest.raises(Tampered) as exc:
        portable.decrypt(bytes(blob), PW)
    assert exc.value.exit_code == ExitCode.TAMPERED


@pytest.mark.parametrize("keep", [5, 10, 30, -1, -17])
def test_truncated_file_is_tampered(keep):
    blob = _blob()
    with pytest.raises(Tampered):
        portable.decrypt(blob[:keep], PW)


def test_not_an_export_and_planted_kdf_parameters():
    with pytest.raises(UsageError):
        portable.decrypt(b"PK\x03\x04 a zip file", PW)
    # a header asking for 2**30 * 8 * 128 bytes of memory is refused before scrypt runs
    header = json.dumps({"kdf": "scrypt", "n": 2 ** 30, "r": 8, "p": 1, "salt": "AAAAAAAAAAAAAAAAAAAAAA==",
                         "cipher": "aes-256-gcm", "nonce": "AAAAAAAAAAAAAAAA", "check": "AAAAAAAAAAAAAAAAAAAAAA=="}).encode()
    planted = b"NVEXPORT\x01" + struct.pack(">H", len(header)) + header + b"\0" * 32
    with pytest.raises(Tampered):
        portable.decrypt(planted, PW)


def test_short_passphrase_refused():
    with pytest.raises(UsageError):
        portable.encrypt(b"{}", "short", **FAST)


def test_write_atomic_0600_no_leftovers(tmp_path):
    target = tmp_path / "x.nvx"
    portable.write_atomic(str(target), b"data")
    assert target.read_bytes() == b"data"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    with pytest.raises(Conflict):
        portable.write_atomic(str(target), b"other")
    portable.write_atomic(str(target), b"other", force=True)
    assert target.read_bytes() == b"other"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.nvx"]
