"""Issue 8 item 10: a request whose answer was lost is sent again only when that is safe.

A real TCP proxy (tests/fault_proxy.py) forwards each request to the real
OpenBao and then drops the client connection without the answer: Vault has
carried the request out, the client cannot know. The audit log (Vault's own)
counts how often each request really reached Vault.
"""

from __future__ import annotations

import json

import pytest

from audit_helpers import Customer, log_size
from fault_proxy import FaultProxy
from netvault.errors import Unreachable
from netvault.vault.client import Vault, repeatable


@pytest.fixture
def proxy(server):
    made = []

    def make(plan):
        p = FaultProxy(server.address, plan)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def _requests(server, start: int, path: str, pred=lambda doc: True) -> int:
    """Request entries Vault wrote for ``path`` since byte ``start`` of its audit log."""
    with open(server.audit_file, "rb") as fh:
        fh.seek(start)
        docs = [json.loads(line) for line in fh if line.strip()]
    return sum(1 for d in docs if d.get("type") == "request" and (d.get("request") or {}).get("path") == path and pred(d))


def test_check_and_set_write_is_not_sent_twice(server, proxy, unique):
    path = f"netvault/data/_faults/{unique('cas')}"
    p = proxy(["drop"])
    start = log_size(server.audit_file)
    vault = Vault(p.address, server.root_token)
    with pytest.raises(Unreachable) as err:
        vault.write(path, {"data": {"v": 1}, "options": {"cas": 0}})
    assert "not repeated" in err.value.message  # not "changed by someone else" (a replay's conflict)
    assert _requests(server, start, path) == 1
    # Vault did write it: version 1 exists, written once
    got = server.root().secrets.kv.v2.read_secret_version(path.split("/data/", 1)[1], mount_point="netvault",
                                                             raise_on_deleted_version=True)
    assert got["data"]["metadata"]["version"] == 1


def test_unwrap_is_not_sent_twice(server, proxy):
    root = server.root()
    wrap = root.auth.token.create(policies=["default"], ttl="5m", wrap_ttl="60s")["wrap_info"]["token"]
    hashed = root.write("sys/audit-hash/netvault", input=wrap)["data"]["hash"]
    p = proxy(["drop"])
    start = log_size(server.audit_file)
    with pytest.raises(Unreachable) as err:
        Vault(p.address, wrap).write("sys/wrapping/unwrap")
    assert "not repeated" in err.value.message  # a replay would say "already unwrapped" (intercepted)
    assert _requests(server, start, "sys/wrapping/unwrap", lambda d: d["auth"].get("client_token") == hashed) == 1


def test_decrypt_is_not_sent_twice(server, proxy, unique):
    slug = unique("fault")
    cust = Customer(server.root(), slug)
    rec = cust.add_credential("fw", "s3cret")
    reference = f"INC-{unique('ref')}"
    path = f"netvault-transit/decrypt/customer-{slug}"
    p = proxy(["drop"])
    start = log_size(server.audit_file)
    with pytest.raises(Unreachable):
        Vault(p.address, server.root_token).write(
            path, {"ciphertext": rec["ciphertext"], "context": rec["context"], "reference": reference}
        )
    # one reveal in the trail, not two
    assert _requests(server, start, path, lambda d: d["request"]["data"].get("reference") == reference) == 1


def test_reads_and_lookups_are_retried(server, proxy, unique):
    path = f"netvault/data/_faults/{unique('read')}"
    server.root().secrets.kv.v2.create_or_update_secret(path.split("/data/", 1)[1], {"v": 2}, cas=0, mount_point="netvault")
    p = proxy(["drop", "relay"] * 3)  # each request: its answer lost once
    vault = Vault(p.address, server.root_token)
    assert vault.read(path)["data"]["data"] == {"v": 2}
    assert vault.write("sys/audit-hash/netvault", {"input": "x"})["data"]["hash"].startswith("hmac-sha256:")
    assert vault.write("sys/capabilities-self", {"paths": [path]})["capabilities"] == ["root"]
    assert [line.split(b" ")[0] for line in p.seen] == [b"GET", b"GET", b"POST", b"POST", b"POST", b"POST"]


def test_caller_marked_idempotent_post_is_retried(server, proxy, unique):
    slug = unique("idem")
    Customer(server.root(), slug)
    path = f"netvault-transit/encrypt/customer-{slug}"
    p = proxy(["drop"])
    start = log_size(server.audit_file)
    resp = Vault(p.address, server.root_token).write(
        path, {"plaintext": "aGk=", "context": "YWJj"}, idempotent=True
    )
    assert resp["data"]["ciphertext"].startswith("vault:v1:")
    assert _requests(server, start, path) == 2


def test_write_after_an_idle_keep_alive_was_closed_goes_through_once(server, proxy, unique):
    """The server closed the idle connection (keep-alive timeout): a write on it
    opens a new connection first instead of failing or being sent twice."""
    path = f"netvault/data/_faults/{unique('idle')}"
    p = proxy(["relay-close"])
    vault = Vault(p.address, server.root_token)
    vault.read("sys/mounts")
    assert p.closed.wait(10)
    start = log_size(server.audit_file)
    resp = vault.write(path, {"data": {"v": 1}, "options": {"cas": 0}})
    assert resp["data"]["version"] == 1
    assert _requests(server, start, path) == 1


def test_connect_refused_is_unreachable_without_a_request(server):
    from netvault.server.embedded import free_port

    vault = Vault(f"http://127.0.0.1:{free_port()}", server.root_token)
    with pytest.raises(Unreachable) as err:
        vault.write("sys/wrapping/unwrap")
    assert "cannot reach Vault" in err.value.message


def test_repeatable_table():
    assert repeatable("GET", "netvault/data/x") and repeatable("LIST", "netvault/metadata/")
    assert repeatable("POST", "sys/wrapping/lookup") and repeatable("POST", "identity/lookup/entity")
    assert repeatable("POST", "sys/audit-hash/netvault") and repeatable("POST", "auth/token/lookup-self")
    assert repeatable("POST", "netvault-transit/encrypt/customer-a", idempotent=True)
    for path in ("sys/wrapping/unwrap", "netvault/data/x", "netvault-transit/decrypt/customer-a",
                 "auth/token/create/nv-jit", "auth/userpass/login/bob", "sys/wrapping/lookupx"):
        assert not repeatable("POST", path), path
    assert not repeatable("DELETE", "netvault/data/x")
