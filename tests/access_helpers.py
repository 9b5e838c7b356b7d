"""Test helpers for access tests: customers and sealed records made *raw*.

Customers and records belong to the records issue; these tests must not
depend on its code. So a customer is provisioned here exactly as
docs/DESIGN.md lays it out, with the root hvac client: transit key
``customer-<c>`` (derived), policy ``nv-customer-<c>`` rendered from the
template, KV v2 writes with ``cas`` of the profile and of credentials whose
``secrets.password`` is a transit ciphertext bound to ``context=base64(id)``.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass, field

import hvac
from hvac import exceptions as hx

from netvault.server import setup as layout
from netvault.vault import policies
from netvault.local.config import DEFAULT_INCIDENT_PATTERNS
from netvault.vault.mounts import Mounts
from people import User, new_user

KV = "netvault"
TRANSIT = "netvault-transit"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass
class Sealed:
    customer: str
    name: str
    id: str
    plaintext: str
    ciphertext: str

    @property
    def context(self) -> str:
        return b64(self.id)


@dataclass
class Customer:
    name: str
    records: dict[str, Sealed] = field(default_factory=dict)

    def record(self, name: str = "router") -> Sealed:
        return self.records[name]


def raw(client: hvac.Client, method: str, path: str, data: dict | None = None, headers: dict | None = None):
    """One request with a raw hvac client; hvac exceptions propagate."""
    kwargs = {}
    if data is not None:
        kwargs["json"] = data
    if headers:
        kwargs["headers"] = headers
    return client.adapter.request(method, f"/v1/{path}", **kwargs)


def seal(root: hvac.Client, customer: str, kind: str, name: str, plaintext: str, **extra) -> Sealed:
    rid = uuid.uuid4().hex
    ct = raw(root, "POST", f"{TRANSIT}/encrypt/customer-{customer}", {
        "plaintext": b64(plaintext), "context": b64(rid),
    })["data"]["ciphertext"]
    body = {"id": rid, "username": "admin", "url": "", "notes": "", "tags": [], "secrets": {"password": ct}, **extra}
    raw(root, "POST", f"{KV}/data/customers/{customer}/{kind}/{name}", {"options": {"cas": 0}, "data": body})
    raw(root, "POST", f"{KV}/data/customers/{customer}/_ids/{rid}", {"options": {"cas": 0}, "data": {"kind": kind, "name": name}})
    return Sealed(customer, name, rid, plaintext, ct)


def provision_customer(root: hvac.Client, name: str, credentials: tuple[str, ...] = ("router",)) -> Customer:
    raw(root, "POST", f"{TRANSIT}/keys/customer-{name}", {"derived": True})
    root.sys.create_or_update_acl_policy(
        policies.customer_policy_name(name), policies.render_customer(name, list(DEFAULT_INCIDENT_PATTERNS), mounts=Mounts(KV, TRANSIT))
    )
    raw(root, "POST", f"{KV}/data/customers/{name}/profile", {
        "options": {"cas": 0}, "data": {"id": uuid.uuid4().hex, "name": name},
    })
    # what `customer add` must do too: the auditor's deny covers the new customer
    layout.sync_customer_policies(root, Mounts())
    cust = Customer(name)
    for cred in credentials:
        cust.records[cred] = seal(root, name, "credentials", cred, f"pw-{cred}-{secrets.token_hex(4)}")
    return cust


#: a test login (tests/people.py); "person" reads better next to customers
Person = User
new_person = new_user


def raw_grant(root: hvac.Client, customer: str, person: Person) -> None:
    raw(root, "POST", "identity/group", {
        "name": f"nv-grant:{customer}:{person.name}",
        "policies": f"nv-customer-{customer}",
        "member_entity_ids": [person.entity_id],
    })


def decrypt(client: hvac.Client, rec: Sealed, reference: str | None = "INC-1") -> str:
    data = {"ciphertext": rec.ciphertext, "context": rec.context}
    if reference is not None:
        data["reference"] = reference
    resp = raw(client, "POST", f"{TRANSIT}/decrypt/customer-{rec.customer}", data)
    return base64.b64decode(resp["data"]["plaintext"]).decode()


def can_reveal(client: hvac.Client, rec: Sealed) -> bool:
    try:
        return decrypt(client, rec) == rec.plaintext
    except hx.Forbidden:
        return False
