"""Issue 8 item 8: `audit exposure` says "rotated" only when each revealed value was replaced.

Every change is made with a raw client (hvac as root or as the team lead would
with curl) or with netvault's own record store; every reveal is a raw transit
decrypt. A new KV version alone (an unrelated edit, a rotate-key rewrap, the
same value sealed again, a forged stamp) is not a rotation.
"""

from __future__ import annotations

import base64

import pytest

from audit_helpers import log_size, slice_log
from netvault.audit.exposure import exposure
from netvault.records.store import Store


@pytest.fixture
def store_customer(server, unique):
    store = Store(server.gateway())
    slug = unique("expo")
    store.add_customer(slug, {"company": "Expo BV"})
    return store, slug


def _reveal(root, slug: str, name: str, reference: str = "INC-1", kind: str = "credentials") -> None:
    rec = root.secrets.kv.v2.read_secret_version(f"customers/{slug}/{kind}/{name}", mount_point="netvault",
                                                 raise_on_deleted_version=True)["data"]["data"]
    ctx = base64.b64encode(rec["id"].encode()).decode()
    for ct in rec["secrets"].values():
        root.write(f"netvault-transit/decrypt/customer-{slug}", ciphertext=ct, context=ctx, reference=reference)


def _status(server, paths, vault=None):
    rows = exposure("root", paths=[str(p) for p in paths], vault=vault or server.gateway())
    return {x.record: x for x in rows}


def _raw_put(root, slug, name, change, kind="credentials"):
    """A raw KV write of a new version (what a team lead can do with curl)."""
    got = root.secrets.kv.v2.read_secret_version(f"customers/{slug}/{kind}/{name}", mount_point="netvault",
                                                 raise_on_deleted_version=True)["data"]
    data = change(dict(got["data"]))
    root.secrets.kv.v2.create_or_update_secret(f"customers/{slug}/{kind}/{name}", data,
                                               cas=got["metadata"]["version"], mount_point="netvault")


def test_edit_and_rewrap_are_not_rotation_but_a_new_value_is(server, store_customer, tmp_path):
    store, slug = store_customer
    root = server.root()
    start = log_size(server.audit_file)
    for name in ("edited", "rewrapped", "rotated", "resealed", "untouched"):
        store.add_credential(slug, name, username="admin", secrets={"password": f"pw-{name}"})
        _reveal(root, slug, name)
    store.edit_credential(slug, "edited", url="https://fw.example")  # an unrelated field
    store.rotate_key(slug)  # every ciphertext rewrapped: "rewrapped" (and the others) get a new version
    store.set_secrets("credential", slug, "rotated", {"password": "a-new-one"})
    # a team lead seals the *same* value again and stores it: a new ciphertext, not a new value
    rec = root.secrets.kv.v2.read_secret_version(f"customers/{slug}/credentials/resealed", mount_point="netvault",
                                                 raise_on_deleted_version=True)["data"]["data"]
    same = root.secrets.transit.encrypt_data(f"customer-{slug}", base64.b64encode(b"pw-resealed").decode(),
                                             context=base64.b64encode(rec["id"].encode()).decode(),
                                             mount_point="netvault-transit")["data"]["ciphertext"]
    _raw_put(root, slug, "resealed", lambda d: {**d, "secrets": {"password": same},
                                                "secrets_changed": {"password": 99}})
    log = slice_log(server.audit_file, start, tmp_path / "audit.log")
    got = _status(server, [log])
    assert got["untouched"].status == "rotate" and got["untouched"].rotated_since is False
    assert got["edited"].status == "rotate", got["edited"].detail
    assert got["rewrapped"].status == "rotate", got["rewrapped"].detail
    assert got["resealed"].status == "rotate", got["resealed"].detail
    assert got["rotated"].status == "rotated", got["rotated"].detail
    assert got["rotated"].rotated_since is True and got["rotated"].rotated_at
    assert "audit trail" in got["rotated"].detail
    # the auditor reads the same from the trail (no read access to records needed)
    from people import new_user

    auditor = new_user(server, "auditor")
    got = _status(server, [log], vault=server.gateway(auditor.token()))
    assert {k: v.status for k, v in got.items()} == {
        "edited": "rotate", "rewrapped": "rotate", "resealed": "rotate", "rotated": "rotated", "untouched": "rotate"}


