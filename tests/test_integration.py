"""The three jobs together, through the real commands only: admin onboards a
customer, a team lead grants, an engineer reveals, the auditor sees it and the
offboarding worklist marks it; rotation clears the exposure."""

import json


def test_reveal_shows_in_exposure_and_offboarding(cli, server, make_user, unique):
    root = server.root_token
    lead = make_user("team-lead").token()
    eng = make_user("engineer")
    auditor = make_user("auditor").token()
    c = unique("int")
    assert cli("customer", "add", c, "--company", "Integratie BV", token=root).returncode == 0
    assert cli("credential", "add", f"{c}/fw", "--username", "admin", "--stdin", input="S3cret-pw\n", token=lead).returncode == 0
    assert cli("credential", "add", f"{c}/nas", "--username", "root", "--generate", token=lead).returncode == 0
    assert cli("grant", eng.name, c, "--reason", "INC-9 outage", token=lead).returncode == 0

    eng_token = eng.token()
    shown = cli("reveal", f"{c}/fw", "--incident", "INC-9", token=eng_token)
    assert shown.returncode == 0 and shown.stdout == "S3cret-pw\n"

    audit = ["--file", str(server.audit_file)]
    log = cli("audit", "log", *audit, "--customer", c, "--action", "reveal", "--json", token=auditor)
    events = [json.loads(line) for line in log.stdout.splitlines()]
    assert [(e["engineer"], e["record"], e["incident"], e["outcome"]) for e in events] == [(eng.name, "fw", "INC-9", "allowed")]

    exposed = cli("audit", "exposure", eng.name, *audit, "--json", token=auditor)
    rows = [json.loads(line) for line in exposed.stdout.splitlines()]
    assert [(r["record"], r["status"]) for r in rows] == [("fw", "rotate")]

    assert cli("credential", "rotate", f"{c}/fw", "--generate", token=lead).returncode == 0
    rows = [json.loads(line) for line in cli("audit", "exposure", eng.name, *audit, "--json", token=auditor).stdout.splitlines()]
    assert [(r["record"], r["status"]) for r in rows] == [("fw", "rotated")]

    off = cli("engineer", "offboard", eng.name, "--yes", "--audit-file", str(server.audit_file), "--json", token=lead)
    assert off.returncode == 0, off.stderr
    worklist = {r["name"]: r["revealed"] for r in off.json()["worklist"]}
    assert worklist == {"fw": True, "nas": False}
    # the token issued before the offboarding is refused right after it
    after = cli("reveal", f"{c}/fw", "--incident", "INC-9", token=eng_token)
    assert after.returncode == 8 and after.stdout == ""
