"""import csv / export csv against a real OpenBao, through the real CLI."""

from __future__ import annotations

import csv
import io

import hvac
import pytest

from import_helpers import errors, lines, reveal, shared_world, world as make_world
from netvault.records import lookup
from test_records_helpers import index_holders, kv_exists, kv_get

DEVICE_HEADER = "customer,name,kind,mac,ip,serial,model,location,credential,notes\n"


@pytest.fixture
def world(server, make_user, unique, cli):
    return make_world(server, make_user, unique, cli)


@pytest.fixture(scope="module")
def refused_world(server, module_cli):
    """One world for the tests whose imports are all refused (nothing written)."""
    return shared_world(server, module_cli)


def _mac(n: int) -> str:
    return f"0a:1b:{(n >> 24) & 255:02x}:{(n >> 16) & 255:02x}:{(n >> 8) & 255:02x}:{n & 255:02x}"


def _devices_csv(customer: str, n: int, bad_row: int | None = None) -> str:
    rows = [DEVICE_HEADER]
    for i in range(n):
        mac = "0a1b.2c3d.4e5" if i + 2 == bad_row else _mac(i)
        rows.append(f"{customer},sw-{i:04d},switch,{mac},10.1.{i // 250}.{i % 250 + 1},SN{i},GS108,rack {i % 7},,\n")
    return "".join(rows)


def test_thousand_devices_one_bad_row_then_all_then_unchanged(server, world, cli, tmp_path):
    c, lead = world["c"], world["lead"]
    path = tmp_path / "devices.csv"
    path.write_text(_devices_csv(c, 1000, bad_row=502))
    r = cli("import", "csv", str(path), "--kind", "device", token=lead)
    assert r.returncode == 2, r.stderr
    errs = errors(r)
    assert errs[0].startswith("error: row 502: invalid MAC address '0a1b.2c3d.4e5'"), errs
    assert "1 problem(s)" in errs[-1] and "nothing written" in errs[-1]
    assert server.root().secrets.kv.v2.list_secrets(path=f"customers/{c}", mount_point="netvault")["data"]["keys"] == ["_ids/", "_index/", "profile"]
    assert not kv_exists(server, f"customers/{c}/devices/sw-0000")

    path.write_text(_devices_csv(c, 1000))
    r = cli("import", "csv", str(path), "--kind", "device", "--json", token=lead)
    assert r.returncode == 0, r.stderr
    out = lines(r)
    assert len(out) == 1000 and {o["action"] for o in out} == {"created"}
    assert out[0] == {"source": "row 2", "customer": c, "name": "sw-0000", "action": "created", "reason": ""}
    # every MAC findable: team lead (global index) and the granted engineer (per-customer index)
    lead_vault, eng_vault = server.gateway(lead), server.gateway(world["eng"])
    for i in range(1000):
        mac = _mac(i).replace(":", "-").upper()
        for vault in (lead_vault, eng_vault):
            what, key, hits = lookup.find(vault, "netvault", mac)
            assert [(h["customer"], h["device"]) for h in hits] == [(c, f"sw-{i:04d}")], (i, hits)
    r = cli("find", "10.1.3.7", "--json", token=lead)
    assert r.returncode == 0 and r.json()["results"][0]["device"] == "sw-0756", r.stdout
    record = kv_get(server, f"customers/{c}/devices/sw-0042")
    assert record["macs"] == ["0a1b0000002a"] and record["ips"] == ["10.1.0.43"] and record["kind"] == "switch"
    # one KV write per new device: no _ids entry (a device has no sealed field, so its
    # id never appears in a transit context), no per-customer index lists
    assert not kv_exists(server, f"customers/{c}/_ids/{record['id']}")
    listed = server.root().secrets.kv.v2.list_secrets(path=f"customers/{c}/_index", mount_point="netvault")["data"]["keys"]
    assert listed == ["search"]
    assert index_holders(server, "mac", "0a1b0000002a") == [(c, "sw-0042")]

    r = cli("import", "csv", str(path), "--kind", "device", "--json", token=lead)
    assert r.returncode == 0, r.stderr
    again = lines(r)
    assert len(again) == 1000 and {o["action"] for o in again} == {"unchanged"}
    meta = server.root().secrets.kv.v2.read_secret_metadata(path=f"customers/{c}/devices/sw-0042", mount_point="netvault")
    assert meta["data"]["current_version"] == 1


