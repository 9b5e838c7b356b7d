"""`netvault setup` on a server netvault did not start: a plain `bao server -dev`
with no audit device. Setup builds the layout and prints the audit stanza the
operator must add (OpenBao refuses audit devices over the API)."""

import subprocess
import time

import hvac
import pytest

from netvault.server import embedded


@pytest.fixture
def dev_server(tmp_path):
    port = embedded.free_port()
    proc = subprocess.Popen(
        [embedded.find_bao(), "server", "-dev", "-dev-root-token-id=dev-root",
         f"-dev-listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=embedded._die_with_parent,
    )
    address = f"http://127.0.0.1:{port}"
    client = hvac.Client(address, token="dev-root")
    for _ in range(100):
        try:
            if client.sys.is_initialized() and not client.sys.is_sealed():
                break
        except OSError:  # not listening yet (requests' ConnectionError is an OSError)
            pass
        time.sleep(0.1)
    else:
        proc.terminate()
        pytest.fail("the dev OpenBao did not come up")
    yield address
    proc.terminate()
    proc.wait(timeout=15)


def test_setup_on_plain_openbao(cli, dev_server):
    env = {"VAULT_ADDR": dev_server}
    before = cli("setup", "--check", "--json", token="dev-root", env=env)
    assert before.returncode == 1 and "kv mount netvault/" in before.json()["drift"]
    res = cli("setup", "--json", token="dev-root", env=env)
    assert res.returncode == 0, res.stderr
    out = res.json()
    assert "kv mount netvault/" in out["applied"] and "policy nv-team-lead" in out["applied"]
    assert out["drift"] == ["audit device"]
    assert 'audit "file" "netvault"' in out["audit_stanza"]
    assert 'audit "file"' in res.stderr  # told to the operator too
    again = cli("setup", "--json", token="dev-root", env=env).json()
    assert again["applied"] == []
    # audit on OpenBao cannot be enabled through the API: a clear error, not a trace
    forced = cli("setup", "--audit-file", "/tmp/x.log", token="dev-root", env=env)
    assert forced.returncode == 1 and "declared in its config" in forced.stderr


def test_tls_server_with_vault_cacert(cli, tmp_path):
    """VAULT_CACERT is honoured; without it the TLS failure is one clear line."""
    port = embedded.free_port()
    certs = tmp_path / "tls"
    certs.mkdir()
    proc = subprocess.Popen(
        [embedded.find_bao(), "server", "-dev", "-dev-tls", f"-dev-tls-cert-dir={certs}",
         "-dev-root-token-id=dev-root", f"-dev-listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=embedded._die_with_parent,
    )
    try:
        for _ in range(100):
            if (certs / "vault-ca.pem").exists():
                break
            time.sleep(0.1)
        env = {"VAULT_ADDR": f"https://127.0.0.1:{port}", "VAULT_CACERT": str(certs / "vault-ca.pem")}
        for _ in range(50):
            ok = cli("whoami", "--json", token="dev-root", env=env)
            if ok.returncode == 0:
                break
            time.sleep(0.1)
        assert ok.returncode == 0, ok.stderr
        assert ok.json()["roles"] == ["root"]
        bad = cli("whoami", token="dev-root", env={"VAULT_ADDR": env["VAULT_ADDR"]})
        assert bad.returncode == 5 and "certificate verify failed" in bad.stderr
        missing = cli("whoami", token="dev-root", env={**env, "VAULT_CACERT": str(tmp_path / "nope.pem")})
        assert missing.returncode == 2 and "CA certificate" in missing.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_history_depth_is_deliberate(cli, dev_server):
    """Issue 9 item 3: KV keeps 100 versions unless `setup --history N` says
    otherwise (Vault's own default of 10 trimmed history after the 10th edit);
    setup --check reports a depth that drifted."""
    env = {"VAULT_ADDR": dev_server}
    assert cli("setup", token="dev-root", env=env).returncode == 0
    root = hvac.Client(dev_server, token="dev-root")
    assert root.secrets.kv.v2.read_configuration(mount_point="netvault")["data"]["max_versions"] == 100
    for version in range(12):  # more changes than Vault's default keeps
        root.secrets.kv.v2.create_or_update_secret(
            path="customers/h/profile", secret={"n": version}, cas=version, mount_point="netvault")
    first = root.secrets.kv.v2.read_secret_version(path="customers/h/profile", version=1, mount_point="netvault",
                                                   raise_on_deleted_version=True)
    assert first["data"]["data"] == {"n": 0}

    res = cli("setup", "--history", "500", "--json", token="dev-root", env=env)
    assert res.returncode == 0, res.stderr
    assert root.secrets.kv.v2.read_configuration(mount_point="netvault")["data"]["max_versions"] == 500
    check = cli("setup", "--check", "--json", token="dev-root", env=env).json()
    assert not [d for d in check["drift"] if d.startswith(("kv mount", "settings"))]
    # changed by hand on the mount: drift, and setup puts the kept depth back
    root.secrets.kv.v2.configure(max_versions=10, cas_required=True, mount_point="netvault")
    check = cli("setup", "--check", "--json", token="dev-root", env=env).json()
    item = next(i for i in check["items"] if i["item"].startswith("kv mount"))
    assert item["in_sync"] is False and "keeps 10 versions, not 500" in item["detail"]
    assert cli("setup", token="dev-root", env=env).returncode == 0
    assert root.secrets.kv.v2.read_configuration(mount_point="netvault")["data"]["max_versions"] == 500
    for bad in ("0", "-1", "abc", "100001"):
        res = cli("setup", "--history", bad, token="dev-root", env=env)
        assert res.returncode == 2, (bad, res.stderr)
        assert "Traceback" not in res.stderr