def test_only_the_revealed_field_counts(server, store_customer, tmp_path):
    store, slug = store_customer
    root = server.root()
    start = log_size(server.audit_file)
    store.add_credential(slug, "two", username="admin", secrets={"password": "p1", "enable": "e1"})
    rec = root.secrets.kv.v2.read_secret_version(f"customers/{slug}/credentials/two", mount_point="netvault",
                                                 raise_on_deleted_version=True)["data"]["data"]
    root.write(f"netvault-transit/decrypt/customer-{slug}", ciphertext=rec["secrets"]["enable"],
               context=base64.b64encode(rec["id"].encode()).decode(), reference="INC-2")
    store.set_secrets("credential", slug, "two", {"password": "p2"})  # not the revealed field
    log = slice_log(server.audit_file, start, tmp_path / "a.log")
    assert _status(server, [log])["two"].status == "rotate"
    store.set_secrets("credential", slug, "two", {"enable": "e2"})
    log = slice_log(server.audit_file, start, tmp_path / "a.log")
    assert _status(server, [log])["two"].status == "rotated"


def test_stamp_is_confirmed_against_the_kv_history(server, store_customer, tmp_path):
    """The audit files hold the reveal but not the later writes: the record's stamp decides,
    and only when the KV history confirms it."""
    store, slug = store_customer
    root = server.root()
    start = log_size(server.audit_file)
    for name in ("real", "forged", "rewrapped", "edited"):
        store.add_credential(slug, name, username="admin", secrets={"password": f"pw-{name}"})
        _reveal(root, slug, name)
    log = slice_log(server.audit_file, start, tmp_path / "reveals.log")  # nothing after the reveals
    store.set_secrets("credential", slug, "real", {"password": "changed"})
    store.edit_credential(slug, "edited", notes="moved to rack 2")
    # forged: a new version with the old ciphertext and a stamp claiming a change
    _raw_put(root, slug, "forged", lambda d: {**d, "username": "x", "secrets_changed": {"password": 2}})
    store.rotate_key(slug)
    got = _status(server, [log])
    assert got["real"].status == "rotated", got["real"].detail
    assert "record stamp" in got["real"].detail
    assert got["forged"].status == "rotate" and "did not change" in got["forged"].detail
    assert got["rewrapped"].status == "rotate", got["rewrapped"].detail
    assert got["edited"].status == "rotate", got["edited"].detail
    # an auditor may not read records: newer versions outside the files are unknown, never "rotated"
    from people import new_user

    auditor = new_user(server, "auditor")
    got = _status(server, [log], vault=server.gateway(auditor.token()))
    assert {x.status for x in got.values()} == {"unknown"}
    assert "read access" in got["real"].detail


def test_record_without_stamp_is_unknown_not_rotated(server, unique, tmp_path):
    """A record written before netvault stamped changes (the test helper writes none)."""
    from audit_helpers import Customer

    root = server.root()
    c = Customer(root, unique("legacy"))
    c.add_credential("old", "pw")
    start = log_size(server.audit_file)
    assert c.reveal(root, "old", "INC-5")
    log = slice_log(server.audit_file, start, tmp_path / "r.log")
    c.update_credential("old", "pw-2", version=1)
    x = _status(server, [log])["old"]
    assert x.status == "unknown" and "no change record" in x.detail
    # with the audit entries of the change, the trail proves it
    full = slice_log(server.audit_file, start, tmp_path / "full.log")
    assert _status(server, [full])["old"].status == "rotated"


def test_exposure_cli_shows_the_evidence(server, store_customer, cli, tmp_path):
    store, slug = store_customer
    root = server.root()
    start = log_size(server.audit_file)
    store.add_credential(slug, "fw", username="admin", secrets={"password": "pw"})
    _reveal(root, slug, "fw")
    store.edit_credential(slug, "fw", url="https://fw.example")
    log = slice_log(server.audit_file, start, tmp_path / "audit.log")
    r = cli("audit", "exposure", "root", "--file", str(log), "--json", token=server.root_token)
    assert r.returncode == 0, r.stderr
    import json

    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(x["record"], x["status"]) for x in rows] == [("fw", "rotate")]
    assert "no new value sealed" in rows[0]["detail"]
    r = cli("audit", "exposure", "root", "--file", str(log), token=server.root_token)
    assert "EVIDENCE" in r.stdout and "1 credential(s) to rotate" in r.stderr


def test_records_stamp_new_values_only(server, store_customer):
    store, slug = store_customer
    store.add_credential(slug, "s", username="admin", secrets={"password": "a", "enable": "b"})

    def stamps():
        return server.root().secrets.kv.v2.read_secret_version(
            f"customers/{slug}/credentials/s", mount_point="netvault", raise_on_deleted_version=True
        )["data"]["data"]["secrets_changed"]

    assert stamps() == {"password": 1, "enable": 1}
    store.edit_credential(slug, "s", username="root")  # v2
    store.set_secrets("credential", slug, "s", {"enable": "c"})  # v3
    store.rotate_key(slug)  # v4: rewrap keeps the stamps
    assert stamps() == {"password": 1, "enable": 3}
    store.set_secrets("credential", slug, "s", {}, remove=["enable"])  # v5
    assert stamps() == {"password": 1}