def test_dutch_excel_semicolon_cp1252_and_bom(server, world, cli, tmp_path):
    c, lead = world["c"], world["lead"]
    text = ("Customer;Name;Kind;MAC;IP;Location;Notes\r\n"
            f"{c};fw-hoofd;firewall;AA-BB-CC-00-11-22;192.0.2.1;Serverruimte café;\"Beheer; zie wiki\"\r\n"
            f"{c};ap-kantine;access-point;aabb.cc00.1123 AA:BB:CC:00:11:24;;Kantine Ærø;\r\n")
    path = tmp_path / "excel.csv"
    path.write_bytes(text.encode("cp1252"))
    r = cli("import", "csv", str(path), "--kind", "device", "--json", token=lead)
    assert r.returncode == 0, r.stderr
    assert [o["action"] for o in lines(r)] == ["created", "created"]
    fw = kv_get(server, f"customers/{c}/devices/fw-hoofd")
    assert fw["location"] == "Serverruimte café" and fw["notes"] == "Beheer; zie wiki" and fw["macs"] == ["aabbcc001122"]
    ap = kv_get(server, f"customers/{c}/devices/ap-kantine")
    assert ap["macs"] == ["aabbcc001123", "aabbcc001124"] and ap["location"] == "Kantine Ærø" and "ips" not in ap
    # the same content as UTF-8 with a BOM: unchanged
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    r = cli("import", "csv", str(path), "--kind", "device", "--json", token=lead)
    assert r.returncode == 0, r.stderr
    assert [o["action"] for o in lines(r)] == ["unchanged", "unchanged"]
    # a wrong --encoding is one line, exit 2
    r = cli("import", "csv", str(path), "--kind", "device", "--encoding", "ascii", token=lead)
    assert r.returncode == 2 and len(errors(r)) == 1 and "not valid ascii" in r.stderr


def test_bad_input_reports_every_problem_and_writes_nothing(server, world, cli, tmp_path, unique):
    c, lead = world["c"], world["lead"]
    ghost = unique("ghost")
    path = tmp_path / "bad.csv"
    path.write_text(
        "customer,name,kind,mac,ip\n"
        f"{c},ok-1,switch,00:11:22:33:44:55,\n"
        f"{c},dup,switch,,\n"
        f"{c},dup,router,,\n"
        f"{c},Bad Name,switch,,\n"
        f"{c},ip-bad,switch,,300.1.1.1\n"
        f"{c},mac-bad,switch,00:11:22:33:44,\n"
        f"{c},kind-bad,toaster,,\n"
        f"{ghost},elsewhere,switch,,\n")
    r = cli("import", "csv", str(path), "--kind", "device", token=lead)
    assert r.returncode == 2, r.stderr
    text = r.stderr
    for needle in ("row 4: duplicate name", "(also row 3)", "row 5: name 'Bad Name'", "row 6: invalid IP address '300.1.1.1'",
                   "row 7: invalid MAC address '00:11:22:33:44'", "row 8: invalid device kind 'toaster'"):
        assert needle in text, (needle, text)
    assert not kv_exists(server, f"customers/{c}/devices/ok-1")
    # the unknown customer is found once the file itself is clean
    path.write_text(f"customer,name,kind\n{c},ok-1,switch\n{ghost},elsewhere,switch\n")
    r = cli("import", "csv", str(path), "--kind", "device", token=lead)
    assert r.returncode == 3, r.stderr
    assert f"row 3: unknown customer {ghost}" in r.stderr
    assert not kv_exists(server, f"customers/{c}/devices/ok-1") and not kv_exists(server, f"customers/{ghost}/profile")


