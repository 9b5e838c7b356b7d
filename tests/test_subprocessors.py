"""Sub-processors (issue 11): team leads and admins write, team leads, admins,
auditors (and engineers granted the customer) read. Proved with raw hvac."""

from __future__ import annotations

import hvac
import pytest

from access_helpers import raw
from test_records_helpers import grant


@pytest.fixture(scope="module")
def world(server):
    import secrets

    from people import new_user

    admin, lead, eng, granted, auditor = (new_user(server, r) for r in
                                          ("admin", "team-lead", "engineer", "engineer", "auditor"))
    c1, c2 = f"sub-{secrets.token_hex(3)}", f"sub-{secrets.token_hex(3)}"
    from netvault.records.store import Store

    store = Store(server.gateway(admin.token()))
    for c in (c1, c2):
        store.add_customer(c, {"company": c})
    grant(server, c1, granted)
    return {"c1": c1, "c2": c2, "admin": admin.token(), "lead": lead.token(), "eng": eng.token(),
            "granted": granted.token(), "auditor": auditor.token()}


def _add(cli, token, c, name, country="NL", since="2025-01-31", service="hosted mail"):
    return cli("customer", "subprocessors", c, "add", name, "--service", service, "--country", country,
               "--since", since, token=token)


def test_lead_and_admin_add_list_rm_and_report(world, cli):
    c1, c2 = world["c1"], world["c2"]
    assert _add(cli, world["lead"], c1, "Microsoft Ireland", "ie").returncode == 0
    assert _add(cli, world["admin"], c1, "TransIP", "NL", service="DNS").returncode == 0
    assert _add(cli, world["lead"], c2, "Microsoft Ireland", "IE").returncode == 0
    r = cli("customer", "subprocessors", c1, "list", "--json", token=world["auditor"])
    assert r.returncode == 0, r.stderr
    assert r.json() == [{"name": "Microsoft Ireland", "service": "hosted mail", "country": "IE", "since": "2025-01-31"},
                        {"name": "TransIP", "service": "DNS", "country": "NL", "since": "2025-01-31"}]
    rep = cli("subprocessors", "report", "--json", token=world["auditor"]).json()
    ms = [row for row in rep if row["name"] == "Microsoft Ireland" and row["service"] == "hosted mail"][0]
    assert {x["customer"] for x in ms["customers"]} >= {c1, c2}
    table = cli("subprocessors", "report", token=world["lead"])
    assert table.returncode == 0 and "Microsoft Ireland" in table.stdout
    assert _add(cli, world["lead"], c1, "microsoft ireland").returncode == 7  # already listed
    assert cli("customer", "subprocessors", c1, "rm", "TransIP", token=world["lead"]).returncode == 0
    assert cli("customer", "subprocessors", c1, "rm", "TransIP", token=world["lead"]).returncode == 3
    names = [e["name"] for e in cli("customer", "subprocessors", c1, "list", "--json", token=world["lead"]).json()]
    assert names == ["Microsoft Ireland"]
    # a granted engineer reads its customer's list; the report shows only what they may read
    assert cli("customer", "subprocessors", c1, "list", "--json", token=world["granted"]).returncode == 0
    rep = cli("subprocessors", "report", "--json", token=world["granted"]).json()
    assert {x["customer"] for row in rep for x in row["customers"]} == {c1}


@pytest.mark.parametrize("country,since,why", [("XX", "2025-01-01", "country"), ("NLD", "2025-01-01", "country"),
                                               ("NL", "2025-02-30", "no such day"), ("NL", "01-02-2025", "YYYY")])
def test_bad_input(world, cli, country, since, why):
    r = _add(cli, world["lead"], world["c1"], "Bad BV", country, since)
    assert r.returncode == 2 and why in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_unknown_customer(world, cli):
    assert _add(cli, world["admin"], "no-such-cust", "X").returncode == 3


@pytest.mark.parametrize("who", ["eng", "granted", "auditor"])
def test_raw_client_cannot_write(world, server, who):
    """Vault refuses the write itself: an engineer (granted or not) and an auditor."""
    client = hvac.Client(url=server.address, token=world[who])
    path = f"netvault/data/customers/{world['c1']}/subprocessors"
    for body in ({"options": {"cas": 0}, "data": {"entries": []}}, {"data": {"entries": []}}):
        with pytest.raises(hvac.exceptions.Forbidden):
            raw(client, "POST", path, body)
    with pytest.raises(hvac.exceptions.Forbidden):
        raw(client, "DELETE", path)


def test_raw_client_who_may_read(world, server):
    path = f"netvault/data/customers/{world['c1']}/subprocessors"
    for who in ("lead", "admin", "auditor", "granted"):
        raw(hvac.Client(url=server.address, token=world[who]), "GET", path)  # no exception
    with pytest.raises(hvac.exceptions.Forbidden):
        raw(hvac.Client(url=server.address, token=world["eng"]), "GET", path)
    # the auditor's rule is this one key: still no record bodies
    with pytest.raises(hvac.exceptions.Forbidden):
        raw(hvac.Client(url=server.address, token=world["auditor"]), "GET",
            f"netvault/data/customers/{world['c1']}/profile")
