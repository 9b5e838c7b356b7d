"""A team lead trying to become more than a team lead: Vault refuses every attempt.

Raw hvac requests with a team lead's own userpass token. Each case is one
escalation path someone could think of; each must end in 403 (Forbidden),
and afterwards the team lead's token still has exactly its own policies.
"""

from __future__ import annotations

import secrets

import pytest
from hvac import exceptions as hx

from access_helpers import KV, TRANSIT, decrypt, new_person, provision_customer, raw, raw_grant


class Setup:
    def __init__(self, server):
        self.root = server.root()
        self.customer = provision_customer(server.root(), f"esc-{secrets.token_hex(3)}")
        self.other = provision_customer(server.root(), f"esc-{secrets.token_hex(3)}")
        self.lead = new_person(server, "team-lead")
        self.admin = new_person(server, "admin")
        self.auditor = new_person(server, "auditor")
        self.engineer = new_person(server, "engineer")
        raw_grant(self.root, self.customer.name, self.lead)  # the lead's own (visible) grant
        raw_grant(self.root, self.customer.name, self.engineer)
        self.lead_client = self.lead.login()
        self.grant_group = f"nv-grant:{self.customer.name}:{self.engineer.name}"
        self.group_id = lambda name: raw(self.root, "GET", f"identity/group/name/{name}")["data"]["id"]


@pytest.fixture(scope="module")
def s(server):
    return Setup(server)