@pytest.mark.parametrize("content, needle", [
    ("customer,name,kind,colour\nX,a,switch,red\n", "row 1: unknown column(s) 'colour'"),
    ("customer,kind,mac\nX,switch,\n", "row 1: missing column(s) name"),
    ("customer,name,kind\nX,\"a,switch\nX,b,switch\n", "broken CSV"),
    ("customer,name,kind\nX,a,switch,extra\n", "row 2: 4 cells, the header has 3"),
    ("colour|size\nred|big\n", "names none of the columns"),
    ("customer;name;kind\nX;\"a\"b;switch\n", "row 2: broken CSV"),
])
def test_broken_files(server, refused_world, cli, tmp_path, content, needle):
    world = refused_world
    path = tmp_path / "broken.csv"
    path.write_text(content.replace("X", world["c"]))
    r = cli("import", "csv", str(path), "--kind", "device", token=world["lead"])
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert not kv_exists(server, f"customers/{world['c']}/devices/a")


def test_huge_file_refused_by_size_before_reading(refused_world, cli, tmp_path):
    world = refused_world
    path = tmp_path / "huge.csv"
    with open(path, "wb") as fh:  # sparse: 2 GiB of size, nothing on disk
        fh.truncate(2 * 1024**3)
    r = cli("import", "csv", str(path), "--kind", "device", "--customer", world["c"], token=world["lead"])
    assert r.returncode == 2
    # the path as messages show it: escaped, cut at 80 characters (tmp paths under xdist are longer)
    from netvault.values.names import shown
    assert errors(r) == [f"error: CSV file {shown(str(path))} is 2,048 MiB; the limit is 64 MiB (split it)"]


