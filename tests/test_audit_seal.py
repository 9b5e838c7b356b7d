"""Tamper evidence: seal with Vault's Ed25519 key, verify offline, catch each kind of edit."""

from __future__ import annotations

import gzip
import json
import shutil

import hvac
import pytest

from audit_helpers import log_size, noise, slice_log
from netvault.audit import seal as sealmod
from netvault.audit import verify as verifymod


@pytest.fixture
def sealed_log(server, tmp_path, unique):
    """A unique slice of the real audit log, sealed in two digests, plus its export."""
    root = server.root()
    start = log_size(server.audit_file)
    tag = unique("seal")
    noise(root, 12, tag)
    log = slice_log(server.audit_file, start, tmp_path / "audit.log")
    vault = server.gateway()
    first = sealmod.seal(vault, [str(log)], now="2026-01-01T00:00:00Z")
    assert len(first) == 1 and first[0]["start"] == 0
    # more entries, a second seal covering only the new part
    start2 = log_size(server.audit_file)
    noise(root, 8, tag + "b")
    extra = slice_log(server.audit_file, start2, tmp_path / "extra.log").read_bytes()
    with open(log, "ab") as fh:
        fh.write(extra)
    second = sealmod.seal(vault, [str(log)], now="2026-01-01T01:00:00Z")
    assert len(second) == 1 and second[0]["start"] == first[0]["end"]
    digests = sealmod.load_digests(vault)
    keys = sealmod.public_keys(vault)
    return log, digests, keys, (first[0], second[0])


def _bad(result):
    return [f for f in result.findings if f.tampered]


def _verify(log, digests, keys):
    return verifymod.verify(digests, keys, [str(log)], only_given=True)


def test_intact_then_unsealed_tail_is_not_tampering(sealed_log, server):
    log, digests, keys, (d1, d2) = sealed_log
    result = _verify(log, digests, keys)
    assert not result.tampered, [f.detail for f in result.findings]
    assert [f.kind for f in result.findings if f.file == str(log)] == ["ok", "ok"]
    with open(log, "ab") as fh:
        fh.write(log.read_bytes().splitlines(keepends=True)[0])  # any complete line
    result = _verify(log, digests, keys)
    assert not result.tampered
    assert result.findings[-1].kind == "unsealed"
    assert "written after the last seal" in result.findings[-1].detail


def test_seal_twice_writes_nothing_new(sealed_log, server):
    log, *_ = sealed_log
    assert sealmod.seal(server.gateway(), [str(log)], now="2026-01-01T02:00:00Z") == []


def test_one_byte_changed(sealed_log):
    log, digests, keys, (d1, d2) = sealed_log
    data = bytearray(log.read_bytes())
    i = data.index(b'"remote_address":"127.0.0.1"', d2["start"]) + 20
    data[i] = ord("9")
    log.write_bytes(bytes(data))
    bad = _bad(_verify(log, digests, keys))
    assert len(bad) == 1 and bad[0].kind == "edited"
    assert bad[0].digests == [d2["seq"]] and bad[0].start == d2["start"]
    assert "same number of lines" in bad[0].detail or "reordered" in bad[0].detail


def test_one_line_deleted_names_the_range_only(sealed_log):
    log, digests, keys, (d1, d2) = sealed_log
    lines = log.read_bytes().splitlines(keepends=True)
    del lines[3]
    log.write_bytes(b"".join(lines))
    result = _verify(log, digests, keys)
    bad = _bad(result)
    assert len(bad) == 1, [f.detail for f in bad]
    assert bad[0].kind == "edited" and bad[0].digests == [d1["seq"]]
    assert "1 line(s) removed" in bad[0].detail
    # the next range is found again and verifies
    assert any(f.kind == "ok" and f.digests == [d2["seq"]] for f in result.findings)


def test_truncation(sealed_log):
    log, digests, keys, (d1, d2) = sealed_log
    data = log.read_bytes()
    log.write_bytes(data[: d2["start"] + 100])
    bad = _bad(_verify(log, digests, keys))
    assert [f.kind for f in bad] == ["truncated"]
    assert bad[0].digests == [d2["seq"]]
    assert "cut off" in bad[0].detail


