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

#: issue 8: a customer name that used to reach nv-auditor-no-reveal verbatim
HCL_PAYLOAD = '1" {} path "*" { policy = "sudo" } path "1'


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
        self.rec = self.customer.record()
        # an auditor's jit:<user> alias belongs to a disabled entity (users.create_user)
        self.auditor_jit = raw(self.root, "POST", "identity/lookup/entity", {
            "alias_name": f"jit:{self.auditor.name}",
            "alias_mount_accessor": raw(self.root, "GET", "sys/auth")["data"]["token/"]["accessor"]}) or {}
        # (absent: the cases below then hit made-up ids; test_state_unchanged_after_attempts fails)
        self.auditor_jit = (self.auditor_jit if isinstance(self.auditor_jit, dict) else {}).get("data") or {"id": "absent", "aliases": [{"id": "absent", "name": None}]}
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
        # --- customers that do not exist (yet): only an admin's `customer add` makes them
        "create a transit key for a new customer": ("POST", f"{TRANSIT}/keys/customer-new{secrets.token_hex(3)}", None),
        "rotate the key of a customer that does not exist": ("POST", f"{TRANSIT}/keys/customer-new{secrets.token_hex(3)}/rotate", None),
        "encrypt with a new key (upsert)": ("POST", f"{TRANSIT}/encrypt/customer-new{secrets.token_hex(3)}", {
            "plaintext": "eA==", "context": "eA=="}),
        "create a new customer tree": ("POST", f"{KV}/data/customers/new{secrets.token_hex(3)}/profile", {
            "options": {"cas": 0}, "data": {"id": "x"}}),
        "plant a customer named like HCL": ("POST", f"{KV}/data/customers/{HCL_PAYLOAD}/profile", {
            "options": {"cas": 0}, "data": {"id": "x"}}),
        "write a record in a new customer tree": ("POST", f"{KV}/data/customers/new{secrets.token_hex(3)}/credentials/fw", {
            "options": {"cas": 0}, "data": {"id": "x"}}),
        # --- _ids (stable id -> name) is create-only
        "rewrite an _ids entry": ("POST", f"{KV}/data/customers/{c}/_ids/{s.rec.id}", {
            "options": {"cas": 1}, "data": {"kind": "credentials", "name": "other"}}),
        "rewrite an _ids entry with cas 0": ("POST", f"{KV}/data/customers/{c}/_ids/{s.rec.id}", {
            "options": {"cas": 0}, "data": {"kind": "credentials", "name": "other"}}),
        "soft-delete an _ids entry": ("DELETE", f"{KV}/data/customers/{c}/_ids/{s.rec.id}", None),
        "delete _ids versions": ("POST", f"{KV}/delete/customers/{c}/_ids/{s.rec.id}", {"versions": [1]}),
        "destroy _ids versions": ("POST", f"{KV}/destroy/customers/{c}/_ids/{s.rec.id}", {"versions": [1]}),
        "delete _ids metadata": ("DELETE", f"{KV}/metadata/customers/{c}/_ids/{s.rec.id}", None),
        "expire _ids versions (metadata)": ("POST", f"{KV}/metadata/customers/{c}/_ids/{s.rec.id}", {
            "delete_version_after": "1s"}),
        # --- an auditor's just-in-time identity stays disabled
        "jit token for an auditor": ("POST", "auth/token/create/nv-jit", {
            "policies": f"nv-customer-{c}", "entity_alias": f"jit:{s.auditor.name}", "ttl": "60s"}),
        "jit token for an admin": ("POST", "auth/token/create/nv-jit", {
            "policies": f"nv-customer-{c}", "entity_alias": f"jit:{s.admin.name}", "ttl": "60s"}),
        "re-enable an auditor's jit identity": ("POST", f"identity/entity/id/{s.auditor_jit['id']}", {"disabled": False}),
        "delete an auditor's jit identity": ("DELETE", f"identity/entity/id/{s.auditor_jit['id']}", None),
        "delete an auditor's jit alias": ("DELETE", f"identity/entity-alias/id/{s.auditor_jit['aliases'][0]['id']}", None),
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
        rec = type("R", (), {"id": "i"})()
        auditor_jit = {"id": "j", "aliases": [{"id": "a"}]}
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
    # nv-ended-<c> of every customer come from group nv-lifecycle (customer end)
    mine = [p for p in me["identity_policies"] if not p.startswith("nv-ended-")]
    assert sorted(mine) == sorted(["nv-team-lead", "nv-team-lead-customers", "nv-team-lead-engineers",
                                   "nv-self-password", "nv-requests", "nv-request-decisions",
                                   f"nv-customer-{s.customer.name}"])
    admin = raw(s.root, "GET", "identity/group/name/nv-role-admin")["data"]
    assert s.lead.entity_id not in (admin.get("member_entity_ids") or [])
    group = raw(s.root, "GET", f"identity/group/name/{s.grant_group}")["data"]
    assert group["policies"] == [f"nv-customer-{s.customer.name}"]
    assert raw(s.root, "GET", f"{KV}/data/_config/settings")["data"]["data"]["incident_patterns"] == ["INC-*", "CHG-*"]
    key = raw(s.root, "GET", f"{TRANSIT}/keys/customer-{s.customer.name}")["data"]
    assert key["exportable"] is False and key["deletion_allowed"] is False
    ids = raw(s.root, "GET", f"{KV}/data/customers/{s.customer.name}/_ids/{s.rec.id}")["data"]
    assert ids["data"]["name"] == "router" and ids["metadata"]["version"] == 1
    listed = raw(s.root, "LIST", f"{KV}/metadata/customers")["data"]["keys"]
    assert not [k for k in listed if k.startswith("new") or '"' in k]
    assert not [k for k in raw(s.root, "LIST", f"{TRANSIT}/keys")["data"]["keys"] if k.startswith("customer-new")]
    jit = raw(s.root, "GET", f"identity/entity/id/{s.auditor_jit['id']}")["data"]
    assert jit["disabled"] is True and [a["name"] for a in jit["aliases"]] == [f"jit:{s.auditor.name}"]


