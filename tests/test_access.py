"""netvault.access.grants against a real OpenBao: grants, revokes, JIT, offboarding, races.

The domain functions run with a team lead's token; what the engineer can do
is checked with raw hvac clients, i.e. by Vault itself.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from hvac import exceptions as hx

from access_helpers import KV, can_reveal, decrypt, new_person, provision_customer, raw
from netvault.access import grants as access
from netvault.access import jit as jit_access
from netvault.access import offboard as offboarding
from netvault.access import team
from netvault.local import config
from netvault.local import tokens
from netvault.errors import Conflict, NotFound, PermissionDenied, UsageError
from netvault.vault.client import Vault


def now() -> datetime:
    return datetime.now(timezone.utc)


@pytest.fixture(scope="module")
def lead(server):
    return new_person(server, "team-lead")


@pytest.fixture
def lv(server, lead):
    """The team lead's gateway client."""
    return server.gateway(lead.login().token)


@pytest.fixture
def customer(server):
    return provision_customer(server.root(), f"acc-{secrets.token_hex(3)}", ("router", "switch"))


@pytest.fixture
def engineer(server):
    return new_person(server, "engineer")


@pytest.fixture
def settings(server, tmp_path, monkeypatch):
    monkeypatch.setenv("NETVAULT_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("NETVAULT_KEYRING", "file")
    return config.Settings(address=server.address)


def group_exists(server, customer, user) -> bool:
    return server.gateway().read(f"identity/group/name/nv-grant:{customer}:{user}") is not None


def record(server, customer, user):
    resp = server.gateway().read(f"{KV}/data/_grants/{customer}/{user}")
    return resp["data"]["data"] if resp else None


# -- standing grants ---------------------------------------------------------
def test_standing_grant_and_revoke_reach_an_existing_token(server, lv, lead, customer, engineer):
    client = engineer.login()  # token issued before the grant
    rec = customer.record()
    assert not can_reveal(client, rec)
    g = access.grant(lv, engineer.name, customer.name, now=now(), reason="INC-7 outage")
    assert (g.kind, g.state, g.granted_by, g.expires_at) == ("standing", "active", lead.name, None)
    assert can_reveal(client, rec)  # same token, at once
    assert group_exists(server, customer.name, engineer.name)
    assert record(server, customer.name, engineer.name)["reason"] == "INC-7 outage"
    # the engineer sees exactly this customer, nothing else
    me = raw(client, "GET", "auth/token/lookup-self")["data"]
    assert sorted(me["identity_policies"]) == ["nv-customer-" + customer.name, "nv-engineer", "nv-requests",
                                               "nv-self-password"]

    listed = access.list_grants(lv, now=now(), customer=customer.name)
    assert [(x.user, x.kind, x.state) for x in listed] == [(engineer.name, "standing", "active")]

    access.revoke(lv, engineer.name, customer.name)
    assert not can_reveal(client, rec)  # same token, at once
    assert not group_exists(server, customer.name, engineer.name)
    assert record(server, customer.name, engineer.name) is None
    assert access.list_grants(lv, now=now(), customer=customer.name) == []


def test_duplicate_grant_is_a_conflict_and_changes_nothing(server, lv, customer, engineer):
    access.grant(lv, engineer.name, customer.name, now=now())
    before = server.gateway().read(f"{KV}/metadata/_grants/{customer.name}/{engineer.name}")["data"]["current_version"]
    with pytest.raises(Conflict) as err:
        access.grant(lv, engineer.name, customer.name, now=now())
    assert err.value.exit_code == 7 and "already has standing access" in str(err.value)
    with pytest.raises(Conflict):
        access.grant(lv, engineer.name, customer.name, now=now(), duration=timedelta(hours=1))
    after = server.gateway().read(f"{KV}/metadata/_grants/{customer.name}/{engineer.name}")["data"]["current_version"]
    assert before == after


def test_revoke_of_a_missing_grant_is_not_found(lv, customer, engineer):
    with pytest.raises(NotFound) as err:
        access.revoke(lv, engineer.name, customer.name)
    assert err.value.exit_code == 3 and "no grant" in str(err.value)


@pytest.mark.parametrize("who,what", [("nobody-x", "user"), (None, "customer")])
def test_unknown_user_or_customer(server, lv, customer, engineer, who, what):
    user = who or engineer.name
    cust = "no-such-customer" if what == "customer" else customer.name
    with pytest.raises(NotFound) as err:
        access.grant(lv, user, cust, now=now())
    assert f"unknown {what}" in str(err.value)
    assert not group_exists(server, cust, user) and record(server, cust, user) is None
    with pytest.raises(NotFound):
        access.revoke(lv, user, cust)


@pytest.mark.parametrize("bad", ["0s", "-1h", "999y", "4 hours", "169h", "", "1.5h"])
def test_bad_durations(bad):
    with pytest.raises(UsageError) as err:
        access.grant_duration(bad)
    assert err.value.exit_code == 2


def test_duration_bounds_are_checked_in_the_domain_too(server, lv, customer, engineer):
    for d in (timedelta(0), timedelta(seconds=-5), timedelta(hours=169)):
        with pytest.raises(UsageError):
            access.grant(lv, engineer.name, customer.name, now=now(), duration=d)
    assert record(server, customer.name, engineer.name) is None


# -- time-limited grants -------------------------------------------------------
def test_time_limited_grant_expires_by_vault_itself(server, lv, customer, engineer, settings):
    rec = customer.record()
    login = engineer.login()
    ev = server.gateway(login.token)
    g = access.grant(lv, engineer.name, customer.name, now=now(), duration=timedelta(seconds=8), reason="INC-9")
    assert g.kind == "jit" and g.accessor
    assert not can_reveal(login, rec)  # the login token itself gains nothing

    token = jit_access.customer_token(settings, ev, customer.name, now())
    assert token and tokens.load(server.address, scope=f"jit:{customer.name}") == token
    jit = server.client(token)
    me = raw(jit, "GET", "auth/token/lookup-self")["data"]
    assert me["policies"] == ["default", f"nv-customer-{customer.name}"] and not me.get("identity_policies")
    assert me["renewable"] is False and me["ttl"] <= 8
    alias = raw(server.root(), "GET", f"identity/entity/id/{me['entity_id']}")["data"]["aliases"][0]["name"]
    assert alias == f"jit:{engineer.name}"
    assert decrypt(jit, rec) == rec.plaintext
    # the inbox entry is gone; asking again returns the stored token
    assert server.gateway().read(f"{KV}/metadata/_inbox/{engineer.entity_id}/{customer.name}") is None
    assert jit_access.customer_token(settings, ev, customer.name, now()) == token

    # No netvault process runs in between: Vault alone ends it.
    time.sleep(9)
    with pytest.raises(hx.Forbidden):
        decrypt(jit, rec)
    assert jit_access.customer_token(settings, ev, customer.name, now()) is None
    listed = access.list_grants(lv, now=now(), user=engineer.name)
    assert [(x.kind, x.state) for x in listed] == [("jit", "expired")]
    # an expired grant may be granted again
    access.grant(lv, engineer.name, customer.name, now=now(), duration=timedelta(minutes=5))


def test_jit_revoke_ends_the_token_at_once(server, lv, customer, engineer, settings):
    ev = server.gateway(engineer.login().token)
    access.grant(lv, engineer.name, customer.name, now=now(), duration=timedelta(hours=1))
    token = jit_access.customer_token(settings, ev, customer.name, now())
    assert can_reveal(server.client(token), customer.record())
    g = access.revoke(lv, engineer.name, customer.name)
    assert g.kind == "jit"
    assert not can_reveal(server.client(token), customer.record())
    assert jit_access.customer_token(settings, ev, customer.name, now()) is None


def test_jit_revoke_before_pickup_withdraws_the_delivery(server, lv, customer, engineer, settings):
    ev = server.gateway(engineer.login().token)
    access.grant(lv, engineer.name, customer.name, now=now(), duration=timedelta(hours=1))
    access.revoke(lv, engineer.name, customer.name)
    assert jit_access.customer_token(settings, ev, customer.name, now()) is None


def test_jit_unwrapped_by_someone_else_is_reported(server, lv, customer, engineer, settings):
    ev = server.gateway(engineer.login().token)
    access.grant(lv, engineer.name, customer.name, now=now(), duration=timedelta(hours=1))
    entry = server.gateway().read(f"{KV}/data/_inbox/{engineer.entity_id}/{customer.name}")["data"]["data"]
    Vault(server.address, entry["wrap_token"]).write("sys/wrapping/unwrap")  # an interceptor
    with pytest.raises(PermissionDenied) as err:
        jit_access.customer_token(settings, ev, customer.name, now())
    assert "already unwrapped by someone else" in str(err.value)


def test_forged_delivery_is_refused(server, lv, customer, engineer, settings):
    """A wrap token that does not come from the nv-jit role is not used."""
    ev = server.gateway(engineer.login().token)
    root = server.gateway()
    forged = root.write("auth/token/create", {"policies": ["nv-customer-" + customer.name], "ttl": "1h"}, wrap_ttl="1h")
    root.write(f"{KV}/data/_inbox/{engineer.entity_id}/{customer.name}", {
        "options": {"cas": 0}, "data": {"wrap_token": forged["wrap_info"]["token"], "expires_at": None}})
    with pytest.raises(PermissionDenied) as err:
        jit_access.customer_token(settings, ev, customer.name, now())
    assert "not a netvault just-in-time token" in str(err.value)


def test_engineer_cannot_read_anothers_inbox(server, lv, customer, engineer):
    other = new_person(server, "engineer")
    access.grant(lv, engineer.name, customer.name, now=now(), duration=timedelta(hours=1))
    with pytest.raises(hx.Forbidden):
        raw(other.login(), "GET", f"{KV}/data/_inbox/{engineer.entity_id}/{customer.name}")
    with pytest.raises(hx.Forbidden):  # nor the team lead who wrote it
        raw(server.client(lv.token), "GET", f"{KV}/data/_inbox/{engineer.entity_id}/{customer.name}")


# -- people ------------------------------------------------------------------
def test_lead_adds_engineers_only(server, lv):
    name = f"eng-{secrets.token_hex(3)}"
    out = team.add_user(lv, name, "engineer", "a-long-password-1")
    assert out.entity_id
    shown = team.show_user(lv, name, now=now())
    assert shown.roles == ["engineer"] and shown.disabled is False
    for role in ("admin", "team-lead", "auditor"):
        other = f"x-{secrets.token_hex(3)}"
        with pytest.raises(PermissionDenied):
            team.add_user(lv, other, role, "a-long-password-1")
        assert server.gateway().read(f"auth/userpass/users/{other}") is None  # nothing created
    with pytest.raises(Conflict):
        team.add_user(lv, name, "engineer", "a-long-password-1")
    with pytest.raises(UsageError):
        team.add_user(lv, f"y-{secrets.token_hex(3)}", "engineer", "short")


def test_list_users_shows_roles_and_customers(server, lv, customer, engineer):
    access.grant(lv, engineer.name, customer.name, now=now())
    rows = {r.user: r for r in team.list_users(lv, now=now())}
    assert rows[engineer.name].roles == ["engineer"]
    assert rows[engineer.name].customers == [customer.name]


def test_disable_refuses_existing_tokens_and_login(server, lv, customer, engineer):
    client = engineer.login()
    access.grant(lv, engineer.name, customer.name, now=now())
    assert can_reveal(client, customer.record())
    offboarding.disable_user(lv, engineer.name)
    with pytest.raises((hx.Forbidden, hx.InvalidRequest)):
        decrypt(client, customer.record())
    with pytest.raises((hx.Forbidden, hx.InvalidRequest)):
        engineer.login()


# -- offboarding ---------------------------------------------------------------
def test_offboard_cuts_everything_at_once_and_lists_what_to_rotate(server, lv, engineer, settings):
    root = server.root()
    c1 = provision_customer(root, f"off-{secrets.token_hex(3)}", ("router", "firewall"))
    c2 = provision_customer(root, f"off-{secrets.token_hex(3)}", ("nas",))
    c3 = provision_customer(root, f"off-{secrets.token_hex(3)}", ("other",))
    login = engineer.login()  # issued before the offboarding
    ev = server.gateway(login.token)
    access.grant(lv, engineer.name, c1.name, now=now())
    access.grant(lv, engineer.name, c2.name, now=now(), duration=timedelta(hours=2))
    jit = jit_access.customer_token(settings, ev, c2.name, now())
    assert can_reveal(login, c1.record("router"))
    assert can_reveal(server.client(jit), c2.record("nas"))

    seen = {}

    def exposure(user, entity_ids, records):
        seen.update(user=user, entity_ids=entity_ids, records=records)
        return {c1.record("router").id}

    result = offboarding.offboard(lv, engineer.name, now=now(), exposure=exposure)

    # right after: the old login token, the JIT token and a new login all fail
    with pytest.raises((hx.Forbidden, hx.InvalidRequest)):
        decrypt(login, c1.record("router"))
    with pytest.raises((hx.Forbidden, hx.InvalidRequest)):
        decrypt(server.client(jit), c2.record("nas"))
    with pytest.raises((hx.Forbidden, hx.InvalidRequest)):
        engineer.login()
    assert not group_exists(server, c1.name, engineer.name)
    assert record(server, c1.name, engineer.name) is None and record(server, c2.name, engineer.name) is None
    assert result.tokens_revoked == 1 and result.removed_from_roles == ["engineer"]
    assert seen["user"] == engineer.name and engineer.entity_id in seen["entity_ids"]
    assert result.audit_checked
    work = {(r["customer"], r["name"]): r["revealed"] for r in result.worklist}
    assert work == {
        (c1.name, "router"): True, (c1.name, "firewall"): False, (c2.name, "nas"): False,
    }  # c3 was never granted: not on the list
    assert c3.name not in {customer for customer, _name in work}
    assert all(r["fields"] == ["password"] for r in result.worklist)


def test_offboard_without_audit_reader_marks_unknown(server, lv, customer, engineer):
    access.grant(lv, engineer.name, customer.name, now=now())
    result = offboarding.offboard(lv, engineer.name, now=now())
    assert not result.audit_checked
    assert {r["revealed"] for r in result.worklist} == {None}
    assert {r["name"] for r in result.worklist} == {"router", "switch"}


def test_offboard_unknown_user(lv):
    with pytest.raises(NotFound):
        offboarding.offboard(lv, "nobody-here", now=now())


# -- concurrency ---------------------------------------------------------------
def test_parallel_grants_by_several_leads_lose_none(server, customer):
    leads = [server.gateway(new_person(server, "team-lead").login().token) for _ in range(4)]
    engineers = [new_person(server, "engineer") for _ in range(16)]
    barrier = threading.Barrier(len(engineers))
    errors = []

    def work(i, eng):
        vault = leads[i % len(leads)].clone()
        barrier.wait()
        try:
            access.grant(vault, eng.name, customer.name, now=now(), reason=f"race {i}")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, e)) for i, e in enumerate(engineers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    granted = {g.user for g in access.list_grants(server.gateway(), now=now(), customer=customer.name) if g.state == "active"}
    assert granted == {e.name for e in engineers}
    for eng in engineers:  # and Vault enforces every one of them
        assert can_reveal(eng.login(), customer.record())


def test_racing_grants_of_the_same_pair_give_one_grant(server, customer, engineer):
    leads = [server.gateway(new_person(server, "team-lead").login().token) for _ in range(3)]
    barrier = threading.Barrier(6)
    results = []

    def work(i):
        vault = leads[i % 3].clone()
        barrier.wait()
        try:
            access.grant(vault, engineer.name, customer.name, now=now())
            results.append("ok")
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1 and results.count("conflict") == 5
    assert group_exists(server, customer.name, engineer.name)
    assert can_reveal(engineer.login(), customer.record())


def test_offboard_removes_roles_only_where_the_caller_may(server, lv):
    other_lead = new_person(server, "team-lead")
    result = offboarding.offboard(lv, other_lead.name, now=now())  # by a team lead
    assert result.kept_roles == ["team-lead"] and result.removed_from_roles == []
    with pytest.raises((hx.Forbidden, hx.InvalidRequest)):
        other_lead.login()  # disabled all the same
    admin = new_person(server, "admin")
    av = server.gateway(admin.login().token)
    third = new_person(server, "team-lead")
    result = offboarding.offboard(av, third.name, now=now())  # by an admin
    assert result.removed_from_roles == ["team-lead"] and result.kept_roles == []


def test_access_list_shows_a_mismatch_between_group_and_record(server, lv, customer, engineer):
    raw(server.root(), "POST", "identity/group", {  # made by hand, behind netvault's back
        "name": f"nv-grant:{customer.name}:{engineer.name}", "policies": f"nv-customer-{customer.name}",
        "member_entity_ids": [engineer.entity_id]})
    listed = access.list_grants(lv, now=now(), customer=customer.name)
    assert [(g.user, g.state) for g in listed] == [(engineer.name, "group-without-record")]
    with pytest.raises(Conflict):
        access.grant(lv, engineer.name, customer.name, now=now())
    access.revoke(lv, engineer.name, customer.name)  # revoke cleans it up
    assert not group_exists(server, customer.name, engineer.name)


def test_jit_reveals_name_the_engineer_in_the_audit_log(server, lv, customer, engineer, settings):
    """netvault's pickup unwraps with the engineer's own token: the trail's chain
    (create -> unwrap -> decrypt, by accessor HMAC) names the engineer, unflagged."""
    from netvault.audit.events import Filters, Resolver, events

    ev = server.gateway(engineer.login().token)
    access.grant(lv, engineer.name, customer.name, now=now(), duration=timedelta(minutes=5))
    token = jit_access.customer_token(settings, ev, customer.name, now())
    rec = customer.record()
    decrypt(server.client(token), rec, "INC-77")
    jit_entity = raw(server.client(token), "GET", "auth/token/lookup-self")["data"]["entity_id"]
    got = [e for e in events([server.audit_file], filters=Filters(customer=customer.name, actions=("reveal",)),
                             resolver=Resolver(server.gateway())) if e.incident == "INC-77"]
    assert [(e.engineer, e.entity_id, e.flags, e.grantee) for e in got] == [
        (engineer.name, engineer.entity_id, [], engineer.name)]
    assert got[0].token_entity_id == jit_entity and got[0].record == rec.name
    # the JIT token carries no caller-chosen name or metadata any more
    looked = raw(server.client(token), "GET", "auth/token/lookup-self")["data"]
    assert not looked.get("meta") and looked["display_name"] == "token"


def test_offboard_cli_uses_the_audit_reader_when_present(tmp_path, monkeypatch):
    """Wiring of `netvault.audit.exposure` (issue 5) into offboard: asked per
    name and entity id, the revealed record ids collected (reader stubbed:
    its own tests read real trails)."""
    from dataclasses import dataclass

    from netvault.audit import exposure as exposure_module
    from netvault.cli import access as cli_access

    calls = []

    @dataclass
    class Exposed:
        record_id: str
        customer: str = ""
        status: str = "rotate"

    monkeypatch.setattr(exposure_module, "exposure", lambda user, *, paths, vault=None, mounts=None: (
        calls.append((user, paths)) or ([Exposed("rid-1")] if user == "bob" else [Exposed("rid-2", "acme", "rotate-all")])))
    settings = config.Settings(address="http://127.0.0.1:1")
    log = str(tmp_path / "audit.log")
    assert cli_access._exposure(settings, None) is None  # no audit file: unknown
    assert cli_access._exposure(settings, [log]) is None  # named but missing: unknown
    (tmp_path / "audit.log").write_text("")
    call = cli_access._exposure(settings, [log])
    assert call("bob", ["e1", "e2"], []) == {"rid-1", "rid-2", "+:acme", "*:acme"}
    assert [c[0] for c in calls] == ["bob", "e1", "e2"] and calls[0][1] == [str(tmp_path / "audit.log")]


def test_parallel_engineer_adds_keep_every_role_membership(server):
    """nv-role-engineer is one shared member list (Vault has no CAS on groups):
    parallel adds by several leads must still leave everyone in it."""
    leads = [server.gateway(new_person(server, "team-lead").login().token) for _ in range(3)]
    names_ = [f"par-{secrets.token_hex(3)}" for _ in range(9)]
    barrier = threading.Barrier(len(names_))
    errors = []

    def work(i, name):
        vault = leads[i % 3].clone()
        barrier.wait()
        try:
            team.add_user(vault, name, "engineer", "parallel-password-1")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, n)) for i, n in enumerate(names_)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    time.sleep(0.5)  # let any straggling write land before checking
    members = set(server.gateway().read("identity/group/name/nv-role-engineer")["data"]["member_entity_ids"])
    for name in names_:
        entity = access.entity_of(server.gateway(), name, config.Mounts())
        assert entity["id"] in members, name
