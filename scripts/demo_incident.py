"""Demo part: one night's incident (issue 14).

``steps(nv, say, ctx)``: an engineer asks for access to a customer for an
incident, a team lead approves (a time-limited grant), the engineer reveals;
then an on-call engineer breaks glass (a reveal without a grant, with a
break-glass reference), the auditor sees it flagged, unreviewed, and reviews it.

``ctx`` keys: ``lead_env``, ``auditor_env`` (logged-in people), ``customer``,
``record`` ("customer/name"), and what ``demo_access._add_and_login`` needs.
"""

from __future__ import annotations

import json


def steps(nv, say, ctx: dict) -> None:
    import demo_access

    lead, auditor = ctx["lead_env"], ctx["auditor_env"]
    customer, record = ctx["customer"], ctx["record"]
    say("One night's incident: 03:00, carol is paged for a customer she holds no grant for")
    carol = demo_access._add_and_login(nv, ctx, "carol", "engineer", lead)
    nv("reveal", record, "--incident", "INC-5001", user_env=carol, expect=4)
    say("Engineer: ask for access, in her own name (Vault lets nobody file a request for someone else)")
    nv("request", customer, "--incident", "INC-5001", "--for", "1h", "--reason", "VPN down at the main site", user_env=carol)
    nv("request", customer, "--incident", "INC-5001", user_env=carol)  # the same pending request: one request
    say("Team lead: see what is asked, approve it (a time-limited grant, exactly as `grant --for`)")
    nv("requests", "--pending", user_env=lead)
    nv("approve", f"carol:{customer}:1", user_env=lead)
    nv("approve", f"carol:{customer}:1", user_env=lead, expect=7)  # decided once
    say("Engineer: the next reveal picks the approved access up by itself")
    nv("reveal", record, "--incident", "INC-5001", user_env=carol, quiet=True)
    print("  (secret printed on stdout; hidden in this demo)")
    nv("requests", "--mine", user_env=carol)

    say("Break-glass: the team lead puts dave on call; auditors are never on call (exit 4)")
    dave = demo_access._add_and_login(nv, ctx, "dave", "engineer", lead)
    nv("on-call", "add", "dave", user_env=lead)
    nv("on-call", "add", "aude", user_env=lead, expect=4)
    say("On call, no grant, no team lead awake: dave breaks glass (Vault accepts only the BG- reference)")
    nv("reveal", record, "--incident", "INC-5002", user_env=dave, expect=4)
    nv("reveal", record, "--break-glass", "--incident", "INC-5002", user_env=dave, quiet=True)
    print("  (secret printed on stdout; hidden in this demo; Vault saw reference BG-INC-5002)")
    say("Auditor: every break-glass reveal is flagged and stays unreviewed until someone reviews it")
    nv("audit", "log", "--break-glass", user_env=auditor)
    out = nv("audit", "review", "--json", user_env=auditor, quiet=True)
    event = [r for r in json.loads(out) if r["outcome"] == "allowed"][0]["event"]
    nv("audit", "review", user_env=auditor)
    nv("audit", "review", "--ack", event, "--note", "INC-5002 confirmed with the customer's IT", user_env=auditor)
    nv("audit", "review", "--ack", event, "--note", "again", user_env=auditor, expect=7)  # append-only
    nv("audit", "review", "--all", user_env=auditor)
    nv("on-call", "remove", "dave", user_env=lead)
