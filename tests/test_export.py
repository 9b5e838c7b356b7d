"""Portable export (issue 11) against the real server: `customer export` then
`export open` round-trips every field including history and secrets; each
decrypt is a reveal with the reference in the trail; refusals leave no file."""

from __future__ import annotations

import json
import os
import stat

import pytest

from test_records_helpers import grant

PW = "export-pass-phrase-1"
TWICE = f"{PW}\n{PW}\n"


@pytest.fixture(scope="module")
def world(server, tmp_path_factory):
    """One customer with history, secrets, a device, a licence and a sub-processor."""
    import subprocess
    import sys

    from people import new_user

    admin, lead, eng, auditor = (new_user(server, r) for r in ("admin", "team-lead", "engineer", "auditor"))
    base = tmp_path_factory.mktemp("export-cli")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env.update({"NETVAULT_CONFIG_DIR": str(base / "config"), "NETVAULT_DATA_DIR": str(base / "data"),
                "VAULT_ADDR": server.address, "NETVAULT_KEYRING": "file"})

    def run(*args, token, input=None):
        p = subprocess.run([sys.executable, "-m", "netvault", *args], input=input, capture_output=True, text=True,
                           env={**env, "VAULT_TOKEN": token}, timeout=120)
        assert p.returncode == 0, (args, p.stderr)
        return p

    import secrets as _s

    c = f"exp-{_s.token_hex(3)}"
    run("customer", "add", c, "--company", "Export BV", "--city", "Utrecht", "--email", "it@exp.example", token=admin.token())
    run("customer", "edit", c, "--phone", "+31 30 123 4567", token=admin.token())
    run("credential", "add", f"{c}/fw", "--username", "admin", "--totp", "--stdin",
        input="old-Pass-1\nJBSWY3DPEHPK3PXPJBSWY3DP\n", token=lead.token())
    run("credential", "rotate", f"{c}/fw", "--stdin", input="new-Pass-2\n", token=lead.token())
    run("credential", "edit", f"{c}/fw", "--url", "https://fw.exp.example", token=lead.token())
    run("device", "add", f"{c}/sw1", "--kind", "switch", "--mac", "02:00:5e:10:20:30", "--ip", "10.9.0.2", token=lead.token())
    run("licence", "add", f"{c}/m365", "--product", "Microsoft 365", "--seats", "5", "--stdin",
        input="KEY-ABC-123\n", token=lead.token())
    run("customer", "subprocessors", c, "add", "Backblaze", "--service", "offsite backup", "--country", "us",
        "--since", "2025-03-01", token=lead.token())
    grant(server, c, eng)
    return {"c": c, "admin": admin.token(), "lead": lead.token(), "eng": eng, "eng_token": eng.token(),
            "auditor": auditor.token()}


def _export(cli, world, out, token=None, incident="CHG-2026-17", extra=(), input=TWICE):
    return cli("customer", "export", world["c"], "--incident", incident, "--out", str(out), *extra,
               token=token or world["eng_token"], input=input)


def test_round_trip_every_field_history_and_secrets(world, cli, server, tmp_path):
    out = tmp_path / "x.nvx"
    r = _export(cli, world, out, extra=("--audit-file", str(server.audit_file), "--json"))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert b"new-Pass-2" not in out.read_bytes() and b"Export BV" not in out.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.nvx"]
    o = cli("export", "open", str(out), input=PW + "\n")
    assert o.returncode == 0, o.stderr
    doc = o.json()
    c = world["c"]
    assert doc["format"] == "netvault-export" and doc["customer"] == c and doc["incident"] == "CHG-2026-17"
    prof = doc["profile"]["versions"]
    assert [v["version"] for v in prof] == [1, 2]
    assert prof[0]["data"]["company"] == "Export BV" and "phone" not in prof[0]["data"]
    assert prof[1]["data"]["phone"] == "+31 30 123 4567"
    fw = doc["records"]["credentials"]["fw"]
    assert fw["current_version"] == 3 and [v["version"] for v in fw["versions"]] == [1, 2, 3]
    assert fw["versions"][0]["secrets"] == {"password": "old-Pass-1", "totp": "JBSWY3DPEHPK3PXPJBSWY3DP"}
    assert fw["versions"][1]["secrets"]["password"] == "new-Pass-2"
    assert fw["versions"][2]["secrets"]["password"] == "new-Pass-2"
    assert fw["versions"][2]["data"]["url"] == "https://fw.exp.example"
    assert "fingerprints" not in json.dumps(doc) and "vault:v1:" not in json.dumps(doc)
    sw = doc["records"]["devices"]["sw1"]["versions"][-1]["data"]
    assert sw["macs"] == ["02005e102030"] and sw["ips"] == ["10.9.0.2"] and sw["kind"] == "switch"
    assert doc["records"]["licences"]["m365"]["versions"][0]["secrets"] == {"licence_key": "KEY-ABC-123"}
    assert doc["subprocessors"] == [{"name": "Backblaze", "service": "offsite backup", "country": "US",
                                     "since": "2025-03-01"}]
    # an engineer may not read grant records: said so, not faked
    assert doc["grants"] is None and "grants_note" in doc
    # authors of each version, from the trail (not from KV fields)
    assert fw["versions"][0]["author"] == fw["versions"][1]["author"] != "unknown"
    assert prof[0]["author"] != "unknown"
    # access events of the customer from the trail
    assert any(e["action"] == "write" and e["customer"] == c for e in doc["access_events"])
    # 3 distinct ciphertexts of fw (old pw, totp, new pw) + the licence key = 4 reveals
    assert doc["decrypted_values"] == 4
    s = cli("export", "open", str(out), "--summary", input=PW + "\n").json()
    assert s["credentials"] == 1 and s["devices"] == 1 and s["licences"] == 1 and s["secret_values"] == 7
    # the trail shows each decrypt as a reveal by the engineer carrying the reference
    log = cli("audit", "log", "--file", str(server.audit_file), "--customer", c, "--action", "reveal",
              "--incident", "CHG-2026-17", "--json", "--offline", token=world["auditor"])
    assert log.returncode == 0, log.stderr
    reveals = [json.loads(line) for line in log.stdout.splitlines() if line.strip()]
    allowed = [e for e in reveals if e["outcome"] == "allowed"]
    assert len(allowed) == 4
    assert {e["engineer"] for e in allowed} == {world["eng"].name}
    assert all(e["incident"] == "CHG-2026-17" and e["record_id"] for e in allowed)


