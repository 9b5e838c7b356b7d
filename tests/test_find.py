"""find: by MAC in every notation, by IP, by name; engineers see only granted customers."""

from __future__ import annotations

import secrets

import pytest

from test_records_helpers import grant


def _mac() -> str:
    return "02" + secrets.token_hex(5)  # locally administered: no vendor clash


def _make_net(server, cli):
    from people import new_user

    admin = new_user(server, "admin").token()
    lead = new_user(server, "team-lead").token()
    eng = new_user(server, "engineer")
    a, b = f"fa-{secrets.token_hex(3)}", f"fb-{secrets.token_hex(3)}"
    for c in (a, b):
        assert cli("customer", "add", c, token=admin).returncode == 0
    grant(server, a, eng)
    mac_a, mac_b = _mac(), _mac()
    ip = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    r = cli("device", "add", f"{a}/gw", "--kind", "router", "--mac", mac_a, "--ip", ip, "--location", "meter cupboard", token=lead)
    assert r.returncode == 0, r.stderr
    r = cli("device", "add", f"{b}/gw", "--kind", "firewall", "--mac", mac_b, "--ip", ip, token=lead)
    assert r.returncode == 0, r.stderr
    return {"a": a, "b": b, "mac_a": mac_a, "mac_b": mac_b, "ip": ip, "lead": lead, "eng": eng.token(), "admin": admin}


@pytest.fixture(scope="module")
def _shared_net(server, module_cli):
    return _make_net(server, module_cli)


@pytest.fixture
def net(request, server, module_cli):
    """Two customers with a device each (same IP), the engineer granted the
    first: one for the module (the tests only read it); a test marked
    ``own_world`` changes the devices or the index and gets its own."""
    if request.node.get_closest_marker("own_world"):
        return _make_net(server, module_cli)
    return request.getfixturevalue("_shared_net")


def notations(hexed: str) -> list[str]:
    pairs = [hexed[i:i + 2] for i in range(0, 12, 2)]
    return [
        ":".join(pairs),
        "-".join(pairs).upper(),
        ".".join(hexed[i:i + 4] for i in range(0, 12, 4)),
        hexed,
        hexed.upper(),
        ":".join(pairs).upper(),
    ]


def test_find_by_every_mac_notation_as_engineer(net, cli):
    for term in notations(net["mac_a"]):
        r = cli("find", term, "--json", token=net["eng"])
        assert r.returncode == 0, (term, r.stderr)
        out = r.json()
        assert out["match"] == "mac" and out["key"] == net["mac_a"]
        assert [(h["customer"], h["device"], h["kind"], h["location"]) for h in out["results"]] == [
            (net["a"], "gw", "router", "meter cupboard")]


def test_find_by_every_mac_notation_as_lead(net, cli):
    for term in notations(net["mac_b"]):
        out = cli("find", term, "--json", token=net["lead"]).json()
        assert [(h["customer"], h["device"]) for h in out["results"]] == [(net["b"], "gw")]


def test_find_table_output(net, cli):
    r = cli("find", net["mac_a"], token=net["eng"])
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["CUSTOMER", "DEVICE", "KIND", "LOCATION"]
    assert net["a"] in lines[1] and "meter cupboard" in lines[1]


def test_engineer_sees_only_granted_customers(net, cli):
    r = cli("find", net["mac_b"], token=net["eng"])
    assert r.returncode == 3 and r.stdout == ""
    hits = cli("find", net["ip"], "--json", token=net["eng"]).json()["results"]
    assert [(h["customer"], h["device"]) for h in hits] == [(net["a"], "gw")]
    hits = cli("find", net["ip"], "--json", token=net["lead"]).json()["results"]
    assert sorted((h["customer"], h["device"]) for h in hits) == sorted([(net["a"], "gw"), (net["b"], "gw")])


def test_find_by_name(net, cli):
    hits = cli("find", "gw", "--json", token=net["eng"]).json()["results"]
    assert [(h["customer"], h["device"]) for h in hits] == [(net["a"], "gw")]
    hits = cli("find", "gw", "--json", token=net["admin"]).json()["results"]
    assert {net["a"], net["b"]} <= {h["customer"] for h in hits}


@pytest.mark.own_world
def test_find_follows_edits_and_removal(net, cli):
    new = _mac()
    r = cli("device", "edit", f"{net['a']}/gw", "--mac", new, token=net["lead"])
    assert r.returncode == 0, r.stderr
    assert cli("find", net["mac_a"], token=net["eng"]).returncode == 3
    assert cli("find", new, "--json", token=net["eng"]).json()["results"][0]["device"] == "gw"
    assert cli("find", new, "--json", token=net["lead"]).json()["results"][0]["customer"] == net["a"]
    assert cli("device", "rm", f"{net['a']}/gw", "--yes", token=net["lead"]).returncode == 0
    assert cli("find", new, token=net["lead"]).returncode == 3
    assert cli("find", new, token=net["eng"]).returncode == 3


