"""Customers, credentials, devices, licences, history: the real CLI against a real OpenBao."""

from __future__ import annotations

import pytest

from netvault.errors import ExitCode
from test_records_helpers import grant, index_holders, kv_exists, kv_get


@pytest.fixture
def world(server, make_user, unique, cli):
    """An admin, a team lead, an engineer granted a fresh customer."""
    admin = make_user("admin").token()
    lead = make_user("team-lead").token()
    eng_user = make_user("engineer")
    customer = unique("cust")
    r = cli("customer", "add", customer, "--company", "Acme BV", "--city", "Utrecht", "--email", "it@acme.example", token=admin)
    assert r.returncode == 0, r.stderr
    grant(server, customer, eng_user)
    return {"admin": admin, "lead": lead, "eng": eng_user.token(), "eng_user": eng_user, "c": customer}


def test_customer_add_creates_key_policy_profile(server, world, cli):
    c = world["c"]
    root = server.root()
    key = root.secrets.transit.read_key(f"customer-{c}", mount_point="netvault-transit")["data"]
    assert key["derived"] is True and key["type"] == "aes256-gcm96"
    policy = root.sys.read_acl_policy(f"nv-customer-{c}")["data"]["policy"]
    assert f"customer-{c}" in policy and '"INC-*"' in policy
    profile = kv_get(server, f"customers/{c}/profile")
    assert profile["company"] == "Acme BV" and len(profile["id"]) == 32
    assert kv_get(server, f"customers/{c}/_ids/{profile['id']}") == {"kind": "customer", "name": c, "customer": c}
    # again: conflict, exit 7
    r = cli("customer", "add", c, token=world["admin"])
    assert r.returncode == 7 and "already exists" in r.stderr


def test_customer_add_is_admin_only(world, cli, unique, server):
    c = unique("cust")
    r = cli("customer", "add", c, "--company", "X", token=world["lead"])
    assert r.returncode == 4, r.stderr
    assert "admin-only" in r.stderr
    assert not kv_exists(server, f"customers/{c}/profile")


def test_customer_list_show_edit_history(world, cli):
    c, lead = world["c"], world["lead"]
    r = cli("customer", "list", "--json", token=lead)
    assert r.returncode == 0 and c in [row["customer"] for row in r.json()]
    r = cli("customer", "list", "--json", token=world["eng"])  # engineer: granted customers
    assert [row["customer"] for row in r.json()] == [c]
    r = cli("customer", "edit", c, "--phone", "+31 30 123 4567", "--city", "", token=lead)
    assert r.returncode == 0, r.stderr
    shown = cli("customer", "show", c, "--json", token=lead).json()
    assert shown["phone"] == "+31 30 123 4567" and shown["city"] is None and shown["version"] == 2
    old = cli("customer", "show", c, "--version", "1", "--json", token=lead).json()
    assert old["city"] == "Utrecht" and old["phone"] is None
    r = cli("customer", "show", c, token=lead)
    assert "company" in r.stdout and "Acme BV" in r.stdout
    hist = cli("history", c, "--json", token=lead).json()
    assert [v["version"] for v in hist["versions"]] == [1, 2] and hist["kind"] == "customer"
    # stale version: conflict (exit 7), nothing written
    r = cli("customer", "edit", c, "--phone", "+31 1", "--if-version", "1", token=lead)
    assert r.returncode == 7, r.stderr
    assert cli("customer", "show", c, "--json", token=lead).json()["version"] == 2


def test_check_and_set_conflict_between_two_writers(server, world):
    """Two clients read version N; the second write is refused, not lost."""
    from netvault.errors import Conflict
    from netvault.records.store import Store

    c = world["c"]
    a, b = Store(server.gateway(world["lead"])), Store(server.gateway(world["lead"]))
    a.add_credential(c, "shared", username="u", secrets={"password": "p1"})
    path = f"customers/{c}/credentials/shared"
    data_a, va = a.current(path, "x")
    data_b, vb = b.current(path, "x")
    a.put(path, {**data_a, "username": "alice-edit"}, va)
    with pytest.raises(Conflict) as err:
        b.put(path, {**data_b, "username": "bob-edit"}, vb)
    assert err.value.exit_code == 7
    assert kv_get(server, path)["username"] == "alice-edit"