def test_jit_token_without_policies_carries_only_default(s):
    resp = raw(s.lead_client, "POST", "auth/token/create/nv-jit", {"entity_alias": f"jit:p{secrets.token_hex(2)}", "ttl": "60s"})
    assert resp["auth"]["policies"] == ["default"] and not resp["auth"].get("identity_policies")


def test_allowed_grant_shape_still_works(s):
    """The refusals are not a blanket: the one shape a grant needs is accepted."""
    name = f"nv-grant:{s.customer.name}:ok{secrets.token_hex(2)}"
    raw(s.lead_client, "POST", "identity/group", {
        "name": name, "policies": f"nv-customer-{s.customer.name}", "member_entity_ids": [s.engineer.entity_id]})
    made = raw(s.root, "GET", f"identity/group/name/{name}")["data"]
    assert made["policies"] == [f"nv-customer-{s.customer.name}"]
    assert made["member_entity_ids"] == [s.engineer.entity_id]
    raw(s.lead_client, "DELETE", f"identity/group/name/{name}")
    with pytest.raises(hx.InvalidPath):
        raw(s.root, "GET", f"identity/group/name/{name}")


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
    assert raw(s.root, "GET", f"identity/entity/id/{victim.entity_id}")["data"]["disabled"] is True
    with pytest.raises(hx.Forbidden):  # ... but cannot switch them on again
        raw(s.lead_client, "POST", f"identity/entity/id/{victim.entity_id}", {"disabled": False})
    assert raw(s.root, "GET", f"identity/entity/id/{victim.entity_id}")["data"]["disabled"] is True
    raw(s.lead_client, "POST", "auth/token/revoke-accessor", {"accessor": accessor})
    with pytest.raises(hx.Forbidden):  # the victim's token is gone
        raw(server.client(token), "GET", "auth/token/lookup-self")
    raw(s.root, "POST", f"identity/entity/id/{victim.entity_id}", {"disabled": False})  # only an admin can
    assert raw(s.root, "GET", f"identity/entity/id/{victim.entity_id}")["data"]["disabled"] is False
    me = raw(s.lead_client, "GET", "auth/token/lookup-self")["data"]
    assert "nv-admin" not in (me.get("identity_policies") or []) + me["policies"]


