"""Role x operation x (granted customer, other customer), checked against Vault.

Every cell is a raw hvac request by a user who logged in with userpass and
holds exactly one role. Each role's user holds a standing grant (identity
group ``nv-grant:<A>:<user>``, made by root) of customer A; customer B is
granted to nobody. The CLI is not involved: what passes here is what Vault
itself enforces.

The "jit-<role>" columns are what a time-limited grant hands out to that
role's person: a token from the nv-jit token role carrying nv-customer-<A>,
bound to the entity alias ``jit:<person>`` (minted by root, the strongest
minter). For auditors and admins Vault refuses to mint it at all (their
jit identity is disabled, issue 8), so each of their cells is that refusal,
attempted again.

Y = Vault allows it, N = Vault answers 403. A cell that fails in any other
way (400, 500...) fails the test: the operations are well-formed.
"""

from __future__ import annotations

import secrets

import hvac
import pytest
from hvac import exceptions as hx

from access_helpers import KV, TRANSIT, decrypt, new_person, provision_customer, raw, raw_grant

PEOPLE = ("engineer", "team-lead", "auditor", "admin")
ROLES = PEOPLE + tuple(f"jit-{r}" for r in PEOPLE)

#: The expected matrix. Columns: per role, "granted other" (customer A, B).
#: Customer-independent operations have the same answer in both columns.
EXPECTED = """
operation              engineer  team-lead  auditor  admin  jit-engineer jit-team-lead jit-auditor jit-admin
list customers         N N       Y Y        Y Y      Y Y    N N          N N           N N         N N
list records           Y N       Y Y        Y Y      Y Y    Y N          Y N           N N         N N
read record            Y N       Y Y        Y N      Y Y    Y N          Y N           N N         N N
reveal (INC-1)         Y N       Y N        N N      Y N    Y N          Y N           N N         N N
reveal (bad reference) N N       N N        N N      N N    N N          N N           N N         N N
reveal (no reference)  N N       N N        N N      N N    N N          N N           N N         N N
write record           N N       Y Y        N N      Y Y    N N          N N           N N         N N
delete record          N N       Y Y        N N      Y Y    N N          N N           N N         N N
create record id       N N       Y Y        N N      Y Y    N N          N N           N N         N N
rewrite record id      N N       N N        N N      Y Y    N N          N N           N N         N N
delete record id       N N       N N        N N      Y Y    N N          N N           N N         N N
new customer tree      N N       N N        N N      Y Y    N N          N N           N N         N N
new customer key       N N       N N        N N      Y Y    N N          N N           N N         N N
rotate customer key    N N       Y Y        N N      Y Y    N N          N N           N N         N N
export customer key    N N       N N        N N      N N    N N          N N           N N         N N
make key exportable    N N       N N        N N      N N    N N          N N           N N         N N
back up customer key   N N       N N        N N      N N    N N          N N           N N         N N
grant (group create)   N N       Y Y        N N      Y Y    N N          N N           N N         N N
revoke (group delete)  N N       Y Y        N N      Y Y    N N          N N           N N         N N
grant records read     N N       Y Y        Y Y      Y Y    N N          N N           N N         N N
policy write           N N       N N        N N      Y Y    N N          N N           N N         N N
grant group +nv-admin  N N       N N        N N      Y Y    N N          N N           N N         N N
join admin group       N N       N N        N N      Y Y    N N          N N           N N         N N
add to engineer role   N N       Y Y        N N      Y Y    N N          N N           N N         N N
disable a person       N N       Y Y        N N      Y Y    N N          N N           N N         N N
jit token (customer)   N N       Y Y        N N      Y Y    N N          N N           N N         N N
token with nv-admin    N N       N N        N N      Y Y    N N          N N           N N         N N
sys/auth read          N N       Y Y        Y Y      Y Y    N N          N N           N N         N N
sys policies list      N N       N N        N N      Y Y    N N          N N           N N         N N
sys audit-hash         N N       Y Y        Y Y      Y Y    N N          N N           N N         N N
sys mount enable       N N       N N        N N      Y Y    N N          N N           N N         N N
identity groups list   N N       Y Y        Y Y      Y Y    N N          N N           N N         N N
incident patterns edit N N       N N        N N      Y Y    N N          N N           N N         N N
"""


