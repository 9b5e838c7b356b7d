"""`audit log` over the real server's audit device: a scripted workload yields exactly its events."""

from __future__ import annotations

import secrets

import json

import hvac
import pytest

from audit_helpers import Customer


def _events(cli, server, *args, token=None):
    r = cli("audit", "log", "--file", str(server.audit_file), "--json", *args, token=token)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def _key(e):
    return (e["action"], e["engineer"], e["record"], e["incident"], e["outcome"])


@pytest.fixture
def workload(server, make_user, unique):
    root = server.root()
    c = Customer(root, unique("cust"))
    c.add_credential("fw", "pw-1")
    c.add_credential("sw", "pw-2")
    lead_user = make_user("team-lead")
    lead = lead_user.login()
    alice_u, bob_u = make_user("engineer"), make_user("engineer")
    alice, bob = alice_u.login(), bob_u.login()
    c.grant(alice_u.name, alice_u.entity_id, by=lead)
    assert c.reveal(alice, "fw", "INC-100")
    assert not c.reveal(alice, "fw", None)  # missing reference
    assert not c.reveal(alice, "fw", "BAD-7")  # reference outside the patterns
    alice.secrets.kv.v2.read_secret_version(f"customers/{c.slug}/credentials/fw", mount_point="netvault", raise_on_deleted_version=True)
    assert not c.reveal(bob, "fw", "INC-101")  # no grant
    c.grant(bob_u.name, bob_u.entity_id, by=lead)
    assert c.reveal(bob, "sw", "INC-102")
    c.revoke(bob_u.name, by=lead)
    assert not c.reveal(bob, "sw", "INC-103")  # revoked engineer
    c.update_credential("fw", "pw-1b", version=1)  # a write (rotation) by root
    return c, lead_user.name, alice_u, bob_u


def test_workload_yields_exactly_its_events(workload, cli, server):
    c, lead, alice, bob = workload
    evs = _events(cli, server, "--customer", c.slug, token=server.root_token)
    got = [_key(e) for e in evs]
    A, B = alice.name, bob.name
    expected = [
        ("setup", "root", None, None, "allowed"),  # transit key customer-<c>
        ("setup", "root", f"nv-customer-{c.slug}", None, "allowed"),  # its policy
        ("write", "root", "profile", None, "allowed"),
        ("write", "root", "fw", None, "allowed"),
        ("write", "root", "sw", None, "allowed"),
        ("grant", lead, f"nv-grant:{c.slug}:{A}", None, "allowed"),
        ("grant", lead, f"_grants/{A}", None, "allowed"),
        ("reveal", A, "fw", "INC-100", "allowed"),
        ("reveal", A, "fw", None, "denied"),
        ("reveal", A, "fw", "BAD-7", "denied"),
        ("read", A, "fw", None, "allowed"),
        ("reveal", B, "fw", "INC-101", "denied"),
        ("grant", lead, f"nv-grant:{c.slug}:{B}", None, "allowed"),
        ("grant", lead, f"_grants/{B}", None, "allowed"),
        ("reveal", B, "sw", "INC-102", "allowed"),
        ("revoke", lead, f"nv-grant:{c.slug}:{B}", None, "allowed"),
        ("revoke", lead, f"_grants/{B}", None, "allowed"),
        ("reveal", B, "sw", "INC-103", "denied"),
        ("write", "root", "fw", None, "allowed"),
    ]
    assert got == expected
    for e in evs:
        assert e["customer"] == c.slug
        assert e["remote_address"] == "127.0.0.1"
        if e["outcome"] == "denied":
            assert e["error"] == "permission denied"
        if e["action"] == "reveal":
            assert e["record_id"] == c.records[e["record"]]["id"]
            assert e["kind"] == "credentials"
            assert e["entity_id"] in (alice.entity_id, bob.entity_id)
        if e["action"] in ("grant", "revoke"):
            assert e["subject"] in (A, B)


def test_filters(workload, cli, server):
    c, lead, alice, bob = workload
    reveals = _events(cli, server, "--customer", c.slug, "--action", "reveal", "--offline")
    assert len(reveals) == 6 and all(e["record"] is None and e["record_id"] for e in reveals)  # offline: ids only
    mine = _events(cli, server, "--engineer", bob.name, "--action", "reveal")
    assert [(e["incident"], e["outcome"]) for e in mine] == [("INC-101", "denied"), ("INC-102", "allowed"), ("INC-103", "denied")]
    denied = _events(cli, server, "--customer", c.slug, "--denied")
    assert len(denied) == 4 and {e["outcome"] for e in denied} == {"denied"}
    inc = _events(cli, server, "--incident", "INC-102", "--customer", c.slug)
    assert [(e["engineer"], e["action"]) for e in inc] == [(bob.name, "reveal")]
    glob = _events(cli, server, "--customer", c.slug, "--incident", "INC-10*")
    assert {e["incident"] for e in glob} == {"INC-100", "INC-101", "INC-102", "INC-103"}
    rec = _events(cli, server, "--record", f"{c.slug}/sw", token=server.root_token)
    assert [e["action"] for e in rec] == ["write", "reveal", "reveal"]
    logins = _events(cli, server, "--engineer", alice.name, "--action", "login")
    assert logins and all(e["outcome"] == "allowed" and e["entity_id"] == alice.entity_id for e in logins)
    assert _events(cli, server, "--customer", c.slug, "--since", "2000-01-01", "--until", "2000-01-02") == []
    # the resolver confirms a record's id by reading it: those reads (root's, above) are in the trail too
    recent = _events(cli, server, "--customer", c.slug, "--since", "1h")
    assert len([e for e in recent if not (e["engineer"] == "root" and e["action"] == "read")]) == 19


