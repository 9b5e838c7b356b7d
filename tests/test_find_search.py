"""find's search forms (issue 15) and its per-person copies: substring and
case-insensitive text, subnet, MAC vendor prefix and vendor name; an
engineer's find reads one document whatever the number of grants, and Vault
keeps everyone out of the search documents they are not granted."""

from __future__ import annotations

import secrets
import time

import hvac
import pytest

from access_helpers import raw
from test_records_helpers import kv_get

KV = "netvault"


# -- pure matching (no server) -------------------------------------------------
def test_parse_term_forms():
    from netvault.records.search import parse_term

    assert parse_term("00:23:04:aa:bb:cc") == ("mac", "002304aabbcc")
    assert parse_term("00:23:04") == ("mac-prefix", "002304")
    assert parse_term("00-23-04") == ("mac-prefix", "002304")
    assert parse_term("10.10.0.0/24") == ("subnet", "10.10.0.0/24")
    assert parse_term("10.10.0.77/24") == ("subnet", "10.10.0.0/24")
    assert parse_term("2001:db8::/32") == ("subnet", "2001:db8::/32")
    assert parse_term("10.0.0.1") == ("ip", "10.0.0.1")
    assert parse_term("  Meter Cupboard ") == ("text", "meter cupboard")
    assert parse_term("GS108") == ("text", "gs108")


def test_matches_each_field_case_insensitively():
    from netvault.records.search import device_entry, credential_entry, matches

    dev = device_entry({"kind": "switch", "macs": ["002304aabbcc"], "ips": ["10.10.0.5", "2001:db8::5"],
                        "model": "GS108-PoE", "serial": "SN-00XY", "location": "Meter Cupboard",
                        "tags": ["Floor-2"]}, 3, ["Cisco Systems, Inc"])
    for key in ("gs108", "sn-00xy", "cupboard", "floor-2", "cisco", "switch", "core-s"):
        assert matches("text", key, "devices", "core-sw1", dev), key
    assert not matches("text", "juniper", "devices", "core-sw1", dev)
    assert matches("mac", "002304aabbcc", "devices", "x", dev)
    assert matches("mac-prefix", "002304", "devices", "x", dev)
    assert not matches("mac-prefix", "002305", "devices", "x", dev)
    assert matches("ip", "10.10.0.5", "devices", "x", dev)
    assert matches("subnet", "10.10.0.0/24", "devices", "x", dev)
    assert not matches("subnet", "10.10.1.0/24", "devices", "x", dev)
    assert matches("subnet", "2001:db8::/64", "devices", "x", dev)
    cred = credential_entry({"tags": ["VPN"]}, 1)
    assert matches("text", "vpn", "credentials", "fw-admin", cred)
    assert matches("text", "admin", "credentials", "fw-admin", cred)
    assert not matches("mac-prefix", "002304", "credentials", "fw-admin", cred)


def test_pack_unpack_and_changes():
    from netvault.records.search import apply_changes, pack, unpack

    doc = {"devices": {}, "credentials": {}}
    assert apply_changes(doc, {("devices", "a"): {"n": 2, "k": "nas"}})
    assert not apply_changes(doc, {("devices", "a"): {"n": 1, "k": "old"}}, only_newer=True)
    assert apply_changes(doc, {("devices", "a"): None})
    assert unpack(pack({"devices": {"x": {"n": 1}}, "credentials": {}})) == {"devices": {"x": {"n": 1}}, "credentials": {}}
    # planted junk never breaks find: it reads as empty
    for junk in (None, "", "not base64!", "aGVsbG8=", 5):
        assert unpack(junk) == {"devices": {}, "credentials": {}}


