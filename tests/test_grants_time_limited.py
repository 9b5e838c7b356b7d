"""A time-limited grant reads like a standing one (issue 15).

`credential list/show`, `device list/show`, `whoami`, `customer list` work
through it; a reveal through it leaves no denied entry in the trail; what
the grant's token may do is proved with raw clients. Expired: "your access
to X expired at T", exit 4, for reveal and find.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest
from hvac import exceptions as hx

from access_helpers import KV, TRANSIT, new_person, raw


def login_env(cli, person):
    r = cli("login", person.name, "--password-stdin", input=person.password + "\n")
    assert r.returncode == 0, r.stderr


def make_customer(cli, server, lt, prefix):
    c = f"{prefix}-{secrets.token_hex(3)}"
    assert cli("customer", "add", c, "--company", "TL BV", token=server.root_token).returncode == 0
    r = cli("credential", "add", f"{c}/router", "--username", "admin", "--stdin", input=f"pw-{c}\n", token=lt)
    assert r.returncode == 0, r.stderr
    mac = "02:00:5e:%02x:%02x:%02x" % tuple(secrets.token_bytes(3))
    r = cli("device", "add", f"{c}/sw1", "--kind", "switch", "--mac", mac, token=lt)
    assert r.returncode == 0, r.stderr
    return c, mac


def audit_lines(server) -> int:
    with open(server.audit_file, "rb") as fh:
        return sum(1 for _ in fh)


def denied_since(server, start: int, needle: str) -> list[str]:
    out = []
    with open(server.audit_file, "rb") as fh:
        for i, line in enumerate(fh):
            if i < start:
                continue
            doc = json.loads(line)
            path = (doc.get("request") or {}).get("path") or ""
            if doc.get("type") == "response" and doc.get("error") and needle in path:
                out.append(f"{path}: {doc['error']}")
    return out


def test_time_limited_grant_gives_standing_read_rights(cli, cli_env, server):
    lead, eng = new_person(server, "team-lead"), new_person(server, "engineer")
    lt = lead.login().token
    a, mac = make_customer(cli, server, lt, "tla")
    b, _ = make_customer(cli, server, lt, "tlb")
    login_env(cli, eng)
    assert cli("grant", eng.name, a, "--for", "1h", token=lt).returncode == 0

    # the first reveal picks the delivery up: no denied read of the login token before it
    start = audit_lines(server)
    r = cli("reveal", f"{a}/router", "--incident", "INC-1")
    assert r.returncode == 0 and r.stdout.strip() == f"pw-{a}", r.stderr
    r = cli("reveal", f"{a}/router", "--incident", "INC-2")  # stored JIT token
    assert r.returncode == 0 and r.stdout.strip() == f"pw-{a}", r.stderr
    assert denied_since(server, start, a) == []

    for args in (("credential", "list", a), ("credential", "show", f"{a}/router"),
                 ("device", "list", a), ("device", "show", f"{a}/sw1")):
        r = cli(*args, "--json")
        assert r.returncode == 0, (args, r.stderr)
    assert [x["name"] for x in json.loads(cli("credential", "list", a, "--json").stdout)] == ["router"]
    assert denied_since(server, start, a) == []
    # and not the other customer
    assert cli("credential", "list", b).returncode == 4

    who = json.loads(cli("whoami", "--json").stdout)
    assert [(g["customer"], g["state"]) for g in who["time_limited"]] == [(a, "active")]
    assert who["time_limited"][0]["expires_at"]
    assert "until" in cli("whoami").stdout
    rows = json.loads(cli("customer", "list", "--json").stdout)
    assert [(x["customer"], bool(x.get("access_until"))) for x in rows] == [(a, True)]

    # raw: what the grant's own token may do, and nothing more
    tokens = json.loads((Path(cli_env["NETVAULT_CONFIG_DIR"]) / "tokens.json").read_text())
    jit = server.client(tokens[f"jit:{a}@{server.address}"])
    assert raw(jit, "LIST", f"{KV}/metadata/customers/{a}/credentials")["data"]["keys"] == ["router"]
    assert raw(jit, "GET", f"{KV}/data/customers/{a}/credentials/router")["data"]["data"]["username"] == "admin"
    assert raw(jit, "GET", f"{KV}/data/customers/{a}/devices/sw1")["data"]["data"]
    for method, path, body in (("LIST", f"{KV}/metadata/customers/{b}/credentials", None),
                               ("GET", f"{KV}/data/customers/{b}/credentials/router", None),
                               ("LIST", f"{KV}/metadata/customers", None),
                               ("POST", f"{KV}/data/customers/{a}/credentials/router", {"data": {"x": "y"}}),
                               ("DELETE", f"{KV}/metadata/customers/{a}/credentials/router", None),
                               ("POST", f"{TRANSIT}/decrypt/customer-{b}", {"ciphertext": "vault:v1:x", "context": "eA==",
                                                                           "reference": "INC-1"}),
                               ("GET", f"{KV}/data/_grants/{a}/{eng.name}", None),
                               ("POST", "identity/group", {"name": "x"})):
        with pytest.raises((hx.Forbidden, hx.InvalidRequest)):
            raw(jit, method, path, body)


def test_expired_time_limited_grant_says_when(cli, server):
    lead, eng = new_person(server, "team-lead"), new_person(server, "engineer")
    lt = lead.login().token
    a, mac = make_customer(cli, server, lt, "tle")
    c, _ = make_customer(cli, server, lt, "tln")
    login_env(cli, eng)
    assert cli("grant", eng.name, a, "--for", "8s", token=lt).returncode == 0
    assert cli("grant", eng.name, c, "--for", "2s", token=lt).returncode == 0  # never picked up
    r = cli("reveal", f"{a}/router", "--incident", "INC-1")
    assert r.returncode == 0, r.stderr
    time.sleep(9)
    r = cli("reveal", f"{a}/router", "--incident", "INC-1")
    assert r.returncode == 4 and f"your access to {a} expired at" in r.stderr, r.stderr
    assert "permission denied" not in r.stderr
    r = cli("find", mac)
    assert r.returncode == 4 and "expired at" in r.stderr and "no device matches" not in r.stderr, r.stderr
    r = cli("reveal", f"{c}/router", "--incident", "INC-1")  # the delivery expired in the inbox
    assert r.returncode == 4 and f"your access to {c} expired at" in r.stderr, r.stderr
    who = json.loads(cli("whoami", "--json").stdout)
    assert {(g["customer"], g["state"]) for g in who["time_limited"]} == {(a, "expired"), (c, "expired")}
