"""import passbolt: CSV exports in Passbolt's own header formats, real CLI and server."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from import_helpers import errors, lines, reveal, shared_world, world as make_world
from test_records_helpers import kv_get

SEED = "JBSWY3DPEHPK3PXPJBSWY3DP"
KDBX_HEADER = ["Title", "Username", "URL", "Password", "Notes", "Group", "TOTP"]


@pytest.fixture
def world(server, make_user, unique, cli):
    return make_world(server, make_user, unique, cli, customers=2)


@pytest.fixture(scope="module")
def refused_world(server, module_cli):
    """One world for the tests whose imports are all refused (nothing written)."""
    return shared_world(server, module_cli, customers=2)


def _csv(header, rows) -> str:
    out = io.StringIO()
    w = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")  # Passbolt quotes every cell
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue()


ROWS = [  # csv-kdbx, as Passbolt 4/5 exports it: Title, Username, URL, Password, Notes, Group, TOTP
    ["Firewall admin", "admin", "https://192.0.2.1:8443", 'Pb-"Pa55", x;y', "line one\nline two",
     "Customers/Acme/Network", f"otpauth://totp/fw:admin?secret={SEED}&issuer=fw&algorithm=SHA1&digits=6&period=30"],
    ["Firewall admin", "readonly", "https://192.0.2.1:8443", " leading-space-pw", "", "Customers/Acme", ""],
    ["", "x", "", "untitled-pw", "", "Beta", ""],
    ["Сервер", "root", "srv.beta.example", "cyrillic-pw", "", "Beta/Servers", ""],
    ["Our own wiki", "me", "wiki.example", "wiki-pw", "", "Internal", ""],
    ["Bookmark only", "", "https://example.net", "", "", "Beta", ""],
]


def test_passbolt_csv_round_trip_revealable_then_unchanged(server, world, cli, tmp_path):
    c1, c2 = world["customers"]
    path = tmp_path / "passbolt-export.csv"
    path.write_text(_csv(KDBX_HEADER, ROWS), encoding="utf-8")
    args = ["import", "passbolt", str(path), "--map", f"Customers/Acme={c1}", "--map", f"Beta={c2}", "--json"]
    r = cli(*args, token=world["lead"])
    assert r.returncode == 0, r.stderr
    assert "Pa55" not in r.stdout + r.stderr and "pw" not in r.stdout + r.stderr
    out = {o["source"]: o for o in lines(r)}
    assert [out[f"row {n}"]["action"] for n in range(2, 8)] == ["created"] * 4 + ["skipped"] * 2
    fw, ro, untitled, cyr = (out[f"row {n}"] for n in range(2, 6))
    assert (fw["customer"], fw["name"]) == (c1, "firewall-admin")
    assert ro["customer"] == c1 and ro["name"].startswith("firewall-admin-") and "already taken by row 2" in ro["reason"]
    assert untitled["customer"] == c2 and untitled["name"].startswith("entry-") and "no title" in untitled["reason"]
    assert cyr["name"] != "entry" and "not fully Latin" in cyr["reason"]
    assert "not mapped" in out["row 6"]["reason"] and out["row 6"]["customer"] is None
    assert out["row 7"]["reason"] == "no password or TOTP to store"
    for o, row in ((fw, ROWS[0]), (ro, ROWS[1]), (untitled, ROWS[2]), (cyr, ROWS[3])):
        assert reveal(cli, world["eng"], f"{o['customer']}/{o['name']}") == row[3], o
    assert reveal(cli, world["eng"], f"{c1}/firewall-admin", "totp") == SEED
    stored = kv_get(server, f"customers/{c1}/credentials/firewall-admin")
    assert stored["username"] == "admin" and stored["url"] == "https://192.0.2.1:8443"
    assert stored["notes"] == "line one\nline two" and stored["tags"] == ["customers", "acme", "network"]
    assert set(stored["secrets"]) == {"password", "totp"}
    r = cli(*args, token=world["lead"])
    assert r.returncode == 0, r.stderr
    again = {o["source"]: o for o in lines(r)}
    assert {o["action"] for o in again.values()} == {"unchanged", "skipped"}
    assert [again[f"row {n}"]["name"] for n in range(2, 6)] == [fw["name"], ro["name"], untitled["name"], cyr["name"]]


FLAVOURS = [  # (flavour, header, row) -- headers as Passbolt's csvRowComposer writes them
    ("passbolt-legacy", ["Group", "Title", "Username", "URL", "Password", "Description"],
     ["Acme", "Legacy router", "admin", "https://router.acme.example", "legacy-pw", "old export"]),
    ("passbolt-folder", ["Folder", "Title", "Username", "URL", "Password", "Description", "TOTP"],
     ["Acme", "Folder nas", "admin", "nas.acme.example", "folder-pw", "", SEED]),
    ("csv-lastpass", ["name", "username", "url", "password", "extra", "grouping"],
     ["Lastpass vpn", "vpn", "https://vpn.acme.example", "lastpass-pw", "notes here", "Acme"]),
    ("csv-bitwarden", ["folder", "favorite", "type", "name", "notes", "fields", "reprompt", "login_uri",
                       "login_username", "login_password", "login_totp"],
     ["Acme", "", "login", "Bitwarden ups", "", "Rack: B3", "0", "https://ups.acme.example", "ups", "bitwarden-pw", ""]),
    ("csv-1password", ["Title", "Username", "Url", "Password", "Notes", "Type"],
     ["Onepassword printer", "printer", "printer.acme.example", "onepassword-pw", "", "Login"]),
    ("csv-chromium", ["name", "url", "username", "password"],
     ["Chromium portal", "https://portal.acme.example", "portal", "chromium-pw"]),
    ("csv-mozilla", ["url", "username", "password", "httpRealm", "formActionOrigin", "guid", "timeCreated",
                     "timeLastUsed", "timePasswordChanged"],
     ["https://mail.acme.example", "mail", "mozilla-pw", "", "", "{0b1c}", "1700000000000", "1700000000000", "1700000000000"]),
]


def test_passbolt_every_csv_flavour_imports(server, world, cli, tmp_path):
    c = world["c"]
    expected = {"passbolt-legacy": "legacy-router", "passbolt-folder": "folder-nas", "csv-lastpass": "lastpass-vpn",
                "csv-bitwarden": "bitwarden-ups", "csv-1password": "onepassword-printer",
                "csv-chromium": "chromium-portal", "csv-mozilla": "mail.acme.example"}
    for flavour, header, row in FLAVOURS:
        path = tmp_path / f"{flavour}.csv"
        path.write_text(_csv(header, [row]), encoding="utf-8")
        r = cli("import", "passbolt", str(path), "--customer", c, "--json", token=world["lead"])
        assert r.returncode == 0, (flavour, r.stderr)
        (o,) = lines(r)
        assert (o["source"], o["name"], o["action"]) == ("row 2", expected[flavour], "created"), (flavour, o)
        password = next(v for v in row if v.endswith("-pw"))
        assert reveal(cli, world["eng"], f"{c}/{expected[flavour]}") == password, flavour
    assert reveal(cli, world["eng"], f"{c}/folder-nas", "totp") == SEED
    assert kv_get(server, f"customers/{c}/credentials/bitwarden-ups")["notes"] == "Rack: B3"
    assert kv_get(server, f"customers/{c}/credentials/lastpass-vpn")["notes"] == "notes here"


def test_passbolt_bad_rows_named_and_nothing_written(server, refused_world, cli, tmp_path):
    world = refused_world
    c1, c2 = world["customers"]
    rows = [list(r) for r in ROWS]
    rows[1][6] = "steam://ABCDEFGH"  # row 3: a TOTP nobody can use
    rows[3][5] = "Customers/Acme"
    text = _csv(KDBX_HEADER, rows) + '"Broken","a","b"\n'  # row 8: 3 cells
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    r = cli("import", "passbolt", str(path), "--map", f"Customers/Acme={c1}", "--map", f"Beta={c2}", token=world["lead"])
    assert r.returncode == 2, r.stderr
    errs = errors(r)
    assert any(e.startswith("error: row 3: TOTP") for e in errs), errs
    assert any(e.startswith("error: row 8: 3 cells, the header has 7") for e in errs), errs
    assert "ABCDEFGH" not in r.stderr and "nothing written" in r.stderr
    for c in (c1, c2):
        keys = server.root().secrets.kv.v2.list_secrets(path=f"customers/{c}", mount_point="netvault")["data"]["keys"]
        assert "credentials/" not in keys, keys


@pytest.mark.parametrize("content, needle", [
    (bytes.fromhex("03d9a29a67fb4bb5") + b"\x00" * 64, "is a KeePass database (Passbolt's 'kdbx' export); import it with `netvault import keepass`"),
    (b'"Title","Username","Password","Secret sauce"\n"a","b","c","d"\n', "row 1: unknown column(s) 'secret sauce'"),
    (b'"Username","Password"\n"a","b"\n', "row 1: the columns 'username', 'password' match no Passbolt CSV export"),
    (b'{"encrypted": false, "items": []}', "is JSON, not a Passbolt CSV export"),
])
def test_passbolt_wrong_files_refused(server, refused_world, cli, tmp_path, content, needle):
    world = refused_world
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    r = cli("import", "passbolt", str(path), "--customer", world["c"], token=world["lead"])
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr, r.stderr
    assert kv_get(server, f"customers/{world['c']}/credentials/a") is None


def test_passbolt_sample_dry_run(server, world, cli):
    import netvault.importing

    sample = Path(netvault.importing.__file__).parent / "samples" / "passbolt.csv"
    r = cli("import", "passbolt", str(sample), "--customer", world["c"], "--dry-run", "--json", token=world["lead"])
    assert r.returncode == 0, r.stderr
    assert [(o["name"], o["action"]) for o in lines(r)] == [
        ("firewall-admin", "created"), ("m365-admin", "created"), ("switch-core", "created")]
    assert kv_get(server, f"customers/{world['c']}/credentials/firewall-admin") is None