# -- against the real server -----------------------------------------------------
@pytest.fixture
def world(server, make_user, unique, cli):
    admin = make_user("admin").token()
    lead = make_user("team-lead").token()
    eng = make_user("engineer")
    a, b = unique("sa"), unique("sb")
    for c in (a, b):
        assert cli("customer", "add", c, token=admin).returncode == 0
    r = cli("grant", eng.name, a, token=lead)
    assert r.returncode == 0, r.stderr
    net = f"10.{secrets.randbelow(200) + 20}.{secrets.randbelow(250)}"
    tag = unique("tag")
    cisco = "00:23:04:" + ":".join(secrets.token_hex(1) for _ in range(3))
    for c in (a, b):
        r = cli("device", "add", f"{c}/core-sw1", "--kind", "switch", "--mac", cisco if c == a else "02" + secrets.token_hex(5),
                "--ip", f"{net}.5", "--model", "GS108-PoE", "--serial", f"SN-{c}", "--location", "Meter Cupboard",
                "--tag", tag, "--force", token=lead)
        assert r.returncode == 0, r.stderr
        r = cli("credential", "add", f"{c}/vpn-admin", "--username", "admin", "--generate", "--tag", tag, token=lead)
        assert r.returncode == 0, r.stderr
    return {"a": a, "b": b, "lead": lead, "admin": admin, "eng": eng, "net": net, "tag": tag, "cisco": cisco}


def _found(cli, term, token):
    r = cli("find", term, "--json", token=token)
    assert r.returncode in (0, 3), r.stderr
    return sorted((h["customer"], h["type"], h["device"]) for h in (r.json()["results"] if r.returncode == 0 else []))


def test_every_search_form_as_engineer_sees_only_granted(world, cli):
    a, eng = world["a"], world["eng"].token()
    dev, cred = (a, "device", "core-sw1"), (a, "credential", "vpn-admin")
    assert _found(cli, "CORE-SW", eng) == [dev]                      # device name, substring, any case
    assert _found(cli, "gs108-poe", eng) == [dev]                    # model
    assert _found(cli, f"sn-{a}".upper(), eng) == [dev]              # serial
    assert _found(cli, "meter cupboard", eng) == [dev]               # location
    assert _found(cli, world["tag"].upper(), eng) == sorted([dev, cred])     # tags of devices and credentials
    assert _found(cli, "VPN-ADM", eng) == [cred]                     # credential name
    assert _found(cli, f"{world['net']}.0/24", eng) == [dev]         # subnet
    assert _found(cli, f"{world['net']}.5", eng) == [dev]            # IP
    assert _found(cli, "00:23:04", eng) == [dev]                     # MAC vendor prefix
    assert _found(cli, "cisco", eng) == [dev]                        # vendor name (netaddr OUI)
    assert _found(cli, world["cisco"], eng) == [dev]                 # full MAC
    # a team lead sees both customers, by the same forms
    b = world["b"]
    assert _found(cli, world["tag"], world["lead"]) == sorted([dev, cred, (b, "device", "core-sw1"), (b, "credential", "vpn-admin")])
    assert _found(cli, f"{world['net']}.0/24", world["lead"]) == [dev, (b, "device", "core-sw1")]
    r = cli("find", "meter cupboard", token=eng)
    assert r.returncode == 0 and "core-sw1" in r.stdout and world["b"] not in r.stdout


def test_engineer_reads_one_copy_and_vault_guards_every_other(world, server):
    """The engineer's find reads `_reach/<own entity>`; raw hvac proves the
    token can read neither another customer's search document nor another
    person's copy."""
    eng, a, b = world["eng"], world["a"], world["b"]
    from netvault.records.search import copies

    assert set(copies(kv_get(server, f"_reach/{eng.entity_id}"))) == {a}   # only the granted customer
    client = eng.login()
    got = raw(client, "GET", f"{KV}/data/_reach/{eng.entity_id}")
    assert set(copies(got["data"]["data"])) == {a}
    assert raw(client, "GET", f"{KV}/data/customers/{a}/_index/search")["data"]["data"]["z"]
    with pytest.raises(hvac.exceptions.Forbidden):
        raw(client, "GET", f"{KV}/data/customers/{b}/_index/search")
    with pytest.raises(hvac.exceptions.Forbidden):
        raw(client, "GET", f"{KV}/data/_readers/{a}")
    with pytest.raises(hvac.exceptions.Forbidden):
        raw(client, "POST", f"{KV}/data/_reach/{eng.entity_id}", {"data": {"c": "{}"}, "options": {"cas": 1}})
    # another engineer's copy
    from people import new_user

    other = new_user(server, "engineer")
    with pytest.raises(hvac.exceptions.Forbidden):
        raw(other.login(), "GET", f"{KV}/data/_reach/{eng.entity_id}")


