"""`login --address` remembered in the config file (no VAULT_ADDR needed
afterwards), the environment's precedence over the file, a working-day
token, and a config file that keeps the user's comments and types."""

from __future__ import annotations

import hvac

from netvault.local import config

NO_ENV_ADDR = {"VAULT_ADDR": ""}


def test_login_address_is_remembered_and_needs_no_environment(cli, cli_env, make_user, server):
    eng = make_user("engineer")
    r = cli("login", eng.name, "--password-stdin", "--address", server.address, input=eng.password + "\n",
            env=NO_ENV_ADDR)
    assert r.returncode == 0, r.stderr
    assert "expires in" in r.stderr
    saved = config.read_file(config.Path(cli_env["NETVAULT_CONFIG_DIR"]) / "config.toml")
    assert saved["address"] == server.address and saved["user"] == eng.name
    r = cli("whoami", "--json", env=NO_ENV_ADDR)
    assert r.returncode == 0, r.stderr
    who = r.json()
    assert who["username"] == eng.name and who["address"] == server.address
    assert who["expire_time"] and 0 < who["ttl"] <= 10 * 3600
    r = cli("whoami", env=NO_ENV_ADDR)
    assert "expires_at" in r.stdout and who["expire_time"][:16] in r.stdout


def test_environment_overrides_the_saved_address(cli, make_user, server):
    eng = make_user("engineer")
    assert cli("login", eng.name, "--password-stdin", "--address", server.address, input=eng.password + "\n",
               env=NO_ENV_ADDR).returncode == 0
    r = cli("whoami", env={"VAULT_ADDR": "http://127.0.0.1:9"})  # like the vault CLI: env wins over the file
    assert r.returncode in (5, 8) and "127.0.0.1:9" in r.stderr
    bad = cli("login", eng.name, "--password-stdin", "--address", "ftp://x", input=eng.password + "\n")
    assert bad.returncode == 2 and "invalid Vault address" in bad.stderr


def test_login_keeps_comments_numbers_and_lists(cli, cli_env, make_user, server):
    eng = make_user("engineer")
    path = config.Path(cli_env["NETVAULT_CONFIG_DIR"]) / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('# my laptop\nbackup_keep = 7  # days\nextra = ["a", "b"]\n\n[mounts]\n# defaults\nkv = "netvault"\n')
    r = cli("login", eng.name, "--password-stdin", "--address", server.address, input=eng.password + "\n",
            env=NO_ENV_ADDR)
    assert r.returncode == 0, r.stderr
    text = path.read_text()
    assert "# my laptop" in text and "# days" in text and "# defaults" in text
    data = config.read_file(path)
    assert data["backup_keep"] == 7 and data["extra"] == ["a", "b"] and data["mounts"] == {"kv": "netvault"}
    assert data["address"] == server.address
    assert (path.stat().st_mode & 0o777) == 0o600
    assert cli("logout", env=NO_ENV_ADDR).returncode == 0
    assert "user" not in config.read_file(path) and "# my laptop" in path.read_text()


def test_tokens_last_a_working_day_and_setup_changes_it(cli, make_user, server):
    eng = make_user("engineer")
    raw = hvac.Client(url=server.address)
    assert raw.auth.userpass.login(eng.name, eng.password)["auth"]["lease_duration"] == 10 * 3600
    try:
        r = cli("setup", "--login-ttl", "12h", token=server.root_token)
        assert r.returncode == 0, r.stderr
        assert raw.auth.userpass.login(eng.name, eng.password)["auth"]["lease_duration"] == 12 * 3600
        r = cli("setup", "--check", token=server.root_token)  # kept in the settings: no drift
        assert r.returncode == 0 and "logins last 12h" in r.stdout
        assert cli("setup", "--login-ttl", "1m", token=server.root_token).returncode == 2
    finally:
        assert cli("setup", "--login-ttl", "10h", token=server.root_token).returncode == 0
    assert raw.auth.userpass.login(eng.name, eng.password)["auth"]["lease_duration"] == 10 * 3600
