"""Tokens live in the OS keyring, one entry per Vault address.

Where no keyring backend exists (a headless box without Secret Service) the
token goes to ``tokens.json`` (mode 0600) in the config dir, and the caller is
told so once: a token in a private file is weaker than the keyring, and the
user should know.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from netvault.local import config

SERVICE = "netvault"


def _entry(address: str, scope: str = "login") -> str:
    return f"{scope}@{address}"


def _fallback_file() -> Path:
    return config.config_dir() / "tokens.json"


def _keyring():
    """The keyring module, or None where no usable backend exists."""
    if os.environ.get("NETVAULT_KEYRING") == "file":
        return None
    import keyring
    from keyring.errors import NoKeyringError

    try:
        backend = keyring.get_keyring()
    except NoKeyringError:
        return None
    name = type(backend).__module__ + "." + type(backend).__name__
    if "fail" in name.lower() or "null" in name.lower():
        return None
    return keyring


def _read_fallback() -> dict:
    try:
        return json.loads(_fallback_file().read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _scopes_file() -> Path:
    return config.config_dir() / "token-scopes.json"


def scopes(address: str) -> list[str]:
    """Scopes other than "login" stored for this address (JIT tokens), so that
    logout can find them: keyrings cannot list entries. Names only, no secrets."""
    try:
        return list(json.loads(_scopes_file().read_text()).get(address, []))
    except (OSError, ValueError, AttributeError):
        return []


def _remember_scope(address: str, scope: str, present: bool) -> None:
    if scope == "login":
        return
    try:
        data = json.loads(_scopes_file().read_text())
    except (OSError, ValueError):
        data = {}
    known = set(data.get(address, []))
    if (scope in known) == present:
        return
    known = known | {scope} if present else known - {scope}
    data[address] = sorted(known)
    config.write_private(_scopes_file(), json.dumps(data).encode())


def save(address: str, token: str, scope: str = "login") -> str | None:
    """Store the token; returns a warning when it had to go to a file."""
    _remember_scope(address, scope, True)
    kr = _keyring()
    if kr is not None:
        from keyring.errors import KeyringError

        try:
            kr.set_password(SERVICE, _entry(address, scope), token)
            return None
        except KeyringError:
            pass
    data = _read_fallback()
    data[_entry(address, scope)] = token
    config.write_private(_fallback_file(), json.dumps(data).encode())
    return f"no OS keyring available; token stored in {_fallback_file()} (mode 0600)"


def load(address: str, scope: str = "login") -> str | None:
    kr = _keyring()
    if kr is not None:
        from keyring.errors import KeyringError

        try:
            token = kr.get_password(SERVICE, _entry(address, scope))
            if token:
                return token
        except KeyringError:
            pass
    return _read_fallback().get(_entry(address, scope))


def delete(address: str, scope: str = "login") -> bool:
    _remember_scope(address, scope, False)
    found = False
    kr = _keyring()
    if kr is not None:
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            kr.delete_password(SERVICE, _entry(address, scope))
            found = True
        except (PasswordDeleteError, KeyringError):
            pass
    data = _read_fallback()
    if data.pop(_entry(address, scope), None) is not None:
        config.write_private(_fallback_file(), json.dumps(data).encode())
        found = True
    return found


def backend_name() -> str:
    kr = _keyring()
    if kr is None:
        return f"file ({_fallback_file()})"
    backend = kr.get_keyring()
    return type(backend).__module__ + "." + type(backend).__name__


# -- time-limited grants: their expiry, known on this machine (no secrets) ---------

def _jit_file() -> Path:
    return config.config_dir() / "jit-grants.json"


def jit_expiries(address: str) -> dict[str, str]:
    """customer -> expiry (ISO, from Vault's TTL at pickup) of this machine's time-limited grants.
    Kept after the token expires, so commands can say "your access to X expired at T"."""
    try:
        got = json.loads(_jit_file().read_text()).get(address, {})
        return {str(k): str(v) for k, v in got.items()} if isinstance(got, dict) else {}
    except (OSError, ValueError, AttributeError):
        return {}


def remember_jit_expiry(address: str, customer: str, expires_at: str | None) -> None:
    """Note (or, with None, forget) when the time-limited grant of ``customer`` ends."""
    try:
        data = json.loads(_jit_file().read_text())
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    known = dict(data.get(address) or {})
    if expires_at is None:
        if known.pop(customer, None) is None:
            return
    else:
        known[customer] = expires_at
    data[address] = known
    config.write_private(_jit_file(), json.dumps(data, sort_keys=True).encode())


def forget_jit_expiries(address: str) -> None:
    for customer in list(jit_expiries(address)):
        remember_jit_expiry(address, customer, None)
