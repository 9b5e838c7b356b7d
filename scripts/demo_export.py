"""Demo steps for issue 11's portable export, sub-processors and history authors.

``steps(nv, say, ctx, lead, engineer)`` runs while ``engineer`` holds a
grant on the customer (only someone with reveal rights can export: every
secret in the file is a reveal in the trail).
"""

from __future__ import annotations

from pathlib import Path

PASSPHRASE = "demo export passphrase 2026"


def steps(nv, say, ctx: dict, lead: dict, engineer: dict) -> None:
    c = ctx["customer"]
    say("Team lead: record acme's sub-processors (team lead or admin; Vault refuses an engineer, exit 4)")
    nv("customer", "subprocessors", c, "add", "Microsoft Ireland", "--service", "hosted mail (M365)",
       "--country", "IE", "--since", "2024-02-01", user_env=lead)
    nv("customer", "subprocessors", c, "add", "Backblaze", "--service", "offsite backup", "--country", "US",
       "--since", "2025-03-01", user_env=lead)
    nv("customer", "subprocessors", c, "add", "Evil BV", "--service", "x", "--country", "NL",
       "--since", "2025-01-01", user_env=engineer, expect=4)
    nv("subprocessors", "report", user_env=lead)
    say("Team lead: who changed fw-admin and when (authors from the audit trail, not from record fields)")
    nv("history", f"{c}/fw-admin", "--audit-file", str(Path(ctx["data_dir"]) / "audit.log"), user_env=lead)
    say("Engineer: acme asks for its data: a portable export, encrypted with a passphrase (stdin: two lines);"
        " each decrypt is a reveal under CHG-2001 in the trail")
    out = str(Path(ctx["work"]) / "acme-export.nvx")
    nv("customer", "export", c, "--incident", "CHG-2001", "--out", out,
       "--audit-file", str(Path(ctx["data_dir"]) / "audit.log"), input=f"{PASSPHRASE}\n{PASSPHRASE}\n",
       user_env=engineer)
    say("Anyone with the passphrase: open it (JSON on stdout; here only the summary)")
    nv("export", "open", out, "--summary", input=f"{PASSPHRASE}\n")
    say("A wrong passphrase: one line, exit 4, nothing printed")
    nv("export", "open", out, input="not the passphrase\n", expect=4)