def test_two_lines_swapped(sealed_log):
    log, digests, keys, (d1, d2) = sealed_log
    lines = log.read_bytes().splitlines(keepends=True)
    lines[2], lines[5] = lines[5], lines[2]
    log.write_bytes(b"".join(lines))
    bad = _bad(_verify(log, digests, keys))
    assert len(bad) == 1 and bad[0].digests == [d1["seq"]]
    assert "reordered" in bad[0].detail


def test_digest_removed(sealed_log):
    log, digests, keys, (d1, d2) = sealed_log
    kept = [d for d in digests if d["seq"] != d1["seq"]]
    bad = _bad(_verify(log, kept, keys))
    kinds = {f.kind for f in bad}
    assert "digest-missing" in kinds  # the chain has a hole
    assert "gap" in kinds  # and the file's first range has no digest
    gap = next(f for f in bad if f.kind == "gap")
    assert gap.start == 0 and gap.end == d1["end"]


def test_digest_edited_breaks_its_signature(sealed_log):
    log, digests, keys, (d1, d2) = sealed_log
    forged = [dict(d) for d in digests]
    for d in forged:
        if d["seq"] == d1["seq"]:
            d["entries"] = d["entries"] + 1
    bad = _bad(_verify(log, forged, keys))
    assert any(f.kind == "bad-signature" and f.digests == [d1["seq"]] for f in bad)
    assert any(f.kind == "chain-broken" for f in bad)  # the next digest chains to the original


def test_copy_renamed_and_gzipped_verifies(sealed_log, tmp_path):
    log, digests, keys, _ = sealed_log
    other = tmp_path / "handed-over" / "node1-2026-01-01.log.gz"
    other.parent.mkdir()
    with gzip.open(other, "wb") as fh:
        fh.write(log.read_bytes())
    result = _verify(other, digests, keys)
    assert not result.tampered
    assert [f.kind for f in result.findings if f.file == str(other)] == ["ok", "ok"]


def test_missing_file_is_a_gap_in_time(sealed_log, tmp_path):
    log, digests, keys, (d1, d2) = sealed_log
    empty = tmp_path / "other.log"
    empty.write_bytes(b"")
    result = verifymod.verify(digests, keys, [str(empty)])
    missing = [f for f in result.findings if f.kind == "file-missing" and d1["seq"] in f.digests]
    assert missing and missing[0].tampered and missing[0].first_time


