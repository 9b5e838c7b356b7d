"""The real `netvault` command for people and grants: output, exit codes, no secrets on argv."""

from __future__ import annotations

import secrets
import time

import pytest

from access_helpers import KV, can_reveal, new_person, provision_customer
from netvault.vault.client import Vault


@pytest.fixture(scope="module")
def lead(server):
    return new_person(server, "team-lead")


@pytest.fixture
def lt(lead):
    return lead.login().token


@pytest.fixture
def customer(server):
    return provision_customer(server.root(), f"cli-{secrets.token_hex(3)}")


@pytest.fixture
def engineer(server):
    return new_person(server, "engineer")


def grants_state(server, customer):
    root = server.gateway()
    groups = sorted(g for g in root.list("identity/group/name") if g.startswith(f"nv-grant:{customer}:"))
    records = sorted(root.list(f"{KV}/metadata/_grants/{customer}"))
    return groups, records


@pytest.mark.parametrize("args", [
    ["engineer"], ["engineer", "add"], ["engineer", "list"], ["engineer", "show"], ["engineer", "disable"],
    ["engineer", "offboard"], ["grant"], ["revoke"], ["access"], ["access", "list"],
])
def test_help_has_an_example(cli, args):
    r = cli(*args, "--help")
    assert r.returncode == 0 and "Example:" in r.stdout


def test_engineer_add_generate_shows_the_password_once(cli, server, lt):
    name = f"gen-{secrets.token_hex(3)}"
    r = cli("engineer", "add", name, "--role", "engineer", "--generate", "--json", token=lt)
    assert r.returncode == 0, r.stderr
    out = r.json()
    assert out["user"] == name and out["role"] == "engineer" and len(out["password"]) >= 20
    assert out["password"] not in r.stderr
    # the password works
    Vault(server.address).write(f"auth/userpass/login/{name}", {"password": out["password"]})


def test_engineer_add_password_stdin_and_table_output(cli, server, lt):
    name = f"std-{secrets.token_hex(3)}"
    pw = "stdin-password-" + secrets.token_hex(4)
    r = cli("engineer", "add", name, "--password-stdin", token=lt, input=pw + "\n")
    assert r.returncode == 0, r.stderr
    assert pw not in r.stdout + r.stderr and "created" in r.stderr
    Vault(server.address).write(f"auth/userpass/login/{name}", {"password": pw})
    r = cli("engineer", "list", token=lt)
    assert r.returncode == 0 and name in r.stdout and "ROLES" in r.stdout
    r = cli("engineer", "show", name, "--json", token=lt)
    assert r.json()["roles"] == ["engineer"] and r.json()["grants"] == []


def test_engineer_add_refusals(cli, lt, engineer):
    name = f"bad-{secrets.token_hex(3)}"
    r = cli("engineer", "add", name, token=lt)  # no tty: no prompt
    assert r.returncode == 2 and "--password-stdin" in r.stderr
    r = cli("engineer", "add", name, "--role", "admin", "--generate", token=lt)
    assert r.returncode == 4 and "role 'admin'" in r.stderr and r.stdout == ""
    r = cli("engineer", "add", name, "--role", "wizard", "--generate", token=lt)
    assert r.returncode == 2
    r = cli("engineer", "add", engineer.name, "--generate", token=lt)
    assert r.returncode == 7
    r = cli("engineer", "add", "Bad Name", "--generate", token=lt)
    assert r.returncode == 2
    r = cli("engineer", "add", name, "--password-stdin", token=lt, input="short\n")
    assert r.returncode == 2 and "at least" in r.stderr


def test_grant_list_revoke_json(cli, server, lt, lead, customer, engineer):
    client = engineer.login()
    r = cli("grant", engineer.name, customer.name, "--reason", "INC-42", "--json", token=lt)
    assert r.returncode == 0, r.stderr
    g = r.json()
    assert sorted(g) == sorted(["user", "customer", "kind", "state", "granted_by", "granted_at", "expires_at", "reason", "accessor"])
    assert (g["kind"], g["granted_by"], g["reason"]) == ("standing", lead.name, "INC-42")
    assert can_reveal(client, customer.record())

    r = cli("access", "list", "--customer", customer.name, "--json", token=lt)
    assert [(x["user"], x["state"]) for x in r.json()] == [(engineer.name, "active")]
    r = cli("access", "list", "--engineer", engineer.name, token=lt)
    assert customer.name in r.stdout and "never" in r.stdout and "EXPIRES" in r.stdout
    r = cli("engineer", "show", engineer.name, token=lt)
    assert customer.name in r.stdout and "standing" in r.stdout

    r = cli("revoke", engineer.name, customer.name, "--json", token=lt)
    assert r.returncode == 0 and r.json()["state"] == "revoked"
    assert not can_reveal(client, customer.record())