def test_grants_included_for_a_lead_with_a_self_grant(world, cli, server, tmp_path):
    from people import new_user

    lead = new_user(server, "team-lead")
    grant(server, world["c"], lead)
    out = tmp_path / "lead.nvx"
    assert _export(cli, world, out, token=lead.token()).returncode == 0
    doc = cli("export", "open", str(out), input=PW + "\n").json()
    users = {g["user"] for g in doc["grants"]}
    assert {world["eng"].name, lead.name} <= users
    assert all("accessor" not in g for g in doc["grants"])


def test_wrong_passphrase_modified_and_truncated(world, cli, tmp_path):
    out = tmp_path / "x.nvx"
    assert _export(cli, world, out).returncode == 0
    r = cli("export", "open", str(out), input="not-the-passphrase\n")
    assert r.returncode == 4 and r.stdout == "" and "wrong passphrase" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    blob = bytearray(out.read_bytes())
    flipped = tmp_path / "flipped.nvx"
    blob[len(blob) // 2] ^= 0x01
    flipped.write_bytes(bytes(blob))
    r = cli("export", "open", str(flipped), input=PW + "\n")
    assert r.returncode == 9 and r.stdout == "" and "modified" in r.stderr
    short = tmp_path / "short.nvx"
    short.write_bytes(out.read_bytes()[:-40])
    r = cli("export", "open", str(short), input=PW + "\n")
    assert r.returncode == 9 and r.stdout == ""
    r = cli("export", "open", str(tmp_path / "missing.nvx"), input=PW + "\n")
    assert r.returncode == 3 and r.stdout == ""


@pytest.mark.parametrize("who", ["lead", "auditor", "admin"])
def test_no_reveal_rights_no_file(world, cli, tmp_path, who):
    out = tmp_path / "x.nvx"
    r = _export(cli, world, out, token=world[who])
    assert r.returncode == 4, r.stderr
    assert "reveal right" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_bad_reference_is_refused_by_vault_no_file(world, cli, server, tmp_path):
    out = tmp_path / "x.nvx"
    r = _export(cli, world, out, incident="TICKET-1")
    assert r.returncode == 4 and "does not match" in r.stderr
    assert list(tmp_path.iterdir()) == []
    r = _export(cli, world, out, incident="INC-")  # the bare prefix: denied by the policy too
    assert r.returncode == 4 and list(tmp_path.iterdir()) == []


def test_missing_customer_and_passphrase_mismatch(world, cli, tmp_path):
    out = tmp_path / "x.nvx"
    r = cli("customer", "export", "no-such-cust", "--incident", "INC-1", "--out", str(out),
            token=world["admin"], input=TWICE)
    assert r.returncode == 3 and "no customer" in r.stderr
    r = cli("customer", "export", "no-such-cust", "--incident", "INC-1", "--out", str(out),
            token=world["eng_token"], input=TWICE)
    assert r.returncode == 4 and "no customer" in r.stderr
    r = _export(cli, world, out, input=f"{PW}\n{PW}-typo\n")
    assert r.returncode == 2 and "differ" in r.stderr
    r = _export(cli, world, out, input="short\nshort\n")
    assert r.returncode == 2 and "at least" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_time_limited_grant_exports_with_its_own_token(world, cli, server, tmp_path):
    """Reveal rights from a time-limited grant (JIT token in the inbox) work as for `reveal`."""
    from people import new_user

    temp = new_user(server, "engineer")
    r = cli("grant", temp.name, world["c"], "--for", "2h", "--reason", "CHG-5 export", token=world["lead"])
    assert r.returncode == 0, r.stderr
    out = tmp_path / "jit.nvx"
    r = _export(cli, world, out, token=temp.token())
    assert r.returncode == 0, r.stderr
    doc = cli("export", "open", str(out), input=PW + "\n").json()
    assert doc["records"]["credentials"]["fw"]["versions"][-1]["secrets"]["password"] == "new-Pass-2"
