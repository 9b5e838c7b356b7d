"""Issue 15 (daily use): small everyday fixes, run through the real command."""

from netvault.errors import ExitCode


def test_top_level_typo_suggests_lazy_command(cli):
    res = cli("revael", "x/y.password")
    assert res.returncode == int(ExitCode.USAGE)
    assert "No such command 'revael'. Did you mean 'reveal'" in res.stderr, res.stderr
    assert res.stdout == ""


def test_top_level_nonsense_gets_no_suggestion(cli):
    res = cli("zzzzqqq")
    assert res.returncode == int(ExitCode.USAGE)
    assert "No such command 'zzzzqqq'." in res.stderr and "Did you mean" not in res.stderr


def test_sub_command_typo_still_suggests(cli):
    res = cli("credential", "shwo")
    assert res.returncode == int(ExitCode.USAGE)
    assert "Did you mean 'show'?" in res.stderr, res.stderr


# -- list filters -------------------------------------------------------------
import json  # noqa: E402

import pytest  # noqa: E402

from test_records_helpers import grant  # noqa: E402


@pytest.fixture
def shop(server, make_user, unique, cli):
    admin = make_user("admin").token()
    lead = make_user("team-lead").token()
    eng = make_user("engineer")
    c = unique("cust")
    assert cli("customer", "add", c, "--company", "Shop BV", token=admin).returncode == 0
    grant(server, c, eng)
    return {"lead": lead, "eng": eng.token(), "c": c}


def test_credential_list_by_tag(shop, cli):
    c, lead = shop["c"], shop["lead"]
    for name, tags in (("vpn1", "vpn,core"), ("vpn2", "vpn"), ("mail", "office")):
        r = cli("credential", "add", f"{c}/{name}", "--tag", tags, "--stdin", input="pw-" + name + "\n", token=lead)
        assert r.returncode == 0, r.stderr
    r = cli("credential", "list", c, "--tag", "vpn", "--json", token=shop["eng"])
    assert r.returncode == 0, r.stderr
    assert sorted(x["name"] for x in json.loads(r.stdout)) == ["vpn1", "vpn2"]
    r = cli("credential", "list", c, "--tag", "vpn", "--tag", "core", token=shop["eng"])
    assert r.returncode == 0 and "vpn1" in r.stdout and "vpn2" not in r.stdout and "mail" not in r.stdout
    r = cli("credential", "list", c, "--tag", "nothing-here", token=shop["eng"])
    assert r.returncode == 0 and r.stdout == "" and "(no credentials)" in r.stderr
    r = cli("credential", "list", c, "--tag", "Bad Tag!", token=shop["eng"])
    assert r.returncode == 2 and "invalid tag" in r.stderr


def test_device_list_by_kind_and_tag(shop, cli):
    c, lead = shop["c"], shop["lead"]
    for name, kind, tags in (("sw1", "switch", "core"), ("sw2", "switch", "floor2"), ("fw", "firewall", "core")):
        r = cli("device", "add", f"{c}/{name}", "--kind", kind, "--tag", tags, token=lead)
        assert r.returncode == 0, r.stderr
    r = cli("device", "list", c, "--kind", "switch", "--json", token=shop["eng"])
    assert r.returncode == 0, r.stderr
    assert sorted(x["name"] for x in json.loads(r.stdout)) == ["sw1", "sw2"]
    r = cli("device", "list", c, "--tag", "core", "--json", token=shop["eng"])
    assert sorted(x["name"] for x in json.loads(r.stdout)) == ["fw", "sw1"]
    r = cli("device", "list", c, "--kind", "switch", "--tag", "core", token=shop["eng"])
    assert r.returncode == 0 and "sw1" in r.stdout and "sw2" not in r.stdout and "fw" not in r.stdout.split()
    r = cli("device", "edit", f"{c}/sw2", "--tag", "core", token=lead)
    assert r.returncode == 0, r.stderr
    r = cli("device", "list", c, "--kind", "switch", "--tag", "core", "--json", token=shop["eng"])
    assert sorted(x["name"] for x in json.loads(r.stdout)) == ["sw1", "sw2"]
    r = cli("device", "list", c, "--kind", "toaster", token=shop["eng"])
    assert r.returncode == 2 and "invalid device kind 'toaster'" in r.stderr, r.stderr


# -- rm asks, undelete restores ------------------------------------------------
def _raw_meta(server, path):
    return server.root().secrets.kv.v2.read_secret_metadata(path=path, mount_point="netvault")["data"]


