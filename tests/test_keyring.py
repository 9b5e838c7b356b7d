"""The token really lands in the OS keyring (a real Secret Service).

scripts/test runs the suite in a private D-Bus session with an unlocked
gnome-keyring; elsewhere this test is skipped, with the reason.
"""

import os

import pytest

from missing import missing


def _secret_service_or_skip():
    # keyring is a declared dependency of netvault: failing to import it is a failure, not a skip
    import keyring
    from keyring.errors import NoKeyringError

    try:
        backend = keyring.get_keyring()
    except NoKeyringError:
        missing("no OS keyring backend (run via scripts/test for a real Secret Service)")
    name = type(backend).__module__
    if "SecretService" not in name:
        missing(f"no Secret Service keyring here (backend {name}); run via scripts/test")
    return keyring


@pytest.mark.keyring
def test_login_token_goes_to_secret_service(cli, cli_env, make_user, server):
    keyring = _secret_service_or_skip()
    user = make_user("engineer")
    env = {k: v for k, v in cli_env.items() if k != "NETVAULT_KEYRING"}
    res = cli("login", user.name, "--password-stdin", input=user.password + "\n", env={"NETVAULT_KEYRING": ""})
    assert res.returncode == 0, res.stderr
    assert "no OS keyring" not in res.stderr
    stored = keyring.get_password("netvault", f"login@{server.address}")
    assert stored and stored.startswith(("s.", "hvs.", "b."))
    # no token file was written as a fallback
    assert not os.path.exists(os.path.join(env["NETVAULT_CONFIG_DIR"], "tokens.json"))
    assert cli("whoami", "--json", env={"NETVAULT_KEYRING": ""}).json()["username"] == user.name
    assert cli("logout", env={"NETVAULT_KEYRING": ""}).returncode == 0
    assert keyring.get_password("netvault", f"login@{server.address}") is None