def test_credentials_and_licences_sealed_revealable_idempotent(server, world, cli, tmp_path):
    c, lead, eng = world["c"], world["lead"], world["eng"]
    seed = "JBSWY3DPEHPK3PXPJBSWY3DP"
    creds = tmp_path / "creds.csv"
    creds.write_text(
        "name,username,url,password,totp,notes,tags\n"
        "fw-admin,admin,https://192.0.2.1:8443,\"S3cr;et,\"\" pw\",,\"two\nlines\",net;fw\n"
        f"m365,beheer@acme.example,https://portal.office.com,Welkom01!,otpauth://totp/M365:beheer?secret={seed}&issuer=M365,,\n")
    r = cli("import", "csv", str(creds), "--kind", "credential", "--customer", c, "--json", token=lead)
    assert r.returncode == 0, r.stderr
    assert [o["action"] for o in lines(r)] == ["created", "created"]
    assert "S3cr" not in r.stdout + r.stderr and "Welkom" not in r.stdout + r.stderr
    assert reveal(cli, eng, f"{c}/fw-admin") == 'S3cr;et," pw'
    assert reveal(cli, eng, f"{c}/m365", "totp") == seed
    stored = kv_get(server, f"customers/{c}/credentials/fw-admin")
    assert stored["tags"] == ["net", "fw"] and stored["notes"] == "two\nlines"
    assert set(stored["secrets"]) == {"password"} and stored["fingerprints"]["password"].startswith("vault:v1:")
    lic = tmp_path / "lic.csv"
    lic.write_text(f"customer,name,product,vendor,seats,expires,licence_key\n{c},m365-e3,Microsoft 365 E3,Microsoft,25,2027-03-31,AAAA-BBBB-CCCC\n")
    r = cli("import", "csv", str(lic), "--kind", "licence", "--json", token=lead)
    assert r.returncode == 0 and lines(r)[0]["action"] == "created", r.stderr
    assert reveal(cli, eng, f"{c}/m365-e3", "licence_key") == "AAAA-BBBB-CCCC"
    # again: unchanged (secrets compared by fingerprint, nothing decrypted)
    for f, k in ((creds, "credential"), (lic, "licence")):
        args = ["import", "csv", str(f), "--kind", k, "--json"] + (["--customer", c] if k == "credential" else [])
        r = cli(*args, token=lead)
        assert r.returncode == 0 and {o["action"] for o in lines(r)} == {"unchanged"}, r.stdout + r.stderr
    # a changed password and URL: updated, naming the fields, not the values
    creds.write_text(creds.read_text().replace("Welkom01!", "Welkom02!").replace("portal.office.com", "portal.microsoft.com"))
    r = cli("import", "csv", str(creds), "--kind", "credential", "--customer", c, "--json", token=lead)
    out = lines(r)
    assert [o["action"] for o in out] == ["unchanged", "updated"], r.stderr
    assert out[1]["reason"] == "changed: url, password"
    assert reveal(cli, eng, f"{c}/m365") == "Welkom02!" and reveal(cli, eng, f"{c}/m365", "totp") == seed
    # rotating the key keeps the fingerprints usable: still unchanged
    assert cli("customer", "rotate-key", c, token=lead).returncode == 0
    r = cli("import", "csv", str(creds), "--kind", "credential", "--customer", c, "--json", token=lead)
    assert [o["action"] for o in lines(r)] == ["unchanged", "unchanged"], r.stdout + r.stderr
    # a password rotated by hand is not reverted by re-importing the old file
    r = cli("credential", "rotate", f"{c}/fw-admin", "--stdin", token=lead, input="rotated-by-hand\n")
    assert r.returncode == 0, r.stderr
    r = cli("import", "csv", str(creds), "--kind", "credential", "--customer", c, "--json", token=lead)
    out = lines(r)
    assert out[0]["action"] == "unchanged" and out[0]["reason"] == "kept the stored password (set outside an import)"
    assert reveal(cli, eng, f"{c}/fw-admin") == "rotated-by-hand"
    # audit: the import decrypted nothing
    assert "netvault-transit/decrypt" not in "".join(
        line for line in server.audit_file.read_text().splitlines() if lead in line)


def test_export_reimports_unchanged(server, world, cli, tmp_path):
    c, lead = world["c"], world["lead"]
    src = tmp_path / "in.csv"
    src.write_text(DEVICE_HEADER
                   + f"{c},core-sw,switch,AA-BB-CC-DD-EE-01 aabbccddee02,192.0.2.10 2001:db8::10,SN1,C9300,\"=HYPERLINK(\"\"x\"\")\",,@risky\n"
                   + f"{c},printer,printer,,,,,,,-\n")
    assert cli("import", "csv", str(src), "--kind", "device", token=lead).returncode == 0
    out = tmp_path / "out.csv"
    r = cli("export", "csv", c, "--kind", "device", "-o", str(out), token=lead)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # a BOM, so Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["customer", "name", "kind", "mac", "ip", "serial", "model", "location", "credential", "notes"]
    core = rows[1]
    assert core[3] == "aa:bb:cc:dd:ee:01 aa:bb:cc:dd:ee:02" and core[7] == "'=HYPERLINK(\"x\")" and core[9] == "'@risky"
    r = cli("import", "csv", str(out), "--kind", "device", "--json", token=lead)
    assert r.returncode == 0 and [o["action"] for o in lines(r)] == ["unchanged", "unchanged"], r.stdout + r.stderr
    assert kv_get(server, f"customers/{c}/devices/core-sw")["location"] == '=HYPERLINK("x")'
    # credentials: no secret columns in the export; re-import keeps the sealed ones
    creds = tmp_path / "c.csv"
    creds.write_text(f"customer,name,username,password,tags\n{c},vpn,ops,pw-1,a;b\n")
    assert cli("import", "csv", str(creds), "--kind", "credential", token=lead).returncode == 0
    r = cli("export", "csv", c, "--kind", "credential", token=lead)
    assert r.stdout.splitlines() == ["customer,name,username,url,notes,tags", f"{c},vpn,ops,,,a;b"]
    creds.write_text(r.stdout)
    r = cli("import", "csv", str(creds), "--kind", "credential", "--json", token=lead)
    assert [o["action"] for o in lines(r)] == ["unchanged"], r.stdout + r.stderr


