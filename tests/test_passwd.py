"""Passwords (issue 15): `netvault passwd` changes one's own, `netvault
engineer passwd` lets a team lead reset an engineer's. Every rule is proved
with raw hvac requests: Vault enforces it, not the CLI."""

from __future__ import annotations

import hvac
import pytest
from hvac import exceptions as hx

from access_helpers import raw
from netvault.access import team


def _can_login(server, user, password) -> bool:
    try:
        hvac.Client(url=server.address).auth.userpass.login(user, password)
        return True
    except (hx.InvalidRequest, hx.Forbidden):
        return False


def _denied(client, method, path, data=None) -> bool:
    try:
        raw(client, method, path, data)
    except hx.Forbidden:
        return True
    return False


def test_passwd_changes_own_password(cli, make_user, server):
    eng = make_user("engineer")
    new = "a-brand-new-Pass-1"
    r = cli("passwd", eng.name, "--password-stdin", input=f"{eng.password}\n{new}\n")
    assert r.returncode == 0, r.stderr
    assert "changed" in r.stderr and r.stdout == "" and new not in r.stderr
    assert _can_login(server, eng.name, new) and not _can_login(server, eng.name, eng.password)


def test_passwd_wrong_current_or_short_new_changes_nothing(cli, make_user, server):
    eng = make_user("engineer")
    r = cli("passwd", eng.name, "--password-stdin", input="wrong-password-1\nanother-Pass-123\n")
    assert r.returncode == 4 and "current password" in r.stderr
    r = cli("passwd", eng.name, "--password-stdin", input=f"{eng.password}\nshort\n")
    assert r.returncode == 2 and "at least" in r.stderr
    r = cli("passwd", eng.name)  # no terminal, no --password-stdin
    assert r.returncode == 2 and "--password-stdin" in r.stderr
    assert _can_login(server, eng.name, eng.password)


@pytest.mark.parametrize("role", ["engineer", "team-lead", "auditor", "admin"])
def test_each_role_changes_only_its_own_password_raw(make_user, server, role):
    me, other = make_user(role), make_user("engineer")
    client = me.login()
    assert not _denied(client, "POST", f"auth/userpass/users/{me.name}/password", {"password": "mine-New-pass-1"})
    assert _can_login(server, me.name, "mine-New-pass-1")
    if role != "admin":  # admins may set anyone's password (nv-admin)
        assert _denied(client, "POST", f"auth/userpass/users/{other.name}/password", {"password": "x-New-pass-123"})
    # only the password of one's own login: no policies, no TTLs through this path
    assert _denied(client, "POST", f"auth/userpass/users/{me.name}/password",
                   {"password": "mine-New-pass-2", "token_policies": "nv-admin"})
    assert _can_login(server, other.name, other.password)


def test_team_lead_resets_an_engineer_only(cli, make_user, server):
    lead, eng = make_user("team-lead"), make_user("engineer")
    r = cli("engineer", "passwd", eng.name, "--password-stdin", input="reset-By-lead-1\n", token=lead.token())
    assert r.returncode == 4 and "admin's next `netvault setup`" in r.stderr  # not listed yet: fails closed
    assert team.refresh_team_lead_engineers(server.gateway())  # what `netvault setup` renders
    lead_policies = hvac.Client(url=server.address, token=lead.token()).lookup_token()["data"]["identity_policies"]
    r = cli("engineer", "passwd", eng.name, "--password-stdin", input="reset-By-lead-1\n", token=lead.token())
    assert r.returncode == 0, r.stderr
    assert _can_login(server, eng.name, "reset-By-lead-1") and not _can_login(server, eng.name, eng.password)
    # nothing forced on the team lead: same policies, no new rights
    assert hvac.Client(url=server.address, token=lead.token()).lookup_token()["data"]["identity_policies"] == lead_policies
    r = cli("engineer", "passwd", eng.name, "--generate", "--json", token=lead.token())
    assert r.returncode == 0 and _can_login(server, eng.name, r.json()["password"])


def test_team_lead_cannot_reset_leads_auditors_admins_or_self_raw(make_user, server):
    lead, other_lead = make_user("team-lead"), make_user("team-lead")
    auditor, admin, eng = make_user("auditor"), make_user("admin"), make_user("engineer")
    team.refresh_team_lead_engineers(server.gateway())
    client = lead.login()
    for target in (other_lead, auditor, admin, lead):
        assert _denied(client, "POST", f"auth/userpass/users/{target.name}", {"password": "taken-Over-123"}), target.role
        assert _can_login(server, target.name, target.password)
    # an engineer: the password only, never policies or TTLs
    assert _denied(client, "POST", f"auth/userpass/users/{eng.name}", {"password": "p-New-pass-123", "token_policies": "nv-admin"})
    assert _denied(client, "POST", f"auth/userpass/users/{eng.name}", {"token_ttl": "999h"})
    assert not _denied(client, "POST", f"auth/userpass/users/{eng.name}", {"password": "p-New-pass-123"})


def test_promoted_engineer_drops_out_of_the_reset_list(make_user, server):
    lead, eng = make_user("team-lead"), make_user("engineer")
    root = server.root()
    team.refresh_team_lead_engineers(server.gateway())
    g = raw(root, "GET", "identity/group/name/nv-role-auditor")["data"]
    raw(root, "POST", "identity/group/name/nv-role-auditor",
        {"member_entity_ids": list(g.get("member_entity_ids") or []) + [eng.entity_id]})
    team.refresh_team_lead_engineers(server.gateway())  # admins' `setup` / `engineer add` render it
    assert _denied(lead.login(), "POST", f"auth/userpass/users/{eng.name}", {"password": "p-New-pass-123"})


def test_admin_adding_an_engineer_lists_it_at_once(cli, make_user, server, unique):
    admin, lead = make_user("admin"), make_user("team-lead")
    name = unique("eng")
    r = cli("engineer", "add", name, "--password-stdin", input="first-Pass-1234\n", token=admin.token())
    assert r.returncode == 0, r.stderr
    r = cli("engineer", "passwd", name, "--password-stdin", input="second-Pass-123\n", token=lead.token())
    assert r.returncode == 0, r.stderr
    assert _can_login(server, name, "second-Pass-123")
