"""`netvault reveal` with a time-limited grant (needs the records part, issue 3).

The reveal command picks the JIT token up from the inbox when Vault refuses
the login token for that customer (access.customer_token), and is refused
again after a revoke.
"""

from __future__ import annotations

import secrets

import pytest
from hvac import exceptions as hx

from access_helpers import new_person, provision_customer


@pytest.fixture
def has_reveal(cli):
    # reveal is part of every build: a failing --help is a failure, not a skip.
    r = cli("reveal", "--help", env={"NETVAULT_NO_FAST": "1"})
    assert r.returncode == 0, r.stderr


def login_env(cli, person):
    r = cli("login", person.name, "--password-stdin", input=person.password + "\n")
    assert r.returncode == 0, r.stderr


def test_reveal_uses_a_time_limited_grant_and_stops_after_revoke(has_reveal, cli, server):
    lead = new_person(server, "team-lead")
    eng = new_person(server, "engineer")
    cust = provision_customer(server.root(), f"rv-{secrets.token_hex(3)}")
    rec = cust.record()
    lt = lead.login().token
    login_env(cli, eng)  # the engineer's own login, kept in this test's config dir
    ref = f"{cust.name}/router"
    r = cli("reveal", ref, "--incident", "INC-1")
    assert r.returncode == 4, (r.returncode, r.stderr)
    assert cli("grant", eng.name, cust.name, "--for", "10m", token=lt).returncode == 0
    r = cli("reveal", ref, "--incident", "INC-1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == rec.plaintext
    r = cli("reveal", ref, "--incident", "INC-2")  # the stored JIT token, again
    assert r.returncode == 0 and r.stdout.strip() == rec.plaintext
    assert cli("revoke", eng.name, cust.name, token=lt).returncode == 0
    r = cli("reveal", ref, "--incident", "INC-3")
    assert r.returncode == 4, (r.returncode, r.stdout, r.stderr)
    assert rec.plaintext not in r.stdout


def test_logout_revokes_and_forgets_time_limited_tokens(has_reveal, cli, cli_env, server):
    import json
    from pathlib import Path

    lead = new_person(server, "team-lead")
    eng = new_person(server, "engineer")
    cust = provision_customer(server.root(), f"lo-{secrets.token_hex(3)}")
    login_env(cli, eng)
    assert cli("grant", eng.name, cust.name, "--for", "10m", token=lead.login().token).returncode == 0
    assert cli("reveal", f"{cust.name}/router", "--incident", "INC-1").returncode == 0
    tokens = Path(cli_env["NETVAULT_CONFIG_DIR"]) / "tokens.json"
    jit = json.loads(tokens.read_text())[f"jit:{cust.name}@{server.address}"]
    assert cli("logout").returncode == 0
    assert json.loads(tokens.read_text()) == {}
    with pytest.raises(hx.Forbidden):  # revoked in Vault, not only forgotten
        server.client(jit).auth.token.lookup_self()


def test_find_sees_customers_granted_for_a_few_hours(has_reveal, cli, server):
    """A time-limited grant must let the engineer find that customer's devices too,
    before and after the delivery was picked up by a reveal."""
    lead = new_person(server, "team-lead")
    eng = new_person(server, "engineer")
    root = server.root_token
    c = f"fj-{secrets.token_hex(3)}"
    assert cli("customer", "add", c, "--company", "Find JIT BV", token=root).returncode == 0
    mac = "02:00:5e:%02x:%02x:%02x" % tuple(secrets.token_bytes(3))
    assert cli("device", "add", f"{c}/sw1", "--kind", "switch", "--mac", mac, token=lead.login().token).returncode == 0
    login_env(cli, eng)
    assert cli("find", mac).returncode == 3  # nothing visible yet
    assert cli("grant", eng.name, c, "--for", "10m", token=lead.login().token).returncode == 0
    r = cli("find", mac, "--json")  # picks the delivery up from the inbox
    assert r.returncode == 0, r.stderr
    assert [(h["customer"], h["device"]) for h in r.json()["results"]] == [(c, "sw1")]
    r = cli("find", mac, "--json")  # the stored JIT token from now on
    assert [(h["customer"], h["device"]) for h in r.json()["results"]] == [(c, "sw1")]
