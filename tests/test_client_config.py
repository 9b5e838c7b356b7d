"""One ClientConfig (issue 10 §2): the vault/bao CLI's environment contract,
each variable proved against a real OpenBao (TLS, mutual TLS, a certificate
for another name, namespaces, a CONNECT proxy, a standby's 307)."""

from __future__ import annotations

import os

import hvac
import pytest
import requests

import tls_helpers
from net_helpers import ConnectProxy, Redirector, Silent
from netvault.local import config
from netvault.server import setup as layout
from netvault.errors import UsageError, Unreachable
from netvault.vault.client import ClientConfig


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    srv = tls_helpers.start(tmp_path_factory.mktemp("tls-bao"))
    try:
        layout.run_setup(ClientConfig.local(srv.http).admin(srv.root_token), config.Mounts(),
                         audit_path=str(srv.audit_file))
        yield srv
    finally:
        tls_helpers.stop(srv)


def _env(**kw) -> dict:
    return {k: v for k, v in kw.items() if v is not None}


def test_env_contract_is_read_once_into_one_config(monkeypatch):
    for k in list(os.environ):
        if k.startswith(("VAULT_", "BAO_")) or k.lower() in ("https_proxy", "http_proxy", "no_proxy"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("BAO_ADDR", "https://vault.example:8200")
    monkeypatch.setenv("VAULT_NAMESPACE", "team1")
    monkeypatch.setenv("VAULT_CLIENT_TIMEOUT", "3s")
    monkeypatch.setenv("VAULT_MAX_RETRIES", "0")
    monkeypatch.setenv("VAULT_TLS_SERVER_NAME", "vault.internal")
    monkeypatch.setenv("HTTPS_PROXY", "proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", ".corp,10.0.0.1")
    s = config.load()
    c = s.client
    assert (c.address, c.namespace, c.timeout, c.max_retries, c.tls_server_name) == (
        "https://vault.example:8200", "team1", 3.0, 0, "vault.internal")
    v = s.vault("t")
    assert (v._timeout, v._retries, v.namespace) == (3.0, 0, "team1")
    assert c.proxy_for("https", "vault.example", 8200) == ("proxy.example", 3128)
    assert c.proxy_for("https", "a.vault.corp", 8200) is None and c.proxy_for("https", "10.0.0.1", 1) is None
    monkeypatch.setenv("VAULT_MAX_RETRIES", "many")
    with pytest.raises(UsageError):
        config.load()
    monkeypatch.setenv("VAULT_MAX_RETRIES", "1")
    monkeypatch.setenv("VAULT_CLIENT_CERT", "/x.pem")
    with pytest.raises(UsageError, match="VAULT_CLIENT_KEY"):
        config.load()


def test_mutual_tls_reveal_works_with_client_certificate(tls_server, cli):
    """Today `setup` worked against such a Vault and `reveal` failed: both
    clients now come from the same config, so both present the certificate."""
    s = tls_server
    plain = {"VAULT_ADDR": s.http}
    assert cli("customer", "add", "mtls-co", "--company", "M", token=s.root_token, env=plain).returncode == 0
    r = cli("credential", "add", "mtls-co/fw", "--stdin", input="Fw-pass-9\n", token=s.root_token, env=plain)
    assert r.returncode == 0, r.stderr
    mtls = {"VAULT_ADDR": s.mtls, "VAULT_CACERT": s.ca, "VAULT_CLIENT_CERT": s.client_cert,
            "VAULT_CLIENT_KEY": s.client_key}
    r = cli("reveal", "mtls-co/fw", "-i", "INC-1", token=s.root_token, env=mtls)
    assert r.returncode == 0 and r.stdout == "Fw-pass-9\n", r.stderr
    r = cli("setup", "--check", token=s.root_token, env=mtls)  # the hvac (set-up plane) client too
    assert "cannot reach" not in r.stderr and "TLS" not in r.stderr, r.stderr
    no_cert = {"VAULT_ADDR": s.mtls, "VAULT_CACERT": s.ca}
    r = cli("reveal", "mtls-co/fw", "-i", "INC-1", token=s.root_token, env=no_cert)
    assert r.returncode == 5 and "client certificate" in r.stderr and r.stdout == ""
    # raw proof: the listener really refuses a client without a certificate
    with pytest.raises(requests.exceptions.SSLError):
        hvac.Client(url=s.mtls, token=s.root_token, verify=s.ca).lookup_token()


def test_capath_and_tls_server_name(tls_server, cli, tmp_path):
    s = tls_server
    cadir = tmp_path / "cas"
    cadir.mkdir()
    (cadir / "our-ca.pem").write_bytes(open(s.ca, "rb").read())
    (cadir / "README").write_text("not a certificate\n")
    r = cli("whoami", "--json", token=s.root_token, env={"VAULT_ADDR": s.tls, "VAULT_CAPATH": str(cadir)})
    assert r.returncode == 0 and r.json()["roles"] == ["root"], r.stderr
    named = {"VAULT_ADDR": s.named, "VAULT_CACERT": s.ca}
    r = cli("whoami", token=s.root_token, env=named)
    assert r.returncode == 5 and "certificate verify failed" in r.stderr
    r = cli("whoami", "--json", token=s.root_token, env={**named, "VAULT_TLS_SERVER_NAME": "vault.internal"})
    assert r.returncode == 0 and r.json()["roles"] == ["root"], r.stderr
    admin = ClientConfig(s.named, cacert=s.ca, tls_server_name="vault.internal").admin(s.root_token)
    assert "root" in admin.lookup_token()["data"]["policies"]


def test_skip_verify_warns_and_connects(tls_server, cli):
    s = tls_server
    r = cli("whoami", "--json", token=s.root_token, env={"VAULT_ADDR": s.named, "VAULT_SKIP_VERIFY": "true"})
    assert r.returncode == 0 and r.json()["roles"] == ["root"]
    assert "VAULT_SKIP_VERIFY" in r.stderr and "NOT checked" in r.stderr
    r = cli("whoami", token=s.root_token, env={"VAULT_ADDR": s.named, "VAULT_SKIP_VERIFY": "false"})
    assert r.returncode == 5 and "VAULT_SKIP_VERIFY" not in r.stderr


def test_namespace_header_reaches_vault(tls_server):
    s = tls_server
    root = hvac.Client(url=s.http, token=s.root_token)
    root.write("sys/namespaces/team1")
    cfg = ClientConfig.from_env(s.http, env={"VAULT_NAMESPACE": "team1"}, namespace="team1")
    cfg.admin(s.root_token).sys.enable_secrets_engine("kv", path="ns-probe", options={"version": "2"})
    assert "ns-probe/" in (cfg.vault(s.root_token).request("GET", "sys/mounts")["data"])
    # raw: the mount is in team1, not in the root namespace
    assert "ns-probe/" in hvac.Client(url=s.http, token=s.root_token, namespace="team1").sys.list_mounted_secrets_engines()["data"]
    assert "ns-probe/" not in root.sys.list_mounted_secrets_engines()["data"]


def test_https_proxy_and_no_proxy(tls_server, cli):
    s = tls_server
    host_port = s.tls.split("//")[1]
    with ConnectProxy() as proxy:
        env = {"VAULT_ADDR": s.tls, "VAULT_CACERT": s.ca, "HTTPS_PROXY": f"http://{proxy.address}"}
        r = cli("whoami", "--json", token=s.root_token, env=env)
        assert r.returncode == 0 and r.json()["roles"] == ["root"], r.stderr
        assert proxy.tunnels == [host_port]
        admin = ClientConfig.from_env(s.tls, cacert=s.ca, env={"HTTPS_PROXY": proxy.address}).admin(s.root_token)
        assert "root" in admin.lookup_token()["data"]["policies"]
        assert proxy.tunnels == [host_port, host_port]
        r = cli("whoami", token=s.root_token, env={**env, "NO_PROXY": "localhost,127.0.0.1"})
        assert r.returncode == 0 and len(proxy.tunnels) == 2


def test_follows_a_standby_307_to_the_active_node(tls_server, cli):
    s = tls_server
    with Redirector(s.http) as standby:
        r = cli("whoami", "--json", token=s.root_token, env={"VAULT_ADDR": f"http://{standby.address}"})
        assert r.returncode == 0 and r.json()["roles"] == ["root"], r.stderr
        assert standby.redirected >= 1
        # a POST with a body is re-sent to the active node as is (307 keeps method and body)
        v = ClientConfig(f"http://{standby.address}").vault(s.root_token)
        v.write("sys/policies/acl/redirect-probe", {"policy": 'path "x" { capabilities = ["read"] }'})
        assert "redirect-probe" in hvac.Client(url=s.http, token=s.root_token).sys.list_acl_policies()["data"]["keys"]


def test_https_redirect_to_plain_http_is_refused(tls_server):
    """A node reached over TLS that redirects to plain HTTP is not followed
    (the token would travel in clear). The redirecting node is the real
    server's TLS listener's address with a 307 planted on the client."""
    s = tls_server
    v = ClientConfig(s.tls, cacert=s.ca).vault(s.root_token)
    v._location = s.http + "/v1/auth/token/lookup-self"
    with pytest.raises(Unreachable, match="will not follow"):
        v._follow("GET", "auth/token/lookup-self", None, v._headers(None), False, 307, b"")


def test_client_timeout_from_environment(cli):
    with Silent() as hung:
        r = cli("whoami", token="t", env={"VAULT_ADDR": f"http://{hung.address}", "VAULT_CLIENT_TIMEOUT": "1s",
                                          "VAULT_MAX_RETRIES": "0"})
        assert r.returncode == 5 and "VAULT_CLIENT_TIMEOUT" in r.stderr


def test_max_retries_reaches_the_hvac_client():
    cfg = ClientConfig.from_env("http://127.0.0.1:1", env={"VAULT_MAX_RETRIES": "3"})
    adapter = cfg.admin(None).adapter.session.get_adapter("http://127.0.0.1:1")
    assert adapter.max_retries.total == 3 and cfg.vault(None)._retries == 3