def test_credential_lifecycle(server, world, cli):
    c, lead = world["c"], world["lead"]
    r = cli("credential", "add", f"{c}/fw", "--username", "admin", "--url", "https://192.0.2.1:8443", "--tag", "fw,prod",
            "--totp", "--secret", "enable", "--stdin", input="S3cret-pw\nJBSWY3DPEHPK3PXPJBSWY3DP\nen-able\n", token=lead)
    assert r.returncode == 0, r.stderr
    stored = kv_get(server, f"customers/{c}/credentials/fw")
    assert set(stored["secrets"]) == {"password", "totp", "enable"}
    assert all(v.startswith("vault:v1:") for v in stored["secrets"].values())
    assert "S3cret-pw" not in str(stored)
    shown = cli("credential", "show", f"{c}/fw", "--json", token=world["eng"])
    assert shown.returncode == 0 and "S3cret-pw" not in shown.stdout and "vault:v1" not in shown.stdout
    assert shown.json()["secret_fields"] == ["enable", "password", "totp"] and shown.json()["tags"] == ["fw", "prod"]
    listed = cli("credential", "list", c, token=world["eng"])
    assert "fw" in listed.stdout and "S3cret-pw" not in listed.stdout
    r = cli("credential", "edit", f"{c}/fw", "--username", "root", token=lead)
    assert r.returncode == 0
    r = cli("credential", "rotate", f"{c}/fw", "--generate", "--length", "40", token=lead)
    assert r.returncode == 0, r.stderr
    secret = cli("reveal", f"{c}/fw", "--incident", "INC-1", token=world["eng"]).stdout.strip()
    assert len(secret) == 40 and secret != "S3cret-pw"
    r = cli("credential", "rotate", f"{c}/fw", "--remove-field", "enable", token=lead)
    assert r.returncode == 0 and "enable" not in kv_get(server, f"customers/{c}/credentials/fw")["secrets"]
    hist = cli("history", f"{c}/fw", "--json", token=lead).json()
    assert hist["current_version"] == 4 and hist["kind"] == "credential"
    v1 = cli("credential", "show", f"{c}/fw", "--version", "1", "--json", token=lead).json()
    assert v1["username"] == "admin" and v1["version"] == 1
    r = cli("credential", "rm", f"{c}/fw", "--yes", token=lead)
    assert r.returncode == 0
    assert cli("credential", "show", f"{c}/fw", token=lead).returncode == 3
    assert cli("history", f"{c}/fw", "--json", token=lead).json()["versions"][-1]["deleted"] is True
    # re-adding a deleted name works (supersedes the deleted version)
    r = cli("credential", "add", f"{c}/fw", "--generate", "--words", "5", token=lead)
    assert r.returncode == 0, r.stderr
    phrase = cli("reveal", f"{c}/fw", "-i", "CHG-9", token=world["eng"]).stdout.strip()
    assert len(phrase.split("-")) == 5


def test_credential_add_needs_a_secret_source(world, cli):
    r = cli("credential", "add", f"{world['c']}/x", token=world["lead"])  # no tty, no --stdin/--generate
    assert r.returncode == 2 and "--stdin" in r.stderr
    r = cli("credential", "add", f"{world['c']}/x", "--password", "hunter2", token=world["lead"])
    assert r.returncode == 2  # no option takes a secret value


def test_prompt_mismatch_and_stdin_empty(world, cli):
    r = cli("credential", "add", f"{world['c']}/x", "--stdin", input="\n", token=world["lead"])
    assert r.returncode == 2 and "no password" in r.stderr


def test_engineer_cannot_write(world, cli, server):
    c = world["c"]
    r = cli("credential", "add", f"{c}/e", "--generate", token=world["eng"])
    assert r.returncode == 4, r.stderr
    assert not kv_exists(server, f"customers/{c}/credentials/e")


