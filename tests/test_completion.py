"""Shell completion (issue 15) for bash, zsh and fish, run the way the shells
run it: the real `netvault` with typer's completion variables, against the
real server. Customer and record names come from Vault with the caller's
token and never show what the caller may not see; with no token or no
server completion is silent."""

from __future__ import annotations

import pytest

from test_records_helpers import grant


def complete(cli, shell: str, line: str, token=None, env=None):
    """Ask `netvault` for completions of ``line`` (the cursor at its end)."""
    extra = {"_NETVAULT_COMPLETE": f"complete_{shell}"}
    if shell == "bash":
        words = line.split(" ")
        extra.update({"COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)})
    else:
        extra["_TYPER_COMPLETE_ARGS"] = line
        if shell == "fish":
            extra["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    return cli(token=token, env={**extra, **(env or {})})


@pytest.fixture(scope="module")
def world(server, tmp_path_factory):
    """Two customers with records; an engineer granted only the first."""
    import os
    import secrets
    import subprocess
    import sys

    from people import new_user

    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update({"VAULT_ADDR": server.address, "NETVAULT_KEYRING": "file",
                "NETVAULT_CONFIG_DIR": str(tmp_path_factory.mktemp("cfg"))})

    def run(*args, token, input=None):
        p = subprocess.run([sys.executable, "-m", "netvault", *args], env={**env, "VAULT_TOKEN": token},
                           input=input, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr

    admin, lead = new_user(server, "admin").token(), new_user(server, "team-lead").token()
    tag = secrets.token_hex(3)
    mine, other = f"compl-{tag}", f"compx-{tag}"
    for c in (mine, other):
        run("customer", "add", c, "--company", "C", token=admin)
        run("credential", "add", f"{c}/core-fw", "--stdin", input="Pw-123456789\n", token=lead)
    run("credential", "add", f"{mine}/wifi", "--stdin", input="Pw-123456789\n", token=lead)
    run("device", "add", f"{mine}/switch-1", "--kind", "switch", token=lead)
    eng = new_user(server, "engineer")
    grant(server, mine, eng)
    return {"mine": mine, "other": other, "eng": eng.token(), "lead": lead}


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_commands_complete(cli, shell):
    r = complete(cli, shell, "netvault rev")
    assert r.returncode == 0 and r.stderr == ""
    assert "reveal" in r.stdout and "revoke" in r.stdout and "whoami" not in r.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_record_names_from_vault_only_what_the_caller_sees(cli, world, shell):
    mine, other = world["mine"], world["other"]
    r = complete(cli, shell, "netvault reveal comp", token=world["eng"])
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert f"{mine}/" in r.stdout and other not in r.stdout  # not granted: not shown
    r = complete(cli, shell, f"netvault reveal {mine}/", token=world["eng"])
    assert f"{mine}/core-fw" in r.stdout and f"{mine}/wifi" in r.stdout and f"{mine}/switch-1" in r.stdout
    r = complete(cli, shell, f"netvault credential show {mine}/w", token=world["eng"])
    assert f"{mine}/wifi" in r.stdout and "core-fw" not in r.stdout
    r = complete(cli, shell, f"netvault reveal {other}/", token=world["eng"])  # Vault refuses: nothing
    assert r.returncode == 0 and "core-fw" not in r.stdout and r.stderr == ""


def test_customer_names_for_a_team_lead(cli, world):
    r = complete(cli, "bash", "netvault customer show comp", token=world["lead"])
    assert set(r.stdout.split()) >= {world["mine"], world["other"]}
    r = complete(cli, "bash", "netvault grant someone comp", token=world["lead"])
    assert world["other"] in r.stdout.split()


@pytest.mark.parametrize("env", [
    {"VAULT_ADDR": "http://127.0.0.1:9"},   # no server
    {},                                     # no token (no login, no VAULT_TOKEN)
    {"VAULT_ADDR": "https://127.0.0.1:9", "VAULT_SKIP_VERIFY": "1"},  # would warn: not while completing
], ids=["no-server", "no-token", "no-warning"])
def test_completion_is_silent_without_token_or_server(cli, env):
    r = complete(cli, "bash", "netvault reveal c", token="hvs.nothing" if env.get("VAULT_ADDR") else None, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr == ""


@pytest.mark.parametrize("shell,where,marker", [
    ("bash", ".bash_completions/netvault.sh", "complete -o default -F"),
    ("zsh", ".zfunc/_netvault", "compdef"),
    ("fish", ".config/fish/completions/netvault.fish", "complete --command netvault"),
])
def test_install_and_show_completion(cli, tmp_path, shell, where, marker):
    """Without the variable typer detects the user's shell (shellingham); the
    test names the shell instead, as `--install-completion SHELL` then takes it."""
    named = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    r = cli("--show-completion", shell, env=named)
    assert r.returncode == 0 and "_NETVAULT_COMPLETE" in r.stdout and marker in r.stdout
    r = cli("--install-completion", shell, env={**named, "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    text = (tmp_path / where).read_text()
    assert "_NETVAULT_COMPLETE" in text and marker in text
