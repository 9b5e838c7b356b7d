"""Reveal: Vault itself requires the incident reference, and the context binds
each ciphertext to its record. Proved with a raw hvac client too."""

from __future__ import annotations

import base64

import hvac
import pytest

from test_records_helpers import grant, kv_get


def _make_setup(server, cli):
    import secrets

    from people import new_user

    admin = new_user(server, "admin").token()
    lead = new_user(server, "team-lead").token()
    eng = new_user(server, "engineer")
    c = f"cust-{secrets.token_hex(3)}"
    assert cli("customer", "add", c, "--company", "R", token=admin).returncode == 0
    grant(server, c, eng)
    r = cli("credential", "add", f"{c}/fw", "--username", "admin", "--totp", "--secret", "enable", "--stdin",
            input="fw-Pass-1\nJBSWY3DPEHPK3PXPJBSWY3DP\nenable-pw\n", token=lead)
    assert r.returncode == 0, r.stderr
    r = cli("credential", "add", f"{c}/other", "--stdin", input="other-pw\n", token=lead)
    assert r.returncode == 0, r.stderr
    return {"c": c, "eng": eng, "eng_token": eng.token(), "lead": lead, "admin": admin}


@pytest.fixture(scope="module")
def _shared_setup(server, module_cli):
    return _make_setup(server, module_cli)


@pytest.fixture
def setup(request, server, module_cli):
    """A customer with two credentials, its granted engineer, a lead and an
    admin: one for the module (the tests only read it); a test marked
    ``own_world`` changes the records and gets its own."""
    if request.node.get_closest_marker("own_world"):
        return _make_setup(server, module_cli)
    return request.getfixturevalue("_shared_setup")