def test_device_lifecycle_and_index(server, world, cli):
    c, lead = world["c"], world["lead"]
    cli("credential", "add", f"{c}/sw-admin", "--generate", token=lead)
    r = cli("device", "add", f"{c}/sw1", "--kind", "switch", "--mac", "00-16-3E-AA-BB-01", "--mac", "0016.3eaa.bb02",
            "--ip", "192.0.2.10", "--serial", "SN1", "--model", "CBS350", "--location", "rack 2", "--credential", "sw-admin",
            token=lead)
    assert r.returncode == 0, r.stderr
    stored = kv_get(server, f"customers/{c}/devices/sw1")
    assert stored["macs"] == ["00163eaabb01", "00163eaabb02"] and stored["ips"] == ["192.0.2.10"]
    assert (c, "sw1") in index_holders(server, "mac", "00163eaabb01")
    assert (c, "sw1") in index_holders(server, "mac", "00163eaabb02")
    assert (c, "sw1") in index_holders(server, "ip", "192.0.2.10")
    # a device has no sealed field: no _ids entry (its id never reaches a transit context)
    assert not kv_exists(server, f"customers/{c}/_ids/{stored['id']}")
    # the per-customer lists written before search documents are gone
    assert not kv_exists(server, f"customers/{c}/_index/mac/00163eaabb01")
    shown = cli("device", "show", f"{c}/sw1", token=world["eng"])
    assert "00:16:3e:aa:bb:01 (Xensource, Inc.)" in shown.stdout
    js = cli("device", "show", f"{c}/sw1", "--json", token=world["eng"]).json()
    assert js["mac_details"][0] == {"mac": "00:16:3e:aa:bb:01", "vendor": "Xensource, Inc."}
    assert "sw1" in cli("device", "list", c, token=world["eng"]).stdout
    r = cli("device", "edit", f"{c}/sw1", "--mac", "00:16:3e:aa:bb:03", "--ip", "2001:DB8::1", token=lead)
    assert r.returncode == 0, r.stderr
    assert (c, "sw1") not in index_holders(server, "mac", "00163eaabb01")
    assert (c, "sw1") in index_holders(server, "mac", "00163eaabb03")
    assert (c, "sw1") in index_holders(server, "ip", "2001:db8::1")
    assert (c, "sw1") not in index_holders(server, "ip", "192.0.2.10")
    r = cli("device", "edit", f"{c}/sw1", "--location", "rack 3", "--if-version", "1", token=lead)
    assert r.returncode == 7
    r = cli("device", "rm", f"{c}/sw1", "--yes", token=lead)
    assert r.returncode == 0
    assert (c, "sw1") not in index_holders(server, "mac", "00163eaabb03")
    assert cli("device", "show", f"{c}/sw1", token=lead).returncode == 3
    assert cli("device", "show", f"{c}/sw1", "--version", "1", "--json", token=lead).json()["macs"] == ["00163eaabb01", "00163eaabb02"]


def test_device_link_to_missing_credential(world, cli, server):
    r = cli("device", "add", f"{world['c']}/r1", "--kind", "router", "--credential", "nope", token=world["lead"])
    assert r.returncode == 3
    assert not kv_exists(server, f"customers/{world['c']}/devices/r1")


def test_licence_lifecycle(server, world, cli):
    c, lead = world["c"], world["lead"]
    r = cli("licence", "add", f"{c}/m365", "--product", "Microsoft 365", "--vendor", "Microsoft", "--seats", "25",
            "--expires", "2000-01-31", "--stdin", input="AAAA-BBBB-CCCC\n", token=lead)
    assert r.returncode == 0, r.stderr
    r = cli("licence", "add", f"{c}/av", "--product", "AV", "--expires", "2999-01-01", token=lead)
    assert r.returncode == 0, r.stderr
    assert "AAAA-BBBB" not in str(kv_get(server, f"customers/{c}/licences/m365"))
    shown = cli("licence", "show", f"{c}/m365", "--json", token=world["eng"]).json()
    assert shown["seats"] == 25 and shown["secret_fields"] == ["licence_key"]
    assert cli("reveal", f"{c}/m365", "--incident", "INC-7", token=world["eng"]).stdout == "AAAA-BBBB-CCCC\n"
    exp = cli("licence", "list", "--expiring", "30d", "--json", token=lead).json()
    names_ = [(r["customer"], r["name"]) for r in exp]
    assert (c, "m365") in names_ and (c, "av") not in names_
    all_ = cli("licence", "list", c, "--json", token=world["eng"]).json()
    assert [r["name"] for r in all_] == ["m365", "av"]
    assert cli("licence", "list", "--expiring", "30d", token=world["eng"]).returncode == 0
    r = cli("licence", "edit", f"{c}/m365", "--seats", "30", token=lead)
    assert r.returncode == 0 and kv_get(server, f"customers/{c}/licences/m365")["seats"] == 30
    r = cli("licence", "edit", f"{c}/m365", "--stdin", input="NEW-KEY\n", token=lead)
    assert r.returncode == 0, r.stderr
    assert cli("reveal", f"{c}/m365", "-i", "INC-7", token=world["eng"]).stdout == "NEW-KEY\n"
    assert cli("licence", "rm", f"{c}/av", "-y", token=lead).returncode == 0
    assert cli("licence", "show", f"{c}/av", token=lead).returncode == 3


