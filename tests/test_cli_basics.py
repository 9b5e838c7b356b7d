"""Login, whoami, setup and the error handler against the real server."""

import subprocess
import sys

import pytest

from netvault.errors import ExitCode


def test_help_is_lean_and_has_examples():
    code = ("import sys; from netvault.cli.main import run\n"
            "try: run(['--help'])\nexcept SystemExit as e: code = e.code\nelse: code = 0\n"
            "bad = [m for m in ('hvac', 'requests', 'keyring', 'cryptography') if m in sys.modules]\n"
            "print(code, bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Usage" in out.stdout and "Example" in out.stdout  # the help really printed
    assert out.stdout.strip().splitlines()[-1] == "0 []"  # help exits 0, having imported none of these


@pytest.mark.parametrize("command", [["server", "up"], ["setup"], ["login"], ["whoami"], ["logout"]])
def test_every_command_has_help_with_example(cli, command):
    res = cli(*command, "--help")
    assert res.returncode == 0 and "Example" in res.stdout


def test_login_whoami_logout(cli, make_user, server):
    alice = make_user("team-lead")
    res = cli("login", alice.name, "--password-stdin", "--json", input=alice.password + "\n")
    assert res.returncode == 0, res.stderr
    assert alice.password not in res.stdout + res.stderr
    who = cli("whoami", "--json").json()
    assert who["username"] == alice.name and who["roles"] == ["team-lead"]
    assert who["expires_in"] != "never"
    assert cli("logout").returncode == 0
    assert cli("whoami").returncode == ExitCode.NOT_LOGGED_IN


def test_wrong_password(cli, make_user):
    bob = make_user("engineer")
    res = cli("login", bob.name, "--password-stdin", input="not-the-password\n")
    assert res.returncode == ExitCode.PERMISSION_DENIED
    assert "not-the-password" not in res.stderr and res.stderr.count("\n") == 1


def test_env_token_wins_and_revoked_token_is_reported(cli, make_user, server):
    carol = make_user("engineer")
    token = carol.token()
    assert cli("whoami", "--json", token=token).json()["username"] == carol.name
    server.client(token).auth.token.revoke_self()
    res = cli("whoami", token=token)
    assert res.returncode == ExitCode.NOT_LOGGED_IN
    assert "expired or revoked" in res.stderr


def test_unreachable_and_invalid_address(cli):
    res = cli("whoami", env={"VAULT_ADDR": "http://127.0.0.1:1", "VAULT_TOKEN": "x"})
    assert res.returncode == ExitCode.UNREACHABLE and res.stderr.startswith("error: cannot reach")
    res = cli("whoami", env={"VAULT_ADDR": "not a url", "VAULT_TOKEN": "x"})
    assert res.returncode == ExitCode.USAGE


def test_corrupt_config_file(cli, cli_env):
    from pathlib import Path

    cfg = Path(cli_env["NETVAULT_CONFIG_DIR"])
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text("address = [unclosed\n")
    res = cli("whoami")
    assert res.returncode == ExitCode.USAGE and "corrupt" in res.stderr
    assert "Traceback" not in res.stderr


def test_traceback_flag_shows_trace(cli):
    res = cli("--traceback", "whoami", env={"VAULT_ADDR": "http://127.0.0.1:1", "VAULT_TOKEN": "x"})
    assert "Traceback" in res.stderr


def test_setup_is_idempotent_and_check_reports_drift(cli, server):
    root = server.root_token
    # other tests provision customers raw; bring their policies in line first
    assert cli("setup", token=root).returncode == 0
    clean = cli("setup", "--check", "--json", token=root)
    assert clean.returncode == 0, clean.stderr
    assert clean.json()["drift"] == []
    server.root().sys.create_or_update_acl_policy("nv-engineer", 'path "sys/*" { capabilities = ["read"] }')
    try:
        drift = cli("setup", "--check", "--json", token=root)
        assert drift.returncode == 1 and drift.json()["drift"] == ["policy nv-engineer"]
        # --check changed nothing
        assert "sys/*" in server.root().sys.read_acl_policy("nv-engineer")["data"]["policy"]
    finally:
        fixed = cli("setup", "--json", token=root)
    assert fixed.returncode == 0 and fixed.json()["applied"] == ["policy nv-engineer"]
    assert cli("setup", "--json", token=root).json()["applied"] == []


def test_setup_needs_admin(cli, make_user):
    eng = make_user("engineer")
    res = cli("setup", token=eng.token())
    assert res.returncode == ExitCode.PERMISSION_DENIED


def test_setup_changes_incident_patterns_everywhere(cli, server, unique):
    from netvault.vault import policies

    cust = unique("pat")
    root = server.root()
    root.sys.create_or_update_acl_policy(policies.customer_policy_name(cust), policies.render_customer(cust, ["INC-*", "CHG-*"], mounts=server.mounts))
    root.secrets.kv.v2.create_or_update_secret(path=f"customers/{cust}/profile", secret={"id": "x"}, cas=0, mount_point="netvault")
    try:
        res = cli("setup", "--incident-pattern", "INC-*", "--incident-pattern", "P1-*", "--json", token=server.root_token)
        assert res.returncode == 0, res.stderr
        text = root.sys.read_acl_policy(policies.customer_policy_name(cust))["data"]["policy"]
        assert '"P1-*"' in text and "CHG-*" not in text
    finally:
        cli("setup", "--incident-pattern", "INC-*", "--incident-pattern", "CHG-*", token=server.root_token)
    res = cli("setup", "--incident-pattern", "IN*C", token=server.root_token)
    assert res.returncode == ExitCode.USAGE
