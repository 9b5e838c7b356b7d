"""The audit commands as an auditor uses them: seal/verify online, hash, help."""

from __future__ import annotations

import json

import pytest

from audit_helpers import log_size, noise, slice_log

COMMANDS = ["log", "exposure", "report", "seal", "verify", "hash", "export-digests"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_an_example(cli, command):
    r = cli("audit", command, "--help")
    assert r.returncode == 0
    assert "Example:" in r.stdout and "--" in r.stdout


def test_auditor_seals_and_verifies_online(cli, server, make_user, unique, tmp_path):
    auditor = make_user("auditor")
    token = auditor.token()
    start = log_size(server.audit_file)
    noise(server.root(), 5, unique("cli"))
    log = slice_log(server.audit_file, start, tmp_path / "audit.log")
    r = cli("audit", "seal", "--file", str(log), "--json", token=token)
    assert r.returncode == 0, r.stderr
    digest = json.loads(r.stdout)
    assert digest["start"] == 0 and digest["end"] == log.stat().st_size and digest["entries"] == 10
    assert digest["signature"].startswith("vault:v1:") and digest["file_id"].startswith("sha256:")
    r = cli("audit", "seal", "--file", str(log), token=token)
    assert r.returncode == 0 and "nothing new to seal" in r.stderr
    r = cli("audit", "verify", "--file", str(log), "--only-given", token=token)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "intact" in r.stderr
    # an engineer may not seal
    eng = make_user("engineer")
    r = cli("audit", "seal", "--file", str(log), token=eng.token())
    assert r.returncode == 4 and "permission denied" in r.stderr


def test_hash_finds_a_value_in_the_log(cli, server, make_user, unique):
    auditor = make_user("auditor")
    r = cli("audit", "hash", "--stdin", input=auditor.name + "\n", token=auditor.token())
    assert r.returncode == 0, r.stderr
    h = r.stdout.strip()
    assert h.startswith("hmac-sha256:")
    # the auditor's user name was HMAC'd in the log when their user was created (request data)
    root = server.root()
    assert root.write("sys/audit-hash/netvault", input=auditor.name)["data"]["hash"] == h
    r = cli("audit", "hash", token=auditor.token())
    assert r.returncode == 2


def test_default_file_is_the_embedded_servers(cli, tmp_path):
    r = cli("audit", "log", env={"NETVAULT_DATA_DIR": str(tmp_path / "nodata")})
    assert r.returncode == 3 and str(tmp_path / "nodata" / "audit.log") in r.stderr


def test_verify_without_login_or_digests_is_one_line(cli, server, tmp_path):
    f = tmp_path / "a.log"
    f.write_bytes(server.audit_file.read_bytes()[:0])
    r = cli("audit", "verify", "--file", str(f))
    assert r.returncode == 8 and len(r.stderr.strip().splitlines()) == 1
    r = cli("audit", "verify", "--file", str(f), "--digests", str(tmp_path / "none.json"))
    assert r.returncode == 3


def test_removed_digest_in_an_export_is_caught(cli, server, make_user, unique, tmp_path):
    auditor = make_user("auditor")
    token = auditor.token()
    start = log_size(server.audit_file)
    log = tmp_path / "audit.log"
    for i in range(3):  # three seals of one file: three digests
        noise(server.root(), 3, unique(f"rm{i}"))
        slice_log(server.audit_file, start, log)
        assert cli("audit", "seal", "--file", str(log), token=token).returncode == 0
    bundle = tmp_path / "d.json"
    assert cli("audit", "export-digests", "--out", str(bundle), token=token).returncode == 0
    data = json.loads(bundle.read_text())
    from netvault.audit.seal import file_identity

    fid, _ = file_identity(str(log))
    mine = [d for d in data["digests"] if d["file_id"] == fid]
    assert len(mine) == 3
    data["digests"] = [d for d in data["digests"] if d["seq"] != mine[1]["seq"]]
    bundle.write_text(json.dumps(data))
    r = cli("audit", "verify", "--file", str(log), "--digests", str(bundle), "--only-given", "--json")
    assert r.returncode == 9
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    kinds = {(x["kind"], tuple(x["digests"])) for x in rows if x["status"] == "TAMPERED"}
    assert ("digest-missing", (mine[1]["seq"],)) in kinds
    gap = next(x for x in rows if x["kind"] == "gap")
    assert (gap["start"], gap["end"]) == (mine[1]["start"], mine[1]["end"]) and gap["first_time"]
    # the ranges around it still verify
    assert sum(1 for x in rows if x["kind"] == "ok" and x["file"] == str(log)) == 2
