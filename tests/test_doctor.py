"""`netvault doctor [--repair]` (issue 9, item 6) on a server of its own.

The damage is made the way a crash makes it: a real writer is stopped dead
between two of its requests (every position of a device add, edit and rm in
turn; a grant, an engineer add and a customer add part-way), then doctor must
find it and --repair must leave a server it finds clean, with the index
exactly equal to the records.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from netvault.access import grants as access
from netvault.access import team
from netvault.server import doctor
from netvault.access import people as users
from netvault.errors import Conflict, NotFound
from netvault.vault.client import Vault
from netvault.records import index
from netvault.records.store import Store
from people import new_user


class Crash(BaseException):
    """The process died here (not an Exception: nothing may catch it)."""


class DyingVault(Vault):
    """A real gateway that dies before its ``at``-th request and sends nothing
    after it, like a killed process (the count is shared by clones)."""

    def __init__(self, *args, at: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.count = [0]
        self.death = [""]
        self.at = at

    def clone(self):
        twin = DyingVault(self.address, self.token, at=self.at, retries=self._retries)
        twin.count, twin.death = self.count, self.death
        return twin

    def request(self, method, path, data=None, *, headers=None, idempotent=False):
        self.count[0] += 1
        if self.count[0] == self.at:
            self.death[0] = f"died before request {self.at}: {method} {path}"
        if self.count[0] >= self.at:  # dead: no clean-up request gets out either
            raise Crash(self.death[0])
        return super().request(method, path, data, headers=headers, idempotent=idempotent)


def _now():
    return datetime.now(timezone.utc)


def _mac():
    return "02" + secrets.token_hex(5)


def _problems(vault) -> list[tuple[str, str, str]]:
    return sorted((f.area, f.problem, f.subject) for f in doctor.examine(vault, now=_now()).findings)


def test_crash_at_every_step_of_device_writes_is_found_and_repaired(own_server):
    root = own_server.gateway()
    store = Store(root)
    c = f"dr-{secrets.token_hex(3)}"
    store.add_customer(c, {})
    assert _problems(root) == []
    found_kinds = set()
    ops = [
        ("add", lambda s, n: s.add_device(c, n, kind="router", macs=[_mac()], ips=["10.9.8.7"])),
        ("edit", lambda s, n: s.edit_device(c, n, macs=[_mac()], ips=["10.9.8.6"])),
        ("rm", lambda s, n: s.remove("device", c, n)),
    ]
    for label, op in ops:
        at = 1
        while True:
            name = f"{label}{at}"
            if label != "add":
                store.add_device(c, name, kind="router", macs=[_mac()], ips=["10.9.8.5"])
            dying = Store(DyingVault(own_server.address, own_server.root_token, at=at))
            try:
                op(dying, name)
                break  # ran to the end: every position has been tried
            except Crash:
                pass
            report = doctor.examine(root, now=_now(), repair=True)
            found_kinds |= {f.problem for f in report.findings}
            assert all(f.repaired for f in report.findings), [f.to_dict() for f in report.findings]
            assert _problems(root) == [], f"{label} stopped before request {at}"
            at += 1
        assert at > 3, label  # the writer really was stopped part-way several times
    # a writer that dies never leaves a device unfindable (entries, and a
    # search entry matching old and new values, are added before the record
    # is written); it can leave entries behind, and a search entry wider
    # than the record
    assert found_kinds == {"stale-entry", "search-document-differs"}

    # an entry lost another way (an older netvault's race, a hand edit): found and put back
    mac = _mac()
    store.add_device(c, "lost", kind="switch", macs=[mac])
    index.edit(root, "netvault", removes=[("mac", mac, c, "lost")])
    assert _problems(root) == [("index", "missing-entry", f"{c}/lost")]
    doctor.examine(root, now=_now(), repair=True)
    assert _problems(root) == []


def _interrupt_grant(own_server, user: str, customer: str, **kwargs) -> None:
    """Run a grant that dies right before it makes the group (or JIT token)."""
    marker = "auth/token/create" if kwargs.get("duration") else "identity/group"
    for at in range(1, 60):
        dying = DyingVault(own_server.address, own_server.root_token, at=at)
        try:
            access.grant(dying, user, customer, now=_now(), **kwargs)
        except Crash as crash:
            if marker in str(crash) and "POST" in str(crash):
                return
            # died after its claim but before the group (in the ledger write):
            # take the claim away so the next try is not "being granted"
            try:
                own_server.gateway().delete(f"netvault/metadata/_grants/{customer}/{user}")
            except NotFound:
                pass
    pytest.fail("the grant never reached its group write")


def test_interrupted_grant_is_completed_by_its_retry_or_repaired(own_server):
    """Issue 9 items 5 and 6: a grant that died between its record and its
    group no longer blocks ("already has access" while Vault refuses): its
    retry completes it, and doctor --repair removes such a record."""
    root = own_server.gateway()
    store = Store(root)
    c = f"dg-{secrets.token_hex(3)}"
    store.add_customer(c, {})
    retried = new_user(own_server, "engineer")
    _interrupt_grant(own_server, retried.name, c)
    later = _now() + access.UNFINISHED_AFTER + timedelta(seconds=1)  # after the claim was written
    assert ("grant", "record-without-group", f"{c}/{retried.name}") in _problems(root)
    with pytest.raises(Conflict, match="being granted"):  # a grant may still be under way
        access.grant(root, retried.name, c, now=_now())
    g = access.grant(root, retried.name, c, now=later)
    assert g.state == "active"
    assert [x.state for x in access.list_grants(root, now=_now(), customer=c)] == ["active"]

    jit = new_user(own_server, "engineer")
    _interrupt_grant(own_server, jit.name, c, duration=timedelta(hours=1))
    later = _now() + access.UNFINISHED_AFTER + timedelta(seconds=1)
    assert ("grant", "jit-without-token", f"{c}/{jit.name}") in _problems(root)
    g = access.grant(root, jit.name, c, now=later, duration=timedelta(hours=1))
    assert g.accessor

    repaired = new_user(own_server, "engineer")
    _interrupt_grant(own_server, repaired.name, c)
    report = doctor.examine(root, now=_now(), repair=True)
    assert all(f.repaired for f in report.findings if f.area == "grant")
    assert _problems(root) == []
    assert access.grant(root, repaired.name, c, now=_now()).state == "active"

    # a group nobody recorded: the access stays (Vault enforces it), the record is reconstructed
    other = new_user(own_server, "engineer")
    root.write("identity/group", {"name": f"nv-grant:{c}:{other.name}", "policies": f"nv-customer-{c}",
                                  "member_entity_ids": [other.entity_id]})
    assert ("grant", "group-without-record", f"{c}/{other.name}") in _problems(root)
    doctor.examine(root, now=_now(), repair=True)
    assert _problems(root) == []
    rec = [g for g in access.list_grants(root, now=_now(), customer=c) if g.user == other.name][0]
    assert rec.state == "active" and "reconstructed by netvault doctor" in rec.reason


def test_interrupted_people_and_customer_adds_are_reported(own_server, tmp_path):
    root = own_server.gateway()
    name = f"half-{secrets.token_hex(3)}"
    dying = DyingVault(own_server.address, own_server.root_token, at=4)
    with pytest.raises(Crash):
        users.create_user(dying, "userpass", name, secrets.token_urlsafe(16), "engineer")
    c = f"hm-{secrets.token_hex(3)}"
    dying = DyingVault(own_server.address, own_server.root_token, at=6)
    with pytest.raises(Crash):
        Store(dying).add_customer(c, {})
    problems = _problems(root)
    assert any(p[0] == "person" and p[2] == name for p in problems), problems
    assert ("customer", "half-made", c) in problems

    # the command: table, --json, exit 1 while damage is left, 0 when clean
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update({"VAULT_ADDR": own_server.address, "VAULT_TOKEN": own_server.root_token,
                "NETVAULT_CONFIG_DIR": str(tmp_path / "cfg"), "NETVAULT_KEYRING": "file"})
    run = lambda *a: subprocess.run([sys.executable, "-m", "netvault", "doctor", *a], env=env,  # noqa: E731
                                    capture_output=True, text=True, timeout=120)
    res = run("--json")
    assert res.returncode == 1, res.stderr
    subjects = {f["subject"] for f in json.loads(res.stdout)["findings"]}
    assert {name, c} <= subjects
    res = run()
    assert res.returncode == 1 and "half-made" in res.stdout and "Traceback" not in res.stderr
    # completing the customer add (it is idempotent) clears that finding
    Store(root).add_customer(c, {})
    assert ("customer", "half-made", c) not in _problems(root)


def test_engineer_may_not_run_doctor(own_server):
    eng = new_user(own_server, "engineer")
    from netvault.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        doctor.examine(Vault(own_server.address, eng.token()), now=_now())


def test_setup_drift_is_reported_to_an_admin(own_server):
    root = own_server.gateway()
    import hvac

    client = hvac.Client(own_server.address, token=own_server.root_token)
    client.secrets.kv.v2.configure(max_versions=7, cas_required=True, mount_point="netvault")
    try:
        assert any(p[0] == "setup" and p[2].startswith("kv mount") for p in _problems(root))
    finally:
        client.secrets.kv.v2.configure(max_versions=100, cas_required=True, mount_point="netvault")
    assert not [p for p in _problems(root) if p[0] == "setup"]


def test_interrupted_engineer_add_is_completed_by_its_retry(own_server):
    """Issue 9 item 5: an add that died after the login was written left a
    login with no role and "already exists" on every retry. The same add with
    the same password now completes it; another password, or a person who
    already holds a role, is still a conflict."""
    root = own_server.gateway()
    name = f"retry-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(16)
    for at in range(1, 30):
        dying = DyingVault(own_server.address, own_server.root_token, at=at)
        try:
            team.add_user(dying, name, "engineer", password)
        except Crash as crash:
            if "login" in str(crash):
                break
    else:
        pytest.fail("the add never reached its first login")
    assert any(p[0] == "person" and p[2] == name for p in _problems(root))
    with pytest.raises(Conflict):
        team.add_user(root, name, "engineer", secrets.token_urlsafe(16))  # not the same password
    done = team.add_user(root, name, "engineer", password)
    assert done.entity_id and not any(p[2] == name for p in _problems(root))
    with pytest.raises(Conflict, match="with a role"):
        team.add_user(root, name, "engineer", password)  # complete now: a plain conflict
