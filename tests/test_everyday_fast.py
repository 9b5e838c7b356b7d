"""Everyday reads on the lean path (issue 15 speed): whoami, credential
list/show, device list print exactly what the typer commands print."""

from __future__ import annotations

import pytest

from netvault.errors import ExitCode


@pytest.fixture
def shop(server, make_user, unique, cli):
    from test_records_helpers import grant

    admin = make_user("admin").token()
    lead = make_user("team-lead").token()
    eng = make_user("engineer")
    c = unique("ev")
    assert cli("customer", "add", c, token=admin).returncode == 0
    grant(server, c, eng)
    for i in range(3):
        r = cli("credential", "add", f"{c}/cred-{i}", "--username", f"u{i}", "--generate", "--tag", "vpn", token=lead)
        assert r.returncode == 0, r.stderr
    r = cli("device", "add", f"{c}/sw-1", "--kind", "switch", "--mac", "00:16:3e:00:00:01", "--ip", "192.0.2.9", "--force", token=lead)
    assert r.returncode == 0, r.stderr
    return {"c": c, "eng": eng.token(), "lead": lead}


def _steady(out: str) -> str:
    """Output without what moves with the clock (the token's remaining time)."""
    import json

    if out.startswith("{"):
        return json.dumps({k: v for k, v in json.loads(out).items() if k not in ("ttl", "expires_in")}, sort_keys=True)
    return "\n".join(line for line in out.splitlines() if not line.startswith("expires_in"))


def test_fast_and_typer_paths_print_the_same(shop, cli):
    c = shop["c"]
    for args in (["whoami"], ["whoami", "--json"], ["credential", "list", c], ["credential", "list", c, "--json"],
                 ["device", "list", c], ["device", "list", "--json", c], ["credential", "show", f"{c}/cred-1"],
                 ["credential", "show", f"{c}/cred-1", "--json"]):
        fast = cli(*args, token=shop["eng"])
        full = cli(*args, token=shop["eng"], env={"NETVAULT_NO_FAST": "1"})
        assert fast.returncode == full.returncode == 0, (args, fast.stderr, full.stderr)
        assert _steady(fast.stdout) == _steady(full.stdout) and fast.stdout.strip(), args
    for args in (["access", "list"], ["access", "list", "--json"]):  # a team lead's view of every grant
        fast = cli(*args, token=shop["lead"])
        full = cli(*args, token=shop["lead"], env={"NETVAULT_NO_FAST": "1"})
        assert fast.returncode == full.returncode == 0, (args, fast.stderr, full.stderr)
        assert fast.stdout == full.stdout and c in fast.stdout, args
    assert "cred-2" in cli("credential", "list", c, token=shop["eng"]).stdout
    assert "00:16:3e:00:00:01" in cli("device", "list", c, token=shop["eng"]).stdout


def test_fast_path_errors_like_the_typer_path(shop, cli):
    # the exit code each must give: the same crash on both paths would otherwise pass
    for args, code in ((["credential", "list", "no-such-customer"], ExitCode.PERMISSION_DENIED),
                       (["credential", "show", f"{shop['c']}/nope"], ExitCode.NOT_FOUND),
                       (["credential", "show", "not a ref"], ExitCode.USAGE)):
        fast = cli(*args, token=shop["eng"])
        full = cli(*args, token=shop["eng"], env={"NETVAULT_NO_FAST": "1"})
        assert fast.returncode == full.returncode == code, (args, fast.returncode, fast.stderr)
        assert fast.stderr == full.stderr, args
        assert fast.stderr.startswith("error: ") and fast.stderr.count("\n") == 1 and "internal error" not in fast.stderr


def test_fast_everyday_parser():
    from netvault.cli.fast import parse

    assert parse(["whoami"]) == ("whoami", {"as_json": False})
    assert parse(["credential", "list", "acme", "--json"]) == ("credential list", {"customer": "acme", "tag": None, "as_json": True})
    assert parse(["device", "list", "acme"]) == ("device list", {"customer": "acme", "kind": None, "tag": None, "as_json": False})
    assert parse(["credential", "show", "acme/fw"]) == ("credential show", {"ref": "acme/fw", "version": None, "as_json": False})
    assert parse(["access", "list", "--json"]) == ("access list", {"customer": None, "engineer": None, "as_json": True})
    assert parse(["credential", "list", "acme", "--tag", "x", "--tag=y"])[1]["tag"] == ["x", "y"]
    assert parse(["device", "list", "acme", "--kind", "nas"])[1]["kind"] == "nas"
    assert parse(["credential", "show", "acme/fw", "--version", "2"])[1]["version"] == 2
    for other in (["whoami", "--help"], ["credential", "add", "acme/x"], ["device", "show", "acme/x"],
                  ["credential", "list"], ["credential", "list", "acme", "--tag"], ["access", "grant"],
                  ["credential", "show", "acme/fw", "--version", "x"], ["whoami", "--json=1"]):
        assert parse(other) is None, other