def test_cli_export_and_offline_verify_exit_codes(sealed_log, cli, server, tmp_path):
    log, digests, keys, (d1, d2) = sealed_log
    bundle = tmp_path / "digests.json"
    r = cli("audit", "export-digests", "--out", str(bundle), token=server.root_token)
    assert r.returncode == 0, r.stderr
    assert "fingerprint" in r.stderr
    copy = tmp_path / "copy.log"
    shutil.copy(log, copy)
    r = cli("audit", "verify", "--file", str(copy), "--digests", str(bundle), "--only-given", env={"VAULT_ADDR": "http://127.0.0.1:9"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "intact" in r.stderr
    data = bytearray(copy.read_bytes())
    data[d1["start"] + 50] ^= 1
    copy.write_bytes(bytes(data))
    r = cli("audit", "verify", "--file", str(copy), "--digests", str(bundle), "--only-given", "--json")
    assert r.returncode == 9
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert any(x["status"] == "TAMPERED" and x["kind"] == "edited" for x in rows)
    assert r.stderr.strip().splitlines()[-1].startswith("error: audit trail tampered")
    # a wrong pinned key fails every signature
    r = cli("audit", "verify", "--file", str(log), "--digests", str(bundle), "--only-given",
            "--public-key", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    assert r.returncode == 9 and "bad-signature" in r.stdout


def test_private_key_not_exportable_and_digests_append_only(server, make_user, unique, tmp_path):
    root = server.root()
    # Setup created it non-exportable; nobody (not even root) can export it.
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.secrets.transit.export_key("audit-seal", key_type="signing-key", mount_point="netvault-transit")
    key = root.secrets.transit.read_key("audit-seal", mount_point="netvault-transit")["data"]
    assert key["type"] == "ed25519" and key["exportable"] is False
    auditor = make_user("auditor").login()
    # The auditor can sign ...
    sig = auditor.write("netvault-transit/sign/audit-seal", input="aGVsbG8=")
    assert sig["data"]["signature"].startswith("vault:v1:")
    # ... but cannot export, nor make the key exportable.
    with pytest.raises(hvac.exceptions.Forbidden):
        auditor.secrets.transit.export_key("audit-seal", key_type="signing-key", mount_point="netvault-transit")
    with pytest.raises(hvac.exceptions.Forbidden):
        auditor.secrets.transit.update_key_configuration("audit-seal", exportable=True, mount_point="netvault-transit")
    # Create-only digests: a new one is fine, changing or deleting it is not.
    start = log_size(server.audit_file)
    noise(root, 3, unique("ro"))
    log = slice_log(server.audit_file, start, tmp_path / "a.log")
    from netvault.vault.client import Vault

    written = sealmod.seal(Vault(server.address, auditor.token), [str(log)], now="2026-01-01T00:00:00Z")
    key = f"_audit/digests/{written[0]['seq']:08d}"
    with pytest.raises((hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest)):
        auditor.secrets.kv.v2.create_or_update_secret(key, {"forged": True}, cas=1, mount_point="netvault")
    with pytest.raises(hvac.exceptions.Forbidden):
        auditor.secrets.kv.v2.create_or_update_secret(key, {"forged": True}, mount_point="netvault")
    with pytest.raises(hvac.exceptions.Forbidden):
        auditor.secrets.kv.v2.delete_latest_version_of_secret(key, mount_point="netvault")
    with pytest.raises(hvac.exceptions.Forbidden):
        auditor.secrets.kv.v2.delete_metadata_and_all_versions(key, mount_point="netvault")
    with pytest.raises(hvac.exceptions.Forbidden):
        auditor.secrets.kv.v2.destroy_secret_versions(key, versions=[1], mount_point="netvault")
    # An engineer can do none of it.
    eng = make_user("engineer").login()
    with pytest.raises(hvac.exceptions.Forbidden):
        eng.write("netvault-transit/sign/audit-seal", input="aGVsbG8=")


# -- issue 8 item 7: --only-given never excuses a file that overlaps the given ones --

def test_rewritten_log_is_tampered_even_with_only_given(sealed_log, cli, server, tmp_path):
    """An editor rewrites the file from its first line on (drops the first lines):
    its identity changes, so it matches no digest; its time still overlaps them."""
    log, digests, keys, (d1, d2) = sealed_log
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[3:]))
    result = _verify(log, digests, keys)
    bad = _bad(result)
    assert bad, [f.detail for f in result.findings]
    replaced = [f for f in bad if f.kind == "file-replaced"]
    assert replaced and {d1["seq"], d2["seq"]} <= set(replaced[0].digests), [f.detail for f in bad]
    assert log.name in replaced[0].detail
    # the same through the CLI, offline, from an export: exit 9
    bundle = tmp_path / "digests.json"
    assert cli("audit", "export-digests", "--out", str(bundle), token=server.root_token).returncode == 0
    r = cli("audit", "verify", "--file", str(log), "--digests", str(bundle), "--only-given", "--json")
    assert r.returncode == 9, r.stdout + r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert any(x["kind"] == "file-replaced" and x["status"] == "TAMPERED" for x in rows)


def test_whole_file_substituted_is_tampered_with_only_given(sealed_log, server, unique, tmp_path):
    """A different file of the same time (here: the later part of the trail only,
    as if written from scratch) handed over in place of the sealed one."""
    log, digests, keys, (d1, d2) = sealed_log
    lines = log.read_bytes().splitlines(keepends=True)
    forged = tmp_path / "audit-forged.log"
    forged.write_bytes(b"".join(lines[len(lines) // 2:]))  # a subset: the first entries are gone
    bad = _bad(verifymod.verify(digests, keys, [str(forged)], only_given=True))
    assert any(f.kind == "file-replaced" and d2["seq"] in f.digests for f in bad), [f.detail for f in bad]


def _two_nodes(server, tmp_path, unique):
    """Two files written over the same time (like two cluster nodes), each sealed."""
    start = log_size(server.audit_file)
    noise(server.root(), 10, unique("nodes"))
    whole = slice_log(server.audit_file, start, tmp_path / "whole.log").read_bytes().splitlines(keepends=True)
    a, b = tmp_path / "node-a.log", tmp_path / "node-b.log"
    a.write_bytes(b"".join(whole[0::2]))
    b.write_bytes(b"".join(whole[1::2]))
    vault = server.gateway()
    da = sealmod.seal(vault, [str(a)], now="2026-01-01T00:00:00Z")
    db = sealmod.seal(vault, [str(b)], now="2026-01-01T00:00:00Z")
    assert len(da) == 1 and len(db) == 1
    return a, b, da[0], db[0]


def test_dropped_file_of_the_same_time_is_tampered_with_only_given(server, tmp_path, unique):
    a, b, da, db = _two_nodes(server, tmp_path, unique)
    vault = server.gateway()
    digests, keys = sealmod.load_digests(vault), sealmod.public_keys(vault)
    # both given: intact
    result = verifymod.verify(digests, keys, [str(a), str(b)], only_given=True)
    assert not result.tampered, [f.detail for f in _bad(result)]
    # one left out: its digest covers the time of the given file
    result = verifymod.verify(digests, keys, [str(a)], only_given=True)
    bad = _bad(result)
    assert [(f.kind, f.digests) for f in bad] == [("file-missing", [db["seq"]])], [f.detail for f in bad]
    assert "node-a.log" in bad[0].detail and "left out" in bad[0].detail
    # --since does not excuse it either
    bad = _bad(verifymod.verify(digests, keys, [str(a)], since="2999-01-01T00:00:00"))
    assert [f.digests for f in bad if f.kind == "file-missing"] == [[db["seq"]]]


def test_only_given_still_skips_files_of_other_times(server, tmp_path, unique):
    """A rotated-away older file need not be handed over: its time is before the given one's."""
    vault = server.gateway()
    start = log_size(server.audit_file)
    noise(server.root(), 4, unique("old"))
    old = slice_log(server.audit_file, start, tmp_path / "audit.log.1")
    assert sealmod.seal(vault, [str(old)], now="2026-01-01T00:00:00Z")
    start = log_size(server.audit_file)
    noise(server.root(), 4, unique("new"))
    new = slice_log(server.audit_file, start, tmp_path / "audit.log")
    assert sealmod.seal(vault, [str(new)], now="2026-01-01T01:00:00Z")
    digests, keys = sealmod.load_digests(vault), sealmod.public_keys(vault)
    result = verifymod.verify(digests, keys, [str(new)], only_given=True)
    assert not result.tampered, [f.detail for f in _bad(result)]
    assert [f.kind for f in result.findings if f.file == str(new)] == ["ok"]
    # without the flag the old file is missing (as before)
    result = verifymod.verify(digests, keys, [str(new)])
    assert any(f.kind == "file-missing" for f in _bad(result))


def test_file_ending_mid_entry_is_an_incomplete_write_not_tampering(sealed_log):
    """Issue 9 item 10: a torn last write (e.g. a full disk) is named for what
    it is, an incomplete final write, and is not tampering."""
    log, digests, keys, _ = sealed_log
    line = log.read_bytes().splitlines(keepends=True)[0]
    with open(log, "ab") as fh:
        fh.write(line[: len(line) // 2])  # cut short: no newline
    result = _verify(log, digests, keys)
    assert not result.tampered, [f.detail for f in result.findings]
    kinds = [f.kind for f in result.findings if f.file == str(log)]
    assert kinds[-1] == "incomplete-write" and "unsealed" in kinds
    assert "ends in the middle of an entry" in result.findings[-1].detail
