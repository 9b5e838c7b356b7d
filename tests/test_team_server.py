"""A team server: beyond loopback only with TLS. TLS is tested on 127.0.0.1
(tests may bind loopback only) with a generated private CA, and with the
operator's own certificate files."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from pathlib import Path

import hvac
import pytest

from netvault.server import embedded
from netvault.errors import ExitCode

pytestmark = pytest.mark.server  # the tests start OpenBao servers of their own


def netvault(env, *args, input=None):
    return subprocess.run([sys.executable, "-m", "netvault", *args], env=env, input=input,
                          capture_output=True, text=True, timeout=120)


def make_env(base: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update({"NETVAULT_CONFIG_DIR": str(base / "config"), "NETVAULT_DATA_DIR": str(base / "data"),
                "NETVAULT_KEYRING": "file"})
    return env


@pytest.mark.parametrize("listen", ["10.1.2.3:8200", "0.0.0.0:8200", "vault.example.net:8200"])
def test_plain_http_beyond_loopback_is_refused(tmp_path, listen):
    env = make_env(tmp_path)
    res = netvault(env, "server", "up", "--listen", listen)
    assert res.returncode == ExitCode.USAGE
    assert res.stderr.count("\n") == 1 and "refusing plain HTTP" in res.stderr and "--tls-cert" in res.stderr
    assert not (tmp_path / "data" / "server.pid").exists() and not (tmp_path / "data" / "config.hcl").exists()


def test_bad_listen_and_half_tls_options_are_usage_errors(tmp_path):
    env = make_env(tmp_path)
    for args in (["--listen", "nohost"], ["--listen", "127.0.0.1:8200", "--tls-cert", str(tmp_path / "c.pem")]):
        res = netvault(env, "server", "up", *args)
        assert res.returncode == ExitCode.USAGE and res.stderr.count("\n") == 1, res.stderr


def test_generated_ca_tls_server_trusted_by_its_ca_only(tmp_path):
    env = make_env(tmp_path)
    port = embedded.free_port()
    try:
        up = netvault(env, "server", "up", "--listen", f"127.0.0.1:{port}", "--tls-generate", "--json")
        assert up.returncode == 0, up.stderr
        info = json.loads(up.stdout)
        assert info["address"] == f"https://127.0.0.1:{port}" and info["tls"] is True
        ca = Path(info["cacert"])
        assert ca == tmp_path / "data" / "tls" / "ca.pem" and str(ca) in up.stderr
        for key in ("ca-key.pem", "server-key.pem"):
            assert oct((tmp_path / "data" / "tls" / key).stat().st_mode & 0o777) == "0o600"
        cfg = (tmp_path / "data" / "config.hcl").read_text()
        assert "tls_cert_file" in cfg and "tls_disable" not in cfg

        # the CA is stored in the config: the logged-in admin just works
        who = netvault(env, "whoami", "--json")
        assert who.returncode == 0, who.stderr
        from cryptography import x509

        cert = x509.load_pem_x509_certificate((tmp_path / "data" / "tls" / "server.pem").read_bytes())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "127.0.0.1" in [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]

        # a raw client trusting the CA talks TLS; one without it is refused by TLS
        root = json.loads((tmp_path / "data" / "init.json").read_text())["root_token"]
        assert hvac.Client(url=info["address"], token=root, verify=str(ca)).sys.read_health_status(method="GET")["initialized"]
        ctx = ssl.create_default_context()
        with pytest.raises(ssl.SSLCertVerificationError):
            import socket

            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                ctx.wrap_socket(sock, server_hostname="127.0.0.1")

        stranger = make_env(tmp_path / "other")
        stranger.update({"VAULT_ADDR": info["address"], "VAULT_TOKEN": root})
        res = netvault(stranger, "whoami")
        assert res.returncode == ExitCode.UNREACHABLE, res.stderr
        assert res.stderr.count("\n") == 1 and "CERTIFICATE_VERIFY_FAILED" in res.stderr and "Traceback" not in res.stderr
        res = netvault({**stranger, "VAULT_CACERT": str(ca)}, "whoami")
        assert res.returncode == 0, res.stderr
        # plain HTTP to the TLS port fails cleanly too
        res = netvault({**stranger, "VAULT_ADDR": f"http://127.0.0.1:{port}"}, "whoami")
        assert res.returncode in (ExitCode.UNREACHABLE, ExitCode.USAGE, ExitCode.ERROR) and "Traceback" not in res.stderr
        assert res.stderr.count("\n") == 1

        # the operator's own certificate (here: the generated one, trusted via VAULT_CACERT)
        op = make_env(tmp_path / "op")
        op["VAULT_CACERT"] = str(ca)
        port2 = embedded.free_port()
        try:
            res = netvault(op, "server", "up", "--listen", f"127.0.0.1:{port2}", "--tls-cert",
                           str(tmp_path / "data" / "tls" / "server.pem"), "--tls-key",
                           str(tmp_path / "data" / "tls" / "server-key.pem"), "--json")
            assert res.returncode == 0, res.stderr
            assert json.loads(res.stdout)["address"] == f"https://127.0.0.1:{port2}"
            assert not (tmp_path / "op" / "data" / "tls").exists()
            assert netvault(op, "whoami").returncode == 0
        finally:
            netvault(op, "server", "down")
    finally:
        netvault(env, "server", "down")
    assert not embedded.status(tmp_path / "data").running