def test_rm_asks_for_the_name_and_undelete_restores(shop, cli, server):
    c, lead = shop["c"], shop["lead"]
    r = cli("credential", "add", f"{c}/vpn", "--stdin", input="pw-vpn\n", token=lead)
    assert r.returncode == 0, r.stderr
    # no confirmation (empty stdin) or a wrong one: nothing deleted, exit 1
    for answer in ("", "other\n"):
        r = cli("credential", "rm", f"{c}/vpn", input=answer, token=lead)
        assert r.returncode == 1 and "not deleted: confirmation did not match 'vpn'" in r.stderr, r.stderr
    assert not _raw_meta(server, f"customers/{c}/credentials/vpn")["versions"]["1"]["deletion_time"]
    r = cli("credential", "rm", f"{c}/vpn", input="vpn\n", token=lead)
    assert r.returncode == 0 and f"deleted credential {c}/vpn" in r.stderr + r.stdout
    assert _raw_meta(server, f"customers/{c}/credentials/vpn")["versions"]["1"]["deletion_time"]
    assert cli("credential", "show", f"{c}/vpn", token=lead).returncode == 3
    r = cli("credential", "undelete", f"{c}/vpn", "--json", token=lead)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["restored_version"] == 1
    meta = _raw_meta(server, f"customers/{c}/credentials/vpn")
    assert meta["current_version"] == 1 and not meta["versions"]["1"]["deletion_time"]
    assert cli("reveal", f"{c}/vpn", "--incident", "INC-7", token=shop["eng"]).stdout.strip() == "pw-vpn"
    # a live record is not "undeleted"; an unknown one is not found
    r = cli("credential", "undelete", f"{c}/vpn", token=lead)
    assert r.returncode == 7 and "is not removed" in r.stderr
    r = cli("credential", "undelete", f"{c}/never", token=lead)
    assert r.returncode == 3 and f"no credential {c}/never" in r.stderr
    # --yes skips the question
    r = cli("credential", "rm", f"{c}/vpn", "--yes", token=lead)
    assert r.returncode == 0, r.stderr


def test_undelete_device_brings_it_back_into_find(shop, cli):
    c, lead = shop["c"], shop["lead"]
    mac = "02:15:15:00:00:01"
    assert cli("device", "add", f"{c}/gw", "--kind", "router", "--mac", mac, token=lead).returncode == 0
    assert cli("device", "rm", f"{c}/gw", "--yes", token=lead).returncode == 0
    assert cli("find", mac, token=shop["eng"]).returncode == 3
    r = cli("device", "undelete", f"{c}/gw", token=lead)
    assert r.returncode == 0 and f"restored device {c}/gw (version 1)" in r.stderr + r.stdout, r.stderr
    r = cli("find", mac, "--json", token=shop["eng"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["results"][0]["device"] == "gw"


def test_engineer_cannot_undelete(shop, cli):
    c, lead = shop["c"], shop["lead"]
    assert cli("licence", "add", f"{c}/av", "--product", "AV", token=lead).returncode == 0
    assert cli("licence", "rm", f"{c}/av", "-y", token=lead).returncode == 0
    r = cli("licence", "undelete", f"{c}/av", token=shop["eng"])
    assert r.returncode == 4, r.stderr


# -- one MAC, one device -------------------------------------------------------
def test_same_mac_on_two_devices_is_refused_unless_force(shop, cli, server, make_user, unique):
    c, lead = shop["c"], shop["lead"]
    mac = "02:15:15:00:00:aa"
    assert cli("device", "add", f"{c}/sw1", "--kind", "switch", "--mac", mac, token=lead).returncode == 0
    r = cli("device", "add", f"{c}/sw2", "--kind", "switch", "--mac", "02-15-15-00-00-AA", token=lead)
    assert r.returncode == 7, r.stderr
    assert f"error: MAC 02:15:15:00:00:aa is already on device {c}/sw1; a MAC names one device" in r.stderr, r.stderr
    assert "--force" in r.stderr
    assert cli("device", "show", f"{c}/sw2", token=lead).returncode == 3
    # another customer's device (seen through the global index by a lead)
    admin = make_user("admin").token()
    other = unique("cust")
    assert cli("customer", "add", other, "--company", "Other BV", token=admin).returncode == 0
    r = cli("device", "add", f"{other}/gw", "--kind", "router", "--mac", mac, token=lead)
    assert r.returncode == 7 and f"{c}/sw1" in r.stderr, r.stderr
    # edit: moving the MAC onto another device is refused too
    assert cli("device", "add", f"{c}/sw3", "--kind", "switch", token=lead).returncode == 0
    r = cli("device", "edit", f"{c}/sw3", "--mac", mac, token=lead)
    assert r.returncode == 7 and "already on device" in r.stderr, r.stderr
    # re-saving the device's own MAC is no conflict
    r = cli("device", "edit", f"{c}/sw1", "--mac", mac, "--ip", "192.0.2.9", token=lead)
    assert r.returncode == 0, r.stderr
    # --force records it
    r = cli("device", "edit", f"{c}/sw3", "--mac", mac, "--force", token=lead)
    assert r.returncode == 0, r.stderr
    r = cli("device", "add", f"{c}/sw2", "--kind", "switch", "--mac", mac, "--force", token=lead)
    assert r.returncode == 0, r.stderr
    r = cli("find", mac, "--json", token=lead)
    assert sorted(x["device"] for x in json.loads(r.stdout)["results"]) == ["sw1", "sw2", "sw3"]
