"""import keepass: a .kdbx made here with pykeepass, imported through the real CLI."""

from __future__ import annotations

import pytest

from import_helpers import errors, lines, reveal, world as make_world
from test_records_helpers import kv_exists, kv_get

PASSWORD = "correct horse battery staple"
SEED = "JBSWY3DPEHPK3PXPJBSWY3DP"


@pytest.fixture
def world(server, make_user, unique, cli):
    return make_world(server, make_user, unique, cli, customers=2)


def _database(path, keyfile=None):
    from pykeepass import create_database

    kp = create_database(str(path), password=PASSWORD, keyfile=str(keyfile) if keyfile else None)
    acme = kp.add_group(kp.root_group, "Acme")
    net = kp.add_group(acme, "Network")
    switches = kp.add_group(net, "Switches")
    other = kp.add_group(acme, "Office")
    beta = kp.add_group(kp.root_group, "Beta")
    personal = kp.add_group(kp.root_group, "Personal")
    fw = kp.add_entry(net, "Firewall Admin", "admin", "fw-Pa55;\"quoted\"", url="https://192.0.2.1:8443",
                      notes="Main firewall\r\nsecond line", otp=f"otpauth://totp/acme:admin?secret={SEED}&issuer=acme")
    fw.set_custom_property("API Key", "api-7f3e9c", protect=True)
    fw.set_custom_property("Serial", "FGT60F-123", protect=False)
    dup = kp.add_entry(other, "Firewall Admin", "office", "office-pw")
    ref = kp.add_entry(switches, "Core switch", f"{{REF:U@I:{fw.uuid.hex.upper()}}}",
                       f"{{REF:P@I:{fw.uuid.hex.upper()}}}", url="ssh://10.0.0.2")
    untitled = kp.add_entry(switches, "", "root", "untitled-pw")
    cyr = kp.add_entry(other, "Пароль роутера", "admin", "cyr-pw")
    kp.add_entry(other, "Café Wi-Fi", "", "koffie123")
    kp.add_entry(other, "Only a URL", "someone", "", url="https://nothing.example")
    trashed = kp.add_entry(other, "Old VPN", "vpn", "old-pw")
    kp.trash_entry(trashed)
    beta_e = kp.add_entry(beta, "NAS", "admin", "nas-pw", url="not a url at all")
    kp.add_entry(personal, "My bank", "me", "bank-pw")
    kp.save()
    return {"fw": fw.uuid, "dup": dup.uuid, "ref": ref.uuid, "untitled": untitled.uuid, "cyr": cyr.uuid,
            "beta": beta_e.uuid}