def parse_expected(text: str) -> dict[tuple[str, str, str], bool]:
    out = {}
    for line in text.strip().splitlines()[1:]:
        cells = line.split()
        marks = cells[-2 * len(ROLES):]
        op = " ".join(cells[:-2 * len(ROLES)])
        for i, role in enumerate(ROLES):
            out[(role, op, "granted")] = marks[2 * i] == "Y"
            out[(role, op, "other")] = marks[2 * i + 1] == "Y"
    return out


TABLE = parse_expected(EXPECTED)
OPERATIONS = list(dict.fromkeys(op for (_r, op, _w) in TABLE))


class World:
    def __init__(self, server):
        self.server = server
        self.root = server.root()
        tag = secrets.token_hex(3)
        self.customers = {
            "granted": provision_customer(self.root, f"mxa-{tag}"),
            "other": provision_customer(self.root, f"mxb-{tag}"),
        }
        self.people = {role: new_person(server, role) for role in PEOPLE}
        self.target = new_person(server, "engineer")  # the subject of grant/revoke cells
        for person in self.people.values():
            raw_grant(self.root, self.customers["granted"].name, person)
        self.clients = {role: p.login() for role, p in self.people.items()}
        self.entity_ids = {role: p.entity_id for role, p in self.people.items()}
        for role in PEOPLE:
            try:
                self.client(f"jit-{role}")
            except hx.Forbidden:
                pass  # auditors, admins: asked again in each of their cells

    def client(self, role: str) -> hvac.Client:
        """The role's client; for "jit-<role>", a time-limited grant's token for
        customer A minted for that role's person (Vault may refuse: Forbidden)."""
        if role not in self.clients:
            person = self.people[role[len("jit-"):]]
            jit = raw(self.root, "POST", "auth/token/create/nv-jit", {
                "policies": f"nv-customer-{self.customers['granted'].name}", "ttl": "1h",
                "entity_alias": f"jit:{person.name}"})
            self.clients[role] = self.server.client(jit["auth"]["client_token"])
            self.entity_ids[role] = jit["auth"]["entity_id"]
        return self.clients[role]

    def group_name(self, customer: str, suffix: str) -> str:
        return f"nv-grant:{customer}:{self.target.name}{suffix}"


@pytest.fixture(scope="module")
def world(server):
    return World(server)


