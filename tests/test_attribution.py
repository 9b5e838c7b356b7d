"""Issue 8, items 1-3: the trail names the person who held the token.

Hostile insiders with real tokens and raw clients (hvac): a team lead mints a
just-in-time token in an engineer's name and uses it (plain, wrapped and
unwrapped by the lead, wrapped and unwrapped with the wrap token itself); an
engineer hides the record with a line-broken ``context``; a team lead plants
an unnameable record id and rewrites ``_ids``. The reader (`audit log`,
`audit exposure`, the HTML report, offboarding) must attribute from what
Vault binds and flag what it cannot trace.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid

import pytest
from hvac import exceptions as hx

from access_helpers import KV, TRANSIT, b64, decrypt, new_person, provision_customer, raw, raw_grant


@pytest.fixture
def world(server):
    root = server.root()
    cust = provision_customer(root, f"gx-{secrets.token_hex(3)}", credentials=("router", "switch"))
    lead = new_person(server, "team-lead")
    bob = new_person(server, "engineer")
    auditor = new_person(server, "auditor")
    admin = new_person(server, "admin")
    return cust, lead, bob, auditor, admin


def _log(cli, server, token, *args):
    r = cli("audit", "log", "--file", str(server.audit_file), "--json", *args, token=token)
    assert r.returncode == 0, r.stderr
    return [json.loads(x) for x in r.stdout.splitlines()]


def _exposure(cli, server, token, user):
    r = cli("audit", "exposure", user, "--file", str(server.audit_file), "--json", token=token)
    assert r.returncode == 0, r.stderr
    return [json.loads(x) for x in r.stdout.splitlines()]


def _mint(lead_client, customer: str, user: str, wrap: bool):
    """auth/token/create/nv-jit in USER's name, with a forged name and metadata when Vault still takes them."""
    body = {"policies": f"nv-customer-{customer}", "ttl": "1h", "entity_alias": f"jit:{user}"}
    headers = {"X-Vault-Wrap-TTL": "600"} if wrap else None
    try:
        return raw(lead_client, "POST", "auth/token/create/nv-jit",
                   {**body, "meta": {"username": user}, "display_name": user}, headers=headers)
    except hx.Forbidden:  # the policy no longer allows meta/display_name: the attack without them
        return raw(lead_client, "POST", "auth/token/create/nv-jit", body, headers=headers)


def _offboard(cli, server, admin, user):
    r = cli("engineer", "offboard", user, "--yes", "--json", "--audit-file", str(server.audit_file),
            token=admin.login().token)
    assert r.returncode == 0, r.stderr
    return r


def test_lead_mints_a_token_in_bobs_name_and_uses_it(world, server, cli):
    cust, lead, bob, auditor, admin = world
    lc = lead.login()
    token = _mint(lc, cust.name, bob.name, wrap=False)["auth"]["client_token"]
    rec = cust.record()
    assert decrypt(server.client(token), rec, "INC-1") == rec.plaintext
    evs = [e for e in _log(cli, server, auditor.login().token, "--customer", cust.name, "--action", "reveal")]
    assert [(e["engineer"], e["entity_id"], e["record"]) for e in evs] == [(lead.name, lead.entity_id, "router")]
    assert (evs[0].get("grantee"), evs[0].get("minted_by")) == (bob.name, lead.name)
    assert sorted(evs[0].get("flags") or []) == ["holder-not-grantee", "no-grant-record"]
    assert _exposure(cli, server, auditor.login().token, bob.name) == []
    assert [x["record"] for x in _exposure(cli, server, auditor.login().token, lead.name)] == ["router"]
    # the table shows the flags too
    r = cli("audit", "log", "--file", str(server.audit_file), "--customer", cust.name, "--action", "reveal",
            token=auditor.login().token)
    assert "holder-not-grantee" in r.stdout and lead.name in r.stdout
    # offboarding the lead revokes the token the lead minted (no grant record names it)
    out = json.loads(_offboard(cli, server, admin, lead.name).stdout)
    assert out["minted"] == 1 and len(out["minted_revoked"]) == 1
    with pytest.raises(hx.Forbidden):
        decrypt(server.client(token), rec, "INC-2")
    # the lead's worklist holds what they revealed, though no grant covered it
    assert {(w["customer"], w["name"], w["revealed"]) for w in out["worklist"]} == {
        (cust.name, "router", True), (cust.name, "switch", False)}