def attempts(s: Setup):
    c = s.customer.name
    me = s.lead.entity_id
    admin_group = "nv-role-admin"
    return {
        # --- edit a customer group's policies
        "grant group: policies as a list with nv-admin": ("POST", "identity/group", {
            "name": s.grant_group, "policies": [f"nv-customer-{c}", "nv-admin"]}),
        "grant group: comma string smuggling nv-admin": ("POST", "identity/group", {
            "name": s.grant_group, "policies": f"nv-customer-{c},nv-admin"}),
        "grant group: policies nv-admin": ("POST", "identity/group", {"name": s.grant_group, "policies": "nv-admin"}),
        "grant group: update by name path": ("POST", f"identity/group/name/{s.grant_group}", {"policies": "nv-admin"}),
        "grant group: update by id": ("POST", f"identity/group/id/{s.group_id(s.grant_group)}", {"policies": "nv-admin"}),
        "grant group: member_group_ids": ("POST", "identity/group", {
            "name": f"nv-grant:{c}:x{secrets.token_hex(2)}", "policies": f"nv-customer-{c}",
            "member_group_ids": [s.group_id(admin_group)]}),
        "grant group: external type": ("POST", "identity/group", {
            "name": f"nv-grant:{c}:x{secrets.token_hex(2)}", "policies": f"nv-customer-{c}", "type": "external"}),
        "new group with another name": ("POST", "identity/group", {"name": "lead-own", "policies": f"nv-customer-{c}"}),
        "group named like a role": ("POST", "identity/group", {"name": admin_group, "member_entity_ids": [me]}),
        "engineer role group: change its policies": ("POST", "identity/group/name/nv-role-engineer", {"policies": "nv-admin"}),
        # --- join the admin (or auditor, team-lead) group
        "join the admin group by name": ("POST", f"identity/group/name/{admin_group}", {"member_entity_ids": [me]}),
        "join the admin group by id": ("POST", f"identity/group/id/{s.group_id(admin_group)}", {"member_entity_ids": [me]}),
        "join the auditor group": ("POST", "identity/group/name/nv-role-auditor", {"member_entity_ids": [me]}),
        "edit the team-lead group": ("POST", "identity/group/name/nv-role-team-lead", {"member_entity_ids": [me]}),
        "delete the admin group": ("DELETE", f"identity/group/name/{admin_group}", None),
        # --- tokens beyond customer access
        "token with the admin policy": ("POST", "auth/token/create", {"policies": ["nv-admin"]}),
        "orphan token": ("POST", "auth/token/create-orphan", {"policies": ["nv-admin"]}),
        "jit role with nv-admin": ("POST", "auth/token/create/nv-jit", {"policies": "nv-admin", "entity_alias": "jit:x"}),
        "jit role with nv-team-lead": ("POST", "auth/token/create/nv-jit", {"policies": "nv-team-lead", "entity_alias": "jit:x"}),
        "jit role with two policies (comma)": ("POST", "auth/token/create/nv-jit", {
            "policies": f"nv-customer-{c},nv-admin", "entity_alias": "jit:x"}),
        "jit role with a list": ("POST", "auth/token/create/nv-jit", {
            "policies": [f"nv-customer-{c}", "nv-admin"], "entity_alias": "jit:x"}),
        "jit token bound to the admin's login alias": ("POST", "auth/token/create/nv-jit", {
            "policies": f"nv-customer-{c}", "entity_alias": s.admin.name}),
        "jit token renewable for ever (period)": ("POST", "auth/token/create/nv-jit", {
            "policies": f"nv-customer-{c}", "entity_alias": "jit:x", "period": "768h"}),
        "jit token without default policy tricks": ("POST", "auth/token/create/nv-jit", {
            "policies": f"nv-customer-{c}", "entity_alias": "jit:x", "no_default_policy": True}),
        "token from the audit-sealer role": ("POST", "auth/token/create/nv-audit-sealer", {}),
        "widen the jit token role": ("POST", "auth/token/roles/nv-jit", {"allowed_policies_glob": "*"}),
        "new token role": ("POST", "auth/token/roles/mine", {"allowed_policies": "nv-admin"}),
        # --- policies
        "write a new policy": ("PUT", "sys/policies/acl/lead-own", {"policy": 'path "*" { capabilities = ["sudo"] }'}),
        "rewrite the team-lead policy": ("PUT", "sys/policies/acl/nv-team-lead", {"policy": 'path "*" { capabilities = ["sudo"] }'}),
        "rewrite a customer policy": ("PUT", f"sys/policies/acl/nv-customer-{c}", {"policy": 'path "*" { capabilities = ["read"] }'}),
        "legacy policy endpoint": ("PUT", "sys/policy/lead-own", {"policy": 'path "*" { capabilities = ["sudo"] }'}),
        # --- widen the incident patterns (settings and the policy that enforces them)
        "rewrite the incident patterns": ("POST", f"{KV}/data/_config/settings", {
            "options": {"cas": 1}, "data": {"incident_patterns": ["*"]}}),
        "delete the settings": ("DELETE", f"{KV}/metadata/_config/settings", None),
        # --- other people's logins and identities
        "reset an admin's password": ("POST", f"auth/userpass/users/{s.admin.name}/password", {"password": "x" * 20}),
        "overwrite an admin's login": ("POST", f"auth/userpass/users/{s.admin.name}", {"password": "x" * 20}),
        "delete an admin's login": ("DELETE", f"auth/userpass/users/{s.admin.name}", None),
        "token_policies on a new userpass user": ("POST", f"auth/userpass/users/u{secrets.token_hex(3)}", {
            "password": "x" * 20, "token_policies": "nv-admin"}),
        "policies on a new userpass user": ("POST", f"auth/userpass/users/u{secrets.token_hex(3)}", {
            "password": "x" * 20, "policies": "nv-admin"}),
        "token_policies on an existing user": ("POST", f"auth/userpass/users/{s.engineer.name}/policies", {
            "token_policies": "nv-admin"}),
        "create an entity alias": ("POST", "identity/entity-alias", {
            "name": s.admin.name, "canonical_id": me, "mount_accessor": "x"}),
        "create an alias (legacy)": ("POST", "identity/alias", {"name": s.admin.name, "canonical_id": me}),
        "policies on own entity": ("POST", f"identity/entity/id/{me}", {"policies": "nv-admin"}),
        "policies on own entity with disabled": ("POST", f"identity/entity/id/{me}", {"disabled": False, "policies": "nv-admin"}),
        "re-enable a disabled entity": ("POST", f"identity/entity/id/{s.auditor.entity_id}", {"disabled": False}),
        "disabled as a string": ("POST", f"identity/entity/id/{s.auditor.entity_id}", {"disabled": "false"}),
        "create an entity": ("POST", "identity/entity", {"name": "mine", "policies": "nv-admin"}),
        "merge into the admin's entity": ("POST", "identity/entity/merge", {
            "to_entity_id": s.admin.entity_id, "from_entity_ids": [me]}),
        "delete the admin's entity": ("DELETE", f"identity/entity/id/{s.admin.entity_id}", None),
        # --- transit keys and decryption
        "exportable on a transit key": ("POST", f"{TRANSIT}/keys/customer-{c}/config", {"exportable": True}),
        "plaintext backup on a transit key": ("POST", f"{TRANSIT}/keys/customer-{c}/config", {"allow_plaintext_backup": True}),
        "exportable via the key endpoint": ("POST", f"{TRANSIT}/keys/customer-{c}", {"exportable": True}),
        "deletion_allowed on a transit key": ("POST", f"{TRANSIT}/keys/customer-{c}/config", {"deletion_allowed": True}),
        "trim a transit key": ("POST", f"{TRANSIT}/keys/customer-{c}/trim", {"min_available_version": 2}),
        "export a transit key": ("GET", f"{TRANSIT}/export/encryption-key/customer-{c}", None),
        "back up a transit key": ("GET", f"{TRANSIT}/backup/customer-{c}", None),
        "decrypt an ungranted customer": ("POST", f"{TRANSIT}/decrypt/customer-{s.other.name}", {
            "ciphertext": s.other.record().ciphertext, "context": s.other.record().context, "reference": "INC-1"}),
        "decrypt with batch_input": ("POST", f"{TRANSIT}/decrypt/customer-{c}", {
            "batch_input": [{"ciphertext": s.customer.record().ciphertext, "context": s.customer.record().context}],
            "reference": "INC-1", "ciphertext": "x", "context": "x"}),
        "decrypt with a reference outside the patterns": ("POST", f"{TRANSIT}/decrypt/customer-{c}", {
            "ciphertext": s.customer.record().ciphertext, "context": s.customer.record().context, "reference": "NOPE-1"}),
        "datakey from a customer key": ("POST", f"{TRANSIT}/datakey/plaintext/customer-{c}", {}),
        # --- sys
        "enable an auth method": ("POST", f"sys/auth/x{secrets.token_hex(2)}", {"type": "userpass"}),
        "tune the transit mount (audit hmac keys)": ("POST", f"sys/mounts/{TRANSIT}/tune", {"audit_non_hmac_request_keys": []}),
        "disable the records mount": ("DELETE", f"sys/mounts/{KV}", None),
        "seal the server": ("PUT", "sys/seal", None),
        "list all token accessors": ("LIST", "auth/token/accessors", None),
        "read the raw storage": ("GET", "sys/raw/core/keyring", None),
        "kv mount config (cas off)": ("POST", f"{KV}/config", {"cas_required": False}),
    }