def _op(op: str, w: World, role: str, which: str):
    """Run one operation; return a cleanup callable or None."""
    c: hvac.Client = w.client(role)
    cust = w.customers[which]
    x = cust.name
    rec = cust.record()
    root = w.root
    n = secrets.token_hex(3)
    if op == "list customers":
        assert f"{x}/" in raw(c, "LIST", f"{KV}/metadata/customers")["data"]["keys"]
    elif op == "list records":
        keys = raw(c, "LIST", f"{KV}/metadata/customers/{x}/credentials")["data"]["keys"]
        assert "router" in keys
    elif op == "read record":
        data = raw(c, "GET", f"{KV}/data/customers/{x}/credentials/router")["data"]["data"]
        assert data["id"] == rec.id
    elif op == "reveal (INC-1)":
        assert decrypt(c, rec, "INC-1") == rec.plaintext
    elif op == "reveal (bad reference)":
        decrypt(c, rec, "FOO-1")
    elif op == "reveal (no reference)":
        decrypt(c, rec, None)
    elif op == "write record":
        raw(c, "POST", f"{KV}/data/customers/{x}/credentials/m-{n}", {"options": {"cas": 0}, "data": {"id": n}})
    elif op == "delete record":
        raw(root, "POST", f"{KV}/data/customers/{x}/credentials/d-{n}", {"options": {"cas": 0}, "data": {"id": n}})
        raw(c, "DELETE", f"{KV}/data/customers/{x}/credentials/d-{n}")
    elif op == "create record id":
        raw(c, "POST", f"{KV}/data/customers/{x}/_ids/m{n}", {"options": {"cas": 0}, "data": {"kind": "credential", "name": f"m-{n}"}})
    elif op == "rewrite record id":
        path = f"{KV}/data/customers/{x}/_ids/{rec.id}"
        before = raw(root, "GET", path)["data"]
        raw(c, "POST", path, {"options": {"cas": before["metadata"]["version"]}, "data": before["data"]})
    elif op == "delete record id":
        raw(root, "POST", f"{KV}/data/customers/{x}/_ids/d{n}", {"options": {"cas": 0}, "data": {"kind": "credential", "name": "d"}})
        raw(c, "DELETE", f"{KV}/data/customers/{x}/_ids/d{n}")
    elif op == "new customer tree":
        raw(c, "POST", f"{KV}/data/customers/new-{n}/profile", {"options": {"cas": 0}, "data": {"id": n}})
        return lambda: raw(root, "DELETE", f"{KV}/metadata/customers/new-{n}/profile")
    elif op == "new customer key":
        raw(c, "POST", f"{TRANSIT}/keys/customer-new-{n}")  # no parameters: what a lead could send

        def drop_key():
            raw(root, "POST", f"{TRANSIT}/keys/customer-new-{n}/config", {"deletion_allowed": True})
            raw(root, "DELETE", f"{TRANSIT}/keys/customer-new-{n}")

        return drop_key
    elif op == "make key exportable":
        raw(c, "POST", f"{TRANSIT}/keys/customer-{x}/config", {"exportable": True})
    elif op == "back up customer key":
        raw(c, "GET", f"{TRANSIT}/backup/customer-{x}")
    elif op == "rotate customer key":
        raw(c, "POST", f"{TRANSIT}/keys/customer-{x}/rotate")
    elif op == "export customer key":
        raw(c, "GET", f"{TRANSIT}/export/encryption-key/customer-{x}")
    elif op == "grant (group create)":
        name = w.group_name(x, f"-g{n}")
        raw(c, "POST", "identity/group", {
            "name": name, "policies": f"nv-customer-{x}", "member_entity_ids": [w.target.entity_id],
        })
        return lambda: raw(root, "DELETE", f"identity/group/name/{name}")
    elif op == "revoke (group delete)":
        name = w.group_name(x, f"-r{n}")
        raw(root, "POST", "identity/group", {"name": name, "policies": f"nv-customer-{x}"})
        try:
            raw(c, "DELETE", f"identity/group/name/{name}")
        except hx.Forbidden:
            raw(root, "DELETE", f"identity/group/name/{name}")
            raise
        with pytest.raises(hx.InvalidPath):
            raw(root, "GET", f"identity/group/name/{name}")
    elif op == "grant records read":
        raw(root, "POST", f"{KV}/data/_grants/{x}/{w.target.name}-{n}", {"options": {"cas": 0}, "data": {"kind": "standing"}})
        raw(c, "GET", f"{KV}/data/_grants/{x}/{w.target.name}-{n}")
    elif op == "policy write":
        text = root.sys.read_acl_policy(f"nv-customer-{x}")["data"]["policy"]
        raw(c, "PUT", f"sys/policies/acl/nv-customer-{x}", {"policy": text})
    elif op == "grant group +nv-admin":
        name = w.group_name(x, f"-e{n}")
        raw(root, "POST", "identity/group", {"name": name, "policies": f"nv-customer-{x}"})
        cleanup = lambda: raw(root, "DELETE", f"identity/group/name/{name}")  # noqa: E731
        try:
            raw(c, "POST", f"identity/group/name/{name}", {"policies": [f"nv-customer-{x}", "nv-admin"]})
        except BaseException:
            cleanup()
            raise
        return cleanup
    elif op == "join admin group":
        g = raw(root, "GET", "identity/group/name/nv-role-admin")["data"]
        members = list(g.get("member_entity_ids") or [])
        me = w.entity_ids[role]
        raw(c, "POST", "identity/group/name/nv-role-admin", {"member_entity_ids": sorted(set(members) | {me})})
        if me not in members:
            return lambda: raw(root, "POST", "identity/group/name/nv-role-admin", {"member_entity_ids": members})
    elif op == "add to engineer role":
        g = raw(root, "GET", "identity/group/name/nv-role-engineer")["data"]
        members = list(g.get("member_entity_ids") or [])
        raw(c, "POST", "identity/group/name/nv-role-engineer", {"member_entity_ids": sorted(set(members) | {w.target.entity_id})})
    elif op == "disable a person":
        victim = new_person(w.server, "engineer")
        raw(c, "POST", f"identity/entity/id/{victim.entity_id}", {"disabled": True})
    elif op == "jit token (customer)":
        resp = raw(c, "POST", "auth/token/create/nv-jit", {
            "policies": f"nv-customer-{x}", "ttl": "60s", "entity_alias": f"jit:matrix-{n}",
        })
        assert resp["auth"]["policies"] == ["default", f"nv-customer-{x}"]
        return lambda: raw(root, "POST", "auth/token/revoke-accessor", {"accessor": resp["auth"]["accessor"]})
    elif op == "token with nv-admin":
        resp = raw(c, "POST", "auth/token/create", {"policies": ["nv-admin"], "ttl": "60s"})
        return lambda: raw(root, "POST", "auth/token/revoke-accessor", {"accessor": resp["auth"]["accessor"]})
    elif op == "sys/auth read":
        assert "userpass/" in (raw(c, "GET", "sys/auth").get("data") or {})
    elif op == "sys audit-hash":
        device = next(iter(raw(root, "GET", "sys/audit")["data"]))
        assert raw(c, "POST", f"sys/audit-hash/{device.strip('/')}", {"input": "x"})["data"]["hash"].startswith("hmac-sha256:")
    elif op == "sys policies list":
        raw(c, "LIST", "sys/policies/acl")
    elif op == "sys mount enable":
        raw(c, "POST", f"sys/mounts/mx-{n}", {"type": "kv"})
        return lambda: raw(root, "DELETE", f"sys/mounts/mx-{n}")
    elif op == "identity groups list":
        raw(c, "LIST", "identity/group/name")
    elif op == "incident patterns edit":
        cur = raw(root, "GET", f"{KV}/data/_config/settings")["data"]
        raw(c, "POST", f"{KV}/data/_config/settings", {
            "options": {"cas": cur["metadata"]["version"]}, "data": cur["data"],
        })
    else:  # pragma: no cover
        raise AssertionError(f"no such operation {op}")
    return None


@pytest.mark.parametrize("which", ["granted", "other"])
@pytest.mark.parametrize("op", OPERATIONS)
@pytest.mark.parametrize("role", ROLES)
def test_matrix(world, role, op, which):
    expected = TABLE[(role, op, which)]
    try:
        cleanup = _op(op, world, role, which)
        allowed = True
    except hx.Forbidden:
        allowed, cleanup = False, None
    try:
        assert allowed == expected, (
            f"{role} / {op} / {which} customer: Vault {'allowed' if allowed else 'refused'} it, "
            f"the design says {'Y' if expected else 'N'}"
        )
    finally:
        if cleanup:
            cleanup()


def test_table_is_complete():
    """Every role has a cell for every operation in both columns."""
    for op in OPERATIONS:
        for role in ROLES:
            assert (role, op, "granted") in TABLE and (role, op, "other") in TABLE
    assert len(OPERATIONS) >= 20