@pytest.mark.own_world
def test_find_ignores_stale_index_entries(server, net, cli):
    """An index entry whose device does not hold the MAC (e.g. a crash between
    index and record write) is not reported: a team lead's find checks every
    entry of the global index bucket against the device record."""
    from netvault.records import index

    stale = _mac()
    index.edit(server.gateway(), "netvault", adds=[("mac", stale, net["a"], "gw"), ("mac", stale, net["a"], "ghost")])
    assert index.holders(server.gateway(), "netvault", "mac", stale) == [(net["a"], "ghost"), (net["a"], "gw")]
    for token in (net["lead"], net["eng"]):
        assert cli("find", stale, token=token).returncode == 3


def test_find_rejects_garbage(net, cli):
    for term in ("aa:bb:cc:dd:ee", "zz:bb:cc:dd:ee:ff", "300.1.1.1", "10.0.0.0/33", "a" * 65, "x\x1by"):
        r = cli("find", term, token=net["eng"])
        assert r.returncode == 2, (term, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1


def test_find_via_full_cli_path(net, cli):
    r = cli("find", net["mac_a"], "--json", token=net["eng"], env={"NETVAULT_NO_FAST": "1"})
    assert r.returncode == 0 and r.json()["results"][0]["customer"] == net["a"]
    assert cli("find", net["mac_b"], token=net["eng"], env={"NETVAULT_NO_FAST": "1"}).returncode == 3


def test_mac_parsers_agree():
    from netvault.values import macs

    hexed = "00163eaabbcc"
    for term in notations(hexed) + ["00163E-AABBCC"]:
        assert macs.parse_mac(term) == hexed
        assert macs.canonical_mac(term) == hexed
    for bad in ("00163eaabbc", "00:16:3e:aa:bb", "00:16:3e:aa:bb:cc:dd", "0016.3eaa.bbcg", "00:16-3e:aa:bb:cc", "", "1:2:3:4:5:6"):
        assert macs.parse_mac(bad) is None


def test_fast_argv_parser():
    from netvault.cli.fast import parse

    assert parse(["reveal", "a/b", "--incident", "INC-1"]) == ("reveal", {"ref": "a/b", "incident": "INC-1", "field": None, "copy": False, "totp": False, "as_json": False, "break_glass": False, "version": None})
    assert parse(["reveal", "a/b", "--break-glass", "-i", "INC-1"])[1]["break_glass"] is True
    got = parse(["reveal", "-i=INC-1", "a/b", "--copy", "--totp", "-f", "x"])[1]
    assert got["copy"] is True and got["incident"] == "=INC-1"  # click's rule for a short option: "=INC-1" attached
    assert parse(["reveal", "a/b", "--incident=INC-1"])[1]["incident"] == "INC-1"
    assert parse(["reveal", "a/b", "--version", "2"])[1]["version"] == 2
    assert parse(["reveal", "a/b", "--help"]) is None
    assert parse(["reveal", "a/b", "--incident"]) is None
    assert parse(["reveal", "a/b", "c/d"]) is None
    assert parse(["reveal", "a/b", "--bogus"]) is None
    assert parse(["reveal", "a/b", "--version", "0"]) is None  # typer's own error
    assert parse(["find", "aa:bb:cc:dd:ee:ff", "--json"]) == ("find", {"term": "aa:bb:cc:dd:ee:ff", "as_json": True})
    assert parse(["find", "--", "-x"]) == ("find", {"term": "-x", "as_json": False})
    assert parse(["find"]) is None


@pytest.mark.parametrize("term, says", [
    ("00:11:22:33:44", "looks like a MAC address with 5 bytes; a MAC has 6"),
    ("00-11-22-33-44-55-66", "looks like a MAC address with 7 bytes"),
    ("0011.2233", "looks like a Cisco-style MAC with 2 groups"),
    ("10.0.0", "looks like an IPv4 address with 3 parts"),
    ("10.0.0.300", "300 is not 0-255"),
    ("fe80:::1", "looks like an IPv6 address but is not a valid one"),
    ("zz:bb:cc:dd:ee:ff", "looks like a MAC address but holds characters that are not hex digits"),
    ("10.0.0.0/33", "looks like a subnet but is not a valid one"),
])
def test_find_says_what_a_bad_term_looks_like(term, says):
    """Issue 15: `find 00:11:22:33:44` said "not a valid IP address"; now it says
    what the term looks like and what find accepts."""
    from netvault.errors import UsageError
    from netvault.records.search import parse_term

    with pytest.raises(UsageError) as err:
        parse_term(term)
    assert says in err.value.message and "find takes a MAC" in err.value.message
