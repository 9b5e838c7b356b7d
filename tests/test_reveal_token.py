"""The lean token lookup of reveal/find gives the same answer as tokenstore."""

from __future__ import annotations

import os
import secrets

import pytest

from missing import missing
from netvault.local import token_cache
from netvault.local import tokens as tokenstore


def _secret_service():
    if os.environ.get("NETVAULT_KEYRING") == "file" or not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return False
    import keyring  # a declared dependency: an import error fails the test
    from keyring.errors import NoKeyringError

    try:
        return "SecretService" in type(keyring.get_keyring()).__module__
    except NoKeyringError:
        return False


@pytest.mark.keyring
def test_secret_service_lookup_matches_keyring():
    if not _secret_service():
        missing("needs a running Secret Service (scripts/test provides one)")
    address = f"http://127.0.0.1:{secrets.randbelow(20000) + 30000}"
    token = "s." + secrets.token_urlsafe(18)
    assert tokenstore.save(address, token) is None  # stored in the keyring, not the file
    try:
        assert token_cache.stored_token(address) == token == tokenstore.load(address)
        assert token_cache.stored_token(address, "jit:acme") is None
        tokenstore.save(address, "s.jit", scope="jit:acme")
        assert token_cache.stored_token(address, "jit:acme") == "s.jit"
    finally:
        tokenstore.delete(address)
        tokenstore.delete(address, scope="jit:acme")
    assert token_cache.stored_token(address) is None


def test_file_fallback_matches(monkeypatch, tmp_path):
    monkeypatch.setenv("NETVAULT_KEYRING", "file")
    monkeypatch.setenv("NETVAULT_CONFIG_DIR", str(tmp_path))
    tokenstore.save("http://127.0.0.1:1", "s.file")
    assert token_cache.stored_token("http://127.0.0.1:1") == "s.file"
    assert oct((tmp_path / "tokens.json").stat().st_mode & 0o777) == "0o600"