def test_lead_unwraps_a_wrapped_delivery_before_bob(world, server, cli):
    cust, lead, bob, auditor, admin = world
    lc = lead.login()
    wrap = _mint(lc, cust.name, bob.name, wrap=True)["wrap_info"]["token"]
    token = raw(lc, "POST", "sys/wrapping/unwrap", {"token": wrap})["auth"]["client_token"]
    with pytest.raises(hx.InvalidRequest):  # bob comes too late
        raw(bob.login(), "POST", "sys/wrapping/unwrap", {"token": wrap})
    rec = cust.record("switch")
    decrypt(server.client(token), rec, "INC-3")
    evs = _log(cli, server, auditor.login().token, "--customer", cust.name, "--action", "reveal")
    assert [(e["engineer"], e["entity_id"], e["record"]) for e in evs] == [(lead.name, lead.entity_id, "switch")]
    assert evs[0].get("grantee") == bob.name
    assert sorted(evs[0].get("flags") or []) == ["holder-not-grantee", "no-grant-record"]
    assert _exposure(cli, server, auditor.login().token, bob.name) == []
    out = json.loads(_offboard(cli, server, admin, lead.name).stdout)
    assert out["minted"] == 1 and len(out["minted_revoked"]) == 1
    with pytest.raises(hx.Forbidden):
        decrypt(server.client(token), rec, "INC-4")


def test_wrap_token_used_as_its_own_token_leaves_no_person(world, server, cli):
    cust, lead, bob, auditor, admin = world
    wrap = _mint(lead.login(), cust.name, bob.name, wrap=True)["wrap_info"]["token"]
    token = raw(server.client(wrap), "POST", "sys/wrapping/unwrap")["auth"]["client_token"]
    decrypt(server.client(token), cust.record(), "INC-5")
    evs = _log(cli, server, auditor.login().token, "--customer", cust.name, "--action", "reveal")
    assert [(e["engineer"], e["entity_id"]) for e in evs] == [(None, None)]
    assert (evs[0].get("minted_by"), evs[0].get("grantee")) == (lead.name, bob.name)
    assert "untraced-holder" in (evs[0].get("flags") or [])
    # nobody is named; the grantee's and the minter's worklists list it, flagged
    for who in (bob.name, lead.name):
        rows = _exposure(cli, server, auditor.login().token, who)
        assert [(x["record"], "untraced-holder" in (x.get("flags") or [])) for x in rows] == [("router", True)]


def test_grant_for_and_reveal_through_netvault_is_the_engineers_unflagged(world, server, cli):
    cust, lead, bob, auditor, admin = world
    r = cli("login", bob.name, "--password-stdin", input=bob.password + "\n")
    assert r.returncode == 0, r.stderr
    assert cli("grant", bob.name, cust.name, "--for", "10m", token=lead.login().token).returncode == 0
    r = cli("reveal", f"{cust.name}/router", "--incident", "INC-6")
    assert r.returncode == 0 and r.stdout.strip() == cust.record().plaintext
    evs = _log(cli, server, auditor.login().token, "--customer", cust.name, "--action", "reveal")
    assert [(e["engineer"], e["entity_id"], e["record"]) for e in evs] == [(bob.name, bob.entity_id, "router")]
    assert (evs[0].get("grantee"), evs[0].get("flags")) == (bob.name, [])
    assert [x["record"] for x in _exposure(cli, server, auditor.login().token, bob.name)] == ["router"]
    # the same offline (no Vault): the chain alone names bob
    evs = _log(cli, server, None, "--customer", cust.name, "--action", "reveal", "--offline")
    assert [(e["engineer"], e.get("flags")) for e in evs] == [(bob.name, [])]
    # a later lookup with a filter that hides the create/unwrap lines still attributes
    evs = _log(cli, server, auditor.login().token, "--incident", "INC-6")
    assert [(e["engineer"], e.get("flags")) for e in evs] == [(bob.name, [])]


def test_line_broken_context_is_resolved_as_vault_did(world, server, cli):
    cust, lead, bob, auditor, admin = world
    raw_grant(server.root(), cust.name, bob)
    rec = cust.record()
    broken = rec.context[:7] + "\r\n" + rec.context[7:] + "\n"
    resp = raw(bob.login(), "POST", f"{TRANSIT}/decrypt/customer-{cust.name}",
               {"ciphertext": rec.ciphertext, "context": broken, "reference": "INC-7"})
    assert base64.b64decode(resp["data"]["plaintext"]).decode() == rec.plaintext  # Vault accepted it
    for token, extra in ((auditor.login().token, ()), (None, ("--offline",))):
        evs = _log(cli, server, token, "--customer", cust.name, "--action", "reveal", *extra)
        assert [(e["engineer"], e["record_id"], e.get("flags")) for e in evs] == [(bob.name, rec.id, [])]
    assert [x["record"] for x in _exposure(cli, server, auditor.login().token, bob.name)] == ["router"]


