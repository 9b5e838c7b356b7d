"""The one policy rule imports add, proved with raw hvac clients: team leads may
compute keyed fingerprints (transit hmac) with a customer's key, and that is
all it adds -- engineers and auditors may not, and nobody new may decrypt."""

from __future__ import annotations

import pytest
from hvac import exceptions as hx

from access_helpers import TRANSIT, b64, decrypt, provision_customer, raw
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
