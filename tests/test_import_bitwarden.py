"""import bitwarden: JSON built from Bitwarden's documented export format, real CLI."""

from __future__ import annotations

import json

import pytest

from import_helpers import errors, lines, reveal, shared_world, world as make_world
from test_records_helpers import kv_get

SEED = "JBSWY3DPEHPK3PXPJBSWY3DP"


@pytest.fixture
def world(server, make_user, unique, cli):
    return make_world(server, make_user, unique, cli, customers=2)


@pytest.fixture(scope="module")
def refused_world(server, module_cli):
    """One world for the tests whose imports are all refused (nothing written)."""
    return shared_world(server, module_cli)


def _login(id_, name, username, password, *, uris=(), totp=None, fields=(), collections=None, folder=None, notes=None):
    return {
        "id": id_, "organizationId": "0d3c7a3e-org" if collections else None, "folderId": folder, "type": 1,
        "reprompt": 0, "name": name, "notes": notes, "favorite": False,
        "fields": [{"name": n, "value": v, "type": t, "linkedId": 100 if t == 3 else None} for n, v, t in fields],
        "login": {"uris": [{"match": None, "uri": u} for u in uris], "username": username, "password": password, "totp": totp},
        "collectionIds": collections,
    }


def _export(c1_name="Acme BV", c2_name="Beta"):
    return {
        "encrypted": False,
        "collections": [
            {"id": "c0000001-0000-0000-0000-000000000001", "organizationId": "0d3c7a3e-org", "name": c1_name, "externalId": None},
            {"id": "c0000001-0000-0000-0000-000000000002", "organizationId": "0d3c7a3e-org", "name": c2_name, "externalId": None},
            {"id": "c0000001-0000-0000-0000-000000000003", "organizationId": "0d3c7a3e-org", "name": "Internal", "externalId": None},
        ],
        "folders": [{"id": "f0000001-0000-0000-0000-000000000001", "name": "Routers"}],
        "items": [
            _login("a1b2c3d4-0000-4000-8000-000000000001", "Firewall admin", "admin", "Bw-Pa55!;x",
                   uris=["https://192.0.2.1:8443", "https://fw.acme.example"], totp=f"otpauth://totp/fw?secret={SEED}",
                   fields=[("API token", "tok-998877", 1), ("Rack", "B3", 0), ("Managed", "true", 2), ("User", None, 3)],
                   collections=["c0000001-0000-0000-0000-000000000001"], folder="f0000001-0000-0000-0000-000000000001",
                   notes="line one\r\nline two"),
            _login("a1b2c3d4-0000-4000-8000-000000000002", "Shared portal", "msp", "portal-pw", uris=["portal.example.net"],
                   totp=SEED, collections=["c0000001-0000-0000-0000-000000000001", "c0000001-0000-0000-0000-000000000002"]),
            _login("a1b2c3d4-0000-4000-8000-000000000003", "", "x", "untitled-pw",
                   collections=["c0000001-0000-0000-0000-000000000002"]),
            _login("a1b2c3d4-0000-4000-8000-000000000004", "Our own wiki", "me", "wiki-pw",
                   collections=["c0000001-0000-0000-0000-000000000003"]),
            {"id": "a1b2c3d4-0000-4000-8000-000000000005", "type": 2, "name": "Alarm code", "notes": "1234",
             "secureNote": {"type": 0}, "collectionIds": ["c0000001-0000-0000-0000-000000000001"]},
            {"id": "a1b2c3d4-0000-4000-8000-000000000006", "type": 3, "name": "Company card",
             "card": {"number": "4111111111111111"}, "collectionIds": ["c0000001-0000-0000-0000-000000000001"]},
        ],
    }