def test_recreating_an_offboarded_admins_login_gives_nothing(s, server):
    """Vault keeps an entity alias when its userpass user is deleted, so a team
    lead who re-creates that user name logs in *as the old entity*. Offboarding
    therefore keeps the user, disables the entity and drops its role groups;
    even if someone deletes the user by hand afterwards, the re-created login
    lands on a disabled, role-less entity that a team lead cannot re-enable."""
    from datetime import datetime, timezone

    from netvault.access import offboard as offboarding

    boss = new_person(server, "admin")
    leaving = new_person(server, "admin")
    offboarding.offboard(server.gateway(boss.login().token), leaving.name, now=datetime.now(timezone.utc))
    raw(s.root, "DELETE", f"auth/userpass/users/{leaving.name}")  # a hand clean-up
    raw(s.lead_client, "POST", f"auth/userpass/users/{leaving.name}", {"password": "lead-knows-this-1"})
    with pytest.raises((hx.Forbidden, hx.InvalidRequest)):
        raw(server.client(), "POST", f"auth/userpass/login/{leaving.name}", {"password": "lead-knows-this-1"})
    with pytest.raises(hx.Forbidden):
        raw(s.lead_client, "POST", f"identity/entity/id/{leaving.entity_id}", {"disabled": False})
    admins = raw(s.root, "GET", "identity/group/name/nv-role-admin")["data"]["member_entity_ids"]
    assert leaving.entity_id not in admins


# --------------------------------------------------------------------------
# issue 8, policy integrity: planted names, _ids, auditors' JIT, key export
# --------------------------------------------------------------------------
def test_lead_still_works_inside_existing_customers(s):
    """The per-customer rules (nv-team-lead-customers) keep everything a lead
    needs: records CRUD, _ids create + read, index entries, key rotation."""
    c, n = s.customer.name, secrets.token_hex(3)
    lead = s.lead_client
    raw(lead, "POST", f"{KV}/data/customers/{c}/_ids/id{n}", {"options": {"cas": 0}, "data": {"kind": "credential", "name": f"r{n}"}})
    assert raw(lead, "GET", f"{KV}/data/customers/{c}/_ids/id{n}")["data"]["data"]["name"] == f"r{n}"
    raw(lead, "POST", f"{KV}/data/customers/{c}/credentials/r{n}", {"options": {"cas": 0}, "data": {"id": f"id{n}"}})
    raw(lead, "POST", f"{KV}/data/customers/{c}/credentials/r{n}", {"options": {"cas": 1}, "data": {"id": f"id{n}", "notes": "x"}})
    raw(lead, "POST", f"{KV}/data/customers/{c}/_index/mac/00aa{n}", {"options": {"cas": 0}, "data": {"devices": [f"r{n}"]}})
    raw(lead, "DELETE", f"{KV}/data/customers/{c}/credentials/r{n}")
    raw(lead, "POST", f"{KV}/undelete/customers/{c}/credentials/r{n}", {"versions": [2]})
    raw(lead, "POST", f"{TRANSIT}/keys/customer-{c}/rotate")
    with pytest.raises(hx.Forbidden):  # ... and never patches an _ids entry either
        raw(lead, "PATCH", f"{KV}/data/customers/{c}/_ids/id{n}", {"data": {"name": "other"}},
            headers={"Content-Type": "application/merge-patch+json"})
    assert raw(s.root, "GET", f"{KV}/data/customers/{c}/_ids/id{n}")["data"]["data"]["name"] == f"r{n}"