def test_keepass_import_reveals_equal_and_second_run_unchanged(server, world, cli, tmp_path):
    c1, c2 = world["customers"]
    lead, eng = world["lead"], world["eng"]
    db = tmp_path / "acme.kdbx"
    ids = _database(db)
    args = ["import", "keepass", str(db), "--map", f"Acme={c1}", "--map", f"Beta={c2}", "--stdin", "--json"]
    r = cli(*args, token=lead, input=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    assert PASSWORD not in r.stdout + r.stderr and "fw-Pa55" not in r.stdout + r.stderr
    out = {o["source"]: o for o in lines(r)}
    short = {k: v.hex[:8] for k, v in ids.items()}
    assert out["Acme/Network/Firewall Admin"] == {"source": "Acme/Network/Firewall Admin", "customer": c1,
                                                  "name": "firewall-admin", "action": "created",
                                                  "reason": "protected field 'API Key' sealed as api-key"}
    assert out["Acme/Office/Firewall Admin"]["name"] == f"firewall-admin-{short['dup']}"
    assert "already taken by Acme/Network/Firewall Admin" in out["Acme/Office/Firewall Admin"]["reason"]
    assert out[f"Acme/Network/Switches/(untitled {short['untitled']})"]["name"] == f"entry-{short['untitled']}"
    assert "no title" in out[f"Acme/Network/Switches/(untitled {short['untitled']})"]["reason"]
    assert out["Acme/Office/Пароль роутера"]["name"] == f"entry-{short['cyr']}"
    assert "not fully Latin" in out["Acme/Office/Пароль роутера"]["reason"]
    assert out["Acme/Office/Café Wi-Fi"]["name"] == "cafe-wi-fi"
    assert out["Acme/Office/Only a URL"]["action"] == "skipped" and "no password" in out["Acme/Office/Only a URL"]["reason"]
    assert out["Recycle Bin/Old VPN"]["action"] == "skipped" and out["Recycle Bin/Old VPN"]["reason"] == "in the recycle bin"
    assert out["Personal/My bank"]["action"] == "skipped" and "not mapped" in out["Personal/My bank"]["reason"]
    assert out["Beta/NAS"]["customer"] == c2 and "kept in the notes" in out["Beta/NAS"]["reason"]

    # every password revealable (granted engineer, incident reference) and equal to the original
    expected = {
        (c1, "firewall-admin"): 'fw-Pa55;"quoted"', (c1, f"firewall-admin-{short['dup']}"): "office-pw",
        (c1, "core-switch"): 'fw-Pa55;"quoted"', (c1, f"entry-{short['untitled']}"): "untitled-pw",
        (c1, f"entry-{short['cyr']}"): "cyr-pw", (c1, "cafe-wi-fi"): "koffie123", (c2, "nas"): "nas-pw",
    }
    for (c, name), password in expected.items():
        assert reveal(cli, eng, f"{c}/{name}") == password, name
    assert reveal(cli, eng, f"{c1}/firewall-admin", "totp") == SEED
    assert reveal(cli, eng, f"{c1}/firewall-admin", "api-key") == "api-7f3e9c"
    fw = kv_get(server, f"customers/{c1}/credentials/firewall-admin")
    assert fw["username"] == "admin" and fw["url"] == "https://192.0.2.1:8443"
    assert fw["notes"] == "Main firewall\nsecond line\nSerial: FGT60F-123"
    assert fw["tags"] == ["acme", "network"] and set(fw["secrets"]) == {"password", "totp", "api-key"}
    core = kv_get(server, f"customers/{c1}/credentials/core-switch")
    assert core["username"] == "admin" and core["tags"] == ["acme", "network", "switches"]
    nas = kv_get(server, f"customers/{c2}/credentials/nas")
    assert "url" not in nas and nas["notes"] == "URL: not a url at all"
    assert not kv_exists(server, f"customers/{c1}/credentials/old-vpn")

    r = cli(*args, token=lead, input=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    assert {o["action"] for o in lines(r) if o["customer"]} - {"skipped"} == {"unchanged"}


def test_keepass_keyfile_wrong_password_corrupt(server, world, cli, tmp_path):
    c1 = world["c"]
    lead = world["lead"]
    keyfile = tmp_path / "acme.key"
    keyfile.write_bytes(b"k" * 64)
    db = tmp_path / "kf.kdbx"
    _database(db, keyfile)
    base = ["import", "keepass", str(db), "--customer", c1, "--stdin"]
    r = cli(*base, "--keyfile", str(keyfile), "--dry-run", token=lead, input=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    # wrong password, missing / wrong key file: one line, exit 2
    for extra, pw, needle in (
        (["--keyfile", str(keyfile)], "Wr0ng-Pa55-x", "wrong password or key file"),
        ([], PASSWORD, "wrong password or key file"),
        (["--keyfile", str(tmp_path / "nope.key")], PASSWORD, "cannot read key file"),
    ):
        other = tmp_path / "other.key"
        other.write_bytes(b"x" * 64)
        r = cli(*base, *(extra or ["--keyfile", str(other)]), token=lead, input=pw + "\n")
        assert r.returncode == 2, r.stderr
        assert len(errors(r)) == 1 and needle in r.stderr, r.stderr
        assert pw not in r.stderr
    # corrupt: a flipped byte in the payload; a truncated file; not a KeePass file at all
    data = bytearray(db.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "flipped.kdbx"
    bad.write_bytes(bytes(data))
    cut = tmp_path / "cut.kdbx"
    cut.write_bytes(db.read_bytes()[:300])
    text = tmp_path / "notes.kdbx"
    text.write_text("hello\n")
    for path, needle in ((bad, "damaged"), (cut, "damaged"), (text, "not a KeePass database")):
        r = cli("import", "keepass", str(path), "--customer", c1, "--stdin", "--keyfile", str(keyfile), token=lead,
                input=PASSWORD + "\n")
        assert r.returncode == 2, (path, r.stderr)
        assert len(errors(r)) == 1 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert server.root().secrets.kv.v2.list_secrets(path=f"customers/{c1}", mount_point="netvault")["data"]["keys"] == ["_ids/", "_index/", "profile"]
    # no terminal, no --stdin: refused before anything
    r = cli("import", "keepass", str(db), "--customer", c1, token=lead)
    assert r.returncode == 2 and "--stdin" in r.stderr
