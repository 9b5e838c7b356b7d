"""Offboarding finds the audit trail or refuses, and keeps its worklist in Vault (issue 15).

The stored worklist (``_offboarded/<user>/<run>``) is proved with raw clients:
team leads create and read it but cannot rewrite or delete it, auditors read
it, engineers cannot.
"""

from __future__ import annotations

import secrets
import shutil

import pytest
from hvac import exceptions as hx

from access_helpers import KV, decrypt, new_person, provision_customer, raw, raw_grant


@pytest.fixture
def setup(server):
    lead = new_person(server, "team-lead")
    eng = new_person(server, "engineer")
    cust = provision_customer(server.root(), f"off-{secrets.token_hex(3)}", ("router", "switch"))
    raw_grant(server.root(), cust.name, eng)
    rec = cust.record("router")
    assert decrypt(eng.login(), rec, "INC-9") == rec.plaintext
    return lead, eng, cust


def test_offboarding_without_a_trail_refuses_and_changes_nothing(cli, server, setup):
    lead, eng, cust = setup
    lt = lead.login().token
    r = cli("engineer", "offboard", eng.name, "--yes", token=lt)  # no embedded server, no audit_dir
    assert r.returncode == 3, r.stderr
    assert "--audit-file" in r.stderr and "--audit-dir" in r.stderr and "Traceback" not in r.stderr
    assert eng.login()  # still able to log in: nothing was done
    r = cli("engineer", "show", eng.name, "--offboarded", token=lt)
    assert r.returncode == 3 and "no offboarding worklist" in r.stderr


def test_worklist_is_stored_write_once_and_printed_again(cli, server, setup, tmp_path):
    lead, eng, cust = setup
    lt = lead.login().token
    # the auditor's / lead's machine: a copy of the server's files in a directory
    trail = tmp_path / "trail"
    trail.mkdir()
    shutil.copy(server.audit_file, trail / "audit.log")
    r = cli("engineer", "offboard", eng.name, "--yes", "--audit-dir", str(trail), "--json", token=lt)
    assert r.returncode == 0, r.stderr
    out = r.json()
    assert out["audit_checked"] is True and out["stored_run"]
    marks = {w["name"]: w["revealed"] for w in out["worklist"]}
    assert marks == {"router": True, "switch": False}

    # printed again, by the lead and by an auditor; never by an engineer
    r = cli("engineer", "show", eng.name, "--offboarded", "--json", token=lt)
    assert r.returncode == 0, r.stderr
    runs = r.json()
    assert [{w["name"]: w["revealed"] for w in x["worklist"]} for x in runs] == [marks]
    assert runs[0]["version"] == 1 and runs[0]["audit_source"].startswith("--audit-dir")
    auditor = new_person(server, "auditor")
    r = cli("engineer", "show", eng.name, "--offboarded", token=auditor.login().token)
    assert r.returncode == 0 and "router" in r.stdout and "yes" in r.stdout, r.stderr
    other = new_person(server, "engineer")
    assert cli("engineer", "show", eng.name, "--offboarded", token=other.login().token).returncode == 4

    # a second run: nothing new, and it says so with the stored worklist (not "nothing to rotate")
    r = cli("engineer", "offboard", eng.name, "--yes", "--audit-dir", str(trail), token=lt)
    assert r.returncode == 0, r.stderr
    assert "nothing to rotate" not in r.stdout + r.stderr
    assert "offboarded before" in r.stderr and "router" in r.stdout

    # raw: what each role may do with the stored entry
    path = f"{KV}/data/_offboarded/{eng.name}/{out['stored_run']}"
    meta = f"{KV}/metadata/_offboarded/{eng.name}/{out['stored_run']}"
    lc, ac, oc = lead.login(), auditor.login(), other.login()
    assert raw(lc, "GET", path)["data"]["data"]["worklist"]
    assert raw(ac, "GET", path)["data"]["data"]["user"] == eng.name
    with pytest.raises(hx.Forbidden):
        raw(oc, "GET", path)
    with pytest.raises(hx.Forbidden):
        raw(oc, "LIST", f"{KV}/metadata/_offboarded/{eng.name}")
    for client in (lc, ac):  # no rewrite, no delete, no destroy, no metadata change
        for method, p, body in (("POST", path, {"data": {"worklist": []}}),
                                ("DELETE", path, None), ("DELETE", meta, None),
                                ("POST", f"{KV}/destroy/_offboarded/{eng.name}/{out['stored_run']}", {"versions": [1]}),
                                ("POST", f"{KV}/delete/_offboarded/{eng.name}/{out['stored_run']}", {"versions": [1]}),
                                ("POST", meta, {"max_versions": 1})):
            with pytest.raises((hx.Forbidden, hx.InvalidRequest)):
                raw(client, method, p, body)
    assert raw(lc, "GET", path)["data"]["metadata"]["version"] == 1
    # a new key is allowed (the next run), but not over an existing one
    with pytest.raises((hx.Forbidden, hx.InvalidRequest)):
        raw(lc, "POST", path, {"options": {"cas": 0}, "data": {"worklist": []}})


def test_audit_commands_find_the_trail_in_an_audit_dir(cli, cli_env, server, tmp_path):
    trail = tmp_path / "copied"
    trail.mkdir()
    shutil.copy(server.audit_file, trail / "audit.log.20260101T000000Z")  # a rotated file
    shutil.copy(server.audit_file, trail / "audit.log")
    r = cli("audit", "log", "--action", "login", "--json")  # nothing on this machine
    assert r.returncode == 3 and "--audit-dir" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = cli("audit", "log", "--action", "login", "--json", "--audit-dir", str(trail), token=server.root_token)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
    # remembered for this profile
    r = cli("audit", "log", "--action", "login", "--json", token=server.root_token)
    assert r.returncode == 0 and r.stdout.strip(), r.stderr
    r = cli("audit", "log", "--audit-dir", str(tmp_path / "missing"))
    assert r.returncode == 2 and "not a directory" in r.stderr
