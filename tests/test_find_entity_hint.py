"""Issue 15 speed: an engineer's find sends its three requests at once when the
token's entity id is known (``token_cache.entity_hint``) and it holds many
grants (``token_cache.PREFETCH_FROM_GRANTS``). The hint only
decides what is prefetched: a wrong one (another person's entity) reads a
refusal, the fresh look-up wins, the hint is corrected, and the answer is the
one a find without any hint gives."""

from __future__ import annotations

MAC = "00:16:3e:5a:0c:02"


def _hint(monkeypatch, cli_env, token):
    from netvault.local import config, token_cache

    monkeypatch.setenv("NETVAULT_CONFIG_DIR", cli_env["NETVAULT_CONFIG_DIR"])
    monkeypatch.setenv("VAULT_ADDR", cli_env["VAULT_ADDR"])
    address = config.load().address
    return address, token_cache


def test_find_with_right_wrong_and_no_hint(server, make_user, unique, cli, cli_env, monkeypatch):
    admin = make_user("admin").token()
    lead = make_user("team-lead").token()
    eng, other = make_user("engineer"), make_user("engineer")
    c, d = unique("hint"), unique("hint")
    for cust in (c, d):
        assert cli("customer", "add", cust, token=admin).returncode == 0
    assert cli("grant", eng.name, c, token=lead).returncode == 0  # the real way: the per-person copy too
    assert cli("grant", other.name, d, token=lead).returncode == 0
    r = cli("device", "add", f"{c}/sw-9", "--kind", "switch", "--mac", MAC, "--force", token=lead)
    assert r.returncode == 0, r.stderr
    from netvault.local.token_cache import PREFETCH_FROM_GRANTS
    from test_records_helpers import grant

    for _i in range(PREFETCH_FROM_GRANTS):  # enough grants for the prefetch (customers with no records)
        grant(server, unique("empty"), eng)
    token = eng.token()
    address, token_cache = _hint(monkeypatch, cli_env, token)

    assert token_cache.entity_hint(address, token) == (None, False)
    first = cli("find", MAC, "--json", token=token)  # no hint: one after another, then remembered
    assert first.returncode == 0, first.stderr
    assert [h["device"] for h in first.json()["results"]] == ["sw-9"]
    assert token_cache.entity_hint(address, token) == (eng.entity_id, True)

    again = cli("find", MAC, "--json", token=token)  # with the hint: prefetched, same answer
    assert again.returncode == 0 and again.stdout == first.stdout

    token_cache.remember_entity(address, token, other.entity_id, True)  # a wrong hint: another person's copy
    wrong = cli("find", MAC, "--json", token=token)
    assert wrong.returncode == 0 and wrong.stdout == first.stdout, wrong.stderr
    assert token_cache.entity_hint(address, token) == (eng.entity_id, True)
    # the other person's customer never shows, whatever the hint said
    token_cache.remember_entity(address, token, other.entity_id, True)
    r = cli("find", "sw", "--json", token=token)
    assert r.returncode == 0 and {h["customer"] for h in r.json()["results"]} == {c}


def test_hint_file_holds_no_token(server, make_user, cli, cli_env, monkeypatch):
    eng = make_user("engineer")
    token = eng.token()
    address, token_cache = _hint(monkeypatch, cli_env, token)
    token_cache.remember_entity(address, token, eng.entity_id)
    from pathlib import Path

    path = Path(cli_env["NETVAULT_CONFIG_DIR"]) / "entity-hints.json"
    assert token not in path.read_text() and eng.entity_id in path.read_text()
    assert path.stat().st_mode & 0o077 == 0