def test_grant_for_duration_in_the_cli(cli, lt, customer, engineer):
    r = cli("grant", engineer.name, customer.name, "--for", "2h", "--json", token=lt)
    assert r.returncode == 0, r.stderr
    assert r.json()["kind"] == "jit" and r.json()["expires_at"]
    r = cli("access", "list", "--customer", customer.name, "--json", token=lt)
    assert r.json()[0]["kind"] == "jit" and r.json()[0]["state"] == "active"


@pytest.mark.parametrize("bad", ["0s", "-1h", "999y", "4 hours", "200h"])
def test_bad_durations_exit_2_nothing_changed(cli, server, lt, customer, engineer, bad):
    before = grants_state(server, customer.name)
    r = cli("grant", engineer.name, customer.name, "--for", bad, token=lt)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "duration" in r.stderr and r.stderr.count("\n") <= 2
    assert grants_state(server, customer.name) == before


def test_bad_input_exit_codes(cli, server, lt, customer, engineer):
    r = cli("grant", "nobody-zz", customer.name, token=lt)
    assert r.returncode == 3 and "unknown user" in r.stderr
    r = cli("grant", engineer.name, "no-such-cust", token=lt)
    assert r.returncode == 3 and "unknown customer" in r.stderr
    r = cli("grant", engineer.name, "Bad/Name", token=lt)
    assert r.returncode == 2
    r = cli("revoke", engineer.name, customer.name, token=lt)
    assert r.returncode == 3 and "no grant" in r.stderr
    r = cli("access", "list", "--customer", "no-such-cust", token=lt)
    assert r.returncode == 3 and "unknown customer" in r.stderr
    r = cli("access", "list", "--engineer", "nobody-zz", token=lt)
    assert r.returncode == 3 and "unknown user" in r.stderr
    r = cli("access", "list", "--engineer", engineer.name, "--json", token=lt)
    assert r.returncode == 0 and r.json() == []
    for args in (["engineer", "show", "nobody-zz"], ["engineer", "disable", "nobody-zz"],
                 ["engineer", "offboard", "nobody-zz", "--yes"]):
        r = cli(*args, token=lt)
        assert r.returncode == 3 and "unknown user" in r.stderr, args
    assert cli("grant", engineer.name, customer.name, token=lt).returncode == 0
    before = grants_state(server, customer.name)
    r = cli("grant", engineer.name, customer.name, token=lt)
    assert r.returncode == 7 and "already" in r.stderr
    assert grants_state(server, customer.name) == before


def test_engineer_cannot_grant(cli, customer, engineer):
    other = engineer
    r = cli("grant", other.name, customer.name, token=other.login().token)
    assert r.returncode == 4


def test_offboard_cli_prints_the_worklist(cli, server, lt, customer, engineer):
    token = engineer.login().token
    assert cli("grant", engineer.name, customer.name, token=lt).returncode == 0
    audit = ("--audit-file", str(server.audit_file))
    r = cli("engineer", "offboard", engineer.name, *audit, token=lt)
    assert r.returncode == 2 and "--yes" in r.stderr  # no terminal to confirm
    r = cli("engineer", "offboard", engineer.name, "--yes", *audit, "--json", token=lt)
    assert r.returncode == 0, r.stderr
    out = r.json()
    assert [(w["customer"], w["name"]) for w in out["worklist"]] == [(customer.name, "router")]
    assert out["revoked"][0]["customer"] == customer.name
    # the token issued before the offboarding is refused right after
    assert not Vault(server.address, token).token_is_valid()
    r = cli("whoami", token=token)
    assert r.returncode in (4, 8)
    r = cli("engineer", "show", engineer.name, "--json", token=lt)
    assert r.json()["disabled"] is True and r.json()["grants"] == []


def test_disable_cli(cli, server, lt, engineer):
    token = engineer.login().token
    r = cli("engineer", "disable", engineer.name, token=lt)
    assert r.returncode == 0 and "disabled" in r.stderr
    assert cli("whoami", token=token).returncode in (4, 8)


def test_auditor_reads_access_but_cannot_change_it(cli, server, lt, customer, engineer):
    auditor = new_person(server, "auditor")
    at = auditor.login().token
    assert cli("grant", engineer.name, customer.name, token=lt).returncode == 0
    r = cli("access", "list", "--customer", customer.name, "--json", token=at)
    assert r.returncode == 0, r.stderr
    assert [x["user"] for x in r.json()] == [engineer.name]
    r = cli("engineer", "list", "--json", token=at)
    assert r.returncode == 0 and engineer.name in {x["user"] for x in r.json()}
    r = cli("engineer", "show", engineer.name, "--json", token=at)
    assert r.returncode == 0, r.stderr
    assert [g["customer"] for g in r.json()["grants"]] == [customer.name]
    assert cli("revoke", engineer.name, customer.name, token=at).returncode == 4
    assert cli("grant", auditor.name, customer.name, token=at).returncode == 4