def test_revoke_and_regrant_keep_the_copy_true(world, cli, server):
    eng, a, lead = world["eng"], world["a"], world["lead"]
    assert cli("revoke", eng.name, a, token=lead).returncode == 0
    from netvault.records.search import copies

    assert a not in copies(kv_get(server, f"_reach/{eng.entity_id}") or {})
    assert eng.entity_id not in (kv_get(server, f"_readers/{a}") or {}).get("e", "{}")
    assert _found(cli, "core-sw", eng.token()) == []
    assert cli("grant", eng.name, a, token=lead).returncode == 0
    assert _found(cli, "core-sw", eng.token()) == [(a, "device", "core-sw1")]


def test_copy_follows_writes_rm_and_undelete(world, cli, server):
    eng, a, lead = world["eng"], world["a"], world["lead"]
    r = cli("device", "add", f"{a}/nas-backup", "--kind", "nas", "--model", "DS920+", token=lead)
    assert r.returncode == 0, r.stderr
    assert _found(cli, "ds920", eng.token()) == [(a, "device", "nas-backup")]
    assert cli("device", "edit", f"{a}/nas-backup", "--model", "RS1221", token=lead).returncode == 0
    assert _found(cli, "ds920", eng.token()) == []
    assert _found(cli, "rs1221", eng.token()) == [(a, "device", "nas-backup")]
    assert cli("device", "rm", f"{a}/nas-backup", "--yes", token=lead).returncode == 0
    assert _found(cli, "rs1221", eng.token()) == []
    assert cli("device", "undelete", f"{a}/nas-backup", token=lead).returncode == 0
    assert _found(cli, "rs1221", eng.token()) == [(a, "device", "nas-backup")]
    assert cli("credential", "rm", f"{a}/vpn-admin", "--yes", token=lead).returncode == 0
    assert _found(cli, "vpn-adm", eng.token()) == []
    # the engineer's copy is what changed, not only the customer's document
    from netvault.records import search

    copy = search.copies(kv_get(server, f"_reach/{eng.entity_id}"))[a]
    assert "vpn-admin" not in search.unpack(copy["z"])["credentials"]
    assert "nas-backup" in search.unpack(copy["z"])["devices"]


def test_a_copy_planted_for_an_ungranted_customer_is_not_shown(world, cli, server):
    """A copy can hold only what a team lead put there; find shows only
    customers the token itself is granted."""
    eng, b = world["eng"], world["b"]
    root = server.root()
    doc = kv_get(server, f"customers/{b}/_index/search")
    from netvault.records.search import copies, reach_data

    cur = copies(kv_get(server, f"_reach/{eng.entity_id}"))
    meta = root.secrets.kv.v2.read_secret_metadata(path=f"_reach/{eng.entity_id}", mount_point=KV)["data"]
    cur[b] = {"z": doc["z"], "n": 1}
    root.secrets.kv.v2.create_or_update_secret(path=f"_reach/{eng.entity_id}", secret=reach_data(cur),
                                               cas=meta["current_version"], mount_point=KV)
    assert world["b"] not in {c for c, _, _ in _found(cli, "core-sw", eng.token())}


def test_grants_made_outside_netvault_are_still_searched(world, cli, server):
    """A grant group made by hand has no copy: find reads that customer's
    search document directly."""
    from test_records_helpers import grant

    eng, b = world["eng"], world["b"]
    grant(server, b, eng)
    assert _found(cli, "vpn-adm", eng.token()) == [(world["a"], "credential", "vpn-admin"), (b, "credential", "vpn-admin")]


def test_time_limited_grant_searches_until_it_expires(world, cli, server, make_user):
    """A time-limited grant is never copied (Vault expires it by itself, a
    copy would not); find searches it with its own token, until Vault refuses."""
    eng2 = make_user("engineer")
    b, lead = world["b"], world["lead"]
    r = cli("grant", eng2.name, b, "--for", "8s", "--reason", "INC-9", token=lead)
    assert r.returncode == 0, r.stderr
    from netvault.records.search import copies

    assert b not in copies(kv_get(server, f"_reach/{eng2.entity_id}") or {})
    login = eng2.token()
    assert _found(cli, "core-sw", login) == [(b, "device", "core-sw1")]
    time.sleep(9)
    # nothing found, and said why (issue 15): the access ended, exit 4
    r = cli("find", "core-sw", "--json", token=login)
    assert r.returncode == 4 and f"your access to {b} expired at" in r.stderr, r.stderr
    assert r.json()["results"] == []


