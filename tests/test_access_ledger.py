"""The grant ledger (issue 15): `access list` costs two requests whatever the
number of grants, and the ledger stays right through concurrent grants,
revokes, offboarding, erasure and an upgrade from per-grant records only.

Against the real OpenBao; who may touch the ledger is checked with raw hvac
clients (Vault's own answer).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import zlib
from datetime import datetime, timedelta, timezone

import pytest
from hvac import exceptions as hx

from access_helpers import KV, new_person, provision_customer, raw
from netvault.access import grants as access
from netvault.access import offboard as offboarding
from netvault.errors import NotFound
from netvault.server import doctor
from netvault.vault.client import Vault

LEDGER = f"{KV}/data/_grants/{access.LEDGER}"


def now() -> datetime:
    return datetime.now(timezone.utc)


class Counting(Vault):
    """A real gateway client that counts the requests it sends."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[str, str]] = []

    def request(self, method, path, *args, **kwargs):
        self.sent.append((method, path))
        return super().request(method, path, *args, **kwargs)


def counting(server, token: str) -> Counting:
    return Counting(server.address, token=token)


def unpacked(body: dict) -> dict:
    """The grants in a stored ledger body (format 1: one packed string)."""
    assert body["format"] == 1 and set(body) == {"format", "z"}
    return json.loads(zlib.decompress(base64.b64decode(body["z"])))["grants"]


def packed(grants: dict) -> dict:
    return {"format": 1, "z": base64.b64encode(zlib.compress(json.dumps({"grants": grants}).encode())).decode()}


def ledger(server) -> dict:
    resp = server.gateway().read(LEDGER)
    return unpacked(resp["data"]["data"]) if resp else {}


@pytest.fixture(scope="module")
def lead(server):
    return new_person(server, "team-lead")


@pytest.fixture(scope="module")
def other_lead(server):
    return new_person(server, "team-lead")


def customers(server, n: int, prefix: str = "lg") -> list[str]:
    root = server.root()
    out = []
    for _ in range(n):
        c = provision_customer(root, f"{prefix}-{secrets.token_hex(3)}").name
        out.append(c)
    return out


def test_access_list_costs_two_requests_whatever_the_number_of_grants(server, lead):
    lv = server.gateway(lead.login().token)
    engineers = [new_person(server, "engineer") for _ in range(3)]
    cs = customers(server, 4)
    costs = []
    for c in cs:
        for e in engineers:
            access.grant(lv, e.name, c, now=now(), reason=f"ticket {c}")
        cv = counting(server, lv.token)
        got = access.list_grants(cv, now=now())
        mine = [g for g in got if g.customer in cs]
        assert all(g.state == "active" and g.reason == f"ticket {g.customer}" for g in mine)
        costs.append(len(cv.sent))
        assert sorted({g.customer for g in mine}) == sorted(cs[:cs.index(c) + 1])
    # the group list and the ledger, at 3 grants as at 12
    assert costs == [2, 2, 2, 2], costs
    assert {m for m, _p in cv.sent} == {"LIST", "GET"}
    # filtered: the same two requests, the same answer as the record-by-record way
    cv = counting(server, lv.token)
    by_customer = access.list_grants(cv, now=now(), customer=cs[0])
    assert len(cv.sent) == 2
    assert by_customer == access.list_grants(lv, now=now(), customer=cs[0], from_records=True)
    by_user = access.list_grants(lv, now=now(), user=engineers[0].name)
    assert by_user == access.list_grants(lv, now=now(), user=engineers[0].name, from_records=True)
    assert sorted(g.customer for g in by_user) == sorted(cs)


