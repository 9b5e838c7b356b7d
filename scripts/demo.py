"""The netvault demo: real commands against the embedded OpenBao, narrated.

Run through scripts/demo (which prepares the virtual environment). Each step
prints the command it runs; a failing step stops the demo with its exit code.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

WORK = Path(tempfile.mkdtemp(prefix="netvault-demo-"))
DATA = WORK / "server"
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))},
    "NETVAULT_CONFIG_DIR": str(WORK / "config"),
    "NETVAULT_DATA_DIR": str(DATA),
}
PORT = os.environ.get("DEMO_PORT", "18250")


def say(text: str) -> None:
    print(f"\n\033[1m## {text}\033[0m", flush=True)


def nv(*args: str, user_env: dict | None = None, input: str | None = None, expect: int = 0, quiet: bool = False) -> str:
    env = {**ENV, **(user_env or {})}
    shown = "netvault " + " ".join(shlex.quote(a) for a in args)
    print(f"$ {shown}", flush=True)
    proc = subprocess.run(
        [sys.executable, "-m", "netvault", *args], env=env, input=input, text=True, capture_output=True
    )
    if proc.stdout and not quiet:
        print(proc.stdout.rstrip())
    if proc.stderr:
        print("\033[2m" + proc.stderr.rstrip() + "\033[0m")
    if proc.returncode != expect:
        print(f"demo step failed: exit {proc.returncode}, expected {expect}", file=sys.stderr)
        sys.exit(proc.returncode or 1)
    if expect:
        print(f"  (exit {proc.returncode}, as expected)")
    return proc.stdout


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import demo_access
    import demo_audit
    import demo_incident
    import demo_records

    keep = os.environ.get("KEEP") == "1"
    address = f"http://127.0.0.1:{PORT}"
    ctx = {"env": ENV, "work": str(WORK), "data_dir": str(DATA), "address": address,
           "customer": demo_records.CUSTOMER, "record": f"{demo_records.CUSTOMER}/fw-admin"}
    try:
        say("Admin: start the embedded OpenBao (first start: init, setup, first admin login)")
        nv("server", "up", "--port", PORT)
        nv("setup", "--check")
        nv("whoami")

        # --- the admin onboards a customer; records are sealed by Vault transit
        demo_records.steps(nv, say)

        # --- the team lead's job
        say("Admin: create a team lead (roles are Vault identity groups)")
        lead = demo_access._add_and_login(nv, ctx, "tess", "team-lead", None)
        say("Team lead: add an engineer; adding an admin is refused by Vault (exit 4)")
        bob = demo_access._add_and_login(nv, ctx, "bob", "engineer", lead)
        nv("engineer", "add", "mallory", "--role", "admin", "--generate", user_env=lead, expect=4)
        say("Engineer: no grant yet, so Vault refuses the reveal (exit 4)")
        nv("reveal", ctx["record"], "--incident", "INC-4711", user_env=bob, expect=4)
        say("Team lead: grant acme to bob (an identity group; effective at once on bob's existing token)")
        nv("grant", "bob", ctx["customer"], "--reason", "INC-4711 firewall down", user_env=lead)
        nv("access", "list", "--customer", ctx["customer"], user_env=lead)

        # --- the engineer's job, mid-incident
        demo_records.engineer_steps(nv, say, bob)
        import demo_export  # issue 11: sub-processors, history authors, portable export
        demo_export.steps(nv, say, ctx, lead, bob)

        say("Team lead: revoke; bob's next reveal with the same token is refused by Vault")
        nv("revoke", "bob", ctx["customer"], user_env=lead)
        nv("reveal", ctx["record"], "--incident", "INC-4712", user_env=bob, expect=4)

        say("Team lead: a time-limited grant (--for 2h): a JIT token Vault itself expires, delivered wrapped")
        nv("grant", "bob", ctx["customer"], "--for", "2h", "--reason", "CHG-88 firmware update", user_env=lead)
        nv("grant", "bob", ctx["customer"], "--for", "4 hours", user_env=lead, expect=2)
        say("Engineer: the reveal picks the time-limited access up from bob's inbox")
        nv("reveal", ctx["record"], "--incident", "CHG-88", user_env=bob, quiet=True)
        print("  (secret printed on stdout; hidden in this demo)")

        say("Team lead: offboard bob in one step: login and all tokens refused, the rotation worklist")
        nv("engineer", "offboard", "bob", "--yes", "--audit-file", str(DATA / "audit.log"), user_env=lead)
        nv("whoami", user_env=bob, expect=8)  # the disabled identity's token is refused
        nv("engineer", "show", "bob", "--offboarded", user_env=lead)  # the stored worklist, printed again

        # --- the auditor's job
        say("Admin: create an auditor")
        auditor = demo_access._add_and_login(nv, ctx, "aude", "auditor", None)
        demo_incident.steps(nv, say, {**ctx, "lead_env": lead, "auditor_env": auditor})
        demo_audit.steps(nv, say, {"auditor_env": auditor, "work": str(WORK)})
        say("Auditor: bob's exposure, the rotation worklist from the trail")
        nv("audit", "exposure", "bob", user_env=auditor)

        # --- end of service (issue 11)
        import demo_lifecycle

        demo_lifecycle.steps(nv, say, lead)
        say("Admin: stop the server (data stays in the data dir)")
    finally:
        if not keep:
            nv("server", "down")
            print(f"\ndemo data left in {WORK} (delete it when done)")
        else:
            print(f"\nserver left running at {address}; data in {DATA}; config in {WORK / 'config'}")


if __name__ == "__main__":
    main()