def test_engineer_cannot_import_and_dry_run_writes_nothing(server, world, cli, tmp_path):
    c = world["c"]
    path = tmp_path / "d.csv"
    path.write_text("name,kind,mac\nsw-x,switch,02:00:00:00:00:01\n")
    r = cli("import", "csv", str(path), "--kind", "device", "--customer", c, "--dry-run", "--json", token=world["lead"])
    assert r.returncode == 0 and lines(r)[0]["action"] == "created", r.stderr
    assert not kv_exists(server, f"customers/{c}/devices/sw-x")
    r = cli("import", "csv", str(path), "--kind", "device", "--customer", c, token=world["eng"])
    assert r.returncode == 4, r.stderr
    assert not kv_exists(server, f"customers/{c}/devices/sw-x")


def test_interrupted_import_rerun_completes_without_duplicates(server, world, cli, cli_env, tmp_path):
    """Ctrl-C (a real SIGINT) in the middle of an import; the rerun creates the
    rest, reports the done ones unchanged, and leaves one record and one index
    entry per device."""
    import signal
    import subprocess
    import sys

    c, lead = world["c"], world["lead"]
    path = tmp_path / "devices.csv"
    path.write_text(_devices_csv(c, 600))
    env = {**cli_env, "VAULT_TOKEN": lead}
    # SIGINT back to its default in the child: a suite started in the background
    # (`scripts/test &`) inherits SIGINT ignored, and the import would not be interrupted.
    proc = subprocess.Popen([sys.executable, "-m", "netvault", "import", "csv", str(path), "--kind", "device", "--threads", "4"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    root = server.root()
    listed = []
    while proc.poll() is None and len(listed) < 40:
        try:
            listed = root.secrets.kv.v2.list_secrets(path=f"customers/{c}/devices", mount_point="netvault")["data"]["keys"]
        except hvac.exceptions.InvalidPath:  # not there yet
            listed = []
    # The import must still be running, or this test would not interrupt anything.
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    before = len(root.secrets.kv.v2.list_secrets(path=f"customers/{c}/devices", mount_point="netvault")["data"]["keys"])
    assert 40 <= before < 600  # cut short part-way
    r = cli("import", "csv", str(path), "--kind", "device", "--json", token=lead)
    assert r.returncode == 0, r.stderr
    acts = [o["action"] for o in lines(r)]
    assert len(acts) == 600 and set(acts) <= {"created", "unchanged"}
    assert acts.count("unchanged") >= before - 16  # at most the in-flight ones were cut short before their record
    assert len(root.secrets.kv.v2.list_secrets(path=f"customers/{c}/devices", mount_point="netvault")["data"]["keys"]) == 600
    for i in (0, 299, 599):
        mac = _mac(i).replace(":", "")
        # the global index is shared with other tests' customers: count this one's entry
        assert index_holders(server, "mac", mac).count((c, f"sw-{i:04d}")) == 1
    # find's search document, written once per import, holds every device
    from netvault.records import search

    assert len(search.unpack(kv_get(server, f"customers/{c}/_index/search")["z"])["devices"]) == 600


def test_progress_bar_only_on_a_terminal(server, world, cli, cli_env, tmp_path):
    import os
    import pty
    import subprocess
    import sys

    c, lead = world["c"], world["lead"]
    path = tmp_path / "d.csv"
    path.write_text(_devices_csv(c, 30))
    r = cli("import", "csv", str(path), "--kind", "device", "--dry-run", token=lead)
    assert r.returncode == 0 and "importing [" not in r.stderr and "dry run: created 30" in r.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "netvault", "import", "csv", str(path), "--kind", "device"],
                            env={**cli_env, "VAULT_TOKEN": lead}, stdout=subprocess.PIPE, stderr=slave, text=True)
    out, _ = proc.communicate(timeout=120)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.returncode == 0
    assert b"importing [" in seen and b"30/30" in seen
    assert "importing [" not in out and len(out.splitlines()) == 30


