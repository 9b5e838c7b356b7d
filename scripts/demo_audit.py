"""Demo steps for the auditor (issue 5). Called by scripts/demo.py as ``steps(nv, say, ctx)``.

``nv(*args, user_env=..., expect=..., quiet=...)`` runs one netvault command
and returns its stdout; ``say`` prints a heading. ``ctx`` (dict or object)
may hold ``auditor_env`` (environment of a logged-in auditor) and ``work``
(a scratch directory); without them the current login is used.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path


def _get(ctx, name, default=None):
    if ctx is None:
        return default
    if isinstance(ctx, dict):
        return ctx.get(name, default)
    return getattr(ctx, name, default)


def steps(nv, say, ctx) -> None:
    env = _get(ctx, "auditor_env")
    work = Path(_get(ctx, "work") or tempfile.mkdtemp(prefix="netvault-demo-audit-"))
    status = json.loads(nv("server", "status", "--json", quiet=True))
    audit_file = status["audit_file"]

    say("Auditor: every reveal, from Vault's own audit log (also reveals made with curl)")
    nv("audit", "log", "--action", "reveal", user_env=env)

    say("Auditor: denied attempts (missing or wrong incident reference, no grant, revoked)")
    nv("audit", "log", "--denied", user_env=env)

    say("Auditor: seal the trail (Ed25519 signature by Vault transit; key not exportable)")
    nv("audit", "seal", user_env=env)
    nv("audit", "verify", user_env=env)

    say("Auditor: hand a copy of the log over; verify it offline with the exported digests")
    bundle = work / "digests.json"
    nv("audit", "export-digests", "--out", str(bundle), user_env=env)
    copy = work / "audit-copy.log"
    shutil.copy(audit_file, copy)
    nv("audit", "verify", "--file", str(copy), "--digests", str(bundle), user_env=env)

    say("Someone edits one byte of the sealed copy: verify names the range, exit code 9")
    data = bytearray(copy.read_bytes())
    i = data.find(b'"remote_address":"127.0.0.1"')
    data[i + 26] = ord("2")  # 127.0.0.1 -> 127.0.0.2
    copy.write_bytes(bytes(data))
    nv("audit", "verify", "--file", str(copy), "--digests", str(bundle), user_env=env, expect=9)

    say("Auditor: one self-contained HTML report (charts, denied, after hours, self-grants)")
    report = work / "audit-report.html"
    nv("audit", "report", "--out", str(report), user_env=env)
    print(f"  open {report} in a browser")