def _quoted(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def test_planted_customer_names_give_nothing_and_do_not_crash_setup(s, server, cli, make_user):
    """Names planted in storage (before this fix a lead could write any KV
    tree; a policy or key name can come from elsewhere) never reach a policy:
    setup --check reports each, setup and customer add skip them."""
    from netvault.vault import policies

    root = s.root
    planted_kv = [HCL_PAYLOAD, "Bad Name"]
    planted_policies = [f"nv-customer-{HCL_PAYLOAD}", "nv-customer-a@b"]
    auditor = make_user("auditor")
    admin = make_user("admin")
    new = f"ok-{secrets.token_hex(3)}"
    try:
        for name in planted_kv:
            raw(root, "POST", _quoted(f"{KV}/data/customers/{name}/profile"), {"options": {"cas": 0}, "data": {"id": "x"}})
        for name in planted_policies:
            raw(root, "PUT", "sys/policies/acl/" + _quoted(name).replace("/", "%2F"), {"policy": 'path "x" { capabilities = ["read"] }'})
        check = cli("setup", "--check", "--json", token=server.root_token)
        assert check.returncode == 1 and "Traceback" not in check.stderr, check.stderr
        drift = check.json()["drift"]
        assert f"records customers/{ascii(HCL_PAYLOAD)}" in drift and "records customers/'Bad Name'" in drift
        assert f"policy nv-customer-{ascii(HCL_PAYLOAD)}" in drift and "policy nv-customer-'a@b'" in drift
        done = cli("setup", "--json", token=server.root_token)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        added = cli("customer", "add", new, "--company", "Ok BV", token=admin.token())
        assert added.returncode == 0, added.stderr
        assert "skipped policy 'nv-customer-a@b'" in added.stderr and "Traceback" not in added.stderr
        for name in (policies.AUDITOR_NO_REVEAL, policies.TEAM_LEAD_CUSTOMERS):
            text = root.sys.read_acl_policy(name)["data"]["policy"]
            assert "sudo" not in text and "a@b" not in text and f"customer-{new}" in text
        client = auditor.login()
        caps = raw(client, "POST", "sys/capabilities-self", {"paths": ["sys/policies/acl/x", f"{KV}/data/customers/{new}/profile"]})
        assert caps["sys/policies/acl/x"] == ["deny"] and caps[f"{KV}/data/customers/{new}/profile"] == ["deny"]
        # the new customer works for a lead at once (nv-team-lead-customers was re-rendered)
        raw(s.lead_client, "POST", f"{KV}/data/customers/{new}/credentials/fw", {"options": {"cas": 0}, "data": {"id": "y"}})
    finally:
        for name in planted_kv:
            raw(root, "DELETE", _quoted(f"{KV}/metadata/customers/{name}/profile"))
        for name in planted_policies:
            raw(root, "DELETE", "sys/policies/acl/" + _quoted(name).replace("/", "%2F"))


def test_customer_policies_refuse_a_name_that_is_not_a_slug():
    from netvault.vault import policies
    from netvault.errors import UsageError
    from netvault.vault.mounts import Mounts

    for render in (lambda n: policies.render_customer(n, ["INC-*"], mounts=Mounts()),
                   lambda n: policies.render_auditor_no_reveal(["ok", n], mounts=Mounts()),
                   lambda n: policies.render_team_lead_customers([n], mounts=Mounts())):
        for bad in (HCL_PAYLOAD, "A", "a b", "a/b", "..", "", "a" * 65):
            with pytest.raises(UsageError):
                render(bad)
    assert policies.customers_of_policies(["nv-customer-ok", f"nv-customer-{HCL_PAYLOAD}", "nv-admin"]) == (["ok"], [HCL_PAYLOAD])


KEY_EXPORT_ATTEMPTS = {
    "config exportable": ("POST", "keys/{k}/config", {"exportable": True}),
    "config Exportable (case)": ("POST", "keys/{k}/config", {"Exportable": True}),
    "config allow_plaintext_backup": ("POST", "keys/{k}/config", {"allow_plaintext_backup": True}),
    "create a key exportable": ("POST", "keys/{new}", {"exportable": True}),
    "create a key with plaintext backup": ("POST", "keys/{new}", {"allow_plaintext_backup": True}),
    "create a key exportable=false": ("POST", "keys/{new}", {"exportable": False}),
    "export": ("GET", "export/encryption-key/{k}", None),
    "byok export": ("GET", "byok-export/{k}/{k}", None),
    "backup": ("GET", "backup/{k}", None),
    "restore": ("POST", "restore", {"backup": "eA=="}),
    "restore by name": ("POST", "restore/{new}", {"backup": "eA=="}),
    "import": ("POST", "keys/{new}/import", {"ciphertext": "eA=="}),
    "import_version": ("POST", "keys/{k}/import_version", {"ciphertext": "eA=="}),
    "wrapping key": ("GET", "wrapping_key", None),
}


def test_admin_cannot_let_a_key_leave_vault_and_the_trail_shows_it(s, cli, server):
    """Every transit endpoint that lets a key leave Vault or be replaced is
    refused to the admin too; each attempt is a denied `key-export` event."""
    admin = s.admin.login()
    k = f"customer-{s.customer.name}"
    new = f"customer-new{secrets.token_hex(3)}"
    for method, path, data in KEY_EXPORT_ATTEMPTS.values():
        with pytest.raises(hx.Forbidden, match="permission denied"):
            raw(admin, method, f"{TRANSIT}/" + path.format(k=k, new=new), data)
    # what the admin keeps: deletion_allowed (erasing a customer), rotation
    raw(admin, "POST", f"{TRANSIT}/keys/{k}/config", {"deletion_allowed": True})
    raw(admin, "POST", f"{TRANSIT}/keys/{k}/config", {"deletion_allowed": False})
    key = raw(s.root, "GET", f"{TRANSIT}/keys/{k}")["data"]
    assert key["exportable"] is False and key["allow_plaintext_backup"] is False and key["deletion_allowed"] is False
    res = cli("audit", "log", "--file", str(server.audit_file), "--json", "--engineer", s.admin.name,
              "--action", "key-export", token=server.root_token)
    assert res.returncode == 0, res.stderr
    import json

    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(events) == len(KEY_EXPORT_ATTEMPTS)
    assert {e["outcome"] for e in events} == {"denied"} and {e["action"] for e in events} == {"key-export"}
    naming_k = sum("{k}" in path for _m, path, _d in KEY_EXPORT_ATTEMPTS.values())
    assert sum(e["record"] == k and e["customer"] == s.customer.name for e in events) == naming_k


def test_setup_check_reports_customer_key_flags(s, server):
    """A key made outside `customer add` (here by root) with flags that let it
    leave Vault is drift setup cannot undo; deletion_allowed it resets."""
    from netvault.local import config
    from netvault.server import setup as layout
    from netvault.vault import policies
    from netvault.vault.client import admin_client

    root = s.root
    c = f"flag-{secrets.token_hex(3)}"
    key = f"customer-{c}"
    admin = admin_client(server.address, server.root_token)
    raw(root, "POST", f"{TRANSIT}/keys/{key}", {"derived": True, "exportable": True})
    root.sys.create_or_update_acl_policy(policies.customer_policy_name(c), policies.render_customer(c, ["INC-*"], mounts=config.Mounts()))
    try:
        def item():
            result = layout.run_setup(admin, config.Mounts(), check=True)
            return next(i for i in result.items if i.name == f"transit key {key}")

        got = item()
        assert not got.in_sync and got.manual and "exportable is True" in got.detail
        layout.run_setup(admin, config.Mounts())
        assert raw(root, "GET", f"{TRANSIT}/keys/{key}")["data"]["exportable"] is True  # not undone, reported
        raw(root, "DELETE", f"sys/policies/acl/{policies.customer_policy_name(c)}")
        d = f"del-{secrets.token_hex(3)}"
        raw(root, "POST", f"{TRANSIT}/keys/customer-{d}", {"derived": True})
        root.sys.create_or_update_acl_policy(policies.customer_policy_name(d), policies.render_customer(d, ["INC-*"], mounts=config.Mounts()))
        raw(root, "POST", f"{TRANSIT}/keys/customer-{d}/config", {"deletion_allowed": True})
        key = f"customer-{d}"
        got = item()
        assert not got.in_sync and not got.manual and got.detail == "deletion_allowed is True"
        layout.run_setup(admin, config.Mounts())
        assert item().in_sync and raw(root, "GET", f"{TRANSIT}/keys/{key}")["data"]["deletion_allowed"] is False
        raw(root, "POST", f"{TRANSIT}/keys/{key}/config", {"deletion_allowed": True})
        raw(root, "DELETE", f"{TRANSIT}/keys/{key}")
        raw(root, "DELETE", f"sys/policies/acl/{policies.customer_policy_name(d)}")
    finally:
        raw(root, "POST", f"{TRANSIT}/keys/customer-{c}/config", {"deletion_allowed": True})
        raw(root, "DELETE", f"{TRANSIT}/keys/customer-{c}")
        raw(root, "DELETE", f"sys/policies/acl/{policies.customer_policy_name(c)}")
        layout.sync_customer_policies(admin, config.Mounts())


def _jit_token(client, customer: str, user: str) -> str:
    return raw(client, "POST", "auth/token/create/nv-jit", {
        "policies": f"nv-customer-{customer}", "ttl": "10m", "entity_alias": f"jit:{user}"})["auth"]["client_token"]


def test_auditor_never_decrypts_through_a_jit_token(s, server):
    """Neither a lead nor root can mint a working JIT token for an auditor:
    their jit:<user> entity is disabled, and a lead cannot switch it on."""
    for minter in (s.lead_client, s.root):
        for person in (s.auditor, s.admin):
            with pytest.raises(hx.Forbidden, match="disabled"):
                _jit_token(minter, s.customer.name, person.name)
    # the same lead mints for an engineer without trouble (the refusal is specific)
    token = _jit_token(s.lead_client, s.customer.name, s.engineer.name)
    assert decrypt(server.client(token), s.rec) == s.rec.plaintext


def test_a_jit_token_dies_when_its_person_becomes_an_auditor(s, server):
    """A JIT token minted while someone was an engineer stops working once
    they are an auditor and `setup` has locked their jit identity (setup
    --check names them until then)."""
    from netvault.local import config
    from netvault.server import setup as layout
    from netvault.vault.client import admin_client

    person = new_person(server, "engineer")
    client = server.client(_jit_token(s.root, s.customer.name, person.name))
    assert decrypt(client, s.rec) == s.rec.plaintext
    group = raw(s.root, "GET", "identity/group/name/nv-role-auditor")["data"]
    raw(s.root, "POST", "identity/group/name/nv-role-auditor", {
        "member_entity_ids": sorted(set(group.get("member_entity_ids") or []) | {person.entity_id})})
    admin = admin_client(server.address, server.root_token)
    item = next(i for i in layout.run_setup(admin, config.Mounts(), check=True).items if i.name.startswith("jit identities"))
    assert not item.in_sync and person.name in item.detail
    layout.run_setup(admin, config.Mounts())
    with pytest.raises(hx.Forbidden):
        decrypt(client, s.rec)
    with pytest.raises(hx.Forbidden, match="disabled"):
        _jit_token(s.root, s.customer.name, person.name)


def test_grant_refuses_auditors_admins_for_jit_and_people_without_role(s, server, cli):
    """access.grant checks the grantee's roles before writing anything."""
    from datetime import datetime, timedelta, timezone

    from netvault.access import grants as access
    from netvault.access import people as users
    from netvault.errors import PermissionDenied, UsageError

    now = datetime.now(timezone.utc)
    lead = server.gateway(s.lead.login().token)
    c = s.other.name
    auditor = new_person(server, "auditor")
    users.add_member(lead, "nv-role-engineer", auditor.entity_id)  # a lead may do this much
    for duration in (timedelta(hours=1), None):
        with pytest.raises(PermissionDenied, match="auditor"):
            access.grant(lead, auditor.name, c, now=now, duration=duration)
    res = cli("grant", auditor.name, c, "--for", "1h", "--reason", "INC-1", token=s.lead.token())
    assert res.returncode == 4 and len(res.stderr.strip().splitlines()) == 1 and "auditor" in res.stderr
    admin = new_person(server, "admin")
    with pytest.raises(PermissionDenied, match="admin"):
        access.grant(lead, admin.name, c, now=now, duration=timedelta(hours=1))
    roleless = new_person(server, "engineer")
    users.remove_member(lead, "nv-role-engineer", roleless.entity_id)
    with pytest.raises(UsageError, match="no netvault role"):
        access.grant(lead, roleless.name, c, now=now)
    for person in (auditor, admin, roleless):  # nothing was written
        with pytest.raises(hx.InvalidPath):
            raw(s.root, "GET", f"{KV}/data/_grants/{c}/{person.name}")
        with pytest.raises(hx.InvalidPath):
            raw(s.root, "GET", f"identity/group/name/nv-grant:{c}:{person.name}")
        with pytest.raises(hx.InvalidPath):
            raw(s.root, "LIST", f"{KV}/metadata/_inbox/{person.entity_id}")
    # a standing grant is how an admin reveals: still allowed, and it works
    access.grant(lead, admin.name, c, now=now)
    assert decrypt(admin.login(), s.other.record()) == s.other.record().plaintext
    access.revoke(lead, admin.name, c)


def test_adding_an_auditor_or_admin_locks_their_jit_identity_first(s, server):
    """team.add_user by an admin: the jit:<user> entity exists and is
    disabled before the person is in the role group."""
    from netvault.access import team
    from netvault.access import people as users

    admin = server.gateway(s.admin.login().token)
    for role in ("auditor", "admin"):
        name = f"{role}-{secrets.token_hex(3)}"
        out = team.add_user(admin, name, role, "a-long-password-1")
        jit = users.jit_entity(server.gateway(), name)
        assert jit and jit["disabled"] is True and jit["id"] != out.entity_id
        assert users.lock_jit_identity(admin, name) == jit["id"]  # idempotent
    name = f"eng-{secrets.token_hex(3)}"
    team.add_user(admin, name, "engineer", "a-long-password-1")
    assert users.jit_entity(server.gateway(), name) is None  # engineers: created on their first JIT grant