def test_record_shown_by_current_name_after_rename(workload, cli, server):
    c, *_ = workload
    c.rename("fw", "firewall")
    evs = _events(cli, server, "--customer", c.slug, "--action", "reveal", token=server.root_token)
    names = [e["record"] for e in evs]
    assert names.count("firewall") == 4 and "fw" not in names  # the renamed record holds the id: named
    # netvault never rewrites _ids/<id>: the rewrite is in the trail as tampering
    tamper = _events(cli, server, "--customer", c.slug, "--action", "tamper", token=server.root_token)
    assert [(e["engineer"], e["record_id"], e["flags"]) for e in tamper] == [
        ("root", c.records["firewall"]["id"], ["ids-rewritten"])]


def test_a_reveal_with_curl_is_in_the_trail(server, make_user, unique, cli):
    """Nothing a client says matters: the transit decrypt entry is the reveal."""
    c = Customer(server.root(), unique("curl"))
    c.add_credential("db", "pw")
    eng = make_user("engineer")
    c.grant(eng.name, eng.entity_id)
    import requests

    rec = c.records["db"]
    r = requests.post(
        f"{server.address}/v1/netvault-transit/decrypt/customer-{c.slug}",
        headers={"X-Vault-Token": eng.token()},
        json={"ciphertext": rec["ciphertext"], "context": rec["context"], "reference": "CHG-9"},
        timeout=10,
    )
    assert r.status_code == 200
    evs = _events(cli, server, "--customer", c.slug, "--action", "reveal", token=server.root_token)
    assert [_key(e) for e in evs] == [("reveal", eng.name, "db", "CHG-9", "allowed")]


def test_table_and_csv(workload, cli, server):
    c, *_ = workload
    r = cli("audit", "log", "--file", str(server.audit_file), "--customer", c.slug, "--action", "reveal", "--offline")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["TIME", "ENGINEER", "ACTION", "CUSTOMER"]
    assert len(lines) == 7 and "denied: permission denied" in r.stdout
    r = cli("audit", "log", "--file", str(server.audit_file), "--customer", c.slug, "--csv", "--offline")
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 19 and rows[0]["customer"] == c.slug


