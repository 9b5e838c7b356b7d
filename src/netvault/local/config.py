"""Where netvault finds its server, mounts and local state.

Precedence, highest first: the standard Vault/OpenBao environment variables,
then the TOML config file (``config.toml`` in the user config dir), then
defaults. Paths honour ``NETVAULT_CONFIG_DIR`` / ``NETVAULT_DATA_DIR`` so tests
and several installs can keep apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from netvault.errors import UsageError
from netvault.vault.mounts import Mounts

DEFAULT_PORT = 18200
DEFAULT_ADDRESS = f"http://127.0.0.1:{DEFAULT_PORT}"
DEFAULT_INCIDENT_PATTERNS = ("INC-*", "CHG-*")
#: break-glass references (issue 14): only members of nv-role-on-call may use them
DEFAULT_BREAK_GLASS_PATTERNS = ("BG-*",)


def config_dir() -> Path:
    env = os.environ.get("NETVAULT_CONFIG_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("netvault"))


def default_data_dir() -> Path:
    env = os.environ.get("NETVAULT_DATA_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("netvault"))


def config_file() -> Path:
    return config_dir() / "config.toml"


@dataclass(frozen=True)
class Settings:
    address: str = DEFAULT_ADDRESS
    mounts: Mounts = field(default_factory=Mounts)
    namespace: str | None = None
    cacert: str | None = None
    #: token from VAULT_TOKEN / BAO_TOKEN; wins over the keyring
    env_token: str | None = None
    #: user last logged in with ``netvault login`` (display only)
    user: str | None = None
    #: data dir of the embedded server this config was written for, if any
    data_dir: str | None = None
    #: directory holding the server's audit files (live and rotated), for audit
    #: commands on a machine without the embedded server (`--audit-dir`, remembered)
    audit_dir: str | None = None
    #: how to reach Vault (TLS, proxy, timeout, retries): ``gateway.ClientConfig``,
    #: resolved once from the environment and the file; builds every client
    client: Any = None

    def __post_init__(self) -> None:
        if self.client is None:
            from netvault.vault.client import ClientConfig

            object.__setattr__(self, "client", ClientConfig(self.address, namespace=self.namespace, cacert=self.cacert))

    def with_address(self, address: str) -> "Settings":
        return replace(self, address=address, client=self.client.with_address(address))

    def vault(self, token: str | None = None, **kwargs):
        """A ``gateway.Vault`` for these settings (see ``ClientConfig.vault``)."""
        return self.client.vault(token, **kwargs)


def _first_env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def read_file(path: Path | None = None) -> dict:
    path = path or config_file()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror}") from None
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(
            f"config file {path} is corrupt ({exc}); fix or delete it"
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"config file {path} is corrupt; fix or delete it")
    return data


def load(path: Path | None = None) -> Settings:
    data = read_file(path)
    mounts_raw = data.get("mounts", {}) if isinstance(data.get("mounts", {}), dict) else {}
    for key, value in list(mounts_raw.items()) + [("address", data.get("address", ""))]:
        if not isinstance(value, str):
            raise UsageError(f"config file: {key!r} must be a string")
    unknown = sorted(set(mounts_raw) - {"kv", "transit", "userpass"})
    if unknown:  # a misspelt key would silently fall back to the default mount
        raise UsageError(f"config file: unknown key [mounts] {ascii(unknown[0][:40])} (known: kv, transit, userpass)")
    mounts = Mounts(**mounts_raw).validated()
    listed = data.get("addresses")
    if listed is not None and (not isinstance(listed, list) or not all(isinstance(a, str) for a in listed)):
        raise UsageError("config file: 'addresses' must be a list of strings")
    # Several nodes of a cluster: comma-separated VAULT_ADDR, or `addresses` in
    # the file; the client fails over between them (netvault.vault.client).
    address = _first_env("VAULT_ADDR", "BAO_ADDR") or (",".join(listed) if listed else None) or data.get("address") or DEFAULT_ADDRESS
    address = ",".join(a.strip().rstrip("/") for a in address.split(",") if a.strip())
    namespace = _first_env("VAULT_NAMESPACE", "BAO_NAMESPACE") or data.get("namespace")
    cacert = _first_env("VAULT_CACERT", "BAO_CACERT") or data.get("cacert")
    from netvault.vault.client import ClientConfig

    tls = {k: data[k] for k in ("capath", "client_cert", "client_key", "tls_server_name") if isinstance(data.get(k), str)}
    return Settings(
        address=address,
        mounts=mounts,
        namespace=namespace,
        cacert=cacert,
        env_token=_first_env("VAULT_TOKEN", "BAO_TOKEN"),
        user=data.get("user"),
        data_dir=data.get("data_dir"),
        audit_dir=data.get("audit_dir") if isinstance(data.get("audit_dir"), str) else None,
        client=ClientConfig.from_env(address, namespace=namespace, cacert=cacert, file=tls),
    )


def update_file(changes: dict, path: Path | None = None) -> None:
    """Merge ``changes`` into the config file atomically (None deletes a key).

    Written with tomlkit: the user's comments, layout and value types
    (numbers, lists, tables) survive a login (issue 10 §4). A key that is a
    dict is merged into the table of that name."""
    import tomlkit

    path = path or config_file()
    read_file(path)  # refuses a corrupt file with the usual message
    try:
        doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        doc = tomlkit.document()
    _merge(doc, changes)
    write_private(path, tomlkit.dumps(doc).encode("utf-8"))


def _merge(table, changes: dict) -> None:
    import tomlkit

    for key, value in changes.items():
        if value is None:
            if key in table:
                del table[key]
        elif isinstance(value, dict):
            if not isinstance(table.get(key), dict):
                table[key] = tomlkit.table()
            _merge(table[key], value)
        else:
            table[key] = value


def write_private(path: Path, content: bytes) -> None:
    """Write a file readable only by the owner, atomically (no half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
