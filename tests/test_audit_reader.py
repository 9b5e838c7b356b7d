"""The streaming reader: several files, rotation, gzip, duplicates, pairing, flat memory."""

from __future__ import annotations

import gzip
import json
import tracemalloc

import pytest

import audit_synth as synth
from netvault.audit.events import Classifier, Filters, events
from netvault.audit.reader import Entry, entries, time_key
from netvault.errors import NotFound, UsageError


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth")
    log = d / "audit.log"
    facts = synth.generate(log, 4000, customers=8, users=6)
    return log, facts


def _keys(evs):
    return [(e.time, e.request_id, e.action, e.outcome) for e in evs]


def test_single_file_pairs_every_request(generated):
    log, facts = generated
    evs = list(events([log]))
    assert len(evs) == 2000
    assert all(e.outcome in ("allowed", "denied") for e in evs)
    per_customer = {}
    for e in evs:
        if e.customer is None:
            assert e.action == "login"
            continue
        per_customer[e.customer] = per_customer.get(e.customer, 0) + 1
    assert per_customer == facts["pairs_per_customer"]
    # the event time is the request's time, and events come in time order
    assert [time_key(e.time) for e in evs] == sorted(time_key(e.time) for e in evs)
    first_req = json.loads(log.read_bytes().split(b"\n", 1)[0])
    assert evs[0].time == first_req["time"]


def test_customer_prefilter_gives_the_same_events(generated):
    log, facts = generated
    c = facts["customers"][3]
    fast = list(events([log], filters=Filters(customer=c)))
    slow = [e for e in events([log]) if e.customer == c]
    assert _keys(fast) == _keys(slow) and len(fast) == facts["pairs_per_customer"][c]


