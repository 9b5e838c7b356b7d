"""Access requests with approval (issue 14), against the real server.

Every Vault rule is proved with a raw hvac client: a request only in one's
own name, a decision once, never one's own; the approval's grant works and
expires by itself.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from hvac import exceptions as hx

from access_helpers import KV, can_reveal, provision_customer, raw
from netvault.access import grants as access
from netvault.access import incidents
from netvault.errors import Conflict, PermissionDenied


def _now():
    return datetime.now(timezone.utc)


@pytest.fixture
def acme(server, unique):
    return provision_customer(server.root(), unique("req"))


def test_request_only_in_own_name(server, make_user, acme):
    bob, eve = make_user("engineer"), make_user("engineer")
    eve_c = eve.login()
    body = {"options": {"cas": 0}, "data": {"user": bob.name, "customer": acme.name, "incident": "INC-1"}}
    with pytest.raises(hx.Forbidden):
        raw(eve_c, "POST", f"{KV}/data/_requests/{bob.name}/{acme.name}", body)
    # her own name works
    raw(eve_c, "POST", f"{KV}/data/_requests/{eve.name}/{acme.name}", {**body, "data": {**body["data"], "user": eve.name}})
    # a just-in-time token (no userpass alias) files nothing, not even for its grantee
    lead = make_user("team-lead")
    access.grant(server.gateway(lead.token()), bob.name, acme.name, now=_now(), duration=timedelta(minutes=5))
    inbox = raw(bob.login(), "GET", f"{KV}/data/_inbox/{bob.entity_id}/{acme.name}")["data"]["data"]
    jit = raw(server.client(bob.token()), "POST", "sys/wrapping/unwrap", {"token": inbox["wrap_token"]})["auth"]["client_token"]
    with pytest.raises(hx.Forbidden):
        raw(server.client(jit), "POST", f"{KV}/data/_requests/{bob.name}/{acme.name}", body)
    # engineers cannot decide, not even others' requests, nor read them
    with pytest.raises(hx.Forbidden):
        raw(eve_c, "POST", f"{KV}/data/_decisions/{bob.name}/{acme.name}/1",
            {"options": {"cas": 0}, "data": {"decision": "approved"}})
    with pytest.raises(hx.Forbidden):
        raw(bob.login(), "GET", f"{KV}/data/_requests/{eve.name}/{acme.name}")
    with pytest.raises(hx.Forbidden):
        raw(bob.login(), "LIST", f"{KV}/metadata/_requests")
    # team leads read requests, never write one in another's name
    lc = lead.login()
    assert raw(lc, "GET", f"{KV}/data/_requests/{eve.name}/{acme.name}")["data"]["data"]["user"] == eve.name
    with pytest.raises(hx.Forbidden):
        raw(lc, "POST", f"{KV}/data/_requests/{eve.name}/{acme.name}", {"options": {"cas": 1}, "data": {"incident": "INC-2"}})


def test_duplicate_pending_request_is_one(server, make_user, acme):
    bob = make_user("engineer")
    v = server.gateway(bob.token())
    r1, created1 = incidents.file_request(v, acme.name, incident="INC-7", now=_now())
    r2, created2 = incidents.file_request(v, acme.name, incident="INC-7", now=_now())
    assert created1 and not created2
    assert r1.id == r2.id == f"{bob.name}:{acme.name}:1"
    mine = incidents.list_requests(v, now=_now(), mine=True)
    assert [r.id for r in mine] == [r1.id]


def test_approval_grants_time_limited_access_that_expires(server, make_user, acme):
    bob, lead = make_user("engineer"), make_user("team-lead")
    bv, lv = server.gateway(bob.token()), server.gateway(lead.token())
    r, _ = incidents.file_request(bv, acme.name, incident="INC-42", reason="core switch down", duration="1h", now=_now())
    pending = incidents.list_requests(lv, now=_now())
    assert r.id in [p.id for p in pending]
    assert not can_reveal(bob.login(), acme.record())
    done, grant = incidents.approve(lv, r.id, now=_now(), duration=timedelta(seconds=4))
    assert done.state == "approved" and grant.kind == "jit"
    rec = raw(server.root(), "GET", f"{KV}/data/_grants/{acme.name}/{bob.name}")["data"]["data"]
    assert rec["incident"] == "INC-42" and rec["request"] == r.id and "core switch down" in rec["reason"]
    # the engineer picks it up from the inbox and reveals with the JIT token (raw)
    inbox = raw(bob.login(), "GET", f"{KV}/data/_inbox/{bob.entity_id}/{acme.name}")["data"]["data"]
    jit = raw(server.client(bob.token()), "POST", "sys/wrapping/unwrap", {"token": inbox["wrap_token"]})["auth"]["client_token"]
    assert can_reveal(server.client(jit), acme.record())
    # decided once: a second decision by another lead is refused by Vault (cas 0, create-only)
    other = make_user("team-lead")
    with pytest.raises((hx.InvalidRequest, hx.Forbidden)):
        raw(other.login(), "POST", f"{KV}/data/_decisions/{bob.name}/{acme.name}/1",
            {"options": {"cas": 0}, "data": {"decision": "denied"}})
    with pytest.raises(hx.Forbidden):  # update is not a capability leads have there
        raw(other.login(), "POST", f"{KV}/data/_decisions/{bob.name}/{acme.name}/1",
            {"options": {"cas": 1}, "data": {"decision": "denied"}})
    with pytest.raises(Conflict):
        incidents.deny(server.gateway(other.token()), r.id, reason="late", now=_now())
    for method, path in (("DELETE", f"{KV}/data/_decisions/{bob.name}/{acme.name}/1"),
                         ("DELETE", f"{KV}/metadata/_decisions/{bob.name}/{acme.name}/1"),
                         ("POST", f"{KV}/destroy/_decisions/{bob.name}/{acme.name}/1")):
        with pytest.raises(hx.Forbidden):  # append-only: never removed
            raw(other.login(), method, path, {"versions": [1]} if method == "POST" else None)
    # Vault expires the grant by itself
    deadline = time.monotonic() + 30
    while can_reveal(server.client(jit), acme.record()):
        assert time.monotonic() < deadline, "the JIT token outlived its grant"
        time.sleep(0.5)


def test_self_approval_refused_by_vault_even_for_a_team_lead(server, make_user, acme):
    lead = make_user("team-lead")
    lv = server.gateway(lead.token())
    r, _ = incidents.file_request(lv, acme.name, incident="INC-9", now=_now())
    with pytest.raises(hx.Forbidden):  # raw: Vault itself refuses the decision
        raw(lead.login(), "POST", f"{KV}/data/_decisions/{lead.name}/{acme.name}/{r.version}",
            {"options": {"cas": 0}, "data": {"decision": "approved"}})
    with pytest.raises(PermissionDenied):
        incidents.approve(lv, r.id, now=_now())
    # the refused attempts are in the trail, attributed to the lead
    from netvault.audit.events import Filters, events

    tried = [e for e in events([str(server.audit_file)], filters=Filters(customer=acme.name, actions=("request",)))
             if e.kind == "decision"]
    assert len(tried) == 2 and all(e.outcome == "denied" and e.engineer == lead.name for e in tried)
    # nothing was granted, and the lead can still read the (absent) decision on their request
    assert incidents.get_request(lv, r.id, now=_now()).state == "pending"
    assert not [g for g in access.list_grants(server.gateway(), now=_now(), customer=acme.name) if g.user == lead.name]


def test_expired_request_cannot_be_approved(server, make_user, acme):
    bob, lead = make_user("engineer"), make_user("team-lead")
    r, _ = incidents.file_request(server.gateway(bob.token()), acme.name, incident="INC-3", now=_now())
    later = _now() + incidents.REQUEST_TTL + timedelta(minutes=1)
    with pytest.raises(Conflict, match="expired"):
        incidents.approve(server.gateway(lead.token()), r.id, now=later)


def _wait_in_background(cli_env, token, *args):
    import subprocess
    import sys

    env = {**cli_env, "VAULT_TOKEN": token}
    return subprocess.Popen([sys.executable, "-m", "netvault", "request", *args, "--wait", "--json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _pending_of(vault, user, customer):
    deadline = time.monotonic() + 60
    while True:
        mine = [r for r in incidents.list_requests(vault, now=_now()) if r.user == user and r.customer == customer]
        if mine:
            return mine[0]
        assert time.monotonic() < deadline, "the request never showed up"
        time.sleep(0.2)


def test_cli_request_wait_exits_0_approved_4_denied(server, make_user, acme, cli, cli_env):
    bob, lead = make_user("engineer"), make_user("team-lead")
    lv = server.gateway(lead.token())
    proc = _wait_in_background(cli_env, bob.token(), acme.name, "--incident", "INC-5", "--for", "30m")
    r = _pending_of(lv, bob.name, acme.name)
    got = cli("deny", r.id, "--reason", "use the change window", token=lead.token())
    assert got.returncode == 0, got.stderr
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, err
    assert "denied" in err and '"state": "denied"' in out

    proc = _wait_in_background(cli_env, bob.token(), acme.name, "--incident", "INC-6")
    r2 = _pending_of(lv, bob.name, acme.name)
    assert r2.id != r.id
    got = cli("approve", r2.id, "--for", "10m", "--json", token=lead.token())
    assert got.returncode == 0, got.stderr
    assert got.json()["grant"]["incident"] == "INC-6"
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    # the requester's next reveal picks the access up by itself
    shown = cli("reveal", f"{acme.name}/router", "--incident", "INC-6", token=bob.token())
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == acme.record().plaintext
    listed = cli("requests", "--mine", "--json", token=bob.token())
    states = {x["id"]: x["state"] for x in listed.json()}
    assert states[r.id] == "denied" and states[r2.id] == "approved"
    # self-approval through the CLI: exit 4
    lr, _ = incidents.file_request(lv, acme.name, incident="INC-8", now=_now())
    own = cli("approve", lr.id, token=lead.token())
    assert own.returncode == 4 and "own name" in own.stderr


def test_two_leads_racing_decide_once(server, make_user, acme):
    """Both leads read the request as pending; the first decision wins, the second is a conflict."""
    bob, l1, l2 = make_user("engineer"), make_user("team-lead"), make_user("team-lead")
    r, _ = incidents.file_request(server.gateway(bob.token()), acme.name, incident="INC-11", now=_now())
    v2 = server.gateway(l2.token())
    seen = incidents.get_request(v2, r.id, now=_now())  # l2 saw it pending
    incidents.deny(server.gateway(l1.token()), r.id, reason="no", now=_now())
    with pytest.raises(Conflict, match="someone else"):
        incidents._decide(v2, incidents._P(server.mounts), seen, {"decision": "approved"})
    assert incidents.get_request(v2, r.id, now=_now()).state == "denied"