def test_reveal_prints_the_secret_alone(setup, cli):
    r = cli("reveal", f"{setup['c']}/fw", "--incident", "INC-1234", token=setup["eng_token"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "fw-Pass-1\n" and r.stderr == ""


def test_reveal_field_and_totp(setup, cli):
    c, t = setup["c"], setup["eng_token"]
    assert cli("reveal", f"{c}/fw", "--incident", "CHG-1", "--field", "enable", token=t).stdout == "enable-pw\n"
    code = cli("reveal", f"{c}/fw", "-i", "INC-1", "--totp", token=t).stdout.strip()
    assert len(code) == 6 and code.isdigit()
    r = cli("reveal", f"{c}/fw", "-i", "INC-1", "--field", "nope", token=t)
    assert r.returncode == 3 and "password" in r.stderr


def test_reveal_via_full_cli_path_is_the_same(setup, cli):
    """NETVAULT_NO_FAST=1 forces the typer path: same output, same errors."""
    c, t = setup["c"], setup["eng_token"]
    env = {"NETVAULT_NO_FAST": "1"}
    assert cli("reveal", f"{c}/fw", "--incident", "INC-1", token=t, env=env).stdout == "fw-Pass-1\n"
    r = cli("reveal", f"{c}/fw", "--incident", "BAD-1", token=t, env=env)
    assert r.returncode == 4 and r.stdout == ""
    r = cli("reveal", f"{c}/fw", token=t, env=env)
    assert r.returncode == 2 and "--incident" in r.stderr


@pytest.mark.parametrize("env", [{}, {"NETVAULT_NO_FAST": "1"}], ids=["fast", "typer"])
def test_reveal_json_same_on_fast_and_typer_path(setup, cli, env):
    """reveal --json: {field, value, record, incident} on stdout only; same on both paths."""
    import json

    c, t = setup["c"], setup["eng_token"]
    r = cli("reveal", f"{c}/fw", "--incident", "INC-9", "--json", token=t, env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert json.loads(r.stdout) == {"field": "password", "value": "fw-Pass-1", "record": f"{c}/fw", "incident": "INC-9"}
    r = cli("reveal", f"{c}/fw", "-i", "INC-9", "--field", "enable", "--json", token=t, env=env)
    assert json.loads(r.stdout)["field"] == "enable" and json.loads(r.stdout)["value"] == "enable-pw"
    r = cli("reveal", f"{c}/fw", "-i", "INC-9", "--totp", "--json", token=t, env=env)
    got = json.loads(r.stdout)
    assert got["field"] == "totp_code" and len(got["value"]) == 6 and got["value"].isdigit()
    r = cli("reveal", f"{c}/fw", "--incident", "TICKET-1", "--json", token=t, env=env)
    assert r.returncode == 4 and r.stdout == "" and "fw-Pass-1" not in r.stderr
    r = cli("reveal", f"{c}/fw", "-i", "INC-9", "--json", "--copy", token=t, env=env)
    assert r.returncode == 2 and "--json" in r.stderr and r.stdout == ""


def test_reveal_without_incident_is_a_clear_error_without_tty(setup, cli):
    r = cli("reveal", f"{setup['c']}/fw", token=setup["eng_token"], input="")
    assert r.returncode == 2 and "--incident" in r.stderr and r.stdout == ""


def test_reveal_with_a_reference_outside_the_patterns_is_refused_by_vault(setup, cli):
    r = cli("reveal", f"{setup['c']}/fw", "--incident", "TICKET-1", token=setup["eng_token"])
    assert r.returncode == 4, r.stderr
    assert r.stdout == "" and "fw-Pass-1" not in r.stderr


def test_malformed_reference_is_bad_input(setup, cli):
    r = cli("reveal", f"{setup['c']}/fw", "--incident", "INC 1;rm", token=setup["eng_token"])
    assert r.returncode == 2


def test_lead_and_admin_cannot_reveal_without_a_grant(setup, cli):
    for who in ("lead", "admin"):
        r = cli("reveal", f"{setup['c']}/fw", "--incident", "INC-1", token=setup[who])
        assert r.returncode == 4, (who, r.stderr)


def test_ungranted_engineer_cannot_read_or_reveal(setup, cli, make_user):
    other = make_user("engineer").token()
    assert cli("reveal", f"{setup['c']}/fw", "--incident", "INC-1", token=other).returncode == 4
    assert cli("credential", "show", f"{setup['c']}/fw", token=other).returncode == 4


def test_not_logged_in(setup, cli):
    r = cli("reveal", f"{setup['c']}/fw", "--incident", "INC-1")
    assert r.returncode == 8


def test_copy_without_clipboard_is_a_clear_error(server, setup, cli):
    """Issue 15: with no clipboard nothing is decrypted, so no reveal lands in the trail."""
    ref = f"INC-NOCLIP-{setup['c']}"
    for no_fast in ("", "1"):  # the lean path and the typer path
        r = cli("reveal", f"{setup['c']}/fw", "--incident", ref, "--copy", token=setup["eng_token"],
                env={"DISPLAY": "", "WAYLAND_DISPLAY": "", "NETVAULT_NO_FAST": no_fast})
        assert r.returncode == 1 and "clipboard" in r.stderr and "fw-Pass-1" not in r.stdout + r.stderr
        assert "nothing revealed" in r.stderr
    assert ref.encode() not in server.audit_file.read_bytes()


def test_copy_puts_it_on_a_clipboard(setup, cli, tmp_path):
    """A fake xclip records what it is given: the secret goes to the tool on
    stdin (not argv) and nothing is printed on stdout."""
    store = tmp_path / "clip"
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "xclip").write_text(
        "#!/bin/sh\n"
        f'case "$*" in *-out*) cat {store} 2>/dev/null;; *) cat > {store};; esac\n'
    )
    (fake / "xclip").chmod(0o755)
    import os

    env = {"DISPLAY": ":99", "WAYLAND_DISPLAY": "", "PATH": f"{fake}:{os.environ['PATH']}"}
    r = cli("reveal", f"{setup['c']}/fw", "--incident", "INC-1", "--copy", token=setup["eng_token"], env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and "clipboard" in r.stderr
    assert store.read_text() == "fw-Pass-1"


def test_clipboard_helper_clears_only_if_unchanged(tmp_path, monkeypatch):
    import hashlib
    import io

    from netvault.local import clipboard

    state = {"value": b"secret"}
    monkeypatch.setattr(clipboard, "_tools", lambda: (["copy"], ["paste"]))
    monkeypatch.setattr(clipboard, "_paste", lambda argv: state["value"])
    monkeypatch.setattr(clipboard, "_copy", lambda argv, v: state.update(value=v.encode()))
    monkeypatch.setattr(clipboard.time, "sleep", lambda s: None)
    monkeypatch.setattr("sys.stdin", io.StringIO(hashlib.sha256(b"secret").hexdigest() + "\n"))
    clipboard._clear_later(45)
    assert state["value"] == b""
    state["value"] = b"something else"
    monkeypatch.setattr("sys.stdin", io.StringIO(hashlib.sha256(b"secret").hexdigest() + "\n"))
    clipboard._clear_later(45)
    assert state["value"] == b"something else"


# -- the same rules for a raw API client (hvac), not just the CLI ---------------
def _raw(server, setup, name="fw"):
    rec = kv_get(server, f"customers/{setup['c']}/credentials/{name}")
    client = hvac.Client(url=server.address, token=setup["eng_token"])
    return client, rec


def test_raw_decrypt_without_reference_is_denied(server, setup):
    client, rec = _raw(server, setup)
    ctx = base64.b64encode(rec["id"].encode()).decode()
    with pytest.raises(hvac.exceptions.Forbidden):
        client.write_data(f"netvault-transit/decrypt/customer-{setup['c']}",
                          data={"ciphertext": rec["secrets"]["password"], "context": ctx})


def test_raw_decrypt_with_wrong_pattern_is_denied(server, setup):
    client, rec = _raw(server, setup)
    ctx = base64.b64encode(rec["id"].encode()).decode()
    with pytest.raises(hvac.exceptions.Forbidden):
        client.write_data(f"netvault-transit/decrypt/customer-{setup['c']}",
                          data={"ciphertext": rec["secrets"]["password"], "context": ctx, "reference": "NOPE-1"})
    # batch_input (to smuggle a reference-free item) is not an allowed parameter either
    with pytest.raises(hvac.exceptions.Forbidden):
        client.write_data(f"netvault-transit/decrypt/customer-{setup['c']}",
                          data={"batch_input": [{"ciphertext": rec["secrets"]["password"], "context": ctx}],
                                "ciphertext": rec["secrets"]["password"], "context": ctx, "reference": "INC-1"})


def test_raw_decrypt_with_reference_works(server, setup):
    client, rec = _raw(server, setup)
    ctx = base64.b64encode(rec["id"].encode()).decode()
    resp = client.write_data(f"netvault-transit/decrypt/customer-{setup['c']}",
                             data={"ciphertext": rec["secrets"]["password"], "context": ctx, "reference": "INC-42"})
    assert base64.b64decode(resp["data"]["plaintext"]) == b"fw-Pass-1"


def test_raw_decrypt_with_another_records_context_fails(server, setup):
    client, rec = _raw(server, setup)
    other = kv_get(server, f"customers/{setup['c']}/credentials/other")
    wrong_ctx = base64.b64encode(other["id"].encode()).decode()
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.write_data(f"netvault-transit/decrypt/customer-{setup['c']}",
                          data={"ciphertext": rec["secrets"]["password"], "context": wrong_ctx, "reference": "INC-1"})


@pytest.mark.own_world
def test_swapped_ciphertext_is_not_revealed(server, setup, cli):
    """Copying another record's ciphertext into this record does not decrypt."""
    c = setup["c"]
    root = server.root()
    rec = kv_get(server, f"customers/{c}/credentials/fw")
    other = kv_get(server, f"customers/{c}/credentials/other")
    meta = root.secrets.kv.v2.read_secret_metadata(path=f"customers/{c}/credentials/fw", mount_point="netvault")["data"]
    tampered = {**rec, "secrets": {**rec["secrets"], "password": other["secrets"]["password"]}}
    root.secrets.kv.v2.create_or_update_secret(path=f"customers/{c}/credentials/fw", secret=tampered,
                                               cas=meta["current_version"], mount_point="netvault")
    r = cli("reveal", f"{c}/fw", "--incident", "INC-1", token=setup["eng_token"])
    assert r.returncode == 1 and "other-pw" not in r.stdout and r.stdout == ""


def test_reveal_is_in_the_audit_log_with_reference_and_context(server, setup, cli):
    import json

    c = setup["c"]
    rec = kv_get(server, f"customers/{c}/credentials/fw")
    assert cli("reveal", f"{c}/fw", "--incident", "INC-777", token=setup["eng_token"]).returncode == 0
    text = server.audit_file.read_text()
    whole = text[: text.rfind("\n") + 1]  # Vault may be writing the next entry right now
    # split on \n only: a planted reference may hold U+0085
    entries = [json.loads(line) for line in whole.split("\n") if line.strip()]
    hits = [e for e in entries if e.get("type") == "request"
            and e["request"].get("path") == f"netvault-transit/decrypt/customer-{c}"
            and (e["request"].get("data") or {}).get("reference") == "INC-777"]
    assert hits
    assert base64.b64decode(hits[-1]["request"]["data"]["context"]).decode() == rec["id"]


def test_reveal_uses_a_stored_jit_token_after_the_login_token_is_refused(server, setup, cli, cli_env, make_user):
    """Issue 4 stores time-limited grants as "jit:<customer>@<address>"; reveal
    falls back to that token for the customer when the login token is refused."""
    import json
    from pathlib import Path

    c = setup["c"]
    stranger = make_user("engineer").token()  # logged in, but no grant
    jit = server.root().auth.token.create(policies=[f"nv-customer-{c}"], ttl="10m", no_parent=True)["auth"]["client_token"]
    cfg = Path(cli_env["NETVAULT_CONFIG_DIR"])
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "tokens.json").write_text(json.dumps({f"login@{server.address}": stranger, f"jit:{c}@{server.address}": jit}))
    r = cli("reveal", f"{c}/fw", "--incident", "INC-5")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "fw-Pass-1\n"
    # the JIT token carries the same policy: a bad reference is still refused
    assert cli("reveal", f"{c}/fw", "--incident", "NOPE-5").returncode == 4


def test_stored_login_token_is_used(server, setup, cli, cli_env):
    import json
    from pathlib import Path

    cfg = Path(cli_env["NETVAULT_CONFIG_DIR"])
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "tokens.json").write_text(json.dumps({f"login@{server.address}": setup["eng_token"]}))
    assert cli("reveal", f"{setup['c']}/fw", "--incident", "INC-5").stdout == "fw-Pass-1\n"


def test_refusal_says_why(setup, cli, make_user):
    r = cli("reveal", f"{setup['c']}/fw", "--incident", "TICKET-1", token=setup["eng_token"])
    assert r.returncode == 4 and "does not match the allowed patterns (INC-*, CHG-*)" in r.stderr
    r = cli("reveal", f"{setup['c']}/fw", "--incident", "INC-1", token=make_user("engineer").token())
    assert r.returncode == 4  # not even the record can be read without a grant
    r = cli("reveal", f"{setup['c']}/fw", "--incident", "INC-1", token=setup["lead"])
    assert r.returncode == 4 and "no grant for customer" in r.stderr


def test_mistyped_customer_says_so_with_a_suggestion(setup, cli):
    """Issue 15: a mistyped customer read as "permission denied by Vault on ...";
    now: no customer X (or no access to it), did you mean, for both roles."""
    typo = setup["c"][:-1] + ("x" if setup["c"][-1] != "x" else "y")
    for args in (["reveal", f"{typo}/fw", "--incident", "INC-1"], ["credential", "list", typo],
                 ["credential", "show", f"{typo}/fw"]):
        r = cli(*args, token=setup["eng_token"])
        assert r.returncode == 4, (args, r.stderr)
        assert f"no customer '{typo}' (or no access to it); did you mean '{setup['c']}'?" in r.stderr, r.stderr
        r = cli(*args, token=setup["lead"])
        if args[0] == "reveal":
            continue  # a lead holds no grant: refused before any name is looked at
        assert r.returncode == 3, (args, r.stderr)
        assert f"no customer '{typo}'; did you mean '{setup['c']}'?" in r.stderr, r.stderr
