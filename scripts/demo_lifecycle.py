"""Demo steps: a customer's end of service, crypto-shred and erasure (issue 11)."""

from __future__ import annotations

from datetime import date, timedelta

OLD = "oldco"


def _at(days: int) -> dict:
    """Run a step as if it were ``days`` from now (NETVAULT_NOW: tests and demos)."""
    return {"NETVAULT_NOW": f"{(date.today() + timedelta(days=days)).isoformat()}T12:00:00Z"}


def steps(nv, say, lead: dict) -> None:
    say("Admin: a customer kept 10 years after its end (--retention 10y)")
    nv("customer", "add", OLD, "--company", "Old Co BV", "--email", "it@oldco.example", "--retention", "10y")
    nv("credential", "add", f"{OLD}/router", "--username", "admin", "--generate")
    say("Team lead: end of service today: grants revoked, the key refuses every earlier ciphertext")
    nv("customer", "end", OLD, "--reason", "contract ended", user_env=lead)
    nv("customer", "end", OLD, user_env=lead, expect=7)
    say("Team lead: a new grant of an ended customer is refused by Vault (exit 4)")
    nv("grant", "tess", OLD, "--reason", "INC-9", user_env=lead, expect=4)
    nv("customer", "list", user_env=lead)
    say("Admin, 31 days later: the grace period is over, purge shreds the secrets (deletes the key)")
    nv("retention", "list", user_env=_at(31))
    nv("retention", "purge", user_env=_at(31))
    say("Admin, 10 years later: past retention, the purge would erase the customer completely")
    nv("retention", "purge", "--dry-run", user_env=_at(10 * 366))
    say("Admin: erasure on request, now (asks for the name; here given on stdin)")
    nv("customer", "erase", OLD, input=f"{OLD}\n")
    nv("customer", "show", OLD, expect=3)
