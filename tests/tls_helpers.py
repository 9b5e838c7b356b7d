"""A real OpenBao with TLS listeners for the connection-layer tests.

``bao server -dev`` (in memory, unsealed, root token known) with an extra
config file: a plain listener for set-up, a TLS listener (certificate for
127.0.0.1), one that requires a client certificate
(``tls_require_and_verify_client_cert``), and one whose certificate names
only ``vault.internal`` (for VAULT_TLS_SERVER_NAME). Certificates come from
``netvault.server.tlsgen`` (the private CA a team server gets) plus a client
certificate signed by that CA.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from netvault.server import embedded
from netvault.server import tlsgen


@dataclass
class TLSServer:
    http: str
    tls: str
    mtls: str
    named: str  # certificate for vault.internal only
    ca: str
    client_cert: str
    client_key: str
    root_token: str
    audit_file: Path
    proc: subprocess.Popen


def client_certificate(tls_dir: Path) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_cert = x509.load_pem_x509_certificate((tls_dir / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((tls_dir / "ca-key.pem").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "engineer laptop")]))
        .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=2))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = tls_dir / "client.pem", tls_dir / "client-key.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(cert_path), str(key_path)


def start(base: Path) -> TLSServer:
    tls_dir = base / "tls"
    tlsgen.ensure(tls_dir, ["127.0.0.1", "localhost"])
    shutil.copy(tls_dir / "server.pem", tls_dir / "ip.pem")
    shutil.copy(tls_dir / "server-key.pem", tls_dir / "ip-key.pem")
    tlsgen.ensure(tls_dir, ["vault.internal"])  # same CA, a certificate naming only vault.internal
    client_cert, client_key = client_certificate(tls_dir)
    ports = [embedded.free_port() for _ in range(4)]
    while len(set(ports)) < 4:
        ports = [embedded.free_port() for _ in range(4)]
    q = json.dumps
    audit = base / "audit.log"
    hcl = f"""
listener "tcp" {{
  address = "127.0.0.1:{ports[1]}"
  tls_cert_file = {q(str(tls_dir / 'ip.pem'))}
  tls_key_file = {q(str(tls_dir / 'ip-key.pem'))}
}}
listener "tcp" {{
  address = "127.0.0.1:{ports[2]}"
  tls_cert_file = {q(str(tls_dir / 'ip.pem'))}
  tls_key_file = {q(str(tls_dir / 'ip-key.pem'))}
  tls_require_and_verify_client_cert = true
  tls_client_ca_file = {q(str(tls_dir / 'ca.pem'))}
}}
listener "tcp" {{
  address = "127.0.0.1:{ports[3]}"
  tls_cert_file = {q(str(tls_dir / 'server.pem'))}
  tls_key_file = {q(str(tls_dir / 'server-key.pem'))}
}}
audit "file" "netvault" {{
  options {{
    file_path = {q(str(audit))}
  }}
}}
"""
    (base / "extra.hcl").write_text(hcl)
    root = "root-" + base.name
    log = open(base / "bao.log", "wb")
    proc = subprocess.Popen(
        [embedded.find_bao(), "server", "-dev", f"-dev-root-token-id={root}",
         f"-dev-listen-address=127.0.0.1:{ports[0]}", f"-config={base / 'extra.hcl'}"],
        stdout=log, stderr=subprocess.STDOUT, preexec_fn=embedded._die_with_parent, cwd=base,
    )
    srv = TLSServer(f"http://127.0.0.1:{ports[0]}", f"https://127.0.0.1:{ports[1]}", f"https://127.0.0.1:{ports[2]}",
                    f"https://127.0.0.1:{ports[3]}", str(tls_dir / "ca.pem"), client_cert, client_key, root, audit, proc)
    from netvault.errors import NetvaultError
    from netvault.vault.client import ClientConfig

    deadline = time.monotonic() + 60
    while True:
        try:
            if not ClientConfig.local(srv.http).probe(timeout=2).health().get("sealed", True):
                break
        except NetvaultError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"dev server did not start: {(base / 'bao.log').read_text()[-2000:]}")
        time.sleep(0.1)
    return srv


def stop(srv: TLSServer) -> None:
    srv.proc.terminate()
    try:
        srv.proc.wait(10)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