def test_nodes_merged_in_time_order_without_duplicates(generated, tmp_path):
    log, _ = generated
    lines = log.read_bytes().splitlines(keepends=True)
    a, b = tmp_path / "node-a.log", tmp_path / "node-b.log"
    with open(a, "wb") as fa, open(b, "wb") as fb:
        for i in range(0, len(lines), 2):
            (fa if (i // 2) % 3 else fb).write(lines[i] + lines[i + 1])
    dup = tmp_path / "node-a-copy.log.gz"
    with gzip.open(dup, "wb") as fh:
        fh.write(a.read_bytes())
    merged = list(events([a, b, dup]))
    assert _keys(merged) == _keys(events([log]))


def test_rotation_boundary_between_request_and_response(generated, tmp_path):
    log, _ = generated
    data = log.read_bytes()
    lines = data.splitlines(keepends=True)
    cut = 1001  # odd: a request in the old file, its response in the new one
    old = tmp_path / "audit.log.1.gz"
    with gzip.open(old, "wb") as fh:
        fh.write(b"".join(lines[:cut]))
    new = tmp_path / "audit.log"
    new.write_bytes(b"".join(lines[cut:]))
    assert _keys(events([old, new])) == _keys(events([log]))
    assert _keys(events([new, old])) == _keys(events([log]))  # order of --file does not matter


def test_request_without_response_is_unknown_and_partial_line_ignored(generated, tmp_path):
    log, _ = generated
    lines = log.read_bytes().splitlines(keepends=True)
    f = tmp_path / "a.log"
    f.write_bytes(b"".join(lines[:10]) + lines[10] + lines[12][:200])  # request 10 never answered; 12 half-written
    evs = list(events([f]))
    assert len(evs) == 6
    assert evs[-1].outcome == "unknown" and evs[-1].time == json.loads(lines[10])["time"]


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(NotFound):
        list(entries([tmp_path / "nope.log"]))
    bad = tmp_path / "bad.log.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(UsageError):
        list(entries([bad]))
    with pytest.raises(UsageError):
        Filters(actions=("peek",))


def test_memory_stays_flat(tmp_path):
    small, big = tmp_path / "small.log", tmp_path / "big.log"
    synth.generate(small, 4000)
    synth.generate(big, 40000)
    peaks = []
    for f in (small, big):
        tracemalloc.start()
        n = sum(1 for _ in events([f]))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert n > 0
    assert big.stat().st_size > 9 * small.stat().st_size
    assert peaks[1] < 1.5 * peaks[0] + (1 << 20), peaks
    assert peaks[1] < 32 << 20


def _entry(path, op, data=None, *, error=None, auth=None):
    doc = {"time": "2026-01-01T00:00:00Z", "type": "response", "auth": auth or {"display_name": "userpass-ann", "metadata": {"username": "ann"}, "entity_id": "e1"},
           "request": {"id": "r1", "operation": op, "path": path, "data": data or {}, "remote_address": "10.1.1.1"}}
    if error:
        doc["error"] = error
    return Entry("2026-01-01T00:00:00Z", doc, True, "x")


@pytest.mark.parametrize("path, op, data, want", [
    ("netvault-transit/decrypt/customer-acme", "update", {"context": "YWJjMTIz", "reference": "INC-1"}, ("reveal", "acme", None, "abc123", "INC-1")),
    ("netvault-transit/decrypt/customer-acme", "update", {"context": "hmac-sha256:00", "reference": "hmac-sha256:11"}, ("reveal", "acme", None, None, None)),
    ("netvault-transit/encrypt/customer-acme", "update", {}, None),
    ("netvault/data/customers/acme/credentials/fw", "read", None, ("read", "acme", "fw", None, None)),
    ("netvault/data/customers/acme/credentials/fw", "create", None, ("write", "acme", "fw", None, None)),
    ("netvault/metadata/customers/acme/credentials/fw", "delete", None, ("delete", "acme", "fw", None, None)),
    ("netvault/destroy/customers/acme/credentials/fw", "update", None, ("delete", "acme", "fw", None, None)),
    ("netvault/metadata/customers/acme/devices/", "list", None, ("list", "acme", None, None, None)),
    ("netvault/data/customers/acme/_ids/abc", "read", None, None),
    ("netvault/data/customers/acme/_ids/abc", "create", None, None),  # the one write netvault makes
    ("netvault/data/customers/acme/_ids/abc", "update", None, ("tamper", "acme", "_ids/abc", "abc", None)),
    ("netvault/metadata/customers/acme/_ids/abc", "delete", None, ("tamper", "acme", "_ids/abc", "abc", None)),
    ("netvault/undelete/customers/acme/_ids/abc", "update", None, ("tamper", "acme", "_ids/abc", "abc", None)),
    ("netvault/data/customers/acme/_index/mac/001122334455", "update", None, None),
    ("netvault/data/_grants/acme/bob", "create", None, ("grant", "acme", "_grants/bob", None, None)),
    ("netvault/metadata/_grants/acme/bob", "delete", None, ("revoke", "acme", "_grants/bob", None, None)),
    ("netvault/data/_grants/acme/bob", "read", None, None),
    ("identity/group", "update", {"name": "nv-grant:acme:bob"}, ("grant", "acme", "nv-grant:acme:bob", None, None)),
    ("identity/group", "update", {"name": "hmac-sha256:ff"}, ("setup", None, None, None, None)),
    ("identity/group/name/nv-grant:acme:bob", "delete", None, ("revoke", "acme", "nv-grant:acme:bob", None, None)),
    ("identity/group/name/nv-grant:acme:bob", "read", None, None),
    ("sys/policies/acl/nv-customer-acme", "update", None, ("setup", "acme", "nv-customer-acme", None, None)),
    ("auth/token/lookup-self", "read", None, None),
    ("sys/health", "read", None, None),
])
def test_classification(path, op, data, want):
    ev = Classifier()(_entry(path, op, data))
    if want is None:
        assert ev is None
    else:
        assert (ev.action, ev.customer, ev.record, ev.record_id, ev.incident) == want
        assert ev.engineer == "ann" and ev.entity_id == "e1" and ev.remote_address == "10.1.1.1"


def test_failed_login_names_the_user_from_the_path():
    doc = _entry("auth/userpass/login/mallory", "update", {"password": "hmac-sha256:00"},
                 error="invalid username or password").doc
    del doc["auth"]
    ev = Classifier()(Entry(doc["time"], doc, True, "x"))
    assert (ev.action, ev.engineer, ev.outcome, ev.error) == ("login", "mallory", "denied", "invalid username or password")


@pytest.mark.parametrize("path, op, data, want", [
    ("netvault-transit/keys/customer-acme/config", "update", {"exportable": True}, ("key-export", "acme", "customer-acme")),
    ("netvault-transit/keys/customer-acme/config", "update", {"Allow_Plaintext_Backup": True}, ("key-export", "acme", "customer-acme")),
    ("netvault-transit/keys/customer-acme/config", "update", {"deletion_allowed": True}, ("setup", "acme", None)),
    ("netvault-transit/keys/customer-new", "update", {"exportable": False, "derived": True}, ("key-export", "new", "customer-new")),
    ("netvault-transit/keys/customer-new", "update", {"derived": True}, ("setup", "new", None)),
    ("netvault-transit/export/encryption-key/customer-acme/2", "read", None, ("key-export", "acme", "customer-acme")),
    ("netvault-transit/byok-export/mine/customer-acme", "read", None, ("key-export", "acme", "customer-acme")),
    ("netvault-transit/backup/audit-seal", "read", None, ("key-export", None, "audit-seal")),
    ("netvault-transit/restore", "update", {"backup": "hmac-sha256:00"}, ("key-export", None, None)),
    ("netvault-transit/restore/customer-acme", "update", {"backup": "hmac-sha256:00"}, ("key-export", "acme", "customer-acme")),
    ("netvault-transit/keys/customer-acme/import", "update", {"ciphertext": "hmac-sha256:00"}, ("key-export", "acme", "customer-acme")),
    ("netvault-transit/keys/customer-acme/import_version", "update", {}, ("key-export", "acme", "customer-acme")),
    ("netvault-transit/wrapping_key", "read", None, ("key-export", None, None)),
    ("netvault-transit/keys/customer-acme/rotate", "update", None, ("setup", "acme", None)),
])
def test_key_export_classification(path, op, data, want):
    """Requests that would let a key leave Vault (or replace one) are the
    high-risk action `key-export`, refused or not; other key changes stay setup."""
    ev = Classifier()(_entry(path, op, data, error="permission denied"))
    assert (ev.action, ev.customer, ev.record) == want
    assert ev.outcome == "denied"
