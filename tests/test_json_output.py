"""`--json` of a sample of real commands against the real OpenBao: the output
parses and has exactly the keys of its typed result (tests/json_keys.txt, via
tests/test_json_keys.py), nested results included."""

from __future__ import annotations

import pytest

from netvault.access.grants import Grant
from netvault.access.incidents import OnCall, OnCallMember
from netvault.access.results import PersonAdded, PersonRow, PersonShown
from netvault.audit.attribution import AuditHash
from netvault.local.session import Identity, LoggedOut, WhoAmI
from netvault.records import results as rr
from netvault.values.results import json_keys
from netvault.server.setup import Item, SetupReport


def has_keys(obj, cls) -> None:
    """OBJ (parsed JSON) has exactly CLS's keys; the optional ones may be left out."""
    assert isinstance(obj, dict), obj
    every = set(json_keys(cls))
    required = every - set(getattr(cls, "JSON_OPTIONAL", ()))
    assert required <= set(obj) <= every, (cls.__name__, sorted(set(obj) ^ every))


def ok(r):
    assert r.returncode == 0, (r.returncode, r.stderr)
    return r.json()


@pytest.fixture(scope="module")
def people(server):
    from people import new_user

    return {role: new_user(server, role) for role in ("admin", "team-lead", "engineer", "auditor")}


def test_setup_check(cli, server):
    r = cli("setup", "--check", "--json", token=server.root_token)
    assert r.returncode in (0, 1), r.stderr  # 1: drift left by other tests' raw writes
    report = r.json()
    has_keys(report, SetupReport)
    assert report["items"]
    for item in report["items"]:
        has_keys(item, Item)


def test_login_whoami_logout(cli, people):
    eng = people["engineer"]
    has_keys(ok(cli("login", eng.name, "--password-stdin", "--json", input=eng.password + "\n")), Identity)
    who = ok(cli("whoami", "--json"))
    has_keys(who, WhoAmI)
    assert who["username"] == eng.name
    out = ok(cli("logout", "--json"))
    has_keys(out, LoggedOut)
    assert out["logged_out"] is True


def test_records_people_and_grants(cli, people, unique):
    admin, lead, eng = (people[r].token() for r in ("admin", "team-lead", "engineer"))
    c = unique("js")
    has_keys(ok(cli("customer", "add", c, "--json", token=admin)), rr.CustomerAdded)
    rows = ok(cli("customer", "list", "--json", token=lead))
    assert c in [row["customer"] for row in rows]
    for row in rows:
        has_keys(row, rr.CustomerRowWithState if "state" in row else rr.CustomerRow)
    added = ok(cli("credential", "add", f"{c}/fw", "--generate", "--json", token=lead))
    has_keys(added, rr.RecordAdded)
    assert added["secret_fields"] == ["password"]
    has_keys(ok(cli("credential", "add", f"{c}/old", "--generate", "--json", token=lead)), rr.RecordAdded)
    has_keys(ok(cli("credential", "rm", f"{c}/old", "--yes", "--json", token=lead)), rr.RecordRemoved)
    has_keys(ok(cli("credential", "undelete", f"{c}/old", "--json", token=lead)), rr.RecordRestored)
    has_keys(ok(cli("device", "add", f"{c}/sw", "--kind", "switch", "--json", token=lead)), rr.DeviceWritten)

    name = unique("jsp")
    has_keys(ok(cli("engineer", "add", name, "--role", "engineer", "--generate", "--json", token=lead)), PersonAdded)
    listed = ok(cli("engineer", "list", "--json", token=lead))
    assert name in [p["user"] for p in listed]
    for p in listed:
        has_keys(p, PersonRow)

    grant = ok(cli("grant", people["engineer"].name, c, "--json", token=lead))
    has_keys(grant, Grant)
    shown = ok(cli("engineer", "show", people["engineer"].name, "--json", token=lead))
    has_keys(shown, PersonShown)
    assert shown["grants"]
    for g in shown["grants"]:
        has_keys(g, Grant)
    for g in ok(cli("access", "list", "--customer", c, "--json", token=lead)):
        has_keys(g, Grant)

    revealed = ok(cli("reveal", f"{c}/fw", "--incident", "INC-1", "--json", token=eng))
    has_keys(revealed, rr.Revealed)
    assert revealed["record"] == f"{c}/fw" and revealed["incident"] == "INC-1"


def test_on_call_and_audit_hash(cli, people):
    lead = people["team-lead"].token()
    eng = people["engineer"].name
    has_keys(ok(cli("on-call", "add", eng, "--json", token=lead)), OnCall)
    members = ok(cli("on-call", "list", "--json", token=lead))
    assert eng in [m["user"] for m in members]
    for m in members:
        has_keys(m, OnCallMember)
    has_keys(ok(cli("on-call", "remove", eng, "--json", token=lead)), OnCall)
    got = ok(cli("audit", "hash", "some-value", "--json", token=people["auditor"].token()))
    has_keys(got, AuditHash)
    assert got["hash"].startswith("hmac-sha256:")