def _names():
    # the case names, without a server: parse them from a dummy setup
    class Dummy:
        customer = other = type("C", (), {"name": "c", "record": lambda self=None: type("R", (), {"ciphertext": "", "context": ""})()})()
        lead = admin = auditor = engineer = type("P", (), {"name": "p", "entity_id": "e"})()
        grant_group = "g"
        group_id = staticmethod(lambda name: "id")

    return list(attempts(Dummy()))


@pytest.mark.parametrize("case", _names())
def test_team_lead_escalation_refused(s, case):
    method, path, data = attempts(s)[case]
    with pytest.raises(hx.Forbidden):
        raw(s.lead_client, method, path, data)


def test_state_unchanged_after_attempts(s):
    """Nothing above changed anything: the lead still has only its own policies,
    the admin group has no new member, the grant group has one policy."""
    me = raw(s.lead_client, "GET", "auth/token/lookup-self")["data"]
    assert sorted(me["identity_policies"]) == sorted(["nv-team-lead", f"nv-customer-{s.customer.name}"])
    admin = raw(s.root, "GET", "identity/group/name/nv-role-admin")["data"]
    assert s.lead.entity_id not in (admin.get("member_entity_ids") or [])
    group = raw(s.root, "GET", f"identity/group/name/{s.grant_group}")["data"]
    assert group["policies"] == [f"nv-customer-{s.customer.name}"]
    assert raw(s.root, "GET", f"{KV}/data/_config/settings")["data"]["data"]["incident_patterns"] == ["INC-*", "CHG-*"]
    key = raw(s.root, "GET", f"{TRANSIT}/keys/customer-{s.customer.name}")["data"]
    assert key["exportable"] is False and key["deletion_allowed"] is False


def test_jit_token_without_policies_carries_only_default(s):
    resp = raw(s.lead_client, "POST", "auth/token/create/nv-jit", {"entity_alias": f"jit:p{secrets.token_hex(2)}", "ttl": "60s"})
    assert resp["auth"]["policies"] == ["default"] and not resp["auth"].get("identity_policies")