def test_unnameable_record_counts_as_every_record_of_the_customer(world, server, cli):
    """A team lead plants a record whose id is no valid id: a reveal of it cannot be named."""
    cust, lead, bob, auditor, admin = world
    lc = lead.login()
    odd = "not an id!"
    ct = raw(lc, "POST", f"{TRANSIT}/encrypt/customer-{cust.name}", {
        "plaintext": b64("planted"), "context": b64(odd)})["data"]["ciphertext"]
    raw(lc, "POST", f"{KV}/data/customers/{cust.name}/credentials/odd",
        {"options": {"cas": 0}, "data": {"id": odd, "secrets": {"password": ct}}})
    raw_grant(server.root(), cust.name, bob)
    raw(bob.login(), "POST", f"{TRANSIT}/decrypt/customer-{cust.name}",
        {"ciphertext": ct, "context": b64(odd), "reference": "INC-8"})
    evs = _log(cli, server, auditor.login().token, "--customer", cust.name, "--action", "reveal")
    assert [(e["engineer"], e["record"], e["record_id"], e.get("flags")) for e in evs] == [
        (bob.name, None, None, ["record-unresolved"])]
    rows = _exposure(cli, server, auditor.login().token, bob.name)
    assert [(x["customer"], x["record"], x["status"]) for x in rows] == [(cust.name, None, "rotate-all")]
    r = cli("audit", "exposure", bob.name, "--file", str(server.audit_file), token=auditor.login().token)
    assert f"rotate every credential of {cust.name}" in r.stderr
    out = json.loads(_offboard(cli, server, admin, bob.name).stdout)
    assert out["unresolved_customers"] == [cust.name]
    assert {(w["name"], w["revealed"]) for w in out["worklist"]} == {("router", True), ("switch", True), ("odd", True)}


def test_ids_rewrite_is_tampering_and_never_names_the_wrong_record(world, server, cli):
    cust, lead, bob, auditor, admin = world
    rec, other = cust.record("router"), cust.record("switch")
    path = f"{KV}/data/customers/{cust.name}/_ids/{rec.id}"
    body = {"options": {"cas": 1}, "data": {"kind": "credentials", "name": "switch"}}
    try:
        raw(lead.login(), "POST", path, body)
        rewriter = lead.name
    except hx.Forbidden:  # _ids create-only for team leads (policy): the reader must hold all the same
        raw(server.root(), "POST", path, body)
        rewriter = "root"
    raw_grant(server.root(), cust.name, bob)
    decrypt(bob.login(), rec, "INC-9")
    for token in (auditor.login().token, admin.login().token):  # metadata check / record body check
        evs = _log(cli, server, token, "--customer", cust.name, "--action", "reveal")
        assert [(e["record"], e["record_id"], e.get("flags")) for e in evs] == [(None, rec.id, ["id-mismatch"])]
    tamper = _log(cli, server, auditor.login().token, "--customer", cust.name, "--action", "tamper")
    assert [(e["engineer"], e["record_id"], e["outcome"], e.get("flags")) for e in tamper if e["outcome"] == "allowed"] == [
        (rewriter, rec.id, "allowed", ["ids-rewritten"])]
    rows = _exposure(cli, server, auditor.login().token, bob.name)
    assert [(x["record"], x["status"]) for x in rows] == [(None, "rotate-all")]
    assert other.name not in [x["record"] for x in rows]


def test_html_report_lists_flagged_events(world, server, cli, tmp_path):
    cust, lead, bob, auditor, admin = world
    token = _mint(lead.login(), cust.name, bob.name, wrap=False)["auth"]["client_token"]
    decrypt(server.client(token), cust.record(), "INC-10")
    out = tmp_path / "r.html"
    r = cli("audit", "report", "--file", str(server.audit_file), "--customer", cust.name, "--out", str(out),
            token=auditor.login().token)
    assert r.returncode == 0, r.stderr
    flagged = out.read_text().split('id="flagged"')[1].split("</table>")[0]
    assert "holder-not-grantee" in flagged and lead.name in flagged and bob.name in flagged


def test_lead_sweep_policy_adds_only_hashing_on_netvaults_device(server):
    lead = new_person(server, "team-lead").login()
    assert raw(lead, "POST", "sys/audit-hash/netvault", {"input": "x"})["data"]["hash"].startswith("hmac-sha256:")
    for method, path, data in (
        ("LIST", "auth/token/accessors", None),
        ("POST", "sys/audit-hash/other", {"input": "x"}),
        ("GET", "sys/audit", None),
        ("POST", "auth/token/lookup", {"token": "s.x"}),
    ):
        with pytest.raises((hx.Forbidden, hx.InvalidRequest)):
            raw(lead, method, path, data)