@pytest.mark.parametrize("args, code, text", [
    (["--since", "last tuesday"], 2, "invalid date"),
    (["--action", "peek"], 2, "unknown action"),
    (["--file", "/nonexistent/audit.log"], 3, "not found"),
    (["--json", "--csv"], 2, "choose one"),
])
def test_bad_input_is_one_line(cli, server, args, code, text):
    base = [] if "--file" in args else ["--file", str(server.audit_file)]
    r = cli("audit", "log", *base, *args)
    assert r.returncode == code
    assert text in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_torn_line_is_read_past_with_a_warning(cli, tmp_path, server):
    """Issue 9 item 10: a write cut short (full disk) leaves a partial entry, and
    Vault's next entry follows on the same line. Every reader reads past it the
    same way: one warning naming the file and line, the entries around it kept.
    A file whose first line is no audit entry at all is still refused."""
    f = tmp_path / "a.log"
    good = server.audit_file.read_bytes().splitlines(keepends=True)[-40:]
    torn = good[2][: len(good[2]) // 2]  # no newline: the next entry follows on its line
    f.write_bytes(b"".join(good[:2]) + torn + b"".join(good[3:]))
    whole = tmp_path / "whole.log"
    whole.write_bytes(b"".join(good[:2]) + b"".join(good[3:]))
    want = cli("audit", "log", "--file", str(whole), "--json").stdout.replace(str(whole), str(f))
    for args in (["audit", "log"], ["audit", "log", "--json"], ["audit", "log", "--csv"]):
        r = cli(*args, "--file", str(f))
        assert r.returncode == 0, r.stderr
        assert r.stderr.count("warning:") == 1 and f"{f}: line 3 holds an incomplete audit entry" in r.stderr
        assert "Traceback" not in r.stderr
    assert cli("audit", "log", "--file", str(f), "--json").stdout == want
    # a line that is garbage but not the first one: skipped the same way
    f.write_bytes(b"".join(good[:2]) + b'{"time":"2026-01-01T00:00:00Z","type":"resp\n' + b"".join(good[3:]))
    r = cli("audit", "log", "--file", str(f), "--json")
    assert r.returncode == 0 and "line 3 holds an incomplete audit entry" in r.stderr
    out = tmp_path / "r.html"
    r = cli("audit", "report", "--file", str(f), "--out", str(out))
    assert r.returncode == 0 and "line 3 holds an incomplete audit entry" in r.stderr, r.stderr
    f.write_bytes(b"not json at all\n")
    r = cli("audit", "log", "--file", str(f))
    assert r.returncode == 2 and "line 1" in r.stderr


def test_jit_token_reveal_is_attributed_to_whoever_obtained_it(server, make_user, unique, cli):
    """A JIT token minted (unwrapped) in an engineer's name and used by its creator:
    the creator obtained it, so the reveal is theirs, flagged; never the engineer's."""
    root = server.root()
    c = Customer(root, unique("jit"))
    c.add_credential("vpn", "pw")
    eng = make_user("engineer")
    resp = root.adapter.post("/v1/auth/token/create/nv-jit", json={
        "entity_alias": f"jit:{eng.name}", "policies": [f"nv-customer-{c.slug}"], "ttl": "1h"})
    token = resp["auth"]["client_token"] if isinstance(resp, dict) else resp.json()["auth"]["client_token"]
    jit = hvac.Client(url=server.address, token=token)
    assert c.reveal(jit, "vpn", "INC-42")
    assert _events(cli, server, "--engineer", eng.name, "--action", "reveal", token=server.root_token) == []
    evs = _events(cli, server, "--customer", c.slug, "--action", "reveal", token=server.root_token)
    assert [_key(e) for e in evs] == [("reveal", "root", "vpn", "INC-42", "allowed")]
    assert evs[0]["grantee"] == eng.name and evs[0]["minted_by"] == "root"
    assert sorted(evs[0]["flags"]) == ["holder-not-grantee", "no-grant-record"]
    r = cli("audit", "exposure", eng.name, "--file", str(server.audit_file), "--json", token=server.root_token)
    assert r.returncode == 0 and r.stdout == ""
    # offline: the chain still names the creator (no Vault needed); the grantee is unknown
    evs = _events(cli, server, "--customer", c.slug, "--action", "reveal", "--offline")
    assert len(evs) == 1 and evs[0]["engineer"] == "root" and "no-grant-record" in evs[0]["flags"]


def test_wrong_context_is_a_failed_reveal(server, make_user, unique, cli):
    """A ciphertext presented with another record's context: Vault refuses, the trail says so."""
    c = Customer(server.root(), unique("ctx"))
    a, b = c.add_credential("a", "pw-a"), c.add_credential("b", "pw-b")
    eng = make_user("engineer")
    c.grant(eng.name, eng.entity_id)
    cl = eng.login()
    with pytest.raises(hvac.exceptions.InvalidRequest):
        cl.write(f"netvault-transit/decrypt/customer-{c.slug}", ciphertext=a["ciphertext"], context=b["context"], reference="INC-1")
    evs = _events(cli, server, "--customer", c.slug, "--action", "reveal", token=server.root_token)
    assert len(evs) == 1
    assert evs[0]["outcome"] == "denied" and evs[0]["error"] == "invalid request"  # Vault logs no detail
    assert evs[0]["record"] == "b"  # the record the context claims; nothing was revealed


def test_a_field_named_time_cannot_cut_an_entry_in_two(cli, tmp_path, server):
    """KV request data is written to the trail as JSON structure (checked:
    OpenBao 2.7.2 leaves nested values in clear), so a record can plant
    {"time":"...","type":"request"} inside a real entry. The torn-line
    recovery must not take that for another entry, or anyone could cut their
    own write out of the trail."""
    import hvac

    from netvault.records.store import Store

    customer = f"planted-{secrets.token_hex(3)}"
    Store(server.gateway()).add_customer(customer, {})  # a real customer: setup --check stays clean
    root = hvac.Client(server.address, token=server.root_token)
    path = f"customers/{customer}/credentials/x"
    root.secrets.kv.v2.create_or_update_secret(
        path=path, secret={"time": "2026-01-01T00:00:00.1Z", "type": "request", "request": {"id": "x"}}, cas=0,
        mount_point="netvault")
    lines = server.audit_file.read_bytes().splitlines(keepends=True)
    assert any(b'{"request":{"id":"x"},"time":"2026' in line or b'"time":"2026-01-01' in line for line in lines)
    f = tmp_path / "a.log"
    f.write_bytes(b"".join(lines[-40:]))
    r = cli("audit", "log", "--file", str(f), "--json", "--offline")
    assert r.returncode == 0 and "incomplete" not in r.stderr, r.stderr
    assert path in r.stdout  # the planting write itself stays in the trail