def test_doctor_rebuilds_a_missing_search_document(world, cli, server):
    """A customer whose search document is gone (made before it existed, or
    removed): doctor reports it, --repair rebuilds it from the records and
    refreshes the engineer's copy, and text search finds the records again."""
    from datetime import datetime, timezone

    from netvault.server import doctor
    from netvault.records import search

    a, eng = world["a"], world["eng"]
    root = server.root()
    root.secrets.kv.v2.delete_metadata_and_all_versions(path=f"customers/{a}/_index/search", mount_point=KV)
    lead = server.gateway(world["lead"])
    report = doctor.examine(lead, now=datetime.now(timezone.utc))
    mine = [f for f in report.findings if f.area == "search" and f.subject == a]
    assert [f.problem for f in mine] == ["missing-search-document"]
    report = doctor.examine(lead, now=datetime.now(timezone.utc), repair=True)
    assert [f.repaired for f in report.findings if f.area == "search" and f.subject == a] == [True]
    doc = search.unpack(kv_get(server, f"customers/{a}/_index/search")["z"])
    assert set(doc["devices"]) == {"core-sw1"} and set(doc["credentials"]) == {"vpn-admin"}
    assert _found(cli, "meter cup", eng.token()) == [(a, "device", "core-sw1")]
    again = doctor.examine(lead, now=datetime.now(timezone.utc))
    assert not [f for f in again.findings if f.area == "search" and f.subject == a]


def test_union_entry_matches_old_and_new():
    from netvault.records.search import device_entry, matches, union_entry

    old = device_entry({"kind": "nas", "macs": ["001122334455"], "model": "DS920"}, 2)
    new = device_entry({"kind": "nas", "macs": ["00aabbccddee"], "model": "RS1221"}, 0)
    both = union_entry(old, new)
    for form, key in (("mac", "001122334455"), ("mac", "00aabbccddee"), ("text", "ds920"), ("text", "rs1221")):
        assert matches(form, key, "devices", "nas1", both), key
    assert union_entry(None, new) == new


def test_prefilter_never_hides_a_match():
    """search_blob skips parsing a document that cannot match; it must find
    exactly what a full parse finds, escapes and non-ASCII text included."""
    from netvault.records.search import device_entry, pack, search, search_blob, unpack

    doc = {"devices": {
        "a": device_entry({"macs": ["002304aabbcc"], "ips": ["10.10.0.5"], "location": "Kelvin \u212a room"}, 1),
        "b": device_entry({"ips": ["10.10.1.7", "2001:db8::7"], "model": 'say "hi" \\ there', "tags": ["\u00c9tage"]}, 1),
    }, "credentials": {}}
    blob = pack(doc)
    for form, key in (("text", "k room"), ("text", "\u00e9tage"), ("text", '"hi"'), ("text", "there"), ("text", "zzz"),
                      ("mac", "002304aabbcc"), ("mac-prefix", "002304"), ("ip", "10.10.1.7"),
                      ("subnet", "10.10.0.0/24"), ("subnet", "10.10.0.0/23"), ("subnet", "10.0.0.0/9"),
                      ("subnet", "2001:db8::/64"), ("subnet", "10.11.0.0/16")):
        assert search_blob("c", blob, form, key) == search("c", unpack(blob), form, key), (form, key)
    assert search_blob("c", blob, "subnet", "10.10.0.0/23") and not search_blob("c", blob, "subnet", "10.11.0.0/16")


def test_offboarding_removes_the_persons_copy(world, cli, server):
    eng, a, lead = world["eng"], world["a"], world["lead"]
    assert kv_get(server, f"_reach/{eng.entity_id}") is not None
    r = cli("engineer", "offboard", eng.name, "--yes", "--json", "--audit-file", str(server.audit_file), token=lead)
    assert r.returncode == 0, r.stderr
    assert kv_get(server, f"_reach/{eng.entity_id}") is None
    assert eng.entity_id not in (kv_get(server, f"_readers/{a}") or {}).get("e", "{}")
