"""The stored token, found the cheap way (for ``reveal`` / ``find``).

Same sources, same order as ``session.current_token``: ``VAULT_TOKEN`` /
``BAO_TOKEN``, then the OS keyring, then the 0600 fallback file. Importing the
``keyring`` package costs ~70-150 ms (it discovers backends through package
metadata), more than a whole ``bao kv get``. So on Linux with a D-Bus session
this asks the Secret Service directly (``jeepney``, already a dependency of
keyring's SecretService backend), looking up the very item keyring wrote
(attributes ``service`` / ``username``). Whenever that is not clearly
possible (another OS, a configured keyring backend, a locked collection, any
error) it falls back to ``tokenstore.load``: never a different answer, only a
faster one. No token is cached on disk; ``entity_hint`` keeps, per token, only
the entity id Vault bound to it (under a hash of the token), so ``find`` can
send its three requests at once.
"""

from __future__ import annotations

import os
import sys

from netvault.local import config


def current_token(settings: config.Settings) -> str | None:
    if settings.env_token:
        return settings.env_token
    return stored_token(settings.address, "login")


def stored_token(address: str, scope: str = "login") -> str | None:
    """``tokenstore.load(address, scope)``, cheaply. ``scope`` "jit:<customer>"
    finds a time-limited grant's token (docs/DESIGN.md, Tokens)."""
    if os.environ.get("NETVAULT_KEYRING") == "file":
        return _file_token(address, scope)
    if _keyring_configured() or not sys.platform.startswith("linux"):
        return _slow(address, scope)
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        # No session bus: keyring's Linux backends (Secret Service, KWallet)
        # cannot work either; keyring would fall back to the file.
        if _third_party_backends():
            return _slow(address, scope)
        return _file_token(address, scope)
    try:
        token = secret_service_lookup({"service": "netvault", "username": f"{scope}@{address}"})
    except Exception:  # any trouble: the regular path decides
        return _slow(address, scope)
    if token:
        return token
    return _file_token(address, scope) or _slow(address, scope)


def _slow(address: str, scope: str = "login") -> str | None:
    from netvault.local import tokens as tokenstore

    return tokenstore.load(address, scope)


def _file_token(address: str, scope: str = "login") -> str | None:
    import json

    try:
        with open(config.config_dir() / "tokens.json", encoding="utf-8") as fh:
            return json.load(fh).get(f"{scope}@{address}")
    except (FileNotFoundError, ValueError, AttributeError):
        return None


def _keyring_configured() -> bool:
    """A user-chosen keyring backend (env or keyringrc.cfg): respect it."""
    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        return True
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return any(os.path.exists(os.path.join(d, "python_keyring", "keyringrc.cfg")) for d in (base, data))


def _third_party_backends() -> bool:
    import importlib.util

    return importlib.util.find_spec("keyrings") is not None


def secret_service_lookup(attributes: dict[str, str]) -> str | None:
    """Look an item up in the default Secret Service collection over D-Bus.

    Uses the "plain" session algorithm: the value travels over the user's
    private session-bus socket, the same way ``secret-tool`` may receive it.
    Returns None when no item matches; raises on a locked item or anything
    unexpected (the caller then takes the regular keyring path).
    """
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    service = DBusAddress("/org/freedesktop/secrets", bus_name="org.freedesktop.secrets",
                          interface="org.freedesktop.Secret.Service")
    conn = open_dbus_connection(bus="SESSION")
    try:
        reply = conn.send_and_get_reply(new_method_call(service, "SearchItems", "a{ss}", (attributes,)), timeout=2)
        if reply.header.message_type.name == "error":
            raise RuntimeError("SearchItems failed")
        unlocked, locked = reply.body
        if not unlocked:
            if locked:
                raise RuntimeError("keyring item is locked")
            return None
        reply = conn.send_and_get_reply(new_method_call(service, "OpenSession", "sv", ("plain", ("s", ""))), timeout=2)
        if reply.header.message_type.name == "error":
            raise RuntimeError("OpenSession failed")
        session_path = reply.body[1]
        item = DBusAddress(unlocked[0], bus_name="org.freedesktop.secrets", interface="org.freedesktop.Secret.Item")
        reply = conn.send_and_get_reply(new_method_call(item, "GetSecret", "o", (session_path,)), timeout=2)
        if reply.header.message_type.name == "error":
            raise RuntimeError("GetSecret failed")
        _session, _params, value, _content_type = reply.body[0]
        try:
            close = DBusAddress(session_path, bus_name="org.freedesktop.secrets", interface="org.freedesktop.Secret.Session")
            conn.send(new_method_call(close, "Close"))
        except Exception:
            pass
        return bytes(value).decode("utf-8")
    finally:
        conn.close()


# -- a token's entity id, remembered (a hint for find, never a decision) ------
_HINTS = "entity-hints.json"
_MAX_HINTS = 32


#: granted customers from which find's three requests go out in parallel. Below
#: it, one after another on the one keep-alive connection costs less than two
#: more connections and threads (measured: +5 % CPU at one grant); with many
#: grants Vault's cost per request (an ACL of every policy) dominates.
PREFETCH_FROM_GRANTS = 8


def prefetch_pays(granted: int, elevated: bool) -> bool:
    """Whether find should prefetch for a token with ``granted`` customers:
    not for team leads and admins (``elevated``: they read the global index)."""
    return not elevated and granted >= PREFETCH_FROM_GRANTS


def _hint_key(address: str, token: str) -> str:
    try:
        from _blake2 import blake2b  # what hashlib uses, without hashlib's OpenSSL import (~3 ms)
    except ImportError:  # another Python implementation
        from hashlib import blake2b
    return blake2b(f"{address}\0{token}".encode(), digest_size=16, person=b"netvault-hint").hexdigest()


def _read_hints() -> dict:
    import json

    try:
        with open(config.config_dir() / _HINTS, encoding="utf-8") as fh:
            got = json.load(fh)
    except (OSError, ValueError):
        return {}
    return got if isinstance(got, dict) else {}


def entity_hint(address: str, token: str | None) -> tuple[str | None, bool]:
    """(the entity id Vault bound to ``token``, whether ``find`` should prefetch
    with it) as seen on an earlier run; (None, False) when unknown. A token's entity
    never changes; still only a hint: ``find`` checks it against the look-up
    it sends alongside (and a wrong one reads nothing but a refusal)."""
    if not token:
        return None, False
    got = _read_hints().get(_hint_key(address, token))
    if isinstance(got, list) and len(got) == 2 and isinstance(got[0], str) and got[0]:
        return got[0], bool(got[1])
    return None, False


def remember_entity(address: str, token: str | None, entity_id: str | None, prefetch: bool = False) -> None:
    """Note (or, with None, forget) the entity id of ``token``; at most a few
    dozen tokens are remembered (the oldest go). Best effort: never fails a command."""
    import json

    if not token:
        return
    hints = _read_hints()
    key = _hint_key(address, token)
    hints.pop(key, None)
    if entity_id:
        hints[key] = [entity_id, bool(prefetch)]
    while len(hints) > _MAX_HINTS:
        hints.pop(next(iter(hints)))
    try:
        config.write_private(config.config_dir() / _HINTS, json.dumps(hints).encode())
    except OSError:
        pass
