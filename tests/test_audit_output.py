"""Issue 8 item 9: attacker-chosen strings from Vault, the trail or storage never
reach an output raw (terminal, JSON, CSV, HTML), useless incident references
are flagged, and the customer policy refuses them for a raw client.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.parse

import hvac
import pytest

from audit_helpers import Customer, log_size, slice_log
from netvault.access import grants
from netvault.vault import policies
from netvault.audit.events import Filters, events
from netvault.errors import UsageError
from netvault.server.setup import validate_patterns
from netvault.values.text import FORMULA_START, csv_cell, json_text, printable, reference_flags

ESC_REF = "INC-1\x1b[2J\x1b]0;owned\x07"
BIDI_REF = "INC-2\u202e\u2066gpj.exe\u2069\u200b"
C1_REF = "INC-3\x85\x9b31m\x7f"
LONG_REF = "INC-" + "9" * 200
HOSTILE = {
    ESC_REF: ["ref-control"],
    BIDI_REF: ["ref-control"],
    C1_REF: ["ref-control"],
    "INC-": ["ref-empty"],
    "INC-*": ["ref-empty", "ref-glob"],
    LONG_REF: ["ref-long"],
    "INC-4": [],
}
FORMULA_NAMES = ['=HYPERLINK("http://x.example","y")', "@SUM(1+1)", "+1+2", "-3+4"]
RAW_CONTROLS = [chr(c) for c in range(0x20) if c not in (0x0A,)] + ["\x7f", "\x85", "\x9b", "\u202e", "\u2066", "\u2069", "\u200b"]


def _clean(text: str, *, allow=("\n",)) -> None:
    bad = sorted({repr(ch) for ch in text if ch in RAW_CONTROLS and ch not in allow})
    assert not bad, f"raw control characters in output: {bad}"


@pytest.fixture
def hostile_log(server, unique, tmp_path):
    """Reveals with hostile references and records with formula names, in a slice of the real trail.
    Root makes them: Vault's root policy accepts any reference (a customer policy from before this
    change accepted most of them too, see test_customer_policy_refuses_useless_references)."""
    root = server.root()
    start = log_size(server.audit_file)
    cust = Customer(root, unique("hostile"))
    cust.add_credential("fw", "pw")
    for ref in HOSTILE:
        assert cust.reveal(root, "fw", ref), ref
    for name in FORMULA_NAMES:  # Vault takes these as KV path names (controls it refuses)
        path = f"/v1/netvault/data/customers/{cust.slug}/credentials/{urllib.parse.quote(name, safe='')}"
        root.adapter.post(path, json={"data": {"id": "x"}, "options": {"cas": 0}})
    log = slice_log(server.audit_file, start, tmp_path / "audit.log")
    return cust, log


def test_reference_flags_on_events(hostile_log):
    cust, log = hostile_log
    got = {e.incident: e.flags for e in events([str(log)], filters=Filters(customer=cust.slug, actions=("reveal",)))}
    assert got == HOSTILE


def test_audit_log_table_json_csv_never_carry_controls(hostile_log, cli):
    cust, log = hostile_log
    base = ("audit", "log", "--file", str(log), "--customer", cust.slug, "--offline")
    # table
    r = cli(*base)
    assert r.returncode == 0, r.stderr
    _clean(r.stdout)
    _clean(r.stderr)
    assert "\\x1b[2J" in r.stdout and "\\u202e" in r.stdout  # shown as visible escapes
    assert LONG_REF not in r.stdout and "INC-999" in r.stdout  # cut short in the table
    long_line = next(line for line in r.stdout.splitlines() if "INC-999" in line)
    assert "ref-long" in long_line and "…" in long_line
    assert any("ref-empty" in line and "ref-glob" in line for line in r.stdout.splitlines())
    # JSON: the full value, controls only as escapes
    r = cli(*base, "--json")
    assert r.returncode == 0, r.stderr
    _clean(r.stdout)
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    reveals = {x["incident"]: x["flags"] for x in rows if x["action"] == "reveal"}
    assert reveals == HOSTILE
    assert "\\u001b" in r.stdout and "\\u202e" in r.stdout and "\\u0085" in r.stdout
    # CSV: no raw controls, no cell a spreadsheet would run
    r = cli(*base, "--csv")
    assert r.returncode == 0, r.stderr
    for piece in r.stdout.split("\r\n"):
        _clean(piece, allow=())
    cells = [c for row in csv.reader(io.StringIO(r.stdout)) for c in row]
    assert not [c for c in cells if c.startswith(FORMULA_START)]
    records = {c for c in cells if "HYPERLINK" in c or "SUM(" in c or c.startswith("'+1") or c.startswith("'-3")}
    assert records >= {"'" + n for n in FORMULA_NAMES}
    assert "ref-empty ref-glob" in cells


def test_report_and_exposure_neutralise(hostile_log, cli, tmp_path):
    cust, log = hostile_log
    out = tmp_path / "r.html"
    r = cli("audit", "report", "--file", str(log), "--offline", "--out", str(out))
    assert r.returncode == 0, r.stderr
    html = out.read_text(encoding="utf-8")
    _clean(html)
    assert "\\x1b[2J" in html and "\\u202e" in html
    assert 'id="bad-reference"' in html and "ref-control" in html
    r = cli("audit", "exposure", "root", "--file", str(log), "--offline", "--csv")
    assert r.returncode == 0, r.stderr
    for piece in r.stdout.split("\r\n"):
        _clean(piece, allow=())
    r = cli("audit", "exposure", "root", "--file", str(log), "--offline")
    assert r.returncode == 0, r.stderr
    _clean(r.stdout)
    assert LONG_REF not in r.stdout


def test_stored_values_are_escaped_in_records_and_access(server, cli, unique):
    """A team lead may write any KV content with curl; list/show/access list escape it."""
    root = server.root()
    cust = Customer(root, unique("stored"))
    evil = "\x1b[2J\x1b]8;;http://x.example\x07click\u202eexe.txt"
    root.secrets.kv.v2.create_or_update_secret(
        f"customers/{cust.slug}/credentials/fw",
        {"id": "a" * 32, "username": evil, "notes": evil, "secrets": {"password": "vault:v1:x"}},
        cas=0, mount_point="netvault",
    )
    root.secrets.kv.v2.create_or_update_secret(
        f"_grants/{cust.slug}/bob",
        {"user": "bob", "customer": cust.slug, "kind": "standing", "granted_by": evil, "reason": "=cmd|'/C calc'!A0" + evil},
        cas=0, mount_point="netvault",
    )
    # access list reads the grant ledger: copy the hand-written record into it as
    # a team lead's curl could (doctor --repair does the same)
    grants.sync_ledger(server.gateway(), cust.slug, "bob")
    for args in (("credential", "list", cust.slug), ("credential", "show", f"{cust.slug}/fw"),
                 ("access", "list", "--customer", cust.slug)):
        for extra in ((), ("--json",)):
            r = cli(*args, *extra, token=server.root_token)
            assert r.returncode == 0, (args, r.stderr)
            _clean(r.stdout)
            _clean(r.stderr)
            assert "\\x1b" in r.stdout or "\\u001b" in r.stdout, (args, r.stdout)
            if extra:
                json.loads(r.stdout)


def test_error_messages_are_escaped(cli, server):
    r = cli("credential", "show", "acme/\x1b[2Jx", token=server.root_token)
    assert r.returncode == 2
    _clean(r.stderr)


def test_customer_policy_refuses_useless_references(server, make_user, unique):
    """Vault's globs: INC-* matches "INC-" itself, "INC-*", and any control character.
    The rendered policy adds denied_parameters so Vault refuses them; a raw client proves it."""
    root = server.root()
    cust = Customer(root, unique("refs"))
    cust.add_credential("fw", "pw")
    user = make_user("engineer")
    eng = user.login()
    cust.grant(user.name, user.entity_id)
    # What a policy with allowed_parameters alone (as before) let through:
    old = policies.render_customer(cust.slug, ["INC-*", "CHG-*"], mounts=server.mounts).split("  # References that name no incident")[0] + "}\n"
    root.sys.create_or_update_acl_policy(policies.customer_policy_name(cust.slug), old)
    assert cust.reveal(eng, "fw", "INC-")
    assert cust.reveal(eng, "fw", "INC-*")
    assert cust.reveal(eng, "fw", ESC_REF)
    # The policy as netvault renders it now:
    root.sys.create_or_update_acl_policy(policies.customer_policy_name(cust.slug), policies.render_customer(cust.slug, ["INC-*", "CHG-*"], mounts=server.mounts))
    for ref in ("INC-", "CHG-", "INC- 7", "INC-*", "INC-7*", ESC_REF, BIDI_REF, C1_REF, "INC-7\n", "INC-7\u00ad",
                "INC-7\U000e0041", "INC-7\x00"):
        assert not cust.reveal(eng, "fw", ref), repr(ref)
    assert cust.reveal(eng, "fw", "INC-7")
    assert cust.reveal(eng, "fw", "CHG-2026-11-28")
    with pytest.raises(hvac.exceptions.Forbidden):  # the same, spelled out with a raw request
        eng.write(f"netvault-transit/decrypt/customer-{cust.slug}", ciphertext=cust.records["fw"]["ciphertext"],
                  context=cust.records["fw"]["context"], reference="INC-")


def test_incident_patterns_refuse_match_all_and_empty():
    assert validate_patterns(["INC-*", "*-P1", "MAINT"]) == ["INC-*", "*-P1", "MAINT"]
    for bad in (["*"], ["**"], ["I*"], ["*1"], ["INC-"], ["INC\x1b-*"], ["INC-\u202e*"], ["X"]):
        with pytest.raises(UsageError):
            validate_patterns(bad)


def test_setup_refuses_a_match_all_pattern(cli, server):
    for pattern in ("*", "**", "I*", "INC-"):
        r = cli("setup", "--incident-pattern", pattern, token=server.root_token)
        assert r.returncode == 2, (pattern, r.stderr)
        assert "incident pattern" in r.stderr


def test_escaping_helpers():
    assert printable("a\x1bb\u202ec") == "a\\x1bb\\u202ec"
    assert printable("Ünïcødé ok") == "Ünïcødé ok"
    for start in ("=", "+", "-", "@", "\t", "\r"):
        cell = csv_cell(start + "1")
        assert cell.startswith("'") and cell.isprintable()
    assert csv_cell("INC-1") == "INC-1" and csv_cell(None) is None and csv_cell(3) == 3
    obj = {"r": "x\u202e\x7f\x85\U000e0041\u2028"}
    text = json_text(obj)
    assert text.isascii() and json.loads(text) == obj
    assert reference_flags(None) == [] and reference_flags("MAINT") == [] and reference_flags("") == ["ref-empty"]


def test_reveal_escapes_a_planted_control_secret_on_a_terminal(server, cli_env, unique):
    """A secret with control characters can only be planted with a raw write
    (netvault refuses it): on a terminal it is shown escaped, to a pipe raw."""
    import os
    import pty
    import subprocess
    import sys

    root = server.root()
    cust = Customer(root, unique("tty"))
    cust.add_credential("fw", "pw\x1b[2J\x1b]0;x\x07")
    env = {**cli_env, "VAULT_TOKEN": server.root_token}
    argv = [sys.executable, "-m", "netvault", "reveal", f"{cust.slug}/fw", "--incident", "INC-1"]
    piped = subprocess.run(argv, capture_output=True, env=env, timeout=60)
    assert piped.returncode == 0 and piped.stdout == b"pw\x1b[2J\x1b]0;x\x07\n"
    main, child = pty.openpty()
    proc = subprocess.run(argv, stdout=child, stderr=subprocess.PIPE, env=env, timeout=60)
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert proc.returncode == 0, proc.stderr
    assert b"\x1b" not in out and b"\x07" not in out and b"pw\\x1b[2J" in out
    assert b"shown escaped" in proc.stderr