def test_allowed_grant_shape_still_works(s):
    """The refusals are not a blanket: the one shape a grant needs is accepted."""
    name = f"nv-grant:{s.customer.name}:ok{secrets.token_hex(2)}"
    raw(s.lead_client, "POST", "identity/group", {
        "name": name, "policies": f"nv-customer-{s.customer.name}", "member_entity_ids": [s.engineer.entity_id]})
    raw(s.lead_client, "DELETE", f"identity/group/name/{name}")


def test_lead_reveal_only_through_own_grant(s):
    """The lead reveals in the customer granted to them (visible as a group),
    not in another one."""
    assert decrypt(s.lead_client, s.customer.record()) == s.customer.record().plaintext
    with pytest.raises(hx.Forbidden):
        decrypt(s.lead_client, s.other.record())


def test_auditor_never_reveals_even_when_granted(s, server):
    raw_grant(s.root, s.customer.name, s.auditor)
    client = s.auditor.login()
    with pytest.raises(hx.Forbidden):
        decrypt(client, s.customer.record())


def test_engineer_cannot_manage(s):
    eng = s.engineer.login()
    for method, path, data in [
        ("POST", "identity/group", {"name": f"nv-grant:{s.other.name}:{s.engineer.name}", "policies": f"nv-customer-{s.other.name}",
                                    "member_entity_ids": [s.engineer.entity_id]}),
        ("POST", "auth/token/create/nv-jit", {"policies": f"nv-customer-{s.other.name}", "entity_alias": "jit:x"}),
        ("POST", f"identity/entity/id/{s.admin.entity_id}", {"disabled": True}),
        ("POST", f"{KV}/data/_inbox/{s.admin.entity_id}/x", {"options": {"cas": 0}, "data": {}}),
        ("GET", f"{KV}/data/_grants/{s.customer.name}/{s.engineer.name}", None),
    ]:
        with pytest.raises(hx.Forbidden):
            raw(eng, method, path, data)


def test_powers_a_team_lead_keeps_are_denial_of_service_only(s, server):
    """Documented, not hidden: a lead can switch anyone off (an admin too) and
    revoke a token whose accessor they know. Neither gives them access."""
    victim = new_person(server, "admin")
    token = victim.login().token
    accessor = raw(server.client(token), "GET", "auth/token/lookup-self")["data"]["accessor"]
    raw(s.lead_client, "POST", f"identity/entity/id/{victim.entity_id}", {"disabled": True})
    with pytest.raises(hx.Forbidden):  # ... but cannot switch them on again
        raw(s.lead_client, "POST", f"identity/entity/id/{victim.entity_id}", {"disabled": False})
    raw(s.lead_client, "POST", "auth/token/revoke-accessor", {"accessor": accessor})
    raw(s.root, "POST", f"identity/entity/id/{victim.entity_id}", {"disabled": False})  # only an admin can
    me = raw(s.lead_client, "GET", "auth/token/lookup-self")["data"]
    assert "nv-admin" not in (me.get("identity_policies") or []) + me["policies"]


def test_recreating_an_offboarded_admins_login_gives_nothing(s, server):
    """Vault keeps an entity alias when its userpass user is deleted, so a team
    lead who re-creates that user name logs in *as the old entity*. Offboarding
    therefore keeps the user, disables the entity and drops its role groups;
    even if someone deletes the user by hand afterwards, the re-created login
    lands on a disabled, role-less entity that a team lead cannot re-enable."""
    from datetime import datetime, timezone

    from netvault import access

    boss = new_person(server, "admin")
    leaving = new_person(server, "admin")
    access.offboard(server.gateway(boss.login().token), leaving.name, now=datetime.now(timezone.utc))
    raw(s.root, "DELETE", f"auth/userpass/users/{leaving.name}")  # a hand clean-up
    raw(s.lead_client, "POST", f"auth/userpass/users/{leaving.name}", {"password": "lead-knows-this-1"})
    with pytest.raises((hx.Forbidden, hx.InvalidRequest)):
        raw(server.client(), "POST", f"auth/userpass/login/{leaving.name}", {"password": "lead-knows-this-1"})
    with pytest.raises(hx.Forbidden):
        raw(s.lead_client, "POST", f"identity/entity/id/{leaving.entity_id}", {"disabled": False})
    admins = raw(s.root, "GET", "identity/group/name/nv-role-admin")["data"]["member_entity_ids"]
    assert leaving.entity_id not in admins