def test_offboarding_without_an_audit_file_says_it_could_not_trace(server, cli):
    admin = new_person(server, "admin")
    eng = new_person(server, "engineer")
    r = cli("engineer", "offboard", eng.name, "--yes", token=admin.login().token)
    assert r.returncode == 3 and "--without-audit" in r.stderr  # refused: no trail at hand (issue 15)
    r = cli("engineer", "offboard", eng.name, "--yes", "--without-audit", token=admin.login().token)
    assert r.returncode == 0, r.stderr
    assert "could not be traced" in r.stderr


def test_classifier_never_trusts_a_tokens_metadata_or_display_name():
    """Unit: a token-store token saying it is bob (metadata, display name) is not bob."""
    from netvault.audit.events import Classifier
    from netvault.audit.reader import Entry

    for auth in (
        {"display_name": "token-bob", "metadata": {"username": "bob"}, "entity_id": "e-jit", "accessor": "hmac-sha256:aa"},
        {"display_name": "userpass-bob", "metadata": {"username": "bob"}, "entity_id": None,
         "policies": ["response-wrapping"], "accessor": "hmac-sha256:bb"},
        {"display_name": "token-userpass-bob", "entity_id": "e1", "accessor": "hmac-sha256:cc"},
    ):
        doc = {"time": "2026-01-01T00:00:00Z", "type": "response", "auth": auth, "request": {
            "id": str(uuid.uuid4()), "operation": "update", "path": "netvault-transit/decrypt/customer-acme",
            "data": {"context": b64("abc123"), "reference": "INC-1"}}}
        ev = Classifier()(Entry(doc["time"], doc, True, "x"))
        assert ev.engineer is None and ev.entity_id is None and ev.flags and ev.flags[0].startswith("untraced")


def test_context_decoder_accepts_exactly_what_transit_accepts(world, server):
    """For each spelling of a record's context: Vault decrypts it  <=>  the reader decodes it to the id."""
    from netvault.audit.events import _record_id

    cust, lead, bob, auditor, admin = world
    raw_grant(server.root(), cust.name, bob)
    bc = bob.login()
    rec = cust.record()
    ctx = rec.context  # 32 hex chars -> 44 base64 chars ending in "="
    forms = [ctx, ctx[:5] + "\r\n" + ctx[5:], ctx + "\n", "\r" + ctx, ctx[:-1] + "\n=", ctx.rstrip("="),
             " " + ctx, ctx[:5] + " " + ctx[5:], ctx[:5] + "\t" + ctx[5:], ctx + "==", ctx[:4] + "=" + ctx[4:],
             ctx.replace("=", "%3D")]
    for form in forms:
        try:
            raw(bc, "POST", f"{TRANSIT}/decrypt/customer-{cust.name}",
                {"ciphertext": rec.ciphertext, "context": form, "reference": "INC-11"})
            accepted = True
        except hx.InvalidRequest:
            accepted = False
        assert accepted == (_record_id(form) == rec.id), repr(form)


def test_a_team_lead_sweeps_what_grant_records_name_and_says_what_it_cannot(world, server):
    """Least privilege: a team lead matches minted tokens only through grant records
    (sys/audit-hash/netvault); a token minted without one needs an admin, and it says so."""
    from datetime import datetime, timedelta, timezone

    from netvault.access import grants as access
    from netvault.access import jit as jit_access
    from netvault.access import offboard as offboarding
    from netvault.audit.attribution import Trace

    cust, lead, bob, auditor, admin = world
    now = datetime.now(timezone.utc)
    lv = server.gateway(lead.login().token)
    access.grant(lv, bob.name, cust.name, now=now, duration=timedelta(minutes=10))  # with a grant record
    stray = _mint(lead.login(), cust.name, bob.name, wrap=False)["auth"]["client_token"]  # without one
    recorded = access.list_grants(server.gateway(), now=now, customer=cust.name, user=bob.name)[0].accessor

    def minted(ids):
        return [acc for acc, m in Trace([server.audit_file]).minted_by_entity(ids) if m.path == jit_access.JIT_CREATE_PATH]

    other_lead = server.gateway(new_person(server, "team-lead").login().token)
    result = offboarding.offboard(other_lead, lead.name, now=now, minted=minted)
    assert result.minted == 2 and [r["via"] for r in result.minted_revoked] == [f"grant record {cust.name}/{bob.name}"]
    assert result.minted_unmatched == 1 and "admin" in result.minted_note
    with pytest.raises(hx.InvalidRequest):  # the recorded one is gone
        raw(server.root(), "POST", "auth/token/lookup-accessor", {"accessor": recorded})
    assert decrypt(server.client(stray), cust.record(), "INC-12") == cust.record().plaintext  # needs an admin
    result = offboarding.offboard(server.gateway(admin.login().token), lead.name, now=now, minted=minted)
    assert len(result.minted_revoked) == 1 and result.minted_note is None
    with pytest.raises(hx.Forbidden):
        decrypt(server.client(stray), cust.record(), "INC-13")