def test_rotate_key_rewraps_and_reveals_nothing(server, world, cli):
    c, lead = world["c"], world["lead"]
    cli("credential", "add", f"{c}/a", "--stdin", input="alpha-pw\n", token=lead)
    cli("licence", "add", f"{c}/l", "--product", "P", "--stdin", input="lic-key\n", token=lead)
    r = cli("customer", "rotate-key", c, "--json", token=lead)
    assert r.returncode == 0, r.stderr
    out = r.json()
    assert out["key_version"] == 2 and out["fields_rewrapped"] == 2 and out["records_rewrapped"] == 2
    assert "alpha-pw" not in r.stdout + r.stderr and "lic-key" not in r.stdout + r.stderr
    assert kv_get(server, f"customers/{c}/credentials/a")["secrets"]["password"].startswith("vault:v2:")
    assert cli("reveal", f"{c}/a", "-i", "INC-1", token=world["eng"]).stdout == "alpha-pw\n"
    # an engineer cannot rotate
    assert cli("customer", "rotate-key", c, token=world["eng"]).returncode == 4


def test_ids_map_back_to_records(server, world, cli):
    c, lead = world["c"], world["lead"]
    cli("credential", "add", f"{c}/x", "--generate", token=lead)
    rid = kv_get(server, f"customers/{c}/credentials/x")["id"]
    assert kv_get(server, f"customers/{c}/_ids/{rid}") == {"kind": "credential", "name": "x", "customer": c}


@pytest.mark.parametrize("cmd", [
    ["customer", "add"], ["customer", "list"], ["customer", "show"], ["customer", "edit"], ["customer", "rotate-key"],
    ["credential", "add"], ["credential", "list"], ["credential", "show"], ["credential", "edit"], ["credential", "rotate"],
    ["credential", "rm"], ["device", "add"], ["device", "list"], ["device", "show"], ["device", "edit"], ["device", "rm"],
    ["licence", "add"], ["licence", "list"], ["licence", "show"], ["licence", "edit"], ["licence", "rm"],
    ["history"], ["reveal"], ["find"],
])
def test_every_command_has_help_with_example(cli, cmd):
    r = cli(*cmd, "--help")
    assert r.returncode == 0 and "Example:" in r.stdout


def _imported(args, env, expect: int):
    """The modules a real run imports; the run itself must end as EXPECTed
    (a command that crashed on an import would otherwise import little and pass)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "netvault", *args], env=env,
                          capture_output=True, text=True)
    messages = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    assert proc.returncode == expect and "Traceback" not in proc.stderr, (args, proc.returncode, messages)
    return {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


def test_help_and_hot_path_import_only_what_they_need(cli_env, world):
    """--help must not pull in hvac/requests; reveal/find not even typer or keyring."""
    mods = _imported(["--help"], cli_env, 0)
    assert "typer" in mods and not {"hvac", "requests", "netaddr"} & mods
    env = {**cli_env, "VAULT_TOKEN": world["eng"]}
    mods = _imported(["reveal", "x/y", "--incident", "INC-1"], env, ExitCode.PERMISSION_DENIED)  # not granted
    assert "netvault.records.lookup" in mods
    assert not {"typer", "hvac", "requests", "keyring", "netaddr", "click"} & mods
    mods = _imported(["find", "aa:bb:cc:dd:ee:ff"], env, ExitCode.NOT_FOUND)
    assert "netvault.records.lookup" in mods and not {"typer", "hvac", "requests", "keyring", "netaddr"} & mods
