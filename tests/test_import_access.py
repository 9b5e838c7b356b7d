"""The one policy rule imports add, proved with raw hvac clients: team leads may
compute keyed fingerprints (transit hmac) with a customer's key, and that is
all it adds -- engineers and auditors may not, and nobody new may decrypt."""

from __future__ import annotations

import pytest
from hvac import exceptions as hx

from access_helpers import KV, TRANSIT, b64, decrypt, provision_customer, raw
from test_records_helpers import grant


def test_team_lead_may_fingerprint_but_not_decrypt(server, make_user, unique):
    root = server.root()
    c = provision_customer(root, unique("fp"))
    lead, eng, auditor = make_user("team-lead"), make_user("engineer"), make_user("auditor")
    grant(server, c.name, eng)
    grant(server, c.name, auditor)
    body = {"batch_input": [{"input": b64("netvault-fp\0id\0password\0secret")}]}
    got = raw(lead.login(), "POST", f"{TRANSIT}/hmac/customer-{c.name}", body)
    assert got["data"]["batch_results"][0]["hmac"].startswith("vault:v1:")
    # the same input gives the same fingerprint (that is what the import compares)
    again = raw(root, "POST", f"{TRANSIT}/hmac/customer-{c.name}", body)["data"]["batch_results"][0]["hmac"]
    assert again == got["data"]["batch_results"][0]["hmac"]
    for person in (eng, auditor):
        with pytest.raises(hx.Forbidden):
            raw(person.login(), "POST", f"{TRANSIT}/hmac/customer-{c.name}", body)
    with pytest.raises(hx.Forbidden):
        decrypt(lead.login(), c.record())


def test_index_buckets_reach_only_leads_and_admins(server, make_user, unique, cli):
    """The global find index moved into bucket documents (``_index/buckets/...``);
    proved with raw clients that it adds nothing for anyone: engineers (granted
    the customer or not) can neither read, list nor write a
    bucket, auditors see only bucket numbers (no MAC, as the old per-MAC keys
    showed them), an engineer still cannot write the search document of a
    customer they may read, and team leads keep what they had."""
    import re
    import secrets
    import zlib

    admin, lead = make_user("admin"), make_user("team-lead")
    granted, other, auditor = make_user("engineer"), make_user("engineer"), make_user("auditor")
    c = unique("bk")
    assert cli("customer", "add", c, token=admin.token()).returncode == 0
    grant(server, c, granted)
    grant(server, c, auditor)
    mac = "02" + secrets.token_hex(5)
    r = cli("device", "add", f"{c}/sw1", "--kind", "switch", "--mac", mac, token=lead.token())
    assert r.returncode == 0, r.stderr
    bucket = f"_index/buckets/mac/{zlib.crc32(mac.encode()) & 0xFF:02x}"
    assert raw(lead.login(), "GET", f"{KV}/data/{bucket}")["data"]["data"]["z"]
    version = raw(server.root(), "GET", f"{KV}/metadata/{bucket}")["data"]["current_version"]
    planted = {"options": {"cas": version}, "data": {"z": ""}}
    for person in (granted, other, auditor):
        client = person.login()
        for method, path, body in (
                ("GET", f"{KV}/data/{bucket}", None),
                ("POST", f"{KV}/data/{bucket}", planted),
                ("POST", f"{KV}/data/_index/buckets/mac/zz", {"options": {"cas": 0}, "data": {"z": ""}}),
                ("DELETE", f"{KV}/data/{bucket}", None),
                ("DELETE", f"{KV}/metadata/{bucket}", None),
                ("POST", f"{KV}/destroy/{bucket}", {"versions": [version]})):
            with pytest.raises(hx.Forbidden):
                raw(client, method, path, body)
        if person is not auditor:
            for path in (f"{KV}/metadata/_index/buckets/mac", f"{KV}/metadata/{bucket}"):
                with pytest.raises(hx.Forbidden):
                    raw(client, "LIST" if path.endswith("/mac") else "GET", path)
    # auditors read metadata everywhere (as before): the keys are bucket numbers, not MACs
    listed = raw(auditor.login(), "LIST", f"{KV}/metadata/_index/buckets/mac")["data"]["keys"]
    assert listed and all(re.fullmatch(r"[0-9a-f]{2}", k) for k in listed)
    # a granted engineer reads the customer's search document (find) but writes nothing there
    search = f"{KV}/data/customers/{c}/_index/search"
    assert raw(granted.login(), "GET", search)["data"]["data"]["z"]
    cur = raw(server.root(), "GET", f"{KV}/metadata/customers/{c}/_index/search")["data"]["current_version"]
    with pytest.raises(hx.Forbidden):
        raw(granted.login(), "POST", search, {"options": {"cas": cur}, "data": {"z": ""}})
    # nothing was changed by the refused attempts
    assert raw(server.root(), "GET", f"{KV}/metadata/{bucket}")["data"]["current_version"] == version