def test_bitwarden_org_export_imports_revealable_then_unchanged(server, world, cli, tmp_path):
    c1, c2 = world["customers"]
    lead, eng = world["lead"], world["eng"]
    path = tmp_path / "bitwarden_org_export.json"
    path.write_text(json.dumps(_export()))
    args = ["import", "bitwarden", str(path), "--map", f"Acme BV={c1}", "--map", f"Beta={c2}", "--json"]
    r = cli(*args, token=lead)
    assert r.returncode == 0, r.stderr
    assert "Bw-Pa55" not in r.stdout + r.stderr and "4111" not in r.stdout + r.stderr
    out = {o["source"]: o for o in lines(r)}
    assert out["Acme BV/Firewall admin"]["name"] == "firewall-admin" and out["Acme BV/Firewall admin"]["action"] == "created"
    assert out["Acme BV/Shared portal"]["customer"] == c1 and out["Beta/Shared portal"]["customer"] == c2
    assert out["Beta/(untitled a1b2c3d4)"]["name"] == "entry-a1b2c3d4"
    assert out["Internal/Our own wiki"]["action"] == "skipped" and "mapped" in out["Internal/Our own wiki"]["reason"]
    assert out["Acme BV/Alarm code"] == {"source": "Acme BV/Alarm code", "customer": None, "name": None,
                                         "action": "skipped", "reason": "a secure note, not a login: not imported"}
    assert out["Acme BV/Company card"]["action"] == "skipped"
    for ref, password in ((f"{c1}/firewall-admin", "Bw-Pa55!;x"), (f"{c1}/shared-portal", "portal-pw"),
                          (f"{c2}/shared-portal", "portal-pw"), (f"{c2}/entry-a1b2c3d4", "untitled-pw")):
        assert reveal(cli, eng, ref) == password, ref
    assert reveal(cli, eng, f"{c1}/firewall-admin", "totp") == SEED
    assert reveal(cli, eng, f"{c2}/shared-portal", "totp") == SEED
    assert reveal(cli, eng, f"{c1}/firewall-admin", "api-token") == "tok-998877"
    fw = kv_get(server, f"customers/{c1}/credentials/firewall-admin")
    assert fw["url"] == "https://192.0.2.1:8443" and fw["username"] == "admin"
    assert fw["notes"] == "line one\nline two\nURL: https://fw.acme.example\nRack: B3\nManaged: true"
    assert fw["tags"] == ["acme-bv", "routers"] and set(fw["secrets"]) == {"password", "totp", "api-token"}
    r = cli(*args, token=lead)
    assert r.returncode == 0, r.stderr
    assert {o["action"] for o in lines(r)} == {"unchanged", "skipped"}


def test_bitwarden_personal_export_with_folders_and_customer(server, world, cli, tmp_path):
    c1 = world["c"]
    doc = _export()
    doc.pop("collections")
    for item in doc["items"]:
        item["collectionIds"] = None
    path = tmp_path / "personal.json"
    path.write_text(json.dumps(doc))
    r = cli("import", "bitwarden", str(path), "--map", f"Routers={c1}", "--json", token=world["lead"])
    assert r.returncode == 0, r.stderr
    created = [o for o in lines(r) if o["action"] == "created"]
    assert [(o["source"], o["name"]) for o in created] == [("Routers/Firewall admin", "firewall-admin")]
    r = cli("import", "bitwarden", str(path), "--customer", c1, "--json", token=world["lead"])
    assert r.returncode == 0, r.stderr
    acts = {o["name"]: o["action"] for o in lines(r) if o["name"]}
    assert acts == {"firewall-admin": "unchanged", "shared-portal": "created", "entry-a1b2c3d4": "created",
                    "our-own-wiki": "created"}


@pytest.mark.parametrize("doc, needle", [
    ({"encrypted": True, "passwordProtected": True, "salt": "c2FsdA==", "kdfType": 0, "kdfIterations": 600000,
      "encKeyValidation_DO_NOT_EDIT": "2.x|y|z", "data": "2.aaa|bbb|ccc"}, "encrypted Bitwarden export"),
    ({"encrypted": True, "encKeyValidation_DO_NOT_EDIT": "2.x|y|z", "folders": [], "items": [
        {"id": "1", "type": 1, "name": "2.abc|def|ghi", "login": {"password": "2.q|r|s"}}]}, "encrypted Bitwarden export"),
    ("{not json", "not valid JSON (line 1, column 2)"),
    ({"something": "else"}, "not a Bitwarden export"),
])
def test_bitwarden_refused(server, refused_world, cli, tmp_path, doc, needle):
    world = refused_world
    path = tmp_path / "bw.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    r = cli("import", "bitwarden", str(path), "--customer", world["c"], token=world["lead"])
    assert r.returncode == 2, r.stderr
    assert len(errors(r)) == 1 and needle in r.stderr, r.stderr
    assert server.root().secrets.kv.v2.list_secrets(path=f"customers/{world['c']}", mount_point="netvault")["data"]["keys"] == ["_ids/", "_index/", "profile"]


def test_bitwarden_bad_totp_reports_item_and_writes_nothing(server, refused_world, cli, tmp_path):
    world = refused_world
    doc = _export()
    doc["items"][1]["login"]["totp"] = "steam://ABCDEFGH"
    path = tmp_path / "bw.json"
    path.write_text(json.dumps(doc))
    r = cli("import", "bitwarden", str(path), "--customer", world["c"], token=world["lead"])
    assert r.returncode == 2, r.stderr
    assert "error: Acme BV/Shared portal: TOTP seed must be base32" in r.stderr
    assert "ABCDEFGH" not in r.stderr
    assert kv_get(server, f"customers/{world['c']}/credentials/firewall-admin") is None
