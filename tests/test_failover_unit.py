"""The client's address list and its retry rule (pure functions; the real
failover is tests/test_cluster.py)."""

from __future__ import annotations

import json

import pytest

from netvault.local import config
from netvault.errors import UsageError
from netvault.vault.client import Vault, _cas_of, failover_safe, split_addresses


def test_split_addresses():
    assert split_addresses(" https://a:8200/, https://b:8200 ,https://a:8200") == ["https://a:8200", "https://b:8200"]
    assert split_addresses(["http://127.0.0.1:1"]) == ["http://127.0.0.1:1"]
    for bad in ("", ",", "a:8200", "ftp://x:1", "https://a:notaport", "https://a:1,b"):
        with pytest.raises(UsageError):
            split_addresses(bad)


def test_vault_keeps_the_list_and_starts_on_the_first():
    v = Vault("https://a:8200,https://b:8201")
    assert v.address == "https://a:8200,https://b:8201" and v.node == "https://a:8200"
    assert v.clone().address == v.address


@pytest.mark.parametrize("method,path,idem,safe", [
    ("GET", "netvault/data/x", False, True),
    ("LIST", "netvault/metadata/x", False, True),
    ("POST", "netvault-transit/decrypt/customer-acme", False, True),  # a reveal: retried, audited twice
    ("POST", "netvault-transit/encrypt/customer-acme", False, False),
    ("POST", "netvault-transit/encrypt/customer-acme", True, True),  # caller: idempotent
    ("POST", "netvault/data/customers/acme/profile", False, False),  # CAS writes: resolved, not blind
    ("POST", "sys/wrapping/unwrap", False, False),
    ("DELETE", "netvault/data/x", False, False),
    ("POST", "auth/userpass/login/bob", False, False),
])
def test_failover_safe(method, path, idem, safe):
    assert failover_safe(method, path, idem) is safe


def test_cas_of():
    body = json.dumps({"data": {"a": 1}, "options": {"cas": 3}}).encode()
    assert _cas_of("POST", "netvault/data/x", body) == 3
    assert _cas_of("POST", "netvault/data/x", json.dumps({"data": {}}).encode()) is None
    assert _cas_of("POST", "netvault/metadata/x", body) is None
    assert _cas_of("POST", "netvault/data/x", json.dumps({"options": {"cas": True}}).encode()) is None
    assert _cas_of("POST", "netvault/data/x", b"not json") is None


def test_config_address_list_and_comma_separated_env(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    config.update_file({"addresses": ["https://a:8200", "https://b:8200"], "address": "https://old:1"}, cfg)
    assert 'addresses = ["https://a:8200", "https://b:8200"]' in cfg.read_text()
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    monkeypatch.delenv("BAO_ADDR", raising=False)
    assert config.load(cfg).address == "https://a:8200,https://b:8200"
    monkeypatch.setenv("VAULT_ADDR", "https://x:1/, https://y:2")
    assert config.load(cfg).address == "https://x:1,https://y:2"
    cfg.write_text('addresses = "https://a:8200"\n')
    monkeypatch.delenv("VAULT_ADDR")
    with pytest.raises(UsageError):
        config.load(cfg)
