"""Break-glass (issue 14), against the real server.

Vault rules proved with raw hvac clients: only on-call members reveal without
a grant, only with a break-glass reference; never admins, auditors, disabled
or offboarded people. Every such reveal is flagged and stays unreviewed until
a team lead or an auditor acknowledges it (append-only).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from hvac import exceptions as hx

from access_helpers import KV, decrypt, provision_customer, raw
from netvault.access import offboard as offboarding
from netvault.access import incidents
from netvault.server import setup as layout
from netvault.vault import policies
from netvault.vault.mounts import Mounts
from netvault.access import people as users
from netvault.errors import PermissionDenied, UsageError

ON_CALL = "nv-role-on-call"


def _now():
    return datetime.now(timezone.utc)


@pytest.fixture
def acme(server, unique):
    return provision_customer(server.root(), unique("bg"))


def _on_call(server, person):
    users.add_member(server.gateway(), ON_CALL, person.entity_id)


def test_on_call_reveals_without_grant_only_with_break_glass_reference(server, make_user, acme):
    bob = make_user("engineer")
    rec = acme.record()
    with pytest.raises(hx.Forbidden):  # not on call: nothing
        decrypt(bob.login(), rec, "BG-INC-1")
    _on_call(server, bob)
    c = bob.login()
    assert decrypt(c, rec, "BG-INC-42") == rec.plaintext
    for ref in ("INC-42", "BG-", "BG-*", None, "BG-INC-1\u202e"):
        with pytest.raises((hx.Forbidden, hx.InvalidRequest)):
            decrypt(c, rec, ref)
    # the record itself is readable (ciphertext and id), nothing is writable
    raw(c, "GET", f"{KV}/data/customers/{acme.name}/credentials/router")
    with pytest.raises(hx.Forbidden):
        raw(c, "POST", f"{KV}/data/customers/{acme.name}/credentials/router", {"options": {"cas": 1}, "data": {}})
    # taken off call: refused again at once
    users.remove_member(server.gateway(), ON_CALL, bob.entity_id)
    with pytest.raises(hx.Forbidden):
        decrypt(c, rec, "BG-INC-43")


@pytest.mark.parametrize("role", ["admin", "auditor"])
def test_never_for_admins_or_auditors_even_in_the_group(server, make_user, acme, role):
    person = make_user(role)
    _on_call(server, person)  # made by root, past every netvault check
    c = person.login()
    with pytest.raises(hx.Forbidden):
        decrypt(c, acme.record(), "BG-INC-42")
    if role == "auditor":  # and no record bodies either
        with pytest.raises(hx.Forbidden):
            raw(c, "GET", f"{KV}/data/customers/{acme.name}/credentials/router")
    # the CLI refuses to put them on call in the first place
    lead = make_user("team-lead")
    with pytest.raises(PermissionDenied):
        incidents.give_on_call(server.gateway(lead.token()), person.name)


def test_never_for_disabled_or_offboarded(server, make_user, acme):
    lead = make_user("team-lead")
    lv = server.gateway(lead.token())
    a, b = make_user("engineer"), make_user("engineer")
    for p in (a, b):
        incidents.give_on_call(lv, p.name)
    ca, cb = a.login(), b.login()
    assert decrypt(ca, acme.record(), "BG-INC-1") == acme.record().plaintext
    offboarding.disable_user(lv, a.name)
    offboarding.offboard(lv, b.name, now=_now())
    for c in (ca, cb):
        with pytest.raises(hx.Forbidden):
            decrypt(c, acme.record(), "BG-INC-2")
    assert b.entity_id not in [m.entity_id for m in incidents.on_call_members(lv)]


def test_only_team_leads_give_the_role(server, make_user):
    lead, bob, eve = make_user("team-lead"), make_user("engineer"), make_user("engineer")
    g = raw(server.root(), "GET", f"identity/group/name/{ON_CALL}")["data"]
    members = g.get("member_entity_ids") or []
    with pytest.raises(hx.Forbidden):
        raw(eve.login(), "POST", f"identity/group/name/{ON_CALL}", {"member_entity_ids": members + [eve.entity_id]})
    # a lead may change the member list only, never the group's policies
    with pytest.raises(hx.Forbidden):
        raw(lead.login(), "POST", f"identity/group/name/{ON_CALL}", {"policies": ["nv-admin"]})
    incidents.give_on_call(server.gateway(lead.token()), bob.name)
    assert bob.entity_id in [m.entity_id for m in incidents.on_call_members(server.gateway(lead.token()))]
    incidents.take_on_call(server.gateway(lead.token()), bob.name)
    assert bob.entity_id not in [m.entity_id for m in incidents.on_call_members(server.gateway(lead.token()))]


def test_patterns_configurable_and_rendered():
    text = policies.render_on_call(["EMERG-*"], mounts=Mounts())
    assert '"reference"  = ["EMERG-*"]' in text and '"EMERG-"' in text
    assert incidents.break_glass_reference("INC-42", ["EMERG-*"]) == "EMERG-INC-42"
    assert incidents.break_glass_reference("BG-INC-42", ["BG-*"]) == "BG-INC-42"
    assert incidents.break_glass_reference("INC-42", ["*-BG"]) == "INC-42-BG"
    with pytest.raises(UsageError):
        layout.validate_break_glass(["INC-*"], ["INC-*", "CHG-*"])
    with pytest.raises(UsageError):
        layout.validate_break_glass(["INC-BG-*"], ["INC-*"])
    with pytest.raises(UsageError):
        layout.validate_break_glass(["*"], ["INC-*"])
    assert layout.validate_break_glass(["EMERG-*"], ["INC-*"]) == ["EMERG-*"]


def test_cli_break_glass_flagged_until_reviewed(server, make_user, acme, cli):
    bob, lead, auditor = make_user("engineer"), make_user("team-lead"), make_user("auditor")
    incidents.give_on_call(server.gateway(lead.token()), bob.name)
    ref = f"{acme.name}/router"
    fast = cli("reveal", ref, "--break-glass", "--incident", "INC-42", "--json", token=bob.token())
    assert fast.returncode == 0, fast.stderr
    assert fast.json()["incident"] == "BG-INC-42" and fast.json()["value"] == acme.record().plaintext
    slow = cli("reveal", ref, "--break-glass", "--incident", "INC-43", "--json", token=bob.token(),
               env={"NETVAULT_NO_FAST": "1"})
    assert slow.returncode == 0, slow.stderr
    assert slow.json()["incident"] == "BG-INC-43"
    # without --break-glass the normal reference is refused (no grant)
    assert cli("reveal", ref, "--incident", "INC-42", token=bob.token()).returncode == 4
    # a plain engineer's break-glass attempt is refused, and flagged too
    eve = make_user("engineer")
    refused = cli("reveal", ref, "--break-glass", "--incident", "INC-44", token=eve.token())
    assert refused.returncode == 4
    with pytest.raises(hx.Forbidden):  # with a raw client straight at transit: refused, and in the trail
        decrypt(eve.login(), acme.record(), "BG-INC-44")

    f = str(server.audit_file)
    log = cli("audit", "log", "--file", f, "--customer", acme.name, "--break-glass", "--json", token=lead.token())
    assert log.returncode == 0, log.stderr
    evs = [json.loads(x) for x in log.stdout.splitlines()]
    assert all("break-glass" in e["flags"] for e in evs)
    allowed = [e for e in evs if e["outcome"] == "allowed"]
    assert sorted(e["incident"] for e in allowed) == ["BG-INC-42", "BG-INC-43"]
    assert {e["engineer"] for e in allowed} == {bob.name}
    assert [e["engineer"] for e in evs if e["outcome"] == "denied"] == [eve.name]

    def unreviewed():
        got = cli("audit", "review", "--file", f, "--json", token=auditor.token())
        assert got.returncode == 0, got.stderr
        return {r["event"] for r in got.json() if r["customer"] == acme.name and r["outcome"] == "allowed"}

    first, second = sorted(allowed, key=lambda e: e["incident"])
    assert unreviewed() == {first["request_id"], second["request_id"]}
    # nobody reviews their own (a lead on call), engineers not at all (raw: Vault)
    with pytest.raises(hx.Forbidden):
        raw(bob.login(), "POST", f"{KV}/data/_reviews/{first['request_id']}", {"options": {"cas": 0}, "data": {"note": "me"}})
    incidents.give_on_call(server.gateway(server.root_token), lead.name)
    ok = cli("audit", "review", "--file", f, "--ack", first["request_id"], "--note", "INC-42 confirmed", token=lead.token())
    assert ok.returncode == 0, ok.stderr
    assert unreviewed() == {second["request_id"]}
    # append-only: a second review of the same event is refused by Vault
    for cas in (0, 1):
        with pytest.raises((hx.Forbidden, hx.InvalidRequest)):
            raw(auditor.login(), "POST", f"{KV}/data/_reviews/{first['request_id']}",
                {"options": {"cas": cas}, "data": {"note": "rewritten"}})
    ok2 = cli("audit", "review", "--file", f, "--ack", second["request_id"], "--note", "ok", token=auditor.token())
    assert ok2.returncode == 0, ok2.stderr
    assert unreviewed() == set()
    listed = cli("audit", "review", "--file", f, "--all", "--json", token=auditor.token()).json()
    mine = {r["event"]: r for r in listed if r["customer"] == acme.name}
    assert mine[first["request_id"]]["reviewer"] == lead.name  # from the trail
    assert mine[first["request_id"]]["note"] == "INC-42 confirmed"
    assert mine[second["request_id"]]["reviewer"] == auditor.name

    # the HTML report: its own section, reviewed and unreviewed apart; exposure flags it
    out = server.audit_file.parent / f"report-{acme.name}.html"
    rep = cli("audit", "report", "--file", f, "--customer", acme.name, "--out", str(out), token=auditor.token())
    assert rep.returncode == 0, rep.stderr
    html = out.read_text()
    assert html.index("Break-glass reveals") < html.index("Events by action")
    reviewed_part = html[html.index('id="break-glass-reviewed"'):]
    assert "BG-INC-42" in reviewed_part and "INC-42 confirmed" in reviewed_part
    assert lead.name in reviewed_part and "reviewer-untraced" not in reviewed_part
    exp = cli("audit", "exposure", bob.name, "--file", f, "--json", token=auditor.token())
    assert exp.returncode == 0, exp.stderr
    rows = [json.loads(x) for x in exp.stdout.splitlines()]
    assert any(r["customer"] == acme.name and "break-glass" in r["flags"] for r in rows)

    # a team lead on call breaks glass: they may not review their own reveal
    own = cli("reveal", ref, "--break-glass", "--incident", "INC-50", "--json", token=lead.token())
    assert own.returncode == 0, own.stderr
    log = cli("audit", "log", "--file", f, "--customer", acme.name, "--break-glass", "--incident", "BG-INC-50",
              "--json", token=lead.token())
    event = json.loads(log.stdout.splitlines()[-1])["request_id"]
    selfie = cli("audit", "review", "--file", f, "--ack", event, "--note", "fine", token=lead.token())
    assert selfie.returncode == 4 and "own" in selfie.stderr
    assert event in unreviewed()
