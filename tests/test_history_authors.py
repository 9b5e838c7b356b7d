"""History with authors (issue 11 "Correction", issue 15) and reveal --version.

The author of each version comes from the audit trail (what Vault binds to
the write's token), never from fields a writer put in the record."""

from __future__ import annotations

import json

import hvac
import pytest

from access_helpers import raw
from test_records_helpers import grant


@pytest.fixture(scope="module")
def world(server):
    import secrets

    from netvault.records.store import Store
    from people import new_user

    admin, lead_a, lead_b, eng = (new_user(server, r) for r in ("admin", "team-lead", "team-lead", "engineer"))
    c = f"hist-{secrets.token_hex(3)}"
    Store(server.gateway(admin.token())).add_customer(c, {"company": "Hist BV"})
    grant(server, c, eng)
    return {"c": c, "admin": admin, "lead_a": lead_a, "lead_b": lead_b, "eng": eng}


def test_each_version_has_the_author_vault_bound(world, cli, server):
    c, a, b = world["c"], world["lead_a"], world["lead_b"]
    assert cli("credential", "add", f"{c}/fw", "--username", "admin", "--stdin", input="pw-one-1\n",
               token=a.token()).returncode == 0
    assert cli("credential", "rotate", f"{c}/fw", "--stdin", input="pw-two-2\n", token=b.token()).returncode == 0
    # lead B writes version 3 with a raw client and plants fields naming lead A
    client = hvac.Client(url=server.address, token=b.token())
    cur = raw(client, "GET", f"netvault/data/customers/{c}/credentials/fw")["data"]["data"]
    raw(client, "POST", f"netvault/data/customers/{c}/credentials/fw",
        {"options": {"cas": 2}, "data": {**cur, "author": a.name, "granted_by": a.name, "changed_by": a.name}})
    r = cli("history", f"{c}/fw", "--audit-file", str(server.audit_file), "--json", token=world["admin"].token())
    assert r.returncode == 0, r.stderr
    versions = r.json()["versions"]
    assert [(v["version"], v["author"]) for v in versions] == [(1, a.name), (2, b.name), (3, b.name)]
    assert versions[0]["author_entity_id"] == a.entity_id and versions[2]["author_entity_id"] == b.entity_id
    assert all(v["author_flags"] == [] and v["written_at"] for v in versions)
    table = cli("history", f"{c}/fw", "--file", str(server.audit_file), token=world["eng"].token())
    assert table.returncode == 0, table.stderr
    assert a.name in table.stdout and b.name in table.stdout and "AUTHOR" in table.stdout
    prof = cli("history", c, "--audit-file", str(server.audit_file), "--json", token=world["lead_a"].token()).json()
    assert prof["kind"] == "customer" and prof["versions"][0]["author"] == world["admin"].name


def test_without_trail_or_outside_it_unknown(world, cli, server, tmp_path):
    c = world["c"]
    assert cli("credential", "add", f"{c}/nt", "--stdin", input="pw-nt-1\n",
               token=world["lead_a"].token()).returncode == 0
    r = cli("history", f"{c}/nt", "--json", token=world["lead_a"].token())  # no trail on this machine
    assert r.returncode == 0
    v = r.json()["versions"][0]
    assert v["author"] == "unknown" and v["author_flags"] == ["no-trail"]
    assert "no audit file" in r.stderr
    other = tmp_path / "other.log"  # a trail that does not hold the write
    other.write_text(server.audit_file.read_text().splitlines()[0] + "\n")
    v = cli("history", f"{c}/nt", "--audit-file", str(other), "--json", token=world["lead_a"].token()).json()["versions"][0]
    assert v["author"] == "unknown" and v["author_flags"] == ["not-in-trail"]


@pytest.mark.parametrize("env", [{}, {"NETVAULT_NO_FAST": "1"}], ids=["fast", "typer"])
def test_reveal_version_same_on_both_paths(world, cli, server, env):
    c, t = world["c"], world["eng"].token()
    name = "rv" + ("f" if not env else "t")
    lead = world["lead_a"].token()
    assert cli("credential", "add", f"{c}/{name}", "--stdin", input="first-Pw-1\n", token=lead).returncode == 0
    assert cli("credential", "rotate", f"{c}/{name}", "--stdin", input="second-Pw-2\n", token=lead).returncode == 0
    assert cli("credential", "edit", f"{c}/{name}", "--url", "https://x.example", token=lead).returncode == 0
    r = cli("reveal", f"{c}/{name}", "--version", "1", "--incident", "INC-77", token=t, env=env)
    assert r.returncode == 0 and r.stdout == "first-Pw-1\n", r.stderr
    assert cli("reveal", f"{c}/{name}", "--incident", "INC-77", token=t, env=env).stdout == "second-Pw-2\n"
    r = cli("reveal", f"{c}/{name}", "--version", "2", "-i", "INC-77", "--json", token=t, env=env)
    assert json.loads(r.stdout) == {"field": "password", "value": "second-Pw-2", "record": f"{c}/{name}",
                                    "incident": "INC-77", "version": 2}
    # same rules as any reveal: Vault refuses a bad reference, nothing printed
    r = cli("reveal", f"{c}/{name}", "--version", "1", "--incident", "TICKET-1", token=t, env=env)
    assert r.returncode == 4 and r.stdout == ""
    r = cli("reveal", f"{c}/{name}", "--version", "9", "--incident", "INC-77", token=t, env=env)
    assert r.returncode == 3 and "version 9" in r.stderr
    r = cli("reveal", f"{c}/{name}", "--version", "0", "--incident", "INC-77", token=t, env=env)
    assert r.returncode == 2 and r.stdout == ""
    r = cli("reveal", f"{c}/{name}", "--version", "x", "--incident", "INC-77", token=t, env=env)
    assert r.returncode == 2 and r.stdout == ""
    # the earlier-version reveal is in the trail with its reference
    log = cli("audit", "log", "--file", str(server.audit_file), "--customer", c, "--action", "reveal",
              "--incident", "INC-77", "--json", "--offline", token=world["admin"].token())
    events = [json.loads(x) for x in log.stdout.splitlines() if x.strip()]
    assert sum(1 for e in events if e["outcome"] == "allowed") >= 3