def test_short_for_expires_by_vault_itself(cli, server, lt, customer, engineer, tmp_path, monkeypatch):
    """`netvault grant --for 6s`: the engineer's picked-up token works, then
    Vault refuses it, with no netvault process running in between."""
    from datetime import datetime, timezone

    from netvault.access import jit as jit_access
    from netvault.local import config
    from access_helpers import decrypt
    from hvac import exceptions as hx

    r = cli("grant", engineer.name, customer.name, "--for", "6s", "--reason", "INC-5", token=lt)
    assert r.returncode == 0, r.stderr
    monkeypatch.setenv("NETVAULT_CONFIG_DIR", str(tmp_path / "eng"))
    monkeypatch.setenv("NETVAULT_KEYRING", "file")
    ev = server.gateway(engineer.login().token)
    token = jit_access.customer_token(config.Settings(address=server.address), ev, customer.name, datetime.now(timezone.utc))
    rec = customer.record()
    assert decrypt(server.client(token), rec) == rec.plaintext
    time.sleep(7)
    with pytest.raises(hx.Forbidden):
        decrypt(server.client(token), rec)
    r = cli("access", "list", "--customer", customer.name, "--json", token=lt)
    assert [(g["kind"], g["state"]) for g in r.json()] == [("jit", "expired")]


def test_engineer_add_prompts_twice_on_a_terminal(server, cli_env, lt):
    """The initial password typed at a hidden prompt, twice; a mismatch creates nothing."""
    import os
    import pty
    import select
    import sys

    def run(name, answers):
        pid, fd = pty.fork()
        if pid == 0:  # child: the pty is its controlling terminal
            env = {**cli_env, "VAULT_TOKEN": lt}
            os.execvpe(sys.executable, [sys.executable, "-m", "netvault", "engineer", "add", name], env)
        out, pending = b"", list(answers)
        while True:
            ready, _, _ = select.select([fd], [], [], 30)
            if not ready:
                break
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if pending and out.rstrip().endswith(b":"):
                os.write(fd, pending.pop(0).encode() + b"\n")
                out += b"<answered>"
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), out.decode(errors="replace")

    name = f"tty-{secrets.token_hex(3)}"
    code, out = run(name, ["typed-password-1234", "typed-password-1234"])
    assert code == 0, out
    assert "typed-password-1234" not in out  # hidden: not echoed
    Vault(server.address).write(f"auth/userpass/login/{name}", {"password": "typed-password-1234"})
    other = f"tty-{secrets.token_hex(3)}"
    code, out = run(other, ["typed-password-1234", "something-else-5678"])
    assert code == 2 and "differ" in out
    assert server.gateway().read(f"auth/userpass/users/{other}") is None


def test_offboard_marks_what_they_revealed_from_the_audit_log(cli, server, lt, engineer, tmp_path, monkeypatch):
    """With the audit reader (issue 5) installed: the worklist says which
    credentials the person really revealed, by login or by JIT token."""
    from access_helpers import decrypt

    cust = provision_customer(server.root(), f"ob-{secrets.token_hex(3)}", ("fw", "sw", "nas"))
    jit_cust = provision_customer(server.root(), f"ob-{secrets.token_hex(3)}", ("ap",))
    login = engineer.login()
    assert cli("grant", engineer.name, cust.name, token=lt).returncode == 0
    decrypt(login, cust.record("fw"), "INC-31")
    assert cli("grant", engineer.name, jit_cust.name, "--for", "1h", token=lt).returncode == 0
    from datetime import datetime, timezone

    from netvault.access import jit as jit_access
    from netvault.local import config

    monkeypatch.setenv("NETVAULT_KEYRING", "file")
    monkeypatch.setenv("NETVAULT_CONFIG_DIR", str(tmp_path / "eng"))
    token = jit_access.customer_token(config.Settings(address=server.address), server.gateway(login.token), jit_cust.name,
                                  datetime.now(timezone.utc))
    decrypt(server.client(token), jit_cust.record("ap"), "INC-32")
    r = cli("engineer", "offboard", engineer.name, "--yes", "--json", "--audit-file", str(server.audit_file), token=lt)
    assert r.returncode == 0, r.stderr
    out = r.json()
    assert out["audit_checked"] is True
    got = {(w["customer"], w["name"]): w["revealed"] for w in out["worklist"]}
    assert got == {(cust.name, "fw"): True, (cust.name, "sw"): False, (cust.name, "nas"): False,
                   (jit_cust.name, "ap"): True}
