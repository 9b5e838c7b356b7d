"""records.index, pure parts: bucket choice, the document format, and that
whatever a team lead plants in a bucket never reaches a path."""

from __future__ import annotations

import base64
import json
import zlib

import pytest

from netvault.records import index


def test_bucket_is_the_low_byte_of_crc32_as_two_hex_digits():
    for key in ("001122334455", "10.0.0.1", "2001:db8::1"):
        b = index.bucket(key)
        assert b == f"{zlib.crc32(key.encode()) & 0xFF:02x}" and len(b) == 2
        assert index.path_of("mac", key) == f"_index/buckets/mac/{b}"
    # spread: 10,000 MACs of one vendor fill all 256 buckets
    assert len({index.bucket(f"0a1b00{i:06x}") for i in range(10_000)}) == 256


def test_round_trip_is_one_string_and_deduplicated():
    data = index.encode({"001122334455": [("acme", "sw1"), ("acme", "sw1"), ("beta", "fw")], "aabbccddeeff": []})
    assert list(data) == ["z"] and isinstance(data["z"], str)
    raw = json.loads(zlib.decompress(base64.b64decode(data["z"])))
    assert raw == {"001122334455": [["acme", "sw1"], ["beta", "fw"]]}
    assert index.decode(data) == {"001122334455": [("acme", "sw1"), ("beta", "fw")]}


@pytest.mark.parametrize("planted", [
    "not base64 at all", base64.b64encode(b"not zlib").decode(),
    base64.b64encode(zlib.compress(b"[1, 2]")).decode(),
])
def test_malformed_documents_decode_to_nothing(planted):
    assert index.decode({"z": planted}) == {}
    assert index.decode(None) == {} and index.decode({}) == {}


def test_planted_names_never_reach_a_path():
    doc = {"001122334455": [["acme", "sw1"], ["../_grants", "x"], ["acme", "a/b"], ["acme", "..x"], ["ACME", "sw"],
                            ["acme", 7], ["acme"], "acme/sw1", ["acme", "sw\x1b"]],
           "7": "no list"}
    z = base64.b64encode(zlib.compress(json.dumps(doc).encode())).decode()
    assert index.decode({"z": z}) == {"001122334455": [("acme", "sw1")]}


def test_only_mac_and_ip_forms():
    with pytest.raises(ValueError):
        index._group([("name", "sw1", "acme", "sw1")], [])