def test_concurrent_grants_by_two_team_leads_lose_no_entry(server, lead, other_lead):
    cs = customers(server, 2, "lgc")
    engineers = [new_person(server, "engineer") for _ in range(6)]
    errors = []

    def grant_all(person, c):
        v = server.gateway(person.login().token)
        for e in engineers:
            try:
                access.grant(v, e.name, c, now=now())
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=grant_all, args=(lead, cs[0])),
               threading.Thread(target=grant_all, args=(other_lead, cs[1]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = ledger(server)
    for c in cs:
        assert sorted(got[c]) == sorted(e.name for e in engineers)


def test_a_write_between_read_and_write_is_retried_not_lost(server, lead, other_lead):
    """Deterministic interleaving: the other team lead's grant lands after
    this grant read the ledger and before it wrote it back; check-and-set
    refuses the stale write and the retry keeps both entries."""
    c = customers(server, 1, "lgr")[0]
    a, b = new_person(server, "engineer"), new_person(server, "engineer")
    other = server.gateway(other_lead.login().token)

    class Interleaved(Vault):
        cut_in = True

        def request(self, method, path, *args, **kwargs):
            if self.cut_in and method in ("POST", "PUT") and path == LEDGER:
                self.cut_in = False
                access.grant(other, b.name, c, now=now())  # lands between our read and our write
            return super().request(method, path, *args, **kwargs)

    mine = Interleaved(server.address, token=lead.login().token)
    access.grant(mine, a.name, c, now=now())
    assert not mine.cut_in  # the other grant really came in between
    assert sorted(ledger(server)[c]) == sorted([a.name, b.name])
    assert {g.user for g in access.list_grants(mine, now=now(), customer=c)} == {a.name, b.name}


def test_engineers_and_customer_tokens_cannot_read_or_write_the_ledger(server, lead):
    c = customers(server, 1, "lge")[0]
    eng = new_person(server, "engineer")
    access.grant(server.gateway(lead.login().token), eng.name, c, now=now())
    client = eng.login()  # holds the customer's policy now
    for method, path, body in (
        ("GET", LEDGER, None),
        ("POST", LEDGER, {"data": packed({c: {eng.name: {"kind": "standing"}}})}),
        ("DELETE", LEDGER, None),
        ("GET", f"{KV}/metadata/_grants/{access.LEDGER}", None),
        ("LIST", f"{KV}/metadata/_grants", None),
    ):
        with pytest.raises(hx.Forbidden):
            raw(client, method, path, body)
    # an auditor reads it (who has access to what), never writes it
    auditor = new_person(server, "auditor").login()
    assert c in unpacked(raw(auditor, "GET", LEDGER)["data"]["data"])
    with pytest.raises(hx.Forbidden):
        raw(auditor, "POST", LEDGER, {"data": packed({})})


def test_the_groups_stay_the_truth_and_a_forged_entry_shows(server, lead):
    """A team lead may write the ledger (book-keeping): an entry with no group
    behind it shows as such, a bad name is ignored, and revoke cleans up."""
    lv = server.gateway(lead.login().token)
    c = customers(server, 1, "lgf")[0]
    real, ghost = new_person(server, "engineer"), new_person(server, "engineer")
    access.grant(lv, real.name, c, now=now())
    body = raw(lead.login(), "GET", LEDGER)["data"]
    grants = unpacked(body["data"])
    grants[c][ghost.name] = {"kind": "standing", "granted_by": "someone-else", "reason": 42, "expires_at": "soon"}
    grants["Bad/Name"] = {"x": {"kind": "standing"}}
    raw(lead.login(), "POST", LEDGER, {"options": {"cas": body["metadata"]["version"]}, "data": packed(grants)})
    got = {g.user: g for g in access.list_grants(lv, now=now(), customer=c)}
    assert got[real.name].state == "active"
    assert got[ghost.name].state == "record-without-group" and got[ghost.name].reason is None
    assert all(g.customer != "Bad/Name" for g in access.list_grants(lv, now=now()))
    # a group made behind netvault's back: enforced, so shown, with no record
    server.gateway().write("identity/group", {"name": f"nv-grant:{c}:{lead.name}", "policies": f"nv-customer-{c}",
                                              "member_entity_ids": [lead.entity_id]})
    states = {g.user: g.state for g in access.list_grants(lv, now=now(), customer=c)}
    assert states[lead.name] == "group-without-record"
    # the ghost entry has neither record nor group: revoke still takes it out
    with pytest.raises(NotFound, match="has no grant"):
        access.revoke(lv, ghost.name, c)
    assert ghost.name not in ledger(server)[c]
    access.revoke(lv, lead.name, c)


def test_revoke_and_offboarding_take_entries_out(server, lead):
    lv = server.gateway(lead.login().token)
    cs = customers(server, 3, "lgo")
    leaver, stayer = new_person(server, "engineer"), new_person(server, "engineer")
    for c in cs:
        access.grant(lv, leaver.name, c, now=now())
        access.grant(lv, stayer.name, c, now=now(), duration=timedelta(hours=1) if c == cs[2] else None)
    access.revoke(lv, stayer.name, cs[0])
    offboarding.offboard(lv, leaver.name, now=now())
    got = ledger(server)
    for c in cs:
        assert leaver.name not in got.get(c, {})
    assert stayer.name not in got.get(cs[0], {})
    assert got[cs[2]][stayer.name]["kind"] == "jit" and got[cs[2]][stayer.name]["accessor"]
    assert access.ledger_differences(lv) == [] or all(
        not d.startswith(tuple(cs)) for d in access.ledger_differences(lv))


def test_without_a_ledger_the_records_still_list_and_doctor_or_a_write_builds_it(own_server):
    """An installation from before the ledger: records only. `access list`
    reads them (the slow way), doctor reports the missing ledger and --repair
    writes it; the first grant or revoke builds it too, keeping every record."""
    root = own_server.gateway()
    rootc = own_server.root()
    lead = new_person(own_server, "team-lead")
    lv = own_server.gateway(lead.login().token)
    cs = [provision_customer(rootc, f"lgm-{secrets.token_hex(3)}").name for _ in range(2)]
    engineers = [new_person(own_server, "engineer") for _ in range(3)]
    for c in cs:
        for e in engineers:
            access.grant(lv, e.name, c, now=now(), reason="before the upgrade")
    before = access.list_grants(lv, now=now())
    assert len(before) == 6
    root.delete(f"{KV}/metadata/_grants/{access.LEDGER}")  # as before the ledger existed
    assert access.list_grants(lv, now=now()) == before
    findings = [f for f in doctor.examine(root, now=now()).findings if f.problem == "ledger-out-of-date"]
    assert len(findings) == 1 and "none yet" in findings[0].detail
    report = doctor.examine(root, now=now(), repair=True)
    assert all(f.repaired for f in report.findings if f.problem == "ledger-out-of-date")
    assert [f for f in doctor.examine(root, now=now()).findings if f.area == "grant"] == []
    cv = counting(own_server, lv.token)
    assert access.list_grants(cv, now=now()) == before and len(cv.sent) == 2

    # again without a ledger: this time the first write builds it from the records
    root.delete(f"{KV}/metadata/_grants/{access.LEDGER}")
    late = new_person(own_server, "engineer")
    access.grant(lv, late.name, cs[0], now=now())
    got = unpacked(own_server.gateway().read(LEDGER)["data"]["data"])
    assert sorted(got[cs[0]]) == sorted([e.name for e in engineers] + [late.name])
    assert sorted(got[cs[1]]) == sorted(e.name for e in engineers)
    assert access.ledger_differences(root) == []


def test_erase_leaves_no_entry_in_any_version_of_the_ledger(server, cli, make_user):
    admin = make_user("admin").token()
    lead = make_user("team-lead")
    eng, jit = make_user("engineer"), make_user("engineer")
    c = f"lgx-{secrets.token_hex(3)}"
    assert cli("customer", "add", c, "--company", "Gone BV", token=admin).returncode == 0
    for args in ((eng.name, c, "--reason", "INC-1"), (jit.name, c, "--for", "2h", "--reason", "INC-2")):
        r = cli("grant", *args, token=lead.token())
        assert r.returncode == 0, r.stderr
    assert sorted(ledger(server)[c]) == sorted([eng.name, jit.name])
    # an entry with neither record nor group (a team lead's write) is swept too
    body = raw(server.root(), "GET", LEDGER)["data"]
    grants = unpacked(body["data"])
    grants[c]["stray"] = {"kind": "standing", "reason": "Gone BV contract"}
    raw(server.root(), "POST", LEDGER, {"options": {"cas": body["metadata"]["version"]}, "data": packed(grants)})
    r = cli("customer", "erase", c, "--reason", "erasure request", token=admin, input=f"{c}\n")
    assert r.returncode == 0, r.stderr
    root = server.root()
    meta = raw(root, "GET", f"{KV}/metadata/_grants/{access.LEDGER}")["data"]
    current = meta["current_version"]
    assert c not in ledger(server)
    for v, info in meta["versions"].items():
        if int(v) == current:
            continue
        assert info["destroyed"] or c not in json.dumps(unpacked(raw(root, "GET", f"{LEDGER}?version={v}")["data"]["data"])), v


def test_hundreds_of_grants_fit_and_garbage_is_never_trusted(own_server):
    """OpenBao refuses request bodies of ~1000 JSON strings: the ledger is
    one packed string, so 300 entries write and read back. A ledger that is
    not a ledger (forged, or a zip bomb) is ignored: the records are read."""
    root = own_server.gateway()
    c = provision_customer(own_server.root(), f"lgb-{secrets.token_hex(3)}").name
    for i in range(300):
        root.write(f"{KV}/data/_grants/{c}/u{i:03d}", {"options": {"cas": 0}, "data": {
            "user": f"u{i:03d}", "customer": c, "kind": "standing", "granted_by": "lead", "reason": f"ticket {i}"}})
    assert access.rebuild_ledger(root) >= 300
    got = access.list_grants(root, now=now(), customer=c)
    assert len(got) == 300 and {g.state for g in got} == {"record-without-group"}
    assert got[7].reason == "ticket 7"
    for forged in ({"format": 1, "z": "not base64 !"},
                   {"format": 1, "z": base64.b64encode(zlib.compress(b"0" * (access.LEDGER_MAX_BYTES + 1))).decode()},
                   {"format": 2, "grants": {}}):
        cas = root.read(f"{KV}/metadata/_grants/{access.LEDGER}")["data"]["current_version"]
        root.write(LEDGER, {"options": {"cas": cas}, "data": forged})
        cv = counting(own_server, root.token)
        assert access.list_grants(cv, now=now(), customer=c) == got  # from the records
        assert len(cv.sent) > 2
    assert [f.problem for f in doctor.examine(root, now=now()).findings if f.subject == "ledger"] == [
        "ledger-out-of-date"]
    for i in range(300):
        root.delete(f"{KV}/metadata/_grants/{c}/u{i:03d}")
    access.rebuild_ledger(root)