@pytest.mark.parametrize("kind", ["credentials", "devices", "licences"])
def test_shipped_samples_are_valid(kind):
    from pathlib import Path

    import netvault.importing
    from netvault.importing import csv_source

    sample = Path(netvault.importing.__file__).parent / "samples" / f"{kind}.csv"
    plan = csv_source.read(str(sample), kind)
    assert plan.problems == [] and len(plan.entries) >= 2 and {e.customer for e in plan.entries} == {"acme"}


def test_samples_import_into_a_customer(server, world, cli, tmp_path):
    from pathlib import Path

    import netvault.importing

    c, lead = world["c"], world["lead"]
    for kind in ("credentials", "licences", "devices"):
        text = (Path(netvault.importing.__file__).parent / "samples" / f"{kind}.csv").read_text()
        path = tmp_path / f"{kind}.csv"
        path.write_text(text.replace("acme", c))
        r = cli("import", "csv", str(path), "--kind", kind, "--json", token=lead)
        assert r.returncode == 0, r.stderr
        assert {o["action"] for o in lines(r)} == {"created"}
    assert kv_get(server, f"customers/{c}/devices/fw-main")["credential"] == "fw-admin"
    assert reveal(cli, world["eng"], f"{c}/av-endpoint", "licence_key") == "AAAA-BBBB-CCCC-DDDD"


def test_reimport_with_moved_macs_updates_the_global_index(server, world, cli, tmp_path):
    """A second import that moves a device to another MAC and IP: `updated`,
    the new MAC and IP are in the global index (added in the batch before the
    records), the old ones are taken out after the writes (one batch), and the
    rest of the file is `unchanged`; a team lead's find agrees."""
    c, lead = world["c"], world["lead"]
    path = tmp_path / "devices.csv"
    path.write_text(_devices_csv(c, 30))
    assert cli("import", "csv", str(path), "--kind", "device", token=lead).returncode == 0
    old_mac, new_mac = _mac(7).replace(":", ""), "0a1b00ffff07"
    text = _devices_csv(c, 30).replace(f"sw-0007,switch,{_mac(7)},10.1.0.8,", f"sw-0007,switch,{new_mac},10.9.9.9,")
    path.write_text(text)
    r = cli("import", "csv", str(path), "--kind", "device", "--json", token=lead)
    assert r.returncode == 0, r.stderr
    acts = {o["name"]: (o["action"], o["reason"]) for o in lines(r)}
    assert acts["sw-0007"] == ("updated", "changed: ips, macs")
    assert {a for n, (a, _) in acts.items() if n != "sw-0007"} == {"unchanged"}
    assert index_holders(server, "mac", new_mac) == [(c, "sw-0007")]
    assert index_holders(server, "ip", "10.9.9.9") == [(c, "sw-0007")]
    assert (c, "sw-0007") not in index_holders(server, "mac", old_mac)
    assert (c, "sw-0007") not in index_holders(server, "ip", "10.1.0.8")
    found = cli("find", new_mac, "--json", token=lead).json()["results"]
    assert [(h["customer"], h["device"]) for h in found] == [(c, "sw-0007")]
    # other tests' customers hold the same MACs (the global index is shared): only this customer's hits count
    old = cli("find", old_mac, "--json", token=lead)
    assert old.returncode in (0, 3) and not [h for h in (old.json()["results"] if old.returncode == 0 else [])
                                             if h["customer"] == c]
