"""Demo steps for records, reveal and find (issue 3).

``steps(nv, say)`` runs as the admin that ``netvault server up`` logged in:
adds a customer, a credential and a device, finds the device by MAC (in
another notation than it was entered) and shows that Vault refuses the admin
a reveal (no grant: admins reveal only through a grant, which is audited).

``engineer_steps(nv, say, user_env)`` is the engineer's part, to run once
issue 4's grant commands have given that engineer access to ``acme``
(``user_env``: the environment of the engineer's login, as in scripts/demo.py):
find by MAC, a reveal refused without a valid incident reference, a reveal
for INC-4711 that prints the password alone, and the TOTP code.

``nv`` is scripts/demo.py's helper: nv(*args, user_env=None, input=None,
expect=0, quiet=False) -> stdout.
"""

from __future__ import annotations

CUSTOMER = "acme"
MAC_ENTERED = "00-16-3E-5A-01-FE"
MAC_SEARCHED = "0016.3e5a.01fe"


def steps(nv, say) -> None:
    say("Admin: add a customer (creates its transit key customer-acme and policy nv-customer-acme)")
    nv("customer", "add", CUSTOMER, "--company", "Acme Installatietechniek BV", "--city", "Utrecht",
       "--contact", "Ria de Vries", "--email", "it@acme.example", "--kvk", "12345678")
    say("Admin: a credential; the password is generated, never typed on the command line")
    nv("credential", "add", f"{CUSTOMER}/fw-admin", "--username", "admin", "--url", "https://192.0.2.1:8443",
       "--tag", "firewall", "--generate", "--length", "24")
    nv("credential", "add", f"{CUSTOMER}/m365-admin", "--username", "admin@acme.example", "--totp", "--stdin",
       input="Voorbeeld-Wachtwoord-1\nJBSWY3DPEHPK3PXPJBSWY3DP\n")
    say("Admin: a device; its MAC (any notation) goes into the find index")
    nv("device", "add", f"{CUSTOMER}/fw-main", "--kind", "firewall", "--mac", MAC_ENTERED, "--ip", "192.0.2.1",
       "--model", "FortiGate 60F", "--location", "meter cupboard, ground floor", "--credential", "fw-admin")
    nv("device", "show", f"{CUSTOMER}/fw-main")
    say("Listing shows no secrets: they are transit ciphertexts bound to the record's id")
    nv("credential", "list", CUSTOMER)
    say(f"Find the device by MAC, written differently ({MAC_SEARCHED})")
    nv("find", MAC_SEARCHED)
    say("The admin cannot reveal: Vault's policy denies decrypt without a grant (exit 4)")
    nv("reveal", f"{CUSTOMER}/fw-admin", "--incident", "INC-4711", expect=4)


def engineer_steps(nv, say, user_env: dict) -> None:
    say("Engineer: find the box by MAC during the outage")
    nv("find", MAC_SEARCHED, user_env=user_env)
    say("Engineer: a reveal without a valid incident reference is refused by Vault itself")
    nv("reveal", f"{CUSTOMER}/fw-admin", "--incident", "TICKET-1", user_env=user_env, expect=4)
    say("Engineer: reveal for INC-4711: the secret alone on stdout, so $(netvault reveal ...) works")
    nv("reveal", f"{CUSTOMER}/fw-admin", "--incident", "INC-4711", user_env=user_env)
    nv("reveal", f"{CUSTOMER}/m365-admin", "--incident", "INC-4711", "--totp", user_env=user_env)
